"""The stack: the final probabilities from the network's and the feature model's.

Per lead set and per class, a logistic regression on the two models' logits (scikit-learn, fitted on their
out-of-fold probabilities), or with ``stack = "mean"`` the mean of the two logits. Its own out-of-fold
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
INPUTS = 2  # the network's logit, the feature model's logit


def logit(probabilities: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)) with p clipped to [1e-6, 1 - 1e-6], so that a constant model stays finite."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


@dataclass
class Stack:
    """Per class: ``sigmoid(coefficients[k] . [logit(network), logit(features)] + intercepts[k])``."""

    coefficients: np.ndarray  # (classes, 2)
    intercepts: np.ndarray  # (classes,)

    def combine(self, network: np.ndarray, features: np.ndarray) -> np.ndarray:
        """Final probabilities (records, classes) from the two models' probabilities."""
        z = (logit(network) * self.coefficients[:, 0] + logit(features) * self.coefficients[:, 1]
             + self.intercepts)
        return 1.0 / (1.0 + np.exp(-z))

    def to_json(self) -> dict[str, Any]:
        return {"coefficients": self.coefficients.tolist(), "intercepts": self.intercepts.tolist()}

    @classmethod
    def from_json(cls, data: Any, classes: int, source: str) -> Stack:
        """A stack read back from ``model.json``; ValueError naming ``source`` unless it has one finite
        pair of coefficients and one finite intercept per class."""

        coefficients, intercepts = (json_floats(data.get(key)) if isinstance(data, dict) else None
                                    for key in ("coefficients", "intercepts"))
        if coefficients is None or intercepts is None:
            raise ValueError(f"{source}: a stack needs lists of numbers 'coefficients' and 'intercepts'")
        if coefficients.shape != (classes, INPUTS) or intercepts.shape != (classes,):
            raise ValueError(f"{source}: a stack needs {classes} pairs of coefficients and {classes} intercepts, not "
                             f"values of shapes {coefficients.shape} and {intercepts.shape}")
        for k in range(classes):
            if not (np.isfinite(coefficients[k]).all() and np.isfinite(intercepts[k])):
                raise ValueError(f"{source}: stack coefficients must be finite numbers of sane size, not "
                                 f"{coefficients[k].tolist()} and {intercepts[k]:g} (class number {k + 1})")
        return cls(coefficients, intercepts)


def mean_stack(classes: int) -> Stack:
    """The mean of the two logits, for every class."""
    return Stack(np.full((classes, INPUTS), 1.0 / INPUTS), np.zeros(classes))


def fit(network: np.ndarray, features: np.ndarray, labels: np.ndarray, method: str = "logistic",
        regularization: float = 1.0) -> Stack:
    """A stack fitted on the two models' out-of-fold probabilities (records, classes) and the labels."""
    stack = mean_stack(labels.shape[1])
    if method == "mean":
        return stack
    if method != "logistic":
        raise ValueError(f"unknown stack method {method!r}")
    from sklearn.linear_model import LogisticRegression

    inputs = np.stack([logit(network), logit(features)], axis=-1)  # (records, classes, 2)
    for k in range(labels.shape[1]):
        positives = int(labels[:, k].sum())
        if min(positives, len(labels) - positives) < MIN_CLASS_RECORDS:
            continue
        model = LogisticRegression(C=regularization, max_iter=1000)
        model.fit(inputs[:, k], labels[:, k].astype(int))
        stack.coefficients[k], stack.intercepts[k] = model.coef_[0], model.intercept_[0]
    return stack


def cross_fitted(network: np.ndarray, features: np.ndarray, labels: np.ndarray, folds: np.ndarray,
                 method: str = "logistic", regularization: float = 1.0) -> np.ndarray:
    """The stack's out-of-fold probabilities: each fold combined by a stack fitted on the other folds."""
    combined = np.zeros(labels.shape)
    for fold in range(int(folds.max()) + 1):
        held = folds == fold
        stack = fit(network[~held], features[~held], labels[~held], method, regularization)
        combined[held] = stack.combine(network[held], features[held])
    return combined
