"""The PhysioNet/CinC Challenge 2021 scores: AUROC, AUPRC, accuracy, F-measure and the Challenge metric.

Definitions are the official 2021 evaluator's (physionetchallenges/evaluation-2021); each function's
docstring says what it computes. Every score is computed on (records, classes) arrays with numpy, without a
Python loop over records; the loops left are over the 26 classes and over the files while reading them.

Arrays: ``labels`` and ``binary`` are boolean (records, classes); ``scalars`` is float (records, classes).
Columns follow a :class:`~ecgnet.labels.ClassTable` (``weights.csv`` order).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ecgnet import outputs as _outputs
from ecgnet.discovery import find_headers
from ecgnet.labels import ClassTable, default_class_table, load_class_table
from ecgnet.records import read_labels

PathLike = str | os.PathLike

SCORE_NAMES = ("AUROC", "AUPRC", "Accuracy", "F-measure", "Challenge metric")
CLASS_SCORE_NAMES = ("AUROC", "AUPRC", "F-measure")


# Small numeric helpers.
def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` as float, NaN where the denominator is 0 (and no warning)."""
    numerator, denominator = np.broadcast_arrays(np.asarray(numerator, float), np.asarray(denominator, float))
    result = np.full(numerator.shape, np.nan)
    np.divide(numerator, denominator, out=result, where=denominator != 0)
    return result


def nan_mean(values: np.ndarray) -> float:
    """The mean of the non-NaN values, NaN if there are none (np.nanmean would warn in that case)."""
    values = np.asarray(values, dtype=np.float64)
    kept = values[~np.isnan(values)]
    return float(kept.mean()) if kept.size else float("nan")


def _check_pair(labels: Any, other: Any, other_dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays as 2-D arrays of the same shape, labels boolean."""
    labels = np.asarray(labels, dtype=bool)
    other = np.asarray(other, dtype=other_dtype)
    if labels.ndim != 2 or labels.shape != other.shape:
        raise ValueError(f"labels {labels.shape} and outputs {other.shape} must be 2-D of the same shape")
    return labels, other


# AUROC and AUPRC.
def _class_auc(labels: np.ndarray, scalars: np.ndarray) -> tuple[float, float]:
    """AUROC and AUPRC of one class (1-D labels and outputs of at least one record)."""
    order = np.argsort(-scalars)  # descending; the order within ties does not matter (see below)
    ranked = scalars[order]
    # At a threshold equal to some output value, the records called positive are the prefix of the ranked
    # list up to the last record with that value; so only the ends of runs of equal values are thresholds.
    ends = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))
    # The leading 0 is the threshold above the largest output, where nothing is called positive (any value
    # above the largest gives these counts, so the official max + 1 needs no special care).
    tp = np.append(0, np.cumsum(labels[order])[ends])
    fp = np.append(0, ends + 1) - tp
    positives = int(labels.sum())
    negatives = labels.size - positives
    tpr = _ratio(tp, positives)
    tnr = _ratio(negatives - fp, negatives)
    ppv = _ratio(tp, tp + fp)
    step = np.diff(tpr)
    # NaN propagates on purpose: a class with no positives (or, for AUROC, no negatives) scores NaN.
    auroc = float(np.sum(0.5 * step * (tnr[1:] + tnr[:-1])))
    auprc = float(np.sum(step * ppv[1:]))
    return auroc, auprc


def compute_auc(labels: Any, scalars: Any) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Macro AUROC, macro AUPRC, and per-class AUROC and AUPRC (float arrays of shape (classes,)).

    Thresholds are the distinct outputs of a class plus one above the largest, in descending order; an
    output at or above a threshold is positive. A per-class value is NaN when its rates are undefined
    (e.g. a class with no positives); macro values are the means over the classes that are not NaN.
    A non-finite output counts as 0, as it does in an output file.
    """
    labels, scalars = _check_pair(labels, scalars, np.float64)
    scalars = np.where(np.isfinite(scalars), scalars, 0.0)
    num_classes = labels.shape[1]
    auroc = np.full(num_classes, np.nan)
    auprc = np.full(num_classes, np.nan)
    if labels.shape[0]:
        # One class per row, contiguous, so each class's sort reads its outputs in order.
        for k, (truth, output) in enumerate(zip(np.ascontiguousarray(labels.T), np.ascontiguousarray(scalars.T))):
            auroc[k], auprc[k] = _class_auc(truth, output)
    return nan_mean(auroc), nan_mean(auprc), auroc, auprc


# Scores on binary outputs.
def compute_accuracy(labels: Any, binary: Any) -> float:
    """The fraction of records whose whole binary output row equals the label row (NaN for no records)."""
    labels, binary = _check_pair(labels, binary, bool)
    if not labels.shape[0]:
        return float("nan")
    return float(np.mean(np.all(labels == binary, axis=1)))


def compute_f_measure(labels: Any, binary: Any) -> tuple[float, np.ndarray]:
    """Macro F-measure and per-class 2TP / (2TP + FP + FN), NaN where the denominator is 0."""
    labels, binary = _check_pair(labels, binary, bool)
    tp = np.sum(labels & binary, axis=0)
    fp = np.sum(~labels & binary, axis=0)
    fn = np.sum(labels & ~binary, axis=0)
    per_class = _ratio(2 * tp, 2 * tp + fp + fn)
    return nan_mean(per_class), per_class


def modified_confusion_matrix(labels: Any, binary: Any) -> np.ndarray:
    """``A[j, k]``: the sum over records of 1/n for each labelled class j and output class k.

    n is the number of classes positive in the record's labels or outputs (at least 1), so a record
    adds 1 in all when it has a label and an output, whatever their number.
    """
    labels, binary = _check_pair(labels, binary, bool)
    n = np.maximum(1, np.sum(labels | binary, axis=1))
    return (labels / n[:, None]).T @ binary.astype(np.float64)


def challenge_metric(labels: Any, binary: Any, weights: np.ndarray, sinus_index: int | None) -> float:
    """The normalised Challenge metric: 1 for the labels themselves, 0 for sinus rhythm only.

    Raises ValueError when the classes have no sinus rhythm class (``sinus_index`` None). The score is
    0 when the labels score no better than sinus rhythm only (the normalisation is undefined).
    """
    labels, binary = _check_pair(labels, binary, bool)
    if sinus_index is None:
        raise ValueError("the classes have no sinus rhythm class (426783006); the Challenge metric needs it")
    weights = np.asarray(weights, dtype=np.float64)

    def score(outputs: np.ndarray) -> float:
        return float(np.sum(weights * modified_confusion_matrix(labels, outputs)))

    sinus_only = np.zeros_like(labels)
    sinus_only[:, sinus_index] = True
    observed, correct, inactive = score(binary), score(labels), score(sinus_only)
    if correct == inactive:
        return 0.0
    return (observed - inactive) / (correct - inactive)


# All scores together.
@dataclass(frozen=True, eq=False)
class Scores:
    """The five Challenge scores (full precision) and the per-class scores behind the macro values."""

    auroc: float
    auprc: float
    accuracy: float
    f_measure: float
    challenge_metric: float
    class_labels: tuple[str, ...]
    class_abbreviations: tuple[str, ...]
    class_auroc: np.ndarray
    class_auprc: np.ndarray
    class_f_measure: np.ndarray
    class_positives: np.ndarray
    num_records: int
    #: (file, reason) for each file of the label folder that was not read (ecgnet.discovery.find_headers).
    skipped: tuple[tuple[str, str], ...] = ()

    @property
    def macro(self) -> tuple[float, float, float, float, float]:
        """The five scores in ``scores.csv`` order (:data:`SCORE_NAMES`)."""
        return self.auroc, self.auprc, self.accuracy, self.f_measure, self.challenge_metric

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON-ready values; NaN becomes None (strict JSON has no NaN)."""
        return {
            "num_records": self.num_records,
            "scores": {name: _plain(value) for name, value in zip(SCORE_NAMES, self.macro)},
            "classes": [
                {
                    "class": label,
                    "abbreviation": abbreviation,
                    "positives": int(positives),
                    "AUROC": _plain(auroc),
                    "AUPRC": _plain(auprc),
                    "F-measure": _plain(f_measure),
                }
                for label, abbreviation, positives, auroc, auprc, f_measure in zip(
                    self.class_labels,
                    self.class_abbreviations,
                    self.class_positives,
                    self.class_auroc,
                    self.class_auprc,
                    self.class_f_measure,
                )
            ],
        }


def _plain(value: float) -> float | None:
    value = float(value)
    return None if np.isnan(value) else value


def evaluate(labels: Any, binary: Any, scalars: Any, table: ClassTable | None = None) -> Scores:
    """Every score of outputs against labels, columns in the order of ``table`` (default: the official)."""
    table = default_class_table() if table is None else table
    labels, binary = _check_pair(labels, binary, bool)
    if labels.shape[1] != len(table) or np.shape(scalars) != labels.shape:
        raise ValueError(f"arrays {labels.shape}, {np.shape(scalars)} do not match {len(table)} classes")
    auroc, auprc, class_auroc, class_auprc = compute_auc(labels, scalars)
    f_measure, class_f_measure = compute_f_measure(labels, binary)
    return Scores(
        auroc=auroc,
        auprc=auprc,
        accuracy=compute_accuracy(labels, binary),
        f_measure=f_measure,
        challenge_metric=challenge_metric(labels, binary, table.weights, table.sinus_rhythm_index),
        class_labels=tuple(table.labels),
        class_abbreviations=tuple(table.abbreviations),
        class_auroc=class_auroc,
        class_auprc=class_auprc,
        class_f_measure=class_f_measure,
        class_positives=labels.sum(axis=0),
        num_records=labels.shape[0],
    )


SUMMARY_SCORES = ("challenge_metric", "auroc", "auprc", "f_measure", "accuracy")


def summary_scores(labels: np.ndarray, probabilities: np.ndarray, thresholds: np.ndarray,
                   table: ClassTable | None = None) -> dict[str, float]:
    """The five overall scores (:data:`SUMMARY_SCORES`) of ``probabilities >= thresholds``, by name."""
    scores = evaluate(labels, probabilities >= thresholds, probabilities, table)
    return {name: getattr(scores, name) for name in SUMMARY_SCORES}


# Reading labels and outputs.
def load_labels(header_files: Sequence[PathLike], table: ClassTable | None = None) -> np.ndarray:
    """Boolean (records, classes): the scored classes of each header's ``Dx`` lines (read alone).

    Raises :class:`~ecgnet.records.RecordError` naming the file when a header cannot be read.
    """
    table = default_class_table() if table is None else table
    return table.encode_many([read_labels(path) for path in header_files])


def load_outputs(output_files: Sequence[PathLike], table: ClassTable | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Binary (bool) and scalar (float) outputs, (records, classes), from Challenge output files, read as the
    official evaluator reads them (:mod:`ecgnet.outputs`).

    Columns may come in any order, repeat, list equivalent codes separately or together (``a|b``): a class
    is positive when any of its columns is, and its scalar is the mean of its columns'. Classes a file does
    not mention are negative with scalar 0; unscored codes are ignored, and so are entries beyond the class
    line. Raises FileNotFoundError naming a missing file, ValueError naming a file of fewer than four lines
    or whose labels or probabilities stop before a scored column (where the official evaluator crashes).
    """
    table = default_class_table() if table is None else table
    # Every file's columns and entries go into flat lists; the columns are matched to classes once, at the end.
    counts: list[int] = []
    names: list[str] = []
    binary: list[str] = []
    scalar: list[str] = []
    for path in output_files:
        _, classes, binary_entries, scalar_entries = _outputs.read_outputs(path)
        n = len(classes)
        if min(len(binary_entries), len(scalar_entries)) < n:
            binary_entries, scalar_entries = _padded(path, classes, binary_entries, scalar_entries, table)
        counts.append(n)
        names += classes
        binary += binary_entries[:n]
        scalar += scalar_entries[:n]
    rows, columns, entries = _scored_entries(np.repeat(np.arange(len(counts)), counts), names, table)
    # Entries repeat (0, 1, a few probabilities): each distinct text is judged once.
    values = _judged(map(scalar.__getitem__, entries), _outputs.to_probability)
    positive = _judged(map(binary.__getitem__, entries), _outputs.is_positive)
    return _aggregate(len(output_files), len(table), rows, columns, positive, values)


def _judged(entries: Iterable[str], judge: Callable[[str], Any]) -> list[Any]:
    """``judge`` of each entry, computed once per distinct text."""
    memo: dict[str, Any] = {}
    return [memo[e] if e in memo else memo.setdefault(e, judge(e)) for e in entries]


def _padded(path: PathLike, classes: tuple[str, ...], binary: tuple[str, ...], scalar: tuple[str, ...],
            table: ClassTable) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The entries of a file whose labels or probabilities stop early, padded for the unscored columns they miss;
    ValueError naming the file when a scored column has no entry (the official evaluator crashes there)."""
    scored = [k for k, entry in enumerate(classes) if table.column_classes(entry)]
    if scored and scored[-1] >= min(len(binary), len(scalar)):
        raise ValueError(f"{path}: {len(classes)} classes but {len(binary)} labels and {len(scalar)} probabilities")
    return binary + ("",) * (len(classes) - len(binary)), scalar + ("",) * (len(classes) - len(scalar))


def _scored_entries(rows: np.ndarray, names: list[str], table: ClassTable) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(row, class, entry index) of every entry whose column names a scored class: one per class it names."""
    # Each distinct column name is looked up once: its class, or -1 for none or for several.
    single = {name: (found[0] if len(found := table.column_classes(name)) == 1 else -1) for name in set(names)}
    first = np.fromiter(map(single.__getitem__, names), dtype=np.int64, count=len(names))
    entries = np.flatnonzero(first >= 0)
    rows_out, columns_out = [rows[entries]], [first[entries]]
    several = [i for i in np.flatnonzero(first < 0).tolist() if table.column_classes(names[i])]  # a|b of two classes
    extra = [(i, j) for i in several for j in table.column_classes(names[i])]
    if extra:
        indices = np.array([i for i, _ in extra], dtype=np.int64)
        rows_out.append(rows[indices])
        columns_out.append(np.array([j for _, j in extra], dtype=np.int64))
        entries = np.concatenate([entries, indices])
    return np.concatenate(rows_out), np.concatenate(columns_out), entries.tolist()


def _aggregate(num_records: int, num_classes: int, rows: np.ndarray, columns: np.ndarray, positive: list[bool],
               values: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Merge the entries of every file into (records, classes) arrays: any positive, mean scalar."""
    cell = np.asarray(rows, dtype=np.int64) * num_classes + np.asarray(columns, dtype=np.int64)
    size = num_records * num_classes
    count = np.bincount(cell, minlength=size)
    hits = np.bincount(cell, weights=np.asarray(positive, dtype=np.float64), minlength=size)
    total = np.bincount(cell, weights=np.asarray(values, dtype=np.float64), minlength=size)
    scalars = np.zeros(size)
    np.divide(total, count, out=scalars, where=count > 0)
    shape = (num_records, num_classes)
    return (hits > 0).reshape(shape), scalars.reshape(shape)


def _output_listing(output_dir: PathLike) -> set[str]:
    """The names in ``output_dir`` (one listing instead of a stat per record); FileNotFoundError naming it."""
    try:
        return set(os.listdir(output_dir))
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError(f"{output_dir}: output folder is missing or not a folder") from None


def _output_name(header_file: PathLike) -> str:
    return os.path.splitext(os.path.basename(header_file))[0] + ".csv"


def output_files_for(header_files: Sequence[PathLike], output_dir: PathLike) -> list[str]:
    """``output_dir/<header stem>.csv`` for each header; FileNotFoundError naming the first missing one."""
    output_dir = str(output_dir)
    present = _output_listing(output_dir)
    names = [_output_name(path) for path in header_files]
    missing = [(name, header) for name, header in zip(names, header_files) if name not in present]
    if missing:
        more = f" ({len(missing) - 1} more missing)" if len(missing) > 1 else ""
        name, header = missing[0]
        raise FileNotFoundError(f"{os.path.join(output_dir, name)}: output file is missing for label file "
                                f"{header}{more}")
    return [os.path.join(output_dir, name) for name in names]


def label_files(label_dir: PathLike) -> list[Path]:
    """The header files of ``label_dir`` and below (:func:`ecgnet.discovery.find_headers`); ValueError naming
    the folder when it has none."""
    return _label_files(label_dir)[0]


def _label_files(label_dir: PathLike) -> tuple[list[Path], list[tuple[str, str]]]:
    """:func:`label_files`, and (file, reason) for each file that is not read."""
    headers, skipped = find_headers(label_dir)
    if not headers:
        raise ValueError(f"{label_dir}: no header (.hea) files to evaluate")
    return headers, skipped


def evaluate_folders(label_dir: PathLike, output_dir: PathLike, weights_file: PathLike | None = None) -> Scores:
    """Scores of the outputs in ``output_dir`` against every header (``.hea``) in ``label_dir``.

    ``weights_file`` replaces the official class table. Raises an error naming the file or folder when
    a folder is missing or empty, an output file is missing, or a file cannot be read.
    """
    return read_folders(label_dir, [output_dir], weights_file).scores()


@dataclass(frozen=True, eq=False)
class FolderArrays:
    """The aligned arrays behind the scores of output folders: one row per record scored, columns of ``table``.

    For what needs more than the five scores (the bootstrap, comparisons of two folders)."""

    table: ClassTable
    header_files: tuple[Path, ...]
    labels: np.ndarray
    #: (binary, scalars) of each output folder, in the order given.
    outputs: tuple[tuple[np.ndarray, np.ndarray], ...]
    #: (file, reason) for each file of the label folder that was not read.
    skipped: tuple[tuple[str, str], ...] = ()
    #: For each output folder, the header files left out because that folder has no output for them (only
    #: with ``common=True``; each is left out of every folder).
    left_out: tuple[tuple[Path, ...], ...] = ()

    def scores(self, folder: int = 0) -> Scores:
        """The scores of one output folder, as :func:`evaluate_folders` gives them."""
        binary, scalars = self.outputs[folder]
        return dataclasses.replace(evaluate(self.labels, binary, scalars, self.table), skipped=self.skipped)


def read_folders(label_dir: PathLike, output_dirs: Sequence[PathLike], weights_file: PathLike | None = None,
                 common: bool = False) -> FolderArrays:
    """The labels of every header in ``label_dir`` and the outputs of each of ``output_dirs``, row-aligned.

    A missing output file is an error naming it, unless ``common``: then a record is scored only if every
    folder has its output, and the others are listed in ``left_out`` (ValueError when no record is left).
    """
    table = load_class_table(weights_file)
    header_files, skipped = _label_files(label_dir)
    left_out: tuple[tuple[Path, ...], ...] = ()
    if common:
        listings = [_output_listing(folder) for folder in output_dirs]
        names = [_output_name(path) for path in header_files]
        left_out = tuple(tuple(h for h, name in zip(header_files, names) if name not in listing)
                         for listing in listings)
        header_files = [h for h, name in zip(header_files, names) if all(name in listing for listing in listings)]
        if not header_files:
            raise ValueError(f"{label_dir}: no labelled record has an output in every folder "
                             f"({', '.join(map(str, output_dirs))})")
    output_files = [output_files_for(header_files, folder) for folder in output_dirs]
    labels = load_labels(header_files, table)
    outputs = tuple(load_outputs(files, table) for files in output_files)
    return FolderArrays(table, tuple(header_files), labels, outputs, tuple(skipped), left_out)


# Text forms of the scores.
def _fixed(value: float) -> str:
    return f"{value:.3f}"


def scores_csv(scores: Scores) -> str:
    """``scores.csv``: the five score names, then their values with 3 decimals."""
    return ",".join(SCORE_NAMES) + "\n" + ",".join(map(_fixed, scores.macro)) + "\n"


def class_scores_csv(scores: Scores) -> str:
    """``class_scores.csv``: rows Classes, AUROC, AUPRC, F-measure; one column per class."""
    rows = [("Classes", scores.class_labels)]
    per_class = (scores.class_auroc, scores.class_auprc, scores.class_f_measure)
    rows += [(name, [_fixed(x) for x in values]) for name, values in zip(CLASS_SCORE_NAMES, per_class)]
    return "".join(f"{name},{','.join(values)}\n" for name, values in rows)


def _cell(value: float) -> str:
    return "n/a" if np.isnan(value) else f"{value:.3f}"


def summary_table(scores: Scores, intervals: Mapping[str, tuple[float, float]] | None = None,
                  interval_title: str = "interval") -> str:
    """A table for the terminal: the five scores, then each class's positives and scores.

    ``intervals`` (score name -> (low, high), e.g. from :mod:`ecgnet.bootstrap`) adds a column after the
    five scores, headed ``interval_title``."""
    width = max(len(name) for name in SCORE_NAMES)
    lines = [f"{scores.num_records} records, {len(scores.class_labels)} classes", ""]
    if intervals is None:
        lines += [f"{name:<{width}}  {_cell(value):>6}" for name, value in zip(SCORE_NAMES, scores.macro)]
    else:
        lines.append(f"{'':<{width}}  {'score':>6}  {interval_title}")
        lines += [f"{name:<{width}}  {_cell(value):>6}  [{_cell(intervals[name][0])}, {_cell(intervals[name][1])}]"
                  for name, value in zip(SCORE_NAMES, scores.macro)]
    name_width = max([5, *map(len, scores.class_abbreviations)])
    lines += ["", f"{'class':<{name_width}}  positives   AUROC   AUPRC  F-measure"]
    for name, positives, auroc, auprc, f_measure in zip(
        scores.class_abbreviations,
        scores.class_positives,
        scores.class_auroc,
        scores.class_auprc,
        scores.class_f_measure,
    ):
        lines.append(
            f"{name:<{name_width}}  {int(positives):>9}  {_cell(auroc):>6}  {_cell(auprc):>6}  {_cell(f_measure):>9}"
        )
    return "\n".join(lines)
