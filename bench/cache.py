#!/usr/bin/env python
"""Preprocessing cache: build speed, memory, reopening time and the effect of float16 storage.

    python -m bench.cache [--records 300] [--jobs 2] [--compare]

Writes N synthetic 12-lead records (500 Hz, 10 s), builds the cache from scratch with ``--jobs`` workers
and reports records/s overall and per core (by wall clock, and by the CPU time of this process and its
workers, which other work on a shared machine does not distort) and this process's peak RSS, then the time
to reopen the cache (what every later fold or run pays) and to read every record back. The float16 error is
measured against fresh float32 preprocessing of the first records. ``--compare`` also times the uncached
``prepare_signals`` on the same records (its peak RSS holds every signal in memory).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from joblib import effective_n_jobs

from bench.common import peak_memory_mb, synthetic_records
from ecgnet.cache import STORE_DTYPE, cache_path, prepare_cached
from ecgnet.config import SignalConfig
from ecgnet.discovery import index_records
from ecgnet.labels import default_class_table
from ecgnet.prepare import PrepareOptions, prepare_file, prepare_index


def cpu_seconds() -> float:
    """CPU time of this process and its live children (the joblib workers outlive each call, so
    RUSAGE_CHILDREN would miss them); Linux /proc, children only where readable."""
    total = time.process_time()
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():  # ppid; utime and stime follow at fields 11 and 12
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.iterdir()) / 1e6


def float16_error(index, prepared, kept: list[int], options: PrepareOptions, count: int) -> str:
    """Largest absolute, RMS and largest relative error of the stored values against float32 ones."""
    worst, squares, values, relative = 0.0, 0.0, 0, 0.0
    for position, row in enumerate(kept[:count]):
        exact = prepare_file(index.header_paths[row], options).signal
        error = np.abs(prepared.signals[position] - exact)
        worst, squares, values = max(worst, float(error.max())), squares + float((error**2).sum()), values + error.size
        big = np.abs(exact) > 1e-3  # relative error is meaningless near zero
        relative = max(relative, float((error[big] / np.abs(exact[big])).max()))
    return (f"{STORE_DTYPE.name} storage on {min(count, len(kept))} records (unit-std signals): max abs error "
            f"{worst:.2e}, RMS {np.sqrt(squares / values):.2e}, max relative {relative:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--records", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--compare", action="store_true", help="also time the uncached prepare_index")
    args = parser.parse_args()

    config = PrepareOptions(SignalConfig())  # signals only: the network's input
    cores = min(effective_n_jobs(args.jobs), os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        synthetic_records(root / "data", args.records, jobs=args.jobs)
        index = index_records(root / "data", default_class_table())[0]
        before = peak_memory_mb()

        cpu, started = cpu_seconds(), time.perf_counter()
        prepare_cached(index, config, root / "cache", n_jobs=args.jobs, progress=False)
        build, cpu = time.perf_counter() - started, cpu_seconds() - cpu
        after = peak_memory_mb()

        started = time.perf_counter()
        prepared, kept, _ = prepare_cached(index, config, root / "cache", n_jobs=args.jobs, progress=False)
        reopen = time.perf_counter() - started
        started = time.perf_counter()
        for signal in prepared.signals:
            signal.sum()
        read = time.perf_counter() - started

        rate = args.records / build
        print(f"{args.records} records (500 Hz, 10 s, 12 leads), {args.jobs} jobs on {cores} cores, "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        print(f"build: {build:.1f} s = {rate:.0f} records/s = {rate / cores:.0f} records/s per core, "
              f"{args.records / cpu:.0f} records per CPU second; "
              f"cache {folder_mb(cache_path(index, config, root / 'cache')):.0f} MB on disk")
        print(f"peak RSS: {before:.0f} MB before the build, {after:.0f} MB after it")
        print(f"reopen: {1e3 * reopen:.0f} ms; reading every record back: {args.records / read:.0f} records/s")
        print(float16_error(index, prepared, kept, config, count=200))
        if args.compare:
            started = time.perf_counter()
            prepare_index(index, config, n_jobs=args.jobs, progress=False)
            uncached = time.perf_counter() - started
            print(f"uncached prepare_index: {uncached:.1f} s = {args.records / uncached:.0f} records/s, "
                  f"peak RSS then {peak_memory_mb():.0f} MB")


if __name__ == "__main__":
    main()
