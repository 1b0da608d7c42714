"""The EDF/EDF+ reader (ecgnet/formats/edf.py) on files written with edfio from synthetic ECGs (no small, clearly
licensed real EDF ECG was found: tests/data/formats/edf/README.md), and on damaged copies of them."""

from __future__ import annotations

import datetime
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

edfio = pytest.importorskip("edfio", reason="the EDF reader needs edfio: pip install 'ecgnet[formats]'")

from exports import refused  # noqa: E402

from ecgnet.formats import export_for, read_export  # noqa: E402
from ecgnet.formats._exports import TWELVE_LEADS  # noqa: E402
from ecgnet.formats.edf import edf_lead  # noqa: E402
from ecgnet.synthetic import simulate_record  # noqa: E402


def _write(path: Path, signals: list, **header) -> Path:
    edfio.Edf(signals, **header).write(path)
    return path


@pytest.fixture(scope="module")
def record():
    """10 s of a synthetic 12-lead ECG at 500 Hz, in mV."""
    return simulate_record(0, frequency=500.0, duration=10.0)


@pytest.fixture
def twelve_lead(tmp_path, record) -> Path:
    """A plain EDF (no EDF+ patient field) of the 12 leads, labelled by their names, in mV."""
    signals = [edfio.EdfSignal(row, 500, label=lead, physical_dimension="mV", physical_range=(-10, 10))
               for lead, row in zip(record.leads, record.signal)]
    return _write(tmp_path / "twelve.edf", signals)


@pytest.fixture
def edf_plus(tmp_path, record) -> Path:
    """An EDF+ with ECG I, II, V1 in uV, a respiration signal at 10 Hz, a patient (F, born 1960-05-03) and a
    start date (2020-01-02)."""
    rows = {lead: record.signal[TWELVE_LEADS.index(lead)] * 1000 for lead in ("I", "II", "V1")}
    signals = [edfio.EdfSignal(row, 500, label=f"ECG {lead}", physical_dimension="uV",
                               physical_range=(-10_000, 10_000)) for lead, row in rows.items()]
    signals.append(edfio.EdfSignal(np.sin(np.arange(100) / 5), 10, label="Resp chest", physical_dimension="Ohm"))
    patient = edfio.Patient(code="P1", sex="F", birthdate=datetime.date(1960, 5, 3))
    return _write(tmp_path / "plus.edf", signals, patient=patient,
                  recording=edfio.Recording(startdate=datetime.date(2020, 1, 2)))


def test_a_twelve_lead_edf_reads_in_millivolts(twelve_lead, record):
    export = read_export(twelve_lead)
    assert export.leads == TWELVE_LEADS and export.frequency == 500.0
    assert export.signal.shape == (12, 5000) and export.signal.dtype == np.float64
    peaks = np.abs(export.signal).max(axis=1)
    assert 0.1 < np.median(peaks) < 5.0, peaks
    np.testing.assert_allclose(export.signal, record.signal, atol=20 / 65535)  # 16-bit over 20 mV
    assert math.isnan(export.age) and export.sex == "Unknown"  # a plain EDF says nothing of the patient


def test_an_edf_plus_keeps_its_ecg_leads_converts_microvolts_and_reads_the_patient(edf_plus, record):
    export = read_export(edf_plus)
    assert export.leads == ("I", "II", "V1") and export.frequency == 500.0
    expected = record.signal[[TWELVE_LEADS.index(lead) for lead in export.leads]]
    np.testing.assert_allclose(export.signal, expected, atol=20 / 65535)
    assert export.age == 59.0 and export.sex == "Female"  # 2020-01-02, born 1960-05-03: not yet 60


def test_edf_labels_map_to_standard_leads():
    assert [edf_lead(label) for label in ("ECG I", "ECG V1", "EKG aVR", "ECG Lead II", "Lead III", "v6")] == [
        "I", "V1", "aVR", "II", "III", "V6"]
    assert edf_lead("EEG Fpz-Cz") == "EEG Fpz-Cz" and edf_lead("ECG") == "ECG"


def test_the_format_is_chosen_by_suffix_and_version_field(twelve_lead, tmp_path):
    assert export_for(twelve_lead).name == "edf"
    bdf = tmp_path / "biosemi.edf"
    bdf.write_bytes(b"\xffBIOSEMI" + twelve_lead.read_bytes()[8:])
    assert export_for(bdf) is None
    text = tmp_path / "notes.xml"
    text.write_text("<notes/>")
    assert export_for(text) is None


def test_a_truncated_file_isrefused(twelve_lead, tmp_path):
    data = twelve_lead.read_bytes()
    half = tmp_path / "half.edf"
    half.write_bytes(data[: len(data) // 2])
    refused(half, "truncated", "bytes its header announces")
    header = tmp_path / "header.edf"
    header.write_bytes(data[:1000])
    refused(header, "truncated", "header")


def test_garbage_after_the_version_field_isrefused(tmp_path):
    garbage = tmp_path / "garbage.edf"
    garbage.write_bytes(b"0       " + bytes(range(256)) * 4)
    refused(garbage, "not an EDF header")
    wrong_magic = tmp_path / "magic.edf"
    wrong_magic.write_bytes(b"1       " + bytes(300))
    refused(wrong_magic, "not an ECG file any export format recognises")


def test_a_file_without_ecg_leads_isrefused(tmp_path):
    signals = [edfio.EdfSignal(np.zeros(1000), 100, label=label, physical_dimension="uV")
               for label in ("EEG Fpz-Cz", "EOG horizontal", "ECG")]
    refused(_write(tmp_path / "psg.edf", signals),
             "no ECG lead among its signals (labels: EEG Fpz-Cz, EOG horizontal, ECG)")


def test_ecg_leads_at_different_rates_arerefused(tmp_path):
    signals = [edfio.EdfSignal(np.zeros(5000), 500, label="ECG I", physical_dimension="uV"),
               edfio.EdfSignal(np.zeros(2500), 250, label="ECG II", physical_dimension="uV")]
    refused(_write(tmp_path / "rates.edf", signals), "different rates (I 500 Hz, II 250 Hz)")


def test_a_unit_that_is_no_voltage_isrefused(tmp_path):
    signals = [edfio.EdfSignal(np.zeros(1000), 100, label="II", physical_dimension="degC")]
    refused(_write(tmp_path / "unit.edf", signals), "signal unit 'degC' is not a voltage")
    signals = [edfio.EdfSignal(np.zeros(1000), 100, label="II")]
    refused(_write(tmp_path / "none.edf", signals), "signal unit '' is not a voltage")


def test_a_missing_edfio_is_named_with_the_install_command(twelve_lead, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None if name == "edfio"
                        else find_spec(name, *args))
    refused(twelve_lead, "needs edfio: pip install edfio", "pip install 'ecgnet[formats]'")
