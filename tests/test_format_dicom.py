"""The DICOM ECG waveform reader (ecgnet/formats/dicom.py) on a real 12-lead file and damaged copies of it."""

from __future__ import annotations

import importlib.util
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom", reason="the DICOM reader needs pydicom, a dependency: pip install pydicom")

from exports import refused  # noqa: E402

from ecgnet.formats import export_for, read_export  # noqa: E402
from ecgnet.formats._exports import TWELVE_LEADS  # noqa: E402
from ecgnet.formats.dicom import dicom_lead  # noqa: E402

REAL = Path(__file__).parent / "data" / "formats" / "dicom" / "waveform_ecg.dcm"




def _edited(tmp_path: Path, edit) -> Path:
    """A copy of the real file with ``edit(dataset)`` applied."""
    dataset = pydicom.dcmread(REAL)
    edit(dataset)
    path = tmp_path / "edited.dcm"
    dataset.save_as(path)
    return path


def test_the_real_file_reads_as_its_rhythm_strip_in_millivolts():
    export = read_export(REAL)
    assert export.leads == TWELVE_LEADS
    assert export.frequency == 1000.0
    assert export.signal.shape == (12, 10_000)  # the 10-s rhythm strip, not the 1.2-s median beat
    assert export.signal.dtype == np.float64 and not np.isnan(export.signal).any()
    peaks = np.abs(export.signal).max(axis=1)
    assert np.all((peaks > 0.1) & (peaks < 5.0)), peaks
    # What the file says, read with pydicom directly: 042Y, F, and stored integers x 1.25 uV.
    dataset = pydicom.dcmread(REAL)
    assert (dataset.PatientAge, dataset.PatientSex) == ("042Y", "F")
    assert export.age == 42.0 and export.sex == "Female"
    stored = np.frombuffer(dataset.WaveformSequence[0].WaveformData, "<i2").reshape(10_000, 12)
    np.testing.assert_allclose(export.signal, stored.T * 1.25e-3)


def test_dicom_channel_meanings_map_to_standard_leads():
    assert dicom_lead("Lead I (Einthoven)") == "I"
    assert dicom_lead("Lead III (Einthoven)") == "III"
    assert dicom_lead("Lead aVR") == "aVR"
    assert dicom_lead("Lead V1") == "V1"
    assert dicom_lead("Lead V4R") == "Lead V4R"  # no standard lead: kept as the file writes it


def test_the_format_is_chosen_by_suffix_and_preamble(tmp_path):
    assert export_for(REAL).name == "dicom"
    other = tmp_path / "notes.dcm"
    other.write_bytes(b"\0" * 200)
    assert export_for(other) is None
    renamed = tmp_path / "waveform.bin"
    shutil.copy(REAL, renamed)
    assert export_for(renamed) is None  # the suffix decides first


def test_a_median_beat_is_never_read_and_a_group_without_label_is_chosen_by_size(tmp_path):
    def only_median(dataset):
        del dataset.WaveformSequence[0]

    refused(_edited(tmp_path, only_median), "only averaged beats", "MEDIAN BEAT")

    def unlabelled(dataset):
        for group in dataset.WaveformSequence:
            del group.MultiplexGroupLabel
        dataset.WaveformSequence.reverse()

    assert read_export(_edited(tmp_path, unlabelled)).signal.shape == (12, 10_000)


def test_baseline_correction_and_millivolt_units_scale_the_samples(tmp_path):
    def millivolts(dataset):
        for channel in dataset.WaveformSequence[0].ChannelDefinitionSequence:
            channel.ChannelSensitivity = "0.00125"
            channel.ChannelSensitivityCorrectionFactor = "2"
            channel.ChannelBaseline = "0.5"
            channel.ChannelSensitivityUnitsSequence[0].CodeValue = "mV"

    expected = read_export(REAL).signal * 2 + 0.5
    np.testing.assert_allclose(read_export(_edited(tmp_path, millivolts)).signal, expected)


def test_padding_samples_are_missing(tmp_path):
    def padded(dataset):
        group = dataset.WaveformSequence[0]
        stored = np.frombuffer(group.WaveformData, "<i2").copy()
        stored[0] = -32768
        group.WaveformData = stored.tobytes()
        group.add_new("WaveformPaddingValue", "OW", np.int16(-32768).tobytes())

    signal = read_export(_edited(tmp_path, padded)).signal
    assert math.isnan(signal[0, 0]) and np.isnan(signal).sum() == 1


def test_age_in_months_and_from_dates(tmp_path):
    def months(dataset):
        dataset.PatientAge = "018M"

    assert read_export(_edited(tmp_path, months)).age == pytest.approx(1.5)

    def no_age(dataset):
        del dataset.PatientAge

    assert read_export(_edited(tmp_path, no_age)).age == 42.0  # born 1971-01-23, studied 2013-01-25

    def nothing(dataset):
        del dataset.PatientAge, dataset.PatientBirthDate, dataset.PatientSex

    export = read_export(_edited(tmp_path, nothing))
    assert math.isnan(export.age) and export.sex == "Unknown"


def test_a_truncated_file_isrefused(tmp_path):
    data = REAL.read_bytes()
    half = tmp_path / "half.dcm"
    half.write_bytes(data[: len(data) // 2])
    refused(half, "truncated")


def test_garbage_after_the_preamble_isrefused(tmp_path):
    garbage = tmp_path / "garbage.dcm"
    garbage.write_bytes(b"\0" * 128 + b"DICM" + bytes(range(256)) * 8)
    refused(garbage)
    wrong_magic = tmp_path / "magic.dcm"
    wrong_magic.write_bytes(REAL.read_bytes()[:128] + b"DICX" + REAL.read_bytes()[132:])
    refused(wrong_magic, "not an ECG file any export format recognises")


def test_a_file_without_waveform_isrefused(tmp_path):
    def no_waveform(dataset):
        del dataset.WaveformSequence

    refused(_edited(tmp_path, no_waveform), "no waveform")


def test_missing_channels_and_short_waveform_data_arerefused(tmp_path):
    def fewer_channels(dataset):
        del dataset.WaveformSequence[0].ChannelDefinitionSequence[11]

    refused(_edited(tmp_path, fewer_channels), "holds 12 channels but defines 11")

    def short_data(dataset):
        group = dataset.WaveformSequence[0]
        group.WaveformData = bytes(group.WaveformData)[:1000]

    refused(_edited(tmp_path, short_data), "waveform data truncated", "1000 of the 240000 bytes")


def test_a_unit_that_is_no_voltage_isrefused(tmp_path):
    def degrees(dataset):
        dataset.WaveformSequence[0].ChannelDefinitionSequence[3].ChannelSensitivityUnitsSequence[0].CodeValue = "Cel"

    refused(_edited(tmp_path, degrees), "signal unit 'Cel' is not a voltage")

    def no_unit(dataset):
        del dataset.WaveformSequence[0].ChannelDefinitionSequence[0].ChannelSensitivityUnitsSequence

    refused(_edited(tmp_path, no_unit), "lead I has no ChannelSensitivityUnitsSequence")


def test_a_missing_pydicom_is_named_with_the_install_command(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None if name == "pydicom"
                        else find_spec(name, *args))
    assert export_for(REAL).missing() == ["pydicom"]
    refused(REAL, "reading DICOM ECG waveform needs pydicom: pip install pydicom", "pip install 'ecgnet[formats]'")
