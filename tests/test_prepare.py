"""The one preparation of a record (ecgnet.prepare): what it holds, its checks, and the inference windows."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from ecgnet import signals
from ecgnet.config import BeatConfig, RunConfig, SignalConfig
from ecgnet.features import NUM_FEATURES
from ecgnet.measurements import NUM_MEASUREMENTS
from ecgnet.prepare import (
    PreparedRecord,
    PrepareOptions,
    collect,
    prepare,
    prepare_file,
    prepare_many,
    record_windows,
)
from ecgnet.records import EVALUATED_LEAD_SETS, STANDARD_LEADS, RecordError, parse_header, read_record, write_record
from ecgnet.signals import preprocess

SIGNALS = SignalConfig(sample_rate=100, window_seconds=2.0, inference_stride_seconds=1.0)


def _record(length: int, seed: int = 0, mask: np.ndarray | None = None) -> PreparedRecord:
    signal = np.random.default_rng(seed).standard_normal((12, length)).astype(np.float32) + 3.0
    mask = np.ones(12, dtype=bool) if mask is None else mask
    signal[~mask] = 0.0
    return PreparedRecord(signal, mask, np.zeros(4, np.float32))


def _ecg(tmp_path, record_id="R1", leads=STANDARD_LEADS, seconds=10, age=61.0):
    import neurokit2 as nk

    ecg = nk.ecg_simulate(duration=seconds, sampling_rate=500, heart_rate=70, random_state=1)
    return write_record(tmp_path, record_id, np.tile(ecg, (len(leads), 1)), 500, leads=leads, age=age, sex="Male")


def test_a_prepared_record_holds_what_the_run_asks_for(tmp_path):
    header = _ecg(tmp_path)
    plain = prepare_file(header, PrepareOptions(SIGNALS))
    full = prepare_file(header, PrepareOptions(SIGNALS, peaks=True, measurements=True))
    assert plain.peaks is None and plain.features is None and plain.measurements is None
    record = read_record(header)
    signal, mask = preprocess(record.recording, record.header, SIGNALS)
    for prepared in (plain, full):  # the network's input does not depend on what else is asked for
        np.testing.assert_array_equal(prepared.signal, signal)
        np.testing.assert_array_equal(prepared.lead_mask, mask)
    np.testing.assert_allclose(full.demographics, [0.61, 1.0, 1.0, 1.0], rtol=1e-6)
    assert full.features.shape == (NUM_FEATURES,) and 10 <= len(full.peaks) <= 13
    assert full.measurements.shape == (len(EVALUATED_LEAD_SETS), NUM_MEASUREMENTS)


def test_a_record_prepared_for_one_lead_set_looks_at_those_leads_only(tmp_path):
    header = _ecg(tmp_path)
    two = prepare_file(header, PrepareOptions(SIGNALS, peaks=True, measurements=True), leads=("I", "II"))
    assert two.lead_mask.tolist() == [lead in ("I", "II") for lead in STANDARD_LEADS]
    assert not two.signal[2:].any() and two.measurements.shape == (1, NUM_MEASUREMENTS)


def test_prepare_many_keeps_the_order_and_names_the_record_an_unforeseen_error_stopped(tmp_path, monkeypatch):
    headers = [_ecg(tmp_path, f"R{k}") for k in range(3)]
    original = signals.leads_at_rate

    def failing_on_the_second(recording, header, *args, **kwargs):
        if header.record_id == "R1":
            raise ZeroDivisionError("a bug")
        return original(recording, header, *args, **kwargs)

    monkeypatch.setattr(signals, "leads_at_rate", failing_on_the_second)
    results = list(prepare_many(headers, PrepareOptions(SIGNALS), progress=False, leads=("I", "II")))
    assert [row for row, _ in results] == [0, 1, 2]
    assert [r.record_id for _, r in results if isinstance(r, PreparedRecord)] == ["R0", "R2"]
    error = results[1][1]
    assert isinstance(error, RecordError) and error.source == str(headers[1])
    assert "could not be prepared (ZeroDivisionError: a bug)" in str(error)
    assert results[0][1].lead_mask.sum() == 2  # prepared with the leads asked for


def test_options_follow_the_run_config():
    config = RunConfig().override("feature_model", enabled=True).override("beats", enabled=True)
    assert PrepareOptions.of(config) == PrepareOptions(config.signals, peaks=True, measurements=True)
    assert PrepareOptions.of(RunConfig().override("feature_model", enabled=False)) == PrepareOptions(SignalConfig())


@pytest.mark.parametrize(("change", "words"), [
    (lambda text: text.replace(" 500 5000", " 1e-300 5000", 1), "outside 50-10000 Hz"),
    (lambda text: text.replace(" 500 5000", " 0.4 5000", 1), "outside 50-10000 Hz"),
    (lambda text: text.replace(" 500 5000", " 1e300 5000", 1), "outside 50-10000 Hz"),
    (lambda text: text.replace("1000/mV", "-1000/mV"), "must be positive"),
    (lambda text: text.replace(" 500 5000", " 500 4000", 1), "header says 4000"),
])
def test_the_checks_hold_whoever_read_the_record(tmp_path, change, words):
    """team_code.run_model hands over a header text and an array: the same checks apply as to a file."""
    record = read_record(_ecg(tmp_path))
    header = parse_header(change(record.header_text))
    with pytest.raises(RecordError, match=words):
        prepare(record.recording, header, PrepareOptions(SIGNALS), source="R1")


def test_a_record_without_a_finite_sample_is_refused(tmp_path):
    header = write_record(tmp_path, "R1", np.zeros((2, 1000)), 500, leads=("I", "II"))
    scipy.io.savemat(header.with_suffix(".mat"), {"val": np.full((2, 1000), np.nan)}, format="4")
    with pytest.raises(RecordError, match=r"no ECG signal in any lead \(missing: I, II\)$"):
        prepare_file(header, PrepareOptions(SIGNALS))


def test_collect_holds_prepared_records_together(tmp_path):
    options = PrepareOptions(SIGNALS, peaks=True, measurements=True)
    records = [prepare_file(_ecg(tmp_path, f"R{i}", seconds=5 + i), options) for i in range(2)]
    held = collect(records)
    assert len(held) == 2 and held.measurements.shape == (2, 5, NUM_MEASUREMENTS)
    for row, record in enumerate(records):
        again = held.record(row)
        for name in ("signal", "lead_mask", "demographics", "peaks", "features", "measurements"):
            np.testing.assert_array_equal(getattr(again, name), getattr(record, name))  # NaN equals NaN here
    assert len(collect([])) == 0


# Inference windows.
def test_record_windows_restricts_to_the_wanted_leads():
    mask = np.ones(12, dtype=bool)
    mask[1] = False  # the record lacks lead II
    record = _record(450, mask=mask)
    windows, keep = record_windows(record, ["I", "II", "AVR"], SIGNALS)
    assert windows.shape == (4, 12, 200) and windows.dtype == np.float32
    assert keep.tolist() == [lead in ("I", "aVR") for lead in STANDARD_LEADS]
    assert (windows[:, ~keep] == 0).all()
    assert np.array_equal(windows[0, 0], record.signal[0, :200])
    assert np.array_equal(windows[-1, 3], record.signal[3, -200:])


def test_record_windows_pads_a_short_record():
    record = _record(120)
    windows, keep = record_windows(record, STANDARD_LEADS, SIGNALS)
    assert windows.shape == (1, 12, 200) and keep.all()
    assert np.array_equal(windows[0, :, :120], record.signal) and (windows[0, :, 120:] == 0).all()


def test_record_windows_with_beat_sampling_are_beat_groups():
    beats = BeatConfig(enabled=True, beats_per_example=2, beat_samples=40, inference_groups=3)
    record = _record(1000)
    with_peaks = PreparedRecord(record.signal, record.lead_mask, record.demographics, np.arange(50, 950, 80))
    windows, keep = record_windows(with_peaks, STANDARD_LEADS, SIGNALS, beats)
    assert windows.shape == (3, 12, 80) and keep.all()
    with pytest.raises(ValueError, match="R peaks"):
        record_windows(record, STANDARD_LEADS, SIGNALS, beats)


# The quality gate: a lead that holds no ECG is read by nothing, and a record without one is refused.

GATED = PrepareOptions(SIGNALS, peaks=True, measurements=True)


def _twelve_leads(seconds: float = 10.0) -> np.ndarray:
    """A digital (12, samples) recording at 500 Hz and 1000/mV whose leads differ (a scaled ECG plus noise)."""
    import neurokit2 as nk

    ecg = nk.ecg_simulate(duration=seconds, sampling_rate=500, heart_rate=70, random_state=3)
    noise = np.random.default_rng(3).normal(0, 0.02, (12, len(ecg)))
    return np.round((np.linspace(0.5, 1.5, 12)[:, None] * ecg + noise) * 1000.0)


def _header(leads, samples: int):
    lines = [f"R1 {len(leads)} 500 {samples}"] + [f"R1.mat 16 1000/mV 16 0 0 0 0 {lead}" for lead in leads]
    return parse_header("\n".join(lines) + "\n#Age: 60\n#Sex: Female\n")


def _without(recording: np.ndarray, lead: str):
    """The recording and header of the same record without ``lead``."""
    rows = [i for i, name in enumerate(STANDARD_LEADS) if name != lead]
    return recording[rows], _header([STANDARD_LEADS[i] for i in rows], recording.shape[1])


def _assert_same(got: PreparedRecord, expected: PreparedRecord) -> None:
    for name in ("signal", "lead_mask", "demographics", "peaks", "features", "measurements"):
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), err_msg=name)


@pytest.mark.parametrize("damage", ["flat", "two seconds missing", "two seconds of -32768",
                                    "one sample in five missing", "saturated", "microvolts"])
def test_an_unusable_lead_is_prepared_exactly_as_an_absent_one(damage):
    recording = _twelve_leads()
    lead = 1  # lead II: the R peaks are looked for there first
    if damage == "flat":
        recording[lead] = 0
    elif damage == "two seconds missing":
        recording[lead, 2000:3000] = np.nan
    elif damage == "two seconds of -32768":  # format 16's "no sample", as the Challenge's helper leaves it
        recording = recording.astype(np.int16)
        recording[lead, 2000:3000] = -32768
    elif damage == "one sample in five missing":
        recording[lead, ::5] = np.nan
    elif damage == "saturated":
        recording[lead] = np.clip(recording[lead], -200, 200)
    else:
        recording[lead] = np.round(recording[lead] / 1000)  # the gain is 1,000 times too large
    header = _header(STANDARD_LEADS, recording.shape[1])
    got = prepare(recording, header, GATED)
    assert not got.lead_mask[lead] and got.lead_mask.sum() == 11
    _assert_same(got, prepare(*_without(recording, "II"), GATED))


def test_a_short_gap_is_drawn_in_and_the_lead_is_read():
    recording = _twelve_leads()
    broken = recording.copy()
    broken[1, 2500:2505] = np.nan  # 10 ms at 500 Hz, as a skew of 5 leaves at a lead's end
    broken[1, -5:] = np.nan
    header = _header(STANDARD_LEADS, recording.shape[1])
    got, expected = prepare(broken, header, GATED), prepare(recording, header, GATED)
    assert got.lead_mask.all()
    np.testing.assert_allclose(got.signal, expected.signal, atol=0.2)  # the noise under the gap is gone
    np.testing.assert_array_equal(got.peaks, expected.peaks)


@pytest.mark.parametrize(("fill", "reason"), [(0.0, "flat"), (np.nan, "missing"), (1.0, "flat")])
def test_a_record_with_no_ecg_in_any_lead_is_refused(fill, reason):
    recording = np.full((12, 5000), fill)
    with pytest.raises(RecordError, match=rf"R1: no ECG signal in any lead \({reason}: I, II, III, aVR"):
        prepare(recording, _header(STANDARD_LEADS, 5000), GATED, source="R1")


def test_a_record_refused_for_one_lead_set_names_only_those_leads():
    recording = _twelve_leads()
    recording[:2] = 0
    header = _header(STANDARD_LEADS, recording.shape[1])
    with pytest.raises(RecordError, match=r"no ECG signal in any lead \(flat: I, II\)$"):
        prepare(recording, header, GATED, leads=("I", "II"))
    assert prepare(recording, header, GATED, leads=("I", "II", "V2")).lead_mask.sum() == 1
