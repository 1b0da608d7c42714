"""The end of a training run: the decision stage fitted on the out-of-fold probabilities, and the rest of the
model folder written (``model.json``, ``trees.safetensors``, ``summary.json``, ``out_of_fold.npz``)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import estimate, metric
from .artifacts import (
    save_model_description,
    trees_file,
    write_json,
)
from .config import RunConfig
from .decision import COMPONENTS, FINAL, Decision, out_of_fold_key
from .files import save_arrays
from .labels import ClassTable
from .training_data import TrainingData
from .trees import save_trees


def summarise(labels: np.ndarray, oof: dict[str, np.ndarray], thresholds: dict[str, np.ndarray],
              table: ClassTable, folds: np.ndarray) -> dict[str, dict]:
    """Out-of-fold scores per lead set with the tuned thresholds: over all records, and over each fold's
    (``per_fold``: lists in fold order, the spread that one pooled number hides)."""
    summary = {}
    for name, probabilities in oof.items():
        pooled = metric.summary_scores(labels, probabilities, thresholds[name], table)
        each = [metric.summary_scores(labels[folds == k], probabilities[folds == k], thresholds[name], table)
                for k in range(int(folds.max()) + 1)]
        per_fold = {score: [fold[score] for fold in each] for score in metric.SUMMARY_SCORES}
        summary[name] = {"records": int(len(labels)), **pooled, "per_fold": per_fold}
    return summary


def write_model_folder(model_dir: Path, config: RunConfig, data: TrainingData, oof: dict[str, np.ndarray],
                       log: Callable[[str], None]) -> dict:
    """Fit the decision stage on the networks' out-of-fold probabilities (:meth:`ecgnet.decision.Decision.fit`:
    the feature model and the stack when they are on, the calibration, the thresholds), write the rest of
    the model folder, drop the checkpoints; return the summary."""
    labels, table, folds = data.index.labels, data.table, data.folds
    measured = data.measurements_by_lead_set() if config.feature_model.enabled else None
    decision, outputs = Decision.fit(oof, labels, folds, table, config, measured, data.prepared.demographics,
                                     log=log)
    final = outputs[FINAL]
    summary = {"validation": config.training.validation, "folds": data.fold_names,
               "out_of_fold": summarise(labels, final, decision.thresholds, table, folds),
               "expected": estimate.expected_scores(labels, final, folds, table, config.training,
                                                    seed=config.training.seed)}
    each_model = {}
    if decision.stacked:
        summary["components"] = {name: summarise(labels, outputs[name], decision.component_thresholds[name],
                                                 table, folds) for name in COMPONENTS}
        save_trees(trees_file(model_dir), decision.trees)
        each_model = {out_of_fold_key(name, lead_set): p for name in COMPONENTS
                      for lead_set, p in outputs[name].items()}
    save_model_description(model_dir, config, table.codes, table.labels, len(data.fold_names), decision)
    write_json(model_dir / "summary.json", summary)
    save_arrays(model_dir / "out_of_fold.npz", record_ids=np.array(data.index.record_ids), labels=labels,
                folds=folds, **final, **each_model)
    shutil.rmtree(model_dir / "checkpoints")  # the run is complete: nothing left to resume
    for name, scores in summary["out_of_fold"].items():
        log(f"out-of-fold {name}: Challenge metric {scores['challenge_metric']:.3f}, "
            f"AUROC {scores['auroc']:.3f}, F-measure {scores['f_measure']:.3f}")
    for name, entry in summary["expected"].items():
        log(estimate.describe(name, entry))
    return summary
