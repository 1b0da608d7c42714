"""``OUTPUTS/details.csv``: what a reader checks beside each record's four-line Challenge output.

One row per record: its leads; every class's probability; its uncertainty (the larger of two spreads: across
the ensemble's networks, and across the record's windows); a review flag with its reasons (a decision
within its uncertainty of the threshold, or a lead of poor quality); each lead's signal quality
(:mod:`ecgnet.quality`); and the measurements a cardiologist reads first (rate, PR, QRS, QT, QTc, axis),
when the model measures them. The Challenge output files are the same whether or not it is written.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .inference import Ensemble, ModelInput, combine_windows, per_record, window_batch
from .measurements import MEASUREMENT_NAMES
from .quality import GOOD
from .records import STANDARD_LEADS

DETAILS_FILE = "details.csv"
#: The measurements in the file: (column, name in ecgnet.measurements).
MEASURED = (("heart_rate_bpm", "heart_rate_mean"), ("pr_ms", "pr_interval"), ("qrs_ms", "qrs_duration"),
            ("qt_ms", "qt_interval"), ("qtc_ms", "qtc_bazett"), ("axis_degrees", "qrs_axis"))


def spreads(ensemble: Ensemble, records: Sequence[ModelInput]) -> tuple[np.ndarray, np.ndarray]:
    """(across networks, across windows): per record and class, the standard deviation of the networks'
    probabilities for the record, and of the ensemble's probabilities over the record's windows. Each network
    runs once; across networks is NaN when they run as one ONNX graph (they cannot be told apart there)."""
    inputs, bounds = window_batch(records)
    if not ensemble.networks:
        windows = per_record(ensemble.window_probabilities(*inputs), bounds, lambda values: values.std(axis=0))
        return np.full_like(windows, np.nan), windows
    each = np.stack([dataclasses.replace(ensemble, networks=[network]).window_probabilities(*inputs)
                     for network in ensemble.networks])  # (networks, windows, classes)
    across_networks = np.std([per_record(values, bounds, combine_windows) for values in each], axis=0)
    return across_networks, per_record(each.mean(axis=0), bounds, lambda values: values.std(axis=0))


def rows(records: Sequence[ModelInput], probabilities: np.ndarray, thresholds: np.ndarray, uncertainty: np.ndarray,
         codes: Sequence[str], abbreviations: Sequence[str]) -> list[dict[str, str]]:
    """The details rows of some records of one lead set (``thresholds`` its thresholds)."""
    found = []
    for record, p, u in zip(records, probabilities, uncertainty):
        uncertain = [abbreviations[k] for k in np.flatnonzero(np.abs(p - thresholds) < np.nan_to_num(u))]
        quality = record.quality or ("",) * len(STANDARD_LEADS)
        used = set(record.lead_set.split(","))
        poor = [f"{lead} {verdict}" for lead, verdict in zip(STANDARD_LEADS, quality) if lead in used
                and verdict not in (GOOD, "")]
        reasons = ([f"near threshold: {', '.join(uncertain)}"] if uncertain else []) + \
                  ([f"quality: {', '.join(poor)}"] if poor else [])
        row = {"record": record.record_id, "leads": record.lead_set, "review": str(int(bool(reasons))),
               "reasons": "; ".join(reasons)}
        row.update({f"p_{code}": f"{value:.6g}" for code, value in zip(codes, p)})
        row.update({f"u_{code}": _number(value) for code, value in zip(codes, u)})
        row.update({f"quality_{lead}": verdict for lead, verdict in zip(STANDARD_LEADS, quality)})
        measured = record.measurements
        row.update({column: _number(np.nan if measured is None else measured[MEASUREMENT_NAMES.index(name)])
                    for column, name in MEASURED})
        found.append(row)
    return found


def _number(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else ""


def columns(codes: Sequence[str]) -> list[str]:
    return (["record", "leads", "review", "reasons", *(f"p_{c}" for c in codes), *(f"u_{c}" for c in codes),
             *(f"quality_{lead}" for lead in STANDARD_LEADS), *(column for column, _ in MEASURED)])


def write(output_dir: str | Path, codes: Sequence[str], found: list[dict[str, str]]) -> None:
    """Write ``details.csv`` with ``found``'s rows, keeping an earlier run's rows for the other records."""
    from .outputs import merge_rows

    names = {row["record"] for row in found}
    merge_rows(Path(output_dir) / DETAILS_FILE, columns(codes), found, keep=lambda row: row["record"] not in names)


def read(path: str | Path) -> list[dict[str, str]]:
    """The rows of a details file, as text."""
    return list(csv.DictReader(io.StringIO(Path(path).read_text())))
