"""Signal quality per lead, as a reader would judge it before trusting a record: missing, flat, saturated,
noisy, or of an implausible amplitude (a header gain 1,000 times off makes QRS complexes of microvolts).

Torch-free and cheap (a few milliseconds per record): it looks at the leads a model is given, in mV at the
model's rate (:class:`ecgnet.signals.LeadsAtRate`), and at the digital recording for clipping. A record of
poor quality is still scored; the quality is reported beside its outputs (``details.csv``).
"""

from __future__ import annotations

import numpy as np

from .records import STANDARD_LEADS, Header, lead_positions
from .signals import LeadsAtRate, bandpass

GOOD = "good"
MISSING = "missing"
FLAT = "flat"
SATURATED = "saturated"
NOISY = "noisy"
AMPLITUDE = "implausible amplitude"
#: Every verdict, best first.
VERDICTS = (GOOD, MISSING, FLAT, SATURATED, NOISY, AMPLITUDE)

#: Share of samples at the lead's own extreme digital values above which the lead is clipped: a clean ECG
#: touches its maximum and minimum a few times, a saturated one sits there for whole stretches.
SATURATED_SHARE = 0.02
#: Peak-to-peak of the 0.5-40 Hz lead, mV, outside which no real ECG lead lies (a QRS of tens of microvolts,
#: or of tens of millivolts, is a gain or unit error).
AMPLITUDE_RANGE_MV = (0.1, 15.0)
#: Noise: the standard deviation above 40 Hz (mains hum, muscle, electrode noise) relative to that of the
#: 0.5-40 Hz band; looked for at model rates that leave room above the band (not at 100 Hz).
NOISE_RATIO = 0.5
_BAND_HZ = (0.5, 40.0)


def lead_quality(leads: LeadsAtRate, recording: np.ndarray, header: Header, sample_rate: float) -> tuple[str, ...]:
    """A verdict from :data:`VERDICTS` for each of the 12 standard leads (standard order): ``missing`` where the
    lead is not among ``leads`` (not recorded, not kept, or without a finite sample)."""
    verdicts = [MISSING] * len(STANDARD_LEADS)
    rows = lead_positions(header.leads)
    for values, slot, absent, flat in zip(leads.values, leads.slots, leads.absent, leads.flat):
        if absent:
            continue
        digital = np.asarray(recording[rows[STANDARD_LEADS[slot]]])
        verdicts[slot] = FLAT if flat else _verdict(values.astype(np.float64), digital, sample_rate)
    return tuple(verdicts)


def _verdict(values: np.ndarray, digital: np.ndarray, sample_rate: float) -> str:
    """The verdict of one present, non-flat lead: ``values`` in mV at ``sample_rate``, ``digital`` as recorded."""
    finite = digital[np.isfinite(digital)] if np.issubdtype(digital.dtype, np.floating) else digital
    if finite.size and np.mean((finite == finite.max()) | (finite == finite.min())) > SATURATED_SHARE:
        return SATURATED
    band = bandpass(values, sample_rate, *_BAND_HZ, order=3)
    spread = float(np.ptp(band)) if band.size else 0.0
    if not AMPLITUDE_RANGE_MV[0] <= spread <= AMPLITUDE_RANGE_MV[1]:
        return AMPLITUDE
    if sample_rate * 0.95 / 2 > 2 * _BAND_HZ[1]:  # a rate with room above the band to look for noise in
        above = bandpass(values, sample_rate, _BAND_HZ[1], sample_rate, order=3)  # high cut: 0.95 x Nyquist
        if float(np.std(above)) > NOISE_RATIO * float(np.std(band)):
            return NOISY
    return GOOD


def is_poor(verdicts: tuple[str, ...], leads: tuple[str, ...]) -> bool:
    """Whether any of ``leads`` (those a model serves) has a verdict other than good."""
    wanted = set(leads)
    return any(verdict != GOOD for lead, verdict in zip(STANDARD_LEADS, verdicts) if lead in wanted)
