"""The ensemble as one ONNX graph (ecgnet.export) and ONNX Runtime in run_model: the same outputs as torch."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO

from ecgnet.artifacts import ONNX_FILE, ModelFolderError
from ecgnet.export import export_onnx
from ecgnet.inference import load_ensemble, run_folder
from ecgnet.outputs import read_outputs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(trained_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("exported") / "model"
    shutil.copytree(trained_model, folder)
    path, difference = export_onnx(folder)
    assert path == folder / ONNX_FILE and difference <= 1e-5
    return folder


def test_onnx_runtime_gives_torch_s_outputs(exported, shared_data, tmp_path):
    data = shared_data / "cinc2021" / "reduced_leads"  # all five lead sets, each record once (12-lead copies)
    for runtime in ("torch", "onnxruntime"):
        written, _ = run_folder(exported, data, tmp_path / runtime, device="cpu", progress=False, runtime=runtime)
        assert written == 50
    for path in sorted((tmp_path / "torch").glob("*.csv")):
        if path.name == "failures.csv":
            continue
        torch_out, onnx_out = read_outputs(path), read_outputs(tmp_path / "onnxruntime" / path.name)
        assert torch_out[:3] == onnx_out[:3]  # the same classes and labels
        np.testing.assert_allclose(np.array(onnx_out[3], float), np.array(torch_out[3], float), rtol=0, atol=1.01e-5)


def test_window_probabilities_match_to_1e_5_on_every_lead_set(exported):
    from ecgnet.export import example_inputs

    torch_run, onnx_run = load_ensemble(exported, "cpu"), load_ensemble(exported, "cpu", runtime="onnxruntime")
    inputs = example_inputs(torch_run, windows=7, seed=3)
    for kept in (12, 6, 2):
        inputs[1][:, kept:] = 0.0
        np.testing.assert_allclose(onnx_run.window_probabilities(*inputs), torch_run.window_probabilities(*inputs),
                                   rtol=0, atol=1e-5)


def test_running_onnx_without_an_export_is_one_clear_error(trained_model):
    with pytest.raises(ModelFolderError, match=f"{ONNX_FILE}: missing; write it with `ecgnet export"):
        load_ensemble(trained_model, runtime="onnxruntime")


def test_onnx_runtime_runs_without_torch_and_its_workers_change_nothing(exported, shared_data, tmp_path):
    """Where torch is not installed, or not wanted, the ONNX path never imports it; records prepared in two
    worker processes give the same files as in one process."""
    data = shared_data / "cinc2021" / "reduced_leads" / "two_leads"
    script = ("import sys\nfrom ecgnet.commands.run import main\n"
              f"status = main([{str(exported)!r}, {str(data)!r}, {str(tmp_path / 'workers')!r}, '--quiet', "
              "'--runtime', 'onnxruntime', '--workers', '2'])\n"
              "assert 'torch' not in sys.modules, 'torch was imported'\nsys.exit(status)\n")
    subprocess.run([sys.executable, "-c", script], check=True, cwd=REPO, capture_output=True)
    run_folder(exported, data, tmp_path / "in_process", progress=False, runtime="onnxruntime", workers=0)
    written = sorted(path.name for path in (tmp_path / "workers").glob("*.csv") if path.name != "failures.csv")
    assert len(written) == 50
    for name in written:
        assert (tmp_path / "workers" / name).read_bytes() == (tmp_path / "in_process" / name).read_bytes()


# A graph exported before config.json (or model.json) changed is refused at load, in one line naming it.


@pytest.fixture(scope="module")
def tiny_exported(tmp_path_factory):
    """An exported folder of two untrained networks of the tiny recipe, three classes (no training needed)."""
    from conftest import tiny_config

    from ecgnet.artifacts import save_model_description, save_weights, weight_file
    from ecgnet.decision import Decision
    from ecgnet.labels import default_class_table
    from ecgnet.network import build_network

    folder = tmp_path_factory.mktemp("tiny") / "model"
    config, table = tiny_config(), default_class_table()
    save_model_description(folder, config, table.codes[:3], table.labels[:3], 2,
                           Decision(table.codes[:3], {"I,II": np.full(3, 0.5)}))
    for fold in range(2):
        save_weights(weight_file(folder, fold), build_network(config, 3).state_dict())
    export_onnx(folder)
    return folder


def _changed(folder, tmp_path, name, change):
    import json

    copy = tmp_path / "model"
    shutil.copytree(folder, copy)
    data = json.loads((copy / name).read_text())
    change(data)
    (copy / name).write_text(json.dumps(data))
    return copy


def _refused(folder, message):
    with pytest.raises(ModelFolderError) as caught:
        load_ensemble(folder, "cpu", runtime="onnxruntime")
    text = str(caught.value)
    assert text.startswith(f"{folder / ONNX_FILE}: ") and message in text, text
    assert "\n" not in text and "export it again (`ecgnet export`)" in text


def test_the_tiny_export_loads_and_runs(tiny_exported):
    from ecgnet.export import example_inputs

    ensemble = load_ensemble(tiny_exported, runtime="onnxruntime")
    assert ensemble.window_probabilities(*example_inputs(load_ensemble(tiny_exported, "cpu"), 2)).shape == (2, 3)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["signals"].update(window_seconds=6.0),
         "input signal is tensor(float) (windows, 12, 500), but config.json needs float (windows, 12, 600)"),
        (lambda c: c["signals"].update(sample_rate=250),
         "input signal is tensor(float) (windows, 12, 500), but config.json needs float (windows, 12, 1250)"),
        (lambda c: c["beats"].update(enabled=True),
         "input signal is tensor(float) (windows, 12, 500), but config.json needs float (windows, 12, 800)"),
        (lambda c: c["features"].update(enabled=True),
         "takes inputs ['signal', 'lead_mask', 'demographics'], but config.json gives ['signal', 'lead_mask', "
         "'demographics', 'extra']"),
    ],
)
def test_a_graph_exported_for_another_config_is_refused(tiny_exported, tmp_path, change, message):
    _refused(_changed(tiny_exported, tmp_path, "config.json", change), message)


def test_a_graph_exported_for_other_classes_is_refused(tiny_exported, tmp_path):
    def two_classes(description):
        for key in ("class_codes", "class_labels"):
            description[key] = description[key][:2]
        description["thresholds"]["I,II"] = description["thresholds"]["I,II"][:2]

    folder = _changed(tiny_exported, tmp_path, "model.json", two_classes)
    _refused(folder, "output probabilities is tensor(float) (windows, 3), but model.json's classes needs float "
                     "(windows, 2)")


@pytest.mark.parametrize("features", [False, True])
def test_a_graph_without_the_demographics_its_networks_ignore_is_accepted(tmp_path, features):
    """The exporter drops an input the networks do not use: that graph still fits its config, and is fed by name
    (with hand-made features, the demographics must not be fed as the features)."""
    import dataclasses

    from conftest import tiny_config

    from ecgnet.artifacts import save_model_description, save_weights, weight_file
    from ecgnet.decision import Decision
    from ecgnet.labels import default_class_table
    from ecgnet.network import build_network

    folder = tmp_path / "model"
    config = tiny_config().override("model", use_demographics=False)
    config = dataclasses.replace(config, features=dataclasses.replace(config.features, enabled=features))
    table = default_class_table()
    save_model_description(folder, config, table.codes[:2], table.labels[:2], 1,
                           Decision(table.codes[:2], {"I,II": np.full(2, 0.5)}))
    save_weights(weight_file(folder, 0), build_network(config, 2).state_dict())
    export_onnx(folder)
    from ecgnet.export import example_inputs

    onnx_run, torch_run = load_ensemble(folder, runtime="onnxruntime"), load_ensemble(folder, "cpu")
    assert [entry.name for entry in onnx_run.onnx.get_inputs()] == ["signal", "lead_mask", *["extra"] * features]
    inputs = example_inputs(torch_run, windows=3)
    np.testing.assert_allclose(onnx_run.window_probabilities(*inputs), torch_run.window_probabilities(*inputs),
                               rtol=0, atol=1e-5)
