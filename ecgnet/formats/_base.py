"""What every signal-file format shares, below the formats and below :mod:`ecgnet.records`: the parsed header's
types (:class:`Header`, :class:`SignalSpec`, which :mod:`ecgnet.records` parses), :class:`RecordError`, the
digital recording a reader returns (:class:`Signals`), and the helpers readers use: the check of a signal file,
the "no sample" markers of the WFDB storage formats, the duration cap, checksums and skew.

:mod:`ecgnet.records` re-exports every public name here; code outside the formats imports them from there.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Longest recording, seconds: Holter-length files belong to another tool; this bounds memory per record.
MAX_DURATION_SECONDS = 3600.0
#: The storage format of a null signal: not stored at all, read as all NaN.
NULL_FORMAT = "0"
#: Each WFDB storage format's "no sample" value (WFDB's invalid-sample markers, as ``wfdb`` lists them in
#: ``wfdb.io._signal.INVALID_SAMPLE_VALUE``; a test checks they agree): the most negative value of the format's
#: range. Format 8 stores first differences and has none.
INVALID_SAMPLE: dict[str, int | None] = {
    "8": None, "16": -(2**15), "61": -(2**15), "160": -(2**15), "80": -(2**7), "212": -(2**11), "310": -(2**9),
    "311": -(2**9), "24": -(2**23), "32": -(2**31), "508": -(2**7), "516": -(2**15), "524": -(2**23),
}  # fmt: skip


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


@dataclass(frozen=True)
class Signals:
    """A record's digital recording, as :func:`ecgnet.records.read_signals` reads it (every format's reader
    returns one)."""

    recording: np.ndarray  # float64 digital units, leads x samples in header order; NaN where no sample is
    source: Path  # the signal file it came from (the first, when there are several)
    warnings: tuple[str, ...] = ()  # one per lead whose samples do not add up to its header's checksum


def check_duration(num_samples: int, frequency: float, source: str | os.PathLike) -> None:
    """Raise :class:`RecordError` naming ``source`` when ``num_samples`` last longer than the cap."""
    if num_samples > MAX_DURATION_SECONDS * frequency:
        raise RecordError(source, f"{num_samples / frequency / 60:.0f} minutes long; records of up to "
                                  f"{MAX_DURATION_SECONDS / 60:.0f} minutes are read")


def check_signal_file(path: Path) -> int:
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


def mark_invalid(stored: np.ndarray, formats: Sequence[str]) -> np.ndarray:
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


def is_integral(values: np.ndarray) -> bool:
    """Whether every value of ``values`` is an integer that int64 holds exactly (samples a checksum adds up)."""
    if np.issubdtype(values.dtype, np.integer):
        return True
    return bool((np.abs(values) < 2**53).all() and (values == np.round(values)).all())  # NaN fails the first


def checksum_warnings(stored: np.ndarray, specs: Sequence[SignalSpec]) -> tuple[str, ...]:
    """A warning for each row of ``stored`` (integer samples, one row per spec) whose sum differs, modulo 2**16,
    from the checksum its spec gives."""
    sums = stored.astype(np.int64, copy=False).sum(axis=1, dtype=np.int64)
    return tuple(message for total, spec in zip(sums.tolist(), specs)
                 if (message := checksum_warning(total, spec)) is not None)


def checksum_warning(total: int, spec: SignalSpec) -> str | None:
    """The warning for a lead whose samples add up to ``total``, None when that matches its header's checksum
    (WFDB's checksum: the sum of the samples as a signed 16-bit number) or the header gives none."""
    if spec.checksum is None or (total - spec.checksum) % 65536 == 0:
        return None
    computed = (total + 32768) % 65536 - 32768
    return f"lead {spec.lead}: checksum {computed} in the signal file, {spec.checksum} in the header"


def deskew(recording: np.ndarray, skews: Sequence[int]) -> None:
    """Align skewed rows in place: sample k of a signal with skew s is stored in frame k + s, and what lies
    past the record's last frame is not read (NaN), as ``wfdb`` reads a skewed record."""
    length = recording.shape[1]
    for row, skew in enumerate(skews):
        if skew:
            kept = max(length - skew, 0)
            recording[row, :kept] = recording[row, skew : skew + kept]
            recording[row, kept:] = np.nan
