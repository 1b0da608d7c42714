"""Reading records: a WFDB header (``.hea``) and its signal files, either the Challenge's MATLAB ``.mat``
(variable ``val``, leads x samples; MATLAB v4 or v5) or WFDB signal files (``.dat`` in any WFDB format, the
FLAC-compressed 508, 516 and 524 too), whose samples the ``wfdb`` package reads, as WFDB defines them (the
``header(5)`` and ``signal(5)`` pages of the WFDB Applications Guide).

Header parsing is our own and defensive: every header variant met in the Challenge data is read, and
anything broken raises :class:`RecordError` whose message names the file and the problem in one line.
What is plausible (sampling rate, gains, age, duration) is decided here once, in :func:`check_plausible`.

A recording is read as float64 digital units, one row per signal line: a sample stored as its format's "no
sample" value (:data:`INVALID_SAMPLE`), a null signal (format 0) and what a skew pushes past the record's end
are NaN, never a voltage. Gains are digital units per millivolt whatever unit the header writes.
"""

from __future__ import annotations

import math
import os
import re
import stat
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .files import FileRefused, read_text

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
#: Largest header read, bytes: a larger ``.hea`` is no header (a log, a misnamed signal file) and is refused unread.
HEADER_MAX_BYTES = 1 << 20
#: WFDB's sampling frequency when a record line gives none (DEFREQ in <wfdb/wfdb.h>).
DEFAULT_FREQUENCY_HZ = 250.0
#: The storage format of a null signal: not stored at all, read as all NaN.
NULL_FORMAT = "0"
#: Each WFDB storage format's "no sample" value (WFDB's invalid-sample markers, as ``wfdb`` lists them in
#: ``wfdb.io._signal.INVALID_SAMPLE_VALUE``; a test checks they agree): the most negative value of the format's
#: range. Format 8 stores first differences and has none.
INVALID_SAMPLE: dict[str, int | None] = {
    "8": None, "16": -(2**15), "61": -(2**15), "160": -(2**15), "80": -(2**7), "212": -(2**11), "310": -(2**9),
    "311": -(2**9), "24": -(2**23), "32": -(2**31), "508": -(2**7), "516": -(2**15), "524": -(2**23),
}  # fmt: skip
#: The WFDB storage formats a header may name.
WFDB_FORMATS = frozenset(INVALID_SAMPLE) | {NULL_FORMAT}
# FLAC-compressed formats (WFDB 10.7): a file's length is counted in samples, not bytes, and wfdb reads its "byte
# offset" as a number of samples per signal to skip.
_COMPRESSED_FORMATS = frozenset({"508", "516", "524"})
# WFDB's samples are C ints (wfdb adds up format 8 differences in int32): a larger initial value is no sample.
_SAMPLE_RANGE = (-(2**31), 2**31 - 1)
# A header's voltage unit (lower case) -> the power of ten of millivolts it is; any other unit is not an ECG lead.
_MILLIVOLT_EXPONENT = {"nv": -6, "uv": -3, "\u00b5v": -3, "\u03bcv": -3, "mv": 0, "v": 3, "kv": 6}
# Format field: format[xsamples per frame][:skew][+byte offset]; twelve digits at most, so that no field is a
# number too long to convert.
_FORMAT_FIELD = re.compile(r"(\d{1,12})(?:x(\d{1,12}))?(?::(\d{1,12}))?(?:\+(\d{1,12}))?")
# A multi-segment record's name: record/number of segments.
_MULTI_SEGMENT = re.compile(r".+/\d+")
# The source parse_header names when given none; replaced by the record's name when the text has one.
_DEFAULT_SOURCE = "<header>"


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
    """One signal line of a header, with WFDB's defaults for the fields it leaves out.

    ``gain`` is in digital units per millivolt whatever unit the header writes (``1/uV`` gives 1000, as does
    ``1000/mV``); ``units`` is the header's own unit (``mV`` when it gives none, as WFDB assumes)."""

    file: str
    lead: str
    gain: float
    baseline: float
    adc_zero: int
    fmt: str = "16"  # WFDB storage format; "0" is a null signal, stored nowhere
    samples_per_frame: int = 1
    skew: int = 0  # stored samples of the signal that precede its sample 0
    byte_offset: int = 0  # bytes before the first sample in the signal file
    units: str = "mV"
    initial_value: int | None = None  # sample 0 of a format 8 (difference) signal; None: the ADC zero
    checksum: int | None = None  # the 16-bit checksum of the stored samples, None when the header gives none


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


# Record-name prefixes of the Challenge 2021 training sources: the Challenge names each source's records with a
# prefix of its own (HR00001 is a PTB-XL record, JS00001 a Chapman-Ningbo one).
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


def _parse_integer(token: str) -> int | None:
    """An integer written in ``token`` (``-5``, ``5000`` or ``5000.0``), else None."""
    value = parse_number(token)
    if value is None or not math.isfinite(value) or value != int(value):
        return None
    return int(value)


def _parse_gain(token: str, source: str, lead: str) -> tuple[float, float | None, str]:
    """``1000/mV``, ``1000.0(0)/mV``, ``1/uV`` or ``1000`` -> (gain in digital units per mV, baseline in
    parentheses or None, the header's unit). Without a unit WFDB takes millivolts. A standard lead in a unit that
    is not a voltage (``mmHg``, ``%``) is refused: it cannot be the ECG lead its name says. Any other signal (a
    blood pressure beside the ECG) keeps its gain as written: no model reads it."""
    value, _, units = token.partition("/")
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
    exponent = _MILLIVOLT_EXPONENT.get((units or "mV").lower())
    if exponent is None and lead not in _CANONICAL_LEAD.values():
        return gain, baseline, units
    if exponent is None:
        raise RecordError(source, f"lead {lead} is in {_quote(units)}, not a voltage: only ECG leads (in nV, uV, "
                                  "mV, V or kV) are read")
    # Multiplied or divided by an exact power of ten, so that 1/uV and 1000000/V give exactly 1000.
    return (gain * 10 ** -exponent if exponent < 0 else gain / 10**exponent), baseline, units or "mV"


def _parse_format(token: str, source: str, lead: str) -> tuple[str, int, int, int]:
    """``16``, ``16+24`` or ``16x2:5+512`` -> (format, samples per frame, skew, byte offset), with WFDB's
    defaults (1, 0, 0) for those left out."""
    match = _FORMAT_FIELD.fullmatch(token)
    fmt = str(int(match.group(1))) if match else ""
    if fmt not in WFDB_FORMATS:
        raise RecordError(source, f"lead {lead}: format {_quote(token)} is not a WFDB storage format")
    spf, skew, offset = (int(text) if text else default for text, default in zip(match.groups()[1:], (1, 0, 0)))
    if spf < 1:
        raise RecordError(source, f"lead {lead}: format {_quote(token)} gives 0 samples per frame")
    return fmt, spf, skew, offset


def _integer_field(tokens: list[str], index: int, name: str, source: str, lead: str) -> int | None:
    """The integer in field ``index`` of a signal line, None when the line stops before it."""
    if len(tokens) <= index:
        return None
    value = _parse_integer(tokens[index])
    if value is None:
        raise RecordError(source, f"lead {lead}: {name} {_quote(tokens[index])} is not an integer")
    return value


def _parse_signal_line(line: str, source: str, index: int) -> SignalSpec:
    """One signal line: file, format[xspf][:skew][+offset], gain[(baseline)][/units], ADC resolution, ADC zero,
    initial value, checksum, block size, and the description (the lead's name, spaces and all).

    WFDB reads a line without a gain (or with gain 0) as an uncalibrated signal of gain 200; here it is refused
    (:func:`check_plausible` refuses gain 0): a guessed gain would give plausible but wrong voltages."""
    tokens = line.split()
    if len(tokens) < 3:
        raise RecordError(source, f"signal line {index + 1} has too few fields (no ADC gain: an uncalibrated "
                                  f"signal is not read): {_quote(line.strip())}")
    lead = canonical_lead(" ".join(tokens[8:])) if len(tokens) > 8 else f"signal{index + 1}"
    fmt, spf, skew, offset = _parse_format(tokens[1], source, lead)
    gain, baseline, units = _parse_gain(tokens[2], source, lead)
    adc_zero = _integer_field(tokens, 4, "ADC zero", source, lead) or 0
    if baseline is None:  # WFDB: without a baseline in parentheses the baseline is the ADC zero
        baseline = adc_zero
    return SignalSpec(file=tokens[0], lead=lead, gain=gain, baseline=baseline, adc_zero=adc_zero, fmt=fmt,
                      samples_per_frame=spf, skew=skew, byte_offset=offset, units=units,
                      initial_value=_integer_field(tokens, 5, "initial value", source, lead),
                      checksum=_integer_field(tokens, 6, "checksum", source, lead))


def _check_signal_groups(signals: Sequence[SignalSpec], source: str) -> None:
    """WFDB: the signals of one file are on consecutive lines and share one format and one byte offset (null
    signals, stored nowhere, do not count)."""
    seen: set[str] = set()
    previous: SignalSpec | None = None
    for signal in (s for s in signals if s.fmt != NULL_FORMAT):
        if previous is None or signal.file != previous.file:
            if signal.file in seen:
                raise RecordError(source, f"the signals of {_quote(signal.file)} are not on consecutive lines")
            seen.add(signal.file)
        elif (signal.fmt, signal.byte_offset) != (previous.fmt, previous.byte_offset):
            raise RecordError(source, f"the signals of {_quote(signal.file)} differ in format or byte offset "
                                      f"({previous.fmt}+{previous.byte_offset}, {signal.fmt}+{signal.byte_offset})")
        previous = signal


def _parse_count(token: str, minimum: int) -> int | None:
    """An integer of at least ``minimum`` written in ``token`` (``5000`` or ``5000.0``), else None."""
    value = _parse_integer(token)
    return value if value is not None and value >= minimum else None


def _parse_record_line(line: str, source: str) -> tuple[str, int, float, int]:
    """The record line, ``name[/segments] signals [frequency[/counter[(base)]] [samples [time [date]]]]`` ->
    (record id, number of signals, frequency, samples per signal). WFDB's defaults fill what is left out: 250 Hz,
    and 0 samples, which means unknown (the recording's own length counts).

    A multi-segment record (``name/3``) is refused: its signals are described in other headers (one per
    segment), a variable layout may change a lead's gain from one segment to the next, so that no single
    digital recording with one gain per lead exists, and every reader of a header here (discovery, the
    Challenge helper) reads one header as one record."""
    tokens = line.split()
    if len(tokens) < 2:
        raise RecordError(source, f"record line needs an id and a number of signals: {_quote(line.strip())}")
    if _MULTI_SEGMENT.fullmatch(tokens[0]):
        raise RecordError(source, "multi-segment records are not read")
    num_leads = _parse_count(tokens[1], 1)
    if num_leads is None:
        raise RecordError(source, f"number of signals {_quote(tokens[1])} is not a positive integer")
    frequency = parse_number(tokens[2].split("/")[0]) if len(tokens) > 2 else DEFAULT_FREQUENCY_HZ
    if frequency is None or not math.isfinite(frequency) or frequency <= 0:
        raise RecordError(source, f"sampling frequency {_quote(tokens[2])} is not a positive number")
    num_samples = _parse_count(tokens[3], 0) if len(tokens) > 3 else 0
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


def _read_header_text(path: str | os.PathLike) -> str:
    """The text of a header file: refused unread when it is larger than :data:`HEADER_MAX_BYTES` or is not a
    regular file (a named pipe called ``x.hea`` would block the reader forever)."""
    try:
        return read_text(path, max_bytes=HEADER_MAX_BYTES)
    except FileRefused as error:
        raise RecordError(path, f"header {error.strerror}") from None
    except OSError as error:
        raise RecordError(path, f"cannot read header ({error.strerror or error})") from None


def read_labels(path: str | os.PathLike) -> tuple[str, ...]:
    """The label codes of a header file (:func:`label_codes`), without parsing its signal lines."""
    return label_codes(_read_header_text(path))


def header_source(text: str) -> str:
    """What an error about a header read without a file name calls it: ``header of A0001``, from its record line
    (the first line that is neither blank nor a comment), without a ``.mat``."""
    for line in text.splitlines():
        fields = line.split()
        if fields and not fields[0].startswith("#"):
            return f"header of {strip_record_extension(fields[0])[:_QUOTE_CHARACTERS]}"
    return "header text without a record line"


def parse_header(text: str, source: str | os.PathLike = _DEFAULT_SOURCE) -> Header:
    """Parse the text of a header; raise :class:`RecordError` naming ``source`` if it is broken (without a
    ``source``, the record its record line names: ``header of A0001``)."""
    source = header_source(text) if str(source) == _DEFAULT_SOURCE else str(source)
    lines = [line for line in text.splitlines() if line.strip()]
    body = [line for line in lines if not line.lstrip().startswith("#")]
    if not body:
        raise RecordError(source, "header is empty or has no record line")
    record_id, num_leads, frequency, num_samples = _parse_record_line(body[0], source)
    if len(body) - 1 < num_leads:
        raise RecordError(source, f"header claims {num_leads} signals but lists {len(body) - 1}")
    signals = tuple(_parse_signal_line(line, source, i) for i, line in enumerate(body[1 : 1 + num_leads]))
    _check_signal_groups(signals, source)
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
    """The text and the parsed header of ``path`` (read as :func:`_read_header_text` reads it)."""
    text = _read_header_text(path)
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
    """The signal files a header names, each once, in the header's folder (null signals, format 0, name none).

    A Challenge record (the header names ``.mat`` files) is read from the ``.mat`` beside the header with
    the header's own name, as the Challenge's helper reads it. Other names must be plain file names or
    paths below the header's folder: a record never makes us read a file outside it.
    """
    header_path = Path(header_path)
    names = list(dict.fromkeys(signal.file for signal in header.signals if signal.fmt != NULL_FORMAT))
    if not names:
        raise RecordError(header_path, "has no stored signal: every signal is a null signal (format 0)")
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


def _check_signal_file(path: Path) -> int:
    """The size of the signal file ``path``; RecordError when it is missing or not a regular file (opening a
    named pipe blocks)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise RecordError(path, "recording file is missing") from None
    except OSError as error:
        raise RecordError(path, f"cannot read recording ({error.strerror or error})") from None
    if not stat.S_ISREG(info.st_mode):
        raise RecordError(path, "recording file is not a regular file")
    return info.st_size


def read_recording(path: str | os.PathLike, key: str = "val") -> np.ndarray:
    """The 2-D array ``key`` of a MATLAB v4 or v5 file, leads x samples, in its stored dtype (as the Challenge's
    helper returns it: "no sample" values are still in it; :func:`invalid_as_nan` marks them)."""
    path = Path(path)
    _check_signal_file(path)
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


@dataclass(frozen=True)
class Signals:
    """A record's digital recording, as :func:`read_signals` reads it."""

    recording: np.ndarray  # float64 digital units, leads x samples in header order; NaN where no sample is
    source: Path  # the signal file it came from (the first, when there are several)
    warnings: tuple[str, ...] = ()  # one per lead whose samples do not add up to its header's checksum


def read_signals(header_path: str | os.PathLike, header: Header) -> Signals:
    """The digital recording of a header (float64, leads x samples, rows in header order): NaN where a sample
    holds its format's "no sample" value, in null signals (format 0) and where a skew pushes a signal past the
    record's end; integer values exact otherwise. Each lead whose stored samples do not match the checksum its
    header gives adds a warning (a damaged file, or a header written for other samples), not an error."""
    paths = signal_files(header_path, header)
    if paths[0].suffix == ".mat" and len(paths) == 1:
        return _mat_signals(paths[0], header)
    return _dat_signals(Path(header_path), header, paths)


def read_wfdb_signals(header_path: str | os.PathLike) -> np.ndarray:
    """The digital recording (as :func:`read_signals` returns it) of the record whose header is
    ``header_path``, read from the signal files that header names."""
    header_path = Path(header_path)
    _, header = read_header(header_path)
    return read_signals(header_path, header).recording


def invalid_as_nan(recording: np.ndarray, header: Header) -> np.ndarray:
    """A recording as stored (one row per signal line, as the Challenge's helper loads it) in float64, with NaN
    wherever a sample holds its format's "no sample" value and in the rows of null signals (format 0). A float64
    recording with nothing to mark (one :func:`read_signals` read) is returned as it is, not copied: every
    preparation calls this, whoever read the record."""
    recording = np.asarray(recording)
    if recording.ndim != 2 or recording.shape[0] != header.num_leads:
        raise ValueError(f"recording of shape {recording.shape} does not have one row per lead of {header.leads}")
    values = _marked(recording, [signal.fmt for signal in header.signals])
    null = np.array([signal.fmt == NULL_FORMAT for signal in header.signals])
    return np.where(null[:, None], np.nan, values) if null.any() else values


def _marked(stored: np.ndarray, formats: Sequence[str]) -> np.ndarray:
    """``stored`` (one row per format) in float64, NaN where a row holds its format's "no sample" value; never
    changed in place, and not copied when it is float64 with no such value."""
    values = stored.astype(np.float64, copy=False)
    markers = np.array([_invalid(fmt) for fmt in formats], dtype=np.float64)
    hits = values == markers[:, None]  # NaN markers (formats without one) match nothing
    return np.where(hits, np.nan, values) if hits.any() else values


def _invalid(fmt: str) -> float:
    """The "no sample" value of ``fmt`` as a float, NaN when it has none."""
    marker = INVALID_SAMPLE.get(fmt)
    return math.nan if marker is None else float(marker)


def _mat_signals(path: Path, header: Header) -> Signals:
    """A Challenge ``.mat`` recording: its rows are the stored signals in header order (a null signal has
    none), and the format the header names decides which value means "no sample" (-32768 in format 16)."""
    raw = read_recording(path)
    stored = [row for row, signal in enumerate(header.signals) if signal.fmt != NULL_FORMAT]
    if raw.shape[0] != len(stored):
        raise RecordError(path, f"has {raw.shape[0]} signals but its header lists {len(stored)}")
    specs = [header.signals[row] for row in stored]
    for spec in specs:
        if spec.samples_per_frame != 1:
            raise RecordError(path, f"lead {spec.lead} has {spec.samples_per_frame} samples per frame; a MATLAB "
                                    "recording holds one")
    checks = _checksum_warnings(raw, specs) if header.num_samples and _integral(raw) else ()
    recording = np.full((header.num_leads, raw.shape[1]), np.nan)
    recording[stored] = _marked(raw, [spec.fmt for spec in specs])
    _deskew(recording, [signal.skew for signal in header.signals])
    return Signals(recording, path, checks)


def _integral(values: np.ndarray) -> bool:
    """Whether every value of ``values`` is an integer that int64 holds exactly (samples a checksum adds up)."""
    if np.issubdtype(values.dtype, np.integer):
        return True
    return bool((np.abs(values) < 2**53).all() and (values == np.round(values)).all())  # NaN fails the first


def _checksum_warnings(stored: np.ndarray, specs: Sequence[SignalSpec]) -> tuple[str, ...]:
    """A warning for each row of ``stored`` (integer samples, one row per spec) whose sum differs, modulo 2**16,
    from the checksum its spec gives."""
    sums = stored.astype(np.int64, copy=False).sum(axis=1, dtype=np.int64)
    return tuple(message for total, spec in zip(sums.tolist(), specs)
                 if (message := _checksum_warning(total, spec)) is not None)


def _checksum_warning(total: int, spec: SignalSpec) -> str | None:
    """The warning for a lead whose samples add up to ``total``, None when that matches its header's checksum
    (WFDB's checksum: the sum of the samples as a signed 16-bit number) or the header gives none."""
    if spec.checksum is None or (total - spec.checksum) % 65536 == 0:
        return None
    computed = (total + 32768) % 65536 - 32768
    return f"lead {spec.lead}: checksum {computed} in the signal file, {spec.checksum} in the header"


def _deskew(recording: np.ndarray, skews: Sequence[int]) -> None:
    """Align skewed rows in place: sample k of a signal with skew s is stored in frame k + s, and what lies
    past the record's last frame is not read (NaN), as ``wfdb`` reads a skewed record."""
    length = recording.shape[1]
    for row, skew in enumerate(skews):
        if skew:
            kept = max(length - skew, 0)
            recording[row, :kept] = recording[row, skew : skew + kept]
            recording[row, kept:] = np.nan


# What the size check before reading needs, so that a short file is named with its byte counts: the bytes of one
# sample of a byte-aligned format; for a bit-packed one, the (samples, bytes) of a whole block and the bytes the
# first 1, 2 ... samples of a block need.
_SAMPLE_BYTES = {"8": 1, "16": 2, "61": 2, "32": 4, "80": 1, "160": 2, "24": 3}
_PACKED = {"212": (2, 3, (0, 2)), "310": (3, 4, (0, 2, 4)), "311": (3, 4, (0, 2, 3))}


@dataclass(frozen=True)
class _SignalFile:
    """A signal file and the rows of the header whose samples it holds, interleaved frame by frame."""

    path: Path
    rows: tuple[int, ...]
    fmt: str
    byte_offset: int
    samples_per_frame: tuple[int, ...]  # of each row

    @property
    def frame_samples(self) -> int:
        """Samples in one frame of the file."""
        return sum(self.samples_per_frame)


def _signal_file_groups(header_path: Path, header: Header) -> list[_SignalFile]:
    """The stored signals of a header, by file (their lines are consecutive: :func:`_check_signal_groups`)."""
    groups: dict[str, list[int]] = {}
    for row, signal in enumerate(header.signals):
        if signal.fmt != NULL_FORMAT:
            groups.setdefault(signal.file, []).append(row)
    files = []
    for name, rows in groups.items():
        first = header.signals[rows[0]]
        files.append(_SignalFile(header_path.parent / name, tuple(rows), first.fmt, first.byte_offset,
                                 tuple(header.signals[row].samples_per_frame for row in rows)))
    return files


def _bytes_needed(fmt: str, count: int) -> int:
    """Bytes that ``count`` samples take in format ``fmt`` (a packed block may end part-filled)."""
    if fmt in _PACKED:
        block_samples, block_bytes, partial = _PACKED[fmt]
        return count // block_samples * block_bytes + partial[count % block_samples]
    return count * _SAMPLE_BYTES[fmt]


def _samples_held(fmt: str, size: int) -> int:
    """The most samples ``size`` bytes hold in format ``fmt``."""
    if fmt in _PACKED:
        block_samples, block_bytes, partial = _PACKED[fmt]
        whole, rest = divmod(size, block_bytes)
        return whole * block_samples + sum(1 for need in partial[1:] if need <= rest)
    return size // _SAMPLE_BYTES[fmt]


def _sample_bytes(signal_file: _SignalFile, size: int) -> int:
    """The bytes of ``signal_file`` (``size`` bytes long) after its byte offset; RecordError when the offset
    passes its end."""
    if signal_file.byte_offset > size:
        raise RecordError(signal_file.path, f"has {size} bytes, fewer than the byte offset of "
                                            f"{signal_file.byte_offset} its header gives")
    return size - signal_file.byte_offset


def _flac_frames(signal_file: _SignalFile) -> int:
    """The whole frames a FLAC signal file holds after its sample offset, from its stream header (no sample is
    decoded); RecordError when it is no FLAC file that wfdb reads for these signals."""
    import soundfile  # wfdb's own FLAC reader, which every wfdb from 4.1 on requires

    try:
        info = soundfile.info(str(signal_file.path))
    except (RuntimeError, OSError) as error:  # libsndfile's errors: RuntimeErrors whose error_string omits the path
        problem = getattr(error, "error_string", None) or error
        raise RecordError(signal_file.path, f"not a readable FLAC file ({problem})") from None
    if info.channels != len(signal_file.rows):
        raise RecordError(signal_file.path, f"holds {info.channels} FLAC channels but its header gives "
                                            f"{len(signal_file.rows)} signals")
    if len(set(signal_file.samples_per_frame)) > 1:  # one channel per signal, all at one rate
        raise RecordError(signal_file.path, "is a FLAC file whose signals have different samples per frame")
    if signal_file.byte_offset > info.frames:
        raise RecordError(signal_file.path, f"holds {info.frames} samples per signal, fewer than the sample "
                                            f"offset of {signal_file.byte_offset} its header gives")
    return (info.frames - signal_file.byte_offset) // signal_file.samples_per_frame[0]


def _frames_held(signal_file: _SignalFile, size: int) -> int:
    """The whole frames ``signal_file`` (``size`` bytes long) holds after its byte (FLAC: sample) offset."""
    if signal_file.fmt in _COMPRESSED_FORMATS:
        return _flac_frames(signal_file)
    return _samples_held(signal_file.fmt, _sample_bytes(signal_file, size)) // signal_file.frame_samples


def _common_length(header_path: Path, files: Sequence[_SignalFile], held: Sequence[int]) -> int:
    """Samples per signal when the header gives none (0 or left out): the whole frames the signal files hold
    (``held``, one count per file), which must agree."""
    if len(set(held)) > 1:
        counts = ", ".join(f"{signal_file.path.name} {count}" for signal_file, count in zip(files, held))
        raise RecordError(header_path, f"gives no sample count and its signal files hold different numbers of "
                                       f"samples ({counts})")
    return held[0]


def _check_holds(signal_file: _SignalFile, size: int, held: int, length: int) -> None:
    """RecordError naming ``signal_file`` (``size`` bytes long, ``held`` whole frames) when it holds fewer than
    ``length`` frames: checked before wfdb reads it, whose own error would not say what is missing."""
    if held >= length:
        return
    if signal_file.fmt in _COMPRESSED_FORMATS:
        raise RecordError(signal_file.path, f"holds {held} samples per signal after its sample offset; its header "
                                            f"gives {length} (is it truncated?)")
    needed = signal_file.byte_offset + _bytes_needed(signal_file.fmt, length * signal_file.frame_samples)
    signals = len(signal_file.rows)
    raise RecordError(signal_file.path, f"has {size} bytes; {length} samples of {signals} "
                                        f"signal{'s' if signals != 1 else ''} in format {signal_file.fmt} "
                                        f"need {needed} (is it truncated?)")


def _dat_signals(header_path: Path, header: Header, paths: Sequence[Path]) -> Signals:
    """A record stored in WFDB signal files (any WFDB format, FLAC-compressed ones too), read by wfdb."""
    files = _signal_file_groups(header_path, header)
    sizes = [_check_signal_file(signal_file.path) for signal_file in files]
    held = [_frames_held(signal_file, size) for signal_file, size in zip(files, sizes)]
    length = header.num_samples or _common_length(header_path, files, held)
    check_duration(length, header.frequency, header_path)  # before reading: the length may come from a file size
    for signal_file, size, count in zip(files, sizes, held):
        _check_holds(signal_file, size, count, length)
    recording = np.full((header.num_leads, length), np.nan)
    if not length:  # nothing to read; check_recording refuses it
        return Signals(recording, paths[0])
    rows = [row for row, signal in enumerate(header.signals) if signal.fmt != NULL_FORMAT]
    specs = [header.signals[row] for row in rows]
    checks = []
    for row, spec, samples in zip(rows, specs, _wfdb_samples(header_path, specs, length)):
        frames = np.asarray(samples, dtype=np.int64).reshape(length, spec.samples_per_frame)
        if header.num_samples and (message := _checksum_warning(int(frames.sum()), spec)):
            checks.append(message)  # WFDB checks checksums only when the header gives the number of samples
        recording[row] = _frame_means(frames, spec.fmt)
    _deskew(recording, [signal.skew for signal in header.signals])
    return Signals(recording, paths[0], tuple(checks))


def _wfdb_samples(header_path: Path, specs: Sequence[SignalSpec], length: int) -> list[np.ndarray]:
    """The stored samples of the signals ``specs`` (none of them null), as wfdb reads them: one integer array per
    signal, the samples of its first ``length`` frames in order, skew not applied (:func:`_deskew` aligns them,
    so that the samples a skew puts before sample 0 count in the checksum, as WFDB counts them).

    wfdb's reader of a record's signal files is given our header's fields; ``wfdb.rdrecord``, which passes it
    those of wfdb's own reading of the header, cannot read a header whose sample count is 0, cannot be told the
    length when the count is left out, fails on a null signal between the signals of one file and on signals of
    one file with different skews, and could read an odd header otherwise than :func:`parse_header` does. The
    reader's name and arguments are the same in every wfdb from 4.1 (the oldest the requirements allow) to 4.3."""
    initial = [_initial_value(spec, header_path.parent) for spec in specs]
    folder = os.path.abspath(header_path.parent)
    if "::" in folder or any("::" in spec.file for spec in specs):  # fsspec, which wfdb opens files with, splits there
        raise RecordError(header_path, "wfdb cannot open a signal file whose path contains '::'")
    count = len(specs)
    try:
        with warnings.catch_warnings():  # wfdb's use of pandas warns of deprecations that are not ours to fix
            warnings.simplefilter("ignore", DeprecationWarning)
            from wfdb.io import _signal  # a second to import: only records in WFDB signal files need it

            return _signal._rd_segment(
                file_name=[spec.file for spec in specs], dir_name=folder, pn_dir=None,
                fmt=[spec.fmt for spec in specs], n_sig=count, sig_len=length,
                byte_offset=[spec.byte_offset for spec in specs],
                samps_per_frame=[spec.samples_per_frame for spec in specs], skew=[0] * count, init_value=initial,
                sampfrom=0, sampto=length, channels=list(range(count)), ignore_skew=True)
    except OSError as error:
        raise RecordError(header_path, f"cannot read signal file ({error.strerror or error})") from None
    except Exception as error:  # wfdb raises many types for damaged files; report them all the same way
        raise RecordError(header_path, f"wfdb cannot read the signals ({type(error).__name__}: {error})") from None


def _initial_value(spec: SignalSpec, folder: Path) -> int:
    """Sample 0 of a format 8 (difference) signal: its header's initial value, else its ADC zero (WFDB's default;
    wfdb would take 0). RecordError naming its signal file (in ``folder``) when it is outside WFDB's sample range."""
    initial = spec.adc_zero if spec.initial_value is None else spec.initial_value
    low, high = _SAMPLE_RANGE
    if spec.fmt == "8" and not low <= initial <= high:
        raise RecordError(folder / spec.file, f"lead {spec.lead}: initial value {initial} is out of range")
    return initial


def _frame_means(samples: np.ndarray, fmt: str) -> np.ndarray:
    """One value per frame of a signal's ``samples`` (frames x samples per frame), NaN for a "no sample": the
    sample itself at one per frame, else the frame's mean (as ``wfdb`` smooths frames, but not rounded), NaN
    when any sample of the frame is missing."""
    values = _marked(samples.T, [fmt] * samples.shape[1])
    return values[0] if values.shape[0] == 1 else values.mean(axis=0)


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
    """A header with its digital recording (float64, leads in header order, NaN where no sample is)."""

    header_path: Path
    header_text: str
    header: Header
    recording: np.ndarray
    warnings: tuple[str, ...] = ()  # what is odd but not fatal: a lead whose checksum does not match

    @property
    def record_id(self) -> str:
        """The record id, from the header's file name."""
        return self.header_path.stem


def read_record(header_path: str | os.PathLike) -> Record:
    """Read a header and its recording, and check both (:func:`check_plausible`, :func:`check_recording`)."""
    header_path = Path(header_path)
    text, header = read_header(header_path)
    check_plausible(header, header_path)
    signals = read_signals(header_path, header)
    check_recording(signals.recording, header, signals.source)
    return Record(header_path=header_path, header_text=text, header=header, recording=signals.recording,
                  warnings=signals.warnings)


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
    Challenge data, clipped to -32767..32767. A NaN is stored as -32768, format 16's "no sample" value: a
    missing sample, read back as NaN; no voltage, however low, is ever stored as it.
    """
    import scipy.io

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    scaled = np.asarray(signal, dtype=np.float64) * gain
    missing = np.isnan(scaled)
    digital = np.clip(np.round(np.where(missing, 0.0, scaled)), -32767, 32767).astype(np.int16)
    digital[missing] = INVALID_SAMPLE["16"]
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
