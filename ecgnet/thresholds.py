"""Per-class decision thresholds tuned to maximise the Challenge metric on out-of-fold probabilities.

Two searches:
- ``coordinate``: start from each class's F1-optimal threshold, then repeatedly move one class's
  threshold to the candidate that most improves the Challenge metric, until a pass changes nothing.
- ``evolution``: scipy's differential evolution over all thresholds at once, seeded with the
  coordinate result so it can only do as well or better on the tuning data.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import differential_evolution

from .metric import challenge_metric

METHODS = ("coordinate", "evolution", "fixed")


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


def coordinate_search(
    labels: np.ndarray,
    probabilities: np.ndarray,
    weights: np.ndarray,
    sinus_index: int | None,
    start: np.ndarray,
    count: int = 40,
    max_passes: int = 4,
) -> np.ndarray:
    """Improve ``start`` one class at a time for the Challenge metric (never makes it worse)."""
    labels = labels.astype(bool)
    thresholds = start.astype(np.float64).copy()
    binary = probabilities >= thresholds
    best = challenge_metric(labels, binary, weights, sinus_index)
    for _ in range(max_passes):
        improved = False
        for k in range(labels.shape[1]):
            for candidate in _candidates(probabilities[:, k], count):
                trial = binary.copy()
                trial[:, k] = probabilities[:, k] >= candidate
                score = challenge_metric(labels, trial, weights, sinus_index)
                if score > best + 1e-12:
                    best, binary, thresholds[k], improved = score, trial, candidate, True
        if not improved:
            break
    return thresholds


def evolution_search(
    labels: np.ndarray,
    probabilities: np.ndarray,
    weights: np.ndarray,
    sinus_index: int | None,
    start: np.ndarray,
    seed: int = 0,
    max_iterations: int = 60,
) -> np.ndarray:
    """Differential evolution over all thresholds, seeded with ``start``."""
    labels = labels.astype(bool)

    def loss(thresholds: np.ndarray) -> float:
        return -challenge_metric(labels, probabilities >= thresholds, weights, sinus_index)

    n_classes = labels.shape[1]
    rng = np.random.default_rng(seed)
    population = np.clip(start[None, :] + rng.normal(0, 0.1, (15, n_classes)), 0.01, 0.99)
    population[0] = np.clip(start, 0.01, 0.99)
    result = differential_evolution(
        loss, bounds=[(0.01, 0.99)] * n_classes, init=population, maxiter=max_iterations,
        seed=seed, polish=False, tol=1e-8,
    )
    return result.x if result.fun <= loss(start) else start


def tune_thresholds(
    labels: np.ndarray,
    probabilities: np.ndarray,
    weights: np.ndarray,
    sinus_index: int | None,
    method: str = "coordinate",
    seed: int = 0,
) -> np.ndarray:
    """Per-class thresholds for ``probabilities`` (records x classes) that maximise the Challenge metric."""
    if method not in METHODS:
        raise ValueError(f"unknown threshold method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "fixed" or len(labels) == 0:
        return np.full(labels.shape[1], 0.5)
    start = f1_thresholds(labels, probabilities)
    thresholds = coordinate_search(labels, probabilities, weights, sinus_index, start)
    if method == "evolution":
        thresholds = evolution_search(labels, probabilities, weights, sinus_index, thresholds, seed)
    return thresholds
