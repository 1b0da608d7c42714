"""GE MUSE XML exports (root element ``RestingECG``, MUSE's ``restecg.dtd``).

A MUSE export holds a representative beat (``Waveform`` of type ``Median``) and the 10-second rhythm strip
(type ``Rhythm``); only the rhythm strip is a recording. Each of its ``LeadData`` is one lead: ``LeadID``,
``WaveFormData`` (base64 of little-endian 16-bit samples), ``LeadAmplitudeUnitsPerBit`` and
``LeadAmplitudeUnits`` (``MICROVOLTS``); the rate is ``SampleBase`` times ten to the ``SampleExponent``. Age and
sex are in ``PatientDemographics``.
"""

from __future__ import annotations

import base64
import binascii
import math
from pathlib import Path
from xml.etree import ElementTree

import numpy as np

from ._base import RecordError
from ._exports import TWELVE_LEADS, Export, lead_name, parse_sex, register_export, to_millivolts
from ._xml import parse_xml, xml_root

# Age units MUSE writes in AgeUnits, in years.
_YEARS_PER_AGE_UNIT = {"YEARS": 1.0, "MONTHS": 1 / 12, "WEEKS": 7 / 365.25, "DAYS": 1 / 365.25, "HOURS": 1 / 8766}


def is_muse(start: bytes) -> bool:
    """Whether a file beginning with ``start`` is a MUSE export: its root element is ``RestingECG``."""
    return xml_root(start) == "RestingECG"


@register_export("muse", (".xml",), "GE MUSE XML (RestingECG)", sniff=is_muse)
def read_muse(path: Path) -> Export:
    """The rhythm strip of the MUSE export ``path``: the twelve standard leads in mV (and any other lead the
    strip holds, after them), its rate, the patient's age and sex."""
    root = parse_xml(path)
    if root.tag != "RestingECG":
        raise RecordError(path, f"root element is {root.tag!r}, not RestingECG")
    waveform = _rhythm_waveform(root, path)
    leads = _with_limb_leads(_stored_leads(waveform, path), path)
    names = (*TWELVE_LEADS, *(name for name in leads if name not in TWELVE_LEADS))
    signal = np.stack([leads[name] for name in names])
    age, sex = _demographics(root)
    return Export(signal, _sample_rate(waveform, path), names, age, sex)


def _text(element: ElementTree.Element, tag: str) -> str:
    return (element.findtext(tag) or "").strip()


def _rhythm_waveform(root: ElementTree.Element, path: Path) -> ElementTree.Element:
    # The Median waveform is one averaged beat (0.6 s at 1000 Hz or 1.2 s at 500 Hz), not a recording.
    for waveform in root.iter("Waveform"):
        if _text(waveform, "WaveformType").upper() == "RHYTHM":
            return waveform
    raise RecordError(path, "no rhythm waveform (a Waveform whose WaveformType is Rhythm)")


def _sample_rate(waveform: ElementTree.Element, path: Path) -> float:
    base, exponent = _text(waveform, "SampleBase"), _text(waveform, "SampleExponent") or "0"
    if not base:
        raise RecordError(path, "the rhythm waveform has no SampleBase (its sampling rate)")
    try:
        return float(base) * 10 ** int(exponent)
    except ValueError:
        raise RecordError(path, f"sampling rate SampleBase {base!r} SampleExponent {exponent!r} is not a number") \
            from None


def _stored_leads(waveform: ElementTree.Element, path: Path) -> dict[str, np.ndarray]:
    leads: dict[str, np.ndarray] = {}
    for lead_data in waveform.iter("LeadData"):
        name, values = _lead(lead_data, path)
        if name in leads:
            raise RecordError(path, f"lead {name} appears twice in the rhythm waveform")
        leads[name] = values
    if not leads:
        raise RecordError(path, "the rhythm waveform holds no lead (no LeadData)")
    lengths = {len(values) for values in leads.values()}
    if len(lengths) > 1:
        counts = ", ".join(f"{name}: {len(values)}" for name, values in leads.items())
        raise RecordError(path, f"rhythm leads of unequal lengths ({counts} samples)")
    return leads


def _lead(lead_data: ElementTree.Element, path: Path) -> tuple[str, np.ndarray]:
    label = _text(lead_data, "LeadID")
    if not label:
        raise RecordError(path, "a rhythm lead has no LeadID")
    name = lead_name(label)
    sample_size = _text(lead_data, "LeadSampleSize") or "2"
    if sample_size != "2":
        raise RecordError(path, f"lead {name}: {sample_size}-byte samples (MUSE writes 2-byte samples)")
    per_bit = _text(lead_data, "LeadAmplitudeUnitsPerBit")
    try:
        scale = float(per_bit)
    except ValueError:
        raise RecordError(path, f"lead {name}: LeadAmplitudeUnitsPerBit {per_bit!r} is not a number") from None
    # MUSE writes MICROVOLTS; a file that leaves the unit out is taken to mean MUSE's unit.
    unit = _text(lead_data, "LeadAmplitudeUnits") or "MICROVOLTS"
    values = np.frombuffer(_samples(lead_data, name, path), dtype="<i2") * scale
    return name, to_millivolts(values, unit, path)


def _samples(lead_data: ElementTree.Element, name: str, path: Path) -> bytes:
    text = lead_data.findtext("WaveFormData")
    if text is None:
        raise RecordError(path, f"lead {name}: no WaveFormData")
    try:
        data = base64.b64decode("".join(text.split()), validate=True)  # MUSE wraps the base64 in lines
    except (binascii.Error, ValueError):
        raise RecordError(path, f"lead {name}: waveform data is not valid base64") from None
    if len(data) % 2:
        raise RecordError(path, f"lead {name}: waveform data holds {len(data)} bytes, not whole 16-bit samples")
    return data


def _with_limb_leads(leads: dict[str, np.ndarray], path: Path) -> dict[str, np.ndarray]:
    # MUSE usually stores only the eight independent leads, I, II and V1-V6, and draws III, aVR, aVL and aVF
    # from I and II by Einthoven's and Goldberger's relations; the same relations fill them in here.
    if "I" in leads and "II" in leads:
        one, two = leads["I"], leads["II"]
        derived = {"III": two - one, "aVR": -(one + two) / 2, "aVL": one - two / 2, "aVF": two - one / 2}
        leads = {**{name: values for name, values in derived.items() if name not in leads}, **leads}
    missing = [name for name in TWELVE_LEADS if name not in leads]
    if missing:
        raise RecordError(path, f"the rhythm waveform lacks lead(s) {', '.join(missing)} "
                                f"(it holds {', '.join(leads)})")
    return leads


def _demographics(root: ElementTree.Element) -> tuple[float, str]:
    patient = root.find("PatientDemographics")
    if patient is None:
        return math.nan, "Unknown"
    return _age(_text(patient, "PatientAge"), _text(patient, "AgeUnits")), parse_sex(_text(patient, "Gender"))


def _age(value: str, unit: str) -> float:
    """Age in years from MUSE's PatientAge and AgeUnits (YEARS when left out); NaN when either is unusable."""
    years_per_unit = _YEARS_PER_AGE_UNIT.get(unit.upper() or "YEARS")
    try:
        age = float(value) * years_per_unit if years_per_unit is not None else math.nan
    except ValueError:
        return math.nan
    return age if math.isfinite(age) and age >= 0 else math.nan
