"""A small name -> constructor registry, so configs and saved runs can name an architecture by a string.

Kept apart from ``models/__init__.py`` so that architecture files can import ``register_model`` without a
circular import while the package ``__init__`` imports them to fill the registry.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from torch import nn

if TYPE_CHECKING:
    from ecgnet.config import ModelConfig

ModelFactory = Callable[..., nn.Module]
F = TypeVar("F", bound=ModelFactory)

_MODELS: dict[str, ModelFactory] = {}


def register_model(name: str) -> Callable[[F], F]:
    """Decorator: make a model class (or function returning a module) available to ``create_model(name)``.

    The constructor must accept ``num_classes`` and ``num_leads`` keywords; its other keyword arguments are
    the architecture's hyper-parameters. Registering a taken name is an error, so two files cannot silently
    shadow each other.
    """

    def decorator(factory: F) -> F:
        if not isinstance(name, str) or not name:
            raise ValueError(f"model name must be a non-empty string, got {name!r}")
        if name in _MODELS and _MODELS[name] is not factory:
            raise ValueError(f"model {name!r} is already registered (by {_MODELS[name]!r})")
        _MODELS[name] = factory
        return factory

    return decorator


def unregister_model(name: str) -> None:
    """Forget ``name`` (tests and plug-ins that register temporary architectures clean up with this)."""
    if name not in _MODELS:
        raise ValueError(f"model {name!r} is not registered; known models: {list_models()}")
    del _MODELS[name]


def list_models() -> list[str]:
    """Registered architecture names, sorted."""
    return sorted(_MODELS)


def _check_kwargs(name: str, factory: ModelFactory, kwargs: dict[str, Any]) -> None:
    """Reject keyword arguments the constructor does not take, naming them and the accepted ones.

    Done here rather than relying on ``TypeError`` so that a typo in a config file gives a message that says
    which architecture and which keys are involved.
    """
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # builtins without a signature: let the call itself complain
        return
    parameters = signature.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return
    accepted = {
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        options = sorted(accepted - {"num_classes", "num_leads"})
        raise ValueError(f"model {name!r} got unknown argument(s) {unknown}; it accepts {options}")


def create_model(name: str, num_classes: int, num_leads: int = 12, **kwargs: Any) -> nn.Module:
    """Build the architecture registered as ``name``.

    Raises ``ValueError`` for an unknown name (listing the known ones) or an argument the architecture does
    not accept.
    """
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {list_models()}")
    factory = _MODELS[name]
    _check_kwargs(name, factory, kwargs)
    return factory(num_classes=num_classes, num_leads=num_leads, **kwargs)


def create_model_from_config(model_config: ModelConfig, num_classes: int, num_leads: int = 12,
                             **more: Any) -> nn.Module:
    """Build the network a ``ModelConfig`` describes: ``architecture`` picks it, the other fields (and
    ``more``, for arguments decided elsewhere in the run's config, such as ``extra_features``) are kwargs."""
    values = {f.name: getattr(model_config, f.name) for f in dataclasses.fields(model_config)}
    architecture = values.pop("architecture")
    return create_model(architecture, num_classes=num_classes, num_leads=num_leads, **values, **more)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable, by default) scalar parameters in ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
