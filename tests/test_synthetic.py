"""Tests of the synthetic record generator: format, reproducibility, learnable labels and the command line."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import butter, find_peaks, sosfiltfilt

from ecgnet import synthetic
from ecgnet.labels import default_class_table
from ecgnet.records import LEAD_SETS, STANDARD_LEADS, read_record, read_recording

REPO = Path(__file__).resolve().parents[1]
NSR, SB, STACH, AF, SA = (
    synthetic.SINUS_RHYTHM.code,
    synthetic.SINUS_BRADYCARDIA.code,
    synthetic.SINUS_TACHYCARDIA.code,
    synthetic.ATRIAL_FIBRILLATION.code,
    synthetic.SINUS_ARRHYTHMIA.code,
)


def physical(header_path: Path) -> tuple[np.ndarray, float, tuple[str, ...]]:
    """The written signal in mV, its sampling rate and its leads, as a reader of the files sees them."""
    record = read_record(header_path)
    header = record.header
    signal = (record.recording.astype(np.float64) - header.baselines[:, None]) / header.gains[:, None]
    return signal, header.frequency, header.leads


def rr_intervals(signal: np.ndarray, frequency: float) -> np.ndarray:
    """RR intervals (s) found by a plain QRS detector: band-passed slope energy summed over the leads.

    Peaks within 0.1 s of either end are dropped: the filters ring there and a beat may be cut in half.
    """
    sos = butter(2, [8.0, 30.0], btype="band", fs=frequency, output="sos")
    energy = np.sum(sosfiltfilt(sos, signal, axis=1) ** 2, axis=0)
    width = int(0.05 * frequency)
    energy = np.convolve(energy, np.ones(width) / width, mode="same")
    peaks, _ = find_peaks(energy, distance=int(0.25 * frequency), height=0.3 * np.percentile(energy, 99))
    edge = int(0.1 * frequency)
    peaks = peaks[(peaks > edge) & (peaks < signal.shape[1] - edge)]
    return np.diff(peaks) / frequency


def rhythm_features(signal: np.ndarray, frequency: float) -> tuple[float, float, float]:
    """Heart rate (bpm), successive-difference irregularity (RMSSD / mean RR) and RR range / mean RR."""
    rr = rr_intervals(signal, frequency)
    mean = rr.mean()
    return 60.0 / mean, float(np.sqrt(np.mean(np.diff(rr) ** 2)) / mean), float(np.ptp(rr) / mean)


# ----------------------------------------------------------------------------------------------------------
# Format
# ----------------------------------------------------------------------------------------------------------


def test_records_read_back_with_their_metadata(tmp_path: Path) -> None:
    paths = synthetic.generate_dataset(tmp_path, 6, seed=3, progress=False)
    assert [p.name for p in paths] == [f"SYN{i:05d}.hea" for i in range(1, 7)]
    for index, path in enumerate(paths):
        record = read_record(path)
        header = record.header
        expected = synthetic.generate_record(3, index)
        assert header.record_id == path.stem
        assert header.leads == STANDARD_LEADS
        assert header.frequency == 500 and header.num_samples == 5000
        assert record.recording.shape == (12, 5000)
        assert read_recording(path.with_suffix(".mat")).dtype == np.int16  # stored as the Challenge stores it
        np.testing.assert_array_equal(record.recording, np.round(record.recording))  # read back exactly
        assert header.labels == (expected.rhythm,)
        assert header.sex == expected.sex and header.sex in ("Male", "Female", "Unknown")
        assert (math.isnan(header.age) and math.isnan(expected.age)) or header.age == expected.age
        signal, _, _ = physical(path)
        np.testing.assert_allclose(signal, expected.signal, atol=0.5 / synthetic.DEFAULT_GAIN + 1e-9)


def test_labels_are_scored_challenge_classes() -> None:
    table = default_class_table()
    for code in synthetic.RHYTHMS:
        assert table.index_of(code) is not None, code


def test_demographics_and_classes_vary() -> None:
    records = [synthetic.generate_record(11, i, frequency=100, duration=2.0) for i in range(300)]
    ages = np.array([r.age for r in records])
    known = ages[~np.isnan(ages)]
    assert 0 < np.isnan(ages).sum() < 40, "some, not many, ages are unknown"
    assert known.min() >= 18 and known.max() <= 90 and np.all(known == np.round(known))
    assert {r.sex for r in records} == {"Male", "Female", "Unknown"}
    assert {r.rhythm for r in records} == set(synthetic.DEFAULT_RHYTHMS)


@pytest.mark.parametrize("frequency, duration", [(257.0, 7.0), (1000.0, 3.5)])
def test_other_frequencies_and_durations(tmp_path: Path, frequency: float, duration: float) -> None:
    [path] = synthetic.generate_dataset(tmp_path, 1, frequency=frequency, duration=duration, progress=False)
    header = read_record(path).header
    assert header.frequency == frequency and header.num_samples == round(frequency * duration)


@pytest.mark.parametrize("size", [6, 4, 3, 2])
def test_reduced_lead_records_are_rows_of_the_twelve_lead_record(tmp_path: Path, size: int) -> None:
    full = synthetic.generate_dataset(tmp_path / "12", 3, seed=5, progress=False)
    reduced = synthetic.generate_dataset(tmp_path / str(size), 3, seed=5, leads=size, progress=False)
    for full_path, reduced_path in zip(full, reduced):
        whole, small = read_record(full_path), read_record(reduced_path)
        assert small.header.leads == LEAD_SETS[size]
        rows = [STANDARD_LEADS.index(lead) for lead in LEAD_SETS[size]]
        np.testing.assert_array_equal(small.recording, whole.recording[rows])
        assert small.header.labels == whole.header.labels


def test_leads_in_any_order_and_by_name(tmp_path: Path) -> None:
    [path] = synthetic.generate_dataset(tmp_path, 1, leads=["V2", "ii", "I"], progress=False)
    assert read_record(path).header.leads == ("V2", "II", "I")
    for bad in (5, ["I", "I"], ["X1"], []):
        with pytest.raises(ValueError):
            synthetic.resolve_leads(bad)


def test_rhythm_names_and_restriction() -> None:
    assert synthetic.resolve_rhythms("af,NSR") == (AF, NSR)
    assert synthetic.resolve_rhythms(None) == synthetic.DEFAULT_RHYTHMS
    with pytest.raises(ValueError, match="unknown rhythm"):
        synthetic.resolve_rhythms(["LBBB"])
    drawn = {synthetic.generate_record(0, i, rhythms=[SB, STACH], duration=1.0).rhythm for i in range(20)}
    assert drawn == {SB, STACH}


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="method"):
        synthetic.generate_dataset("unused", 1, method="ecgsyn", progress=False)
    with pytest.raises(ValueError, match="positive"):
        synthetic.simulate_record(0, duration=0.0)


# ----------------------------------------------------------------------------------------------------------
# Reproducibility
# ----------------------------------------------------------------------------------------------------------


def test_record_seed_is_the_spawned_child() -> None:
    for index in (0, 7):
        spawned = np.random.SeedSequence(42).spawn(index + 1)[index]
        assert np.array_equal(synthetic.record_seed(42, index).generate_state(4), spawned.generate_state(4))


def test_same_seed_same_record_other_seed_other_record() -> None:
    a, b = synthetic.generate_record(9, 4), synthetic.generate_record(9, 4)
    np.testing.assert_array_equal(a.signal, b.signal)
    assert (a.rhythm, a.sex, a.r_peaks.tolist()) == (b.rhythm, b.sex, b.r_peaks.tolist())
    assert not np.array_equal(a.signal, synthetic.generate_record(10, 4).signal)
    assert not np.array_equal(a.signal, synthetic.generate_record(9, 5).signal)


def test_dataset_is_identical_for_any_number_of_jobs(tmp_path: Path) -> None:
    one = synthetic.generate_dataset(tmp_path / "one", 6, seed=2, n_jobs=1, progress=False)
    two = synthetic.generate_dataset(tmp_path / "two", 6, seed=2, n_jobs=2, progress=False)
    assert [p.name for p in one] == [p.name for p in two]
    for a, b in zip(one, two):
        assert a.read_text() == b.read_text()
        assert a.with_suffix(".mat").read_bytes() == b.with_suffix(".mat").read_bytes()
    # A record does not depend on how many records the dataset has.
    first = synthetic.generate_dataset(tmp_path / "few", 3, seed=2, progress=False)
    assert first[2].with_suffix(".mat").read_bytes() == one[2].with_suffix(".mat").read_bytes()


# ----------------------------------------------------------------------------------------------------------
# Learnable labels
# ----------------------------------------------------------------------------------------------------------


def written_features(tmp_path: Path, rhythm: str, count: int, method: str = "fast") -> np.ndarray:
    """(count, 3) rhythm features measured on records of one rhythm, written and read back."""
    features = []
    for i in range(count):
        record = synthetic.simulate_record(np.random.default_rng([17, i]), rhythm=rhythm, method=method)
        path = synthetic.write_synthetic_record(tmp_path, f"{rhythm}_{i}", record)
        signal, frequency, _ = physical(path)
        features.append(rhythm_features(signal, frequency))
    return np.array(features)


def assert_separable(features: dict[str, np.ndarray]) -> None:
    """Heart rate separates SB < NSR < STach; irregularity marks AF; RR range marks SA among sinus rhythms."""
    rate = {code: f[:, 0] for code, f in features.items()}
    irregularity = {code: f[:, 1] for code, f in features.items()}
    spread = {code: f[:, 2] for code, f in features.items()}
    assert rate[SB].max() < 57 and rate[NSR].min() > 61
    assert rate[NSR].max() < 96 and rate[STACH].min() > 104
    regular = np.concatenate([irregularity[c] for c in (NSR, SB, STACH)])
    assert regular.max() < 0.1 < irregularity[AF].min()
    assert np.concatenate([spread[c] for c in (NSR, SB)]).max() < 0.13 < spread[SA].min()


def test_fast_labels_are_learnable_from_the_written_signal(tmp_path: Path) -> None:
    assert_separable({code: written_features(tmp_path, code, 10) for code in synthetic.RHYTHMS})


def test_beat_count_matches_the_ground_truth() -> None:
    for i in range(10):
        record = synthetic.generate_record(4, i)
        inside = record.r_peaks[(record.r_peaks > 0.15) & (record.r_peaks < 9.85)]
        found = rr_intervals(record.signal, record.frequency).size + 1
        assert abs(found - inside.size) <= 1, (i, record.rhythm)


def test_af_records_have_no_p_waves() -> None:
    """Lead II just before each QRS: a P-wave bump in sinus rhythm, only noise and f-waves in AF."""

    def p_wave_energy(rhythm: str, seed: int) -> float:
        record = synthetic.simulate_record(np.random.default_rng([23, seed]), rhythm=rhythm)
        lead = record.signal[STANDARD_LEADS.index("II")]
        fs = record.frequency
        sos = butter(2, [2.0, 20.0], btype="band", fs=fs, output="sos")
        lead = sosfiltfilt(sos, lead)
        windows = [lead[int((t - 0.26) * fs) : int((t - 0.08) * fs)] for t in record.r_peaks if t > 0.3]
        return float(np.median([np.ptp(w) for w in windows]))

    sinus = [p_wave_energy(NSR, s) for s in range(8)]
    fibrillation = [p_wave_energy(AF, s) for s in range(8)]
    assert np.median(sinus) > 1.3 * np.median(fibrillation)


# ----------------------------------------------------------------------------------------------------------
# neurokit2 renderer
# ----------------------------------------------------------------------------------------------------------


class FakeNeurokit(types.ModuleType):
    """Stands in for neurokit2 (whose import alone takes seconds): periodic P-QRS-T bumps on a drifting line.

    It answers ``ecg_simulate`` the way the renderer calls it and remembers the calls.
    """

    def __init__(self) -> None:
        super().__init__("neurokit2")
        self.calls: list[dict] = []

    def ecg_simulate(self, duration: float, sampling_rate: int, heart_rate: float, ai: tuple, **kwargs) -> dict:
        self.calls.append({"duration": duration, "heart_rate": heart_rate, "ai": ai, **kwargs})
        t = np.arange(int(duration * sampling_rate)) / sampling_rate
        rr = 60.0 / heart_rate
        phase = (t % rr) - 0.5 * rr  # R peak in the middle of each cycle

        def bump(centre: float, width: float) -> np.ndarray:
            return np.exp(-0.5 * ((phase - centre) / width) ** 2)

        wave = ai[0] / 10 * bump(-0.18, 0.02) + ai[2] / 30 * bump(0.0, 0.01) + bump(0.25, 0.04) / 3
        drift = 0.15 * np.sin(2 * np.pi * 0.25 * t)  # ECGSYN draws its own baseline wander too
        return {lead: (1 + 0.1 * i) * wave + drift for i, lead in enumerate(STANDARD_LEADS)}


def test_neurokit_renderer_with_a_stand_in_simulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNeurokit()
    monkeypatch.setitem(sys.modules, "neurokit2", fake)
    features = {}
    for rhythm in (SB, STACH, AF):
        record = synthetic.simulate_record(np.random.default_rng(8), rhythm=rhythm, method="neurokit")
        assert fake.calls[-1]["method"] == "multileads" and fake.calls[-1]["noise"] == 0
        assert (fake.calls[-1]["ai"][0] == 0) == (rhythm == AF), "AF beats are simulated without P waves"
        path = synthetic.write_synthetic_record(tmp_path, f"NK{rhythm}", record)
        signal, frequency, leads = physical(path)
        assert leads == STANDARD_LEADS and signal.shape == (12, 5000)
        features[rhythm] = rhythm_features(signal, frequency)
        inside = record.r_peaks[(record.r_peaks > 0.15) & (record.r_peaks < 9.85)]
        assert abs(rr_intervals(signal, frequency).size + 1 - inside.size) <= 1
    assert features[SB][0] < 57 < 104 < features[STACH][0]
    assert max(features[SB][1], features[STACH][1]) < 0.1 < features[AF][1]


@pytest.mark.slow
def test_neurokit_method_writes_a_valid_record(tmp_path: Path) -> None:
    pytest.importorskip("neurokit2")
    [path] = synthetic.generate_dataset(tmp_path, 1, seed=1, method="neurokit", leads=4, progress=False)
    record = read_record(path)
    assert record.header.leads == LEAD_SETS[4] and record.recording.shape == (4, 5000)
    assert record.header.labels == (synthetic.generate_record(1, 0, duration=0.1).rhythm,)
    assert np.all(np.isfinite(record.recording)) and np.ptp(record.recording, axis=1).min() > 100


@pytest.mark.slow
def test_neurokit_labels_are_learnable_from_the_written_signal(tmp_path: Path) -> None:
    pytest.importorskip("neurokit2")
    assert_separable({code: written_features(tmp_path, code, 5, "neurokit") for code in synthetic.RHYTHMS})


# ----------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-m", "ecgnet", "synthetic", *args], cwd=REPO, env=env, capture_output=True, text=True
    )


def test_cli_help() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for option in ("--records", "--seed", "--frequency", "--duration", "--method", "--leads", "--jobs"):
        assert option in result.stdout


def test_cli_writes_records(tmp_path: Path) -> None:
    result = run_cli(str(tmp_path / "out"), "--records", "3", "--leads", "2", "--seed", "4", "--duration", "5")
    assert result.returncode == 0, result.stderr
    assert "wrote 3 records" in result.stdout
    headers = sorted((tmp_path / "out").glob("*.hea"))
    assert [h.stem for h in headers] == ["SYN00001", "SYN00002", "SYN00003"]
    record = read_record(headers[0])
    assert record.header.leads == ("I", "II") and record.recording.shape == (2, 2500)
    expected = synthetic.generate_record(4, 0, duration=5.0, leads=("I", "II"))
    assert record.header.labels == expected.labels


def test_cli_error_is_one_line_and_non_zero(tmp_path: Path) -> None:
    result = run_cli(str(tmp_path), "--records", "2", "--leads", "5")
    assert result.returncode == 1
    assert result.stderr.startswith("ecgnet synthetic: error:") and result.stderr.count("\n") == 1
    assert not list(tmp_path.glob("*.hea"))
