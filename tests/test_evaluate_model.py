"""Tests of the evaluate_model.py command line, run as a subprocess the way the Challenge runs it."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ecgnet import metric
from ecgnet.labels import default_class_table
from ecgnet.outputs import save_outputs
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
