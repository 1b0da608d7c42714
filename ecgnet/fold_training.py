"""One fold of the ensemble: its network trained on the other folds' records, validated on its own, checkpointed
every epoch, and its out-of-fold probabilities for every evaluated lead set.

:class:`FoldTrainer` holds a fold's network, optimiser and schedule; :func:`train_fold` runs it to its best
epoch (resuming from a checkpoint with :func:`resume_fold`, pre-training the encoder first with
:func:`pretrain_fold`), and :class:`TrainingLog` writes ``training_log.csv``. :func:`predict_rows` is the
network's prediction of training records, for validation, out-of-fold outputs and distillation alike.
"""

from __future__ import annotations

import copy
import csv
import io
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import distributed, losses, metric
from .artifacts import (
    TRAINING_LOG_COLUMNS,
    save_weights,
    weight_file,
)
from .config import RunConfig
from .data import (
    EpochSampler,
    ExampleOptions,
    RecordWindows,
    TrainingWindows,
    epoch_loader,
)
from .device import make_optimizer, native_bf16
from .files import atomic_path, save_arrays, write_text_atomic
from .labels import ClassTable
from .network import build_network
from .objective import Objective, TrainingModel
from .prepare import join_prepared
from .pretrain import pretrain
from .records import EVALUATED_LEAD_SETS, LEAD_SETS, lead_set_name
from .thresholds import f1_thresholds
from .training_data import TrainingData


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
        writer = csv.DictWriter(buffer, TRAINING_LOG_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        write_text_atomic(self.path, buffer.getvalue())


def out_of_fold_probabilities(network, data: TrainingData, rows: np.ndarray, config: RunConfig,
                              device: torch.device) -> dict[str, np.ndarray]:
    return {lead_set_name(leads): predict_rows(network, data, rows, leads, config, device)
            for leads in EVALUATED_LEAD_SETS}




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
