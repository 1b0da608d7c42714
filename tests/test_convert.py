"""``ecgnet convert``: every export format written as a Challenge record and read back as the same record, with
the same outputs; a folder converted with its bad files refused one line each."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ecgnet.cli import run_command
from ecgnet.commands import convert
from ecgnet.records import read_record

pytest.importorskip("pydicom")
pytest.importorskip("sierraecg")
pytest.importorskip("edfio")

FORMATS = Path(__file__).parent / "data" / "formats"
#: A real file of each vendor (tests/data/formats, each folder's README gives its provenance and licence).
REAL_FILES = ["dicom/waveform_ecg.dcm", "muse/muse_ecg1.xml", "philips/129DYPRG.xml",
              "table/waveform_ecg_2s.csv", "table/waveform_ecg_2s.npz"]
#: Half a digital unit of the written record (1 uV), in mV: what storing as int16 microvolts may move a sample.
ROUNDING_MV = 0.0005 + 1e-9


def _edf(folder: Path) -> Path:
    """An EDF+ file written by edfio from a synthetic ECG (no small real EDF ECG with a clear licence exists in
    the tools' own test data; see tests/data/formats/edf/README.md)."""
    import edfio

    from ecgnet.synthetic import simulate_record

    signal = simulate_record(3, frequency=500.0, duration=10.0).signal * 1000.0  # uV
    leads = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    signals = [edfio.EdfSignal(row, sampling_frequency=500.0, label=f"ECG {lead}", physical_dimension="uV",
                               physical_range=(-32768, 32767)) for row, lead in zip(signal, leads)]
    path = folder / "synthetic_edf.edf"
    edfio.Edf(signals).write(path)
    return path


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("originals")
    for name in REAL_FILES:  # the CSV and the NumPy file hold one record: ids of their own (their suffixes)
        target = Path(name).name.replace(".npz", "_numpy.npz")
        shutil.copyfile(FORMATS / name, folder / target)
    _edf(folder)
    return folder


def _convert(capsys, *args: object) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as status:
        run_command(lambda: convert.main(list(map(str, args))), "ecgnet convert")
    out, err = capsys.readouterr()
    return status.value.code, out, err


def test_every_format_converts_and_reads_back_as_the_same_record(originals, tmp_path, capsys):
    status, out, err = _convert(capsys, originals, tmp_path / "converted")
    assert status == 0, err
    assert out.strip().endswith(f"converted 6 records into {tmp_path / 'converted'}")
    for original in sorted(originals.iterdir()):
        source = read_record(original)
        written = read_record(tmp_path / "converted" / f"{original.stem}.hea")
        assert written.header.leads == source.header.leads
        assert written.header.frequency == source.header.frequency
        assert written.header.sex == source.header.sex
        assert np.isnan(written.header.age) == np.isnan(source.header.age)
        assert np.isnan(source.header.age) or written.header.age == pytest.approx(source.header.age, abs=0.5)
        mv_source = source.recording / source.header.gains[:, None]
        mv_written = written.recording / written.header.gains[:, None]
        assert np.array_equal(np.isnan(mv_source), np.isnan(mv_written)), original.name
        assert np.nanmax(np.abs(mv_source - mv_written)) <= ROUNDING_MV, original.name


def test_a_converted_record_gives_the_outputs_of_its_original(trained_model, originals, tmp_path, capsys):
    from ecgnet.inference import run_folder

    _convert(capsys, originals, tmp_path / "converted")
    run_folder(trained_model, originals, tmp_path / "out_original", progress=False)
    run_folder(trained_model, tmp_path / "converted", tmp_path / "out_converted", progress=False)
    for original in sorted(originals.iterdir()):
        first = (tmp_path / "out_original" / f"{original.stem}.csv").read_text().splitlines()
        second = (tmp_path / "out_converted" / f"{original.stem}.csv").read_text().splitlines()
        assert first[:3] == second[:3], original.name  # record line, classes, binary outputs
        probabilities = [np.array(lines[3].split(","), dtype=float) for lines in (first, second)]
        assert np.abs(probabilities[0] - probabilities[1]).max() < 1e-3, original.name


def test_a_bad_file_is_refused_in_one_line_and_the_others_convert(originals, tmp_path, capsys):
    folder = tmp_path / "mixed"
    shutil.copytree(originals, folder)
    data = (FORMATS / "dicom/waveform_ecg.dcm").read_bytes()
    (folder / "cut.dcm").write_bytes(data[: len(data) // 2])
    status, out, err = _convert(capsys, folder, tmp_path / "converted")
    assert status == 1
    assert "converted 6 records" in out and "1 refused" in out
    assert err.count("\n") == 1 and f"refused {folder / 'cut.dcm'}: " in err
    assert not (tmp_path / "converted" / "cut.hea").exists()


def test_a_record_already_there_is_kept_unless_overwrite(originals, tmp_path, capsys):
    source = originals / "muse_ecg1.xml"
    assert _convert(capsys, source, tmp_path)[0] == 0
    status, _, err = _convert(capsys, source, tmp_path)
    assert status == 1 and "already exists (--overwrite replaces it)" in err
    assert _convert(capsys, source, tmp_path, "--overwrite")[0] == 0


def test_a_missing_source_creates_nothing(tmp_path, capsys):
    status, _, err = _convert(capsys, tmp_path / "nowhere.dcm", tmp_path / "out")
    assert status == 1 and "no such file or folder" in err
    assert not (tmp_path / "out").exists()
