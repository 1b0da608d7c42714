"""Finding the records of a folder: the one place that decides what is a record, for training, running,
evaluating and explaining alike; and the index of a folder's labelled records (:func:`index_records`).

A record is a ``.hea`` header whose signal files exist (:func:`ecgnet.records.signal_files`), found in the
folder and every folder below it. Every file that looks like part of a record but cannot be used is
reported with its reason instead of being skipped silently: a header that does not parse, a header
without its signal file, a ``.mat`` or ``.dat`` that no header names (CPSC 2018's own headerless MATLAB
files), hidden files, upper-case extensions, broken symbolic links, links to files of another kind,
symbolic link loops, file names that an output file could not carry, and second copies of a record id.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .labels import ClassTable
from .records import Header, RecordError, read_header, signal_files, source_of

HEADER_EXTENSION = ".hea"
SIGNAL_EXTENSIONS = (".mat", ".dat")
_RECORD_EXTENSIONS = (HEADER_EXTENSION, *SIGNAL_EXTENSIONS)


@dataclass(frozen=True)
class FoundRecord:
    """A record found in a folder: its header file, the parsed header and its signal files (none listed
    when signals were not asked for)."""

    header_path: Path
    header: Header
    signal_paths: tuple[Path, ...] = ()

    @property
    def record_id(self) -> str:
        """The record id: the header's file name without ``.hea`` (outputs are named after it)."""
        return self.header_path.stem


@dataclass
class Listing:
    """The records of a folder, sorted by path, and (file, reason) for every file that cannot be used."""

    records: list[FoundRecord] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def header_paths(self) -> list[Path]:
        return [record.header_path for record in self.records]


def find_records(directory: str | os.PathLike, need_signals: bool = True) -> Listing:
    """Every record in ``directory`` and below it, with the reasons for the files that are not used.

    With ``need_signals`` False (a folder of labels), a header is a record whether or not its signal files
    are there, and signal files are not looked at. Raises :class:`RecordError` when ``directory`` is not a
    folder. Of several records with one id (a record kept as 12-lead and reduced-lead copies), the copy with
    the most leads is used and the others are reported, since outputs and folds go by record id.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise RecordError(directory, "is not a directory")
    listing = Listing()
    headers: list[Path] = []
    signals: list[Path] = []
    for path in _record_like_files(directory, listing.failures):
        problem = _name_problem(path)
        if problem:
            listing.failures.append((_printable(path), problem))
        elif path.suffix == HEADER_EXTENSION:
            headers.append(path)
        else:
            signals.append(path)
    named: set[Path] = set()
    for path in headers:
        found = _found_record(path, need_signals, named, listing.failures)
        if found is not None:
            listing.records.append(found)
    if need_signals:
        listing.failures += [(str(path), "no header (.hea) names this signal file, so it cannot be read as a "
                                         "record") for path in signals if path not in named]
    listing.records = _one_copy_per_id(listing.records, listing.failures)
    return listing


def _record_like_files(directory: Path, failures: list[tuple[str, str]]) -> list[Path]:
    """Every file below ``directory`` with a record's extension in any case, sorted; symbolic links to
    folders are followed once (a loop is reported, not walked forever)."""
    found: list[Path] = []
    seen: set[str] = set()

    def unreadable(error: OSError) -> None:
        failures.append((str(error.filename), f"cannot list this folder ({error.strerror or error})"))

    for folder, subfolders, files in os.walk(directory, followlinks=True, onerror=unreadable):
        real = os.path.realpath(folder)
        if real in seen:
            failures.append((folder, "symbolic link loop, or a second link to a folder already read"))
            subfolders[:] = []
            continue
        seen.add(real)
        subfolders.sort()
        found += [Path(folder, name) for name in files if name.lower().endswith(_RECORD_EXTENSIONS)]
    return sorted(found)


def _name_problem(path: Path) -> str | None:
    """Why a file with a record's extension is not read, or None when it may be."""
    if any(ord(c) < 32 or ord(c) == 127 for c in path.name):
        return "the file name holds a control character (a newline?), which an output file cannot carry"
    if path.name.startswith("."):
        return "hidden file (its name starts with a dot); not read"
    if path.suffix not in _RECORD_EXTENSIONS:
        return f"upper-case extension {path.suffix!r}: rename it to {path.suffix.lower()!r} to have it read"
    if path.is_symlink():
        if not path.exists():
            return "broken symbolic link"
        target = path.resolve()
        if target.suffix != path.suffix:
            return f"symbolic link to {target.name!r}, which is not a {path.suffix} file"
    return None


def _printable(path: Path) -> str:
    """``path`` with control characters escaped, so that a report line stays one line."""
    return str(path).encode("unicode_escape").decode("ascii") if not str(path).isprintable() else str(path)


def _found_record(path: Path, need_signals: bool, named: set[Path], failures: list[tuple[str, str]]
                  ) -> FoundRecord | None:
    """The record of header ``path``, or None with its reason added to ``failures``; the signal files it
    names are added to ``named``."""
    files: list[Path] = []
    try:
        _, header = read_header(path)
        if need_signals:
            files = signal_files(path, header)
            named.update(files)
            missing = [file for file in files if not file.is_file()]
            if missing:
                raise RecordError(path, f"its signal file {missing[0].name} is missing")
    except RecordError as error:
        failures.append((error.source, error.problem))
        return None
    return FoundRecord(path, header, tuple(files))


def _one_copy_per_id(records: list[FoundRecord], failures: list[tuple[str, str]]) -> list[FoundRecord]:
    """One record per id: the first of those with the most leads; the others are reported."""
    best: dict[str, FoundRecord] = {}
    for record in records:
        kept = best.get(record.record_id)
        if kept is None or record.header.num_leads > kept.header.num_leads:
            best[record.record_id] = record
    chosen = {id(record) for record in best.values()}
    for record in records:
        if id(record) not in chosen:
            kept = best[record.record_id]
            failures.append((str(record.header_path),
                             f"another copy of record {record.record_id} ({kept.header_path}) is used"))
    return [record for record in records if id(record) in chosen]


@dataclass
class RecordIndex:
    """The labelled records of a data folder, read from their headers only."""

    header_paths: list[Path]
    record_ids: list[str]
    sources: list[str]
    labels: np.ndarray  # (records, classes) bool
    signal_paths: list[tuple[Path, ...]]  # the signal files of each record

    def __len__(self) -> int:
        return len(self.header_paths)

    def subset(self, rows: Sequence[int] | np.ndarray) -> RecordIndex:
        rows = np.asarray(rows, dtype=int)
        return RecordIndex(
            header_paths=[self.header_paths[i] for i in rows],
            record_ids=[self.record_ids[i] for i in rows],
            sources=[self.sources[i] for i in rows],
            labels=self.labels[rows],
            signal_paths=[self.signal_paths[i] for i in rows],
        )


def index_records(data_dir: str | os.PathLike, table: ClassTable) -> tuple[RecordIndex, list[tuple[str, str]]]:
    """Index every record of ``data_dir`` and below it (:func:`ecgnet.discovery.find_records`); return the
    index and (file, reason) for each file that is not used. A record found more than once (12-lead and
    reduced-lead copies) is kept once, so that no record can sit in a training fold and its own validation
    fold."""
    listing = find_records(data_dir)
    found = listing.records
    labels = table.encode_many([r.header.labels for r in found]) if found else np.zeros((0, len(table)), dtype=bool)
    index = RecordIndex(
        header_paths=[r.header_path for r in found],
        record_ids=[r.record_id for r in found],
        sources=[source_of(r.record_id) for r in found],
        labels=labels,
        signal_paths=[r.signal_paths for r in found],
    )
    return index, listing.failures
