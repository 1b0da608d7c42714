"""EDF and EDF+ recordings (``.edf``), read with edfio.

The signals whose label names a standard ECG lead (``"I"``, ``"ECG V1"``, ``"EKG aVR"``, ``"Lead II"``) are
the record, in the order the file stores them; other signals (respiration, EEG, annotations) are left out. The
ECG leads must share one sampling rate, and each signal's physical dimension gives its unit (uV, mV or V). The
patient's sex and birth date come from an EDF+ patient field; the age is the birth date's distance to the
recording's start date when both are known.
"""

from __future__ import annotations

import math
import re
import warnings
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from ._base import RecordError
from ._exports import TWELVE_LEADS, Export, lead_name, parse_sex, register_export, to_millivolts

# The fixed part of an EDF header, and the size of each signal's header fields before "samples per record".
_FIXED_HEADER = 256
_SIGNAL_FIELDS_BEFORE_SAMPLES = 16 + 80 + 8 + 8 + 8 + 8 + 8 + 80
_ECG_PREFIX = re.compile(r"^\s*(ECG|EKG)(?=[\s_-])[\s_-]*", re.IGNORECASE)
_LABELS_SHOWN = 20  # a polysomnogram may have a hundred signals: the reason names the first ones


def is_edf(start: bytes) -> bool:
    """An EDF or EDF+ file: its version field is ``0`` padded to 8 bytes (BDF starts otherwise)."""
    return start[:8] == b"0       "


@register_export("edf", (".edf",), "EDF/EDF+ recording", sniff=is_edf, requires=("edfio",))
def read_edf(path: Path) -> Export:
    """The ECG leads of an EDF or EDF+ file, in mV, with the patient's age and sex where EDF+ gives them."""
    import edfio  # optional: only EDF files need it

    data = path.read_bytes()
    _check_length(data, path)
    with warnings.catch_warnings():  # the length is checked above; edfio's warnings would only repeat it
        warnings.simplefilter("ignore")
        edf = edfio.read_edf(data)
    if not edf.is_continuous:
        raise RecordError(path, "EDF+D (discontinuous) recording: its data records are not contiguous in time")
    signals = _ecg_signals(edf.signals, path)
    rate = _common_rate(signals, path)
    leads = tuple(lead for lead, _ in signals)
    rows = [to_millivolts(signal.data, signal.physical_dimension, path) for _, signal in signals]
    age, sex = _demographics(edf)
    return Export(np.vstack(rows), rate, leads, age, sex)


def edf_lead(label: str) -> str:
    """The standard lead name of an EDF signal label (``"ECG I"`` -> ``"I"``), else the label itself."""
    return lead_name(_ECG_PREFIX.sub("", label))


def _check_length(data: bytes, path: Path) -> None:
    """Refuse a file shorter than its header says: edfio would drop the missing data records with a warning."""
    if len(data) < _FIXED_HEADER:
        raise RecordError(path, f"truncated: {len(data)} bytes, less than an EDF header")
    try:
        header_bytes, records, count = int(data[184:192]), int(data[236:244]), int(data[252:256])
    except ValueError:
        raise RecordError(path, "not an EDF header: a size field is not a number") from None
    if len(data) < header_bytes:
        raise RecordError(path, f"truncated: {len(data)} bytes, less than its {header_bytes}-byte header")
    start = _FIXED_HEADER + count * _SIGNAL_FIELDS_BEFORE_SAMPLES
    try:
        per_record = sum(int(data[start + 8 * i:start + 8 * (i + 1)]) for i in range(count))
    except ValueError:
        raise RecordError(path, "not an EDF header: a signal's samples per data record is not a number") from None
    expected = header_bytes + records * per_record * 2  # EDF samples are 16-bit
    if records >= 0 and len(data) < expected:  # -1 records: the recorder never wrote the count
        raise RecordError(path, f"truncated: {len(data)} of the {expected} bytes its header announces "
                                f"({records} data records)")


def _ecg_signals(signals: Any, path: Path) -> list[tuple[str, Any]]:
    """(standard lead, signal) of each signal that is an ECG lead."""
    found = [(edf_lead(signal.label), signal) for signal in signals]
    ecg = [(lead, signal) for lead, signal in found if lead in TWELVE_LEADS]
    if not ecg:
        labels = [signal.label.strip() for signal in signals]
        shown = ", ".join(labels[:_LABELS_SHOWN]) + (f", ... ({len(labels)} in all)" if len(labels) > _LABELS_SHOWN
                                                     else "")
        raise RecordError(path, f"no ECG lead among its signals (labels: {shown or 'none'})")
    leads = [lead for lead, _ in ecg]
    repeated = sorted({lead for lead in leads if leads.count(lead) > 1})
    if repeated:
        raise RecordError(path, f"several signals are lead {', '.join(repeated)}")
    return ecg


def _common_rate(signals: list[tuple[str, Any]], path: Path) -> float:
    rates = {lead: float(signal.sampling_frequency) for lead, signal in signals}
    if len(set(rates.values())) > 1:
        listed = ", ".join(f"{lead} {rate:g} Hz" for lead, rate in rates.items())
        raise RecordError(path, f"its ECG leads are sampled at different rates ({listed})")
    return next(iter(rates.values()))


def _demographics(edf: Any) -> tuple[float, str]:
    """(age in years, sex) from an EDF+ patient field; NaN and Unknown where it says nothing (or is plain EDF)."""
    try:
        patient = edf.patient
        sex = parse_sex(patient.sex)
    except Exception:  # a plain EDF's free-text patient field: nothing to parse
        return math.nan, "Unknown"
    birth, start = _known_date(lambda: patient.birthdate), _known_date(lambda: edf.startdate)
    if birth is None or start is None or start < birth:
        return math.nan, sex
    return float(start.year - birth.year - ((start.month, start.day) < (birth.month, birth.day))), sex


def _known_date(get: Any) -> date | None:
    try:
        return get()
    except Exception:  # edfio raises for an anonymised ("X") or malformed date
        return None
