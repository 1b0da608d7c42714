"""run_model.py end to end on a folder mixing good and broken records: every readable record gets an
output, every unreadable one is reported (file and reason) on stderr and in failures.csv."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys

import numpy as np
import pytest
import scipy.io
from conftest import REPO

from ecgnet.outputs import read_outputs
from ecgnet.records import STANDARD_LEADS, write_record

# The tests that train a model or read the shared records are marked slow one by one: those of what is run
# (lead sets, second copies) use an untrained model and take seconds.


def _ecg_like(seconds: float, frequency: float, leads: int = 12) -> np.ndarray:
    t = np.arange(int(seconds * frequency)) / frequency
    beats = np.exp(-((t % 0.8) - 0.4) ** 2 / 0.0005)  # a narrow bump every 0.8 s
    return np.tile(beats, (leads, 1)) * np.linspace(0.5, 1.5, leads)[:, None]


def _write_good(folder, name, seconds=10.0, frequency=500.0):
    return write_record(folder, name, _ecg_like(seconds, frequency), frequency, age=60, sex="Male",
                        labels=["426783006"])


def _edit_header(path, old, new):
    path.write_text(path.read_text().replace(old, new, 1))


def make_mixed_folder(folder):
    """Records that must run, and records that must be reported; returns (good ids, bad ids)."""
    good = ["ok_500", "long_257", "fast_1000", "nan_signal", "float_signal"]
    _write_good(folder, "ok_500")
    _write_good(folder, "long_257", seconds=30 * 60, frequency=257)
    _write_good(folder, "fast_1000", frequency=1000)
    write_record(folder, "all_zero", np.zeros((12, 5000)), 500)
    _write_good(folder, "nan_signal")
    nan_signal = _ecg_like(10, 500) * 1000
    nan_signal[3, 100:200] = np.nan
    scipy.io.savemat(folder / "nan_signal.mat", {"val": nan_signal}, format="4")
    _write_good(folder, "float_signal")
    scipy.io.savemat(folder / "float_signal.mat", {"val": _ecg_like(10, 500) * 1000.0}, format="4")

    bad = ["no_mat", "truncated", "not_matlab", "few_lines", "text_gain", "zero_gain", "odd_leads", "empty",
           "all_zero"]
    _write_good(folder, "no_mat").with_suffix(".mat").unlink()
    path = _write_good(folder, "truncated").with_suffix(".mat")
    path.write_bytes(path.read_bytes()[:300])
    _write_good(folder, "not_matlab").with_suffix(".mat").write_text("this is not a MATLAB file\n")
    header = _write_good(folder, "few_lines")
    lines = header.read_text().splitlines()
    header.write_text("\n".join(lines[:5] + lines[13:]) + "\n")
    _edit_header(_write_good(folder, "text_gain"), "1000/mV", "abc/mV")
    _edit_header(_write_good(folder, "zero_gain"), "1000/mV", "0/mV")
    write_record(folder, "odd_leads", _ecg_like(10, 500, 2), 500, leads=("X1", "Y2"))
    write_record(folder, "empty", np.zeros((12, 0)), 500)
    return good, bad


def _run(*args):
    return subprocess.run([sys.executable, "run_model.py", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_every_readable_record_gets_an_output_and_every_bad_one_is_reported(trained_model, tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    good, bad = make_mixed_folder(data)
    # A reading process beside the main one: errors must cross the process boundary intact.
    result = _run(trained_model, data, out, "--quiet", "--workers", "1")
    assert result.returncode == 0, result.stderr
    for record_id in good:
        _, classes, labels, probabilities = read_outputs(out / f"{record_id}.csv")
        assert len(classes) == len(labels) == len(probabilities) == 26
        assert all(0.0 <= float(p) <= 1.0 for p in probabilities)
    with open(out / "failures.csv") as f:
        failures = {row["file"]: row["reason"] for row in csv.DictReader(f)}
    reported = {name.rsplit("/", 1)[-1].rsplit(".", 1)[0] for name in failures}
    assert reported == set(bad)
    assert all(reason for reason in failures.values())
    for record_id in bad:
        assert not (out / f"{record_id}.csv").exists()
        assert record_id in result.stderr
    reasons = {name.rsplit("/", 1)[-1]: reason for name, reason in failures.items()}
    assert "gain 0" in reasons["zero_gain.hea"]
    assert "no_mat.mat is missing" in reasons["no_mat.hea"]
    assert "claims 12 signals" in reasons["few_lines.hea"]
    assert reasons["all_zero.hea"] == ("no ECG signal in any lead (flat: I, II, III, aVR, aVL, aVF, V1, V2, V3, V4, "
                                       "V5, V6)")
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporary files


@pytest.mark.slow
def test_exits_non_zero_when_nothing_can_be_run(trained_model, tmp_path):
    data = tmp_path / "data"
    _write_good(data, "only").with_suffix(".mat").write_text("garbage")
    result = _run(trained_model, data, tmp_path / "out", "--quiet")
    assert result.returncode != 0
    assert "no record could be run" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_missing_model_folder_is_one_clear_line(shared_data, tmp_path):
    result = _run(tmp_path / "no_model", shared_data / "cinc2021" / "reduced_leads" / "two_leads", tmp_path / "o")
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0
    assert "no_model" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_contract_commands_end_to_end(trained_model, shared_data, tmp_path):
    """run_model.py then evaluate_model.py, as the README shows, on a reduced-lead folder."""
    data = shared_data / "cinc2021" / "reduced_leads" / "four_leads"
    shutil.rmtree(tmp_path / "out", ignore_errors=True)
    assert _run(trained_model, data, tmp_path / "out", "--quiet").returncode == 0
    scores = subprocess.run([sys.executable, "evaluate_model.py", str(data), str(tmp_path / "out"),
                             str(tmp_path / "scores.csv")], cwd=REPO, capture_output=True, text=True)
    assert scores.returncode == 0, scores.stderr
    header, values = (tmp_path / "scores.csv").read_text().strip().splitlines()
    assert header == "AUROC,AUPRC,Accuracy,F-measure,Challenge metric"
    assert len(values.split(",")) == 5


def test_training_script_reports_a_bad_data_folder_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, "train_model.py", str(tmp_path / "missing"), str(tmp_path / "m")],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode != 0
    assert result.stderr.startswith("train_model.py: error:") and "missing" in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_write_record_gives_the_standard_leads_by_default(tmp_path):
    header = _write_good(tmp_path, "r")
    assert [line.split()[-1] for line in header.read_text().splitlines()[1:13]] == list(STANDARD_LEADS)


def _failure_rows(out) -> dict[str, str]:
    with open(out / "failures.csv", newline="") as f:
        return {row["file"].rsplit("/", 1)[-1]: row["reason"] for row in csv.DictReader(f)}


@pytest.mark.slow
def test_a_record_that_fails_on_a_rerun_loses_its_old_output(trained_model, tmp_path):
    from ecgnet.inference import run_folder

    data, out = tmp_path / "data", tmp_path / "out"
    _write_good(data, "kept")
    broken = _write_good(data, "broken")
    assert run_folder(trained_model, data, out, progress=False)[0] == 2
    broken.with_suffix(".mat").write_text("no longer a MATLAB file")
    written, failures = run_folder(trained_model, data, out, progress=False)
    assert written == 1 and [f.rsplit("/", 1)[-1] for f, _ in failures] == ["broken.mat"]
    assert (out / "kept.csv").is_file() and not (out / "broken.csv").exists()  # nothing stale left to score


@pytest.mark.slow
def test_a_record_whose_signal_file_is_named_otherwise_loses_its_old_output_too(trained_model, tmp_path):
    """The error names the signal file (W_signals.dat); the stale output is the record's (W.csv)."""
    import wfdb

    from ecgnet.inference import run_folder

    data, out = tmp_path / "data", tmp_path / "out"
    data.mkdir()
    wfdb.wrsamp("W", fs=500, units=["mV"] * 12, sig_name=list(STANDARD_LEADS), p_signal=_ecg_like(10, 500).T,
                fmt=["16"] * 12, adc_gain=[1000.0] * 12, baseline=[0] * 12, write_dir=str(data))
    (data / "W.dat").rename(data / "W_signals.dat")
    header = data / "W.hea"
    header.write_text(header.read_text().replace("W.dat", "W_signals.dat"))
    assert run_folder(trained_model, data, out, progress=False)[0] == 1
    dat = data / "W_signals.dat"
    dat.write_bytes(dat.read_bytes()[:1000])
    written, failures = run_folder(trained_model, data, out, progress=False)
    assert written == 0 and "W_signals.dat" in failures[0][0]
    assert not (out / "W.csv").exists()


@pytest.mark.slow
def test_the_run_tables_never_take_a_record_name(trained_model, tmp_path):
    from ecgnet.inference import run_folder

    data, out = tmp_path / "data", tmp_path / "out"
    for name in ("failures", "Details", "plain"):
        _write_good(data, name)
    written, _ = run_folder(trained_model, data, out, progress=False, details=True)
    assert written == 1
    reasons = _failure_rows(out)  # still the run's own table, whole
    assert "would be the run's own failures.csv" in reasons["failures.hea"]
    assert "would be the run's own Details.csv" in reasons["Details.hea"]
    assert (out / "details.csv").read_text().startswith("record,")


@pytest.mark.slow
def test_a_checksum_that_disagrees_is_a_warning_and_the_record_runs(trained_model, tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    header = _write_good(data, "odd_sum")
    lines = header.read_text().splitlines()
    fields = lines[2].split()
    fields[6] = str(int(fields[6]) + 1)  # lead II's checksum, off by one
    lines[2] = " ".join(fields)
    header.write_text("\n".join(lines) + "\n")
    result = _run(trained_model, data, out, "--quiet")
    assert result.returncode == 0, result.stderr
    assert (out / "odd_sum.csv").is_file()
    assert _failure_rows(out)["odd_sum.hea"].startswith("warning: ")
    assert "checksum" in result.stderr and "0 records failed" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["file", "dangling link"])
def test_an_output_folder_that_cannot_be_one_is_one_clear_line(trained_model, tmp_path, kind):
    _write_good(tmp_path / "data", "r")
    out = tmp_path / "out"
    if kind == "file":
        out.write_text("a file")
    else:
        out.symlink_to(tmp_path / "nowhere")
    result = _run(trained_model, tmp_path / "data", out, "--quiet")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and str(out) in result.stderr
    assert ("is a file" if kind == "file" else "does not exist") in result.stderr


# ------------------------------------------------------------------------------ a tree of lead sets, as the
# Challenge's reduced-lead test data is laid out: each record once in twelve_leads/, six_leads/, ... two_leads/.
@pytest.fixture(scope="module")
def lead_set_tree(tmp_path_factory):
    from ecgnet.records import LEAD_SET_WORDS
    from ecgnet.synthetic import generate_dataset

    tree = tmp_path_factory.mktemp("reduced_leads")
    for word, size in LEAD_SET_WORDS.items():
        generate_dataset(tree / f"{word}_leads", 3, seed=0, progress=False, duration=5.0, leads=size)
    return tree


def _run_here(capsys, *args) -> tuple[int, str, str]:
    """run_model.py in this process (no torch start-up per run): exit status, stdout, stderr."""
    from ecgnet.cli import run_command
    from ecgnet.commands import run

    with pytest.raises(SystemExit) as status:
        run_command(lambda: run.main([*map(str, args), "--quiet"]), "run_model.py")
    out, err = capsys.readouterr()
    return status.value.code, out, err


def test_a_lead_set_tree_runs_each_record_once_and_skips_its_other_copies(untrained_model, lead_set_tree, tmp_path,
                                                                          capsys):
    out = tmp_path / "out"
    status, stdout, stderr = _run_here(capsys, untrained_model, lead_set_tree, out)
    assert status == 0, stderr
    assert stdout == f"wrote 3 output files to {out}; 0 records failed; 12 further copies of records skipped\n"
    assert stderr.count("\n") == 1, stderr  # one line for the copies, none per copy
    assert stderr.startswith(f"run_model.py: skipped 12 further copies of records (e.g. {lead_set_tree}/")
    assert stderr.rstrip().endswith("to run the records of one lead set, give --lead-set NAME or that lead set's "
                                    "folder")
    assert _failure_rows(out) == {}  # a second copy is no failure


def test_lead_set_runs_one_lead_set_of_the_tree_as_its_folder_would(untrained_model, lead_set_tree, tmp_path, capsys):
    from ecgnet.records import LEAD_SET_WORDS

    for word in LEAD_SET_WORDS:
        out = tmp_path / word
        status, stdout, stderr = _run_here(capsys, untrained_model, lead_set_tree, out, "--lead-set", word)
        assert status == 0 and stderr == "" and _failure_rows(out) == {}
        assert stdout == f"wrote 3 output files to {out}; 0 records failed\n"
    by_folder = tmp_path / "by_folder"
    assert _run_here(capsys, untrained_model, lead_set_tree / "six_leads", by_folder)[0] == 0
    for path in sorted(by_folder.glob("SYN*.csv")):
        assert path.read_text() == (tmp_path / "six" / path.name).read_text()
    status, _, _ = _run_here(capsys, untrained_model, lead_set_tree, tmp_path / "listed", "--lead-set", "II,I")
    assert status == 0 and (tmp_path / "listed" / path.name).read_text() == (tmp_path / "two" / path.name).read_text()


def test_a_lead_set_the_folder_does_not_hold_is_refused_before_the_outputs(untrained_model, lead_set_tree, tmp_path,
                                                                           capsys):
    data, out = lead_set_tree / "six_leads", tmp_path / "out"
    status, _, stderr = _run_here(capsys, untrained_model, data, out, "--lead-set", "twelve")
    assert status == 1 and not out.exists()
    assert stderr == (f"run_model.py: error: DATA_DIR '{data}' holds no record of twelve leads (I, II, III, aVR, aVL, "
                      "aVF, V1, V2, V3, V4, V5, V6), but 3 records of six leads (I, II, III, aVR, aVL, aVF): choose "
                      "one of these lead sets with --lead-set\n")
    status, _, stderr = _run_here(capsys, untrained_model, data, out, "--lead-set", "seven")  # a usage error
    assert status == 2 and "'seven' is not a lead set" in stderr and not out.exists()
