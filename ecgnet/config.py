"""One config object describes a run: signal processing, network, training. It is loaded from TOML,
overridden from the command line, and saved as ``config.json`` in the model folder, so that inference
needs nothing else.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .files import write_text_atomic

CONFIG_VERSION = 1
CONFIG_ENV = "ECGNET_CONFIG"
MIN_SAMPLE_RATE = 50
MIN_WINDOW_SECONDS = 1.0
# Upper bounds: a config (a recipe, or a stranger's config.json) must not be able to make a run allocate
# gigabytes per record. A window is at most MAX_WINDOW_SAMPLES samples (2 minutes at 500 Hz, 2.9 MB for 12
# leads), and with the stride at least window / MAX_WINDOW_OVERLAP a sample lies in at most that many windows.
MAX_SAMPLE_RATE = 2000
MAX_WINDOW_SECONDS = 120.0
MAX_WINDOW_SAMPLES = 60_000
MAX_WINDOW_OVERLAP = 10
MAX_FILTER_ORDER = 10


def short_repr(value: Any) -> str:
    """``value`` for a one-line message: a long integer by its digit count, anything else cut short."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**15:
        return f"a number of {len(str(abs(value)))} digits"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_finite(section: str, values: Any) -> None:
    """Every float field of the dataclass ``values`` is finite (TOML and Python's JSON read inf and nan)."""
    for item in dataclasses.fields(values):
        value = getattr(values, item.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{section}.{item.name} must be a finite number, not {value!r}")


def _check_at_most(section: str, values: Any, limits: dict[str, float]) -> None:
    """Fields of the dataclass ``values`` within their upper ``limits`` (None, where allowed, is unset)."""
    for name, most in limits.items():
        value = getattr(values, name)
        if value is not None and not value <= most:
            raise ValueError(f"{section}.{name} must be at most {most if isinstance(most, int) else f'{most:g}'}, "
                             f"not {short_repr(value)}")


def _check_window(signals: SignalConfig) -> None:
    """The window and the stride within what a run can hold in memory (see MAX_WINDOW_SAMPLES)."""
    if signals.window_samples > MAX_WINDOW_SAMPLES:
        raise ValueError(f"signals.window_seconds x sample_rate must be at most {MAX_WINDOW_SAMPLES} samples a "
                         f"window, not {signals.window_samples}")
    least = signals.window_seconds / MAX_WINDOW_OVERLAP
    if signals.inference_stride_seconds < least:
        raise ValueError(f"signals.inference_stride_seconds must be at least window_seconds / {MAX_WINDOW_OVERLAP} "
                         f"({least:g}; each sample in at most {MAX_WINDOW_OVERLAP} windows), "
                         f"not {signals.inference_stride_seconds!r}")


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
        # Below these a window holds less than a beat, or the network's strides leave it no samples.
        if self.sample_rate < MIN_SAMPLE_RATE:
            raise ValueError(f"signals.sample_rate must be at least {MIN_SAMPLE_RATE} Hz, not {self.sample_rate!r}")
        if self.window_seconds < MIN_WINDOW_SECONDS:
            raise ValueError(f"signals.window_seconds must be at least {MIN_WINDOW_SECONDS:g}, "
                             f"not {self.window_seconds!r}")
        _check_finite("signals", self)
        _check_at_most("signals", self, {"sample_rate": MAX_SAMPLE_RATE, "window_seconds": MAX_WINDOW_SECONDS,
                                         "inference_stride_seconds": MAX_WINDOW_SECONDS,
                                         "filter_order": MAX_FILTER_ORDER, "bandpass_low": MAX_SAMPLE_RATE / 2,
                                         "bandpass_high": MAX_SAMPLE_RATE / 2})
        for name in ("bandpass_low", "bandpass_high"):  # 0 turns that side of the band off
            if getattr(self, name) < 0:
                raise ValueError(f"signals.{name} must not be negative, not {getattr(self, name)!r}")
        _check_window(self)

    @property
    def window_samples(self) -> int:
        return int(round(self.window_seconds * self.sample_rate))

    @property
    def stride_samples(self) -> int:
        return max(1, int(round(self.inference_stride_seconds * self.sample_rate)))


@dataclass
class ModelConfig:
    """Which network: an architecture registered in ``models`` by name, and its own hyper-parameters.

    In TOML the ``[model]`` table holds ``architecture`` and that architecture's keyword arguments; they are
    checked against its constructor, and those left out are filled in with its defaults, so that a saved
    config names every value. A new architecture is one file in ``models/`` and needs nothing here.
    This is plain data, bounded without torch: the check against the constructor, and the filling in, are
    :func:`ecgnet.network.complete`'s (a model folder's saved config was completed when it was written, and
    ONNX Runtime serves it without torch).
    """

    architecture: str = "seresnet"
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_model_params(self.architecture, self.params)  # before the registry reads a value of 401 digits

    def to_table(self) -> dict[str, Any]:
        """The ``[model]`` table: ``architecture`` and the hyper-parameters side by side."""
        return {"architecture": self.architecture, **self.params}

    @classmethod
    def from_table(cls, table: Any, source: str) -> ModelConfig:
        """A ``[model]`` table as a config; ValueError naming ``source`` when a value is out of bounds."""
        if not isinstance(table, dict):
            raise ValueError(f"{source}: must be a table of settings, not {table!r}")
        params = dict(table)
        architecture = params.pop("architecture", cls.architecture)
        if not isinstance(architecture, str):
            raise ValueError(f"{source} architecture must be a string, not {architecture!r}")
        try:
            return cls(architecture, params)
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from None


# The hyper-parameters of an architecture, bounded without importing it (ONNX Runtime serves a folder without
# torch): each number within the architecture's range below, else within +-MODEL_NUMBER_LIMIT; at most
# MODEL_LIST_LIMIT values in a list. The shipped SE-ResNet's widths, depths and kernels are bounded so that no
# recipe builds a network by the gigabyte per block; a model folder's network is also checked against its
# weight files before it is built (ecgnet.inference).
MODEL_RANGES: dict[str, dict[str, tuple[int, int]]] = {
    "seresnet": {"stem_channels": (1, 1024), "stage_channels": (1, 1024), "blocks_per_stage": (1, 16),
                 "stem_kernel": (1, 255), "kernel_size": (1, 255), "se_reduction": (1, 1024)},
}
MODEL_NUMBER_LIMIT = 1_000_000
MODEL_LIST_LIMIT = 16
MODEL_TEXT_LIMIT = 200


def _check_model_params(architecture: str, params: dict[str, Any]) -> None:
    """ValueError naming the key unless every value of ``params`` is of a sane size (see MODEL_RANGES)."""
    ranges = MODEL_RANGES.get(architecture, {})
    for key, value in params.items():
        items = value if isinstance(value, list | tuple) else [value]
        if len(items) > MODEL_LIST_LIMIT:
            raise ValueError(f"model.{key} must list at most {MODEL_LIST_LIMIT} values, not {len(items)}")
        for item in items:
            _check_model_value(f"model.{key}", item, ranges.get(key))


def _check_model_value(name: str, value: Any, bounds: tuple[int, int] | None) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        if len(value) > MODEL_TEXT_LIMIT:
            raise ValueError(f"{name} must be at most {MODEL_TEXT_LIMIT} characters long, not {len(value)}")
        return
    if not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, true or false, a string or a list of them, not {short_repr(value)}")
    low, high = bounds or (-MODEL_NUMBER_LIMIT, MODEL_NUMBER_LIMIT)
    if not low <= value <= high:  # nan and infinities fail too
        raise ValueError(f"{name} must be between {low} and {high}, not {short_repr(value)}")


@dataclass
class BeatConfig:
    """Beat sampling (a method of the papers, see the README): R peaks are found once per record, single beats
    are cut and resampled to ``beat_samples``; training sees random combinations of ``beats_per_example`` beats,
    inference a fixed set of at most ``inference_groups`` groups of consecutive beats, whose outputs are
    averaged. Off: training sees random windows and inference sliding windows (``[signals]``)."""

    enabled: bool = False
    beats_per_example: int = 4
    beat_samples: int = 200
    inference_groups: int = 8

    def __post_init__(self) -> None:
        for name in ("beats_per_example", "beat_samples", "inference_groups"):
            if getattr(self, name) < 1:
                raise ValueError(f"beats.{name} must be at least 1, not {short_repr(getattr(self, name))}")
        _check_at_most("beats", self, {"beats_per_example": 64, "beat_samples": MAX_WINDOW_SAMPLES,
                                       "inference_groups": 256})
        if self.beats_per_example * self.beat_samples > MAX_WINDOW_SAMPLES:
            raise ValueError(f"beats.beats_per_example x beat_samples must be at most {MAX_WINDOW_SAMPLES} samples "
                             f"a window, not {self.beats_per_example * self.beat_samples}")


@dataclass
class FeatureConfig:
    """Hand-made features (RR, R-amplitude and heart-rate statistics with missing-value flags, see
    :mod:`ecgnet.features`) joined to the network's pooled features; age and sex are always joined
    (``model.use_demographics``)."""

    enabled: bool = False


@dataclass
class FeatureModelConfig:
    """The ``[feature_model]`` table: the measurement model beside the network (:mod:`ecgnet.measurement_model`):
    gradient-boosted trees (scikit-learn's HistGradientBoostingClassifier), one per class and per lead set, on
    the measurements a cardiologist reads (:mod:`ecgnet.measurements`) and age and sex, trained on the network's
    folds. A second-stage model (:mod:`ecgnet.stacking`) joins its probabilities to the network's; the
    thresholds are tuned on the stack's out-of-fold outputs. Off: the network alone decides."""

    enabled: bool = False
    max_iter: int = 150
    learning_rate: float = 0.05
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 10
    l2_regularization: float = 1.0
    # The stack: "logistic" (per class, a logistic regression on the two models' logits, cross-fitted on
    # the folds) or "mean" (the mean of the two logits).
    stack: str = "logistic"
    stack_regularization: float = 1.0  # C of the logistic regression: smaller is a stronger pull to zero
    # The measured criteria of the classes a clinical definition fixes (ecgnet.criteria): an input of the stack
    # ("criteria"), and trees monotone in each such class's measurement ("monotone_trees").
    criteria: bool = False
    monotone_trees: bool = False

    def __post_init__(self) -> None:
        if self.stack not in STACK_METHODS:
            raise ValueError(f"feature_model.stack must be one of {', '.join(STACK_METHODS)}, not {self.stack!r}")
        for name in ("max_iter", "max_leaf_nodes", "min_samples_leaf"):
            if getattr(self, name) < (2 if name == "max_leaf_nodes" else 1):
                raise ValueError(f"feature_model.{name} is too small: {short_repr(getattr(self, name))}")
        # Trees per class and lead set, and their leaves: what the trees file holds and inference walks.
        _check_at_most("feature_model", self, {"max_iter": 10_000, "max_leaf_nodes": 4096, "min_samples_leaf": 100_000})
        _check_finite("feature_model", self)
        for name in ("learning_rate", "stack_regularization"):
            if not getattr(self, name) > 0:
                raise ValueError(f"feature_model.{name} must be positive, not {getattr(self, name)!r}")
        if self.l2_regularization < 0:
            raise ValueError(f"feature_model.l2_regularization must not be negative, not {self.l2_regularization!r}")


STACK_METHODS = ("logistic", "mean")
THRESHOLD_METHODS = ("coordinate", "evolution", "fixed", "f1", "shrunk", "bagged")  # see ecgnet.thresholds
AUGMENTATIONS = ("cutout", "gaussian_blur", "amplitude_scaling", "baseline_shift", "baseline_wander",
                 "powerline_noise", "lead_dropout", "lead_shuffle", "lead_inversion", "pad_crop")


@dataclass
class AugmentConfig:
    """The probability with which each training example gets each augmentation (0 = never; see
    :mod:`ecgnet.augment`). All zero by default."""

    cutout: float = 0.0
    gaussian_blur: float = 0.0
    amplitude_scaling: float = 0.0
    baseline_shift: float = 0.0
    baseline_wander: float = 0.0
    powerline_noise: float = 0.0
    lead_dropout: float = 0.0
    lead_shuffle: float = 0.0
    lead_inversion: float = 0.0
    pad_crop: float = 0.0

    def __post_init__(self) -> None:
        for name in AUGMENTATIONS:
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"augment.{name} must be a probability between 0 and 1, "
                                 f"not {short_repr(getattr(self, name))}")

    @property
    def enabled(self) -> bool:
        return any(getattr(self, name) > 0 for name in AUGMENTATIONS)

    @classmethod
    def recommended(cls) -> AugmentConfig:
        """The recipe the ablation harness turns on: mild, frequent amplitude and baseline changes, rarer
        changes of lead identity (a shuffled or inverted lead is a different ECG)."""
        return cls(cutout=0.3, gaussian_blur=0.2, amplitude_scaling=0.5, baseline_shift=0.3, baseline_wander=0.3,
                   powerline_noise=0.2, lead_dropout=0.1, lead_shuffle=0.05, lead_inversion=0.05, pad_crop=0.3)


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
    # Processes preparing records (the cache build), and by default DataLoader processes on a GPU.
    workers: int = 2
    # DataLoader processes per training process; unset: ``workers`` on a GPU (at most 2 per process with
    # several GPUs), none on a CPU.
    loader_workers: int | None = None
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
    # Methods of the papers (README, "The methods of the papers"), all off by default; `ecgnet ablate` measures them.
    # Label masking: no loss for a (source, class) pair whose source has no positive of the class among the
    # training records; sources from the record-name prefix, or from source_table (CSV: record,source).
    label_masking: bool = False
    source_table: str | None = None
    # Domain generalisation: weight of a source classifier's loss behind a gradient-reversal layer.
    domain_weight: float = 0.0
    # Loss shaping: per-record class weights from the reward matrix (min over the record's labels of
    # 1 - W + reward_alpha I), and the weight of a differentiable Challenge-score term.
    reward_weights: bool = False
    reward_alpha: float = 1.0
    challenge_loss_weight: float = 0.0
    # Self-supervised contrastive pre-training (NT-Xent on two augmented views) of each fold's encoder on its
    # training records and the unlabelled ones, before fine-tuning; 0 epochs = off.
    pretrain_epochs: int = 0
    pretrain_temperature: float = 0.1
    # An exponential moving average of the weights, validated and kept (per step: w_ema = d w_ema + (1 - d) w);
    # 0 = off.
    ema_decay: float = 0.0
    # Platt scaling per class of the final outputs, fitted out of fold (ecgnet.calibration); the thresholds are
    # tuned on the calibrated outputs.
    calibrate: bool = True
    # Distillation across lead sets (ecgnet.objective): each example is also fed with all its leads, and the
    # outputs of its reduced-lead copy learn to match those full-lead outputs (held fixed) with this weight,
    # besides the labels; 0 = off.
    lead_distillation_weight: float = 0.0

    def __post_init__(self) -> None:
        choices = {"device": ("auto", "cpu", "cuda"), "validation": ("kfold", "leave-source-out"),
                   "threshold_method": THRESHOLD_METHODS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"training.{name} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}")
        minimum = {"epochs": 1, "folds": 2 if self.validation == "kfold" else 1, "batch_size": 1, "patience": 1,
                   "workers": 0, "loader_workers": 0, "max_records": 1, "pretrain_epochs": 0, "seed": 0}
        for name, least in minimum.items():
            value = getattr(self, name)
            if value is not None and value < least:
                raise ValueError(f"training.{name} must be at least {least}, not {short_repr(value)}")
        _check_at_most("training", self, {"epochs": 1000, "folds": 20, "batch_size": 4096, "patience": 1000,
                                          "workers": 256, "loader_workers": 256, "max_records": 10**8,
                                          "pretrain_epochs": 1000, "seed": 2**32 - 1})
        _check_finite("training", self)
        for name in ("lead_subset_probability", "warmup_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"training.{name} must be between 0 and 1, not {getattr(self, name)!r}")
        for name in ("domain_weight", "reward_alpha", "challenge_loss_weight", "lead_distillation_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"training.{name} must not be negative, not {getattr(self, name)!r}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"training.ema_decay must be in [0, 1), not {self.ema_decay!r}")
        if not self.pretrain_temperature > 0:
            raise ValueError(f"training.pretrain_temperature must be positive, not {self.pretrain_temperature!r}")
        if not self.learning_rate > 0 or self.weight_decay < 0:
            raise ValueError("training.learning_rate must be positive and training.weight_decay not negative, "
                             f"not {self.learning_rate!r} and {self.weight_decay!r}")


@dataclass
class RunConfig:
    """Everything a run needs; saved into the model folder."""

    signals: SignalConfig = field(default_factory=SignalConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    beats: BeatConfig = field(default_factory=BeatConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    feature_model: FeatureModelConfig = field(default_factory=FeatureModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def to_dict(self) -> dict[str, Any]:
        return {"version": CONFIG_VERSION, **dataclasses.asdict(self), "model": self.model.to_table()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> RunConfig:
        """Build a config from nested dicts; unknown sections or keys, values of the wrong type and
        values out of range are errors naming them (the ``[model]`` table: see :class:`ModelConfig`)."""
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
        section_classes = typing.get_type_hints(cls)
        for name in sections:
            section_cls = section_classes[name]
            built[name] = _build_section(section_cls, data.get(name, {}), f"{source} [{name}]")
        return cls(**built)

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> RunConfig:
        with open(path, "rb") as f:
            try:
                data = tomllib.load(f)
            except tomllib.TOMLDecodeError as error:
                raise ValueError(f"{path}: not valid TOML ({error})") from None
            except ValueError:  # an integer of more than 4300 digits
                raise ValueError(f"{path}: holds a number too long to read") from None
        return cls.from_dict(data, str(path))

    def save_json(self, path: str | os.PathLike) -> None:
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load_json(cls, path: str | os.PathLike) -> RunConfig:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{path}: cannot read config ({error})") from None
        except ValueError:  # an integer of more than 4300 digits
            raise ValueError(f"{path}: holds a number too long to read") from None
        except RecursionError:
            raise ValueError(f"{path}: nested too deeply to be a config") from None
        return cls.from_dict(data, str(path))

    def override(self, section: str, **values: Any) -> RunConfig:
        """A copy with some fields of one section replaced (None values are ignored)."""
        values = {k: v for k, v in values.items() if v is not None}
        if section not in {f.name for f in dataclasses.fields(self)}:
            raise ValueError(f"unknown config section {section!r}")
        current = getattr(self, section)
        table = current.to_table() if isinstance(current, ModelConfig) else dataclasses.asdict(current)
        updated = _build_section(type(current), {**table, **values}, section)
        return dataclasses.replace(self, **{section: updated})


def _build_section(section_cls: type, values: Any, source: str) -> Any:
    if section_cls is ModelConfig:
        return ModelConfig.from_table(values, source)
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
        try:
            return float(value)
        except OverflowError:  # an integer of hundreds of digits
            raise ValueError(f"{source} must be a number of sane size, not {short_repr(value)}") from None
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
    raise ValueError(f"{source} must be {wanted}, not {short_repr(value)}")


RECIPES = Path(__file__).resolve().parent / "recipes"  # package data: an installed copy has them too


def default_config_path() -> Path:
    return RECIPES / "default.toml"


def recipe_path(name: str | os.PathLike) -> Path:
    """``name`` as a path when it is a file, else the shipped recipe of that name (``small`` is
    ``recipes/small.toml``); ValueError listing the recipes when it is neither."""
    path = Path(name)
    if path.is_file():
        return path
    shipped = RECIPES / f"{path.stem}.toml"
    if path.parent == Path(".") and shipped.is_file():
        return shipped
    names = ", ".join(sorted(p.stem for p in RECIPES.glob("*.toml")))
    raise ValueError(f"{name}: no such config file, and no shipped recipe of that name ({names})")


def load_config(path: str | os.PathLike | None = None) -> RunConfig:
    """The config at ``path`` (a TOML file or a shipped recipe's name), else the one named by ``$ECGNET_CONFIG``,
    else the default recipe."""
    return RunConfig.from_toml(recipe_path(path or os.environ.get(CONFIG_ENV) or default_config_path()))
