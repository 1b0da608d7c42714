"""A corpus of malformed inputs, generated on demand: one small function per kind of damage.

Every category writes its bad record (or files, or folders) into a given folder and returns the record
names (file stems) that a run must report as failures. The names are the categories' own, so any number
of categories can share one folder. :data:`CATEGORIES` lists them all; :data:`FOLDER_ONLY` names those
whose files are each fine alone and only a scan of the folder can see the problem (a dot file, a name
with a newline, a duplicate id, ...), so the per-record entry points have nothing to reject there.

Good records come from :func:`write_good_records`: Challenge-format records (``.hea`` + MATLAB v4
``.mat``), WFDB records (``.hea`` + ``.dat`` in formats 16, 212 and 80) at 100 to 1000 Hz, one record
stored as ``.dat`` in one folder and as ``.mat`` in another, a nested subfolder, and the "odd but good"
records of :data:`ODD_BUT_GOOD`, each beside a reference record whose output it must equal.

Where "bad" and "odd but good" cannot say what a run must do, a registry of its own says it:

* :data:`WARNED`: the record runs, gives its reference's output, and a warning row names it in failures.csv.
* :data:`READ_OR_REFUSED`: either its reference's output, or a failure row naming it and no output.
* :data:`OWN_RUN`: records named like the run's own files (``failures``, ``details``) or with the longest
  ids, each run in a folder of its own (one that stops a run must not hide the others): its reference's
  output (or, for those of :data:`REFUSABLE`, a failure row), and the run's own tables intact.
* :data:`RERUNS`: a good record, then damaged: a second run into the same OUTPUTS must report it and leave
  no output of it behind.
* :data:`HAZARDS`: files a careless reader waits on for ever (named pipes): a run must finish, reporting them.
* :data:`API_REFUSALS` and :data:`API_READS`: calls of the Challenge's Python API (helper_code, team_code)
  with arguments of the wrong kind, which must be refused naming the argument, or that must read a record.
* :data:`MODEL_DAMAGE`: damage to a copy of a model folder, which loading must refuse in one line.

WFDB's invalid-sample value (format 16: -32768, 212: -2048, 80: -128; also in a Challenge ``.mat``, whose
header says format 16) is a missing sample, as NaN is in a float ``.mat``: the references of the records
with missing samples hold NaN where their record holds the invalid value, and a lead that is mostly
missing, or has a long gap, is unusable like an absent lead, whose reference is the lead all NaN.

Every signal is synthetic (:mod:`ecgnet.synthetic`); nothing is copied from real records.

Plausible values, as the package is to enforce them: sampling rate 50-10,000 Hz, gains finite and > 0,
age 0-120 (else unknown), at most one hour of recording, and a header sample count that matches the
signal file (0, or no count at all, means unknown; no frequency means WFDB's 250 Hz).
"""

from __future__ import annotations

import functools
import json
import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
import wfdb

from ecgnet.records import LEAD_SETS, STANDARD_LEADS, write_record
from ecgnet.synthetic import simulate_record

#: Writes a category's files into a folder; returns the record names that must be reported as failures.
Writer = Callable[[Path], list[str]]
#: Writes an odd record and its reference into a folder; returns (odd id, reference id).
PairWriter = Callable[[Path], tuple[str, str]]
#: Writes a good record into a folder; returns its id and a function that then damages it.
RerunWriter = Callable[[Path], tuple[str, Callable[[], None]]]
#: Given a folder to write into and a model folder: a call of the Challenge's API and what it must give
#: (the word its error must name, or the array it must return).
ApiCase = Callable[[Path, Path], tuple[Callable[[], object], object]]
#: Damages a copy of a model folder; returns the name of the file the refusal must name.
ModelDamage = Callable[[Path], str]

CATEGORIES: dict[str, Writer] = {}
FOLDER_ONLY: set[str] = set()
ODD_BUT_GOOD: dict[str, PairWriter] = {}
WARNED: dict[str, PairWriter] = {}
READ_OR_REFUSED: dict[str, PairWriter] = {}
OWN_RUN: dict[str, PairWriter] = {}
REFUSABLE: set[str] = set()
RERUNS: dict[str, RerunWriter] = {}
HAZARDS: dict[str, Writer] = {}
API_REFUSALS: dict[str, ApiCase] = {}
API_READS: dict[str, ApiCase] = {}
MODEL_DAMAGE: dict[str, ModelDamage] = {}

LABEL = "426783006"  # sinus rhythm, a scored class
DUPLICATE_ID = "duplicate_id"  # the record id that two subfolders share (category ``duplicate_id``)
SECONDS = 10.0
FREQUENCY = 500.0
AGE = 60.0

# Fields of a header's record line and signal lines (WFDB order).
_SIGNALS, _FREQUENCY, _SAMPLES = 1, 2, 3
_FORMAT, _GAIN, _ADC_ZERO, _INITIAL, _CHECKSUM = 1, 2, 4, 5, 6

# WFDB formats: ADC gain (units per mV), the digital range, and the value just below it, WFDB's invalid sample.
_WFDB_GAIN = {"16": 1000.0, "212": 200.0, "80": 50.0}
_WFDB_RANGE = {"16": (-32767, 32767), "212": (-2047, 2047), "80": (-127, 127)}
_INVALID = {"16": -32768, "212": -2048, "80": -128}

_LEAD_II = STANDARD_LEADS.index("II")  # the lead that the records with one damaged lead damage
_SAMPLES_PER_RECORD = round(SECONDS * FREQUENCY)
SHORT_GAP = (1250, 5)  # (first sample, length): a few missing samples, bridged
LONG_GAP = (2000, 2 * round(FREQUENCY))  # 2 s missing: the lead is unusable


def _registrar(registry: dict, kind: set[str] | None = None) -> Callable:
    """A decorator that files a writer ``f(..., name)`` under its function name, the name bound; its name is
    also added to ``kind`` when given."""

    def register(writer: Callable) -> Callable:
        bound = functools.partial(writer, name=writer.__name__)
        registry[writer.__name__] = functools.update_wrapper(bound, writer)  # keeps __name__ and __doc__
        if kind is not None:
            kind.add(writer.__name__)
        return writer

    return register


category = _registrar(CATEGORIES)
folder_category = _registrar(CATEGORIES, FOLDER_ONLY)
odd_but_good = _registrar(ODD_BUT_GOOD)
warned = _registrar(WARNED)
read_or_refused = _registrar(READ_OR_REFUSED)
own_run = _registrar(OWN_RUN)
refusable_own_run = _registrar(OWN_RUN, REFUSABLE)
rerun = _registrar(RERUNS)
hazard = _registrar(HAZARDS)
api_refusal = _registrar(API_REFUSALS)
api_read = _registrar(API_READS)
model_damage = _registrar(MODEL_DAMAGE)

#: Every registry, by name: each entry a documented function.
REGISTRIES: dict[str, dict[str, Callable]] = {
    "CATEGORIES": CATEGORIES, "ODD_BUT_GOOD": ODD_BUT_GOOD, "WARNED": WARNED, "READ_OR_REFUSED": READ_OR_REFUSED,
    "OWN_RUN": OWN_RUN, "RERUNS": RERUNS, "HAZARDS": HAZARDS, "API_REFUSALS": API_REFUSALS,
    "API_READS": API_READS, "MODEL_DAMAGE": MODEL_DAMAGE,
}


# ----------------------------------------------------------------------------------------------------------
# Good records
# ----------------------------------------------------------------------------------------------------------


def seed_of(record_id: str) -> int:
    """A stable seed per record id, so that every record has a signal of its own."""
    return zlib.crc32(record_id.encode())


def ecg(seed: int, frequency: float = FREQUENCY, seconds: float = SECONDS,
        leads: Sequence[str] = STANDARD_LEADS) -> np.ndarray:
    """A synthetic ECG in mV, leads x samples (the fast renderer of :mod:`ecgnet.synthetic`)."""
    return simulate_record(seed, frequency=frequency, duration=seconds, leads=leads).signal


def write_good(folder: Path, record_id: str, seed: int | None = None, *, frequency: float = FREQUENCY,
               seconds: float = SECONDS, leads: Sequence[str] = STANDARD_LEADS, age: float | None = AGE) -> Path:
    """A readable Challenge record (``.hea`` + MATLAB v4 ``.mat``) labelled sinus rhythm; its header path."""
    signal = ecg(seed_of(record_id) if seed is None else seed, frequency, seconds, leads)
    return write_record(folder, record_id, signal, frequency, leads=leads, age=age, sex="Male", labels=[LABEL])


def write_wfdb(folder: Path, record_id: str, seed: int | None = None, *, frequency: float = FREQUENCY,
               fmt: str = "16", leads: Sequence[str] = STANDARD_LEADS) -> Path:
    """A readable WFDB record (``.hea`` + ``.dat`` in format ``fmt``, written by ``wfdb.wrsamp``) labelled
    sinus rhythm; its header path. In format 16 its digital values equal :func:`write_good`'s."""
    digital = wfdb_digital(seed_of(record_id) if seed is None else seed, fmt, frequency, leads)
    return write_dat(folder, record_id, digital, fmt=fmt, frequency=frequency, leads=leads)


def wfdb_digital(seed: int, fmt: str = "16", frequency: float = FREQUENCY,
                 leads: Sequence[str] = STANDARD_LEADS) -> np.ndarray:
    """The digital values (int16, leads x samples) of a synthetic ECG in format ``fmt``: its gain, its range."""
    signal = ecg(seed, frequency, SECONDS, leads)
    return np.clip(np.round(signal * _WFDB_GAIN[fmt]), *_WFDB_RANGE[fmt]).astype(np.int16)


def write_dat(folder: Path, record_id: str, digital: np.ndarray, *, fmt: str = "16", frequency: float = FREQUENCY,
              leads: Sequence[str] = STANDARD_LEADS) -> Path:
    """A WFDB record (``.hea`` + ``.dat`` in format ``fmt`` at its usual gain, by ``wfdb.wrsamp``) holding
    ``digital`` (leads x samples) as given, invalid samples included, labelled sinus rhythm; its header path."""
    gain = _WFDB_GAIN[fmt]
    count = len(leads)
    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(record_id, fs=frequency, units=["mV"] * count, sig_name=list(leads),
                d_signal=np.asarray(digital, dtype=np.int16).T, fmt=[fmt] * count, adc_gain=[gain] * count,
                baseline=[0] * count, comments=[f"Age: {AGE:g}", "Sex: Male", f"Dx: {LABEL}"], write_dir=str(folder))
    return folder / f"{record_id}.hea"


def write_digital(folder: Path, record_id: str, digital: np.ndarray, *, gain: float = 1000.0,
                  frequency: float = FREQUENCY, leads: Sequence[str] = STANDARD_LEADS) -> Path:
    """A Challenge record (``.hea`` + MATLAB v4 ``.mat``) whose 'val' holds ``digital`` exactly: int16, or
    float64 when it holds NaN (missing samples); labelled sinus rhythm; its header path. The header's
    checksums count a NaN as -32768, the missing value of its format 16."""
    values = np.asarray(digital, dtype=np.float64)
    physical = np.where(values == _INVALID["16"], np.nan, values / gain)  # write_record stores NaN as -32768
    header = write_record(folder, record_id, physical, frequency, leads=leads, gain=gain, age=AGE, sex="Male",
                          labels=[LABEL])
    if np.isnan(values).any():
        scipy.io.savemat(header.with_suffix(".mat"), {"val": values}, format="4")
    return header


def write_challenge_records(folder: Path) -> list[str]:
    """Good Challenge-format records: 12, 6 and 2 leads, 50 to 500 Hz, 10 and 30 s; their ids."""
    write_good(folder, "good_12_leads")
    write_good(folder, "good_12_leads_30s", seconds=30.0)
    write_good(folder, "good_6_leads", leads=LEAD_SETS[6])
    write_good(folder, "good_2_leads", leads=LEAD_SETS[2])
    write_good(folder, "good_250hz", frequency=250.0)
    write_good(folder, "good_50hz", frequency=50.0)
    return ["good_12_leads", "good_12_leads_30s", "good_6_leads", "good_2_leads", "good_250hz", "good_50hz"]


def write_wfdb_records(folder: Path) -> list[str]:
    """Good WFDB records (``.dat``) in formats 16, 212 and 80 at 100, 400, 500 and 1000 Hz; their ids."""
    specs = [("16", 100.0), ("212", 400.0), ("16", 500.0), ("212", 1000.0), ("80", 500.0)]
    ids = []
    for fmt, frequency in specs:
        record_id = f"wfdb_{frequency:g}hz_format_{fmt}"
        write_wfdb(folder, record_id, frequency=frequency, fmt=fmt)
        ids.append(record_id)
    return ids


def write_twin_records(folder: Path) -> tuple[str, str]:
    """One record stored twice, as WFDB format 16 ``.dat`` in ``twin_dat/`` and as ``.mat`` in
    ``twin_mat/``, same digital values under different ids; (dat id, mat id)."""
    seed = seed_of("twin")
    write_wfdb(folder / "twin_dat", "twin_dat", seed)
    write_good(folder / "twin_mat", "twin_mat", seed)
    return "twin_dat", "twin_mat"


def write_nested_records(folder: Path) -> list[str]:
    """Good records two and three folders down; their ids."""
    write_good(folder / "nested", "nested_good")
    write_good(folder / "nested" / "deeper", "nested_deeper_good")
    return ["nested_good", "nested_deeper_good"]


def write_odd_but_good(folder: Path) -> dict[str, str]:
    """Every :data:`ODD_BUT_GOOD` pair; {odd id: reference id}."""
    return dict(writer(folder) for writer in ODD_BUT_GOOD.values())


@dataclass(frozen=True)
class GoodRecords:
    """The ids of the good records written into a folder, by kind."""

    challenge: list[str]
    wfdb: list[str]
    twins: tuple[str, str]  # (the .dat copy, the .mat copy)
    nested: list[str]
    odd: dict[str, str]  # odd-but-good id -> its reference's id

    @property
    def ids(self) -> list[str]:
        """Every id, odd-but-good records and their references included."""
        pairs = [record_id for pair in self.odd.items() for record_id in pair]
        return [*self.challenge, *self.wfdb, *self.twins, *self.nested, *pairs]


def write_good_records(folder: Path) -> GoodRecords:
    """Every kind of good record above into ``folder`` (and its subfolders)."""
    return GoodRecords(challenge=write_challenge_records(folder), wfdb=write_wfdb_records(folder),
                       twins=write_twin_records(folder), nested=write_nested_records(folder),
                       odd=write_odd_but_good(folder))


def write_bad_records(folder: Path) -> dict[str, list[str]]:
    """Every category of :data:`CATEGORIES` into ``folder``; {category: names that must be reported}."""
    return {name: writer(folder) for name, writer in CATEGORIES.items()}


# ----------------------------------------------------------------------------------------------------------
# Editing helpers
# ----------------------------------------------------------------------------------------------------------


def _edit_lines(header: Path, edit: Callable[[list[str]], list[str]]) -> None:
    """Rewrite a header's lines with ``edit``."""
    header.write_text("\n".join(edit(header.read_text().splitlines())) + "\n")


def _replace_field(header: Path, index: int, value: str, signal_lines: bool) -> None:
    """Replace field ``index`` of a header's record line (or of every signal line) by ``value``."""

    def edit(lines: list[str]) -> list[str]:
        rows = range(1, 1 + int(lines[0].split()[_SIGNALS])) if signal_lines else range(1)
        for row in rows:
            tokens = lines[row].split()
            tokens[index] = value
            lines[row] = " ".join(tokens)
        return lines

    _edit_lines(header, edit)


def _record_field(folder: Path, name: str, index: int, value: str) -> list[str]:
    """A good record whose record line has field ``index`` replaced by ``value``."""
    _replace_field(write_good(folder, name), index, value, signal_lines=False)
    return [name]


def _signal_field(folder: Path, name: str, index: int, value: str) -> list[str]:
    """A good record whose every signal line has field ``index`` replaced by ``value``."""
    _replace_field(write_good(folder, name), index, value, signal_lines=True)
    return [name]


def _header_bytes(folder: Path, name: str, data: bytes) -> list[str]:
    """A good record whose header is replaced by ``data``."""
    write_good(folder, name).write_bytes(data)
    return [name]


def _mat_contents(folder: Path, name: str, variables: dict[str, object], fmt: str = "4") -> list[str]:
    """A good header beside a MATLAB file holding ``variables`` instead of its recording."""
    header = write_good(folder, name)
    scipy.io.savemat(header.with_suffix(".mat"), variables, format=fmt)
    return [name]


def _mat_bytes(folder: Path, name: str, edit: Callable[[bytes], bytes]) -> list[str]:
    """A good header beside its ``.mat`` file with the bytes rewritten by ``edit``."""
    mat = write_good(folder, name).with_suffix(".mat")
    mat.write_bytes(edit(mat.read_bytes()))
    return [name]


def _digital(name: str, leads: int = len(STANDARD_LEADS)) -> np.ndarray:
    """The int16 recording :func:`write_good` stores for ``name``, with the first ``leads`` rows."""
    return np.round(ecg(seed_of(name))[:leads] * 1000.0).astype(np.int16)


def _garbage(name: str, size: int) -> bytes:
    """``size`` random bytes, the same every time for ``name``."""
    return np.random.default_rng(seed_of(name)).integers(0, 256, size, dtype=np.uint8).tobytes()


def _edit_lead(header: Path, lead: str, index: int, value: str) -> None:
    """Replace field ``index`` of the signal line of ``lead`` by ``value``."""

    def edit(lines: list[str]) -> list[str]:
        for row, line in enumerate(lines[1:], start=1):
            tokens = line.split()
            if not line.startswith("#") and len(tokens) > 8 and tokens[8] == lead:
                tokens[index] = value
                lines[row] = " ".join(tokens)
        return lines

    _edit_lines(header, edit)


def _cut_record_line(header: Path, fields: int) -> None:
    """Keep the first ``fields`` fields of a header's record line."""
    _edit_lines(header, lambda lines: [" ".join(lines[0].split()[:fields]), *lines[1:]])


def _reference(name: str) -> str:
    """The id of the reference record of odd record ``name``."""
    return f"{name}_reference"


def _write_two_files(folder: Path, name: str, digital: np.ndarray, fmt: str = "16") -> Path:
    """A 12-lead WFDB record whose limb leads are stored in ``<name>_1.dat`` and its chest leads in
    ``<name>_2.dat``, under one header; its header path."""
    halves = (STANDARD_LEADS[:6], STANDARD_LEADS[6:])
    signal_lines: list[str] = []
    for part, leads in enumerate(halves, start=1):
        rows = [STANDARD_LEADS.index(lead) for lead in leads]
        sub_header = write_dat(folder, f"{name}_{part}", digital[rows], fmt=fmt, leads=leads)
        lines = sub_header.read_text().splitlines()
        sub_header.unlink()
        signal_lines += lines[1 : 1 + len(leads)]
    record_line = f"{name} {len(STANDARD_LEADS)} {FREQUENCY:g} {digital.shape[1]}"
    comments = [f"#Age: {AGE:g}", "#Sex: Male", f"#Dx: {LABEL}"]
    header = folder / f"{name}.hea"
    header.write_text("\n".join([record_line, *signal_lines, *comments]) + "\n")
    return header


def _missing_pair(folder: Path, name: str, fmt: str, missing: np.ndarray | slice, *, mat: bool = False,
                  absent: bool = False) -> tuple[str, str]:
    """Record ``name`` (WFDB format ``fmt``, or with ``mat`` a Challenge ``.mat``) whose lead II holds the
    format's invalid value at the samples ``missing``; its reference holds the same digital values in a
    ``.mat`` with NaN there (with ``absent``: NaN in all of lead II, an absent lead)."""
    digital = wfdb_digital(seed_of(name), fmt)
    odd = digital.copy()
    odd[_LEAD_II, missing] = _INVALID[fmt]
    if mat:
        write_digital(folder, name, odd, gain=_WFDB_GAIN[fmt])
    else:
        write_dat(folder, name, odd, fmt=fmt)
    expected = digital.astype(np.float64)
    expected[_LEAD_II, slice(None) if absent else missing] = np.nan
    write_digital(folder, _reference(name), expected, gain=_WFDB_GAIN[fmt])
    return name, _reference(name)


def _gap(gap: tuple[int, int]) -> slice:
    """The samples of a gap (first sample, length)."""
    return slice(gap[0], gap[0] + gap[1])


def _gain_pair(folder: Path, name: str, gain: str, scale: int) -> tuple[str, str]:
    """Record ``name`` storing ``scale`` times :func:`write_good`'s digital values, its gain written ``gain``
    (the same physical signal); its reference is :func:`write_good`'s record."""
    digital = _digital(name).astype(np.int32) * scale
    header = write_digital(folder, name, digital, gain=1000.0 * scale)
    _replace_field(header, _GAIN, gain, signal_lines=True)
    write_good(folder, _reference(name), seed_of(name))
    return name, _reference(name)


# ----------------------------------------------------------------------------------------------------------
# Categories: the header
# ----------------------------------------------------------------------------------------------------------


@category
def header_empty(folder: Path, name: str) -> list[str]:
    """The header is an empty file."""
    return _header_bytes(folder, name, b"")


@category
def header_only_comments(folder: Path, name: str) -> list[str]:
    """The header has comment lines only, no record line."""
    return _header_bytes(folder, name, f"#Age: {AGE:g}\n#Sex: Male\n#Dx: {LABEL}\n".encode())


@category
def signals_not_integer(folder: Path, name: str) -> list[str]:
    """The number of signals is 12.5."""
    return _record_field(folder, name, _SIGNALS, "12.5")


@category
def signals_text(folder: Path, name: str) -> list[str]:
    """The number of signals is the word 'twelve'."""
    return _record_field(folder, name, _SIGNALS, "twelve")


@category
def signals_zero(folder: Path, name: str) -> list[str]:
    """The number of signals is 0."""
    return _record_field(folder, name, _SIGNALS, "0")


@category
def frequency_zero(folder: Path, name: str) -> list[str]:
    """The sampling frequency is 0."""
    return _record_field(folder, name, _FREQUENCY, "0")


@category
def frequency_negative(folder: Path, name: str) -> list[str]:
    """The sampling frequency is -500."""
    return _record_field(folder, name, _FREQUENCY, "-500")


@category
def frequency_1e_minus_300(folder: Path, name: str) -> list[str]:
    """The sampling frequency is 1e-300 Hz (positive, far below 50 Hz)."""
    return _record_field(folder, name, _FREQUENCY, "1e-300")


@category
def frequency_1e_minus_4(folder: Path, name: str) -> list[str]:
    """The sampling frequency is 1e-4 Hz (a resampler would need billions of samples)."""
    return _record_field(folder, name, _FREQUENCY, "1e-4")


@category
def frequency_0_001(folder: Path, name: str) -> list[str]:
    """The sampling frequency is 0.001 Hz (below 50 Hz)."""
    return _record_field(folder, name, _FREQUENCY, "0.001")


@category
def frequency_0_4(folder: Path, name: str) -> list[str]:
    """The sampling frequency is 0.4 Hz (below 50 Hz)."""
    return _record_field(folder, name, _FREQUENCY, "0.4")


@category
def frequency_1e300(folder: Path, name: str) -> list[str]:
    """The sampling frequency is 1e300 Hz (above 10,000 Hz)."""
    return _record_field(folder, name, _FREQUENCY, "1e300")


@category
def frequency_nan(folder: Path, name: str) -> list[str]:
    """The sampling frequency is NaN."""
    return _record_field(folder, name, _FREQUENCY, "NaN")


@category
def frequency_infinite(folder: Path, name: str) -> list[str]:
    """The sampling frequency is inf."""
    return _record_field(folder, name, _FREQUENCY, "inf")


@category
def frequency_text(folder: Path, name: str) -> list[str]:
    """The sampling frequency is the word 'fast'."""
    return _record_field(folder, name, _FREQUENCY, "fast")


@category
def samples_negative(folder: Path, name: str) -> list[str]:
    """The number of samples is -5000."""
    return _record_field(folder, name, _SAMPLES, "-5000")


@category
def samples_fraction(folder: Path, name: str) -> list[str]:
    """The number of samples is 5000.5."""
    return _record_field(folder, name, _SAMPLES, "5000.5")


@category
def samples_text(folder: Path, name: str) -> list[str]:
    """The number of samples is the word 'many'."""
    return _record_field(folder, name, _SAMPLES, "many")


@category
def samples_disagree_with_mat(folder: Path, name: str) -> list[str]:
    """The header claims 5500 samples; the .mat holds 5000."""
    return _record_field(folder, name, _SAMPLES, str(round(SECONDS * FREQUENCY) + 500))


@category
def fewer_signal_lines(folder: Path, name: str) -> list[str]:
    """The header claims 12 signals but lists 8 signal lines."""
    _edit_lines(write_good(folder, name), lambda lines: lines[:9] + lines[13:])
    return [name]


@category
def gain_zero(folder: Path, name: str) -> list[str]:
    """Every lead's ADC gain is 0."""
    return _signal_field(folder, name, _GAIN, "0/mV")


@category
def gain_negative(folder: Path, name: str) -> list[str]:
    """Every lead's ADC gain is -1000."""
    return _signal_field(folder, name, _GAIN, "-1000/mV")


@category
def gain_nan(folder: Path, name: str) -> list[str]:
    """Every lead's ADC gain is NaN."""
    return _signal_field(folder, name, _GAIN, "NaN/mV")


@category
def gain_infinite(folder: Path, name: str) -> list[str]:
    """Every lead's ADC gain is inf."""
    return _signal_field(folder, name, _GAIN, "inf/mV")


@category
def gain_text(folder: Path, name: str) -> list[str]:
    """Every lead's ADC gain is the word 'high'."""
    return _signal_field(folder, name, _GAIN, "high/mV")


@category
def baseline_text(folder: Path, name: str) -> list[str]:
    """Every lead's baseline, in parentheses after the gain, is the word 'zero'."""
    return _signal_field(folder, name, _GAIN, "1000(zero)/mV")


@category
def adc_zero_text(folder: Path, name: str) -> list[str]:
    """Every lead's ADC zero is the word 'zero'."""
    return _signal_field(folder, name, _ADC_ZERO, "zero")


@category
def no_standard_leads(folder: Path, name: str) -> list[str]:
    """The twelve signal lines name leads X1 to X12, none of them a standard lead."""
    leads = [f"X{i + 1}" for i in range(len(STANDARD_LEADS))]
    write_record(folder, name, ecg(seed_of(name)), FREQUENCY, leads=leads, age=AGE, sex="Male", labels=[LABEL])
    return [name]


@category
def header_binary_garbage(folder: Path, name: str) -> list[str]:
    """The header is 512 random bytes."""
    return _header_bytes(folder, name, _garbage(name, 512))


@category
def header_non_utf8(folder: Path, name: str) -> list[str]:
    """Bytes that are not UTF-8 (0xFF 0xFE) sit inside the record line's sampling frequency."""
    header = write_good(folder, name)
    lines = header.read_bytes().split(b"\n")
    tokens = lines[0].split(b" ")
    tokens[_FREQUENCY] = tokens[_FREQUENCY][:1] + b"\xff\xfe" + tokens[_FREQUENCY][1:]
    header.write_bytes(b"\n".join([b" ".join(tokens), *lines[1:]]))
    return [name]


@category
def header_utf16(folder: Path, name: str) -> list[str]:
    """The header is encoded in UTF-16 (with a byte-order mark), not in ASCII or UTF-8."""
    header = write_good(folder, name)
    header.write_bytes(header.read_text().encode("utf-16"))
    return [name]


@category
def longer_than_one_hour(folder: Path, name: str) -> list[str]:
    """One lead (II) at 50 Hz for 1.5 hours: longer than the one hour a record may last."""
    write_good(folder, name, frequency=50.0, seconds=1.5 * 3600, leads=("II",))
    return [name]


# ----------------------------------------------------------------------------------------------------------
# Categories: the signal file
# ----------------------------------------------------------------------------------------------------------


@category
def no_signal_file(folder: Path, name: str) -> list[str]:
    """A good header without any signal file."""
    write_good(folder, name).with_suffix(".mat").unlink()
    return [name]


@category
def mat_empty(folder: Path, name: str) -> list[str]:
    """The .mat file has 0 bytes."""
    return _mat_bytes(folder, name, lambda data: b"")


@category
def mat_garbage(folder: Path, name: str) -> list[str]:
    """The .mat file is 4096 random bytes."""
    return _mat_bytes(folder, name, lambda data: _garbage(name, 4096))


@category
def mat_truncated(folder: Path, name: str) -> list[str]:
    """The .mat file is cut in half."""
    return _mat_bytes(folder, name, lambda data: data[: len(data) // 2])


@category
def mat_without_val(folder: Path, name: str) -> list[str]:
    """The .mat file holds the recording under 'ecg', not 'val'."""
    return _mat_contents(folder, name, {"ecg": _digital(name)})


@category
def val_char_array(folder: Path, name: str) -> list[str]:
    """'val' is a char array (text), not numbers."""
    return _mat_contents(folder, name, {"val": "not a recording"})


@category
def val_complex(folder: Path, name: str) -> list[str]:
    """'val' holds complex numbers."""
    return _mat_contents(folder, name, {"val": _digital(name) * (1 + 1j)}, fmt="5")


@category
def val_3d(folder: Path, name: str) -> list[str]:
    """'val' is 3-D (leads x samples x 2)."""
    digital = _digital(name)
    return _mat_contents(folder, name, {"val": np.stack([digital, digital], axis=-1)}, fmt="5")


@category
def val_wrong_rows(folder: Path, name: str) -> list[str]:
    """'val' has 11 rows for the header's 12 leads."""
    return _mat_contents(folder, name, {"val": _digital(name, leads=11)})


@category
def val_no_samples(folder: Path, name: str) -> list[str]:
    """'val' is 12 x 0 and the header says 0 samples (unknown): a recording with nothing in it."""
    write_record(folder, name, np.zeros((len(STANDARD_LEADS), 0)), FREQUENCY, age=AGE, sex="Male", labels=[LABEL])
    return [name]


@category
def val_all_nan(folder: Path, name: str) -> list[str]:
    """'val' is float and every sample is NaN."""
    return _mat_contents(folder, name, {"val": np.full(_digital(name).shape, np.nan)})


@folder_category
def signal_outside_folder(folder: Path, name: str) -> list[str]:
    """A header in a subfolder names its signal file '../<name>.dat', outside its own folder."""
    header = write_wfdb(folder, name)
    inside = folder / name / header.name
    inside.parent.mkdir()
    header.rename(inside)
    _edit_lines(inside, lambda lines: [line.replace(f"{name}.dat", f"../{name}.dat") for line in lines])
    return [name]


@category
def dat_unsupported_format(folder: Path, name: str) -> list[str]:
    """A WFDB record whose signal lines give format 999, which no reader knows."""
    _replace_field(write_wfdb(folder, name), _FORMAT, "999", signal_lines=True)
    return [name]


@category
def dat_truncated(folder: Path, name: str) -> list[str]:
    """A WFDB record whose .dat file is cut in half."""
    dat = write_wfdb(folder, name).with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[: dat.stat().st_size // 2])
    return [name]


# ----------------------------------------------------------------------------------------------------------
# Categories: files and names
# ----------------------------------------------------------------------------------------------------------


@category
def headerless_matlab_v5(folder: Path, name: str) -> list[str]:
    """A MATLAB v5 file as CPSC 2018 ships them (struct 'ECG' with sex, age and data) and no header."""
    folder.mkdir(parents=True, exist_ok=True)
    ecg_struct = {"sex": "Male", "age": 50, "data": _digital(name).astype(np.float64) / 1000.0}
    scipy.io.savemat(folder / f"{name}.mat", {"ECG": ecg_struct})
    return [name]


@folder_category
def newline_in_name(folder: Path, name: str) -> list[str]:
    """A good record whose file names contain a newline (no output file can be named after it)."""
    odd = name.replace("_", "\n", 1)
    header = write_good(folder, name)
    for path in (header, header.with_suffix(".mat")):
        path.rename(path.with_name(odd + path.suffix))
    return [odd]


@folder_category
def dot_file(folder: Path, name: str) -> list[str]:
    """A good record hidden as a dot file (.dot_file.hea + .dot_file.mat)."""
    write_good(folder, f".{name}")
    return [f".{name}"]


@folder_category
def upper_case_extensions(folder: Path, name: str) -> list[str]:
    """A good record whose files end in .HEA and .MAT."""
    header = write_good(folder, name)
    _edit_lines(header, lambda lines: [line.replace(f"{name}.mat", f"{name}.MAT") for line in lines])
    for path in (header, header.with_suffix(".mat")):
        path.rename(path.with_suffix(path.suffix.upper()))
    return [name]


@category
def symlink_to_text(folder: Path, name: str) -> list[str]:
    """The .hea is a symlink to a text file that is not a header (a note beside it)."""
    header = write_good(folder, name)
    note = folder / f"{name}_note.txt"
    note.write_text("These are notes about the recording, not a header.\nSecond line.\n")
    header.unlink()
    header.symlink_to(note.name)
    return [name]


@category
def broken_symlink(folder: Path, name: str) -> list[str]:
    """The .hea is a symlink to a file that does not exist."""
    header = write_good(folder, name)
    header.unlink()
    header.symlink_to(f"{name}_missing_target.hea")
    return [name]


@folder_category
def symlink_loop(folder: Path, name: str) -> list[str]:
    """A subfolder holding a symlink to its parent folder (a directory loop), both named after the category."""
    subfolder = folder / name
    subfolder.mkdir(parents=True)
    (subfolder / name).symlink_to("..", target_is_directory=True)
    return [name]


@folder_category
def duplicate_id(folder: Path, name: str) -> list[str]:
    """Two good records with the same id in two subfolders: the second is reported as a duplicate."""
    write_good(folder / "duplicate_first", name)
    write_good(folder / "duplicate_second", name)
    return [name]


@category
def dat_offset_beyond_end(folder: Path, name: str) -> list[str]:
    """A format 16 WFDB record whose signals start at byte 99,999,999 of a 120,000-byte .dat (format 16+99999999)."""
    _replace_field(write_wfdb(folder, name), _FORMAT, "16+99999999", signal_lines=True)
    return [name]


@category
def header_2mib(folder: Path, name: str) -> list[str]:
    """A good header followed by 2 MiB of comment lines: far larger than any header, refused after a bounded read."""
    header = write_good(folder, name)
    note = "#Note: " + "x" * 1016 + "\n"  # 1 KiB a line
    header.write_text(header.read_text() + note * 2048)
    return [name]


# ----------------------------------------------------------------------------------------------------------
# Categories: no ECG in any lead (each must be a failure, "no ECG signal in any lead", never a diagnosis)
# ----------------------------------------------------------------------------------------------------------


def _every_lead(folder: Path, name: str, value: int, fmt: str | None = None) -> list[str]:
    """A record whose every sample of every lead is ``value``: a Challenge ``.mat``, or a WFDB ``.dat`` in
    format ``fmt``."""
    digital = np.full((len(STANDARD_LEADS), _SAMPLES_PER_RECORD), value, dtype=np.int16)
    if fmt is None:
        write_digital(folder, name, digital)
    else:
        write_dat(folder, name, digital, fmt=fmt)
    return [name]


@category
def constant_every_lead(folder: Path, name: str) -> list[str]:
    """Every sample of every lead is 100 (0.1 mV): twelve flat lines."""
    return _every_lead(folder, name, 100)


@category
def all_zero(folder: Path, name: str) -> list[str]:
    """Every sample of every lead is 0."""
    return _every_lead(folder, name, 0)


@category
def one_sample(folder: Path, name: str) -> list[str]:
    """The recording has one sample per lead (12 x 1), and its header says so."""
    write_digital(folder, name, _digital(name)[:, :1])
    return [name]


@category
def val_logical(folder: Path, name: str) -> list[str]:
    """'val' is a MATLAB logical array (true where the ECG is above 0): boolean values, no voltages."""
    return _mat_contents(folder, name, {"val": _digital(name) > 0}, fmt="5")


@category
def adc_zero_1e20(folder: Path, name: str) -> list[str]:
    """Every lead's ADC zero (so its baseline) is 1e20: in float32 every lead is one flat value."""
    return _signal_field(folder, name, _ADC_ZERO, "1e20")


@category
def every_lead_saturated(folder: Path, name: str) -> list[str]:
    """Every sample of every lead sits at the rail, +32767 or -32767 (the ECG above or below its median)."""
    digital = _digital(name)
    write_digital(folder, name, np.where(digital >= np.median(digital, axis=1, keepdims=True), 32767, -32767))
    return [name]


@category
def mat_every_sample_missing(folder: Path, name: str) -> list[str]:
    """A Challenge .mat (format 16) whose every sample is -32768, WFDB's invalid sample: no lead at all."""
    return _every_lead(folder, name, _INVALID["16"])


@category
def dat16_every_sample_missing(folder: Path, name: str) -> list[str]:
    """A format 16 WFDB record whose every sample is -32768, the invalid sample."""
    return _every_lead(folder, name, _INVALID["16"], fmt="16")


@category
def dat212_every_sample_missing(folder: Path, name: str) -> list[str]:
    """A format 212 WFDB record whose every sample is -2048, the invalid sample."""
    return _every_lead(folder, name, _INVALID["212"], fmt="212")


@category
def dat80_every_sample_missing(folder: Path, name: str) -> list[str]:
    """A format 80 WFDB record whose every sample is -128, the invalid sample."""
    return _every_lead(folder, name, _INVALID["80"], fmt="80")


@category
def flat_or_missing_leads(folder: Path, name: str) -> list[str]:
    """The limb leads are constant (100) and every sample of the chest leads is -32768 (missing)."""
    digital = np.full((len(STANDARD_LEADS), _SAMPLES_PER_RECORD), 100, dtype=np.int16)
    digital[6:] = _INVALID["16"]
    write_digital(folder, name, digital)
    return [name]


@category
def amplitude_volts(folder: Path, name: str) -> list[str]:
    """Every lead's gain is 1/mV for values stored at 1000/mV: R waves of about a volt, no ECG is that large."""
    return _signal_field(folder, name, _GAIN, "1/mV")


@category
def amplitude_microvolts(folder: Path, name: str) -> list[str]:
    """Every lead's gain is 1000000/mV for values stored at 1000/mV: R waves of about a microvolt."""
    return _signal_field(folder, name, _GAIN, "1000000/mV")


# ----------------------------------------------------------------------------------------------------------
# Odd but good: each must give the output of its reference record
# ----------------------------------------------------------------------------------------------------------


def _odd_age(folder: Path, name: str, age: float) -> tuple[str, str]:
    """Record ``name`` with age ``age`` and its reference, the same signal with age unknown."""
    reference = f"{name}_reference"
    write_good(folder, name, seed_of(name), age=age)
    write_good(folder, reference, seed_of(name), age=None)
    return name, reference


@odd_but_good
def age_1e308(folder: Path, name: str) -> tuple[str, str]:
    """Age 1e308: implausible, so unknown (as NaN)."""
    return _odd_age(folder, name, 1e308)


@odd_but_good
def age_negative(folder: Path, name: str) -> tuple[str, str]:
    """Age -5: implausible, so unknown."""
    return _odd_age(folder, name, -5.0)


@odd_but_good
def age_200(folder: Path, name: str) -> tuple[str, str]:
    """Age 200: above 120, so unknown."""
    return _odd_age(folder, name, 200.0)


@odd_but_good
def samples_unknown(folder: Path, name: str) -> tuple[str, str]:
    """The header says 0 samples (unknown): the recording's own length counts."""
    reference = f"{name}_reference"
    _record_field(folder, name, _SAMPLES, "0")
    write_good(folder, reference, seed_of(name))
    return name, reference


@odd_but_good
def latin1_comment(folder: Path, name: str) -> tuple[str, str]:
    """A comment line (not a field the model reads) holds a Latin-1 byte that is not UTF-8."""
    reference = f"{name}_reference"
    header = write_good(folder, name)
    header.write_bytes(header.read_bytes() + "#Note: Patient \xe9crit\n".encode("latin-1"))
    write_good(folder, reference, seed_of(name))
    return name, reference


# ----------------------------------------------------------------------------------------------------------
# Odd but good: WFDB read exactly
# ----------------------------------------------------------------------------------------------------------


@odd_but_good
def dat16_short_gap(folder: Path, name: str) -> tuple[str, str]:
    """Format 16: 5 samples of lead II are -32768 (missing), bridged like the NaN of its reference."""
    return _missing_pair(folder, name, "16", _gap(SHORT_GAP))


@odd_but_good
def dat212_short_gap(folder: Path, name: str) -> tuple[str, str]:
    """Format 212: 5 samples of lead II are -2048 (missing), bridged like the NaN of its reference."""
    return _missing_pair(folder, name, "212", _gap(SHORT_GAP))


@odd_but_good
def dat80_short_gap(folder: Path, name: str) -> tuple[str, str]:
    """Format 80: 5 samples of lead II are -128 (missing), bridged like the NaN of its reference."""
    return _missing_pair(folder, name, "80", _gap(SHORT_GAP))


@odd_but_good
def mat_short_gap(folder: Path, name: str) -> tuple[str, str]:
    """A Challenge .mat (format 16): 5 samples of lead II are -32768 (missing), like the NaN of its reference."""
    return _missing_pair(folder, name, "16", _gap(SHORT_GAP), mat=True)


@odd_but_good
def dat16_skew_gap(folder: Path, name: str) -> tuple[str, str]:
    """Lead II is skewed by 5 samples (format 16:5): its last 5 lie past the end of the file, a short gap."""
    skew = 5
    digital = wfdb_digital(seed_of(name))
    stored = digital.copy()
    # Sample i of a lead skewed by 5 is stored in frame i + 5. The first 5 frames hold the invalid value, so
    # that the header's checksum (the sum of the stored samples) is also the sum of the samples read.
    stored[_LEAD_II, skew:] = digital[_LEAD_II, :-skew]
    stored[_LEAD_II, :skew] = _INVALID["16"]
    header = write_dat(folder, name, stored)
    _edit_lead(header, "II", _FORMAT, f"16:{skew}")
    _edit_lead(header, "II", _INITIAL, str(digital[_LEAD_II, 0]))  # the first sample read
    expected = digital.astype(np.float64)
    expected[_LEAD_II, -skew:] = np.nan
    write_digital(folder, _reference(name), expected)
    return name, _reference(name)


@odd_but_good
def dat16_long_gap(folder: Path, name: str) -> tuple[str, str]:
    """Format 16: 2 s of lead II are -32768: lead II is unusable, like the absent (all NaN) lead II of its reference."""
    return _missing_pair(folder, name, "16", _gap(LONG_GAP), absent=True)


@odd_but_good
def dat212_long_gap(folder: Path, name: str) -> tuple[str, str]:
    """Format 212: 2 s of lead II are -2048: lead II is unusable, like the absent lead II of its reference."""
    return _missing_pair(folder, name, "212", _gap(LONG_GAP), absent=True)


@odd_but_good
def dat80_long_gap(folder: Path, name: str) -> tuple[str, str]:
    """Format 80: 2 s of lead II are -128: lead II is unusable, like the absent lead II of its reference."""
    return _missing_pair(folder, name, "80", _gap(LONG_GAP), absent=True)


@odd_but_good
def mat_long_gap(folder: Path, name: str) -> tuple[str, str]:
    """A Challenge .mat: 2 s of lead II are -32768: lead II is unusable, like the absent lead II of its reference."""
    return _missing_pair(folder, name, "16", _gap(LONG_GAP), mat=True, absent=True)


@odd_but_good
def dat16_mostly_missing(folder: Path, name: str) -> tuple[str, str]:
    """Format 16: 8 of every 10 samples of lead II are -32768 (short gaps, but mostly missing): lead II is absent."""
    mostly = np.arange(_SAMPLES_PER_RECORD) % 10 < 8
    return _missing_pair(folder, name, "16", mostly, absent=True)


@odd_but_good
def dat_null_lead(folder: Path, name: str) -> tuple[str, str]:
    """Lead II is a null signal (format 0, file '~', nothing stored): unusable, like its reference's absent lead II."""
    digital = wfdb_digital(seed_of(name))
    others = [lead for lead in STANDARD_LEADS if lead != "II"]
    header = write_dat(folder, name, np.delete(digital, _LEAD_II, axis=0), leads=others)

    def edit(lines: list[str]) -> list[str]:
        tokens = lines[0].split()
        tokens[_SIGNALS] = str(len(STANDARD_LEADS))
        return [" ".join(tokens), *lines[1 : 1 + _LEAD_II], "~ 0 1000/mV 16 0 0 0 0 II", *lines[1 + _LEAD_II :]]

    _edit_lines(header, edit)
    expected = digital.astype(np.float64)
    expected[_LEAD_II] = np.nan
    write_digital(folder, _reference(name), expected)
    return name, _reference(name)


@odd_but_good
def gain_microvolts(folder: Path, name: str) -> tuple[str, str]:
    """Every gain is written 1/uV, which is 1000/mV: the same signal as its reference's."""
    return _gain_pair(folder, name, "1/uV", scale=1)


@odd_but_good
def gain_volts(folder: Path, name: str) -> tuple[str, str]:
    """Every gain is written 1000000/V, which is 1000/mV: the same signal as its reference's."""
    return _gain_pair(folder, name, "1000000/V", scale=1)


@odd_but_good
def gain_microvolts_rescaled(folder: Path, name: str) -> tuple[str, str]:
    """Twice the reference's digital values at 2/uV (2000/mV): the same signal as its reference's."""
    return _gain_pair(folder, name, "2/uV", scale=2)


@odd_but_good
def record_line_without_samples(folder: Path, name: str) -> tuple[str, str]:
    """The record line has an id, a number of signals and a frequency, but no number of samples: the .mat's counts."""
    _cut_record_line(write_good(folder, name), 3)
    write_good(folder, _reference(name), seed_of(name))
    return name, _reference(name)


@odd_but_good
def record_line_without_frequency(folder: Path, name: str) -> tuple[str, str]:
    """The record line of a 250 Hz .mat record has only an id and a number of signals: WFDB's default is 250 Hz."""
    _cut_record_line(write_good(folder, name, frequency=250.0), 2)
    write_good(folder, _reference(name), seed_of(name), frequency=250.0)
    return name, _reference(name)


@odd_but_good
def dat_record_line_without_samples(folder: Path, name: str) -> tuple[str, str]:
    """A format 16 WFDB record whose record line has no number of samples: the .dat's length counts."""
    _cut_record_line(write_wfdb(folder, name), 3)
    write_wfdb(folder, _reference(name), seed_of(name))
    return name, _reference(name)


@odd_but_good
def dat_record_line_without_frequency(folder: Path, name: str) -> tuple[str, str]:
    """A 250 Hz format 212 WFDB record whose record line has only an id and a number of signals (250 Hz by default)."""
    _cut_record_line(write_wfdb(folder, name, frequency=250.0, fmt="212"), 2)
    write_wfdb(folder, _reference(name), seed_of(name), frequency=250.0, fmt="212")
    return name, _reference(name)


@odd_but_good
def dat_samples_unknown(folder: Path, name: str) -> tuple[str, str]:
    """A format 16 WFDB record whose header says 0 samples (unknown): the .dat's length counts."""
    _replace_field(write_wfdb(folder, name), _SAMPLES, "0", signal_lines=False)
    write_wfdb(folder, _reference(name), seed_of(name))
    return name, _reference(name)


@odd_but_good
def dat_two_files(folder: Path, name: str) -> tuple[str, str]:
    """A WFDB record whose limb leads are in <name>_1.dat and chest leads in <name>_2.dat, one header for both."""
    _write_two_files(folder, name, wfdb_digital(seed_of(name)))
    write_wfdb(folder, _reference(name), seed_of(name))
    return name, _reference(name)


# ----------------------------------------------------------------------------------------------------------
# Warned: runs, gives its reference's output, and a warning row names it in failures.csv
# ----------------------------------------------------------------------------------------------------------


@warned
def dat_checksum_mismatch(folder: Path, name: str) -> tuple[str, str]:
    """A format 16 WFDB record whose header's checksums are each one more than the sum of the samples."""
    header = write_wfdb(folder, name)

    def edit(lines: list[str]) -> list[str]:
        for row in range(1, 1 + len(STANDARD_LEADS)):
            tokens = lines[row].split()
            tokens[_CHECKSUM] = str((int(tokens[_CHECKSUM]) + 1) % 65536)
            lines[row] = " ".join(tokens)
        return lines

    _edit_lines(header, edit)
    write_wfdb(folder, _reference(name), seed_of(name))
    return name, _reference(name)


# ----------------------------------------------------------------------------------------------------------
# Read or refused: either its reference's output, or a failure row naming it and no output
# ----------------------------------------------------------------------------------------------------------


@read_or_refused
def dat_multi_segment(folder: Path, name: str) -> tuple[str, str]:
    """A multi-segment WFDB record: a master header (<name>/2) naming two 5 s segments, each a record of its own."""
    digital = wfdb_digital(seed_of(name))
    half = _SAMPLES_PER_RECORD // 2
    for part, samples in ((1, slice(None, half)), (2, slice(half, None))):
        write_dat(folder, f"{name}_{part}", digital[:, samples])
    lines = [f"{name}/2 {len(STANDARD_LEADS)} {FREQUENCY:g} {_SAMPLES_PER_RECORD}", f"{name}_1 {half}",
             f"{name}_2 {_SAMPLES_PER_RECORD - half}", f"#Age: {AGE:g}", "#Sex: Male", f"#Dx: {LABEL}"]
    (folder / f"{name}.hea").write_text("\n".join(lines) + "\n")
    write_dat(folder, _reference(name), digital)
    return name, _reference(name)


# ----------------------------------------------------------------------------------------------------------
# Own run: names that meet the run's own files or the file system's limits
# ----------------------------------------------------------------------------------------------------------


def _renamed_pair(folder: Path, name: str, record_id: str) -> tuple[str, str]:
    """A good record with id ``record_id`` and its reference (the same signal under ``<name>_reference``)."""
    write_good(folder, record_id, seed_of(name))
    write_good(folder, _reference(name), seed_of(name))
    return record_id, _reference(name)


@refusable_own_run
def record_named_failures(folder: Path, name: str) -> tuple[str, str]:
    """A good record named 'failures': its output file, failures.csv, is the name of the run's failure table."""
    return _renamed_pair(folder, name, "failures")


@refusable_own_run
def record_named_details(folder: Path, name: str) -> tuple[str, str]:
    """A good record named 'details', run with --details: its output file is the name of the run's details table."""
    return _renamed_pair(folder, name, "details")


@own_run
def record_id_240_characters(folder: Path, name: str) -> tuple[str, str]:
    """A good record whose id has 240 characters (its files' names 244, within the usual 255): it must run."""
    return _renamed_pair(folder, name, (name + "_" + "x" * 240)[:240])


# ----------------------------------------------------------------------------------------------------------
# Reruns: a good record, damaged before a second run into the same OUTPUTS
# ----------------------------------------------------------------------------------------------------------


@rerun
def stale_output(folder: Path, name: str) -> tuple[str, Callable[[], None]]:
    """A good record whose .mat is then cut in half: the rerun reports it and removes its earlier output."""
    mat = write_good(folder, name).with_suffix(".mat")

    def damage() -> None:
        mat.write_bytes(mat.read_bytes()[: mat.stat().st_size // 2])

    return name, damage


# ----------------------------------------------------------------------------------------------------------
# Hazards: files that a reader waits on for ever
# ----------------------------------------------------------------------------------------------------------


@hazard
def fifo_header(folder: Path, name: str) -> list[str]:
    """A named pipe called <name>.hea: not a header, and opening it would wait for a writer for ever."""
    folder.mkdir(parents=True, exist_ok=True)
    os.mkfifo(folder / f"{name}.hea")
    return [name]


@hazard
def fifo_recording(folder: Path, name: str) -> list[str]:
    """A good header beside a named pipe called <name>.mat instead of its recording."""
    mat = write_good(folder, name).with_suffix(".mat")
    mat.unlink()
    os.mkfifo(mat)
    return [name]


# ----------------------------------------------------------------------------------------------------------
# The Challenge's Python API: arguments of the wrong kind, and records it must read
# ----------------------------------------------------------------------------------------------------------


def _twelve_lead_model(model_dir: Path):
    """team_code's model of ``model_dir`` for the twelve leads."""
    import team_code

    return team_code.load_model(str(model_dir), LEAD_SETS[12])


def _good_inputs(folder: Path, name: str) -> tuple[Path, str, np.ndarray]:
    """A good record's header path, header text and recording, as a harness reads them."""
    header = write_good(folder, name)
    return header, header.read_text(), scipy.io.loadmat(header.with_suffix(".mat"))["val"]


@api_refusal
def load_model_lead_set_string(folder: Path, model_dir: Path, name: str) -> tuple[Callable[[], object], str]:
    """team_code.load_model given the lead set "II", a string where a sequence of lead names belongs."""
    import team_code

    return (lambda: team_code.load_model(str(model_dir), "II")), "lead"


@api_refusal
def load_model_leads_none(folder: Path, model_dir: Path, name: str) -> tuple[Callable[[], object], str]:
    """team_code.load_model given None for its leads."""
    import team_code

    return (lambda: team_code.load_model(str(model_dir), None)), "lead"


@api_refusal
def load_recording_leads_string(folder: Path, model_dir: Path, name: str) -> tuple[Callable[[], object], str]:
    """helper_code.load_recording given the leads "II", a string where a sequence of lead names belongs."""
    import helper_code

    header, text, _ = _good_inputs(folder, name)
    return (lambda: helper_code.load_recording(str(header.with_suffix(".mat")), text, "II")), "lead"


@api_refusal
def run_model_header_bytes(folder: Path, model_dir: Path, name: str) -> tuple[Callable[[], object], str]:
    """team_code.run_model given the header as bytes, not text."""
    import team_code

    _, text, recording = _good_inputs(folder, name)
    model = _twelve_lead_model(model_dir)
    return (lambda: team_code.run_model(model, text.encode(), recording)), "header"


@api_refusal
def run_model_header_none(folder: Path, model_dir: Path, name: str) -> tuple[Callable[[], object], str]:
    """team_code.run_model given None for the header."""
    import team_code

    _, _, recording = _good_inputs(folder, name)
    model = _twelve_lead_model(model_dir)
    return (lambda: team_code.run_model(model, None, recording)), "header"


@api_refusal
def run_model_recording_text(folder: Path, model_dir: Path, name: str) -> tuple[Callable[[], object], str]:
    """team_code.run_model given a recording of text ('x' in every sample), not numbers."""
    import team_code

    _, text, recording = _good_inputs(folder, name)
    model = _twelve_lead_model(model_dir)
    return (lambda: team_code.run_model(model, text, np.full(recording.shape, "x"))), "recording"


@api_refusal
def get_leads_of_a_number(folder: Path, model_dir: Path, name: str) -> tuple[Callable[[], object], str]:
    """helper_code.get_leads given the number 12 for a header."""
    import helper_code

    return (lambda: helper_code.get_leads(12)), "header"


@api_refusal
def load_header_none(folder: Path, model_dir: Path, name: str) -> tuple[Callable[[], object], str]:
    """helper_code.load_header given None for the header file."""
    import helper_code

    return (lambda: helper_code.load_header(None)), "header"


@api_read
def load_recording_two_files(folder: Path, model_dir: Path, name: str) -> tuple[Callable[[], object], np.ndarray]:
    """helper_code.load_recording given the first .dat of a record stored in two and its header: all 12 leads."""
    import helper_code

    digital = wfdb_digital(seed_of(name))
    text = _write_two_files(folder, name, digital).read_text()
    return (lambda: helper_code.load_recording(str(folder / f"{name}_1.dat"), text)), digital


@api_read
def load_recording_wfdb_leads(folder: Path, model_dir: Path, name: str) -> tuple[Callable[[], object], np.ndarray]:
    """helper_code.load_recording of a format 212 .dat with its header and leads (V1, II): those rows, that order."""
    import helper_code

    digital = wfdb_digital(seed_of(name), "212")
    header = write_dat(folder, name, digital, fmt="212")
    leads = ("V1", "II")
    rows = [STANDARD_LEADS.index(lead) for lead in leads]
    return (lambda: helper_code.load_recording(str(header.with_suffix(".dat")), header.read_text(), leads)), \
        digital[rows]


# ----------------------------------------------------------------------------------------------------------
# Model folders: damage to a copy, refused when it is loaded
# ----------------------------------------------------------------------------------------------------------


def _edit_json(path: Path, edit: Callable[[dict], None]) -> None:
    """Rewrite a JSON file with ``edit`` applied to its contents."""
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data, indent=2) + "\n")


@model_damage
def thresholds_negative(model_dir: Path, name: str) -> str:
    """Every threshold of model.json is -1 (a threshold is a probability, from 0 to 1)."""

    def edit(description: dict) -> None:
        description["thresholds"] = {key: [-1.0] * len(values) for key, values in description["thresholds"].items()}

    _edit_json(model_dir / "model.json", edit)
    return "model.json"


@model_damage
def duplicate_class_code(model_dir: Path, name: str) -> str:
    """model.json's second class code is its first one again: two outputs for one class."""

    def edit(description: dict) -> None:
        description["class_codes"][1] = description["class_codes"][0]

    _edit_json(model_dir / "model.json", edit)
    return "model.json"


@model_damage
def threshold_401_digits(model_dir: Path, name: str) -> str:
    """A threshold of model.json is an integer of 401 digits (beyond any float)."""

    def edit(description: dict) -> None:
        first = next(iter(description["thresholds"].values()))
        first[0] = 10**400

    _edit_json(model_dir / "model.json", edit)
    return "model.json"


@model_damage
def window_seconds_1e6(model_dir: Path, name: str) -> str:
    """config.json's signals.window_seconds is 1e6 (a window of 11.6 days)."""

    def edit(config: dict) -> None:
        config["signals"]["window_seconds"] = 1e6

    _edit_json(model_dir / "config.json", edit)
    return "config.json"


# ----------------------------------------------------------------------------------------------------------
# Hospital exports (ecgnet.formats: DICOM, EDF, GE MUSE and Philips XML, declared CSV and NumPy)
# ----------------------------------------------------------------------------------------------------------

_EXPORTS = Path(__file__).parent / "data" / "formats"


def _real_export(folder: Path, name: str, source: str, edit: Callable[[bytes], bytes]) -> list[str]:
    """A real export of tests/data/formats (``source``), damaged by ``edit``, as ``name`` with its suffix."""
    path = _EXPORTS / source
    (folder / f"{name}{path.suffix}").write_bytes(edit(path.read_bytes()))
    return [name]


def _microvolts(name: str) -> np.ndarray:
    """The synthetic ECG of ``name`` as whole microvolts, as a Challenge record stores it (float64)."""
    return np.round(ecg(seed_of(name)) * 1000.0)


def _csv_text(microvolts: np.ndarray, declaration: str = f"# sampling_rate: {FREQUENCY:g}\n") -> str:
    rows = "\n".join(",".join(f"{value:g}" for value in column) for column in microvolts.T)
    return f"{declaration}# units: uV\n# age: {AGE:g}\n# sex: Male\n{','.join(STANDARD_LEADS)}\n{rows}\n"


@odd_but_good
def export_csv(folder: Path, name: str) -> tuple[str, str]:
    """A declared CSV export (rate, units, age, sex, lead names) of its reference's microvolts: read as it."""
    reference = f"{name}_reference"
    (folder / f"{name}.csv").write_text(_csv_text(_microvolts(name)))
    write_good(folder, reference, seed_of(name))
    return name, reference


@odd_but_good
def export_npz(folder: Path, name: str) -> tuple[str, str]:
    """A NumPy export (microvolts, lead names, rate, age and sex as arrays): read as its reference."""
    reference = f"{name}_reference"
    np.savez(folder / f"{name}.npz", signal=_microvolts(name), leads=np.array(STANDARD_LEADS),
             sampling_rate=FREQUENCY, units="uV", age=AGE, sex="Male")
    write_good(folder, reference, seed_of(name))
    return name, reference


@category
def export_csv_no_rate(folder: Path, name: str) -> list[str]:
    """A CSV export whose first line names the leads but whose rate is declared nowhere."""
    (folder / f"{name}.csv").write_text(_csv_text(_microvolts(name), declaration=""))
    return [name]


@category
def export_csv_bad_cell(folder: Path, name: str) -> list[str]:
    """A declared CSV export with a word where a sample should be."""
    lines = _csv_text(_microvolts(name)).splitlines()
    lines[100] = "n/a" + lines[100][lines[100].index(","):]
    (folder / f"{name}.csv").write_text("\n".join(lines) + "\n")
    return [name]


@category
def export_csv_no_standard_lead(folder: Path, name: str) -> list[str]:
    """A declared CSV export whose columns are no standard lead (Pleth, Resp)."""
    (folder / f"{name}.csv").write_text("# sampling_rate: 500\nPleth,Resp\n" + "1,2\n" * 5000)
    return [name]


@category
def export_npz_no_leads(folder: Path, name: str) -> list[str]:
    """A NumPy export without its array of lead names."""
    np.savez(folder / f"{name}.npz", signal=_microvolts(name), sampling_rate=FREQUENCY)
    return [name]


@category
def export_dicom_truncated(folder: Path, name: str) -> list[str]:
    """pydicom's real 12-lead DICOM ECG cut in half."""
    return _real_export(folder, name, "dicom/waveform_ecg.dcm", lambda data: data[: len(data) // 2])


@category
def export_dicom_garbage(folder: Path, name: str) -> list[str]:
    """A .dcm file of random bytes (no DICM marker)."""
    return _real_export(folder, name, "dicom/waveform_ecg.dcm", lambda data: _garbage(name, 4096))


@category
def export_edf_garbage(folder: Path, name: str) -> list[str]:
    """An .edf file whose version field is right and whose header is random bytes."""
    (folder / f"{name}.edf").write_bytes(b"0       " + _garbage(name, 2000))
    return [name]


@category
def export_muse_truncated(folder: Path, name: str) -> list[str]:
    """A real GE MUSE XML export cut in half (the XML does not parse)."""
    return _real_export(folder, name, "muse/muse_ecg1.xml", lambda data: data[: len(data) // 2])


@category
def export_muse_bad_base64(folder: Path, name: str) -> list[str]:
    """A real GE MUSE XML export whose rhythm strip's first lead is not base64."""

    def edit(data: bytes) -> bytes:
        rhythm = data.index(b"<WaveformType>Rhythm")
        start = data.index(b"<WaveFormData>", rhythm) + len(b"<WaveFormData>")
        return data[:start] + b"%%%%not*base64%%%%" + data[start + 18:]

    return _real_export(folder, name, "muse/muse_ecg1.xml", edit)


@category
def export_philips_truncated(folder: Path, name: str) -> list[str]:
    """A real Philips PageWriter XML export cut at two thirds."""
    return _real_export(folder, name, "philips/129DYPRG.xml", lambda data: data[: 2 * len(data) // 3])
