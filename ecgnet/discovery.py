"""Finding the records of a folder: the one place that decides what is a record, for training, running,
evaluating and explaining alike; and the index of a folder's labelled records (:func:`index_records`).

A record is a ``.hea`` header whose signal files exist (:func:`ecgnet.records.signal_files`), found in the
folder and every folder below it. A signal file is a file of a registered signal-file format's suffix
(:func:`ecgnet.formats.signal_suffixes`: ``.mat``, ``.dat``, and whatever a new format registers), read at each
search. Every file that looks like part of a record but cannot be used is reported with its reason instead of
being skipped silently: a header that does not parse, a header without its signal file, a signal file that no
header names (CPSC 2018's own headerless MATLAB files), hidden files, upper-case extensions, broken symbolic
links, links to files of another kind, symbolic link loops, file names that an output file could not carry,
and second copies of a record id.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .formats import GENERIC_SUFFIXES, export_for, export_suffixes, signal_suffixes
from .labels import ClassTable
from .records import Header, RecordError, is_export, read_header, signal_files, source_of, standard_leads

HEADER_EXTENSION = ".hea"
_CONTROL = re.compile("[\x00-\x1f\x7f]")
#: How the reason of a second copy of a record id starts (a reduced-lead tree holds each record several times).
SECOND_COPY = "another copy of record"


@dataclass(frozen=True)
class FoundRecord:
    """A record found in a folder: its header file, the parsed header and its signal files."""

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
    #: With a lead set asked for, the number of records left out per other lead set (its leads joined by commas):
    #: not failures, the copies a reduced-lead tree holds at the other lead sets.
    other_lead_sets: dict[str, int] = field(default_factory=dict)

    @property
    def header_paths(self) -> list[Path]:
        return [record.header_path for record in self.records]


def find_records(directory: str | os.PathLike, lead_set: Sequence[str] | None = None) -> Listing:
    """Every record in ``directory`` and below it, with the reasons for the files that are not used.

    Raises :class:`RecordError` when ``directory`` is not a folder. Of several records with one id (a record
    kept as 12-lead and reduced-lead copies), the copy with the most leads is used and the others are
    reported, since outputs and folds go by record id. With ``lead_set``, only the records of exactly those
    standard leads are kept, before the copies are compared: one lead set of a tree that holds each record at
    several (the Challenge's reduced-lead test data), the others counted in ``other_lead_sets``.
    """
    failures: list[tuple[str, str]] = []
    headers, signals = _usable_files(directory, failures, exports=True)
    # The signal files of a header refused by its name or kind (a link to nowhere) are reported with it.
    named = {path[: -len(HEADER_EXTENSION)] + extension for path, _ in failures if path.endswith(HEADER_EXTENSION)
             for extension in signal_suffixes()}
    found = [record for path in headers if (record := _found_record(Path(path), named, failures)) is not None]
    failures += [(path, "no header (.hea) names this signal file, so it cannot be read as a record")
                 for path in signals if path not in named]
    found, others = _of_lead_set(found, lead_set) if lead_set is not None else (found, {})
    records = _one_copy_per_id(found, failures)
    return Listing(records, failures, others)


def find_headers(directory: str | os.PathLike) -> tuple[list[str], list[tuple[str, str]]]:
    """The header files of ``directory`` and below it, unparsed and as plain path strings (a folder of labels:
    only their ``Dx`` lines are read, by whoever needs them, often tens of thousands of them), and (file,
    reason) for the files that are not used; of several headers with one record id the first by path is
    used."""
    failures: list[tuple[str, str]] = []
    headers, _ = _usable_files(directory, failures)
    first: dict[str, str] = {}
    for path in headers:
        record_id = os.path.basename(path)[: -len(HEADER_EXTENSION)]
        if record_id in first:
            failures.append((path, f"{SECOND_COPY} {record_id} ({first[record_id]}) is used"))
        else:
            first[record_id] = path
    return list(first.values()), failures


def _usable_files(directory: str | os.PathLike, failures: list[tuple[str, str]],
                  exports: bool = False) -> tuple[list[str], list[str]]:
    """(headers, signal files) below ``directory`` that may be read, in path order; the others go to
    ``failures``. With ``exports``, the exports (:func:`ecgnet.records.is_export`) count among the headers: each
    is a record by itself."""
    if not os.path.isdir(directory):
        raise RecordError(directory, "is not a directory")
    headers: list[str] = []
    signals: list[str] = []
    extensions = (HEADER_EXTENSION, *signal_suffixes())  # the registry's now: a format may have been added
    searched = extensions + (export_suffixes() if exports else ())
    # Normalised as pathlib spells paths, so that the signal files a header names compare equal as strings.
    for path, name, is_link, is_file in _record_like_files(os.path.normpath(directory), searched, failures):
        if is_export(name) and is_file and _other_file(path, name):
            continue
        problem = _name_problem(path, name, is_link, is_file, searched)
        if problem:
            failures.append((_printable(path), problem))
        else:
            (headers if is_export(name) or name.endswith(HEADER_EXTENSION) else signals).append(path)
    return headers, signals


def _other_file(path: str, name: str) -> bool:
    """Whether the regular file ``path``, of an export's suffix, is a file of some other kind: a suffix other
    files share (``.xml``, ``.csv``) and content no export format recognises. Such files are not records, and
    not reported; an unrecognised file of an ECG suffix (``.dcm``, ``.edf``) is read, and refused with its
    reason. (Only regular files are opened: a named pipe would block.)"""
    return os.path.splitext(name)[1].lower() in GENERIC_SUFFIXES and export_for(path) is None


def _record_like_files(directory: str, extensions: tuple[str, ...],
                       failures: list[tuple[str, str]]) -> list[tuple[str, str, bool, bool]]:
    """(path, file name, is a symbolic link, is a regular file or a link to one) of every file below
    ``directory`` with a record's extension (one of ``extensions``) in any case, in path order; symbolic links
    to folders are followed once (a loop is reported, not walked forever). ``os.scandir`` tells links, folders
    and files apart without a system call per file, and plain strings keep 88,000 records quick."""
    found: list[tuple[str, str, bool, bool]] = []
    seen: set[str] = set()
    pending = [directory]
    while pending:
        folder = pending.pop()
        real = os.path.realpath(folder)
        if real in seen:
            failures.append((folder, "symbolic link loop, or a second link to a folder already read"))
            continue
        seen.add(real)
        try:
            with os.scandir(folder) as entries:
                subfolders = []
                for entry in entries:
                    if entry.is_dir():
                        subfolders.append(entry.path)
                    elif entry.name.lower().endswith(extensions):
                        found.append((entry.path, entry.name, entry.is_symlink(), entry.is_file()))
        except OSError as error:
            failures.append((folder, f"cannot list this folder ({error.strerror or error})"))
            continue
        pending += sorted(subfolders, reverse=True)  # popped in order
    found.sort(key=lambda item: item[0].split(os.sep))
    return found


def _name_problem(path: str, name: str, is_link: bool, is_file: bool, extensions: tuple[str, ...]) -> str | None:
    """Why the file ``path`` (named ``name``), which has a record's extension (one of ``extensions``, in some
    case), is not read; None when it may be.
    Only what ``os.scandir`` already knows is used: a named pipe is never opened (opening one waits for a
    writer, forever)."""
    if _CONTROL.search(name):
        return "the file name holds a control character (a newline?), which an output file cannot carry"
    if name.startswith("."):
        return "hidden file (its name starts with a dot); not read"
    extension = os.path.splitext(name)[1]
    if extension not in extensions and not is_export(name):
        return f"upper-case extension {extension!r}: rename it to {extension.lower()!r} to have it read"
    if is_link and not os.path.exists(path):
        return "broken symbolic link"
    if not is_file:
        return f"not a regular file (a named pipe, socket or device{', through a link' if is_link else ''}); not read"
    if is_link:
        target = os.path.realpath(path)
        if os.path.splitext(target)[1] != extension:
            return f"symbolic link to {os.path.basename(target)!r}, which is not a {extension} file"
    return None


def _printable(path: str) -> str:
    """``path`` with control characters escaped, so that a report line stays one line."""
    return path if path.isprintable() else path.encode("unicode_escape").decode("ascii")


def _found_record(path: Path, named: set[str], failures: list[tuple[str, str]]) -> FoundRecord | None:
    """The record of header ``path``, or None with its reason added to ``failures``; the signal files it
    names are added to ``named``."""
    try:
        _, header = read_header(path)
        files = signal_files(path, header)
        named.update(map(str, files))
        missing = [file for file in files if not file.is_file()]
        if missing:
            raise RecordError(path, f"its signal file {missing[0].name} is missing (or not a regular file)")
    except RecordError as error:
        failures.append((error.source, error.problem))
        # Its own signal files are not orphans: one row for the record, not a second for its signal file.
        named.update(str(path.with_suffix(extension)) for extension in signal_suffixes())
        return None
    return FoundRecord(path, header, tuple(files))


def _of_lead_set(records: list[FoundRecord], lead_set: Sequence[str]) -> tuple[list[FoundRecord], dict[str, int]]:
    """The records whose standard leads are exactly ``lead_set``'s, and the number of the others per lead set."""
    wanted = standard_leads(lead_set)
    kept: list[FoundRecord] = []
    others: dict[str, int] = {}
    for record in records:
        leads = standard_leads(record.header.leads)
        if leads == wanted:
            kept.append(record)
        else:
            others[",".join(leads)] = others.get(",".join(leads), 0) + 1
    return kept, others


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
                             f"{SECOND_COPY} {record.record_id} ({kept.header_path}) is used"))
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
