"""What a fold's training minimises: the classification loss, and the options of the papers that shape it
(README, "The methods of the papers, as options"), each off unless the config turns it on:

- label masking: no loss for a (source, class) pair whose source has no positive of the class among the
  fold's training records (the sources label different subsets of the classes, so a missing label there
  is not a negative);
- reward weights: per-record class weights from the Challenge's reward matrix;
- a differentiable Challenge-score term;
- a source classifier behind gradient reversal (domain-adversarial training): the encoder learns features
  that do not tell the sources apart;
- distillation across lead sets (:func:`lead_distillation_loss`): each example is fed twice, with a random
  lead subset and with all its leads, and the reduced copy's outputs learn to match the full copy's, so that
  one network serves every lead set as it serves twelve.

:class:`TrainingModel` is what the optimiser trains: the network plus the source classifier; only the
network is saved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from . import losses
from .config import TrainingConfig
from .labels import ClassTable
from .models.heads import DomainClassifier


def trunk_embedding(network: nn.Module, embedding: Tensor) -> Tensor:
    """The part of ``network.embedding(...)`` computed from the signal (not the lead mask, demographics or
    hand-made features, which the source classifier and the contrastive head must not be able to use)."""
    return embedding[:, : network.pooled_size]


class TrainingModel(nn.Module):
    """The network and, with domain-adversarial training, a source classifier on its trunk features.

    ``forward`` returns (class logits, source logits or None).
    """

    def __init__(self, network: nn.Module, num_sources: int = 0):
        super().__init__()
        self.network = network
        self.domain = DomainClassifier(network.pooled_size, num_sources) if num_sources > 1 else None

    def forward(self, signal: Tensor, lead_mask: Tensor, demographics: Tensor,
                extra: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        embedding = self.network.embedding(signal, lead_mask, demographics, extra)
        logits = self.network.classify(embedding)
        if self.domain is None:
            return logits, None
        return logits, self.domain(trunk_embedding(self.network, embedding))


def lead_distillation_loss(reduced_logits: Tensor, full_logits: Tensor) -> Tensor:
    """Distillation across lead sets: the binary cross-entropy of the reduced-lead outputs against the
    full-lead outputs of the same examples, held fixed (the full copy teaches; it does not move toward the
    reduced one). Zero where the two agree, whatever the labels."""
    teacher = torch.sigmoid(full_logits.detach().float())
    reduced_logits = reduced_logits.float()
    # Less the teacher's own entropy, so that a perfect match costs 0 rather than the entropy of the targets.
    return (nn.functional.binary_cross_entropy_with_logits(reduced_logits, teacher)
            - nn.functional.binary_cross_entropy(teacher, teacher))


def positive_weights(labels: np.ndarray) -> torch.Tensor:
    """Per-class weights of positives in the loss: sqrt(negatives/positives), within [1, 20]."""
    positives = labels.sum(axis=0)
    ratio = (len(labels) - positives) / np.maximum(positives, 1)
    return torch.tensor(np.clip(np.sqrt(ratio), 1.0, 20.0), dtype=torch.float32)


@dataclass
class Objective:
    """The loss of one batch; built for a fold by :meth:`for_fold`."""

    settings: TrainingConfig
    pos_weight: Tensor  # (C,)
    rewards: Tensor  # (C, C): the Challenge's reward matrix W
    sinus_index: int | None
    num_sources: int = 0  # source indices from 0 to num_sources - 1 are known; others (-1, num_sources) are not
    label_mask: Tensor | None = None  # (num_sources + 1, C) 1 where the source labels the class; all 1 for unknown

    @classmethod
    def for_fold(cls, settings: TrainingConfig, table: ClassTable, labels: np.ndarray,
                 label_mask: np.ndarray | None, device: torch.device) -> Objective:
        """The objective of a fold from its training records' labels and, with label masking, the (sources,
        classes) table of which source labels which class (:func:`ecgnet.losses.label_mask_table`)."""
        num_sources = 0 if label_mask is None else len(label_mask)
        mask = None
        if settings.label_masking and label_mask is not None:
            # A class no training source labels is learnt as a negative everywhere rather than not at all
            # (an untrained output would feed noise to the thresholds).
            label_mask = label_mask | ~label_mask.any(axis=0)
            every_row = losses.record_label_masks(np.arange(num_sources + 1), label_mask)  # + the unknown row
            mask = torch.tensor(every_row, dtype=torch.float32, device=device)
        rewards = torch.tensor(table.weights, dtype=torch.float32, device=device)
        return cls(settings, positive_weights(labels).to(device), rewards, table.sinus_rhythm_index, num_sources,
                   mask)

    def known(self, sources: Tensor) -> Tensor:
        """Which records come from a source the fold trains on."""
        return (sources >= 0) & (sources < self.num_sources)

    def record_masks(self, sources: Tensor) -> Tensor | None:
        """(B, C) 1 where a record's source labels the class (label masking), or None when off."""
        if self.label_mask is None:
            return None
        # A record of an unknown source keeps every class (the table's last row).
        return self.label_mask[torch.where(self.known(sources), sources, self.num_sources)]

    def element_weights(self, labels: Tensor, sources: Tensor) -> Tensor | None:
        """(B, C) weights of each record's per-class losses, or None when every weight is 1."""
        weights = self.record_masks(sources)
        if self.settings.reward_weights:
            reward = losses.reward_class_weights(labels, self.rewards, self.settings.reward_alpha)
            weights = reward if weights is None else weights * reward
        return weights

    def __call__(self, logits: Tensor, source_logits: Tensor | None, labels: Tensor, sources: Tensor) -> Tensor:
        logits = logits.float()
        weights = self.element_weights(labels, sources)
        if weights is None:
            loss = nn.functional.binary_cross_entropy_with_logits(logits, labels, pos_weight=self.pos_weight)
        else:
            loss = losses.masked_bce(logits, labels, self.pos_weight, weights)
        if self.settings.challenge_loss_weight > 0:
            probabilities = torch.sigmoid(logits)
            masks = self.record_masks(sources)
            if masks is not None:  # a masked (unlabelled) class counts as answered correctly: no penalty
                probabilities = torch.where(masks > 0, probabilities, labels)
            loss = loss + self.settings.challenge_loss_weight * losses.challenge_loss(
                labels, probabilities, self.rewards, self.sinus_index)
        if source_logits is not None and self.settings.domain_weight > 0:
            # A masked mean over the records of a known source: no data-dependent branch or boolean indexing,
            # which would break a compiled graph; no known record adds 0.
            known = self.known(sources).float()
            each = nn.functional.cross_entropy(source_logits.float(), torch.where(known > 0, sources, 0),
                                               reduction="none")
            loss = loss + self.settings.domain_weight * (each * known).sum() / known.sum().clamp(min=1)
        return loss
