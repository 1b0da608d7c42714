"""ecgnet.labels: the 26 scored classes, equivalent codes, abbreviations and encoding of Dx codes."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from ecgnet import labels

EQUIVALENT = [("733534002", "164909002"), ("713427006", "59118001"), ("284470004", "63593006"),
              ("427172004", "17338001")]  # fmt: skip


@pytest.fixture(scope="module")
def table() -> labels.ClassTable:
    return labels.default_class_table()


def reference_header(path: Path) -> list[str]:
    """The column names of a reference table (its first row without the corner cell)."""
    with open(path, newline="") as f:
        return next(csv.reader(f))[1:]


def test_twenty_six_classes_in_reference_order(table: labels.ClassTable, shared_reference: Path) -> None:
    assert len(table) == 26 == len(table.classes) == table.weights.shape[0] == table.weights.shape[1]
    assert table.labels == reference_header(shared_reference / "weights.csv")
    assert table.codes == [name.split("|")[0] for name in table.labels]


@pytest.mark.parametrize("pair", EQUIVALENT)
def test_equivalent_codes_are_one_class(table: labels.ClassTable, pair: tuple[str, str]) -> None:
    first, second = pair
    index = table.index_of(first)
    assert index is not None and table.index_of(second) == index
    scored = table.classes[index]
    assert scored.codes == pair and scored.code == first and scored.label == f"{first}|{second}"
    assert table.encode([second]).sum() == 1 and table.encode([second])[index]


def test_abbreviations_match_the_reference(table: labels.ClassTable, shared_reference: Path) -> None:
    assert table.abbreviations == reference_header(shared_reference / "weights_abbreviations.csv")
    assert table.classes[table.index_of("164889003")].name == "atrial fibrillation"
    pvc = table.classes[table.index_of("17338001")]
    assert pvc.name == "premature ventricular contractions | ventricular premature beats"
    assert pvc.abbreviation == "PVC|VPB"


def test_sinus_rhythm_index(table: labels.ClassTable) -> None:
    index = table.sinus_rhythm_index
    assert index == 14 and table.codes[index] == labels.SINUS_RHYTHM == "426783006"
    assert table.abbreviations[index] == "NSR"


def test_encode_merges_equivalents_and_ignores_unscored(table: labels.ClassTable) -> None:
    vector = table.encode(["164909002", "733534002", " 426783006 ", "251238007", "", "55827005"])
    assert vector.dtype == bool and vector.shape == (26,)
    assert sorted(np.flatnonzero(vector)) == sorted([table.index_of("733534002"), table.sinus_rhythm_index])
    assert not table.encode([]).any()
    assert not table.encode(["999", "abc"]).any()


def test_index_of_unscored_is_none(table: labels.ClassTable) -> None:
    assert table.index_of("251238007") is None
    assert table.index_of("") is None
    assert table.index_of(164889003) == 0


def test_encode_many(table: labels.ClassTable) -> None:
    matrix = table.encode_many([["164889003"], [], ["59118001", "713427006"]])
    assert matrix.shape == (3, 26) and matrix.dtype == bool
    assert matrix.sum(axis=1).tolist() == [1, 0, 1]
    assert table.encode_many([]).shape == (0, 26)


def test_load_class_table_from_a_file_equals_the_default(table: labels.ClassTable, shared_reference: Path) -> None:
    loaded = labels.load_class_table(shared_reference / "weights.csv")
    assert loaded.classes == table.classes
    np.testing.assert_array_equal(loaded.weights, table.weights)
    assert labels.load_class_table() is labels.default_class_table()


def test_unknown_codes_in_a_custom_table_keep_their_codes(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    path.write_text(",111|222,164889003\n111|222,1,0.5\n164889003,0.5,1\n")
    table = labels.load_class_table(path)
    assert table.abbreviations == ["111|222", "AF"]
    assert table.classes[0].name == "111|222"
    assert table.encode(["222"]).tolist() == [True, False]
