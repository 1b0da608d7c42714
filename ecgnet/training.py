"""Training: a k-fold ensemble of networks, per-lead-set thresholds tuned on out-of-fold probabilities,
and a model folder that inference reads.

Each fold trains on random windows and random lead subsets of its training records, keeps the epoch
with the best validation Challenge metric, and writes a checkpoint after every epoch so that a
stopped run continues where it stopped (``resume=True``).

Under torchrun every process runs :func:`train`: the folds are trained with DistributedDataParallel,
validation and out-of-fold predictions are shared out and gathered, and only rank 0 writes the model
folder and logs (how, and how to launch it: :mod:`ecgnet.distributed`).
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from tqdm.auto import tqdm

from . import distributed, losses, metric
from .artifacts import (
    read_json,
    save_model_description,
    save_weights,
    trees_file,
    weight_file,
    write_json,
)
from .cache import default_cache_dir, prepare_cached
from .config import RunConfig, TrainingConfig
from .data import (
    EpochSampler,
    ExampleOptions,
    RecordWindows,
    TrainingWindows,
    epoch_loader,
    leave_source_out_folds,
    stratified_folds,
)
from .decision import COMPONENTS, FINAL, Decision, out_of_fold_key
from .device import make_optimizer, native_bf16
from .discovery import RecordIndex, index_records
from .files import atomic_path, write_text_atomic
from .labels import ClassTable, default_class_table
from .network import build_network, complete
from .objective import Objective, TrainingModel
from .prepare import PreparedSignals, PrepareOptions, join_prepared, prepare_index
from .pretrain import pretrain
from .records import EVALUATED_LEAD_SETS, LEAD_SETS, lead_set_name
from .thresholds import f1_thresholds
from .trees import save_trees

T = TypeVar("T")
LOG_FIELDS = ["fold", "epoch", "train_loss", "val_challenge", "val_auroc", "learning_rate", "seconds"]


@dataclass
class TrainingData:
    """Everything the folds share: the index, the prepared signals and the fold of each record."""

    index: RecordIndex
    prepared: PreparedSignals
    folds: np.ndarray
    fold_names: list[str]
    table: ClassTable
    # Records left out for having no scored label, and their sources: self-supervised pre-training uses those
    # of the fold's training sources too.
    unlabelled: PreparedSignals | None = None
    unlabelled_sources: list[str] | None = None


def _through_cache(config: RunConfig, cached: Callable[[Path, int], T], uncached: Callable[[int], T]) -> T:
    """``cached(cache_dir, n_jobs)``, built by the first process while the others wait and then open it,
    or with ``cache = false`` ``uncached(n_jobs)`` in memory."""
    settings = config.training
    n_jobs = max(1, settings.workers)
    if not settings.cache:
        return uncached(n_jobs)
    cache_dir = Path(settings.cache_dir) if settings.cache_dir else default_cache_dir()
    if not distributed.is_main():
        distributed.barrier()  # wait for rank 0 to build it, then open it
    result = cached(cache_dir, n_jobs)
    if distributed.is_main():
        distributed.barrier()
    return result


def prepare(index: RecordIndex, config: RunConfig, progress: bool
            ) -> tuple[PreparedSignals, list[int], list[tuple[str, str]]]:
    """The prepared records of ``index`` (:mod:`ecgnet.prepare`), from the disk cache or computed in memory."""
    options = PrepareOptions.of(config)
    return _through_cache(
        config, lambda folder, n_jobs: prepare_cached(index, options, folder, n_jobs=n_jobs, progress=progress),
        lambda n_jobs: prepare_index(index, options, n_jobs=n_jobs, progress=progress))


def chosen_rows(index: RecordIndex, settings: TrainingConfig) -> np.ndarray:
    """The rows a recipe trains on: all, or those with a scored label, at most ``max_records`` of them."""
    rows = np.arange(len(index))
    if not settings.use_unlabelled:
        rows = rows[index.labels.any(axis=1)]
    if settings.max_records is not None and len(rows) > settings.max_records:
        rows = np.sort(np.random.default_rng(settings.seed).choice(rows, settings.max_records, replace=False))
    return rows


def load_training_data(data_dir: str | os.PathLike, config: RunConfig, progress: bool = True,
                       log: Callable[[str], None] = print, exclude: Collection[str] = ()) -> TrainingData:
    """Index, filter and preprocess the records of ``data_dir`` and assign their folds; records whose id is in
    ``exclude`` (a held-out test set's) are left out."""
    settings = config.training
    table = default_class_table()
    index, failures = index_records(data_dir, table)
    if exclude:
        excluded = set(exclude)
        index = index.subset([i for i, record_id in enumerate(index.record_ids) if record_id not in excluded])
    # Every record of the folder is prepared (and cached) once; the recipe's choice of records is made
    # afterwards, so that recipes choosing differently share one cache.
    prepared, kept, more_failures = prepare(index, config, progress)
    index = index.subset(kept)
    for path, reason in failures + more_failures:
        log(f"skipped {path}: {reason}")
    if settings.source_table:
        index.sources = losses.record_sources(index.record_ids, losses.read_source_table(settings.source_table))
    chosen = chosen_rows(index, settings)
    unlabelled, unlabelled_sources = None, None
    if settings.pretrain_epochs and not settings.use_unlabelled:
        rows = np.flatnonzero(~index.labels.any(axis=1))
        unlabelled, unlabelled_sources = prepared.subset(rows), [index.sources[r] for r in rows]
    index, prepared = index.subset(chosen), prepared.subset(chosen)
    if len(index) == 0:
        raise ValueError(f"{data_dir}: no usable labelled record")
    if settings.validation == "leave-source-out":
        folds, names = leave_source_out_folds(index.sources)
        if len(names) < 2:
            raise ValueError(f"{data_dir}: leave-source-out needs at least 2 sources, found {names}")
    else:
        folds = stratified_folds(index.labels, settings.folds, settings.seed)
        names = [f"fold{k}" for k in range(settings.folds)]
    log(f"{len(index)} records, {int(index.labels.any(axis=1).sum())} with a scored label, "
        f"{len(names)} folds ({settings.validation})")
    return TrainingData(index, prepared, folds, names, table, unlabelled, unlabelled_sources)


def record_windows_of(data: TrainingData, rows: np.ndarray, leads, config: RunConfig) -> RecordWindows:
    """The inference windows of some training records restricted to ``leads``, indexed once."""
    return RecordWindows(data.prepared, rows, leads, config.signals, config.beats, config.features.enabled)


@torch.inference_mode()
def predict_windows(network: torch.nn.Module, windows: RecordWindows, config: RunConfig,
                    device: torch.device) -> np.ndarray:
    """Probabilities (records, classes) of ``windows``' records: the mean sigmoid over each record's windows,
    cut in loader workers and run in large batches, under autocast on a GPU."""
    network.eval()
    cuda = device.type == "cuda"
    workers = distributed.loader_workers(config.training, device)
    loader = torch.utils.data.DataLoader(windows, batch_size=1024 if cuda else config.training.batch_size,
                                         num_workers=workers, pin_memory=cuda,
                                         generator=torch.Generator())  # leaves training's random draws alone
    records = len(windows.rows)
    sums = torch.zeros((records, network.head.out_features), dtype=torch.float64, device=device)
    counts = torch.zeros(records, dtype=torch.float64, device=device)
    amp_dtype = torch.bfloat16 if cuda and native_bf16() else torch.float16
    for batch in loader:
        batch = {name: value.to(device, non_blocking=True) for name, value in batch.items()}
        extra = batch["extra"] if batch["extra"].shape[-1] else None
        with torch.autocast(device.type, dtype=amp_dtype, enabled=cuda and config.training.mixed_precision):
            logits = network(batch["signal"], batch["lead_mask"], batch["demographics"], extra)
        sums.index_add_(0, batch["position"], torch.sigmoid(logits.float()).double())
        counts.index_add_(0, batch["position"], torch.ones_like(batch["position"], dtype=torch.float64))
    return (sums / counts.clamp(min=1)[:, None]).cpu().numpy()


def predict_rows(network: torch.nn.Module, data: TrainingData, rows: np.ndarray, leads, config: RunConfig,
                 device: torch.device, windows: RecordWindows | None = None) -> np.ndarray:
    """Probabilities (rows, classes); with several processes each predicts its share of the rows and
    every process gets them all, in the order of ``rows``. ``windows``: this process's share, indexed before."""
    windows = windows if windows is not None else record_windows_of(data, distributed.shard(rows), leads, config)
    return distributed.gather_shards(predict_windows(network, windows, config, device))


def validation_score(labels: np.ndarray, probabilities: np.ndarray, table: ClassTable) -> tuple[float, float]:
    """(Challenge metric with per-class F1 thresholds, macro AUROC): a cheap score to choose epochs by."""
    binary = probabilities >= f1_thresholds(labels, probabilities)
    score = metric.challenge_metric(labels, binary, table.weights, table.sinus_rhythm_index)
    auroc = metric.compute_auc(labels, probabilities)[0]
    return score, auroc


def learning_rate_factor(step: int, total_steps: int, warmup_fraction: float) -> float:
    """Linear warm-up then cosine decay to zero."""
    warmup = max(1, int(total_steps * warmup_fraction))
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


class FoldTrainer:
    """Trains one fold; owns its network, optimiser, schedule and checkpoint.

    ``network`` is the bare network (its state dict is what is saved); ``trainable`` adds what only
    training needs (a source classifier); ``model`` is what training calls: ``trainable``, wrapped in
    DistributedDataParallel when there are several processes.
    """

    def __init__(self, data: TrainingData, fold: int, config: RunConfig, device: torch.device,
                 checkpoint_dir: Path):
        settings = config.training
        self.data, self.fold, self.config, self.device = data, fold, config, device
        self.train_rows = np.flatnonzero(data.folds != fold)
        self.val_rows = np.flatnonzero(data.folds == fold)
        self.checkpoint = checkpoint_dir / f"fold_{fold}.pt"
        torch.manual_seed(settings.seed * 1000 + fold)
        self.network = build_network(config, len(data.table)).to(device)
        train_labels = data.index.labels[self.train_rows]
        # The sources the fold trains on, and which classes each labels (label masking, source classifier).
        self.source_names, label_mask = losses.label_mask_table([data.index.sources[r] for r in self.train_rows],
                                                                train_labels)
        domains = len(self.source_names) if settings.domain_weight > 0 else 0
        self.trainable = TrainingModel(self.network, domains).to(device)
        self.model = distributed.wrap(self.trainable, device)
        self.optimizer = make_optimizer(self.trainable.parameters(), settings, device)
        options = ExampleOptions(beats=config.beats, augment=config.augment if config.augment.enabled else None,
                                 sample_rate=config.signals.sample_rate, features=config.features.enabled,
                                 sources=losses.source_indices(data.index.sources, self.source_names))
        self.dataset = TrainingWindows(data.prepared, self.train_rows, data.index.labels, config.signals.window_samples,
                                       settings.lead_subset_probability, seed=settings.seed * 1000 + fold,
                                       options=options)
        self.sampler = EpochSampler(len(self.dataset), self.loader_seed(),
                                    distributed.training_sampler(self.dataset, seed=self.loader_seed()))
        self.batch_size = distributed.process_batch_size(settings)
        per_process = len(self.sampler)
        # The loader drops the last partial batch whenever there is more than one batch.
        workers = distributed.loader_workers(settings, device)
        self.loader = epoch_loader(self.dataset, self.sampler, self.batch_size, workers,
                                   pin_memory=device.type == "cuda", drop_last=per_process > self.batch_size)
        self.steps_per_epoch = max(1, per_process // self.batch_size)
        # This process's share of the validation windows, indexed once for the fold's every epoch.
        self.validation_windows = record_windows_of(data, distributed.shard(self.val_rows), LEAD_SETS[12], config)
        total = self.steps_per_epoch * settings.epochs
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: learning_rate_factor(step, total, settings.warmup_fraction))
        self.objective = Objective.for_fold(settings, data.table, train_labels, label_mask, device)
        self.autocast = settings.mixed_precision and device.type == "cuda"
        # bfloat16 where the GPU has it (no loss scaling needed), else float16 with a gradient scaler.
        self.amp_dtype = torch.bfloat16 if self.autocast and native_bf16() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.autocast and self.amp_dtype == torch.float16)
        self.epoch, self.best_score, self.best_epoch, self.bad_epochs = 0, -math.inf, -1, 0
        self.best_state = copy.deepcopy(self.network.state_dict())
        # An exponential moving average of the weights (buffers too), validated and kept instead of the raw
        # weights when ema_decay > 0; its first update copies the weights, so pre-training is picked up.
        self.ema = None
        if settings.ema_decay > 0:
            self.ema = torch.optim.swa_utils.AveragedModel(
                self.network, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(settings.ema_decay),
                use_buffers=True)

    def evaluated_network(self) -> torch.nn.Module:
        """What is validated and kept: the moving average of the weights when there is one."""
        return self.network if self.ema is None else self.ema.module

    def save_checkpoint(self) -> None:
        state = {
            "trainable": self.trainable.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
            "best_state": self.best_state, "ema": self.ema.state_dict() if self.ema is not None else {},
            "epoch": self.epoch, "best_score": self.best_score, "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs, "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else torch.zeros(0),
        }
        with atomic_path(self.checkpoint) as temporary:
            torch.save(state, temporary)

    def load_checkpoint(self) -> bool:
        if not self.checkpoint.is_file():
            return False
        # weights_only: a checkpoint holds tensors and numbers only, never code. Loaded on the CPU: the modules
        # and the optimiser move their tensors where they belong, and AdamW's step counters stay on the CPU
        # (on the GPU, non-fused AdamW would synchronise twice per parameter tensor and step).
        state = torch.load(self.checkpoint, map_location="cpu", weights_only=True)
        self.trainable.load_state_dict(state["trainable"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):  # empty when loss scaling is off
            self.scaler.load_state_dict(state["scaler"])
        self.best_state = state["best_state"]
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.epoch, self.best_score = state["epoch"], state["best_score"]
        self.best_epoch, self.bad_epochs = state["best_epoch"], state["bad_epochs"]
        torch.set_rng_state(state["torch_rng"])
        if self.device.type == "cuda" and len(state.get("cuda_rng", ())):
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        return True

    def loader_seed(self) -> int:
        return self.config.training.seed * 7919 + self.fold * 131

    def train_epoch(self, progress: bool) -> float:
        """One epoch; the mean training loss over every process's examples."""
        settings = self.config.training
        self.sampler.set_epoch(self.epoch)
        self.model.train()
        # The loss is summed on the device and read once per epoch: a read per step makes the GPU wait.
        total, count = torch.zeros((), device=self.device), 0
        bar = tqdm(self.loader, desc=f"fold {self.fold} epoch {self.epoch + 1}/{settings.epochs}", unit="batch",
                   leave=False, disable=not progress, mininterval=2.0)
        for batch in bar:
            batch = {name: value.to(self.device, non_blocking=True) for name, value in batch.items()}
            total += self.step(batch) * len(batch["labels"])
            count += len(batch["labels"])
        total, count = distributed.sum_over_processes(float(total), count)
        return total / max(count, 1)

    def step(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """One optimisation step on a batch already on the device; the batch's loss, left on the device."""
        extra = batch["extra"] if batch["extra"].shape[-1] else None
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.autocast):
            logits, source_logits = self.model(batch["signal"], batch["lead_mask"], batch["demographics"], extra)
        loss = self.objective(logits, source_logits, batch["labels"], batch["source"])
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.trainable.parameters(), 5.0)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.network)
        return loss.detach().float()

    def run(self, log_row: Callable[[dict], None], progress: bool) -> dict[str, torch.Tensor]:
        """Train until the epochs run out or the validation score stops improving; the best weights."""
        settings = self.config.training
        labels = self.data.index.labels[self.val_rows]
        while self.epoch < settings.epochs and self.bad_epochs < settings.patience:
            started = time.perf_counter()
            loss = self.train_epoch(progress)
            distributed.broadcast_buffers(self.network)
            probabilities = predict_rows(self.evaluated_network(), self.data, self.val_rows, LEAD_SETS[12], self.config,
                                         self.device, self.validation_windows)
            # Rank 0 scores and every process follows its score: the early-stopping decision must be
            # the same everywhere, or the processes that go on training wait forever for the others.
            score, auroc = distributed.broadcast_object(
                validation_score(labels, probabilities, self.data.table) if distributed.is_main() else None)
            self.epoch += 1
            if score > self.best_score:
                self.best_score, self.best_epoch, self.bad_epochs = score, self.epoch, 0
                self.best_state = copy.deepcopy(self.evaluated_network().state_dict())
            else:
                self.bad_epochs += 1
            log_row({"fold": self.fold, "epoch": self.epoch, "train_loss": round(loss, 5),
                     "val_challenge": round(score, 5), "val_auroc": round(float(auroc), 5),
                     "learning_rate": f"{self.scheduler.get_last_lr()[0]:.3g}",
                     "seconds": round(time.perf_counter() - started, 2)})
            if distributed.is_main():
                self.save_checkpoint()
        return self.best_state


class TrainingLog:
    """``training_log.csv``: one row per fold and epoch, the whole file rewritten atomically with each row.

    A resumed run first keeps only the rows its checkpoints stand for (:meth:`keep_until`): an epoch logged
    by a run killed before its checkpoint was written is trained and logged again, never logged twice.
    """

    def __init__(self, path: Path, resume: bool, echo: Callable[[str], None]):
        self.path, self.echo = path, echo
        self.rows: list[dict] = []
        if resume and path.is_file():
            with open(path, newline="") as f:
                self.rows = [row for row in csv.DictReader(f) if row.get("fold", "").isdigit()
                             and row.get("epoch", "").isdigit()]
        self._write()

    def keep_until(self, fold: int, epoch: int) -> None:
        """Drop the rows of ``fold`` after ``epoch`` and those of every later fold."""
        self.rows = [row for row in self.rows
                     if int(row["fold"]) < fold or (int(row["fold"]) == fold and int(row["epoch"]) <= epoch)]
        self._write()

    def __call__(self, row: dict) -> None:
        self.rows.append(row)
        self._write()
        self.echo(f"fold {row['fold']} epoch {row['epoch']}: loss {row['train_loss']:.4f}, "
                  f"validation Challenge metric {row['val_challenge']:.3f}, AUROC {row['val_auroc']:.3f}")

    def _write(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, LOG_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        write_text_atomic(self.path, buffer.getvalue())


def out_of_fold_probabilities(network, data: TrainingData, rows: np.ndarray, config: RunConfig,
                              device: torch.device) -> dict[str, np.ndarray]:
    return {lead_set_name(leads): predict_rows(network, data, rows, leads, config, device)
            for leads in EVALUATED_LEAD_SETS}


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


def save_arrays(path: Path, **arrays: np.ndarray) -> None:
    """An .npz file written through a temporary file and a rename: a resumed run trusts these files."""
    with atomic_path(path) as temporary, open(temporary, "wb") as f:
        np.savez(f, **arrays)


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


def resume_fold(trainer: FoldTrainer, log: Callable[[str], None]) -> None:
    """Continue from the fold's checkpoint, if the stopped run wrote one.

    Rank 0 decides and every process loads the same file. It cannot change meanwhile: only rank 0
    writes checkpoints, after an epoch, and no epoch ends before every process has joined it.
    """
    if not distributed.broadcast_object(trainer.checkpoint.is_file()):
        return
    if not trainer.load_checkpoint():
        raise RuntimeError(f"{trainer.checkpoint} is not visible to process {distributed.rank()}: the model "
                           "folder must be on a file system that every process sees")
    log(f"fold {trainer.fold}: resuming after epoch {trainer.epoch}")


def pretrain_fold(trainer: FoldTrainer, progress: bool, log: Callable[[str], None]) -> None:
    """Contrastive pre-training of the fold's network on its training records and the unlabelled records of
    its training sources (never on its validation records, nor, leaving a source out, on that source's
    unlabelled records: either would flatter the method's validation score)."""
    data = trainer.data
    prepared = data.prepared.subset(trainer.train_rows)
    if data.unlabelled is not None:
        training_sources = set(trainer.source_names)
        rows = [i for i, source in enumerate(data.unlabelled_sources) if source in training_sources]
        prepared = join_prepared(prepared, data.unlabelled.subset(rows))
    log(f"fold {trainer.fold}: pre-training on {len(prepared.lead_masks)} records")
    pretrain(trainer.network, prepared, np.arange(len(prepared.lead_masks)), trainer.config, trainer.device,
             seed=trainer.loader_seed() + 17, progress=progress, log=log)
    trainer.best_state = copy.deepcopy(trainer.network.state_dict())


def train_fold(trainer: FoldTrainer, model_dir: Path, training_log: Callable[[dict], None], progress: bool,
               log: Callable[[str], None]) -> dict[str, np.ndarray]:
    """Train a fold, keep its best weights and return its out-of-fold probabilities per lead set."""
    if trainer.config.training.pretrain_epochs and trainer.epoch == 0:  # a resumed fold was pre-trained already
        pretrain_fold(trainer, progress, log)
    best = trainer.run(training_log, progress)
    trainer.network.load_state_dict(best)
    if distributed.is_main():
        save_weights(weight_file(model_dir, trainer.fold), best)
    fold_oof = out_of_fold_probabilities(trainer.network, trainer.data, trainer.val_rows, trainer.config,
                                         trainer.device)
    if distributed.is_main():
        save_arrays(model_dir / "checkpoints" / f"fold_{trainer.fold}_oof.npz", **fold_oof)
    log(f"fold {trainer.fold} ({trainer.data.fold_names[trainer.fold]}): best epoch {trainer.best_epoch}, "
        f"validation Challenge metric {trainer.best_score:.3f}")
    return fold_oof


def write_model_folder(model_dir: Path, config: RunConfig, data: TrainingData, oof: dict[str, np.ndarray],
                       log: Callable[[str], None]) -> dict:
    """Fit the decision stage on the networks' out-of-fold probabilities (:meth:`ecgnet.decision.Decision.fit`:
    the feature model and the stack when they are on, the calibration, the thresholds), write the rest of
    the model folder, drop the checkpoints; return the summary."""
    labels, table, folds = data.index.labels, data.table, data.folds
    measured = None
    if config.feature_model.enabled:
        measured = {lead_set_name(leads): data.prepared.measurements[:, j]
                    for j, leads in enumerate(EVALUATED_LEAD_SETS)}
    decision, outputs = Decision.fit(oof, labels, folds, table, config, measured, data.prepared.demographics,
                                     log=log)
    final = outputs[FINAL]
    summary = {"validation": config.training.validation, "folds": data.fold_names,
               "out_of_fold": summarise(labels, final, decision.thresholds, table, folds)}
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
    return summary


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
    checkpoint_dir = model_dir / "checkpoints"
    if distributed.is_main():
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        for folder in (model_dir, checkpoint_dir):  # what a killed run was writing (ecgnet.files.atomic_path)
            for temporary in folder.glob(".*.tmp"):
                temporary.unlink(missing_ok=True)
    log(describe_run(config, device))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # every batch has the same shape: the fastest kernels, found once
    data = load_training_data(data_dir, config, progress, log, exclude)
    if distributed.is_main():
        check_same_run(model_dir, config, data, resume)
    oof = {lead_set_name(leads): np.zeros(data.index.labels.shape) for leads in EVALUATED_LEAD_SETS}
    main = distributed.is_main()
    training_log = TrainingLog(model_dir / "training_log.csv", resume, log) if main else None
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
