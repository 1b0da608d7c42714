"""R peaks and hand-made rhythm features of a record, computed once per record from the record itself.

Peaks are found with neurokit2 in one lead (II, else I: both are in every Challenge lead set) of the
signal in physical units (mV) resampled to the model's rate (:func:`ecgnet.prepare.prepare`), so that
they index the very samples :mod:`ecgnet.beats` cuts into beats, with amplitudes in mV.

The features (:data:`FEATURE_NAMES`) are RR, R-amplitude and heart-rate statistics, each with a
missing-value flag. Age and sex are not among them: they are already the network's demographics input
(:func:`ecgnet.signals.demographics`).

Missing values are 0 with their flag 0. Which flag covers what:

* ``amplitude_known``: at least 1 peak; covers ``r_amplitude_mean``.
* ``rr_known``: at least 2 peaks (one RR interval); covers ``rr_mean``, ``rr_std``, the three heart
  rates and ``r_amplitude_rmssd`` (whose one successive difference needs two peaks too).
* ``rr_rmssd_known``: at least 3 peaks (two RR intervals, one successive difference); covers
  ``rr_rmssd``.

Values are clipped so that one bad detection cannot make a huge input: RR intervals to 0.2-3 s (heart
rate 20-300 bpm) and amplitudes to +-10 mV before any statistic is taken.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.signal

from ecgnet.signals import bandpass, fill_non_finite

R_PEAK_LEADS: tuple[str, ...] = ("II", "I")
FEATURE_NAMES: tuple[str, ...] = (
    "rr_mean",  # seconds
    "rr_std",  # seconds
    "rr_rmssd",  # seconds: root mean square of successive RR differences
    "r_amplitude_mean",  # mV
    "r_amplitude_rmssd",  # mV: root mean square of successive amplitude differences
    "heart_rate_mean",  # beats per minute / 100
    "heart_rate_min",  # beats per minute / 100
    "heart_rate_max",  # beats per minute / 100
    "rr_known",  # 1 with at least 2 peaks
    "amplitude_known",  # 1 with at least 1 peak
    "rr_rmssd_known",  # 1 with at least 3 peaks
)
NUM_FEATURES = len(FEATURE_NAMES)

RR_RANGE_SECONDS = (0.2, 3.0)  # 300 and 20 bpm
AMPLITUDE_LIMIT_MV = 10.0
HIGHPASS_HZ, HIGHPASS_ORDER = 0.5, 5  # the cleaning before detection (see clean)
POWERLINE_HZ = 50.0
MIN_DETECTION_SECONDS = 2.0  # shorter than about two beats: nothing to detect reliably
_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}


@dataclass
class Annotation:
    """What is computed once per record: R peaks and the features.

    ``peaks``: int64 sample indices at the signal's rate, sorted, unique, within the signal.
    ``features``: float32 (NUM_FEATURES,). ``peak_lead``: the lead the peaks came from, None when no lead
    gave any peak (then ``peaks`` is empty and every flag is 0).
    """

    peaks: np.ndarray
    features: np.ndarray
    peak_lead: str | None


def _rmssd(values: np.ndarray) -> float:
    """Root mean square of successive differences (needs at least 2 values)."""
    return float(np.sqrt(np.mean(np.diff(values) ** 2)))


def compute_features(peaks: np.ndarray, amplitudes_mv: np.ndarray, fs: float) -> np.ndarray:
    """The features (float32, (NUM_FEATURES,), in :data:`FEATURE_NAMES` order) of R peaks at sample
    indices ``peaks`` of a signal sampled at ``fs`` Hz with R amplitudes ``amplitudes_mv`` (one per peak).

    Peaks are sorted (with their amplitudes) and duplicates dropped; non-finite amplitudes count as 0.
    """
    peaks = np.asarray(peaks, dtype=np.int64).reshape(-1)
    amplitudes = np.asarray(amplitudes_mv, dtype=np.float64).reshape(-1)
    if len(peaks) != len(amplitudes):
        raise ValueError(f"{len(peaks)} peaks but {len(amplitudes)} amplitudes")
    peaks, first = np.unique(peaks, return_index=True)  # sorted; the first amplitude of a repeated peak
    amplitudes = np.clip(np.nan_to_num(amplitudes[first], nan=0.0, posinf=0.0, neginf=0.0),
                         -AMPLITUDE_LIMIT_MV, AMPLITUDE_LIMIT_MV)
    features = np.zeros(NUM_FEATURES, dtype=np.float64)
    if len(peaks) >= 1:
        features[_INDEX["r_amplitude_mean"]] = amplitudes.mean()
        features[_INDEX["amplitude_known"]] = 1.0
    if len(peaks) >= 2:
        rr = np.clip(np.diff(peaks) / float(fs), *RR_RANGE_SECONDS)
        heart_rate = 60.0 / rr / 100.0  # per interval, so min and max are single beats' rates
        features[_INDEX["rr_mean"]] = rr.mean()
        features[_INDEX["rr_std"]] = rr.std()
        features[_INDEX["r_amplitude_rmssd"]] = _rmssd(amplitudes)
        features[_INDEX["heart_rate_mean"]] = heart_rate.mean()
        features[_INDEX["heart_rate_min"]] = heart_rate.min()
        features[_INDEX["heart_rate_max"]] = heart_rate.max()
        features[_INDEX["rr_known"]] = 1.0
    if len(peaks) >= 3:
        features[_INDEX["rr_rmssd"]] = _rmssd(rr)
        features[_INDEX["rr_rmssd_known"]] = 1.0
    return features.astype(np.float32)


def _empty_peaks() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


def _usable(lead_mv: np.ndarray, fs: float) -> np.ndarray | None:
    """``lead_mv`` as float64 with non-finite samples filled by the lead's mean, or None when nothing can
    be detected in it (too short, no finite sample, flat)."""
    lead = np.array(lead_mv, dtype=np.float64).reshape(-1)  # a copy: filled in place below
    if not (math.isfinite(fs) and fs > 0) or len(lead) < MIN_DETECTION_SECONDS * fs:
        return None
    if fill_non_finite(lead[None, :])[0] or np.ptp(lead) == 0:
        return None
    return lead


def clean(lead_mv: np.ndarray, fs: float) -> np.ndarray:
    """A lead cleaned for R-peak detection as neurokit2's "neurokit" cleaning does it: a 5th-order Butterworth
    high-pass at 0.5 Hz, then a moving average over one 50 Hz period, both run forward and backward. The
    high-pass is :func:`ecgnet.signals.bandpass`'s, designed once per rate: ``nk.ecg_clean`` designs it on
    every call, which cost more than filtering a 10 s lead."""
    highpassed = bandpass(lead_mv, fs, HIGHPASS_HZ, 0.0, HIGHPASS_ORDER).astype(np.float64)
    width = int(fs / POWERLINE_HZ) if fs >= 2 * POWERLINE_HZ else 2
    if len(highpassed) <= 3 * width:  # too short for the moving average's padding: high-passed only
        return highpassed
    return scipy.signal.filtfilt(np.ones(width), [width], highpassed, method="pad")


def _detect(lead_mv: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """(R-peak indices, neurokit2's cleaned lead in mV); empty peaks when nothing is found."""
    lead = _usable(lead_mv, fs)
    if lead is None:
        return _empty_peaks(), np.zeros(0)
    import neurokit2 as nk  # about a second to import: only when peaks are really wanted

    try:
        # neurokit2 warns (and numpy with it) on odd signals; an empty result is the answer to those.
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            cleaned = clean(lead, fs)
            # ecg_findpeaks is what ecg_peaks runs, without the per-sample DataFrame it builds around the peaks.
            found = nk.ecg_findpeaks(cleaned, sampling_rate=fs, method="neurokit")
        peaks = np.asarray(found["ECG_R_Peaks"], dtype=np.int64).reshape(-1)
    except Exception:  # a detector failing on a strange signal means "no peaks", never a crash
        return _empty_peaks(), np.zeros(0)
    peaks = np.unique(peaks[(peaks >= 0) & (peaks < len(lead))])
    return peaks, cleaned


def find_r_peaks(lead_mv: np.ndarray, fs: float) -> np.ndarray:
    """Sorted int64 R-peak indices in one lead (mV, sampled at ``fs`` Hz), found by neurokit2 ("neurokit"
    cleaning and detection). Never raises on the signal's content: a flat, all-NaN, too short (under
    :data:`MIN_DETECTION_SECONDS`) or undetectable lead gives an empty array."""
    return _detect(lead_mv, fs)[0]


def best_detection(leads_mv: Mapping[str, np.ndarray], fs: float) -> tuple[str, np.ndarray, np.ndarray] | None:
    """(lead, peaks, cleaned lead) of the first lead of :data:`R_PEAK_LEADS` in ``leads_mv`` (lead name -> that
    lead in mV at ``fs`` Hz) with at least 2 peaks, else of the lead with the most peaks; None when no lead
    gives any peak."""
    best = None
    for lead in R_PEAK_LEADS:
        if lead not in leads_mv:
            continue
        peaks, cleaned = _detect(leads_mv[lead], fs)
        if len(peaks) >= 2:
            return lead, peaks, cleaned
        if len(peaks) and (best is None or len(peaks) > len(best[1])):
            best = (lead, peaks, cleaned)
    return best


def annotate(leads_mv: Mapping[str, np.ndarray], fs: float) -> Annotation:
    """R peaks and features of a record from its leads in mV at ``fs`` Hz (lead name -> lead; the leads a
    model may look at): peaks from lead II, or lead I when II is missing or gives fewer than 2 peaks; R
    amplitudes are the cleaned lead at the peaks. Without a usable lead or peak: empty peaks, all-zero
    features and ``peak_lead`` None."""
    found = best_detection(leads_mv, fs)
    if found is None:
        return Annotation(peaks=_empty_peaks(), features=compute_features(_empty_peaks(), np.zeros(0), 1.0),
                          peak_lead=None)
    lead, peaks, cleaned = found
    return Annotation(peaks=peaks, features=compute_features(peaks, cleaned[peaks], fs), peak_lead=lead)
