"""The stack: fitted on two models' out-of-fold probabilities, cross-fitted for thresholds, kept as JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ecgnet import stacking


def _two_models(n: int = 600, classes: int = 3, seed: int = 0):
    """Labels and two noisy models, each seeing a different half of the evidence."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, classes)), rng.normal(size=(n, classes))
    labels = (a + b + 0.5 * rng.normal(size=(n, classes))) > 1.0
    network = 1 / (1 + np.exp(-(2 * a + rng.normal(size=(n, classes)))))
    features = 1 / (1 + np.exp(-(2 * b + rng.normal(size=(n, classes)))))
    return labels, network, features


def _auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    positives = labels.sum()
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * (len(labels) - positives)))


def test_the_stack_beats_either_model_when_they_see_different_evidence():
    labels, network, features = _two_models()
    folds = np.arange(len(labels)) % 5
    combined = stacking.cross_fitted(network, features, labels, folds)
    for k in range(labels.shape[1]):
        assert _auroc(labels[:, k], combined[:, k]) > max(_auroc(labels[:, k], network[:, k]),
                                                          _auroc(labels[:, k], features[:, k]))


def test_cross_fitted_outputs_come_from_stacks_fitted_without_the_fold():
    labels, network, features = _two_models(n=200)
    folds = np.arange(200) % 4
    combined = stacking.cross_fitted(network, features, labels, folds)
    held = folds == 2
    expected = stacking.fit(network[~held], features[~held], labels[~held]).combine(network[held], features[held])
    np.testing.assert_allclose(combined[held], expected)


def test_rare_classes_fall_back_to_the_mean_of_the_logits():
    labels, network, features = _two_models(n=100)
    labels[:, 1] = False
    labels[:3, 1] = True  # fewer positives than MIN_CLASS_RECORDS
    stack = stacking.fit(network, features, labels)
    np.testing.assert_allclose(stack.coefficients[1], [0.5, 0.5, 0.0])
    assert stack.intercepts[1] == 0
    mean = stacking.mean_stack(3).combine(network, features)
    expected = 1 / (1 + np.exp(-(stacking.logit(network) + stacking.logit(features)) / 2))
    np.testing.assert_allclose(mean, expected)
    assert not np.allclose(stack.coefficients[0], [0.5, 0.5, 0.0])  # a common class is fitted


def test_extreme_probabilities_stay_finite():
    stack = stacking.mean_stack(2)
    out = stack.combine(np.array([[0.0, 1.0]]), np.array([[0.0, 1.0]]))
    assert np.isfinite(out).all() and out[0, 0] < 1e-5 and out[0, 1] > 1 - 1e-5


def test_json_round_trip_and_bad_entries():
    labels, network, features = _two_models(n=300)
    stack = stacking.fit(network, features, labels)
    again = stacking.Stack.from_json(json.loads(json.dumps(stack.to_json())), 3, "model.json")
    np.testing.assert_array_equal(again.combine(network, features), stack.combine(network, features))
    for bad in ({"coefficients": [[1, 2]] * 3}, {"coefficients": [[1, 2]] * 2, "intercepts": [0, 0]},
                {"coefficients": [[1, float("nan")]] * 3, "intercepts": [0, 0, 0]},
                {"coefficients": "x", "intercepts": [0, 0, 0]}, [1, 2]):
        with pytest.raises(ValueError, match="model.json"):
            stacking.Stack.from_json(bad, 3, "model.json")


def test_unknown_method_is_refused():
    labels, network, features = _two_models(n=50)
    with pytest.raises(ValueError, match="unknown stack method"):
        stacking.fit(network, features, labels, method="vote")


def test_a_criterion_that_carries_evidence_gets_a_weight_and_one_against_the_definition_none():
    labels, network, features = _two_models()
    rng = np.random.default_rng(1)
    helpful = labels + 0.5 * rng.normal(size=labels.shape)  # a measurement past its cut-off for positives
    stack = stacking.fit(network, features, labels, criteria=helpful)
    assert (stack.coefficients[:, 2] > 0).all() and stack.weighs_criteria
    with pytest.raises(ValueError, match="measurements"):
        stack.combine(network, features)
    against = stacking.fit(network, features, labels, criteria=-helpful)
    assert not against.weighs_criteria  # never against the definition: refitted without it
    np.testing.assert_allclose(against.coefficients, stacking.fit(network, features, labels).coefficients)
    folds = np.arange(len(labels)) % 5
    with_criteria = stacking.cross_fitted(network, features, labels, folds, criteria=helpful)
    without = stacking.cross_fitted(network, features, labels, folds)
    for k in range(labels.shape[1]):
        assert _auroc(labels[:, k], with_criteria[:, k]) > _auroc(labels[:, k], without[:, k])


def test_a_stack_of_a_model_before_the_criteria_reads_with_a_zero_criterion_weight():
    old = {"coefficients": [[1.0, 2.0]] * 3, "intercepts": [0.0, 0.1, 0.2]}
    stack = stacking.Stack.from_json(old, 3, "model.json")
    np.testing.assert_array_equal(stack.coefficients, [[1.0, 2.0, 0.0]] * 3)
    assert not stack.weighs_criteria
