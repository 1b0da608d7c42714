"""From a digital recording to the network's input: physical units, the 12 standard lead slots, one
sampling rate, band-pass filtering, per-lead standardisation, and cutting into fixed-length windows.

Numpy and scipy only: this module sits between ``records`` and the tensor/model code and imports
neither of the latter. Every array it returns is float32 (the lead mask is bool).

Order in :func:`preprocess` is chosen for speed: only the standard leads present are converted, the
signal is resampled *before* filtering (a 500 Hz record is filtered at 250 Hz, half the samples), and
the filter runs once over the whole (leads x samples) array.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np
import scipy.signal

from ecgnet.config import SignalConfig
from ecgnet.records import (
    STANDARD_LEADS,
    Header,
    RecordError,
    canonical_lead,
    plausible_age,
    standard_rows,
)

# Largest numerator/denominator of the resampling ratio: keeps the polyphase filter (about
# 20 * max(up, down) taps) small for odd rates while still matching the usual ones exactly.
_MAX_RATIO_TERM = 1000

_MALE = frozenset({"male", "m"})
_FEMALE = frozenset({"female", "f"})


def to_physical(
    recording: np.ndarray,
    gains: Sequence[float] | np.ndarray,
    baselines: Sequence[float] | np.ndarray,
    source: str | os.PathLike = "<recording>",
    leads: Sequence[str] | None = None,
) -> np.ndarray:
    """Physical values ``(val - baseline) / gain`` of a digital recording (leads x samples), float32.

    A gain that is zero or not finite would give infinities, so it raises :class:`RecordError` naming
    ``source`` and the lead (``leads`` gives the names for the message; otherwise the row number).
    """
    recording = np.asarray(recording)
    gains = np.asarray(gains, dtype=np.float64).reshape(-1)
    baselines = np.asarray(baselines, dtype=np.float64).reshape(-1)
    if recording.ndim != 2 or len(gains) != recording.shape[0] or len(baselines) != recording.shape[0]:
        raise RecordError(
            source,
            f"recording shape {recording.shape} does not match {len(gains)} gains and {len(baselines)} baselines",
        )
    bad = ~np.isfinite(gains) | (gains == 0)
    if bad.any():
        i = int(np.argmax(bad))
        name = leads[i] if leads is not None and i < len(leads) else f"{i + 1}"
        raise RecordError(source, f"lead {name} has ADC gain {gains[i]:g}")
    # float32 is exact for 16-bit digital values; the scale is applied as one multiply per sample.
    physical = recording.astype(np.float32)
    physical -= baselines.astype(np.float32)[:, None]
    physical *= (1.0 / gains).astype(np.float32)[:, None]
    return physical


def rational_ratio(from_hz: float, to_hz: float) -> tuple[int, int]:
    """(up, down) with up/down close to to_hz/from_hz and both terms small; ValueError for a rate that is
    not positive and finite, or so small that it rounds to 0 Hz."""
    to_rate, from_rate = (Fraction(rate).limit_denominator(_MAX_RATIO_TERM)
                          if math.isfinite(rate) and rate > 0 else Fraction(0) for rate in (to_hz, from_hz))
    if to_rate == 0 or from_rate == 0:
        raise ValueError(f"cannot resample from {from_hz:g} Hz to {to_hz:g} Hz")
    ratio = to_rate / from_rate
    if ratio.numerator > _MAX_RATIO_TERM or ratio.denominator > _MAX_RATIO_TERM:
        ratio = ratio.limit_denominator(_MAX_RATIO_TERM)
    if ratio.numerator == 0:  # to_hz far below from_hz: keep at least one sample per `down`
        ratio = Fraction(1, _MAX_RATIO_TERM)
    return ratio.numerator, ratio.denominator


@lru_cache(maxsize=16)
def _resampling_fir(up: int, down: int) -> np.ndarray:
    """The anti-aliasing low-pass that ``resample_poly`` would design (Kaiser, beta 5, 20 * max(up, down)
    + 1 taps), cached because designing it costs as much as applying it to a 10 s record."""
    rate = max(up, down)
    taps = scipy.signal.firwin(20 * rate + 1, 1.0 / rate, window=("kaiser", 5.0)).astype(np.float32)
    taps.flags.writeable = False  # shared by every call through the cache
    return taps


def resample(signal: np.ndarray, from_hz: float, to_hz: float) -> np.ndarray:
    """``signal`` (..., samples) resampled along its last axis from ``from_hz`` to ``to_hz``, float32.

    Polyphase filtering with a rational approximation up/down of the ratio (257 -> 250 is 250/257,
    500 -> 250 is 1/2): cost is linear in the length, and the output has ``ceil(n * up / down)``
    samples, so the duration is kept. Equal rates return a float32 copy.
    """
    signal = np.asarray(signal, dtype=np.float32)
    up, down = rational_ratio(from_hz, to_hz)
    if up == down:
        return signal.copy()
    if signal.shape[-1] == 0:
        return np.zeros(signal.shape, dtype=np.float32)
    # 'line' padding extends each end along its trend instead of with zeros, so an ECG's DC offset does
    # not become a step (and ringing) at the edges.
    out = scipy.signal.resample_poly(signal, up, down, axis=-1, window=_resampling_fir(up, down), padtype="line")
    return np.ascontiguousarray(out, dtype=np.float32)


@dataclass(frozen=True)
class _Filter:
    """Second-order sections, their steady-state initial conditions (per unit input), and how many
    samples to pad each end with."""

    sos: np.ndarray
    zi: np.ndarray
    pad: int


@lru_cache(maxsize=64)
def _bandpass_filter(fs: float, low: float, high: float, order: int) -> _Filter | None:
    """The Butterworth filter for the band, or None when no band is left to filter.

    Cached with its initial conditions: designing both costs more than filtering a 10 s record.
    """
    nyquist = fs / 2
    high = min(high, 0.95 * nyquist)  # a cut at or above Nyquist is not a valid digital filter
    if 0 < low < high:
        sos = scipy.signal.butter(order, [low, high], btype="bandpass", fs=fs, output="sos")
    elif 0 < high:
        sos = scipy.signal.butter(order, high, btype="lowpass", fs=fs, output="sos")
    elif 0 < low < nyquist:
        sos = scipy.signal.butter(order, low, btype="highpass", fs=fs, output="sos")
    else:
        return None
    zi = scipy.signal.sosfilt_zi(sos)
    zi.flags.writeable = False  # shared by every call through the cache (sosfilt needs a writable sos)
    # scipy's default padding (3 * (2 * sections + 1) samples) is far shorter than the high-pass
    # transient; half a period of the low cut (1 s at 0.5 Hz) cuts the error over the first second of
    # a signal with a sloping baseline four- to sixfold, for some 20% more filtering work on 10 s.
    pad = 3 * (2 * len(sos) + 1)
    if 0 < low < high:
        pad = max(pad, int(round(fs / (2 * low))))
    return _Filter(sos=sos, zi=zi, pad=pad)


def _odd_extend(signal: np.ndarray, pad: int) -> np.ndarray:
    """``signal`` with ``pad`` samples added at each end by point reflection about the end samples, so
    the filter starts on a continuation of the signal rather than on a jump."""
    first, last = signal[..., :1], signal[..., -1:]
    head = 2 * first - signal[..., pad:0:-1]
    tail = 2 * last - signal[..., -2 : -pad - 2 : -1]
    return np.concatenate([head, signal, tail], axis=-1)


def _baseline_slope(signal: np.ndarray, span: int) -> np.ndarray:
    """The baseline's slope per sample at the start of ``signal`` (..., samples), (..., 1): the difference of
    the medians of its first two spans of ``span`` samples over ``span``. Medians, so that neither the waves
    nor a short artefact tilt it; 0 when the signal is shorter than two spans."""
    if span < 1 or signal.shape[-1] < 2 * span:
        return np.zeros(signal.shape[:-1] + (1,), dtype=signal.dtype)
    first = np.median(signal[..., :span], axis=-1, keepdims=True)
    second = np.median(signal[..., span : 2 * span], axis=-1, keepdims=True)
    return (second - first) / span


def _mirror_extend(signal: np.ndarray, pad: int) -> np.ndarray:
    """``signal`` with ``pad`` samples added at each end by mirror reflection about the end sample, tilted by
    the baseline's slope near that end (:func:`_baseline_slope` over spans of ``pad`` samples, or a quarter of
    the signal when it is shorter): the extension joins the signal at its end sample's value and continues its
    baseline's trend. Unlike point reflection about the end sample (:func:`_odd_extend`), it does not shift
    the whole extension by twice the end sample's distance from the baseline, which the high-pass turns into a
    dip or a bump lasting a second when a record starts on a wave or on a recorder's hold."""
    span = min(pad, signal.shape[-1] // 4)
    steps = np.arange(pad, 0, -1, dtype=signal.dtype)  # distance from the end sample, outermost first
    head = signal[..., pad:0:-1] - 2 * _baseline_slope(signal, span) * steps
    tail = signal[..., -2 : -pad - 2 : -1] + 2 * -_baseline_slope(signal[..., ::-1], span) * steps[::-1]
    return np.concatenate([head, signal, tail], axis=-1)


#: How :func:`bandpass` extends a signal's ends before filtering: point reflection about the end sample
#: ("odd", scipy's default), or mirror reflection that keeps the baseline's slope ("mirror").
PADDINGS = ("odd", "mirror")


def _filtfilt(filt: _Filter, signal: np.ndarray, pad: int, padding: str = "odd") -> np.ndarray:
    """Forward then backward filtering along the last axis (zero phase), each pass started in the
    steady state for its first sample, as ``scipy.signal.sosfiltfilt`` does, but without redesigning
    the initial conditions on every call."""
    extend = _mirror_extend if padding == "mirror" else _odd_extend
    extended = extend(signal, pad) if pad else signal
    zi = filt.zi.reshape((filt.zi.shape[0],) + (1,) * (signal.ndim - 1) + (2,))
    forward, _ = scipy.signal.sosfilt(filt.sos, extended, axis=-1, zi=zi * extended[..., :1])
    backward = forward[..., ::-1]
    result, _ = scipy.signal.sosfilt(filt.sos, backward, axis=-1, zi=zi * backward[..., :1])
    result = result[..., ::-1]
    return result[..., pad : result.shape[-1] - pad]


def bandpass(signal: np.ndarray, fs: float, low: float, high: float, order: int, padding: str = "odd") -> np.ndarray:
    """Zero-phase Butterworth band-pass of ``signal`` (..., samples) along the last axis, float32.

    The high cut is clamped to 0.95 x Nyquist (a 100 Hz record keeps a 45 Hz cut; a 50 Hz one gets
    23.75 Hz). Each end is padded with half a period of the low cut (fewer samples when the signal is
    shorter), by odd reflection about the end sample or, with ``padding="mirror"``, by mirror reflection
    that keeps the baseline's slope (:func:`_mirror_extend`: no start-up transient when the end sample is
    off the baseline; what the network's input and the ECG page use). A signal of fewer than 2 samples is
    returned unfiltered.
    """
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, not {padding!r}")
    signal = np.asarray(signal, dtype=np.float32)
    filt = _bandpass_filter(float(fs), float(low), float(high), int(order))
    n = signal.shape[-1]
    if filt is None or n < 2:
        return signal.copy()
    pad = min(filt.pad, n - 1)
    return np.ascontiguousarray(_filtfilt(filt, signal, pad, padding), dtype=np.float32)


def standardise(signal: np.ndarray) -> np.ndarray:
    """Each lead (row; the last axis is time) shifted to zero mean and scaled to unit std, float32.

    NaN and infinities become 0 first. A lead with zero variance (a constant lead, an empty slot) carries
    no information and becomes all zeros instead of a division by zero; no warnings are raised.
    """
    signal = np.nan_to_num(np.asarray(signal, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if signal.shape[-1] == 0:
        return signal.astype(np.float32, copy=True)
    # Statistics in float64: float32 sums of large leads lose precision and squares can overflow.
    mean = signal.mean(axis=-1, keepdims=True, dtype=np.float64)
    std = signal.std(axis=-1, keepdims=True, dtype=np.float64)
    flat = ~(std > 0) | ~np.isfinite(std)
    scale = np.divide(1.0, std, out=np.zeros_like(std), where=~flat)
    out = (signal - mean.astype(np.float32)) * scale.astype(np.float32)
    return out.astype(np.float32, copy=False)


@dataclass
class LeadsAtRate:
    """The standard leads a model may look at, in mV at its sampling rate (the first step of
    :func:`preprocess`): ``values`` (k, samples) float32, one row per lead, in standard slot order."""

    values: np.ndarray
    slots: list[int]  # the standard slot (index in STANDARD_LEADS) of each row
    absent: np.ndarray  # (k,) bool: the lead has no finite sample (it is zeros)
    flat: np.ndarray  # (k,) bool: the lead is constant in the recording

    def usable(self) -> dict[str, np.ndarray]:
        """Lead name -> its values, for the leads that are there and not flat (what R peaks are found in)."""
        return {STANDARD_LEADS[slot]: row for slot, row, gone, flat in
                zip(self.slots, self.values, self.absent, self.flat) if not (gone or flat)}

    def keeping(self, usable: np.ndarray) -> LeadsAtRate:
        """The same leads with those not ``usable`` ((k,) bool) made absent: zeros with mask False, exactly as
        a lead the record does not have."""
        usable = np.asarray(usable, dtype=bool)
        values = np.where(usable[:, None], self.values, np.float32(0.0)).astype(np.float32, copy=False)
        return LeadsAtRate(values, list(self.slots), self.absent | ~usable, self.flat | ~usable)


def leads_at_rate(recording: np.ndarray, header: Header, sample_rate: float, source: str | os.PathLike = "<recording>",
                  keep_leads: Sequence[str] | None = None) -> LeadsAtRate:
    """The standard leads of a digital recording (rows in the header's order) that are in ``keep_leads``
    (all when None), converted to mV and resampled to ``sample_rate``; see :func:`preprocess`."""
    recording = np.asarray(recording)
    if recording.ndim != 2 or recording.shape[0] != header.num_leads:
        problem = f"recording shape {recording.shape} does not match the header's {header.num_leads} leads"
        raise RecordError(source, problem)
    keep = frozenset(STANDARD_LEADS if keep_leads is None else (canonical_lead(x) for x in keep_leads))
    pairs = [(row, slot) for slot, row in standard_rows(header.leads).items() if STANDARD_LEADS[slot] in keep]
    if not pairs:
        wanted = "standard lead" if keep_leads is None else f"lead of {sorted(keep)}"
        raise RecordError(source, f"no {wanted} among the header's leads {list(header.leads)}")
    rows = [row for row, _ in pairs]
    names = [header.leads[row] for row in rows]
    physical = to_physical(recording[rows], header.gains[rows], header.baselines[rows], source, names)
    # Resampling and filtering spread one NaN over the whole lead, so gaps are filled first (with the
    # lead's mean, which adds no step); a lead with no finite sample at all is treated as absent.
    absent = fill_non_finite(physical)
    # Flat leads are found before filtering: afterwards float rounding leaves tiny noise that
    # standardisation would blow up to unit variance.
    flat = np.ptp(physical, axis=-1) == 0 if physical.shape[-1] else np.ones(len(rows), dtype=bool)
    values = resample(physical, header.frequency, sample_rate)
    return LeadsAtRate(values=values, slots=[slot for _, slot in pairs], absent=absent, flat=flat)


def network_input(leads: LeadsAtRate, config: SignalConfig) -> tuple[np.ndarray, np.ndarray]:
    """The second step of :func:`preprocess`: the leads band-passed and standardised in their standard slots. The
    band-pass pads the ends by mirror reflection (:func:`_mirror_extend`), so a record that starts or ends
    on a wave or a recorder's hold has no start-up transient (with point reflection, HR06003's II and III
    dipped by over 2 standard deviations for a quarter second)."""
    processed = bandpass(leads.values, config.sample_rate, config.bandpass_low, config.bandpass_high,
                         config.filter_order, padding="mirror")
    processed = standardise(processed)
    processed[leads.flat] = 0.0
    signal = np.zeros((len(STANDARD_LEADS), processed.shape[-1]), dtype=np.float32)
    mask = np.zeros(len(STANDARD_LEADS), dtype=bool)
    signal[leads.slots] = processed
    mask[leads.slots] = ~leads.absent
    return signal, mask


def preprocess(
    recording: np.ndarray,
    header: Header,
    config: SignalConfig,
    source: str | os.PathLike = "<recording>",
    keep_leads: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A digital recording (rows in the header's order) -> (signal float32 (12, S'), lead_mask bool (12,)).

    Rows are placed in the :data:`STANDARD_LEADS` slots by lead name whatever the header's order; leads
    the header lacks (or that are not in ``keep_leads``, when given: a model serves one lead set) are
    zeros with mask False, and non-standard lead names are ignored. The kept leads are converted to
    physical units, resampled to ``config.sample_rate``, band-passed and standardised. A lead that is
    constant in the recording becomes zeros but stays True in the mask: it is present, just flat.
    NaN or infinite samples are filled; a lead without any finite sample is absent (mask False).
    Raises :class:`RecordError` naming ``source`` if no wanted standard lead is present.

    The signal step alone, with no judgement of the leads: what a model reads is :func:`ecgnet.prepare.prepare`,
    which also draws in short gaps and makes a lead that holds no ECG absent (a flat one included).
    """
    return network_input(leads_at_rate(recording, header, config.sample_rate, source, keep_leads), config)


def bridge_gaps(recording: np.ndarray, max_gap: int, max_share: float) -> np.ndarray:
    """``recording`` (leads x samples) with its short gaps drawn in: each run of at most ``max_gap`` missing
    (non-finite) samples becomes the straight line between its neighbours (a run at an end repeats the nearest
    sample). A row with a longer run, or with more than ``max_share`` of its samples missing, is left as it is:
    too much is missing to draw in, and such a lead is not to be read at all. An integer recording, which
    cannot hold a missing sample, is returned unchanged; a float one as a float64 copy when anything changed.
    """
    recording = np.asarray(recording)
    if not np.issubdtype(recording.dtype, np.floating) or recording.ndim != 2:
        return recording
    missing = ~np.isfinite(recording)
    rows = np.flatnonzero(missing.any(axis=-1))
    if not len(rows):
        return recording
    bridged = recording.astype(np.float64, copy=True)
    for row in rows:
        _bridge_row(bridged[row], missing[row], max_gap, max_share)
    return bridged


def _bridge_row(values: np.ndarray, missing: np.ndarray, max_gap: int, max_share: float) -> None:
    """:func:`bridge_gaps` for one row, in place."""
    if missing.all() or missing.mean() > max_share:
        return
    starts, stops = runs(missing)
    if (stops - starts).max() > max_gap:
        return
    known = np.flatnonzero(~missing)
    gaps = np.flatnonzero(missing)
    values[gaps] = np.interp(gaps, known, values[known])


def runs(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, stops) of the runs of True in the 1-D bool array ``flags``: run k is ``flags[starts[k]:stops[k]]``."""
    edges = np.diff(np.concatenate([[0], np.asarray(flags, dtype=np.int8), [0]]))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def fill_non_finite(signal: np.ndarray) -> np.ndarray:
    """Replace NaN and infinite samples in place by their lead's mean; return which leads had no finite
    sample (those become zeros)."""
    finite = np.isfinite(signal)
    if finite.all():
        return np.zeros(len(signal), dtype=bool)
    counts = finite.sum(axis=-1)
    means = np.where(finite, signal, 0.0).sum(axis=-1) / np.maximum(counts, 1)
    np.copyto(signal, np.broadcast_to(means[:, None], signal.shape).astype(signal.dtype), where=~finite)
    return counts == 0


def random_window(signal: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """A (..., ``length``) float32 window of ``signal`` (..., samples): a random crop when longer.

    A shorter signal is zero-padded at a random offset (the signal lands anywhere in the window). This
    is augmentation: the network pools over time, so it should not learn that the ECG always starts
    at sample 0; end-padding, as :func:`sliding_windows` does at inference, is one of the cases seen.
    """
    if length < 1:
        raise ValueError(f"window length must be positive, got {length}")
    signal = np.asarray(signal)  # converted after the crop: a 30-minute record is not copied whole
    n = signal.shape[-1]
    if n >= length:
        start = int(rng.integers(0, n - length + 1))
        return signal[..., start : start + length].astype(np.float32)
    window = np.zeros(signal.shape[:-1] + (length,), dtype=np.float32)
    offset = int(rng.integers(0, length - n + 1))
    window[..., offset : offset + n] = signal
    return window


def window_starts(num_samples: int, length: int, stride: int) -> np.ndarray:
    """Start indices of :func:`sliding_windows`: every ``stride`` samples, plus one window ending at the
    last sample if the stride skipped it, so that every sample lies in some window."""
    if length < 1 or stride < 1:
        raise ValueError(f"window length and stride must be positive, got {length} and {stride}")
    if num_samples <= length:
        return np.zeros(1, dtype=np.int64)
    last = num_samples - length
    starts = np.arange(0, last + 1, stride, dtype=np.int64)
    if starts[-1] != last:
        starts = np.append(starts, last)
    return starts


def sliding_windows(signal: np.ndarray, length: int, stride: int) -> np.ndarray:
    """Windows (W, L, ``length``) float32 of ``signal`` (L, samples) that together cover every sample.

    Windows start every ``stride`` samples and the last one is aligned to the end of the signal; a
    signal no longer than ``length`` gives one window, zero-padded at the end. The windows are cut from
    a strided view, so the only copy is the output itself (time and memory linear in the length).
    """
    signal = np.asarray(signal, dtype=np.float32)
    if signal.ndim != 2:
        raise ValueError(f"expected a (leads, samples) signal, got shape {signal.shape}")
    starts = window_starts(signal.shape[-1], length, stride)
    if signal.shape[-1] <= length:
        window = np.zeros((1, signal.shape[0], length), dtype=np.float32)
        window[0, :, : signal.shape[-1]] = signal
        return window
    view = np.lib.stride_tricks.sliding_window_view(signal, length, axis=-1)  # (L, N, length), no copy
    return np.moveaxis(view, 1, 0)[starts]  # fancy indexing: the single copy, (W, L, length)


def demographics(age: float | None, sex: str | None) -> np.ndarray:
    """[age / 100 (0 if unknown), age known, is male, sex known] as float32 (4,).

    Age is unknown when missing or outside :data:`ecgnet.records.AGE_RANGE_YEARS`. Sex is male for Male/M,
    female for Female/F (any case); anything else is unknown, and then is_male is 0.
    """
    try:
        age_value = plausible_age(float(age) if age is not None else math.nan)
    except (TypeError, ValueError, OverflowError):
        age_value = math.nan
    age_known = not math.isnan(age_value)
    sex_text = (sex or "").strip().lower()
    is_male = sex_text in _MALE
    sex_known = is_male or sex_text in _FEMALE
    return np.array(
        [age_value / 100 if age_known else 0.0, float(age_known), float(is_male), float(sex_known)],
        dtype=np.float32,
    )
