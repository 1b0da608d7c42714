"""Signal quality per lead (ecgnet.quality): the verdicts fire on flat, saturated, noisy, missing and mis-scaled
leads, and not on clean ones."""

from __future__ import annotations

import numpy as np
import pytest

from ecgnet.quality import AMPLITUDE, FLAT, GOOD, MISSING, NOISY, SATURATED, is_poor, lead_quality
from ecgnet.records import STANDARD_LEADS, read_record, write_record
from ecgnet.signals import leads_at_rate

RATE = 250


def _ecg(seed: int = 0) -> np.ndarray:
    import neurokit2 as nk

    return np.asarray(nk.ecg_simulate(duration=10, sampling_rate=500, heart_rate=70, random_state=seed))


def _verdicts(tmp_path, signal: np.ndarray, leads=("I", "II"), gain: float = 1000.0):
    record = read_record(write_record(tmp_path, "R1", signal, 500, leads=leads, gain=gain))
    at_rate = leads_at_rate(record.recording, record.header, RATE)
    return dict(zip(STANDARD_LEADS, lead_quality(at_rate, record.recording, record.header, RATE)))


def test_clean_leads_are_good_and_absent_ones_missing(tmp_path):
    verdicts = _verdicts(tmp_path, np.stack([_ecg(0), _ecg(1)]))
    assert (verdicts["I"], verdicts["II"], verdicts["V1"]) == (GOOD, GOOD, MISSING)
    assert not is_poor(tuple(verdicts.values()), ("I", "II")) and is_poor(tuple(verdicts.values()), ("I", "V1"))


@pytest.mark.parametrize(("damage", "verdict"), [
    (lambda ecg: np.zeros_like(ecg), FLAT),
    (lambda ecg: np.clip(ecg, np.percentile(ecg, 5), np.percentile(ecg, 80)), SATURATED),
    (lambda ecg: ecg + np.random.default_rng(2).normal(0, 0.4, ecg.shape), NOISY),
    (lambda ecg: ecg * 0.005, AMPLITUDE),  # a gain 200 times too large: QRS of a few microvolts
    (lambda ecg: ecg * 40, AMPLITUDE),
])
def test_each_damage_has_its_verdict(tmp_path, damage, verdict):
    ecg = _ecg()
    # Gains that leave both leads room in int16 and a fine enough resolution.
    gain = 1000.0 if verdict != AMPLITUDE else (100.0 if damage(np.ones(1))[0] > 1 else 10_000.0)
    verdicts = _verdicts(tmp_path, np.stack([_ecg(1), damage(ecg)]), gain=gain)
    assert verdicts["I"] == GOOD and verdicts["II"] == verdict


def test_a_hold_at_the_record_s_end_is_no_clip(tmp_path):
    """PTB-XL's records end with a hold of some 50 samples, often at the lead's extreme: that is not saturation."""
    held = _ecg()
    held[-60:] = held.max()
    held[:40] = held.min()
    assert _verdicts(tmp_path, np.stack([_ecg(1), held]))["II"] == GOOD


def test_an_artefact_in_a_long_lead_does_not_make_its_amplitude_implausible(tmp_path):
    ecg = np.tile(_ecg(), 4)  # 40 s
    ecg[1000:1100] += np.hanning(100) * 25  # one 25 mV swing
    signal = np.stack([np.tile(_ecg(1), 4), ecg])
    record = read_record(write_record(tmp_path, "R1", signal, 500, leads=("I", "II"), gain=1000.0))
    at_rate = leads_at_rate(record.recording, record.header, RATE)
    assert lead_quality(at_rate, record.recording, record.header, RATE)[1] == GOOD
