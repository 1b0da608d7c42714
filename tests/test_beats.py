"""Beat cutting and sampling (ecgnet.beats)."""

from __future__ import annotations

import numpy as np

from ecgnet.beats import beat_bounds, beat_groups, cut_beats, fallback_peaks, random_beat_combination
from ecgnet.config import BeatConfig, SignalConfig

RATE = 250
CONFIG = BeatConfig(enabled=True, beats_per_example=4, beat_samples=50, inference_groups=8)
SEGMENT = CONFIG.beats_per_example * CONFIG.beat_samples


def ramp_signal(length: int, leads: int = 12) -> np.ndarray:
    """Lead i is (i + 1) * time in samples, so any value tells where (and from which lead) it came;
    the last lead is all zeros, like an absent lead."""
    signal = (np.arange(1, leads + 1)[:, None] * np.arange(length)[None, :]).astype(np.float32)
    signal[-1] = 0
    return signal


def regular_peaks(count: int, period: int = 200, first: int = 100) -> np.ndarray:
    return first + period * np.arange(count)


def beats_of(segment: np.ndarray, k: int = CONFIG.beats_per_example) -> np.ndarray:
    """(leads, k * B) -> (k, leads, B)."""
    return segment.reshape(segment.shape[0], k, -1).transpose(1, 0, 2)


# --- beat_bounds ---------------------------------------------------------------------------------------------


def test_bounds_of_a_regular_train_tile_the_signal():
    bounds = beat_bounds(np.array([100, 300, 500, 700]), 1000, default_rr=150)
    # A third of 200 before each peak (67), two thirds after (133); edges use the median RR, 200.
    assert bounds.tolist() == [[33, 233], [233, 433], [433, 633], [633, 833]]
    assert bounds.dtype == np.int64
    assert np.array_equal(bounds[1:, 0], bounds[:-1, 1])


def test_bounds_of_an_irregular_train_are_clipped():
    bounds = beat_bounds(np.array([100, 250, 550]), 600, default_rr=150)  # RR 150 and 300, median 225
    assert bounds.tolist() == [[25, 200], [200, 450], [450, 600]]


def test_single_peak_uses_the_default_rr():
    assert beat_bounds(np.array([500]), 1000, default_rr=300).tolist() == [[400, 700]]
    assert beat_bounds(np.array([10]), 1000, default_rr=300).tolist() == [[0, 210]]


def test_bounds_ignore_disorder_repeats_and_outsiders():
    messy = beat_bounds(np.array([500, 100, 300, 300, -5, 700, 1000, 4000]), 1000, default_rr=150)
    assert np.array_equal(messy, beat_bounds(np.array([100, 300, 500, 700]), 1000, default_rr=150))


def test_too_short_beats_are_dropped():
    assert beat_bounds(np.array([0, 1]), 2, default_rr=1).shape == (0, 2)
    assert beat_bounds(np.zeros(0), 1000, default_rr=200).shape == (0, 2)


# --- fallback_peaks ------------------------------------------------------------------------------------------


def test_fallback_peaks_every_second_from_half_a_second():
    assert fallback_peaks(2500, 250).tolist() == [125 + 250 * i for i in range(10)]
    assert fallback_peaks(2500, 100).tolist()[:3] == [50, 150, 250]
    assert fallback_peaks(100, 250).tolist() == [50]  # shorter than 0.5 s: one pseudo-peak in the middle
    assert fallback_peaks(126, 250).tolist() == [125]
    assert len(fallback_peaks(0, 250)) == 0


# --- cut_beats -----------------------------------------------------------------------------------------------


def test_cut_beats_resamples_a_ramp_exactly():
    signal = ramp_signal(1000)
    beats = cut_beats(signal, np.array([100, 300, 500, 700]), 50, default_rr=200)
    assert beats.shape == (4, 12, 50) and beats.dtype == np.float32
    expected = np.linspace(33, 232, 50)  # first beat [33, 233): first to last sample
    for lead in range(11):
        np.testing.assert_allclose(beats[0, lead], (lead + 1) * expected, rtol=1e-5)
    assert not beats[:, -1].any()  # the zero lead stays zero


def test_cut_beats_selects_by_index():
    signal = ramp_signal(1000)
    peaks = np.array([100, 300, 500, 700])
    every = cut_beats(signal, peaks, 20, default_rr=200)
    chosen = cut_beats(signal, peaks, 20, indices=np.array([3, 0, 0]), default_rr=200)
    assert np.array_equal(chosen, every[[3, 0, 0]])


def test_cut_beats_upsamples_short_beats():
    beats = cut_beats(ramp_signal(10), np.array([2, 5, 8]), 31, default_rr=3)
    assert beats.shape == (3, 12, 31)
    np.testing.assert_allclose(beats[1, 0], np.linspace(4, 6, 31), rtol=1e-6)  # beat [5 - 1, 5 + 2]


# --- random_beat_combination ---------------------------------------------------------------------------------


def test_random_combination_shape_and_time_order():
    signal = ramp_signal(40 * 200)
    segment = random_beat_combination(signal, regular_peaks(40), CONFIG, RATE, np.random.default_rng(0))
    assert segment.shape == (12, SEGMENT) and segment.dtype == np.float32
    starts = beats_of(segment)[:, 0, 0]  # the ramp's value is the time of the beat's first sample
    assert np.all(np.diff(starts) > 0)  # distinct beats, in time order
    every = cut_beats(signal, regular_peaks(40), CONFIG.beat_samples, default_rr=200)
    assert all(any(np.array_equal(beat, other) for other in every) for beat in beats_of(segment))


def test_random_combination_draws_without_replacement_when_it_can():
    signal, peaks = ramp_signal(6 * 200), regular_peaks(6)
    for seed in range(20):
        segment = random_beat_combination(signal, peaks, CONFIG, RATE, np.random.default_rng(seed))
        assert np.all(np.diff(beats_of(segment)[:, 0, 0]) > 0)


def test_random_combination_is_reproducible_and_varies_with_the_seed():
    signal, peaks = ramp_signal(40 * 200), regular_peaks(40)
    first = random_beat_combination(signal, peaks, CONFIG, RATE, np.random.default_rng(1))
    again = random_beat_combination(signal, peaks, CONFIG, RATE, np.random.default_rng(1))
    other = random_beat_combination(signal, peaks, CONFIG, RATE, np.random.default_rng(2))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_random_combination_with_few_beats_repeats_them_as_inference_does():
    signal = ramp_signal(700)
    segment = random_beat_combination(signal, np.array([200, 450]), CONFIG, RATE, np.random.default_rng(0))
    every = cut_beats(signal, np.array([200, 450]), CONFIG.beat_samples, default_rr=200)
    assert np.array_equal(beats_of(segment), every[[0, 1, 0, 1]])
    assert np.array_equal(segment, beat_groups(signal, np.array([200, 450]), CONFIG, RATE)[0])


def test_random_combination_with_one_peak_repeats_it():
    signal = ramp_signal(500)
    segment = random_beat_combination(signal, np.array([250]), CONFIG, RATE, np.random.default_rng(0))
    beats = beats_of(segment)
    assert all(np.array_equal(beat, beats[0]) for beat in beats)
    assert beats[0, 0, 0] == 250 - round(0.8 * RATE / 3)  # the default RR of 0.8 s around a lone peak


def test_random_combination_falls_back_without_peaks():
    signal = ramp_signal(2500)
    empty = random_beat_combination(signal, np.zeros(0, dtype=np.int64), CONFIG, RATE, np.random.default_rng(3))
    explicit = random_beat_combination(signal, fallback_peaks(2500, RATE), CONFIG, RATE, np.random.default_rng(3))
    assert np.array_equal(empty, explicit) and empty.any()


def test_random_combination_of_a_signal_too_short_for_a_beat_is_zeros():
    segment = random_beat_combination(ramp_signal(1), np.zeros(0), CONFIG, RATE, np.random.default_rng(0))
    assert segment.shape == (12, SEGMENT) and not segment.any()


# --- beat_groups ---------------------------------------------------------------------------------------------


def test_groups_are_consecutive_beats_spread_over_the_record():
    signal, peaks = ramp_signal(40 * 200), regular_peaks(40)  # 10 whole groups of 4, 8 are kept
    groups = beat_groups(signal, peaks, CONFIG, RATE)
    assert groups.shape == (8, 12, SEGMENT) and groups.dtype == np.float32
    every = cut_beats(signal, peaks, CONFIG.beat_samples, default_rr=200)
    firsts = []
    for group in groups:
        beats = beats_of(group)
        first = int(np.argmax([np.array_equal(beats[0], other) for other in every]))
        assert np.array_equal(beats, every[first : first + 4])  # consecutive
        firsts.append(first)
    assert firsts[0] == 0 and firsts[-1] == 36 and all(f % 4 == 0 for f in firsts)
    assert np.all(np.diff(firsts) > 0)
    assert np.array_equal(groups, beat_groups(signal, peaks, CONFIG, RATE))  # deterministic


def test_groups_of_a_short_record_keep_all_groups():
    signal, peaks = ramp_signal(12 * 200), regular_peaks(12)
    groups = beat_groups(signal, peaks, CONFIG, RATE)
    every = cut_beats(signal, peaks, CONFIG.beat_samples, default_rr=200)
    assert groups.shape == (3, 12, SEGMENT)
    assert np.array_equal(np.stack([beats_of(g) for g in groups]).reshape(12, 12, -1), every)


def test_fewer_beats_than_a_group_repeat_cyclically():
    signal, peaks = ramp_signal(700), np.array([200, 450])
    groups = beat_groups(signal, peaks, CONFIG, RATE)
    every = cut_beats(signal, peaks, CONFIG.beat_samples, default_rr=200)
    assert groups.shape == (1, 12, SEGMENT)
    assert np.array_equal(beats_of(groups[0]), every[[0, 1, 0, 1]])


def test_groups_limit_and_fallback():
    config = BeatConfig(enabled=True, beats_per_example=2, beat_samples=30, inference_groups=3)
    signal = ramp_signal(2500)  # 10 pseudo-peaks -> 5 groups of 2 -> 3 kept
    groups = beat_groups(signal, np.zeros(0, dtype=np.int64), config, RATE)
    assert groups.shape == (3, 12, 60)
    assert np.array_equal(groups, beat_groups(signal, fallback_peaks(2500, RATE), config, RATE))


def test_training_and_inference_segments_have_the_same_length():
    for length, peaks in [(5000, regular_peaks(24)), (700, np.array([200, 450])), (300, np.zeros(0)), (1, [])]:
        signal = ramp_signal(length)
        training = random_beat_combination(signal, np.asarray(peaks), CONFIG, RATE, np.random.default_rng(0))
        inference = beat_groups(signal, np.asarray(peaks), CONFIG, RATE)
        assert training.shape == inference.shape[1:] == (12, SEGMENT)


# --- on a real record ----------------------------------------------------------------------------------------


def test_beats_of_a_real_record(shared_data):
    from ecgnet.prepare import PrepareOptions, prepare_file

    options = PrepareOptions(SignalConfig(), peaks=True)
    prepared = prepare_file(shared_data / "cinc2021" / "training" / "E06320.hea", options)
    signal, peaks = prepared.signal, prepared.peaks
    config = BeatConfig(enabled=True)
    groups = beat_groups(signal, peaks, config, RATE)
    assert groups.shape == (len(peaks) // 4, 12, 800)
    lead_two = beats_of(groups[0])[:, 1]  # (4, 200)
    # Each beat has its R wave a third of the way in (about 1/3 of the RR before, 2/3 after).
    r_positions = np.argmax(np.abs(lead_two), axis=-1)
    assert np.all(np.abs(r_positions - 200 / 3) < 15)
