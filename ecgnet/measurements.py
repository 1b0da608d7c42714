"""What a cardiologist reads off an ECG, measured per record for each lead set: rhythm, intervals, axis,
per-lead amplitudes, voltage criteria, R-wave progression and a coarse median beat.

The values (:data:`MEASUREMENT_NAMES`, in physical units) are the input of a gradient-boosted tree model,
which reads NaN as "missing": a value that cannot be measured (lead absent or flat, no beat found, no P
wave, a bound out of its plausible range) is NaN, never a made-up number, and the signal's content never
makes :func:`measure` raise.

How a record is measured, at its own sampling rate and in mV (the first :data:`MAX_SECONDS` only):

* The standard leads are band-passed, 0.67-40 Hz: run forward and backward (zero phase), a 0.67 Hz low
  cut removes most baseline wander yet leaves the ST segment undistorted (the AHA's recommended limit
  for such filters). Whole-signal statistics are of this signal.
* R peaks are found **once**, by :mod:`ecgnet.features` (neurokit2 on lead II, else I) among *all* the
  record's leads: II and I are in every Challenge lead set, so the peaks are those a reduced-lead
  record of any set would give (a custom set without either still gets the rhythm of II or I). Each
  peak is then moved by up to 16 ms to best match the median QRS of that lead, so that the beats line
  up before they are averaged.
* Each lead's median beat (R - 450 ms to R + 650 ms, complete beats only when there are any) is
  computed **once** and interpolated to a 1 ms grid, on which every time below is measured. The
  interpolation is monotone (PCHIP): a cubic spline rings around a QRS sampled at 100 Hz, and the
  ringing would lengthen the QRS by some 5 ms against the same record at 500 Hz.

Each lead set's row is then derived from those median beats, using the set's leads only, so that a
row measured on a 12-lead training record equals the one measured on a record that has only the set's
leads (up to the shared R peaks):

* QRS onset and offset from the summed absolute slope of the set's median beats: walking out of the
  QRS's steep core, where the slope falls to 3 % of its peak above the lowest slope on that side.
  Each lead's baseline is then its PR segment (from 20 to 4 ms before QRS onset).
* T end by the tangent method on the leads' root-mean-square curve after the QRS: the steepest descent
  after the T peak, extended to the curve's floor. P wave: the largest hump of the same curve before
  the QRS (no earlier than the previous beat's T end), onset and offset where it falls to 15 % of its
  height above the floor on each side.
* The frontal axis from the net QRS areas of I and aVF, atan2(2 aVF / sqrt(3), I): an augmented lead
  is sqrt(3)/2 of the heart vector's projection. When the set lacks I or aVF, both are derived from
  any two limb leads present (each limb lead is a fixed combination of I and II by Einthoven's and
  Goldberger's laws; e.g. the 2-lead set has aVF = II - I/2), by least squares.
* Rhythm values come from the shared R peaks and are the same in every row; the beat-to-beat measures
  (``ectopic_fraction``, ``p_wave_consistency``, ``p_wave_snr``) use the set's leads.

Per-lead values (``<name>_<lead>``, leads in :data:`ecgnet.records.STANDARD_LEADS` order) are NaN for
leads the set or the record lacks; beat-derived ones are NaN for flat leads too, and a set without any
usable lead gets a row of NaN (but the statistics of its flat leads). Amplitudes are relative to the
PR baseline and clipped to +-:data:`AMPLITUDE_LIMIT_MV`; intervals outside :data:`INTERVAL_RANGES_MS`
are NaN; RR intervals are clipped to 200-3000 ms.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import PchipInterpolator
from scipy.ndimage import uniform_filter1d

from ecgnet.features import R_PEAK_LEADS, best_detection
from ecgnet.records import STANDARD_LEADS, Header, RecordError, canonical_lead, read_record, standard_rows
from ecgnet.signals import bandpass, fill_non_finite, to_physical

GLOBAL_NAMES: tuple[str, ...] = (
    "heart_rate_mean",  # bpm: 60000 / rr_mean
    "heart_rate_min",  # bpm: of the longest RR interval
    "heart_rate_max",  # bpm: of the shortest RR interval
    "rr_mean",  # ms
    "rr_std",  # ms
    "rr_rmssd",  # ms: root mean square of successive RR differences
    "rr_variation",  # ratio: rr_std / rr_mean
    "rr_successive_variation",  # ratio: mean absolute successive RR difference / rr_mean
    "premature_fraction",  # ratio: RR intervals < 0.85 x the median followed by a longer one
    "ectopic_fraction",  # ratio: beats whose QRS correlates < 0.9 with the median beat's
    "p_wave_consistency",  # correlation: median over beats of the pre-QRS segment against the median beat's
    "p_wave_snr",  # ratio: P-wave height of the median beat / beat-to-beat noise before the QRS
    "p_duration",  # ms
    "pr_interval",  # ms: P onset to QRS onset
    "qrs_duration",  # ms
    "qt_interval",  # ms: QRS onset to T end
    "qtc_bazett",  # ms: QT / sqrt(RR in s), RR the median
    "qtc_fridericia",  # ms: QT / cbrt(RR in s)
    "qrs_axis",  # degrees, -180..180: frontal QRS axis
    "sokolow_lyon",  # mV: S V1 + max(R V5, R V6)
    "cornell",  # mV: R aVL + S V3
    "limb_qrs_max_pp",  # mV: largest QRS peak-to-peak of the limb leads (low voltage < 0.5)
    "precordial_qrs_max_pp",  # mV: largest QRS peak-to-peak of V1-V6 (low voltage < 1.0)
    "rs_transition_lead",  # 1-6: first of V1-V6 with R > S; 7 when none (needs all six)
)
PRECORDIAL_LEADS: tuple[str, ...] = ("V1", "V2", "V3", "V4", "V5", "V6")
LIMB_LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF")
RS_NAMES: tuple[str, ...] = tuple(f"rs_log_ratio_{lead}" for lead in PRECORDIAL_LEADS)  # log10(R / S)
PER_LEAD_NAMES: tuple[str, ...] = (
    "r_amplitude",  # mV: largest positive QRS deflection
    "s_amplitude",  # mV, positive depth: largest negative deflection after R (the QS depth without R)
    "q_amplitude",  # mV, positive depth: largest negative deflection before R
    "q_duration",  # ms: the negative run around the Q minimum (0 without a Q of 0.05 mV)
    "qrs_peak_to_peak",  # mV
    "st_level",  # mV at J + 60 ms
    "t_amplitude",  # mV, signed: largest deflection from J + 40 ms to T end
    "p_amplitude",  # mV, signed: largest deflection from P onset to P offset
    "signal_rms",  # mV: whole band-passed signal
    "signal_p01",  # mV: 1st percentile of the whole band-passed signal
    "signal_p99",  # mV: 99th percentile
)
BEAT_SAMPLES = 10  # the coarse median beat: means of 70 ms bins from R - 250 ms to R + 450 ms, in mV
BEAT_NAMES: tuple[str, ...] = tuple(f"beat_{k:02d}" for k in range(BEAT_SAMPLES))
MEASUREMENT_NAMES: tuple[str, ...] = (
    GLOBAL_NAMES + RS_NAMES + tuple(f"{name}_{lead}" for name in PER_LEAD_NAMES + BEAT_NAMES for lead in STANDARD_LEADS)
)
NUM_MEASUREMENTS = len(MEASUREMENT_NAMES)

MAX_SECONDS = 60.0  # longer records are measured on their first minute
BAND_HZ = (0.67, 40.0)
FILTER_ORDER = 2
RR_RANGE_MS = (200.0, 3000.0)
AMPLITUDE_LIMIT_MV = 10.0
INTERVAL_RANGES_MS = {"p_duration": (30.0, 250.0), "pr_interval": (60.0, 500.0), "qrs_duration": (40.0, 250.0),
                      "qt_interval": (150.0, 750.0), "qtc_bazett": (150.0, 800.0), "qtc_fridericia": (150.0, 800.0)}
BEFORE_R_MS, AFTER_R_MS = 450, 650  # the median beat's span
ALIGN_SHIFT_MS, ALIGN_HALF_MS = 16, 60  # peak refinement: largest move, half width of the matched QRS
QRS_SEARCH_MS = (-120, 150)  # where the QRS's steep core is looked for, around R
QRS_CORE, QRS_EDGE = 0.3, 0.03  # fractions of the slope peak: the QRS's core, its ends (above the side's floor)
QRS_REACH_MS = (100, 180)  # how far before and after the core the QRS may start and end
T_MIN_MV, P_MIN_MV = 0.03, 0.02  # smaller humps of the RMS curve are no T or P wave
P_EDGE = 0.15  # P onset and offset: where the hump falls to this fraction of its height
R_MIN_MV, Q_MIN_MV, RS_FLOOR_MV = 0.05, 0.05, 0.05  # no R (a QS complex), no Q; R and S floor for their ratio
ECTOPIC_CORRELATION = 0.9
MIN_BEATS_COMPARED = 3  # beat-to-beat measures need at least this many complete beats
DEFAULT_RR_MS = 1000.0  # assumed for the T window when a record has a single beat

_INDEX = {name: i for i, name in enumerate(MEASUREMENT_NAMES)}
_LEAD = {lead: i for i, lead in enumerate(STANDARD_LEADS)}
_LIMB = [_LEAD[lead] for lead in LIMB_LEADS]
# Each limb lead (LIMB_LEADS order) as (weight of I, weight of II), by Einthoven's and Goldberger's laws:
# III = II - I, aVR = -(I + II)/2, aVL = I - II/2, aVF = II - I/2.
_LIMB_WEIGHTS = np.array([[1, 0], [0, 1], [-1, 1], [-0.5, -0.5], [1, -0.5], [-0.5, 1]])
_GRID_MS = np.arange(-BEFORE_R_MS, AFTER_R_MS + 1, dtype=np.float64)


@dataclass
class _Beats:
    """A record's beats, computed once: ``native`` (beats, 12, samples) the complete beats at the record's
    rate (for beat-to-beat measures; none in a record too short for one), ``times`` their samples' ms from
    R, ``median`` (12, samples) the median beats, and ``grid`` (12, ms) these on the 1 ms grid from
    -BEFORE_R_MS (rows of unusable leads are zeros)."""

    native: np.ndarray
    times: np.ndarray
    median: np.ndarray
    grid: np.ndarray


@dataclass
class _Record:
    """What every lead set's row is derived from."""

    usable: np.ndarray  # (12,) bool: present and not flat
    statistics: np.ndarray  # (3, 12): RMS, 1st and 99th percentile; NaN for absent leads
    rhythm: dict[str, float]
    rr_ms: float  # median RR, NaN with fewer than 2 beats
    beats: _Beats | None


@dataclass
class _Fiducials:
    """Times of one lead set's median beat in ms from R (NaN when not found): QRS, T end and the end of the
    window it was looked for in, P onset and offset, the window P was looked for in and the height (mV)
    of the largest hump there; and each lead's PR baseline (12,)."""

    qrs_on: float
    qrs_off: float
    t_end: float
    t_stop: float
    p_on: float
    p_off: float
    p_window: tuple[float, float]
    p_height: float
    baseline: np.ndarray


def _at(ms: float) -> int:
    """Index of ``ms`` (from R) on the 1 ms grid, clipped to it."""
    return min(max(int(round(ms)) + BEFORE_R_MS, 0), len(_GRID_MS) - 1)  # plain ints: called some 35 times a record


def _physical(recording: np.ndarray, header: Header) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(12, samples) float64 mV in standard slots, which slots hold a lead with finite samples, which of
    those are not flat. Non-finite samples are filled with the lead's mean; a lead whose gain is zero or
    not finite is absent (a broken header line should cost that lead, not the record)."""
    signal = np.zeros((len(STANDARD_LEADS), recording.shape[1]), dtype=np.float64)
    present = np.zeros(len(STANDARD_LEADS), dtype=bool)
    for slot, row in standard_rows(header.leads).items():
        try:
            lead = to_physical(recording[row : row + 1], header.gains[row : row + 1], header.baselines[row : row + 1])
        except RecordError:
            continue
        lead = lead.astype(np.float64)
        present[slot] = not fill_non_finite(lead)[0] and lead.shape[1] > 0
        signal[slot] = lead[0] if present[slot] else 0.0
    flat = np.ptp(signal, axis=1) == 0 if signal.shape[1] else np.ones(len(signal), dtype=bool)
    return signal, present, present & ~flat


def _statistics(filtered: np.ndarray, present: np.ndarray) -> np.ndarray:
    """(3, 12): RMS, 1st and 99th percentiles of each present lead of the band-passed signal."""
    statistics = np.full((3, len(STANDARD_LEADS)), np.nan)
    if filtered.shape[1] == 0 or not present.any():
        return statistics
    rows = filtered[present]
    statistics[0, present] = np.sqrt(np.mean(rows**2, axis=1))
    statistics[1:, present] = np.percentile(rows, [1, 99], axis=1)
    return np.clip(statistics, -AMPLITUDE_LIMIT_MV, AMPLITUDE_LIMIT_MV)


def _align(peaks: np.ndarray, lead: np.ndarray, fs: float) -> np.ndarray:
    """Peaks moved (by up to ALIGN_SHIFT_MS) to where each beat's QRS best correlates with the median QRS
    of ``lead``: the detector's peak can sit a sample or two apart from beat to beat, which would smear
    the median beat and widen its QRS."""
    shift, half = round(ALIGN_SHIFT_MS * fs / 1000), round(ALIGN_HALF_MS * fs / 1000)
    if shift < 1 or len(peaks) < 2:
        return peaks
    offsets = np.arange(-half - shift, half + shift + 1)
    segments = lead[np.clip(peaks[:, None] + offsets, 0, len(lead) - 1)]
    windows = np.lib.stride_tricks.sliding_window_view(segments, 2 * half + 1, axis=1)  # (P, 2 shift + 1, W)
    windows = windows - windows.mean(axis=2, keepdims=True)
    template = np.median(windows[:, shift], axis=0)
    template -= template.mean()
    norms = np.linalg.norm(windows, axis=2) * np.linalg.norm(template) + 1e-12
    best = np.argmax(windows @ template / norms, axis=1)
    return np.unique(np.clip(peaks + best - shift, 0, len(lead) - 1))


def _rhythm(rr: np.ndarray) -> dict[str, float]:
    """Heart rate and RR measures of RR intervals (ms); absent keys are not measurable."""
    if len(rr) < 1:
        return {}
    values = {"heart_rate_mean": 60000.0 / rr.mean(), "heart_rate_min": 60000.0 / rr.max(),
              "heart_rate_max": 60000.0 / rr.min(), "rr_mean": rr.mean()}
    if len(rr) >= 2:
        successive = np.diff(rr)
        values.update(rr_std=rr.std(), rr_rmssd=math.sqrt(np.mean(successive**2)), rr_variation=rr.std() / rr.mean(),
                      rr_successive_variation=np.abs(successive).mean() / rr.mean())
        # A premature beat: a short interval (the ectopic beat comes early) followed by a longer one (the pause).
        premature = (rr[:-1] < 0.85 * np.median(rr)) & (rr[1:] > rr[:-1])
        values["premature_fraction"] = premature.mean()
    return values


def median_beat(beats: np.ndarray) -> np.ndarray:
    """The median over axis 0 of ``beats`` (beats, ...), NaN where any beat is NaN, as ``np.median`` gives it:
    sorting along the beats is four times faster than the partition ``np.median`` runs across that axis."""
    ordered = np.sort(beats, axis=0)
    middle = len(beats) // 2
    median = ordered[middle] if len(beats) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return np.where(np.isnan(beats).any(axis=0), np.nan, median)


def _beats(filtered: np.ndarray, usable: np.ndarray, peaks: np.ndarray, fs: float) -> _Beats | None:
    """The beats around ``peaks`` and each usable lead's median beat; None without peaks or usable leads."""
    if len(peaks) == 0 or not usable.any():
        return None
    offsets = np.arange(-math.ceil(BEFORE_R_MS * fs / 1000), math.ceil(AFTER_R_MS * fs / 1000) + 1)
    n = filtered.shape[1]
    complete = (peaks + offsets[0] >= 0) & (peaks + offsets[-1] < n)
    # Without a complete beat (a very short record) the edges repeat the first or last sample: flat
    # stretches that give "no wave here" rather than an error.
    chosen = peaks[complete] if complete.any() else peaks
    beats = filtered[:, np.clip(chosen[:, None] + offsets, 0, n - 1)].transpose(1, 0, 2)  # (beats, 12, samples)
    median = median_beat(beats)
    times = offsets * 1000.0 / fs
    grid = np.zeros((len(STANDARD_LEADS), len(_GRID_MS)))
    grid[usable] = PchipInterpolator(times, median[usable], axis=1)(_GRID_MS)
    native = beats if complete.any() else beats[:0]
    return _Beats(native=native, times=times, median=median, grid=grid)


def _record(recording: np.ndarray, header: Header) -> _Record:
    """Everything measured once per record (its first MAX_SECONDS)."""
    fs = float(header.frequency)
    recording = recording[:, : max(1, int(MAX_SECONDS * fs))]
    signal, present, usable = _physical(recording, header)
    filtered = bandpass(signal, fs, *BAND_HZ, FILTER_ORDER).astype(np.float64)
    filtered[~usable] = 0.0  # a constant lead leaves float residue after filtering; it is exactly flat
    statistics = _statistics(filtered, present)
    found = best_detection({lead: signal[_LEAD[lead]] for lead in R_PEAK_LEADS if present[_LEAD[lead]]}, fs)
    if found is None or not usable[_LEAD[found[0]]]:
        return _Record(usable, statistics, {}, math.nan, None)
    peaks = _align(found[1], filtered[_LEAD[found[0]]], fs)
    rr = np.clip(np.diff(peaks) * 1000.0 / fs, *RR_RANGE_MS)
    rr_ms = float(np.median(rr)) if len(rr) else math.nan
    return _Record(usable, statistics, _rhythm(rr), rr_ms, _beats(filtered, usable, peaks, fs))


def _smooth(curve: np.ndarray, ms: int) -> np.ndarray:
    return uniform_filter1d(curve, ms, mode="nearest")


def _qrs_bounds(grid: np.ndarray) -> tuple[float, float]:
    """QRS onset and offset (ms from R) of median beats (leads, ms): walking out of the QRS's steep core,
    where the summed absolute slope drops to a fraction of its peak above the lowest slope on that side
    (the PR or ST segment). A floor of the whole beat would not do: one lead with a wandering baseline
    keeps the slope above it everywhere."""
    slope = _smooth(np.abs(np.diff(grid, axis=1)).sum(axis=0), 4)
    low, high = _at(QRS_SEARCH_MS[0]), _at(QRS_SEARCH_MS[1])
    peak = slope[low:high].max()
    if not peak > 3 * np.percentile(slope, 10):  # most of a beat is far flatter than any QRS
        return math.nan, math.nan
    core = np.flatnonzero(slope[low:high] >= QRS_CORE * peak) + low
    before = slope[max(core[0] - QRS_REACH_MS[0], 0) : core[0]][::-1]  # walking back from the core
    after = slope[core[-1] : core[-1] + QRS_REACH_MS[1]]
    if len(before) == 0 or len(after) == 0:
        return math.nan, math.nan
    onset = core[0] - int(np.argmax(before <= before.min() + QRS_EDGE * (peak - before.min())))
    offset = core[-1] + int(np.argmax(after <= after.min() + QRS_EDGE * (peak - after.min())))
    return float(onset - BEFORE_R_MS), float(offset - BEFORE_R_MS)


def _rms(grid: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """The leads' root-mean-square curve about their PR baselines, smoothed over 20 ms."""
    return _smooth(np.sqrt(np.mean((grid - baseline[:, None]) ** 2, axis=0)), 20)


def _t_end(rms: np.ndarray, qrs_off: float, rr_ms: float) -> tuple[float, float]:
    """(T end, end of the T window) in ms from R: the tangent at the steepest descent after the T peak of
    the RMS curve, extended to the curve's floor. The window ends before the next beat's P wave."""
    rr_ms = DEFAULT_RR_MS if math.isnan(rr_ms) else rr_ms
    start = qrs_off + 40
    stop = min(AFTER_R_MS - 10, max(0.65 * rr_ms, qrs_off + 200))
    segment = rms[_at(start) : _at(stop) + 1]
    rising = np.flatnonzero(np.diff(segment) > 0)  # the peak is a hump, not the tail of the QRS at the start
    if len(segment) < 20 or len(rising) == 0:
        return math.nan, stop
    peak = rising[0] + int(np.argmax(segment[rising[0] :]))
    after = segment[peak:]
    lowest = int(np.argmin(after))
    if after[0] - after[lowest] < T_MIN_MV or lowest < 2:
        return math.nan, stop
    slope = np.gradient(after[: lowest + 1])
    steepest = int(np.argmin(slope))
    if slope[steepest] >= 0:
        return math.nan, stop
    end = peak + steepest + (after[lowest] - after[steepest]) / slope[steepest]
    return float(_GRID_MS[_at(start)] + end), stop


def _p_wave(rms: np.ndarray, qrs_on: float, t_end: float,
            rr_ms: float) -> tuple[float, float, tuple[float, float], float]:
    """(P onset, P offset, search window, hump height) in ms from R and mV: the largest hump of the RMS
    curve before the QRS, after the previous beat's T end (its T end, or 45 % of RR, one RR earlier)."""
    previous = -BEFORE_R_MS if math.isnan(rr_ms) else (0.45 * rr_ms if math.isnan(t_end) else t_end) - rr_ms
    window = (max(qrs_on - 400, previous + 20, -BEFORE_R_MS + 10), qrs_on - 10)
    first, last = _at(window[0]), _at(window[1])
    if last - first < 60:
        return math.nan, math.nan, window, math.nan
    segment = rms[first : last + 1]
    floor = segment.min()
    # The P peak is a hump: not on the tail of the previous T wave that falls from the window's start,
    # nor on the rise into the QRS at its end.
    falling = np.flatnonzero(np.diff(segment) > 0)
    rising = np.flatnonzero(np.diff(segment) < 0)
    start, stop = (falling[0], rising[-1] + 1) if len(falling) and len(rising) else (0, 0)
    height = float(segment.max() - floor)
    if stop - start < 10:
        return math.nan, math.nan, window, height
    peak = start + int(np.argmax(segment[start:stop]))
    # Each side falls to its own floor: the TP segment before P need not sit at the PR baseline.
    left_floor, right_floor = segment[start : peak + 1].min(), segment[peak:].min()
    if segment[peak] - max(left_floor, right_floor) < P_MIN_MV:
        return math.nan, math.nan, window, height
    before = np.flatnonzero(segment[:peak] < left_floor + P_EDGE * (segment[peak] - left_floor))
    after = np.flatnonzero(segment[peak:] < right_floor + P_EDGE * (segment[peak] - right_floor))
    return window[0] + before[-1] + 1.0, window[0] + peak + after[0] - 1.0, window, height


def _fiducials(grid: np.ndarray, rows: np.ndarray, rr_ms: float) -> _Fiducials | None:
    """The fiducial times of the median beats of leads ``rows``; None without a QRS."""
    qrs_on, qrs_off = _qrs_bounds(grid[rows])
    if math.isnan(qrs_on):
        return None
    baseline = grid[:, _at(qrs_on - 20) : _at(qrs_on - 4) + 1].mean(axis=1)
    rms = _rms(grid[rows], baseline[rows])
    t_end, t_stop = _t_end(rms, qrs_off, rr_ms)
    p_on, p_off, p_window, p_height = _p_wave(rms, qrs_on, t_end, rr_ms)
    return _Fiducials(qrs_on, qrs_off, t_end, t_stop, p_on, p_off, p_window, p_height, baseline)


def _signed_extreme(segment: np.ndarray) -> np.ndarray:
    """Per row, the value of largest magnitude (signed)."""
    return segment[np.arange(len(segment)), np.argmax(np.abs(segment), axis=1)]


def _q_duration(qrs: np.ndarray, stop: int, q_depth: float) -> float:
    """ms of the negative run around the lowest point of ``qrs[:stop]``; 0 for a Q under Q_MIN_MV."""
    if q_depth < Q_MIN_MV or stop < 1:
        return 0.0
    lowest = int(np.argmin(qrs[:stop]))
    non_negative = np.flatnonzero(qrs[:stop] >= 0)
    left, right = non_negative[non_negative < lowest], non_negative[non_negative > lowest]
    return float((right[0] if len(right) else stop) - (left[-1] + 1 if len(left) else 0))


def _qrs_values(beat: np.ndarray, fiducials: _Fiducials) -> dict[str, np.ndarray]:
    """R, S and Q amplitudes, Q duration, peak-to-peak and net area (mV ms) of baseline-corrected beats."""
    qrs = beat[:, _at(fiducials.qrs_on) : _at(fiducials.qrs_off) + 1]
    r_index = np.argmax(qrs, axis=1)
    r = np.maximum(qrs.max(axis=1), 0.0)
    q, s, q_duration = np.zeros(len(qrs)), np.zeros(len(qrs)), np.zeros(len(qrs))
    for i, row in enumerate(qrs):
        if r[i] < R_MIN_MV:  # a QS complex: its depth is both the Q and the S
            q[i] = s[i] = max(-row.min(), 0.0)
            q_duration[i] = _q_duration(row, len(row), q[i])
            continue
        q[i] = max(-row[: r_index[i]].min(), 0.0) if r_index[i] > 0 else 0.0
        s[i] = max(-row[r_index[i] :].min(), 0.0)
        q_duration[i] = _q_duration(row, r_index[i], q[i])
    return {"r_amplitude": r, "s_amplitude": s, "q_amplitude": q, "q_duration": q_duration,
            "qrs_peak_to_peak": qrs.max(axis=1) - qrs.min(axis=1), "area": qrs.sum(axis=1)}


def _lead_values(grid: np.ndarray, fiducials: _Fiducials) -> dict[str, np.ndarray]:
    """Every per-lead measurement of the 12 median beats (rows of leads not measured are dropped later)."""
    beat = grid - fiducials.baseline[:, None]
    values = _qrs_values(beat, fiducials)
    values["st_level"] = beat[:, _at(fiducials.qrs_off + 60)]
    t_last = fiducials.t_end if not math.isnan(fiducials.t_end) else fiducials.t_stop
    values["t_amplitude"] = _signed_extreme(beat[:, _at(fiducials.qrs_off + 40) : _at(t_last) + 1])
    if not math.isnan(fiducials.p_on):
        values["p_amplitude"] = _signed_extreme(beat[:, _at(fiducials.p_on) : _at(fiducials.p_off) + 1])
    edges = np.linspace(-250, 450, BEAT_SAMPLES + 1)
    for k, name in enumerate(BEAT_NAMES):
        values[name] = beat[:, _at(edges[k]) : _at(edges[k + 1])].mean(axis=1)
    return values


def _axis(area: np.ndarray, measured: np.ndarray) -> float:
    """Frontal QRS axis (degrees) from net QRS areas of the 12 leads, of which ``measured`` are usable:
    I and aVF themselves, else both solved from every measured limb lead (any two determine I and II)."""
    limb = np.flatnonzero(measured[_LIMB])
    if measured[_LEAD["I"]] and measured[_LEAD["aVF"]]:
        lead_i, lead_avf = area[_LEAD["I"]], area[_LEAD["aVF"]]
    elif len(limb) >= 2:
        (lead_i, lead_ii), *_ = np.linalg.lstsq(_LIMB_WEIGHTS[limb], area[_LIMB][limb], rcond=None)
        lead_avf = lead_ii - lead_i / 2
    else:
        return math.nan
    # aVF is the heart vector's vertical component times sqrt(3)/2 (Goldberger's augmented leads), I its
    # horizontal one: unscaled, atan2(aVF, I) would be off by up to 8 degrees.
    vertical = lead_avf * 2 / math.sqrt(3)
    if math.hypot(lead_i, vertical) < 0.5:  # mV ms: no net QRS to point anywhere
        return math.nan
    return math.degrees(math.atan2(vertical, lead_i))


def _correlations(beats: np.ndarray, median: np.ndarray) -> np.ndarray:
    """Correlation of each beat (beats, leads, samples) with ``median`` (leads, samples), each lead
    centred first so that a baseline offset does not count as a shape."""
    beats = beats - beats.mean(axis=2, keepdims=True)
    median = median - median.mean(axis=1, keepdims=True)
    flat_beats, flat_median = beats.reshape(len(beats), -1), median.reshape(-1)
    norms = np.linalg.norm(flat_beats, axis=1) * np.linalg.norm(flat_median)
    return np.divide(flat_beats @ flat_median, norms, out=np.zeros(len(beats)), where=norms > 0)


def _beat_to_beat(beats: _Beats, rows: np.ndarray, fiducials: _Fiducials) -> dict[str, float]:
    """Ectopic fraction and P-wave presence from the complete beats of leads ``rows``."""
    if len(beats.native) < MIN_BEATS_COMPARED:
        return {}
    values: dict[str, float] = {}
    qrs = (beats.times >= fiducials.qrs_on - 10) & (beats.times <= fiducials.qrs_off + 10)
    if qrs.sum() >= 3:
        correlation = _correlations(beats.native[:, rows][:, :, qrs], beats.median[rows][:, qrs])
        values["ectopic_fraction"] = float(np.mean(correlation < ECTOPIC_CORRELATION))
    before = (beats.times >= fiducials.p_window[0]) & (beats.times <= fiducials.p_window[1])
    if before.sum() >= 3:
        segments, median = beats.native[:, rows][:, :, before], beats.median[rows][:, before]
        values["p_wave_consistency"] = float(np.median(_correlations(segments, median)))
        deviation = (segments - segments.mean(axis=2, keepdims=True)) - (median - median.mean(axis=1, keepdims=True))
        noise = math.sqrt(np.mean(deviation**2))
        if not math.isnan(fiducials.p_height):
            values["p_wave_snr"] = min(fiducials.p_height / max(noise, 1e-6), 100.0)
    return values


def _intervals(fiducials: _Fiducials, rr_ms: float) -> dict[str, float]:
    """P duration, PR, QRS, QT and corrected QT (ms); out-of-range ones NaN."""
    qt = fiducials.t_end - fiducials.qrs_on
    rr_s = rr_ms / 1000.0
    values = {"p_duration": fiducials.p_off - fiducials.p_on, "pr_interval": fiducials.qrs_on - fiducials.p_on,
              "qrs_duration": fiducials.qrs_off - fiducials.qrs_on, "qt_interval": qt,
              "qtc_bazett": qt / math.sqrt(rr_s), "qtc_fridericia": qt / rr_s ** (1 / 3)}
    for name, (low, high) in INTERVAL_RANGES_MS.items():
        if not low <= values[name] <= high:  # NaN fails this too
            values[name] = math.nan
    return values


def _voltage(lead: dict[str, np.ndarray]) -> dict[str, float]:
    """Voltage criteria and R-wave progression from per-lead values (NaN for leads not measured)."""
    r, s, pp = lead["r_amplitude"], lead["s_amplitude"], lead["qrs_peak_to_peak"]
    v = [_LEAD[name] for name in PRECORDIAL_LEADS]
    with warnings.catch_warnings():  # all-NaN slices: nanmax warns, and NaN is the right answer
        warnings.simplefilter("ignore", RuntimeWarning)
        values = {"sokolow_lyon": s[_LEAD["V1"]] + np.nanmax(r[v[4:]]), "cornell": r[_LEAD["aVL"]] + s[_LEAD["V3"]],
                  "limb_qrs_max_pp": np.nanmax(pp[_LIMB]), "precordial_qrs_max_pp": np.nanmax(pp[v])}
    both_tiny = (r[v] < RS_FLOOR_MV) & (s[v] < RS_FLOOR_MV)
    ratio = np.log10(np.maximum(r[v], RS_FLOOR_MV) / np.maximum(s[v], RS_FLOOR_MV))
    ratio[both_tiny] = np.nan
    values.update(zip(RS_NAMES, ratio))
    if np.isfinite(r[v]).all():
        dominant = np.flatnonzero(r[v] > s[v])
        values["rs_transition_lead"] = float(dominant[0] + 1 if len(dominant) else 7)
    return values


def _row(record: _Record, lead_set: Sequence[str]) -> np.ndarray:
    """One lead set's measurements (float64, NaN where not measured)."""
    row = np.full(NUM_MEASUREMENTS, np.nan)
    in_set = np.zeros(len(STANDARD_LEADS), dtype=bool)
    in_set[[_LEAD[lead] for lead in map(canonical_lead, lead_set) if lead in _LEAD]] = True
    for name, values in zip(PER_LEAD_NAMES[-3:], record.statistics):
        _put(row, name, np.where(in_set, values, np.nan))
    measured = in_set & record.usable
    rows = np.flatnonzero(measured)
    if not len(rows):  # nothing of this set to measure: not even the rhythm is the set's own
        return row
    for name, value in record.rhythm.items():
        row[_INDEX[name]] = value
    fiducials = None if record.beats is None else _fiducials(record.beats.grid, rows, record.rr_ms)
    if fiducials is None:
        return row
    lead = {name: np.where(measured, _clip_amplitude(name, values), np.nan)
            for name, values in _lead_values(record.beats.grid, fiducials).items()}
    globals_ = {**_intervals(fiducials, record.rr_ms), **_voltage(lead),
                **_beat_to_beat(record.beats, rows, fiducials), "qrs_axis": _axis(lead.pop("area"), measured)}
    for name, value in globals_.items():
        row[_INDEX[name]] = value
    for name, values in lead.items():
        _put(row, name, values)
    return row


def _clip_amplitude(name: str, values: np.ndarray) -> np.ndarray:
    """Amplitudes (mV) clipped to +-AMPLITUDE_LIMIT_MV; durations and areas as they are."""
    return values if name in ("q_duration", "area") else np.clip(values, -AMPLITUDE_LIMIT_MV, AMPLITUDE_LIMIT_MV)


def _put(row: np.ndarray, name: str, values: np.ndarray) -> None:
    """Write the 12 values of per-lead measurement ``name`` into ``row``."""
    start = _INDEX[f"{name}_{STANDARD_LEADS[0]}"]
    row[start : start + len(STANDARD_LEADS)] = values


def measure(
    recording: np.ndarray,
    header: Header,
    lead_sets: Sequence[Sequence[str]] = (STANDARD_LEADS,),
    source: str | os.PathLike = "<recording>",
) -> np.ndarray:
    """Measurements of a digital recording (rows in header order): float32 (len(lead_sets),
    NUM_MEASUREMENTS), row j measured from the leads of ``lead_sets[j]`` that the record has, in
    :data:`MEASUREMENT_NAMES` order; NaN where a value could not be measured (missing lead, no beats,
    flat lead...). Lead names are compared in their standard spelling; non-standard ones are ignored.
    R peaks come from lead II, else I, of the record (see the module's notes) and only its first
    :data:`MAX_SECONDS` are measured.

    Raises :class:`RecordError` naming ``source`` only when the recording's shape does not match the
    header; nothing in the signal's content makes it raise.
    """
    recording = np.asarray(recording)
    if recording.ndim != 2 or recording.shape[0] != header.num_leads:
        problem = f"recording shape {recording.shape} does not match the header's {header.num_leads} leads"
        raise RecordError(source, problem)
    if not (math.isfinite(header.frequency) and header.frequency > 0):
        raise RecordError(source, f"sampling frequency {header.frequency} is not a positive number")
    with np.errstate(all="ignore"):  # huge or degenerate signals give inf/NaN along the way: NaN is the answer
        record = _record(recording, header)
        rows = np.stack([_row(record, lead_set) for lead_set in lead_sets]) if len(lead_sets) else None
    if rows is None:
        return np.zeros((0, NUM_MEASUREMENTS), dtype=np.float32)
    rows[~np.isfinite(rows)] = np.nan
    return rows.astype(np.float32)


def measure_file(header_path: str | os.PathLike, lead_sets: Sequence[Sequence[str]] = (STANDARD_LEADS,)) -> np.ndarray:
    """Read a record and :func:`measure` it, as it is (the measuring step alone, for its benchmark: a model is
    given the measurements of :func:`ecgnet.prepare.prepare`, whose unusable leads are absent); raises
    :class:`RecordError` for an unreadable record."""
    record = read_record(header_path)
    return measure(record.recording, record.header, lead_sets, source=header_path)


def missing_flags(values: np.ndarray) -> np.ndarray:
    """True where a measurement is missing (not finite), same shape as ``values``."""
    return ~np.isfinite(np.asarray(values))


#: What a reader checks first, as (label, measurement, unit) for :func:`summary_line`.
SUMMARY = (("HR", "heart_rate_mean", "/min"), ("PR", "pr_interval", " ms"), ("QRS", "qrs_duration", " ms"),
           ("QT", "qt_interval", " ms"), ("QTc", "qtc_bazett", " ms"), ("axis", "qrs_axis", "\u00b0"))


def summary_line(values: np.ndarray | None) -> str:
    """``HR 57/min  PR 150 ms  QRS 87 ms  QT 427 ms  QTc 417 ms  axis 26°`` from a record's measurements (one
    lead set's row), as a machine-read ECG's header prints them; a value not measured is left out."""
    if values is None:
        return ""
    parts = [f"{label} {values[_INDEX[name]]:.0f}{unit}" for label, name, unit in SUMMARY
             if math.isfinite(float(values[_INDEX[name]]))]
    return "  ".join(parts)
