"""Distillation (ecgnet.distill): one student network learns the ensemble's out-of-fold outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ecgnet.config import load_config
from ecgnet.distill import LEAD_SETS, SoftTargets, distill
from ecgnet.inference import load_ensemble, run_folder

pytestmark = pytest.mark.slow


def test_the_student_folder_serves_like_the_teacher_s(trained_model, shared_data, tmp_path):
    data = shared_data / "cinc2021" / "training"
    student = distill(trained_model, tmp_path / "student", data, load_config("demo"), epochs=1, progress=False,
                      log=lambda _: None)
    description = json.loads((student / "model.json").read_text())
    assert description["weight_files"] == ["fold_0.safetensors"] and not (student / "fold_1.safetensors").exists()
    assert set(description["thresholds"]) == set(LEAD_SETS) and "stacks" in description
    ensemble = load_ensemble(student, "cpu")
    assert len(ensemble.networks) == 1 and ensemble.config.model.params["stem_channels"] == 16
    written, _ = run_folder(student, shared_data / "cinc2021" / "reduced_leads" / "two_leads", tmp_path / "out",
                            device="cpu", progress=False)
    assert written == 50


def test_a_soft_target_is_the_teacher_s_for_the_lead_set_closest_to_the_leads_kept():
    from ecgnet.prepare import PreparedSignals
    from ecgnet.records import STANDARD_LEADS, closest_lead_set, lead_set_name

    rng = np.random.default_rng(0)
    prepared = PreparedSignals([rng.standard_normal((12, 600)).astype(np.float32)], np.ones((1, 12), bool),
                               np.zeros((1, 4), np.float32))
    # The teacher's target for lead set k is k, in every class.
    targets = np.arange(len(LEAD_SETS), dtype=np.float32)[None, :, None] * np.ones((1, 1, 26), np.float32)
    dataset = SoftTargets(prepared, [0], np.zeros((1, 26)), 300, 1.0, seed=3, targets=targets)
    chosen = set()
    for epoch in range(30):
        example = dataset[(epoch, 0)]
        kept = [lead for lead, on in zip(STANDARD_LEADS, example["lead_mask"].bool().tolist()) if on]
        expected = LEAD_SETS.index(closest_lead_set(lead_set_name(kept), LEAD_SETS))
        assert example["labels"].tolist() == [float(expected)] * 26
        chosen.add(expected)
    assert len(chosen) >= 3  # random lead subsets reach several lead sets' targets
