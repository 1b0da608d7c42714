"""The model folder: what training writes and inference reads.

    config.json           the RunConfig of the run (inference needs nothing else)
    model.json            format version, classes, folds and their weight files, thresholds per lead set;
                          with the feature model: the stack per lead set, and each model's own thresholds
    fold_<k>.safetensors  the weights of each network of the ensemble
    trees.safetensors     the feature model's trees, when it is on (:mod:`ecgnet.trees`)
    ensemble.onnx         the networks as one ONNX graph, once ``ecgnet export`` wrote it (:mod:`ecgnet.export`)
    training_log.csv      one row per fold and epoch
    summary.json          out-of-fold scores per lead set (and of each model alone)
    out_of_fold.npz       record ids, labels, folds and out-of-fold probabilities per lead set

Only JSON and safetensors are read back: a model folder from a stranger cannot run code. Anything
missing, corrupted or written by another format version fails with an error naming the file.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from safetensors import SafetensorError

from .config import RunConfig
from .files import atomic_path, write_text_atomic

if TYPE_CHECKING:  # the weights are read into torch only when the networks run in it (see load_model_folder)
    import torch

MODEL_FORMAT = "ecgnet-model"
MODEL_FORMAT_VERSION = 2
#: Version 1 folders (the network alone, without a stack) are still read.
READABLE_VERSIONS = (1, 2)
TREES_FILE = "trees.safetensors"
ONNX_FILE = "ensemble.onnx"
_CLASS_CODE = re.compile(r"[0-9]+(\|[0-9]+)*")


class ModelFolderError(ValueError):
    """A model folder that cannot be used; the message names the file and the problem."""


@dataclass
class ModelFolder:
    """The contents of a model folder, weights as state dicts (none when read without them)."""

    config: RunConfig
    class_codes: list[str]
    class_labels: list[str]
    thresholds: dict[str, np.ndarray]
    state_dicts: list[dict[str, torch.Tensor]]
    # With the feature model: its trees (by ecgnet.feature_model.model_key), the stack per lead set, and the
    # thresholds of each model alone ({"network": {lead set: ...}, "features": {...}}).
    trees: dict[str, Any] | None = None
    stacks: dict[str, Any] | None = None
    component_thresholds: dict[str, dict[str, np.ndarray]] | None = None
    # Platt scaling of the final outputs per lead set (ecgnet.calibration), when the model was calibrated.
    calibrations: dict[str, Any] | None = None


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
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelFolderError(f"{path}: not a readable safetensors file ({error})") from None
    if not state:
        raise ModelFolderError(f"{path}: holds no tensors")
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ModelFolderError(f"{path}: weights {name} hold values that are not finite")
    return state


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
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelFolderError(f"{path}: not valid JSON ({error})") from None
    except RecursionError:
        raise ModelFolderError(f"{path}: nested too deeply to be a model file") from None
    except OSError as error:
        raise ModelFolderError(f"{path}: cannot be read ({error.strerror or error})") from None


def save_model_description(
    model_dir: str | os.PathLike,
    config: RunConfig,
    class_codes: list[str],
    class_labels: list[str],
    folds: int,
    thresholds: dict[str, np.ndarray],
    stacks: dict[str, Any] | None = None,
    component_thresholds: dict[str, dict[str, np.ndarray]] | None = None,
    calibrations: dict[str, Any] | None = None,
) -> None:
    """Write ``config.json`` and ``model.json`` (weights are saved per fold with :func:`save_weights`, the
    trees with :func:`ecgnet.trees.save_trees`); ``stacks`` maps lead sets to :class:`ecgnet.stacking.Stack`."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    write_json(model_dir / "config.json", config.to_dict())
    description = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "class_codes": class_codes,
        "class_labels": class_labels,
        "weight_files": [weight_file(model_dir, k).name for k in range(folds)],
        "thresholds": _numbers(thresholds),
    }
    if stacks is not None:
        description["trees_file"] = TREES_FILE
        description["stacks"] = {name: stack.to_json() for name, stack in stacks.items()}
        description["component_thresholds"] = {name: _numbers(values)
                                               for name, values in (component_thresholds or {}).items()}
    if calibrations is not None:
        description["calibration"] = {name: value.to_json() for name, value in calibrations.items()}
    write_json(model_dir / "model.json", description)


def _numbers(thresholds: dict[str, np.ndarray]) -> dict[str, list[float]]:
    return {name: [float(x) for x in values] for name, values in thresholds.items()}


def _check_description(description: Any, path: Path) -> None:
    """Raise ModelFolderError naming ``path`` unless ``description`` is a model.json this version reads."""
    if not isinstance(description, dict) or description.get("format") != MODEL_FORMAT:
        raise ModelFolderError(f"{path}: not an ecgnet model description")
    version = description.get("format_version")
    if version not in READABLE_VERSIONS:
        raise ModelFolderError(
            f"{path}: model format version {version} cannot be read by this version "
            f"(which reads version {MODEL_FORMAT_VERSION}); retrain or use the matching release"
        )
    codes = description.get("class_codes")
    if not _is_list_of(codes, str) or not codes:
        raise ModelFolderError(f"{path}: class_codes must be a non-empty list of class codes")
    for code in codes:  # SNOMED codes: anything else could break an output file's comma-separated lines
        if not _CLASS_CODE.fullmatch(code):
            raise ModelFolderError(f"{path}: class code {code!r} is not a code of digits (or codes joined by '|')")
    class_labels = description.get("class_labels", codes)
    if not _is_list_of(class_labels, str) or len(class_labels) != len(codes):
        raise ModelFolderError(f"{path}: class_labels must list one label per class ({len(codes)})")
    _check_thresholds(description.get("thresholds", {}), len(codes), path, "thresholds")
    if "stacks" in description:
        _check_stack_entries(description, len(codes), path)
    files = description.get("weight_files")
    if not _is_list_of(files, str) or not files:
        raise ModelFolderError(f"{path}: weight_files must be a non-empty list of file names")
    for name in files:
        # Plain file names only: a model folder must not make us read files outside it.
        if Path(name).name != name or not name.endswith(".safetensors"):
            raise ModelFolderError(f"{path}: weight file {name!r} is not a .safetensors file name in the folder")


def _check_thresholds(thresholds: Any, classes: int, path: Path, what: str) -> None:
    if not isinstance(thresholds, dict) or not thresholds:
        raise ModelFolderError(f"{path}: {what} must map at least one lead set to a list of numbers")
    for name, values in thresholds.items():
        if not _is_list_of(values, int | float) or any(isinstance(v, bool) for v in values):
            raise ModelFolderError(f"{path}: {what} for {name} must be a list of numbers")
        if len(values) != classes:
            raise ModelFolderError(f"{path}: {what} for {name} have {len(values)} values, not {classes}")
        if not all(math.isfinite(v) for v in values):
            raise ModelFolderError(f"{path}: {what} for {name} hold values that are not finite")


def _check_stack_entries(description: dict, classes: int, path: Path) -> None:
    """The stack's entries of model.json: its trees file, a stack per lead set, each model's thresholds."""
    if description.get("trees_file") != TREES_FILE:
        raise ModelFolderError(f"{path}: trees_file must be {TREES_FILE!r}")
    stacks = description["stacks"]
    if not isinstance(stacks, dict) or not stacks:
        raise ModelFolderError(f"{path}: stacks must map at least one lead set to a stack")
    components = description.get("component_thresholds")
    if not isinstance(components, dict) or set(components) != {"network", "features"}:
        raise ModelFolderError(f"{path}: component_thresholds must have thresholds for 'network' and 'features'")
    for name, values in components.items():
        _check_thresholds(values, classes, path, f"component_thresholds {name}")


def _load_stacks(description: dict, classes: int, path: Path) -> dict[str, Any]:
    from .stacking import Stack

    try:
        return {name: Stack.from_json(data, classes, f"stack for {name}")
                for name, data in description["stacks"].items()}
    except ValueError as error:
        raise ModelFolderError(f"{path}: {error}") from None


def _is_list_of(value: Any, kind: type | Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, kind) for v in value)


def load_model_folder(model_dir: str | os.PathLike, weights: bool = True) -> ModelFolder:
    """Read and check a model folder written by training; without ``weights``, the networks' weight files are
    neither read nor checked (ONNX Runtime runs the folder's own graph of them), and torch is not imported."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelFolderError(f"{model_dir}: model folder is missing")
    description_path = model_dir / "model.json"
    description = read_json(folder_file(model_dir, description_path.name))
    _check_description(description, description_path)
    config_path = model_dir / "config.json"
    config_data = read_json(folder_file(model_dir, config_path.name))
    try:
        config = RunConfig.from_dict(config_data, str(config_path), check_model=weights)
    except (TypeError, ValueError) as error:
        message = str(error)
        raise ModelFolderError(message if str(config_path) in message else f"{config_path}: {message}") from None
    folder = ModelFolder(
        config=config,
        class_codes=list(description["class_codes"]),
        class_labels=list(description.get("class_labels", description["class_codes"])),
        thresholds=_arrays(description["thresholds"]),
        state_dicts=[load_weights(folder_file(model_dir, name)) for name in description["weight_files"]
                     if weights],
    )
    if "stacks" in description:
        from .trees import load_trees  # ecgnet.trees raises this module's errors

        folder.stacks = _load_stacks(description, len(folder.class_codes), description_path)
        folder.component_thresholds = {name: _arrays(values)
                                       for name, values in description["component_thresholds"].items()}
        folder.trees = load_trees(folder_file(model_dir, TREES_FILE))
    if "calibration" in description:
        folder.calibrations = _load_calibrations(description["calibration"], len(folder.class_codes),
                                                 description_path)
    return folder


def _load_calibrations(entries: Any, classes: int, path: Path) -> dict[str, Any]:
    from .calibration import Calibration

    if not isinstance(entries, dict) or not entries:
        raise ModelFolderError(f"{path}: calibration must map at least one lead set to a calibration")
    try:
        return {name: Calibration.from_json(data, classes, f"calibration for {name}") for name, data in entries.items()}
    except ValueError as error:
        raise ModelFolderError(f"{path}: {error}") from None


def _arrays(thresholds: dict[str, list[float]]) -> dict[str, np.ndarray]:
    return {name: np.asarray(values, dtype=np.float64) for name, values in thresholds.items()}
