"""Tests of the evaluate_model.py command line, run as a subprocess the way the Challenge runs it."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ecgnet import metric
from ecgnet.labels import default_class_table
from ecgnet.outputs import is_positive, save_outputs
from ecgnet.records import write_record

SCRIPT = Path(__file__).resolve().parents[1] / "evaluate_model.py"
TABLE = default_class_table()
THREE_DECIMALS = re.compile(r"^(-?\d+\.\d{3}|nan)$")


def run(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """Six labelled records and an output file for each, with some right and some wrong outputs."""
    labels, outputs = tmp_path / "labels", tmp_path / "outputs"
    outputs.mkdir()
    rng = np.random.default_rng(0)
    dx = [["426783006"], ["164909002", "426783006"], ["164889003"], ["426783006"], ["713427006"], []]
    for i, codes in enumerate(dx):
        record_id = f"R{i}"
        write_record(labels, record_id, np.zeros((1, 10)), 500, leads=("I",), labels=codes)
        probabilities = rng.random(len(TABLE))
        save_outputs(outputs / f"{record_id}.csv", record_id, TABLE.codes, probabilities > 0.5, probabilities)
    return labels, outputs


def read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_writes_both_csv_files(folders, tmp_path):
    result = run(*folders, "scores.csv", "class_scores.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    scores = read_rows(tmp_path / "scores.csv")
    assert scores[0] == ["AUROC", "AUPRC", "Accuracy", "F-measure", "Challenge metric"]
    assert len(scores) == 2 and all(THREE_DECIMALS.match(x) for x in scores[1])
    rows = read_rows(tmp_path / "class_scores.csv")
    assert [row[0] for row in rows] == ["Classes", "AUROC", "AUPRC", "F-measure"]
    assert all(len(row) == 1 + len(TABLE) for row in rows)
    assert rows[0][1:] == TABLE.labels and "733534002|164909002" in rows[0]
    assert all(THREE_DECIMALS.match(x) for row in rows[1:] for x in row[1:])
    # The written values are the API's, rounded.
    expected = metric.evaluate_folders(*folders)
    assert scores[1] == [f"{x:.3f}" for x in expected.macro]


def test_scores_file_alone_and_table_otherwise(folders, tmp_path):
    result = run(*folders, "only.csv", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout == ""
    assert (tmp_path / "only.csv").is_file() and not (tmp_path / "class_scores.csv").exists()
    table = run(*folders, cwd=tmp_path)
    assert table.returncode == 0
    assert "Challenge metric" in table.stdout and "CLBBB|LBBB" in table.stdout and "positives" in table.stdout


def test_json_parses_with_full_precision(folders, tmp_path):
    result = run(*folders, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    expected = metric.evaluate_folders(*folders)
    assert report["num_records"] == 6
    assert report["scores"]["Challenge metric"] == expected.challenge_metric
    assert len(report["classes"]) == len(TABLE)
    lbbb = report["classes"][TABLE.index_of("733534002")]
    assert lbbb["class"] == "733534002|164909002" and lbbb["positives"] == 1
    assert report["classes"][0]["AUROC"] is None or isinstance(report["classes"][0]["AUROC"], float)


def test_missing_output_file_is_one_line_naming_it(folders, tmp_path):
    (folders[1] / "R3.csv").unlink()
    result = run(*folders, "scores.csv", cwd=tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("evaluate_model.py: error: ")
    assert "R3.csv" in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "scores.csv").exists()


@pytest.mark.parametrize("which", ["labels", "outputs"])
def test_missing_folder_is_one_line(folders, tmp_path, which):
    args = [tmp_path / "nowhere", folders[1]] if which == "labels" else [folders[0], tmp_path / "nowhere"]
    result = run(*args, cwd=tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("evaluate_model.py: error: ") and "nowhere" in lines[0]


def test_label_files_not_read_are_named_and_copies_counted(folders, tmp_path):
    labels, outputs = folders
    os.mkfifo(labels / "PIPE.hea")  # never opened: opening it would wait for a writer forever
    copy = labels / "copies" / "R0.hea"
    copy.parent.mkdir()
    copy.write_text((labels / "R0.hea").read_text())
    result = run(labels, outputs, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert [line for line in lines if "PIPE.hea" in line] == [
        f"evaluate_model.py: skipped {labels / 'PIPE.hea'}: not a regular file (a named pipe, socket or device); "
        "not read"]
    assert any(line.startswith("evaluate_model.py: 1 label files are further copies") for line in lines)
    assert "6 records" in result.stdout


def test_help():
    result = run("--help", cwd=SCRIPT.parent)
    assert result.returncode == 0 and "--weights" in result.stdout and "--json" in result.stdout


# --report and --model: the HTML report of ecgnet.report.
def test_report_option_writes_page_and_figures(folders, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "training_log.csv").write_text(
        "fold,epoch,train_loss,val_challenge,val_auroc,learning_rate,seconds\n"
        "0,1,0.9,0.1,0.6,0.001,2\n0,2,0.7,0.3,0.7,0.001,2\n1,1,0.8,0.2,0.6,0.001,2\n1,2,0.6,0.4,0.7,0.001,2\n"
    )
    plain = run(*folders, "plain.csv", cwd=tmp_path)
    result = run(*folders, "scores.csv", "--report", "report", "--model", model, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == plain.stdout == ""
    assert result.stderr.splitlines()[-1] == f"report written to {Path('report') / 'index.html'}"
    assert (tmp_path / "scores.csv").read_text() == (tmp_path / "plain.csv").read_text()
    figures = {"class_scores.png", "roc_curves.png", "pr_curves.png", "confusion.png", "reliability.png",
               "training_curves.png"}
    assert {p.name for p in (tmp_path / "report").iterdir()} == figures | {"index.html"}
    assert all((tmp_path / "report" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for name in figures)
    page = (tmp_path / "report" / "index.html").read_text()
    expected = metric.evaluate_folders(*folders)
    assert f"<tr><td>Challenge metric</td><td class=\"num\">{expected.challenge_metric:.3f}</td></tr>" in page
    assert page.count('<img src="data:image/png;base64,') == 6
    # Six records named R*, one lead each: one source and one lead set, each said in a line.
    assert "Every record has the same source: other." in page and "the same lead set: 1 lead: I." in page


def test_without_report_no_report_is_written(folders, tmp_path):
    result = run(*folders, "scores.csv", "class_scores.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["class_scores.csv", "labels", "outputs", "scores.csv"]
    assert not [p for p in tmp_path.rglob("*") if p.suffix in (".png", ".html")]


def test_model_without_report_is_refused(folders, tmp_path):
    result = run(*folders, "--model", tmp_path, cwd=tmp_path)
    assert result.returncode == 2 and "--model needs --report" in result.stderr


def test_report_with_a_missing_output_is_one_line(folders, tmp_path):
    (folders[1] / "R2.csv").unlink()
    result = run(*folders, "--report", "report", cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and "R2.csv" in lines[0]
    assert not (tmp_path / "report" / "index.html").exists()


def test_help_lists_report_options():
    result = run("--help", cwd=SCRIPT.parent)
    assert result.returncode == 0 and "--report DIR" in result.stdout and "--model MODEL_DIR" in result.stdout


# ------------------------------------------------------------------------ parity with the official evaluator
# The expected figures below were printed by the official evaluator itself: physionetchallenges/evaluation-2021
# at commit e2a75fc01f729cb74cc4e853e054ce81e28381fc (evaluate_model.py, helper_code.py and weights.csv of that
# commit, copied to a scratch folder outside this project, numpy 2.4.6, LANG=C.UTF-8), run as
#     python evaluate_model.py labels outputs scores.csv class_scores.csv
# on the folders that official_parity_folders() writes (OFFICIAL_FULL_PRECISION: its evaluate_model() function
# called on them in that folder). Its code is not part of this project.
#
# Each of the 26 scored classes (weights.csv order) gets one binary entry form, so the per-class F-measure tells
# how each form was read: a form read as positive gives F > 0, one read as negative F = 0. Positive for the
# official evaluator: a stripped entry that is a finite number equal to 1, or one of True, true, T, t.
BINARY_FORMS = (
    "1", "0.0", "1.0", "False", "1e0", "yes", " 1", "nan", "\t1", "inf", "True", "2", "true", "-1", "T", "",
    "t", "1.00000001", "+1", "TRUE", "01", "0x1", "1.", "1e400", "1.0000000000000001", "\uff11",
)  # fmt: skip
OFFICIALLY_POSITIVE = (True, False) * 11 + (True, False, True, True)
# Scalar entries that are not plain probabilities, put in some cells: non-finite and non-numbers count as 0.
ODD_SCALARS = ("nan", "inf", "-inf", "abc", "", " 0.95 ", "1e400", "1_0", "+.5", "NaN", "5e-1", "0x1")
PARITY_RECORDS = 14  # R00-R11 use the forms; R12 and R13 are written plainly and exactly right
# Printed by the official evaluator (see above): its scores.csv, and its class_scores.csv without the Classes row
# (which it writes with each class's codes sorted).
OFFICIAL_SCORES = "0.688,0.504,0.429,0.366,0.577"
OFFICIAL_CLASS_SCORES = {
    "AUROC": "0.500,0.545,0.863,0.697,0.742,0.909,0.697,0.636,0.379,0.924,0.864,0.621,0.697,0.682,0.850,0.652,0.318,"
             "0.909,0.833,0.636,0.697,0.621,0.848,0.288,0.561,0.909",
    "AUPRC": "0.321,0.316,0.736,0.556,0.369,0.722,0.738,0.362,0.212,0.756,0.681,0.508,0.333,0.627,0.725,0.362,0.193,"
             "0.722,0.625,0.517,0.333,0.538,0.681,0.186,0.262,0.722",
    "F-measure": "0.727,0.000,0.727,0.000,0.667,0.000,0.667,0.000,0.667,0.000,0.667,0.000,0.667,0.000,0.727,0.000,"
                 "0.667,0.000,0.667,0.000,0.667,0.000,0.667,0.000,0.667,0.667",
}
# The files that run read (see parity_files_digest): if the generator changes, the figures must be made anew.
PARITY_FILES_SHA256 = "243e7275a675dba8669c65fddcf74fe5a9182c2d6886183e2b0a5fc6a5f8b3e2"
# The same run's five scores at full precision: the values its evaluate_model() function returns (repr).
OFFICIAL_FULL_PRECISION = (0.6876602564102564, 0.5039442039442039, 0.42857142857142855, 0.3659673659673659,
                           0.5766296402733871)


def parity_labels(record: int) -> list[int]:
    """The scored classes (weights.csv indices) of record ``record``."""
    if record == 12:
        return [TABLE.sinus_rhythm_index]
    if record == 13:
        return [0, 2]
    return [k for k in range(len(TABLE)) if (record + k) % 4 == 0]


def parity_entries(record: int, k: int, positive: bool) -> tuple[str, str]:
    """The binary and scalar entries of record ``record`` for class ``k``."""
    if record >= 12:
        return ("1", "0.9") if positive else ("0", "0.1")
    binary = BINARY_FORMS[k] if positive or record % 3 == 1 else "0"
    if (5 * record + k) % 7 == 0:
        return binary, ODD_SCALARS[(record + k) % len(ODD_SCALARS)]
    return binary, f"{round(((3 * record + 5 * k) % 10) / 10 + (0.3 if positive else 0.0), 2):g}"


def parity_output(record: int) -> str:
    """The output file of record ``record``: class names as weights.csv writes them or as their first code,
    columns reversed in some files, an equivalent pair written apart, an unscored column, odd line ends."""
    record_id = f"R{record:02d}"
    labels = set(parity_labels(record))
    columns = []  # (class name, binary entry, scalar entry)
    for k, scored in enumerate(TABLE.classes):
        binary, scalar = parity_entries(record, k, k in labels)
        names = list(scored.codes) if record == 9 else [scored.label if record % 2 == 0 else scored.code]
        columns += [(name, binary, scalar) for name in names]
    if record % 4 == 3:
        columns.reverse()
    if record == 7:
        columns.insert(3, ("999999", "True", "0.99"))  # not a scored class: ignored
    if record == 11:  # a vertical tab ends no line for a file read in text mode: it is white space in an entry
        columns = [(name, binary + "\x0b", scalar) for name, binary, scalar in columns]
    text = f"#{record_id}\n" + "\n".join(",".join(column[i] for column in columns) for i in range(3)) + "\n"
    return text.replace("\n", "\r\n") if record == 2 else text.replace("\n", "\r") if record == 5 else text


def official_parity_folders(directory: Path) -> tuple[Path, Path]:
    """Write the labels (headers with a Dx line) and outputs the official figures above were computed on."""
    labels, outputs = directory / "labels", directory / "outputs"
    labels.mkdir()
    outputs.mkdir()
    for record in range(PARITY_RECORDS):
        record_id = f"R{record:02d}"
        dx = ",".join(TABLE.classes[k].codes[-1 if record % 2 else 0] for k in parity_labels(record))
        header = f"{record_id} 1 500 10\n{record_id}.mat 16 1000/mV 16 0 0 0 0 I\n#Age: 50\n#Sex: Male\n#Dx: {dx}\n"
        (labels / f"{record_id}.hea").write_bytes(header.encode("utf-8"))
        (outputs / f"{record_id}.csv").write_bytes(parity_output(record).encode("utf-8"))
    return labels, outputs


def parity_files_digest(labels: Path, outputs: Path) -> str:
    """SHA-256 of every file's folder, name and bytes, in name order."""
    digest = hashlib.sha256()
    for path in sorted([*labels.iterdir(), *outputs.iterdir()]):
        digest.update(f"{path.parent.name}/{path.name}\n".encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def parity_folders(tmp_path: Path) -> tuple[Path, Path]:
    return official_parity_folders(tmp_path)


def test_the_parity_files_hold_every_entry_form_as_designed(parity_folders):
    """Guards the figures above: each form is read as the official evaluator reads it, and its class's
    F-measure is 0 exactly when that reading is negative."""
    assert parity_files_digest(*parity_folders) == PARITY_FILES_SHA256
    assert [is_positive(form) for form in BINARY_FORMS] == list(OFFICIALLY_POSITIVE)
    scores = metric.evaluate_folders(*parity_folders)
    assert ((scores.class_f_measure > 0) == np.array(OFFICIALLY_POSITIVE)).all()
    lines = [path.read_text(encoding="utf-8").split("\n") for path in parity_folders[1].iterdir()]
    binary = {entry.rstrip("\x0b") for line in lines for entry in line[2].split(",")}
    assert binary >= set(BINARY_FORMS) and {entry for line in lines for entry in line[3].split(",")} >= set(ODD_SCALARS)


def test_evaluate_model_prints_the_official_evaluators_own_figures(parity_folders, tmp_path):
    result = run(*parity_folders, "scores.csv", "class_scores.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert read_rows(tmp_path / "scores.csv") == [list(metric.SCORE_NAMES), OFFICIAL_SCORES.split(",")]
    rows = read_rows(tmp_path / "class_scores.csv")
    assert [set(name.split("|")) for name in rows[0][1:]] == [set(c.codes) for c in TABLE.classes]
    assert {row[0]: ",".join(row[1:]) for row in rows[1:]} == OFFICIAL_CLASS_SCORES


def test_the_scores_equal_the_official_evaluators_at_full_precision(parity_folders):
    scores = metric.evaluate_folders(*parity_folders)
    np.testing.assert_allclose(scores.macro, OFFICIAL_FULL_PRECISION, rtol=0, atol=1e-12)
