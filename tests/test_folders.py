"""ecgnet.folders and the commands that check their folders with it: each newcomer mistake (folders swapped, a
folder without records, records without labels) is one line naming the problem and the fix, exit status 1, and
no folder is created."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from ecgnet import folders
from ecgnet.cli import run_command
from ecgnet.commands import evaluate, explain, run, train
from ecgnet.records import write_record
from ecgnet.synthetic import generate_dataset

COMMANDS: dict[str, tuple[Callable[..., int], str]] = {
    "run": (run.main, "run_model.py"),
    "train": (train.main, "train_model.py"),
    "explain": (explain.main, "ecgnet explain"),
    "evaluate": (evaluate.main, "evaluate_model.py"),
}

#: Where a refused command says it looked for records.
LOOKED = "(looked for .hea files and ECG exports, recursively)"


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> Path:
    """A folder of three labelled synthetic records."""
    folder = tmp_path_factory.mktemp("records") / "data"
    generate_dataset(folder, 3, seed=0, progress=False, duration=5.0)
    return folder


@pytest.fixture
def workspace(tmp_path: Path, records: Path, monkeypatch) -> Path:
    """The working folder of a newcomer: ``data`` (records), ``model`` (a model.json), ``empty`` (nothing),
    ``outs`` (an output file); paths in the commands are relative to it, as typed."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").symlink_to(records)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.json").write_text("{}")
    (tmp_path / "empty").mkdir()
    (tmp_path / "outs").mkdir()
    (tmp_path / "outs" / "A.csv").write_text("#A\n")
    return tmp_path


def refused(capsys, command: str, argv: Sequence[str]) -> str:
    """The one line on stderr of ``command`` refusing ``argv`` with exit status 1."""
    main, prog = COMMANDS[command]
    with pytest.raises(SystemExit) as status:
        run_command(lambda: main(list(argv), prog), prog)
    err = capsys.readouterr().err
    assert status.value.code == 1, err
    assert err.count("\n") == 1 and err.startswith(f"{prog}: error: ") and "Traceback" not in err, err
    return err.strip().removeprefix(f"{prog}: error: ")


def folders_now(root: Path) -> set[Path]:
    return {path.relative_to(root) for path in root.rglob("*") if path.is_dir() and not path.is_symlink()}


# --------------------------------------------------------------------------------------------- what a folder holds
def test_what_a_folder_holds(tmp_path, records):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")  # a run that stopped before model.json counts too
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "deep" / "er" / "R.HEA").write_text("")  # in any case: discovery names it with its reason
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)
    assert folders.holds_model(tmp_path / "model") and not folders.holds_model(records)
    assert folders.holds_records(records) and folders.holds_records(tmp_path / "deep")
    assert folders.holds_records(next(records.glob("*.hea"))) and not folders.holds_records(tmp_path / "model")
    assert not folders.holds_records(tmp_path / "nowhere")
    assert folders.holds_records(tmp_path)  # through the link loop too, which ends
    assert not folders.holds_outputs(records) and not folders.holds_outputs(tmp_path / "nowhere")


# --------------------------------------------------------------------------------------------------- run_model.py
def test_run_with_the_folders_swapped_names_the_swap_and_creates_nothing(capsys, workspace):
    before = folders_now(workspace)
    assert refused(capsys, "run", ["data", "model", "out"]) == (
        "MODEL_DIR 'data' holds ECG records and no model.json, and DATA_DIR 'model' holds a model: are the two "
        "arguments swapped? (run_model.py MODEL DATA OUTPUTS)")
    assert folders_now(workspace) == before


@pytest.mark.parametrize(("argv", "message"), [
    (["data", "empty", "out"], "MODEL_DIR 'data' holds ECG records and no model.json: give the folder "
                               "train_model.py wrote (run_model.py MODEL DATA OUTPUTS)"),
    (["nowhere", "data", "out"], "MODEL_DIR 'nowhere' does not exist: give the folder train_model.py wrote "
                                 "(run_model.py MODEL DATA OUTPUTS)"),
    (["model", "empty", "out"], f"no record found in DATA_DIR 'empty' {LOOKED}: give "
                                f"{folders.RECORDS}"),
    (["model", "model", "out"], f"no record found in DATA_DIR 'model' (it holds a model: model.json) {LOOKED}: "
                                f"give {folders.RECORDS}"),
    (["model", "nowhere", "out"], f"DATA_DIR 'nowhere' does not exist: give {folders.RECORDS}"),
    (["model", "outs/A.csv", "out"], f"DATA_DIR 'outs/A.csv' is a file, not a folder: give {folders.RECORDS}"),
])
def test_run_refuses_a_wrong_folder_before_creating_the_outputs(capsys, workspace, argv, message):
    before = folders_now(workspace)
    assert refused(capsys, "run", argv) == message
    assert folders_now(workspace) == before


def test_run_on_an_empty_folder_says_that_no_record_was_found(capsys, workspace):
    message = refused(capsys, "run", ["model", "empty", "out", "--quiet"])
    assert message.startswith(f"no record found in DATA_DIR 'empty' {LOOKED}")
    assert not (workspace / "out").exists()


# ------------------------------------------------------------------------------------------------- train_model.py
def test_train_with_the_folders_swapped_names_the_swap_and_creates_nothing(capsys, workspace):
    before = folders_now(workspace)
    assert refused(capsys, "train", ["model", "data", "--quiet"]) == (
        "DATA_DIR 'model' holds a model (model.json) and no ECG record, and MODEL_DIR 'data' holds ECG records: "
        "are the two arguments swapped? (train_model.py DATA MODEL)")
    assert refused(capsys, "train", ["empty", "data", "--quiet"]) == (
        "DATA_DIR 'empty' holds no ECG record, and MODEL_DIR 'data' holds ECG records: are the two arguments "
        "swapped? (train_model.py DATA MODEL)")
    assert folders_now(workspace) == before  # no checkpoints/ in the folder of records


@pytest.mark.parametrize(("argv", "message"), [
    (["empty", "new"], f"no record found in DATA_DIR 'empty' {LOOKED}: give "
                       f"{folders.RECORDS}"),
    (["nowhere", "new"], f"DATA_DIR 'nowhere' does not exist: give {folders.RECORDS}"),
    (["data", "outs/A.csv"], "MODEL_DIR 'outs/A.csv' is a file: give a folder to write the model to "
                             "(train_model.py DATA MODEL)"),
])
def test_train_refuses_a_wrong_folder_before_creating_the_model_folder(capsys, workspace, argv, message):
    before = folders_now(workspace)
    assert refused(capsys, "train", [*argv, "--quiet"]) == message
    assert folders_now(workspace) == before


def test_training_on_records_without_a_scored_label_says_so_before_preparing_them(capsys, workspace, monkeypatch):
    for i in range(4):
        write_record(workspace / "unlabelled", f"U{i}", np.zeros((12, 1000)), 500, labels=["999999"])

    def no_preparation(*_):
        raise AssertionError("records were prepared")

    monkeypatch.setattr("ecgnet.training_data.prepare", no_preparation)
    before = folders_now(workspace)
    assert refused(capsys, "train", ["unlabelled", "new", "--quiet"]) == (
        "DATA_DIR 'unlabelled': 4 records found, none with a scored #Dx label (a '# Dx:' header line with a SNOMED "
        "CT code of weights.csv): give labelled training records")
    assert folders_now(workspace) == before


def test_training_on_headers_that_are_no_record_names_one_of_them(capsys, workspace):
    write_record(workspace / "broken", "B0", np.zeros((12, 1000)), 500, labels=["426783006"])
    (workspace / "broken" / "B0.mat").unlink()
    message = refused(capsys, "train", ["broken", "new", "--quiet"])
    assert message.startswith("no usable record in DATA_DIR 'broken' (1 files refused, e.g. broken/B0.hea: its "
                              "signal file B0.mat is missing")
    assert not (workspace / "new").exists()


# ------------------------------------------------------------------------------------------------- ecgnet explain
def test_explain_names_swapped_arguments_and_an_empty_population(capsys, workspace, records):
    header = str(Path("data") / next(records.glob("*.hea")).name)
    before = folders_now(workspace)
    assert refused(capsys, "explain", [header, "model", "--out", "figures"]) == (
        f"MODEL_DIR '{header}' is an ECG record, and RECORD 'model' holds a model: are the two arguments swapped? "
        "(ecgnet explain MODEL RECORD --out DIR)")
    assert refused(capsys, "explain", ["model", "empty", "--population", "--out", "figures"]) == (
        f"no record found in DATA_DIR 'empty' {LOOKED}: give {folders.RECORDS}")
    assert folders_now(workspace) == before


# ---------------------------------------------------------------------------------------------- evaluate_model.py
def test_evaluate_names_swapped_folders_and_empty_labels(capsys, workspace):
    assert refused(capsys, "evaluate", ["outs", "data"]) == (
        "LABELS 'outs' holds output files (.csv) and no .hea file, and OUTPUTS 'data' holds .hea files: are the two "
        "arguments swapped? (evaluate_model.py LABELS OUTPUTS)")
    assert refused(capsys, "evaluate", ["empty", "outs"]) == (
        f"no record found in LABELS 'empty' {LOOKED}: give {folders.LABELS}")


def test_the_model_files_are_those_training_writes(tmp_path):
    """MODEL_FILES names what ecgnet.artifacts writes: a model folder is recognised by them."""
    from conftest import tiny_config

    from ecgnet.artifacts import save_model_description
    from ecgnet.decision import Decision

    save_model_description(tmp_path, tiny_config(), ["426783006"], ["NSR"], 1,
                           Decision(["426783006"], {"I": np.full(1, 0.5)}))
    assert {path.name for path in tmp_path.iterdir()} == set(folders.MODEL_FILES)
    assert json.loads((tmp_path / "model.json").read_text())["format"] == "ecgnet-model"
