"""The training loop that training, contrastive pre-training and distillation share.

It owns what the three do alike: the optimiser step (:class:`Optimisation`: AdamW, autocast and loss scaling
on a GPU, gradient clipping, the warm-up and cosine-decay schedule), one epoch over a loader with its mean
loss (:func:`run_epoch`), the epochs with early stopping on a validation score and the best weights kept
(:class:`Loop`, :class:`EarlyStopping`), and the checkpoint a stopped run continues from. Each caller
supplies what differs: its loader, the loss of a batch and, when it has one, its validation.

The loss of a batch is the caller's because only the caller knows where its forward pass ends: the forward
pass runs under :meth:`Optimisation.autocast`, the loss after it in float32.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from . import distributed
from .config import TrainingConfig
from .device import make_optimizer, native_bf16
from .files import atomic_path

# Gradients are clipped to this global norm before every step: one steep batch (a record full of artefacts,
# the first steps of a fresh classifier) would otherwise throw the weights far from where they were.
GRADIENT_CLIP_NORM = 5.0
# Seconds between redraws of a progress bar: a redraw per step slows the short steps of a GPU.
PROGRESS_INTERVAL_S = 2.0

Batch = Any  # whatever the caller's loader yields
BatchLoss = Callable[[Batch], tuple[torch.Tensor, int]]  # a batch -> (its mean loss, its number of examples)
Weights = dict[str, torch.Tensor]


def learning_rate_factor(step: int, total_steps: int, warmup_fraction: float) -> float:
    """The factor of the base learning rate at ``step``: linear warm-up over ``warmup_fraction`` of the steps
    (at least one), then cosine decay to zero at ``total_steps``."""
    warmup = max(1, int(total_steps * warmup_fraction))
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


class Optimisation:
    """The optimiser step of every loop.

    AdamW at the recipe's rate (:func:`ecgnet.device.make_optimizer`); on a GPU with ``mixed_precision`` the
    forward pass under autocast, in bfloat16 where the GPU has it natively, else in float16 with a gradient
    scaler (on the CPU neither: the step is plain float32); gradients clipped to :data:`GRADIENT_CLIP_NORM`;
    the learning rate scaled by :func:`learning_rate_factor` over ``total_steps`` steps, or constant when
    ``total_steps`` is None. ``after_step`` runs after every step (to update a moving average of the weights).
    """

    def __init__(self, parameters: Iterable[torch.nn.Parameter], settings: TrainingConfig, device: torch.device,
                 total_steps: int | None = None, after_step: Callable[[], None] | None = None):
        self.parameters, self.device, self.after_step = list(parameters), device, after_step
        self.optimizer = make_optimizer(self.parameters, settings, device)
        self.scheduler = None
        if total_steps is not None:
            warmup = settings.warmup_fraction
            self.scheduler = torch.optim.lr_scheduler.LambdaLR(
                self.optimizer, lambda step: learning_rate_factor(step, total_steps, warmup))
        self.mixed_precision = settings.mixed_precision and device.type == "cuda"
        self.amp_dtype = torch.bfloat16 if self.mixed_precision and native_bf16() else torch.float16
        # bfloat16 has float32's range: only float16 needs its loss scaled to keep small gradients from vanishing.
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.mixed_precision and self.amp_dtype == torch.float16)

    def autocast(self) -> torch.autocast:
        """The context of the forward pass: autocast when mixed precision is on, else a context that does nothing."""
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.mixed_precision)

    def step(self, loss: torch.Tensor) -> None:
        """Back-propagate ``loss`` and take one step of the optimiser and of the schedule."""
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)  # the clipping norm is one of the true gradients, not the scaled ones
        torch.nn.utils.clip_grad_norm_(self.parameters, GRADIENT_CLIP_NORM)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.scheduler is not None:
            self.scheduler.step()
        if self.after_step is not None:
            self.after_step()

    def train_step(self, batch_loss: BatchLoss, batch: Batch) -> tuple[torch.Tensor, int]:
        """One step on ``batch``: (its loss, detached and left on the device; its number of examples)."""
        loss, examples = batch_loss(batch)
        self.step(loss)
        return loss.detach().float(), examples

    def learning_rate(self) -> float:
        """The learning rate of the next step."""
        return self.optimizer.param_groups[0]["lr"]

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else {},
                "scaler": self.scaler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):  # empty when loss scaling is off
            self.scaler.load_state_dict(state["scaler"])


def run_epoch(model: torch.nn.Module, batches: Iterable[Batch], batch_loss: BatchLoss, optimisation: Optimisation,
              description: str, progress: bool) -> float:
    """One step per batch of ``batches`` with ``model`` in training mode; the mean loss over the examples of
    every process. A loader with an epoch sampler must have been told the epoch before."""
    model.train()
    # The loss is summed on the device and read once per epoch: a read per step makes the GPU wait.
    total, count = torch.zeros((), device=optimisation.device), 0
    for batch in tqdm(batches, desc=description, unit="batch", leave=False, disable=not progress,
                      mininterval=PROGRESS_INTERVAL_S):
        loss, examples = optimisation.train_step(batch_loss, batch)
        total += loss * examples
        count += examples
    total, count = distributed.sum_over_processes(float(total), count)
    return total / max(count, 1)


@dataclass
class EarlyStopping:
    """Stops training after ``patience`` epochs in a row without a better validation score, and keeps the
    weights of the best epoch (``best_state``: the weights given until an epoch scores)."""

    patience: int
    best_state: Weights
    best_score: float = -math.inf
    best_epoch: int = -1
    bad_epochs: int = 0

    @property
    def stopped(self) -> bool:
        return self.bad_epochs >= self.patience

    def update(self, score: float, epoch: int, network: torch.nn.Module) -> bool:
        """Record ``epoch``'s ``score`` of ``network``'s weights, keeping a copy of them if it is the best so far
        (a NaN score never is); whether it was."""
        if score > self.best_score:
            self.best_score, self.best_epoch, self.bad_epochs = score, epoch, 0
            self.best_state = copy.deepcopy(network.state_dict())
            return True
        self.bad_epochs += 1
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"best_state": self.best_state, "best_score": self.best_score, "best_epoch": self.best_epoch,
                "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_state, self.best_score = state["best_state"], state["best_score"]
        self.best_epoch, self.bad_epochs = state["best_epoch"], state["bad_epochs"]


@dataclass
class EpochResult:
    """What an epoch did: ``epoch`` counts the epochs done, this one included; ``score`` is NaN and
    ``details`` empty without validation; ``improved``: whether early stopping kept this epoch's weights."""

    epoch: int
    loss: float
    seconds: float
    score: float = math.nan
    details: dict[str, float] = field(default_factory=dict)
    improved: bool = False


@dataclass
class Validation:
    """How a loop with early stopping scores an epoch: ``score()`` gives (the score, other figures to log) of
    ``network``'s weights, which :class:`EarlyStopping` keeps when they score best."""

    score: Callable[[], tuple[float, dict[str, float]]]
    network: torch.nn.Module


class Loop:
    """Up to ``epochs`` epochs, fewer when ``stopping`` stops them; ``epoch`` counts those done, so that a loop
    resumed from a checkpoint (:meth:`resume`) continues after them."""

    def __init__(self, optimisation: Optimisation, epochs: int, stopping: EarlyStopping | None = None):
        self.optimisation, self.epochs, self.stopping = optimisation, epochs, stopping
        self.epoch = 0

    def finished(self) -> bool:
        return self.epoch >= self.epochs or (self.stopping is not None and self.stopping.stopped)

    def run(self, train_epoch: Callable[[int], float], end_epoch: Callable[[EpochResult], None],
            validation: Validation | None = None) -> None:
        """Epochs until :meth:`finished`: ``train_epoch(epoch)`` trains the epoch numbered from 0 and returns
        its mean loss, ``validation`` (needed with early stopping) scores it, ``end_epoch`` gets its result
        (to log it, to write a checkpoint)."""
        if self.stopping is not None and validation is None:
            raise ValueError("early stopping needs a validation score")
        while not self.finished():
            started = time.perf_counter()
            loss = train_epoch(self.epoch)
            score, details = validation.score() if validation is not None else (math.nan, {})
            self.epoch += 1
            improved = self.stopping is not None and self.stopping.update(score, self.epoch, validation.network)
            end_epoch(EpochResult(self.epoch, loss, time.perf_counter() - started, score, details, improved))

    def state_dict(self) -> dict[str, Any]:
        """The loop's part of a checkpoint: the optimiser's, schedule's and scaler's states, the epochs done
        and early stopping's state."""
        state = {**self.optimisation.state_dict(), "epoch": self.epoch}
        return {**state, **self.stopping.state_dict()} if self.stopping is not None else state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimisation.load_state_dict(state)
        self.epoch = state["epoch"]
        if self.stopping is not None:
            self.stopping.load_state_dict(state)

    def save(self, path: Path, **extra: Any) -> None:
        """Write a checkpoint of the loop, the random generators and ``extra`` (the caller's state dicts)."""
        device = self.optimisation.device
        state = {**extra, **self.state_dict(), "torch_rng": torch.get_rng_state(),
                 "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.zeros(0)}
        with atomic_path(path) as temporary:  # a kill while writing leaves the previous checkpoint whole
            torch.save(state, temporary)

    def resume(self, path: Path) -> dict[str, Any] | None:
        """Continue from the checkpoint at ``path``, random generators included; its whole state (the caller
        restores its own part), or None when there is none."""
        if not path.is_file():
            return None
        # weights_only: a checkpoint holds tensors and numbers only, never code. Loaded on the CPU: the modules
        # and the optimiser move their tensors where they belong, and AdamW's step counters stay on the CPU
        # (on the GPU, non-fused AdamW would synchronise twice per parameter tensor and step).
        state = torch.load(path, map_location="cpu", weights_only=True)
        self.load_state_dict(state)
        torch.set_rng_state(state["torch_rng"])
        device = self.optimisation.device
        if device.type == "cuda" and len(state.get("cuda_rng", ())):
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        return state
