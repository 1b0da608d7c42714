"""The ensemble as one ONNX graph (ecgnet.export) and ONNX Runtime in run_model: the same outputs as torch."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from ecgnet.artifacts import ModelFolderError
from ecgnet.export import ONNX_FILE, export_onnx
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
