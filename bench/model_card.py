#!/usr/bin/env python
"""The held-out figures of a model card: per lead set and per source, with 95 % intervals, and the classes it is
weak on.

    python -m bench.model_card MODEL TEST [--resamples 1000]

MODEL is a model folder trained without the records of TEST (for example the held-out benchmark's,
``python -m bench.heldout_split``); every record of TEST is run at each evaluated lead set
(:func:`ecgnet.heldout.evaluate`) and scored: the Challenge metric and AUROC with their bootstrap intervals per
lead set, the Challenge metric per source (the record-name prefix, ``ecgnet.records.source_of``) at 12 leads,
and the F-measure and AUROC of each class with positives, all lead sets pooled, weakest first.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from ecgnet import bootstrap, heldout, metric
from ecgnet.labels import default_class_table
from ecgnet.records import source_of

#: Sources with fewer held-out records than this are not scored alone (an interval over a handful is noise).
MIN_SOURCE_RECORDS = 20


def _interval(labels: np.ndarray, decided: np.ndarray, final: np.ndarray, resamples: int) -> str:
    scores = bootstrap.score_intervals(labels, decided, final, default_class_table(), resamples)
    challenge, auroc = scores["Challenge metric"], scores["AUROC"]
    return (f"{challenge.estimate:.3f} [{challenge.low:.3f}, {challenge.high:.3f}] | "
            f"{auroc.estimate:.3f} [{auroc.low:.3f}, {auroc.high:.3f}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("test", type=Path)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    table = default_class_table()
    with tempfile.TemporaryDirectory() as temporary:
        saved = Path(temporary) / "outputs.npz"
        heldout.evaluate(args.model, args.test, outputs_file=saved, log=lambda line: None)
        outputs = heldout.read_outputs(saved)
    print("| lead set | records | Challenge metric [95 %] | AUROC [95 %] |\n| --- | --- | --- | --- |")
    for name, found in outputs.items():
        print(f"| {len(name.split(','))} leads | {len(found['labels'])} | "
              f"{_interval(found['labels'], found['decided'], found['final'], args.resamples)} |")
    twelve = next(iter(outputs.values()))
    sources = np.array([source_of(str(record_id)) for record_id in twelve["record_ids"]])
    print("\n| source (12 leads) | records | Challenge metric [95 %] | AUROC [95 %] |\n| --- | --- | --- | --- |")
    for source in sorted(set(sources)):
        rows = sources == source
        if rows.sum() >= MIN_SOURCE_RECORDS:
            found = _interval(twelve["labels"][rows], twelve["decided"][rows], twelve["final"][rows], args.resamples)
            print(f"| {source} | {rows.sum()} | {found} |")
    labels = np.concatenate([found["labels"] for found in outputs.values()])
    decided = np.concatenate([found["decided"] for found in outputs.values()])
    final = np.concatenate([found["final"] for found in outputs.values()])
    _, f_measures = metric.compute_f_measure(labels, decided)
    _, _, aurocs, _ = metric.compute_auc(labels, final)
    print("\n| class | positives (5 lead sets) | F-measure | AUROC |\n| --- | --- | --- | --- |")
    for column in np.argsort(f_measures):
        positives = int(labels[:, column].sum())
        if positives:
            print(f"| {table.abbreviations[column]} | {positives} | {f_measures[column]:.2f} | {aurocs[column]:.2f} |")


if __name__ == "__main__":
    main()
