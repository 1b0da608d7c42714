"""The cache of prepared records on disk (ecgnet.cache): same results as prepare.prepare_index, reuse,
invalidation, interrupted builds, and the memory-mapped signal store."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import pickle
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ecgnet import signals
from ecgnet.cache import STORE_DTYPE, SignalStore, cache_path, prepare_cached
from ecgnet.config import SignalConfig
from ecgnet.data import TrainingWindows
from ecgnet.discovery import index_records
from ecgnet.labels import default_class_table
from ecgnet.prepare import PreparedSignals, PrepareOptions, prepare_index
from ecgnet.records import write_record
from ecgnet.synthetic import generate_dataset

TABLE = default_class_table()
CONFIG = SignalConfig(sample_rate=250, window_seconds=2.0)
OPTIONS = PrepareOptions(CONFIG)


@pytest.fixture
def folder(tmp_path) -> Path:
    """20 synthetic 12-lead records (500 Hz, 5 s), one unreadable .mat and one record without standard leads."""
    data = tmp_path / "data"
    generate_dataset(data, 20, seed=3, duration=5.0, progress=False)
    (data / "SYN00004.mat").write_bytes(b"not a MATLAB file")
    write_record(data, "SYN00099", np.zeros((1, 1000)), 500.0, leads=["X1"], labels=["426783006"])
    return data


@pytest.fixture
def preprocess_calls(monkeypatch) -> list:
    """Counts the records prepared (builds run in this process with n_jobs=1)."""
    calls: list = []
    original = signals.leads_at_rate

    def counting(*args, **kwargs):
        calls.append(args[3] if len(args) > 3 else kwargs.get("source"))
        return original(*args, **kwargs)

    monkeypatch.setattr(signals, "leads_at_rate", counting)
    return calls


def forbid_preprocessing(monkeypatch) -> None:
    def fail(*args, **kwargs):
        raise AssertionError("a record was prepared: the cache was not reused")

    monkeypatch.setattr(signals, "leads_at_rate", fail)


def index_of(data):
    return index_records(data, TABLE)[0]


def rounded(prepared: PreparedSignals) -> list[np.ndarray]:
    """Uncached signals as the store holds them."""
    return [s.astype(STORE_DTYPE).astype(np.float32) for s in prepared.signals]


def assert_same(cached, uncached) -> None:
    """Same rows, failures, masks, demographics; signals equal to the float16 rounding of the uncached ones."""
    (c_prepared, c_kept, c_failures), (u_prepared, u_kept, u_failures) = cached, uncached
    assert c_kept == u_kept
    assert c_failures == u_failures
    np.testing.assert_array_equal(c_prepared.lead_masks, u_prepared.lead_masks)
    np.testing.assert_array_equal(c_prepared.demographics, u_prepared.demographics)
    assert c_prepared.demographics.dtype == np.float32 and c_prepared.lead_masks.dtype == bool
    assert len(c_prepared.signals) == len(u_prepared.signals)
    for c, u, r in zip(c_prepared.signals, u_prepared.signals, rounded(u_prepared)):
        assert c.dtype == np.float32 and c.shape == u.shape
        np.testing.assert_array_equal(c, r)
        np.testing.assert_allclose(c, u, rtol=2.0**-11, atol=1e-7)  # float16: 11 significant bits


def test_cached_equals_uncached_with_failures(folder, tmp_path):
    index = index_of(folder)
    uncached = prepare_index(index, OPTIONS, progress=False)
    cached = prepare_cached(index, OPTIONS, tmp_path / "cache", progress=False)
    assert_same(cached, uncached)
    failed = {Path(file).name: reason for file, reason in cached[2]}
    assert set(failed) == {"SYN00004.mat", "SYN00099.hea"}
    assert "MATLAB" in failed["SYN00004.mat"] and "standard lead" in failed["SYN00099.hea"]
    assert len(cached[1]) == len(index) - 2


def test_reopened_cache_equals_uncached_and_skips_preprocessing(folder, tmp_path, monkeypatch):
    index = index_of(folder)
    uncached = prepare_index(index, OPTIONS, progress=False)
    prepare_cached(index, OPTIONS, tmp_path / "cache", progress=False)
    forbid_preprocessing(monkeypatch)
    assert_same(prepare_cached(index, OPTIONS, tmp_path / "cache", progress=False), uncached)
    assert len(list((tmp_path / "cache").iterdir())) == 1


def test_parallel_build_equals_serial(folder, tmp_path):
    index = index_of(folder)
    serial = prepare_cached(index, OPTIONS, tmp_path / "serial", n_jobs=1, progress=False)
    parallel = prepare_cached(index, OPTIONS, tmp_path / "parallel", n_jobs=2, progress=False)
    assert_same(parallel, (PreparedSignals(list(serial[0].signals), serial[0].lead_masks, serial[0].demographics),
                           serial[1], serial[2]))


def test_real_records_match_uncached(shared_data, tmp_path):
    index = index_of(shared_data / "cinc2021" / "training")
    cached = prepare_cached(index, OPTIONS, tmp_path / "cache", progress=False)
    assert_same(cached, prepare_index(index, OPTIONS, progress=False))
    lengths = {cached[0].signals.samples(i) for i in range(len(cached[0].signals))}
    assert len(lengths) > 1  # records of several durations: the offsets are exercised


def test_same_folder_spelt_relative_reuses_cache_and_reports_its_own_paths(folder, tmp_path, monkeypatch):
    prepare_cached(index_of(folder), OPTIONS, tmp_path / "cache", progress=False)
    monkeypatch.chdir(folder.parent)
    relative = index_of(Path(folder.name))
    uncached = prepare_index(relative, OPTIONS, progress=False)
    forbid_preprocessing(monkeypatch)
    cached = prepare_cached(relative, OPTIONS, tmp_path / "cache", progress=False)
    assert cached[2] == uncached[2]
    assert all(not os.path.isabs(file) for file, _ in cached[2])


# Invalidation: each change gives a new key and a rebuild that reflects it.
def _touch(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


def _edit_header_keep_mtime(path: Path) -> None:
    stat = path.stat()
    path.write_text(path.read_text().replace("#Age: ", "#Age: 1"))  # a different age, a longer file
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # only the size tells


def _rewrite_mat(path: Path) -> None:
    write_record(path.parent, path.stem, np.ones((12, 2500)) * np.arange(2500) / 2500, 500.0, labels=["426783006"])


def _add_record(data: Path) -> None:
    write_record(data, "SYN00050", np.sin(np.arange(12 * 2500).reshape(12, 2500) / 50), 500.0, labels=["426783006"])


def _remove_record(data: Path) -> None:
    (data / "SYN00007.hea").unlink()
    (data / "SYN00007.mat").unlink()


CHANGES = {
    "touch .mat": lambda data: _touch(data / "SYN00002.mat"),
    "touch header": lambda data: _touch(data / "SYN00002.hea"),
    "edit header, same mtime": lambda data: _edit_header_keep_mtime(data / "SYN00002.hea"),
    "rewrite record": lambda data: _rewrite_mat(data / "SYN00002.hea"),
    "add record": _add_record,
    "remove record": _remove_record,
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_record_changes_invalidate(folder, tmp_path, preprocess_calls, change):
    cache = tmp_path / "cache"
    before = cache_path(index_of(folder), OPTIONS, cache)
    prepare_cached(index_of(folder), OPTIONS, cache, progress=False)
    CHANGES[change](folder)
    index = index_of(folder)
    assert cache_path(index, OPTIONS, cache) != before
    preprocess_calls.clear()
    cached = prepare_cached(index, OPTIONS, cache, progress=False)
    assert len(preprocess_calls) == len(index) - 1  # every record but the unreadable .mat
    assert_same(cached, prepare_index(index, OPTIONS, progress=False))


@pytest.mark.parametrize("field", ["sample_rate", "bandpass_low", "bandpass_high", "filter_order", "window_seconds",
                                   "inference_stride_seconds"])
def test_signal_settings_invalidate(folder, tmp_path, preprocess_calls, field):
    index = index_of(folder)
    prepare_cached(index, OPTIONS, tmp_path / "cache", progress=False)
    changed = PrepareOptions(dataclasses.replace(CONFIG, **{field: getattr(CONFIG, field) * 2}))
    assert cache_path(index, changed, tmp_path / "cache") != cache_path(index, OPTIONS, tmp_path / "cache")
    preprocess_calls.clear()
    cached = prepare_cached(index, changed, tmp_path / "cache", progress=False)
    assert preprocess_calls
    assert_same(cached, prepare_index(index, changed, progress=False))
    assert len(list((tmp_path / "cache").iterdir())) == 2  # the old settings keep their cache


# Interrupted and damaged builds.
# An unforeseen error inside one record's preparation is that record's failure (tests/test_prepare.py).
@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit])
def test_interrupted_build_leaves_nothing_trusted(folder, tmp_path, monkeypatch, error):
    index = index_of(folder)
    original, calls = signals.leads_at_rate, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 6:
            raise error("interrupted")
        return original(*args, **kwargs)

    monkeypatch.setattr(signals, "leads_at_rate", failing)
    with pytest.raises(error):
        prepare_cached(index, OPTIONS, tmp_path / "cache", progress=False)
    assert list((tmp_path / "cache").iterdir()) == []  # neither the cache nor its partial folder
    monkeypatch.setattr(signals, "leads_at_rate", original)
    assert_same(prepare_cached(index, OPTIONS, tmp_path / "cache", progress=False),
                prepare_index(index, OPTIONS, progress=False))


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_build_of_a_killed_process_is_not_trusted_and_is_removed(folder, tmp_path, preprocess_calls):
    index, cache = index_of(folder), tmp_path / "cache"
    complete = prepare_cached(index, OPTIONS, cache, progress=False)
    final = cache_path(index, OPTIONS, cache)
    host = socket.gethostname()
    # A process killed just before its rename leaves a complete-looking partial folder.
    abandoned = cache / f".partial-{final.name}.{_dead_pid()}@{host}.abc123"
    final.rename(abandoned)
    running = cache / f".partial-{'0' * 24}.{os.getpid()}@{host}.xyz789"  # a live build: left alone
    running.mkdir()
    preprocess_calls.clear()
    assert_same(prepare_cached(index, OPTIONS, cache, progress=False),
                (PreparedSignals(list(complete[0].signals), complete[0].lead_masks, complete[0].demographics),
                 complete[1], complete[2]))
    assert preprocess_calls
    assert sorted(p.name for p in cache.iterdir()) == sorted([final.name, running.name])


def _truncate_signals(folder: Path) -> None:
    path = folder / "signals.bin"
    path.write_bytes(path.read_bytes()[:-2])


def _old_format(folder: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "format": 0}))


DAMAGE = {
    "truncated signals": _truncate_signals,
    "no manifest": lambda folder: (folder / "manifest.json").unlink(),
    "no offsets": lambda folder: (folder / "offsets.npy").unlink(),
    "garbled failures": lambda folder: (folder / "failures.json").write_text("[{"),
    "other format": _old_format,
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_cache_is_rebuilt(folder, tmp_path, preprocess_calls, damage):
    index, cache = index_of(folder), tmp_path / "cache"
    prepare_cached(index, OPTIONS, cache, progress=False)
    DAMAGE[damage](cache_path(index, OPTIONS, cache))
    preprocess_calls.clear()
    cached = prepare_cached(index, OPTIONS, cache, progress=False)
    assert preprocess_calls
    assert_same(cached, prepare_index(index, OPTIONS, progress=False))
    assert [p.name for p in cache.iterdir()] == [cache_path(index, OPTIONS, cache).name]


def test_nothing_in_the_cache_needs_pickle(folder, tmp_path):
    index = index_of(folder)
    prepare_cached(index, OPTIONS, tmp_path / "cache", progress=False)
    folder_ = cache_path(index, OPTIONS, tmp_path / "cache")
    for path in folder_.glob("*.npy"):
        np.load(path, allow_pickle=False)
    manifest = json.loads((folder_ / "manifest.json").read_text())
    assert manifest["options"] == dataclasses.asdict(OPTIONS)
    assert (manifest["records"], manifest["kept"], manifest["failed"], manifest["dtype"]) == (21, 19, 2, "float16")
    assert len(json.loads((folder_ / "records.json").read_text())["paths"]) == 21


def test_index_without_readable_records(tmp_path):
    data = tmp_path / "data"
    write_record(data, "A0001", np.zeros((1, 500)), 500.0, leads=["X1"], labels=["426783006"])
    index = index_of(data)
    prepared, kept, failures = prepare_cached(index, OPTIONS, tmp_path / "cache", progress=False)
    assert kept == [] and len(failures) == 1 and len(prepared.signals) == 0
    assert prepared.lead_masks.shape == (0, 12) and prepared.demographics.shape == (0, 4)
    assert prepare_cached(index, OPTIONS, tmp_path / "cache", progress=False)[2] == failures


# The store.
def test_store_returns_independent_float32_copies(folder, tmp_path):
    prepared, kept, _ = prepare_cached(index_of(folder), OPTIONS, tmp_path / "cache", progress=False)
    store = prepared.signals
    assert isinstance(store, SignalStore) and len(store) == len(kept)
    first = store[0]
    assert first.dtype == np.float32 and first.shape == (12, 5 * CONFIG.sample_rate) and first.flags.writeable
    first[:] = 99.0
    assert not np.any(store[0] == 99.0)
    np.testing.assert_array_equal(store[-1], store[len(store) - 1])
    np.testing.assert_array_equal(store[np.int64(2)], store[2])
    assert len(store[1:4]) == 3 and len(list(store)) == len(store)
    with pytest.raises(IndexError):
        store[len(store)]


def test_store_pickles_without_its_data(folder, tmp_path):
    store = prepare_cached(index_of(folder), OPTIONS, tmp_path / "cache", progress=False)[0].signals
    store[0]  # map the file first: the mapping must not travel
    assert len(pickle.dumps(store)) < 4096
    # copy.copy rebuilds the store through the same __reduce__ that unpickling in a worker uses.
    np.testing.assert_array_equal(copy.copy(store)[3], store[3])


def test_training_windows_on_the_cached_store(folder, tmp_path):
    index = index_of(folder)
    cached, kept, _ = prepare_cached(index, OPTIONS, tmp_path / "cache", progress=False)
    uncached = prepare_index(index, OPTIONS, progress=False)[0]
    reference = PreparedSignals(rounded(uncached), uncached.lead_masks, uncached.demographics)
    labels = index.subset(kept).labels
    rows = np.arange(len(kept))
    windows = TrainingWindows(cached, rows, labels, CONFIG.window_samples, 0.5, seed=1)
    expected = TrainingWindows(reference, rows, labels, CONFIG.window_samples, 0.5, seed=1)
    for item in range(len(windows)):
        for name, got in windows[item].items():
            np.testing.assert_array_equal(got.numpy(), expected[item][name].numpy())
    signal, mask, demographics, target = (windows[0][k] for k in ("signal", "lead_mask", "demographics", "labels"))
    assert signal.shape == (12, CONFIG.window_samples) and mask.shape == (12,) and demographics.shape == (4,)
    assert target.shape == (len(TABLE),)


# R peaks, hand-made features and measurements: prepared in the same pass, cached in the same folder.
def test_peaks_features_and_measurements_are_cached_with_the_signals(folder, tmp_path, preprocess_calls):
    from ecgnet.features import NUM_FEATURES
    from ecgnet.measurements import MEASUREMENT_NAMES, NUM_MEASUREMENTS

    index, options = index_of(folder), PrepareOptions(CONFIG, peaks=True, measurements=True)
    prepared, kept, failures = prepare_cached(index, options, tmp_path / "cache", progress=False)
    expected, expected_kept, expected_failures = prepare_index(index, options, progress=False)
    assert (kept, failures) == (expected_kept, expected_failures)
    assert prepared.features.shape == (len(kept), NUM_FEATURES)
    assert prepared.measurements.shape == (len(kept), 5, NUM_MEASUREMENTS) and prepared.measurements.dtype == np.float32
    np.testing.assert_array_equal(prepared.features, expected.features)
    np.testing.assert_array_equal(prepared.measurements, expected.measurements)
    assert all(np.array_equal(a, b) for a, b in zip(prepared.peaks, expected.peaks))
    assert sum(len(p) > 3 for p in prepared.peaks) == len(kept)  # 5 s synthetic ECGs have several beats
    assert np.isfinite(prepared.measurements[:, :, MEASUREMENT_NAMES.index("heart_rate_mean")]).all()
    assert len(list((tmp_path / "cache").iterdir())) == 1  # one folder, one key
    # Reopened without preparing anything; a damaged part is rebuilt, never trusted.
    preprocess_calls.clear()
    again = prepare_cached(index, options, tmp_path / "cache", progress=False)[0]
    assert not preprocess_calls
    np.testing.assert_array_equal(again.measurements, prepared.measurements)
    np.save(cache_path(index, options, tmp_path / "cache") / "features.npy", np.zeros((1, 1)), allow_pickle=False)
    rebuilt = prepare_cached(index, options, tmp_path / "cache", progress=False)[0]
    assert preprocess_calls
    np.testing.assert_array_equal(rebuilt.features, prepared.features)


def test_the_peaks_are_found_on_the_resampled_signal(folder, tmp_path):
    index, options = index_of(folder), PrepareOptions(CONFIG, peaks=True)
    prepared = prepare_cached(index, options, tmp_path / "cache", progress=False)[0]
    for row in range(len(prepared)):
        signal, peaks = prepared.signals[row], prepared.peaks[row]
        assert peaks.max() < signal.shape[1]
        # At an R peak lead II is near its local extreme (within 20 ms).
        lead = np.abs(signal[1])
        near = [lead[max(0, p - 5) : p + 6].max() for p in peaks]
        assert np.median([lead[p] / n for p, n in zip(peaks, near)]) > 0.8
