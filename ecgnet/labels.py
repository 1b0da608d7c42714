"""The 26 scored classes of the Challenge, read once from the official weights table.

Everything that needs to know a class (its SNOMED codes, equivalent codes, abbreviation, name, or the
reward matrix of the Challenge metric) asks this module; no other module parses ``weights.csv``.

A column name ``a|b`` of ``weights.csv`` is one class with two equivalent codes. A record is positive
for a class when any of the class's codes is among its labels.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

SINUS_RHYTHM = "426783006"


@dataclass(frozen=True)
class ScoredClass:
    """One scored class: its codes (the first is the one written to outputs), abbreviation and name."""

    codes: tuple[str, ...]
    abbreviation: str
    name: str

    @property
    def code(self) -> str:
        return self.codes[0]

    @property
    def label(self) -> str:
        """The class as ``weights.csv`` writes it: equivalent codes joined by ``|``."""
        return "|".join(self.codes)


@dataclass(frozen=True)
class ClassTable:
    """The scored classes in ``weights.csv`` order and the reward matrix ``weights[j, k]``."""

    classes: tuple[ScoredClass, ...]
    weights: np.ndarray

    def __len__(self) -> int:
        return len(self.classes)

    @property
    def codes(self) -> list[str]:
        """The representative code of each class, the one written to output files."""
        return [c.code for c in self.classes]

    @property
    def labels(self) -> list[str]:
        return [c.label for c in self.classes]

    @property
    def abbreviations(self) -> list[str]:
        return [c.abbreviation for c in self.classes]

    @property
    def sinus_rhythm_index(self) -> int | None:
        return self.index_of(SINUS_RHYTHM)

    def index_of(self, code: str) -> int | None:
        """The index of the class that ``code`` (any equivalent code) belongs to, or None if unscored."""
        return self._code_index.get(str(code).strip())

    def column_classes(self, entry: str) -> tuple[int, ...]:
        """The classes an output file's column ``entry`` stands for, as the official evaluator reads it: the
        entry split on ``|`` (``a|b``, as ``weights.csv`` writes an equivalent pair), each part a code as it
        is written (``a | b`` names no class); every class with one of those codes, each once. Remembered per
        entry: an evaluation meets the same few dozen column names in every file."""
        found = self._column_cache.get(entry)
        if found is None:
            codes = entry.split("|")
            found = tuple(dict.fromkeys(j for code in codes if (j := self._code_index.get(code)) is not None))
            self._column_cache[entry] = found
        return found

    @cached_property
    def _column_cache(self) -> dict[str, tuple[int, ...]]:
        return {}

    @cached_property
    def _code_index(self) -> dict[str, int]:
        """Code -> class index, built once per table: lookups happen once per label and output entry."""
        return {code: i for i, c in enumerate(self.classes) for code in c.codes}

    def encode(self, codes: Iterable[str]) -> np.ndarray:
        """A boolean vector over the classes: True where any of ``codes`` belongs to the class."""
        return self.encode_many([codes])[0]

    def encode_many(self, code_lists: Sequence[Iterable[str]]) -> np.ndarray:
        """A (records, classes) boolean matrix, one row per list of codes."""
        matrix = np.zeros((len(code_lists), len(self.classes)), dtype=bool)
        for row, codes in enumerate(code_lists):
            for code in codes:
                j = self._code_index.get(str(code).strip())
                if j is not None:
                    matrix[row, j] = True
        return matrix


def read_weights(path: str | Path) -> tuple[list[tuple[str, ...]], np.ndarray]:
    """Read a Challenge weights table: the classes (tuples of equivalent codes) and the square matrix.

    Raises ValueError naming the file when the table is not square, its row and column classes differ,
    a code belongs to two classes, or a weight is not a finite number.
    """
    path = Path(path)
    with open(path, newline="") as f:
        rows = [row for row in csv.reader(f) if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        raise ValueError(f"{path}: weights table has no rows")
    columns = [_class_codes(name) for name in rows[0][1:]]
    _check_square(path, rows, len(columns))
    if [_class_codes(row[0]) for row in rows[1:]] != columns:
        raise ValueError(f"{path}: row classes differ from column classes")
    codes = [code for class_codes in columns for code in class_codes]
    if len(set(codes)) != len(codes):
        raise ValueError(f"{path}: a code is listed in more than one class")
    return columns, _parse_matrix(path, rows)


def _class_codes(name: str) -> tuple[str, ...]:
    """``"733534002|164909002"`` -> the class's codes."""
    return tuple(code.strip() for code in name.split("|"))


def _check_square(path: Path, rows: list[list[str]], size: int) -> None:
    """Raise ValueError unless ``rows`` is a header row and ``size`` rows of a name and ``size`` weights."""
    widths = sorted({len(row) - 1 for row in rows})
    if len(rows) - 1 != size or widths != [size]:
        raise ValueError(
            f"{path}: weights table is not square: {len(rows) - 1} rows for {size} classes, row widths {widths}"
        )


def _parse_matrix(path: Path, rows: list[list[str]]) -> np.ndarray:
    """The weights below the header row and right of the name column, as finite floats."""
    try:
        matrix = np.array([[float(x) for x in row[1:]] for row in rows[1:]], dtype=np.float64)
    except ValueError as error:
        raise ValueError(f"{path}: non-numeric weight ({error})") from None
    if not np.all(np.isfinite(matrix)):
        raise ValueError(f"{path}: weights must be finite numbers")
    return matrix


def _read_names() -> dict[str, tuple[str, str]]:
    """SNOMED code -> (abbreviation, name) from the scored-class mapping shipped with the package."""
    text = resources.files("ecgnet.resources").joinpath("dx_mapping_scored.csv").read_text()
    reader = csv.DictReader(text.splitlines())
    return {row["SNOMEDCTCode"].strip(): (row["Abbreviation"].strip(), row["Dx"].strip()) for row in reader}


def load_class_table(weights_file: str | Path | None = None) -> ClassTable:
    """The class table from ``weights_file``, or from the copy of the official table in the package."""
    if weights_file is None:
        return default_class_table()
    columns, matrix = read_weights(weights_file)
    names = _read_names()
    classes = []
    for codes in columns:
        known = [names[c] for c in codes if c in names]
        abbreviation = "|".join(a for a, _ in known) or "|".join(codes)
        name = " | ".join(n for _, n in known) or "|".join(codes)
        classes.append(ScoredClass(codes=codes, abbreviation=abbreviation, name=name))
    return ClassTable(classes=tuple(classes), weights=matrix)


@lru_cache(maxsize=1)
def default_class_table() -> ClassTable:
    """The official 2021 scored classes (the package's copy of ``weights.csv``)."""
    with resources.as_file(resources.files("ecgnet.resources").joinpath("weights.csv")) as path:
        return load_class_table(path)
