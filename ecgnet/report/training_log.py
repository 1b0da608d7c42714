"""A model folder's ``training_log.csv``: read per fold (:func:`read_training_log`) and drawn as the
training loss and validation Challenge metric per epoch (:func:`training_figure`, :func:`plot_training_log`).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..artifacts import TRAINING_LOG_COLUMNS
from ..files import write_bytes_atomic
from .figures import new_figure, png_bytes

PathLike = str | os.PathLike
TRAINING_FIGURE = "training_curves.png"
#: The columns of ``training_log.csv`` the report reads (of :data:`ecgnet.artifacts.TRAINING_LOG_COLUMNS`).
LOG_COLUMNS = TRAINING_LOG_COLUMNS[:4]  # fold, epoch, train_loss, val_challenge


def read_training_log(csv_path: PathLike) -> dict[str, dict[str, np.ndarray]]:
    """``training_log.csv`` per fold: ``{fold: {"epoch", "train_loss", "val_challenge": arrays}}``.

    Epochs are sorted; an epoch logged twice (a resumed run repeats it) keeps its last row.
    Raises ValueError naming the file when a column is missing, a value is not a number, or no row is logged.
    """
    path = Path(csv_path)
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [name for name in LOG_COLUMNS if name not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: training log has no column {', '.join(missing)}")
        rows: dict[str, dict[float, tuple[float, float]]] = {}
        for line, row in enumerate(reader, start=2):
            try:
                epoch, loss, score = (float(row[name]) for name in LOG_COLUMNS[1:])
            except (TypeError, ValueError):
                raise ValueError(f"{path}: line {line}: epoch, train_loss or val_challenge is not a number") from None
            rows.setdefault(row["fold"].strip(), {})[epoch] = (loss, score)
    if not rows:
        raise ValueError(f"{path}: training log has no rows")
    return {fold: _fold_arrays(rows[fold]) for fold in sorted(rows, key=_fold_order)}


def _fold_order(fold: str) -> tuple[int, float, str]:
    """Numeric folds in numeric order (fold 10 after fold 2), other names after them."""
    try:
        return 0, float(fold), fold
    except ValueError:
        return 1, 0.0, fold


def _fold_arrays(by_epoch: dict[float, tuple[float, float]]) -> dict[str, np.ndarray]:
    epochs = sorted(by_epoch)
    return {
        "epoch": np.array(epochs),
        "train_loss": np.array([by_epoch[e][0] for e in epochs]),
        "val_challenge": np.array([by_epoch[e][1] for e in epochs]),
    }


def training_figure(csv_path: PathLike) -> Figure:
    """Training loss and validation Challenge metric per epoch, one line per fold, in two panels."""
    folds = read_training_log(csv_path)
    figure = new_figure(11, 4)
    loss_ax, score_ax = figure.subplots(1, 2)
    for fold, series in folds.items():
        loss_ax.plot(series["epoch"], series["train_loss"], marker="o", markersize=3, label=f"fold {fold}")
        score_ax.plot(series["epoch"], series["val_challenge"], marker="o", markersize=3, label=f"fold {fold}")
    for ax, title in ((loss_ax, "Training loss"), (score_ax, "Validation Challenge metric")):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    score_ax.legend(fontsize=8, loc="lower right")
    return figure


def plot_training_log(csv_path: PathLike, png_path: PathLike) -> Path:
    """Draw a model folder's ``training_log.csv`` (see :func:`training_figure`) as a PNG file; return its path."""
    png_path = Path(png_path)
    write_bytes_atomic(png_path, png_bytes(training_figure(csv_path)))
    return png_path
