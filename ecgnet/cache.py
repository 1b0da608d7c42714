"""A preprocessing cache on disk: the signals of a data folder are resampled, filtered and standardised
once, then reused by every fold, epoch and run that asks for the same records with the same settings.

:func:`prepare_cached` is a drop-in for :func:`ecgnet.data.prepare_signals` (same arguments plus the cache
folder, same return contract). Its :class:`SignalStore` reads records from a memory-mapped file, so memory
does not grow with the number of records beyond the index-sized arrays (lead masks, demographics).

Layout of ``cache_dir/<key>/`` (numpy arrays are ``.npy`` loaded with ``allow_pickle=False``; the rest JSON)::

    manifest.json       format, key, SignalConfig, record/kept/failed counts, dtype, leads, samples; written last
    signals.bin         raw float16, every kept record's (12, n_i) block in C order, one after the other
    offsets.npy         int64 (kept + 1,): record i spans samples offsets[i]:offsets[i + 1]
    kept.npy            int64 (kept,): the index rows the blocks belong to
    lead_masks.npy      bool (kept, 12)
    demographics.npy    float32 (kept, 4)
    record_stats.npy    int64 (records, 4): header size, header mtime_ns, .mat size, .mat mtime_ns
    records.json        {"root": common folder, "paths": header paths relative to it}: the record identity
    failures.json       [{"row", "file" or "suffix", "reason"}] of the records that could not be read

The key hashes the SignalConfig, the store dtype, the preprocessing code and library versions, and every
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
import math
import operator
import os
import re
import shutil
import socket
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import scipy
from joblib import Parallel, delayed, effective_n_jobs
from tqdm.auto import tqdm

from . import records, signals
from .config import SignalConfig
from .records import STANDARD_LEADS, RecordError, recording_path

if TYPE_CHECKING:  # ecgnet.data imports torch: build workers import this module only, and start in a second
    from .data import PreparedSignals, RecordIndex

FORMAT_VERSION = 1
#: float16 keeps 11 significant bits: on standardised signals (unit std) the rounding error is at most
#: 2**-11 of a value, about 2e-4 RMS, below the 1 uV step of the Challenge's 16-bit recordings (about 1e-3
#: of a lead's std) and changing a network's probabilities by about 1e-4 (bench/cache.py measures it).
#: It cannot overflow: a standardised lead of n samples has |values| <= sqrt(n - 1), far below 65504.
STORE_DTYPE = np.dtype(np.float16)
LEADS = len(STANDARD_LEADS)
#: Records per worker task: large enough to hide the process pool's per-task cost (about 100 ms of work
#: at 3 ms a record), small enough that the tasks in flight hold a few MB and the progress bar moves.
TASK_RECORDS = 32

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


class _Failure(NamedTuple):
    source: str
    problem: str


_Result = tuple[np.ndarray, np.ndarray, np.ndarray] | _Failure  # (signal in STORE_DTYPE, lead mask, demographics)


# Keys and identity.
def _file_stat(path: Path) -> tuple[int, int]:
    """(size, mtime in ns) of a file, or (-1, -1) when it cannot be read: the build reports that record."""
    try:
        stat = path.stat()
    except OSError:
        return -1, -1
    return stat.st_size, stat.st_mtime_ns


def record_stats(index: RecordIndex) -> np.ndarray:
    """(records, 4) int64: header size, header mtime_ns, .mat size, .mat mtime_ns of each indexed record."""
    rows = [_file_stat(Path(p)) + _file_stat(recording_path(p)) for p in index.header_paths]
    return np.array(rows, dtype=np.int64).reshape(len(rows), 4)


def _code_digest() -> str:
    """What else decides the cached values: the preprocessing code and the numerical libraries, so that a
    change of the filter or the reader is never served stale signals (any edit of those files rebuilds)."""
    digest = hashlib.sha256()
    for module in (signals, records):
        digest.update(Path(module.__file__).read_bytes())
    digest.update(f"numpy {np.__version__} scipy {scipy.__version__}".encode())
    return digest.hexdigest()


def _key(paths: Sequence[str], stats: np.ndarray, config: SignalConfig) -> str:
    head = {"format": FORMAT_VERSION, "dtype": STORE_DTYPE.name, "signals": dataclasses.asdict(config),
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


def cache_path(index: RecordIndex, config: SignalConfig, cache_dir: str | os.PathLike) -> Path:
    """The folder that holds (or would hold) the cache of ``index`` prepared with ``config``."""
    return Path(cache_dir) / _key(_absolute_paths(index), record_stats(index), config)


# Building.
def _prepare_task(paths: Sequence[Path], config: SignalConfig) -> list[_Result]:
    """Preprocess records in a worker; signals come back already in the store dtype (half the transfer)."""
    results: list[_Result] = []
    for path in paths:
        try:
            signal, mask, demographics = signals.prepare_file(path, config)
        except RecordError as error:
            results.append(_Failure(error.source, error.problem))
            continue
        results.append((np.ascontiguousarray(signal, dtype=STORE_DTYPE), mask, demographics))
    return results


def _prepared_tasks(paths: Sequence[Path], config: SignalConfig, n_jobs: int) -> Iterator[tuple[int, list[_Result]]]:
    """(first row, results) of consecutive tasks, in row order, computed in parallel as they are consumed."""
    workers = effective_n_jobs(n_jobs)
    size = max(1, min(TASK_RECORDS, math.ceil(len(paths) / (4 * workers))))
    starts = range(0, len(paths), size)
    # An ordered generator with the default pre-dispatch keeps only a few tasks in flight: memory stays flat.
    parallel = Parallel(n_jobs=n_jobs, return_as="generator")
    results = parallel(delayed(_prepare_task)(paths[s : s + size], config) for s in starts)
    return zip(starts, results)


def _failure_entry(row: int, failure: _Failure, header_path: Path) -> dict[str, Any]:
    """A failure as stored: relative to its record (a suffix such as ``.mat``) when it names one of the
    record's files, so that the same folder reached by another spelling reports its own paths."""
    stem = str(Path(header_path).with_suffix(""))
    if failure.source.startswith(stem):
        return {"row": row, "suffix": failure.source[len(stem):], "reason": failure.problem}
    return {"row": row, "file": failure.source, "reason": failure.problem}


def _write_signals(folder: Path, index: RecordIndex, config: SignalConfig, n_jobs: int,
                   progress: bool) -> dict[str, Any]:
    """Preprocess every record, appending each signal to ``signals.bin`` as its task completes; the
    index-sized arrays and failures are returned to be saved."""
    masks = np.zeros((len(index), LEADS), dtype=bool)
    demographics = np.zeros((len(index), 4), dtype=np.float32)
    offsets, kept, failures = [0], [], []
    with open(folder / _SIGNALS, "wb") as out, tqdm(total=len(index), desc="preprocessing (cache)", unit="rec",
                                                     disable=not progress) as bar:
        for start, results in _prepared_tasks(index.header_paths, config, n_jobs):
            for row, result in enumerate(results, start):
                if isinstance(result, _Failure):
                    failures.append(_failure_entry(row, result, index.header_paths[row]))
                    continue
                signal, masks[row], demographics[row] = result
                out.write(memoryview(signal).cast("B"))
                offsets.append(offsets[-1] + signal.shape[-1])
                kept.append(row)
            bar.update(len(results))
        out.flush()
        os.fsync(out.fileno())  # the rename below must never publish a file still being written back
    return {"offsets": np.array(offsets, dtype=np.int64), "kept": np.array(kept, dtype=np.int64),
            "lead_masks": masks[kept], "demographics": demographics[kept], "failures": failures}


def _write_json(path: Path, value: Any) -> None:
    with open(path, "w") as f:
        json.dump(value, f)
        f.flush()
        os.fsync(f.fileno())


def _write_cache(folder: Path, key: str, index: RecordIndex, paths: list[str], stats: np.ndarray,
                 config: SignalConfig, n_jobs: int, progress: bool) -> None:
    built = _write_signals(folder, index, config, n_jobs, progress)
    for name in ("offsets", "kept", "lead_masks", "demographics"):
        np.save(folder / f"{name}.npy", built[name], allow_pickle=False)
    np.save(folder / "record_stats.npy", stats, allow_pickle=False)
    root = os.path.commonpath([os.path.dirname(p) for p in paths]) if paths else ""
    _write_json(folder / "records.json", {"root": root, "paths": [os.path.relpath(p, root) for p in paths]})
    _write_json(folder / "failures.json", built["failures"])
    manifest = {"format": FORMAT_VERSION, "key": key, "signal_config": dataclasses.asdict(config),
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


def _build(folder: Path, index: RecordIndex, paths: list[str], stats: np.ndarray, config: SignalConfig,
           n_jobs: int, progress: bool) -> None:
    """Build the cache in a partial folder, then publish it under its key with one rename."""
    cache_dir = folder.parent
    cache_dir.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(cache_dir)
    prefix = f"{_PARTIAL}{folder.name}.{os.getpid()}@{socket.gethostname()}."
    partial = Path(tempfile.mkdtemp(prefix=prefix, dir=cache_dir))
    try:
        _write_cache(partial, folder.name, index, paths, stats, config, n_jobs, progress)
        if folder.exists():
            if _open(folder, index, config) is not None:
                return  # another process published a valid cache meanwhile: keep it, it may be in use
            _discard(folder)  # an invalid folder under the key
        try:
            os.rename(partial, folder)
        except OSError:
            if not folder.is_dir():  # not a concurrent build of the same key that won the race
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)  # nothing left after a publish, or an error or interrupt


# R peaks and hand-made features (beat sampling, ecgnet.features): cached beside the signals.
_ANNOTATIONS = "annotations-"


def _derived_key(paths: Sequence[str], stats: np.ndarray, modules: Sequence[Any], settings: str) -> str:
    """The key of values computed from the records themselves (annotations, measurements): the code of the
    modules that compute them, their settings, the library versions, and every record's identity."""
    digest = hashlib.sha256()
    for module in (*modules, signals, records):
        digest.update(Path(module.__file__).read_bytes())
    digest.update(f"format {FORMAT_VERSION} {settings} numpy {np.__version__} scipy {scipy.__version__} "
                  f"neurokit2 {_neurokit_version()}\n".encode())
    for path, row in zip(paths, stats.tolist()):
        digest.update(f"{path}\0{row}\n".encode())
    return digest.hexdigest()[:24]


def _annotation_key(paths: Sequence[str], stats: np.ndarray, sample_rate: int) -> str:
    from . import features
    return _derived_key(paths, stats, [features], f"rate {sample_rate}")


def _neurokit_version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("neurokit2")
    except PackageNotFoundError:
        return "absent"


def _annotate_task(paths: Sequence[Path], sample_rate: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from . import features
    results = []
    for path in paths:
        try:
            annotation = features.annotate_file(path, sample_rate)
            results.append((annotation.peaks.astype(np.int64), annotation.features))
        except RecordError:
            results.append((np.zeros(0, dtype=np.int64), np.zeros(features.NUM_FEATURES, dtype=np.float32)))
    return results


def compute_annotations(header_paths: Sequence[Path], sample_rate: int, n_jobs: int = 1, progress: bool = True
                        ) -> tuple[list[np.ndarray], np.ndarray]:
    """Each record's R peaks at ``sample_rate`` and its hand-made features, computed in parallel; a record
    that cannot be read gets no peaks and missing features (its signals were already reported)."""
    from . import features
    size = max(1, min(TASK_RECORDS, math.ceil(len(header_paths) / (4 * effective_n_jobs(n_jobs)))))
    starts = range(0, len(header_paths), size)
    parallel = Parallel(n_jobs=n_jobs, return_as="generator")
    tasks = parallel(delayed(_annotate_task)(header_paths[s : s + size], sample_rate) for s in starts)
    peaks: list[np.ndarray] = []
    values = np.zeros((len(header_paths), features.NUM_FEATURES), dtype=np.float32)
    with tqdm(total=len(header_paths), desc="R peaks and features", unit="rec", disable=not progress) as bar:
        for start, results in zip(starts, tasks):
            for row, (record_peaks, record_features) in enumerate(results, start):
                peaks.append(record_peaks)
                values[row] = record_features
            bar.update(len(results))
    return peaks, values


def annotations_cached(index: RecordIndex, sample_rate: int, cache_dir: str | os.PathLike, n_jobs: int = 1,
                       progress: bool = True) -> tuple[list[np.ndarray], np.ndarray]:
    """:func:`compute_annotations` for the records of ``index`` through ``cache_dir``: built once per set of
    records (their sizes and mtimes) and sample rate, published with one rename like the signal cache.
    Files: ``peaks.npy`` (all peaks, concatenated), ``peak_offsets.npy``, ``features.npy``."""
    paths = _absolute_paths(index)
    folder = Path(cache_dir) / (_ANNOTATIONS + _annotation_key(paths, record_stats(index), sample_rate))
    opened = _open_annotations(folder, len(index))
    if opened is not None:
        return opened
    peaks, values = compute_annotations(index.header_paths, sample_rate, n_jobs, progress)
    offsets = np.cumsum([0] + [len(p) for p in peaks]).astype(np.int64)
    joined = np.concatenate(peaks).astype(np.int64) if peaks else np.zeros(0, dtype=np.int64)
    _publish_arrays(folder, {"peaks": joined, "peak_offsets": offsets, "features": values},
                    lambda: _open_annotations(folder, len(index)) is not None)
    return peaks, values


def _publish_arrays(folder: Path, arrays: dict[str, np.ndarray], valid: Callable[[], bool]) -> None:
    """Save ``arrays`` as ``<name>.npy`` in a partial folder and publish it as ``folder`` with one rename;
    ``valid()`` says whether what sits at ``folder`` is usable (a concurrent build may have won the race)."""
    cache_dir = folder.parent
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f"{_PARTIAL}{folder.name}.{os.getpid()}@{socket.gethostname()}.",
                                    dir=cache_dir))
    try:
        for name, array in arrays.items():
            np.save(partial / f"{name}.npy", array, allow_pickle=False)
        if folder.exists() and not valid():
            _discard(folder)  # an invalid folder under the key would block every later build
        try:
            os.rename(partial, folder)
        except OSError:
            if not valid():  # not a concurrent build that won the race
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _open_annotations(folder: Path, records: int) -> tuple[list[np.ndarray], np.ndarray] | None:
    try:
        joined, offsets, values = (_load(folder, name) for name in ("peaks", "peak_offsets", "features"))
    except (OSError, ValueError):
        return None
    if offsets.shape != (records + 1,) or len(values) != records or int(offsets[-1]) != len(joined):
        return None
    return [joined[a:b] for a, b in zip(offsets[:-1], offsets[1:])], values


# The measurements of the feature model (ecgnet.measurements), per record and lead set: cached beside the signals.
_MEASUREMENTS = "measurements-"


def _measurement_key(paths: Sequence[str], stats: np.ndarray, lead_sets: Sequence[Sequence[str]]) -> str:
    from . import features, measurements
    return _derived_key(paths, stats, [measurements, features], f"lead sets {[list(s) for s in lead_sets]}")


def _measure_task(paths: Sequence[Path], lead_sets: Sequence[Sequence[str]]) -> list[np.ndarray]:
    from . import measurements
    results = []
    for path in paths:
        try:
            results.append(measurements.measure_file(path, lead_sets))
        except RecordError:  # its signals were already reported: every value missing
            results.append(np.full((len(lead_sets), measurements.NUM_MEASUREMENTS), np.nan, dtype=np.float32))
    return results


def compute_measurements(header_paths: Sequence[Path], lead_sets: Sequence[Sequence[str]], n_jobs: int = 1,
                         progress: bool = True) -> np.ndarray:
    """float32 (records, lead sets, NUM_MEASUREMENTS): each record measured from each lead set's leads
    (:func:`ecgnet.measurements.measure_file`), in parallel."""
    from . import measurements
    size = max(1, min(TASK_RECORDS, math.ceil(len(header_paths) / (4 * effective_n_jobs(n_jobs)))))
    starts = range(0, len(header_paths), size)
    parallel = Parallel(n_jobs=n_jobs, return_as="generator")
    tasks = parallel(delayed(_measure_task)(header_paths[s : s + size], lead_sets) for s in starts)
    values = np.full((len(header_paths), len(lead_sets), measurements.NUM_MEASUREMENTS), np.nan, dtype=np.float32)
    with tqdm(total=len(header_paths), desc="measurements", unit="rec", disable=not progress) as bar:
        for start, results in zip(starts, tasks):
            values[start : start + len(results)] = results
            bar.update(len(results))
    return values


def measurements_cached(index: RecordIndex, lead_sets: Sequence[Sequence[str]], cache_dir: str | os.PathLike,
                        n_jobs: int = 1, progress: bool = True) -> np.ndarray:
    """:func:`compute_measurements` for the records of ``index`` through ``cache_dir`` (``measurements.npy``),
    built once per set of records and lead sets like the annotations."""
    from . import measurements
    paths = _absolute_paths(index)
    folder = Path(cache_dir) / (_MEASUREMENTS + _measurement_key(paths, record_stats(index), lead_sets))
    shape = (len(index), len(lead_sets), measurements.NUM_MEASUREMENTS)

    def opened() -> np.ndarray | None:
        try:
            values = _load(folder, "measurements")
        except (OSError, ValueError):
            return None
        return values if values.shape == shape and values.dtype == np.float32 else None

    values = opened()
    if values is None:
        values = compute_measurements(index.header_paths, lead_sets, n_jobs, progress)
        _publish_arrays(folder, {"measurements": values}, lambda: opened() is not None)
    return values


# Opening.
def _load(folder: Path, name: str) -> np.ndarray:
    return np.load(folder / f"{name}.npy", allow_pickle=False)


def _failures(entries: list[dict[str, Any]], index: RecordIndex) -> list[tuple[str, str]]:
    failures = []
    for entry in entries:
        file = (str(Path(index.header_paths[entry["row"]]).with_suffix("")) + entry["suffix"]
                if "suffix" in entry else entry["file"])
        failures.append((file, entry["reason"]))
    return failures


def _open(folder: Path, index: RecordIndex, config: SignalConfig
          ) -> tuple[PreparedSignals, list[int], list[tuple[str, str]]] | None:
    """The cache in ``folder`` if it is complete and consistent with ``index`` and ``config``, else None."""
    from .data import PreparedSignals
    try:
        manifest = json.loads((folder / _MANIFEST).read_text())
        expected = {"format": FORMAT_VERSION, "key": folder.name, "signal_config": dataclasses.asdict(config),
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
    except (OSError, ValueError, KeyError, TypeError, IndexError):  # missing, truncated or foreign files
        return None
    if not consistent:
        return None
    store = SignalStore(folder / _SIGNALS, offsets, STORE_DTYPE, LEADS)
    prepared = PreparedSignals(store, masks.astype(bool), demographics.astype(np.float32))
    return prepared, kept.tolist(), failures


def prepare_cached(
    index: RecordIndex, config: SignalConfig, cache_dir: str | os.PathLike, n_jobs: int = 1, progress: bool = True
) -> tuple[PreparedSignals, list[int], list[tuple[str, str]]]:
    """:func:`ecgnet.data.prepare_signals` through a cache in ``cache_dir``: the prepared signals of the
    records that could be read (a :class:`SignalStore` of float16 values served as float32), the index
    rows they belong to, and (file, reason) for each record that could not be read.

    The first call for these records and settings preprocesses them in parallel (``n_jobs``, as joblib)
    and writes the cache; later calls only stat the record files and open it.
    """
    paths = _absolute_paths(index)
    stats = record_stats(index)
    folder = Path(cache_dir) / _key(paths, stats, config)
    opened = _open(folder, index, config)
    if opened is None:
        _build(folder, index, paths, stats, config, n_jobs, progress)
        opened = _open(folder, index, config)
        if opened is None:
            raise RuntimeError(f"{folder}: the cache just built cannot be opened")
    return opened
