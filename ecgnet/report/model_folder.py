"""Everything the report reads from a model folder, in one place: the file names, the calibration of
``model.json`` and the out-of-fold scores of ``summary.json``.

The report reads these files by hand, as plain JSON, so that it never loads the networks (nor torch). Each
function here is small and returns plain values; replacing the hand parsing by a torch-free loader of the
model folder changes this module alone.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..calibration import Calibration

PathLike = str | os.PathLike
MODEL_DESCRIPTION = "model.json"
SUMMARY = "summary.json"
TRAINING_LOG = "training_log.csv"


def training_log_path(model_dir: PathLike) -> Path:
    """Where a model folder keeps its training log (the file need not exist)."""
    return Path(model_dir) / TRAINING_LOG


# model.json: the calibration.
@dataclass(frozen=True)
class ModelCalibration:
    """The Platt maps of ``model.json``: the model's class codes, in its column order, and the raw entry of
    each calibrated lead set (comma-separated lead names), parsed when asked for by :meth:`for_lead_set`."""

    path: Path
    class_codes: list[str]
    entries: Any  # lead-set name -> the calibration's JSON, as written

    def lead_sets(self) -> list[str]:
        """The names of the calibrated lead sets."""
        return list(self.entries)

    def for_lead_set(self, name: str) -> Calibration:
        """The calibration of one lead set; ValueError naming the file when it is malformed."""
        return Calibration.from_json(self.entries[name], len(self.class_codes), f"{self.path}: calibration for {name}")


def read_calibration(model_dir: PathLike) -> ModelCalibration | None:
    """The calibration of the model folder's ``model.json``; None when the folder has no ``model.json`` or the
    model is not calibrated."""
    path = Path(model_dir) / MODEL_DESCRIPTION
    description = json.loads(path.read_text()) if path.is_file() else {}
    entries = description.get("calibration") if isinstance(description, dict) else None
    if not entries:
        return None
    codes = [str(code) for code in description.get("class_codes", [])]
    return ModelCalibration(path, codes, entries)


# summary.json: the out-of-fold scores.
@dataclass(frozen=True)
class Summary:
    """What the report shows of ``summary.json``: how the folds were made, and the out-of-fold scores of each
    lead set (``records``, ``challenge_metric``, ``auroc``, ... as written; an entry that is not a JSON
    object has no scores)."""

    validation: Any  # "n/a" when not written
    out_of_fold: list[tuple[str, dict[str, Any]]]  # (lead-set name: comma-separated lead names, scores)


def read_summary(model_dir: PathLike) -> Summary | None:
    """The model folder's ``summary.json``; None when the folder has none."""
    path = Path(model_dir) / SUMMARY
    if not path.is_file():
        return None
    summary = json.loads(path.read_text())
    if not isinstance(summary, dict):
        return Summary("n/a", [])
    out_of_fold = summary.get("out_of_fold", {})
    return Summary(summary.get("validation", "n/a"),
                   [(name, values if isinstance(values, dict) else {}) for name, values in out_of_fold.items()])
