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
from .signals import LeadsAtRate, bandpass, bridge_gaps, runs

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
#: shorter than a QRS complex, so that a bridged gap can at most blunt a beat, never remove one; a longer gap
#: makes the lead unusable.
MAX_GAP_SECONDS = 0.04
#: Largest share of a lead's samples that may be missing (in short runs) for the lead to be read.
MAX_MISSING_SHARE = 0.05

#: Share of a lead's samples that sit on plateaus at one of its extreme digital values above which the lead is
#: clipped: a clean ECG touches its maximum and minimum a few times, a saturated one sits there for whole
#: stretches. A plateau is a run of PLATEAU_SAMPLES or more; an extreme that is also the lead's median is its
#: baseline, not a clip (a quiet lead between narrow beats); the hold some recorders add at a record's ends
#: (PTB-XL's last 50-60 samples) is not looked at.
SATURATED_SHARE = 0.02
PLATEAU_SAMPLES = 3
#: Robust peak-to-peak (0.5th to 99.5th percentile) of the 0.5-40 Hz lead, mV, outside which no real ECG lead
#: lies: a gain or unit error by 1,000 in either direction. The shared real records' leads span 0.11-21 mV.
AMPLITUDE_RANGE_MV = (0.03, 30.0)
_SPREAD_PERCENTILES = (0.5, 99.5)
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
    digital recording after :func:`bridge`; without ``noise`` no lead is judged noisy (it costs a filter, and a
    noisy lead is read all the same)."""
    verdicts = [MISSING] * len(STANDARD_LEADS)
    judged = [k for k, (absent, flat) in enumerate(zip(leads.absent, leads.flat)) if not (absent or flat)]
    for slot, absent, flat in zip(leads.slots, leads.absent, leads.flat):
        if flat and not absent:
            verdicts[slot] = FLAT
    if not judged:
        return tuple(verdicts)
    values = leads.values[judged]
    band = bandpass(values, sample_rate, *_BAND_HZ, order=3)  # all leads in one call
    room = noise and sample_rate * 0.95 / 2 > 2 * _BAND_HZ[1]  # a rate with room above the band for noise
    above = bandpass(values, sample_rate, _BAND_HZ[1], sample_rate, order=3) if room else None  # to 0.95 Nyquist
    low, high = np.percentile(band, _SPREAD_PERCENTILES, axis=-1) if band.shape[-1] else np.zeros((2, len(judged)))
    noise_ratio = np.zeros(len(judged))
    if above is not None:
        spread_in_band = np.std(band, axis=-1)
        np.divide(np.std(above, axis=-1), spread_in_band, out=noise_ratio, where=spread_in_band > 0)
    rows = lead_positions(header.leads)
    for k, index in enumerate(judged):
        slot = leads.slots[index]
        digital = np.asarray(recording[rows[STANDARD_LEADS[slot]]])
        verdicts[slot] = _verdict(digital, float(high[k] - low[k]), float(noise_ratio[k]))
    return tuple(verdicts)


def _verdict(digital: np.ndarray, spread: float, noise_ratio: float) -> str:
    """The verdict of one present, non-flat lead: ``digital`` as recorded, ``spread`` the robust peak-to-peak of
    its 0.5-40 Hz band in mV, ``noise_ratio`` the standard deviation above 40 Hz over that of the band (0: not
    looked at)."""
    if np.issubdtype(digital.dtype, np.floating) and not np.isfinite(digital).all():
        return GAPS  # left by bridge: a gap too long to draw in
    if _saturated(digital):
        return SATURATED
    if not AMPLITUDE_RANGE_MV[0] <= spread <= AMPLITUDE_RANGE_MV[1]:
        return AMPLITUDE
    if noise_ratio > NOISE_RATIO:
        return NOISY
    return GOOD


def _saturated(digital: np.ndarray) -> bool:
    """Whether a lead sits on plateaus at one of its extreme values, away from its baseline, for more than
    :data:`SATURATED_SHARE` of its samples (the holds at its ends left out)."""
    if digital.size == 0:
        return False
    start = int(np.argmax(digital != digital[0]))  # the first sample after the opening hold
    stop = digital.size - int(np.argmax(digital[::-1] != digital[-1]))  # the first of the closing hold
    core = digital[start:stop]
    if core.size < PLATEAU_SAMPLES:
        return False
    for extreme in (core.max(), core.min()):
        at_extreme = core == extreme
        # Cheap tests first: most leads touch their extremes a few times, far below the share.
        if np.count_nonzero(at_extreme) > SATURATED_SHARE * core.size and _plateau_share(at_extreme) > SATURATED_SHARE \
                and extreme != np.median(core):
            return True
    return False


def _plateau_share(at_extreme: np.ndarray) -> float:
    """The share of samples in runs of at least :data:`PLATEAU_SAMPLES` of ``at_extreme``."""
    starts, stops = runs(at_extreme)
    lengths = stops - starts
    return float(lengths[lengths >= PLATEAU_SAMPLES].sum()) / at_extreme.size


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
