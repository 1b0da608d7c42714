"""The Challenge's MATLAB ``.mat`` signal file: variable ``val``, leads x samples, MATLAB v4 or v5.

A Challenge header names the ``.mat`` beside it with its own name (:func:`ecgnet.records.signal_files`); its
rows are the stored signals in header order.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._base import (
    NULL_FORMAT,
    Header,
    RecordError,
    Signals,
    check_signal_file,
    checksum_warnings,
    deskew,
    is_integral,
    mark_invalid,
)
from ._registry import register_format


def read_recording(path: str | os.PathLike, key: str = "val") -> np.ndarray:
    """The 2-D array ``key`` of a MATLAB v4 or v5 file, leads x samples, in its stored dtype (as the Challenge's
    helper returns it: "no sample" values are still in it; :func:`ecgnet.records.invalid_as_nan` marks them)."""
    path = Path(path)
    check_signal_file(path)
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


@register_format(".mat", "the Challenge's MATLAB file (v4 or v5): variable 'val', leads x samples")
def read_matlab(header_path: Path, header: Header, paths: Sequence[Path]) -> Signals:
    """The reader of a record whose signal file is one ``.mat`` (:func:`_mat_signals`)."""
    return _mat_signals(paths[0], header)


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
    checks = checksum_warnings(raw, specs) if header.num_samples and is_integral(raw) else ()
    recording = np.full((header.num_leads, raw.shape[1]), np.nan)
    recording[stored] = mark_invalid(raw, [spec.fmt for spec in specs])
    deskew(recording, [signal.skew for signal in header.signals])
    return Signals(recording, path, checks)
