#!/usr/bin/env python
"""A per-record evaluator that reads and scores as the official 2021 evaluator does, step by step: the yardstick
for ``evaluate_model.py``'s speed in ``bench.evaluate``.

    python -m bench.per_record_evaluator LABELS OUTPUTS

Prints the five scores as JSON. Written for this project from the official evaluator's documented behaviour
(no code of it): the label folder listed flat and sorted, each output file checked for, each header read
whole and its ``#Dx`` lines split, each class compared with each label code and each output column as sets
of codes (``a|b`` split), a binary entry positive when it is a finite number equal to 1 or a true word,
scalars averaged over equivalent columns, and the scores computed by the loop reference of bench/reference_metric.py.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

from bench.reference_metric import reference_scores

REPO = Path(__file__).resolve().parents[1]

TRUE_WORDS = ("True", "true", "T", "t")
SINUS_RHYTHM = {"426783006"}


def read_weights(path: Path) -> tuple[list[set[str]], list[list[float]]]:
    rows = [[cell.strip() for cell in line.split(",")] for line in path.read_text().splitlines() if line.strip()]
    classes = [set(name.split("|")) for name in rows[0][1:]]
    return classes, [[float(value) for value in row[1:]] for row in rows[1:]]


def file_pairs(label_dir: str, output_dir: str) -> list[tuple[str, str]]:
    pairs = []
    for name in sorted(os.listdir(label_dir)):
        label_file = os.path.join(label_dir, name)
        if os.path.isfile(label_file) and name.lower().endswith(".hea") and not name.startswith("."):
            output_file = os.path.join(output_dir, os.path.splitext(name)[0] + ".csv")
            if not os.path.isfile(output_file):
                raise OSError(f"output file {output_file} not found")
            pairs.append((label_file, output_file))
    return pairs


def labels_of(label_file: str, classes: list[set[str]]) -> list[bool]:
    with open(label_file) as handle:
        header = handle.read()
    codes = set()
    for line in header.split("\n"):
        if line.startswith("#Dx"):
            parts = line.split(": ")
            if len(parts) > 1:
                codes.update(entry.strip() for entry in parts[1].split(","))
    return [bool(x & codes) for x in classes]


def finite(entry: str) -> float:
    try:
        value = float(entry)
    except ValueError:
        return 0.0
    return value if math.isfinite(value) else 0.0


def positive(entry: str) -> bool:
    """The official rule for a binary entry: a finite number equal to 1, or one of the true words."""
    try:
        value = float(entry)
    except ValueError:
        return entry in TRUE_WORDS
    return math.isfinite(value) and value == 1


def outputs_of(output_file: str, classes: list[set[str]]) -> tuple[list[bool], list[float]]:
    with open(output_file) as handle:
        lines = handle.readlines()[:4]
    columns = [set(entry.strip().split("|")) for entry in lines[1].split(",")]
    binary = [positive(entry.strip()) for entry in lines[2].split(",")]
    scalar = [finite(entry.strip()) for entry in lines[3].split(",")]
    binary_row, scalar_row = [], []
    for x in classes:
        matched = [k for k, y in enumerate(columns) if x & y]
        binary_row.append(any(binary[k] for k in matched))
        scalar_row.append(sum(scalar[k] for k in matched) / len(matched) if matched else 0.0)
    return binary_row, scalar_row


def main(label_dir: str, output_dir: str) -> None:
    classes, weights = read_weights(REPO / "weights.csv")
    labels, binary, scalars = [], [], []
    for label_file, output_file in file_pairs(label_dir, output_dir):
        labels.append(labels_of(label_file, classes))
        row_binary, row_scalars = outputs_of(output_file, classes)
        binary.append(row_binary)
        scalars.append(row_scalars)
    sinus = next(j for j, x in enumerate(classes) if x == SINUS_RHYTHM)
    scores = reference_scores(labels, binary, scalars, weights, sinus)
    print(json.dumps({name: scores[name] for name in ("AUROC", "AUPRC", "Accuracy", "F-measure", "Challenge metric")}))


if __name__ == "__main__":
    main(*sys.argv[1:3])
