"""ecgnet compare LABELS OUTPUTS_A OUTPUTS_B: B - A with its interval over paired resamples."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_evaluate_bootstrap import TABLE, outputs_right_on, synthetic_labels, write_labels, write_outputs

from ecgnet import __main__ as ecgnet_main
from ecgnet import metric


def compare(capsys, *args: object) -> tuple[int, str, str]:
    """Run ``ecgnet compare`` in this process: exit status, stdout, stderr."""
    with pytest.raises(SystemExit) as status:
        ecgnet_main.main(["compare", *map(str, args)])
    captured = capsys.readouterr()
    return status.value.code, captured.out, captured.err


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path, Path]:
    """120 labelled records; A's outputs are the labels on 20 of them, B's on 90 (the same 20 and 70 more)."""
    labels = synthetic_labels(120, seed=1)
    label_dir = write_labels(tmp_path / "labels", labels)
    a = write_outputs(tmp_path / "a", *outputs_right_on(labels, 20, seed=2))
    b = write_outputs(tmp_path / "b", *outputs_right_on(labels, 90, seed=2))
    return label_dir, a, b


def exact_differences(label_dir: Path, a: Path, b: Path) -> dict[str, float]:
    a_scores, b_scores = metric.evaluate_folders(label_dir, a), metric.evaluate_folders(label_dir, b)
    return {"Challenge metric": b_scores.challenge_metric - a_scores.challenge_metric,
            "AUROC": b_scores.auroc - a_scores.auroc}


def test_a_known_difference_is_recovered(capsys, folders):
    exact = exact_differences(*folders)
    assert exact["Challenge metric"] > 0.2 and exact["AUROC"] > 0.1
    code, out, err = compare(capsys, *folders, "--bootstrap", 300, "--json")
    assert code == 0 and not err
    result = json.loads(out)
    assert (result["num_records"], result["left_out"], result["bootstrap"]) == (
        120, 0, {"resamples": 300, "seed": 0, "level": 0.95})
    for name, difference in exact.items():
        entry = result["scores"][name]
        assert entry["difference"] == difference == entry["B"] - entry["A"]
        assert 0 < entry["low"] <= difference <= entry["high"]
        assert entry["b_higher"] > 0.99 and entry["b_higher"] + entry["tied"] <= 1


def test_the_table_prints_both_scores_the_difference_and_the_wins(capsys, folders):
    exact = exact_differences(*folders)
    code, out, err = compare(capsys, *folders, "--bootstrap", 200, "--seed", 5)
    assert code == 0 and not err
    code, json_out, _ = compare(capsys, *folders, "--bootstrap", 200, "--seed", 5, "--json")
    entries = json.loads(json_out)["scores"]
    lines = out.splitlines()
    assert lines[0] == f"120 records; A: {folders[1]}; B: {folders[2]}"
    assert lines[1] == "200 paired bootstrap resamples of the records (seed 5)"
    assert lines[3].split() == ["A", "B", "B", "-", "A", "95%", "interval", "B", "higher"]
    for line, name in zip(lines[4:], ["Challenge metric", "AUROC"]):
        entry = entries[name]
        assert line.startswith(name)
        assert line[len(name):].split() == [f"{entry['A']:.3f}", f"{entry['B']:.3f}", f"{exact[name]:+.3f}",
                                             f"[{entry['low']:+.3f},", f"{entry['high']:+.3f}]",
                                             f"{entry['b_higher']:.3f}"]


def test_identical_folders_differ_by_exactly_zero(capsys, folders, tmp_path):
    label_dir, a, _ = folders
    copy = shutil.copytree(a, tmp_path / "copy")
    code, out, _ = compare(capsys, label_dir, a, copy, "--bootstrap", 100, "--json")
    for entry in json.loads(out)["scores"].values():
        assert entry["A"] == entry["B"]
        assert (entry["difference"], entry["low"], entry["high"], entry["b_higher"], entry["tied"]) == (0, 0, 0, 0, 1)
    code, out, _ = compare(capsys, label_dir, a, copy, "--bootstrap", 100)
    assert code == 0
    assert [line.split()[-4:] for line in out.splitlines()[4:]] == [["+0.000", "[+0.000,", "+0.000]", "0.000"]] * 2


def test_records_without_an_output_in_either_folder_are_left_out_of_both(capsys, folders, tmp_path):
    label_dir, a, b = folders
    (a / "R3.csv").unlink()
    (b / "R3.csv").unlink()
    (b / "R7.csv").unlink()
    code, out, err = compare(capsys, label_dir, a, b, "--bootstrap", 50, "--json")
    assert code == 0 and err.count("\n") == 1
    assert err == (f"ecgnet compare: 2 of 120 labelled records left out of both: 1 without an output in {a} "
                   f"(e.g. R3); 2 without an output in {b} (e.g. R3)\n")
    result = json.loads(out)
    assert (result["num_records"], result["left_out"]) == (118, 2)
    # Both are scored on the 118 records both have.
    for folder in (a, b):
        (folder / "R3.csv").unlink(missing_ok=True)
        (folder / "R7.csv").unlink(missing_ok=True)
    (label_dir / "R3.hea").unlink()
    (label_dir / "R7.hea").unlink()
    assert result["scores"]["Challenge metric"]["A"] == metric.evaluate_folders(label_dir, a).challenge_metric
    assert result["scores"]["AUROC"]["B"] == metric.evaluate_folders(label_dir, b).auroc


def test_no_record_in_common_and_missing_folders_are_one_line_errors(capsys, folders, tmp_path):
    label_dir, a, b = folders
    code, out, err = compare(capsys, label_dir, a, tmp_path / "nowhere")
    assert code == 1 and not out and err.startswith("ecgnet compare: error: ") and err.count("\n") == 1
    assert "nowhere" in err
    code, _, err = compare(capsys, tmp_path / "no-labels", a, b)
    assert code == 1 and "no-labels" in err and err.count("\n") == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = compare(capsys, label_dir, a, empty)
    assert code == 1 and "no labelled record has an output in every folder" in err and err.count("\n") == 1


def test_bad_arguments_are_usage_errors(capsys, folders):
    code, _, err = compare(capsys, *folders, "--bootstrap", "-5")
    assert code == 2 and "must be a positive number of resamples" in err
    code, out, _ = compare(capsys, "--help")
    assert code == 0 and out.startswith("usage: ecgnet compare ")
    assert len(TABLE) == 26  # the official table, with sinus rhythm: the Challenge metric is defined
