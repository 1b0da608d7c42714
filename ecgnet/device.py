"""Which torch device a run uses, and what depends on it: bfloat16, the optimiser's fused form."""

from __future__ import annotations

import torch

from .config import TrainingConfig


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` is the GPU when there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but no CUDA GPU is available")
    return torch.device(name)


def native_bf16() -> bool:
    """Whether the GPU computes in bfloat16 natively (emulated bfloat16 is slower than float16 with a scaler)."""
    return torch.cuda.is_bf16_supported(including_emulation=False)


def make_optimizer(parameters, settings: TrainingConfig, device: torch.device) -> torch.optim.Optimizer:
    """AdamW at the recipe's rate; on a GPU its fused form (one kernel for all parameters, no host sync)."""
    return torch.optim.AdamW(parameters, lr=settings.learning_rate, weight_decay=settings.weight_decay,
                             fused=device.type == "cuda")
