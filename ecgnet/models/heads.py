"""Auxiliary heads that sit on an encoder's pooled features during training and are dropped afterwards.

- :class:`DomainClassifier`: domain-adversarial training (Ganin & Lempitsky, 2015, "Unsupervised domain
  adaptation by backpropagation"). A small classifier learns to tell the record's source (hospital, device)
  from the encoder's features, while a gradient-reversal layer between them makes the encoder learn features
  that fool it, i.e. that carry less of what is specific to a source and generalise to unseen ones.
- :class:`ProjectionHead`: the projection MLP of SimCLR (Chen et al., 2020, "A simple framework for
  contrastive learning of visual representations"). The contrastive loss is computed on its output rather
  than on the features themselves, which keeps the features richer for the downstream classifier; the head
  is thrown away after pre-training.

Inputs are the (B, embedding_size) vectors of ``model.embedding(...)``, or their pooled part. This module
imports only torch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


class _ReverseGradient(torch.autograd.Function):
    """Identity forward; the backward pass multiplies the incoming gradient by ``-scale``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, scale: float) -> Tensor:
        ctx.scale = scale
        # view_as: a new tensor object, so autograd records this function as its producer.
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor, None]:
        return -ctx.scale * grad_output, None


def reverse_gradient(x: Tensor, scale: float = 1.0) -> Tensor:
    """``x`` unchanged, with its gradient multiplied by ``-scale`` on the way back."""
    return _ReverseGradient.apply(x, scale)


class GradientReversal(nn.Module):
    """The gradient-reversal layer: identity forward, gradient times ``-scale`` backward.

    Whatever is below it is trained to *increase* the loss of whatever is above it. ``scale`` (lambda) is a
    plain attribute, so a training loop may change it between steps (training keeps it at 1).
    """

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = float(scale)

    def forward(self, x: Tensor) -> Tensor:
        return reverse_gradient(x, self.scale)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


class DomainClassifier(nn.Module):
    """Source classifier behind a gradient reversal: features -> reversal -> Linear -> ReLU -> Linear.

    Its cross-entropy against each record's source trains the classifier to recognise the source and,
    through the reversal, the encoder to hide it (domain-adversarial training, Ganin & Lempitsky 2015).
    Returns (B, num_domains) logits.
    """

    def __init__(self, in_features: int, num_domains: int, hidden: int = 64, reversal_scale: float = 1.0) -> None:
        super().__init__()
        # One domain is allowed (its loss is always 0), so a run whose data has a single source still runs.
        if num_domains < 1:
            raise ValueError(f"a domain classifier needs at least 1 domain, not {num_domains}")
        self.reversal = GradientReversal(reversal_scale)
        self.classifier = nn.Sequential(
            nn.Linear(in_features, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, num_domains),
        )

    def forward(self, features: Tensor) -> Tensor:
        return self.classifier(self.reversal(features))


class ProjectionHead(nn.Module):
    """SimCLR's projection MLP (Chen et al. 2020): Linear -> BatchNorm1d -> ReLU -> Linear.

    Maps pooled features to the space where the NT-Xent loss (``ecgnet.losses.nt_xent``) compares two
    augmented views; used in contrastive pre-training only. BatchNorm needs batches of at least 2 in
    training mode, which NT-Xent needs anyway.
    """

    def __init__(self, in_features: int, hidden: int = 128, out_features: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            # No bias before BatchNorm: its shift replaces it.
            nn.Linear(in_features, hidden, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, out_features),
        )

    def forward(self, features: Tensor) -> Tensor:
        return self.net(features)
