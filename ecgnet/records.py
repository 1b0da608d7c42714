"""Reading and writing records in the Challenge format: a WFDB-style header (``.hea``) and a MATLAB v4
``.mat`` file whose variable ``val`` holds the digital signal, leads x samples.

Parsing is defensive: every header variant met in the Challenge data is read correctly, and anything
broken raises :class:`RecordError` whose message names the file and the problem in one line.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.io

STANDARD_LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
LEAD_SETS: dict[int, tuple[str, ...]] = {
    12: STANDARD_LEADS,
    6: ("I", "II", "III", "aVR", "aVL", "aVF"),
    4: ("I", "II", "III", "V2"),
    3: ("I", "II", "V2"),
    2: ("I", "II"),
}
#: The lead sets a model is tuned and scored on, 12 leads first.
EVALUATED_LEAD_SETS: tuple[tuple[str, ...], ...] = tuple(LEAD_SETS[n] for n in (12, 6, 4, 3, 2))
_CANONICAL_LEAD = {lead.upper(): lead for lead in STANDARD_LEADS}
_RECORD_EXTENSIONS = (".mat", ".hea", ".dat")
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


class RecordError(ValueError):
    """A header or recording that cannot be used; the message names the file and the problem."""

    def __init__(self, source: str | os.PathLike, problem: str):
        self.source = str(source)
        self.problem = " ".join(str(problem).split())  # always one line, whatever a library said
        super().__init__(f"{self.source}: {self.problem}")

    def __reduce__(self):
        # Rebuilt from its two parts when it crosses a process boundary (DataLoader and joblib workers).
        return type(self), (self.source, self.problem)


@dataclass(frozen=True)
class SignalSpec:
    """One signal line of a header."""

    file: str
    lead: str
    gain: float
    baseline: float
    adc_zero: int


@dataclass(frozen=True)
class Header:
    """A parsed header. ``age`` is NaN when unknown; ``sex`` is the header's own text."""

    record_id: str
    frequency: float
    num_samples: int
    signals: tuple[SignalSpec, ...]
    age: float = math.nan
    sex: str = "Unknown"
    labels: tuple[str, ...] = ()
    comments: dict[str, str] = field(default_factory=dict)

    @property
    def leads(self) -> tuple[str, ...]:
        """Lead names in header order."""
        return tuple(s.lead for s in self.signals)

    @property
    def num_leads(self) -> int:
        """Number of signal lines."""
        return len(self.signals)

    @property
    def gains(self) -> np.ndarray:
        """ADC gain of each signal (digital units per mV), header order."""
        return np.array([s.gain for s in self.signals], dtype=np.float64)

    @property
    def baselines(self) -> np.ndarray:
        """Baseline of each signal (digital units), header order."""
        return np.array([s.baseline for s in self.signals], dtype=np.float64)


# Record-name prefixes of the Challenge's sources (DESIGN.md section 4).
_SOURCE_PREFIXES = (("HR", "PTB-XL"), ("JS", "Chapman-Ningbo"), ("A", "CPSC"), ("Q", "CPSC-Extra"),
                    ("I", "INCART"), ("S", "PTB"), ("E", "Georgia"))


def source_of(record_id: str) -> str:
    """The data source of a record, from its name prefix (``HR00001`` -> ``PTB-XL``)."""
    letters = re.match(r"[A-Za-z]*", record_id).group(0).upper()
    for prefix, source in _SOURCE_PREFIXES:
        if letters == prefix:
            return source
    return "other"

def canonical_lead(name: str) -> str:
    """The standard spelling of a lead name (``AVR`` -> ``aVR``); other names are returned stripped."""
    name = name.strip()
    return _CANONICAL_LEAD.get(name.upper(), name)


def standard_leads(leads: Sequence[str]) -> tuple[str, ...]:
    """The standard leads among ``leads``, each once, in the standard order (``AVR`` counts as ``aVR``;
    non-standard names are dropped)."""
    present = {canonical_lead(lead) for lead in leads}
    return tuple(lead for lead in STANDARD_LEADS if lead in present)


def closest_lead_set(wanted: str, available: Sequence[str]) -> str:
    """The lead-set key of ``available`` (comma-joined standard leads, as :func:`ecgnet.data.lead_set_name`
    writes them) most like ``wanted``, by the Jaccard index of their leads: a model serves a lead set it was
    not tuned for with what it learnt for the most similar one. ValueError when ``available`` is empty."""
    if not available:
        raise ValueError("no lead set to choose from")
    leads = set(wanted.split(","))

    def similarity(key: str) -> float:
        other = set(key.split(","))
        return len(leads & other) / len(leads | other)

    return wanted if wanted in available else max(available, key=similarity)


def strip_record_extension(name: str) -> str:
    """``E00009.mat`` -> ``E00009``: some headers name the record by its file."""
    for extension in _RECORD_EXTENSIONS:
        if name.lower().endswith(extension):
            return name[: -len(extension)]
    return name


def parse_number(text: str) -> float | None:
    """A finite or non-finite float from ``text``, or None if it is not a number."""
    text = text.strip()
    if _NUMBER_RE.match(text) or text.lower() in ("nan", "inf", "+inf", "-inf"):
        return float(text)
    return None


def _parse_gain(token: str, source: str, lead: str) -> tuple[float, float | None]:
    """``1000/mV``, ``1000.0(0)/mV`` or ``1000`` -> (gain, baseline in parentheses or None)."""
    value = token.split("/")[0]
    baseline = None
    if "(" in value:
        value, _, rest = value.partition("(")
        baseline_value = parse_number(rest.rstrip(")"))
        if baseline_value is None or not math.isfinite(baseline_value):
            raise RecordError(source, f"lead {lead}: baseline in gain field {token!r} is not a number")
        baseline = baseline_value
    gain = parse_number(value)
    if gain is None or not math.isfinite(gain):
        raise RecordError(source, f"lead {lead}: gain {token!r} is not a number")
    return gain, baseline


def _parse_signal_line(line: str, source: str, index: int) -> SignalSpec:
    """One signal line: file, format, gain[(baseline)][/units], resolution, ADC zero, ..., lead name."""
    tokens = line.split()
    if len(tokens) < 3:
        raise RecordError(source, f"signal line {index + 1} has too few fields: {line.strip()!r}")
    lead = canonical_lead(tokens[8]) if len(tokens) > 8 else f"signal{index + 1}"
    gain, baseline = _parse_gain(tokens[2], source, lead)
    adc_zero = 0
    if len(tokens) > 4:
        parsed = parse_number(tokens[4])
        if parsed is None or not math.isfinite(parsed):
            raise RecordError(source, f"lead {lead}: ADC zero {tokens[4]!r} is not a number")
        adc_zero = int(parsed)
    if baseline is None:  # WFDB: without a baseline in parentheses the baseline is the ADC zero
        baseline = adc_zero
    return SignalSpec(file=tokens[0], lead=lead, gain=gain, baseline=baseline, adc_zero=adc_zero)


def _parse_count(token: str, minimum: int) -> int | None:
    """An integer of at least ``minimum`` written in ``token`` (``5000`` or ``5000.0``), else None."""
    value = parse_number(token)
    if value is None or not math.isfinite(value) or value != int(value) or value < minimum:
        return None
    return int(value)


def _parse_record_line(line: str, source: str) -> tuple[str, int, float, int]:
    """The record line -> (record id, number of signals, frequency, samples per signal)."""
    tokens = line.split()
    if len(tokens) < 4:
        raise RecordError(source, f"record line needs id, leads, frequency and samples: {line.strip()!r}")
    num_leads = _parse_count(tokens[1], 1)
    frequency = parse_number(tokens[2].split("/")[0])
    num_samples = _parse_count(tokens[3], 0)
    if num_leads is None:
        raise RecordError(source, f"number of signals {tokens[1]!r} is not a positive integer")
    if frequency is None or not math.isfinite(frequency) or frequency <= 0:
        raise RecordError(source, f"sampling frequency {tokens[2]!r} is not a positive number")
    if num_samples is None:
        raise RecordError(source, f"number of samples {tokens[3]!r} is not a non-negative integer")
    return strip_record_extension(tokens[0]), num_leads, frequency, num_samples


def _parse_comment(line: str) -> tuple[str, str] | None:
    """``#Age: 74`` and ``# Age: 74`` -> ("age", "74")."""
    body = line.lstrip("#").strip()
    key, sep, value = body.partition(":")
    if not sep:
        return None
    return key.strip().lower(), value.strip()


def parse_age(text: str) -> float:
    """Age in years, NaN when unknown (``NaN``, ``Unknown``, empty, negative)."""
    value = parse_number(text)
    if value is None or not math.isfinite(value) or value < 0:
        return math.nan
    return value


def parse_labels(text: str) -> tuple[str, ...]:
    """``"164889003, 59118001"`` -> the codes, blanks dropped."""
    return tuple(code.strip() for code in text.split(",") if code.strip())


def parse_header(text: str, source: str | os.PathLike = "<header>") -> Header:
    """Parse the text of a header; raise :class:`RecordError` naming ``source`` if it is broken."""
    source = str(source)
    lines = [line for line in text.splitlines() if line.strip()]
    body = [line for line in lines if not line.lstrip().startswith("#")]
    if not body:
        raise RecordError(source, "header is empty or has no record line")
    record_id, num_leads, frequency, num_samples = _parse_record_line(body[0], source)
    if len(body) - 1 < num_leads:
        raise RecordError(source, f"header claims {num_leads} signals but lists {len(body) - 1}")
    signals = tuple(_parse_signal_line(line, source, i) for i, line in enumerate(body[1 : 1 + num_leads]))
    comment_lines = [line for line in lines if line.lstrip().startswith("#")]
    comments = dict(c for c in map(_parse_comment, comment_lines) if c is not None)
    return Header(
        record_id=record_id,
        frequency=frequency,
        num_samples=num_samples,
        signals=signals,
        age=parse_age(comments.get("age", "")),
        sex=comments.get("sex", "Unknown") or "Unknown",
        labels=parse_labels(comments.get("dx", "")),
        comments=comments,
    )


def read_header(path: str | os.PathLike) -> tuple[str, Header]:
    """The text and the parsed header of ``path``."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as error:
        raise RecordError(path, f"cannot read header ({error.strerror or error})") from None
    return text, parse_header(text, path)


def recording_path(header_path: str | os.PathLike) -> Path:
    """The ``.mat`` file that belongs to a header."""
    return Path(header_path).with_suffix(".mat")


def read_recording(path: str | os.PathLike, key: str = "val") -> np.ndarray:
    """The 2-D array ``key`` of a MATLAB file, leads x samples, in its stored dtype."""
    path = Path(path)
    if not path.is_file():
        raise RecordError(path, "recording file is missing")
    try:
        contents = scipy.io.loadmat(path)
    except Exception as error:  # scipy raises many types for damaged files; report them all the same way
        raise RecordError(path, f"not a readable MATLAB file ({type(error).__name__}: {error})") from None
    if key not in contents:
        raise RecordError(path, f"has no variable {key!r}")
    array = np.asarray(contents[key])
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise RecordError(path, f"variable {key!r} holds {array.dtype} values, not numbers")
    if array.ndim != 2:
        raise RecordError(path, f"variable {key!r} has shape {array.shape}, expected leads x samples")
    return array


def check_recording(recording: np.ndarray, header: Header, source: str | os.PathLike) -> np.ndarray:
    """Check that a recording agrees with its header; return it unchanged."""
    if recording.shape[0] != header.num_leads:
        raise RecordError(source, f"has {recording.shape[0]} signals but its header lists {header.num_leads}")
    if recording.shape[1] == 0:
        raise RecordError(source, "recording has 0 samples")
    return recording


@dataclass(frozen=True)
class Record:
    """A header with its digital recording (leads in header order)."""

    header_path: Path
    header_text: str
    header: Header
    recording: np.ndarray

    @property
    def record_id(self) -> str:
        """The record id, from the header's file name."""
        return self.header_path.stem


def read_record(header_path: str | os.PathLike, key: str = "val") -> Record:
    """Read and check a header and its recording."""
    header_path = Path(header_path)
    text, header = read_header(header_path)
    mat_path = recording_path(header_path)
    recording = check_recording(read_recording(mat_path, key), header, mat_path)
    return Record(header_path=header_path, header_text=text, header=header, recording=recording)


def find_header_files(directory: str | os.PathLike, recursive: bool = False) -> list[Path]:
    """Every ``.hea`` file in ``directory`` (and below it when ``recursive``), sorted by path."""
    directory = Path(directory)
    if not directory.is_dir():
        raise RecordError(directory, "is not a directory")
    pattern = "**/*.hea" if recursive else "*.hea"
    return sorted(p for p in directory.glob(pattern) if p.is_file() and not p.name.startswith("."))


def select_leads(recording: np.ndarray, available: Sequence[str], wanted: Sequence[str]) -> np.ndarray:
    """Rows of ``recording`` reordered to ``wanted``; a lead that is not available is all zeros.

    Lead names are compared in their standard spelling (``AVR`` is ``aVR``) on both sides.
    """
    if recording.ndim != 2 or recording.shape[0] != len(available):
        raise ValueError(f"recording of shape {recording.shape} does not have one row per lead of {available}")
    chosen = np.zeros((len(wanted), recording.shape[1]), dtype=recording.dtype)
    position: dict[str, int] = {}
    for i, lead in enumerate(available):
        position.setdefault(canonical_lead(lead), i)  # the first of repeated names, as the official helper
    for i, lead in enumerate(wanted):
        j = position.get(canonical_lead(lead))
        if j is not None:
            chosen[i] = recording[j]
    return chosen


def write_record(
    directory: str | os.PathLike,
    record_id: str,
    signal: np.ndarray,
    frequency: float,
    leads: Sequence[str] = STANDARD_LEADS,
    gain: float = 1000.0,
    age: float | None = None,
    sex: str | None = None,
    labels: Sequence[str] = (),
) -> Path:
    """Write ``signal`` (physical units, mV, leads x samples) as a Challenge record; return the header path.

    The signal is stored as int16 digital units ``round(signal * gain)`` with baseline 0, as in the
    Challenge data.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    digital = np.clip(np.round(np.asarray(signal, dtype=np.float64) * gain), -32768, 32767).astype(np.int16)
    if digital.ndim != 2 or digital.shape[0] != len(leads):
        raise ValueError(f"{record_id}: signal shape {digital.shape} does not match {len(leads)} leads")
    scipy.io.savemat(directory / f"{record_id}.mat", {"val": digital}, format="4")
    frequency_text = f"{frequency:g}"
    lines = [f"{record_id} {len(leads)} {frequency_text} {digital.shape[1]}"]
    for lead, row in zip(leads, digital):
        checksum = int(np.sum(row, dtype=np.int64)) % 65536
        checksum = checksum - 65536 if checksum >= 32768 else checksum
        first = int(row[0]) if row.size else 0
        lines.append(f"{record_id}.mat 16+24 {gain:g}/mV 16 0 {first} {checksum} 0 {lead}")
    age_text = "NaN" if age is None or not math.isfinite(age) else f"{age:g}"
    lines += [f"#Age: {age_text}", f"#Sex: {sex or 'Unknown'}", f"#Dx: {','.join(labels)}"]
    lines += ["#Rx: Unknown", "#Hx: Unknown", "#Sx: Unknown"]
    header_path = directory / f"{record_id}.hea"
    header_path.write_text("\n".join(lines) + "\n")
    return header_path
