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

Every signal is synthetic (:mod:`ecgnet.synthetic`); nothing is copied from real records.

Plausible values, as the package is to enforce them: sampling rate 50-10,000 Hz, gains finite and > 0,
age 0-120 (else unknown), at most one hour of recording, and a header sample count that matches the
signal file (0 means unknown).
"""

from __future__ import annotations

import functools
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

CATEGORIES: dict[str, Writer] = {}
FOLDER_ONLY: set[str] = set()
ODD_BUT_GOOD: dict[str, PairWriter] = {}

LABEL = "426783006"  # sinus rhythm, a scored class
DUPLICATE_ID = "duplicate_id"  # the record id that two subfolders share (category ``duplicate_id``)
SECONDS = 10.0
FREQUENCY = 500.0
AGE = 60.0

# Fields of a header's record line and signal lines (WFDB order).
_SIGNALS, _FREQUENCY, _SAMPLES = 1, 2, 3
_FORMAT, _GAIN, _ADC_ZERO = 1, 2, 4

# WFDB formats: ADC gain (units per mV) and the digital range (the lowest value of each is WFDB's NaN).
_WFDB_GAIN = {"16": 1000.0, "212": 200.0, "80": 50.0}
_WFDB_RANGE = {"16": (-32767, 32767), "212": (-2047, 2047), "80": (-127, 127)}


def _registrar(registry: dict, folder_only: bool = False) -> Callable:
    """A decorator that files a writer ``f(folder, name)`` under its function name, the name bound."""

    def register(writer: Callable) -> Callable:
        bound = functools.partial(writer, name=writer.__name__)
        registry[writer.__name__] = functools.update_wrapper(bound, writer)  # keeps __name__ and __doc__
        if folder_only:
            FOLDER_ONLY.add(writer.__name__)
        return writer

    return register


category = _registrar(CATEGORIES)
folder_category = _registrar(CATEGORIES, folder_only=True)
odd_but_good = _registrar(ODD_BUT_GOOD)


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
    gain = _WFDB_GAIN[fmt]
    signal = ecg(seed_of(record_id) if seed is None else seed, frequency, SECONDS, leads)
    digital = np.clip(np.round(signal * gain), *_WFDB_RANGE[fmt]).astype(np.int16)
    count = len(leads)
    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(record_id, fs=frequency, units=["mV"] * count, sig_name=list(leads), d_signal=digital.T,
                fmt=[fmt] * count, adc_gain=[gain] * count, baseline=[0] * count,
                comments=[f"Age: {AGE:g}", "Sex: Male", f"Dx: {LABEL}"], write_dir=str(folder))
    return folder / f"{record_id}.hea"


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
def record_line_too_few_fields(folder: Path, name: str) -> list[str]:
    """The record line has an id, a number of signals and a frequency, but no number of samples."""
    _edit_lines(write_good(folder, name), lambda lines: [" ".join(lines[0].split()[:3]), *lines[1:]])
    return [name]


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
