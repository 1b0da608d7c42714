"""The report's HTML page (:func:`render_html`) and the whole report written to a folder
(:func:`build_report`).
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .. import metric
from ..calibration import expected_calibration_error
from ..files import write_bytes_atomic, write_text_atomic
from .analysis import (
    RANDOM_ORDERS,
    SELECTIVE_SCORES,
    TABLE_SHARES,
    Evaluation,
    SelectiveSection,
    class_curves,
    confusion_cells,
    curve_panels,
    lead_set_groups,
    lead_set_label,
    load_evaluation,
    selective_section,
    source_groups,
    uncalibrated_scalars,
)
from .figures import FIGURE_FILES, SELECTIVE_FIGURE, format_score, png_bytes, report_figures, selective_figure
from .model_folder import Summary, read_summary, training_log_path
from .training_log import TRAINING_FIGURE, training_figure

PathLike = str | os.PathLike


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


#: What each score of the page means, for a reader who has not met it (:func:`_glossary_html`).
GLOSSARY = (
    ("Challenge metric", "The score of the PhysioNet/CinC Challenge 2021, its main one. Every pair (labelled "
     "class, output class) of a record earns a weight from weights.csv: 1 when the two are the same class, 0.5 "
     "for some pairs of related classes (atrial fibrillation called atrial flutter, for example), 0 otherwise "
     "(the modified confusion matrix below holds these pairs). The sum over records is scaled so that 1 means "
     "every record labelled exactly right and 0 means as good as calling every record normal sinus rhythm "
     "alone; below 0 is worse than that."),
    ("AUROC", "Area under the ROC curve, per class, then averaged over the classes (those with positive and "
     "negative records). The chance that a record with the class gets a higher probability for it than a record "
     "without it: 0.5 is guessing, 1 is perfect. It reads the probabilities only, not the yes/no decisions."),
    ("AUPRC", "Area under the precision-recall curve, per class, then averaged: how many of the records called "
     "positive are right (precision) as more and more of the class's records are found (recall). Guessing scores "
     "the class's share of the records, so a rare class scores low even for a good model."),
    ("F-measure", "Per class, 2 TP / (2 TP + FP + FN) of the yes/no decisions (TP: right calls of the class, FP: "
     "calls where the record does not have it, FN: missed records), then averaged over the classes. 1 is "
     "perfect; it depends on the thresholds that turn probabilities into decisions."),
    ("Accuracy", "The share of records whose whole set of decisions is right: every one of the classes called "
     "yes or no correctly. Strict: one wrong class makes the record wrong."),
    ("ECE", "Expected calibration error: how far the probabilities are from the frequencies they claim. Every "
     "(record, class) probability goes into one of ten bins (0-0.1, ..., 0.9-1); in each bin, the gap between "
     "the mean probability and the share of those entries that really have the class; the gaps are averaged, "
     "each weighed by its bin's entries. 0 is perfect: a probability of 0.3 comes true 30 % of the time."),
    ("Expected on new records", "In the training section: the Challenge metric measured on the training records "
     "left out of each fold, with each fold's decisions taken by thresholds tuned on the other folds only, so "
     "that no record is scored with thresholds it helped choose; with its 95 % bootstrap interval. A fairer "
     "guess at unseen records from the same hospitals than the out-of-fold score beside it, which reuses the "
     "records it tuned on; it cannot see a hospital that training never saw."),
    ("Positives", "The records labelled with the class. Scores of a class with few positives are rough."),
)


def _glossary_html() -> str:
    return ('<details open><summary>What the scores mean</summary>\n'
            + _table("glossary", ("Score", "What it means"), GLOSSARY, numeric_from=2) + "\n</details>")


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


def _summary_html(summary: Summary) -> str:
    """The out-of-fold scores of a model folder's ``summary.json``, one row per lead set."""
    keys = ("records", "challenge_metric", "auroc", "auprc", "f_measure", "accuracy")
    rows = []
    for name, values in summary.out_of_fold:
        cells = [values.get(key) for key in keys]
        shown = [str(cells[0]) if cells[0] is not None else "n/a"]
        shown += [format_score(float(v)) if isinstance(v, (int, float)) else "n/a" for v in cells[1:]]
        rows.append((lead_set_label(name.split(",")), *shown, _expected_cell(summary.expected.get(name, {}))))
    header = ("Lead set", "Records", "Challenge metric", "AUROC", "AUPRC", "F-measure", "Accuracy",
              "Expected on new records [95 %]")
    intro = (f'<p class="note">Out-of-fold scores of the trained model (validation: {_escape(summary.validation)}), '
             "with thresholds tuned on those same records; and the Challenge metric to expect on new records, "
             "each fold decided by thresholds tuned on the other folds, with its bootstrap interval.</p>")
    return intro + _table("out-of-fold", header, rows)


def _expected_cell(entry: dict) -> str:
    """``0.480 [0.440, 0.520]``, or n/a for a summary without the expected score."""
    value, interval = entry.get("challenge_metric"), entry.get("challenge_metric_interval")
    if not isinstance(value, (int, float)) or not isinstance(interval, list) or len(interval) != 2:
        return "n/a"
    return f"{format_score(float(value))} [{format_score(float(interval[0]))}, {format_score(float(interval[1]))}]"


def _selective_html(section: SelectiveSection | str, figures: dict[str, bytes]) -> str:
    """The selective-prediction section: the figure and the table, or the line saying why there is none."""
    parts = ["<h2>Selective prediction</h2>"]
    if isinstance(section, str):
        return "\n".join([*parts, f'<p class="note" id="selective">{_escape(section)}</p>'])
    curve, point = section.curve, section.unflagged
    parts.append(
        '<p class="note">What is the model worth if it hands the records it is least sure of to a cardiologist? '
        "Records are set aside (deferred) one at a time, the least sure first, and the records kept are scored "
        "again. How sure the model is of a record is the uncertainty column of details.csv: for each class, how "
        "far its probability could move (the spread between the ensemble's networks and between the record's windows) "
        "divided by its distance from the class's threshold; the record's uncertainty is the largest of these, "
        "and from 1 on a decision could flip, which flags the record for review. Accuracy (the share of records "
        "with every class right) should rise as the unsure records go. The Challenge metric need not: a record "
        "labelled and called sinus rhythm alone earns it nothing, so keeping such easy records does not raise "
        "it, and it can stay flat or fall. The dashed line sets aside as many records at random (the mean over "
        f"{RANDOM_ORDERS} random orders; shaded: one standard deviation): the gap between the two lines is what "
        f"the uncertainty is worth. {section.with_details} of {curve.total} scored records have a details row; "
        f"those without one are set aside last. {section.flagged} records are flagged for review; the star marks "
        "the records that are not.</p>")
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
    summary = read_summary(model_dir)
    parts.append(_summary_html(summary) if summary is not None else '<p class="note">No summary.json.</p>')
    return "\n".join(parts)


_CAPTIONS = {
    "class_scores.png": "AUROC, AUPRC and F-measure per class; positives in brackets",
    "roc_curves.png": "ROC curves, one panel per class with positive and negative records",
    "pr_curves.png": "Precision-recall curves, one panel per class with positive records",
    "confusion.png": "Modified confusion matrix of the Challenge metric: rows labelled classes, columns outputs, "
                     "the sum in each cell, coloured by its share of the row",
    "reliability.png": "Reliability: the share of (record, class) pairs that have the class against their mean "
                       "probability, in ten bins",
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
    curves = class_curves(evaluation)
    roc = curve_panels(curves, s.class_abbreviations, "roc")
    pr = curve_panels(curves, s.class_abbreviations, "pr")
    body = [
        "<h1>ECG classification report</h1>",
        f'<p class="note">Labels: <code>{_escape(label_dir)}</code> &middot; outputs: <code>{_escape(output_dir)}'
        f"</code> &middot; {s.num_records} records, {len(s.class_labels)} classes. Scores of the PhysioNet/CinC "
        "Challenge 2021 (ecgnet.metric).</p>",
        "<h2>Overall scores</h2>", _overall_html(s), _glossary_html(),
        "<h2>Scores per class</h2>", figure["class_scores.png"], _classes_html(evaluation),
        "<h2>ROC curves</h2>", _folded_html("roc-left-out", roc.folded), figure["roc_curves.png"],
        "<h2>Precision-recall curves</h2>", _folded_html("pr-left-out", pr.folded), figure["pr_curves.png"],
        "<h2>Modified confusion matrix</h2>", _confusion_note(evaluation), figure["confusion.png"],
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
    text = ("A probability is calibrated when it can be taken at its word: of all the (record, class) pairs "
            "given about 30 %, about 30 % really have the class. The diagram sorts every pair into ten bins by its "
            "probability and plots, for each bin, the share of pairs that really have the class against the "
            "bin's mean probability. Points on the dotted diagonal are calibrated; points below it mean "
            "probabilities that are too high (the model is too sure), points above it too low. The bars "
            "underneath count the pairs in each bin: a bin with few pairs gives a rough point. The expected "
            f"calibration error (ECE) sums the gaps up, 0 being perfect: here {ece:.4f}.")
    if before is not None:
        text += (f" Before the model's calibration it was {expected_calibration_error(evaluation.labels, before):.4f}"
                 " (the outputs with the model's calibration map of each record's lead set undone). Calibration "
                 "changes the probabilities only: which record is more likely than which, and every yes/no "
                 "decision, stay the same.")
    return f'<p class="note">{_escape(text)}</p>'


def _folded_html(note_id: str, text: str) -> str:
    """The line naming the classes a figure of curves leaves out, or nothing."""
    return f'<p class="note" id="{_escape(note_id)}">{_escape(text)}</p>' if text else ""


def _confusion_note(evaluation: Evaluation) -> str:
    cells = confusion_cells(evaluation)
    text = ("Rows: the classes the records are labelled with; columns: the classes the model output. Each record "
            "adds 1/n to every pair (labelled class, output class) it holds, n being the number of distinct "
            "classes in its labels and outputs together; the number in a cell is that sum over the records, and "
            "the Challenge metric weighs the cells. The diagonal holds the agreements. The colour is the cell's "
            "share of its row, so that a rare class's row reads as well as a frequent one's.")
    if cells.left_out:
        text += f" Left out, neither labelled nor output in these records: {', '.join(cells.left_out)}."
    return f'<p class="note" id="confusion-note">{_escape(text)}</p>'


def _groups_section(evaluation: Evaluation) -> str:
    return "\n".join([
        "<h2>By source</h2>", _groups_html("sources", "source", source_groups(evaluation)),
        "<h2>By lead set</h2>", _groups_html("lead-sets", "lead set", lead_set_groups(evaluation)),
    ])


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
    figures = report_figures(evaluation, before)
    if model_dir is not None:
        log = training_log_path(model_dir)
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
