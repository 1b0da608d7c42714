"""DICOM ECG waveforms (``.dcm``: 12-lead, general and ambulatory ECG waveform storage), read with pydicom.

A DICOM ECG holds one or more *multiplex groups* (items of the WaveformSequence): usually the 10-second rhythm
strip and a median (representative) beat. The rhythm strip is read: the group labelled RHYTHM, else the group
with the most channels and samples, never a median or representative beat. Each channel's stored integers are
scaled by its ChannelSensitivity x ChannelSensitivityCorrectionFactor, offset by its ChannelBaseline, in the
unit of its ChannelSensitivityUnitsSequence; samples equal to the group's WaveformPaddingValue are missing.
"""

from __future__ import annotations

import math
import re
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from ._base import RecordError
from ._exports import Export, lead_name, parse_sex, register_export, to_millivolts

# Labels of groups that hold an averaged beat rather than the recording.
_BEAT_GROUP = re.compile(r"MEDIAN|REPRESENTATIVE|AVERAGE|TEMPLATE", re.IGNORECASE)
# numpy types of (WaveformBitsAllocated, WaveformSampleInterpretation); mu-law and A-law (MB, AB) are not linear.
_SAMPLE_TYPES = {(8, "SB"): "i1", (8, "UB"): "u1", (16, "SS"): "i2", (16, "US"): "u2", (32, "SL"): "i4",
                 (32, "UL"): "u4", (64, "SV"): "i8", (64, "UV"): "u8"}
# Days per unit of a DICOM age string (AS: "057Y", "006M", "010W", "003D").
_AGE_UNIT_DAYS = {"Y": 365.25, "M": 365.25 / 12, "W": 7.0, "D": 1.0}


def is_dicom(start: bytes) -> bool:
    """A DICOM Part 10 file: a 128-byte preamble, then ``DICM``."""
    return start[128:132] == b"DICM"


@register_export("dicom", (".dcm",), "DICOM ECG waveform", sniff=is_dicom, requires=("pydicom",))
def read_dicom(path: Path) -> Export:
    """The rhythm strip of a DICOM ECG waveform file, in mV, with the patient's age and sex."""
    dataset = _read_dataset(path)
    group = _rhythm_group(dataset, path)
    stored = _stored_samples(group, _little_endian(dataset), path)
    channels = list(group.get("ChannelDefinitionSequence") or [])
    if len(channels) != stored.shape[1]:
        raise RecordError(path, f"its waveform holds {stored.shape[1]} channels but defines {len(channels)}")
    leads = _channel_leads(channels, path)
    signal = np.vstack([_channel_millivolts(stored[:, i], channel, leads[i], path)
                        for i, channel in enumerate(channels)])
    sex = parse_sex(dataset.get("PatientSex", ""))
    return Export(signal, float(group.SamplingFrequency), leads, _age(dataset), sex)

def _read_dataset(path: Path) -> Any:
    import pydicom  # optional: only DICOM files need it
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path)
    except OSError as error:  # pydicom reports a file cut short as an OSError at the position it reached
        raise RecordError(path, f"not a complete DICOM file (truncated or damaged: {error})") from None
    except InvalidDicomError as error:
        raise RecordError(path, f"not a DICOM file ({error})") from None


def _rhythm_group(dataset: Any, path: Path) -> Any:
    """The multiplex group that is the recording: labelled RHYTHM, else the largest that is no averaged beat."""
    groups = list(dataset.get("WaveformSequence") or [])
    if not groups:
        raise RecordError(path, "holds no waveform (no WaveformSequence): not an ECG waveform object")
    labels = [str(group.get("MultiplexGroupLabel", "")) for group in groups]
    rhythm = [group for group, label in zip(groups, labels) if "RHYTHM" in label.upper()]
    if rhythm:
        return rhythm[0]
    recordings = [group for group, label in zip(groups, labels) if not _BEAT_GROUP.search(label)]
    if not recordings:
        raise RecordError(path, f"holds only averaged beats ({', '.join(labels)}), no rhythm waveform")
    return max(recordings, key=lambda group: (int(group.get("NumberOfWaveformChannels", 0)),
                                              int(group.get("NumberOfWaveformSamples", 0))))


def _little_endian(dataset: Any) -> bool:
    # Waveform Data keeps the byte order of the transfer syntax; only retired Explicit VR Big Endian differs.
    syntax = getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", None)
    return syntax is None or syntax != "1.2.840.10008.1.2.2"


def _stored_samples(group: Any, little_endian: bool, path: Path) -> np.ndarray:
    """The group's stored integers, samples x channels (Waveform Data interleaves the channels)."""
    for keyword in ("NumberOfWaveformChannels", "NumberOfWaveformSamples", "WaveformBitsAllocated",
                    "WaveformSampleInterpretation", "WaveformData", "SamplingFrequency"):
        if keyword not in group:
            raise RecordError(path, f"its waveform has no {keyword}")
    kind = (int(group.WaveformBitsAllocated), str(group.WaveformSampleInterpretation))
    if kind not in _SAMPLE_TYPES:
        raise RecordError(path, f"waveform samples of {kind[0]} bits, interpretation {kind[1]!r}, are not "
                                "supported (linear integers only)")
    dtype = np.dtype(_SAMPLE_TYPES[kind]).newbyteorder("<" if little_endian else ">")
    channels, samples = int(group.NumberOfWaveformChannels), int(group.NumberOfWaveformSamples)
    data = bytes(group.WaveformData)
    expected = channels * samples * dtype.itemsize
    if len(data) < expected:
        raise RecordError(path, f"waveform data truncated: {len(data)} of the {expected} bytes that "
                                f"{channels} channels x {samples} samples take")
    stored = np.frombuffer(data[:expected], dtype=dtype).reshape(samples, channels).astype(np.float64)
    padding = group.get("WaveformPaddingValue")
    if padding is not None and len(bytes(padding)) >= dtype.itemsize:
        stored[stored == np.frombuffer(bytes(padding)[:dtype.itemsize], dtype=dtype)[0]] = np.nan
    return stored


def _channel_leads(channels: list[Any], path: Path) -> tuple[str, ...]:
    leads = tuple(dicom_lead(_channel_label(channel, number)) for number, channel in enumerate(channels, 1))
    repeated = sorted({lead for lead in leads if leads.count(lead) > 1})
    if repeated:
        raise RecordError(path, f"several channels are lead {', '.join(repeated)}")
    return leads


def _channel_label(channel: Any, number: int) -> str:
    source = channel.get("ChannelSourceSequence") or []
    if source and source[0].get("CodeMeaning"):
        return str(source[0].CodeMeaning)
    return str(channel.get("ChannelLabel") or f"channel {number}")


def dicom_lead(meaning: str) -> str:
    """The standard lead name of a DICOM channel source: ``"Lead I (Einthoven)"`` -> ``"I"``, ``"Lead aVR"``
    -> ``"aVR"``; the meaning itself for other sources."""
    return lead_name(re.sub(r"\([^)]*\)", " ", meaning))  # parentheses add the lead system's name


def _channel_millivolts(stored: np.ndarray, channel: Any, lead: str, path: Path) -> np.ndarray:
    """value = stored x sensitivity x correction + baseline, in the channel's sensitivity unit."""
    sensitivity = channel.get("ChannelSensitivity")
    if sensitivity is None or sensitivity == "":
        raise RecordError(path, f"lead {lead} has no ChannelSensitivity: its samples have no voltage scale")
    units = channel.get("ChannelSensitivityUnitsSequence") or []
    if not units:
        raise RecordError(path, f"lead {lead} has no ChannelSensitivityUnitsSequence: its unit is unknown")
    unit = str(units[0].get("CodeValue") or units[0].get("CodeMeaning") or "")
    scale = float(sensitivity) * float(channel.get("ChannelSensitivityCorrectionFactor", 1.0) or 1.0)
    return to_millivolts(stored * scale + float(channel.get("ChannelBaseline", 0.0) or 0.0), unit, path)


def _age(dataset: Any) -> float:
    """Years from PatientAge, else from the birth and study dates; NaN when neither says."""
    match = re.fullmatch(r"\s*(\d{1,3})\s*([YMWD])\s*", str(dataset.get("PatientAge", "")).upper())
    if match:
        return int(match.group(1)) * _AGE_UNIT_DAYS[match.group(2)] / 365.25
    birth = _date(dataset.get("PatientBirthDate"))
    study = _date(dataset.get("StudyDate") or dataset.get("AcquisitionDateTime") or dataset.get("ContentDate"))
    if birth is None or study is None or study < birth:
        return math.nan
    return float(study.year - birth.year - ((study.month, study.day) < (birth.month, birth.day)))


def _date(text: object) -> date | None:
    """A DICOM date (DA ``YYYYMMDD``, or the start of a DT)."""
    digits = str(text or "").strip()[:8]
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None
