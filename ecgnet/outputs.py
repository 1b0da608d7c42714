"""Output files of the Challenge: four lines, ``#record``, classes, binary labels, probabilities.

Writing is atomic (a temporary file in the same folder, then a rename), so a run that is stopped never
leaves a half-written output behind. Reading follows the official evaluator (physionetchallenges/
evaluation-2021, ``load_classifier_outputs``): lines end at ``\n``, ``\r\n`` or ``\r``, each entry is taken as
written (stripped), a binary entry is positive when it is a finite number equal to 1 (``1``, ``1.0``,
``1e0``, ``+1``) or one of ``True, true, T, t``, and a probability that is not a finite number counts as 0.
A file of fewer than four lines, on which the official evaluator stops with a traceback, is one error naming
the file.
"""

from __future__ import annotations

import csv
import fcntl
import io
import math
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from .discovery import SECOND_COPY
from .files import read_text, write_text_atomic

#: The words the official evaluator counts as a positive binary entry, besides any number equal to 1.
TRUE_ENTRIES = ("True", "true", "T", "t")


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


def _lines(text: str) -> list[str]:
    """The lines of ``text`` as a file opened in text mode yields them: ended by ``\n``, ``\r\n`` or ``\r``
    only (``str.splitlines`` would also end a line at a form feed or a vertical tab, inside an entry)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines[-1] == "":  # the end of the last line, or an empty file: no line follows
        lines.pop()
    return lines


def _split(line: str) -> tuple[str, ...]:
    """The comma-separated entries of a line, stripped (skipped when the line has no white space to strip)."""
    entries = line.split(",")
    if " " in line or "\t" in line or not line.isprintable():
        return tuple(map(str.strip, entries))
    return tuple(entries)


def parse_outputs(text: str, source: str | os.PathLike = "<outputs>"
                  ) -> tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """The id, classes, binary entries and scalar entries of an output file, each entry as written (stripped;
    a line splits on commas whatever its content, as the official reader splits it). ValueError naming
    ``source`` when there are fewer than four lines."""
    lines = _lines(text)
    if len(lines) < 4:
        raise ValueError(f"{source}: has {len(lines)} lines; an output file has 4 (#record, classes, labels, "
                         "probabilities)")
    return lines[0].strip().lstrip("#").strip(), _split(lines[1]), _split(lines[2]), _split(lines[3])


def read_outputs(path: str | os.PathLike) -> tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """:func:`parse_outputs` of a file; FileNotFoundError naming a missing file, ValueError a short one."""
    try:
        text = read_text(path)
    except (FileNotFoundError, IsADirectoryError):
        raise FileNotFoundError(f"{path}: output file is missing") from None
    return parse_outputs(text, path)


def is_positive(entry: str | None) -> bool:
    """Whether the official evaluator counts a binary entry as positive: stripped, it is one of
    :data:`TRUE_ENTRIES` or a finite number equal to 1 (``1``, ``1.0``, ``1e0``, ``+1``, ``1.`` but not ``1.00001``).
    An absent entry (None) is negative; anything but text is refused, since it was never read from a file."""
    if entry is None:
        return False
    if not isinstance(entry, str):
        raise TypeError(f"a binary entry must be the text read from an output file, not {type(entry).__name__}")
    entry = entry.strip()
    if entry in TRUE_ENTRIES:
        return True
    try:
        return float(entry) == 1.0  # NaN and the infinities are not 1: "finite and equal to 1" in one test
    except ValueError:
        return False


def to_probability(entry: str) -> float:
    """A scalar entry as a float; a non-finite or non-numeric entry counts as 0."""
    try:
        value = float(entry)
    except (TypeError, ValueError):
        return 0.0
    return value if math.isfinite(value) else 0.0


FAILURES_FILE = "failures.csv"
DETAILS_FILE = "details.csv"
#: The files a run writes beside the output files; a record whose output would take one of their names is refused.
RUN_TABLES = (FAILURES_FILE, DETAILS_FILE)
#: How a row of ``failures.csv`` that is a warning, not a failure, starts: the record was run all the same.
WARNING = "warning: "
_RECORD_SUFFIXES = (".hea", ".mat", ".dat")


def output_folder(path: str | os.PathLike) -> Path:
    """The folder ``path`` for output files, created if needed; OSError naming it, in words, when it cannot be
    one (an existing file, a symbolic link to nowhere)."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise NotADirectoryError(f"{path}: is a symbolic link to {os.readlink(path)}, which does not exist; "
                                 "give a folder for the output files")
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path}: is a file, not a folder for the output files")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OSError(error.errno, f"{path}: cannot create the folder for the output files "
                                   f"({error.strerror or error})") from None
    return path


def output_file(output_dir: str | os.PathLike, record_id: str) -> Path:
    """``OUTPUTS/<record_id>.csv``."""
    return Path(output_dir) / f"{record_id}.csv"


def takes_a_table_name(record_id: str) -> bool:
    """Whether a record's output file would be one of the run's own tables (in any case, for file systems that
    ignore it)."""
    return f"{record_id}.csv".lower() in RUN_TABLES


def failed_record_id(file: str, reason: str) -> str | None:
    """The id of the record a discovery row (file, reason) says cannot be run, None when the row names no record
    file or is a second copy of a record that runs from its other copy."""
    stem, suffix = os.path.splitext(os.path.basename(file))
    if suffix not in _RECORD_SUFFIXES or not stem or stem.startswith(".") or reason.startswith(SECOND_COPY):
        return None
    return stem


def remove_stale_outputs(output_dir: str | os.PathLike, record_ids: Iterable[str]) -> list[tuple[str, str]]:
    """Remove the output file an earlier run left for each of ``record_ids``, records that this run cannot run:
    none of them may be scored on old outputs. Returns a warning row for each file that could not be removed."""
    problems = []
    for record_id in record_ids:
        stale = output_file(output_dir, record_id)
        if takes_a_table_name(record_id) or not (stale.is_file() or stale.is_symlink()):
            continue
        try:
            stale.unlink()
        except OSError as error:
            problems.append((str(stale), f"{WARNING}an earlier run's output of a record that failed now could not "
                                         f"be removed ({error.strerror or error}); do not score it"))
    return problems


def record_failures(output_dir: str | os.PathLike, data_dir: str | os.PathLike,
                    failures: Sequence[tuple[str, str]]) -> None:
    """Write ``OUTPUTS/failures.csv`` (columns file, reason: one row per record file that could not be run).

    Several runs may write to one OUTPUTS folder, at once or one after another: each keeps its rows. The
    rows of a run over ``data_dir`` replace the earlier rows for files in ``data_dir`` only.
    """
    folder = os.path.realpath(data_dir)
    rows = [{"file": file, "reason": " ".join(reason.split())} for file, reason in failures]
    merge_rows(Path(output_dir) / FAILURES_FILE, ["file", "reason"], rows,
               keep=lambda row: not _is_in(row["file"], folder))


def merge_rows(path: Path, columns: Sequence[str], rows: Sequence[dict[str, str]],
               keep: Callable[[dict[str, str]], bool]) -> None:
    """Write the CSV file ``path``: the rows an earlier run wrote there that ``keep`` keeps, then ``rows``;
    atomically, under a lock, so that runs writing into one folder at once each keep their rows."""
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        kept = [row for row in _read_rows(path, columns) if keep(row)]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept + list(rows))
        write_text_atomic(path, buffer.getvalue())


def _read_rows(path: Path, columns: Sequence[str]) -> list[dict[str, str]]:
    """The rows of an existing CSV file with these columns; none when it is missing or not one of ours."""
    try:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error):
        return []
    return rows if reader.fieldnames == list(columns) else []


def _is_in(file: str, folder: str) -> bool:
    real = os.path.realpath(file)
    return real == folder or real.startswith(folder.rstrip(os.sep) + os.sep)
