"""ecgnet.outputs: the four-line output file, atomic writing, and how entries are judged."""

from __future__ import annotations

import csv
import errno
import math
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from ecgnet import files, outputs
from ecgnet.files import write_text_atomic
from ecgnet.outputs import record_failures


def test_format_outputs_exact_text() -> None:
    text = outputs.format_outputs("A0001", ["164889003", "164890007", "6374002"], [1, 0, True], [0.93, 0.02, 1e-7])
    assert text == "#A0001\n164889003,164890007,6374002\n1,0,1\n0.93,0.02,1e-07\n"


def test_format_outputs_label_kinds() -> None:
    labels = [True, False, 1, 0, np.True_, np.int64(0), "T", float("nan"), np.float32("nan"), 2]
    text = outputs.format_outputs("r", list("abcdefghij"), labels, [0.5] * 10)
    assert text.splitlines()[2] == "1,0,1,0,1,0,T,0,0,1"


def test_format_outputs_non_finite_probabilities_are_nan() -> None:
    text = outputs.format_outputs("r", ["a", "b", "c"], [0, 0, 0], [float("nan"), float("inf"), np.float32(0.25)])
    assert text.splitlines()[3] == "nan,nan,0.25"


def test_format_outputs_rejects_unequal_lengths() -> None:
    with pytest.raises(ValueError, match="A7: 2 classes, 1 labels, 2 probabilities"):
        outputs.format_outputs("A7", ["a", "b"], [1], [0.1, 0.2])


def test_save_and_read_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "E1.csv"
    outputs.save_outputs(path, "E1", ["1", "2|3"], [False, True], [0.125, 0.875])
    assert outputs.read_outputs(path) == ("E1", ("1", "2|3"), ("0", "1"), ("0.125", "0.875"))


def test_read_outputs_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing.csv: output file is missing"):
        outputs.read_outputs(tmp_path / "nothing.csv")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("# A1 \n a , b \n1, 0\n\n", ("A1", ("a", "b"), ("1", "0"), ("",))),
     ("#A1\r\na,b\r\n1,0\r\n0.1,0.2\r\n", ("A1", ("a", "b"), ("1", "0"), ("0.1", "0.2"))),
     ("#A1\ra,b\r1,0\r0.1,0.2", ("A1", ("a", "b"), ("1", "0"), ("0.1", "0.2"))),
     ("#A1\na,b\n1,\n,0.2\nextra\n", ("A1", ("a", "b"), ("1", ""), ("", "0.2"))),
     # A form feed or a vertical tab ends no line in a file read in text mode: they are white space in an entry.
     ("#A1\na,b\n1\x0c,\x0b0\n0.1,0.2", ("A1", ("a", "b"), ("1", "0"), ("0.1", "0.2")))],
)  # fmt: skip
def test_parse_outputs_reads_entries_as_written(text: str, expected: tuple) -> None:
    assert outputs.parse_outputs(text) == expected


@pytest.mark.parametrize("text", ["", "#A1\n", "#A1\na,b\n1,0\n", "#A1\na,b\x0c1,0\x0c0.1,0.2\n"])
def test_an_output_file_of_fewer_than_four_lines_is_one_error_naming_it(text: str) -> None:
    """The official evaluator stops with a traceback on these."""
    with pytest.raises(ValueError, match=r"^x\.csv: has \d lines; an output file has 4"):
        outputs.parse_outputs(text, "x.csv")


# ---------------------------------------------------------------------------------------------- atomic writes
def test_atomic_write_replaces_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    path.write_text("old content that is longer than the new one\n")
    write_text_atomic(path, "new\n")
    assert path.read_text() == "new\n"
    assert os.listdir(tmp_path) == ["out.csv"]


def test_atomic_write_gives_the_mode_of_an_ordinary_file(tmp_path: Path) -> None:
    ordinary = tmp_path / "ordinary.txt"
    ordinary.write_text("x")
    write_text_atomic(tmp_path / "atomic.txt", "x")
    assert stat.S_IMODE((tmp_path / "atomic.txt").stat().st_mode) == stat.S_IMODE(ordinary.stat().st_mode)


def test_atomic_write_failure_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "out.csv"
    path.write_text("old\n")

    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_text_atomic(path, "new\n")
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["out.csv"]


def test_a_full_disk_is_one_error_naming_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class FullDisk:  # the os module as ecgnet.files sees it, where every write finds the disk full
        def __getattr__(self, name: str):
            return getattr(os, name)

        @staticmethod
        def write(handle: int, data: bytes) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files, "os", FullDisk())
    with pytest.raises(OSError, match=f"cannot write {tmp_path / 'out.csv'} \\(No space left on device\\)"):
        write_text_atomic(tmp_path / "out.csv", "x")
    assert os.listdir(tmp_path) == []


def test_atomic_write_into_a_missing_folder_fails(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_text_atomic(tmp_path / "absent" / "out.csv", "x")


# ------------------------------------------------------------------------------------------- judging entries
# The official evaluator (physionetchallenges/evaluation-2021, load_classifier_outputs) counts a stripped binary
# entry as positive when `(is_finite_number(entry) and float(entry)==1) or entry in ('True','true','T','t')`.
@pytest.mark.parametrize(
    ("entry", "positive"),
    [("1", True), (" 1 ", True), ("\t1", True), ("True", True), ("true", True), ("T", True), ("t", True),
     ("1.0", True), ("1e0", True), ("+1", True), ("01", True), ("1.", True), ("10e-1", True), ("1_0e-1", True),
     ("1.0000000000000001", True),  # the same float as 1
     ("\uff11", True),  # a full-width digit one: Python's float reads it
     ("0", False), ("0.0", False), ("-1", False), ("2", False), ("0.9999", False), ("1.00000001", False),
     ("TRUE", False), ("True.", False), ("yes", False), ("abc", False), ("0x1", False), ("1 1", False),
     ("nan", False), ("inf", False), ("-inf", False), ("1e400", False), ("", False), ("False", False),
     (None, False)],
)  # fmt: skip
def test_is_positive(entry: str, positive: bool) -> None:
    assert outputs.is_positive(entry) is positive


@pytest.mark.parametrize("entry", [1, 1.0, True, b"1"])
def test_is_positive_refuses_what_no_file_holds(entry: object) -> None:
    with pytest.raises(TypeError, match="must be the text read from an output file"):
        outputs.is_positive(entry)


@pytest.mark.parametrize(
    ("entry", "value"),
    [("0.25", 0.25), ("1", 1.0), ("-0.5", -0.5), ("1e-3", 0.001), ("abc", 0.0), ("nan", 0.0), ("inf", 0.0),
     ("-inf", 0.0), ("", 0.0), ("True", 0.0), (None, 0.0)],
)  # fmt: skip
def test_to_probability(entry: str, value: float) -> None:
    result = outputs.to_probability(entry)
    assert isinstance(result, float) and math.isfinite(result) and result == value


def _failure_rows(folder):
    with open(folder / "failures.csv", newline="") as handle:
        return [tuple(row) for row in csv.reader(handle)][1:]


def test_each_run_into_one_outputs_folder_keeps_its_failures(tmp_path):
    out, first, second = tmp_path / "out", tmp_path / "first", tmp_path / "second"
    out.mkdir()
    record_failures(out, first, [(str(first / "a.hea"), "broken"), (str(first / "b.hea"), "also\nbroken")])
    record_failures(out, second, [(str(second / "c.hea"), "missing")])
    assert _failure_rows(out) == [(str(first / "a.hea"), "broken"), (str(first / "b.hea"), "also broken"),
                                  (str(second / "c.hea"), "missing")]
    record_failures(out, first, [(str(first / "b.hea"), "still broken")])  # a.hea was fixed: its row goes
    assert _failure_rows(out) == [(str(second / "c.hea"), "missing"), (str(first / "b.hea"), "still broken")]
