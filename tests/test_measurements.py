"""What a cardiologist reads off an ECG, per record and lead set (ecgnet.measurements)."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest

from ecgnet.measurements import (
    BEAT_NAMES,
    GLOBAL_NAMES,
    MAX_SECONDS,
    MEASUREMENT_NAMES,
    NUM_MEASUREMENTS,
    PER_LEAD_NAMES,
    RS_NAMES,
    measure,
    measure_file,
    missing_flags,
)
from ecgnet.records import LEAD_SETS, STANDARD_LEADS, RecordError, read_record, write_record
from ecgnet.synthetic import ATRIAL_FIBRILLATION, SINUS_RHYTHM, simulate_record

CHALLENGE_SETS = tuple(LEAD_SETS[n] for n in (12, 6, 4, 3, 2))
RHYTHM_NAMES = ("heart_rate_mean", "heart_rate_min", "heart_rate_max", "rr_mean", "rr_std", "rr_rmssd",
                "rr_variation", "rr_successive_variation", "premature_fraction")
BEAT_DERIVED = tuple(name for name in PER_LEAD_NAMES if not name.startswith("signal_")) + BEAT_NAMES
STATISTICS = ("signal_rms", "signal_p01", "signal_p99")

# The frontal (hexaxial) angle of each limb lead and the horizontal angle of each chest lead, in degrees.
LIMB_ANGLES = {"I": 0, "II": 60, "III": 120, "aVR": -150, "aVL": -30, "aVF": 90}
CHEST_ANGLES = {"V1": 120, "V2": 100, "V3": 80, "V4": 60, "V5": 30, "V6": 0}


def value(values: np.ndarray, name: str, row: int = 0) -> float:
    return float(values[row, MEASUREMENT_NAMES.index(name)])


def lead_values(values: np.ndarray, name: str, row: int = 0) -> dict[str, float]:
    return {lead: value(values, f"{name}_{lead}", row) for lead in STANDARD_LEADS}


def lead_directions() -> np.ndarray:
    """(12, 3) unit directions in a (left, down, front) frame; Goldberger's augmented leads are sqrt(3)/2
    long, so that Einthoven's and Goldberger's laws hold exactly (aVF = II - I/2, ...)."""
    rows = []
    for lead in STANDARD_LEADS:
        if lead in LIMB_ANGLES:
            angle = math.radians(LIMB_ANGLES[lead])
            scale = math.sqrt(3) / 2 if lead.startswith("a") else 1.0
            rows.append([scale * math.cos(angle), scale * math.sin(angle), 0.0])
        else:
            angle = math.radians(CHEST_ANGLES[lead])
            rows.append([math.cos(angle), 0.0, math.sin(angle)])
    return np.array(rows)


def bump(t: np.ndarray, start: float, width: float) -> np.ndarray:
    """A raised cosine of height 1 from ``start`` to ``start + width`` (ms)."""
    x = (t - start) / width
    return np.where((x > 0) & (x < 1), 0.5 * (1 - np.cos(2 * np.pi * x)), 0.0)


def triangle(t: np.ndarray, start: float, width: float) -> np.ndarray:
    """A triangle of height 1 from ``start`` to ``start + width`` (ms): a QRS with sharp ends."""
    return np.clip(1 - np.abs(2 * (t - start) / width - 1), 0, None)


def beat(t: np.ndarray, onset: float, qrs_ms: float = 90, pr_ms: float = 160, qt_ms: float = 400,
         axis: float = 60, p_wave: bool = True, polarity: float = 1.0) -> np.ndarray:
    """The heart vector (3, samples) of one beat whose QRS starts at ``onset`` ms: a P wave (100 ms),
    a triangular QRS along the frontal ``axis`` (degrees) and a T wave (220 ms) that ends at QT."""
    angle = math.radians(axis)
    qrs_direction = polarity * np.array([math.cos(angle), math.sin(angle), -0.4])
    vector = np.outer(qrs_direction, 1.5 * triangle(t, onset, qrs_ms))
    vector += np.outer(qrs_direction, 0.35 * bump(t, onset + qt_ms - 220, 220))
    if p_wave:
        vector += np.outer([0.5, 0.85, 0.1], 0.2 * bump(t, onset - pr_ms, 100))
    return vector


def synthetic_ecg(rate: float = 60, fs: float = 500, seconds: float = 10, seed: int = 0, **shape) -> np.ndarray:
    """12 consistent leads (mV) of a regular rhythm of identical beats (``shape``: see :func:`beat`)."""
    t = np.arange(int(seconds * fs)) / fs * 1000
    vector = sum(beat(t, onset, **shape) for onset in np.arange(600, seconds * 1000 - 700, 60000 / rate))
    leads = lead_directions() @ vector
    return leads + np.random.default_rng(seed).normal(0, 0.005, leads.shape)


def measure_signal(tmp_path, signal: np.ndarray, fs: float = 500, leads=STANDARD_LEADS,
                   lead_sets=CHALLENGE_SETS) -> np.ndarray:
    """Write ``signal`` as a record (int16 at 1000/mV, as the Challenge data) and measure it."""
    return measure_file(write_record(tmp_path, "S0001", signal, fs, leads), lead_sets)


# --- names -----------------------------------------------------------------------------------------------------


def test_names_are_fixed_unique_and_per_lead():
    assert NUM_MEASUREMENTS == len(MEASUREMENT_NAMES) == len(set(MEASUREMENT_NAMES))
    assert 200 <= NUM_MEASUREMENTS <= 300
    assert MEASUREMENT_NAMES[: len(GLOBAL_NAMES)] == GLOBAL_NAMES
    assert RS_NAMES == tuple(f"rs_log_ratio_V{k}" for k in range(1, 7))
    for name in PER_LEAD_NAMES + BEAT_NAMES:
        position = MEASUREMENT_NAMES.index(f"{name}_I")
        assert MEASUREMENT_NAMES[position : position + 12] == tuple(f"{name}_{lead}" for lead in STANDARD_LEADS)
    for name in ("r_amplitude_V5", "s_amplitude_V1", "st_level_aVR", "qrs_duration", "qrs_axis", "qtc_bazett",
                 "sokolow_lyon", "cornell", "rs_transition_lead", "p_wave_consistency", "beat_09_V6"):
        assert name in MEASUREMENT_NAMES


# --- known values ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("heart_rate", [60, 80, 120])
def test_heart_rate_of_simulated_ecg(tmp_path, heart_rate):
    import neurokit2 as nk

    ecg = np.asarray(nk.ecg_simulate(duration=10, sampling_rate=500, heart_rate=heart_rate, method="ecgsyn",
                                     random_state=1), dtype=np.float64)
    values = measure_signal(tmp_path, np.stack([ecg, ecg]), leads=("I", "II"), lead_sets=[("I", "II")])
    assert value(values, "heart_rate_mean") == pytest.approx(heart_rate, abs=3)
    assert value(values, "rr_mean") == pytest.approx(60000 / heart_rate, rel=0.05)
    assert value(values, "rr_variation") < 0.1 and value(values, "premature_fraction") == 0


@pytest.mark.parametrize("fs", [500, 257, 100])
def test_qrs_duration_of_constructed_beats(tmp_path, fs):
    narrow = measure_signal(tmp_path, synthetic_ecg(qrs_ms=80, fs=fs), fs)
    wide = measure_signal(tmp_path, synthetic_ecg(qrs_ms=140, fs=fs), fs)
    for row in (0, 4):  # 12 leads, and I and II alone
        assert value(narrow, "qrs_duration", row) == pytest.approx(80, abs=20)
        assert value(wide, "qrs_duration", row) == pytest.approx(140, abs=20)
        assert value(wide, "qrs_duration", row) - value(narrow, "qrs_duration", row) == pytest.approx(60, abs=10)


@pytest.mark.parametrize("axis", [60, -45, 120, 0, -100])
def test_frontal_axis_of_constructed_beats(tmp_path, axis):
    values = measure_signal(tmp_path, synthetic_ecg(axis=axis))
    for row in range(len(CHALLENGE_SETS)):  # I and aVF themselves, or derived from I and II
        assert value(values, "qrs_axis", row) == pytest.approx(axis, abs=15)


def test_pr_interval_of_constructed_beats(tmp_path):
    normal = measure_signal(tmp_path, synthetic_ecg(pr_ms=160))
    long = measure_signal(tmp_path, synthetic_ecg(pr_ms=280))
    for row in (0, 4):
        assert value(normal, "pr_interval", row) == pytest.approx(160, abs=30)
        assert value(long, "pr_interval", row) == pytest.approx(280, abs=30)
        assert value(long, "pr_interval", row) - value(normal, "pr_interval", row) == pytest.approx(120, abs=10)
        assert value(normal, "p_duration", row) == pytest.approx(100, abs=40)


def test_qt_interval_of_constructed_beats(tmp_path):
    normal = measure_signal(tmp_path, synthetic_ecg(qt_ms=380))
    long = measure_signal(tmp_path, synthetic_ecg(qt_ms=500))
    for row in (0, 4):
        assert value(normal, "qt_interval", row) == pytest.approx(380, abs=30)
        assert value(long, "qt_interval", row) == pytest.approx(500, abs=30)
    # At 60 bpm (RR 1 s) both corrections leave QT as it is; at 100 bpm they lengthen it.
    assert value(normal, "qtc_bazett") == pytest.approx(value(normal, "qt_interval"), abs=2)
    fast = measure_signal(tmp_path, synthetic_ecg(qt_ms=380, rate=100))
    rr_s = 0.6
    assert value(fast, "qtc_bazett") == pytest.approx(value(fast, "qt_interval") / math.sqrt(rr_s), abs=3)
    assert value(fast, "qtc_fridericia") == pytest.approx(value(fast, "qt_interval") / rr_s ** (1 / 3), abs=3)


def test_amplitudes_and_voltage_criteria_of_constructed_beats(tmp_path):
    values = measure_signal(tmp_path, synthetic_ecg(axis=0))
    r, s = lead_values(values, "r_amplitude"), lead_values(values, "s_amplitude")
    directions = dict(zip(STANDARD_LEADS, lead_directions() @ np.array([1.0, 0.0, -0.4]) * 1.5))
    for lead in ("I", "V5", "V6"):  # the QRS points along these leads: all R, no S
        assert r[lead] == pytest.approx(directions[lead], abs=0.1) and s[lead] < 0.05
    assert s["V1"] == pytest.approx(-directions["V1"], abs=0.1) and r["V1"] < 0.05  # a QS complex
    assert value(values, "sokolow_lyon") == pytest.approx(s["V1"] + max(r["V5"], r["V6"]), abs=1e-3)
    assert value(values, "cornell") == pytest.approx(r["aVL"] + s["V3"], abs=1e-3)
    assert value(values, "limb_qrs_max_pp") == pytest.approx(1.5, abs=0.1)  # lead I
    assert value(values, "rs_log_ratio_V6") > 1 > -1 > value(values, "rs_log_ratio_V1")
    assert value(values, "rs_transition_lead") in (2, 3, 4)
    assert value(values, "t_amplitude_I") == pytest.approx(0.35, abs=0.05)
    assert value(values, "t_amplitude_aVR") < -0.2
    assert value(values, "p_amplitude_II") == pytest.approx(0.2 * (0.5 * 0.5 + 0.85 * math.sqrt(3) / 2), abs=0.05)
    assert abs(value(values, "st_level_I")) < 0.05


def test_premature_wide_beats_are_counted(tmp_path):
    fs, seconds = 500, 12
    t = np.arange(seconds * fs) / fs * 1000
    onsets, vector = 600.0, np.zeros((3, len(t)))
    for k in range(14):
        ectopic = k % 4 == 3  # early, wide, pointing elsewhere, without a P wave; a compensatory pause follows
        onsets += 550 if ectopic else (1100 if k % 4 == 0 and k else 800)
        if onsets > seconds * 1000 - 700:
            break
        vector += beat(t, onsets, qrs_ms=150, axis=-10, p_wave=False) if ectopic else beat(t, onsets)
    values = measure_signal(tmp_path, lead_directions() @ vector, fs)
    regular = measure_signal(tmp_path, synthetic_ecg(rate=75), fs)
    assert value(values, "premature_fraction") >= 0.15 and value(values, "ectopic_fraction") >= 0.15
    assert value(values, "rr_variation") > 0.1
    assert value(regular, "premature_fraction") == 0 and value(regular, "ectopic_fraction") == 0


def test_p_wave_presence_separates_sinus_rhythm_from_atrial_fibrillation(tmp_path):
    def measured(rhythm: str, seed: int) -> np.ndarray:
        record = simulate_record(seed, rhythm=rhythm)
        return measure_signal(tmp_path, record.signal, record.frequency, record.leads)

    for seed in (0, 2):
        sinus, fibrillation = measured(SINUS_RHYTHM.code, seed), measured(ATRIAL_FIBRILLATION.code, seed)
        for row in (0, 4):
            assert value(sinus, "p_wave_consistency", row) > value(fibrillation, "p_wave_consistency", row) + 0.2
            assert value(sinus, "p_wave_snr", row) > 2 > value(fibrillation, "p_wave_snr", row)
        assert value(fibrillation, "rr_variation") > 0.1 > value(sinus, "rr_variation")


# --- lead sets -------------------------------------------------------------------------------------------------


def test_each_lead_set_row_uses_its_own_leads(tmp_path):
    values = measure_signal(tmp_path, synthetic_ecg())
    assert values.shape == (5, NUM_MEASUREMENTS) and values.dtype == np.float32
    assert np.isfinite(values[0]).all()
    for row, lead_set in enumerate(CHALLENGE_SETS):
        for name in BEAT_DERIVED[:8] + STATISTICS:
            for lead, measured in lead_values(values, name, row).items():
                assert np.isfinite(measured) == (lead in lead_set), (lead_set, name, lead)
        for name in RHYTHM_NAMES + ("qrs_duration", "qt_interval", "qrs_axis", "pr_interval"):
            assert np.isfinite(value(values, name, row)), (lead_set, name)
    two = CHALLENGE_SETS.index(LEAD_SETS[2])
    assert np.isnan(value(values, "sokolow_lyon", two)) and np.isnan(value(values, "r_amplitude_aVF", two))
    # The rhythm comes from the same R peaks in every row.
    rhythm = [MEASUREMENT_NAMES.index(name) for name in RHYTHM_NAMES]
    assert np.array_equal(values[:, rhythm], np.repeat(values[:1, rhythm], 5, axis=0))


def test_a_record_with_only_i_and_ii_matches_the_two_lead_row_of_the_full_record(tmp_path):
    signal = synthetic_ecg(axis=-45)
    full = measure_signal(tmp_path / "full", signal)
    reduced = measure_signal(tmp_path / "reduced", signal[:2], leads=("I", "II"))
    np.testing.assert_array_equal(missing_flags(full[4]), missing_flags(reduced[4]))
    np.testing.assert_allclose(full[4], reduced[4], equal_nan=True, rtol=1e-5, atol=1e-5)
    assert value(reduced, "qrs_axis", 4) == pytest.approx(-45, abs=15)  # aVF derived as II - I/2
    # In the 12-lead row of the reduced record only I and II are measured.
    assert np.isfinite(value(reduced, "r_amplitude_II")) and np.isnan(value(reduced, "r_amplitude_V1"))


def test_lead_sets_with_absent_or_odd_leads(tmp_path):
    signal = synthetic_ecg()[:6]
    values = measure_signal(tmp_path, signal, leads=LEAD_SETS[6],
                            lead_sets=[("V1", "V2"), (), ("avl", "AVF", "not a lead"), ("I", "V5")])
    assert values.shape == (4, NUM_MEASUREMENTS)
    assert np.isnan(values[0]).all() and np.isnan(values[1]).all()  # nothing of those sets is recorded
    assert np.isfinite(value(values, "r_amplitude_aVL", 2)) and np.isfinite(value(values, "qrs_axis", 2))
    assert np.isnan(value(values, "r_amplitude_I", 2))
    assert np.isfinite(value(values, "r_amplitude_I", 3)) and np.isnan(value(values, "r_amplitude_V5", 3))
    assert np.isnan(value(values, "qrs_axis", 3))  # one limb lead cannot point an axis
    assert measure(np.zeros((6, 100)), read_record(tmp_path / "S0001.hea").header, []).shape == (0, NUM_MEASUREMENTS)


def test_reduced_lead_copies_of_real_records_give_their_sets_rows(shared_data):
    root = shared_data / "cinc2021" / "reduced_leads"
    for record_id in ("E07500", "HR06000", "JS20000"):
        full = measure_file(root / "twelve_leads" / f"{record_id}.hea", CHALLENGE_SETS)
        for row, folder in enumerate(("twelve", "six", "four", "three", "two")):
            reduced = measure_file(root / f"{folder}_leads" / f"{record_id}.hea", [CHALLENGE_SETS[row]])
            np.testing.assert_allclose(reduced[0], full[row], equal_nan=True, rtol=1e-5, atol=1e-5)


# --- robustness ------------------------------------------------------------------------------------------------


def assert_beat_values_missing(values: np.ndarray, row: int, leads=STANDARD_LEADS) -> None:
    for name in BEAT_DERIVED:
        assert all(np.isnan(lead_values(values, name, row)[lead]) for lead in leads), name


def test_flat_record_keeps_its_signal_statistics(tmp_path):
    values = measure_signal(tmp_path, np.zeros((12, 5000)))
    flags = missing_flags(values)
    np.testing.assert_array_equal(flags, ~np.isfinite(values))
    statistics = [MEASUREMENT_NAMES.index(f"{name}_{lead}") for name in STATISTICS for lead in STANDARD_LEADS]
    assert not flags[0, statistics].any() and (values[0, statistics] == 0).all()
    assert flags[0, [i for i in range(NUM_MEASUREMENTS) if i not in statistics]].all()


def test_a_flat_and_an_all_nan_lead_cost_only_themselves(tmp_path):
    signal = synthetic_ecg()
    digital = np.round(signal * 1000)
    digital[STANDARD_LEADS.index("V3")] = 7  # flat: present, but nothing to measure in it
    digital[STANDARD_LEADS.index("V4")] = np.nan  # no sample at all: absent
    digital[STANDARD_LEADS.index("V5"), ::9] = np.nan  # gaps are filled
    header = read_record(write_record(tmp_path, "S0001", signal, 500)).header
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = measure(digital, header, CHALLENGE_SETS)
    assert_beat_values_missing(values, 0, ("V3", "V4"))
    assert value(values, "signal_rms_V3") == 0 and np.isnan(value(values, "signal_rms_V4"))
    assert np.isfinite(value(values, "r_amplitude_V5")) and np.isfinite(value(values, "r_amplitude_V2"))
    assert np.isnan(value(values, "rs_transition_lead")) and np.isnan(value(values, "cornell"))
    assert np.isfinite(value(values, "sokolow_lyon")) and np.isfinite(value(values, "qrs_duration"))


@pytest.mark.parametrize("seconds", [1.0, 0.05])
def test_a_record_too_short_for_beats(tmp_path, seconds):
    values = measure_signal(tmp_path, synthetic_ecg()[:, : int(seconds * 500)])
    assert values.shape == (5, NUM_MEASUREMENTS)
    for name in GLOBAL_NAMES + RS_NAMES:
        assert np.isnan(value(values, name)), name
    assert_beat_values_missing(values, 0)
    assert np.isfinite([value(values, f"signal_rms_{lead}") for lead in STANDARD_LEADS]).all()


def test_a_record_with_two_beats(tmp_path):
    values = measure_signal(tmp_path, synthetic_ecg(seconds=2.6, rate=50))
    assert np.isfinite(value(values, "heart_rate_mean")) and np.isnan(value(values, "rr_rmssd"))
    assert np.isnan(value(values, "ectopic_fraction"))  # too few beats to compare
    assert np.isfinite(value(values, "r_amplitude_II"))


def test_huge_values_are_clipped(tmp_path):
    signal = synthetic_ecg()
    header = read_record(write_record(tmp_path, "S0001", signal, 500)).header
    values = measure(signal * 1e9, header, CHALLENGE_SETS)  # 1e6 V at the header's 1000/mV
    amplitudes = [i for i, name in enumerate(MEASUREMENT_NAMES) if "amplitude" in name or name.startswith("signal_")]
    assert np.nanmax(np.abs(values[:, amplitudes])) <= 10
    assert value(values, "qrs_axis") == pytest.approx(60, abs=15)


def test_long_records_are_measured_on_their_first_minute(tmp_path):
    signal = synthetic_ecg(seconds=70, rate=72)
    header = read_record(write_record(tmp_path, "S0001", signal, 500)).header
    digital = np.round(signal * 1000).astype(np.int16)
    cut = int(MAX_SECONDS * 500)
    np.testing.assert_array_equal(measure(digital, header), measure(digital[:, :cut], header))
    assert value(measure(digital, header), "heart_rate_mean") == pytest.approx(72, abs=1)


def test_a_shape_that_does_not_match_the_header_raises(tmp_path):
    header = read_record(write_record(tmp_path, "S0001", synthetic_ecg(), 500)).header
    with pytest.raises(RecordError, match="S0001.mat"):
        measure(np.zeros((11, 5000)), header, source=tmp_path / "S0001.mat")
    with pytest.raises(RecordError):
        measure(np.zeros(5000), header)


def test_a_zero_gain_costs_only_its_lead(tmp_path):
    signal = synthetic_ecg()
    header = read_record(write_record(tmp_path, "S0001", signal, 500)).header
    broken = dataclasses.replace(header, signals=tuple(dataclasses.replace(s, gain=0.0) if s.lead == "V2" else s
                                                       for s in header.signals))
    values = measure(np.round(signal * 1000), broken)
    assert np.isnan(value(values, "signal_rms_V2")) and np.isfinite(value(values, "signal_rms_V1"))
    assert np.isfinite(value(values, "qrs_duration"))


# --- real records ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["ptbxl/HR00001.hea", "ptbxl/HR01000.hea", "cpsc2018/A0001.hea",
                                  "cinc2021/training/HR09008.hea"])
def test_real_records_give_plausible_values(shared_data, path):
    values = measure_file(shared_data / path, CHALLENGE_SETS)
    assert values.shape == (5, NUM_MEASUREMENTS)
    for row in range(5):
        assert 30 <= value(values, "heart_rate_mean", row) <= 200
        assert 60 <= value(values, "qrs_duration", row) <= 200
        assert 250 <= value(values, "qt_interval", row) <= 600
        assert -180 <= value(values, "qrs_axis", row) <= 180
    assert np.isfinite(values[0, [MEASUREMENT_NAMES.index(f"r_amplitude_{lead}") for lead in STANDARD_LEADS]]).all()


def test_labelled_real_records_measure_what_their_labels_say(shared_data):
    training = shared_data / "cinc2021" / "training"
    bundle_branch_block = measure_file(shared_data / "cpsc2018" / "A0001.hea")  # right bundle branch block
    assert value(bundle_branch_block, "qrs_duration") >= 120
    bradycardia = measure_file(training / "JS01048.hea")  # sinus bradycardia
    assert value(bradycardia, "heart_rate_mean") < 60
    fibrillation = measure_file(shared_data / "cpsc2018" / "A0004.hea")  # atrial fibrillation
    assert value(fibrillation, "p_wave_consistency") < 0.6 and value(fibrillation, "rr_variation") > 0.1


def test_the_summary_line_reads_like_a_machine_read_ecg_header():
    from ecgnet.measurements import MEASUREMENT_NAMES, summary_line

    values = np.full(len(MEASUREMENT_NAMES), np.nan)
    for name, value in (("heart_rate_mean", 57.2), ("pr_interval", 150.0), ("qrs_duration", 87.4),
                        ("qrs_axis", -30.0)):
        values[MEASUREMENT_NAMES.index(name)] = value
    assert summary_line(values) == "HR 57/min  PR 150 ms  QRS 87 ms  axis -30\u00b0"  # QT and QTc not measured
    assert summary_line(None) == ""
