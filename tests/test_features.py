"""R peaks, the hand-made features and the annotation of a record (ecgnet.features)."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

from ecgnet.config import SignalConfig
from ecgnet.features import (
    FEATURE_NAMES,
    NUM_FEATURES,
    R_PEAK_LEADS,
    annotate,
    compute_features,
    find_r_peaks,
)
from ecgnet.records import STANDARD_LEADS, RecordError, read_record, write_record
from ecgnet.signals import leads_at_rate, preprocess

# Clean 12-lead records of ../shared/data whose lead II has clear R waves.
CLEAN_RECORDS = ("E06320", "HR09008", "JS01048", "JS23925")


def feature(values: np.ndarray, name: str) -> float:
    return float(values[FEATURE_NAMES.index(name)])


def simulated_ecg(duration: float = 10, fs: int = 500, heart_rate: int = 75, seed: int = 0) -> np.ndarray:
    import neurokit2 as nk

    return np.asarray(nk.ecg_simulate(duration=duration, sampling_rate=fs, heart_rate=heart_rate,
                                      random_state=seed), dtype=np.float64)


def training_record(shared_data, record_id: str):
    return read_record(shared_data / "cinc2021" / "training" / f"{record_id}.hea")


# --- compute_features ----------------------------------------------------------------------------------------


def test_feature_names_are_the_documented_ones():
    assert FEATURE_NAMES[:10] == ("rr_mean", "rr_std", "rr_rmssd", "r_amplitude_mean", "r_amplitude_rmssd",
                                  "heart_rate_mean", "heart_rate_min", "heart_rate_max", "rr_known",
                                  "amplitude_known")
    assert NUM_FEATURES == len(FEATURE_NAMES) == len(set(FEATURE_NAMES))
    assert R_PEAK_LEADS == ("II", "I")


@pytest.mark.parametrize("fs, period, rr, rate", [(500, 500, 1.0, 0.6), (250, 125, 0.5, 1.2), (100, 80, 0.8, 0.75)])
def test_regular_train_gives_exact_values(fs, period, rr, rate):
    values = compute_features(np.arange(10) * period + 7, np.full(10, 1.5), fs)
    assert values.dtype == np.float32 and values.shape == (NUM_FEATURES,)
    expected = {"rr_mean": rr, "rr_std": 0.0, "rr_rmssd": 0.0, "r_amplitude_mean": 1.5, "r_amplitude_rmssd": 0.0,
                "heart_rate_mean": rate, "heart_rate_min": rate, "heart_rate_max": rate,
                "rr_known": 1.0, "amplitude_known": 1.0, "rr_rmssd_known": 1.0}
    assert {name: feature(values, name) for name in FEATURE_NAMES} == pytest.approx(expected, abs=1e-6)


def test_irregular_train():
    # RR 1.0, 0.5, 1.5 s; amplitudes alternate 1 and 2 mV.
    values = compute_features(np.array([0, 500, 750, 1500]), np.array([1.0, 2.0, 1.0, 2.0]), 500)
    assert feature(values, "rr_mean") == pytest.approx(1.0)
    assert feature(values, "rr_std") == pytest.approx(np.sqrt(0.5 / 3))
    assert feature(values, "rr_rmssd") == pytest.approx(np.sqrt((0.25 + 1.0) / 2))
    assert feature(values, "r_amplitude_mean") == pytest.approx(1.5)
    assert feature(values, "r_amplitude_rmssd") == pytest.approx(1.0)
    assert feature(values, "heart_rate_mean") == pytest.approx((0.6 + 1.2 + 0.4) / 3)
    assert feature(values, "heart_rate_min") == pytest.approx(0.4)
    assert feature(values, "heart_rate_max") == pytest.approx(1.2)


def test_no_peak_gives_zeros_and_no_flags():
    values = compute_features(np.zeros(0), np.zeros(0), 500)
    assert values.shape == (NUM_FEATURES,) and not values.any()


def test_one_peak_knows_only_the_amplitude():
    values = compute_features(np.array([300]), np.array([0.8]), 500)
    assert feature(values, "amplitude_known") == 1 and feature(values, "r_amplitude_mean") == pytest.approx(0.8)
    others = [name for name in FEATURE_NAMES if name not in ("amplitude_known", "r_amplitude_mean")]
    assert all(feature(values, name) == 0 for name in others)


def test_two_peaks_know_rr_but_not_rr_rmssd():
    values = compute_features(np.array([100, 400]), np.array([1.0, 0.4]), 500)  # RR 0.6 s = 100 bpm
    assert feature(values, "rr_known") == 1 and feature(values, "amplitude_known") == 1
    assert feature(values, "rr_rmssd_known") == 0 and feature(values, "rr_rmssd") == 0
    assert feature(values, "rr_mean") == pytest.approx(0.6)
    assert feature(values, "heart_rate_mean") == pytest.approx(1.0)
    assert feature(values, "r_amplitude_rmssd") == pytest.approx(0.6)


def test_peaks_are_sorted_and_deduplicated_with_their_amplitudes():
    values = compute_features(np.array([1000, 0, 500, 500]), np.array([3.0, 1.0, 2.0, 9.0]), 500)
    assert feature(values, "rr_std") == 0 and feature(values, "rr_mean") == pytest.approx(1.0)
    assert feature(values, "r_amplitude_mean") == pytest.approx(2.0)  # 1, 2, 3: the repeated peak's 9 is dropped


def test_values_are_clipped_to_sane_ranges():
    too_fast = compute_features(np.array([0, 10, 20]), np.array([50.0, -50.0, np.nan]), 500)  # RR 20 ms
    assert feature(too_fast, "rr_mean") == pytest.approx(0.2)
    assert feature(too_fast, "heart_rate_max") == pytest.approx(3.0)
    assert feature(too_fast, "r_amplitude_mean") == pytest.approx(0.0)  # +10, -10 and NaN -> 0
    assert feature(too_fast, "r_amplitude_rmssd") == pytest.approx(np.sqrt((20.0**2 + 10.0**2) / 2))
    too_slow = compute_features(np.array([0, 50_000]), np.ones(2), 500)  # one RR of 100 s
    assert feature(too_slow, "rr_mean") == pytest.approx(3.0)
    assert feature(too_slow, "heart_rate_min") == pytest.approx(0.2)


def test_peaks_and_amplitudes_must_pair_up():
    with pytest.raises(ValueError):
        compute_features(np.array([1, 2, 3]), np.array([1.0, 2.0]), 500)


# --- find_r_peaks --------------------------------------------------------------------------------------------


def test_finds_the_peaks_of_a_simulated_ecg():
    ecg = simulated_ecg()
    peaks = find_r_peaks(ecg, 500)
    assert peaks.dtype == np.int64 and np.all(np.diff(peaks) > 0)
    assert 11 <= len(peaks) <= 13
    assert feature(compute_features(peaks, ecg[peaks], 500), "heart_rate_mean") == pytest.approx(0.75, abs=0.05)
    # The simulated R waves are the tallest deflections: each peak is within a sample of the local maximum
    # (detection runs on the cleaned lead, whose baseline differs slightly).
    offsets = [np.argmax(ecg[max(0, p - 10) : p + 11]) - min(p, 10) for p in peaks]
    assert max(np.abs(offsets)) <= 1


def test_gaps_are_filled_and_warnings_silenced():
    ecg = simulated_ecg()
    ecg[1000:1100] = np.nan
    ecg[3000] = np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        peaks = find_r_peaks(ecg, 500)
    assert 10 <= len(peaks) <= 13


@pytest.mark.parametrize("signal, fs", [
    (np.zeros(5000), 500),  # flat
    (np.full(5000, 0.7), 500),  # flat, not zero
    (np.full(5000, np.nan), 500),  # nothing finite
    (np.zeros(0), 500),  # empty
    (np.sin(np.arange(500) / 10), 500),  # 1 s: too short
    (np.ones(5000), float("nan")),  # no sampling rate
])
def test_bad_input_gives_no_peaks(signal, fs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        peaks = find_r_peaks(signal, fs)
    assert peaks.dtype == np.int64 and len(peaks) == 0


def test_noise_does_not_raise():
    noise = np.random.default_rng(0).normal(size=5000)
    peaks = find_r_peaks(noise, 500)
    assert peaks.dtype == np.int64 and np.all((peaks >= 0) & (peaks < 5000))


# --- annotate ------------------------------------------------------------------------------------------------


def annotate_record(recording, header, rate, keep_leads=None):
    """The annotation of a record as ecgnet.prepare makes it: peaks found in its leads in mV at ``rate``."""
    return annotate(leads_at_rate(recording, header, rate, "record", keep_leads).usable(), rate)


def annotate_file(header_path, rate):
    record = read_record(header_path)
    return annotate_record(record.recording, record.header, rate)


def write_simulated(tmp_path, leads=("I", "II"), fs=500, flat=()):
    ecg = simulated_ecg(fs=fs)
    signal = np.stack([np.zeros_like(ecg) if lead in flat else ecg for lead in leads])
    return write_record(tmp_path, "sim", signal, fs, leads=leads)


def test_annotates_a_simulated_record(tmp_path):
    header_path = write_simulated(tmp_path)
    annotation = annotate_file(header_path, 250)
    assert annotation.peak_lead == "II"
    assert annotation.features.dtype == np.float32 and annotation.features.shape == (NUM_FEATURES,)
    assert feature(annotation.features, "heart_rate_mean") == pytest.approx(0.75, abs=0.05)
    assert feature(annotation.features, "r_amplitude_mean") > 0.5  # mV: the simulated R waves are about 1 mV
    assert annotation.peaks.dtype == np.int64 and 11 <= len(annotation.peaks) <= 13
    assert np.all(np.diff(annotation.peaks) > 0) and annotation.peaks[-1] < 2500


def test_amplitude_is_in_millivolts(tmp_path):
    ecg = simulated_ecg()
    single = annotate_file(write_record(tmp_path, "one", np.stack([ecg, ecg]), 500, leads=("I", "II")), 250)
    double = annotate_file(write_record(tmp_path, "two", np.stack([ecg, 2 * ecg]), 500, leads=("I", "II")), 250)
    amplitude = feature(single.features, "r_amplitude_mean")
    assert 0.6 < amplitude < 1.3  # the simulated R waves are about 1 mV above a baseline a little below 0
    assert feature(double.features, "r_amplitude_mean") == pytest.approx(2 * amplitude, rel=0.01)


def single_spike(length: int = 5000, at: int = 2500) -> np.ndarray:
    """A flat lead with one QRS-like spike: neurokit2 finds exactly one peak in it."""
    return np.exp(-0.5 * ((np.arange(length) - at) / 5.0) ** 2)


def test_lead_two_with_one_peak_falls_back_to_lead_one(tmp_path):
    assert len(find_r_peaks(single_spike(), 500)) == 1
    signal = np.stack([simulated_ecg(), single_spike()])
    annotation = annotate_file(write_record(tmp_path, "spike", signal, 500, leads=("I", "II")), 250)
    assert annotation.peak_lead == "I" and len(annotation.peaks) >= 11


@pytest.mark.parametrize("lead_one", [np.zeros(5000), single_spike(at=1000)])
def test_one_peak_is_kept_when_no_lead_gives_more(tmp_path, lead_one):
    signal = np.stack([lead_one, single_spike()])  # on a tie lead II is preferred
    annotation = annotate_file(write_record(tmp_path, "spike", signal, 500, leads=("I", "II")), 250)
    assert annotation.peak_lead == "II" and annotation.peaks.tolist() == [1250]
    assert feature(annotation.features, "amplitude_known") == 1 and feature(annotation.features, "rr_known") == 0


def test_falls_back_to_lead_one_when_lead_two_is_flat(tmp_path):
    annotation = annotate_file(write_simulated(tmp_path, flat=("II",)), 250)
    assert annotation.peak_lead == "I" and len(annotation.peaks) >= 11


def test_no_lead_one_or_two_gives_no_peaks_and_no_flags(tmp_path):
    annotation = annotate_file(write_simulated(tmp_path, leads=("V1", "V2")), 250)
    assert annotation.peak_lead is None and len(annotation.peaks) == 0 and not annotation.features.any()


def test_both_leads_flat_gives_no_peaks(tmp_path):
    annotation = annotate_file(write_simulated(tmp_path, flat=("I", "II")), 250)
    assert annotation.peak_lead is None and len(annotation.peaks) == 0 and not annotation.features.any()


def test_shape_mismatch_and_missing_file_raise(tmp_path):
    record = read_record(write_simulated(tmp_path))
    with pytest.raises(RecordError):
        annotate_record(record.recording[:1], record.header, 250)
    with pytest.raises(RecordError):
        annotate_file(tmp_path / "absent.hea", 250)


@pytest.mark.parametrize("record_id", CLEAN_RECORDS)
def test_real_records_use_lead_two(shared_data, record_id):
    record = training_record(shared_data, record_id)
    annotation = annotate_record(record.recording, record.header, 250)
    length = preprocess(record.recording, record.header, SignalConfig())[0].shape[-1]
    assert annotation.peak_lead == "II"
    assert len(annotation.peaks) >= 5 and annotation.peaks.max() < length and annotation.peaks.min() >= 0
    assert np.all(np.diff(annotation.peaks) > 0)
    assert feature(annotation.features, "rr_known") == 1 and feature(annotation.features, "amplitude_known") == 1
    median_rate = 60 / (np.median(np.diff(annotation.peaks)) / 250) / 100
    assert 0.3 < median_rate < 2.0
    assert feature(annotation.features, "heart_rate_mean") == pytest.approx(median_rate, rel=0.1)


@pytest.mark.parametrize("record_id", CLEAN_RECORDS)
def test_peaks_land_on_r_waves_of_the_preprocessed_signal(shared_data, record_id):
    record = training_record(shared_data, record_id)
    annotation = annotate_record(record.recording, record.header, 250)
    lead = preprocess(record.recording, record.header, SignalConfig())[0][STANDARD_LEADS.index("II")]
    # Standardised lead: unit std; an R wave is several stds tall and within a few samples of the peak.
    near = np.array([np.abs(lead[max(0, p - 3) : p + 4]).max() for p in annotation.peaks])
    assert np.median(near) > 3
    offsets = [np.argmax(np.abs(lead[max(0, p - 10) : p + 11])) - min(p, 10) for p in annotation.peaks]
    assert np.median(np.abs(offsets)) <= 2


def test_keep_leads_restricts_the_peak_lead(shared_data):
    record = training_record(shared_data, CLEAN_RECORDS[0])
    assert annotate_record(record.recording, record.header, 250, keep_leads=("I",)).peak_lead == "I"
    assert annotate_record(record.recording, record.header, 250, keep_leads=("i", "V2")).peak_lead == "I"
    chest = annotate_record(record.recording, record.header, 250, keep_leads=STANDARD_LEADS[6:])
    assert chest.peak_lead is None and len(chest.peaks) == 0 and not chest.features.any()


def test_header_of_chest_leads_only(shared_data):
    record = training_record(shared_data, CLEAN_RECORDS[0])
    rows = [i for i, lead in enumerate(record.header.leads) if lead.startswith("V")]
    header = dataclasses.replace(record.header, signals=tuple(record.header.signals[i] for i in rows))
    annotation = annotate_record(record.recording[rows], header, 250)
    assert annotation.peak_lead is None and len(annotation.peaks) == 0 and not annotation.features.any()


@pytest.mark.parametrize("folder", ["two_leads", "three_leads", "six_leads"])
def test_reduced_lead_records(shared_data, folder):
    header_path = next(iter(sorted((shared_data / "cinc2021" / "reduced_leads" / folder).glob("*.hea"))))
    annotation = annotate_file(header_path, 250)
    assert annotation.peak_lead in R_PEAK_LEADS and len(annotation.peaks) >= 2


def test_a_low_rate_record_has_peaks_at_the_model_rate(shared_data):
    header_path = shared_data / "ptbxl" / "HR01999.hea"  # 100 Hz
    record = read_record(header_path)
    assert record.header.frequency == 100
    annotation = annotate_file(header_path, 250)
    lead = preprocess(record.recording, record.header, SignalConfig())[0][STANDARD_LEADS.index("II")]
    assert annotation.peaks.max() < len(lead)
    assert np.median([np.abs(lead[max(0, p - 3) : p + 4]).max() for p in annotation.peaks]) > 3
