"""The registry of standalone ECG exports: files that hold a whole record, signals and demographics, with no
WFDB header beside them (DICOM waveforms, EDF, GE MUSE and Philips XML, declared CSV or NumPy files).

Each export format is one file of this package that registers its reader::

    @register_export("dicom", (".dcm",), "DICOM 12-lead ECG waveform", sniff=is_dicom, requires=("pydicom",))
    def read_dicom(path: Path) -> Export:
        ...  # mV, leads x samples, the standard lead names

Discovery takes the files whose suffix an export format claims; when several formats claim one suffix
(``.xml``), the first bytes of the file (``sniff``) choose between them, and a file none of them recognises is
not taken for a record (a folder's other XML or CSV files are not ECGs). A format whose library is missing is
named, with the extra that installs it, in the file's one-line reason.
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from ._base import RecordError

#: Bytes of a file's start that ``sniff`` functions see.
SNIFF_BYTES = 4096
#: Suffixes that other files share (a folder's tables, metadata, arrays): a file of one of these that no export
#: format recognises is no record, and is left alone; any other file of an export suffix is reported.
GENERIC_SUFFIXES = frozenset({".csv", ".npz", ".xml"})
#: The optional extra that installs every export format's library.
EXTRA = "formats"
#: The twelve standard leads, in their standard order and spelling.
TWELVE_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
# A lead label as vendors write it, upper case, with "LEAD", "MDC_ECG_LEAD_", "ECG" and separators taken off.
_LEAD_NOISE = re.compile(r"^(MDC_ECG_LEAD_|LEAD[\s_-]*|ECG[\s_-]*)|[\s_]+")
_LEADS_BY_KEY = {lead.upper(): lead for lead in TWELVE_LEADS}


@dataclass(frozen=True)
class Export:
    """A record read from an export: what every reader returns.

    ``signal`` is float64 millivolts, leads x samples, NaN where the file holds no sample; ``leads`` are the
    standard names where :func:`lead_name` knows the file's labels (others as the file writes them)."""

    signal: np.ndarray
    frequency: float
    leads: tuple[str, ...]
    age: float = math.nan
    sex: str = "Unknown"


Sniff = Callable[[bytes], bool]
ExportReader = Callable[[Path], Export]
R = TypeVar("R", bound=ExportReader)


@dataclass(frozen=True)
class ExportFormat:
    """A registered export format."""

    name: str
    suffixes: tuple[str, ...]
    description: str
    read: ExportReader
    sniff: Sniff
    requires: tuple[str, ...] = ()  # importable modules it needs, installed by ``pip install ecgnet[formats]``

    def missing(self) -> list[str]:
        """The modules it needs that are not installed."""
        return [module for module in self.requires if importlib.util.find_spec(module) is None]


_EXPORTS: dict[str, ExportFormat] = {}


def register_export(name: str, suffixes: Sequence[str], description: str, *, sniff: Sniff,
                    requires: Sequence[str] = ()) -> Callable[[R], R]:
    """Decorator: make ``reader(path) -> Export`` the reader of the export format ``name``, for files ending in
    one of ``suffixes`` whose first :data:`SNIFF_BYTES` bytes ``sniff`` accepts. A reader raises
    :class:`RecordError` naming the file and the problem for anything it cannot read."""
    if not suffixes or any(not re.fullmatch(r"\.[a-z0-9]+", suffix) or suffix == ".hea" for suffix in suffixes):
        raise ValueError(f"export {name!r}: suffixes are a dot and lower-case letters or digits, not .hea")
    if name in _EXPORTS:
        raise ValueError(f"export format {name!r} is already registered")

    def decorator(reader: R) -> R:
        _EXPORTS[name] = ExportFormat(name, tuple(suffixes), " ".join(description.split()), reader, sniff,
                                      tuple(requires))
        return reader

    return decorator


def unregister_export(name: str) -> None:
    """Forget the export format ``name`` (tests that register temporary formats clean up with this)."""
    del _EXPORTS[name]


def list_exports() -> list[ExportFormat]:
    """The registered export formats, by name."""
    return [_EXPORTS[name] for name in sorted(_EXPORTS)]


def export_suffixes() -> tuple[str, ...]:
    """Every suffix an export format claims, sorted."""
    return tuple(sorted({suffix for entry in _EXPORTS.values() for suffix in entry.suffixes}))


def export_for(path: str | Path) -> ExportFormat | None:
    """The export format of the file ``path``: among those claiming its suffix, the first (by name) whose sniff
    accepts its first bytes; None when none does (or the file cannot be read)."""
    path = Path(path)
    candidates = [entry for entry in list_exports() if path.suffix.lower() in entry.suffixes]
    if not candidates:
        return None
    try:
        with open(path, "rb") as file:
            start = file.read(SNIFF_BYTES)
    except OSError:
        return None
    return next((entry for entry in candidates if _sniffs(entry, start)), None)


def _sniffs(entry: ExportFormat, start: bytes) -> bool:
    try:
        return bool(entry.sniff(start))
    except Exception:  # a sniff that trips on odd bytes has not recognised the file
        return False


def read_export(path: str | Path) -> Export:
    """Read the export ``path`` with its format, and check what the reader returned. Raises
    :class:`RecordError` naming the file: no format recognises it, its format's library is missing (with the
    install command), or the reader refused it."""
    path = Path(path)
    entry = export_for(path)
    if entry is None:
        raise RecordError(path, f"not an ECG file any export format recognises ({_names(path.suffix)})")
    missing = entry.missing()
    if missing:
        raise RecordError(path, f"reading {entry.description} needs {', '.join(missing)}: pip install "
                                f"{' '.join(missing)} (every reader's library: pip install 'ecgnet[{EXTRA}]')")
    try:
        export = entry.read(path)
    except RecordError:
        raise
    except Exception as error:  # a library's own exception on a damaged file: one line naming the file
        raise RecordError(path, f"cannot read this {entry.description} file "
                                f"({type(error).__name__}: {error})") from None
    return check_export(export, path)


def _names(suffix: str) -> str:
    names = [entry.description for entry in list_exports() if suffix.lower() in entry.suffixes]
    return "looked for: " + "; ".join(names) if names else f"no export format reads {suffix} files"


def check_export(export: Export, source: str | Path) -> Export:
    """``export`` with its signal as float64, checked: leads x samples, one name per lead, at least one sample,
    a finite positive rate, no infinite value; RecordError naming ``source`` otherwise."""
    signal = np.asarray(export.signal, dtype=np.float64)
    if signal.ndim != 2 or signal.shape[0] != len(export.leads):
        raise RecordError(source, f"signal of shape {signal.shape} does not have one row per lead "
                                  f"({len(export.leads)} leads)")
    if signal.shape[1] == 0:
        raise RecordError(source, "holds no sample")
    if not (math.isfinite(export.frequency) and export.frequency > 0):
        raise RecordError(source, f"sampling rate {export.frequency!r} is not a positive number")
    if np.isinf(signal).any():
        raise RecordError(source, "holds an infinite sample value")
    return Export(signal, float(export.frequency), tuple(export.leads), export.age, export.sex)


def lead_name(label: str) -> str:
    """The standard name of a lead as a file labels it (``"Lead I"``, ``"MDC_ECG_LEAD_AVR"``, ``"v1"``,
    ``"aVF"``); the label itself, stripped, when it names no standard lead."""
    key = _LEAD_NOISE.sub("", label.strip().upper())
    return _LEADS_BY_KEY.get(key, label.strip())


def to_millivolts(values: np.ndarray, unit: str, source: str | Path) -> np.ndarray:
    """``values`` in ``unit`` (``"uV"``, ``"µV"``, ``"mV"``, ``"V"``, any case) as millivolts; RecordError
    naming ``source`` for a unit that is no voltage."""
    scale = _MILLIVOLTS_PER_UNIT.get(unit.strip().replace("\u00b5", "u").replace("\u03bc", "u").lower())
    if scale is None:
        raise RecordError(source, f"signal unit {unit!r} is not a voltage (expected uV, mV or V)")
    return np.asarray(values, dtype=np.float64) * scale


_MILLIVOLTS_PER_UNIT = {"nv": 1e-6, "uv": 1e-3, "microvolt": 1e-3, "microvolts": 1e-3, "mv": 1.0,
                        "millivolt": 1.0, "millivolts": 1.0, "v": 1e3, "volt": 1e3, "volts": 1e3}


def positive_number(text: object, what: str, source: str | Path) -> float:
    """``text`` (a number, or its text) as a finite positive float; RecordError naming ``source`` and ``what``
    it is (``"sampling rate"``) otherwise."""
    try:
        value = float(str(text).strip())
    except ValueError:
        raise RecordError(source, f"{what} {text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise RecordError(source, f"{what} {text!r} is not a positive number")
    return value


def parse_sex(text: object) -> str:
    """``Male``, ``Female`` or ``Unknown`` from the way a file writes sex (``M``, ``female``, ``1``...)."""
    word = str(text).strip().lower()
    if word in {"m", "male", "man"}:
        return "Male"
    if word in {"f", "female", "woman"}:
        return "Female"
    return "Unknown"
