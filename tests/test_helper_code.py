"""helper_code.py on every real header, checked against an independent reading (wfdb and a plain parse)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.io

import helper_code as hc
import team_code
from ecgnet import records

FOLDERS = {
    "cinc2021/training": 77,
    "cinc2021/reduced_leads/twelve_leads": 50,
    "cinc2021/reduced_leads/six_leads": 50,
    "cinc2021/reduced_leads/four_leads": 50,
    "cinc2021/reduced_leads/three_leads": 50,
    "cinc2021/reduced_leads/two_leads": 50,
    "ptbxl": 1489,
    "cpsc2018": 100,
    "header_variants": 51,
}
REDUCED = {"six_leads": 6, "four_leads": 4, "three_leads": 3, "two_leads": 2}
WFDB_STRIDE = {"ptbxl": 4}  # wfdb.rdheader is slow (about 5 ms); check every 4th PTB-XL header with it
# The data's one disagreement between a variant and its original: JS20006's Dx line has 164934002 (TAb,
# scored) in header_variants where the original has 251238007 (in neither mapping table).
KNOWN_LABEL_CHANGES = {"JS20006": ("251238007", "164934002")}
GAIN_RE = re.compile(r"^([-+0-9.eE]+)(?:\(([-+0-9.eE]+)\))?(?:/.*)?$")


# ----------------------------------------------------------------------------------- an independent reading
def plain_reading(text: str) -> dict:
    """The fields of a header read with nothing but ``str.split`` and a regex."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    record = lines[0].split()
    count = int(record[1])
    signals = [line.split() for line in lines[1 : 1 + count]]
    gains, baselines = [], []
    for tokens in signals:
        gain, baseline = GAIN_RE.match(tokens[2]).groups()
        gains.append(float(gain))
        baselines.append(float(baseline if baseline is not None else tokens[4]))
    comments = {}
    for line in lines:
        match = re.match(r"^#\s*(\w+)\s*:\s*(.*)$", line)
        if match:
            comments[match.group(1).lower()] = match.group(2).strip()
    age = comments.get("age", "")
    return {
        "id": re.sub(r"\.mat$", "", record[0]),
        "leads": tuple(tokens[8] for tokens in signals),
        "frequency": float(record[2]),
        "samples": int(record[3]),
        "gains": gains,
        "baselines": baselines,
        "age": float(age) if re.fullmatch(r"\d+(\.\d+)?", age) else math.nan,
        "sex": comments.get("sex", "Unknown"),
        "labels": [code.strip() for code in comments.get("dx", "").split(",") if code.strip()],
    }


def wfdb_reading(header_file: Path, text: str, scratch: Path) -> dict:
    """The same fields read by ``wfdb.rdheader`` (record lines naming ``X.mat`` are rewritten to ``X`` first)."""
    wfdb = pytest.importorskip("wfdb")
    first, rest = text.split("\n", 1)
    if first.split()[0].endswith(".mat"):
        fixed = scratch / header_file.name
        fixed.write_text(first.replace(".mat", "", 1) + "\n" + rest)
        header_file = fixed
    w = wfdb.rdheader(str(header_file.with_suffix("")))
    comments = dict(c.split(":", 1) for c in w.comments if ":" in c)
    return {
        "id": w.record_name,
        "leads": tuple(w.sig_name),
        "frequency": float(w.fs),
        "samples": int(w.sig_len),
        "gains": [float(g) for g in w.adc_gain],
        "baselines": [float(b) for b in w.baseline],
        "sex": comments["Sex"].strip(),
        "labels": [code.strip() for code in comments["Dx"].split(",") if code.strip()],  # JS20005 has ",,"
    }


def helper_reading(text: str) -> dict:
    """The same fields read by helper_code."""
    leads = hc.get_leads(text)
    return {
        "id": hc.get_recording_id(text),
        "leads": leads,
        "frequency": hc.get_frequency(text),
        "samples": hc.get_num_samples(text),
        "gains": list(hc.get_adc_gains(text, leads)),
        "baselines": list(hc.get_baselines(text, leads)),
        "age": hc.get_age(text),
        "sex": hc.get_sex(text),
        "labels": hc.get_labels(text),
    }


def same(a: object, b: object) -> bool:
    """Equality with NaN equal to NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def check_record(header_file: Path, recording_file: Path, scratch: Path | None) -> list[str]:
    """Every helper on one record; the disagreements found."""
    text = hc.load_header(str(header_file))
    got = helper_reading(text)
    readings = {"plain": plain_reading(text)}
    if scratch is not None:
        readings["wfdb"] = wfdb_reading(header_file, text, scratch)
    problems = [
        f"{key}: helper {got[key]!r} != {name} {value!r}"
        for name, reading in readings.items()
        for key, value in reading.items()
        if not same(got[key], value)
    ]
    if got["id"] != header_file.stem:
        problems.append(f"id {got['id']!r} is not the file's stem")
    if not isinstance(got["leads"], tuple) or hc.get_num_leads(text) != len(got["leads"]):
        problems.append("get_leads is not a tuple of get_num_leads names")
    recording = hc.load_recording(str(recording_file))
    if recording.shape != (len(got["leads"]), got["samples"]) or recording.dtype != np.int16:
        problems.append(f"recording {recording.shape} {recording.dtype}")
    return problems


# ----------------------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("folder", FOLDERS)
def test_every_helper_on_every_header(shared_data: Path, tmp_path: Path, folder: str) -> None:
    header_files, recording_files = hc.find_challenge_files(str(shared_data / folder))
    assert len(header_files) == FOLDERS[folder]
    assert header_files == sorted(header_files)
    failures = []
    for i, (header_file, recording_file) in enumerate(zip(header_files, recording_files)):
        scratch = tmp_path if i % WFDB_STRIDE.get(folder, 1) == 0 else None
        try:
            problems = check_record(Path(header_file), Path(recording_file), scratch)
        except Exception as error:  # a crash on one record is a failure to report, not to stop at
            problems = [f"{type(error).__name__}: {error}"]
        failures += [f"{Path(header_file).name}: {p}" for p in problems]
    assert not failures, f"{len(failures)} problems:\n" + "\n".join(failures[:30])


def test_the_data_holds_the_variants_the_helpers_must_handle(shared_data: Path) -> None:
    """Guards the test above against a data set without the hard cases."""
    texts = [p.read_text() for folder in FOLDERS for p in sorted((shared_data / folder).glob("*.hea"))]
    assert len(texts) == sum(FOLDERS.values())
    assert sum(t.split()[0].endswith(".mat") for t in texts) >= 100
    assert sum(math.isnan(hc.get_age(t)) for t in texts) > 0
    assert {hc.get_frequency(t) for t in texts} >= {100.0, 500.0}
    assert sum("16x1+24 1000.0(0)/m" in t for t in texts) >= 50
    assert sum("# Dx:" in t for t in texts) >= 50
    assert sum(",," in t for t in texts) >= 1


def test_reduced_lead_record_id_drops_mat(shared_data: Path) -> None:
    text = hc.load_header(str(shared_data / "cinc2021/reduced_leads/three_leads/E07500.hea"))
    assert text.startswith("E07500.mat 3 500")
    assert hc.get_recording_id(text) == "E07500"


def test_header_variants_match_the_twelve_lead_originals(shared_data: Path) -> None:
    variants = sorted((shared_data / "header_variants").glob("*.hea"))
    originals = shared_data / "cinc2021/reduced_leads/twelve_leads"
    compared = 0
    for variant in variants:
        original = originals / variant.name
        if not original.exists():
            continue
        v_text, o_text = hc.load_header(str(variant)), hc.load_header(str(original))
        assert v_text != o_text, variant.name
        v_fields, o_fields = helper_reading(v_text), helper_reading(o_text)
        if variant.stem in KNOWN_LABEL_CHANGES:
            old, new = KNOWN_LABEL_CHANGES[variant.stem]
            v_fields["labels"] = [old if code == new else code for code in v_fields["labels"]]
        assert v_fields == o_fields, variant.name
        np.testing.assert_array_equal(
            hc.load_recording(str(variant.with_suffix(".mat"))), hc.load_recording(str(original.with_suffix(".mat")))
        )
        compared += 1
    assert compared == 50


def test_js00001_variant(shared_data: Path, tmp_path: Path) -> None:
    """JS00001 has no original in the data: check it against wfdb and its known values (CRLF lines)."""
    header_file = shared_data / "header_variants/JS00001.hea"
    assert b"\r\n" in header_file.read_bytes()
    text = hc.load_header(str(header_file))
    got = helper_reading(text)
    expected = wfdb_reading(header_file, text, tmp_path)
    assert {key: got[key] for key in expected} == expected
    assert got["leads"] == hc.twelve_leads and got["age"] == 85.0 and got["sex"] == "Male"
    assert got["labels"] == ["164889003", "59118001", "164934002"]
    assert hc.load_recording(str(header_file.with_suffix(".mat"))).shape == (12, 5000)


@pytest.mark.parametrize("folder", REDUCED)
def test_reduced_lead_rows_equal_twelve_lead_rows(shared_data: Path, folder: str) -> None:
    twelve_dir = shared_data / "cinc2021/reduced_leads/twelve_leads"
    header_files, recording_files = hc.find_challenge_files(str(shared_data / "cinc2021/reduced_leads" / folder))
    assert len(header_files) == 50
    for header_file, recording_file in zip(header_files, recording_files):
        text = hc.load_header(header_file)
        leads = hc.get_leads(text)
        assert leads == hc.sort_leads(leads) == _records_lead_set(REDUCED[folder])
        twelve_text = hc.load_header(str(twelve_dir / Path(header_file).name))
        twelve = hc.load_recording(str(twelve_dir / Path(recording_file).name))
        rows = [hc.get_leads(twelve_text).index(lead) for lead in leads]
        np.testing.assert_array_equal(hc.load_recording(recording_file), twelve[rows])
        np.testing.assert_array_equal(hc.load_recording(recording_file), hc.choose_leads(twelve, twelve_text, leads))
        full = hc.load_recording(recording_file, text, hc.twelve_leads)
        assert full.shape == (12, twelve.shape[1])
        for i, lead in enumerate(hc.twelve_leads):
            np.testing.assert_array_equal(full[i], twelve[i] if lead in leads else 0)


def _records_lead_set(count: int) -> tuple[str, ...]:
    """The standard lead set of ``count`` leads, as helper_code names it."""
    return {2: hc.two_leads, 3: hc.three_leads, 4: hc.four_leads, 6: hc.six_leads, 12: hc.twelve_leads}[count]


# ------------------------------------------------------------------------------- leads in a non-standard order
SHUFFLED = (
    "S1 3 500 4\n"
    "S1.mat 16+24 250/mV 16 0 0 0 0 V2\n"
    "S1.mat 16+24 500(7)/mV 16 0 0 0 0 II\n"
    "S1.mat 16+24 1000/mV 16 3 0 0 0 I\n"
    "#Age: 40\n#Sex: Female\n#Dx: 426783006\n"
)


def write_shuffled(directory: Path) -> tuple[str, str]:
    """A record whose header lists V2, II, I (in that order); its header and recording paths."""
    (directory / "S1.hea").write_text(SHUFFLED)
    recording = np.array([[20, 21, 22, 23], [10, 11, 12, 13], [0, 1, 2, 3]], dtype=np.int16)
    scipy.io.savemat(directory / "S1.mat", {"val": recording}, format="4")
    return str(directory / "S1.hea"), str(directory / "S1.mat")


def test_load_recording_with_leads_reorders_to_standard_order(tmp_path: Path) -> None:
    header_file, recording_file = write_shuffled(tmp_path)
    header = hc.load_header(header_file)
    assert hc.get_leads(header) == ("V2", "II", "I")
    leads = hc.sort_leads(hc.get_leads(header))
    assert leads == hc.three_leads
    chosen = hc.load_recording(recording_file, header, leads)
    np.testing.assert_array_equal(chosen, [[0, 1, 2, 3], [10, 11, 12, 13], [20, 21, 22, 23]])
    assert chosen.dtype == np.int16
    np.testing.assert_array_equal(hc.load_recording(recording_file, header, np.array(leads)), chosen)
    np.testing.assert_array_equal(hc.load_recording(recording_file, header, list(leads)), chosen)


def test_choose_leads_zero_fills_a_missing_lead(tmp_path: Path) -> None:
    header_file, recording_file = write_shuffled(tmp_path)
    header = hc.load_header(header_file)
    chosen = hc.load_recording(recording_file, header, hc.four_leads)
    np.testing.assert_array_equal(chosen, [[0, 1, 2, 3], [10, 11, 12, 13], [0, 0, 0, 0], [20, 21, 22, 23]])
    float_recording = hc.load_recording(recording_file).astype(np.float32)
    assert hc.choose_leads(float_recording, header, hc.two_leads).dtype == np.float32


def test_load_recording_without_header_or_leads_keeps_header_order(tmp_path: Path) -> None:
    header_file, recording_file = write_shuffled(tmp_path)
    header = hc.load_header(header_file)
    stored = hc.load_recording(recording_file)
    np.testing.assert_array_equal(stored[0], [20, 21, 22, 23])
    np.testing.assert_array_equal(hc.load_recording(recording_file, header), stored)
    np.testing.assert_array_equal(hc.load_recording(recording_file, None, hc.three_leads), stored)
    np.testing.assert_array_equal(hc.load_recording(recording_file, header, ()), stored)


def test_gains_and_baselines_follow_the_asked_leads(tmp_path: Path) -> None:
    header = hc.load_header(write_shuffled(tmp_path)[0])
    np.testing.assert_array_equal(hc.get_adc_gains(header, hc.four_leads), [1000, 500, 0, 250])
    np.testing.assert_array_equal(hc.get_baselines(header, hc.four_leads), [3, 7, 0, 0])
    np.testing.assert_array_equal(hc.get_adc_gains(header, hc.get_leads(header)), [250, 500, 1000])
    assert (hc.get_age(header), hc.get_sex(header), hc.get_labels(header)) == (40.0, "Female", ["426783006"])


def test_a_repeated_lead_uses_its_first_line_everywhere(tmp_path: Path) -> None:
    header = SHUFFLED.replace("S1 3 500 4", "S1 4 500 4").replace("#Age", "S1.mat 16+24 9/mV 16 0 0 0 0 I\n#Age")
    recording = np.arange(16, dtype=np.int16).reshape(4, 4)
    np.testing.assert_array_equal(hc.choose_leads(recording, header, ("I",)), recording[2:3])
    np.testing.assert_array_equal(hc.get_adc_gains(header, ("I",)), [1000])


def test_sort_leads() -> None:
    assert hc.sort_leads(("V2", "I", "II")) == ("I", "II", "V2")
    assert hc.sort_leads(list(reversed(hc.twelve_leads))) == hc.twelve_leads
    assert hc.sort_leads(("aVF", "AVR", "III")) == ("III", "aVR", "aVF")
    assert hc.sort_leads(("X", "V6", "Y", "I", "W")) == ("I", "V6", "X", "Y", "W")
    assert hc.sort_leads(()) == ()
    assert hc.STANDARD_LEADS == hc.twelve_leads
    assert hc.six_leads == ("I", "II", "III", "aVR", "aVL", "aVF") and hc.four_leads == ("I", "II", "III", "V2")


def test_find_challenge_files_needs_the_recording(tmp_path: Path) -> None:
    write_shuffled(tmp_path)
    (tmp_path / "A0.hea").write_text(SHUFFLED.replace("S1", "A0"))
    headers, recordings = hc.find_challenge_files(str(tmp_path))
    assert headers == [str(tmp_path / "S1.hea")] and recordings == [str(tmp_path / "S1.mat")]


def test_age_unknown_is_nan_and_helpers_raise_on_broken_headers() -> None:
    header = SHUFFLED.replace("#Age: 40", "#Age: Unknown")
    assert math.isnan(hc.get_age(header))
    with pytest.raises(ValueError, match="^header of S1: "):
        hc.get_num_samples("S1.mat 3 500 x\n")


# ------------------------------------------------------------------------------------------------ numbers
@pytest.mark.parametrize(
    ("value", "number", "integer", "finite"),
    [("1", True, True, True), ("1.0", True, True, True), ("1.5", True, False, True), (" 2 ", True, True, True),
     ("-3e2", True, True, True), ("nan", True, False, False), ("inf", True, False, False), ("abc", False, False, False),
     ("", False, False, False), (None, False, False, False), (7, True, True, True), (float("nan"), True, False, False)],
)  # fmt: skip
def test_number_checks(value: object, number: bool, integer: bool, finite: bool) -> None:
    assert (hc.is_number(value), hc.is_integer(value), hc.is_finite_number(value)) == (number, integer, finite)


# ------------------------------------------------------------------------------------------------ outputs
def test_save_and_load_outputs_round_trip(tmp_path: Path) -> None:
    path = str(tmp_path / "A0001.csv")
    classes = ["164889003", "164890007", "733534002|164909002"]
    hc.save_outputs(path, "A0001", classes, [1, 0, True], [0.93, 0.02, 0.5])
    recording_id, got_classes, labels, probabilities = hc.load_outputs(path)
    assert recording_id == "A0001" and list(got_classes) == classes
    assert labels == ("1", "0", "1")  # the text entries as written, as the official helper returns them
    np.testing.assert_allclose(probabilities, [0.93, 0.02, 0.5])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A0001.csv"]


def test_load_outputs_with_garbage_entries(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("#x\na,b,c,d,e,f\n1,T,abc,nan,inf,\n0.5,abc,nan,inf,-inf,\n")
    recording_id, classes, labels, probabilities = hc.load_outputs(str(path))
    assert recording_id == "x" and classes == ("a", "b", "c", "d", "e", "f")
    assert labels == ("1", "T", "abc", "nan", "inf", "")
    assert probabilities[0] == 0.5 and all(math.isnan(p) for p in probabilities[1:])



# ---------------------------------------------------------------------- records as run_model.py reads them
def write_wfdb(directory: Path, record_id: str, formats: tuple[str, ...]) -> tuple[Path, np.ndarray]:
    """A four-lead WFDB record (leads V2, I, II, V1) written by wfdb: one signal file per format given, the
    leads shared out among them in order; its header and digital samples (leads x samples)."""
    wfdb = pytest.importorskip("wfdb")
    digital = (np.arange(4 * 50).reshape(4, 50) * 7 + 13) % 200 - 100  # fits every format, 8-bit ones too
    count = len(formats)
    names = [f"{record_id}.dat" if count == 1 else f"{record_id}_{i * count // 4 + 1}.dat" for i in range(4)]
    record = wfdb.Record(
        record_name=record_id, fs=500, n_sig=4, sig_len=50, units=["mV"] * 4, sig_name=["V2", "I", "II", "V1"],
        d_signal=digital.T.astype(np.int64), adc_gain=[1000.0] * 4, baseline=[0] * 4, file_name=names,
        fmt=[formats[i * count // 4] for i in range(4)], adc_res=[16] * 4, adc_zero=[0] * 4,
        init_value=[int(x) for x in digital[:, 0]], checksum=[int(x) % 65536 for x in digital.sum(axis=1)],
        block_size=[0] * 4, comments=["Age: 60", "Sex: Female", "Dx: 426783006"],
    )
    record.wrsamp(write_dir=str(directory))
    return directory / f"{record_id}.hea", digital


def run_model_reading(header_file: Path) -> tuple[np.ndarray | None, str | None]:
    """What run_model.py reads for a record (ecgnet.records.read_record): its recording, or its error."""
    try:
        return records.read_record(header_file).recording, None
    except ValueError as error:
        return None, str(error)


def test_a_record_in_two_signal_files_is_found_and_read_whole(tmp_path: Path) -> None:
    header_file, digital = write_wfdb(tmp_path, "W1", ("16", "212"))
    headers, recordings = hc.find_challenge_files(str(tmp_path))
    assert headers == [str(header_file)] and recordings == [str(tmp_path / "W1_1.dat")]
    header = hc.load_header(headers[0])
    whole = hc.load_recording(recordings[0], header)
    np.testing.assert_array_equal(whole, digital)
    np.testing.assert_array_equal(whole, run_model_reading(header_file)[0])
    np.testing.assert_array_equal(hc.load_recording(str(tmp_path / "W1_2.dat"), header), digital)
    chosen = hc.load_recording(recordings[0], header, hc.four_leads)  # I, II, III (absent: zeros), V2
    np.testing.assert_array_equal(chosen, [digital[1], digital[2], np.zeros(50), digital[0]])


def test_a_signal_file_without_a_header_of_its_name_needs_the_header_text(tmp_path: Path) -> None:
    write_wfdb(tmp_path, "W1", ("16", "16"))
    with pytest.raises(ValueError, match=r"W1_1\.dat: no header file W1_1\.hea for this signal file; for a record "
                                         r"whose signals lie in several files, pass its header's text too$"):
        hc.load_recording(str(tmp_path / "W1_1.dat"))


def test_a_signal_file_its_header_does_not_name_is_refused(tmp_path: Path) -> None:
    header_file, _ = write_wfdb(tmp_path, "W1", ("16",))
    (tmp_path / "W1.dat").rename(tmp_path / "OTHER.dat")
    header_file.write_text(header_file.read_text().replace("W1.dat", "OTHER.dat"))
    (tmp_path / "W1.dat").write_bytes(b"\0" * 400)
    with pytest.raises(ValueError, match=r"W1\.dat: is not one of the signal files its header W1\.hea names "
                                         r"\(OTHER\.dat\)$"):
        hc.load_recording(str(tmp_path / "W1.dat"))


@pytest.mark.parametrize("fmt", ["16", "24", "32", "80", "212", "508", "516", "524"])
def test_a_signal_file_in_any_format_is_read_as_run_model_reads_it(tmp_path: Path, fmt: str) -> None:
    """508, 516 and 524 are FLAC-compressed: helper_code and run_model.py read them too, as the same record
    written in format 16."""
    (tmp_path / "f").mkdir()
    (tmp_path / "p").mkdir()
    header_file, digital = write_wfdb(tmp_path / "f", f"F{fmt}", (fmt,))
    plain_file, _ = write_wfdb(tmp_path / "p", "P16", ("16",))
    headers, recordings = hc.find_challenge_files(str(tmp_path / "f"))
    assert headers == [str(header_file)] and recordings == [str(header_file.with_suffix(".dat"))]
    expected, error = run_model_reading(header_file)
    assert error is None, error
    plain, _ = run_model_reading(plain_file)
    np.testing.assert_array_equal(expected, plain)
    np.testing.assert_array_equal(hc.load_recording(recordings[0], hc.load_header(headers[0])), plain)
    np.testing.assert_array_equal(hc.load_recording(recordings[0]), digital)


# ------------------------------------------------------------------- errors about header text name the record
BROKEN = "REC7.mat 3 500 4\nREC7.mat 16 1000/mV 16 0 0 0 0 I\n#Dx: 426783006\n"  # claims 3 signals, lists 1
HEADER_READERS = {
    "get_recording_id": lambda h: hc.get_recording_id(h),
    "get_leads": lambda h: hc.get_leads(h),
    "get_age": lambda h: hc.get_age(h),
    "get_sex": lambda h: hc.get_sex(h),
    "get_num_leads": lambda h: hc.get_num_leads(h),
    "get_frequency": lambda h: hc.get_frequency(h),
    "get_num_samples": lambda h: hc.get_num_samples(h),
    "get_labels": lambda h: hc.get_labels(h),
    "get_adc_gains": lambda h: hc.get_adc_gains(h, ("I",)),
    "get_baselines": lambda h: hc.get_baselines(h, ("I",)),
    "choose_leads": lambda h: hc.choose_leads(np.zeros((1, 4)), h, ("I",)),
}


@pytest.mark.parametrize("reader", HEADER_READERS)
def test_an_error_in_header_text_names_its_record(reader: str) -> None:
    with pytest.raises(ValueError, match=r"^header of REC7: header claims 3 signals but lists 1$"):
        HEADER_READERS[reader](BROKEN)


def test_load_recording_and_run_model_name_the_record_of_a_broken_header(tmp_path: Path) -> None:
    _, recording_file = write_shuffled(tmp_path)
    with pytest.raises(ValueError, match=r"^header of REC7: "):
        hc.load_recording(recording_file, BROKEN, ("I",))
    with pytest.raises(ValueError, match=r"^header of REC7: "):
        team_code.run_model(_unused_model(), BROKEN, np.zeros((1, 4)))


def test_header_text_without_a_record_line_says_so() -> None:
    with pytest.raises(ValueError, match=r"^header text without a record line: "):
        hc.get_leads("# Dx: 426783006\n\n")


# --------------------------------------------------------------------------- arguments of the wrong type
LEAD_TAKERS = {
    "choose_leads": lambda leads, header, recording_file: hc.choose_leads(np.zeros((3, 4)), header, leads),
    "get_adc_gains": lambda leads, header, recording_file: hc.get_adc_gains(header, leads),
    "get_baselines": lambda leads, header, recording_file: hc.get_baselines(header, leads),
    "load_recording": lambda leads, header, recording_file: hc.load_recording(recording_file, header, leads),
    "sort_leads": lambda leads, header, recording_file: hc.sort_leads(leads),
    "team_code.load_model": lambda leads, header, recording_file: team_code.load_model("no-model", leads),
}


@pytest.mark.parametrize("taker", LEAD_TAKERS)
@pytest.mark.parametrize(
    ("leads", "words"),
    [("II", r"must be a sequence of lead names such as \('I', 'II'\), not the str 'II'; for one lead write "
            r"\('II',\)$"),
     (np.str_("II"), "must be a sequence of lead names .* not the str_ 'II'"),
     (b"II", "must be a sequence of lead names .* not the bytes b'II'"),
     ({"I", "II"}, r"must be a sequence \(list or tuple\) of lead names, not set \(it has no order\)$"),
     (2, "must be a sequence .* not int$"),
     (np.array([["I"], ["II"]]), "must be a sequence .* not ndarray$"),
     (["I", None], r"must hold lead names \(str\), but item 1 is NoneType None$")],
)  # fmt: skip
def test_a_lead_set_must_be_a_sequence_of_names(tmp_path: Path, taker: str, leads: object, words: str) -> None:
    header_file, recording_file = write_shuffled(tmp_path)
    with pytest.raises(TypeError, match=f"^leads {words}"):
        LEAD_TAKERS[taker](leads, hc.load_header(header_file), recording_file)


def test_one_lead_is_a_one_lead_set(tmp_path: Path) -> None:
    header_file, recording_file = write_shuffled(tmp_path)
    header = hc.load_header(header_file)
    np.testing.assert_array_equal(hc.load_recording(recording_file, header, ("II",)), [[10, 11, 12, 13]])
    np.testing.assert_array_equal(hc.get_adc_gains(header, ["II"]), [500])
    np.testing.assert_array_equal(hc.get_baselines(header, np.array(["II"])), [7])


HEADER_TAKERS = {
    "get_leads": lambda header, recording_file: hc.get_leads(header),
    "get_labels": lambda header, recording_file: hc.get_labels(header),
    "get_adc_gains": lambda header, recording_file: hc.get_adc_gains(header, ("I",)),
    "choose_leads": lambda header, recording_file: hc.choose_leads(np.zeros((3, 4)), header, ("I",)),
    "load_recording": lambda header, recording_file: hc.load_recording(recording_file, header, ("I",)),
    "team_code.run_model": lambda header, _: team_code.run_model(_unused_model(), header, np.zeros((3, 4))),
}


@pytest.mark.parametrize("taker", HEADER_TAKERS)
@pytest.mark.parametrize(
    ("header", "words"),
    [(5, "not int$"), ({"leads": ["I"]}, "not dict$"), (b"S1 3 500 4\n", "not bytes; decode it$"),
     (Path("S1.hea"), "not PosixPath; read the file with load_header"),
     (["S1 3 500 4"], "not list$")],
)  # fmt: skip
def test_a_header_must_be_its_text(tmp_path: Path, taker: str, header: object, words: str) -> None:
    _, recording_file = write_shuffled(tmp_path)
    with pytest.raises(TypeError, match=rf"^header must be the header's text \(str\), {words}"):
        HEADER_TAKERS[taker](header, recording_file)


@pytest.mark.parametrize(
    ("recording", "error", "words"),
    [(None, TypeError, r"recording must be a 2-D array of numbers \(leads x samples\), not NoneType$"),
     ([[1, 2, 3], [4, 5]], TypeError, "this list has rows of different lengths$"),
     ([["a", "b"]] * 3, TypeError, r"recording must hold numbers \(integers or floats\), not <U1 values$"),
     (np.ones((3, 4), dtype=object), TypeError, "not object values$"),
     (np.ones((3, 4), dtype=bool), TypeError, "not bool values$"),
     (5.0, TypeError, r"recording must be a 2-D array of numbers \(leads x samples\), not float$"),
     ("0,1", TypeError, "not str$"),
     (np.zeros(12), ValueError, r"recording has shape \(12,\); expected 2-D, leads x samples$"),
     (np.zeros((2, 4)), ValueError, r"the recording has 2 rows but the header lists 3 leads \(V2, II, I\)$")],
)  # fmt: skip
def test_a_recording_must_be_a_2d_array_of_numbers(tmp_path: Path, recording: object, error: type,
                                                     words: str) -> None:
    header = hc.load_header(write_shuffled(tmp_path)[0])
    with pytest.raises(error, match=f"^header of S1: .*{words}"):
        hc.choose_leads(recording, header, hc.two_leads)
    if error is TypeError:  # a wrong row count is for the model to find: it reads the header itself
        with pytest.raises(error, match=f"^S1: .*{words}"):
            team_code.run_model(_unused_model(), header, recording)


def test_a_list_of_rows_is_a_recording(tmp_path: Path) -> None:
    header = hc.load_header(write_shuffled(tmp_path)[0])
    rows = [[20, 21, 22, 23], [10, 11, 12, 13], [0, 1, 2, 3]]
    np.testing.assert_array_equal(hc.choose_leads(rows, header, hc.two_leads), [[0, 1, 2, 3], [10, 11, 12, 13]])


@pytest.mark.parametrize(
    ("call", "name"),
    [(lambda: hc.find_challenge_files(None), "data_directory"), (lambda: hc.load_header(5), "header_file"),
     (lambda: hc.load_header(b"S1.hea"), "header_file"), (lambda: hc.load_recording(None), "recording_file"),
     (lambda: hc.load_outputs(None), "output_file"), (lambda: hc.save_outputs(None, "A", [], [], []), "output_file"),
     (lambda: team_code.load_model(None, ("I",)), "model_directory")],
)  # fmt: skip
def test_a_path_must_be_a_path(call, name: str) -> None:
    with pytest.raises(TypeError, match=rf"^{name} must be a path \(str or os\.PathLike\), not \w+$"):
        call()


def test_other_arguments_of_the_wrong_type(tmp_path: Path) -> None:
    header_file, recording_file = write_shuffled(tmp_path)
    with pytest.raises(TypeError, match=r"^key must be the name of the MATLAB variable \(str\), not int$"):
        hc.load_recording(recording_file, key=0)
    with pytest.raises(TypeError, match=r"^model must be what load_model returns \(LoadedModel\), not str$"):
        team_code.run_model("model", hc.load_header(header_file), np.zeros((3, 4)))
    with pytest.raises(TypeError, match=r"^device must be a device name .* not int$"):
        team_code.load_model(str(tmp_path), ("I",), device=0)
    with pytest.raises(TypeError, match=r"^leads must be a sequence \(list or tuple\) of lead names, not NoneType$"):
        hc.choose_leads(np.zeros((3, 4)), hc.load_header(header_file), None)


# ------------------------------------------------------------------------------ team_code with a real model
@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny network trained for one epoch on 16 synthetic records (.mat); the model and the data folders."""
    from conftest import tiny_config

    from ecgnet.synthetic import generate_dataset
    from ecgnet.training import train

    data, model = tmp_path_factory.mktemp("synthetic"), tmp_path_factory.mktemp("model")
    generate_dataset(data, 16, seed=0, progress=False)
    config = tiny_config(epochs=1, folds=2).override("feature_model", enabled=False)
    train(data, model, config, progress=False, log=lambda _: None)
    return model, data


def write_two_file_twin(mat_header: Path, directory: Path) -> Path:
    """The record of ``mat_header`` rewritten as WFDB format 16 in two signal files (the first half of its
    leads in one, the rest in the other), same samples and header fields; the new header."""
    text = mat_header.read_text()
    recording = hc.load_recording(str(mat_header.with_suffix(".mat"))).astype("<i2")
    record_id, half = mat_header.stem, recording.shape[0] // 2
    lines = text.splitlines(keepends=True)
    for i in range(recording.shape[0]):
        _, _, rest = lines[1 + i].split(" ", 2)  # the file name and format are replaced
        lines[1 + i] = f"{record_id}_{1 + (i >= half)}.dat 16 {rest}"
    (directory / f"{record_id}.hea").write_text("".join(lines))
    (directory / f"{record_id}_1.dat").write_bytes(recording[:half].T.tobytes())
    (directory / f"{record_id}_2.dat").write_bytes(recording[half:].T.tobytes())
    return directory / f"{record_id}.hea"


def test_run_model_on_a_record_in_two_signal_files_matches_its_mat_twin(tiny_model, tmp_path: Path) -> None:
    model_dir, data = tiny_model
    mat_header = sorted(data.glob("*.hea"))[0]
    twin_header = write_two_file_twin(mat_header, tmp_path)
    headers, recordings = hc.find_challenge_files(str(tmp_path))
    assert headers == [str(twin_header)] and recordings[0].endswith("_1.dat")
    results = []
    for header_file, recording_file in [(str(mat_header), str(mat_header.with_suffix(".mat"))),
                                        (headers[0], recordings[0])]:
        header = hc.load_header(header_file)
        model = team_code.load_model(str(model_dir), hc.get_leads(header))
        results.append(team_code.run_model(model, header, hc.load_recording(recording_file, header)))
    (classes, labels, probabilities), (twin_classes, twin_labels, twin_probabilities) = results
    assert classes == twin_classes and list(labels) == list(twin_labels)
    np.testing.assert_allclose(twin_probabilities, probabilities, rtol=0, atol=1e-6)


def test_run_model_names_the_record_whose_recording_disagrees_with_its_header(tiny_model) -> None:
    model_dir, data = tiny_model
    header_file = sorted(data.glob("*.hea"))[0]
    header = hc.load_header(str(header_file))
    recording = hc.load_recording(str(header_file.with_suffix(".mat")))
    model = team_code.load_model(str(model_dir), hc.get_leads(header))
    with pytest.raises(ValueError, match=f"{header_file.stem}.*signals but its header lists 12"):
        team_code.run_model(model, header, recording[:11])
    with pytest.raises(TypeError, match=f"^{header_file.stem}: recording must be a 2-D array"):
        team_code.run_model(model, header, "recording")


def _unused_model() -> team_code.LoadedModel:
    """A model for calls refused before the model is used."""
    return team_code.LoadedModel(ensemble=None, leads=("I",), decision=None)
