"""The weights tables: the shipped copies equal the official one; read_weights rejects broken tables."""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from ecgnet import labels

REPO = Path(__file__).resolve().parents[1]


def plain_table(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """Column names, row names and numbers of a weights table, read with the csv module only."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0][1:], [row[0] for row in rows[1:]], np.array([[float(x) for x in row[1:]] for row in rows[1:]])


def shipped_copies() -> list[Path]:
    """The top-level weights.csv and the package's copy."""
    with resources.as_file(resources.files("ecgnet.resources").joinpath("weights.csv")) as packaged:
        return [REPO / "weights.csv", Path(packaged)]


@pytest.mark.parametrize("index", [0, 1], ids=["top-level", "package"])
def test_shipped_weights_equal_the_reference(shared_reference: Path, index: int) -> None:
    path = shipped_copies()[index]
    columns, row_names, matrix = plain_table(path)
    ref_columns, ref_rows, ref_matrix = plain_table(shared_reference / "weights.csv")
    assert columns == ref_columns == row_names == ref_rows
    assert len(columns) == 26
    np.testing.assert_array_equal(matrix, ref_matrix)
    classes, read = labels.read_weights(path)
    assert ["|".join(codes) for codes in classes] == ref_columns
    np.testing.assert_array_equal(read, ref_matrix)


def test_reference_matrix_properties(shared_reference: Path) -> None:
    classes, matrix = labels.read_weights(shared_reference / "weights.csv")
    assert matrix.shape == (26, 26)
    np.testing.assert_array_equal(np.diag(matrix), np.ones(26))
    np.testing.assert_array_equal(matrix, matrix.T)
    assert ("733534002", "164909002") in classes
    assert sum(len(codes) == 2 for codes in classes) == 4


def test_abbreviation_table_has_the_same_numbers(shared_reference: Path) -> None:
    _, _, numbers = plain_table(shared_reference / "weights_abbreviations.csv")
    _, _, reference = plain_table(shared_reference / "weights.csv")
    np.testing.assert_array_equal(numbers, reference)


GOOD = ",1,2|3\n1,1,0.5\n2|3,0.5,1\n"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (",1,2|3\n1,1,0.5\n2|3,0.5\n", "not square"),  # a short row
        (",1,2|3\n1,1,0.5,0.1\n2|3,0.5,1\n", "not square"),  # a long row
        (",1,2|3\n1,1,0.5\n", "not square"),  # a missing row
        (",1,2|3\n1,1,0.5\n2|3,0.5,1\n4,1,1\n", "not square"),  # an extra row
        (",1,2|3\n1,1,abc\n2|3,0.5,1\n", "non-numeric"),
        (",1,2|3\n1,1,\n2|3,0.5,1\n", "non-numeric"),
        (",1,2|3\n1,1,nan\n2|3,0.5,1\n", "finite"),
        (",1,2|3\n2|3,1,0.5\n1,0.5,1\n", "row classes differ"),
        (",1,1|3\n1,1,0.5\n1|3,0.5,1\n", "more than one class"),
        ("", "no rows"),
        (",1,2\n", "no rows"),
    ],
)
def test_read_weights_rejects_broken_tables(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "broken_weights.csv"
    path.write_text(text)
    with pytest.raises(ValueError) as error:
        labels.read_weights(path)
    assert str(path) in str(error.value) and words in str(error.value), str(error.value)


def test_read_weights_accepts_a_small_table_with_spaces_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    path.write_text(GOOD.replace("2|3", "2 | 3") + "\n\n")
    classes, matrix = labels.read_weights(path)
    assert classes == [("1",), ("2", "3")]
    np.testing.assert_array_equal(matrix, [[1, 0.5], [0.5, 1]])
