"""Uncertainty of the Challenge scores: the bootstrap over records.

A score on a few hundred records is one draw of many: these functions give each score an interval over
resamples of the records (drawn with replacement, as many as there are), and the difference of two sets of
outputs on the same labels an interval over *paired* resamples (the same draws for both), so that the
record-to-record spread both share cancels out of the difference.

A resample is a row of multinomial counts, how often each record is drawn (:func:`draw`), never a copy of the
arrays. Every score here equals :mod:`ecgnet.metric`'s on the resampled arrays (``np.repeat(labels, counts)``)
to rounding, and is computed for many resamples at once:

- the Challenge metric's three scores (the outputs', the labels', the sinus-rhythm-only outputs') are sums over
  records of one number each, so a resample's are ``counts @ per_record``;
- F-measure and accuracy are sums of per-record counts likewise;
- AUROC and AUPRC sort each class once; a resample's curve is the cumulative sums of its counts in that order.

Torch-free, numpy only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ecgnet import metric
from ecgnet.labels import ClassTable

#: The scores a bootstrap gives, in ``scores.csv`` order.
SCORE_NAMES = metric.SCORE_NAMES
#: The scores :func:`paired_difference` compares.
PAIRED_SCORES = ("Challenge metric", "AUROC")
#: The share of resamples an interval covers by default (the 95 % percentile interval).
LEVEL = 0.95
#: At most this many (resample, record) cells are held at once; resamples are scored in chunks below it.
CHUNK_CELLS = 1 << 21


@dataclass(frozen=True)
class Interval:
    """A score on the full data and its percentile interval over bootstrap resamples."""

    estimate: float
    low: float
    high: float
    level: float = LEVEL

    def contains(self, value: float) -> bool:
        return bool(self.low <= value <= self.high)

    def to_dict(self) -> dict[str, float | None]:
        """Plain JSON-ready values; NaN becomes None."""
        return {"estimate": _plain(self.estimate), "low": _plain(self.low), "high": _plain(self.high)}


@dataclass(frozen=True)
class Difference:
    """B's score against A's on the same records: B - A with its interval over paired resamples, and the share
    of resamples in which B scores higher (``b_higher``) and in which both score the same (``tied``)."""

    a: float
    b: float
    difference: Interval
    b_higher: float
    tied: float

    def to_dict(self) -> dict[str, float | None]:
        return {
            "A": _plain(self.a),
            "B": _plain(self.b),
            "difference": _plain(self.difference.estimate),
            "low": _plain(self.difference.low),
            "high": _plain(self.difference.high),
            "b_higher": _plain(self.b_higher),
            "tied": _plain(self.tied),
        }


def _plain(value: float) -> float | None:
    value = float(value)
    return None if np.isnan(value) else value


# Drawing resamples.
def _chunks(num_records: int, n: int, seed: int | None, chunk: int | None = None) -> Iterator[np.ndarray]:
    """The rows of :func:`draw` in consecutive chunks (the same rows: the generator is drawn in order)."""
    if num_records < 1 or n < 1:
        raise ValueError(f"a bootstrap needs records and resamples, not {num_records} records and {n} resamples")
    rng = np.random.default_rng(seed)
    probabilities = np.full(num_records, 1.0 / num_records)
    chunk = chunk or max(1, CHUNK_CELLS // num_records)
    for start in range(0, n, chunk):
        yield rng.multinomial(num_records, probabilities, size=min(chunk, n - start))


def draw(num_records: int, n: int, seed: int | None = 0) -> np.ndarray:
    """Counts (n, num_records): how often each record is drawn in each of ``n`` resamples with replacement.

    The same ``seed`` gives the same draws, so two sets of outputs on the same records are resampled alike
    (a paired comparison). The scoring functions below draw the same rows in chunks, to bound memory.
    """
    return np.concatenate(list(_chunks(num_records, n, seed)))


# Scores of many resamples at once; ``counts`` is (resamples, records).
def _macro(per_class: np.ndarray) -> np.ndarray:
    """Mean over the last axis of the values that are not NaN, NaN where all are (as metric.nan_mean)."""
    valid = ~np.isnan(per_class)
    total = np.where(valid, per_class, 0.0).sum(axis=-1)
    number = valid.sum(axis=-1)
    return np.divide(total, number, out=np.full(total.shape, np.nan), where=number > 0)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.full(np.shape(numerator), np.nan), where=denominator != 0)


def _counts(counts: Any, num_records: int) -> np.ndarray:
    counts = np.asarray(counts)
    if counts.ndim != 2 or counts.shape[1] != num_records:
        raise ValueError(f"resamples {counts.shape} must be (resamples, {num_records} records)")
    return counts.astype(np.float64)


def challenge_metric_resamples(labels: Any, binary: Any, table: ClassTable, resamples: Any) -> np.ndarray:
    """The Challenge metric of each resample (``resamples``: counts, (resamples, records)).

    ``metric.challenge_metric`` sums the reward of a modified confusion matrix, and the matrix is a sum over
    records, so each of its three scores is a sum of one number per record: that record's labels (j) against
    the outputs (k), ``sum_jk labels_j W_jk outputs_k / n``. A resample's scores are those weighted by its counts.
    """
    labels = np.asarray(labels, dtype=bool)
    binary = np.asarray(binary, dtype=bool)
    if labels.ndim != 2 or labels.shape != binary.shape:
        raise ValueError(f"labels {labels.shape} and outputs {binary.shape} must be 2-D of the same shape")
    if table.sinus_rhythm_index is None:
        raise ValueError("the classes have no sinus rhythm class (426783006); the Challenge metric needs it")
    counts = _counts(resamples, labels.shape[0])
    weights = np.asarray(table.weights, dtype=np.float64)
    sinus_only = np.zeros_like(labels)
    sinus_only[:, table.sinus_rhythm_index] = True
    rewarded = labels @ weights  # (records, classes): the reward of each output class given the record's labels

    def per_record(outputs: np.ndarray) -> np.ndarray:
        n = np.maximum(1, np.sum(labels | outputs, axis=1))
        return np.sum(rewarded * outputs, axis=1) / n

    # An elementwise product summed per row, not a matrix product: a resample's score then does not depend on
    # how many resamples are scored with it (BLAS rounds differently for different shapes).
    observed, correct, inactive = (np.sum(counts * per_record(outputs), axis=1)
                                   for outputs in (binary, labels, sinus_only))
    # As metric.challenge_metric: 0 where the labels score no better than sinus rhythm alone.
    return np.divide(observed - inactive, correct - inactive, out=np.zeros(len(counts)),
                     where=correct != inactive)


def auc_resamples(labels: Any, scalars: Any, resamples: Any) -> tuple[np.ndarray, np.ndarray]:
    """Macro AUROC and macro AUPRC of each resample, as ``metric.compute_auc`` on the resampled arrays: NaN
    classes (no positives; for AUROC also no negatives) left out of the means, non-finite outputs as 0.

    Each class is sorted once; a resample's true and false positives at each threshold are cumulative sums
    of its counts in that order. Thresholds at values no drawn record has add a step of zero.
    """
    labels = np.asarray(labels, dtype=bool)
    scalars = np.asarray(scalars, dtype=np.float64)
    if labels.ndim != 2 or labels.shape != scalars.shape:
        raise ValueError(f"labels {labels.shape} and outputs {scalars.shape} must be 2-D of the same shape")
    scalars = np.where(np.isfinite(scalars), scalars, 0.0)
    counts = _counts(resamples, labels.shape[0])
    num_classes = labels.shape[1]
    auroc = np.full((len(counts), num_classes), np.nan)
    auprc = np.full((len(counts), num_classes), np.nan)
    for k in range(num_classes):
        order = np.argsort(-scalars[:, k], kind="stable")
        ranked = scalars[order, k]
        ends = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))
        drawn = counts[:, order]
        zero = np.zeros((len(counts), 1))
        tp = np.hstack([zero, np.cumsum(drawn * labels[order, k], axis=1)[:, ends]])
        fp = np.hstack([zero, np.cumsum(drawn, axis=1)[:, ends]]) - tp
        positives, negatives = tp[:, -1:], fp[:, -1:]
        with np.errstate(invalid="ignore", divide="ignore"):
            tpr = tp / positives
            tnr = (negatives - fp) / negatives
            # tp + fp is 0 only above every drawn record, where the step is 0 too: no precision is needed there.
            ppv = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=tp + fp > 0)
            step = np.diff(tpr, axis=1)
            auroc[:, k] = np.sum(0.5 * step * (tnr[:, 1:] + tnr[:, :-1]), axis=1)
            auprc[:, k] = np.sum(step * ppv[:, 1:], axis=1)
        # NaN where the official rates are undefined (the sums above are NaN there already; made explicit).
        auroc[positives[:, 0] == 0, k] = np.nan
        auroc[negatives[:, 0] == 0, k] = np.nan
        auprc[positives[:, 0] == 0, k] = np.nan
    return _macro(auroc), _macro(auprc)


def f_measure_resamples(labels: Any, binary: Any, resamples: Any) -> np.ndarray:
    """Macro F-measure of each resample, as ``metric.compute_f_measure`` (NaN classes left out)."""
    labels = np.asarray(labels, dtype=bool)
    binary = np.asarray(binary, dtype=bool)
    counts = _counts(resamples, labels.shape[0])
    tp = counts @ (labels & binary)
    fp = counts @ (~labels & binary)
    fn = counts @ (labels & ~binary)
    return _macro(_ratio(2 * tp, 2 * tp + fp + fn))


def accuracy_resamples(labels: Any, binary: Any, resamples: Any) -> np.ndarray:
    """Accuracy (share of records whose whole label set is right) of each resample, as ``metric.compute_accuracy``."""
    labels = np.asarray(labels, dtype=bool)
    counts = _counts(resamples, labels.shape[0])
    right = np.all(labels == np.asarray(binary, dtype=bool), axis=1)
    return _ratio(counts @ right, counts.sum(axis=1))


def resample_scores(labels: Any, binary: Any, scalars: Any, table: ClassTable, resamples: Any,
                    names: Sequence[str] = SCORE_NAMES) -> dict[str, np.ndarray]:
    """The scores ``names`` (of :data:`SCORE_NAMES`) of each resample, by name."""
    unknown = set(names) - set(SCORE_NAMES)
    if unknown:
        raise ValueError(f"unknown scores {sorted(unknown)}; known: {', '.join(SCORE_NAMES)}")
    scores: dict[str, np.ndarray] = {}
    if "AUROC" in names or "AUPRC" in names:
        scores["AUROC"], scores["AUPRC"] = auc_resamples(labels, scalars, resamples)
    if "Accuracy" in names:
        scores["Accuracy"] = accuracy_resamples(labels, binary, resamples)
    if "F-measure" in names:
        scores["F-measure"] = f_measure_resamples(labels, binary, resamples)
    if "Challenge metric" in names:
        scores["Challenge metric"] = challenge_metric_resamples(labels, binary, table, resamples)
    return {name: scores[name] for name in names}


def _scores_over_draws(arrays: Sequence[tuple[Any, Any, Any]], table: ClassTable, n: int, seed: int | None,
                       names: Sequence[str]) -> list[dict[str, np.ndarray]]:
    """For each (labels, binary, scalars) of ``arrays`` (same records), ``names`` over the same ``n`` draws."""
    num_records = np.shape(arrays[0][0])[0]
    parts: list[list[dict[str, np.ndarray]]] = [[] for _ in arrays]
    for counts in _chunks(num_records, n, seed):
        for part, (labels, binary, scalars) in zip(parts, arrays):
            part.append(resample_scores(labels, binary, scalars, table, counts, names))
    return [{name: np.concatenate([chunk[name] for chunk in part]) for name in names} for part in parts]


def percentile_interval(estimate: float, values: np.ndarray, level: float = LEVEL) -> Interval:
    """``estimate`` with the central ``level`` share of ``values`` (NaN resamples left out; NaN if all are)."""
    if not 0 < level < 1:
        raise ValueError(f"the interval's level must lie between 0 and 1, not {level}")
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if not values.size:
        return Interval(float(estimate), float("nan"), float("nan"), level)
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(estimate), float(low), float(high), level)


def _full_scores(labels: Any, binary: Any, scalars: Any, table: ClassTable) -> dict[str, float]:
    """The five scores on the full data, exactly as evaluate_model.py gives them."""
    return dict(zip(SCORE_NAMES, metric.evaluate(labels, binary, scalars, table).macro))


def score_intervals(labels: Any, binary: Any, scalars: Any, table: ClassTable, n: int = 1000,
                    seed: int | None = 0, level: float = LEVEL) -> dict[str, Interval]:
    """Every score of :data:`SCORE_NAMES` (AUROC, AUPRC, accuracy, F-measure, Challenge metric) on the full
    data with its percentile interval over ``n`` bootstrap resamples of the records."""
    estimates = _full_scores(labels, binary, scalars, table)
    (resampled,) = _scores_over_draws([(labels, binary, scalars)], table, n, seed, SCORE_NAMES)
    return {name: percentile_interval(estimates[name], resampled[name], level) for name in SCORE_NAMES}


def paired_difference(labels: Any, a_binary: Any, a_scalars: Any, b_binary: Any, b_scalars: Any,
                      table: ClassTable, n: int = 1000, seed: int | None = 0, level: float = LEVEL,
                      names: Sequence[str] = PAIRED_SCORES) -> dict[str, Difference]:
    """B's scores against A's on the same records and labels, for ``names`` (default the Challenge metric and
    AUROC): B - A on the full data, its interval over ``n`` paired resamples (each resample scores both on
    the same draws), and the shares of resamples in which B is higher and in which they tie."""
    a_full = _full_scores(labels, a_binary, a_scalars, table)
    b_full = _full_scores(labels, b_binary, b_scalars, table)
    a_resampled, b_resampled = _scores_over_draws(
        [(labels, a_binary, a_scalars), (labels, b_binary, b_scalars)], table, n, seed, names)
    result = {}
    for name in names:
        differences = b_resampled[name] - a_resampled[name]
        kept = differences[~np.isnan(differences)]
        result[name] = Difference(
            a=a_full[name],
            b=b_full[name],
            difference=percentile_interval(b_full[name] - a_full[name], differences, level),
            b_higher=float(np.mean(kept > 0)) if kept.size else float("nan"),
            tied=float(np.mean(kept == 0)) if kept.size else float("nan"),
        )
    return result
