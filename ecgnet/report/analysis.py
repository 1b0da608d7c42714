"""The numbers behind a report: the labels, leads and outputs of two folders and their scores
(:class:`Evaluation`), the scores per source and per lead set, ROC and precision-recall curves, the outputs
before a model's calibration, and selective prediction (the records kept when the least sure are deferred).
Nothing here draws or writes.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import details, metric
from ..calibration import Calibration
from ..labels import ClassTable, load_class_table
from ..records import (
    STANDARD_LEADS,
    RecordError,
    lead_set_name,
    read_header,
    source_of,
    standard_leads,
)
from .model_folder import read_decision

PathLike = str | os.PathLike
#: Shares of records kept on the selective-prediction curve (100 % to 10 %, in steps of 2 %), those in its table,
#: and the number of seeded random orders whose mean is the baseline.
KEPT_SHARES = np.round(np.arange(100, 9, -2) / 100, 2)
TABLE_SHARES = (1.0, 0.9, 0.8, 0.7, 0.5)
RANDOM_ORDERS = 20


# Reading the folders.
@dataclass(frozen=True)
class Evaluation:
    """The arrays behind a report, rows in header-file order, columns in class-table order."""

    record_ids: list[str]
    leads: list[tuple[str, ...]]
    labels: np.ndarray  # (records, classes) bool
    binary: np.ndarray  # (records, classes) bool
    scalars: np.ndarray  # (records, classes) float
    table: ClassTable
    scores: metric.Scores


def load_evaluation(label_dir: PathLike, output_dir: PathLike, weights_file: PathLike | None = None) -> Evaluation:
    """Read labels, leads and outputs and score them, failing as :func:`metric.evaluate_folders` does."""
    table = load_class_table(weights_file)
    header_files = metric.label_files(label_dir)
    output_files = metric.output_files_for(header_files, output_dir)
    # Labels through the metric's own reader, so the scores are exactly evaluate_folders'.
    labels = metric.load_labels(header_files, table)
    binary, scalars = metric.load_outputs(output_files, table)
    return Evaluation(
        record_ids=[Path(path).stem for path in header_files],
        leads=[_leads(path) for path in header_files],
        labels=labels,
        binary=binary,
        scalars=scalars,
        table=table,
        scores=metric.evaluate(labels, binary, scalars, table),
    )


def _leads(header_path: PathLike) -> tuple[str, ...]:
    """The leads a header lists; none when it cannot be parsed (its labels may still be scored)."""
    try:
        return read_header(header_path)[1].leads
    except RecordError:
        return ()


# Groups of records.
def lead_set_label(leads: Sequence[str]) -> str:
    """A reader's name for a lead set: ``12 leads`` or ``2 leads: I, II`` (standard leads, standard order)."""
    names = standard_leads(leads) or tuple(lead.strip() for lead in leads)
    if names == STANDARD_LEADS:
        return "12 leads"
    count = f"{len(names)} lead" if len(names) == 1 else f"{len(names)} leads"
    return f"{count}: {', '.join(names)}" if names else "no leads"


def group_scores(evaluation: Evaluation, keys: Sequence[str], order: Sequence[str]) -> list[tuple[str, metric.Scores]]:
    """The scores of the records of each group (``keys[i]``: the group of record i), groups in ``order``."""
    keys_array = np.asarray(keys, dtype=object)
    e = evaluation
    groups = []
    for key in order:
        rows = np.flatnonzero(keys_array == key)
        groups.append((key, metric.evaluate(e.labels[rows], e.binary[rows], e.scalars[rows], e.table)))
    return groups


def source_groups(evaluation: Evaluation) -> list[tuple[str, metric.Scores]]:
    """Scores per Challenge source (record-name prefix), sources in alphabetical order."""
    sources = [source_of(record_id) for record_id in evaluation.record_ids]
    return group_scores(evaluation, sources, sorted(set(sources)))


def lead_set_groups(evaluation: Evaluation) -> list[tuple[str, metric.Scores]]:
    """Scores per lead set of the label headers, the set with most leads first."""
    names = [lead_set_label(leads) for leads in evaluation.leads]
    # Every header with the same label has the same standard leads, so the size is the label's.
    sizes = {name: len(standard_leads(leads) or leads) for name, leads in zip(names, evaluation.leads)}
    return group_scores(evaluation, names, sorted(sizes, key=lambda name: (-sizes[name], name)))


# ROC and precision-recall curves.
@dataclass(frozen=True)
class Curve:
    """One class's curves, one point per threshold, thresholds descending (the first, +inf, calls nothing
    positive). A rate is NaN where its denominator is 0, e.g. every ``tpr`` of a class with no positives."""

    thresholds: np.ndarray
    tpr: np.ndarray  # recall
    fpr: np.ndarray
    precision: np.ndarray
    positives: int
    negatives: int


def _rate(numerator: np.ndarray, denominator: np.ndarray | int) -> np.ndarray:
    result = np.full(np.shape(numerator), np.nan)
    np.divide(numerator, denominator, out=result, where=np.asarray(denominator) != 0)
    return result


def class_curve(labels: Sequence[bool] | np.ndarray, scalars: Sequence[float] | np.ndarray) -> Curve:
    """ROC and precision-recall points of one class: an output at or above a threshold is positive.

    The thresholds are those of the official evaluator's AUROC and AUPRC (each distinct output, largest first),
    so the trapezoid area under ``(fpr, tpr)`` is the metric's AUROC. A non-finite output counts as 0.
    """
    labels = np.asarray(labels, dtype=bool).ravel()
    scalars = np.asarray(scalars, dtype=np.float64).ravel()
    scalars = np.where(np.isfinite(scalars), scalars, 0.0)
    values, inverse = np.unique(scalars, return_inverse=True)  # ascending distinct outputs
    # Records and positives at each distinct value, then summed from the largest value down: the counts
    # called positive at each threshold. The leading 0 is the threshold above the largest output.
    at_value = np.bincount(inverse, minlength=values.size)[::-1]
    positives_at_value = np.bincount(inverse, weights=labels.astype(np.float64), minlength=values.size)[::-1]
    called = np.concatenate(([0], np.cumsum(at_value)))
    tp = np.concatenate(([0.0], np.cumsum(positives_at_value)))
    positives = int(labels.sum())
    negatives = labels.size - positives
    return Curve(
        thresholds=np.concatenate(([np.inf], values[::-1])),
        tpr=_rate(tp, positives),
        fpr=_rate(called - tp, negatives),
        precision=_rate(tp, called),
        positives=positives,
        negatives=negatives,
    )


def class_curves(evaluation: Evaluation) -> list[Curve]:
    """The curve of every class, in class-table order."""
    return [class_curve(evaluation.labels[:, k], evaluation.scalars[:, k]) for k in range(len(evaluation.table))]


@dataclass(frozen=True)
class Panels:
    """The classes that get a curve panel (indices in class-table order) and the one line naming the others
    (``""`` when every class gets a panel)."""

    shown: list[int]
    folded: str


def curve_panels(curves: Sequence[Curve], names: Sequence[str], kind: str) -> Panels:
    """Which classes get a panel of ``kind`` curves (``"roc"``: a class needs positives and negatives; ``"pr"``:
    positives), and the others folded into one line, so that a report of a few hundred records is not a grid of
    empty panels."""
    if kind not in ("roc", "pr"):
        raise ValueError(f"kind must be 'roc' or 'pr', not {kind!r}")
    no_positives = [name for name, curve in zip(names, curves) if curve.positives == 0]
    no_negatives = [name for name, curve in zip(names, curves)
                    if kind == "roc" and curve.positives > 0 and curve.negatives == 0]
    shown = [k for k, curve in enumerate(curves) if curve.positives > 0 and (kind == "pr" or curve.negatives > 0)]
    parts = []
    if no_positives:
        parts.append(f"No curve for the {_count(no_positives, 'class', 'classes')} without a positive record here: "
                     f"{', '.join(no_positives)}")
    if no_negatives:
        parts.append(f"nor for the {_count(no_negatives, 'class', 'classes')} that every record has: "
                     f"{', '.join(no_negatives)}")
    return Panels(shown, "; ".join(parts) + "." if parts else "")


def _count(items: Sequence[object], one: str, many: str) -> str:
    return f"{len(items)} {one if len(items) == 1 else many}"


# The modified confusion matrix, as the report draws it.
@dataclass(frozen=True)
class ConfusionCells:
    """The modified confusion matrix of the Challenge metric restricted to the classes labelled or output at
    least once (the others are named in ``left_out``): its values, each row's shares (the colour: a rare class's
    row reads as well as a frequent one's) and the number printed in each cell (``""`` for 0)."""

    names: list[str]
    matrix: np.ndarray  # (kept, kept): rows labelled classes, columns output classes
    shares: np.ndarray  # (kept, kept): each row divided by its sum, 0 in an empty row
    texts: list[list[str]]
    left_out: list[str]


def cell_text(value: float) -> str:
    """A confusion-matrix cell as printed: empty for 0, whole numbers as such, else two significant digits below
    1, one decimal below 10 and none from 10 on."""
    if value <= 0:
        return ""
    if abs(value - round(value)) < 1e-9:
        return str(round(value))
    if value < 1:
        return f"{value:.2g}"
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def confusion_cells(evaluation: Evaluation) -> ConfusionCells:
    """The cells of the report's confusion matrix (:class:`ConfusionCells`)."""
    matrix = metric.modified_confusion_matrix(evaluation.labels, evaluation.binary)
    names = list(evaluation.scores.class_abbreviations)
    used = np.flatnonzero(evaluation.labels.any(axis=0) | evaluation.binary.any(axis=0))
    kept = matrix[np.ix_(used, used)]
    totals = kept.sum(axis=1, keepdims=True)
    shares = np.divide(kept, totals, out=np.zeros_like(kept), where=totals > 0)
    return ConfusionCells(
        names=[names[k] for k in used],
        matrix=kept,
        shares=shares,
        texts=[[cell_text(value) for value in row] for row in kept],
        left_out=[name for k, name in enumerate(names) if k not in set(used.tolist())],
    )


# The outputs before calibration.
def uncalibrated_scalars(evaluation: Evaluation, model_dir: PathLike) -> np.ndarray | None:
    """The outputs' probabilities before the model's calibration, by inverting its Platt map of each record's
    lead set (the one inference chose: the closest calibrated set); None when the model is not calibrated.
    Read from ``model.json`` alone (:func:`model_folder.read_decision`), so a report never loads the networks."""
    model = read_decision(model_dir)
    if model is None or not model.calibrations:
        return None
    columns = [evaluation.table.index_of(code) for code in model.class_codes]
    known = [k for k, column in enumerate(columns) if column is not None]
    table_columns = [columns[k] for k in known]
    before = evaluation.scalars.copy()
    names = [lead_set_name(leads) for leads in evaluation.leads]
    for name in dict.fromkeys(names):
        calibration = model.for_lead_set(name).calibration
        rows = np.array([i for i, other in enumerate(names) if other == name])
        values = before[np.ix_(rows, table_columns)]
        inverted = Calibration(calibration.scale[known], calibration.shift[known]).invert(values)
        before[np.ix_(rows, table_columns)] = np.where(np.isfinite(values), inverted, values)
    return before


# Selective prediction.
#: What the selective-prediction section scores on the records kept (:func:`selective_scores`).
SELECTIVE_SCORES = ("Challenge metric", "accuracy")


@dataclass(frozen=True)
class Selective:
    """Scores of the records kept (:data:`SELECTIVE_SCORES`, a column each), per number kept: deferring the
    most uncertain first, and deferring at random (mean and standard deviation over seeded orders)."""

    kept: np.ndarray  # (points,) records kept
    total: int
    scores: np.ndarray  # (points, scores)
    random_mean: np.ndarray  # (points, scores)
    random_std: np.ndarray  # (points, scores)


def deferral_order(uncertainty: np.ndarray) -> np.ndarray:
    """Record indices in the order they are deferred: most uncertain first, NaN (no uncertainty known) last;
    ties in record order, so the order is reproducible."""
    u = np.asarray(uncertainty, dtype=np.float64)
    return np.lexsort((np.arange(u.size), -np.nan_to_num(u, nan=-np.inf)))


def selective_scores(labels: np.ndarray, binary: np.ndarray, table: ClassTable) -> tuple[float, float]:
    """The Challenge metric and the accuracy (share of records whose whole label set is right) of some records.

    Both, because the Challenge metric cannot see the records a confident model keeps: a record labelled
    sinus rhythm alone and called so adds the same to the observed, correct and sinus-only scores, so it
    leaves the normalised metric where it is, while accuracy counts it as one more record entirely right."""
    return (metric.challenge_metric(labels, binary, table.weights, table.sinus_rhythm_index),
            metric.compute_accuracy(labels, binary) if len(labels) else float("nan"))


def selective_curve(labels: np.ndarray, binary: np.ndarray, uncertainty: np.ndarray, table: ClassTable,
                    kept: Sequence[int], orders: int = RANDOM_ORDERS, seed: int = 0) -> Selective:
    """:func:`selective_scores` (with the outputs' own binary labels) of the ``kept[i]`` records left after
    deferring the others, most uncertain first (:func:`deferral_order`); and the same over ``orders`` random
    orders seeded by ``seed``, the baseline an uncertainty must beat to be worth anything."""
    n = len(labels)
    kept = np.asarray(kept, dtype=int)

    def along(order: np.ndarray) -> np.ndarray:
        return np.array([selective_scores(labels[order[n - k:]], binary[order[n - k:]], table) for k in kept])

    rng = np.random.default_rng(seed)
    random = np.array([along(rng.permutation(n)) for _ in range(orders)])
    return Selective(kept, n, along(deferral_order(uncertainty)), random.mean(axis=0), random.std(axis=0))


@dataclass(frozen=True)
class SelectiveSection:
    """What the selective-prediction section shows: the curve, and the records flagged for review (``review``
    column of details.csv) with the metric of the others and of as many records kept at random."""

    curve: Selective
    flagged: int
    unflagged: Selective  # one point: the records not flagged, against random subsets of that size
    with_details: int  # scored records that have a details row


def selective_section(evaluation: Evaluation, output_dir: PathLike) -> SelectiveSection | str:
    """The selective-prediction section's numbers from ``OUTPUTS/details.csv``, or one line saying why there
    are none (no file, no ``uncertainty`` column, no row for a scored record)."""
    path = Path(output_dir) / details.DETAILS_FILE
    if not path.is_file():
        return (f"No {details.DETAILS_FILE} in the outputs folder: run_model.py with --details writes the "
                "uncertainties this section needs.")
    try:
        rows = details.read(path)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        return f"{details.DETAILS_FILE} cannot be read ({error})."
    if not rows or "uncertainty" not in rows[0]:
        return (f"{details.DETAILS_FILE} has no uncertainty column (an older run_model.py wrote it); run the model "
                "again with --details.")
    by_record = {row["record"]: row for row in rows}
    uncertainty = np.array([_float(by_record.get(r, {}).get("uncertainty")) for r in evaluation.record_ids])
    review = np.array([by_record.get(r, {}).get("review") == "1" for r in evaluation.record_ids])
    found = sum(r in by_record for r in evaluation.record_ids)
    if not found:
        return f"No row of {details.DETAILS_FILE} is for a scored record."
    e, n = evaluation, len(evaluation.record_ids)
    kept = sorted({max(1, round(share * n)) for share in (*KEPT_SHARES, *TABLE_SHARES)}, reverse=True)
    curve = selective_curve(e.labels, e.binary, uncertainty, e.table, kept)
    # The records not flagged, deferred first by the review flag itself (flagged before others).
    unflagged = selective_curve(e.labels, e.binary, review.astype(float), e.table, [n - int(review.sum())])
    return SelectiveSection(curve, int(review.sum()), unflagged, found)


def _float(text: str | None) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return np.nan
