#!/usr/bin/env python
"""The Challenge's helper functions, with the names and meanings official test harnesses import.

Each is a thin wrapper over :mod:`ecgnet.records` and :mod:`ecgnet.outputs`, which parse every header
variant met in the data and raise an error naming the file and the problem when a header or a
recording is broken. An error about a header's text names its record (the record line's first field).

Arguments of the wrong type are refused with a TypeError that says what is expected (:mod:`ecgnet.arguments`),
where Python would raise a bare one or, worse, answer: a lead set given as the string ``"II"`` would be read as
the leads ``("I", "I")``, so a bare string is refused wherever a sequence of lead names is expected.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ecgnet import discovery as _discovery
from ecgnet import outputs as _outputs
from ecgnet import records as _records
from ecgnet.arguments import header_text, lead_names, path_argument, recording_array

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


# Checks on arguments (also used by team_code.py).
def find_challenge_files(data_directory: str) -> tuple[list[str], list[str]]:
    """Sorted header files of ``data_directory`` (and the folders below it) whose signal files exist, and each
    record's first signal file (:func:`ecgnet.discovery.find_records`, as run_model.py finds records): its
    ``.mat``, or its first WFDB signal file. For a record whose signals lie in several files,
    ``load_recording(that file, header)`` reads them all."""
    found = _discovery.find_records(path_argument(data_directory, "data_directory")).records
    return [str(r.header_path) for r in found], [str(r.signal_paths[0]) for r in found]


def load_header(header_file: str) -> str:
    """The text of a header; raises an error naming the file if it cannot be read or parsed."""
    text, _ = _records.read_header(path_argument(header_file, "header_file"))
    return text


def load_recording(recording_file: str, header: str | None = None, leads=None, key: str = "val") -> np.ndarray:
    """The recording (leads x samples, digital units); rows reordered to ``leads`` when both are given.

    A ``.mat`` file is read as MATLAB (variable ``key``). Any other signal file is read through its record's
    header file, with every signal file that header names (:func:`ecgnet.records.read_signals`, as
    run_model.py reads it): the header of the record ``header`` names, or without ``header`` the ``.hea`` of
    the signal file's own name."""
    path = Path(path_argument(recording_file, "recording_file"))
    header = None if header is None else header_text(header)
    leads = None if leads is None else lead_names(leads)
    if not isinstance(key, str):
        raise TypeError(f"key must be the name of the MATLAB variable (str), not {type(key).__name__}")
    recording = _records.read_recording(path, key) if path.suffix == ".mat" else _read_wfdb(path, header)
    if header and leads:
        recording = choose_leads(recording, header, leads)
    return recording


def _read_wfdb(path: Path, header: str | None) -> np.ndarray:
    """The whole record that the signal file ``path`` belongs to, read through its header file."""
    header_file = _header_file(path, header)
    _, parsed = _records.read_header(header_file)
    files = _records.signal_files(header_file, parsed)
    if not any(os.path.abspath(file) == os.path.abspath(path) for file in files):
        raise _records.RecordError(path, f"is not one of the signal files its header {header_file.name} names "
                                         f"({', '.join(file.name for file in files)})")
    return _records.read_wfdb_signals(header_file)


def _header_file(path: Path, header: str | None) -> Path:
    """The header file of the record that signal file ``path`` belongs to: beside it, named after the record
    that ``header`` names, else after the signal file itself."""
    candidates = [path.parent / f"{get_recording_id(header)}.hea"] if header else []
    candidates.append(path.with_suffix(".hea"))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    advice = "" if header else "; for a record whose signals lie in several files, pass its header's text too"
    raise _records.RecordError(path, f"no header file {candidates[0].name} for this signal file{advice}")


def choose_leads(recording: np.ndarray, header: str, leads) -> np.ndarray:
    """Rows of ``recording`` in the order of ``leads``; a lead the header does not list is all zeros."""
    header, leads = header_text(header), lead_names(leads)
    source = _records.header_source(header)
    recording = recording_array(recording, source)
    available = get_leads(header)
    if recording.shape[0] != len(available):
        raise ValueError(f"{source}: the recording has {recording.shape[0]} rows but the header lists "
                         f"{len(available)} leads ({', '.join(available)})")
    return _records.select_leads(recording, available, leads)


# Header fields.
def _parse(header: str) -> _records.Header:
    """The parsed header; a broken one raises RecordError naming its record."""
    return _records.parse_header(header_text(header))  # an error names the record its record line names


def get_recording_id(header: str) -> str:
    """The record id, without a ``.mat`` some record lines carry (``E07500.mat`` -> ``E07500``)."""
    return _parse(header).record_id


def get_leads(header: str) -> tuple[str, ...]:
    """The lead names in header order, standard spelling."""
    return _parse(header).leads


def sort_leads(leads) -> tuple[str, ...]:
    """Leads in the standard order; unknown names follow, in their given order."""
    order = {lead: i for i, lead in enumerate(STANDARD_LEADS)}
    canonical = [_records.canonical_lead(lead) for lead in lead_names(leads)]
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
    leads = lead_names(leads)
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
    _outputs.save_outputs(path_argument(output_file, "output_file"), recording_id, classes, labels, probabilities)


def load_outputs(output_file: str):
    """(recording id, classes, labels, probabilities) of an output file, as the official helper returns them:
    classes and labels as the text entries written, probabilities as floats (NaN for a non-number)."""
    recording_id, classes, labels, scalars = _outputs.read_outputs(path_argument(output_file, "output_file"))
    probabilities = tuple(float(x) if is_finite_number(x) else float("nan") for x in scalars)
    return recording_id, classes, labels, probabilities
