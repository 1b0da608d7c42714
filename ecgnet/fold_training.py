"""One fold of the ensemble: its network trained on the other folds' records, validated on its own, checkpointed
every epoch, and its out-of-fold probabilities for every evaluated lead set.

:class:`FoldTrainer` holds a fold's network, data and loop (:mod:`ecgnet.loop`); :func:`train_fold` runs it to its best
epoch (resuming from a checkpoint with :func:`resume_fold`, pre-training the encoder first with
:func:`pretrain_fold`), and :class:`TrainingLog` writes ``training_log.csv``. :func:`predict_rows` is the
network's prediction of training records, for validation, out-of-fold outputs and distillation alike.
"""

from __future__ import annotations

import copy
import csv
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

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
from .device import native_bf16
from .files import save_arrays, write_text_atomic
from .labels import ClassTable
from .loop import EarlyStopping, EpochResult, Loop, Optimisation, Validation, Weights, run_epoch
from .network import build_network
from .objective import Objective, TrainingModel, lead_distillation_loss
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


# The seeds of a fold's random streams, from the recipe's seed and the fold. Any distinct values would do;
# these are the ones every model so far was trained with, so changing one changes every run's weights.
FOLD_SEED_STRIDE = 1000  # initial weights and training examples: seed * 1000 + fold
LOADER_SEED_STRIDE, LOADER_FOLD_STRIDE = 7919, 131  # the order of the examples: seed * 7919 + fold * 131
PRETRAIN_SEED_OFFSET = 17  # contrastive pre-training: the loader's seed + 17, a stream of its own


class FoldTrainer:
    """Trains one fold; owns its network, its data, its loop (:mod:`ecgnet.loop`: the optimiser step, the
    schedule, early stopping) and its checkpoint.

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
        torch.manual_seed(settings.seed * FOLD_SEED_STRIDE + fold)
        self.network = build_network(config, len(data.table)).to(device)
        train_labels = data.index.labels[self.train_rows]
        # The sources the fold trains on, and which classes each labels (label masking, source classifier).
        self.source_names, label_mask = losses.label_mask_table([data.index.sources[r] for r in self.train_rows],
                                                                train_labels)
        domains = len(self.source_names) if settings.domain_weight > 0 else 0
        self.trainable = TrainingModel(self.network, domains).to(device)
        self.model = distributed.wrap(self.trainable, device)
        self._make_loader()
        # This process's share of the validation windows, indexed once for the fold's every epoch.
        self.validation_windows = record_windows_of(data, distributed.shard(self.val_rows), LEAD_SETS[12], config)
        self.objective = Objective.for_fold(settings, data.table, train_labels, label_mask, device)
        # An exponential moving average of the weights (buffers too), validated and kept instead of the raw
        # weights when ema_decay > 0; its first update copies the weights, so pre-training is picked up.
        self.ema = None
        if settings.ema_decay > 0:
            self.ema = torch.optim.swa_utils.AveragedModel(
                self.network, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(settings.ema_decay),
                use_buffers=True)
        self.optimisation = Optimisation(self.trainable.parameters(), settings, device,
                                         total_steps=self.steps_per_epoch * settings.epochs,
                                         after_step=self._update_average if self.ema is not None else None)
        self.loop = Loop(self.optimisation, settings.epochs,
                         EarlyStopping(settings.patience, copy.deepcopy(self.network.state_dict())))

    def _make_loader(self) -> None:
        """The fold's training examples, their sampler and loader, and the steps of an epoch."""
        config, settings, data = self.config, self.config.training, self.data
        options = ExampleOptions(beats=config.beats, augment=config.augment if config.augment.enabled else None,
                                 sample_rate=config.signals.sample_rate, features=config.features.enabled,
                                 sources=losses.source_indices(data.index.sources, self.source_names),
                                 full_leads=settings.lead_distillation_weight > 0)
        self.dataset = TrainingWindows(data.prepared, self.train_rows, data.index.labels, config.signals.window_samples,
                                       settings.lead_subset_probability,
                                       seed=settings.seed * FOLD_SEED_STRIDE + self.fold, options=options)
        self.sampler = EpochSampler(len(self.dataset), self.loader_seed(),
                                    distributed.training_sampler(self.dataset, seed=self.loader_seed()))
        self.batch_size = distributed.process_batch_size(settings)
        per_process = len(self.sampler)
        # The loader drops the last partial batch whenever there is more than one batch.
        workers = distributed.loader_workers(settings, self.device)
        self.loader = epoch_loader(self.dataset, self.sampler, self.batch_size, workers,
                                   pin_memory=self.device.type == "cuda", drop_last=per_process > self.batch_size)
        self.steps_per_epoch = max(1, per_process // self.batch_size)

    @property
    def epoch(self) -> int:
        """The epochs done (those of the checkpoint, after a resume)."""
        return self.loop.epoch

    @epoch.setter
    def epoch(self, value: int) -> None:
        self.loop.epoch = value

    @property
    def stopping(self) -> EarlyStopping:
        """The best epoch so far, its score and weights."""
        return self.loop.stopping

    def evaluated_network(self) -> torch.nn.Module:
        """What is validated and kept: the moving average of the weights when there is one."""
        return self.network if self.ema is None else self.ema.module

    def _update_average(self) -> None:
        self.ema.update_parameters(self.network)

    def save_checkpoint(self) -> None:
        self.loop.save(self.checkpoint, trainable=self.trainable.state_dict(),
                       ema=self.ema.state_dict() if self.ema is not None else {})

    def load_checkpoint(self) -> bool:
        state = self.loop.resume(self.checkpoint)
        if state is None:
            return False
        self.trainable.load_state_dict(state["trainable"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        return True

    def loader_seed(self) -> int:
        return self.config.training.seed * LOADER_SEED_STRIDE + self.fold * LOADER_FOLD_STRIDE

    def batch_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        """The loss of a batch (moved to the device) and its number of examples."""
        batch = {name: value.to(self.device, non_blocking=True) for name, value in batch.items()}
        if "full_signal" in batch:
            return self._distilled_loss(batch), len(batch["labels"])
        extra = batch["extra"] if batch["extra"].shape[-1] else None
        with self.optimisation.autocast():
            logits, source_logits = self.model(batch["signal"], batch["lead_mask"], batch["demographics"], extra)
        return self.objective(logits, source_logits, batch["labels"], batch["source"]), len(batch["labels"])

    def _distilled_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Distillation across lead sets: the batch's reduced-lead and full-lead copies in one pass (one set of
        batch statistics), the labels' loss of both, and the reduced copies' outputs drawn to the full ones'."""
        def twice(name: str) -> torch.Tensor:
            return torch.cat([batch[name], batch[name]])

        extra = twice("extra") if batch["extra"].shape[-1] else None
        with self.optimisation.autocast():
            logits, source_logits = self.model(torch.cat([batch["signal"], batch["full_signal"]]),
                                               torch.cat([batch["lead_mask"], batch["full_lead_mask"]]),
                                               twice("demographics"), extra)
        reduced, full = logits.chunk(2)
        labels_loss = self.objective(logits, source_logits, twice("labels"), twice("source"))
        return labels_loss + self.config.training.lead_distillation_weight * lead_distillation_loss(reduced, full)

    def step(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """One optimisation step on a batch; the batch's loss, left on the device."""
        return self.optimisation.train_step(self.batch_loss, batch)[0]

    def train_epoch(self, progress: bool) -> float:
        """One epoch; the mean training loss over every process's examples."""
        self.sampler.set_epoch(self.epoch)
        description = f"fold {self.fold} epoch {self.epoch + 1}/{self.config.training.epochs}"
        return run_epoch(self.model, self.loader, self.batch_loss, self.optimisation, description, progress)

    def validate(self) -> tuple[float, dict[str, float]]:
        """(The validation Challenge metric, {"val_auroc": the macro AUROC}) of the evaluated network."""
        distributed.broadcast_buffers(self.network)
        probabilities = predict_rows(self.evaluated_network(), self.data, self.val_rows, LEAD_SETS[12], self.config,
                                     self.device, self.validation_windows)
        # Rank 0 scores and every process follows its score: the early-stopping decision must be
        # the same everywhere, or the processes that go on training wait forever for the others.
        labels = self.data.index.labels[self.val_rows]
        score, auroc = distributed.broadcast_object(
            validation_score(labels, probabilities, self.data.table) if distributed.is_main() else None)
        return score, {"val_auroc": float(auroc)}

    def run(self, log_row: Callable[[dict], None], progress: bool) -> Weights:
        """Train until the epochs run out or the validation score stops improving; the best weights."""
        def end_epoch(result: EpochResult) -> None:
            log_row({"fold": self.fold, "epoch": result.epoch, "train_loss": round(result.loss, 5),
                     "val_challenge": round(result.score, 5), "val_auroc": round(result.details["val_auroc"], 5),
                     "learning_rate": f"{self.optimisation.learning_rate():.3g}",
                     "seconds": round(result.seconds, 2)})
            if distributed.is_main():
                self.save_checkpoint()

        self.loop.run(lambda _: self.train_epoch(progress), end_epoch,
                      Validation(self.validate, self.evaluated_network()))
        return self.stopping.best_state


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
             seed=trainer.loader_seed() + PRETRAIN_SEED_OFFSET, progress=progress, log=log)
    trainer.stopping.best_state = copy.deepcopy(trainer.network.state_dict())


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
    log(f"fold {trainer.fold} ({trainer.data.fold_names[trainer.fold]}): best epoch {trainer.stopping.best_epoch}, "
        f"validation Challenge metric {trainer.stopping.best_score:.3f}")
    return fold_oof
