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
from ecgnet.decision import Decision
from ecgnet.network import complete

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
    config = complete(RunConfig().override("training", epochs=3, folds=2))  # as training saves it
    thresholds = {"I,II": np.array([0.1, 0.5, 0.9]), "I,II,V2": np.array([0.25, 1 / 3, 0.75])}
    save_model_description(directory, config, CODES, LABELS, 2, Decision(CODES, thresholds))
    for fold in range(2):
        save_weights(weight_file(directory, fold), _state(fold))
    return directory


def _edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_round_trip_gives_identical_contents(model_dir):
    folder = load_model_folder(model_dir)
    assert folder.config == complete(RunConfig().override("training", epochs=3, folds=2))
    assert folder.class_codes == CODES and folder.class_labels == LABELS
    assert set(folder.decision.thresholds) == {"I,II", "I,II,V2"}
    assert folder.decision.thresholds["I,II,V2"].tolist() == [0.25, 1 / 3, 0.75]
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
    decision = Decision(CODES, thresholds, calibrations=calibrations)
    save_model_description(directory, RunConfig(), CODES, LABELS, 1, decision)
    save_weights(weight_file(directory, 0), _state(0))
    loaded = load_model_folder(directory).decision.calibrations["I,II"]
    assert np.array_equal(loaded.scale, [1.5, 0.8, 1.0]) and np.array_equal(loaded.shift, [-0.3, 0.2, 0.0])
    _edit_json(directory / "model.json", lambda d: d["calibration"]["I,II"].update(scale=[1.0, 2.0]))
    with pytest.raises(ModelFolderError, match=r"model\.json: calibration for I,II: needs 3 scales"):
        load_model_folder(directory)


# Every number and code read from model.json is checked at load, and refused in one line naming the file.


def _refused(model_dir, message):
    """load_model_folder's one-line error, which must contain ``message``."""
    with pytest.raises(ModelFolderError) as caught:
        load_model_folder(model_dir)
    text = str(caught.value)
    assert message in text and "\n" not in text and len(text) < 400, text
    return text


def _stacked(description):
    """model.json with a stack (checked before the trees file is read)."""
    description.update(trees_file="trees.safetensors",
                       stacks={"I,II": {"coefficients": [[0.5, 0.5]] * 3, "intercepts": [0.0] * 3}},
                       component_thresholds={"network": {"I,II": [0.5] * 3}, "features": {"I,II": [0.5] * 3}})


@pytest.mark.parametrize("value", [-1, -1e-9, 1.5, 2])
def test_thresholds_outside_0_1_are_refused_naming_lead_set_and_class(model_dir, value):
    _edit_json(model_dir / "model.json", lambda d: d["thresholds"]["I,II"].__setitem__(1, value))
    _refused(model_dir, f"model.json: thresholds for I,II hold values outside [0, 1]: class 426783006 has {value}")


@pytest.mark.parametrize("which", ["network", "features"])
def test_component_thresholds_outside_0_1_are_refused(model_dir, which):
    def change(description):
        _stacked(description)
        description["component_thresholds"][which]["I,II"][2] = -1

    _edit_json(model_dir / "model.json", change)
    _refused(model_dir, f"component_thresholds {which} for I,II hold values outside [0, 1]: "
                        "class 713427006|59118001 has -1")


def test_thresholds_of_0_and_1_are_accepted(model_dir):
    _edit_json(model_dir / "model.json", lambda d: d["thresholds"].update({"I,II": [0, 1, 0.5]}))
    assert load_model_folder(model_dir).decision.thresholds["I,II"].tolist() == [0.0, 1.0, 0.5]


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        (["164889003", "164889003", "426783006"], "class '164889003' is listed twice; each class has one column"),
        (["164889003", "713427006", "59118001"], "class '713427006' is listed again as '59118001'"),
        (["164889003", "713427006|59118001", "59118001"], "class '713427006|59118001' is listed again as"),
        (["164889003", "426783006", "123456"], "class code '123456' is not a scored class of the weights table"),
        (["164889003", "426783006", "713427006|164889003"], "class code '713427006|164889003' is not a scored"),
    ],
)
def test_class_codes_must_be_scored_classes_each_once(model_dir, codes, message):
    _edit_json(model_dir / "model.json", lambda d: d.update(class_codes=codes))
    _refused(model_dir, f"model.json: {message}")


def test_a_class_written_with_one_of_its_codes_is_accepted(model_dir):
    _edit_json(model_dir / "model.json", lambda d: d.update(class_codes=["164889003", "426783006", "59118001"]))
    assert load_model_folder(model_dir).class_codes[2] == "59118001"


@pytest.mark.parametrize("name", ["I, II", "II,I", "I,II,X", "", "i,ii"])
def test_a_lead_set_key_that_would_never_match_is_refused(model_dir, name):
    _edit_json(model_dir / "model.json", lambda d: d["thresholds"].update({name: [0.5] * 3}))
    _refused(model_dir, f"model.json: thresholds: {name!r} is not a lead set")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["thresholds"]["I,II"].__setitem__(0, 10**400),
         "thresholds for I,II hold values that are not finite: class 164889003 has a number of 401 digits"),
        (lambda d: d["thresholds"]["I,II"].__setitem__(0, -(10**400)), "class 164889003 has a number of 401 digits"),
        (lambda d: d.update(format_version=10**400), "model format version a number of 401 digits cannot be read"),
        (lambda d: d.update(format_version=True), "model format version True cannot be read"),
        (lambda d: d.update(calibration={"I,II": {"scale": [1.0, 10**400, 1.0], "shift": [0, 0, 0]}}),
         "calibration for I,II: scales and shifts must be finite numbers of sane size, not inf and 0 (class number 2)"),
        (lambda d: d.update(calibration={"I,II": {"scale": [1.0, 1.0, 1.0], "shift": [0, float("nan"), 0]}}),
         "calibration for I,II: scales and shifts must be finite"),
        (lambda d: d.update(calibration={"I,II": {"scale": [1.0, -2.0, 1.0], "shift": [0, 0, 0]}}),
         "calibration for I,II: scales must be positive (an increasing map), not -2 (class number 2)"),
        (lambda d: d.update(calibration={"I,II": {"scale": [1.0, "2", 1.0], "shift": [0, 0, 0]}}),
         "calibration for I,II: must hold a list of numbers 'scale'"),
        (lambda d: d.update(calibration={"I,II": {"scale": 1.0, "shift": [0, 0, 0]}}),
         "calibration for I,II: needs 3 scales and shifts, not values of shape () and 3"),
        (lambda d: d.update(calibration={"I, II": {"scale": [1.0] * 3, "shift": [0] * 3}}),
         "calibration: 'I, II' is not a lead set"),
    ],
)
def test_numbers_of_insane_size_are_refused_in_one_line(model_dir, change, message):
    _edit_json(model_dir / "model.json", change)
    _refused(model_dir, message)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["coefficients"][1].__setitem__(0, 10**400), "stack coefficients must be finite numbers of sane"),
        (lambda s: s["intercepts"].__setitem__(2, float("inf")), "stack coefficients must be finite numbers"),
        (lambda s: s.update(coefficients=[[0.5, 0.5, 0.5, 0.5]] * 3), "a stack needs 3 triples of coefficients"),
        (lambda s: s.update(intercepts=[0.0, True, 0.0]), "a stack needs lists of numbers"),
        (lambda s: s.update(coefficients=[[0.5, 0.5], [0.5], [0.5, 0.5]]), "a stack needs lists of numbers"),
    ],
)
def test_stack_numbers_of_insane_size_or_shape_are_refused(model_dir, change, message):
    def edit(description):
        _stacked(description)
        change(description["stacks"]["I,II"])

    _edit_json(model_dir / "model.json", edit)
    _refused(model_dir, f"model.json: stack for I,II: {message}")


@pytest.mark.parametrize(("name", "key"), [("model.json", '"format_version": '), ("config.json", '"epochs": ')])
def test_a_number_too_long_for_python_to_read_is_one_line(model_dir, name, key):
    path = model_dir / name
    text = path.read_text()
    path.write_text(re.sub(f"{key}[0-9]+", key + "9" * 5000, text))
    _refused(model_dir, f"{name}: holds a number too long to read")


def test_a_json_file_too_large_to_be_a_model_file_is_not_read(model_dir, monkeypatch):
    from ecgnet import artifacts

    monkeypatch.setattr(artifacts, "MAX_JSON_BYTES", 2**20)
    (model_dir / "model.json").write_text(" " * (2**20 + 1) + "{}")
    _refused(model_dir, "model.json: larger than 1 MiB, too large to be a model file")


def test_a_weight_file_of_more_values_than_any_network_is_not_read(model_dir, monkeypatch):
    from ecgnet import artifacts

    monkeypatch.setattr(artifacts, "MAX_WEIGHT_VALUES", 50)
    assert "not a readable" not in _refused(model_dir, "fold_0.safetensors: holds more than the 50 values of any")


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("signals", {"window_seconds": 1e6}, "config.json [signals]: signals.window_seconds must be at most 120"),
        ("signals", {"sample_rate": 10**7}, "config.json [signals]: signals.sample_rate must be at most 2000"),
        ("signals", {"window_seconds": 10**400}, "config.json [signals] window_seconds must be a number of sane size"),
        ("signals", {"inference_stride_seconds": 0.01}, "signals.inference_stride_seconds must be at least"),
        ("training", {"batch_size": 10**9}, "config.json [training]: training.batch_size must be at most 4096"),
        ("feature_model", {"max_iter": 10**400}, "feature_model.max_iter must be at most 10000, not a number of 401"),
        ("model", {"stage_channels": [8, 10**6, 16, 24]}, "model.stage_channels must be between 1 and 1024"),
    ],
)
def test_config_json_values_that_could_exhaust_memory_are_refused(model_dir, section, values, message):
    _edit_json(model_dir / "config.json", lambda d: d[section].update(values))
    _refused(model_dir, message)
