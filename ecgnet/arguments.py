"""Checks of the arguments the Challenge's entry points take (``helper_code``, ``team_code``): each refuses a wrong
type with a TypeError that says what is expected, where Python would raise a bare one or, worse, answer: a lead
set given as the string ``"II"`` would be read as the leads ``("I", "I")``."""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence

import numpy as np


def header_text(header: object) -> str:
    """``header`` itself when it is a header's text; TypeError saying what is expected otherwise."""
    if isinstance(header, str):
        return header
    hint = ""
    if isinstance(header, (os.PathLike, bytes)):
        hint = "; read the file with load_header(header_file)" if isinstance(header, os.PathLike) else "; decode it"
    raise TypeError(f"header must be the header's text (str), not {type(header).__name__}{hint}")


def lead_names(leads: object, name: str = "leads") -> tuple[str, ...]:
    """``leads`` as a tuple of lead names. A bare string is refused (``"II"`` would be the leads I and I), and
    so is anything but a sequence of strings: a list, a tuple or a 1-D array of names."""
    if isinstance(leads, (str, bytes)):
        shown = repr(str(leads)) if isinstance(leads, str) else repr(leads)  # numpy's str_ would show np.str_(...)
        raise TypeError(f"{name} must be a sequence of lead names such as ('I', 'II'), not the "
                        f"{type(leads).__name__} {shown}; for one lead write ({shown},)")
    if isinstance(leads, np.ndarray) and leads.ndim == 1:
        leads = leads.tolist()
    if not isinstance(leads, Sequence):
        unordered = " (it has no order)" if isinstance(leads, (set, frozenset, dict)) else ""
        raise TypeError(f"{name} must be a sequence (list or tuple) of lead names, not "
                        f"{type(leads).__name__}{unordered}")
    for i, lead in enumerate(leads):
        if not isinstance(lead, str):
            raise TypeError(f"{name} must hold lead names (str), but item {i} is {type(lead).__name__} {lead!r}")
    return tuple(leads)


def recording_array(recording: object, source: str = "recording") -> np.ndarray:
    """``recording`` as a 2-D numeric array (leads x samples): a numpy array, a list of rows, or anything numpy
    reads as an array. TypeError for what holds no array of numbers (None, text, a number, a ragged list);
    ValueError for an array that is not 2-D. Both name ``source``."""
    expected = "recording must be a 2-D array of numbers (leads x samples)"
    if recording is None or isinstance(recording, (str, bytes, dict, set, frozenset, numbers.Number)):
        raise TypeError(f"{source}: {expected}, not {type(recording).__name__}")
    try:
        array = np.asarray(recording)
    except ValueError:  # numpy's words for rows of different lengths: "inhomogeneous shape"
        raise TypeError(f"{source}: {expected}; this {type(recording).__name__} has rows of different "
                        "lengths") from None
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise TypeError(f"{source}: recording must hold numbers (integers or floats), not {array.dtype} values")
    if array.ndim != 2:
        raise ValueError(f"{source}: recording has shape {array.shape}; expected 2-D, leads x samples")
    return array


def path_argument(value: object, name: str) -> str | os.PathLike:
    """``value`` when it is a path; TypeError saying what is expected otherwise."""
    if isinstance(value, (str, os.PathLike)):
        return value
    raise TypeError(f"{name} must be a path (str or os.PathLike), not {type(value).__name__}")


# Files.
