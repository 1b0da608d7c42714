"""Per-class decision thresholds tuned to maximise the Challenge metric on out-of-fold probabilities.

Two searches:
- ``coordinate``: start from each class's F1-optimal threshold, then repeatedly move one class's
  threshold to the candidate that most improves the Challenge metric, until a pass changes nothing.
- ``evolution``: scipy's differential evolution over all thresholds at once, seeded with the
  coordinate result so it can only do as well or better on the tuning data.

Both score thresholds with :class:`_Objective`, an exact rearrangement of the Challenge metric that
scores every candidate threshold of a class in one sort (a coordinate search takes a fraction of a
second on thousands of records).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import differential_evolution

from .config import THRESHOLD_METHODS as METHODS

BAGS = 20  # bootstrap resamples of the "bagged" method


def _candidates(probabilities: np.ndarray, count: int) -> np.ndarray:
    """Candidate thresholds for one class: quantiles of its probabilities plus a coarse grid."""
    grid = np.linspace(0.02, 0.98, 25)
    quantiles = np.quantile(probabilities, np.linspace(0.0, 1.0, count)) if probabilities.size else []
    values = np.unique(np.concatenate([grid, quantiles]))
    return values[(values > 0.0) & (values < 1.0)]


def f1_thresholds(labels: np.ndarray, probabilities: np.ndarray, count: int = 60) -> np.ndarray:
    """The threshold that maximises each class's F-measure (0.5 for a class without positives)."""
    thresholds = np.full(labels.shape[1], 0.5)
    for k in range(labels.shape[1]):
        positives = labels[:, k].astype(bool)
        if not positives.any():
            continue
        candidates = _candidates(probabilities[:, k], count)
        predicted = probabilities[:, k][:, None] >= candidates[None, :]
        tp = (predicted & positives[:, None]).sum(axis=0)
        fp = (predicted & ~positives[:, None]).sum(axis=0)
        fn = positives.sum() - tp
        f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
        thresholds[k] = candidates[int(np.argmax(f1))]
    return thresholds


class _Objective:
    """The Challenge metric of ``probabilities >= thresholds`` for fixed labels, fast enough to call
    thousands of times.

    A record i adds ``(labels_i W) . outputs_i / max(1, |labels_i or outputs_i|)`` to the score, so with
    ``labels @ W`` computed once a score costs one pass over the outputs, and the scores of every
    threshold of one class (the others fixed) come from one sort of that class's probabilities.
    Normalised as :func:`ecgnet.metric.challenge_metric`, whose value it equals.
    """

    def __init__(self, labels: np.ndarray, probabilities: np.ndarray, weights: np.ndarray, sinus_index: int | None):
        self.labels = np.asarray(labels, dtype=bool)
        self.probabilities = np.asarray(probabilities, dtype=np.float64)
        if self.labels.ndim != 2 or self.labels.shape != self.probabilities.shape:
            raise ValueError(f"labels {self.labels.shape} and probabilities {self.probabilities.shape} "
                             "must be 2-D of the same shape")
        if sinus_index is None:
            raise ValueError("the classes have no sinus rhythm class (426783006); the Challenge metric needs it")
        self.rewards = self.labels.astype(np.float64) @ np.asarray(weights, dtype=np.float64)  # (records, classes)
        sinus_only = np.zeros_like(self.labels)
        sinus_only[:, sinus_index] = True
        self.correct = self.raw(self.labels)
        self.inactive = self.raw(sinus_only)

    def raw(self, binary: np.ndarray) -> float:
        """The unnormalised score of binary outputs (records, classes)."""
        gained = np.sum(self.rewards * binary, axis=1)
        return float(np.sum(gained / np.maximum(1, np.sum(self.labels | binary, axis=1))))

    def normalise(self, raw: float | np.ndarray) -> float | np.ndarray:
        if self.correct == self.inactive:
            return np.zeros_like(raw) if isinstance(raw, np.ndarray) else 0.0
        return (raw - self.inactive) / (self.correct - self.inactive)

    def score(self, thresholds: np.ndarray) -> float:
        return float(self.normalise(self.raw(self.probabilities >= thresholds)))

    def column_scores(self, binary: np.ndarray, k: int, candidates: np.ndarray) -> np.ndarray:
        """Normalised scores of ``binary`` with column k replaced by ``probabilities[:, k] >= c`` for
        each candidate c."""
        others = binary.copy()
        others[:, k] = False
        gained = np.sum(self.rewards * others, axis=1)
        count = np.sum(self.labels | others, axis=1) - self.labels[:, k]  # classes other than k
        off = gained / np.maximum(1, count + self.labels[:, k])
        on = (gained + self.rewards[:, k]) / (count + 1)
        p = self.probabilities[:, k]
        order = np.argsort(-p, kind="stable")
        switched = np.concatenate([[0.0], np.cumsum((on - off)[order])])
        positive = np.searchsorted(-p[order], -np.asarray(candidates, dtype=np.float64), side="right")
        return self.normalise(off.sum() + switched[positive])


def coordinate_search(
    labels: np.ndarray,
    probabilities: np.ndarray,
    weights: np.ndarray,
    sinus_index: int | None,
    start: np.ndarray,
    count: int = 40,
    max_passes: int = 4,
) -> np.ndarray:
    """Improve ``start`` one class at a time for the Challenge metric (never makes it worse).

    Each pass moves every class's threshold in turn to the candidate (see :func:`_candidates`) that
    scores best with the other thresholds fixed, when that beats the current score.
    """
    objective = _Objective(labels, probabilities, weights, sinus_index)
    start = np.asarray(start, dtype=np.float64)
    thresholds = start.copy()
    binary = objective.probabilities >= thresholds
    best = float(objective.normalise(objective.raw(binary)))
    candidates = [_candidates(objective.probabilities[:, k], count) for k in range(labels.shape[1])]
    for _ in range(max_passes):
        improved = False
        for k in range(labels.shape[1]):
            if not candidates[k].size:
                continue
            scores = objective.column_scores(binary, k, candidates[k])
            pick = int(np.argmax(scores))
            if scores[pick] > best + 1e-12:
                thresholds[k] = candidates[k][pick]
                binary[:, k] = objective.probabilities[:, k] >= thresholds[k]
                best = float(objective.normalise(objective.raw(binary)))  # exact, so no drift
                improved = True
        if not improved:
            break
    return thresholds if objective.score(thresholds) >= objective.score(start) else start


def evolution_search(labels: np.ndarray, probabilities: np.ndarray, weights: np.ndarray, sinus_index: int | None,
                     start: np.ndarray, seed: int = 0, max_iterations: int = 60) -> np.ndarray:
    """Differential evolution over all thresholds, seeded with ``start`` (never worse than ``start``)."""
    objective = _Objective(labels, probabilities, weights, sinus_index)
    start = np.asarray(start, dtype=np.float64)

    def loss(thresholds: np.ndarray) -> float:
        return -objective.score(thresholds)

    n_classes = objective.labels.shape[1]
    rng = np.random.default_rng(seed)
    population = np.clip(start[None, :] + rng.normal(0, 0.1, (15, n_classes)), 0.01, 0.99)
    population[0] = np.clip(start, 0.01, 0.99)
    result = differential_evolution(
        loss, bounds=[(0.01, 0.99)] * n_classes, init=population, maxiter=max_iterations,
        seed=seed, polish=False, tol=1e-8,
    )
    return np.asarray(result.x, dtype=np.float64) if result.fun < loss(start) else start


def tune_thresholds(
    labels: np.ndarray,
    probabilities: np.ndarray,
    weights: np.ndarray,
    sinus_index: int | None,
    method: str = "coordinate",
    seed: int = 0,
) -> np.ndarray:
    """Per-class thresholds for ``probabilities`` (records x classes) that maximise the Challenge metric.

    Besides the searches: ``f1`` keeps each class's F1 optimum, ``shrunk`` takes the midpoint of the
    coordinate result and the F1 optima, and ``bagged`` the median of coordinate searches on bootstrap
    resamples of the records (both pull the thresholds away from what fits these records only).
    """
    if method not in METHODS:
        raise ValueError(f"unknown threshold method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "fixed" or len(labels) == 0:
        return np.full(labels.shape[1], 0.5)
    start = f1_thresholds(labels, probabilities)
    if method == "f1":
        return start
    if method == "bagged":
        return _bagged(labels, probabilities, weights, sinus_index, seed)
    thresholds = coordinate_search(labels, probabilities, weights, sinus_index, start)
    if method == "shrunk":
        return (thresholds + start) / 2
    if method == "evolution":
        thresholds = evolution_search(labels, probabilities, weights, sinus_index, thresholds, seed)
    return thresholds


def _bagged(labels: np.ndarray, probabilities: np.ndarray, weights: np.ndarray, sinus_index: int | None,
            seed: int) -> np.ndarray:
    """The per-class median of coordinate searches on :data:`BAGS` bootstrap resamples of the records."""
    rng = np.random.default_rng(seed)
    found = []
    for _ in range(BAGS):
        rows = rng.integers(0, len(labels), len(labels))
        start = f1_thresholds(labels[rows], probabilities[rows])
        found.append(coordinate_search(labels[rows], probabilities[rows], weights, sinus_index, start))
    return np.median(found, axis=0)
