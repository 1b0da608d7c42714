"""The classes' measured criteria (ecgnet.criteria): distances past a definition's cut-off, and monotone trees."""

from __future__ import annotations

import numpy as np

from ecgnet import criteria, measurement_model
from ecgnet.config import FeatureModelConfig
from ecgnet.labels import default_class_table
from ecgnet.measurements import MEASUREMENT_NAMES, NUM_MEASUREMENTS

LAD, IAVB, SB = "39732003", "270492004", "426177001"


def _measured(**values: list[float]) -> np.ndarray:
    rows = len(next(iter(values.values())))
    out = np.full((rows, NUM_MEASUREMENTS), np.nan)
    for name, column in values.items():
        out[:, MEASUREMENT_NAMES.index(name)] = column
    return out


def test_every_criterion_names_a_measured_value_and_a_scored_class():
    codes = default_class_table().codes
    for code, criterion in criteria.CRITERIA.items():
        assert code in codes and criterion.measurement in MEASUREMENT_NAMES and criterion.step != 0


def test_criteria_are_steps_past_the_cut_off_on_the_definitions_side_clipped_and_0_when_unmeasured():
    measured = _measured(qrs_axis=[-60.0, -30.0, 0.0, np.nan, -170.0], pr_interval=[240.0, 200.0, 160.0, 150.0, 900.0],
                         heart_rate_mean=[50.0, 60.0, 70.0, np.nan, 40.0])
    matrix = criteria.criteria_matrix(measured, [LAD, IAVB, SB, "164889003"])  # the last, AF, has none
    np.testing.assert_allclose(matrix[:, 0], [2.0, 0.0, -2.0, 0.0, 3.0])
    np.testing.assert_allclose(matrix[:, 1], [2.0, 0.0, -2.0, -2.5, 3.0])
    np.testing.assert_allclose(matrix[:, 2], [2.0, 0.0, -2.0, 0.0, 3.0])
    assert not matrix[:, 3].any()


def test_monotone_trees_never_lower_a_class_as_its_measurement_goes_past_the_cut_off():
    rng = np.random.default_rng(0)
    n = 400
    pr = rng.uniform(120, 320, n)
    labels = (pr > 200) ^ (rng.random(n) < 0.25)  # noisy labels: free trees wiggle, monotone ones cannot
    features = measurement_model.feature_matrix(_measured(pr_interval=list(pr)), np.zeros((n, 4)))
    config = FeatureModelConfig(enabled=True, max_iter=30, min_samples_leaf=5, monotone_trees=True)
    model = measurement_model.fit_class(features, labels, config, seed=0, code=IAVB)
    grid = np.repeat(features[:1], 201, axis=0)
    grid[:, MEASUREMENT_NAMES.index("pr_interval")] = np.linspace(120, 320, 201)
    assert np.all(np.diff(model.predict_proba(grid)) >= -1e-12)
    assert criteria.monotone_constraints("164889003", features.shape[1]) is None
