"""Training: a k-fold ensemble of networks, per-lead-set thresholds tuned on out-of-fold probabilities,
and a model folder that inference reads.

Each fold trains on random windows and random lead subsets of its training records, keeps the epoch
with the best validation Challenge metric, and writes a checkpoint after every epoch so that a
stopped run continues where it stopped (``resume=True``).

This module runs the whole: the records (:mod:`ecgnet.training_data`), each fold (:mod:`ecgnet.fold_training`),
then the decision stage and the model folder (:mod:`ecgnet.training_folder`), resuming what a stopped run left.

Under torchrun every process runs :func:`train`: the folds are trained with DistributedDataParallel,
validation and out-of-fold predictions are shared out and gathered, and only rank 0 writes the model
folder and logs (how, and how to launch it: :mod:`ecgnet.distributed`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection
from pathlib import Path

import numpy as np
import torch

from . import distributed
from .artifacts import (
    TRAINING_LOG_FILE,
    read_json,
    weight_file,
    write_json,
)
from .config import RunConfig
from .fold_training import FoldTrainer, TrainingLog, resume_fold, train_fold
from .network import complete
from .records import EVALUATED_LEAD_SETS, lead_set_name
from .training_data import TrainingData, load_training_data
from .training_folder import write_model_folder


def describe_run(config: RunConfig, device: torch.device) -> str:
    if not distributed.is_distributed():
        return f"training on {device}"
    n = distributed.world_size()
    return (f"training on {n} processes ({device.type}), each on its share of every batch: global batch "
            f"{n} x {distributed.process_batch_size(config.training)}, the recipe's {config.training.batch_size}")


def finished_fold(model_dir: Path, fold: int, resume: bool) -> dict[str, np.ndarray] | None:
    """When resuming, the out-of-fold probabilities of a fold that the stopped run finished, else None."""
    done = model_dir / "checkpoints" / f"fold_{fold}_oof.npz"
    # Rank 0 decides for every process, so that they all take the same branch.
    if not distributed.broadcast_object(resume and done.is_file() and weight_file(model_dir, fold).is_file()):
        return None
    with np.load(done, allow_pickle=False) as saved:
        return {name: saved[name] for name in saved.files}


def _discard(_: object) -> None:
    """The log and training log of the processes other than rank 0."""


def train(data_dir: str | os.PathLike, model_dir: str | os.PathLike, config: RunConfig, resume: bool = False,
          progress: bool = True, log: Callable[[str], None] = print, exclude: Collection[str] = ()) -> dict:
    """Train the ensemble of ``config`` on ``data_dir`` (less the records whose id is in ``exclude``) and write
    the model folder; return the summary.

    Under torchrun every process calls this and gets the summary; only rank 0 logs and writes.
    """
    config = complete(config)  # the saved config names every hyper-parameter; a typo fails before data is read
    with distributed.process_group(config.training.device) as device:
        main = distributed.is_main()
        return _train(data_dir, Path(model_dir), config, device, resume, progress and main,
                      log if main else _discard, exclude)


def run_identity(config: RunConfig, data: TrainingData) -> dict:
    """What must not change between a stopped run and its resumption: the recipe (less where it runs)
    and the records and their folds."""
    recipe = config.to_dict()
    for key in ("device", "workers", "loader_workers", "cache", "cache_dir"):
        recipe["training"].pop(key, None)
    identity = {"recipe": recipe, "records": data.index.record_ids, "folds": data.folds.tolist()}
    return json.loads(json.dumps(identity))  # as it reads back from run.json (tuples become lists)


def check_same_run(model_dir: Path, config: RunConfig, data: TrainingData, resume: bool) -> None:
    """Refuse to resume a run started with another recipe or other records; a fresh run first removes
    the description of any earlier model in the folder, so that a crash cannot leave a mix that loads."""
    path = model_dir / "checkpoints" / "run.json"
    identity = run_identity(config, data)
    if resume and path.is_file():
        if read_json(path) != identity:
            raise ValueError(f"{model_dir}: the stopped run used another recipe or other records; "
                             "resume with the same ones, or train into a new model folder")
        return
    (model_dir / "model.json").unlink(missing_ok=True)
    write_json(path, identity)


def _train(data_dir: str | os.PathLike, model_dir: Path, config: RunConfig, device: torch.device, resume: bool,
           progress: bool, log: Callable[[str], None], exclude: Collection[str]) -> dict:
    log(describe_run(config, device))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # every batch has the same shape: the fastest kernels, found once
    # The records are checked first: a folder without records (or without labels) is refused with no model
    # folder created, and so with no checkpoints/ left in it.
    data = load_training_data(data_dir, config, progress, log, exclude)
    checkpoint_dir = model_dir / "checkpoints"
    if distributed.is_main():
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        for folder in (model_dir, checkpoint_dir):  # what a killed run was writing (ecgnet.files.atomic_path)
            for temporary in folder.glob(".*.tmp"):
                temporary.unlink(missing_ok=True)
        check_same_run(model_dir, config, data, resume)
    oof = {lead_set_name(leads): np.zeros(data.index.labels.shape) for leads in EVALUATED_LEAD_SETS}
    main = distributed.is_main()
    training_log = TrainingLog(model_dir / TRAINING_LOG_FILE, resume, log) if main else None
    for fold in range(len(data.fold_names)):
        fold_oof = finished_fold(model_dir, fold, resume)
        if fold_oof is not None:
            log(f"fold {fold}: already trained, reusing it")
        else:
            trainer = FoldTrainer(data, fold, config, device, checkpoint_dir)
            if resume:
                resume_fold(trainer, log)
            if main:
                training_log.keep_until(fold, trainer.epoch)
            fold_oof = train_fold(trainer, model_dir, training_log or _discard, progress, log)
        rows = np.flatnonzero(data.folds == fold)
        for name in oof:
            oof[name][rows] = fold_oof[name]
    # Rank 0 alone tunes the thresholds and writes the folder; the others wait for its summary.
    summary = write_model_folder(model_dir, config, data, oof, log) if distributed.is_main() else None
    return distributed.broadcast_object(summary)
