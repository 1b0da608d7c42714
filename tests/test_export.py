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
