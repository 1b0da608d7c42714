"""Signal quality per lead, as a reader would judge it before trusting a record: missing, with gaps, flat,
saturated, noisy, or of an implausible amplitude (a header gain 1,000 times off makes QRS complexes of
microvolts).

Torch-free and cheap (a few milliseconds per record): it looks at the leads a model is given, in mV at the
model's rate (:class:`ecgnet.signals.LeadsAtRate`), and at the digital recording for clipping and gaps.

The verdicts gate what a model reads (:func:`usable`): a lead that holds no ECG (missing, gapped, flat,
saturated, of an implausible amplitude) is treated exactly as a lead the record does not have, by the network,
the measurements and the feature model alike, and a record without a usable lead is refused rather than given
a diagnosis. A noisy lead is still read; it is reported beside the outputs (``details.csv``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .records import STANDARD_LEADS, Header, lead_positions
from .signals import LeadsAtRate, bandpass, bridge_gaps

GOOD = "good"
MISSING = "missing"
GAPS = "missing samples"
FLAT = "flat"
SATURATED = "saturated"
NOISY = "noisy"
AMPLITUDE = "implausible amplitude"
#: Every verdict, best first.
VERDICTS = (GOOD, MISSING, GAPS, FLAT, SATURATED, NOISY, AMPLITUDE)
#: The verdicts of a lead that is read; any other makes the lead absent for every model.
USABLE = frozenset({GOOD, NOISY})

#: Longest run of missing samples (WFDB's invalid-sample value, NaN) that is drawn in by a straight line, s:
#: shorter than a QRS complex, so that a bridged gap can hide no beat; a longer one makes the lead unusable.
MAX_GAP_SECONDS = 0.04
#: Largest share of a lead's samples that may be missing (in short runs) for the lead to be read.
MAX_MISSING_SHARE = 0.05

#: Share of samples at the lead's own extreme digital values above which the lead is clipped: a clean ECG
#: touches its maximum and minimum a few times, a saturated one sits there for whole stretches. An extreme
#: that is also the lead's median is its baseline, not a clip (a quiet lead between narrow beats).
SATURATED_SHARE = 0.02
#: Peak-to-peak of the 0.5-40 Hz lead, mV, outside which no real ECG lead lies (a QRS of tens of microvolts,
#: or of tens of millivolts, is a gain or unit error).
AMPLITUDE_RANGE_MV = (0.1, 15.0)
#: Noise: the standard deviation above 40 Hz (mains hum, muscle, electrode noise) relative to that of the
#: 0.5-40 Hz band; looked for at model rates that leave room above the band (not at 100 Hz).
NOISE_RATIO = 0.5
_BAND_HZ = (0.5, 40.0)


def bridge(recording: np.ndarray, frequency: float) -> np.ndarray:
    """``recording`` with its short runs of missing samples drawn in (:func:`ecgnet.signals.bridge_gaps`, with
    :data:`MAX_GAP_SECONDS` and :data:`MAX_MISSING_SHARE`); a lead with longer runs keeps them and is judged
    :data:`GAPS`."""
    return bridge_gaps(recording, max(1, int(MAX_GAP_SECONDS * frequency)), MAX_MISSING_SHARE)


def lead_quality(leads: LeadsAtRate, recording: np.ndarray, header: Header, sample_rate: float,
                 noise: bool = True) -> tuple[str, ...]:
    """A verdict from :data:`VERDICTS` for each of the 12 standard leads (standard order): ``missing`` where the
    lead is not among ``leads`` (not recorded, not kept, or without a finite sample). ``recording`` is the
    digital recording after :func:`bridge`; without ``noise`` no lead is judged noisy (it costs a filter per
    lead, and a noisy lead is read all the same)."""
    verdicts = [MISSING] * len(STANDARD_LEADS)
    rows = lead_positions(header.leads)
    for values, slot, absent, flat in zip(leads.values, leads.slots, leads.absent, leads.flat):
        if absent:
            continue
        digital = np.asarray(recording[rows[STANDARD_LEADS[slot]]])
        verdicts[slot] = FLAT if flat else _verdict(values.astype(np.float64), digital, sample_rate, noise)
    return tuple(verdicts)


def _verdict(values: np.ndarray, digital: np.ndarray, sample_rate: float, noise: bool) -> str:
    """The verdict of one present, non-flat lead: ``values`` in mV at ``sample_rate``, ``digital`` as recorded."""
    if np.issubdtype(digital.dtype, np.floating):
        finite = np.isfinite(digital)
        if not finite.all():  # left by bridge: a gap too long to draw in
            return GAPS
    if _saturated(digital):
        return SATURATED
    band = bandpass(values, sample_rate, *_BAND_HZ, order=3)
    spread = float(np.ptp(band)) if band.size else 0.0
    if not AMPLITUDE_RANGE_MV[0] <= spread <= AMPLITUDE_RANGE_MV[1]:
        return AMPLITUDE
    if noise and sample_rate * 0.95 / 2 > 2 * _BAND_HZ[1]:  # a rate with room above the band to look for noise in
        above = bandpass(values, sample_rate, _BAND_HZ[1], sample_rate, order=3)  # high cut: 0.95 x Nyquist
        if float(np.std(above)) > NOISE_RATIO * float(np.std(band)):
            return NOISY
    return GOOD


def _saturated(digital: np.ndarray) -> bool:
    """Whether a lead sits at one of its extreme values, away from its baseline, for :data:`SATURATED_SHARE` of
    its samples or more."""
    if not digital.size:
        return False
    baseline = np.median(digital)
    return any(extreme != baseline and np.mean(digital == extreme) > SATURATED_SHARE / 2
               for extreme in (digital.max(), digital.min()))


def usable(leads: LeadsAtRate, verdicts: tuple[str, ...]) -> np.ndarray:
    """(k,) bool: which rows of ``leads`` a model reads, by their verdicts (:data:`USABLE`)."""
    return np.array([verdicts[slot] in USABLE for slot in leads.slots], dtype=bool)


def usable_part(recording: np.ndarray, header: Header, verdicts: tuple[str, ...]) -> tuple[np.ndarray, Header]:
    """The recording and header restricted to the standard leads a model reads (rows in standard order): what
    every other reader of the record (the measurements) is given, so that an unusable lead is absent there too."""
    positions = lead_positions(header.leads)
    rows = [positions[lead] for lead, verdict in zip(STANDARD_LEADS, verdicts)
            if verdict in USABLE and lead in positions]
    kept = dataclasses.replace(header, signals=tuple(header.signals[row] for row in rows))
    return np.asarray(recording)[rows], kept


def describe_unusable(verdicts: tuple[str, ...], wanted: tuple[str, ...] = STANDARD_LEADS) -> str:
    """``flat: I, II; missing: V1`` for the leads of ``wanted`` that are not read, grouped by verdict."""
    groups: dict[str, list[str]] = {}
    for lead, verdict in zip(STANDARD_LEADS, verdicts):
        if lead in wanted and verdict not in USABLE:
            groups.setdefault(verdict, []).append(lead)
    return "; ".join(f"{verdict}: {', '.join(leads)}" for verdict, leads in groups.items())


def is_poor(verdicts: tuple[str, ...], leads: tuple[str, ...]) -> bool:
    """Whether any of ``leads`` (those a model serves) has a verdict other than good."""
    wanted = set(leads)
    return any(verdict != GOOD for lead, verdict in zip(STANDARD_LEADS, verdicts) if lead in wanted)
