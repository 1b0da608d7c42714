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
    (lambda ecg: ecg * 0.02, AMPLITUDE),  # a gain 50 times too large: QRS of tens of microvolts
    (lambda ecg: ecg * 30, AMPLITUDE),
])
def test_each_damage_has_its_verdict(tmp_path, damage, verdict):
    ecg = _ecg()
    gain = 1000.0 if verdict != AMPLITUDE or damage(np.ones(1))[0] < 1 else 100.0  # room in int16 for x30
    verdicts = _verdicts(tmp_path, np.stack([_ecg(1), damage(ecg)]), gain=gain)
    assert verdicts["I"] == GOOD and verdicts["II"] == verdict
