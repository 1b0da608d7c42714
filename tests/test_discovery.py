"""The one record finder: what it finds, and the reason it gives for every file it does not use."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from ecgnet.discovery import find_headers, find_records, index_records
from ecgnet.labels import default_class_table
from ecgnet.records import STANDARD_LEADS, RecordError, write_record

TABLE = default_class_table()
SINUS = "426783006"
AF = "164889003"


def _record(folder: Path, record_id: str, leads=STANDARD_LEADS) -> Path:
    signal = np.sin(np.linspace(0, 20, 1000))[None, :].repeat(len(leads), axis=0)
    return write_record(folder, record_id, signal, 500, leads=leads)


def _reasons(folder: Path) -> dict[str, str]:
    return dict(find_records(folder).failures)


def test_finds_records_recursively_in_path_order(tmp_path):
    _record(tmp_path, "B1")
    _record(tmp_path / "sub" / "deeper", "A1")
    listing = find_records(tmp_path)
    assert [r.record_id for r in listing.records] == ["B1", "A1"]  # B1.hea sorts before sub/
    assert listing.failures == []
    assert listing.records[0].signal_paths == (tmp_path / "B1.mat",)


def test_a_missing_folder_is_one_clear_error(tmp_path):
    with pytest.raises(RecordError, match="is not a directory"):
        find_records(tmp_path / "absent")


def test_every_unusable_record_file_is_named_with_its_reason(tmp_path):
    _record(tmp_path, "GOOD")
    _record(tmp_path, "NOSIGNAL").with_suffix(".mat").unlink()
    scipy.io.savemat(tmp_path / "A0001.mat", {"ECG": {"sex": "Male", "age": 50, "data": np.zeros((12, 10))}})
    _record(tmp_path, ".hidden")
    upper = _record(tmp_path, "UPPER")
    upper.rename(tmp_path / "UPPER.HEA")
    (tmp_path / "broken.hea").write_text("not a header\n")
    (tmp_path / "dangling.hea").symlink_to(tmp_path / "nowhere.hea")
    (tmp_path / "notes.txt").write_text("GOOD 12 500 1000\n")
    (tmp_path / "LINK.hea").symlink_to(tmp_path / "notes.txt")
    _record(tmp_path, "new\nline")

    listing = find_records(tmp_path)
    reasons = dict(listing.failures)

    assert [r.record_id for r in listing.records] == ["GOOD"]
    assert "NOSIGNAL.mat is missing" in reasons[str(tmp_path / "NOSIGNAL.hea")]
    assert "no header" in reasons[str(tmp_path / "A0001.mat")]
    assert "hidden" in reasons[str(tmp_path / ".hidden.hea")]
    assert "upper-case extension '.HEA'" in reasons[str(tmp_path / "UPPER.HEA")]
    assert "no header" in reasons[str(tmp_path / "UPPER.mat")]  # its header cannot be read as one
    assert "number of signals 'a'" in reasons[str(tmp_path / "broken.hea")]  # read as record "not" of "a" signals
    assert reasons[str(tmp_path / "dangling.hea")] == "broken symbolic link"
    assert "not a .hea file" in reasons[str(tmp_path / "LINK.hea")]
    assert "GOOD 12" not in " ".join(reasons.values())  # the linked file's content is never echoed
    assert "control character" in reasons[str(tmp_path / "new\\nline.hea")]
    assert all("\n" not in f"{file},{reason}" for file, reason in listing.failures)


def test_a_symbolic_link_loop_is_reported_and_not_walked_forever(tmp_path):
    _record(tmp_path / "data", "R1")
    os.symlink(tmp_path / "data", tmp_path / "data" / "again")
    listing = find_records(tmp_path)
    assert [r.record_id for r in listing.records] == ["R1"]
    assert "loop" in _reasons(tmp_path)[str(tmp_path / "data" / "again")]


def test_of_two_copies_of_a_record_the_one_with_most_leads_is_used(tmp_path):
    _record(tmp_path / "two", "R1", leads=("I", "II"))
    twelve = _record(tmp_path / "twelve", "R1")
    listing = find_records(tmp_path)
    assert listing.header_paths == [twelve]
    assert "another copy of record R1" in dict(listing.failures)[str(tmp_path / "two" / "R1.hea")]


def test_labels_need_no_signal_files_and_are_not_parsed(tmp_path):
    _record(tmp_path, "R1").with_suffix(".mat").unlink()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "R2.hea").write_text("not a header, but\n#Dx: 426783006\n")  # labels may still be read
    _record(tmp_path / "other", "R1")
    assert find_records(tmp_path).header_paths == [tmp_path / "other" / "R1.hea"]
    headers, failures = find_headers(tmp_path)
    assert headers == [str(tmp_path / "R1.hea"), str(tmp_path / "sub" / "R2.hea")]
    copy = f"another copy of record R1 ({tmp_path / 'R1.hea'}) is used"
    assert failures == [(str(tmp_path / "other" / "R1.hea"), copy)]


def test_a_signal_file_outside_the_record_folder_is_refused(tmp_path):
    (tmp_path / "R1.hea").write_text("R1 1 500 10\n../R1.dat 16 1000/mV 16 0 0 0 0 I\n")
    assert "outside its folder" in _reasons(tmp_path)[str(tmp_path / "R1.hea")]


# Indexing a data folder.
def test_index_records_of_shared_training_folder(shared_data):
    index, failures = index_records(shared_data / "cinc2021" / "training", TABLE)
    assert failures == []
    assert len(index) == 77
    assert index.labels.shape == (77, len(TABLE)) == (77, 26)
    assert index.labels.dtype == bool
    assert index.labels.any(axis=1).all()
    assert set(index.sources) == {"CPSC", "Georgia", "PTB-XL", "Chapman-Ningbo"}
    assert index.sources.count("Chapman-Ningbo") == 45
    assert index.sources.count("PTB-XL") == 17
    assert index.record_ids == [p.stem for p in index.header_paths]
    assert len(index) == 77


def _write(directory, record_id, labels=(SINUS,), age=50.0, sex="Male"):
    signal = np.zeros((12, 500))
    return write_record(directory, record_id, signal, 500, age=age, sex=sex, labels=labels)


def test_index_records_is_recursive_and_reports_missing_recordings(tmp_path):
    _write(tmp_path, "A0001", labels=(AF,))
    _write(tmp_path / "sub" / "deeper", "HR00001", age=None, sex=None)
    lost = _write(tmp_path / "sub", "E00001")
    lost.with_suffix(".mat").unlink()
    (tmp_path / "broken.hea").write_text("not a header\n")

    index, failures = index_records(tmp_path, TABLE)

    assert sorted(index.record_ids) == ["A0001", "HR00001"]
    failed = dict(failures)
    assert set(failed) == {str(lost), str(tmp_path / "broken.hea")}
    assert "missing" in failed[str(lost)]
    row = index.record_ids.index("A0001")
    assert index.labels[row, TABLE.index_of(AF)] and index.labels[row].sum() == 1


def test_record_index_subset_keeps_rows_aligned(shared_data):
    index, _ = index_records(shared_data / "cinc2021" / "training", TABLE)
    part = index.subset([5, 0])
    assert part.record_ids == [index.record_ids[5], index.record_ids[0]]
    assert np.array_equal(part.labels, index.labels[[5, 0]])


def test_a_record_found_twice_is_indexed_once_with_its_most_complete_copy(shared_data):
    """The reduced-lead folders hold the same 50 records as the twelve-lead folder."""
    index, failures = index_records(shared_data / "cinc2021" / "reduced_leads", default_class_table())
    assert len(index) == 50
    assert all(path.parent.name == "twelve_leads" for path in index.header_paths)
    assert len(failures) == 4 * 50
    assert all("another copy of record" in reason for _, reason in failures)


def test_a_folder_spelt_with_dots_and_slashes_finds_the_same_records(tmp_path, monkeypatch):
    _record(tmp_path / "data", "R1")
    monkeypatch.chdir(tmp_path)
    for spelling in ("./data", "data/", "./data/../data"):
        listing = find_records(spelling)
        assert [r.record_id for r in listing.records] == ["R1"] and listing.failures == [], spelling


def test_special_files_are_reported_without_being_opened(tmp_path):
    _record(tmp_path, "GOOD")
    os.mkfifo(tmp_path / "PIPE.hea")  # opening it would wait for a writer forever
    os.mkfifo(tmp_path / "pipe_target.hea")
    (tmp_path / "LINKED.hea").symlink_to("pipe_target.hea")
    listing = find_records(tmp_path)  # returns: nothing was opened
    assert [r.record_id for r in listing.records] == ["GOOD"]
    reasons = _reasons(tmp_path)
    assert "not a regular file (a named pipe" in reasons[str(tmp_path / "PIPE.hea")]
    assert "through a link" in reasons[str(tmp_path / "LINKED.hea")]
    headers, failures = find_headers(tmp_path)  # a folder of labels, as evaluate_model.py reads it
    assert headers == [str(tmp_path / "GOOD.hea")] and len(failures) == 3


def test_a_header_that_does_not_parse_is_one_row_not_two(tmp_path):
    header = _record(tmp_path, "BROKEN")
    header.write_text("BROKEN twelve 500 5000\n")
    assert _reasons(tmp_path) == {str(header): "number of signals 'twelve' is not a positive integer"}


def test_a_header_refused_by_its_kind_is_one_row_not_two(tmp_path):
    header = _record(tmp_path, "DANGLING")
    header.unlink()
    header.symlink_to(tmp_path / "nowhere.hea")
    assert _reasons(tmp_path) == {str(header): "broken symbolic link"}


def test_one_lead_set_of_a_reduced_lead_tree_is_found_without_its_other_copies(tmp_path):
    for name, size in (("twelve_leads", 12), ("six_leads", 6), ("two_leads", 2)):
        for record_id in ("R1", "R2"):
            _record(tmp_path / name, record_id, leads=STANDARD_LEADS[:size] if size != 2 else ("II", "I"))
    six = find_records(tmp_path, lead_set=STANDARD_LEADS[:6])
    assert six.header_paths == [tmp_path / "six_leads" / "R1.hea", tmp_path / "six_leads" / "R2.hea"]
    assert six.failures == []  # the copies at other lead sets are no failures, only counted
    assert six.other_lead_sets == {",".join(STANDARD_LEADS): 2, "I,II": 2}
    assert find_records(tmp_path, lead_set=("I", "II")).header_paths == [tmp_path / "two_leads" / "R1.hea",
                                                                          tmp_path / "two_leads" / "R2.hea"]
    assert find_records(tmp_path, lead_set=("V1",)).header_paths == []
    assert find_records(tmp_path).other_lead_sets == {}


def test_hospital_exports_are_records_and_other_tables_are_left_alone(tmp_path):
    dicom = Path(__file__).parent / "data" / "formats" / "dicom" / "waveform_ecg.dcm"
    _record(tmp_path, "A1")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "ECG.DCM").write_bytes(dicom.read_bytes())  # an upper-case suffix, as exports often are
    (tmp_path / "metadata.csv").write_text("ecg_id,age\n1,60\n")  # a folder's own table: no ECG
    (tmp_path / "catalog.xml").write_text("<catalog/>")
    (tmp_path / "cut.dcm").write_bytes(dicom.read_bytes()[:1000])
    listing = find_records(tmp_path)
    assert [record.record_id for record in listing.records] == ["A1", "ECG"]
    assert listing.records[1].header.num_leads == 12 and listing.records[1].header.frequency == 1000  # the file says
    assert [(Path(path).name, "no waveform" in reason) for path, reason in listing.failures] == [("cut.dcm", True)]
