"""The score to expect on records a model never saw, from the out-of-fold outputs of its training run.

The thresholds a model keeps are tuned on every out-of-fold record, so the out-of-fold score with those
thresholds also scores the records they were fitted to: with 26 thresholds and a thousand records that is
optimistic. The expected score is nested instead: each fold's records are decided by thresholds tuned on the
other folds' outputs alone, and the decisions of all folds are scored together. The outputs themselves are
already out of fold (the networks and the feature model never trained on a fold they predict, and the stack
is cross-fitted on the same folds), so no part of the decision has seen the records it is scored on. A
bootstrap over the records gives the interval.

What the nested estimate cannot see is a shift between the training sources and new ones: records of a
hospital absent from training score lower. ``training.validation = "leave-source-out"`` makes each fold one
source, and then the same estimate is that of a source never seen.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from . import bootstrap
from .config import TrainingConfig
from .labels import ClassTable
from .thresholds import tune_thresholds

#: Bootstrap resamples of the expected score's interval.
RESAMPLES = 1000
#: The scores the expected score reports, by their names in ecgnet.metric.SCORE_NAMES and in the summary.
REPORTED = {"Challenge metric": "challenge_metric", "AUROC": "auroc", "F-measure": "f_measure"}


def nested_decisions(labels: np.ndarray, probabilities: np.ndarray, folds: np.ndarray, table: ClassTable,
                     settings: TrainingConfig) -> np.ndarray:
    """Binary outputs (records, classes) where each fold's records are decided by thresholds tuned on the
    other folds' records alone. A run with a single fold has nothing to tune on apart from it: its records
    are decided by thresholds tuned on themselves (the plain out-of-fold estimate)."""
    decided = np.zeros(probabilities.shape, dtype=bool)
    for fold in np.unique(folds):
        held = folds == fold
        tuning = ~held if (~held).any() else held
        thresholds = tune_thresholds(labels[tuning], probabilities[tuning], table.weights, table.sinus_rhythm_index,
                                     settings.threshold_method, settings.seed)
        decided[held] = probabilities[held] >= thresholds
    return decided


def expected_scores(labels: np.ndarray, outputs: Mapping[str, np.ndarray], folds: np.ndarray, table: ClassTable,
                    settings: TrainingConfig, resamples: int = RESAMPLES, seed: int = 0) -> dict[str, dict]:
    """Per lead set of ``outputs`` (out-of-fold probabilities by name): the nested Challenge metric, AUROC and
    F-measure, each with its 95 % bootstrap interval (``<score>_interval``: [low, high]), and the records."""
    expected = {}
    for name, probabilities in outputs.items():
        decided = nested_decisions(labels, probabilities, folds, table, settings)
        intervals = bootstrap.score_intervals(labels, decided, probabilities, table, resamples, seed)
        entry: dict = {"records": int(len(labels))}
        for score, key in REPORTED.items():
            interval = intervals[score]
            entry[key] = interval.estimate
            entry[f"{key}_interval"] = [interval.low, interval.high]
        expected[name] = entry
    return expected


def describe(name: str, entry: Mapping[str, object]) -> str:
    """One line of a training's log: a lead set's expected Challenge metric and its interval."""
    low, high = entry["challenge_metric_interval"]
    return (f"expected on new records {name}: Challenge metric {entry['challenge_metric']:.3f} "
            f"[{low:.3f}, {high:.3f}], AUROC {entry['auroc']:.3f} (thresholds tuned on the other folds)")

