"""Tests for ecgnet.augment: each augmentation changes what it should and nothing else, absent leads stay
zero, inputs are never modified, and :func:`augment` is reproducible and free when switched off."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

from ecgnet import augment as aug
from ecgnet.config import AUGMENTATIONS, AugmentConfig

FS = 250
T = 1000  # 4 s at 250 Hz: FFT bins every 0.25 Hz, so 50 Hz and 60 Hz fall on bins
ABSENT = (2, 7, 9)
SEEDS = range(25)


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    """No augmentation may warn (division by zero, empty means, ...) on any input the tests give."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _example(seed: int = 0, absent: tuple[int, ...] = ABSENT, length: int = T) -> tuple[np.ndarray, np.ndarray]:
    """A standardised random (12, length) float32 signal whose ``absent`` rows are zero, and its mask."""
    rng = np.random.default_rng(1000 + seed)
    signal = rng.standard_normal((12, length))
    if length > 1:
        signal = (signal - signal.mean(axis=1, keepdims=True)) / signal.std(axis=1, keepdims=True)
    mask = np.ones(12, dtype=bool)
    mask[list(absent)] = False
    signal[~mask] = 0.0
    return signal.astype(np.float32), mask


def _apply(name: str, seed: int = 0, **example) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    signal, mask = _example(seed, **example)
    return signal, mask, aug.AUGMENTERS[name](signal, mask, FS, np.random.default_rng(seed))


def _present(mask: np.ndarray) -> np.ndarray:
    return np.flatnonzero(mask)


# --- properties shared by every augmentation ---------------------------------------------------------


def test_registry_covers_the_config_names_exactly():
    assert tuple(aug.AUGMENTERS) == AUGMENTATIONS
    assert {f.name for f in dataclasses.fields(AugmentConfig)} == set(aug.AUGMENTERS)
    for name, function in aug.AUGMENTERS.items():
        assert function.__name__ == name and function.__doc__


@pytest.mark.parametrize("name", list(aug.AUGMENTERS))
@pytest.mark.parametrize("seed", SEEDS)
def test_absent_leads_stay_zero_and_input_is_untouched(name, seed):
    signal, mask = _example(seed)
    before, mask_before = signal.copy(), mask.copy()
    out = aug.AUGMENTERS[name](signal, mask, FS, np.random.default_rng(seed))
    assert out.dtype == np.float32 and out.shape == signal.shape
    assert not np.shares_memory(out, signal)
    assert np.array_equal(signal, before) and np.array_equal(mask, mask_before)
    assert np.all(out[~mask] == 0.0)
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize("name", list(aug.AUGMENTERS))
def test_every_augmentation_changes_the_signal(name):
    # With all leads present and 250 Hz, every augmentation must do something on every draw.
    for seed in range(10):
        signal, _, out = _apply(name, seed, absent=())
        assert not np.array_equal(out, signal), f"{name} left the signal unchanged for seed {seed}"


@pytest.mark.parametrize("name", list(aug.AUGMENTERS))
def test_float64_input_and_odd_lead_sets(name):
    # One present lead, no present lead, and a float64 input: float32 out, absent rows zero, no error.
    for absent in (tuple(i for i in range(12) if i != 4), tuple(range(12))):
        signal, mask = _example(absent=absent)
        out = aug.AUGMENTERS[name](signal.astype(np.float64), mask, FS, np.random.default_rng(3))
        assert out.dtype == np.float32 and out.shape == signal.shape
        assert np.all(out[~mask] == 0.0)


@pytest.mark.parametrize("name", list(aug.AUGMENTERS))
@pytest.mark.parametrize("length", [0, 1, 5])
def test_tiny_windows_do_not_fail(name, length):
    signal, mask = _example(length=length)
    out = aug.AUGMENTERS[name](signal, mask, FS, np.random.default_rng(0))
    assert out.shape == (12, length) and out.dtype == np.float32
    assert np.all(out[~mask] == 0.0)


@pytest.mark.parametrize("name", list(aug.AUGMENTERS))
def test_shape_mismatch_is_an_error(name):
    signal, _ = _example()
    with pytest.raises(ValueError, match="mask"):
        aug.AUGMENTERS[name](signal, np.ones(8, dtype=bool), FS, np.random.default_rng(0))


@pytest.mark.parametrize("name", list(aug.AUGMENTERS))
def test_each_augmentation_is_reproducible_and_random(name):
    signal, mask = _example()
    first = aug.AUGMENTERS[name](signal, mask, FS, np.random.default_rng(5))
    again = aug.AUGMENTERS[name](signal, mask, FS, np.random.default_rng(5))
    assert np.array_equal(first, again)
    others = [aug.AUGMENTERS[name](signal, mask, FS, np.random.default_rng(s)) for s in range(6, 12)]
    assert any(not np.array_equal(first, other) for other in others)


# --- what each augmentation does ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_cutout_zeroes_one_contiguous_span(seed):
    signal, mask, out = _apply("cutout", seed)
    changed = np.flatnonzero(np.any(out != signal, axis=0))
    zeroed = np.flatnonzero(np.all(out == 0.0, axis=0))
    assert len(changed) > 0
    assert np.array_equal(zeroed, np.arange(zeroed[0], zeroed[-1] + 1)), "the zeroed samples are not one span"
    assert 0.05 * T <= len(zeroed) <= 0.20 * T
    assert set(changed) <= set(zeroed)
    outside = np.ones(T, dtype=bool)
    outside[zeroed] = False
    assert np.array_equal(out[:, outside], signal[:, outside])


def _high_band_energy(signal: np.ndarray, fs: float, above_hz: float) -> np.ndarray:
    spectrum = np.abs(np.fft.rfft(signal, axis=-1)) ** 2
    freqs = np.fft.rfftfreq(signal.shape[-1], 1 / fs)
    return spectrum[..., freqs > above_hz].sum(axis=-1)


@pytest.mark.parametrize("seed", SEEDS)
def test_gaussian_blur_removes_high_frequencies_and_keeps_slow_waves(seed):
    signal, mask, out = _apply("gaussian_blur", seed)
    present = _present(mask)
    ratio = _high_band_energy(out[present], FS, 40.0) / _high_band_energy(signal[present], FS, 40.0)
    assert np.all(ratio < 0.5)
    # A 2 Hz wave (a T wave's time scale) loses at most 1.2% (exp(-2 pi^2 sigma^2 f^2) at sigma 12 ms);
    # a 30 Hz one loses at least 10%.
    t = np.arange(T) / FS
    slow = np.tile(np.sin(2 * np.pi * 2 * t), (12, 1)).astype(np.float32)
    fast = np.tile(np.sin(2 * np.pi * 30 * t), (12, 1)).astype(np.float32)
    slow_out = aug.gaussian_blur(slow, np.ones(12, dtype=bool), FS, np.random.default_rng(seed))
    fast_out = aug.gaussian_blur(fast, np.ones(12, dtype=bool), FS, np.random.default_rng(seed))
    assert np.max(np.abs(slow_out - slow)) < 0.015
    assert np.all(np.std(fast_out, axis=1) < 0.9 * np.std(fast, axis=1))


def test_gaussian_blur_sigma_scales_with_the_sample_rate():
    # The same 30 Hz wave at 250 Hz and at 500 Hz, blurred with the same draw, loses the same share of
    # its amplitude: sigma is a duration, not a number of samples.
    kept = []
    for fs in (250, 500):
        t = np.arange(4 * fs) / fs
        wave = np.tile(np.sin(2 * np.pi * 30 * t), (12, 1)).astype(np.float32)
        out = aug.gaussian_blur(wave, np.ones(12, dtype=bool), fs, np.random.default_rng(1))
        middle = slice(fs, 3 * fs)  # away from the reflected ends
        kept.append(np.std(out[0, middle]) / np.std(wave[0, middle]))
    assert kept[0] < 0.95
    assert kept[0] == pytest.approx(kept[1], abs=0.02)


@pytest.mark.parametrize("seed", SEEDS)
def test_amplitude_scaling_scales_each_lead_without_changing_its_shape(seed):
    signal, mask, out = _apply("amplitude_scaling", seed)
    present = _present(mask)
    factors = []
    for lead in present:
        factor = float(out[lead] @ signal[lead] / (signal[lead] @ signal[lead]))
        np.testing.assert_allclose(out[lead], factor * signal[lead], rtol=1e-5, atol=1e-6)
        assert np.corrcoef(out[lead], signal[lead])[0, 1] == pytest.approx(1.0, abs=1e-6)
        factors.append(factor)
    assert all(0.7 <= f <= 1.3 for f in factors)
    assert len(set(np.round(factors, 6))) > 1, "the factor should differ between leads"
    assert not np.allclose(factors, 1.0, atol=1e-3)


@pytest.mark.parametrize("seed", SEEDS)
def test_baseline_shift_changes_only_the_means(seed):
    signal, mask, out = _apply("baseline_shift", seed)
    present = _present(mask)
    shift = (out - signal)[present].astype(np.float64)
    np.testing.assert_allclose(shift, shift[:, :1] * np.ones(T), atol=1e-6)  # constant along time
    assert np.all(np.abs(shift[:, 0]) <= 0.3 + 1e-6)
    assert len(set(np.round(shift[:, 0], 5))) > 1
    np.testing.assert_allclose(np.std(out[present], axis=1), np.std(signal[present], axis=1), rtol=1e-5)


@pytest.mark.parametrize("seed", SEEDS)
def test_baseline_wander_adds_one_slow_wave(seed):
    signal, mask, out = _apply("baseline_wander", seed)
    present = _present(mask)
    added = (out - signal)[present].astype(np.float64)
    assert np.max(np.abs(added)) <= 0.3 + 1e-5
    assert np.max(np.abs(added)) > 0
    # Slow: per sample, a sinusoid of amplitude A and frequency f moves by at most 2 pi f A / fs.
    assert np.max(np.abs(np.diff(added, axis=1))) <= 2 * np.pi * 0.5 * 0.3 / FS + 1e-5
    # One source seen by every lead: the added waves are multiples of one another (rank one).
    singular = np.linalg.svd(added, compute_uv=False)
    assert singular[1] < 1e-4 * singular[0]


@pytest.mark.parametrize("seed", SEEDS)
def test_powerline_noise_adds_a_mains_sinusoid(seed):
    signal, mask, out = _apply("powerline_noise", seed)
    present = _present(mask)
    added = (out - signal)[present].astype(np.float64)
    np.testing.assert_allclose(added, np.broadcast_to(added[0], added.shape), atol=1e-6)  # same on every lead
    spectrum = np.abs(np.fft.rfft(added[0])) ** 2
    freqs = np.fft.rfftfreq(T, 1 / FS)
    peak = freqs[np.argmax(spectrum)]
    assert peak in (50.0, 60.0)
    assert spectrum[freqs == peak][0] > 0.99 * spectrum.sum()
    assert 0.01 - 1e-4 <= np.max(np.abs(added[0])) <= 0.1 + 1e-5


def test_powerline_noise_uses_both_mains_frequencies():
    peaks = set()
    freqs = np.fft.rfftfreq(T, 1 / FS)
    for seed in range(30):
        signal, mask, out = _apply("powerline_noise", seed)
        peaks.add(float(freqs[np.argmax(np.abs(np.fft.rfft(out[0] - signal[0])))]))
    assert peaks == {50.0, 60.0}


def test_powerline_noise_is_skipped_at_or_above_nyquist():
    signal, mask = _example()
    for seed in range(10):
        # At 100 Hz both 50 and 60 Hz are at or above Nyquist.
        assert np.array_equal(aug.powerline_noise(signal, mask, 100, np.random.default_rng(seed)), signal)
    # At 110 Hz 50 Hz fits and 60 Hz does not: some draws add noise, some do not.
    changed = [not np.array_equal(aug.powerline_noise(signal, mask, 110, np.random.default_rng(s)), signal)
               for s in range(30)]
    assert any(changed) and not all(changed)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("absent", [ABSENT, (), tuple(range(10))])
def test_lead_dropout_flattens_some_present_leads_never_all(seed, absent):
    signal, mask, out = _apply("lead_dropout", seed, absent=absent)
    present = _present(mask)
    flat = [lead for lead in present if np.all(out[lead] == 0.0)]
    kept = [lead for lead in present if lead not in flat]
    assert 1 <= len(flat) <= min(3, len(present) - 1)
    assert kept, "every present lead was dropped"
    assert np.array_equal(out[kept], signal[kept])


def test_lead_dropout_keeps_a_single_present_lead():
    signal, mask, out = _apply("lead_dropout", absent=tuple(range(1, 12)))
    assert np.array_equal(out, signal)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("absent", [ABSENT, tuple(range(10))])
def test_lead_shuffle_permutes_present_rows(seed, absent):
    signal, mask, out = _apply("lead_shuffle", seed, absent=absent)
    present = _present(mask)
    sources = []
    for lead in present:
        matches = [other for other in present if np.array_equal(out[lead], signal[other])]
        assert len(matches) == 1, f"row {lead} is not exactly one present input row"
        sources.append(matches[0])
    assert sorted(sources) == list(present)
    assert sources != list(present), "the permutation is the identity"


@pytest.mark.parametrize("seed", SEEDS)
def test_lead_inversion_negates_exactly_one_present_lead(seed):
    signal, mask, out = _apply("lead_inversion", seed)
    present = _present(mask)
    negated = [lead for lead in present if np.array_equal(out[lead], -signal[lead])]
    same = [lead for lead in present if np.array_equal(out[lead], signal[lead])]
    assert len(negated) == 1 and len(same) == len(present) - 1


def test_lead_inversion_picks_different_leads():
    picked = set()
    for seed in range(30):
        signal, mask, out = _apply("lead_inversion", seed)
        picked.update(np.flatnonzero(np.any(out != signal, axis=1)))
    assert len(picked) > 3 and picked <= set(_present(mask))


def _shift(signal: np.ndarray, shift: int) -> np.ndarray:
    shifted = np.zeros_like(signal)
    if shift > 0:
        shifted[:, shift:] = signal[:, :-shift]
    elif shift < 0:
        shifted[:, :shift] = signal[:, -shift:]
    else:
        shifted[:] = signal
    return shifted


@pytest.mark.parametrize("seed", SEEDS)
def test_pad_crop_is_a_zero_filled_shifted_copy(seed):
    signal, mask, out = _apply("pad_crop", seed)
    shifts = [s for s in range(-T // 10, T // 10 + 1) if s != 0 and np.array_equal(out, _shift(signal, s))]
    assert len(shifts) == 1


def test_pad_crop_shifts_both_ways():
    directions = set()
    for seed in range(30):
        signal, mask, out = _apply("pad_crop", seed)
        directions.add("later" if np.all(out[:, 0] == 0) else "earlier")
    assert directions == {"later", "earlier"}


# --- augment --------------------------------------------------------------------------------------------


def test_augment_switched_off_returns_the_input_and_draws_nothing():
    signal, mask = _example()
    rng = np.random.default_rng(7)
    state = rng.bit_generator.state
    assert not AugmentConfig().enabled
    assert aug.augment(signal, mask, AugmentConfig(), FS, rng) is signal
    assert rng.bit_generator.state == state


@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_augment_with_one_certain_augmentation_equals_calling_it(name):
    signal, mask = _example()
    config = AugmentConfig(**{name: 1.0})
    out = aug.augment(signal, mask, config, FS, np.random.default_rng(11))
    rng = np.random.default_rng(11)
    rng.random(len(AUGMENTATIONS))  # augment decides first, one draw per augmentation
    expected = aug.AUGMENTERS[name](signal, mask, FS, rng)
    assert out.dtype == np.float32
    assert np.array_equal(out, expected)


def test_augment_applies_an_augmentation_with_its_probability():
    signal, mask = _example()
    config = AugmentConfig(lead_inversion=0.3)
    changed = [not np.array_equal(aug.augment(signal, mask, config, FS, np.random.default_rng(s)), signal)
               for s in range(400)]
    assert 0.22 < np.mean(changed) < 0.38


def test_augment_is_reproducible_and_leaves_its_input_alone():
    signal, mask = _example()
    before = signal.copy()
    config = AugmentConfig.recommended()
    first = aug.augment(signal, mask, config, FS, np.random.default_rng(3))
    again = aug.augment(signal, mask, config, FS, np.random.default_rng(3))
    other = aug.augment(signal, mask, config, FS, np.random.default_rng(4))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert np.array_equal(signal, before)
    assert first.dtype == np.float32 and first.shape == signal.shape


def test_augment_enabled_returns_a_new_array_even_when_nothing_is_drawn():
    signal, mask = _example()
    config = AugmentConfig(cutout=1e-12)  # enabled, but the cutout draw will not fall below this
    out = aug.augment(signal, mask, config, FS, np.random.default_rng(0))
    assert np.array_equal(out, signal) and not np.shares_memory(out, signal)


def test_recommended_recipe_changes_signals_and_keeps_absent_leads_zero():
    config = AugmentConfig.recommended()
    changed = 0
    for seed in range(20):
        signal, mask = _example(seed)
        out = aug.augment(signal, mask, config, FS, np.random.default_rng(seed))
        changed += not np.array_equal(out, signal)
        assert np.all(out[~mask] == 0.0)
    assert changed >= 18


def test_all_augmentations_at_once_keep_absent_leads_zero():
    config = AugmentConfig(**{name: 1.0 for name in AUGMENTATIONS})
    for seed in range(10):
        signal, mask = _example(seed)
        out = aug.augment(signal.astype(np.float64), mask, config, FS, np.random.default_rng(seed))
        assert out.dtype == np.float32 and out.shape == signal.shape
        assert np.all(out[~mask] == 0.0) and np.all(np.isfinite(out))
