"""Threshold tuning for the Challenge metric (ecgnet.thresholds)."""

from __future__ import annotations

import numpy as np
import pytest

from ecgnet.labels import default_class_table
from ecgnet.metric import challenge_metric
from ecgnet.thresholds import _Objective, coordinate_search, evolution_search, f1_thresholds, tune_thresholds

TABLE = default_class_table()
WEIGHTS = TABLE.weights
SINUS = TABLE.sinus_rhythm_index
N_CLASSES = len(TABLE)


def metric(labels, probabilities, thresholds):
    return challenge_metric(labels, probabilities >= thresholds, WEIGHTS, SINUS)


def noisy_problem(n=400, seed=0):
    """Multi-label records whose probabilities overlap between positives and negatives."""
    rng = np.random.default_rng(seed)
    prevalence = rng.uniform(0.02, 0.2, N_CLASSES)
    prevalence[SINUS] = 0.4
    labels = rng.random((n, N_CLASSES)) < prevalence
    logits = rng.normal(-1.5, 0.7, N_CLASSES) + rng.uniform(1.0, 3.5, N_CLASSES) * labels
    return labels, 1 / (1 + np.exp(-(logits + rng.normal(0, 1, labels.shape))))


def separable_problem(n=520, seed=0):
    """One label per record; positives score in [0.6, 0.95), negatives in [0, 0.4): any threshold in
    the gap of every class (and above every value of a class without positives) gives metric 1, the
    maximum for single-label records."""
    rng = np.random.default_rng(seed)
    classes = np.concatenate([np.arange(N_CLASSES - 1).repeat(2), rng.integers(0, N_CLASSES - 1, n - 50)])
    labels = np.zeros((n, N_CLASSES), dtype=bool)
    labels[np.arange(n), classes] = True  # the last class has no positives
    probabilities = np.where(labels, rng.uniform(0.6, 0.95, labels.shape), rng.uniform(0.0, 0.4, labels.shape))
    return labels, probabilities


def assert_in_gap(labels, probabilities, thresholds):
    for k in range(labels.shape[1]):
        positives = labels[:, k]
        assert probabilities[~positives, k].max() < thresholds[k], f"class {k}"
        if positives.any():
            assert thresholds[k] <= probabilities[positives, k].min(), f"class {k}"


def test_objective_equals_the_challenge_metric():
    labels, probabilities = noisy_problem(300)
    objective = _Objective(labels, probabilities, WEIGHTS, SINUS)
    rng = np.random.default_rng(1)
    for thresholds in rng.random((5, N_CLASSES)):
        assert objective.score(thresholds) == pytest.approx(metric(labels, probabilities, thresholds), abs=1e-12)
    binary = probabilities >= 0.5
    candidates = np.linspace(0.0, 1.0, 21)
    expected = []
    for c in candidates:
        trial = binary.copy()
        trial[:, 3] = probabilities[:, 3] >= c
        expected.append(challenge_metric(labels, trial, WEIGHTS, SINUS))
    assert np.allclose(objective.column_scores(binary, 3, candidates), expected, atol=1e-12)


def test_f1_thresholds_separate_separable_classes():
    labels, probabilities = separable_problem()
    thresholds = f1_thresholds(labels, probabilities)
    assert thresholds.shape == (N_CLASSES,)
    for k in range(N_CLASSES - 1):
        assert probabilities[~labels[:, k], k].max() < thresholds[k] <= probabilities[labels[:, k], k].min()
    assert thresholds[-1] == 0.5  # no positives


def test_coordinate_search_never_lowers_the_metric():
    labels, probabilities = noisy_problem()
    rng = np.random.default_rng(2)
    starts = [f1_thresholds(labels, probabilities), np.full(N_CLASSES, 0.5), rng.random(N_CLASSES)]
    for start in starts:
        tuned = coordinate_search(labels, probabilities, WEIGHTS, SINUS, start)
        assert metric(labels, probabilities, tuned) >= metric(labels, probabilities, start)


def test_coordinate_search_finds_the_known_optimum_from_a_bad_start():
    labels, probabilities = separable_problem()
    start = np.full(N_CLASSES, 0.99)
    assert metric(labels, probabilities, start) < 0
    tuned = coordinate_search(labels, probabilities, WEIGHTS, SINUS, start)
    assert metric(labels, probabilities, tuned) == pytest.approx(1.0)
    assert_in_gap(labels, probabilities, tuned)


def test_coordinate_search_matches_brute_force_on_one_pass():
    labels, probabilities = noisy_problem(200, seed=3)
    start = np.full(N_CLASSES, 0.5)
    tuned = coordinate_search(labels, probabilities, WEIGHTS, SINUS, start, count=10, max_passes=1)
    # Brute force the last class given the others: no candidate of the grid beats the chosen value.
    best = metric(labels, probabilities, tuned)
    for c in np.linspace(0.02, 0.98, 25):
        trial = tuned.copy()
        trial[-1] = c
        assert metric(labels, probabilities, trial) <= best + 1e-12


def test_evolution_search_never_worse_than_its_start():
    labels, probabilities = noisy_problem(300, seed=4)
    start = np.full(N_CLASSES, 0.5)
    tuned = evolution_search(labels, probabilities, WEIGHTS, SINUS, start, seed=0, max_iterations=10)
    assert tuned.shape == (N_CLASSES,)
    assert metric(labels, probabilities, tuned) > metric(labels, probabilities, start)


def test_tune_thresholds_fixed_is_one_half():
    labels, probabilities = noisy_problem(50)
    assert tune_thresholds(labels, probabilities, WEIGHTS, SINUS, method="fixed").tolist() == [0.5] * N_CLASSES


def test_tune_thresholds_evolution_at_least_coordinate():
    labels, probabilities = noisy_problem(400, seed=5)
    fixed = tune_thresholds(labels, probabilities, WEIGHTS, SINUS, method="fixed")
    coordinate = tune_thresholds(labels, probabilities, WEIGHTS, SINUS, method="coordinate")
    evolution = tune_thresholds(labels, probabilities, WEIGHTS, SINUS, method="evolution", seed=1)
    assert metric(labels, probabilities, coordinate) > metric(labels, probabilities, fixed) + 0.02
    assert metric(labels, probabilities, evolution) >= metric(labels, probabilities, coordinate)
    again = tune_thresholds(labels, probabilities, WEIGHTS, SINUS, method="evolution", seed=1)
    assert np.array_equal(evolution, again)


def test_tune_thresholds_rejects_an_unknown_method():
    labels, probabilities = noisy_problem(20)
    with pytest.raises(ValueError, match="'best'.*coordinate"):
        tune_thresholds(labels, probabilities, WEIGHTS, SINUS, method="best")


@pytest.mark.parametrize("method", ["coordinate", "evolution"])
def test_tune_thresholds_copes_with_a_class_without_positives(method):
    labels, probabilities = noisy_problem(200, seed=6)
    labels[:, 2] = False
    thresholds = tune_thresholds(labels, probabilities, WEIGHTS, SINUS, method=method)
    assert thresholds.shape == (N_CLASSES,) and np.isfinite(thresholds).all()


def test_tune_thresholds_without_records_is_one_half():
    empty = np.zeros((0, N_CLASSES))
    assert tune_thresholds(empty.astype(bool), empty, WEIGHTS, SINUS).tolist() == [0.5] * N_CLASSES


def test_tuning_needs_a_sinus_rhythm_class():
    labels, probabilities = noisy_problem(20)
    with pytest.raises(ValueError, match="sinus rhythm"):
        tune_thresholds(labels, probabilities, WEIGHTS, None, method="coordinate")


def test_evolution_search_keeps_a_better_start_outside_its_bounds():
    labels, probabilities = separable_problem()
    probabilities = 0.99 + probabilities / 100  # every gap now lies above 0.994, outside the search bounds
    start = np.full(N_CLASSES, 0.995)
    assert metric(labels, probabilities, start) == pytest.approx(1.0)
    tuned = evolution_search(labels, probabilities, WEIGHTS, SINUS, start, seed=0, max_iterations=5)
    assert metric(labels, probabilities, tuned) == pytest.approx(1.0)
