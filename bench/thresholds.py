"""How well each threshold method transfers: tune on one part of a model's out-of-fold outputs, score on another.

    python -m bench.thresholds MODEL [MODEL ...] [--splits 10]

For each model folder's ``out_of_fold.npz`` and each lead set, every method of ``ecgnet.thresholds`` tunes
thresholds on a random half of the records and is scored (Challenge metric) on the other half, over
``--splits`` random halves; then, for a harder shift, tuned on all sources but one and scored on that one
(sources by record-name prefix). Prints the mean and standard deviation per method.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ecgnet.labels import default_class_table
from ecgnet.metric import challenge_metric
from ecgnet.records import source_of
from ecgnet.thresholds import METHODS, tune_thresholds


def score(labels, probabilities, thresholds, table) -> float:
    return challenge_metric(labels, probabilities >= thresholds, table.weights, table.sinus_rhythm_index)


def transfer(labels, probabilities, splits: list[tuple[np.ndarray, np.ndarray]], method: str, table) -> list[float]:
    scores = []
    for tune, test in splits:
        thresholds = tune_thresholds(labels[tune], probabilities[tune], table.weights, table.sinus_rhythm_index,
                                     method, seed=0)
        scores.append(score(labels[test], probabilities[test], thresholds, table))
    return scores


def random_halves(n: int, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    halves = []
    for _ in range(count):
        order = rng.permutation(n)
        halves.append((order[: n // 2], order[n // 2 :]))
    return halves


def source_splits(record_ids: list[str], smallest: int = 40) -> list[tuple[np.ndarray, np.ndarray]]:
    sources = np.array([source_of(r) for r in record_ids])
    return [(np.flatnonzero(sources != s), np.flatnonzero(sources == s)) for s in np.unique(sources)
            if (sources == s).sum() >= smallest]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--methods", default=",".join(m for m in METHODS if m != "evolution"))
    args = parser.parse_args()
    table = default_class_table()
    methods = args.methods.split(",")
    for model in args.models:
        with np.load(model / "out_of_fold.npz", allow_pickle=False) as saved:
            arrays = {name: saved[name] for name in saved.files}
        labels, ids = arrays["labels"].astype(bool), [str(r) for r in arrays["record_ids"]]
        for key in (k for k in arrays if "," in k):
            probabilities = arrays[key]
            print(f"\n{model} {key.split(':')[0] if ':' in key else 'final'} {key.split(':')[-1].count(',') + 1} "
                  f"leads ({len(labels)} records)")
            print(f"{'method':<11} {'random halves':>16} {'leave one source out':>22} {'seconds':>8}")
            for method in methods:
                started = time.perf_counter()
                halves = transfer(labels, probabilities, random_halves(len(labels), args.splits), method, table)
                sources = transfer(labels, probabilities, source_splits(ids), method, table)
                print(f"{method:<11} {np.mean(halves):>9.3f} ± {np.std(halves):.3f} {np.mean(sources):>15.3f} "
                      f"± {np.std(sources):.3f} {time.perf_counter() - started:>8.1f}")


if __name__ == "__main__":
    main()
