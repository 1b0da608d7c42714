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
        ("2.5e3(7)/uV", 2500.0, 7.0),
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
    assert record.recording.shape == (12, samples) and record.recording.dtype == np.int16
    np.testing.assert_array_equal(record.recording, np.round(signal * 1000).astype(np.int16))


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
    path = records.write_record(tmp_path, "W3", np.array([[100.0, -100.0]]), 500, leads=("I",))
    record = records.read_record(path)
    assert math.isnan(record.header.age) and record.header.sex == "Unknown"
    np.testing.assert_array_equal(record.recording, [[32767, -32768]])


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
    headers = sorted(shared_data.rglob("*.hea"))
    assert len(headers) > 1900
    for header in headers:
        expected = scipy.io.loadmat(header.with_suffix(".mat"))["val"]
        recording = records.read_record(header).recording
        assert recording.dtype == expected.dtype and np.array_equal(recording, expected), header


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
