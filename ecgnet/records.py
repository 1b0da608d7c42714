"""Reading records: a WFDB header (``.hea``) and its signal file, either the Challenge's MATLAB ``.mat``
(variable ``val``, leads x samples; MATLAB v4 or v5) or any WFDB signal file (``.dat`` in format 16, 212,
80 and the others), read through the ``wfdb`` package.

Header parsing is our own and defensive: every header variant met in the Challenge data is read, and
anything broken raises :class:`RecordError` whose message names the file and the problem in one line.
What is plausible (sampling rate, gains, age, duration) is decided here once, in :func:`check_plausible`.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .files import read_text

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
# A Dx comment line, as _parse_comment reads one: any leading '#'s and blanks, the key "dx" in any case, ':'.
_DX_LINE = re.compile(r"^[^\S\n]*#+[^\S\n]*dx[^\S\n]*:(.*)$", re.IGNORECASE | re.MULTILINE)
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")

# What a record may plausibly hold; anything outside is refused with a message, never computed on.
#: Sampling rates, Hz: below 50 an ECG's QRS is not resolved; above 10 kHz nothing clinical is recorded.
FREQUENCY_RANGE_HZ = (50.0, 10_000.0)
#: Ages, years: outside this range an age is a typing or unit error and counts as unknown.
AGE_RANGE_YEARS = (0.0, 120.0)
#: Longest recording, seconds: Holter-length files belong to another tool; this bounds memory per record.
MAX_DURATION_SECONDS = 3600.0
#: Longest quoted excerpt of a file's content in an error message.
_QUOTE_CHARACTERS = 60


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


def lead_set_name(leads: Sequence[str]) -> str:
    """A stable key for a lead set: its standard leads, each once, in standard order, joined by commas.

    Names are compared in their standard spelling (``AVR`` is ``aVR``); non-standard names are dropped.
    """
    return ",".join(standard_leads(leads))


def closest_lead_set(wanted: str, available: Sequence[str]) -> str:
    """The lead-set key of ``available`` (comma-joined standard leads, as :func:`lead_set_name`
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


def _quote(text: str) -> str:
    """``text`` quoted for an error message, cut short: a file that is not a header (a symbolic link to
    something else) must not have its content copied into logs."""
    if len(text) > _QUOTE_CHARACTERS:
        text = text[:_QUOTE_CHARACTERS] + "..."
    return repr(text)


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
            raise RecordError(source, f"lead {lead}: baseline in gain field {_quote(token)} is not a number")
        baseline = baseline_value
    gain = parse_number(value)
    if gain is None or not math.isfinite(gain):
        raise RecordError(source, f"lead {lead}: gain {_quote(token)} is not a number")
    return gain, baseline


def _parse_signal_line(line: str, source: str, index: int) -> SignalSpec:
    """One signal line: file, format, gain[(baseline)][/units], resolution, ADC zero, ..., lead name."""
    tokens = line.split()
    if len(tokens) < 3:
        raise RecordError(source, f"signal line {index + 1} has too few fields: {_quote(line.strip())}")
    lead = canonical_lead(tokens[8]) if len(tokens) > 8 else f"signal{index + 1}"
    gain, baseline = _parse_gain(tokens[2], source, lead)
    adc_zero = 0
    if len(tokens) > 4:
        parsed = parse_number(tokens[4])
        if parsed is None or not math.isfinite(parsed):
            raise RecordError(source, f"lead {lead}: ADC zero {_quote(tokens[4])} is not a number")
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
        raise RecordError(source, f"record line needs id, leads, frequency and samples: {_quote(line.strip())}")
    num_leads = _parse_count(tokens[1], 1)
    frequency = parse_number(tokens[2].split("/")[0])
    num_samples = _parse_count(tokens[3], 0)
    if num_leads is None:
        raise RecordError(source, f"number of signals {_quote(tokens[1])} is not a positive integer")
    if frequency is None or not math.isfinite(frequency) or frequency <= 0:
        raise RecordError(source, f"sampling frequency {_quote(tokens[2])} is not a positive number")
    if num_samples is None:
        raise RecordError(source, f"number of samples {_quote(tokens[3])} is not a non-negative integer")
    return strip_record_extension(tokens[0]), num_leads, frequency, num_samples


def _parse_comment(line: str) -> tuple[str, str] | None:
    """``#Age: 74`` and ``# Age: 74`` -> ("age", "74")."""
    body = line.lstrip("#").strip()
    key, sep, value = body.partition(":")
    if not sep:
        return None
    return key.strip().lower(), value.strip()


def parse_age(text: str) -> float:
    """Age in years, NaN when unknown (``NaN``, ``Unknown``, empty, or outside :data:`AGE_RANGE_YEARS`)."""
    value = parse_number(text)
    return plausible_age(math.nan if value is None else value)


def plausible_age(age: float) -> float:
    """``age`` when it is a finite number within :data:`AGE_RANGE_YEARS`, otherwise NaN (unknown)."""
    low, high = AGE_RANGE_YEARS
    return age if math.isfinite(age) and low <= age <= high else math.nan


def parse_labels(text: str) -> tuple[str, ...]:
    """``"164889003, 59118001"`` -> the codes, blanks dropped."""
    return tuple(code.strip() for code in text.split(",") if code.strip())


def label_codes(text: str) -> tuple[str, ...]:
    """The codes of every ``Dx`` comment line of a header's text, in order (``#Dx:`` or ``# Dx:``, any case; the
    official helper reads only ``#Dx: `` lines, and all of them)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return tuple(code for value in _DX_LINE.findall(text) for code in parse_labels(value))


def read_labels(path: str | os.PathLike) -> tuple[str, ...]:
    """The label codes of a header file (:func:`label_codes`), without parsing its signal lines."""
    try:
        text = read_text(path)
    except OSError as error:
        raise RecordError(path, f"cannot read header ({error.strerror or error})") from None
    return label_codes(text)


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
        labels=label_codes("\n".join(comment_lines)),
        comments=comments,
    )


def read_header(path: str | os.PathLike) -> tuple[str, Header]:
    """The text and the parsed header of ``path``."""
    try:
        text = read_text(path)
    except OSError as error:
        raise RecordError(path, f"cannot read header ({error.strerror or error})") from None
    return text, parse_header(text, path)


def check_plausible(header: Header, source: str | os.PathLike) -> None:
    """Raise :class:`RecordError` naming ``source`` unless the header's sampling rate, gains and duration are
    within the plausible ranges of this module (the age is made unknown when implausible, at parsing)."""
    low, high = FREQUENCY_RANGE_HZ
    if not low <= header.frequency <= high:
        raise RecordError(source, f"sampling frequency {header.frequency:g} Hz is outside {low:g}-{high:g} Hz")
    for signal in header.signals:
        if not (math.isfinite(signal.gain) and signal.gain > 0):
            raise RecordError(source, f"lead {signal.lead} has ADC gain {signal.gain:g}; it must be positive")
    check_duration(header.num_samples, header.frequency, source)


def check_duration(num_samples: int, frequency: float, source: str | os.PathLike) -> None:
    """Raise :class:`RecordError` naming ``source`` when ``num_samples`` last longer than the cap."""
    if num_samples > MAX_DURATION_SECONDS * frequency:
        raise RecordError(source, f"{num_samples / frequency / 60:.0f} minutes long; records of up to "
                                  f"{MAX_DURATION_SECONDS / 60:.0f} minutes are read")


def signal_files(header_path: str | os.PathLike, header: Header) -> list[Path]:
    """The signal files a header names, each once, in the header's folder.

    A Challenge record (the header names ``.mat`` files) is read from the ``.mat`` beside the header with
    the header's own name, as the Challenge's helper reads it. Other names must be plain file names or
    paths below the header's folder: a record never makes us read a file outside it.
    """
    header_path = Path(header_path)
    names = list(dict.fromkeys(signal.file for signal in header.signals))
    if all(name.endswith(".mat") for name in names):
        return [recording_path(header_path)]
    paths = []
    for name in names:
        parts = Path(name).parts
        if Path(name).is_absolute() or ".." in parts or not parts:
            raise RecordError(header_path, f"names signal file {_quote(name)} outside its folder")
        paths.append(header_path.parent / name)
    return paths


def recording_path(header_path: str | os.PathLike) -> Path:
    """The ``.mat`` file that belongs to a Challenge header."""
    return Path(header_path).with_suffix(".mat")


def read_recording(path: str | os.PathLike, key: str = "val") -> np.ndarray:
    """The 2-D array ``key`` of a MATLAB v4 or v5 file, leads x samples, in its stored dtype."""
    path = Path(path)
    if not path.is_file():
        raise RecordError(path, "recording file is missing")
    import scipy.io  # a few tenths of a second to import: only reading signals needs it

    try:
        with open(path, "rb") as handle:  # opened here: scipy words a refused open as "Reader needs file name"
            contents = scipy.io.loadmat(handle)
    except OSError as error:
        raise RecordError(path, f"cannot read recording ({error.strerror or error})") from None
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


def read_wfdb_signals(header_path: str | os.PathLike) -> np.ndarray:
    """The digital signals (leads x samples, int64) of a WFDB record, read by the ``wfdb`` package from the
    signal files its header names (``.dat`` in any WFDB format)."""
    header_path = Path(header_path)
    try:
        with warnings.catch_warnings():  # wfdb's use of pandas warns of deprecations that are not ours to fix
            warnings.simplefilter("ignore", DeprecationWarning)
            import wfdb  # a second to import: only records in WFDB's own signal formats need it

            record = wfdb.rdrecord(str(header_path.with_suffix("")), physical=False)
    except OSError as error:
        raise RecordError(header_path, f"cannot read signal file ({error.strerror or error})") from None
    except Exception as error:  # wfdb raises many types for damaged files; report them all the same way
        raise RecordError(header_path, f"wfdb cannot read the signals ({type(error).__name__}: {error})") from None
    if record.d_signal is None:
        raise RecordError(header_path, "wfdb read no signal")
    return np.ascontiguousarray(np.asarray(record.d_signal).T)


def read_signals(header_path: str | os.PathLike, header: Header) -> tuple[np.ndarray, Path]:
    """The digital recording of a header (leads x samples, rows in header order) and the file it came from."""
    paths = signal_files(header_path, header)
    for path in paths:
        if not path.is_file():
            raise RecordError(path, "recording file is missing")
    if paths[0].suffix == ".mat" and len(paths) == 1:
        return read_recording(paths[0]), paths[0]
    return read_wfdb_signals(header_path), paths[0]


def check_recording(recording: np.ndarray, header: Header, source: str | os.PathLike) -> np.ndarray:
    """Check that a recording agrees with its header (signals, samples; a header count of 0 means unknown)
    and is not too long; return it unchanged."""
    if recording.ndim != 2:
        raise RecordError(source, f"recording has shape {recording.shape}, expected leads x samples")
    if recording.shape[0] != header.num_leads:
        raise RecordError(source, f"has {recording.shape[0]} signals but its header lists {header.num_leads}")
    if recording.shape[1] == 0:
        raise RecordError(source, "recording has 0 samples")
    if header.num_samples and recording.shape[1] != header.num_samples:
        raise RecordError(source, f"holds {recording.shape[1]} samples per signal but its header says "
                                  f"{header.num_samples}")
    check_duration(recording.shape[1], header.frequency, source)
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


def read_record(header_path: str | os.PathLike) -> Record:
    """Read a header and its recording, and check both (:func:`check_plausible`, :func:`check_recording`)."""
    header_path = Path(header_path)
    text, header = read_header(header_path)
    check_plausible(header, header_path)
    recording, source = read_signals(header_path, header)
    check_recording(recording, header, source)
    return Record(header_path=header_path, header_text=text, header=header, recording=recording)


def lead_positions(leads: Sequence[str]) -> dict[str, int]:
    """Each lead name of ``leads`` (in its standard spelling, ``AVR`` is ``aVR``) -> the row that holds it: the
    first of repeated names, as the Challenge's helper picks it."""
    positions: dict[str, int] = {}
    for row, lead in enumerate(leads):
        positions.setdefault(canonical_lead(lead), row)
    return positions


def standard_rows(leads: Sequence[str]) -> dict[int, int]:
    """Standard lead slot (the index in :data:`STANDARD_LEADS`) -> the row of ``leads`` that holds that lead
    (:func:`lead_positions`), slots in standard order; non-standard names have no slot."""
    positions = lead_positions(leads)
    return {slot: positions[lead] for slot, lead in enumerate(STANDARD_LEADS) if lead in positions}


def select_leads(recording: np.ndarray, available: Sequence[str], wanted: Sequence[str]) -> np.ndarray:
    """Rows of ``recording`` reordered to ``wanted``; a lead that is not available is all zeros.

    Lead names are compared in their standard spelling (``AVR`` is ``aVR``) on both sides.
    """
    if recording.ndim != 2 or recording.shape[0] != len(available):
        raise ValueError(f"recording of shape {recording.shape} does not have one row per lead of {available}")
    chosen = np.zeros((len(wanted), recording.shape[1]), dtype=recording.dtype)
    position = lead_positions(available)
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
    import scipy.io

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
