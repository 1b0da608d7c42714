"""The held-out benchmark: a model folder scored on records it never saw, per lead set and per model."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from ecgnet import heldout, inference, metric
from ecgnet.metric import evaluate_folders
from ecgnet.records import EVALUATED_LEAD_SETS


@pytest.mark.slow
def test_scores_every_lead_set_for_the_stack_and_each_model_alone(trained_model, shared_data, tmp_path):
    test_dir = shared_data / "cinc2021" / "reduced_leads" / "twelve_leads"
    results = heldout.evaluate(trained_model, test_dir, "cpu", log=lambda _: None,
                               outputs_file=tmp_path / "outputs.npz")
    assert list(results) == [",".join(leads) for leads in EVALUATED_LEAD_SETS]
    saved = heldout.read_outputs(tmp_path / "outputs.npz")
    assert list(saved) == list(results)
    for name, outputs in saved.items():  # the saved outputs are the ones scored
        assert len(outputs["record_ids"]) == 50 and outputs["final"].shape == (50, 26)
        assert metric.evaluate(outputs["labels"], outputs["decided"], outputs["final"]).challenge_metric == \
            pytest.approx(results[name]["final"]["challenge_metric"], abs=1e-12)
    for scores in results.values():
        assert scores["records"] == 50 and scores["failed"] == 0
        assert set(scores) == {"records", "failed", "final", "uncalibrated", "network", "features"}
        for component in ("final", "network", "features"):
            assert -1 <= scores[component]["challenge_metric"] <= 1 and 0 <= scores[component]["auroc"] <= 1
        # Before calibration: its own calibration error, the same ranking (an increasing map), no decisions.
        before = scores["uncalibrated"]
        assert set(before) == {"auroc", "auprc", "ece", "bins"} and 0 <= before["ece"] <= 1
        assert before["auroc"] == pytest.approx(scores["final"]["auroc"], abs=1e-3)
        assert sum(before["bins"]["count"]) == 50 * 26
    # The 12-lead final scores are what the official path gives: run_model.py's outputs, then evaluation.
    inference.run_folder(trained_model, test_dir, tmp_path, progress=False)
    official = evaluate_folders(test_dir, tmp_path)
    twelve = results[",".join(EVALUATED_LEAD_SETS[0])]["final"]
    assert twelve["challenge_metric"] == pytest.approx(official.challenge_metric, abs=1e-9)
    assert twelve["auroc"] == pytest.approx(official.auroc, abs=1e-3)
    figure = heldout.write_reliability_figure(results, tmp_path / "reliability.png")
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_restricting_leads_scores_as_the_reduced_lead_files_do(trained_model, shared_data, tmp_path):
    """Scoring the 12-lead copies on two leads equals running the Challenge's own two-lead files."""
    reduced = shared_data / "cinc2021" / "reduced_leads"
    results = heldout.evaluate(trained_model, reduced / "twelve_leads", "cpu", log=lambda _: None)
    inference.run_folder(trained_model, reduced / "two_leads", tmp_path, progress=False)
    official = evaluate_folders(reduced / "two_leads", tmp_path)
    assert results["I,II"]["final"]["challenge_metric"] == pytest.approx(official.challenge_metric, abs=1e-9)


def test_held_out_ids_are_what_training_leaves_out(shared_data, tmp_path):
    for name in ("E07500", "HR06001"):
        for suffix in (".hea", ".mat"):
            shutil.copy(shared_data / "cinc2021" / "reduced_leads" / "six_leads" / f"{name}{suffix}", tmp_path)
    assert heldout.held_out_ids(tmp_path) == {"E07500", "HR06001"}


@pytest.mark.slow
def test_a_record_that_cannot_be_read_is_counted_not_fatal(trained_model, shared_data, tmp_path):
    source = shared_data / "cinc2021" / "reduced_leads" / "twelve_leads"
    for name in ("E07500", "E07501", "JS20000"):
        for suffix in (".hea", ".mat"):
            shutil.copy(source / f"{name}{suffix}", tmp_path)
    (tmp_path / "E07501.mat").write_bytes(b"garbage")
    results = heldout.evaluate(trained_model, tmp_path, "cpu", log=lambda _: None)
    assert all(scores["records"] == 2 and scores["failed"] == 1 for scores in results.values())
    assert np.isfinite(results["I,II"]["final"]["challenge_metric"])


def _fake_results(rng: np.random.Generator) -> tuple[dict, np.ndarray, np.ndarray]:
    """evaluate()'s shape for two lead sets of 40 records and 5 classes, with made-up probabilities."""
    labels = rng.random((2, 40, 5)) < 0.2
    raw = np.clip(labels * 0.5 + rng.random((2, 40, 5)) * 0.5, 0, 1)
    calibrated = raw ** 1.5
    results = {name: {"records": 40, "failed": 0,
                      "final": {"ece": 0.0, "bins": heldout.reliability_bins(labels[i], calibrated[i])},
                      "uncalibrated": {"ece": 0.0, "bins": heldout.reliability_bins(labels[i], raw[i])}}
               for i, name in enumerate(("I,II,III", "I,II"))}
    return results, labels, calibrated


def test_bins_pool_by_adding_to_the_calibration_error_of_all_entries():
    from ecgnet.calibration import expected_calibration_error

    results, labels, calibrated = _fake_results(np.random.default_rng(0))
    *_, ece = heldout._from_bins([r["final"]["bins"] for r in results.values()])
    assert ece == pytest.approx(expected_calibration_error(labels, calibrated), abs=1e-12)


def test_the_reliability_figure_shows_before_and_after_per_lead_set_and_pooled():
    results, *_ = _fake_results(np.random.default_rng(1))
    figure = heldout.reliability_figure(results)
    panels = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["3 leads (40 records)", "2 leads (40 records)", "2 lead sets pooled"]
    for ax in panels:
        names = [text.get_text() for text in ax.get_legend().get_texts()]
        assert names[1].startswith("before calibration, ECE ") and names[2].startswith("calibrated, ECE ")


def _outputs(order: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.random.default_rng(9).random((60, 26)) < 0.1
    final = np.clip(labels * 0.3 + rng.random(labels.shape) * 0.7, 0, 1)
    ids = np.array([f"R{i:03d}" for i in range(60)])
    return {"record_ids": ids[order], "labels": labels[order], "final": final[order], "decided": final[order] >= 0.5}


def test_a_paired_change_matches_records_by_id_and_is_zero_between_the_same_outputs():
    base, shuffled = _outputs(np.arange(60)), _outputs(np.random.default_rng(1).permutation(60))
    same = heldout.paired_change(base, shuffled, resamples=200)["Challenge metric"]
    assert same.difference.estimate == 0 and same.difference.low == 0 == same.difference.high
    better = dict(shuffled, decided=shuffled["labels"].copy())  # every label right
    change = heldout.paired_change(base, better, resamples=200)["Challenge metric"]
    exact = 1.0 - metric.evaluate(base["labels"], base["decided"], base["final"]).challenge_metric
    assert change.difference.estimate == pytest.approx(exact) and change.difference.low > 0
    assert change.b_higher == 1.0
