"""``OUTPUTS/details.csv``: what a reader checks beside each record's four-line Challenge output.

One row per record: its leads; every class's probability ``p_<code>``; its uncertainty ``u_<code>`` (the
larger of two spreads of the final outputs, where the decision is taken: of those each of the ensemble's
networks alone would give, and of those each of the record's windows alone would give); a review flag with
its reasons (a decision within its uncertainty of the threshold, or a lead of poor quality); each lead's
signal quality (:mod:`ecgnet.quality`); and the measurements a cardiologist reads first (rate, PR, QRS, QT,
QTc, axis), when the model measures them. The Challenge output files are the same whether or not it is written.

The record's ``uncertainty`` is one number to rank records by, for deferring the least sure to a reader
first (the report's selective-prediction section): the largest over classes of
``u_c / max(|p_c - t_c|, EPSILON)``, ``t_c`` the threshold of the record's lead set. It compares each
decision's uncertainty with its distance from the threshold, so a class's ratio is at least 1 exactly when
its decision is within its uncertainty of the threshold, the "near threshold" review reason. A class
without an uncertainty (NaN) counts 0.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from .measurements import MEASUREMENT_NAMES
from .outputs import DETAILS_FILE, merge_rows
from .quality import GOOD
from .records import STANDARD_LEADS, LeadSet

#: Distances to the threshold below this count as this: probabilities are written to 6 significant digits.
EPSILON = 1e-6
#: The measurements in the file: (column, name in ecgnet.measurements).
MEASURED = (("heart_rate_bpm", "heart_rate_mean"), ("pr_ms", "pr_interval"), ("qrs_ms", "qrs_duration"),
            ("qt_ms", "qt_interval"), ("qtc_ms", "qtc_bazett"), ("axis_degrees", "qrs_axis"))


class DetailedRecord(Protocol):
    """What a row tells of its record (inference's records have these): the format needs nothing else."""

    record_id: str
    lead_set: LeadSet  # the leads it was read with
    quality: tuple[str, ...] | None  # a verdict per standard lead, or None when not asked for
    measurements: np.ndarray | None  # in the order of ecgnet.measurements.MEASUREMENT_NAMES


def rows(records: Sequence[DetailedRecord], probabilities: np.ndarray, thresholds: np.ndarray, uncertainty: np.ndarray,
         codes: Sequence[str], abbreviations: Sequence[str]) -> list[dict[str, str]]:
    """The details rows of some records of one lead set (``thresholds`` its thresholds)."""
    found = []
    ratios = uncertainty_ratios(probabilities, thresholds, uncertainty)
    for record, p, u, ratio in zip(records, probabilities, uncertainty, ratios):
        uncertain = [abbreviations[k] for k in np.flatnonzero(ratio >= 1)]
        quality = record.quality or ("",) * len(STANDARD_LEADS)
        used = set(record.lead_set)
        poor = [f"{lead} {verdict}" for lead, verdict in zip(STANDARD_LEADS, quality) if lead in used
                and verdict not in (GOOD, "")]
        reasons = ([f"near threshold: {', '.join(uncertain)}"] if uncertain else []) + \
                  ([f"quality: {', '.join(poor)}"] if poor else [])
        row = {"record": record.record_id, "leads": str(record.lead_set), "review": str(int(bool(reasons))),
               "reasons": "; ".join(reasons), "uncertainty": f"{ratio.max(initial=0.0):.6g}"}
        row.update({f"p_{code}": f"{value:.6g}" for code, value in zip(codes, p)})
        row.update({f"u_{code}": _number(value) for code, value in zip(codes, u)})
        row.update({f"quality_{lead}": verdict for lead, verdict in zip(STANDARD_LEADS, quality)})
        measured = record.measurements
        row.update({column: _number(np.nan if measured is None else measured[MEASUREMENT_NAMES.index(name)])
                    for column, name in MEASURED})
        found.append(row)
    return found


def uncertainty_ratios(probabilities: np.ndarray, thresholds: np.ndarray, uncertainty: np.ndarray) -> np.ndarray:
    """Per record and class, ``u / max(|p - t|, EPSILON)``: at least 1 where the decision is within its
    uncertainty of the threshold; 0 where the uncertainty is NaN. A record's ``uncertainty`` is its row's largest."""
    distance = np.maximum(np.abs(np.asarray(probabilities) - thresholds), EPSILON)
    return np.nan_to_num(np.asarray(uncertainty, dtype=np.float64)) / distance


def _number(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else ""


def columns(codes: Sequence[str]) -> list[str]:
    return (["record", "leads", "review", "reasons", "uncertainty", *(f"p_{c}" for c in codes),
             *(f"u_{c}" for c in codes), *(f"quality_{lead}" for lead in STANDARD_LEADS),
             *(column for column, _ in MEASURED)])


def write(output_dir: str | Path, codes: Sequence[str], found: list[dict[str, str]]) -> None:
    """Write ``details.csv`` with ``found``'s rows, keeping an earlier run's rows for the other records."""

    names = {row["record"] for row in found}
    merge_rows(Path(output_dir) / DETAILS_FILE, columns(codes), found, keep=lambda row: row["record"] not in names)


def read(path: str | Path) -> list[dict[str, str]]:
    """The rows of a details file, as text."""
    return list(csv.DictReader(io.StringIO(Path(path).read_text())))
