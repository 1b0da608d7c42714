"""The Philips PageWriter / TraceMaster XML reader (ecgnet/formats/philips.py), on sierraecg's own sample files
and on damaged copies of them."""

from __future__ import annotations

import base64
import importlib.util
import math
import re
from pathlib import Path

import numpy as np
import pytest
from exports import refused

from ecgnet.formats import RecordError, export_for, read_export
from ecgnet.formats._exports import TWELVE_LEADS
from ecgnet.formats.philips import _without_calibration, is_philips

pytest.importorskip("sierraecg")

DATA = Path(__file__).parent / "data" / "formats"
# Schema 1.03, UTF-8, age in years; and schema 1.04, UTF-16 as PageWriter TC writes it, age as a date of birth.
PHILIPS_103 = DATA / "philips" / "129DYPRG.xml"
PHILIPS_104 = DATA / "philips" / "3191723_ZZDEMOPTONLY_1-04_orig.xml"
MUSE_FILE = DATA / "muse" / "muse_ecg1.xml"
GENERIC_XML = '<?xml version="1.0" encoding="UTF-8"?>\n<catalog><book id="1"><title>ECG</title></book></catalog>\n'


def _peaks(signal: np.ndarray) -> np.ndarray:
    return np.abs(signal - np.median(signal, axis=1, keepdims=True)).max(axis=1)


@pytest.mark.parametrize(("path", "age"), [(PHILIPS_103, 50.0), (PHILIPS_104, 60.0)], ids=["1.03", "1.04"])
def test_the_real_files_give_ten_seconds_of_the_twelve_leads_in_millivolts(path, age):
    export = read_export(path)
    assert export.leads == TWELVE_LEADS
    assert export.frequency == 500.0
    # 11 s stored; the last second, which ends with the 1 mV calibration pulse, is cut off.
    assert export.signal.shape == (12, 5000)
    assert export.age == age and export.sex == "Male"  # 1.04: born 1950-01-01, recorded 2010-01-19
    peaks = _peaks(export.signal)
    assert np.all((peaks > 0.1) & (peaks < 5.0)), dict(zip(export.leads, peaks.round(2)))


def test_the_limb_leads_sierraecg_rebuilds_keep_einthovens_relation():
    one, two, three = read_export(PHILIPS_103).signal[:3]
    assert np.abs(three - (two - one)).max() <= 0.0101  # two bits of 5 uV: sierraecg's integer rounding


def test_the_last_second_is_cut_only_when_it_holds_the_calibration_pulse():
    # The pulse is every lead at 1 mV at once; a last second without it is data, and stays.
    signal = np.zeros((12, 5500))
    signal[:, 5350:5450] = 1.0
    assert _without_calibration(signal, 500.0, 5.0).shape == (12, 5000)
    signal[3, 5350:5450] = 0.5
    assert _without_calibration(signal, 500.0, 5.0).shape == (12, 5500)


def _text(path: Path = PHILIPS_103) -> str:
    return path.read_text(encoding="utf-8")


def _write(tmp_path: Path, text: str, name: str = "damaged.xml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("age", "sex", "years", "expected_sex"), [
    ("<months>18</months>", "Female", 1.5, "Female"),
    ("<dateofbirth>1961-12-02</dateofbirth>", "Unknown", 49.0, "Unknown"),  # recorded 2011-12-01, a day short
    ("", "", math.nan, "Unknown"),
])
def test_age_and_sex_come_from_the_patient_data(tmp_path, age, sex, years, expected_sex):
    text = (_text().replace("<age><years>50</years></age>", f"<age>{age}</age>")
            .replace("<sex>Male</sex>", f"<sex>{sex}</sex>"))
    export = read_export(_write(tmp_path, text))
    assert export.age == pytest.approx(years, nan_ok=True) and export.sex == expected_sex


def test_export_for_takes_philips_files_only(tmp_path):
    assert export_for(PHILIPS_103).name == "philips"
    assert export_for(PHILIPS_104).name == "philips"  # UTF-16: the sniff decodes it
    assert export_for(MUSE_FILE).name == "muse"
    assert not is_philips(MUSE_FILE.read_bytes()[:4096])
    generic = tmp_path / "catalog.xml"
    generic.write_text(GENERIC_XML)
    assert export_for(generic) is None


def _waveform_data(text: str) -> tuple[re.Match, bytes]:
    match = re.search(r"(<parsedwaveforms[^>]*>)(.*?)(</parsedwaveforms>)", text, re.S)
    return match, base64.b64decode("".join(match.group(2).split()))


def _with_waveform_data(text: str, data: str) -> str:
    match, _ = _waveform_data(text)
    return text[:match.start(2)] + data + text[match.end(2):]


def _truncated(text: str) -> str:
    return text[:len(text) // 2]


def _bad_base64(text: str) -> str:
    match, _ = _waveform_data(text)
    return _with_waveform_data(text, "@@@@" + match.group(2)[4:])


def _cut_waveform_data(text: str) -> str:
    _, data = _waveform_data(text)
    return _with_waveform_data(text, base64.b64encode(data[:len(data) // 2]).decode())


def _garbled_block_header(text: str) -> str:
    _, data = _waveform_data(text)
    return _with_waveform_data(text, base64.b64encode((-8).to_bytes(4, "little", signed=True) + data[4:]).decode())


def _empty_waveform_data(text: str) -> str:
    return _with_waveform_data(text, "")


def _no_parsedwaveforms(text: str) -> str:
    match, _ = _waveform_data(text)
    return text[:match.start()] + text[match.end():]


def _eight_leads(text: str) -> str:
    return text.replace("<numberchannelsallocated>12</numberchannelsallocated>",
                        "<numberchannelsallocated>8</numberchannelsallocated>")


def _uncompressed(text: str) -> str:
    return text.replace('compressmethod="XLI"', 'compressmethod="None"')


def _no_resolution(text: str) -> str:
    return text.replace("<signalresolution>5</signalresolution>", "")


DAMAGES = [
    (_truncated, "XML does not parse"),
    (_bad_base64, "parsedwaveforms: waveform data is not valid base64"),
    (_cut_waveform_data, "damaged waveform data"),
    (_garbled_block_header, "damaged waveform data"),
    (_empty_waveform_data, "holds no waveform data"),
    (_no_parsedwaveforms, "no parsedwaveforms element"),
    (_eight_leads, "lacks lead(s) V3, V4, V5, V6"),
    (_uncompressed, "only Base64 of XLI"),
    (_no_resolution, "no amplitude resolution"),
]


@pytest.mark.parametrize(("damage", "problem"), DAMAGES, ids=[damage.__name__ for damage, _ in DAMAGES])
def test_a_damaged_file_is_refused_in_one_line_naming_the_file(tmp_path, damage, problem):
    refused(_write(tmp_path, damage(_text())), problem)


def test_without_sierraecg_the_file_is_refused_with_the_install_command(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "sierraecg" else find_spec(name, *args))
    with pytest.raises(RecordError) as caught:
        read_export(PHILIPS_103)
    message = str(caught.value)
    assert message.startswith(str(PHILIPS_103)) and "\n" not in message
    assert "needs sierraecg" in message and "pip install 'ecgnet[formats]'" in message
    assert read_export(MUSE_FILE).leads == TWELVE_LEADS  # MUSE needs no library
