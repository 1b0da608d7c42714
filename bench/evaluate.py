#!/usr/bin/env python
"""Time the vectorised Challenge scores (ecgnet.metric) against the loop reference of tests/test_metric.py.

    python bench/evaluate.py [--records 20000] [--seed 0] [--no-files] [--loop-records N]

Synthetic labels and outputs for N records x 26 classes are scored both ways from arrays, then (unless
--no-files) written as headers and output files to a temporary folder and scored again from the files,
so the time to read them is included. The two implementations must agree to 1e-9 or the run fails.
--loop-records times the loop on the first N records only and extrapolates linearly to all of them
(the loop is linear in the records: one sort and one pass per class, one pass over the records).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ecgnet import metric  # noqa: E402
from ecgnet.discovery import find_records  # noqa: E402
from ecgnet.labels import ClassTable, default_class_table  # noqa: E402
from ecgnet.outputs import format_outputs  # noqa: E402
from tests.test_metric import reference_scores, scores_dict, vectorised_scores  # noqa: E402

TOLERANCE = 1e-9


def synthetic(num_records: int, seed: int, table: ClassTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels with 0.5-20 % prevalence per class; outputs that lean towards the labels, 3 decimals (ties)."""
    rng = np.random.default_rng(seed)
    prevalence = rng.uniform(0.005, 0.2, len(table))
    labels = rng.random((num_records, len(table))) < prevalence
    scalars = np.round(np.clip(0.4 * labels + 0.6 * rng.random(labels.shape), 0, 1), 3)
    return labels, scalars >= 0.5, scalars


def write_files(directory: Path, labels: np.ndarray, binary: np.ndarray, scalars: np.ndarray, table: ClassTable):
    """Minimal headers (only the Dx line matters here) in labels/, output files in outputs/."""
    label_dir, output_dir = directory / "labels", directory / "outputs"
    label_dir.mkdir()
    output_dir.mkdir()
    codes = np.array(table.codes)
    for i, (label_row, binary_row, scalar_row) in enumerate(zip(labels, binary, scalars)):
        record_id = f"S{i:06d}"
        dx = ",".join(codes[label_row])
        header = f"{record_id} 1 500 5000\n{record_id}.mat 16 1000/mV 16 0 0 0 0 I\n#Age: 50\n#Sex: Male\n#Dx: {dx}\n"
        (label_dir / f"{record_id}.hea").write_text(header)
        (output_dir / f"{record_id}.csv").write_text(format_outputs(record_id, table.codes, binary_row, scalar_row))
    return label_dir, output_dir


def timed(function: Callable, *args, repeats: int = 1):
    """The result of ``function(*args)`` and the best wall time of ``repeats`` calls."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = function(*args)
        best = min(best, time.perf_counter() - start)
    return result, best


def largest_difference(a: dict, b: dict) -> float:
    """The largest absolute difference between two score dictionaries; inf where NaN patterns differ."""
    worst = 0.0
    for name in a:
        x, y = np.asarray(a[name], float), np.asarray(b[name], float)
        if not np.array_equal(np.isnan(x), np.isnan(y)):
            return float("inf")
        both = ~np.isnan(x)
        worst = max(worst, float(np.max(np.abs(x[both] - y[both]), initial=0.0)))
    return worst


def loop_time(labels, binary, scalars, table: ClassTable, loop_records: int) -> tuple[float, float, str]:
    """Loop-reference seconds for all records (extrapolated when run on a subset), its difference, a note."""
    subset = slice(0, loop_records)
    args = (labels[subset], binary[subset], scalars[subset])
    reference, seconds = timed(reference_scores, *args, table.weights, table.sinus_rhythm_index)
    difference = largest_difference(vectorised_scores(*args, table), reference)
    if loop_records >= len(labels):
        return seconds, difference, "measured"
    scale = len(labels) / loop_records
    note = f"measured on {loop_records} records ({seconds:.2f} s), extrapolated linearly x{scale:g}"
    return seconds * scale, difference, note


def read_folders(label_dir: Path, output_dir: Path, table: ClassTable):
    """Labels, binary and scalar outputs read from the files, as evaluate_folders reads them."""
    header_files = find_records(label_dir, need_signals=False).header_paths
    labels = metric.load_labels(header_files, table)
    return (labels, *metric.load_outputs(metric.output_files_for(header_files, output_dir), table))


def bench_files(arrays: tuple, table: ClassTable, vector_seconds: float, loop_seconds: float) -> bool:
    """Write the arrays as files, time reading and evaluate_folders, report; True when everything agrees."""
    with tempfile.TemporaryDirectory(prefix="bench-evaluate-") as directory:
        label_dir, output_dir = write_files(Path(directory), *arrays, table)
        read, read_seconds = timed(read_folders, label_dir, output_dir, table, repeats=2)
        from_files, folder_seconds = timed(metric.evaluate_folders, label_dir, output_dir, repeats=2)
    round_trip = all(np.array_equal(a, b) for a, b in zip(arrays, read))
    difference = largest_difference(vectorised_scores(*arrays, table), scores_dict(from_files))
    print(f"files: reading {len(arrays[0])} headers + {len(arrays[0])} output files {read_seconds:.2f} s (best of 2)")
    print(f"files: vectorised, evaluate_folders end to end {folder_seconds:.2f} s (best of 2)")
    print(
        f"files: loop, reading + loop scoring {read_seconds + loop_seconds:.2f} s; "
        f"ratio {(read_seconds + loop_seconds) / folder_seconds:.1f}x"
    )
    print(f"files: arrays read back unchanged: {round_trip}; scores vs arrays: largest difference {difference:.1e}")
    return round_trip and difference <= TOLERANCE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-files", action="store_true", help="score arrays only, skip writing/reading files")
    parser.add_argument("--loop-records", type=int, help="time the loop on this many records and extrapolate")
    args = parser.parse_args(argv)
    table = default_class_table()
    arrays = synthetic(args.records, args.seed, table)
    print(f"{args.records} records x {len(table)} classes, seed {args.seed}")

    _, vector_seconds = timed(metric.evaluate, *arrays, table, repeats=3)
    loop_seconds, difference, note = loop_time(*arrays, table, args.loop_records or args.records)
    print(f"arrays: vectorised {vector_seconds:.4f} s (best of 3), loop {loop_seconds:.2f} s ({note})")
    print(f"arrays: loop / vectorised = {loop_seconds / vector_seconds:.0f}x")
    agree = difference <= TOLERANCE
    print(f"agreement: largest difference {difference:.1e} ({'ok' if agree else 'FAILED'}, tolerance {TOLERANCE:g})")
    if not args.no_files:
        agree = bench_files(arrays, table, vector_seconds, loop_seconds) and agree
    print(f"records/s (vectorised, arrays): {args.records / vector_seconds:,.0f}; "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
