"""The expected score on new records (ecgnet.estimate): nested thresholds and a bootstrap interval."""

from __future__ import annotations

import numpy as np

from ecgnet import estimate, metric
from ecgnet.config import TrainingConfig
from ecgnet.labels import default_class_table
from ecgnet.thresholds import tune_thresholds

TABLE = default_class_table()
SETTINGS = TrainingConfig()


def _outputs(records: int, signal: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, probabilities, folds): each class present in 6 % of records, sinus rhythm in half; ``signal``
    mixes the labels into otherwise random probabilities (0: no information at all)."""
    rng = np.random.default_rng(seed)
    prevalence = np.full(len(TABLE), 0.06)
    prevalence[TABLE.sinus_rhythm_index] = 0.5
    labels = rng.random((records, len(TABLE))) < prevalence
    probabilities = (1 - signal) * rng.random(labels.shape) + signal * labels
    return labels, probabilities, np.arange(records) % 5


def test_each_fold_is_decided_by_thresholds_tuned_on_the_others():
    labels, probabilities, folds = _outputs(300, 0.3, seed=1)
    decided = estimate.nested_decisions(labels, probabilities, folds, TABLE, SETTINGS)
    for fold in range(5):
        held = folds == fold
        thresholds = tune_thresholds(labels[~held], probabilities[~held], TABLE.weights, TABLE.sinus_rhythm_index)
        assert np.array_equal(decided[held], probabilities[held] >= thresholds)


def test_thresholds_tuned_on_the_scored_records_flatter_noise_and_the_nested_estimate_does_not():
    labels, probabilities, folds = _outputs(400, 0.0, seed=2)
    tuned = tune_thresholds(labels, probabilities, TABLE.weights, TABLE.sinus_rhythm_index)
    in_sample = metric.summary_scores(labels, probabilities, tuned, TABLE)["challenge_metric"]
    expected = estimate.expected_scores(labels, {"I,II": probabilities}, folds, TABLE, SETTINGS, resamples=200)
    assert expected["I,II"]["challenge_metric"] < in_sample - 0.005


def test_expected_scores_give_each_score_an_interval_around_it():
    labels, probabilities, folds = _outputs(200, 0.5, seed=4)
    expected = estimate.expected_scores(labels, {"a": probabilities, "b": probabilities[:, ::-1]}, folds, TABLE,
                                        SETTINGS, resamples=100)
    assert list(expected) == ["a", "b"]
    for key in estimate.REPORTED.values():
        low, high = expected["a"][f"{key}_interval"]
        assert low <= expected["a"][key] <= high
    assert expected["a"]["challenge_metric"] > expected["b"]["challenge_metric"]
    assert "0." in estimate.describe("a", expected["a"]) and "[" in estimate.describe("a", expected["a"])
