"""Beat sampling: cutting a preprocessed signal into single beats around its R peaks, each resampled to a
fixed number of samples, and joining beats into the network's fixed-length input.

Numpy only, on the preprocessed signal (leads x samples) at the model's sampling rate; the peaks come
from :func:`ecgnet.features.annotate` at that rate. Training draws random combinations of beats
(:func:`random_beat_combination`), inference a fixed set of groups of consecutive beats
(:func:`beat_groups`); both give segments of ``beats_per_example * beat_samples`` samples.

A record without detected peaks gets pseudo-peaks every second (:func:`fallback_peaks`): the segments
are then plain 1 s slices, so the record still gives inputs of the usual size.
"""

from __future__ import annotations

import numpy as np

from ecgnet.config import BeatConfig

DEFAULT_RR_SECONDS = 0.8  # the RR interval assumed around a lone peak (75 bpm)
FALLBACK_PERIOD_SECONDS = 1.0
FALLBACK_FIRST_SECONDS = 0.5
MIN_BEAT_SAMPLES = 2  # a beat must have two samples to be interpolated


def _clean_peaks(peaks: np.ndarray, length: int) -> np.ndarray:
    """Peaks as sorted unique int64 indices within [0, length)."""
    peaks = np.asarray(peaks, dtype=np.int64).reshape(-1)
    return np.unique(peaks[(peaks >= 0) & (peaks < length)])


def beat_bounds(peaks: np.ndarray, length: int, default_rr: float) -> np.ndarray:
    """(P, 2) int64 [start, end) of the beat around each peak of a signal of ``length`` samples.

    Beat i runs from R_i minus a third of the preceding RR interval to R_i plus two thirds of the
    following one, so its P wave and T wave are inside, and consecutive beats share their boundary (they
    tile the signal between the first beat's start and the last beat's end). The first and last beats
    use the median RR interval on their open side; with a single peak, ``default_rr`` (in samples) is
    used. Bounds are clipped to [0, length]; beats shorter than 2 samples are dropped. Peaks are sorted
    and deduplicated first, and those outside the signal ignored.
    """
    peaks = _clean_peaks(peaks, length)
    if len(peaks) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    rr = np.diff(peaks)
    edge_rr = float(np.median(rr)) if len(rr) else float(default_rr)
    # One boundary between each pair of neighbours, shared by both beats: 2/3 of the way to the next peak.
    inner = peaks[:-1] + np.rint(2 * rr / 3).astype(np.int64)
    first = peaks[0] - int(round(edge_rr / 3))
    last = peaks[-1] + int(round(2 * edge_rr / 3))
    edges = np.clip(np.concatenate([[first], inner, [last]]), 0, length)
    bounds = np.stack([edges[:-1], edges[1:]], axis=1)
    return bounds[bounds[:, 1] - bounds[:, 0] >= MIN_BEAT_SAMPLES]


def fallback_peaks(length: int, sample_rate: float) -> np.ndarray:
    """Pseudo-peaks for a record without detected peaks: every 1 s, the first at 0.5 s, so that beats
    are 1 s slices; a record shorter than 0.5 s gets one pseudo-peak in its middle (none when empty)."""
    if length < 1:
        return np.zeros(0, dtype=np.int64)
    times = np.arange(FALLBACK_FIRST_SECONDS * sample_rate, length, FALLBACK_PERIOD_SECONDS * sample_rate)
    peaks = np.rint(times).astype(np.int64)
    peaks = peaks[peaks < length]
    return peaks if len(peaks) else np.array([length // 2], dtype=np.int64)


def _default_rr(sample_rate: float) -> float:
    return DEFAULT_RR_SECONDS * sample_rate


def cut_beats(
    signal: np.ndarray,
    peaks: np.ndarray,
    beat_samples: int,
    indices: np.ndarray | None = None,
    *,
    default_rr: float,
) -> np.ndarray:
    """Beats (n, leads, ``beat_samples``) float32 of ``signal`` (leads, samples), each linearly resampled
    from its :func:`beat_bounds` span (first to last sample) to ``beat_samples`` samples.

    ``indices`` selects beats (in the order given, repeats allowed) among those of :func:`beat_bounds`;
    None cuts them all. ``default_rr`` (samples) is the RR interval assumed around a lone peak.
    """
    signal = np.asarray(signal, dtype=np.float32)
    if signal.ndim != 2:
        raise ValueError(f"expected a (leads, samples) signal, got shape {signal.shape}")
    if beat_samples < 1:
        raise ValueError(f"beat_samples must be positive, got {beat_samples}")
    bounds = beat_bounds(peaks, signal.shape[-1], default_rr)
    if indices is not None:
        bounds = bounds[np.asarray(indices, dtype=np.int64)]
    return _resample_spans(signal, bounds, beat_samples)


def _resample_spans(signal: np.ndarray, bounds: np.ndarray, beat_samples: int) -> np.ndarray:
    """Spans [start, end) of ``signal`` each interpolated to ``beat_samples`` samples, in one gather."""
    if len(bounds) == 0:
        return np.zeros((0, signal.shape[0], beat_samples), dtype=np.float32)
    fraction = np.linspace(0.0, 1.0, beat_samples)
    # Fractional sample positions (n, beat_samples) running from each span's first to its last sample.
    positions = bounds[:, :1] + fraction[None, :] * (bounds[:, 1:] - 1 - bounds[:, :1])
    left = np.floor(positions).astype(np.int64)
    right = np.minimum(left + 1, signal.shape[-1] - 1)
    weight = (positions - left).astype(np.float32)
    beats = signal[:, left] * (1 - weight) + signal[:, right] * weight  # (leads, n, beat_samples)
    return np.ascontiguousarray(beats.transpose(1, 0, 2), dtype=np.float32)


def _peaks_or_fallback(peaks: np.ndarray, length: int, sample_rate: float) -> np.ndarray:
    peaks = _clean_peaks(peaks, length)
    return peaks if len(peaks) else fallback_peaks(length, sample_rate)


def _join(beats: np.ndarray, groups: int, config: BeatConfig) -> np.ndarray:
    """(groups * k, leads, B) beats -> (groups, leads, k * B): each group's beats side by side in time."""
    leads = beats.shape[1]
    k, b = config.beats_per_example, config.beat_samples
    return np.ascontiguousarray(
        beats.reshape(groups, k, leads, b).transpose(0, 2, 1, 3).reshape(groups, leads, k * b), dtype=np.float32
    )


def _choose_beats(num_beats: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` beat indices: distinct ones at random, in time order, when there are enough; otherwise the
    beats repeated cyclically (0, 1, 0, 1, ...), exactly as :func:`beat_groups` repeats them at inference."""
    if num_beats < k:
        return np.resize(np.arange(num_beats), k)
    return np.sort(rng.choice(num_beats, size=k, replace=False))


def random_beat_combination(
    signal: np.ndarray,
    peaks: np.ndarray,
    config: BeatConfig,
    sample_rate: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """The training input (leads, beats_per_example * beat_samples) float32: ``beats_per_example`` beats
    of ``signal`` drawn at random (without replacement when the record has enough), kept in time order,
    each resampled to ``beat_samples`` and joined along time. Only the chosen beats are cut.

    Empty ``peaks`` means :func:`fallback_peaks`. A signal too short for any beat (under 2 samples)
    gives zeros.
    """
    signal = np.asarray(signal, dtype=np.float32)
    k, length = config.beats_per_example, signal.shape[-1]
    peaks = _peaks_or_fallback(peaks, length, sample_rate)
    bounds = beat_bounds(peaks, length, _default_rr(sample_rate))
    if len(bounds) == 0:
        return np.zeros((signal.shape[0], k * config.beat_samples), dtype=np.float32)
    chosen = bounds[_choose_beats(len(bounds), k, rng)]
    return _join(_resample_spans(signal, chosen, config.beat_samples), 1, config)[0]


def _group_starts(num_beats: int, k: int, max_groups: int) -> np.ndarray:
    """First beat of each group of ``k`` consecutive beats (0, k, 2k, ...), at most ``max_groups`` of them
    spread evenly over the record; beats after the last whole group are not used."""
    starts = np.arange(num_beats // k, dtype=np.int64) * k
    if len(starts) > max_groups:
        starts = starts[np.rint(np.linspace(0, len(starts) - 1, max_groups)).astype(np.int64)]
    return starts


def beat_groups(signal: np.ndarray, peaks: np.ndarray, config: BeatConfig, sample_rate: float) -> np.ndarray:
    """The inference input (G, leads, beats_per_example * beat_samples) float32, deterministic: groups of
    ``beats_per_example`` consecutive beats (beats 0..k-1, k..2k-1, ...), at most
    ``config.inference_groups`` of them chosen evenly over the record. A record with fewer than k beats
    gives one group with its beats repeated cyclically (0, 1, 0, 1 ...).

    Empty ``peaks`` means :func:`fallback_peaks`. A signal too short for any beat gives one group of zeros.
    """
    signal = np.asarray(signal, dtype=np.float32)
    k, length = config.beats_per_example, signal.shape[-1]
    peaks = _peaks_or_fallback(peaks, length, sample_rate)
    bounds = beat_bounds(peaks, length, _default_rr(sample_rate))
    if len(bounds) == 0:
        return np.zeros((1, signal.shape[0], k * config.beat_samples), dtype=np.float32)
    if len(bounds) < k:
        indices = np.arange(k) % len(bounds)
    else:
        indices = (_group_starts(len(bounds), k, config.inference_groups)[:, None] + np.arange(k)).reshape(-1)
    groups = len(indices) // k
    return _join(_resample_spans(signal, bounds[indices], config.beat_samples), groups, config)
