#!/usr/bin/env python
"""Measurements: time per record of ``measure_file`` with the five Challenge lead sets, and the share of
records in which each key measurement is found, on the real records of ``../shared/data``.

    python -m bench.measurements [--records 200] [--data ../shared/data]

The records are drawn evenly from four groups: the Challenge's 12-lead samples (500 Hz, 10-20 s), PTB-XL at
500 Hz, PTB-XL at 100 Hz, and CPSC 2018 (500 Hz, 10-60 s). Each time covers reading the record, R-peak
detection and every measurement. One process on one core (pinned, BLAS threads 1); neurokit2 is imported
and one record measured before the clock starts. Both wall-clock and CPU seconds are reported: on a shared
machine the CPU time is the steadier figure.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # before numpy is imported: one core means one BLAS thread

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from ecgnet.discovery import find_records  # noqa: E402
from ecgnet.measurements import MEASUREMENT_NAMES, measure_file  # noqa: E402
from ecgnet.records import LEAD_SETS, read_header  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

KEY_MEASUREMENTS = ("heart_rate_mean", "pr_interval", "qrs_duration", "qt_interval", "qrs_axis")
SET_SIZES = (12, 6, 4, 3, 2)


def groups(data: Path) -> dict[str, list[Path]]:
    """The four groups of records, each in path order."""
    ptbxl = find_records(data / "ptbxl").header_paths
    rates = {path: read_header(path)[1].frequency for path in ptbxl}
    return {
        "Challenge 500 Hz": find_records(data / "cinc2021" / "training").header_paths,
        "PTB-XL 500 Hz": [path for path in ptbxl if rates[path] == 500],
        "PTB-XL 100 Hz": [path for path in ptbxl if rates[path] == 100],
        "CPSC 2018 500 Hz": find_records(data / "cpsc2018").header_paths,
    }


def evenly(paths: list[Path], count: int) -> list[Path]:
    """``count`` paths spread evenly over ``paths`` (all of them when there are fewer)."""
    if len(paths) <= count:
        return paths
    return [paths[i] for i in np.linspace(0, len(paths) - 1, count).round().astype(int)]


def timed(paths: list[Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(wall seconds, CPU seconds, measurements (records, 5, NUM_MEASUREMENTS)) of each record."""
    sets = [LEAD_SETS[n] for n in SET_SIZES]
    wall, cpu, values = [], [], []
    for path in paths:
        started, started_cpu = time.perf_counter(), time.process_time()
        values.append(measure_file(path, sets))
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return np.array(wall), np.array(cpu), np.stack(values)


def seconds(label: str, wall: np.ndarray, cpu: np.ndarray) -> str:
    return (f"{label:18s} {len(wall):4d} records: wall mean {1e3 * wall.mean():5.1f} ms, p95 "
            f"{1e3 * np.percentile(wall, 95):5.1f} ms, max {1e3 * wall.max():5.1f} ms; "
            f"CPU mean {1e3 * cpu.mean():5.1f} ms, p95 {1e3 * np.percentile(cpu, 95):5.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--records", type=int, default=200, help="in all, split evenly over the four groups")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    chosen = {name: evenly(paths, args.records // 4) for name, paths in groups(args.data).items()}
    measure_file(next(iter(chosen.values()))[0], [LEAD_SETS[n] for n in SET_SIZES])  # imports neurokit2
    results = {name: timed(paths) for name, paths in chosen.items()}

    print(f"measure_file with the {len(SET_SIZES)} Challenge lead sets, one core, load average "
          f"{os.getloadavg()[0]:.1f}")
    for name, (wall, cpu, _) in results.items():
        print(seconds(name, wall, cpu))
    wall, cpu, values = (np.concatenate(parts) for parts in zip(*results.values()))
    print(seconds("all", wall, cpu))
    print("share of records with the measurement finite, per lead set:")
    print(f"{'':18s} " + " ".join(f"{n:>3d}-lead" for n in SET_SIZES))
    for name in KEY_MEASUREMENTS:
        shares = np.isfinite(values[:, :, MEASUREMENT_NAMES.index(name)]).mean(axis=0)
        print(f"{name:18s} " + " ".join(f"{share:8.1%}" for share in shares))
    print(f"{'any value (12-lead)':18s} {np.isfinite(values[:, 0]).mean():8.1%}")


if __name__ == "__main__":
    main()
