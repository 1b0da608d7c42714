"""The model folder: saving, loading, and clear errors for damaged folders (ecgnet.artifacts)."""

from __future__ import annotations

import ast
import json
import pickle
import re

import numpy as np
import pytest
import torch
from conftest import REPO

from ecgnet.artifacts import (
    MODEL_FORMAT_VERSION,
    ModelFolderError,
    load_model_folder,
    load_weights,
    save_model_description,
    save_weights,
    weight_file,
)
from ecgnet.config import RunConfig

CODES = ["164889003", "426783006", "713427006|59118001"]
LABELS = ["AF", "SNR", "RBBB"]


def _state(seed):
    generator = torch.Generator().manual_seed(seed)
    return {
        "conv.weight": torch.randn(4, 3, 5, generator=generator),
        "head.bias": torch.randn(3, generator=generator, dtype=torch.float64),
        "norm.num_batches_tracked": torch.tensor(7),
    }


@pytest.fixture
def model_dir(tmp_path):
    """A complete model folder of 2 folds and 3 classes."""
    directory = tmp_path / "model"
    config = RunConfig().override("training", epochs=3, folds=2)
    thresholds = {"I,II": np.array([0.1, 0.5, 0.9]), "I,II,V2": np.array([0.25, 1 / 3, 0.75])}
    save_model_description(directory, config, CODES, LABELS, 2, thresholds)
    for fold in range(2):
        save_weights(weight_file(directory, fold), _state(fold))
    return directory


def _edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_round_trip_gives_identical_contents(model_dir):
    folder = load_model_folder(model_dir)
    assert folder.config == RunConfig().override("training", epochs=3, folds=2)
    assert folder.class_codes == CODES and folder.class_labels == LABELS
    assert set(folder.thresholds) == {"I,II", "I,II,V2"}
    assert folder.thresholds["I,II,V2"].tolist() == [0.25, 1 / 3, 0.75]
    assert len(folder.state_dicts) == 2
    for fold, state in enumerate(folder.state_dicts):
        expected = _state(fold)
        assert state.keys() == expected.keys()
        for name, tensor in expected.items():
            assert state[name].dtype == tensor.dtype and torch.equal(state[name], tensor)


def test_save_writes_only_the_documented_files(model_dir):
    names = sorted(p.name for p in model_dir.iterdir())
    assert names == ["config.json", "fold_0.safetensors", "fold_1.safetensors", "model.json"]
    description = json.loads((model_dir / "model.json").read_text())
    assert description["format_version"] == MODEL_FORMAT_VERSION
    assert description["weight_files"] == ["fold_0.safetensors", "fold_1.safetensors"]


def test_save_weights_accepts_non_contiguous_tensors(tmp_path):
    weights = {"w": torch.arange(12.0).reshape(3, 4).t()}
    save_weights(tmp_path / "w.safetensors", weights)
    assert torch.equal(load_weights(tmp_path / "w.safetensors")["w"], weights["w"])


def test_loading_never_unpickles(model_dir, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("a model folder must not be unpickled")

    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    assert len(load_model_folder(model_dir).state_dicts) == 2


@pytest.mark.parametrize("module", ["artifacts", "config", "data", "thresholds"])
def test_modules_do_not_use_unsafe_loaders(module):
    tree = ast.parse((REPO / "ecgnet" / f"{module}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [alias.name for alias in node.names] + [getattr(node, "module", None) or ""]
            assert not any("pickle" in name for name in names), f"{module} imports pickle"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load":
            owner = ast.unparse(node.func.value)
            keywords = {k.arg: ast.unparse(k.value) for k in node.keywords}
            if owner == "torch":
                assert keywords.get("weights_only") == "True", f"{module}: torch.load without weights_only"
            if owner in ("np", "numpy"):
                assert keywords.get("allow_pickle") == "False", f"{module}: np.load may unpickle"
            assert owner not in ("pickle", "joblib", "dill"), f"{module}: {owner}.load"


def test_missing_folder(tmp_path):
    with pytest.raises(ModelFolderError, match="nowhere: model folder is missing"):
        load_model_folder(tmp_path / "nowhere")


def test_missing_model_json(model_dir):
    (model_dir / "model.json").unlink()
    with pytest.raises(ModelFolderError, match=r"model\.json: file is missing"):
        load_model_folder(model_dir)


def test_corrupted_model_json(model_dir):
    path = model_dir / "model.json"
    path.write_text(path.read_text()[:40])
    with pytest.raises(ModelFolderError, match=r"model\.json: not valid JSON"):
        load_model_folder(model_dir)


def test_model_json_of_another_format_version(model_dir):
    _edit_json(model_dir / "model.json", lambda d: d.update(format_version=MODEL_FORMAT_VERSION + 1))
    newer = MODEL_FORMAT_VERSION + 1
    with pytest.raises(ModelFolderError, match=rf"model\.json: model format version {newer} cannot be read"):
        load_model_folder(model_dir)


def test_json_that_is_not_a_model_description(model_dir):
    (model_dir / "model.json").write_text('["fold_0.safetensors"]')
    with pytest.raises(ModelFolderError, match=r"model\.json: not an ecgnet model description"):
        load_model_folder(model_dir)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["thresholds"].update({"I,II": [0.5, 0.5]}), "thresholds for I,II have 2 values, not 3"),
        (lambda d: d["thresholds"].update({"I,II": [0.5, "x", 0.5]}), "thresholds for I,II must be a list of numbers"),
        (lambda d: d["thresholds"].update({"I,II": [0.5, float("nan"), 0.5]}), "thresholds for I,II hold values that"),
        (lambda d: d["thresholds"].update({"I,II": [0.5, float("inf"), 0.5]}), "thresholds for I,II hold values that"),
        (lambda d: d.update(class_codes=["164889003", "4267\n83006", "1"]), "class code '4267\\n83006' is not"),
        (lambda d: d.update(class_codes=["164889003", "AF", "1"]), "class code 'AF' is not a code of digits"),
        (lambda d: d.update(thresholds=[0.5]), "thresholds must map at least one lead set"),
        (lambda d: d.update(thresholds={}), "thresholds must map at least one lead set"),
        (lambda d: d.pop("class_codes"), "class_codes must be a non-empty list"),
        (lambda d: d.update(class_labels=["AF"]), "class_labels must list one label per class"),
        (lambda d: d.update(weight_files=[]), "weight_files must be a non-empty list"),
        (lambda d: d.update(weight_files="fold_0.safetensors"), "weight_files must be a non-empty list"),
        (lambda d: d.update(weight_files=["../fold_0.safetensors"]), "weight file '../fold_0.safetensors' is not a"),
        (lambda d: d.update(weight_files=["fold_0.pt"]), "weight file 'fold_0.pt' is not a .safetensors file"),
    ],
)
def test_inconsistent_model_json_is_named(model_dir, change, message):
    _edit_json(model_dir / "model.json", change)
    with pytest.raises(ModelFolderError, match=re.escape(f"model.json: {message}")):
        load_model_folder(model_dir)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_weight_file_is_named(model_dir, damage):
    path = weight_file(model_dir, 1)
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"\x00junk" * 50, "empty": b""}[damage])
    with pytest.raises(ModelFolderError, match=r"fold_1\.safetensors: not a readable safetensors file"):
        load_model_folder(model_dir)


def test_missing_weight_file_is_named(model_dir):
    weight_file(model_dir, 0).unlink()
    with pytest.raises(ModelFolderError, match=r"fold_0\.safetensors: weight file is missing"):
        load_model_folder(model_dir)


def test_config_with_unknown_key_is_named(model_dir):
    _edit_json(model_dir / "config.json", lambda d: d["training"].update(bogus=1))
    with pytest.raises(ModelFolderError, match=r"config\.json \[training\]: unknown key\(s\) \['bogus'\]"):
        load_model_folder(model_dir)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", r"config\.json: a config must be a table"),
        ('{"version": 9}', r"config\.json: config version 9"),
        ("{", r"config\.json: not valid JSON"),
    ],
)
def test_bad_config_json_is_named(model_dir, text, message):
    (model_dir / "config.json").write_text(text)
    with pytest.raises(ModelFolderError, match=message):
        load_model_folder(model_dir)


def test_missing_config_json_is_named(model_dir):
    (model_dir / "config.json").unlink()
    with pytest.raises(ModelFolderError, match=r"config\.json: file is missing"):
        load_model_folder(model_dir)


def test_weights_that_are_not_finite_are_named(model_dir):
    state = _state(0)
    state["conv.weight"][0, 0, 0] = float("nan")
    save_weights(weight_file(model_dir, 1), state)
    with pytest.raises(ModelFolderError, match=r"fold_1\.safetensors: weights conv\.weight hold values that are not"):
        load_model_folder(model_dir)


@pytest.mark.parametrize("name", ["fold_1.safetensors", "config.json", "model.json"])
def test_a_file_linked_outside_the_folder_is_refused(model_dir, tmp_path, name):
    outside = tmp_path / name
    (model_dir / name).rename(outside)
    (model_dir / name).symlink_to(outside)
    with pytest.raises(ModelFolderError, match=f"{re.escape(name)}: links outside the model folder"):
        load_model_folder(model_dir)


def test_a_link_inside_the_folder_is_followed(model_dir):
    (model_dir / "fold_1.safetensors").rename(model_dir / "kept.safetensors")
    (model_dir / "fold_1.safetensors").symlink_to("kept.safetensors")
    assert len(load_model_folder(model_dir).state_dicts) == 2


def test_deeply_nested_model_json_is_named(model_dir):
    (model_dir / "model.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ModelFolderError, match=r"model\.json: nested too deeply"):
        load_model_folder(model_dir)


def test_files_are_as_readable_as_any_other(model_dir):
    import os
    import stat

    umask = os.umask(0)
    os.umask(umask)
    for path in model_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path


def test_a_calibration_survives_the_round_trip_and_a_bad_one_is_named(tmp_path):
    from ecgnet.calibration import Calibration

    directory = tmp_path / "model"
    thresholds = {"I,II": np.array([0.1, 0.5, 0.9])}
    calibrations = {"I,II": Calibration(np.array([1.5, 0.8, 1.0]), np.array([-0.3, 0.2, 0.0]))}
    save_model_description(directory, RunConfig(), CODES, LABELS, 1, thresholds, calibrations=calibrations)
    save_weights(weight_file(directory, 0), _state(0))
    loaded = load_model_folder(directory).calibrations["I,II"]
    assert np.array_equal(loaded.scale, [1.5, 0.8, 1.0]) and np.array_equal(loaded.shift, [-0.3, 0.2, 0.0])
    _edit_json(directory / "model.json", lambda d: d["calibration"]["I,II"].update(scale=[1.0, 2.0]))
    with pytest.raises(ModelFolderError, match=r"model\.json: calibration for I,II: needs 3 scales"):
        load_model_folder(directory)
