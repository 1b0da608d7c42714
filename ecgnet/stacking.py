"""The stack: the final probabilities from the network's and the feature model's.

Per lead set and per class, a logistic regression on the two models' logits (scikit-learn, fitted on their
out-of-fold probabilities), or with ``stack = "mean"`` the mean of the two logits. With ``criteria`` on, a
class that a clinical definition fixes also weighs its measured criterion (:mod:`ecgnet.criteria`), never
against the definition: a negative weight is refitted without the criterion. Its own out-of-fold
outputs, on which the thresholds are tuned, are cross-fitted: each fold's records are combined by a stack
fitted on the other folds' records only, so the thresholds never see outputs the stack was fitted on.

A stack is a few numbers per class, kept as JSON in ``model.json``; applying it needs numpy alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .jsonvalues import json_floats

#: Fewer positives (or negatives) than this: the class is combined by the mean of the logits, which needs
#: no fitting, instead of a regression on a handful of records.
MIN_CLASS_RECORDS = 5
INPUTS = 3  # the network's logit, the feature model's logit, the class's criterion (0 where it has none)


def logit(probabilities: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)) with p clipped to [1e-6, 1 - 1e-6], so that a constant model stays finite."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


@dataclass
class Stack:
    """Per class: ``sigmoid(coefficients[k] . [logit(network), logit(features), criterion] + intercepts[k])``."""

    coefficients: np.ndarray  # (classes, 3)
    intercepts: np.ndarray  # (classes,)

    @property
    def weighs_criteria(self) -> bool:
        return bool(np.any(self.coefficients[:, 2]))

    def combine(self, network: np.ndarray, features: np.ndarray, criteria: np.ndarray | None = None) -> np.ndarray:
        """Final probabilities (records, classes) from the two models' probabilities and, for a stack that
        weighs them, the classes' criteria (records, classes; :func:`ecgnet.criteria.criteria_matrix`)."""
        z = (logit(network) * self.coefficients[:, 0] + logit(features) * self.coefficients[:, 1]
             + self.intercepts)
        if self.weighs_criteria:
            if criteria is None:
                raise ValueError("this stack weighs the classes' measured criteria: it needs the measurements")
            z = z + np.asarray(criteria, dtype=np.float64) * self.coefficients[:, 2]
        return 1.0 / (1.0 + np.exp(-z))

    def to_json(self) -> dict[str, Any]:
        return {"coefficients": self.coefficients.tolist(), "intercepts": self.intercepts.tolist()}

    @classmethod
    def from_json(cls, data: Any, classes: int, source: str) -> Stack:
        """A stack read back from ``model.json``; ValueError naming ``source`` unless it has one finite
        intercept and finite coefficients per class: three, or two (a model of a version before the criteria,
        whose criterion weight is 0)."""

        coefficients, intercepts = (json_floats(data.get(key)) if isinstance(data, dict) else None
                                    for key in ("coefficients", "intercepts"))
        if coefficients is None or intercepts is None:
            raise ValueError(f"{source}: a stack needs lists of numbers 'coefficients' and 'intercepts'")
        if coefficients.shape == (classes, INPUTS - 1):
            coefficients = np.column_stack([coefficients, np.zeros(classes)])
        if coefficients.shape != (classes, INPUTS) or intercepts.shape != (classes,):
            raise ValueError(f"{source}: a stack needs {classes} triples of coefficients and {classes} intercepts, "
                             f"not values of shapes {coefficients.shape} and {intercepts.shape}")
        for k in range(classes):
            if not (np.isfinite(coefficients[k]).all() and np.isfinite(intercepts[k])):
                raise ValueError(f"{source}: stack coefficients must be finite numbers of sane size, not "
                                 f"{coefficients[k].tolist()} and {intercepts[k]:g} (class number {k + 1})")
        return cls(coefficients, intercepts)


def mean_stack(classes: int) -> Stack:
    """The mean of the two logits, for every class (no criterion)."""
    return Stack(np.tile([0.5, 0.5, 0.0], (classes, 1)), np.zeros(classes))


def fit(network: np.ndarray, features: np.ndarray, labels: np.ndarray, method: str = "logistic",
        regularization: float = 1.0, criteria: np.ndarray | None = None) -> Stack:
    """A stack fitted on the two models' out-of-fold probabilities (records, classes) and the labels, and with
    ``criteria`` (records, classes) on each class's criterion where it has one."""
    stack = mean_stack(labels.shape[1])
    if method == "mean":
        return stack
    if method != "logistic":
        raise ValueError(f"unknown stack method {method!r}")
    inputs = np.stack([logit(network), logit(features), np.zeros(network.shape) if criteria is None else criteria],
                      axis=-1)  # (records, classes, 3)
    for k in range(labels.shape[1]):
        positives = int(labels[:, k].sum())
        if min(positives, len(labels) - positives) < MIN_CLASS_RECORDS:
            continue
        used = 3 if np.any(inputs[:, k, 2]) else 2
        coefficients, intercept = _logistic(inputs[:, k, :used], labels[:, k], regularization)
        if used == 3 and coefficients[2] < 0:  # against the definition: the criterion is left out
            coefficients, intercept = _logistic(inputs[:, k, :2], labels[:, k], regularization)
        stack.coefficients[k] = np.pad(coefficients, (0, INPUTS - len(coefficients)))
        stack.intercepts[k] = intercept
    return stack


def _logistic(inputs: np.ndarray, labels: np.ndarray, regularization: float) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=regularization, max_iter=1000)
    model.fit(inputs, labels.astype(int))
    return model.coef_[0], float(model.intercept_[0])


def cross_fitted(network: np.ndarray, features: np.ndarray, labels: np.ndarray, folds: np.ndarray,
                 method: str = "logistic", regularization: float = 1.0,
                 criteria: np.ndarray | None = None) -> np.ndarray:
    """The stack's out-of-fold probabilities: each fold combined by a stack fitted on the other folds."""
    combined = np.zeros(labels.shape)
    for fold in range(int(folds.max()) + 1):
        held = folds == fold
        kept = None if criteria is None else criteria[held]
        stack = fit(network[~held], features[~held], labels[~held], method, regularization,
                    None if criteria is None else criteria[~held])
        combined[held] = stack.combine(network[held], features[held], kept)
    return combined
