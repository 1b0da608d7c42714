"""The GE MUSE XML reader (ecgnet/formats/muse.py), on a real MUSE export and on damaged copies of it."""

from __future__ import annotations

import base64
import math
import re
from pathlib import Path

import numpy as np
import pytest
from exports import refused

from ecgnet.formats import RecordError, _xml, export_for, muse, read_export
from ecgnet.formats._exports import TWELVE_LEADS

DATA = Path(__file__).parent / "data" / "formats"
# A MAC55 resting ECG exported by MUSE 9 (8 stored leads, a Median and a Rhythm waveform); see its README.
MUSE_FILE = DATA / "muse" / "muse_ecg1.xml"
PHILIPS_FILE = DATA / "philips" / "129DYPRG.xml"
GENERIC_XML = '<?xml version="1.0" encoding="UTF-8"?>\n<catalog><book id="1"><title>ECG</title></book></catalog>\n'


def _text() -> str:
    return MUSE_FILE.read_text(encoding="latin-1")  # the file declares ISO-8859-1


def _write(tmp_path: Path, text: str, name: str = "damaged.xml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="latin-1")
    return path


def _rhythm_lead(text: str, lead: str) -> re.Match:
    """The LeadData block of ``lead`` in the rhythm waveform (the Median waveform comes first in the file)."""
    rhythm = text.index("<WaveformType>Rhythm</WaveformType>")
    pattern = re.compile(r"<LeadData>(?:(?!</LeadData>).)*?<LeadID>" + lead + r"</LeadID>.*?</LeadData>\s*", re.S)
    return pattern.search(text, rhythm)


def _with_waveform_data(text: str, lead: str, data: str) -> str:
    block = _rhythm_lead(text, lead)
    new_block = re.sub(r"<WaveFormData>.*?</WaveFormData>", f"<WaveFormData>{data}</WaveFormData>",
                       block.group(0), flags=re.S)
    return text[:block.start()] + new_block + text[block.end():]


def _without_lead(text: str, lead: str) -> str:
    block = _rhythm_lead(text, lead)
    return text[:block.start()] + text[block.end():]


def test_the_real_export_gives_the_twelve_leads_of_its_rhythm_strip_in_millivolts():
    export = read_export(MUSE_FILE)
    assert export.leads == TWELVE_LEADS
    assert export.frequency == 500.0
    assert export.signal.shape == (12, 5000)  # the rhythm strip (10 s), not the 600-sample median beat
    assert export.age == 60.0 and export.sex == "Male"
    peaks = np.abs(export.signal - np.median(export.signal, axis=1, keepdims=True)).max(axis=1)
    assert np.all((peaks > 0.1) & (peaks < 5.0)), dict(zip(export.leads, peaks.round(2)))


def test_amplitudes_are_the_stored_integers_times_the_units_per_bit():
    # Lead I's first samples, decoded by hand from the rhythm strip's base64 (little-endian int16, 4.88 uV/bit).
    block = _rhythm_lead(_text(), "I").group(0)
    first = re.search(r"<WaveFormData>\s*(\S+)", block).group(1)[:8]  # 8 base64 characters: 3 whole samples
    stored = np.frombuffer(base64.b64decode(first)[:6], dtype="<i2")
    export = read_export(MUSE_FILE)
    np.testing.assert_allclose(export.signal[0, :3], stored * 4.88 / 1000)


def test_the_four_limb_leads_muse_does_not_store_are_derived_from_i_and_ii():
    export = read_export(MUSE_FILE)
    one, two, three, avr, avl, avf = export.signal[:6]
    np.testing.assert_allclose(three, two - one)
    np.testing.assert_allclose(avr, -(one + two) / 2)
    np.testing.assert_allclose(avl, one - two / 2)
    np.testing.assert_allclose(avf, two - one / 2)


def test_a_stored_limb_lead_is_read_not_derived(tmp_path):
    text = _text()
    lead_i = _rhythm_lead(text, "I")
    as_iii = lead_i.group(0).replace("<LeadID>I</LeadID>", "<LeadID>III</LeadID>")
    export = read_export(_write(tmp_path, text[:lead_i.end()] + as_iii + text[lead_i.end():]))
    np.testing.assert_array_equal(export.signal[TWELVE_LEADS.index("III")], export.signal[0])


@pytest.mark.parametrize(("age", "units", "gender", "years", "sex"), [
    ("18", "MONTHS", "FEMALE", 1.5, "Female"),
    ("70", "", "MALE", 70.0, "Male"),  # no AgeUnits: years
    ("", "YEARS", "UNKNOWN", math.nan, "Unknown"),
    ("40", "FORTNIGHTS", "", math.nan, "Unknown"),
])
def test_age_and_sex_come_from_the_patient_demographics(tmp_path, age, units, gender, years, sex):
    text = (_text().replace("<PatientAge>60</PatientAge>", f"<PatientAge>{age}</PatientAge>")
            .replace("<AgeUnits>YEARS</AgeUnits>", f"<AgeUnits>{units}</AgeUnits>")
            .replace("<Gender>MALE</Gender>", f"<Gender>{gender}</Gender>"))
    export = read_export(_write(tmp_path, text))
    assert export.age == pytest.approx(years, nan_ok=True) and export.sex == sex


def test_an_export_written_in_utf16_is_recognised_and_read(tmp_path):
    text = _text().replace('encoding="ISO-8859-1"', 'encoding="UTF-16"')
    path = tmp_path / "utf16.xml"
    path.write_bytes(text.encode("utf-16"))
    assert export_for(path).name == "muse"
    assert read_export(path).signal.shape == (12, 5000)


def test_export_for_takes_muse_files_only(tmp_path):
    assert export_for(MUSE_FILE).name == "muse"
    assert not muse.is_muse(PHILIPS_FILE.read_bytes()[:4096])
    generic = tmp_path / "catalog.xml"
    generic.write_text(GENERIC_XML)
    assert export_for(generic) is None
    mention = tmp_path / "mention.xml"  # a file that names the element without being one
    mention.write_text('<?xml version="1.0"?>\n<!-- not a <RestingECG> -->\n<notes>RestingECG</notes>\n')
    assert export_for(mention) is None


def _truncated(text: str) -> str:
    return text[:len(text) // 2]


def _bad_base64(text: str) -> str:
    return _with_waveform_data(text, "V3", "AAAA@@@@not base64!!")


def _odd_bytes(text: str) -> str:
    return _with_waveform_data(text, "V3", "AAAA")  # 3 bytes


def _short_lead(text: str) -> str:
    return _with_waveform_data(text, "V3", "AAAAAA==")  # 2 samples where the others have 5000


def _no_rhythm(text: str) -> str:
    return text.replace("<WaveformType>Rhythm</WaveformType>", "<WaveformType>Median</WaveformType>")


def _no_v4(text: str) -> str:
    return _without_lead(text, "V4")


def _no_ii(text: str) -> str:
    return _without_lead(text, "II")


def _no_sample_base(text: str) -> str:
    rhythm = text.index("<WaveformType>Rhythm</WaveformType>")
    return text[:rhythm] + text[rhythm:].replace("<SampleBase>500</SampleBase>", "", 1)


def _entities(text: str) -> str:
    declaration = '<!DOCTYPE RestingECG [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    return (text.replace('<!DOCTYPE RestingECG SYSTEM "restecg.dtd">', declaration)
            .replace("<PatientLastName>TEST 05</PatientLastName>", "<PatientLastName>&b;</PatientLastName>"))


DAMAGES = [
    (_truncated, "XML does not parse"),
    (_bad_base64, "lead V3: waveform data is not valid base64"),
    (_odd_bytes, "lead V3: waveform data holds 3 bytes"),
    (_short_lead, "rhythm leads of unequal lengths"),
    (_no_rhythm, "no rhythm waveform"),
    (_no_v4, "lacks lead(s) V4"),
    (_no_ii, "lacks lead(s) II, III, aVR, aVL, aVF"),
    (_no_sample_base, "no SampleBase"),
    (_entities, "entities"),
]


@pytest.mark.parametrize(("damage", "problem"), DAMAGES, ids=[damage.__name__ for damage, _ in DAMAGES])
def test_a_damaged_export_is_refused_in_one_line_naming_the_file(tmp_path, damage, problem):
    refused(_write(tmp_path, damage(_text())), problem)


def test_without_defusedxml_entity_declarations_are_refused_and_real_files_still_read(tmp_path, monkeypatch):
    monkeypatch.setattr(_xml, "_defused_fromstring", None)
    assert read_export(MUSE_FILE).signal.shape == (12, 5000)  # its DOCTYPE names a DTD: harmless, read
    with pytest.raises(RecordError, match="declares entities"):
        read_export(_write(tmp_path, _entities(_text())))
    with pytest.raises(RecordError, match="XML does not parse"):
        read_export(_write(tmp_path, _truncated(_text())))
