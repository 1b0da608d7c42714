"""One config object describes a run: signal processing, network, training. It is loaded from TOML,
overridden from the command line, and saved as ``config.json`` in the model folder, so that inference
needs nothing else.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG_VERSION = 1
CONFIG_ENV = "ECGNET_CONFIG"


@dataclass
class SignalConfig:
    """How a recording becomes the network's input."""

    sample_rate: int = 250
    window_seconds: float = 10.0
    bandpass_low: float = 0.5
    bandpass_high: float = 45.0
    filter_order: int = 3
    inference_stride_seconds: float = 5.0

    def __post_init__(self) -> None:
        for name in ("sample_rate", "window_seconds", "inference_stride_seconds", "filter_order"):
            if not getattr(self, name) > 0:
                raise ValueError(f"signals.{name} must be positive, not {getattr(self, name)!r}")

    @property
    def window_samples(self) -> int:
        return int(round(self.window_seconds * self.sample_rate))

    @property
    def stride_samples(self) -> int:
        return max(1, int(round(self.inference_stride_seconds * self.sample_rate)))


@dataclass
class ModelConfig:
    """Which network and its shape; the fields are passed to the architecture's constructor."""

    architecture: str = "seresnet"
    stem_channels: int = 64
    stage_channels: tuple[int, ...] = (64, 128, 192, 256)
    blocks_per_stage: tuple[int, ...] = (2, 2, 2, 2)
    stem_kernel: int = 15
    kernel_size: int = 7
    se_reduction: int = 8
    dropout: float = 0.2
    use_demographics: bool = True


@dataclass
class TrainingConfig:
    """The training recipe."""

    epochs: int = 30
    folds: int = 5
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 1e-2
    warmup_fraction: float = 0.05
    patience: int = 8
    device: str = "auto"
    workers: int = 2
    seed: int = 0
    mixed_precision: bool = True
    lead_subset_probability: float = 0.5
    use_unlabelled: bool = False
    threshold_method: str = "coordinate"
    validation: str = "kfold"
    max_records: int | None = None
    # Preprocessed signals are cached on disk (see ecgnet.cache) under cache_dir, by default
    # $ECGNET_CACHE or ~/.cache/ecgnet; cache = false preprocesses in memory on every run.
    cache: bool = True
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        choices = {"device": ("auto", "cpu", "cuda"), "validation": ("kfold", "leave-source-out"),
                   "threshold_method": ("coordinate", "evolution", "fixed")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"training.{name} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}")
        minimum = {"epochs": 1, "folds": 2 if self.validation == "kfold" else 1, "batch_size": 1, "patience": 1,
                   "workers": 0, "max_records": 1}
        for name, least in minimum.items():
            value = getattr(self, name)
            if value is not None and value < least:
                raise ValueError(f"training.{name} must be at least {least}, not {value!r}")
        for name in ("lead_subset_probability", "warmup_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"training.{name} must be between 0 and 1, not {getattr(self, name)!r}")
        if not self.learning_rate > 0 or self.weight_decay < 0:
            raise ValueError("training.learning_rate must be positive and training.weight_decay not negative, "
                             f"not {self.learning_rate!r} and {self.weight_decay!r}")


@dataclass
class RunConfig:
    """Everything a run needs; saved into the model folder."""

    signals: SignalConfig = field(default_factory=SignalConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)

    def to_dict(self) -> dict[str, Any]:
        return {"version": CONFIG_VERSION, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> RunConfig:
        """Build a config from nested dicts; unknown sections or keys, values of the wrong type and
        values out of range are errors naming them."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: a config must be a table of sections, not {type(data).__name__}")
        data = dict(data)
        version = data.pop("version", CONFIG_VERSION)
        if version != CONFIG_VERSION:
            raise ValueError(f"{source}: config version {version} is not supported (this is {CONFIG_VERSION})")
        sections = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(data) - set(sections)
        if unknown:
            raise ValueError(f"{source}: unknown config section(s) {sorted(unknown)}")
        built = {}
        for name, section_field in sections.items():
            section_cls = section_field.default_factory().__class__
            built[name] = _build_section(section_cls, data.get(name, {}), f"{source} [{name}]")
        return cls(**built)

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> RunConfig:
        with open(path, "rb") as f:
            try:
                data = tomllib.load(f)
            except tomllib.TOMLDecodeError as error:
                raise ValueError(f"{path}: not valid TOML ({error})") from None
        return cls.from_dict(data, str(path))

    def save_json(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load_json(cls, path: str | os.PathLike) -> RunConfig:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{path}: cannot read config ({error})") from None
        return cls.from_dict(data, str(path))

    def override(self, section: str, **values: Any) -> RunConfig:
        """A copy with some fields of one section replaced (None values are ignored)."""
        values = {k: v for k, v in values.items() if v is not None}
        if section not in {f.name for f in dataclasses.fields(self)}:
            raise ValueError(f"unknown config section {section!r}")
        current = getattr(self, section)
        updated = _build_section(type(current), {**dataclasses.asdict(current), **values}, section)
        return dataclasses.replace(self, **{section: updated})


def _build_section(section_cls: type, values: Any, source: str) -> Any:
    if not isinstance(values, dict):
        raise ValueError(f"{source}: must be a table of settings, not {values!r}")
    names = {f.name: f for f in dataclasses.fields(section_cls)}
    unknown = set(values) - set(names)
    if unknown:
        raise ValueError(f"{source}: unknown key(s) {sorted(unknown)}")
    hints = typing.get_type_hints(section_cls)
    converted = {name: _convert(value, hints[name], f"{source} {name}") for name, value in values.items()}
    try:
        return section_cls(**converted)
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None


def _convert(value: Any, hint: Any, source: str) -> Any:
    """``value`` as the type ``hint`` of a config field (int, float, str, bool, tuple[int, ...] or
    X | None); ValueError naming ``source`` when it is not one. Ints pass as floats, lists as tuples."""
    if value is None and type(None) in typing.get_args(hint):
        return None
    if typing.get_args(hint) and typing.get_origin(hint) is not tuple:  # X | None with a value
        hint = next(t for t in typing.get_args(hint) if t is not type(None))
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        if isinstance(value, list | tuple):
            return tuple(_convert(v, item, source) for v in value)
    elif hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    elif hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif hint is int and isinstance(value, float) and value.is_integer():
        return int(value)
    elif hint in (str, bool) and isinstance(value, hint):
        return value
    expected = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    if typing.get_origin(hint) is tuple:
        plural = {int: "integers", float: "numbers", str: "strings", bool: "true or false values"}
        wanted = f"a list of {plural.get(typing.get_args(hint)[0], 'values')}"
    else:
        wanted = expected.get(hint, str(hint))
    raise ValueError(f"{source} must be {wanted}, not {value!r}")


def default_config_path() -> Path:
    return Path(__file__).resolve().parent.parent / "configs" / "default.toml"


def load_config(path: str | os.PathLike | None = None) -> RunConfig:
    """The config at ``path``, else the one named by ``$ECGNET_CONFIG``, else ``configs/default.toml``."""
    return RunConfig.from_toml(path or os.environ.get(CONFIG_ENV) or default_config_path())
