"""R peaks and hand-made rhythm features of a record, computed once per record from the record itself.

Peaks are found with neurokit2 in one lead (II, else I: both are in every Challenge lead set) in
physical units at the record's own sampling rate, so that amplitudes are in mV and RR intervals are
not blurred by resampling. The peaks are then moved to the model's sampling rate, where
:mod:`ecgnet.beats` cuts the preprocessed signal into beats.

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
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ecgnet.records import Header, RecordError, canonical_lead, read_record
from ecgnet.signals import fill_non_finite, rational_ratio, to_physical  # rational_ratio: resample's own, for the peaks

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
MIN_DETECTION_SECONDS = 2.0  # shorter than about two beats: nothing to detect reliably
_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}


@dataclass
class Annotation:
    """What is computed once per record: R peaks at a target sampling rate and the features.

    ``peaks``: int64 sample indices at the target rate, sorted, unique, within [0, target length).
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
            cleaned = np.asarray(nk.ecg_clean(lead, sampling_rate=fs, method="neurokit"), dtype=np.float64)
            _, info = nk.ecg_peaks(cleaned, sampling_rate=fs, method="neurokit")
        peaks = np.asarray(info["ECG_R_Peaks"], dtype=np.int64).reshape(-1)
    except Exception:  # a detector failing on a strange signal means "no peaks", never a crash
        return _empty_peaks(), np.zeros(0)
    peaks = np.unique(peaks[(peaks >= 0) & (peaks < len(lead))])
    return peaks, cleaned


def find_r_peaks(lead_mv: np.ndarray, fs: float) -> np.ndarray:
    """Sorted int64 R-peak indices in one lead (mV, sampled at ``fs`` Hz), found by neurokit2 ("neurokit"
    cleaning and detection). Never raises on the signal's content: a flat, all-NaN, too short (under
    :data:`MIN_DETECTION_SECONDS`) or undetectable lead gives an empty array."""
    return _detect(lead_mv, fs)[0]


def resampled_length(num_samples: int, from_hz: float, to_hz: float) -> int:
    """The number of samples :func:`ecgnet.signals.resample` gives for ``num_samples`` samples."""
    up, down = rational_ratio(from_hz, to_hz)
    if up == down:
        return int(num_samples)
    return -(-int(num_samples) * up // down)  # ceil(n * up / down), as resample_poly


def to_target_rate(peaks: np.ndarray, from_hz: float, to_hz: float, target_length: int) -> np.ndarray:
    """Peak indices at ``from_hz`` moved to ``to_hz`` with the ratio :func:`ecgnet.signals.resample` uses
    (so they land on the same instants), clipped to [0, target_length) and deduplicated."""
    peaks = np.asarray(peaks, dtype=np.int64).reshape(-1)
    if target_length < 1 or len(peaks) == 0:
        return _empty_peaks()
    up, down = rational_ratio(from_hz, to_hz)
    moved = np.rint(peaks * (up / down)).astype(np.int64)
    return np.unique(np.clip(moved, 0, target_length - 1))


def _lead_rows(header: Header, keep_leads: Sequence[str] | None) -> list[tuple[str, int]]:
    """(lead, header row) for the leads of :data:`R_PEAK_LEADS` that the header has and that are kept,
    in order of preference; the first of repeated names wins, as in :func:`ecgnet.signals.preprocess`."""
    keep = None if keep_leads is None else {canonical_lead(lead) for lead in keep_leads}
    rows: list[tuple[str, int]] = []
    for wanted in R_PEAK_LEADS:
        if keep is not None and wanted not in keep:
            continue
        row = next((i for i, lead in enumerate(header.leads) if canonical_lead(lead) == wanted), None)
        if row is not None:
            rows.append((wanted, row))
    return rows


def _lead_mv(recording: np.ndarray, header: Header, row: int) -> np.ndarray | None:
    """One row of the recording in mV, or None when its gain makes it unusable (a zero gain is a broken
    header line, not a reason to fail here: the other lead may do)."""
    try:
        return to_physical(recording[row : row + 1], header.gains[row : row + 1], header.baselines[row : row + 1])[0]
    except RecordError:
        return None


def best_detection(
    recording: np.ndarray, header: Header, keep_leads: Sequence[str] | None
) -> tuple[str, np.ndarray, np.ndarray] | None:
    """(lead, peaks, cleaned lead) of the first preferred lead with at least 2 peaks, else of the lead
    with the most peaks; None when no lead gives any peak."""
    best = None
    for lead, row in _lead_rows(header, keep_leads):
        physical = _lead_mv(recording, header, row)
        if physical is None:
            continue
        peaks, cleaned = _detect(physical, header.frequency)
        if len(peaks) >= 2:
            return lead, peaks, cleaned
        if len(peaks) and (best is None or len(peaks) > len(best[1])):
            best = (lead, peaks, cleaned)
    return best


def annotate(
    recording: np.ndarray,
    header: Header,
    target_rate: int,
    keep_leads: Sequence[str] | None = None,
    source: str | os.PathLike = "<recording>",
) -> Annotation:
    """R peaks (at ``target_rate``) and features of a digital recording (rows in header order).

    Peaks come from lead II, or lead I when II is missing, not kept (``keep_leads``: a model serving a
    lead subset looks at those leads only) or gives fewer than 2 peaks. Detection and features use the
    native rate ``header.frequency``; R amplitudes are the cleaned lead at the peaks, in mV. The peaks
    are then moved to ``target_rate`` within the length that :func:`ecgnet.signals.resample` gives.
    Without a usable lead or peak: empty peaks, all-zero features and ``peak_lead`` None. Raises
    :class:`RecordError` naming ``source`` only when the recording's shape does not match the header.
    """
    recording = np.asarray(recording)
    if recording.ndim != 2 or recording.shape[0] != header.num_leads:
        problem = f"recording shape {recording.shape} does not match the header's {header.num_leads} leads"
        raise RecordError(source, problem)
    target_length = resampled_length(recording.shape[1], header.frequency, target_rate)
    found = best_detection(recording, header, keep_leads)
    if found is None:
        return Annotation(peaks=_empty_peaks(), features=compute_features(_empty_peaks(), np.zeros(0), 1.0),
                          peak_lead=None)
    lead, peaks, cleaned = found
    features = compute_features(peaks, cleaned[peaks], header.frequency)
    peaks = to_target_rate(peaks, header.frequency, target_rate, target_length)
    return Annotation(peaks=peaks, features=features, peak_lead=lead)


def annotate_file(header_path: str | os.PathLike, target_rate: int,
                  keep_leads: Sequence[str] | None = None) -> Annotation:
    """Read a record and :func:`annotate` it; raises :class:`RecordError` for an unreadable record."""
    record = read_record(header_path)
    return annotate(record.recording, record.header, target_rate, keep_leads, source=header_path)
