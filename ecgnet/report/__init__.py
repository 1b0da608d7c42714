"""Scores for people: an HTML page of figures and tables from a folder of labels and a folder of outputs.

A cardiologist or a reviewer does not read CSV files. :func:`build_report` scores the output files against
the labelled headers (every score comes from :mod:`ecgnet.metric`) and writes ``DIR/index.html`` with the
figures beside it as PNG files. Each figure is also embedded in the page as a ``data:`` URI, so that
``index.html`` alone can be mailed; the page loads nothing from elsewhere and holds no timestamp, so two runs
on the same files give the same HTML apart from the PNG bytes.

The page shows the overall scores and what each score means (a glossary); the per-class scores
(``class_scores.png`` and a table with the class names); ROC and precision-recall curves, one panel per class
that has positive records (``roc_curves.png``, ``pr_curves.png``; the other classes named in one line); the
modified confusion matrix of the Challenge metric over the classes labelled or output (``confusion.png``: the
value in each cell, coloured by its share of the row); calibration (``reliability.png``:
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

The modules, by job:

- :mod:`.analysis`: the numbers (:class:`Evaluation`, scores per group, curves, the outputs before
  calibration, selective prediction);
- :mod:`.figures`: the figures, drawn with matplotlib;
- :mod:`.training_log`: a model folder's ``training_log.csv``, read and drawn;
- :mod:`.model_folder`: everything else read from a model folder (``model.json``, ``summary.json``);
- :mod:`.page`: the HTML page and :func:`build_report`.

Nothing here imports torch: a report never loads the networks. The command line is ``ecgnet report``
(:mod:`ecgnet.commands.report`); ``evaluate_model.py LABELS OUTPUTS --report DIR`` writes the same report.
"""

from .analysis import (
    KEPT_SHARES,
    RANDOM_ORDERS,
    SELECTIVE_SCORES,
    TABLE_SHARES,
    ConfusionCells,
    Curve,
    Evaluation,
    Panels,
    Selective,
    SelectiveSection,
    cell_text,
    class_curve,
    class_curves,
    confusion_cells,
    curve_panels,
    deferral_order,
    group_scores,
    lead_set_groups,
    lead_set_label,
    load_evaluation,
    selective_curve,
    selective_scores,
    selective_section,
    source_groups,
    uncalibrated_scalars,
)
from .figures import (
    DPI,
    FIGURE_FILES,
    SELECTIVE_FIGURE,
    class_scores_figure,
    confusion_figure,
    format_score,
    new_figure,
    png_bytes,
    pr_figure,
    reliability_figure,
    reliability_panel,
    report_figures,
    roc_figure,
    selective_figure,
)
from .page import build_report, render_html
from .training_log import LOG_COLUMNS, TRAINING_FIGURE, plot_training_log, read_training_log, training_figure

__all__ = [
    "DPI", "FIGURE_FILES", "KEPT_SHARES", "LOG_COLUMNS", "RANDOM_ORDERS", "SELECTIVE_FIGURE", "SELECTIVE_SCORES",
    "TABLE_SHARES", "TRAINING_FIGURE", "ConfusionCells", "Curve", "Evaluation", "Panels", "Selective",
    "SelectiveSection", "build_report", "cell_text", "class_curve", "class_curves", "class_scores_figure",
    "confusion_cells", "confusion_figure", "curve_panels", "deferral_order", "format_score",
    "group_scores", "lead_set_groups", "lead_set_label", "load_evaluation", "new_figure", "plot_training_log",
    "png_bytes", "pr_figure", "read_training_log", "reliability_figure", "reliability_panel", "render_html",
    "report_figures", "roc_figure", "selective_curve", "selective_figure", "selective_scores", "selective_section",
    "source_groups", "training_figure", "uncalibrated_scalars",
]
