"""Network architectures, looked up by name.

Every architecture is one self-contained file that registers itself with ``@register_model(name)``; importing
this package imports them all. Every model follows one forward contract, which the rest of ``ecgnet`` relies
on::

    logits = model(signal, lead_mask, demographics, extra=None)
    # signal       (B, num_leads, T) float, absent leads zeroed
    # lead_mask    (B, num_leads)    float 0/1, which leads exist
    # demographics (B, 4)            float [age/100 (0 if unknown), age_known, is_male, sex_known]
    # extra        (B, F)            float hand-made features, when built with extra_features = F > 0
    # logits       (B, num_classes)

and offers ``model.features(signal, lead_mask, demographics, extra)`` (the vector fed to the classifier),
``model.num_features`` (its length), ``model.pooled_features`` (how many of its first values come from the
signal: the rest are the lead mask, demographics and extra features), ``model.classify(features)`` (logits
from it) and ``model.head`` (the classifier's last layer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import nn

from ecgnet.features import NUM_FEATURES

# Imported for its side effect too: each architecture module registers itself on import.
from . import seresnet  # noqa: F401
from ._registry import (
    architecture_parameters,
    count_parameters,
    create_model,
    create_model_from_config,
    list_models,
    register_model,
    unregister_model,
)

if TYPE_CHECKING:
    from ecgnet.config import RunConfig

__all__ = [
    "architecture_parameters",
    "build_network",
    "count_parameters",
    "create_model",
    "create_model_from_config",
    "list_models",
    "network_shapes",
    "register_model",
    "unregister_model",
]


def build_network(config: RunConfig, num_classes: int) -> nn.Module:
    """The (untrained) network a run's config describes, with the hand-made features input when they are on."""
    extra = NUM_FEATURES if config.features.enabled else 0
    return create_model_from_config(config.model, num_classes, extra_features=extra)


def network_shapes(config: RunConfig, classes: int) -> dict[str, tuple[int, ...]]:
    """The shape of every tensor of the state dict of the network ``config`` describes, from a network built on
    torch's meta device: nothing is allocated, however large a stranger's config.json says the network is."""
    import torch

    with torch.device("meta"), _skip_random_fills():
        network = build_network(config, classes)
    return {name: tuple(tensor.shape) for name, tensor in network.state_dict().items()}


def _skip_random_fills() -> Any:
    """A torch function mode that skips the random fills of weight initialisation: on the meta device there are
    no values to fill, and their meta kernels would import torch's compiler (a second) on first use."""
    from torch.overrides import TorchFunctionMode

    class SkipRandomFills(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            filled = args[0] if args else kwargs.get("tensor")  # Tensor.normal_(...) or nn.init.normal_(tensor=...)
            if getattr(func, "__name__", None) in ("normal_", "uniform_") and filled is not None:
                return filled
            return func(*args, **kwargs)

    return SkipRandomFills()
