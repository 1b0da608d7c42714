"""The model folder: what training writes and inference reads.

    config.json           the RunConfig of the run (inference needs nothing else)
    model.json            format version, classes, folds and their weight files, and the decision stage
                          (:mod:`ecgnet.decision`): thresholds per lead set; with the feature model the stack
                          per lead set and each model's own thresholds; with calibration its Platt scaling
    fold_<k>.safetensors  the weights of each network of the ensemble
    trees.safetensors     the feature model's trees, when it is on (:mod:`ecgnet.trees`)
    ensemble.onnx         the networks as one ONNX graph, once ``ecgnet export`` wrote it (:mod:`ecgnet.export`)
    training_log.csv      one row per fold and epoch
    summary.json          out-of-fold scores per lead set (and of each model alone)
    out_of_fold.npz       record ids, labels, folds and out-of-fold probabilities per lead set

Only JSON and safetensors are read back: a model folder from a stranger cannot run code. Anything
missing, corrupted or written by another format version fails with an error naming the file, in one line. So
does anything that would give plausible wrong outputs or exhaust memory: a threshold outside [0, 1], a class
code that is not a scored class or is listed twice, a number no float holds, a config.json out of its ranges
(:mod:`ecgnet.config`), weights that do not fit the network config.json describes (compared before it is
built), an ONNX graph exported for another config, JSON or weight files larger than any model's.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors import SafetensorError

from .config import RunConfig, short_repr
from .decision import TREES_FILE, Decision, DecisionError
from .files import atomic_path, write_text_atomic
from .records import STANDARD_LEADS
from .trees import TreesError, load_trees

if TYPE_CHECKING:  # the weights are read into torch only when the networks run in it (see load_model_folder)
    import torch

MODEL_FORMAT = "ecgnet-model"
MODEL_FORMAT_VERSION = 2
#: Version 1 folders (the network alone, without a stack) are still read.
READABLE_VERSIONS = (1, 2)
ONNX_FILE = "ensemble.onnx"
TRAINING_LOG_FILE = "training_log.csv"
#: The columns of training_log.csv, one row per fold and epoch: training writes them, the report reads them.
TRAINING_LOG_COLUMNS = ("fold", "epoch", "train_loss", "val_challenge", "val_auroc", "learning_rate", "seconds")
_CLASS_CODE = re.compile(r"[0-9]+(\|[0-9]+)*")
#: The largest JSON file of a model folder read: model.json of every lead set is some 50 kB, and a stranger's
#: file must not fill memory while it is parsed.
MAX_JSON_BYTES = 16 * 2**20
#: The most values one weight file may hold: 70 times the default network, about 1 GB of float32; a larger
#: file is refused before it is read.
MAX_WEIGHT_VALUES = 250_000_000
#: The inputs of ensemble.onnx, in order (:mod:`ecgnet.export`), and what each window has of them.
ONNX_INPUTS = ("signal", "lead_mask", "demographics", "extra")
#: What each window has of the demographics (ecgnet.signals.demographics).
DEMOGRAPHICS = 4


class ModelFolderError(ValueError):
    """A model folder that cannot be used; the message names the file and the problem."""


@dataclass
class ModelFolder:
    """The contents of a model folder, weights as state dicts (none when read without them)."""

    config: RunConfig
    class_codes: list[str]
    class_labels: list[str]
    decision: Decision  # everything after the networks: trees, stacks, calibration, thresholds
    state_dicts: list[dict[str, torch.Tensor]]
    # The weight file of each network, as model.json names them (errors about a network name its file).
    weight_files: list[Path] = field(default_factory=list)


def weight_file(model_dir: str | os.PathLike, fold: int) -> Path:
    return Path(model_dir) / f"fold_{fold}.safetensors"


def trees_file(model_dir: str | os.PathLike) -> Path:
    return Path(model_dir) / TREES_FILE


def save_weights(path: str | os.PathLike, state_dict: dict[str, torch.Tensor]) -> None:
    """Write one network's weights atomically as safetensors."""
    from safetensors.torch import save_file

    with atomic_path(path) as temporary:
        save_file({k: v.detach().cpu().contiguous() for k, v in state_dict.items()}, str(temporary))


def load_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """One network's weights; ModelFolderError naming ``path`` when it is missing, unreadable, empty or holds a
    value that is not finite (every output would be NaN)."""
    import torch
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise ModelFolderError(f"{path}: weight file is missing")
    try:
        # Counted from the header alone: a file of more values than any network is refused before it is read.
        too_large = _stored_values(path) > MAX_WEIGHT_VALUES
        state = {} if too_large else load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelFolderError(f"{path}: not a readable safetensors file ({error})") from None
    if too_large:
        raise ModelFolderError(f"{path}: holds more than the {MAX_WEIGHT_VALUES} values of any network this version "
                               "builds")
    if not state:
        raise ModelFolderError(f"{path}: holds no tensors")
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ModelFolderError(f"{path}: weights {name} hold values that are not finite")
    return state


def _stored_values(path: Path) -> int:
    """How many values the tensors of a safetensors file hold, from its header."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return sum(math.prod(f.get_slice(name).get_shape()) for name in f.keys())


def folder_file(model_dir: str | os.PathLike, name: str) -> Path:
    """The file ``name`` of a model folder, with symbolic links resolved; ModelFolderError when it lies
    outside the folder (a folder from a stranger must not make us read other files)."""
    folder = Path(model_dir).resolve()
    path = (folder / name).resolve()
    if not path.is_relative_to(folder):
        raise ModelFolderError(f"{Path(model_dir) / name}: links outside the model folder, to {path}")
    return path


def write_json(path: str | os.PathLike, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.is_file():
        raise ModelFolderError(f"{path}: file is missing")
    if path.stat().st_size > MAX_JSON_BYTES:
        raise ModelFolderError(f"{path}: larger than {MAX_JSON_BYTES // 2**20} MiB, too large to be a model file")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelFolderError(f"{path}: not valid JSON ({error})") from None
    except ValueError:  # Python refuses to read an integer of more than 4300 digits
        raise ModelFolderError(f"{path}: holds a number too long to read") from None
    except RecursionError:
        raise ModelFolderError(f"{path}: nested too deeply to be a model file") from None
    except OSError as error:
        raise ModelFolderError(f"{path}: cannot be read ({error.strerror or error})") from None


def save_model_description(model_dir: str | os.PathLike, config: RunConfig, class_codes: list[str],
                           class_labels: list[str], folds: int, decision: Decision) -> None:
    """Write ``config.json`` and ``model.json`` (weights are saved per fold with :func:`save_weights`, the
    trees of a stacked decision with :func:`ecgnet.trees.save_trees` to :func:`trees_file`)."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    write_json(model_dir / "config.json", config.to_dict())
    description = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "class_codes": class_codes,
        "class_labels": class_labels,
        "weight_files": [weight_file(model_dir, k).name for k in range(folds)],
        **decision.to_json(),
    }
    write_json(model_dir / "model.json", description)


def _check_description(description: Any, path: Path) -> None:
    """Raise ModelFolderError naming ``path`` unless ``description`` is a model.json this version reads."""
    if not isinstance(description, dict) or description.get("format") != MODEL_FORMAT:
        raise ModelFolderError(f"{path}: not an ecgnet model description")
    version = description.get("format_version")
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        raise ModelFolderError(
            f"{path}: model format version {short_repr(version)} cannot be read by this version "
            f"(which reads version {MODEL_FORMAT_VERSION}); retrain or use the matching release"
        )
    codes = description.get("class_codes")
    if not _is_list_of(codes, str) or not codes:
        raise ModelFolderError(f"{path}: class_codes must be a non-empty list of class codes")
    _check_class_codes(codes, path)
    class_labels = description.get("class_labels", codes)
    if not _is_list_of(class_labels, str) or len(class_labels) != len(codes):
        raise ModelFolderError(f"{path}: class_labels must list one label per class ({len(codes)})")
    files = description.get("weight_files")
    if not _is_list_of(files, str) or not files:
        raise ModelFolderError(f"{path}: weight_files must be a non-empty list of file names")
    for name in files:
        # Plain file names only: a model folder must not make us read files outside it.
        if Path(name).name != name or not name.endswith(".safetensors"):
            raise ModelFolderError(f"{path}: weight file {name!r} is not a .safetensors file name in the folder")


def _check_class_codes(codes: list[str], path: Path) -> None:
    """Every code a scored class of the weights table, each class once: the i-th output column must be the
    i-th class, and a column of a class named twice would shift every column after it."""
    from .labels import default_class_table

    table = default_class_table()
    seen: dict[int, str] = {}
    for code in codes:
        if not _CLASS_CODE.fullmatch(code):  # anything else could break an output file's comma-separated lines
            raise ModelFolderError(f"{path}: class code {code!r} is not a code of digits (or codes joined by '|')")
        classes = {table.index_of(part) for part in code.split("|")}
        if None in classes or len(classes) != 1:
            raise ModelFolderError(f"{path}: class code {code!r} is not a scored class of the weights table")
        index = classes.pop()
        if index in seen:
            again = "twice" if seen[index] == code else f"again as {code!r}"
            raise ModelFolderError(f"{path}: class {seen[index]!r} is listed {again}; each class has one column")
        seen[index] = code


def _is_list_of(value: Any, kind: type | Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, kind) for v in value)


def load_model_folder(model_dir: str | os.PathLike, weights: bool = True) -> ModelFolder:
    """Read and check a model folder written by training; without ``weights``, the networks' weight files are
    neither read nor checked (ONNX Runtime runs the folder's own graph of them), and torch is not imported."""
    model_dir = Path(model_dir)
    description = _read_description(model_dir)
    config_path = model_dir / "config.json"
    config_data = read_json(folder_file(model_dir, config_path.name))
    try:
        config = RunConfig.from_dict(config_data, str(config_path))
        if weights:  # the networks will be built: check the [model] table against the architecture's constructor
            from .network import complete

            config = complete(config, str(config_path))
    except (TypeError, ValueError) as error:
        message = str(error)
        raise ModelFolderError(message if str(config_path) in message else f"{config_path}: {message}") from None
    codes = list(description["class_codes"])
    folder = ModelFolder(
        config=config,
        class_codes=codes,
        class_labels=list(description.get("class_labels", codes)),
        decision=_decision(model_dir, description, codes),
        state_dicts=[load_weights(folder_file(model_dir, name)) for name in description["weight_files"]
                     if weights],
        weight_files=[model_dir / name for name in description["weight_files"]],
    )
    return folder


# What the weights and the ONNX graph must be for the config: checked at load, before anything runs.


def load_decision(model_dir: str | os.PathLike) -> Decision:
    """The decision stage of a model folder alone (model.json, and the trees when it is stacked): what a report
    needs to read outputs back, without the networks, the config or torch."""
    model_dir = Path(model_dir)
    description = _read_description(model_dir)
    return _decision(model_dir, description, list(description["class_codes"]))


def _read_description(model_dir: Path) -> dict:
    """model.json, checked: ModelFolderError naming the folder or the file when it is missing or does not fit."""
    if not model_dir.is_dir():
        raise ModelFolderError(f"{model_dir}: model folder is missing")
    path = model_dir / "model.json"
    description = read_json(folder_file(model_dir, path.name))
    _check_description(description, path)
    return description


def _decision(model_dir: Path, description: dict, codes: list[str]) -> Decision:
    """The decision stage of a model folder: model.json's entries, and the trees when it is stacked."""
    try:
        decision = Decision.from_json(description, codes)
    except DecisionError as error:
        raise ModelFolderError(f"{model_dir / 'model.json'}: {error}") from None
    if not decision.stacked:
        return decision
    path = folder_file(model_dir, TREES_FILE)
    try:
        return decision.with_trees(load_trees(path))
    except (DecisionError, TreesError) as error:
        raise ModelFolderError(f"{trees_file(model_dir)}: {error}") from None


def state_dict_problems(state: dict[str, Any], expected: dict[str, tuple[int, ...]]) -> str:
    """'' when ``state`` holds exactly the tensors ``expected`` names, in those shapes; else what differs, in one
    line naming the first few tensors of each kind (of another shape, with both shapes; missing; unexpected)."""
    missing = [name for name in expected if name not in state]
    unexpected = [name for name in state if name not in expected]
    resized = [f"{name} {tuple(state[name].shape)} in the file, {expected[name]} in the network"
               for name in expected if name in state and tuple(state[name].shape) != expected[name]]
    # Shapes first: they tell best which setting of config.json differs from the one the weights were trained with.
    kinds = (("size mismatch for", resized, 2), ("missing tensors", missing, 3), ("unexpected tensors", unexpected, 3))
    return "; ".join(f"{kind} {_listed(names, most)}" for kind, names, most in kinds if names)


def _listed(names: list[str], most: int = 3) -> str:
    shown = ", ".join(names[:most])
    return shown if len(names) <= most else f"{shown} and {len(names) - most} more"


def one_line(text: str, limit: int = 400) -> str:
    """``text`` on one line (runs of whitespace as one space), cut to ``limit`` characters: an error message
    must not copy a stranger's file into a log."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def window_length(config: RunConfig) -> int:
    """The length in samples of the windows the networks take: sliding windows, or groups of beats."""
    beats = config.beats
    return beats.beats_per_example * beats.beat_samples if beats.enabled else config.signals.window_samples


def onnx_signature(config: RunConfig, classes: int) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
    """The shape of one window of each input ensemble.onnx takes for ``config`` (by name, in order), and of its
    output. ``demographics`` may be missing from a graph: the exporter drops an input the networks do not use."""
    from .features import NUM_FEATURES

    leads = len(STANDARD_LEADS)
    inputs = {"signal": (leads, window_length(config)), "lead_mask": (leads,), "demographics": (DEMOGRAPHICS,)}
    if config.features.enabled:
        inputs["extra"] = (NUM_FEATURES,)
    return inputs, (classes,)


def check_onnx_graph(session: Any, config: RunConfig, classes: int, path: Path) -> None:
    """ModelFolderError naming ``path`` unless the ONNX Runtime ``session`` takes, for any number of windows, the
    inputs ``config`` gives each window, and gives one probability per class: a graph exported before
    config.json changed would otherwise fail on the first batch, or run on what it was not made for."""
    expected, output = onnx_signature(config, classes)
    names = [entry.name for entry in session.get_inputs()]
    wanted = [name for name in expected if name in names or name != "demographics"]
    if names != wanted:
        raise ModelFolderError(one_line(f"{path}: takes inputs {names}, but config.json gives {list(expected)}; "
                                        "export it again (`ecgnet export`)"))
    outputs = session.get_outputs()
    if len(outputs) != 1:
        raise ModelFolderError(f"{path}: gives {len(outputs)} outputs, not the probabilities alone")
    for what, entry, shape in [*(("input", e, expected[e.name]) for e in session.get_inputs()),
                               ("output", outputs[0], output)]:
        _check_onnx_entry(what, entry, shape, path)


def _check_onnx_entry(what: str, entry: Any, shape: tuple[int, ...], path: Path) -> None:
    """One input or output: float, any number of windows first, then ``shape``."""
    got = list(entry.shape)
    if entry.type != "tensor(float)" or len(got) != 1 + len(shape) or isinstance(got[0], int) or got[1:] != list(shape):
        shown = ", ".join(str(size) for size in got)
        source = "model.json's classes" if what == "output" else "config.json"
        raise ModelFolderError(one_line(
            f"{path}: {what} {entry.name} is {entry.type} ({shown}), but {source} needs float (windows, "
            f"{', '.join(map(str, shape))}); export it again (`ecgnet export`)"))
