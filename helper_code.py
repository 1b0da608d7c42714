#!/usr/bin/env python
"""The Challenge's helper functions, with the names and meanings official test harnesses import.

Each is a thin wrapper over :mod:`ecgnet.records` and :mod:`ecgnet.outputs`, which parse every header
variant met in the data and raise an error naming the file and the problem when a header or a
recording is broken.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ecgnet import discovery as _discovery
from ecgnet import outputs as _outputs
from ecgnet import records as _records

STANDARD_LEADS = _records.STANDARD_LEADS
twelve_leads = _records.LEAD_SETS[12]
six_leads = _records.LEAD_SETS[6]
four_leads = _records.LEAD_SETS[4]
three_leads = _records.LEAD_SETS[3]
two_leads = _records.LEAD_SETS[2]


# Checks on values.
def is_number(x) -> bool:
    """True when ``float(x)`` works (NaN and infinities are numbers)."""
    try:
        float(x)
        return True
    except (ValueError, TypeError):
        return False


def is_integer(x) -> bool:
    """True for a finite number with no fractional part."""
    return is_number(x) and math.isfinite(float(x)) and float(x) == int(float(x))


def is_finite_number(x) -> bool:
    """True for a number that is neither NaN nor infinite."""
    return is_number(x) and math.isfinite(float(x))


# Files.
def find_challenge_files(data_directory: str) -> tuple[list[str], list[str]]:
    """Sorted header files of ``data_directory`` (and the folders below it) that have a recording, and
    those recordings (:func:`ecgnet.discovery.find_records`)."""
    found = _discovery.find_records(data_directory).records
    return [str(r.header_path) for r in found], [str(r.signal_paths[0]) for r in found]


def load_header(header_file: str) -> str:
    """The text of a header; raises an error naming the file if it cannot be read or parsed."""
    text, _ = _records.read_header(header_file)
    return text


def load_recording(recording_file: str, header: str | None = None, leads=None, key: str = "val") -> np.ndarray:
    """The recording (leads x samples, digital units); rows reordered to ``leads`` when both are given.

    A ``.mat`` file is read as MATLAB (variable ``key``); any other signal file through ``wfdb``, with the
    header of the same name beside it."""
    path = Path(recording_file)
    if path.suffix == ".mat":
        recording = _records.read_recording(path, key)
    else:
        recording = _records.read_wfdb_signals(path.with_suffix(".hea"))
    if header and leads is not None and len(leads) > 0:  # ``leads`` may be an array: no truth value
        recording = choose_leads(recording, header, leads)
    return recording


def choose_leads(recording: np.ndarray, header: str, leads) -> np.ndarray:
    """Rows of ``recording`` in the order of ``leads``; a lead the header does not list is all zeros."""
    return _records.select_leads(np.asarray(recording), get_leads(header), leads)


# Header fields.
def _parse(header: str) -> _records.Header:
    """The parsed header; a broken one raises RecordError naming its record."""
    return _records.parse_header(header, _source(header))


def _source(header: str) -> str:
    """A name for a header in error messages: its record line's first field."""
    first = header.strip().split("\n", 1)[0].split()
    return f"header of {first[0]}" if first else "header"


def get_recording_id(header: str) -> str:
    """The record id, without a ``.mat`` some record lines carry (``E07500.mat`` -> ``E07500``)."""
    return _parse(header).record_id


def get_leads(header: str) -> tuple[str, ...]:
    """The lead names in header order, standard spelling."""
    return _parse(header).leads


def sort_leads(leads) -> tuple[str, ...]:
    """Leads in the standard order; unknown names follow, in their given order."""
    order = {lead: i for i, lead in enumerate(STANDARD_LEADS)}
    canonical = [_records.canonical_lead(lead) for lead in leads]
    return tuple(sorted(canonical, key=lambda lead: order.get(lead, len(order))))


def get_age(header: str) -> float:
    """The age in years; NaN when unknown."""
    return _parse(header).age


def get_sex(header: str) -> str:
    """The sex as the header writes it (``Male``, ``Female``); ``Unknown`` when absent."""
    return _parse(header).sex


def get_num_leads(header: str) -> int:
    """The number of signals the header lists."""
    return _parse(header).num_leads


def get_frequency(header: str) -> float:
    """The sampling frequency in Hz."""
    return _parse(header).frequency


def get_num_samples(header: str) -> int:
    """The number of samples per signal."""
    return _parse(header).num_samples


def _by_lead(header: str, leads, field: str) -> np.ndarray:
    """A per-signal header ``field`` in the order of ``leads``; 0 for a lead the header does not list."""
    parsed = _parse(header)
    values: dict[str, float] = {}
    for lead, value in zip(parsed.leads, getattr(parsed, field)):
        values.setdefault(lead, float(value))  # a repeated lead: its first line, as choose_leads takes its first row
    return np.array([values.get(_records.canonical_lead(lead), 0.0) for lead in leads], dtype=np.float64)


def get_adc_gains(header: str, leads) -> np.ndarray:
    """The ADC gain of each of ``leads`` (0 for a lead the header does not list)."""
    return _by_lead(header, leads, "gains")


def get_baselines(header: str, leads) -> np.ndarray:
    """The baseline of each of ``leads`` (0 for a lead the header does not list)."""
    return _by_lead(header, leads, "baselines")


def get_labels(header: str) -> list[str]:
    """The SNOMED codes of the ``Dx`` line."""
    return list(_parse(header).labels)


# Outputs.
def save_outputs(output_file: str, recording_id: str, classes, labels, probabilities) -> None:
    """Write an output file (atomically)."""
    _outputs.save_outputs(output_file, recording_id, classes, labels, probabilities)


def load_outputs(output_file: str):
    """(recording id, classes, labels, probabilities) of an output file, as the official helper returns them:
    classes and labels as the text entries written, probabilities as floats (NaN for a non-number)."""
    recording_id, classes, labels, scalars = _outputs.read_outputs(output_file)
    probabilities = tuple(float(x) if is_finite_number(x) else float("nan") for x in scalars)
    return recording_id, classes, labels, probabilities
