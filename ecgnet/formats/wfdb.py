"""WFDB signal files (``.dat`` in any WFDB storage format, the FLAC-compressed 508, 516 and 524 too), whose
samples the ``wfdb`` package reads, as WFDB defines them (the ``header(5)`` and ``signal(5)`` pages of the WFDB
Applications Guide).

This is the fallback format: WFDB signal files may bear any name, so a record whose signal files have a suffix
no other format claims (or several suffixes) is read as WFDB signal files.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._base import (
    NULL_FORMAT,
    Header,
    RecordError,
    Signals,
    SignalSpec,
    check_duration,
    check_signal_file,
    checksum_warning,
    deskew,
    mark_invalid,
)
from ._registry import register_format

# FLAC-compressed formats (WFDB 10.7): a file's length is counted in samples, not bytes, and wfdb reads its "byte
# offset" as a number of samples per signal to skip.
_COMPRESSED_FORMATS = frozenset({"508", "516", "524"})
# WFDB's samples are C ints (wfdb adds up format 8 differences in int32): a larger initial value is no sample.
_SAMPLE_RANGE = (-(2**31), 2**31 - 1)
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
    """The stored signals of a header, by file (their lines are consecutive: :func:`ecgnet.records.parse_header`
    checks it)."""
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


@register_format(".dat", "WFDB signal files, any WFDB storage format (FLAC-compressed too), read by wfdb",
                 fallback=True)
def _dat_signals(header_path: Path, header: Header, paths: Sequence[Path]) -> Signals:
    """A record stored in WFDB signal files (any WFDB format, FLAC-compressed ones too), read by wfdb."""
    files = _signal_file_groups(header_path, header)
    sizes = [check_signal_file(signal_file.path) for signal_file in files]
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
        if header.num_samples and (message := checksum_warning(int(frames.sum()), spec)):
            checks.append(message)  # WFDB checks checksums only when the header gives the number of samples
        recording[row] = _frame_means(frames, spec.fmt)
    deskew(recording, [signal.skew for signal in header.signals])
    return Signals(recording, paths[0], tuple(checks))


def _wfdb_samples(header_path: Path, specs: Sequence[SignalSpec], length: int) -> list[np.ndarray]:
    """The stored samples of the signals ``specs`` (none of them null), as wfdb reads them: one integer array per
    signal, the samples of its first ``length`` frames in order, skew not applied (:func:`ecgnet.formats.deskew`
    aligns them, so that the samples a skew puts before sample 0 count in the checksum, as WFDB counts them).

    wfdb's reader of a record's signal files is given our header's fields; ``wfdb.rdrecord``, which passes it
    those of wfdb's own reading of the header, cannot read a header whose sample count is 0, cannot be told the
    length when the count is left out, fails on a null signal between the signals of one file and on signals of
    one file with different skews, and could read an odd header otherwise than :func:`ecgnet.records.parse_header`
    does. The reader's name and arguments are the same in every wfdb from 4.1 (the oldest the requirements allow)
    to 4.3."""
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
    values = mark_invalid(samples.T, [fmt] * samples.shape[1])
    return values[0] if values.shape[0] == 1 else values.mean(axis=0)
