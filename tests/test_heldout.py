"""The held-out benchmark: a model folder scored on records it never saw, per lead set and per model."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from ecgnet import heldout, inference
from ecgnet.metric import evaluate_folders
from ecgnet.records import EVALUATED_LEAD_SETS

pytestmark = pytest.mark.slow


def test_scores_every_lead_set_for_the_stack_and_each_model_alone(trained_model, shared_data, tmp_path):
    test_dir = shared_data / "cinc2021" / "reduced_leads" / "twelve_leads"
    results = heldout.evaluate(trained_model, test_dir, "cpu", log=lambda _: None)
    assert list(results) == [",".join(leads) for leads in EVALUATED_LEAD_SETS]
    for scores in results.values():
        assert scores["records"] == 50 and scores["failed"] == 0
        assert set(scores) == {"records", "failed", "final", "network", "features"}
        for component in ("final", "network", "features"):
            assert -1 <= scores[component]["challenge_metric"] <= 1 and 0 <= scores[component]["auroc"] <= 1
    # The 12-lead final scores are what the official path gives: run_model.py's outputs, then evaluation.
    inference.run_folder(trained_model, test_dir, tmp_path, progress=False)
    official = evaluate_folders(test_dir, tmp_path)
    twelve = results[",".join(EVALUATED_LEAD_SETS[0])]["final"]
    assert twelve["challenge_metric"] == pytest.approx(official.challenge_metric, abs=1e-9)
    assert twelve["auroc"] == pytest.approx(official.auroc, abs=1e-3)


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


def test_a_record_that_cannot_be_read_is_counted_not_fatal(trained_model, shared_data, tmp_path):
    source = shared_data / "cinc2021" / "reduced_leads" / "twelve_leads"
    for name in ("E07500", "E07501", "JS20000"):
        for suffix in (".hea", ".mat"):
            shutil.copy(source / f"{name}{suffix}", tmp_path)
    (tmp_path / "E07501.mat").write_bytes(b"garbage")
    results = heldout.evaluate(trained_model, tmp_path, "cpu", log=lambda _: None)
    assert all(scores["records"] == 2 and scores["failed"] == 1 for scores in results.values())
    assert np.isfinite(results["I,II"]["final"]["challenge_metric"])
