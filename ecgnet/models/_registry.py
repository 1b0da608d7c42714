"""A small name -> constructor registry, so configs and saved runs can name an architecture by a string.

Kept apart from ``models/__init__.py`` so that architecture files can import ``register_model`` without a
circular import while the package ``__init__`` imports them to fill the registry.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
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
        options = sorted(accepted - set(RUN_ARGUMENTS))
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
    """Build the network a ``ModelConfig`` describes: ``architecture`` picks it, ``params`` (and ``more``, for
    arguments decided elsewhere in the run's config, such as ``extra_features``) are its keyword arguments."""
    return create_model(model_config.architecture, num_classes=num_classes, num_leads=num_leads,
                        **model_config.params, **more)


#: Constructor arguments that the run decides, never the ``[model]`` table.
RUN_ARGUMENTS = ("num_classes", "num_leads", "extra_features")


def architecture_parameters(name: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """Every hyper-parameter of architecture ``name``: the values ``given`` over its constructor's defaults,
    each of the default's type (an int where the default is an int, a tuple where it is a tuple: a list
    from TOML or JSON becomes one). ValueError naming the architecture and the key for an unknown
    architecture or key, a missing value without default, or a value of the wrong type."""
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {list_models()}")
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    defaults = {p.name: p.default for p in inspect.signature(_MODELS[name]).parameters.values()
                if p.kind in keyword and p.name not in RUN_ARGUMENTS}
    _check_kwargs(name, _MODELS[name], {key: None for key in given if key not in RUN_ARGUMENTS})
    taken = sorted(set(given) & set(RUN_ARGUMENTS))
    if taken:
        raise ValueError(f"model {name!r}: {taken} are decided by the run, not set in [model]")
    params = {}
    for key, default in defaults.items():
        if key not in given and default is inspect.Parameter.empty:
            raise ValueError(f"model {name!r} needs a value for {key!r}")
        params[key] = _like(given.get(key, default), default, f"model {name!r} {key}")
    return params


def _like(value: Any, default: Any, source: str) -> Any:
    """``value`` as the type of ``default`` (none: as it is); ValueError naming ``source`` and the type wanted."""
    if default is inspect.Parameter.empty or default is None:
        return value
    if isinstance(default, tuple):
        if isinstance(value, list | tuple):
            return tuple(_like(v, default[0], source) for v in value) if default else tuple(value)
    elif isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(value, bool):
        pass  # true and false are not numbers here
    elif isinstance(default, int) and isinstance(value, int | float) and float(value).is_integer():
        return int(value)
    elif isinstance(default, float) and isinstance(value, int | float):
        return float(value)
    elif isinstance(default, str) and isinstance(value, str):
        return value
    raise ValueError(f"{source} must be {_kind(default)}, not {value!r}")


def _kind(default: Any) -> str:
    """What a value like ``default`` is, for a message."""
    if isinstance(default, tuple):
        return f"a list of {_kind(default[0]).split(' ', 1)[1]}s" if default else "a list"
    kinds = ((bool, "true or false"), (int, "an integer"), (float, "a number"), (str, "a string"))
    return next((name for kind, name in kinds if isinstance(default, kind)), f"like {default!r}")


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable, by default) scalar parameters in ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
