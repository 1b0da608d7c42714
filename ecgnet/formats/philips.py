"""Philips PageWriter / TraceMaster XML (Sierra ECG; root element ``restingecgdata`` in the Philips namespace).

The rhythm data (``parsedwaveforms``) is base64 of Philips' XLI compression, one compressed block per lead, which
``sierraecg`` decodes (the ``formats`` extra). What sierraecg does not hand back is read here from the XML: the
amplitude resolution (microvolts per bit: ``parsedwaveforms/@resolution`` in schema 1.04, the
``signalcharacteristics`` ``resolution`` or ``signalresolution`` element otherwise), age (``years``, ``months``...
or ``dateofbirth`` with the acquisition date) and sex.

A Philips cardiograph stores 11 s per lead for a 10-second ECG: the last second ends with a 1 mV calibration pulse
on every lead, which is cut off here (a classifier must not take it for a wave).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import math
from pathlib import Path
from xml.etree import ElementTree

import numpy as np

from ._base import RecordError
from ._exports import (
    TWELVE_LEADS,
    Export,
    lead_name,
    parse_sex,
    positive_number,
    register_export,
    to_millivolts,
)
from ._xml import parse_xml, xml_root

# The calibration pulse: 1 mV on every lead at once, for 0.2 s (taken as found when it lasts 0.1 s).
_CALIBRATION_MV = 1.0
_CALIBRATION_SECONDS = 0.1
# Age units of the Philips schema's <age> element, in years.
_YEARS_PER_AGE_UNIT = {"years": 1.0, "months": 1 / 12, "weeks": 7 / 365.25, "days": 1 / 365.25,
                       "hours": 1 / 8766, "minutes": 1 / 525960}


def is_philips(start: bytes) -> bool:
    """Whether a file beginning with ``start`` is a Philips Sierra ECG export: its root is ``restingecgdata``."""
    return xml_root(start) == "restingecgdata"


@register_export("philips", (".xml",), "Philips PageWriter/TraceMaster XML (Sierra ECG)", sniff=is_philips,
                 requires=("sierraecg",))
def read_philips(path: Path) -> Export:
    """The rhythm data of the Philips export ``path``: its leads in mV (the twelve standard leads, in the file's
    order), its rate, the patient's age and sex."""
    root = _local_names(parse_xml(path))
    if root.tag != "restingecgdata":
        raise RecordError(path, f"root element is {root.tag!r}, not restingecgdata")
    waveforms = _parsed_waveforms(root, path)
    resolution = _resolution(root, waveforms, path)
    names, samples, frequency = _decoded_leads(path)
    signal = to_millivolts(samples * resolution, "uV", path)  # the schema: "all amplitudes are in microvolts"
    signal = _without_calibration(signal, frequency, resolution)
    age, sex = _demographics(root)
    return Export(signal, frequency, names, age, sex)


def _local_names(root: ElementTree.Element) -> ElementTree.Element:
    # Every element is in the Philips namespace (http://www3.medical.philips.com); plain names read better.
    for element in root.iter():
        element.tag = element.tag.rpartition("}")[2]
    return root


def _parsed_waveforms(root: ElementTree.Element, path: Path) -> ElementTree.Element:
    """The ``parsedwaveforms`` element, checked before sierraecg decodes it: base64 of whole XLI blocks. On a
    damaged file sierraecg decodes a cut block short without a word, or fails with a bare IndexError."""
    waveforms = root.find(".//parsedwaveforms")
    if waveforms is None:
        raise RecordError(path, "no parsedwaveforms element (the rhythm data)")
    encoding = waveforms.get("dataencoding", "")
    compression = waveforms.get("compressmethod", waveforms.get("compression", "none"))
    if encoding != "Base64" or compression != "XLI":
        raise RecordError(path, f"parsedwaveforms encoded {encoding!r}, compressed {compression!r}: "
                                "only Base64 of XLI (what Philips cardiographs write) is read")
    try:
        data = base64.b64decode("".join((waveforms.text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise RecordError(path, "parsedwaveforms: waveform data is not valid base64") from None
    blocks = _xli_blocks(data)
    if blocks is None:
        raise RecordError(path, "parsedwaveforms: damaged waveform data (an XLI block runs past the data's end)")
    if blocks == 0:
        raise RecordError(path, "parsedwaveforms holds no waveform data")
    return waveforms


def _xli_blocks(data: bytes) -> int | None:
    """The number of XLI blocks in ``data`` (each an 8-byte header, whose first four bytes are the size of the
    block's data, then the data); None when a header is cut or gives a size that does not fit."""
    count = offset = 0
    while offset < len(data):
        if offset + 8 > len(data):
            return None
        size = int.from_bytes(data[offset:offset + 4], "little", signed=True)
        if size <= 0 or offset + 8 + size > len(data):
            return None
        offset += 8 + size
        count += 1
    return count


def _resolution(root: ElementTree.Element, waveforms: ElementTree.Element, path: Path) -> float:
    characteristics = root.find(".//signalcharacteristics")
    text = waveforms.get("resolution")
    for tag in ("resolution", "signalresolution"):
        if text is None and characteristics is not None:
            text = characteristics.findtext(tag)
    if text is None or not text.strip():
        raise RecordError(path, "no amplitude resolution (microvolts per bit) in parsedwaveforms or "
                                "signalcharacteristics")
    return positive_number(text, "amplitude resolution", path)


def _decoded_leads(path: Path) -> tuple[tuple[str, ...], np.ndarray, float]:
    """Lead names, samples (leads x samples, in bits) and rate, as sierraecg decodes them, checked."""
    import sierraecg  # the formats extra: imported here, so that the package imports without it

    try:
        ecg = sierraecg.read_file(str(path))
    except Exception as error:  # sierraecg's own errors, and whatever a damaged XLI stream trips on
        raise RecordError(path, f"sierraecg cannot decode it ({type(error).__name__}: {error})") from None
    names = tuple(lead_name(lead.label) for lead in ecg.leads)
    # sierraecg rebuilds III, aVR, aVL and aVF from the first six blocks, taking them in Philips' order.
    if names[:6] != TWELVE_LEADS[:6]:
        raise RecordError(path, f"leads {' '.join(names)} do not start with {' '.join(TWELVE_LEADS[:6])}, "
                                "the order in which sierraecg rebuilds the limb leads")
    missing = [name for name in TWELVE_LEADS if name not in names]
    if missing:
        raise RecordError(path, f"lacks lead(s) {', '.join(missing)} (it holds {', '.join(names)})")
    frequency = float(ecg.leads[0].sampling_freq)
    expected = round(ecg.leads[0].duration * frequency / 1000)  # durationperchannel is in milliseconds
    for name, lead in zip(names, ecg.leads):
        if len(lead.samples) < expected:
            raise RecordError(path, f"lead {name} decodes to {len(lead.samples)} samples where durationperchannel "
                                    f"gives {expected} (damaged waveform data)")
    samples = np.stack([np.asarray(lead.samples[:expected], dtype=np.float64) for lead in ecg.leads])
    return names, samples, frequency


def _without_calibration(signal: np.ndarray, frequency: float, resolution: float) -> np.ndarray:
    """``signal`` without its last second when that second holds the calibration pulse (every lead at 1 mV for
    at least 0.1 s at once); ``signal`` itself otherwise."""
    second, run = round(frequency), max(1, round(_CALIBRATION_SECONDS * frequency))
    if signal.shape[1] <= second or run > second:
        return signal
    at_pulse = np.all(np.abs(signal[:, -second:] - _CALIBRATION_MV) <= resolution / 2000, axis=0)
    windows = np.lib.stride_tricks.sliding_window_view(at_pulse, run)
    return signal[:, :-second] if windows.all(axis=1).any() else signal


def _demographics(root: ElementTree.Element) -> tuple[float, str]:
    patient = root.find(".//patient/generalpatientdata")
    if patient is None:
        return math.nan, "Unknown"
    acquisition = root.find(".//dataacquisition")
    acquired = acquisition.get("date", "") if acquisition is not None else ""
    return _age(patient.find("age"), acquired), parse_sex(patient.findtext("sex") or "")


def _age(age: ElementTree.Element | None, acquired: str) -> float:
    """Age in years from the <age> element (one of years, months, weeks, days, hours, minutes, or the date of
    birth, counted in whole years to the acquisition date); NaN when it gives none. Its ``defaultage`` attribute
    is the age the interpretation assumes when none was entered, not the patient's, and is ignored."""
    if age is None:
        return math.nan
    for tag, years_per_unit in _YEARS_PER_AGE_UNIT.items():
        text = (age.findtext(tag) or "").strip()
        if text:
            try:
                value = float(text) * years_per_unit
            except ValueError:
                return math.nan
            return value if math.isfinite(value) and value >= 0 else math.nan
    return _years_between((age.findtext("dateofbirth") or "").strip(), acquired.strip())


def _years_between(birth: str, acquired: str) -> float:
    try:
        born, then = datetime.date.fromisoformat(birth), datetime.date.fromisoformat(acquired)
    except ValueError:
        return math.nan
    years = then.year - born.year - ((then.month, then.day) < (born.month, born.day))
    return float(years) if years >= 0 else math.nan
