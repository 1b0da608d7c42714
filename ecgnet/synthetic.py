"""Synthetic ECG records in the Challenge format, with rhythm labels that can be learned from the signal.

Used for volume tests, benchmarks and the demo. Every record carries one rhythm label (a scored SNOMED code)
that is a property of its waveform, not of its metadata:

=================== ========= ===================================================================
rhythm              code      what the signal shows
=================== ========= ===================================================================
sinus rhythm        426783006 64-92 bpm, P waves, RR nearly constant (a few % variation)
sinus bradycardia   426177001 38-54 bpm, otherwise like sinus rhythm
sinus tachycardia   427084000 108-150 bpm, otherwise like sinus rhythm
atrial fibrillation 164889003 55-140 bpm, RR irregular (independent intervals, CV 0.15-0.30),
                              no P waves, fibrillatory 4-8 Hz waves
sinus arrhythmia    427393009 64-92 bpm, P waves, RR modulated by respiration (+-9-16 %)
=================== ========= ===================================================================

The heart-rate ranges of the three regular sinus classes leave a 10-bpm gap between neighbours, and the RR
modulation of sinus arrhythmia starts well above the largest modulation of sinus rhythm, so a classifier (or
a peak counter) can separate every class. Age and sex are random and independent of the rhythm, so nothing
but the signal carries the label.

Two renderers share the beat timeline (:func:`beat_times`) and the noise model, hence the label semantics:

- ``method="fast"``: a vectorised dipole model. Each wave (P, Q, R, S, T) is a Gaussian bump in time with a
  3-D cardiac vector; a lead is the projection of the heart vector on the lead's direction, so the 12 leads
  are mutually consistent (Einthoven's and Goldberger's relations hold before noise). Thousands of records
  per minute on one core.
- ``method="neurokit"``: beats from neurokit2's ECGSYN 12-lead simulator (``nk.ecg_simulate(...,
  method="multileads")``), cut at their R peaks and overlap-added on the same beat timeline. More realistic
  wave shapes, about one record per second.

Record ``i`` of a seed is drawn from its own random stream, ``SeedSequence(seed, spawn_key=(i,))``, so it is
the same whatever ``n_jobs`` or ``n_records`` is, and a reduced-lead record holds exactly the corresponding
rows of the 12-lead record.

Command line (:mod:`ecgnet.commands.synthetic`)::

    ecgnet synthetic OUT_DIR --records 1000 --seed 0 --method fast --leads 12 --jobs 2
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgnet.records import LEAD_SETS, STANDARD_LEADS, canonical_lead, write_record

METHODS = ("fast", "neurokit")
DEFAULT_GAIN = 1000.0


@dataclass(frozen=True)
class Rhythm:
    """A rhythm class: its SNOMED code, abbreviation (as in the Challenge tables) and mean heart-rate range."""

    code: str
    abbreviation: str
    name: str
    heart_rate: tuple[float, float]


SINUS_RHYTHM = Rhythm("426783006", "NSR", "sinus rhythm", (64.0, 92.0))
SINUS_BRADYCARDIA = Rhythm("426177001", "SB", "sinus bradycardia", (38.0, 54.0))
SINUS_TACHYCARDIA = Rhythm("427084000", "STach", "sinus tachycardia", (108.0, 150.0))
ATRIAL_FIBRILLATION = Rhythm("164889003", "AF", "atrial fibrillation", (55.0, 140.0))
SINUS_ARRHYTHMIA = Rhythm("427393009", "SA", "sinus arrhythmia", (64.0, 92.0))

RHYTHMS: dict[str, Rhythm] = {
    r.code: r for r in (SINUS_RHYTHM, SINUS_BRADYCARDIA, SINUS_TACHYCARDIA, ATRIAL_FIBRILLATION, SINUS_ARRHYTHMIA)
}
#: The classes a dataset is drawn from unless told otherwise (uniformly, one label per record).
DEFAULT_RHYTHMS: tuple[str, ...] = tuple(RHYTHMS)

# RR variation of the regular classes: respiratory modulation depth and beat-to-beat jitter (fractions of
# the mean RR). Sinus arrhythmia's depth starts far above sinus rhythm's ceiling so the two stay separable.
_REGULAR_MODULATION = (0.0, 0.02)
_REGULAR_JITTER = 0.008
_ARRHYTHMIA_MODULATION = (0.09, 0.16)
_AF_CV = (0.15, 0.30)

# Lead directions of the dipole model, coordinates (patient's left, inferior, anterior). Limb leads follow
# from I and II (III = II - I, aVR = -(I + II)/2, ...); precordial leads lie in the transverse plane at their
# usual angles, longer because they sit closer to the heart.
_S3 = math.sqrt(3.0) / 2.0


def _transverse(angle_deg: float, length: float) -> tuple[float, float, float]:
    angle = math.radians(angle_deg)
    return (length * math.cos(angle), 0.0, length * math.sin(angle))


_LEAD_VECTORS = np.array(
    [
        (1.0, 0.0, 0.0),
        (0.5, _S3, 0.0),
        (-0.5, _S3, 0.0),
        (-0.75, -_S3 / 2, 0.0),
        (0.75, -_S3 / 2, 0.0),
        (0.0, _S3, 0.0),
        _transverse(120, 1.1),
        _transverse(95, 1.4),
        _transverse(75, 1.5),
        _transverse(58, 1.5),
        _transverse(35, 1.3),
        _transverse(10, 1.1),
    ]
)

# Waves of the fast model: mean heart-vector direction, amplitude range (mV), timing of the peak relative to
# the R peak (s; the T wave's scales with sqrt(RR) as QT does) and Gaussian width range (s).
_WAVES = (
    # name, direction, amplitude, offset range, width range
    ("P", (0.55, 0.8, 0.2), (0.10, 0.22), (-0.20, -0.13), (0.016, 0.026)),
    ("Q", (-0.6, 0.25, 0.75), (0.15, 0.35), (-0.028, -0.018), (0.007, 0.011)),
    ("R", (0.75, 0.6, -0.25), (0.9, 1.7), (0.0, 0.0), (0.008, 0.013)),
    ("S", (-0.35, -0.35, -0.85), (0.35, 0.8), (0.018, 0.030), (0.008, 0.012)),
    ("T", (0.6, 0.65, 0.45), (0.2, 0.45), (0.24, 0.30), (0.035, 0.055)),
)
_F_WAVE_DIRECTION = (-0.3, 0.6, 0.75)  # atrial fibrillatory waves show most in V1 and the inferior leads


@dataclass(frozen=True)
class SyntheticRecord:
    """One generated record: signal in mV (leads x samples, header order) and its metadata."""

    signal: np.ndarray
    frequency: float
    leads: tuple[str, ...]
    rhythm: str
    age: float
    sex: str
    r_peaks: np.ndarray  # R-peak times in seconds inside the recording, the ground truth of the rhythm

    @property
    def labels(self) -> tuple[str, ...]:
        return (self.rhythm,)


# ----------------------------------------------------------------------------------------------------------
# Random streams, classes and leads
# ----------------------------------------------------------------------------------------------------------


def record_seed(seed: int, index: int) -> np.random.SeedSequence:
    """The random stream of record ``index`` (0-based) of ``seed``: the ``index``-th child of ``seed``.

    Equal to ``SeedSequence(seed).spawn(index + 1)[index]`` but computed directly, so a worker needs nothing
    but the two numbers.
    """
    return np.random.SeedSequence(int(seed), spawn_key=(int(index),))


def resolve_rhythms(rhythms: Sequence[str] | str | None) -> tuple[str, ...]:
    """SNOMED codes from codes or abbreviations (a list or a comma-separated string); None = all classes."""
    if rhythms is None:
        return DEFAULT_RHYTHMS
    if isinstance(rhythms, str):
        rhythms = [r for r in rhythms.split(",") if r.strip()]
    by_name = {r.abbreviation.lower(): r.code for r in RHYTHMS.values()} | {c: c for c in RHYTHMS}
    codes = []
    for item in rhythms:
        code = by_name.get(str(item).strip().lower())
        if code is None:
            known = ", ".join(f"{r.abbreviation} ({r.code})" for r in RHYTHMS.values())
            raise ValueError(f"unknown rhythm {item!r}; known: {known}")
        if code not in codes:
            codes.append(code)
    if not codes:
        raise ValueError("no rhythm classes given")
    return tuple(codes)


def resolve_leads(leads: Sequence[str] | str | int | None) -> tuple[str, ...]:
    """Lead names from a lead-set size (12, 6, 4, 3, 2), a comma-separated string or a list of names."""
    if leads is None:
        return STANDARD_LEADS
    if isinstance(leads, int) or (isinstance(leads, str) and leads.strip().isdigit()):
        size = int(leads)
        if size not in LEAD_SETS:
            raise ValueError(f"no standard set of {size} leads; choose one of {sorted(LEAD_SETS, reverse=True)}")
        return LEAD_SETS[size]
    if isinstance(leads, str):
        leads = [lead for lead in leads.split(",") if lead.strip()]
    names = tuple(canonical_lead(lead) for lead in leads)
    unknown = [lead for lead in names if lead not in STANDARD_LEADS]
    if unknown or not names or len(set(names)) != len(names):
        raise ValueError(f"leads must be distinct names from {', '.join(STANDARD_LEADS)}; got {list(leads)}")
    return names


# ----------------------------------------------------------------------------------------------------------
# Beat timeline (shared by both renderers: it defines the labels)
# ----------------------------------------------------------------------------------------------------------


def beat_times(rhythm: str, rng: np.random.Generator, duration: float) -> np.ndarray:
    """R-peak times (s) of a rhythm, from before 0 to after ``duration`` so waves at the edges are complete.

    The first R peak falls at a random phase, so records do not all start on a beat.
    """
    spec = RHYTHMS[rhythm]
    mean_rr = 60.0 / rng.uniform(*spec.heart_rate)
    span = duration + 3.0  # 1.5 s of margin each side
    # Enough intervals to cover the span even if every one were as short as the shortest allowed.
    count = int(math.ceil(span / min(0.28, 0.5 * mean_rr))) + 2
    if rhythm == ATRIAL_FIBRILLATION.code:
        # Independent log-normal intervals: the hallmark of AF is an RR sequence with no pattern.
        cv = rng.uniform(*_AF_CV)
        sigma = math.sqrt(math.log1p(cv * cv))
        rr = mean_rr * rng.lognormal(-0.5 * sigma * sigma, sigma, count)
        rr = np.clip(rr, 0.28, 2.2)  # stay physiological: no refractory-period violations, no long pauses
    else:
        depth_range = _ARRHYTHMIA_MODULATION if rhythm == SINUS_ARRHYTHMIA.code else _REGULAR_MODULATION
        depth = rng.uniform(*depth_range)
        breathing = rng.uniform(0.15, 0.33)  # Hz
        phase = rng.uniform(0.0, 2.0 * math.pi)
        # Respiratory modulation as a function of (approximate) beat time, plus small beat-to-beat jitter.
        approx_time = np.arange(count) * mean_rr
        rr = mean_rr * (
            1.0
            + depth * np.sin(2.0 * math.pi * breathing * approx_time + phase)
            + _REGULAR_JITTER * rng.standard_normal(count)
        )
    start = -1.5 - rng.uniform(0.0, mean_rr)
    times = start + np.concatenate(([0.0], np.cumsum(rr)))
    return times[times < duration + 1.5]


def _rr_before(times: np.ndarray) -> np.ndarray:
    """The RR interval that ends at each beat (the first beat reuses the next interval)."""
    rr = np.diff(times)
    return np.concatenate((rr[:1], rr)) if rr.size else np.ones_like(times)


# ----------------------------------------------------------------------------------------------------------
# Noise model (shared)
# ----------------------------------------------------------------------------------------------------------


def _fibrillatory_waves(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """AF f-waves: a 4-8 Hz oscillation whose rate and amplitude drift, as a single atrial signal."""
    base = rng.uniform(4.0, 8.0)
    drift = 0.6 * np.sin(2.0 * math.pi * rng.uniform(0.05, 0.3) * t + rng.uniform(0.0, 2.0 * math.pi))
    phase = 2.0 * math.pi * np.cumsum(base + drift) * (t[1] - t[0] if t.size > 1 else 0.0)
    envelope = rng.uniform(0.03, 0.09) * (
        1.0 + 0.4 * np.sin(2.0 * math.pi * rng.uniform(0.1, 0.5) * t + rng.uniform(0.0, 2.0 * math.pi))
    )
    return envelope * np.sin(phase + rng.uniform(0.0, 2.0 * math.pi))


_NOISE_BANK_SIZE = 1 << 20
_noise_bank: np.ndarray | None = None


def _white_noise(rng: np.random.Generator, rows: int, n: int) -> np.ndarray:
    """Unit Gaussian noise, rows x n: windows at random offsets of a fixed bank of 2**20 normal samples.

    Drawing fresh normals was the largest single cost of a fast record; slicing a bank is ~20 times
    cheaper. The bank is drawn from a constant seed, so records stay reproducible in any process, and the
    noise carries no information about the label, so reuse of bank stretches across records is harmless.
    Rows longer than the bank fall back to fresh draws.
    """
    global _noise_bank
    if n > _NOISE_BANK_SIZE // 4:
        return rng.standard_normal((rows, n), dtype=np.float32)
    if _noise_bank is None:
        _noise_bank = np.random.default_rng(20210).standard_normal(_NOISE_BANK_SIZE, dtype=np.float32)
    starts = rng.integers(0, _NOISE_BANK_SIZE - n, rows)
    return np.lib.stride_tricks.sliding_window_view(_noise_bank, n)[starts]


def _add_noise(signal: np.ndarray, rng: np.random.Generator, frequency: float) -> np.ndarray:
    """Per-lead gain, baseline wander, white noise and sometimes mains hum, drawn per record and per lead."""
    n_leads, n = signal.shape
    t = np.arange(n) / frequency
    # In-place arithmetic throughout: temporaries of this size cost more (fresh pages) than the arithmetic.
    signal = signal.astype(np.float64, copy=False)  # the renderers hand over a fresh array
    signal *= rng.uniform(0.75, 1.3, (n_leads, 1))  # electrode contact and body habitus
    # Baseline wander: a respiratory sway and three slow drifts, mixed with different weights into each
    # lead. All are below 0.5 Hz, so they are computed every 50 ms and interpolated: sines dominate the cost.
    frequencies = np.concatenate(([rng.uniform(0.12, 0.4)], rng.uniform(0.02, 0.15, 3)))
    phases = rng.uniform(0.0, 2.0 * math.pi, 4)
    coarse_t = np.arange(0.0, n / frequency + 0.1, 0.05)
    coarse = np.sin(2.0 * math.pi * frequencies[:, None] * coarse_t + phases[:, None])
    basis = np.stack([np.interp(t, coarse_t, row) for row in coarse])
    weights = np.concatenate((rng.uniform(0.0, 0.2, (n_leads, 1)), rng.uniform(-0.15, 0.15, (n_leads, 3))), axis=1)
    offset = rng.uniform(-0.15, 0.15, (n_leads, 1))
    noise_level = rng.uniform(0.005, 0.035) * rng.uniform(0.6, 1.4, (n_leads, 1))
    signal += weights @ basis
    signal += offset
    noise = _white_noise(rng, n_leads, n)
    noise *= noise_level.astype(np.float32)
    signal += noise
    if rng.random() < 0.3:
        mains = 50.0 if rng.random() < 0.5 else 60.0
        if frequency > 2.5 * mains:  # below Nyquist only; an aliased hum would be a different artefact
            hum = np.sin(2.0 * math.pi * mains * t + rng.uniform(0.0, 2.0 * math.pi))
            signal += rng.uniform(0.003, 0.03, (n_leads, 1)) * hum
    return signal


# ----------------------------------------------------------------------------------------------------------
# Fast renderer: dipole model with Gaussian waves
# ----------------------------------------------------------------------------------------------------------


def _rotation(rng: np.random.Generator) -> np.ndarray:
    """A small random rotation of the heart: electrical axis (frontal plane) and horizontal rotation."""
    frontal = math.radians(rng.normal(0.0, 18.0))
    horizontal = math.radians(rng.normal(0.0, 12.0))
    c, s = math.cos(frontal), math.sin(frontal)
    about_anterior = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    c, s = math.cos(horizontal), math.sin(horizontal)
    about_inferior = np.array([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]])
    return about_inferior @ about_anterior


def _gaussian_train(
    centers: np.ndarray, widths: np.ndarray, amplitudes: np.ndarray, frequency: float, n: int
) -> np.ndarray:
    """Sum of Gaussian bumps (one per beat) sampled on ``n`` samples, each evaluated only near its centre."""
    half = int(math.ceil(4.0 * float(widths.max()) * frequency)) + 1
    index = np.rint(centers * frequency).astype(np.int64)[:, None] + np.arange(-half, half + 1)
    values = amplitudes[:, None] * np.exp(-0.5 * ((index / frequency - centers[:, None]) / widths[:, None]) ** 2)
    inside = (index >= 0) & (index < n)
    return np.bincount(index[inside], weights=values[inside], minlength=n)


def _render_fast(rhythm: str, times: np.ndarray, rng: np.random.Generator, frequency: float, n: int) -> np.ndarray:
    rotation = _rotation(rng)
    rr_before = _rr_before(times)
    trains = []
    vectors = []
    for name, direction, amplitude, offset, width in _WAVES:
        if name == "P" and rhythm == ATRIAL_FIBRILLATION.code:
            continue  # no organised atrial activity in AF
        vector = np.asarray(direction) / np.linalg.norm(direction) + rng.normal(0.0, 0.12, 3)
        vectors.append(rotation @ (vector / np.linalg.norm(vector)))
        # Beat-to-beat amplitude variation of a few per cent, as in real recordings.
        amplitudes = rng.uniform(*amplitude) * (1.0 + 0.04 * rng.standard_normal(times.size))
        shift = rng.uniform(*offset)
        spread = rng.uniform(*width)
        if name == "T":  # repolarisation shortens with rate (Bazett-like)
            centers = times + shift * np.sqrt(np.clip(rr_before, 0.3, 2.0))
            widths = spread * np.clip(rr_before, 0.3, 2.0) ** 0.25
        else:
            centers = times + shift
            widths = np.full(times.size, spread)
        trains.append(_gaussian_train(centers, widths, amplitudes, frequency, n))
    heart_vector = np.stack(vectors, axis=1) @ np.stack(trains)  # 3 x n
    signal = _LEAD_VECTORS @ heart_vector
    if rhythm == ATRIAL_FIBRILLATION.code:
        direction = np.asarray(_F_WAVE_DIRECTION) + rng.normal(0.0, 0.15, 3)
        projection = _LEAD_VECTORS @ (direction / np.linalg.norm(direction))
        signal += projection[:, None] * _fibrillatory_waves(rng, np.arange(n) / frequency)
    return signal


# ----------------------------------------------------------------------------------------------------------
# neurokit2 renderer: ECGSYN beats overlap-added on the shared timeline
# ----------------------------------------------------------------------------------------------------------


def _source_fiducials(source: np.ndarray, frequency: float, mean_rr: float) -> np.ndarray:
    """R-peak samples of a clean simulated 12-lead signal: peaks of the slope energy summed over leads."""
    from scipy.signal import find_peaks

    energy = np.sum(np.diff(source, axis=1) ** 2, axis=0)
    width = max(1, int(round(0.03 * frequency)))
    energy = np.convolve(energy, np.ones(width) / width, mode="same")
    peaks, _ = find_peaks(energy, distance=max(1, int(0.6 * mean_rr * frequency)), height=0.25 * energy.max())
    return peaks


def _render_neurokit(rhythm: str, times: np.ndarray, rng: np.random.Generator, frequency: float, n: int) -> np.ndarray:
    import neurokit2 as nk

    if frequency != round(frequency):
        raise ValueError(f"the neurokit method needs a whole sampling rate in Hz (got {frequency:g})")
    rr = np.diff(times)
    mean_rr = float(np.median(rr))
    # Wave amplitudes of ECGSYN (P, Q, R, S, T) varied per record; AF has no P wave.
    amplitudes = np.array([1.2, -5.0, 30.0, -7.5, 0.75]) * rng.uniform(0.7, 1.3, 5)
    if rhythm == ATRIAL_FIBRILLATION.code:
        amplitudes[0] = 0.0
    # A source stretch of a few beats is enough: its beats are reused in turn along the timeline. The first
    # second is dropped because ECGSYN starts from a fixed state mid-cycle. ECGSYN integrates over a
    # power-of-two number of seconds, so staying under 8 s halves the cost against a 10-s source.
    source_duration = max(7.0, 1.5 + 4.0 * mean_rr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = nk.ecg_simulate(
            duration=source_duration,
            sampling_rate=int(round(frequency)),
            noise=0.0,
            heart_rate=60.0 / mean_rr,
            heart_rate_std=0.5,
            method="multileads",
            random_state=int(rng.integers(2**31 - 1)),
            ai=tuple(amplitudes),
        )
    source = np.stack([np.asarray(frame[lead], dtype=np.float64) for lead in STANDARD_LEADS])

    fiducials = _source_fiducials(source, frequency, mean_rr)
    source_rr = int(np.median(np.diff(fiducials))) if fiducials.size > 1 else int(mean_rr * frequency)
    taper = max(2, int(round(0.04 * frequency)))
    # Each beat spans 40 % of a cycle before its R peak and 60 % after, plus half a taper each side, so beats
    # placed at the source spacing overlap only in their tapers and add back up to the source signal.
    before = int(round(0.4 * source_rr)) + taper // 2
    after = int(round(0.6 * source_rr)) + taper - taper // 2
    skip = int(round(1.0 * frequency))
    usable = fiducials[(fiducials - before >= skip) & (fiducials + after <= source.shape[1])]
    if usable.size == 0:
        raise RuntimeError("neurokit2 simulation gave no complete beat")
    window = np.ones(before + after)
    ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(taper) + 0.5) / taper)
    window[:taper] = ramp
    window[-taper:] = ramp[::-1]
    beats = np.stack([source[:, p - before : p + after] for p in usable])  # beats x leads x span
    # ECGSYN draws its own respiratory baseline wander, so beats cut from different places sit at different
    # levels; removing the line through each beat's edges makes neighbouring beats join without steps.
    edge = max(1, taper // 2)
    start, end = beats[:, :, :edge].mean(axis=2), beats[:, :, -edge:].mean(axis=2)
    ramp_up = np.linspace(0.0, 1.0, beats.shape[2])
    beats = (beats - start[:, :, None] - (end - start)[:, :, None] * ramp_up) * window

    signal = np.zeros((source.shape[0], n))
    centres = np.rint(times * frequency).astype(np.int64)
    for k, centre in enumerate(centres):
        lo, hi = centre - before, centre + after
        a, b = max(lo, 0), min(hi, n)
        if a < b:
            signal[:, a:b] += beats[k % len(beats)][:, a - lo : b - lo]
    if rhythm == ATRIAL_FIBRILLATION.code:
        direction = np.asarray(_F_WAVE_DIRECTION) + rng.normal(0.0, 0.15, 3)
        projection = _LEAD_VECTORS @ (direction / np.linalg.norm(direction))
        signal += projection[:, None] * _fibrillatory_waves(rng, np.arange(n) / frequency)
    return signal


# ----------------------------------------------------------------------------------------------------------
# Records
# ----------------------------------------------------------------------------------------------------------


def simulate_record(
    rng: np.random.Generator | np.random.SeedSequence | int,
    *,
    rhythms: Sequence[str] = DEFAULT_RHYTHMS,
    rhythm: str | None = None,
    frequency: float = 500.0,
    duration: float = 10.0,
    method: str = "fast",
    leads: Sequence[str] = STANDARD_LEADS,
) -> SyntheticRecord:
    """Simulate one record: a rhythm drawn uniformly from ``rhythms`` (or ``rhythm``), age, sex and signal.

    All 12 leads are always simulated and ``leads`` picks rows afterwards, so a reduced-lead record equals
    the matching rows of the 12-lead record drawn from the same stream.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if not (frequency > 0 and duration > 0):
        raise ValueError(f"frequency and duration must be positive (got {frequency}, {duration})")
    leads = resolve_leads(leads)
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    # Fixed order of draws: label, demographics, timeline, waveform, noise.
    choices = resolve_rhythms(rhythms)
    drawn = choices[int(rng.integers(len(choices)))]
    rhythm = resolve_rhythms([rhythm])[0] if rhythm is not None else drawn
    age = math.nan if rng.random() < 0.05 else float(rng.integers(18, 91))
    sex = ("Male", "Female", "Unknown")[int(rng.choice(3, p=[0.475, 0.475, 0.05]))]
    n = int(round(duration * frequency))
    times = beat_times(rhythm, rng, duration)
    render = _render_fast if method == "fast" else _render_neurokit
    signal = _add_noise(render(rhythm, times, rng, frequency, n), rng, frequency)
    rows = [STANDARD_LEADS.index(lead) for lead in leads]
    inside = times[(times >= 0.0) & (times < n / frequency)]
    return SyntheticRecord(
        signal=signal[rows], frequency=frequency, leads=leads, rhythm=rhythm, age=age, sex=sex, r_peaks=inside
    )


def generate_record(
    seed: int,
    index: int,
    *,
    rhythms: Sequence[str] = DEFAULT_RHYTHMS,
    frequency: float = 500.0,
    duration: float = 10.0,
    method: str = "fast",
    leads: Sequence[str] = STANDARD_LEADS,
) -> SyntheticRecord:
    """Record ``index`` (0-based) of the dataset drawn with ``seed``."""
    return simulate_record(
        record_seed(seed, index),
        rhythms=rhythms,
        frequency=frequency,
        duration=duration,
        method=method,
        leads=leads,
    )


def write_synthetic_record(directory: str | os.PathLike, record_id: str, record: SyntheticRecord) -> Path:
    """Write a record as ``record_id.hea`` + ``record_id.mat``; return the header path."""
    return write_record(
        directory,
        record_id,
        record.signal,
        record.frequency,
        leads=record.leads,
        gain=DEFAULT_GAIN,
        age=record.age,
        sex=record.sex,
        labels=record.labels,
    )


def record_ids(n_records: int, prefix: str = "SYN") -> list[str]:
    """``SYN00001`` ... : 1-based, zero-padded to at least five digits so they sort in order."""
    digits = max(5, len(str(n_records)))
    return [f"{prefix}{i + 1:0{digits}d}" for i in range(n_records)]


def _write_chunk(out_dir: str, ids: list[str], indices: list[int], seed: int, options: dict) -> tuple[int, list[str]]:
    """Worker: generate and write records ``indices``; return the first index and the header paths."""
    paths = []
    for record_id, index in zip(ids, indices):
        record = generate_record(seed, index, **options)
        paths.append(str(write_synthetic_record(out_dir, record_id, record)))
    return indices[0], paths


def generate_dataset(
    out_dir: str | os.PathLike,
    n_records: int,
    seed: int = 0,
    frequency: float = 500.0,
    duration: float = 10.0,
    method: str = "fast",
    leads: Sequence[str] | int = STANDARD_LEADS,
    n_jobs: int = 1,
    progress: bool = True,
    prefix: str = "SYN",
    rhythms: Sequence[str] | str | None = DEFAULT_RHYTHMS,
) -> list[Path]:
    """Write ``n_records`` synthetic records into ``out_dir``; return their header paths in id order.

    ``leads`` is a list of lead names or a lead-set size (12, 6, 4, 3, 2); the headers list only those
    leads. ``n_jobs`` follows joblib (-1 = every core); records are written in chunks by worker processes
    and are identical for any ``n_jobs``. ``rhythms`` restricts the classes (codes or abbreviations).
    """
    from tqdm import tqdm

    if n_records < 0:
        raise ValueError(f"n_records must be non-negative (got {n_records})")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if not (frequency > 0 and duration > 0):
        raise ValueError(f"frequency and duration must be positive (got {frequency}, {duration})")
    options = {
        "rhythms": resolve_rhythms(rhythms),
        "frequency": float(frequency),
        "duration": float(duration),
        "method": method,
        "leads": resolve_leads(leads),
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ids = record_ids(n_records, prefix)
    if n_records == 0:
        return []
    workers = _effective_jobs(n_jobs)
    # Chunks amortise the per-task cost of the process pool (a few ms) over many fast records, while
    # staying small enough to balance the load and move the progress bar.
    per_chunk = 64 if method == "fast" else 2
    size = max(1, min(per_chunk, math.ceil(n_records / (4 * workers))))
    starts = range(0, n_records, size)
    tasks = [(str(out_dir), ids[s : s + size], list(range(s, min(s + size, n_records)))) for s in starts]
    found: dict[int, list[str]] = {}
    with tqdm(total=n_records, unit="rec", desc=f"synthetic ({method})", disable=not progress) as bar:
        if workers == 1:
            results = (_write_chunk(*task, seed, options) for task in tasks)
        else:
            from joblib import Parallel, delayed

            parallel = Parallel(n_jobs=workers, return_as="generator_unordered")
            results = parallel(delayed(_write_chunk)(*task, seed, options) for task in tasks)
        for first, paths in results:
            found[first] = paths
            bar.update(len(paths))
    return [Path(p) for first in sorted(found) for p in found[first]]


def _effective_jobs(n_jobs: int) -> int:
    """joblib's convention: positive = that many, -1 = every core, -2 = all but one, ..."""
    cores = os.cpu_count() or 1
    if n_jobs == 0:
        raise ValueError("n_jobs must not be 0")
    return max(1, n_jobs if n_jobs > 0 else cores + 1 + n_jobs)
