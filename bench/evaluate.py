#!/usr/bin/env python
"""Time the Challenge scores: from arrays (ecgnet.metric against the loop reference of bench/reference_metric.py),
and end to end from files, start-up included (evaluate_model.py against a per-record evaluator).

    python -m bench.evaluate [--records 20000] [--seed 0] [--no-files] [--loop-records N] [--official DIR]

Synthetic labels and outputs for N records x 26 classes are scored both ways from arrays, then (unless
--no-files) written as headers and output files to a temporary folder, with columns shuffled, equivalent
codes written ``a|b`` or apart and odd entries, and scored end to end: ``evaluate_model.py`` and
``bench.per_record_evaluator`` (which reads and scores as the official evaluator does) each run as a
process of their own, CPU time (user + system, children included) and wall time measured. ``--official
DIR`` also runs the official evaluator itself, side by side, from a checkout of
physionetchallenges/evaluation-2021 (not part of this project), at full precision. Every implementation must
agree to 1e-9 or the run fails. --loop-records
times the loop on the first N records only and extrapolates linearly to all of them.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.reference_metric import reference_scores
from ecgnet import metric
from ecgnet.labels import ClassTable, default_class_table

REPO = Path(__file__).resolve().parents[1]

TOLERANCE = 1e-9


def synthetic(num_records: int, seed: int, table: ClassTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels with 0.5-20 % prevalence per class; outputs that lean towards the labels, 3 decimals (ties)."""
    rng = np.random.default_rng(seed)
    prevalence = rng.uniform(0.005, 0.2, len(table))
    labels = rng.random((num_records, len(table))) < prevalence
    scalars = np.round(np.clip(0.4 * labels + 0.6 * rng.random(labels.shape), 0, 1), 3)
    scalars[rng.random(labels.shape) < 0.05] = 0.0  # some written as entries that are read as 0 (write_files)
    return labels, scalars >= 0.5, scalars


# Binary entries the official evaluator reads as positive (a finite number equal to 1, or a true word) and as
# negative (anything else), and scalar entries it reads as 0 (not a finite number): written at random.
POSITIVE_ENTRIES = ("1", "1.0", "1e0", " 1", "+1", "01", "1.", "True", "true", "T", "t")
NEGATIVE_ENTRIES = ("0", "0.0", " 0", "False", "F", "f", "TRUE", "yes", "nan", "inf", "2", "-1", "1.00001", "")
ZERO_SCALARS = ("0", "nan", "inf", "-inf", "abc", "", " nan ")


def write_files(directory: Path, labels: np.ndarray, binary: np.ndarray, scalars: np.ndarray, table: ClassTable,
                seed: int) -> tuple[Path, Path]:
    """Headers (a record line, one signal line, and the Dx line that matters) in labels/, output files in
    outputs/, written the ways the official evaluator reads alike: columns in a random order per file, a
    class of two codes written ``a|b``, as its first code, or as both codes apart (the same scalar; a positive
    class positive in its first column, either in its second), every form of :data:`POSITIVE_ENTRIES` and
    :data:`NEGATIVE_ENTRIES`, a zero scalar as any of :data:`ZERO_SCALARS`, Windows line ends in some files."""
    label_dir, output_dir = directory / "labels", directory / "outputs"
    label_dir.mkdir()
    output_dir.mkdir()
    rng = np.random.default_rng(seed)
    codes = np.array(table.codes)
    for i, (label_row, binary_row, scalar_row) in enumerate(zip(labels, binary, scalars)):
        record_id = f"S{i:06d}"
        dx = ",".join(codes[label_row])
        header = f"{record_id} 1 500 5000\n{record_id}.mat 16 1000/mV 16 0 0 0 0 I\n#Age: 50\n#Sex: Male\n#Dx: {dx}\n"
        (label_dir / f"{record_id}.hea").write_text(header)
        names, positives, values = [], [], []
        for j in rng.permutation(len(table)):
            scored, way = table.classes[j], rng.integers(3)
            spelt = [scored.label] if way == 0 else list(scored.codes) if way == 1 else [scored.code]
            names += spelt
            first = POSITIVE_ENTRIES if binary_row[j] else NEGATIVE_ENTRIES
            rest = POSITIVE_ENTRIES + NEGATIVE_ENTRIES if binary_row[j] else NEGATIVE_ENTRIES
            positives += [rng.choice(first)] + [rng.choice(rest) for _ in spelt[1:]]
            value = rng.choice(ZERO_SCALARS) if scalar_row[j] == 0 else f"{scalar_row[j]:g}"
            values += [value] * len(spelt)
        # Written line by line: format_outputs would turn the odd entries into well-formed ones.
        text = "".join(f"{line}\n" for line in (f"#{record_id}", ",".join(names), ",".join(positives),
                                                 ",".join(values)))
        (output_dir / f"{record_id}.csv").write_text(text.replace("\n", "\r\n") if i % 7 == 0 else text)
    return label_dir, output_dir


def run_process(command: list[str], cwd: Path = REPO) -> tuple[str, float, float]:
    """(stdout, CPU seconds of user and system time, wall seconds) of one process run in ``cwd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=True, cwd=cwd)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return result.stdout, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


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


def vectorised_scores(labels, binary, scalars, table: ClassTable) -> dict[str, object]:
    """ecgnet.metric.evaluate's scores as the dictionary :func:`reference_scores` returns."""
    scores = metric.evaluate(labels, binary, scalars, table)
    values: dict[str, object] = dict(zip(metric.SCORE_NAMES, scores.macro))
    values["class AUROC"] = scores.class_auroc
    values["class AUPRC"] = scores.class_auprc
    values["class F-measure"] = scores.class_f_measure
    return values


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


def official_scores(official: Path, label_dir: Path, output_dir: Path) -> tuple[dict, float, float]:
    """The official evaluator's five scores at full precision (its own ``evaluate_model`` function, run in its
    folder as its script runs it, without the 3-decimal formatting), CPU and wall seconds."""
    five = "(r[1], r[2], r[5], r[6], r[8])"  # AUROC, AUPRC, accuracy, F-measure, Challenge metric
    program = ("import json, sys; from evaluate_model import evaluate_model; "
               "r = evaluate_model(sys.argv[1], sys.argv[2]); "
               f"print(json.dumps(dict(zip({list(metric.SCORE_NAMES)!r}, map(float, {five})))))")
    stdout, cpu, wall = run_process([sys.executable, "-c", program, str(label_dir), str(output_dir)], official)
    return json.loads(stdout.splitlines()[-1]), cpu, wall  # the evaluator prints its progress before


def scores_of(command: list[str]) -> tuple[dict, float, float]:
    """The five scores a scoring process prints as JSON (best wall time of 2 runs), its CPU and wall seconds."""
    stdout, cpu, wall = min((run_process(command) for _ in range(2)), key=lambda run: run[2])
    scores = json.loads(stdout)
    return scores.get("scores", scores), cpu, wall


def bench_files(arrays: tuple, table: ClassTable, seed: int, official: Path | None) -> bool:
    """Write the arrays as files, time the evaluators end to end, report; True when they all agree."""
    with tempfile.TemporaryDirectory(prefix="bench-evaluate-") as directory:
        label_dir, output_dir = write_files(Path(directory), *arrays, table, seed)
        runs = {
            "evaluate_model.py": scores_of([sys.executable, "evaluate_model.py", str(label_dir), str(output_dir),
                                            "--json"]),
            "per-record evaluator": scores_of([sys.executable, "-m", "bench.per_record_evaluator", str(label_dir),
                                               str(output_dir)]),
        }
        if official is not None:
            runs["official evaluator"] = official_scores(official, label_dir, output_dir)
    expected = vectorised_scores(*arrays, table)
    agree = True
    for name, (scores, cpu, wall) in runs.items():
        worst = max(abs(float(scores[key]) - float(expected[key])) for key in metric.SCORE_NAMES)
        agree = agree and worst <= TOLERANCE
        print(f"files, end to end: {name}: CPU {cpu:.2f} s, wall {wall:.2f} s; "
              f"largest difference from the arrays' scores {worst:.1e}")
    cpu, wall = runs["evaluate_model.py"][1:]
    for name, (_, other_cpu, other_wall) in runs.items():
        if name != "evaluate_model.py":
            print(f"files: {name} / evaluate_model.py: CPU {other_cpu / cpu:.1f}x, wall {other_wall / wall:.1f}x")
    return agree


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-files", action="store_true", help="score arrays only, skip writing/reading files")
    parser.add_argument("--loop-records", type=int, help="time the loop on this many records and extrapolate")
    parser.add_argument("--official", type=Path, help="a checkout of the official evaluator, to time it too")
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
        agree = bench_files(arrays, table, args.seed, args.official) and agree
    print(f"records/s (vectorised, arrays): {args.records / vector_seconds:,.0f}; "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
