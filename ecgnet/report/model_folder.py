"""Everything the report reads from a model folder, in one place: the file names, the decision stage of
``model.json`` (read by :mod:`ecgnet.artifacts`, checked as inference checks it) and the out-of-fold scores of
``summary.json``. The report never loads the networks, nor torch.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..artifacts import TRAINING_LOG_FILE, load_decision
from ..decision import Decision

PathLike = str | os.PathLike
MODEL_DESCRIPTION = "model.json"
SUMMARY = "summary.json"
TRAINING_LOG = TRAINING_LOG_FILE


def training_log_path(model_dir: PathLike) -> Path:
    """Where a model folder keeps its training log (the file need not exist)."""
    return Path(model_dir) / TRAINING_LOG


# model.json: the decision stage.
def read_decision(model_dir: PathLike) -> Decision | None:
    """The decision stage of the model folder (:func:`ecgnet.artifacts.load_decision`: model.json and the trees,
    checked, without the networks); None when the folder has no ``model.json``."""
    if not (Path(model_dir) / MODEL_DESCRIPTION).is_file():
        return None
    return load_decision(model_dir)


# summary.json: the out-of-fold scores.
@dataclass(frozen=True)
class Summary:
    """What the report shows of ``summary.json``: how the folds were made, and the out-of-fold scores of each
    lead set (``records``, ``challenge_metric``, ``auroc``, ... as written; an entry that is not a JSON
    object has no scores)."""

    validation: Any  # "n/a" when not written
    out_of_fold: list[tuple[str, dict[str, Any]]]  # (lead-set name: comma-separated lead names, scores)
    # The score to expect on new records by lead-set name (ecgnet.estimate); empty for older model folders.
    expected: dict[str, dict[str, Any]] = field(default_factory=dict)


def read_summary(model_dir: PathLike) -> Summary | None:
    """The model folder's ``summary.json``; None when the folder has none."""
    path = Path(model_dir) / SUMMARY
    if not path.is_file():
        return None
    summary = json.loads(path.read_text())
    if not isinstance(summary, dict):
        return Summary("n/a", [])
    out_of_fold, expected = summary.get("out_of_fold", {}), summary.get("expected", {})
    return Summary(summary.get("validation", "n/a"),
                   [(name, values if isinstance(values, dict) else {}) for name, values in out_of_fold.items()],
                   {name: values for name, values in expected.items() if isinstance(values, dict)}
                   if isinstance(expected, dict) else {})
