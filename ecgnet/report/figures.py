"""The report's figures, one function each, drawn with matplotlib's object interface (no global pyplot
state): scores per class, ROC and precision-recall curves, the modified confusion matrix, reliability and
selective prediction; :func:`new_figure` and :func:`png_bytes` are shared with the training curves and the
held-out benchmark.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from .. import metric
from ..calibration import expected_calibration_error, reliability
from .analysis import (
    RANDOM_ORDERS,
    SELECTIVE_SCORES,
    Curve,
    Evaluation,
    SelectiveSection,
    class_curves,
    confusion_cells,
    curve_panels,
)

DPI = 100  # small files, quick to draw; sharp enough on a laptop screen
FIGURE_FILES = ("class_scores.png", "roc_curves.png", "pr_curves.png", "confusion.png", "reliability.png")
SELECTIVE_FIGURE = "selective.png"  # only when the outputs folder has a details.csv with uncertainties
PANEL_COLUMNS = 6
NOTE_WIDTH = 160  # characters per line of the note under a grid of panels
NOTE_LINE = 0.17  # inches per line of that note


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


def _panel_grid(count: int, note: str, xlabel: str, ylabel: str, title: str) -> tuple[Figure, np.ndarray]:
    """A figure of ``count`` small square panels sharing their axes, their labels and title, and ``note``
    (wrapped) under them; unused grid cells are hidden."""
    lines = textwrap.wrap(note, NOTE_WIDTH)
    rows = max(1, -(-count // PANEL_COLUMNS))
    note_height = NOTE_LINE * len(lines) + (0.1 if lines else 0.0)  # inches under the x label
    height = 2.0 * rows + 0.95 + note_height
    # Fixed margins: constrained layout takes seconds to place 30 panels and gains nothing on a regular grid.
    figure = new_figure(12, height, constrained=False)
    figure.subplots_adjust(left=0.06, right=0.99, bottom=(0.55 + note_height) / height, top=1 - 0.55 / height,
                           wspace=0.12, hspace=0.3)
    axes = figure.subplots(rows, PANEL_COLUMNS, sharex=True, sharey=True, squeeze=False).ravel()
    for ax in axes[count:]:
        ax.set_visible(False)
    for ax in axes[:count]:
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xticks([0, 0.5, 1])  # few ticks: the labels of neighbouring panels must not touch
        ax.set_yticks([0, 0.5, 1])
        ax.tick_params(labelsize=7)
    figure.supxlabel(xlabel, fontsize=9, y=(0.08 + note_height) / height, va="bottom")
    figure.supylabel(ylabel, fontsize=9)
    figure.suptitle(title, fontsize=11)
    if lines:
        figure.text(0.01, 0.08 / height, "\n".join(lines), fontsize=8, color="0.3", va="bottom")
    return figure, axes[:count]


def roc_figure(evaluation: Evaluation, curves: Sequence[Curve]) -> Figure:
    """One ROC panel per class with positives and negatives (AUROC from the metric); the other classes named in
    one line below the panels (:func:`curve_panels`)."""
    scores = evaluation.scores
    panels = curve_panels(curves, scores.class_abbreviations, "roc")
    figure, axes = _panel_grid(len(panels.shown), panels.folded, "false positive rate (1 - specificity)",
                               "true positive rate (sensitivity)", "ROC curves per class (positives in brackets)")
    for ax, k in zip(axes, panels.shown):
        curve = curves[k]
        ax.set_title(f"{scores.class_abbreviations[k]} ({curve.positives})", fontsize=8)
        ax.plot([0, 1], [0, 1], color="0.7", linestyle="--", linewidth=0.8)
        ax.plot(curve.fpr, curve.tpr, linewidth=1.2)
        ax.text(0.95, 0.05, f"AUROC {format_score(scores.class_auroc[k])}", ha="right", fontsize=7,
                transform=ax.transAxes)
    return figure


def pr_figure(evaluation: Evaluation, curves: Sequence[Curve]) -> Figure:
    """One precision-recall panel per class with positives, drawn as the steps the metric's AUPRC sums; the
    classes without positives named in one line below the panels."""
    scores = evaluation.scores
    panels = curve_panels(curves, scores.class_abbreviations, "pr")
    figure, axes = _panel_grid(len(panels.shown), panels.folded, "recall (sensitivity)",
                               "precision (positive predictive value)",
                               "Precision-recall curves per class (positives in brackets; dashed: prevalence)")
    for ax, k in zip(axes, panels.shown):
        curve = curves[k]
        ax.set_title(f"{scores.class_abbreviations[k]} ({curve.positives})", fontsize=8)
        # Chance level: the prevalence of the class.
        ax.axhline(curve.positives / (curve.positives + curve.negatives), color="0.7", linestyle="--", linewidth=0.8)
        precision = curve.precision.copy()
        precision[0] = precision[1]  # undefined when nothing is called positive; the first step's height
        # AUPRC sums (recall[j+1] - recall[j]) * precision[j+1]: a step that rises before each new point.
        ax.plot(curve.tpr, precision, drawstyle="steps-pre", linewidth=1.2)
        ax.text(0.05, 0.05, f"AUPRC {format_score(scores.class_auprc[k])}", fontsize=7, transform=ax.transAxes)
    return figure


def confusion_figure(evaluation: Evaluation) -> Figure:
    """The modified confusion matrix of the Challenge metric over the classes labelled or output at least once:
    each cell's value printed in it, coloured by its share of the row (:func:`confusion_cells`)."""
    cells = confusion_cells(evaluation)
    size = len(cells.names)
    side = min(10.0, max(6.0, 3.0 + 0.26 * size))  # inches: a cell of 26 classes holds "0.071" at 5.5 points
    figure = new_figure(side + 1, side)
    ax = figure.subplots()
    if not size:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "No class is labelled or output in these records", ha="center", va="center")
        return figure
    image = ax.imshow(cells.shares, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    fontsize = 7 if size <= 12 else 6 if size <= 20 else 5.5
    for j, row in enumerate(cells.texts):
        for k, text in enumerate(row):
            if text:
                ax.text(k, j, text, ha="center", va="center", fontsize=fontsize,
                        color="white" if cells.shares[j, k] > 0.55 else "black")
    ticks = np.arange(size)
    ax.set_xticks(ticks, cells.names, rotation=90, fontsize=7)
    ax.set_yticks(ticks, cells.names, fontsize=7)
    ax.set_xlabel("output class")
    ax.set_ylabel("labelled class")
    ax.set_title("Modified confusion matrix of the Challenge metric\n(number: sum over records of 1/n; "
                 "colour: share of the row)", fontsize=10)
    figure.colorbar(image, ax=ax, shrink=0.8, label="share of the labelled class's row")
    if cells.left_out:
        note = f"Left out, neither labelled nor output here: {', '.join(cells.left_out)}"
        figure.supxlabel("\n".join(textwrap.wrap(note, 110)), fontsize=7, color="0.3")
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


def report_figures(evaluation: Evaluation, before: np.ndarray | None = None) -> dict[str, bytes]:
    """The figures every report has, :data:`FIGURE_FILES`, as PNG bytes by file name (``before``: see
    :func:`reliability_figure`)."""
    curves = class_curves(evaluation)
    return {
        "class_scores.png": png_bytes(class_scores_figure(evaluation.scores)),
        "roc_curves.png": png_bytes(roc_figure(evaluation, curves)),
        "pr_curves.png": png_bytes(pr_figure(evaluation, curves)),
        "confusion.png": png_bytes(confusion_figure(evaluation)),
        "reliability.png": png_bytes(reliability_figure(evaluation, before)),
    }
