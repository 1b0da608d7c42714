"""Calibrated probabilities: Platt scaling per class, ``p' = sigmoid(scale * logit(p) + shift)``.

Fitted at the end of training on the final out-of-fold outputs of each lead set (what the model said of
records it had not trained on), stored in ``model.json`` as plain numbers, and applied at inference before
the thresholds, which are tuned on the calibrated outputs. The map is increasing in ``p``, so it changes no
ranking (AUROC and AUPRC stay) and no decision the thresholds can make; it changes what a probability means.
A class with fewer than 3 positives or negatives keeps the identity map.

:func:`expected_calibration_error` measures it: the gap between predicted and observed frequencies, pooled
over records and classes, in equal-width bins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .jsonvalues import json_floats

MIN_EXAMPLES = 3
#: Probabilities are clipped this far from 0 and 1 before their logit: far enough that no two distinct outputs
#: of a model tie (a tie would cost AUROC), near enough that the logit stays finite.
CLIP = 1e-15
BINS = 10


@dataclass(frozen=True)
class Calibration:
    """Per class, the scale and shift applied to the logit."""

    scale: np.ndarray  # (classes,)
    shift: np.ndarray  # (classes,)

    def apply(self, probabilities: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, (records, classes) as given."""
        return 1.0 / (1.0 + np.exp(-(self.scale * _logit(probabilities) + self.shift)))

    def invert(self, calibrated: np.ndarray) -> np.ndarray:
        """The probabilities before :meth:`apply`, from calibrated ones (the map is increasing, so one-to-one):
        lets a report show calibration's effect from output files that hold only the calibrated values."""
        return 1.0 / (1.0 + np.exp(-(_logit(calibrated) - self.shift) / self.scale))

    def to_json(self) -> dict[str, list[float]]:
        return {"scale": [float(x) for x in self.scale], "shift": [float(x) for x in self.shift]}

    @classmethod
    def from_json(cls, data: Any, classes: int, source: str) -> Calibration:
        """A calibration read back; ValueError naming ``source`` unless it has a finite scale and shift per class,
        each scale positive (the map must be increasing, or it would reverse the ranking)."""

        scale, shift = (json_floats(data.get(key)) if isinstance(data, dict) else None for key in ("scale", "shift"))
        if scale is None or shift is None:
            raise ValueError(f"{source}: must hold a list of numbers 'scale' and one 'shift'")
        if scale.shape != (classes,) or shift.shape != (classes,):
            raise ValueError(f"{source}: needs {classes} scales and shifts, not {_count(scale)} and {_count(shift)}")
        for k in range(classes):
            if not (np.isfinite(scale[k]) and np.isfinite(shift[k])):
                raise ValueError(f"{source}: scales and shifts must be finite numbers of sane size, not "
                                 f"{scale[k]:g} and {shift[k]:g} (class number {k + 1})")
            if not scale[k] > 0:
                raise ValueError(f"{source}: scales must be positive (an increasing map), not {scale[k]:g} "
                                 f"(class number {k + 1})")
        return cls(scale, shift)


def _count(values: np.ndarray) -> str:
    return str(len(values)) if values.ndim == 1 else f"values of shape {values.shape}"


def fit(labels: np.ndarray, probabilities: np.ndarray, regularization: float = 1.0) -> Calibration:
    """Platt scaling per class, fitted on out-of-fold ``probabilities`` (records, classes) against ``labels``."""
    from sklearn.linear_model import LogisticRegression  # fitting only: inference reads the numbers

    labels = np.asarray(labels, dtype=bool)
    logits = _logit(probabilities)
    scale, shift = np.ones(labels.shape[1]), np.zeros(labels.shape[1])
    for k in range(labels.shape[1]):
        positives = int(labels[:, k].sum())
        if min(positives, len(labels) - positives) < MIN_EXAMPLES:
            continue
        model = LogisticRegression(C=regularization).fit(logits[:, k : k + 1], labels[:, k])
        if model.coef_[0, 0] > 0:  # an increasing map only: a decreasing one would reverse the ranking
            scale[k], shift[k] = model.coef_[0, 0], model.intercept_[0]
    return Calibration(scale, shift)


def reliability(labels: np.ndarray, probabilities: np.ndarray, bins: int = BINS
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per equal-width bin of the probabilities, pooled over every (record, class) entry: the mean probability,
    the observed frequency of positives, and the number of entries (NaN means where a bin is empty)."""
    p = np.asarray(probabilities, dtype=np.float64).ravel()
    y = np.asarray(labels, dtype=np.float64).ravel()
    which = np.minimum((np.clip(p, 0, 1) * bins).astype(int), bins - 1)
    counts = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(which, weights=p, minlength=bins) / counts
        observed = np.bincount(which, weights=y, minlength=bins) / counts
    return mean, observed, counts


def expected_calibration_error(labels: np.ndarray, probabilities: np.ndarray, bins: int = BINS) -> float:
    """Pooled over every (record, class) entry: the mean over equal-width bins of |mean probability - observed
    frequency|, each bin weighted by its share of entries."""
    mean, observed, counts = reliability(labels, probabilities, bins)
    used = counts > 0
    return float(np.sum(np.abs(mean[used] - observed[used]) * counts[used]) / max(counts.sum(), 1))


def _logit(probabilities: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(probabilities, dtype=np.float64), CLIP, 1 - CLIP)
    return np.log(p / (1 - p))
