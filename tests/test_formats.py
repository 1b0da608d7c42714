"""The registry of signal-file formats: a new input format is one file of ``ecgnet/formats`` (and its test)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import ecgnet.formats
from ecgnet.discovery import find_records
from ecgnet.formats import format_for, format_of, list_formats, register_format, signal_suffixes, unregister_format
from ecgnet.records import RecordError, read_record, write_record

# A whole format, as its author writes it: one file that registers its reader.
CSV_FORMAT = '''
    """Signal files of comma-separated integers, one line per stored signal (a format for this test)."""

    from __future__ import annotations

    from collections.abc import Sequence
    from pathlib import Path

    import numpy as np

    from ecgnet.formats import Header, RecordError, Signals, check_signal_file, mark_invalid, register_format


    @register_format(".csv", "comma-separated integers, one line per stored signal")
    def read_csv(header_path: Path, header: Header, paths: Sequence[Path]) -> Signals:
        check_signal_file(paths[0])
        try:
            stored = np.loadtxt(paths[0], delimiter=",", dtype=np.int64, ndmin=2)
        except ValueError as error:
            raise RecordError(paths[0], f"not comma-separated integers ({error})") from None
        return Signals(mark_invalid(stored, [signal.fmt for signal in header.signals]), paths[0])
'''


@pytest.fixture
def csv_format(tmp_path, monkeypatch):
    """The CSV format, dropped as a file into a folder of the formats package and imported the package's way."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "csvsignals.py").write_text(textwrap.dedent(CSV_FORMAT))
    monkeypatch.setattr(ecgnet.formats, "__path__", [*ecgnet.formats.__path__, str(folder)])
    try:
        ecgnet.formats.import_formats()
        yield format_of(".csv")
    finally:
        if ".csv" in signal_suffixes():
            unregister_format(".csv")
        sys.modules.pop("ecgnet.formats.csvsignals", None)


def test_the_registry_lists_the_matlab_and_wfdb_formats():
    suffixes = signal_suffixes()
    assert ".mat" in suffixes and ".dat" in suffixes
    assert [entry.suffix for entry in list_formats()] == list(suffixes)
    assert format_of(".mat").read.__module__ == "ecgnet.formats.matlab"
    assert format_of(".dat").read.__module__ == "ecgnet.formats.wfdb"
    assert all(entry.description for entry in list_formats())


def test_files_are_read_by_the_format_of_their_suffix_else_as_wfdb_signal_files():
    assert format_for([Path("R1.mat")]).suffix == ".mat"
    assert format_for([Path("R1.dat"), Path("R1b.dat")]).suffix == ".dat"
    # WFDB signal files may bear any name, and a record of several suffixes is read by wfdb, as before.
    assert format_for([Path("R1.sig")]).suffix == ".dat"
    assert format_for([Path("R1.mat"), Path("R1.dat")]).suffix == ".dat"


def test_a_suffix_is_registered_once():
    def reader(header_path, header, paths):
        raise AssertionError("never called")

    with pytest.raises(ValueError, match="'.mat' is already registered"):
        register_format(".mat", "another MATLAB reader")(reader)
    with pytest.raises(ValueError, match="cannot be the fallback"):
        register_format(".sig", "a second fallback", fallback=True)(reader)
    assert ".sig" not in signal_suffixes()
    for suffix in ("csv", ".CSV", ".hea", ".tar.gz", ""):
        with pytest.raises(ValueError, match="suffix"):
            register_format(suffix, "a bad suffix")
    with pytest.raises(ValueError, match="description"):
        register_format(".csv", " ")
    with pytest.raises(ValueError, match="unknown signal-file format '.csv'"):
        format_of(".csv")
    with pytest.raises(ValueError, match="'.csv' is not registered"):
        unregister_format(".csv")


def test_a_new_format_is_one_file_found_and_read_like_the_others(csv_format, tmp_path):
    assert csv_format.suffix == ".csv" and ".csv" in signal_suffixes()
    data = tmp_path / "data"
    data.mkdir()
    (data / "R1.hea").write_text("R1 2 500 4\nR1.csv 16 1000/mV 16 0 0 0 0 I\nR1.csv 16 1000/mV 16 0 0 0 0 II\n"
                                 "#Age: 50\n#Sex: Male\n#Dx: 426783006\n")
    (data / "R1.csv").write_text("1,2,3,4\n5,-32768,7,8\n")
    (data / "ORPHAN.csv").write_text("1,2\n")
    (data / "UPPER.CSV").write_text("1,2\n")

    listing = find_records(data)
    assert [record.record_id for record in listing.records] == ["R1"]
    assert listing.records[0].signal_paths == (data / "R1.csv",)
    reasons = dict(listing.failures)
    assert reasons[str(data / "ORPHAN.csv")].startswith("no header (.hea) names this signal file")
    assert reasons[str(data / "UPPER.CSV")].startswith("upper-case extension '.CSV'")

    record = read_record(data / "R1.hea")
    np.testing.assert_array_equal(record.recording, [[1, 2, 3, 4], [5, np.nan, 7, 8]])
    assert record.header.leads == ("I", "II") and record.header.labels == ("426783006",)

    (data / "R1.csv").write_text("1,2,x\n")
    with pytest.raises(RecordError, match=r"R1\.csv: not comma-separated integers"):
        read_record(data / "R1.hea")


def test_a_format_unregistered_is_forgotten_by_discovery(csv_format, tmp_path):
    (tmp_path / "ORPHAN.csv").write_text("1,2\n")
    assert [path for path, _ in find_records(tmp_path).failures] == [str(tmp_path / "ORPHAN.csv")]
    unregister_format(".csv")
    assert ".csv" not in signal_suffixes()
    assert find_records(tmp_path).failures == []  # no longer a signal file: not a record's file at all


def test_the_existing_formats_still_read_their_records(tmp_path):
    signal = np.array([[0.0, 0.5, -0.25], [1.0, np.nan, 2.0]])
    record = read_record(write_record(tmp_path, "R1", signal, 500, leads=("I", "II")))
    np.testing.assert_array_equal(record.recording, [[0, 500, -250], [1000, np.nan, 2000]])
