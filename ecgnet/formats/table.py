"""ECG samples as a plain table: a CSV file or a NumPy ``.npz`` archive that declares its sampling rate and leads.

CSV (``.csv``, UTF-8)
---------------------

Comment lines ``# key: value`` (or ``# key=value``) first, then a header row of lead names, then one row per
sample: comma-separated numbers, an empty field for a missing sample::

    # sampling_rate: 500
    # units: uV
    # age: 63
    # sex: F
    I,II,III,aVR,aVL,aVF,V1,V2,V3,V4,V5,V6
    -35,120,155,-42,-95,137,-60,-210,88,410,620,515
    -33,118,,-40,-93,136,-61,-208,90,412,618,512

- ``sampling_rate`` (also ``fs``, ``frequency`` or ``hz``) in Hz, required; the value may end in ``Hz``.
- ``units``: ``uV``, ``mV`` (the default) or ``V``.
- ``age`` in years and ``sex`` (``M``/``F``, ``Male``/``Female``), optional.

Lead names are as the file writes them (``I``, ``Lead II``, ``V1``, ``avr``...) and are mapped to the standard
names; every column is a lead. A CSV is taken for an ECG only when a leading comment declares its sampling
rate or when its first line is a header naming at least two standard leads, so the other CSV files of a data
folder are left alone.

NumPy (``.npz``, as written by ``numpy.savez`` or ``numpy.savez_compressed``)
-----------------------------------------------------------------------------

Arrays, read without pickle (no object arrays)::

    numpy.savez_compressed("R1.npz", signal=signal, leads=["I", "II", "V1"], sampling_rate=500,
                           units="uV", age=63, sex="F")

- ``signal``: numbers, leads x samples (samples x leads is recognised when only its second dimension equals
  the number of leads); NaN for a missing sample.
- ``leads``: the lead names, strings.
- ``sampling_rate`` (or ``fs``) in Hz.
- optional: ``units`` (``uV``, ``mV`` the default, ``V``), ``age`` in years, ``sex``.
"""

from __future__ import annotations

import math
import re
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ._base import RecordError
from ._exports import (
    TWELVE_LEADS,
    Export,
    lead_name,
    parse_sex,
    positive_number,
    register_export,
    to_millivolts,
)

# Names of the declarations, in the order they are looked up (a file declaring two keeps the first listed).
_RATE_KEYS = ("sampling_rate", "sample_rate", "sampling_frequency", "fs", "frequency", "hz")
_UNIT_KEYS = ("units", "unit")
_COMMENT = re.compile(r"^\s*#\s*([A-Za-z][\w\s-]*?)\s*[:=]\s*(.*?)\s*$")
_UNKNOWN_AGE = frozenset({"", "nan", "unknown", "?", "-"})
_NO_RATE = "no sampling rate declared: add a first line '# sampling_rate: 500'"


# ----------------------------------------------------------------------------------------------------------- CSV


def is_declared_csv(start: bytes) -> bool:
    """An ECG CSV: a leading comment declares the sampling rate, or the first line is a header naming at least
    two standard leads."""
    lines = start.decode("utf-8", errors="replace").lstrip("\ufeff").splitlines()
    for line in lines:
        if not line.strip():
            continue
        if not line.lstrip().startswith("#"):
            return _standard_leads(line) >= 2
        if _declaration(line)[0] in _RATE_KEYS:
            return True
    return False


@register_export("csv", (".csv",), "CSV table of ECG samples", sniff=is_declared_csv)
def read_csv(path: Path) -> Export:
    """A CSV of ECG samples (module docstring): declared rate and units, a header of leads, a row per sample."""
    text = _text(path)
    lines = text.splitlines()
    declared: dict[str, str] = {}
    first = 0
    while first < len(lines) and (not lines[first].strip() or lines[first].lstrip().startswith("#")):
        key, value = _declaration(lines[first])
        declared.setdefault(key, value)  # the first declaration of a key holds
        first += 1
    if first == len(lines):
        raise RecordError(path, "no header row of lead names (only comments)")
    leads = _csv_leads(lines[first], first + 1, path)
    rate = next((declared[key] for key in _RATE_KEYS if key in declared), None)
    if rate is None:
        raise RecordError(path, _NO_RATE)
    samples = _csv_samples(lines, first + 1, leads, path)
    if not text.endswith(("\n", "\r")) and lines[-1].rstrip().endswith(","):
        # Writers end every row with a newline; a last row cut after a separator would pass for a missing sample.
        raise RecordError(path, f"line {len(lines)} ends in a separator without a newline: the file looks truncated")
    unit = next((declared[key] for key in _UNIT_KEYS if key in declared), "mV")
    return Export(to_millivolts(samples, unit, path), _rate(rate, path), leads, _age(declared.get("age"), path),
                  parse_sex(declared.get("sex", declared.get("gender", ""))))


def _text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")  # -sig: spreadsheets start UTF-8 with a byte-order mark
    except UnicodeDecodeError as error:
        raise RecordError(path, f"not UTF-8 text (byte {error.start})") from None


def _declaration(line: str) -> tuple[str, str]:
    """(key, value) of a ``# key: value`` comment, the key lower case with ``_`` for separators; ("", "")
    for any other line."""
    match = _COMMENT.match(line)
    if not match:
        return "", ""
    return re.sub(r"[\s-]+", "_", match.group(1).lower()), match.group(2)


def _standard_leads(line: str) -> int:
    return sum(lead_name(name) in TWELVE_LEADS for name in _cells(line))


def _cells(line: str) -> list[str]:
    return [cell.strip().strip('"').strip() for cell in line.split(",")]


def _csv_leads(line: str, number: int, path: Path) -> tuple[str, ...]:
    names = _cells(line)
    if any(not name for name in names):
        raise RecordError(path, f"line {number}: the header row has an empty column name ({line.strip()!r})")
    if all(_is_number(name) for name in names):
        raise RecordError(path, f"line {number} holds numbers, not lead names: add a header row such as 'I,II,V1'")
    return _unique_leads([lead_name(name) for name in names], path)


def _csv_samples(lines: list[str], first: int, leads: tuple[str, ...], path: Path) -> np.ndarray:
    """The rows after the header, leads x samples; an empty field is NaN. RecordError naming a bad line."""
    rows = []
    for index in range(first, len(lines)):
        line = lines[index]
        if not line.strip():
            continue
        cells = line.split(",")
        if len(cells) != len(leads):
            raise RecordError(path, f"line {index + 1} has {len(cells)} fields where the header names "
                                    f"{len(leads)} leads (a truncated file?)")
        try:
            rows.append([float(cell) if cell.strip() else math.nan for cell in cells])
        except ValueError:
            bad = next(i for i, cell in enumerate(cells) if cell.strip() and not _is_number(cell))
            raise RecordError(path, f"line {index + 1}, lead {leads[bad]}: {cells[bad].strip()!r} is not a "
                                    "number") from None
    if not rows:
        raise RecordError(path, "holds no sample: no row after the header")
    return np.array(rows, dtype=np.float64).T


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# ----------------------------------------------------------------------------------------------------------- NumPy


def is_zip(start: bytes) -> bool:
    """An ``.npz`` archive is a zip file."""
    return start[:4] == b"PK\x03\x04"


@register_export("npz", (".npz",), "NumPy archive of ECG samples", sniff=is_zip)
def read_npz(path: Path) -> Export:
    """A NumPy ``.npz`` of ECG samples (module docstring): ``signal``, ``leads``, ``sampling_rate``..."""
    arrays = _npz_arrays(path)
    leads = _npz_leads(arrays["leads"], path)
    signal = _npz_signal(arrays["signal"], len(leads), path)
    unit = _scalar(arrays["units"], "units", path) if "units" in arrays else "mV"
    rate = _scalar(arrays["sampling_rate"] if "sampling_rate" in arrays else arrays["fs"], "sampling_rate", path)
    age = _scalar(arrays["age"], "age", path) if "age" in arrays else None
    sex = _scalar(arrays["sex"], "sex", path) if "sex" in arrays else ""
    return Export(to_millivolts(signal, str(unit), path), _rate(rate, path), leads, _age(age, path),
                  parse_sex(sex))


def _npz_arrays(path: Path) -> dict[str, np.ndarray]:
    """The archive's arrays that this format reads; RecordError for missing ones, pickles and damage."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as error:
        raise RecordError(path, f"not a readable .npz archive (truncated or damaged: {error})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise RecordError(path, "a single NumPy array, not an .npz archive of named arrays")
    with archive:
        names = set(archive.files)
        missing = [name for name in ("signal", "leads") if name not in names]
        if not names & {"sampling_rate", "fs"}:
            missing.append("sampling_rate")
        if missing:
            held = ", ".join(sorted(names)) or "none"
            arrays = "array" if len(missing) == 1 else "arrays"
            raise RecordError(path, f"missing {arrays} {', '.join(missing)} (it holds: {held})")
        wanted = names & {"signal", "leads", "sampling_rate", "fs", "units", "age", "sex"}
        return {name: _npz_array(archive, name, path) for name in sorted(wanted)}


def _npz_array(archive: Any, name: str, path: Path) -> np.ndarray:
    try:
        return archive[name]
    except ValueError as error:
        if "pickle" in str(error):  # numpy refuses object arrays without allow_pickle
            raise RecordError(path, f"array {name!r} is an object array (pickled Python objects), which is not "
                                    "read: save numbers and strings") from None
        raise RecordError(path, f"array {name!r} is damaged ({error})") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise RecordError(path, f"array {name!r} is truncated or damaged ({error})") from None


def _npz_leads(array: np.ndarray, path: Path) -> tuple[str, ...]:
    if array.dtype.kind not in "US" or array.ndim > 1:
        raise RecordError(path, f"array 'leads' should be a list of strings, is {array.dtype} of shape "
                                f"{array.shape}")
    names = [name.decode("ascii", errors="replace") if isinstance(name, bytes) else str(name)
             for name in np.atleast_1d(array)]
    return _unique_leads([lead_name(name) for name in names], path)


def _npz_signal(array: np.ndarray, count: int, path: Path) -> np.ndarray:
    """The signal as leads x samples: transposed when only its second dimension is the number of leads."""
    if array.dtype.kind not in "iuf":
        raise RecordError(path, f"array 'signal' holds {array.dtype} values, not numbers")
    if array.ndim == 1 and count == 1:
        array = array[np.newaxis]
    if array.ndim != 2:
        raise RecordError(path, f"array 'signal' has shape {array.shape}, expected leads x samples")
    if array.shape[0] != count and array.shape[1] == count:
        array = array.T
    if array.shape[0] != count:
        raise RecordError(path, f"array 'signal' of shape {array.shape} has no dimension of {count} leads "
                                f"(the number of names in 'leads')")
    return array.astype(np.float64)


def _scalar(array: np.ndarray, name: str, path: Path) -> Any:
    if array.size != 1 or array.dtype.kind not in "iufUSb":
        raise RecordError(path, f"array {name!r} should hold one number or string, holds {array.dtype} of shape "
                                f"{array.shape}")
    value = array.reshape(-1)[0].item()
    return value.decode("ascii", errors="replace") if isinstance(value, bytes) else value


# ----------------------------------------------------------------------------------------------------------- shared


def _unique_leads(leads: list[str], path: Path) -> tuple[str, ...]:
    repeated = sorted({lead for lead in leads if leads.count(lead) > 1})
    if repeated:
        raise RecordError(path, f"lead {', '.join(repeated)} is named more than once")
    return tuple(leads)


def _rate(value: object, path: Path) -> float:
    """A sampling rate in Hz from a number or text such as ``"500 Hz"``."""
    return positive_number(re.sub(r"\s*hz\s*$", "", str(value).strip(), flags=re.IGNORECASE), "sampling rate (Hz)",
                           path)


def _age(value: object, path: Path) -> float:
    """Age in years; NaN when not given or declared unknown."""
    if value is None or str(value).strip().lower() in _UNKNOWN_AGE:
        return math.nan
    try:
        age = float(str(value).strip())
    except ValueError:
        raise RecordError(path, f"age {value!r} is not a number of years") from None
    return age if math.isfinite(age) and age >= 0 else math.nan
