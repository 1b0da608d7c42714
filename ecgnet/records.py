"""Reading records: a WFDB header (``.hea``) and the signal files it names, each read by the signal-file
format registered for its suffix (:mod:`ecgnet.formats`: the Challenge's MATLAB ``.mat`` in
:mod:`ecgnet.formats.matlab`, WFDB signal files, ``.dat`` and FLAC, in :mod:`ecgnet.formats.wfdb`). The formats
sit below this module and never import it; the names they share with it (:class:`Header`, :class:`SignalSpec`,
:class:`RecordError`, :class:`Signals`, :data:`INVALID_SAMPLE`, :func:`check_duration`, ...) and
:func:`read_recording` are re-exported here, so that the rest of the package imports them from this module.

Header parsing is our own and defensive: every header variant met in the Challenge data is read, and
anything broken raises :class:`RecordError` whose message names the file and the problem in one line.
What is plausible (sampling rate, gains, age, duration) is decided here once, in :func:`check_plausible` (the
duration cap, :data:`MAX_DURATION_SECONDS`, lives with the formats, which check a length before reading it).

A recording is read as float64 digital units, one row per signal line: a sample stored as its format's "no
sample" value (:data:`INVALID_SAMPLE`), a null signal (format 0) and what a skew pushes past the record's end
are NaN, never a voltage. Gains are digital units per millivolt whatever unit the header writes.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .files import FileRefused, read_text
from .formats import (
    INVALID_SAMPLE,
    NULL_FORMAT,
    Export,
    Header,
    RecordError,
    Signals,
    SignalSpec,
    check_duration,
    export_suffixes,
    format_for,
    mark_invalid,
    read_export,
    signal_suffixes,
)
from .formats import MAX_DURATION_SECONDS as MAX_DURATION_SECONDS  # re-exported, with read_recording
from .formats.matlab import read_recording as read_recording

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
_HEADER_EXTENSION = ".hea"
#: Digital units per mV of an export's record: a microvolt each, as the Challenge's records store them.
EXPORT_GAIN = 1000.0
# A Dx comment line, as _parse_comment reads one: any leading '#'s and blanks, the key "dx" in any case, ':'.
_DX_LINE = re.compile(r"^[^\S\n]*#+[^\S\n]*dx[^\S\n]*:(.*)$", re.IGNORECASE | re.MULTILINE)
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")

# What a record may plausibly hold; anything outside is refused with a message, never computed on.
#: Sampling rates, Hz: below 50 an ECG's QRS is not resolved; above 10 kHz nothing clinical is recorded.
FREQUENCY_RANGE_HZ = (50.0, 10_000.0)
#: Ages, years: outside this range an age is a typing or unit error and counts as unknown.
AGE_RANGE_YEARS = (0.0, 120.0)
#: Longest quoted excerpt of a file's content in an error message.
_QUOTE_CHARACTERS = 60
#: Largest header read, bytes: a larger ``.hea`` is no header (a log, a misnamed signal file) and is refused unread.
HEADER_MAX_BYTES = 1 << 20
#: WFDB's sampling frequency when a record line gives none (DEFREQ in <wfdb/wfdb.h>).
DEFAULT_FREQUENCY_HZ = 250.0
#: The WFDB storage formats a header may name.
WFDB_FORMATS = frozenset(INVALID_SAMPLE) | {NULL_FORMAT}
# A header's voltage unit (lower case) -> the power of ten of millivolts it is; any other unit is not an ECG lead.
_MILLIVOLT_EXPONENT = {"nv": -6, "uv": -3, "\u00b5v": -3, "\u03bcv": -3, "mv": 0, "v": 3, "kv": 6}
# Format field: format[xsamples per frame][:skew][+byte offset]; twelve digits at most, so that no field is a
# number too long to convert.
_FORMAT_FIELD = re.compile(r"(\d{1,12})(?:x(\d{1,12}))?(?::(\d{1,12}))?(?:\+(\d{1,12}))?")
# A multi-segment record's name: record/number of segments.
_MULTI_SEGMENT = re.compile(r".+/\d+")
# The source parse_header names when given none; replaced by the record's name when the text has one.
_DEFAULT_SOURCE = "<header>"


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


@dataclass(frozen=True)
class LeadSet(Sequence[str]):
    """A set of standard leads, each once, in standard order: what a record is read with, and what a model's
    thresholds, stacks and calibrations are tuned for. It is a sequence of lead names wherever one is taken;
    ``str()`` gives its name (the leads joined by commas), the key of model.json's and out_of_fold.npz's
    per-lead-set entries."""

    leads: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "leads", standard_leads(self.leads))

    @classmethod
    def of(cls, leads: LeadSet | Sequence[str] | str) -> LeadSet:
        """The lead set of lead names in any order and spelling, or of a name (leads joined by commas)."""
        if isinstance(leads, LeadSet):
            return leads
        return cls(tuple(leads.split(",") if isinstance(leads, str) else leads))

    @property
    def name(self) -> str:
        return ",".join(self.leads)

    def closest(self, available: Sequence[str]) -> str:
        """The name in ``available`` most like this set (:func:`closest_lead_set`)."""
        return closest_lead_set(self.name, available)

    def __str__(self) -> str:
        return self.name

    def __len__(self) -> int:
        return len(self.leads)

    def __getitem__(self, index):  # a lead, or a slice of them as a tuple
        return self.leads[index]


#: The Challenge's names of its lead sets, as its reduced-lead test folders are named (``six_leads``).
LEAD_SET_WORDS: dict[str, int] = {"twelve": 12, "six": 6, "four": 4, "three": 3, "two": 2}


def parse_lead_set(text: str) -> LeadSet:
    """The lead set a user names: the Challenge's word for it (``six``, or its folder's name ``six_leads``), its
    size (``6``) or its leads separated by commas (``I,II,V2``, in any order and spelling). ValueError naming
    the choices otherwise, so that a typo is never read as a set of no lead."""
    word = text.strip().lower().removesuffix("_leads")
    if word in LEAD_SET_WORDS or (word.isdigit() and int(word) in LEAD_SETS):
        return LeadSet(LEAD_SETS[LEAD_SET_WORDS.get(word) or int(word)])
    names = [canonical_lead(lead) for lead in text.split(",") if lead.strip()]
    unknown = [lead for lead in names if lead not in STANDARD_LEADS]
    if not names or unknown:
        raise ValueError(f"{text!r} is not a lead set: give {', '.join(LEAD_SET_WORDS)}, or leads separated by "
                         f"commas from {', '.join(STANDARD_LEADS)}")
    return LeadSet(tuple(names))


def lead_set_words(leads: Sequence[str]) -> str:
    """How a message names a lead set: ``six leads (I, II, III, aVR, aVL, aVF)``, or its leads alone when the
    Challenge has no word for it."""
    chosen = standard_leads(leads)
    word = next((word for word, size in LEAD_SET_WORDS.items() if LEAD_SETS[size] == chosen), None)
    listed = ", ".join(chosen)
    return f"{word} leads ({listed})" if word else f"the leads {listed}"


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
    """``E00009.mat`` -> ``E00009``: some headers name the record by its file (a header's or a registered
    signal-file format's, :func:`ecgnet.formats.signal_suffixes`)."""
    for extension in (_HEADER_EXTENSION, *signal_suffixes()):
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
    """The text and the parsed header of ``path`` (read as :func:`_read_header_text` reads it); for an export,
    the header made from the file (:func:`export_header`), which reads the whole file."""
    if is_export(path):
        record = _read_export_record(Path(path))
        return record.header_text, record.header
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


def read_signals(header_path: str | os.PathLike, header: Header) -> Signals:
    """The digital recording of a header (float64, leads x samples, rows in header order): NaN where a sample
    holds its format's "no sample" value, in null signals (format 0) and where a skew pushes a signal past the
    record's end; integer values exact otherwise. Each lead whose stored samples do not match the checksum its
    header gives adds a warning (a damaged file, or a header written for other samples), not an error.

    The files are read by the format of their suffix (:func:`ecgnet.formats.format_for`: that all of them share,
    else WFDB signal files, which may bear any name)."""
    paths = signal_files(header_path, header)
    file_format = format_for(paths)
    if file_format is None:
        raise RecordError(header_path, f"names signal files of no known format "
                                       f"({', '.join(_quote(path.name) for path in paths)})")
    return file_format.read(Path(header_path), header, paths)


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
    values = mark_invalid(recording, [signal.fmt for signal in header.signals])
    null = np.array([signal.fmt == NULL_FORMAT for signal in header.signals])
    return np.where(null[:, None], np.nan, values) if null.any() else values


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


def is_export(path: str | os.PathLike) -> bool:
    """Whether ``path`` is read as a standalone export (its suffix, in any case, is one an export format of
    :mod:`ecgnet.formats` claims and no signal-file format does: a registered signal-file format comes first)
    rather than as a WFDB header or signal file."""
    suffix = Path(path).suffix.lower()
    return suffix != _HEADER_EXTENSION and suffix in export_suffixes() and suffix not in signal_suffixes()


def export_header(path: str | os.PathLike, export: Export) -> tuple[str, Header]:
    """The header text and parsed header of an export's record, as :func:`write_record` would write them for
    its signal (gain :data:`EXPORT_GAIN` per mV, baseline 0, checksums of the samples rounded so), naming the
    export file itself as its signal file."""
    path = Path(path)
    text = challenge_header_text(path.stem, path.name, export.leads, export.frequency, EXPORT_GAIN,
                                 challenge_digital(export.signal, EXPORT_GAIN), export.age, export.sex)
    return text, parse_header(text, path)


def _read_export_record(path: Path) -> Record:
    """The record of the export ``path``: its signal in digital units of :data:`EXPORT_GAIN` per mV, unrounded."""
    export = read_export(path)
    text, header = export_header(path, export)
    check_plausible(header, path)
    return Record(path, text, header, check_recording(export.signal * EXPORT_GAIN, header, path))


def read_record(header_path: str | os.PathLike) -> Record:
    """Read a header and its recording, and check both (:func:`check_plausible`, :func:`check_recording`).
    An export (:func:`is_export`: a DICOM, EDF, XML, CSV or NumPy ECG) is a record by itself: its header is
    made from what it holds (:func:`export_header`)."""
    header_path = Path(header_path)
    if is_export(header_path):
        return _read_export_record(header_path)
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
    digital = challenge_digital(signal, gain)
    if digital.ndim != 2 or digital.shape[0] != len(leads):
        raise ValueError(f"{record_id}: signal shape {digital.shape} does not match {len(leads)} leads")
    scipy.io.savemat(directory / f"{record_id}.mat", {"val": digital}, format="4")
    header_path = directory / f"{record_id}.hea"
    text = challenge_header_text(record_id, f"{record_id}.mat", leads, frequency, gain, digital, age, sex, labels)
    header_path.write_text(text)
    return header_path


def challenge_digital(signal: np.ndarray, gain: float = 1000.0) -> np.ndarray:
    """``signal`` (mV, leads x samples) as a Challenge record stores it: int16 ``round(signal * gain)``, clipped
    to -32767..32767, NaN as -32768 (format 16's "no sample" value, which no voltage is ever stored as)."""
    scaled = np.asarray(signal, dtype=np.float64) * gain
    missing = np.isnan(scaled)
    digital = np.clip(np.round(np.where(missing, 0.0, scaled)), -32767, 32767).astype(np.int16)
    digital[missing] = INVALID_SAMPLE["16"]
    return digital


def challenge_header_text(record_id: str, file_name: str, leads: Sequence[str], frequency: float, gain: float,
                          digital: np.ndarray, age: float | None = None, sex: str | None = None,
                          labels: Sequence[str] = ()) -> str:
    """The text of a Challenge header for the stored samples ``digital`` (int16, leads x samples): format 16 at
    ``gain`` per mV, baseline 0, in ``file_name``, each line with its first sample and checksum."""
    lines = [f"{record_id} {len(leads)} {frequency:g} {digital.shape[1]}"]
    for row, lead in enumerate(leads):
        checksum = int(np.sum(digital[row], dtype=np.int64)) % 65536
        checksum = checksum - 65536 if checksum >= 32768 else checksum
        first = int(digital[row][0]) if digital[row].size else 0
        lines.append(f"{file_name} 16+24 {gain:g}/mV 16 0 {first} {checksum} 0 {lead}")
    age_text = "NaN" if age is None or not math.isfinite(age) else f"{age:g}"
    lines += [f"#Age: {age_text}", f"#Sex: {sex or 'Unknown'}", f"#Dx: {','.join(labels)}"]
    lines += ["#Rx: Unknown", "#Hx: Unknown", "#Sx: Unknown"]
    return "\n".join(lines) + "\n"
