"""Scores for people: an HTML page of figures and tables from a folder of labels and a folder of outputs.

A cardiologist or a reviewer does not read CSV files. :func:`build_report` scores the output files against
the labelled headers (every score comes from :mod:`ecgnet.metric`) and writes ``DIR/index.html`` with the
figures beside it as PNG files. Each figure is also embedded in the page as a ``data:`` URI, so that
``index.html`` alone can be mailed; the page loads nothing from elsewhere and holds no timestamp, so two runs
on the same files give the same HTML apart from the PNG bytes.

The page shows the overall scores; the per-class scores (``class_scores.png`` and a table with the class
names); ROC and precision-recall curves, one panel per class (``roc_curves.png``, ``pr_curves.png``); the
modified confusion matrix of the Challenge metric (``confusion.png``); calibration (``reliability.png``:
the reliability diagram and expected calibration error, and given a calibrated model folder the same before
its calibration, from its Platt maps inverted); selective prediction (``selective.png``, when the outputs
folder holds the ``details.csv`` of ``run_model.py --details``: :func:`selective_curve`); the scores per
source (from the record-name prefix) and per lead set (from the leads of each label header) when the records
hold more than one; and, given a model folder, its training curves (``training_curves.png``,
:func:`plot_training_log`) and the out-of-fold scores of its ``summary.json``.

Selective prediction answers "if the model handed its least sure records to a cardiologist, how good would
the rest be?". Records are deferred most uncertain first, by the ``uncertainty`` column of ``details.csv``
(:mod:`ecgnet.details`: the largest over classes of a decision's uncertainty over its distance from the
threshold; 1 or more means a "near threshold" review reason); the Challenge metric and the accuracy of the
records kept (:func:`selective_scores` says why both) are drawn against their share, beside the mean over
:data:`RANDOM_ORDERS` seeded random orders (what deferring the same number of records blindly gives).
Records of ``details.csv`` that are not scored are ignored; scored records without a row (or without a
number) are deferred last.

Command line::

    python -m ecgnet.report LABELS OUTPUTS --out DIR [--model MODEL_DIR] [--weights FILE]
    python -m ecgnet.report curves MODEL_DIR --out DIR

The first writes the report (``evaluate_model.py LABELS OUTPUTS --report DIR`` does the same); the second
draws only ``MODEL_DIR/training_log.csv`` as ``DIR/training_curves.png``. A labels folder that is named
``curves`` is given as ``./curves``.
"""

from __future__ import annotations

import argparse
import base64
import csv
import html
import io
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from . import details, metric
from .calibration import Calibration, expected_calibration_error, reliability
from .files import write_bytes_atomic, write_text_atomic
from .labels import ClassTable, load_class_table
from .records import (
    STANDARD_LEADS,
    RecordError,
    closest_lead_set,
    lead_set_name,
    read_header,
    source_of,
    standard_leads,
)

PathLike = str | os.PathLike
PROG = "python -m ecgnet.report"
DPI = 100  # small files, quick to draw; sharp enough on a laptop screen
FIGURE_FILES = ("class_scores.png", "roc_curves.png", "pr_curves.png", "confusion.png", "reliability.png")
TRAINING_FIGURE = "training_curves.png"
SELECTIVE_FIGURE = "selective.png"  # only when the outputs folder has a details.csv with uncertainties
#: Shares of records kept on the selective-prediction curve (100 % to 10 %, in steps of 2 %), those in its table,
#: and the number of seeded random orders whose mean is the baseline.
KEPT_SHARES = np.round(np.arange(100, 9, -2) / 100, 2)
TABLE_SHARES = (1.0, 0.9, 0.8, 0.7, 0.5)
RANDOM_ORDERS = 20
PANEL_COLUMNS = 6
_LOG_COLUMNS = ("fold", "epoch", "train_loss", "val_challenge")


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

    The thresholds are those of the Challenge's AUROC and AUPRC (``DESIGN.md`` section 3), so the trapezoid
    area under ``(fpr, tpr)`` is the metric's AUROC. A non-finite output counts as 0.
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


# Figures (one function each; matplotlib's object interface, so no global pyplot state).
def new_figure(width: float, height: float, constrained: bool = True) -> Figure:
    """A figure of the report's size and resolution, without pyplot's global state (also the held-out benchmark's)."""
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained" if constrained else None)


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def format_score(value: float) -> str:
    """A score as the report writes it: 3 decimals, ``n/a`` for NaN."""
    return "n/a" if np.isnan(value) else f"{value:.3f}"


def class_scores_figure(scores: metric.Scores) -> Figure:
    """Grouped bars of AUROC, AUPRC and F-measure per class; tick labels give the positives in brackets."""
    figure = new_figure(12, 5)
    ax = figure.subplots()
    x = np.arange(len(scores.class_abbreviations))
    series = (("AUROC", scores.class_auroc), ("AUPRC", scores.class_auprc), ("F-measure", scores.class_f_measure))
    width = 0.27
    for i, (name, values) in enumerate(series):
        shown = np.isfinite(values)  # an undefined score gets no bar rather than a misleading 0
        ax.bar(x[shown] + (i - 1) * width, values[shown], width, label=name)
    labels = [f"{name} ({int(n)})" for name, n in zip(scores.class_abbreviations, scores.class_positives)]
    ax.set_xticks(x, labels, rotation=90, fontsize=8)
    for tick, positives in zip(ax.get_xticklabels(), scores.class_positives):
        if positives == 0:
            tick.set_color("0.6")
    ax.set_xlim(-0.6, x.size - 0.4)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title("Scores per class (positives in brackets; no bar: undefined)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    return figure


def _panel_grid(count: int) -> tuple[Figure, np.ndarray]:
    """A figure of ``count`` small square panels sharing their axes; unused grid cells are hidden."""
    rows = -(-count // PANEL_COLUMNS)
    height = 2.0 * rows + 0.8
    # Fixed margins: constrained layout takes seconds to place 30 panels and gains nothing on a regular grid.
    figure = new_figure(12, height, constrained=False)
    figure.subplots_adjust(left=0.06, right=0.99, bottom=0.4 / height, top=1 - 0.55 / height, wspace=0.12, hspace=0.3)
    axes = figure.subplots(rows, PANEL_COLUMNS, sharex=True, sharey=True, squeeze=False).ravel()
    for ax in axes[count:]:
        ax.set_visible(False)
    for ax in axes[:count]:
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xticks([0, 0.5, 1])  # few ticks: the labels of neighbouring panels must not touch
        ax.set_yticks([0, 0.5, 1])
        ax.tick_params(labelsize=7)
    return figure, axes[:count]


def _mark_empty(ax, text: str) -> None:
    ax.set_facecolor("0.94")
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=8, color="0.4", transform=ax.transAxes)


def roc_figure(evaluation: Evaluation, curves: Sequence[Curve]) -> Figure:
    """One ROC panel per class (AUROC from the metric); classes without positives or negatives marked."""
    scores = evaluation.scores
    figure, axes = _panel_grid(len(curves))
    for ax, curve, name, auroc in zip(axes, curves, scores.class_abbreviations, scores.class_auroc):
        ax.set_title(f"{name} ({curve.positives})", fontsize=8)
        ax.plot([0, 1], [0, 1], color="0.7", linestyle="--", linewidth=0.8)
        if curve.positives == 0 or curve.negatives == 0:
            _mark_empty(ax, "no positives" if curve.positives == 0 else "no negatives")
            continue
        ax.plot(curve.fpr, curve.tpr, linewidth=1.2)
        ax.text(0.95, 0.05, f"AUROC {format_score(auroc)}", ha="right", fontsize=7, transform=ax.transAxes)
    figure.supxlabel("false positive rate (1 - specificity)", fontsize=9)
    figure.supylabel("true positive rate (sensitivity)", fontsize=9)
    figure.suptitle("ROC curves per class (positives in brackets)", fontsize=11)
    return figure


def pr_figure(evaluation: Evaluation, curves: Sequence[Curve]) -> Figure:
    """One precision-recall panel per class, drawn as the steps the metric's AUPRC sums."""
    scores = evaluation.scores
    figure, axes = _panel_grid(len(curves))
    for ax, curve, name, auprc in zip(axes, curves, scores.class_abbreviations, scores.class_auprc):
        ax.set_title(f"{name} ({curve.positives})", fontsize=8)
        if curve.positives == 0:
            _mark_empty(ax, "no positives")
            continue
        # Chance level: the prevalence of the class.
        ax.axhline(curve.positives / (curve.positives + curve.negatives), color="0.7", linestyle="--", linewidth=0.8)
        precision = curve.precision.copy()
        precision[0] = precision[1]  # undefined when nothing is called positive; the first step's height
        # AUPRC sums (recall[j+1] - recall[j]) * precision[j+1]: a step that rises before each new point.
        ax.plot(curve.tpr, precision, drawstyle="steps-pre", linewidth=1.2)
        ax.text(0.05, 0.05, f"AUPRC {format_score(auprc)}", fontsize=7, transform=ax.transAxes)
    figure.supxlabel("recall (sensitivity)", fontsize=9)
    figure.supylabel("precision (positive predictive value)", fontsize=9)
    figure.suptitle("Precision-recall curves per class (positives in brackets; dashed: prevalence)", fontsize=11)
    return figure


def confusion_figure(evaluation: Evaluation) -> Figure:
    """The modified confusion matrix of the Challenge metric as a heat map with a colour bar."""
    matrix = metric.modified_confusion_matrix(evaluation.labels, evaluation.binary)
    names = evaluation.scores.class_abbreviations
    figure = new_figure(9, 8)
    ax = figure.subplots()
    image = ax.imshow(matrix, cmap="Blues", vmin=0, interpolation="nearest")
    ticks = np.arange(len(names))
    ax.set_xticks(ticks, names, rotation=90, fontsize=7)
    ax.set_yticks(ticks, names, fontsize=7)
    ax.set_xlabel("output class")
    ax.set_ylabel("labelled class")
    ax.set_title("Modified confusion matrix of the Challenge metric")
    figure.colorbar(image, ax=ax, shrink=0.8, label="sum over records of 1/n")
    return figure


def reliability_panel(ax, series: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray]]) -> None:
    """Draw reliability curves on ``ax``: for each (name, bin means, observed frequencies, entries), its
    non-empty bins, against the diagonal of perfect calibration. Shared by the report and the held-out
    benchmark, so both read the same."""
    ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", label="perfectly calibrated")
    for name, mean, observed, counts in series:
        used = np.asarray(counts) > 0
        ax.plot(np.asarray(mean)[used], np.asarray(observed)[used], marker="o", markersize=4, label=name)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="upper left", fontsize=7)


def reliability_figure(evaluation: Evaluation, before: np.ndarray | None = None) -> Figure:
    """The reliability diagram of the outputs' probabilities, pooled over records and classes, with each bin's
    number of entries (log scale) below it and the expected calibration error in the title; ``before``: the
    same probabilities before calibration, drawn beside them."""
    outputs = ("outputs (calibrated)" if before is not None else "outputs", evaluation.scalars)
    shown = [outputs] if before is None else [("before calibration", before), outputs]
    bins = [(f"{name}, ECE {expected_calibration_error(evaluation.labels, p):.4f}",
             *reliability(evaluation.labels, p)) for name, p in shown]
    ece = expected_calibration_error(evaluation.labels, evaluation.scalars)
    figure = new_figure(6, 6)
    top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": (3, 1)})
    reliability_panel(top, bins)
    top.set_ylabel("observed frequency of positives")
    top.set_title(f"Reliability (expected calibration error {ece:.4f})")
    edges = np.linspace(0, 1, len(bins[0][3]) + 1)
    width = np.diff(edges) / len(bins)
    for i, (name, _, _, counts) in enumerate(bins):
        bottom.bar(edges[:-1] + i * width, np.maximum(counts, 1), width=width, align="edge", log=True,
                   color="0.7" if len(bins) == 1 else f"C{i}", label=name.split(",")[0])
    bottom.set_xlabel("probability (bin)")
    bottom.set_ylabel("entries")
    return figure


def uncalibrated_scalars(evaluation: Evaluation, model_dir: PathLike) -> np.ndarray | None:
    """The outputs' probabilities before the model's calibration, by inverting its Platt map of each record's
    lead set (the one inference chose: the closest calibrated set); None when the model is not calibrated.
    Read from ``model.json`` alone, so a report never loads the networks."""
    path = Path(model_dir) / "model.json"
    description = json.loads(path.read_text()) if path.is_file() else {}
    entries = description.get("calibration") if isinstance(description, dict) else None
    if not entries:
        return None
    codes = [str(code) for code in description.get("class_codes", [])]
    columns = [evaluation.table.index_of(code) for code in codes]
    known = [k for k, column in enumerate(columns) if column is not None]
    table_columns = [columns[k] for k in known]
    before = evaluation.scalars.copy()
    names = [lead_set_name(leads) for leads in evaluation.leads]
    for name in dict.fromkeys(names):
        key = closest_lead_set(name, list(entries))
        calibration = Calibration.from_json(entries[key], len(codes), f"{path}: calibration for {key}")
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


def selective_figure(section: SelectiveSection) -> Figure:
    """Each selective score against the share of records kept, a panel each: most uncertain deferred first,
    random deferral (mean and one standard deviation), and the records not flagged for review."""
    curve, point = section.curve, section.unflagged
    share = 100 * curve.kept / curve.total
    figure = new_figure(12, 4.5)
    for k, (ax, name) in enumerate(zip(figure.subplots(1, len(SELECTIVE_SCORES)), SELECTIVE_SCORES)):
        ax.plot(share, curve.scores[:, k], marker="o", markersize=3, label="most uncertain deferred first")
        mean, std = curve.random_mean[:, k], curve.random_std[:, k]
        ax.plot(share, mean, color="0.4", linestyle="--", label=f"deferred at random (mean of {RANDOM_ORDERS} orders)")
        ax.fill_between(share, mean - std, mean + std, color="0.4", alpha=0.15, linewidth=0)
        x = 100 * point.kept[0] / point.total
        if section.flagged and point.kept[0] > 0:
            ax.axvline(x, color="C3", linestyle=":", linewidth=1)
            ax.plot([x], point.scores[:, k], marker="*", markersize=12, color="C3", linestyle="none",
                    label=f"the {point.kept[0]} records not flagged for review")
        ax.set_xlim(100, min(share.min(), x) - 2)  # left to right: more and more records deferred
        ax.set_xlabel("share of records kept (%)")
        ax.set_ylabel(f"{name} of the records kept")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    figure.suptitle("Selective prediction: the least sure records deferred to a reader")
    return figure


def read_training_log(csv_path: PathLike) -> dict[str, dict[str, np.ndarray]]:
    """``training_log.csv`` per fold: ``{fold: {"epoch", "train_loss", "val_challenge": arrays}}``.

    Epochs are sorted; an epoch logged twice (a resumed run repeats it) keeps its last row.
    Raises ValueError naming the file when a column is missing, a value is not a number, or no row is logged.
    """
    path = Path(csv_path)
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [name for name in _LOG_COLUMNS if name not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: training log has no column {', '.join(missing)}")
        rows: dict[str, dict[float, tuple[float, float]]] = {}
        for line, row in enumerate(reader, start=2):
            try:
                epoch, loss, score = (float(row[name]) for name in _LOG_COLUMNS[1:])
            except (TypeError, ValueError):
                raise ValueError(f"{path}: line {line}: epoch, train_loss or val_challenge is not a number") from None
            rows.setdefault(row["fold"].strip(), {})[epoch] = (loss, score)
    if not rows:
        raise ValueError(f"{path}: training log has no rows")
    return {fold: _fold_arrays(rows[fold]) for fold in sorted(rows, key=_fold_order)}


def _fold_order(fold: str) -> tuple[int, float, str]:
    """Numeric folds in numeric order (fold 10 after fold 2), other names after them."""
    try:
        return 0, float(fold), fold
    except ValueError:
        return 1, 0.0, fold


def _fold_arrays(by_epoch: dict[float, tuple[float, float]]) -> dict[str, np.ndarray]:
    epochs = sorted(by_epoch)
    return {
        "epoch": np.array(epochs),
        "train_loss": np.array([by_epoch[e][0] for e in epochs]),
        "val_challenge": np.array([by_epoch[e][1] for e in epochs]),
    }


def training_figure(csv_path: PathLike) -> Figure:
    """Training loss and validation Challenge metric per epoch, one line per fold, in two panels."""
    folds = read_training_log(csv_path)
    figure = new_figure(11, 4)
    loss_ax, score_ax = figure.subplots(1, 2)
    for fold, series in folds.items():
        loss_ax.plot(series["epoch"], series["train_loss"], marker="o", markersize=3, label=f"fold {fold}")
        score_ax.plot(series["epoch"], series["val_challenge"], marker="o", markersize=3, label=f"fold {fold}")
    for ax, title in ((loss_ax, "Training loss"), (score_ax, "Validation Challenge metric")):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    score_ax.legend(fontsize=8, loc="lower right")
    return figure


# Writing files.
def plot_training_log(csv_path: PathLike, png_path: PathLike) -> Path:
    """Draw a model folder's ``training_log.csv`` (see :func:`training_figure`) as a PNG file; return its path."""
    png_path = Path(png_path)
    write_bytes_atomic(png_path, png_bytes(training_figure(csv_path)))
    return png_path


# The HTML page.
_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222;
       max-width: 1250px; margin: 2em auto; padding: 0 1em; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.25em; margin-top: 2em;
     border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.7em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f5f7; } tr:nth-child(even) td { background: #fafbfc; }
figure { margin: 1em 0; } img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption, .note { color: #555; font-size: 0.9em; }
"""


def _escape(value: object) -> str:
    return html.escape(str(value), quote=True)


def _table(table_id: str, header: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1) -> str:
    """An HTML table; cells from column ``numeric_from`` on are right-aligned numbers."""
    head = "".join(f"<th>{_escape(cell)}</th>" for cell in header)
    body = []
    for row in rows:
        cells = [
            f'<td class="num">{_escape(cell)}</td>' if i >= numeric_from else f"<td>{_escape(cell)}</td>"
            for i, cell in enumerate(row)
        ]
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f'<table id="{_escape(table_id)}">\n<tr>{head}</tr>\n' + "\n".join(body) + "\n</table>"


def _figure_html(name: str, png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure id="{_escape(name)}"><img src="data:image/png;base64,{data}" alt="{_escape(caption)}">'
        f"<figcaption>{_escape(caption)} ({_escape(name)})</figcaption></figure>"
    )


def _overall_html(scores: metric.Scores) -> str:
    rows = [
        ("Challenge metric", format_score(scores.challenge_metric)),
        ("AUROC", format_score(scores.auroc)),
        ("AUPRC", format_score(scores.auprc)),
        ("Accuracy", format_score(scores.accuracy)),
        ("F-measure", format_score(scores.f_measure)),
        ("Records", str(scores.num_records)),
    ]
    return _table("overall", ("Score", "Value"), rows)


def _classes_html(evaluation: Evaluation) -> str:
    s = evaluation.scores
    rows = [
        (c.abbreviation, c.name, c.label, str(int(n)), format_score(auroc), format_score(auprc), format_score(f))
        for c, n, auroc, auprc, f in zip(
            evaluation.table.classes, s.class_positives, s.class_auroc, s.class_auprc, s.class_f_measure
        )
    ]
    header = ("Class", "Name", "SNOMED CT code(s)", "Positives", "AUROC", "AUPRC", "F-measure")
    return _table("classes", header, rows, numeric_from=3)


def _groups_html(table_id: str, what: str, groups: list[tuple[str, metric.Scores]]) -> str:
    """A table of scores per group, or one line when every record is in the same group."""
    if len(groups) == 1:
        only = _escape(groups[0][0])
        return f'<p class="note" id="{_escape(table_id)}">Every record has the same {what}: {only}.</p>'
    rows = [
        (name, str(s.num_records), format_score(s.challenge_metric), format_score(s.auroc), format_score(s.f_measure))
        for name, s in groups
    ]
    return _table(table_id, (what.capitalize(), "Records", "Challenge metric", "AUROC", "F-measure"), rows)


def _summary_html(summary_path: Path) -> str:
    """The out-of-fold scores of a model folder's ``summary.json``, one row per lead set."""
    summary = json.loads(summary_path.read_text())
    out_of_fold = summary.get("out_of_fold", {}) if isinstance(summary, dict) else {}
    keys = ("records", "challenge_metric", "auroc", "auprc", "f_measure", "accuracy")
    rows = []
    for name, values in out_of_fold.items():
        cells = [values.get(key) if isinstance(values, dict) else None for key in keys]
        shown = [str(cells[0]) if cells[0] is not None else "n/a"]
        shown += [format_score(float(v)) if isinstance(v, (int, float)) else "n/a" for v in cells[1:]]
        rows.append((lead_set_label(name.split(",")), *shown))
    header = ("Lead set", "Records", "Challenge metric", "AUROC", "AUPRC", "F-measure", "Accuracy")
    validation = summary.get("validation", "n/a") if isinstance(summary, dict) else "n/a"
    intro = f'<p class="note">Out-of-fold scores of the trained model (validation: {_escape(validation)}).</p>'
    return intro + _table("out-of-fold", header, rows)


def _selective_html(section: SelectiveSection | str, figures: dict[str, bytes]) -> str:
    """The selective-prediction section: the figure and the table, or the line saying why there is none."""
    parts = ["<h2>Selective prediction</h2>"]
    if isinstance(section, str):
        return "\n".join([*parts, f'<p class="note" id="selective">{_escape(section)}</p>'])
    curve, point = section.curve, section.unflagged
    parts.append(
        '<p class="note">Records deferred to a reader, most uncertain first (details.csv: the largest over classes '
        "of a decision's uncertainty over its distance from the threshold), scored on the records kept with the "
        "outputs' own labels; accuracy is the share of records whose whole label set is right. The Challenge "
        "metric does not reward keeping records labelled and called sinus rhythm alone (each adds the same to "
        "the observed, correct and sinus-only scores), so it can stay flat or fall while accuracy rises. Random: "
        f"the mean (standard deviation) over {RANDOM_ORDERS} seeded random orders. {section.with_details} of "
        f"{curve.total} scored records have a details row; those without one are deferred last. "
        f"{section.flagged} records are flagged for review.</p>")
    parts.append(_figure_html(SELECTIVE_FIGURE, figures[SELECTIVE_FIGURE], _CAPTIONS[SELECTIVE_FIGURE]))

    def cells(values: np.ndarray, mean: np.ndarray, std: np.ndarray) -> list[str]:
        return [text for k in range(len(SELECTIVE_SCORES))
                for text in (format_score(values[k]), f"{format_score(mean[k])} ({format_score(std[k])})")]

    rows = []
    for share in TABLE_SHARES:
        i = int(np.flatnonzero(curve.kept == max(1, round(share * curve.total)))[0])
        rows.append((f"{100 * share:.0f} %", str(curve.kept[i]),
                     *cells(curve.scores[i], curve.random_mean[i], curve.random_std[i])))
    if point.kept[0]:
        rows.append((f"not flagged for review ({100 * point.kept[0] / point.total:.0f} %)", str(point.kept[0]),
                     *cells(point.scores[0], point.random_mean[0], point.random_std[0])))
    header = ("Records kept", "Number", *(f"{name}, {how}" for name in SELECTIVE_SCORES
                                          for how in ("most uncertain deferred first", "deferred at random")))
    parts.append(_table("selective", header, rows))
    return "\n".join(parts)


def _model_html(model_dir: Path, figures: dict[str, bytes]) -> str:
    """The training section: the training curves (already in ``figures``) and the out-of-fold scores."""
    parts = [f"<h2>Training</h2>\n<p>Model folder: <code>{_escape(model_dir)}</code></p>"]
    if TRAINING_FIGURE in figures:
        caption = "Training loss and validation Challenge metric per epoch, one line per fold"
        parts.append(_figure_html(TRAINING_FIGURE, figures[TRAINING_FIGURE], caption))
    else:
        parts.append('<p class="note">The model folder has no training_log.csv.</p>')
    summary = model_dir / "summary.json"
    parts.append(_summary_html(summary) if summary.is_file() else '<p class="note">No summary.json.</p>')
    return "\n".join(parts)


_CAPTIONS = {
    "class_scores.png": "AUROC, AUPRC and F-measure per class; positives in brackets",
    "roc_curves.png": "ROC curves, one panel per class",
    "pr_curves.png": "Precision-recall curves, one panel per class",
    "confusion.png": "Modified confusion matrix of the Challenge metric: rows labelled classes, columns outputs",
    "reliability.png": "Reliability: observed frequency of positives against the mean probability, in ten bins",
    SELECTIVE_FIGURE: "Challenge metric and accuracy of the records kept against their share, the most uncertain "
                      "deferred first",
}


def render_html(
    evaluation: Evaluation,
    figures: dict[str, bytes],
    label_dir: PathLike,
    output_dir: PathLike,
    model_dir: PathLike | None = None,
    selective: SelectiveSection | str | None = None,
    before: np.ndarray | None = None,
) -> str:
    """The whole page. ``figures``: PNG bytes by file name, :data:`FIGURE_FILES` and, when the model folder
    has a training log, :data:`TRAINING_FIGURE` (with a :class:`SelectiveSection`, :data:`SELECTIVE_FIGURE`);
    ``model_dir`` adds the training section; ``selective`` the selective-prediction section (a text: the line
    saying why there is none); ``before`` the probabilities before calibration, for the calibration note."""
    s = evaluation.scores
    figure = {name: _figure_html(name, figures[name], _CAPTIONS[name]) for name in FIGURE_FILES}
    body = [
        "<h1>ECG classification report</h1>",
        f'<p class="note">Labels: <code>{_escape(label_dir)}</code> &middot; outputs: <code>{_escape(output_dir)}'
        f"</code> &middot; {s.num_records} records, {len(s.class_labels)} classes. Scores of the PhysioNet/CinC "
        "Challenge 2021 (ecgnet.metric).</p>",
        "<h2>Overall scores</h2>", _overall_html(s),
        "<h2>Scores per class</h2>", figure["class_scores.png"], _classes_html(evaluation),
        "<h2>ROC curves</h2>", figure["roc_curves.png"],
        "<h2>Precision-recall curves</h2>", figure["pr_curves.png"],
        "<h2>Modified confusion matrix</h2>",
        '<p class="note">Each record adds 1/n to every pair (labelled class, output class) it holds, n being the '
        "number of classes in its labels or outputs; the Challenge metric weighs these cells.</p>",
        figure["confusion.png"],
        "<h2>Calibration</h2>",
        _calibration_note(evaluation, before),
        figure["reliability.png"],
        "" if selective is None else _selective_html(selective, figures),
        _groups_section(evaluation),
        "" if model_dir is None else _model_html(Path(model_dir), figures),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>ECG classification report</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(part for part in body if part)
        + "\n</body>\n</html>\n"
    )


def _calibration_note(evaluation: Evaluation, before: np.ndarray | None) -> str:
    ece = expected_calibration_error(evaluation.labels, evaluation.scalars)
    text = f"Expected calibration error over every (record, class) pair: {ece:.4f}."
    if before is not None:
        text += (f" Before the model's calibration: {expected_calibration_error(evaluation.labels, before):.4f} "
                 "(its Platt map of each record's lead set inverted on the outputs' probabilities; the map changes "
                 "no ranking and no decision).")
    return f'<p class="note">{_escape(text)}</p>'


def _groups_section(evaluation: Evaluation) -> str:
    return "\n".join([
        "<h2>By source</h2>", _groups_html("sources", "source", source_groups(evaluation)),
        "<h2>By lead set</h2>", _groups_html("lead-sets", "lead set", lead_set_groups(evaluation)),
    ])


def _figures(evaluation: Evaluation, before: np.ndarray | None = None) -> dict[str, bytes]:
    curves = class_curves(evaluation)
    return {
        "class_scores.png": png_bytes(class_scores_figure(evaluation.scores)),
        "roc_curves.png": png_bytes(roc_figure(evaluation, curves)),
        "pr_curves.png": png_bytes(pr_figure(evaluation, curves)),
        "confusion.png": png_bytes(confusion_figure(evaluation)),
        "reliability.png": png_bytes(reliability_figure(evaluation, before)),
    }


def build_report(
    label_dir: PathLike,
    output_dir: PathLike,
    out_dir: PathLike,
    model_dir: PathLike | None = None,
    weights_file: PathLike | None = None,
) -> Path:
    """Write ``out_dir/index.html`` and its PNG figures; return the path of ``index.html``.

    ``model_dir`` adds the model folder's training curves and out-of-fold scores, and its calibration undone
    beside the outputs. Everything is computed before anything is written, and ``index.html`` is written
    last, so a failed run leaves no new page.
    """
    evaluation = load_evaluation(label_dir, output_dir, weights_file)
    before = None
    if model_dir is not None:
        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise FileNotFoundError(f"{model_dir}: model folder is missing or not a folder")
        before = uncalibrated_scalars(evaluation, model_dir)
    figures = _figures(evaluation, before)
    if model_dir is not None:
        log = model_dir / "training_log.csv"
        if log.is_file():
            figures[TRAINING_FIGURE] = png_bytes(training_figure(log))
    selective = selective_section(evaluation, output_dir)
    if isinstance(selective, SelectiveSection):
        figures[SELECTIVE_FIGURE] = png_bytes(selective_figure(selective))
    page = render_html(evaluation, figures, label_dir, output_dir, model_dir, selective, before)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, png in figures.items():
        write_bytes_atomic(out_dir / name, png)
    index = out_dir / "index.html"
    write_text_atomic(index, page)
    return index


# Command line.
def _report_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Write an HTML report (DIR/index.html and PNG figures) of Challenge scores. "
        f"'{PROG} curves MODEL_DIR --out DIR' draws only a model folder's training curves.",
    )
    parser.add_argument("labels", help="folder of labelled headers (.hea with a Dx line)")
    parser.add_argument("outputs", help="folder of output files, <record>.csv for each header")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for index.html and the figures")
    parser.add_argument("--model", metavar="MODEL_DIR", help="add this model folder's training curves and summary")
    parser.add_argument("--weights", metavar="FILE", help="weights table to use instead of the official one")
    return parser


def _curves_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} curves", description=f"Draw MODEL_DIR/training_log.csv as DIR/{TRAINING_FIGURE}."
    )
    parser.add_argument("model_dir", metavar="MODEL_DIR", help="model folder holding training_log.csv")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the figure")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; errors propagate to :func:`ecgnet.cli.run_command` for one-line reporting."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["curves"]:
        args = _curves_parser().parse_args(argv[1:])
        out_dir = Path(args.out)
        out_dir.mkdir(parents=True, exist_ok=True)
        print(plot_training_log(Path(args.model_dir) / "training_log.csv", out_dir / TRAINING_FIGURE))
        return 0
    args = _report_parser().parse_args(argv)
    print(build_report(args.labels, args.outputs, args.out, model_dir=args.model, weights_file=args.weights))
    return 0


if __name__ == "__main__":
    from .cli import run_command

    run_command(main, PROG)
