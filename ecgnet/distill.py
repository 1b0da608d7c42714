"""One student network in place of the ensemble's networks (``ecgnet distill MODEL OUT --data DATA``).

The student learns the ensemble's **out-of-fold** probabilities (``MODEL/out_of_fold.npz``): for each training
record and each evaluated lead set, what the networks said of it without having trained on it. Every
example is a random window with a random lead subset, as in training, and its soft target is the teacher's
probabilities for the evaluated lead set closest to the leads kept. The targets are out of fold, so the
student learns the teacher's generalisation, not its memory of the training labels; and no teacher runs
during distillation.

The student's folder is the teacher's with one network instead of the ensemble's: the feature model and
the stack are kept (the stack combines the student's logit as it combined the ensemble's), the calibration
is fitted again (when the recipe calibrates), and the thresholds are tuned again on the student's outputs for
the training records, combined by the stack with the feature model's out-of-fold outputs.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from .artifacts import load_model_folder, save_model_description, save_weights, weight_file
from .config import RunConfig
from .data import EpochSampler, TrainingWindows, epoch_loader
from .decision import FINAL, MEASUREMENT_MODEL, NETWORK, Decision, KeptModels, out_of_fold_key
from .device import resolve_device
from .fold_training import predict_rows
from .loop import BatchLoss, Loop, Optimisation, run_epoch
from .models import count_parameters
from .network import build_network, complete_model
from .records import EVALUATED_LEAD_SETS, STANDARD_LEADS, LeadSet, lead_set_name
from .training_data import TrainingData, load_training_data

LEAD_SETS = [lead_set_name(leads) for leads in EVALUATED_LEAD_SETS]


class SoftTargets(TrainingWindows):
    """Training examples whose labels are the teacher's probabilities for the lead set closest to the leads
    kept: ``targets`` (records, lead sets of EVALUATED_LEAD_SETS, classes)."""

    def __init__(self, *args, targets: np.ndarray, **kwargs):
        super().__init__(*args, **kwargs)
        self.targets = targets.astype(np.float32)

    def __getitem__(self, item):
        example = super().__getitem__(item)
        epoch, index = item if isinstance(item, tuple) else (self.epoch, item)
        kept = [lead for lead, on in zip(STANDARD_LEADS, example["lead_mask"].bool().tolist()) if on]
        lead_set = LEAD_SETS.index(LeadSet.of(kept).closest(LEAD_SETS))
        example["labels"] = torch.from_numpy(self.targets[self.rows[index], lead_set])
        return example


def teacher_targets(model_dir: Path, data: TrainingData) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """(the rows of ``data`` the teacher has out-of-fold outputs for; the feature model's out-of-fold outputs
    by lead set for those rows, empty without a stack; the targets (rows, lead sets, classes): the teacher's
    networks' out-of-fold probabilities)."""
    with np.load(model_dir / "out_of_fold.npz", allow_pickle=False) as saved:
        arrays = {name: saved[name] for name in saved.files}
    position = {str(record_id): i for i, record_id in enumerate(arrays["record_ids"])}
    rows = np.array([row for row, record_id in enumerate(data.index.record_ids) if record_id in position], dtype=int)
    if not len(rows):
        raise ValueError(f"{model_dir}: none of the training records has the teacher's out-of-fold outputs")
    order = np.array([position[data.index.record_ids[row]] for row in rows])
    stacked = out_of_fold_key(NETWORK, LEAD_SETS[0]) in arrays
    network = NETWORK if stacked else FINAL  # without a stack, the final outputs are the networks'
    targets = np.stack([arrays[out_of_fold_key(network, name)][order] for name in LEAD_SETS], axis=1)
    features = {name: arrays[out_of_fold_key(MEASUREMENT_MODEL, name)][order] for name in LEAD_SETS} if stacked else {}
    return rows, features, targets


def train_student(config: RunConfig, data: TrainingData, rows: np.ndarray, targets: np.ndarray,
                  progress: bool, log: Callable[[str], None]) -> torch.nn.Module:
    """One network trained on soft targets with binary cross-entropy, through the shared loop
    (:mod:`ecgnet.loop`) with the recipe's schedule, batch and, on a GPU, mixed precision."""
    settings, device = config.training, resolve_device(config.training.device)
    torch.manual_seed(settings.seed)
    network = build_network(config, len(data.table)).to(device)
    full_targets = np.zeros((len(data.index), len(LEAD_SETS), len(data.table)), dtype=np.float32)
    full_targets[rows] = targets
    dataset = SoftTargets(data.prepared, rows, data.index.labels, config.signals.window_samples,
                          settings.lead_subset_probability, seed=settings.seed, targets=full_targets)
    sampler = EpochSampler(len(dataset), settings.seed)
    loader = epoch_loader(dataset, sampler, settings.batch_size, 0, device.type == "cuda",
                          drop_last=len(dataset) > settings.batch_size)
    optimisation = Optimisation(network.parameters(), settings, device,
                                total_steps=max(1, len(loader)) * settings.epochs)
    batch_loss = _soft_target_loss(network, optimisation)

    def train_epoch(epoch: int) -> float:
        sampler.set_epoch(epoch)
        return run_epoch(network, loader, batch_loss, optimisation, f"distilling {epoch + 1}/{settings.epochs}",
                         progress)

    Loop(optimisation, settings.epochs).run(
        train_epoch, lambda result: log(f"distilling epoch {result.epoch}: soft-target loss {result.loss:.4f}"))
    return network.eval()


def _soft_target_loss(network: torch.nn.Module, optimisation: Optimisation) -> BatchLoss:
    """The binary cross-entropy of a batch's logits against its soft targets, in float32 after the forward pass."""
    def batch_loss(batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        batch = {name: value.to(optimisation.device, non_blocking=True) for name, value in batch.items()}
        extra = batch["extra"] if batch["extra"].shape[-1] else None
        with optimisation.autocast():
            logits = network(batch["signal"], batch["lead_mask"], batch["demographics"], extra)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), batch["labels"])
        return loss, len(batch["labels"])

    return batch_loss


def distill(model_dir: str | Path, out_dir: str | Path, data_dir: str | Path, student: RunConfig | None = None,
            epochs: int | None = None, progress: bool = True, log: Callable[[str], None] = print) -> Path:
    """Write ``out_dir``: the teacher's folder with one student network (``student``'s [model] table, else the
    teacher's architecture), its thresholds tuned again. Returns ``out_dir``."""
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    teacher = load_model_folder(model_dir)
    config = teacher.config.override("training", epochs=epochs)
    if student is not None:
        config = dataclasses.replace(config, model=complete_model(student.model))
    data = load_training_data(data_dir, config, progress, log)
    rows, features, targets = teacher_targets(model_dir, data)
    log(f"distilling {len(teacher.state_dicts)} networks into one on {len(rows)} records")
    network = train_student(config, data, rows, targets, progress, log)
    device = next(network.parameters()).device
    labels = data.index.labels[rows]
    network_outputs = {name: predict_rows(network, data, rows, leads, config, device)
                       for name, leads in zip(LEAD_SETS, EVALUATED_LEAD_SETS)}
    decision = teacher.decision
    kept = KeptModels(decision.trees, decision.stacks, features, data.measurements_by_lead_set(rows)) \
        if decision.stacked else None
    student_decision, _ = Decision.fit(network_outputs, labels, data.folds[rows], data.table, config, kept=kept,
                                       log=log)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    shutil.copytree(model_dir, out_dir, ignore=shutil.ignore_patterns("fold_*.safetensors", "checkpoints", "*.onnx"))
    save_weights(weight_file(out_dir, 0), network.state_dict())
    save_model_description(out_dir, config, teacher.class_codes, teacher.class_labels, 1, student_decision)
    log(f"student of {count_parameters(network):,} parameters written to {out_dir}")
    return out_dir
