"""evaluate_model.py --bootstrap N: each score with its interval over resamples of the records."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ecgnet import bootstrap, metric
from ecgnet.labels import default_class_table
from ecgnet.outputs import save_outputs
from ecgnet.records import write_record

SCRIPT = Path(__file__).resolve().parents[1] / "evaluate_model.py"
TABLE = default_class_table()


def write_labels(folder: Path, labels: np.ndarray) -> Path:
    """A header per row of ``labels`` (records R0, R1, ...), with the row's classes as its Dx."""
    for i, row in enumerate(labels):
        codes = [TABLE.codes[j] for j in np.flatnonzero(row)]
        write_record(folder, f"R{i}", np.zeros((1, 10)), 500, leads=("I",), labels=codes)
    return folder


def write_outputs(folder: Path, binary: np.ndarray, scalars: np.ndarray) -> Path:
    """An output file per row (records R0, R1, ...)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, (positive, probabilities) in enumerate(zip(binary, scalars)):
        save_outputs(folder / f"R{i}.csv", f"R{i}", TABLE.codes, positive, probabilities)
    return folder


def synthetic_labels(num_records: int, seed: int = 0) -> np.ndarray:
    """Sinus rhythm in about half the records, a few other classes here and there."""
    rng = np.random.default_rng(seed)
    labels = rng.random((num_records, len(TABLE))) < 0.06
    labels[:, TABLE.sinus_rhythm_index] = rng.random(num_records) < 0.5
    return labels


def outputs_right_on(labels: np.ndarray, right: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Outputs that are the labels on the first ``right`` records and noise on the others."""
    rng = np.random.default_rng(seed)
    scalars = np.round(rng.random(labels.shape), 3)
    scalars[:right] = np.where(labels[:right], 0.9, 0.1)
    return scalars >= 0.5, scalars


def run(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    labels = synthetic_labels(80)
    binary, scalars = outputs_right_on(labels, 40)
    return write_labels(tmp_path / "labels", labels), write_outputs(tmp_path / "outputs", binary, scalars)


def test_the_table_gives_each_score_with_its_interval(folders, tmp_path):
    plain = run(*folders, cwd=tmp_path)
    result = run(*folders, "--bootstrap", 200, "--seed", 3, cwd=tmp_path)
    assert plain.returncode == 0 == result.returncode, result.stderr
    arrays = metric.read_folders(folders[0], [folders[1]])
    (binary, scalars), = arrays.outputs
    intervals = bootstrap.score_intervals(arrays.labels, binary, scalars, TABLE, 200, 3)
    lines = result.stdout.splitlines()
    assert "95% interval (200 bootstrap resamples of the records, seed 3)" in lines[2]
    for name, interval in intervals.items():
        expected = f"{name:<16}  {interval.estimate:>6.3f}  [{interval.low:.3f}, {interval.high:.3f}]"
        assert expected in lines
        assert interval.low < interval.high
    # Everything else is the table without --bootstrap.
    plain_lines = plain.stdout.splitlines()
    assert lines[:2] == plain_lines[:2] and lines[8:] == plain_lines[7:]
    assert [line[:24] for line in lines[3:8]] == plain_lines[2:7]


def test_json_gains_the_intervals_and_keeps_every_other_entry(folders, tmp_path):
    plain = json.loads(run(*folders, "--json", cwd=tmp_path).stdout)
    result = json.loads(run(*folders, "--json", "--bootstrap", 100, cwd=tmp_path).stdout)
    extra = result.pop("bootstrap")
    assert result == plain
    assert (extra["resamples"], extra["seed"], extra["level"]) == (100, 0, 0.95)
    assert list(extra["intervals"]) == list(metric.SCORE_NAMES)
    for name, value in plain["scores"].items():
        entry = extra["intervals"][name]
        assert entry["estimate"] == value and entry["low"] <= entry["high"]


def test_the_same_seed_gives_the_same_intervals(folders, tmp_path):
    first = run(*folders, "--bootstrap", 50, "--seed", 1, cwd=tmp_path).stdout
    assert first == run(*folders, "--bootstrap", 50, "--seed", 1, cwd=tmp_path).stdout
    assert first != run(*folders, "--bootstrap", 50, "--seed", 2, cwd=tmp_path).stdout


def test_beside_the_csv_files_the_intervals_are_printed_and_the_files_unchanged(folders, tmp_path):
    run(*folders, tmp_path / "plain.csv", cwd=tmp_path)
    result = run(*folders, tmp_path / "scores.csv", "--bootstrap", 20, cwd=tmp_path)
    assert result.returncode == 0 and "bootstrap resamples" in result.stdout
    assert (tmp_path / "scores.csv").read_text() == (tmp_path / "plain.csv").read_text()


@pytest.mark.parametrize(("args", "message"), [
    (["--seed", "1"], "--seed needs --bootstrap N"),
    (["--bootstrap", "0"], "must be a positive number of resamples"),
    (["--bootstrap", "many"], "must be a positive number of resamples"),
])
def test_bad_bootstrap_arguments_are_usage_errors(folders, tmp_path, args, message):
    result = run(*folders, *args, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr and not result.stdout
