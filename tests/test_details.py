"""OUTPUTS/details.csv (ecgnet.details): it leaves the Challenge outputs alone, reads back as written, and flags
records for review."""

from __future__ import annotations

import numpy as np
import pytest

from ecgnet import details
from ecgnet.inference import run_folder
from ecgnet.records import STANDARD_LEADS, LeadSet, write_record

pytestmark = pytest.mark.slow


def _records(folder):
    import neurokit2 as nk

    for seed in range(3):
        ecg = np.asarray(nk.ecg_simulate(duration=10, sampling_rate=500, heart_rate=60 + 10 * seed, random_state=seed))
        signal = np.tile(ecg, (12, 1))
        if seed == 2:
            signal[1] += np.random.default_rng(0).normal(0, 0.4, ecg.shape)  # lead II noisy
        write_record(folder, f"R{seed}", signal, 500, age=60, sex="Female")


def test_details_leave_the_challenge_outputs_identical_and_read_back_as_written(trained_model, tmp_path):
    _records(tmp_path / "data")
    run_folder(trained_model, tmp_path / "data", tmp_path / "plain", device="cpu", progress=False)
    run_folder(trained_model, tmp_path / "data", tmp_path / "detailed", device="cpu", progress=False, details=True)
    for record in ("R0", "R1", "R2"):
        plain, detailed = (tmp_path / "plain" / f"{record}.csv").read_bytes(), \
            (tmp_path / "detailed" / f"{record}.csv").read_bytes()
        assert plain == detailed
    assert not (tmp_path / "plain" / details.DETAILS_FILE).exists()
    rows = {row["record"]: row for row in details.read(tmp_path / "detailed" / details.DETAILS_FILE)}
    assert set(rows) == {"R0", "R1", "R2"}
    plain_probabilities = (tmp_path / "plain" / "R0.csv").read_text().splitlines()[3].split(",")
    codes = (tmp_path / "plain" / "R0.csv").read_text().splitlines()[1].split(",")
    for code, value in zip(codes, plain_probabilities):
        assert float(rows["R0"][f"p_{code}"]) == pytest.approx(float(value), rel=1e-5, abs=1e-9)
    assert rows["R2"]["quality_II"] == "noisy" and rows["R2"]["review"] == "1" and "II noisy" in rows["R2"]["reasons"]
    for row in rows.values():  # a record's uncertainty is 1 or more exactly when a decision is near its threshold
        assert (float(row["uncertainty"]) >= 1) == ("near threshold" in row["reasons"])
    assert all(rows["R0"][f"quality_{lead}"] == "good" for lead in STANDARD_LEADS)
    assert 50 <= float(rows["R0"]["heart_rate_bpm"]) <= 70 and 60 <= float(rows["R0"]["qrs_ms"]) <= 140
    # A second run on some of the records replaces their rows and keeps the others'.
    (tmp_path / "data" / "R1.hea").unlink()
    run_folder(trained_model, tmp_path / "data", tmp_path / "detailed", device="cpu", progress=False, details=True)
    again = {row["record"]: row for row in details.read(tmp_path / "detailed" / details.DETAILS_FILE)}
    assert set(again) == {"R0", "R1", "R2"} and again["R0"] == rows["R0"]


def test_rows_flag_a_decision_within_its_uncertainty_of_the_threshold():
    from ecgnet.inference import ModelInput

    record = ModelInput("R9", np.zeros((1, 12, 10), np.float32), np.ones(12, bool), np.zeros(4, np.float32),
                        lead_set=LeadSet.of("I,II"), quality=("good",) * 12)
    probabilities, thresholds = np.array([[0.52, 0.9]]), np.array([0.5, 0.5])
    flagged = details.rows([record], probabilities, thresholds, np.array([[0.05, 0.05]]), ["1", "2"], ["A", "B"])
    calm = details.rows([record], probabilities, thresholds, np.array([[0.01, 0.05]]), ["1", "2"], ["A", "B"])
    assert flagged[0]["review"] == "1" and flagged[0]["reasons"] == "near threshold: A"
    assert calm[0]["review"] == "0" and calm[0]["reasons"] == ""


def test_the_uncertainty_column_ranks_records_and_reads_back(tmp_path):
    """``uncertainty``: the largest u / max(|p - t|, EPSILON) over classes; 1 or more exactly when a decision is
    within its uncertainty of the threshold; NaN uncertainties count 0; written and read back unchanged."""
    from ecgnet.inference import ModelInput

    records = [ModelInput(f"R{i}", np.zeros((1, 12, 10), np.float32), np.ones(12, bool), np.zeros(4, np.float32),
                          lead_set=LeadSet.of("I,II"), quality=("good",) * 12) for i in range(4)]
    thresholds = np.array([0.5, 0.3, 0.6])
    probabilities = np.array([[0.52, 0.9, 0.1], [0.7, 0.3, 0.6], [0.45, 0.1, 0.9], [0.5, 0.5, 0.5]])
    uncertainty = np.array([[0.04, 0.06, 0.0], [0.1, 0.0, np.nan], [0.01, 0.21, 0.25], [np.nan, 0.1, 0.05]])
    found = details.rows(records, probabilities, thresholds, uncertainty, ["1", "2", "3"], ["A", "B", "C"])
    expected = [0.04 / 0.02, 0.1 / 0.2, 0.21 / 0.2, 0.1 / 0.2]
    assert [float(row["uncertainty"]) for row in found] == pytest.approx(expected)
    assert [row["reasons"] for row in found] == ["near threshold: A", "", "near threshold: B", ""]
    # On the threshold with no spread (R1's B): 0, not a division by zero.
    assert details.uncertainty_ratios(probabilities, thresholds, uncertainty)[1, 1] == 0
    details.write(tmp_path, ["1", "2", "3"], found)
    again = details.read(tmp_path / details.DETAILS_FILE)
    assert again == found and list(again[0])[:5] == ["record", "leads", "review", "reasons", "uncertainty"]
