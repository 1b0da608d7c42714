"""The built-in model (ecgnet/builtin_model): shipped by ``ship``, used by ``ecgnet run DATA OUTPUTS`` and
``ecgnet explain RECORD`` without a model folder, announced on the first line, and run by the fastest path."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ecgnet import builtin, inference
from ecgnet.cli import run_command
from ecgnet.commands import explain, info, run
from ecgnet.records import write_record
from ecgnet.synthetic import simulate_record

DICOM = Path(__file__).parent / "data" / "formats" / "dicom" / "waveform_ecg.dcm"


def _main(capsys, command, *args: object) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as status:
        run_command(lambda: command.main(list(map(str, args))), "ecgnet")
    out, err = capsys.readouterr()
    return status.value.code, out, err


@pytest.fixture(scope="module")
def shipped(untrained_model, tmp_path_factory) -> Path:
    """A built-in model folder shipped from a one-network model with its ONNX graph."""
    from ecgnet.export import export_onnx

    student = tmp_path_factory.mktemp("student")
    shutil.copytree(untrained_model, student, dirs_exist_ok=True)  # one network, no feature model
    export_onnx(student)
    (student / "summary.json").write_text("{}")
    folder = tmp_path_factory.mktemp("package") / builtin.FOLDER
    builtin.ship(student, folder)
    (folder / builtin.MODEL_CARD).write_text("# Model card\n\nA test card.\n")
    return folder


@pytest.fixture
def as_builtin(shipped, monkeypatch) -> Path:
    monkeypatch.setattr(builtin, "builtin_model_dir", lambda: shipped)
    for command in (run, explain, info):
        monkeypatch.setattr(command, "builtin_model_dir", lambda: shipped)
    return shipped


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> Path:
    """A Challenge record and a DICOM ECG in one folder."""
    folder = tmp_path_factory.mktemp("records")
    write_record(folder, "R1", simulate_record(1).signal, 500.0, age=60, sex="Male")
    shutil.copyfile(DICOM, folder / "ecg.dcm")
    return folder


def test_ship_copies_what_inference_reads_and_refuses_an_ensemble(shipped, untrained_model, tmp_path):
    assert sorted(path.name for path in shipped.iterdir()) == sorted([*builtin.SHIPPED_FILES, "summary.json",
                                                                      builtin.MODEL_CARD])
    with pytest.raises(ValueError, match="not a one-network model folder with its ONNX graph"):
        builtin.ship(untrained_model, tmp_path / "target")
    assert not (tmp_path / "target").exists()


def test_a_missing_builtin_model_says_how_to_build_one(monkeypatch, tmp_path):
    monkeypatch.setattr(builtin.resources, "files", lambda package: tmp_path)
    with pytest.raises(ValueError, match="no built-in model .*`make builtin-model`"):
        builtin.builtin_model_dir()


def test_run_without_a_model_uses_the_builtin_one_and_says_so_first(as_builtin, records, tmp_path, capsys):
    status, out, err = _main(capsys, run, records, tmp_path / "out")
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == builtin.announce(as_builtin)
    assert lines[1].startswith("networks in ONNX Runtime")
    assert sorted(path.name for path in (tmp_path / "out").glob("*.csv")) == ["R1.csv", "ecg.csv", "failures.csv"]


def test_run_with_a_model_and_no_outputs_is_told_to_give_them(untrained_model, records, tmp_path, capsys):
    status, _, err = _main(capsys, run, untrained_model, records)
    assert status == 1 and "give the OUTPUTS folder too" in err
    assert not Path(records).joinpath("model.json").exists()


def test_explain_without_a_model_uses_the_builtin_one(as_builtin, records, tmp_path, capsys):
    status, out, err = _main(capsys, explain, records / "ecg.dcm", "--out", tmp_path / "figures", "--steps", 2)
    assert status == 0, err
    assert out.splitlines()[0] == builtin.announce(as_builtin)
    assert (tmp_path / "figures" / "explanation.json").is_file()


def test_info_shows_the_builtin_model_card(as_builtin, capsys):
    status, out, _ = _main(capsys, info)
    assert status == 0 and out.startswith("# Model card")


def test_the_fastest_path_is_chosen_for_the_machine(shipped, untrained_model, monkeypatch):
    monkeypatch.setattr(inference.os, "cpu_count", lambda: 2)
    assert inference.choose_path(shipped, "cpu") == inference.RunPath("onnxruntime", 2)
    assert inference.choose_path(untrained_model, "cpu") == inference.RunPath("torch", 0)  # no graph
    assert inference.choose_path(shipped, "cuda") == inference.RunPath("torch", 2)
    assert inference.choose_path(shipped, "cpu", "torch", 1) == inference.RunPath("torch", 1)
    monkeypatch.setattr(inference.importlib.util, "find_spec", lambda name: None)
    assert inference.choose_path(shipped, "cpu") == inference.RunPath("torch", 0)  # no onnxruntime installed
