"""ecgnet.records: header variants, broken inputs (one-line RecordError naming the file), writing records."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from ecgnet import records
from ecgnet.records import STANDARD_LEADS, RecordError, lead_set_name, source_of

SIGNAL_LINE = "{rid}.mat 16+24 {gain} 16 0 0 0 0 {lead}"


def header_text(
    rid: str = "R1",
    leads: tuple[str, ...] = ("I", "II"),
    frequency: str = "500",
    samples: int = 10,
    gain: str = "1000/mV",
    comments: tuple[str, ...] = ("#Age: 61", "#Sex: Female", "#Dx: 164889003,426783006"),
) -> str:
    """A small valid header, with fields to vary."""
    lines = [f"{rid} {len(leads)} {frequency} {samples}"]
    lines += [SIGNAL_LINE.format(rid=rid, gain=gain, lead=lead) for lead in leads]
    return "\n".join(lines + list(comments)) + "\n"


def write_pair(directory: Path, text: str, recording: np.ndarray | None, rid: str = "R1") -> Path:
    """Write ``rid.hea`` with ``text`` and, unless None, ``rid.mat`` holding ``recording``; the header path."""
    header = directory / f"{rid}.hea"
    header.write_text(text)
    if recording is not None:
        scipy.io.savemat(directory / f"{rid}.mat", {"val": recording}, format="4")
    return header


def digital(leads: int = 2, samples: int = 10, seed: int = 0) -> np.ndarray:
    """A random int16 recording."""
    return np.random.default_rng(seed).integers(-2000, 2000, size=(leads, samples)).astype(np.int16)


def assert_one_line_error(error: pytest.ExceptionInfo[RecordError], path: Path, words: str) -> None:
    """The error is one line, names ``path`` and contains ``words``."""
    message = str(error.value)
    assert "\n" not in message and "\r" not in message, message
    assert str(path) in message, message
    assert words in message, message


# ---------------------------------------------------------------------------------------------- broken input
def test_missing_mat_names_the_recording(tmp_path: Path) -> None:
    header = write_pair(tmp_path, header_text(), None)
    with pytest.raises(RecordError) as error:
        records.read_record(header)
    assert_one_line_error(error, tmp_path / "R1.mat", "missing")


def test_missing_header(tmp_path: Path) -> None:
    with pytest.raises(RecordError) as error:
        records.read_header(tmp_path / "nothing.hea")
    assert_one_line_error(error, tmp_path / "nothing.hea", "cannot read header")


@pytest.mark.parametrize("keep", [0, 10, 60, 0.5])
def test_truncated_mat(tmp_path: Path, keep: float) -> None:
    header = write_pair(tmp_path, header_text(samples=500), digital(2, 500))
    mat = tmp_path / "R1.mat"
    data = mat.read_bytes()
    mat.write_bytes(data[: int(len(data) * keep) if keep < 1 else int(keep)])
    with pytest.raises(RecordError) as error:
        records.read_record(header)
    assert_one_line_error(error, mat, "not a readable MATLAB file")


@pytest.mark.parametrize("content", [b"this is a text file, not MATLAB\n" * 20, b"val = [1 2 3]\n"])
def test_text_bytes_as_mat(tmp_path: Path, content: bytes) -> None:
    header = write_pair(tmp_path, header_text(), None)
    (tmp_path / "R1.mat").write_bytes(content)
    with pytest.raises(RecordError) as error:
        records.read_record(header)
    assert_one_line_error(error, tmp_path / "R1.mat", "not a readable MATLAB file")


def test_fewer_signal_lines_than_claimed(tmp_path: Path) -> None:
    text = header_text(leads=("I", "II", "III")).replace("R1 3 500", "R1 4 500")
    header = write_pair(tmp_path, text, digital(3))
    with pytest.raises(RecordError) as error:
        records.read_record(header)
    assert_one_line_error(error, header, "claims 4 signals but lists 3")


@pytest.mark.parametrize("gain", ["abc/mV", "/mV", "1000(x)/mV", "nan/mV", "inf/mV", "1000(nan)/mV"])
def test_bad_gain(tmp_path: Path, gain: str) -> None:
    header = write_pair(tmp_path, header_text(gain=gain), digital())
    with pytest.raises(RecordError) as error:
        records.read_record(header)
    assert_one_line_error(error, header, "lead I")


@pytest.mark.parametrize(
    ("record_line", "words"),
    [
        ("", "number of signals"),  # a blank line is skipped: the first signal line is read as the record line
        ("garbage", "record line needs"),
        ("R1 two 500 10", "number of signals"),
        ("R1 0 500 10", "number of signals"),
        ("R1 2.5 500 10", "number of signals"),
        ("R1 nan 500 10", "number of signals"),
        ("R1 inf 500 10", "number of signals"),
        ("R1 2 abc 10", "sampling frequency"),
        ("R1 2 0 10", "sampling frequency"),
        ("R1 2 -500 10", "sampling frequency"),
        ("R1 2 nan 10", "sampling frequency"),
        ("R1 2 500 ten", "number of samples"),
        ("R1 2 500 -10", "number of samples"),
        ("R1 2 500 nan", "number of samples"),
        ("R1 2 500 1e999", "number of samples"),
    ],
)
def test_bad_record_line(tmp_path: Path, record_line: str, words: str) -> None:
    text = record_line + "\n" + header_text().split("\n", 1)[1]
    header = write_pair(tmp_path, text, digital())
    with pytest.raises(RecordError) as error:
        records.read_record(header)
    assert_one_line_error(error, header, words)


@pytest.mark.parametrize("text", ["", "\n\n", "#Age: 5\n#Sex: Male\n"])
def test_header_without_record_line(tmp_path: Path, text: str) -> None:
    header = write_pair(tmp_path, text, digital())
    with pytest.raises(RecordError) as error:
        records.read_header(header)
    assert_one_line_error(error, header, "no record line")


def test_zero_length_recording(tmp_path: Path) -> None:
    header = write_pair(tmp_path, header_text(samples=0), np.zeros((2, 0), dtype=np.int16))
    with pytest.raises(RecordError) as error:
        records.read_record(header)
    assert_one_line_error(error, tmp_path / "R1.mat", "0 samples")


@pytest.mark.parametrize("rows", [1, 3, 12])
def test_row_count_differs_from_header(tmp_path: Path, rows: int) -> None:
    header = write_pair(tmp_path, header_text(), digital(rows))
    with pytest.raises(RecordError) as error:
        records.read_record(header)
    assert_one_line_error(error, tmp_path / "R1.mat", f"has {rows} signals but its header lists 2")


def test_mat_without_val(tmp_path: Path) -> None:
    header = write_pair(tmp_path, header_text(), None)
    scipy.io.savemat(tmp_path / "R1.mat", {"data": digital()}, format="4")
    with pytest.raises(RecordError) as error:
        records.read_record(header)
    assert_one_line_error(error, tmp_path / "R1.mat", "no variable 'val'")


def test_mat_with_text_val(tmp_path: Path) -> None:
    header = write_pair(tmp_path, header_text(), None)
    scipy.io.savemat(tmp_path / "R1.mat", {"val": "not a signal"})
    with pytest.raises(RecordError) as error:
        records.read_record(header)
    assert_one_line_error(error, tmp_path / "R1.mat", "not numbers")


def test_error_messages_are_one_line() -> None:
    error = RecordError("x.mat", "first line\nsecond line\r\nthird")
    assert str(error) == "x.mat: first line second line third"
    assert error.source == "x.mat" and error.problem == "first line second line third"


def test_every_mutated_field_parses_or_raises_record_error() -> None:
    """Never crash on a bad header: each field replaced by junk gives a Header or a RecordError."""
    lines = header_text().splitlines()
    junk = ["x", "nan", "inf", "-1", "1e999", "", "(", "1000(", "/"]
    for i, line in enumerate(lines):
        tokens = line.split(" ")
        for k in range(len(tokens)):
            for value in junk:
                text = "\n".join(lines[:i] + [" ".join(tokens[:k] + [value] + tokens[k + 1 :])] + lines[i + 1 :])
                try:
                    records.parse_header(text, "h.hea")
                except RecordError as error:
                    assert str(error).startswith("h.hea: ") and "\n" not in str(error)


# ------------------------------------------------------------------------------------------- header variants
def test_unknown_lead_names_are_kept(tmp_path: Path) -> None:
    header = write_pair(tmp_path, header_text(leads=("ECG1", "foo")), digital())
    record = records.read_record(header)
    assert record.header.leads == ("ECG1", "foo")
    chosen = records.select_leads(record.recording, record.header.leads, ("I", "foo"))
    assert not chosen[0].any()
    np.testing.assert_array_equal(chosen[1], record.recording[1])


def test_lead_names_get_their_standard_spelling() -> None:
    header = records.parse_header(header_text(leads=("i", "AVR", "avl", "v1")))
    assert header.leads == ("I", "aVR", "aVL", "V1")
    assert records.canonical_lead(" AVF ") == "aVF"


def test_signal_line_without_lead_name_gets_a_placeholder() -> None:
    text = "R1 2 500 10\nR1.mat 16 1000/mV 16 0\nR1.mat 16 1000/mV\n"
    assert records.parse_header(text).leads == ("signal1", "signal2")


def test_gain_zero_parses() -> None:
    header = records.parse_header(header_text(gain="0/mV"))
    np.testing.assert_array_equal(header.gains, [0.0, 0.0])


@pytest.mark.parametrize(
    ("gain", "expected_gain", "expected_baseline"),
    [
        ("1000/mV", 1000.0, 0.0),
        ("1000.0(0)/mV", 1000.0, 0.0),
        ("1000/mv", 1000.0, 0.0),
        ("200", 200.0, 0.0),
        ("4880.0(-12)/mV", 4880.0, -12.0),
        ("2.5e3(7)/uV", 2.5e6, 7.0),
    ],
)
def test_gain_variants(gain: str, expected_gain: float, expected_baseline: float) -> None:
    header = records.parse_header(header_text(gain=gain))
    np.testing.assert_array_equal(header.gains, [expected_gain] * 2)
    np.testing.assert_array_equal(header.baselines, [expected_baseline] * 2)


def test_baseline_is_the_adc_zero_without_parentheses() -> None:
    text = "R1 2 500 10\nR1.mat 16+24 1000/mV 16 5 0 0 0 I\nR1.mat 16+24 1000(3)/mV 16 5 0 0 0 II\n"
    header = records.parse_header(text)
    np.testing.assert_array_equal(header.baselines, [5.0, 3.0])
    assert [s.adc_zero for s in header.signals] == [5, 5]


def test_format_16x1_plus_24_and_spaced_comments() -> None:
    text = (
        "R1 2 500 10\n"
        "R1.mat 16x1+24 1000.0(0)/mV 16 0 -68 1250 0 I\n"
        "R1.mat 16x1+24 1000.0(0)/mV 16 0 -58 -5598 0 II\n"
        "# Age: 78\n# Sex: Male\n# Dx: 67741000119109, 426177001\n"
    )
    header = records.parse_header(text)
    assert header.leads == ("I", "II")
    assert header.age == 78.0 and header.sex == "Male"
    assert header.labels == ("67741000119109", "426177001")


@pytest.mark.parametrize(
    ("age_line", "expected"),
    [("#Age: NaN", math.nan), ("#Age: Unknown", math.nan), ("#Age:", math.nan), ("#Age: -1", math.nan),
     ("#Age: 63", 63.0), ("# Age: 70.5", 70.5), ("#age: 0", 0.0)],
)  # fmt: skip
def test_age_variants(age_line: str, expected: float) -> None:
    header = records.parse_header(header_text(comments=(age_line,)))
    if math.isnan(expected):
        assert math.isnan(header.age)
    else:
        assert header.age == expected


def test_missing_comments_give_unknowns() -> None:
    header = records.parse_header(header_text(comments=()))
    assert math.isnan(header.age) and header.sex == "Unknown" and header.labels == ()


@pytest.mark.parametrize("first", ["E00009.mat", "E00009", "E00009.hea"])
def test_record_line_naming_the_file(first: str) -> None:
    text = header_text(rid="E00009").replace("E00009 2 500", f"{first} 2 500", 1)
    assert records.parse_header(text).record_id == "E00009"


def test_record_line_with_date_and_time() -> None:
    text = header_text().replace("R1 2 500 10", "R1 2 500 10 05-May-2020 09:49:17")
    header = records.parse_header(text)
    assert (header.record_id, header.num_leads, header.frequency, header.num_samples) == ("R1", 2, 500.0, 10)


@pytest.mark.parametrize("frequency", ["257", "1000", "100", "500.0"])
def test_frequencies(frequency: str) -> None:
    assert records.parse_header(header_text(frequency=frequency)).frequency == float(frequency)


def test_crlf_and_leading_comments() -> None:
    text = "# exported\r\n" + header_text().replace("\n", "\r\n")
    header = records.parse_header(text)
    assert header.leads == ("I", "II") and header.sex == "Female"
    assert header.labels == ("164889003", "426783006")


def test_thirty_minute_257_hz_record(tmp_path: Path) -> None:
    samples = 462_600
    rng = np.random.default_rng(3)
    signal = np.cumsum(rng.normal(0, 0.01, size=(12, samples)), axis=1)
    path = records.write_record(tmp_path, "I0001", signal, 257, age=55, sex="Male", labels=["164889003"])
    record = records.read_record(path)
    assert record.header.frequency == 257.0 and record.header.num_samples == samples
    assert record.recording.shape == (12, samples) and record.recording.dtype == np.float64
    np.testing.assert_array_equal(record.recording, np.round(signal * 1000))


# ------------------------------------------------------------------------------------------------ write/read
def test_write_record_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    signal = rng.normal(0, 1, size=(3, 700))
    path = records.write_record(
        tmp_path, "W1", signal, 500, leads=("V2", "I", "II"), gain=200, age=47, sex="Female", labels=["1", "2"]
    )
    record = records.read_record(path)
    header = record.header
    assert record.record_id == "W1" == header.record_id
    assert header.leads == ("V2", "I", "II") and header.num_samples == 700
    np.testing.assert_array_equal(header.gains, [200.0] * 3)
    physical = (record.recording - header.baselines[:, None]) / header.gains[:, None]
    assert np.max(np.abs(physical - signal)) <= 0.5 / 200 + 1e-12
    assert (header.age, header.sex, header.labels) == (47.0, "Female", ("1", "2"))


def test_write_record_checksums_and_first_values(tmp_path: Path) -> None:
    signal = np.array([[0.001, 0.002, 0.003], [-0.030, 0.030, 0.031]])
    path = records.write_record(tmp_path, "W2", signal, 500, leads=("I", "II"))
    signal_lines = path.read_text().splitlines()[1:3]
    assert [line.split()[5:7] for line in signal_lines] == [["1", "6"], ["-30", "31"]]


def test_write_record_unknown_age_and_clipping(tmp_path: Path) -> None:
    """Clipped to -32767..32767: -32768 is format 16's "no sample" value, kept for NaN."""
    path = records.write_record(tmp_path, "W3", np.array([[100.0, -100.0]]), 500, leads=("I",))
    record = records.read_record(path)
    assert math.isnan(record.header.age) and record.header.sex == "Unknown"
    np.testing.assert_array_equal(record.recording, [[32767, -32767]])


def test_write_record_rejects_a_shape_that_does_not_match_the_leads(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="W4"):
        records.write_record(tmp_path, "W4", np.zeros((3, 10)), 500, leads=("I", "II"))


def test_check_recording_returns_the_recording() -> None:
    header = records.parse_header(header_text())
    recording = digital()
    assert records.check_recording(recording, header, "x.mat") is recording


# ------------------------------------------------------------------------------------------------ lead choice
def test_select_leads_reorders_and_zero_fills() -> None:
    recording = np.arange(12, dtype=np.int16).reshape(3, 4)
    chosen = records.select_leads(recording, ("V2", "II", "I"), ("I", "II", "III", "V2"))
    np.testing.assert_array_equal(chosen, [[8, 9, 10, 11], [4, 5, 6, 7], [0, 0, 0, 0], [0, 1, 2, 3]])
    assert chosen.dtype == np.int16


def test_select_leads_compares_standard_spellings() -> None:
    recording = np.arange(6, dtype=np.float64).reshape(2, 3)
    chosen = records.select_leads(recording, ("AVR", "i"), ("I", "aVR"))
    np.testing.assert_array_equal(chosen, [[3, 4, 5], [0, 1, 2]])


def test_select_leads_rejects_rows_that_do_not_match_the_leads() -> None:
    with pytest.raises(ValueError, match="one row per lead"):
        records.select_leads(np.zeros((2, 5)), ("I", "II", "III"), ("I",))


def test_record_error_survives_a_process_boundary():
    """Workers (DataLoader, joblib) send errors back by pickling them; copy.copy rebuilds the error
    through the same __reduce__ that unpickling uses."""
    import copy

    error = copy.copy(RecordError("a/b.hea", "gain 'x' is not a number"))
    assert isinstance(error, RecordError)
    assert (error.source, error.problem, str(error)) == ("a/b.hea", "gain 'x' is not a number",
                                                          "a/b.hea: gain 'x' is not a number")


def test_standard_leads_orders_deduplicates_and_drops_unknown_names():
    assert records.standard_leads(["V2", "AVR", "X1", "I", "i"]) == ("I", "aVR", "V2")
    assert records.standard_leads(["Y"]) == ()


# ------------------------------------------------------------------------------------- plausible ranges
@pytest.mark.parametrize("frequency", ["1e-300", "1e-4", "0.001", "0.4", "49", "10001", "1e300"])
def test_implausible_sampling_rates_are_refused_before_reading(tmp_path: Path, frequency: str) -> None:
    header = write_pair(tmp_path, header_text(frequency=frequency), digital())
    with pytest.raises(RecordError) as error:
        records.read_record(header)
    assert_one_line_error(error, header, "outside 50-10000 Hz")


@pytest.mark.parametrize("gain", ["-1000/mV", "0/mV"])
def test_gains_must_be_positive(tmp_path: Path, gain: str) -> None:
    header = write_pair(tmp_path, header_text(gain=gain), digital())
    with pytest.raises(RecordError) as error:
        records.read_record(header)
    assert_one_line_error(error, header, "must be positive")


@pytest.mark.parametrize(("text", "age"), [("1e308", math.nan), ("200", math.nan), ("-5", math.nan),
                                           ("120", 120.0), ("0", 0.0), ("61.5", 61.5)])
def test_ages_outside_0_to_120_are_unknown(text: str, age: float) -> None:
    parsed = records.parse_header(header_text(comments=(f"#Age: {text}",))).age
    assert parsed == age or (math.isnan(parsed) and math.isnan(age))


def test_a_sample_count_that_disagrees_with_the_recording_is_refused(tmp_path: Path) -> None:
    header = write_pair(tmp_path, header_text(samples=12), digital(samples=10))
    with pytest.raises(RecordError) as error:
        records.read_record(header)
    assert_one_line_error(error, tmp_path / "R1.mat", "holds 10 samples per signal but its header says 12")


def test_a_header_count_of_zero_samples_means_unknown(tmp_path: Path) -> None:
    header = write_pair(tmp_path, header_text(samples=0), digital(samples=10))
    assert records.read_record(header).recording.shape == (2, 10)


def test_records_over_an_hour_are_refused(tmp_path: Path) -> None:
    header = write_pair(tmp_path, header_text(frequency="50", samples=180_050, leads=("I",)), None)
    with pytest.raises(RecordError) as error:
        records.read_record(header)
    assert_one_line_error(error, header, "60 minutes are read")


def test_a_header_that_is_not_one_is_quoted_short(tmp_path: Path) -> None:
    header = write_pair(tmp_path, "x" * 500 + "\n", digital())
    with pytest.raises(RecordError) as error:
        records.read_record(header)
    assert "x" * 61 not in str(error.value)


# ----------------------------------------------------------------------------------- WFDB signal files
def test_every_shared_record_reads_as_scipy_reads_its_mat(shared_data: Path) -> None:
    """The same values in float64, -32768 (format 16's "no sample") as NaN; every checksum matches."""
    headers = sorted(shared_data.rglob("*.hea"))
    assert len(headers) > 1900
    for header in headers:
        expected = scipy.io.loadmat(header.with_suffix(".mat"))["val"]
        record = records.read_record(header)
        assert record.recording.dtype == np.float64 and record.warnings == (), header
        np.testing.assert_array_equal(record.recording, np.where(expected == -32768, np.nan, expected), str(header))


@pytest.mark.parametrize("fmt", ["16", "212", "80", "24", "32"])
def test_wfdb_signal_files_read_as_the_same_digital_values(tmp_path: Path, fmt: str) -> None:
    import wfdb

    bits = {"16": 16, "212": 12, "80": 8, "24": 24, "32": 32}[fmt]
    values = digital(leads=3, samples=700) // (1 << max(0, 12 - bits))  # within the format's range
    wfdb.wrsamp("R1", fs=400, units=["mV"] * 3, sig_name=["I", "II", "V1"], d_signal=values.T.astype(np.int64),
                fmt=[fmt] * 3, adc_gain=[200.0] * 3, baseline=[0] * 3, write_dir=str(tmp_path))
    record = records.read_record(tmp_path / "R1.hea")
    assert np.array_equal(record.recording, values)
    assert record.header.frequency == 400 and record.header.leads == ("I", "II", "V1")


def test_a_truncated_dat_file_names_the_record(tmp_path: Path) -> None:
    import wfdb

    wfdb.wrsamp("R1", fs=500, units=["mV"], sig_name=["I"], d_signal=digital(1, 100).T.astype(np.int64),
                fmt=["16"], adc_gain=[200.0], baseline=[0], write_dir=str(tmp_path))
    with open(tmp_path / "R1.dat", "r+b") as handle:
        handle.truncate(51)
    with pytest.raises(RecordError) as error:
        records.read_record(tmp_path / "R1.hea")
    assert str(tmp_path / "R1") in str(error.value) and "\n" not in str(error.value)


# ------------------------------------------------------------------------------- sources and lead-set names
@pytest.mark.parametrize(
    ("record_id", "source"),
    [
        ("A0001", "CPSC"),
        ("Q0001", "CPSC-Extra"),
        ("I01", "INCART"),
        ("S0001", "PTB"),
        ("HR00001", "PTB-XL"),
        ("E00001", "Georgia"),
        ("JS00001", "Chapman-Ningbo"),
        ("hr00001", "PTB-XL"),
        ("X0001", "other"),
        ("AB0001", "other"),
        ("H0001", "other"),
        ("00001", "other"),
        ("", "other"),
    ],
)
def test_source_of_maps_every_challenge_prefix(record_id, source):
    assert source_of(record_id) == source


def test_lead_set_name_uses_standard_order_and_spelling():
    assert lead_set_name(["II", "I"]) == "I,II"
    assert lead_set_name(["V2", "II", "I"]) == "I,II,V2"
    assert lead_set_name(["AVR", "avl", "I"]) == "I,aVR,aVL"
    assert lead_set_name(["I", "I", "II"]) == "I,II"
    assert lead_set_name(["I", "X1"]) == "I"
    assert lead_set_name(list(reversed(STANDARD_LEADS))) == ",".join(STANDARD_LEADS)


# ------------------------------------------------------------------- WFDB as WFDB defines it (hand-made files)
def write_dat(directory: Path, fmt: str, data: bytes, lines: list[str], record_line: str = "R1 {n} 500 {samples}",
              samples: int = 0) -> Path:
    """Write ``R1.dat`` holding ``data`` and a header ``R1.hea`` whose signal lines are ``lines`` (``{fmt}`` filled
    in); the header path."""
    (directory / "R1.dat").write_bytes(data)
    body = [record_line.format(n=len(lines), samples=samples)] + [line.format(fmt=fmt) for line in lines]
    header = directory / "R1.hea"
    header.write_text("\n".join(body) + "\n")
    return header


def wfdb_digital(header: Path) -> np.ndarray:
    """What ``wfdb`` reads from a record, digital, leads x samples."""
    import wfdb

    return wfdb.rdrecord(str(header.with_suffix("")), physical=False).d_signal.T


def as_wfdb_reads_it(recording: np.ndarray, markers: list[int | None]) -> np.ndarray:
    """``recording`` with NaN replaced by each row's "no sample" value: comparable with what wfdb returns."""
    filled = recording.copy()
    for row, marker in enumerate(markers):
        if marker is not None:
            filled[row][np.isnan(filled[row])] = marker
    return filled


def pack_310(values: np.ndarray) -> bytes:
    """Samples (a multiple of 3) in format 310: bits 1-10 of two 16-bit words, the rest in their top 5 bits."""
    u = (values.astype(np.int64) & 0x3FF).reshape(-1, 3)
    first = (u[:, 0] << 1) | ((u[:, 2] & 0x1F) << 11)
    second = (u[:, 1] << 1) | ((u[:, 2] >> 5) << 11)
    return np.stack([first, second], axis=1).astype("<u2").tobytes()


def pack_311(values: np.ndarray) -> bytes:
    """Samples (a multiple of 3) in format 311: bits 0-9, 10-19, 20-29 of a 32-bit word."""
    u = (values.astype(np.int64) & 0x3FF).reshape(-1, 3)
    return (u[:, 0] | u[:, 1] << 10 | u[:, 2] << 20).astype("<u4").tobytes()


def stored(fmt: str, values: np.ndarray) -> bytes:
    """``values`` (leads x samples) interleaved frame by frame in format ``fmt``."""
    flat = values.T.reshape(-1)
    if fmt == "61":
        return flat.astype(">i2").tobytes()
    if fmt == "160":
        return (flat + 32768).astype("<u2").tobytes()
    if fmt == "310":
        return pack_310(flat)
    if fmt == "311":
        return pack_311(flat)
    raise AssertionError(fmt)


@pytest.mark.parametrize(("fmt", "marker"), [("61", -32768), ("160", -32768), ("310", -512), ("311", -512)])
def test_hand_packed_formats_read_as_wfdb_reads_them(tmp_path: Path, fmt: str, marker: int) -> None:
    low, high = (-511, 511) if fmt in ("310", "311") else (-32767, 32767)
    values = np.random.default_rng(1).integers(low, high + 1, size=(3, 12))
    values[0, 4] = values[2, 0] = values[1, 11] = marker  # "no sample", first, middle and last
    values[1, 5], values[2, 7] = low, high
    lines = [f"R1.dat {{fmt}} 200/mV 12 0 0 0 0 {lead}" for lead in ("I", "II", "V1")]
    header = write_dat(tmp_path, fmt, stored(fmt, values), lines, samples=12)
    recording = records.read_record(header).recording
    expected = np.where(values == marker, np.nan, values)
    np.testing.assert_array_equal(recording, expected)
    np.testing.assert_array_equal(as_wfdb_reads_it(recording, [marker] * 3), wfdb_digital(header))


@pytest.mark.parametrize("fmt", ["310", "311", "212"])
@pytest.mark.parametrize("samples", [1, 2, 4, 5])
def test_packed_formats_whose_last_block_is_part_filled(tmp_path: Path, fmt: str, samples: int) -> None:
    values = np.arange(samples).reshape(1, samples) * 37 - 50
    if fmt == "212":
        import wfdb

        wfdb.wrsamp("R1", fs=500, units=["mV"], sig_name=["I"], d_signal=values.T, fmt=["212"], adc_gain=[200.0],
                    baseline=[0], write_dir=str(tmp_path))
        header = tmp_path / "R1.hea"
    else:  # the bytes the samples need, no more: 1 sample takes 2, 2 take 4 (310) or 3 (311)
        padded = np.concatenate([values[0], np.zeros(-samples % 3, np.int64)])
        needed = {1: 2, 2: 4 if fmt == "310" else 3, 4: 6, 5: 8 if fmt == "310" else 7}[samples]
        data = stored(fmt, padded.reshape(1, -1))[:needed]
        header = write_dat(tmp_path, fmt, data, ["R1.dat {fmt} 200/mV 10 0 0 0 0 I"], samples=samples)
    np.testing.assert_array_equal(records.read_record(header).recording, values)


def test_format_8_differences_start_from_the_initial_value(tmp_path: Path) -> None:
    values = np.array([[995, 990, 1000, 1127, 1000], [-3, -4, -5, -4, -3]])
    initial = values[:, :1]
    differences = np.diff(np.concatenate([initial, values], axis=1), axis=1)  # sample 0 = initial + first byte
    lines = ["R1.dat {fmt} 200/mV 10 0 995 0 0 MLII", "R1.dat {fmt} 200/mV 10 0 -3 0 0 V5"]
    header = write_dat(tmp_path, "8", differences.T.astype(np.int8).tobytes(), lines, samples=5)
    recording = records.read_record(header).recording
    np.testing.assert_array_equal(recording, values)
    np.testing.assert_array_equal(recording, wfdb_digital(header))


@pytest.mark.parametrize("fmt", ["16", "212", "80", "24", "32"])
def test_wfdb_no_sample_values_become_nan(tmp_path: Path, fmt: str) -> None:
    import wfdb

    marker = records.INVALID_SAMPLE[fmt]
    values = digital(leads=2, samples=9) // (1 << max(0, 12 - {"80": 8}.get(fmt, 12)))
    values = values.astype(np.int64)
    values[0, 3] = values[1, 0] = values[1, 8] = marker
    wfdb.wrsamp("R1", fs=500, units=["mV"] * 2, sig_name=["I", "II"], d_signal=values.T, fmt=[fmt] * 2,
                adc_gain=[200.0] * 2, baseline=[0] * 2, write_dir=str(tmp_path))
    record = records.read_record(tmp_path / "R1.hea")
    assert record.recording.dtype == np.float64 and record.warnings == ()
    np.testing.assert_array_equal(record.recording, np.where(values == marker, np.nan, values))
    np.testing.assert_array_equal(as_wfdb_reads_it(record.recording, [marker] * 2), wfdb_digital(tmp_path / "R1.hea"))


def test_the_no_sample_table_agrees_with_wfdb() -> None:
    from wfdb.io._signal import INVALID_SAMPLE_VALUE

    for fmt, marker in INVALID_SAMPLE_VALUE.items():
        assert records.INVALID_SAMPLE[fmt] == marker, fmt


def test_mat_no_sample_values_become_nan(tmp_path: Path) -> None:
    values = digital()
    values[0, 2] = values[1, 9] = -32768
    record = records.read_record(write_pair(tmp_path, header_text(), values))
    assert record.recording.dtype == np.float64
    np.testing.assert_array_equal(record.recording, np.where(values == -32768, np.nan, values))
    assert np.isnan(record.recording).sum() == 2


def test_invalid_as_nan_marks_what_the_challenge_helper_loads(tmp_path: Path) -> None:
    values = digital()
    values[1, 1] = -32768
    header = records.parse_header(header_text())
    marked = records.invalid_as_nan(values, header)
    assert marked.dtype == np.float64 and np.isnan(marked[1, 1]) and np.isnan(marked).sum() == 1
    with pytest.raises(ValueError, match="one row per lead"):
        records.invalid_as_nan(values[:1], header)


def test_read_wfdb_signals_gives_the_float_recording(tmp_path: Path) -> None:
    values = np.array([[1, -32768, 3]])
    header = write_dat(tmp_path, "16", values.T.astype("<i2").tobytes(), ["R1.dat {fmt} 200/mV 16 0 0 0 0 I"],
                       samples=3)
    np.testing.assert_array_equal(records.read_wfdb_signals(header), [[1, np.nan, 3]])


# -------------------------------------------------------------------------------------------------- units
@pytest.mark.parametrize(
    ("gain", "per_mv"),
    [("1000/mV", 1000.0), ("1/uV", 1000.0), ("1000000/V", 1000.0), ("1000000(0)/nV", 1e12),
     ("1/nV", 1e6), ("2000000/kV", 2.0), ("500", 500.0), ("500(3)", 500.0), ("4.88/uV", 4880.0),
     ("1/\u00b5V", 1000.0), ("200/MV", 200.0)],
)  # fmt: skip
def test_gains_are_in_digital_units_per_millivolt(gain: str, per_mv: float) -> None:
    header = records.parse_header(header_text(gain=gain))
    np.testing.assert_allclose(header.gains, [per_mv] * 2, rtol=1e-12)
    assert header.signals[0].units == (gain.partition("/")[2] or "mV")


def test_one_microvolt_per_unit_is_exactly_a_thousand_per_millivolt() -> None:
    assert records.parse_header(header_text(gain="1/uV")).gains[0] == 1000.0
    assert records.parse_header(header_text(gain="1000000/V")).gains[0] == 1000.0


@pytest.mark.parametrize("units", ["mmHg", "%", "bpm", "NU", "mV2"])
def test_a_lead_that_is_not_a_voltage_is_refused(tmp_path: Path, units: str) -> None:
    header = write_pair(tmp_path, header_text(gain=f"100/{units}"), digital())
    with pytest.raises(RecordError) as error:
        records.read_record(header)
    assert_one_line_error(error, header, f"lead I is in {units!r}, not a voltage")


def test_a_signal_beside_the_ecg_in_another_unit_is_kept_as_written() -> None:
    header = records.parse_header(header_text(leads=("ABP", "PLETH"), gain="100/mmHg"))
    assert header.leads[0] == "ABP" and header.gains[0] == 100.0  # no model reads it; the record is not refused


def test_a_gain_of_zero_is_refused_not_read_as_wfdbs_uncalibrated_200(tmp_path: Path) -> None:
    header = write_pair(tmp_path, header_text(gain="0/mV"), digital())
    with pytest.raises(RecordError) as error:
        records.read_record(header)
    assert_one_line_error(error, header, "must be positive")


def test_a_signal_line_without_a_gain_is_refused() -> None:
    with pytest.raises(RecordError, match="no ADC gain"):
        records.parse_header("R1 1 500 10\nR1.dat 16\n", "h.hea")


def test_a_description_with_spaces_is_the_whole_lead_name() -> None:
    header = records.parse_header("R1 1 500 10\nR1.dat 16 200 12 0 0 0 0 ECG lead II\n")
    assert header.leads == ("ECG lead II",)


# ------------------------------------------------------------------------------------- skew and format 0
def test_skew_reads_as_wfdb_reads_it(tmp_path: Path) -> None:
    """Sample k of a signal with skew s is stored in frame k + s; past the record's end there is no sample."""
    values = np.arange(30).reshape(3, 10) * 10 - 100
    lines = ["R1.dat {fmt}:2 200/mV 16 0 0 0 0 I", "R1.dat {fmt} 200/mV 16 0 0 0 0 II",
             "R1.dat {fmt}:5 200/mV 16 0 0 0 0 V1"]
    header = write_dat(tmp_path, "16", values.T.astype("<i2").tobytes(), lines, samples=10)
    recording = records.read_record(header).recording
    np.testing.assert_array_equal(recording[0], list(values[0, 2:]) + [np.nan] * 2)
    np.testing.assert_array_equal(recording[1], values[1])
    np.testing.assert_array_equal(recording[2], list(values[2, 5:]) + [np.nan] * 5)


def test_skew_agrees_with_wfdb(tmp_path: Path) -> None:
    """wfdb (4.3) fails on a file whose signals have different non-zero skews; with one skew it reads these."""
    values = np.arange(30).reshape(3, 10) * 10 - 100
    lines = ["R1.dat {fmt}:3 200/mV 16 0 0 0 0 I", "R1.dat {fmt} 200/mV 16 0 0 0 0 II",
             "R1.dat {fmt}:3 200/mV 16 0 0 0 0 V1"]
    header = write_dat(tmp_path, "16", values.T.astype("<i2").tobytes(), lines, samples=10)
    recording = records.read_record(header).recording
    assert np.isnan(recording[[0, 2], 7:]).all() and not np.isnan(recording[1]).any()
    np.testing.assert_array_equal(as_wfdb_reads_it(recording, [-32768] * 3), wfdb_digital(header))


def test_skew_in_a_challenge_mat(tmp_path: Path) -> None:
    values = digital()
    text = header_text().replace("R1.mat 16+24 1000/mV 16 0 0 0 0 II", "R1.mat 16:3+24 1000/mV 16 0 0 0 0 II")
    recording = records.read_record(write_pair(tmp_path, text, values)).recording
    np.testing.assert_array_equal(recording[0], values[0])
    np.testing.assert_array_equal(recording[1], list(values[1, 3:]) + [np.nan] * 3)


def test_a_null_signal_is_all_nan(tmp_path: Path) -> None:
    values = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    lines = ["R1.dat {fmt} 200/mV 16 0 0 0 0 I", "~ 0 200/mV 16 0 0 0 0 III", "R1.dat {fmt} 200/mV 16 0 0 0 0 II"]
    header = write_dat(tmp_path, "16", values.T.astype("<i2").tobytes(), lines, samples=4)
    record = records.read_record(header)
    assert record.header.leads == ("I", "III", "II")
    np.testing.assert_array_equal(record.recording, [values[0], [np.nan] * 4, values[1]])


def test_a_null_signal_in_a_challenge_record(tmp_path: Path) -> None:
    values = digital()
    text = header_text(leads=("I", "II", "III")).replace("R1.mat 16+24 1000/mV 16 0 0 0 0 III",
                                                         "~ 0 1000/mV 16 0 0 0 0 III")
    recording = records.read_record(write_pair(tmp_path, text, values)).recording
    np.testing.assert_array_equal(recording, [values[0], values[1], [np.nan] * 10])


def test_a_record_of_null_signals_only_is_refused(tmp_path: Path) -> None:
    header = tmp_path / "R1.hea"
    header.write_text("R1 1 500 10\n~ 0 200/mV 16 0 0 0 0 I\n")
    with pytest.raises(RecordError) as error:
        records.read_record(header)
    assert_one_line_error(error, header, "every signal is a null signal")


def test_samples_per_frame_are_averaged_per_frame(tmp_path: Path) -> None:
    """Two samples of lead I per frame: its frame value is their mean, NaN when one is missing; wfdb's
    expanded samples give the same means."""
    import wfdb

    expanded = np.array([1, 2, 10, 20, -32768, 5, 7, 8])  # lead I, two per frame
    other = np.array([100, 200, 300, 400])
    flat = np.stack([expanded[0::2], expanded[1::2], other], axis=1).reshape(-1)
    lines = ["R1.dat {fmt}x2 200/mV 16 0 0 0 0 I", "R1.dat {fmt} 200/mV 16 0 0 0 0 II"]
    header = write_dat(tmp_path, "16", flat.astype("<i2").tobytes(), lines, samples=4)
    recording = records.read_record(header).recording
    np.testing.assert_array_equal(recording, [[1.5, 15, np.nan, 7.5], other])
    read = wfdb.rdrecord(str(header.with_suffix("")), physical=False, smooth_frames=False)
    np.testing.assert_array_equal(read.e_d_signal[0], expanded)


# ------------------------------------------------------------------------------------------ multi-segment
def test_multi_segment_records_are_refused_in_one_line(tmp_path: Path) -> None:
    header = tmp_path / "M1.hea"
    header.write_text("M1/2 2 500 20\nseg1 10\nseg2 10\n")
    with pytest.raises(RecordError) as error:
        records.read_header(header)
    assert_one_line_error(error, header, "multi-segment records are not read")


# ------------------------------------------------------------------------------- optional record-line fields
def test_a_record_line_without_frequency_is_250_hz(tmp_path: Path) -> None:
    values = digital(samples=600)
    text = header_text(samples=600).replace("R1 2 500 600", "R1 2")
    record = records.read_record(write_pair(tmp_path, text, values))
    assert record.header.frequency == records.DEFAULT_FREQUENCY_HZ == 250.0
    np.testing.assert_array_equal(record.recording, values)


def test_a_record_line_without_sample_count_takes_the_recording_length(tmp_path: Path) -> None:
    text = header_text().replace("R1 2 500 10", "R1 2 500")
    record = records.read_record(write_pair(tmp_path, text, digital(samples=37)))
    assert record.header.num_samples == 0 and record.recording.shape == (2, 37)


@pytest.mark.parametrize("count", ["0", ""])
def test_a_dat_without_sample_count_reads_all_the_file_holds(tmp_path: Path, count: str) -> None:
    values = np.arange(14).reshape(2, 7)
    lines = ["R1.dat {fmt} 200/mV 12 0 0 0 0 I", "R1.dat {fmt} 200/mV 12 0 0 0 0 II"]
    header = write_dat(tmp_path, "16", values.T.astype("<i2").tobytes() + b"\x01", lines,
                       record_line="R1 {n} 500 " + count)
    record = records.read_record(header)
    np.testing.assert_array_equal(record.recording, values)  # the odd byte at the end is no sample


def test_signal_files_that_disagree_without_a_sample_count_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.dat").write_bytes(np.arange(5).astype("<i2").tobytes())
    (tmp_path / "b.dat").write_bytes(np.arange(6).astype("<i2").tobytes())
    header = tmp_path / "R1.hea"
    header.write_text("R1 2 500\na.dat 16 200/mV 16 0 0 0 0 I\nb.dat 16 200/mV 16 0 0 0 0 II\n")
    with pytest.raises(RecordError) as error:
        records.read_record(header)
    assert_one_line_error(error, header, "different numbers of samples (a.dat 5, b.dat 6)")


# ---------------------------------------------------------------------------------------- damaged .dat files
def test_a_byte_offset_past_the_end_of_the_file(tmp_path: Path) -> None:
    header = write_dat(tmp_path, "16", bytes(20), ["R1.dat {fmt}+5000 200/mV 16 0 0 0 0 I"], samples=10)
    with pytest.raises(RecordError) as error:
        records.read_record(header)
    assert_one_line_error(error, tmp_path / "R1.dat", "has 20 bytes, fewer than the byte offset of 5000")


def test_a_truncated_dat_says_how_many_bytes_it_has_and_needs(tmp_path: Path) -> None:
    lines = ["R1.dat {fmt}+24 200/mV 16 0 0 0 0 I", "R1.dat {fmt}+24 200/mV 16 0 0 0 0 II"]
    header = write_dat(tmp_path, "16", bytes(24 + 51), lines, samples=100)
    with pytest.raises(RecordError) as error:
        records.read_record(header)
    assert_one_line_error(error, tmp_path / "R1.dat", "has 75 bytes; 100 samples of 2 signals in format 16 need 424")


def test_a_byte_offset_skips_a_preamble(tmp_path: Path) -> None:
    values = np.array([[3, -4, 5]])
    header = write_dat(tmp_path, "16", b"PREAMBLE" + values.T.astype("<i2").tobytes(),
                       ["R1.dat {fmt}+8 200/mV 16 0 0 0 0 I"], samples=3)
    np.testing.assert_array_equal(records.read_record(header).recording, values)


def write_wfdb(directory: Path, values: np.ndarray, fmt: str) -> Path:
    """``values`` (leads x samples) written by wfdb as record R1 in format ``fmt``, leads I, II, V1...; its header."""
    import wfdb

    leads = ["I", "II", "V1", "V2"][: len(values)]
    wfdb.wrsamp("R1", fs=500, units=["mV"] * len(leads), sig_name=leads, d_signal=values.T.astype(np.int64),
                fmt=[fmt] * len(leads), adc_gain=[200.0] * len(leads), baseline=[0] * len(leads),
                write_dir=str(directory))
    return directory / "R1.hea"


def flac_values() -> np.ndarray:
    """Three leads that fit every FLAC format, 8-bit too."""
    return np.random.default_rng(5).integers(-127, 128, size=(3, 700))


@pytest.mark.parametrize("fmt", ["508", "516", "524"])
def test_flac_formats_read_as_the_same_record_in_format_16(tmp_path: Path, fmt: str) -> None:
    """The same samples, its "no sample" value (-128, -32768 or -2**23) as NaN as format 16's, checksums matching."""
    values = flac_values()
    in_flac, in_16 = values.copy(), values.copy()
    in_flac[0, 5] = in_flac[2, 699] = records.INVALID_SAMPLE[fmt]
    in_16[0, 5] = in_16[2, 699] = -32768
    (tmp_path / fmt).mkdir()
    (tmp_path / "16").mkdir()
    flac = records.read_record(write_wfdb(tmp_path / fmt, in_flac, fmt))
    plain = records.read_record(write_wfdb(tmp_path / "16", in_16, "16"))
    assert flac.header.signals[0].fmt == fmt and flac.warnings == () == plain.warnings
    assert np.isnan(flac.recording).sum() == 2
    np.testing.assert_array_equal(flac.recording, plain.recording)


def test_a_flac_file_without_a_sample_count_reads_all_it_holds(tmp_path: Path) -> None:
    header = write_wfdb(tmp_path, flac_values(), "516")
    header.write_text(header.read_text().replace("R1 3 500 700", "R1 3 500 0"))
    np.testing.assert_array_equal(records.read_record(header).recording, flac_values())


def test_a_flac_byte_offset_counts_samples_as_wfdb_reads_it(tmp_path: Path) -> None:
    header = write_wfdb(tmp_path, flac_values(), "516")
    header.write_text(header.read_text().replace(" 516 ", " 516+100 ").replace("R1 3 500 700", "R1 3 500"))
    np.testing.assert_array_equal(records.read_record(header).recording, flac_values()[:, 100:])


def test_a_flac_file_shorter_than_its_header_says(tmp_path: Path) -> None:
    header = write_wfdb(tmp_path, flac_values(), "516")
    header.write_text(header.read_text().replace("R1 3 500 700", "R1 3 500 800"))
    with pytest.raises(RecordError) as error:
        records.read_record(header)
    assert_one_line_error(error, tmp_path / "R1.dat", "holds 700 samples per signal after its sample offset; "
                                                      "its header gives 800 (is it truncated?)")


def test_a_signal_file_in_a_flac_format_that_is_no_flac_file(tmp_path: Path) -> None:
    header = write_dat(tmp_path, "516", bytes(100), ["R1.dat {fmt} 200/mV 16 0 0 0 0 I"], samples=10)
    with pytest.raises(RecordError) as error:
        records.read_record(header)
    assert_one_line_error(error, tmp_path / "R1.dat", "not a readable FLAC file")


def test_what_wfdb_refuses_is_one_line_naming_the_record(tmp_path: Path) -> None:
    """A 16-bit FLAC stream in a header that says 8 bits (format 508): wfdb's own error, in one line."""
    header = write_wfdb(tmp_path, flac_values(), "516")
    header.write_text(header.read_text().replace(" 516 ", " 508 "))
    with pytest.raises(RecordError) as error:
        records.read_record(header)
    assert_one_line_error(error, header, "wfdb cannot read the signals (ValueError: wrong resolution")


def test_a_folder_wfdb_cannot_open_is_named(tmp_path: Path) -> None:
    (tmp_path / "a::b").mkdir()
    header = write_dat(tmp_path / "a::b", "16", bytes(20), ["R1.dat {fmt} 200/mV 16 0 0 0 0 I"], samples=10)
    with pytest.raises(RecordError) as error:
        records.read_record(header)
    assert_one_line_error(error, header, "wfdb cannot open a signal file whose path contains '::'")


def test_any_wfdb_exception_becomes_a_one_line_record_error(tmp_path: Path, monkeypatch) -> None:
    from wfdb.io import _signal

    def fail(**_: object) -> None:
        raise KeyError("first line\nsecond line")

    header = write_dat(tmp_path, "16", bytes(20), ["R1.dat {fmt} 200/mV 16 0 0 0 0 I"], samples=10)
    monkeypatch.setattr(_signal, "_rd_segment", fail)
    with pytest.raises(RecordError) as error:
        records.read_record(header)
    assert_one_line_error(error, header, "wfdb cannot read the signals (KeyError: 'first line")


@pytest.mark.parametrize(("field", "words"), [("999", "not a WFDB storage format"), ("16x0", "0 samples per frame"),
                                              ("16+x", "not a WFDB storage format"), ("9" * 40, "not a WFDB")])
def test_bad_format_fields_are_refused(field: str, words: str) -> None:
    with pytest.raises(RecordError, match=words):
        records.parse_header(f"R1 1 500 10\nR1.dat {field} 200/mV 16 0 0 0 0 I\n", "h.hea")


def test_signals_of_one_file_must_be_consecutive_and_alike() -> None:
    spread = "R1 3 500 10\na.dat 16 200 16 0 0 0 0 I\nb.dat 16 200 16 0 0 0 0 II\na.dat 16 200 16 0 0 0 0 V1\n"
    with pytest.raises(RecordError, match="not on consecutive lines"):
        records.parse_header(spread, "h.hea")
    mixed = "R1 2 500 10\na.dat 16 200 16 0 0 0 0 I\na.dat 212 200 16 0 0 0 0 II\n"
    with pytest.raises(RecordError, match="differ in format or byte offset"):
        records.parse_header(mixed, "h.hea")


def test_a_signal_file_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    header = write_dat(tmp_path, "16", bytes(20), ["R1.dat {fmt} 200/mV 16 0 0 0 0 I"], samples=10)
    (tmp_path / "R1.dat").unlink()
    (tmp_path / "R1.dat").mkdir()
    with pytest.raises(RecordError) as error:
        records.read_record(header)
    assert_one_line_error(error, tmp_path / "R1.dat", "not a regular file")


# ------------------------------------------------------------------------------------------------ checksums
def test_matching_checksums_give_no_warning(tmp_path: Path) -> None:
    path = records.write_record(tmp_path, "W1", np.random.default_rng(0).normal(0, 3, (2, 500)), 500,
                                leads=("I", "II"))
    assert records.read_record(path).warnings == ()


def test_a_checksum_mismatch_is_a_warning_per_lead(tmp_path: Path) -> None:
    path = records.write_record(tmp_path, "W1", np.array([[0.001, 0.002, 0.003], [-0.03, 0.03, 0.031]]), 500,
                                leads=("I", "II"))
    path.write_text(path.read_text().replace(" -30 31 0 II", " -30 -5 0 II"))
    record = records.read_record(path)
    assert record.warnings == ("lead II: checksum 31 in the signal file, -5 in the header",)
    np.testing.assert_array_equal(record.recording, [[1, 2, 3], [-30, 30, 31]])  # read all the same


def test_dat_checksums_are_signed_16_bit_sums_of_the_stored_samples(tmp_path: Path) -> None:
    """The sum wraps at 16 bits; wfdb writes it unsigned (65534 is -2); a skew does not change it (WFDB counts
    the samples before sample 0)."""
    values = np.array([[30000, 30000, -2], [1, 2, 3]])
    lines = ["R1.dat {fmt}:1 200/mV 16 0 30000 -5538 0 I", "R1.dat {fmt} 200/mV 16 0 1 65535 0 II"]
    header = write_dat(tmp_path, "16", values.T.astype("<i2").tobytes(), lines, samples=3)
    assert records.read_record(header).warnings == ("lead II: checksum 6 in the signal file, 65535 in the header",)


def test_checksums_are_not_checked_without_a_sample_count(tmp_path: Path) -> None:
    header = write_dat(tmp_path, "16", np.array([1, 2]).astype("<i2").tobytes(),
                       ["R1.dat {fmt} 200/mV 16 0 0 99 0 I"], record_line="R1 {n} 500")
    assert records.read_record(header).warnings == ()


def test_format_8_checksums_add_up_the_reconstructed_samples(tmp_path: Path) -> None:
    header = write_dat(tmp_path, "8", np.array([0, 1, 1], np.int8).tobytes(), ["R1.dat {fmt} 200/mV 10 0 5 18 0 I"],
                       samples=3)
    record = records.read_record(header)
    assert record.warnings == () and record.recording.tolist() == [[5, 6, 7]]


# ---------------------------------------------------------------------------------------------- header files
def test_an_oversized_header_is_refused_unread(tmp_path: Path) -> None:
    header = write_pair(tmp_path, header_text() + "#" + "x" * records.HEADER_MAX_BYTES + "\n", digital())
    for read in (records.read_header, records.read_labels, records.read_record):
        with pytest.raises(RecordError) as error:
            read(header)
        assert_one_line_error(error, header, "header is larger than 1 MiB")


def test_a_header_that_is_a_named_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    import os
    import threading

    header = tmp_path / "R1.hea"
    os.mkfifo(header)
    outcomes: list[str] = []

    def read_both() -> None:
        for read in (records.read_header, records.read_labels):
            try:
                read(header)
            except RecordError as error:
                outcomes.append(str(error))

    reader = threading.Thread(target=read_both, daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive(), "reading a named pipe blocked"
    assert outcomes == [f"{header}: header is a named pipe, not a regular file"] * 2


def test_errors_in_header_text_name_its_record() -> None:
    with pytest.raises(RecordError) as error:
        records.parse_header(header_text(rid="A0001", gain="abc/mV"))
    assert str(error.value).startswith("header of A0001: lead I")
    with pytest.raises(RecordError, match="^header of E00009: ") as error:
        records.parse_header("E00009.mat 2 500 10\nE00009.mat 16+24 1000/mV\n")
    with pytest.raises(RecordError, match="^header text without a record line: header is empty"):
        records.parse_header("# only a comment\n")
    with pytest.raises(RecordError, match="^h.hea: "):
        records.parse_header(header_text(gain="abc/mV"), "h.hea")


def test_format_8_starts_from_the_adc_zero_without_an_initial_value(tmp_path: Path) -> None:
    """WFDB's default initial value is the ADC zero (wfdb's would be 0)."""
    header = write_dat(tmp_path, "8", np.array([1, 1, -3], np.int8).tobytes(), ["R1.dat {fmt} 200/mV 10 40"],
                       samples=3)
    assert records.read_record(header).recording.tolist() == [[41, 42, 39]]


def test_a_format_8_initial_value_out_of_range_is_refused(tmp_path: Path) -> None:
    header = write_dat(tmp_path, "8", bytes(3), ["R1.dat {fmt} 200/mV 10 0 1e20 0 0 I"], samples=3)
    with pytest.raises(RecordError) as error:
        records.read_record(header)
    assert_one_line_error(error, tmp_path / "R1.dat", "initial value 100000000000000000000 is out of range")


def test_write_record_stores_nan_as_missing_and_never_a_voltage_so(tmp_path: Path) -> None:
    signal = np.array([[0.5, -40.0, np.nan, 40.0]])  # mV; +-40 mV is beyond int16 at 1000/mV
    recording = records.read_record(records.write_record(tmp_path, "R1", signal, 500, leads=("I",))).recording
    np.testing.assert_array_equal(recording, [[500, -32767, np.nan, 32767]])


def test_invalid_as_nan_never_changes_its_input_and_copies_only_what_it_marks() -> None:
    header = records.parse_header(header_text())
    stored = np.array([[1.0, -32768.0], [2.0, 3.0]])
    marked = records.invalid_as_nan(stored, header)
    np.testing.assert_array_equal(marked, [[1.0, np.nan], [2.0, 3.0]])
    assert stored[0, 1] == -32768.0  # the caller's array is left as it was
    assert records.invalid_as_nan(marked, header) is marked  # read once, marked once: no second copy


def test_a_lead_set_is_its_standard_leads_in_standard_order_whatever_it_is_made_from() -> None:
    from ecgnet.records import LeadSet

    three = LeadSet.of(["V2", "AVR", "II", "X"])  # any order and spelling; non-standard names are dropped
    assert three == LeadSet.of("II,aVR,V2") == LeadSet.of(three) and hash(three) == hash(LeadSet.of("II,aVR,V2"))
    assert str(three) == three.name == "II,aVR,V2" and tuple(three) == ("II", "aVR", "V2") and len(three) == 3
    assert three.closest(["I,II", "II,aVR,V2,V3"]) == "II,aVR,V2,V3"


def test_a_lead_set_is_named_as_the_challenge_names_its_folders_or_by_its_leads() -> None:
    from ecgnet.records import LEAD_SETS, LeadSet, lead_set_words, parse_lead_set

    assert parse_lead_set("six") == parse_lead_set("six_leads") == parse_lead_set(" Six ") == LeadSet(LEAD_SETS[6])
    assert parse_lead_set("twelve") == parse_lead_set("12") == LeadSet(STANDARD_LEADS)
    assert parse_lead_set("v2, II,i") == LeadSet(("I", "II", "V2")) == parse_lead_set("three")
    assert parse_lead_set("I,V1") == LeadSet(("I", "V1"))
    for wrong in ("seven", "5", "", "I,X1"):
        with pytest.raises(ValueError, match="is not a lead set: give twelve, six, four, three, two, or leads"):
            parse_lead_set(wrong)
    assert lead_set_words(("I", "II")) == "two leads (I, II)"
    assert lead_set_words(("V1", "I")) == "the leads I, V1"
