"""The network a run's config describes: where the plain-data config meets the architecture registry.

``models/`` knows architectures and nothing of a run; ``config`` is plain data and imports no torch. This
module joins the two: it fills a ``[model]`` table's left-out hyper-parameters in from the architecture's
constructor (so that a saved config names every value), builds the network with the run's extra inputs,
and gives the shapes of its weights without allocating them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from .config import ModelConfig, RunConfig
from .features import NUM_FEATURES
from .models import architecture_parameters, create_model_from_config


def complete_model(model: ModelConfig) -> ModelConfig:
    """``model`` with every hyper-parameter of its architecture: the values given over the constructor's
    defaults, each of the default's type. ValueError for an unknown architecture or key, or a wrong type."""
    return dataclasses.replace(model, params=architecture_parameters(model.architecture, model.params))


def complete(config: RunConfig, source: str = "config") -> RunConfig:
    """``config`` with its ``[model]`` table completed (see :func:`complete_model`); ValueError naming
    ``source`` when the table does not fit the architecture. Training completes its config before anything
    else, so that the saved config names every value and a typo fails before any data is read."""
    try:
        return dataclasses.replace(config, model=complete_model(config.model))
    except ValueError as error:
        raise ValueError(f"{source} [model]: {error}") from None


def build_network(config: RunConfig, num_classes: int) -> nn.Module:
    """The (untrained) network a run's config describes, with the hand-made features input when they are on."""
    extra = NUM_FEATURES if config.features.enabled else 0
    return create_model_from_config(config.model, num_classes, extra_features=extra)


def network_shapes(config: RunConfig, classes: int) -> dict[str, tuple[int, ...]]:
    """The shape of every tensor of the state dict of the network ``config`` describes, from a network built on
    torch's meta device: nothing is allocated, however large a stranger's config.json says the network is."""
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
