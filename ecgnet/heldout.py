"""Scores on records a model never saw: the held-out benchmark.

:func:`evaluate` runs a model folder on the records of a test folder, once per Challenge lead set (each
record restricted to those leads, as the Challenge's reduced-lead test files are), and scores the final
outputs and, for a stacked model, the network alone and the feature model alone, each with its own
thresholds tuned on the training folds. Nothing is tuned on the test records.

``python -m ecgnet.ablate DATA --test TESTDIR`` trains on DATA less the test records (by record id) and
reports these scores beside the out-of-fold estimate.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from . import metric
from .calibration import expected_calibration_error
from .discovery import index_records
from .inference import Ensemble, load_ensemble, predict_components, prepared_batches
from .labels import default_class_table
from .records import EVALUATED_LEAD_SETS, RecordError, lead_set_name


def held_out_ids(test_dir: str | os.PathLike) -> set[str]:
    """The record ids of a test folder: training leaves these out."""
    return set(index_records(test_dir, default_class_table())[0].record_ids)


def _predict(ensemble: Ensemble, paths: list[Path], leads: Sequence[str], workers: int
             ) -> tuple[list[int], dict[str, np.ndarray], int]:
    """(rows that could be run, probabilities per component of those rows, records that failed)."""
    position = {path: row for row, path in enumerate(paths)}
    rows, prepared, failed = [], [], 0
    for batch in prepared_batches(paths, leads, ensemble.config, workers, 32):
        for path, record in batch:
            if isinstance(record, RecordError):
                failed += 1
                continue
            rows.append(position[path])
            prepared.append(record)
    return rows, predict_components(ensemble, prepared), failed


def evaluate(model_dir: str | os.PathLike, test_dir: str | os.PathLike, device: str = "auto",
             workers: int = 0, log: Callable[[str], None] = print) -> dict:
    """Held-out scores: ``{lead set: {component: {score: value}, "records": n}}`` with components ``final``
    and, for a stacked model, ``network`` and ``features``; the scores are :data:`ecgnet.metric.SUMMARY_SCORES`
    and ``ece``, the expected calibration error."""
    table = default_class_table()
    index, _ = index_records(test_dir, table)
    ensemble = load_ensemble(model_dir, device)
    results = {}
    for leads in EVALUATED_LEAD_SETS:
        name = lead_set_name(leads)
        rows, components, failed = _predict(ensemble, list(index.header_paths), leads, workers)
        labels = index.labels[rows]
        results[name] = {"records": len(rows), "failed": failed}
        for component, probabilities in components.items():
            thresholds = ensemble.thresholds_for(leads, component)
            results[name][component] = metric.summary_scores(labels, probabilities, thresholds, table)
            results[name][component]["ece"] = expected_calibration_error(labels, probabilities)
        final = results[name]["final"]
        log(f"held-out {len(leads)} leads ({len(rows)} records): Challenge metric {final['challenge_metric']:.3f}, "
            f"AUROC {final['auroc']:.3f}")
    return results
