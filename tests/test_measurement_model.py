"""The feature model: trees per class and lead set on the measurements, out-of-fold on the network's folds."""

from __future__ import annotations

import numpy as np
import pytest

from ecgnet import measurement_model
from ecgnet.config import FeatureModelConfig
from ecgnet.records import LeadSet

FAST = FeatureModelConfig(enabled=True, max_iter=20, max_leaf_nodes=4, min_samples_leaf=5)


def _records(n: int = 240, seed: int = 0):
    """Measurements with NaN holes, demographics, and labels that depend on two of the measurements."""
    rng = np.random.default_rng(seed)
    measured = rng.normal(size=(n, 7))
    measured[:, 6] = np.nan  # a lead the lead set lacks
    labels = np.column_stack([measured[:, 0] > 0.5, measured[:, 1] < -0.5, np.zeros(n, dtype=bool)])
    labels[:2, 2] = True  # a class too rare to fit: a constant model
    measured[rng.random(measured.shape) < 0.1] = np.nan
    demographics = np.column_stack([rng.uniform(0.2, 0.9, n), rng.random(n) < 0.9, rng.random(n) < 0.5,
                                    rng.random(n) < 0.9]).astype(np.float32)
    return measured, demographics, labels


def test_feature_matrix_adds_age_in_years_and_sex_with_nan_when_unknown():
    demographics = np.array([[0.56, 1, 1, 1], [0.0, 0, 0, 0], [0.3, 1, 0, 1]], dtype=np.float32)
    matrix = measurement_model.feature_matrix(np.zeros((3, 2)), demographics)
    assert matrix.shape == (3, 4)
    np.testing.assert_allclose(matrix[:, 2], [56.0, np.nan, 30.0], rtol=1e-6)
    np.testing.assert_array_equal(matrix[:, 3], [1.0, np.nan, 0.0])


def test_out_of_fold_probabilities_learn_and_never_see_their_fold():
    measured, demographics, labels = _records()
    folds = np.arange(len(labels)) % 3
    codes = ["a", "b", "c"]
    oof, models = measurement_model.fit({"I,II": measured}, demographics, labels, folds, codes, FAST,
                                        log=lambda _: None)
    probabilities = oof["I,II"]
    assert probabilities.shape == labels.shape
    for k in (0, 1):  # learnt on the other folds: positives score higher than negatives
        assert probabilities[labels[:, k], k].mean() > probabilities[~labels[:, k], k].mean() + 0.3
    # The rare class is a constant model: the share of positives among each fit's records.
    assert np.ptp(probabilities[folds == 0, 2]) == 0
    assert set(models) == {"I,II/a", "I,II/b", "I,II/c"}
    # Fold 1's out-of-fold values are what models fitted on the other folds give.
    held = folds == 1
    features = measurement_model.feature_matrix(measured, demographics)
    refit = measurement_model.fit_classes(features[~held], labels[~held], FAST, seed=1000)
    np.testing.assert_allclose(measurement_model.predict_classes(refit, features[held]), probabilities[held])


def test_a_lead_set_is_served_by_the_closest_trained_one_and_its_final_models():
    measured, demographics, labels = _records()
    folds = np.arange(len(labels)) % 2
    _, models = measurement_model.fit({"I,II": measured, "I,II,V2": measured + 1}, demographics, labels, folds,
                                  ["a", "b", "c"], FAST, log=lambda _: None)
    final = [models[f"I,II/{c}"] for c in "abc"]
    assert measurement_model.models_for(models, LeadSet.of("I,II"), ["a", "b", "c"]) == final
    # "I" alone was not trained: the 2-lead models serve it.
    assert measurement_model.models_for(models, LeadSet.of("I"), ["a", "b", "c"]) == final


def test_every_missing_value_still_gives_probabilities():
    measured, demographics, labels = _records()
    models = measurement_model.fit_classes(measurement_model.feature_matrix(measured, demographics), labels, FAST, 0)
    empty = np.full((2, measured.shape[1]), np.nan)
    probabilities = measurement_model.predict_classes(models, measurement_model.feature_matrix(empty, np.zeros((2, 4))))
    assert probabilities.shape == (2, 3) and np.isfinite(probabilities).all()


@pytest.mark.parametrize("positives", [0, 240])
def test_a_class_with_one_label_only_is_a_constant(positives):
    measured, demographics, _ = _records()
    labels = np.zeros((240, 1), dtype=bool)
    labels[:positives] = True
    (model,) = measurement_model.fit_classes(measurement_model.feature_matrix(measured, demographics), labels, FAST, 0)
    assert len(model.roots) == 0
