"""The decision stage (ecgnet.decision): fitted on plain arrays, resolved per lead set once, read back as written."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import REPO

from ecgnet import measurement_model
from ecgnet.calibration import Calibration
from ecgnet.config import FeatureModelConfig, RunConfig
from ecgnet.criteria import criteria_matrix
from ecgnet.decision import (
    FINAL,
    MEASUREMENT_MODEL,
    NETWORK,
    Decision,
    DecisionError,
    KeptModels,
    out_of_fold_key,
)
from ecgnet.labels import ClassTable, default_class_table
from ecgnet.measurements import MEASUREMENT_NAMES, NUM_MEASUREMENTS

CODES = ["164889003", "426783006", "426177001"]
LEAD_SETS = ("I,II", "I,II,III,aVR,aVL,aVF,V1,V2,V3,V4,V5,V6")


def _data(records: int = 60, seed: int = 0):
    """Network probabilities that carry the labels, measurements that do too, folds, and a table of the first
    four scored classes (few classes: the feature model fits trees per class, lead set and fold)."""
    rng = np.random.default_rng(seed)
    full = default_class_table()
    table = ClassTable(full.classes[:4], full.weights[:4, :4])
    labels = rng.random((records, len(table))) < 0.3
    network = {name: np.clip(labels * 0.6 + rng.random(labels.shape) * 0.4, 0.01, 0.99) for name in LEAD_SETS}
    measured = rng.normal(size=(records, NUM_MEASUREMENTS))
    measured[:, 0] += labels[:, 0] * 2
    measurements = {name: measured for name in LEAD_SETS}
    demographics = np.tile([0.6, 1.0, 1.0, 1.0], (records, 1))
    folds = np.arange(records) % 3
    return network, measurements, demographics, labels, folds, table


def _config(**training) -> RunConfig:
    config = RunConfig(feature_model=FeatureModelConfig(enabled=True, max_iter=5, max_leaf_nodes=4))
    return config.override("training", threshold_method="f1", **training)


def test_a_lead_set_is_served_by_the_closest_tuned_one_resolved_once():
    decision = Decision(CODES, {"I,II": np.full(3, 0.2), "I,II,V2": np.full(3, 0.7)})
    # {I, II, V1} is closest (Jaccard 2/3) to the two-lead set {I, II}.
    assert decision.for_lead_set(("I", "II", "V1")).thresholds is decision.thresholds["I,II"]
    assert decision.for_lead_set(("I", "II", "V2", "V3")).thresholds is decision.thresholds["I,II,V2"]
    assert decision.for_lead_set(("II", "I")) is decision.for_lead_set("I,II")  # one view per lead set
    np.testing.assert_array_equal(decision.for_lead_set("I,II").decide(np.array([0.1, 0.2, 0.3])), [0, 1, 1])


def test_the_calibration_is_applied_to_the_final_outputs_and_undone_by_uncalibrate():
    calibration = Calibration(np.array([2.0, 0.5, 1.0]), np.array([0.3, -0.1, 0.0]))
    view = Decision(CODES, {"I,II": np.full(3, 0.5)}, calibrations={"I,II": calibration}).for_lead_set("I,II")
    network = np.array([[0.2, 0.6, 0.9]])
    final = view.combine(network)[FINAL]
    np.testing.assert_allclose(final, calibration.apply(network))
    np.testing.assert_allclose(view.uncalibrate(final), network, rtol=1e-12)


def test_fit_without_the_feature_model_tunes_the_networks_thresholds_alone():
    network, _, _, labels, folds, table = _data()
    decision, outputs = Decision.fit(network, labels, folds, table, _config(calibrate=False), log=lambda _: None)
    assert not decision.stacked and decision.calibrations is None and decision.component_thresholds is None
    assert set(outputs) == {FINAL} and outputs[FINAL] is not None
    assert set(decision.thresholds) == set(LEAD_SETS)
    assert all(((t >= 0) & (t <= 1)).all() for t in decision.thresholds.values())


def test_fit_with_the_feature_model_stacks_calibrates_and_round_trips_through_json():
    network, measurements, demographics, labels, folds, table = _data()
    decision, outputs = Decision.fit(network, labels, folds, table, _config(calibrate=True), measurements,
                                     demographics, log=lambda _: None)
    assert decision.stacked and set(decision.calibrations) == set(LEAD_SETS)
    assert set(outputs) == {FINAL, NETWORK, MEASUREMENT_MODEL}
    assert set(decision.component_thresholds) == {NETWORK, MEASUREMENT_MODEL}
    again = Decision.from_json(decision.to_json(), decision.class_codes).with_trees(decision.trees)
    view, view_again = decision.for_lead_set(LEAD_SETS[0]), again.for_lead_set(LEAD_SETS[0])
    rows = slice(0, 5)
    first = view.combine(network[LEAD_SETS[0]][rows], measurements[LEAD_SETS[0]][rows], demographics[rows])
    second = view_again.combine(network[LEAD_SETS[0]][rows], measurements[LEAD_SETS[0]][rows], demographics[rows])
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])
    np.testing.assert_array_equal(view.thresholds_of(NETWORK), view_again.thresholds_of(NETWORK))


def test_kept_models_are_kept_and_only_the_calibration_and_thresholds_fitted_again():
    network, measurements, demographics, labels, folds, table = _data()
    teacher, outputs = Decision.fit(network, labels, folds, table, _config(calibrate=False), measurements,
                                    demographics, log=lambda _: None)
    kept = KeptModels(teacher.trees, teacher.stacks, outputs[MEASUREMENT_MODEL])
    student_network = {name: np.clip(p * 0.9 + 0.05, 0, 1) for name, p in network.items()}
    student, student_outputs = Decision.fit(student_network, labels, folds, table, _config(calibrate=True),
                                            kept=kept, log=lambda _: None)
    assert student.trees is teacher.trees and student.stacks is teacher.stacks
    name = LEAD_SETS[1]
    np.testing.assert_allclose(student.calibrations[name].apply(
        teacher.stacks[name].combine(student_network[name], kept.features[name])), student_outputs[FINAL][name])


def test_a_damaged_entry_is_named_without_a_path():
    decision = Decision(CODES, {"I,II": np.full(3, 0.5)})
    entries = decision.to_json()
    with pytest.raises(DecisionError, match=r"^thresholds for I,II have 2 values, not 3$"):
        Decision.from_json({**entries, "thresholds": {"I,II": [0.5, 0.5]}}, CODES)
    stacked = {**entries, "trees_file": "trees.safetensors", "stacks": {"I,II": {"coefficients": [[1, 1]] * 3,
                                                                                 "intercepts": [0] * 3}},
               "component_thresholds": {"network": entries["thresholds"], "features": entries["thresholds"]}}
    read = Decision.from_json(stacked, CODES)
    with pytest.raises(DecisionError, match=r"^no model for class 164889003 and leads I,II$"):
        read.with_trees({})
    model = measurement_model.fit_classes(np.zeros((10, measurement_model.NUM_INPUTS)), np.zeros((10, 1), bool),
                                      FeatureModelConfig(enabled=True, max_iter=5), 0)[0]
    trees = {measurement_model.model_key("I,II", code): model for code in CODES}
    assert read.with_trees(trees).for_lead_set("I,II").trees[0] is model


def test_a_copy_resolves_its_own_views():
    decision = Decision(CODES, {"I,II": np.full(3, 0.5)},
                        calibrations={"I,II": Calibration(np.full(3, 2.0), np.zeros(3))})
    assert decision.for_lead_set("I,II").calibration is not None
    assert dataclasses.replace(decision, calibrations=None).for_lead_set("I,II").calibration is None


def test_out_of_fold_keys_name_each_model_and_the_final_outputs_by_lead_set():
    assert out_of_fold_key(FINAL, "I,II") == "I,II"
    assert out_of_fold_key(NETWORK, "I,II") == "network:I,II"
    assert out_of_fold_key(MEASUREMENT_MODEL, "I,II") == "features:I,II"


def test_preparing_and_deciding_import_no_torch():
    """What serves a record without the networks (ONNX Runtime, reports) never pays torch's import."""
    import subprocess
    import sys

    code = ("import sys\nimport ecgnet.prepare, ecgnet.decision, ecgnet.artifacts, ecgnet.records\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr


def test_a_stack_refitted_on_kept_trees_weighs_the_criteria_and_serves_records_through_their_measurements():
    network, measurements, demographics, labels, folds, table = _data(records=120)
    rate = MEASUREMENT_NAMES.index("heart_rate_mean")
    for values in measurements.values():  # Brady (the fourth class): a rate under 60 for its records
        values[:, rate] = np.where(labels[:, 3], 45.0, 75.0) + np.random.default_rng(1).normal(0, 8, len(labels))
    base, outputs = Decision.fit(network, labels, folds, table, _config(calibrate=False), measurements,
                                 demographics, log=lambda _: None)
    kept = KeptModels(base.trees, None, outputs[MEASUREMENT_MODEL], measurements)
    config = _config(calibrate=False).override("feature_model", criteria=True)
    decision, _ = Decision.fit(network, labels, folds, table, config, kept=kept, log=lambda _: None)
    assert decision.trees is base.trees and decision.stacks is not base.stacks
    stack = decision.stacks[LEAD_SETS[0]]
    assert stack.weighs_criteria and stack.coefficients[3, 2] > 0 and not stack.coefficients[:3, 2].any()
    again = Decision.from_json(decision.to_json(), decision.class_codes).with_trees(decision.trees)
    rows = slice(0, 5)
    served = again.for_lead_set(LEAD_SETS[0]).combine(network[LEAD_SETS[0]][rows], measurements[LEAD_SETS[0]][rows],
                                                      demographics[rows])
    criteria = criteria_matrix(measurements[LEAD_SETS[0]][rows], table.codes)
    features = served[MEASUREMENT_MODEL]
    np.testing.assert_allclose(served[FINAL], stack.combine(network[LEAD_SETS[0]][rows], features, criteria))
    unmeasured = KeptModels(base.trees, None, outputs[MEASUREMENT_MODEL])
    with pytest.raises(ValueError, match="measurements"):
        Decision.fit(network, labels, folds, table, config, kept=unmeasured, log=lambda _: None)
