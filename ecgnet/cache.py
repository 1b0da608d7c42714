"""A cache of prepared records on disk: the records of a data folder are prepared (:func:`ecgnet.prepare.prepare`)
once, in one pass over the files, then reused by every fold, epoch and run that asks for the same records
prepared the same way.

:func:`prepare_cached` is a drop-in for :func:`ecgnet.prepare.prepare_index` (same arguments plus the cache
folder, same return contract). Its :class:`SignalStore` reads signals from a memory-mapped file, so memory
does not grow with the number of records beyond the index-sized arrays.

Layout of ``cache_dir/<key>/`` (numpy arrays are ``.npy`` loaded with ``allow_pickle=False``; the rest JSON)::

    manifest.json       format, key, PrepareOptions, record/kept/failed counts, dtype, leads, samples; written last
    signals.bin         raw float16, every kept record's (12, n_i) block in C order, one after the other
    offsets.npy         int64 (kept + 1,): record i spans samples offsets[i]:offsets[i + 1]
    kept.npy            int64 (kept,): the index rows the blocks belong to
    lead_masks.npy      bool (kept, 12)
    demographics.npy    float32 (kept, 4)
    peaks.npy           int64, every kept record's R peaks one after the other (with options.peaks)
    peak_offsets.npy    int64 (kept + 1,): record i's peaks are peaks[peak_offsets[i]:peak_offsets[i + 1]]
    features.npy        float32 (kept, NUM_FEATURES) hand-made features (with options.peaks)
    measurements.npy    float32 (records, lead sets, NUM_MEASUREMENTS), NaN rows for failures (with
                        options.measurements)
    record_stats.npy    int64 (records, 4): header size and mtime_ns, first signal file size and mtime_ns
    records.json        {"root": common folder, "paths": header paths relative to it}: the record identity
    failures.json       [{"row", "file" or "suffix", "reason"}] of the records that could not be prepared

The key hashes the PrepareOptions, the store dtype, the preparing code and library versions, and every
indexed record's (absolute header path, sizes, mtimes): touching a file, adding or removing a record or
changing a setting gives a new key, hence a new build; old folders are left in place (delete them freely).

A build writes into ``cache_dir/.partial-<key>.<pid>@<host>.<random>`` and is renamed to ``<key>`` only when
complete, so an interrupted build is never trusted; a later build on the same host removes partial
folders whose process is gone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import operator
import os
import re
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from . import features, measurements, prepare, quality, records, signals
from .discovery import RecordIndex
from .prepare import PreparedSignals, PrepareOptions, prepare_many
from .records import STANDARD_LEADS, RecordError

FORMAT_VERSION = 2
#: float16 keeps 11 significant bits: on standardised signals (unit std) the rounding error is at most
#: 2**-11 of a value, about 2e-4 RMS, below the 1 uV step of the Challenge's 16-bit recordings (about 1e-3
#: of a lead's std) and changing a network's probabilities by about 1e-4 (bench/cache.py measures it).
#: It cannot overflow: a standardised lead of n samples has |values| <= sqrt(n - 1), far below 65504.
STORE_DTYPE = np.dtype(np.float16)
LEADS = len(STANDARD_LEADS)

_MANIFEST = "manifest.json"
_SIGNALS = "signals.bin"
_PARTIAL = ".partial-"
_STALE = ".stale-"
_PARTIAL_NAME = re.compile(r"\.partial-[0-9a-f]+\.(?P<pid>\d+)@(?P<host>.+)\.[^.]+$")


class SignalStore(Sequence[np.ndarray]):
    """Read-only preprocessed signals backed by a memory-mapped file: ``store[i]`` is record i's (12, n_i)
    float32 array, a fresh copy that the caller may modify; nothing is read before it is asked for.

    Pickling keeps only the path and offsets (not the mapped data), so a DataLoader worker started by
    spawn reopens the file instead of receiving gigabytes.
    """

    def __init__(self, path: str | os.PathLike, offsets: np.ndarray, dtype: np.dtype = STORE_DTYPE,
                 leads: int = LEADS):
        self.path = Path(path)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.dtype = np.dtype(dtype)
        self.leads = leads
        self._values: np.ndarray | None = None

    def _mapped(self) -> np.ndarray:
        if self._values is None:
            total = int(self.offsets[-1]) * self.leads
            # np.memmap refuses an empty file; a store of no samples needs no file at all.
            self._values = (np.memmap(self.path, dtype=self.dtype, mode="r", shape=(total,)) if total
                            else np.zeros(0, dtype=self.dtype))
        return self._values

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def _row(self, item: Any) -> int:
        row = operator.index(item)  # numpy integers too (TrainingWindows indexes with them)
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(f"record {item} out of range for {len(self)} records")
        return row

    def samples(self, item: int) -> int:
        """The length of record ``item`` in samples, without reading it."""
        row = self._row(item)
        return int(self.offsets[row + 1] - self.offsets[row])

    def __getitem__(self, item: Any) -> np.ndarray | list[np.ndarray]:  # a slice gives a list, as a list would
        if isinstance(item, slice):
            return [self[i] for i in range(*item.indices(len(self)))]
        row = self._row(item)
        start, stop = int(self.offsets[row]), int(self.offsets[row + 1])
        block = self._mapped()[start * self.leads : stop * self.leads]
        return block.astype(np.float32).reshape(self.leads, stop - start)  # astype copies: safe to modify

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[i] for i in range(len(self)))

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "offsets": self.offsets, "dtype": self.dtype.str, "leads": self.leads}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["offsets"], np.dtype(state["dtype"]), state["leads"])

    def __repr__(self) -> str:
        return f"SignalStore({str(self.path)!r}, {len(self)} records, {self.dtype.name})"


# Keys and identity.
def _file_stat(path: Path) -> tuple[int, int]:
    """(size, mtime in ns) of a file, or (-1, -1) when it cannot be read: the build reports that record."""
    try:
        stat = path.stat()
    except OSError:
        return -1, -1
    return stat.st_size, stat.st_mtime_ns


def record_stats(index: RecordIndex) -> np.ndarray:
    """(records, 4) int64: header size, header mtime_ns, signal file size, signal file mtime_ns of each indexed
    record (its first signal file)."""
    rows = [_file_stat(Path(p)) + _file_stat(files[0]) for p, files in zip(index.header_paths, index.signal_paths)]
    return np.array(rows, dtype=np.int64).reshape(len(rows), 4)


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


def _code_digest() -> str:
    """What else decides the cached values: the preparing code and the libraries it calls, so that a change
    of the filter, the reader, the peak detector or a measurement is never served stale values."""
    digest = hashlib.sha256()
    for module in (prepare, signals, records, features, measurements, quality):
        digest.update(Path(module.__file__).read_bytes())
    for name in ("numpy", "scipy", "neurokit2", "wfdb"):
        digest.update(f"{name} {_package_version(name)}\n".encode())
    return digest.hexdigest()


def _options(options: PrepareOptions) -> dict[str, Any]:
    return dataclasses.asdict(options)


def _key(paths: Sequence[str], stats: np.ndarray, options: PrepareOptions) -> str:
    head = {"format": FORMAT_VERSION, "dtype": STORE_DTYPE.name, "options": _options(options),
            "code": _code_digest(), "records": len(paths)}
    digest = hashlib.sha256(json.dumps(head, sort_keys=True).encode())
    for path, row in zip(paths, stats.tolist()):
        digest.update(f"{path}\0{row[0]}\0{row[1]}\0{row[2]}\0{row[3]}\n".encode())
    return digest.hexdigest()[:24]


def _absolute_paths(index: RecordIndex) -> list[str]:
    # abspath, not resolve: no symlink lookups per record, and the same folder spelt relative or
    # absolute (from the same working directory) shares its cache.
    return [os.path.abspath(p) for p in index.header_paths]


def default_cache_dir() -> Path:
    """``$ECGNET_CACHE``, else ``$XDG_CACHE_HOME/ecgnet``, else ``~/.cache/ecgnet``."""
    if os.environ.get("ECGNET_CACHE"):
        return Path(os.environ["ECGNET_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ecgnet"


def cache_path(index: RecordIndex, options: PrepareOptions, cache_dir: str | os.PathLike) -> Path:
    """The folder that holds (or would hold) the cache of ``index`` prepared with ``options``."""
    return Path(cache_dir) / _key(_absolute_paths(index), record_stats(index), options)


# Building.
def _failure_entry(row: int, error: RecordError, header_path: Path) -> dict[str, Any]:
    """A failure as stored: relative to its record (a suffix such as ``.mat``) when it names one of the
    record's files, so that the same folder reached by another spelling reports its own paths."""
    stem = str(Path(header_path).with_suffix(""))
    if error.source.startswith(stem):
        return {"row": row, "suffix": error.source[len(stem):], "reason": error.problem}
    return {"row": row, "file": error.source, "reason": error.problem}


def _write_prepared(folder: Path, index: RecordIndex, options: PrepareOptions, n_jobs: int,
                    progress: bool) -> dict[str, Any]:
    """Prepare every record in one pass, appending each signal to ``signals.bin`` (and each record's
    measurements to ``measurements.npy``) as its task completes; the smaller arrays and the failures are
    returned to be saved."""
    masks = np.zeros((len(index), LEADS), dtype=bool)
    demographics = np.zeros((len(index), 4), dtype=np.float32)
    offsets, kept, failures, peaks, values = [0], [], [], [], []
    measured = None
    if options.measurements:
        shape = (len(index), len(prepare.measured_lead_sets(None)), measurements.NUM_MEASUREMENTS)
        measured = np.lib.format.open_memmap(folder / "measurements.npy", mode="w+", dtype=np.float32, shape=shape)
        measured[:] = np.nan
    with open(folder / _SIGNALS, "wb") as out:
        for row, result in prepare_many(index.header_paths, options, n_jobs, progress, "preparing (cache)"):
            if isinstance(result, RecordError):
                failures.append(_failure_entry(row, result, index.header_paths[row]))
                continue
            signal = np.ascontiguousarray(result.signal, dtype=STORE_DTYPE)
            out.write(memoryview(signal).cast("B"))
            offsets.append(offsets[-1] + signal.shape[-1])
            kept.append(row)
            masks[row], demographics[row] = result.lead_mask, result.demographics
            if options.peaks:
                peaks.append(result.peaks.astype(np.int64))
                values.append(result.features)
            if measured is not None:
                measured[row] = result.measurements
        out.flush()
        os.fsync(out.fileno())  # the rename below must never publish a file still being written back
    if measured is not None:
        measured.flush()
        del measured
    built = {"offsets": np.array(offsets, dtype=np.int64), "kept": np.array(kept, dtype=np.int64),
             "lead_masks": masks[kept], "demographics": demographics[kept], "failures": failures}
    if options.peaks:
        built["peak_offsets"] = np.cumsum([0] + [len(p) for p in peaks]).astype(np.int64)
        built["peaks"] = np.concatenate(peaks) if peaks else np.zeros(0, dtype=np.int64)
        built["features"] = (np.stack(values).astype(np.float32) if values
                             else np.zeros((0, features.NUM_FEATURES), dtype=np.float32))
    return built


def _write_json(path: Path, value: Any) -> None:
    with open(path, "w") as f:
        json.dump(value, f)
        f.flush()
        os.fsync(f.fileno())


def _write_cache(folder: Path, key: str, index: RecordIndex, paths: list[str], stats: np.ndarray,
                 options: PrepareOptions, n_jobs: int, progress: bool) -> None:
    built = _write_prepared(folder, index, options, n_jobs, progress)
    for name, array in built.items():
        if name != "failures":
            np.save(folder / f"{name}.npy", array, allow_pickle=False)
    np.save(folder / "record_stats.npy", stats, allow_pickle=False)
    root = os.path.commonpath([os.path.dirname(p) for p in paths]) if paths else ""
    _write_json(folder / "records.json", {"root": root, "paths": [os.path.relpath(p, root) for p in paths]})
    _write_json(folder / "failures.json", built["failures"])
    manifest = {"format": FORMAT_VERSION, "key": key, "options": _options(options),
                "records": len(index), "kept": len(built["kept"]), "failed": len(built["failures"]),
                "dtype": STORE_DTYPE.name, "leads": LEADS, "samples": int(built["offsets"][-1])}
    _write_json(folder / _MANIFEST, manifest)  # last: a folder without it is incomplete


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _remove_abandoned(cache_dir: Path) -> None:
    """Delete partial builds of this host whose process has died, and leftovers of replaced folders: an
    interrupted 88k-record build leaves gigabytes. Builds of other hosts sharing the folder are left alone."""
    host = socket.gethostname()
    for entry in cache_dir.iterdir():
        match = _PARTIAL_NAME.match(entry.name)
        abandoned = match is not None and match["host"] == host and not _process_alive(int(match["pid"]))
        if abandoned or entry.name.startswith(_STALE):
            shutil.rmtree(entry, ignore_errors=True)


def _discard(folder: Path) -> None:
    """Remove an invalid cache folder: renamed first (atomic), so it stops being found at once, to a new
    unique name that any build may delete if this one is interrupted."""
    stale = folder.with_name(f"{_STALE}{folder.name}.{os.getpid()}.{uuid.uuid4().hex}")
    os.rename(folder, stale)
    shutil.rmtree(stale, ignore_errors=True)


def _build(folder: Path, index: RecordIndex, paths: list[str], stats: np.ndarray, options: PrepareOptions,
           n_jobs: int, progress: bool) -> None:
    """Build the cache in a partial folder, then publish it under its key with one rename."""
    cache_dir = folder.parent
    cache_dir.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(cache_dir)
    prefix = f"{_PARTIAL}{folder.name}.{os.getpid()}@{socket.gethostname()}."
    partial = Path(tempfile.mkdtemp(prefix=prefix, dir=cache_dir))
    try:
        _write_cache(partial, folder.name, index, paths, stats, options, n_jobs, progress)
        if folder.exists():
            if _open(folder, index, options) is not None:
                return  # another process published a valid cache meanwhile: keep it, it may be in use
            _discard(folder)  # an invalid folder under the key
        try:
            os.rename(partial, folder)
        except OSError:
            if not folder.is_dir():  # not a concurrent build of the same key that won the race
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)  # nothing left after a publish, or an error or interrupt


# Opening.
def _load(folder: Path, name: str, mmap_mode: str | None = None) -> np.ndarray:
    return np.load(folder / f"{name}.npy", allow_pickle=False, mmap_mode=mmap_mode)


def _failures(entries: list[dict[str, Any]], index: RecordIndex) -> list[tuple[str, str]]:
    failures = []
    for entry in entries:
        file = (str(Path(index.header_paths[entry["row"]]).with_suffix("")) + entry["suffix"]
                if "suffix" in entry else entry["file"])
        failures.append((file, entry["reason"]))
    return failures


def _open_peaks(folder: Path, kept: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Each kept record's R peaks and the hand-made features; ValueError when they do not fit ``kept``."""
    joined, offsets, values = (_load(folder, name) for name in ("peaks", "peak_offsets", "features"))
    if offsets.shape != (kept + 1,) or values.shape != (kept, features.NUM_FEATURES) or int(offsets[-1]) != len(joined):
        raise ValueError("peaks do not fit the records")
    return [joined[a:b] for a, b in zip(offsets[:-1], offsets[1:])], values


def _open_measurements(folder: Path, records: int, kept: np.ndarray) -> np.ndarray:
    """The kept records' measurements, in memory; ValueError when the file does not fit."""
    values = _load(folder, "measurements", mmap_mode="r")
    shape = (records, len(prepare.measured_lead_sets(None)), measurements.NUM_MEASUREMENTS)
    if values.shape != shape or values.dtype != np.float32:
        raise ValueError("measurements do not fit the records")
    return np.array(values[kept])


def _open(folder: Path, index: RecordIndex, options: PrepareOptions
          ) -> tuple[PreparedSignals, list[int], list[tuple[str, str]]] | None:
    """The cache in ``folder`` if it is complete and consistent with ``index`` and ``options``, else None."""
    try:
        manifest = json.loads((folder / _MANIFEST).read_text())
        expected = {"format": FORMAT_VERSION, "key": folder.name, "options": _options(options),
                    "records": len(index), "dtype": STORE_DTYPE.name, "leads": LEADS}
        if any(manifest.get(name) != value for name, value in expected.items()):
            return None
        offsets, kept = _load(folder, "offsets"), _load(folder, "kept")
        masks, demographics = _load(folder, "lead_masks"), _load(folder, "demographics")
        failures = _failures(json.loads((folder / "failures.json").read_text()), index)
        n_kept = manifest["kept"]
        consistent = (offsets.shape == (n_kept + 1,) and kept.shape == (n_kept,) and masks.shape == (n_kept, LEADS)
                      and demographics.shape == (n_kept, 4) and len(failures) == manifest["failed"]
                      and int(offsets[-1]) == manifest["samples"]
                      and (folder / _SIGNALS).stat().st_size == manifest["samples"] * LEADS * STORE_DTYPE.itemsize)
        if not consistent:
            return None
        peaks, values = _open_peaks(folder, n_kept) if options.peaks else (None, None)
        measured = _open_measurements(folder, len(index), kept) if options.measurements else None
    except (OSError, ValueError, KeyError, TypeError, IndexError):  # missing, truncated or foreign files
        return None
    store = SignalStore(folder / _SIGNALS, offsets, STORE_DTYPE, LEADS)
    prepared = PreparedSignals(store, masks.astype(bool), demographics.astype(np.float32), peaks, values, measured)
    return prepared, kept.tolist(), failures


def prepare_cached(index: RecordIndex, options: PrepareOptions, cache_dir: str | os.PathLike, n_jobs: int = 1,
                   progress: bool = True) -> tuple[PreparedSignals, list[int], list[tuple[str, str]]]:
    """:func:`ecgnet.prepare.prepare_index` through a cache in ``cache_dir``: the prepared records that could be
    read (signals in a :class:`SignalStore` of float16 values served as float32), the index rows they belong
    to, and (file, reason) for each record that could not be prepared.

    The first call for these records and options prepares them in parallel (``n_jobs``, as joblib) and writes
    the cache; later calls only stat the record files and open it.
    """
    paths = _absolute_paths(index)
    stats = record_stats(index)
    folder = Path(cache_dir) / _key(paths, stats, options)
    opened = _open(folder, index, options)
    if opened is None:
        _build(folder, index, paths, stats, options, n_jobs, progress)
        opened = _open(folder, index, options)
        if opened is None:
            raise RuntimeError(f"{folder}: the cache just built cannot be opened")
    return opened
