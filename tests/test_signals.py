"""Tests for ecgnet.signals: units, resampling, filtering, standardisation, lead slots, windows."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from ecgnet.config import SignalConfig
from ecgnet.records import LEAD_SETS, STANDARD_LEADS, RecordError, parse_header, read_record, write_record
from ecgnet.signals import (
    bandpass,
    demographics,
    preprocess,
    random_window,
    resample,
    sliding_windows,
    standardise,
    to_physical,
    window_starts,
)

CONFIG = SignalConfig()
REDUCED_FOLDERS = {12: "twelve_leads", 6: "six_leads", 4: "four_leads", 3: "three_leads", 2: "two_leads"}


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    """No function here may warn (division by zero, NaN means, ...) on any input the tests give."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _sine(freq: float, fs: float, seconds: float, amplitude: float = 1.0) -> np.ndarray:
    t = np.arange(int(round(seconds * fs))) / fs
    return amplitude * np.sin(2 * np.pi * freq * t)


def _amplitude_at(signal: np.ndarray, fs: float, freq: float) -> float:
    """Amplitude of the ``freq`` component (the signal spans a whole number of its periods)."""
    spectrum = np.abs(np.fft.rfft(signal)) * 2 / len(signal)
    return float(spectrum[int(round(freq * len(signal) / fs))])


def _header_text(leads, gains, fs=500, samples=4, record="R1"):
    lines = [f"{record} {len(leads)} {fs} {samples}"]
    lines += [f"{record}.mat 16+24 {g}/mV 16 0 0 0 0 {lead}" for lead, g in zip(leads, gains)]
    return "\n".join(lines + ["#Age: 50", "#Sex: Female", "#Dx: 426783006"]) + "\n"


# --- physical units -----------------------------------------------------------------------------------


def test_to_physical_matches_hand_computation():
    recording = np.array([[1000, -500, 0], [250, 260, 270]], dtype=np.int16)
    physical = to_physical(recording, [1000.0, 10.0], [0.0, 250.0], "x.mat")
    assert physical.dtype == np.float32
    np.testing.assert_allclose(physical, [[1.0, -0.5, 0.0], [0.0, 1.0, 2.0]], rtol=1e-6)


def test_to_physical_accepts_float_recordings():
    physical = to_physical(np.array([[2.0, 4.0]]), [2.0], [1.0])
    np.testing.assert_allclose(physical, [[0.5, 1.5]])


@pytest.mark.parametrize("bad_gain", [0.0, math.nan, math.inf])
def test_zero_or_non_finite_gain_names_file_and_lead(bad_gain):
    with pytest.raises(RecordError, match=r"^rec\.mat: lead II has ADC gain"):
        to_physical(np.ones((2, 5), dtype=np.int16), [1000.0, bad_gain], [0, 0], "rec.mat", ["I", "II"])


def test_preprocess_zero_gain_header_raises_naming_file():
    header = parse_header(_header_text(["I", "II"], [1000, 0]), "/data/R1.hea")
    with pytest.raises(RecordError, match=r"^/data/R1\.hea: lead II has ADC gain 0$"):
        preprocess(np.ones((2, 4), dtype=np.int16), header, CONFIG, "/data/R1.hea")


# --- resampling -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("from_hz", [257, 500, 1000, 100, 360, 128])
def test_resample_keeps_frequency_and_duration(from_hz):
    seconds, freq = 8.0, 5.0
    signal = np.stack([_sine(freq, from_hz, seconds), 0.5 * _sine(freq, from_hz, seconds)])
    out = resample(signal, from_hz, 250)
    assert out.dtype == np.float32
    assert out.shape == (2, int(seconds * 250))
    expected = _sine(freq, 250, seconds)
    inner = slice(250, -250)  # the first and last second carry edge effects
    np.testing.assert_allclose(out[0, inner], expected[inner], atol=0.02)
    np.testing.assert_allclose(out[1, inner], 0.5 * expected[inner], atol=0.01)
    assert _amplitude_at(out[0], 250, freq) == pytest.approx(1.0, abs=0.03)


def test_resample_identity_and_empty():
    signal = np.arange(10, dtype=np.float64).reshape(2, 5)
    same = resample(signal, 250, 250)
    assert same.dtype == np.float32 and np.array_equal(same, signal)
    assert resample(np.zeros((3, 0)), 500, 250).shape == (3, 0)


def test_resample_odd_lengths_round_up():
    assert resample(np.ones((1, 5001)), 500, 250).shape == (1, 2501)
    assert resample(np.ones((1, 7)), 100, 250).shape == (1, 18)


# --- band-pass ------------------------------------------------------------------------------------------


def test_bandpass_removes_drift_and_powerline_keeps_10hz():
    fs, seconds = 250, 20
    ecg_like = _sine(10, fs, seconds)
    drift = 2.0 * _sine(0.1, fs, seconds) + 3.0  # baseline wander plus an electrode offset
    powerline = 0.5 * _sine(60, fs, seconds)
    inner = slice(fs, -fs)  # the first and last second hold the filter's edge transients

    def filtered(signal):
        out = bandpass(signal[None], fs, 0.5, 45, 3)[0]
        assert out.dtype == np.float32
        return out

    assert np.abs(filtered(drift)[inner]).max() < 0.01
    assert np.abs(filtered(drift)).max() < 0.05
    assert _amplitude_at(filtered(powerline), fs, 60) < 0.5 / 5
    assert _amplitude_at(filtered(ecg_like), fs, 10) == pytest.approx(1.0, abs=0.01)
    mixed = filtered(drift + ecg_like + powerline)
    assert _amplitude_at(mixed, fs, 10) == pytest.approx(1.0, abs=0.02)
    np.testing.assert_allclose(mixed[inner], ecg_like[inner], atol=0.15)


def test_bandpass_is_zero_phase():
    fs = 250
    signal = _sine(10, fs, 10)
    out = bandpass(signal[None], fs, 0.5, 45, 3)[0]
    inner = slice(fs, -fs)
    assert np.argmax(np.correlate(out[inner], signal[inner], mode="full")) == len(signal[inner]) - 1


@pytest.mark.parametrize("padding", ["odd", "mirror"])
@pytest.mark.parametrize("length", [0, 1, 2, 5, 30])
def test_bandpass_short_signals(length, padding):
    signal = np.linspace(0, 1, length, dtype=np.float32)[None].repeat(3, axis=0)
    out = bandpass(signal, 250, 0.5, 45, 3, padding=padding)
    assert out.shape == signal.shape and out.dtype == np.float32 and np.isfinite(out).all()


def test_bandpass_clamps_high_cut_below_nyquist():
    out = bandpass(_sine(10, 100, 10)[None], 100, 0.5, 80, 3)
    assert np.isfinite(out).all() and _amplitude_at(out[0], 100, 10) == pytest.approx(1.0, abs=0.02)


def _beats_with_a_start_hold(fs: float, seconds: float = 10.0) -> np.ndarray:
    """A flat baseline with a narrow 1 mV beat every 0.8 s from 0.4 s, whose first 30 ms hold +1 mV and fall
    back over 20 ms: the start of HR06003's limb leads (a recorder's hold, off the baseline)."""
    t = np.arange(int(round(seconds * fs))) / fs
    signal = sum(np.exp(-0.5 * ((t - beat) / 0.012) ** 2) for beat in np.arange(0.4, seconds, 0.8))
    fall = np.clip((0.05 - t) / 0.02, 0.0, 1.0)  # 1 until 30 ms, 0 from 50 ms
    return (signal + fall).astype(np.float32)


@pytest.mark.parametrize("fs", [100, 250, 500])
def test_mirror_padding_has_no_start_up_transient_where_odd_reflection_has_one(fs):
    signal = _beats_with_a_start_hold(fs)[None]
    start = slice(int(0.06 * fs), int(0.35 * fs))  # after the hold, before the first beat: the baseline
    odd = bandpass(signal, fs, 0.5, 40, 2)[0]
    mirror = bandpass(signal, fs, 0.5, 40, 2, padding="mirror")[0]
    baseline = np.median(mirror[int(5.25 * fs) : int(5.55 * fs)])  # between two beats in the middle
    # Odd reflection pivots on the first sample (+1 mV): the padding sits 2 mV off, and the high-pass makes a
    # dip of most of a mV lasting a second. The mirror keeps the padding on the baseline; what is left (under
    # 0.1 mV) is the high-pass's answer to the 50 ms hold itself, which is in the recording.
    assert np.abs(odd[start] - baseline).max() > 0.8
    assert np.abs(mirror[start] - baseline).max() < 0.12
    inner = slice(2 * fs, -2 * fs)  # far from both ends the padding makes no difference
    np.testing.assert_allclose(mirror[inner], odd[inner], atol=0.02)


def test_mirror_padding_starting_on_an_r_wave():
    fs = 250
    signal = np.roll(_beats_with_a_start_hold(fs), -int(0.4 * fs))  # the record opens on the top of a beat
    signal[-int(0.4 * fs):] = 0.0
    odd = bandpass(signal[None], fs, 0.5, 45, 3)[0]
    mirror = bandpass(signal[None], fs, 0.5, 45, 3, padding="mirror")[0]
    baseline = slice(int(0.1 * fs), int(0.7 * fs))  # between the first two beats
    assert np.abs(odd[baseline]).max() > 0.3 and np.abs(mirror[baseline]).max() < 0.1


def test_mirror_padding_follows_a_sloping_baseline():
    fs, seconds = 250, 20
    t = np.arange(fs * seconds) / fs
    for phase in (0.0, 1.0, 2.0):  # 2 mV of wander at 0.1 Hz, met at different slopes
        drift = (2.0 * np.sin(2 * np.pi * 0.1 * t + phase) + 3.0)[None]
        out = bandpass(drift, fs, 0.5, 45, 3, padding="mirror")[0]
        # The slope continues the baseline (a plain mirror would fold it into a kink: 0.29 mV at phase 0); what
        # is left is its curvature over the two seconds the slope is read from.
        assert np.abs(out).max() < 0.2 and np.abs(out[fs:-fs]).max() < 0.05


def test_bandpass_rejects_an_unknown_padding():
    with pytest.raises(ValueError, match="padding"):
        bandpass(np.zeros((1, 100)), 250, 0.5, 45, 3, padding="even")


def test_the_network_input_starts_on_the_baseline(shared_data):
    # HR06003 opens with 30 ms held at +1 mV in II and III: with odd reflection its network input dipped
    # by 2.2 and 2.9 standard deviations (median of 60-300 ms); with the mirror, 0.3 and 0.2.
    record = read_record(shared_data / "cinc2021" / "reduced_leads" / "twelve_leads" / "HR06003.hea")
    signal, _ = preprocess(record.recording, record.header, CONFIG)
    start = slice(int(0.06 * CONFIG.sample_rate), int(0.3 * CONFIG.sample_rate))
    for lead in ("II", "III"):
        assert abs(np.median(signal[STANDARD_LEADS.index(lead), start])) < 0.5


# --- standardise ----------------------------------------------------------------------------------------


def test_standardise_constant_nan_and_normal_leads():
    signal = np.stack(
        [
            np.full(100, 7.0),
            np.where(np.arange(100) % 10 == 0, np.nan, np.sin(np.arange(100.0))),
            np.full(100, np.nan),
            3.0 + 2.0 * np.sin(np.arange(100.0)),
            np.where(np.arange(100) == 5, np.inf, 1.0),
        ]
    )
    out = standardise(signal)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert not out[0].any() and not out[2].any()
    for lead in (1, 3, 4):
        assert out[lead].mean() == pytest.approx(0.0, abs=1e-6)
        assert out[lead].std() == pytest.approx(1.0, abs=1e-5)


def test_standardise_empty_and_zero():
    assert standardise(np.zeros((12, 0))).shape == (12, 0)
    assert not standardise(np.zeros((12, 50))).any()


# --- preprocess on real records ---------------------------------------------------------------------


def _preprocess_file(header_path, **kwargs):
    record = read_record(header_path)
    return preprocess(record.recording, record.header, CONFIG, record.header_path, **kwargs)


@pytest.mark.parametrize("num_leads", sorted(REDUCED_FOLDERS))
def test_preprocess_reduced_lead_records_fill_slots(shared_data, num_leads):
    folder = shared_data / "cinc2021" / "reduced_leads" / REDUCED_FOLDERS[num_leads]
    for record_id in ("E07500", "HR06000", "JS20000"):
        signal, mask = _preprocess_file(folder / f"{record_id}.hea")
        expected = np.array([lead in LEAD_SETS[num_leads] for lead in STANDARD_LEADS])
        assert signal.dtype == np.float32 and mask.dtype == np.bool_
        assert signal.shape == (12, 2500)
        np.testing.assert_array_equal(mask, expected)
        assert not signal[~mask].any()
        np.testing.assert_allclose(signal[mask].std(axis=1), 1.0, atol=1e-4)


def test_two_lead_slots_equal_twelve_lead_slots(shared_data):
    reduced = shared_data / "cinc2021" / "reduced_leads"
    for record_id in ("E07500", "HR06003", "JS20007"):
        twelve, _ = _preprocess_file(reduced / "twelve_leads" / f"{record_id}.hea")
        two, _ = _preprocess_file(reduced / "two_leads" / f"{record_id}.hea")
        np.testing.assert_allclose(two[:2], twelve[:2], atol=1e-5)


def test_keep_leads_serves_a_lead_set(shared_data):
    reduced = shared_data / "cinc2021" / "reduced_leads"
    kept, kept_mask = _preprocess_file(reduced / "twelve_leads" / "E07501.hea", keep_leads=("I", "II", "V2"))
    three, three_mask = _preprocess_file(reduced / "three_leads" / "E07501.hea")
    np.testing.assert_array_equal(kept_mask, three_mask)
    np.testing.assert_allclose(kept, three, atol=1e-5)


def test_keep_leads_absent_from_record_raises(shared_data):
    path = shared_data / "cinc2021" / "reduced_leads" / "two_leads" / "E07500.hea"
    with pytest.raises(RecordError, match="E07500.hea"):
        _preprocess_file(path, keep_leads=("V1", "V2"))


def test_ptbxl_100hz_and_500hz_lengths(shared_data):
    for record_id in ("HR01000", "HR00001"):
        path = shared_data / "ptbxl" / f"{record_id}.hea"
        record = read_record(path)
        seconds = record.recording.shape[1] / record.header.frequency
        signal, mask = _preprocess_file(path)
        assert signal.shape == (12, int(round(seconds * CONFIG.sample_rate)))
        assert mask.all() and np.isfinite(signal).all()
    assert read_record(shared_data / "ptbxl" / "HR01000.hea").header.frequency == 100


# --- preprocess on written records ----------------------------------------------------------------------


def _synthetic_ecg(num_leads: int, fs: float, seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fs)) / fs
    rows = [0.3 * np.sin(2 * np.pi * (2 + i) * t) + 0.05 * rng.standard_normal(len(t)) for i in range(num_leads)]
    return np.stack(rows)


def test_header_order_does_not_matter(tmp_path):
    signal = _synthetic_ecg(12, 500, 10)
    order = [11, 3, 0, 7, 1, 10, 2, 5, 4, 9, 6, 8]
    standard = read_record(write_record(tmp_path, "STD", signal, 500))
    shuffled = read_record(write_record(tmp_path, "SHUF", signal[order], 500, leads=[STANDARD_LEADS[i] for i in order]))
    a, mask_a = preprocess(standard.recording, standard.header, CONFIG, "STD")
    b, mask_b = preprocess(shuffled.recording, shuffled.header, CONFIG, "SHUF")
    assert mask_a.all() and mask_b.all()
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_unknown_leads_ignored_and_case_insensitive(tmp_path):
    signal = _synthetic_ecg(3, 500, 4)
    record = read_record(write_record(tmp_path, "ODD", signal, 500, leads=["ECG1", "AVR", "v5"]))
    out, mask = preprocess(record.recording, record.header, CONFIG, "ODD")
    assert list(np.flatnonzero(mask)) == [STANDARD_LEADS.index("aVR"), STANDARD_LEADS.index("V5")]
    assert out[mask].any() and not out[~mask].any()


def test_no_standard_lead_raises_naming_file(tmp_path):
    path = write_record(tmp_path, "NONE", _synthetic_ecg(2, 500, 2), 500, leads=["ECG1", "ECG2"])
    record = read_record(path)
    with pytest.raises(RecordError, match=r"NONE\.hea: no standard lead"):
        preprocess(record.recording, record.header, CONFIG, path)


def test_constant_and_all_zero_leads(tmp_path):
    signal = _synthetic_ecg(12, 500, 10)
    signal[4] = 1.5  # a flat lead, as some Challenge records have
    signal[7] = 0.0
    record = read_record(write_record(tmp_path, "FLAT", signal, 500))
    out, mask = preprocess(record.recording, record.header, CONFIG, "FLAT")
    assert mask.all() and np.isfinite(out).all()
    assert not out[4].any() and not out[7].any() and out[0].any()


def test_all_zero_and_empty_recordings():
    header = parse_header(_header_text(["I", "II"], [1000, 1000], samples=5000), "Z.hea")
    out, mask = preprocess(np.zeros((2, 5000), dtype=np.int16), header, CONFIG, "Z.hea")
    assert out.shape == (12, 2500) and not out.any() and mask.sum() == 2
    empty, mask = preprocess(np.zeros((2, 0), dtype=np.int16), header, CONFIG, "Z.hea")
    assert empty.shape == (12, 0) and mask.sum() == 2
    assert sliding_windows(empty, CONFIG.window_samples, CONFIG.stride_samples).shape == (1, 12, 2500)


def test_recording_not_matching_header_raises():
    header = parse_header(_header_text(["I", "II"], [1000, 1000]), "M.hea")
    with pytest.raises(RecordError, match="M.hea"):
        preprocess(np.zeros((3, 4), dtype=np.int16), header, CONFIG, "M.hea")


# --- windows --------------------------------------------------------------------------------------------


def _index_signal(num_leads: int, num_samples: int) -> np.ndarray:
    """Every lead holds its sample indices, so a window shows where it was cut from."""
    return np.tile(np.arange(num_samples, dtype=np.float32), (num_leads, 1))


def test_random_window_crop_is_contiguous_and_deterministic():
    signal = _index_signal(12, 6000)
    first = random_window(signal, 2500, np.random.default_rng(3))
    again = random_window(signal, 2500, np.random.default_rng(3))
    assert first.shape == (12, 2500) and first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    start = first[0, 0]
    np.testing.assert_array_equal(first[5], np.arange(start, start + 2500))
    starts = {random_window(signal, 2500, np.random.default_rng(s))[0, 0] for s in range(20)}
    assert len(starts) > 1


def test_random_window_pads_short_signal_at_a_random_offset():
    signal = np.ones((3, 1000), dtype=np.float32)
    offsets = set()
    for seed in range(10):
        window = random_window(signal, 2500, np.random.default_rng(seed))
        assert window.shape == (3, 2500) and window.sum() == 3 * 1000
        present = np.flatnonzero(window[0])
        assert present[-1] - present[0] == 999  # one unbroken block
        offsets.add(int(present[0]))
    assert len(offsets) > 1


def test_random_window_exact_and_empty():
    signal = _index_signal(2, 2500)
    window = random_window(signal, 2500, np.random.default_rng(0))
    np.testing.assert_array_equal(window, signal)
    window[0, 0] = -1  # a copy, not a view into the record
    assert signal[0, 0] == 0
    assert not random_window(np.zeros((12, 0)), 2500, np.random.default_rng(0)).any()


@pytest.mark.parametrize("num_samples", [2500, 2501, 3749, 3750, 7777, 10000])
def test_sliding_windows_cover_every_sample(num_samples):
    signal = _index_signal(4, num_samples)
    windows = sliding_windows(signal, 2500, 1250)
    assert windows.dtype == np.float32 and windows.shape[1:] == (4, 2500)
    assert windows.flags.c_contiguous
    assert np.array_equal(np.unique(windows), np.arange(num_samples))
    assert windows[-1, 0, -1] == num_samples - 1  # the last window ends at the last sample
    starts = window_starts(num_samples, 2500, 1250)
    np.testing.assert_array_equal(windows[:, 0, 0], starts)


def test_sliding_windows_short_signal_padded_at_end():
    signal = _index_signal(2, 1000) + 1
    windows = sliding_windows(signal, 2500, 1250)
    assert windows.shape == (1, 2, 2500)
    np.testing.assert_array_equal(windows[0, :, :1000], signal)
    assert not windows[0, :, 1000:].any()


def test_thirty_minute_record_at_257hz():
    seconds = 30 * 60
    signal = np.random.default_rng(0).standard_normal((2, seconds * 257)).astype(np.float32)  # INCART: 462,600
    resampled = resample(signal, 257, CONFIG.sample_rate)
    assert resampled.shape == (2, seconds * 250)
    windows = sliding_windows(resampled, CONFIG.window_samples, CONFIG.stride_samples)
    # starts 0, 1250, ..., 447,500: (450,000 - 2,500) / 1,250 + 1 windows, the last ending on the last sample
    assert windows.shape == (359, 2, 2500)
    np.testing.assert_array_equal(windows[-1], resampled[:, -2500:])


# --- demographics ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "sex", "expected"),
    [
        (74, "Male", [0.74, 1, 1, 1]),
        (30.5, "F", [0.305, 1, 0, 1]),
        (0, "female", [0.0, 1, 0, 1]),
        (math.nan, "M", [0, 0, 1, 1]),
        (-1, "Unknown", [0, 0, 0, 0]),
        (None, None, [0, 0, 0, 0]),
        (60, " male ", [0.6, 1, 1, 1]),
        (math.inf, "", [0, 0, 0, 0]),
    ],
)
def test_demographics(age, sex, expected):
    out = demographics(age, sex)
    assert out.dtype == np.float32 and out.shape == (4,)
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_a_few_nan_samples_do_not_blank_their_lead(tmp_path):
    """Resampling and filtering would spread one NaN over the whole lead; gaps are filled first."""
    t = np.arange(5000) / 500
    clean = np.tile(np.sin(2 * np.pi * 1.2 * t), (12, 1)) * 1000
    header_path = write_record(tmp_path, "gap", clean / 1000, 500)
    header = read_record(header_path).header
    gappy = clean.copy()
    gappy[0, 2000:2010] = np.nan
    gappy[1, :] = np.nan  # a lead with no finite sample is absent
    config = SignalConfig()
    signal, mask = preprocess(gappy, header, config, source="gap")
    reference, _ = preprocess(clean, header, config, source="gap")
    assert mask[0] and not mask[1] and mask[2:].all()
    assert np.isfinite(signal).all() and not signal[1].any()
    assert np.corrcoef(signal[0], reference[0])[0, 1] > 0.99


def test_bridge_gaps_draws_in_short_runs_only():
    from ecgnet.signals import bridge_gaps

    row = np.arange(20, dtype=np.float64)
    recording = np.stack([row, row, row, row])
    recording[0, 3:5] = np.nan  # short: drawn in along the line
    recording[0, -1] = np.nan  # at an end: the nearest sample
    recording[1, 5:10] = np.nan  # longer than max_gap: left
    recording[2, ::4] = np.nan  # short runs, but a quarter of the samples: left
    bridged = bridge_gaps(recording, max_gap=2, max_share=0.2)
    np.testing.assert_array_equal(bridged[0], np.r_[np.arange(19.0), 18.0])
    assert np.isnan(bridged[1, 5:10]).all() and np.isnan(bridged[2, ::4]).all()
    np.testing.assert_array_equal(bridged[3], row)
    assert np.isnan(recording[0, 3])  # the input is not changed
    digital = np.arange(10, dtype=np.int16).reshape(2, 5)
    assert bridge_gaps(digital, 2, 0.2) is digital
