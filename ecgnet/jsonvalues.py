"""Numbers as JSON written by a stranger gives them: integers of any size, lists of any shape. A model folder's
readers (ecgnet.artifacts, the calibration, the stack, the trees) take them through these two functions, so that
a number no float holds is refused as not finite instead of raising OverflowError."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def as_float(value: int | float) -> float:
    """A JSON number as a float; an integer too large for one (``float()`` would raise OverflowError) as an
    infinity, so that the checks for finite numbers refuse it."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def json_floats(value: Any) -> np.ndarray | None:
    """``value`` read from JSON, a number or (nested) lists of numbers of a regular shape, as a float64 array
    (integers too large for a float become infinities); None when it is anything else (strings and true/false
    are not numbers here)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return np.asarray(as_float(value), dtype=np.float64)
    if not isinstance(value, list):
        return None
    parts = [json_floats(v) for v in value]
    if any(part is None for part in parts) or len({part.shape for part in parts}) > 1:
        return None
    return np.asarray(parts, dtype=np.float64) if parts else np.zeros(0)
