"""Output files of the Challenge: four lines, ``#record``, classes, binary labels, probabilities.

Writing is atomic (a temporary file in the same folder, then a rename), so a run that is stopped never
leaves a half-written output behind. Reading is tolerant, as the official evaluator's is: a value that
is not a number is kept as text and judged by whoever interprets it.
"""

from __future__ import annotations

import csv
import fcntl
import io
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .files import write_text_atomic

TRUE_WORDS = ("True", "true", "T", "t")


def format_outputs(
    recording_id: str, classes: Sequence[str], labels: Sequence[object], probabilities: Sequence[float]
) -> str:
    """The four lines of an output file."""
    if not len(classes) == len(labels) == len(probabilities):
        raise ValueError(
            f"{recording_id}: {len(classes)} classes, {len(labels)} labels, {len(probabilities)} probabilities"
        )
    label_text = ",".join(_label_text(x) for x in labels)
    probability_text = ",".join(f"{float(p):g}" if math.isfinite(float(p)) else "nan" for p in probabilities)
    return f"#{recording_id}\n{','.join(map(str, classes))}\n{label_text}\n{probability_text}\n"


def _label_text(label: object) -> str:
    """A binary label as written: text as given, anything else ``1`` when true and ``0`` otherwise (NaN is 0)."""
    if isinstance(label, str):
        return label
    if isinstance(label, (float, np.floating)) and math.isnan(label):
        return "0"
    return str(int(bool(label)))


def save_outputs(
    path: str | os.PathLike,
    recording_id: str,
    classes: Sequence[str],
    labels: Sequence[object],
    probabilities: Sequence[float],
) -> None:
    """Write an output file atomically."""
    write_text_atomic(path, format_outputs(recording_id, classes, labels, probabilities))


def _split(line: str) -> tuple[str, ...]:
    return tuple(entry.strip() for entry in line.split(",")) if line.strip() else ()


def parse_outputs(text: str) -> tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """The id, classes, binary entries and scalar entries of an output file, each entry as written."""
    lines = text.splitlines() + [""] * 4
    recording_id = lines[0].strip().lstrip("#").strip()
    return recording_id, _split(lines[1]), _split(lines[2]), _split(lines[3])


def read_outputs(path: str | os.PathLike) -> tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """:func:`parse_outputs` of a file; raises FileNotFoundError naming the file when it is missing."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: output file is missing")
    return parse_outputs(path.read_text(errors="replace"))


def is_positive(entry: str) -> bool:
    """A binary entry is positive when it is a finite number equal to 1, or one of ``True, true, T, t``."""
    if entry in TRUE_WORDS:
        return True
    try:
        value = float(entry)
    except (TypeError, ValueError):
        return False
    return math.isfinite(value) and value == 1


def to_probability(entry: str) -> float:
    """A scalar entry as a float; a non-finite or non-numeric entry counts as 0."""
    try:
        value = float(entry)
    except (TypeError, ValueError):
        return 0.0
    return value if math.isfinite(value) else 0.0


FAILURES_FILE = "failures.csv"


def record_failures(output_dir: str | os.PathLike, data_dir: str | os.PathLike,
                    failures: Sequence[tuple[str, str]]) -> None:
    """Write ``OUTPUTS/failures.csv`` (columns file, reason: one row per record file that could not be run).

    Several runs may write to one OUTPUTS folder, at once or one after another: each keeps its rows. The
    rows of a run over ``data_dir`` replace the earlier rows for files in ``data_dir`` only, under a lock.
    """
    path = Path(output_dir) / FAILURES_FILE
    folder = os.path.realpath(data_dir)
    with open(Path(output_dir) / f".{FAILURES_FILE}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        kept = [row for row in _read_failures(path) if not _is_in(row[0], folder)]
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["file", "reason"])
        writer.writerows(kept + [(file, " ".join(reason.split())) for file, reason in failures])
        write_text_atomic(path, buffer.getvalue())


def _read_failures(path: Path) -> list[tuple[str, str]]:
    """The (file, reason) rows of an existing failures file; none when it is missing or not ours."""
    try:
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error):
        return []
    if not rows or rows[0] != ["file", "reason"]:
        return []
    return [(row[0], row[1]) for row in rows[1:] if len(row) == 2]


def _is_in(file: str, folder: str) -> bool:
    real = os.path.realpath(file)
    return real == folder or real.startswith(folder.rstrip(os.sep) + os.sep)
