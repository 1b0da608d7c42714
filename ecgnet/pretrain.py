"""Self-supervised contrastive pre-training of the encoder, in the manner of SimCLR (Chen et al., 2020).

Two differently cropped, lead-subsetted and augmented views of each record go through the network's trunk
and a projection head; the NT-Xent loss pulls the two views of a record together and pushes the other
records' views away. No label is used, so the unlabelled records count too. The projection head is thrown
away afterwards and the network is fine-tuned from the pre-trained weights.

Only the trunk's pooled features are projected: demographics and hand-made features are the same in both
views of a record and would make the task trivial (the views' lead subsets are drawn independently, so the
lead mask, which conditions the trunk, differs between them).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from . import distributed
from .config import AugmentConfig, RunConfig
from .data import EpochSampler, ExampleOptions, TrainingWindows, epoch_loader
from .loop import BatchLoss, EpochResult, Loop, Optimisation, run_epoch
from .losses import nt_xent
from .models.heads import ProjectionHead
from .objective import trunk_embedding
from .prepare import PreparedSignals


class ContrastivePairs(torch.utils.data.Dataset):
    """Two independently drawn views of each record: (view, view), each a :class:`TrainingWindows` example."""

    def __init__(self, prepared: PreparedSignals, rows: np.ndarray, config: RunConfig, seed: int):
        # The views are always augmented: without augmentation two crops of a record are too easy to match.
        augment = config.augment if config.augment.enabled else AugmentConfig.recommended()
        options = ExampleOptions(beats=config.beats, augment=augment, sample_rate=config.signals.sample_rate,
                                 features=config.features.enabled)
        labels = np.zeros((len(prepared.lead_masks), 1), dtype=np.float32)
        window, reduced = config.signals.window_samples, config.training.lead_subset_probability
        self.views = tuple(TrainingWindows(prepared, rows, labels, window, reduced, seed=seed + k, options=options)
                           for k in (1, 2))

    def __len__(self) -> int:
        return len(self.views[0])

    def __getitem__(self, item: int | tuple[int, int]):
        return tuple(view[item] for view in self.views)


class ContrastiveModel(torch.nn.Module):
    """The network's trunk followed by a projection head; the network's classifier is not used (it is frozen
    while pre-training, so that DistributedDataParallel does not wait for its gradients)."""

    def __init__(self, network: torch.nn.Module):
        super().__init__()
        self.network = network
        self.projection = ProjectionHead(network.pooled_size)

    def forward(self, view: dict[str, torch.Tensor]) -> torch.Tensor:
        extra = view["extra"] if view["extra"].shape[-1] else None
        embedding = self.network.embedding(view["signal"], view["lead_mask"], view["demographics"], extra)
        return self.projection(trunk_embedding(self.network, embedding))


def _both_views(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor],
                device: torch.device) -> dict[str, torch.Tensor]:
    """The two views as one batch: one forward pass per step (DistributedDataParallel needs that), and
    batch normalisation sees both."""
    return {name: torch.cat([first[name], second[name]]).to(device, non_blocking=True) for name in first}


def pretrain(network: torch.nn.Module, prepared: PreparedSignals, rows: np.ndarray, config: RunConfig,
             device: torch.device, seed: int, progress: bool = True,
             log: Callable[[str], None] = print) -> list[float]:
    """Pre-train ``network`` in place on the records ``rows`` of ``prepared``; the mean loss of each epoch.

    Runs ``config.training.pretrain_epochs`` epochs of the shared loop (:mod:`ecgnet.loop`) at the recipe's
    constant learning rate, with the recipe's batch size (at least 2: every batch needs negatives). Under
    torchrun each process takes its share of the records and the model is wrapped in DistributedDataParallel.
    """
    settings = config.training
    torch.manual_seed(seed)
    network.head.requires_grad_(False)
    try:
        model = ContrastiveModel(network).to(device)
        wrapped = distributed.wrap(model, device)
        optimisation = Optimisation([p for p in model.parameters() if p.requires_grad], settings, device)
        dataset = ContrastivePairs(prepared, rows, config, seed)
        sampler = EpochSampler(len(dataset), seed, distributed.training_sampler(dataset, seed=seed))
        loader = _loader(dataset, sampler, settings.batch_size, distributed.loader_workers(settings, device), device)
        batch_loss = _contrastive_loss(wrapped, optimisation, settings.pretrain_temperature)

        def train_epoch(epoch: int) -> float:
            sampler.set_epoch(epoch)
            description = f"pre-training {epoch + 1}/{settings.pretrain_epochs}"
            return run_epoch(wrapped, loader, batch_loss, optimisation, description, progress)

        history = []

        def end_epoch(result: EpochResult) -> None:
            history.append(result.loss)
            log(f"pre-training epoch {result.epoch}: contrastive loss {result.loss:.4f}")

        Loop(optimisation, settings.pretrain_epochs).run(train_epoch, end_epoch)
    finally:
        network.head.requires_grad_(True)
    return history


def _contrastive_loss(model: torch.nn.Module, optimisation: Optimisation, temperature: float) -> BatchLoss:
    """The NT-Xent loss of a batch of pairs of views, in float32 after a forward pass of both views as one batch."""
    def batch_loss(pair: tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]) -> tuple[torch.Tensor, int]:
        first, second = pair
        n = len(first["signal"])
        with optimisation.autocast():
            z = model(_both_views(first, second, optimisation.device))
        return nt_xent(z[:n].float(), z[n:].float(), temperature), n

    return batch_loss


def _loader(dataset: ContrastivePairs, sampler: EpochSampler, batch_size: int, workers: int,
            device: torch.device) -> torch.utils.data.DataLoader:
    """The batches of pairs, every epoch. Every batch holds at least 2 records (each needs negatives): a last
    batch of a lone record is dropped, and a process with a single record cannot pre-train (an error, not a
    silent no-op)."""
    per_process = len(sampler)
    if per_process < 2:
        raise ValueError(f"contrastive pre-training needs at least 2 records per process, not {per_process}")
    batch = max(2, min(batch_size, per_process))
    # Dropping the remainder only when it would be a lone record keeps every record in use otherwise.
    return epoch_loader(dataset, sampler, batch, workers, pin_memory=device.type == "cuda",
                        drop_last=per_process % batch == 1)
