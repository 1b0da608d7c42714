"""Training-time augmentation of preprocessed ECGs: random, label-preserving changes that a recording
could have come with (a different electrode placement or skin contact, respiration, mains interference,
a faulty or swapped electrode, another start time), so that the network learns to ignore them.

The set follows the augmentations reported by teams of the PhysioNet/CinC Challenge 2021 (cutout,
Gaussian blur, amplitude scaling, baseline shift and wander, power-line noise, lead dropout, shuffling
and inversion, pad-and-crop). They are applied by :func:`augment` to one training example *after* its
training window and lead subset are chosen, that is, to the array the network sees: preprocessed,
standardised (unit std per lead), float32 ``(12, T)``, with the absent leads as zero rows (``lead_mask``
False). Every augmentation keeps those rows exactly zero and never changes the lead mask, so that the
lead subset stays what the model was asked to serve.

Each augmentation is a function ``name(signal, lead_mask, sample_rate, rng)`` returning a new float32
array of the same shape; :data:`AUGMENTERS` maps the names of :data:`ecgnet.config.AUGMENTATIONS` to
them. Parameters are drawn from the generator within the ranges of the module constants below; ranges in
seconds or hertz are converted with ``sample_rate``, so that a 500 Hz model is augmented alike.

Numpy only: this runs in the data-loading workers, once per example.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ecgnet.config import AUGMENTATIONS, AugmentConfig

# Cutout: the fraction of the window zeroed, as an electrode losing contact for a moment.
CUTOUT_FRACTION = (0.05, 0.20)
# Gaussian blur: the kernel's sigma in seconds (1 to 3 samples at 250 Hz). Sigma 3 samples (12 ms)
# halves the amplitude near 12 Hz and keeps P waves and T waves, which lie below 10 Hz.
BLUR_SIGMA_SECONDS = (1 / 250, 3 / 250)
# The kernel is cut at this many sigmas (the Gaussian is below 0.04% of its peak there).
BLUR_TRUNCATE = 4.0
# Amplitude scaling: a factor per lead, as a different body habitus or electrode contact would give.
AMPLITUDE_FACTOR = (0.7, 1.3)
# Baseline shift: a constant per lead, in units of the lead's std (the signal is standardised).
BASELINE_SHIFT = 0.3
# Baseline wander: respiration and body movement, 3 to 30 breaths a minute; amplitude per lead.
WANDER_HZ = (0.05, 0.5)
WANDER_AMPLITUDE = 0.3
# Power-line interference: mains frequency (Europe / North America) and amplitude, in lead stds.
POWERLINE_HZ = (50.0, 60.0)
POWERLINE_AMPLITUDE = (0.01, 0.1)
# Lead dropout: at most this many present leads are flattened (and never all of them).
DROPOUT_MAX_LEADS = 3
# Pad-and-crop: the largest time shift, as a fraction of the window.
SHIFT_FRACTION = 0.1

Augmenter = Callable[[np.ndarray, np.ndarray, int, np.random.Generator], np.ndarray]


def _prepare(signal: np.ndarray, lead_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A float32 copy of ``signal`` (the caller's array is never written to) and the indices of the
    present leads. Raises ValueError when the shapes do not fit together."""
    out = np.array(signal, dtype=np.float32, copy=True)
    mask = np.asarray(lead_mask, dtype=bool).reshape(-1)
    if out.ndim != 2 or len(mask) != out.shape[0]:
        raise ValueError(f"expected a (leads, samples) signal and one mask entry per lead, got shapes "
                         f"{out.shape} and {np.shape(lead_mask)}")
    return out, np.flatnonzero(mask)


def _finish(out: np.ndarray, present: np.ndarray) -> np.ndarray:
    """``out`` with every absent row exactly zero: added noise must not bring an absent lead to life."""
    absent = np.ones(out.shape[0], dtype=bool)
    absent[present] = False
    out[absent] = 0.0
    return out


def cutout(signal: np.ndarray, lead_mask: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Zero one random time span across all leads.

    The span is :data:`CUTOUT_FRACTION` (5% to 20%) of the window long, at least one sample, at a
    uniformly random place inside the window. An empty signal is returned as a copy.
    """
    out, present = _prepare(signal, lead_mask)
    n = out.shape[1]
    if n == 0:
        return out
    shortest = max(1, math.ceil(CUTOUT_FRACTION[0] * n))
    longest = max(shortest, math.floor(CUTOUT_FRACTION[1] * n))
    length = int(rng.integers(shortest, longest + 1))
    start = int(rng.integers(0, n - length + 1))
    out[:, start : start + length] = 0.0
    return _finish(out, present)


def _gaussian_kernel(sigma: float) -> np.ndarray:
    """A normalised (sum 1) Gaussian kernel of ``sigma`` samples, cut at :data:`BLUR_TRUNCATE` sigmas."""
    radius = max(1, int(math.ceil(BLUR_TRUNCATE * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def gaussian_blur(signal: np.ndarray, lead_mask: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth each present lead along time with a Gaussian kernel: a low-pass of random strength, as a
    recorder with a lower bandwidth would give.

    Sigma is drawn from :data:`BLUR_SIGMA_SECONDS` (1 to 3 samples at 250 Hz, 2 to 6 at 500 Hz). The
    ends are extended by odd reflection, so a lead's edges are not pulled towards zero; the kernel sums to
    one, so a lead's mean and slow waves are kept.
    """
    out, present = _prepare(signal, lead_mask)
    sigma = float(rng.uniform(*BLUR_SIGMA_SECONDS)) * sample_rate
    n = out.shape[1]
    if n < 2 or len(present) == 0:
        return _finish(out, present)
    kernel = _gaussian_kernel(sigma)
    radius = len(kernel) // 2
    # Odd reflection (point reflection about the end sample) continues a lead's slope past its ends,
    # so a wave cut by the window edge is not bent there; numpy repeats it for any pad length.
    padded = np.pad(out[present].astype(np.float64), ((0, 0), (radius, radius)), mode="reflect", reflect_type="odd")
    for row, lead in zip(padded, present):
        out[lead] = np.convolve(row, kernel, mode="valid")
    return _finish(out, present)


def amplitude_scaling(
    signal: np.ndarray, lead_mask: np.ndarray, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """Multiply each present lead by its own factor drawn from :data:`AMPLITUDE_FACTOR` (0.7 to 1.3):
    QRS amplitude varies between people and electrode contacts by this much without a diagnosis."""
    out, present = _prepare(signal, lead_mask)
    factors = rng.uniform(*AMPLITUDE_FACTOR, size=len(present)).astype(np.float32)
    out[present] *= factors[:, None]
    return _finish(out, present)


def baseline_shift(signal: np.ndarray, lead_mask: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Add a constant drawn from +-:data:`BASELINE_SHIFT` (0.3 lead std) to each present lead: an
    offset the band-pass would have removed, which the network should not rely on being zero."""
    out, present = _prepare(signal, lead_mask)
    shifts = rng.uniform(-BASELINE_SHIFT, BASELINE_SHIFT, size=len(present)).astype(np.float32)
    out[present] += shifts[:, None]
    return _finish(out, present)


def baseline_wander(
    signal: np.ndarray, lead_mask: np.ndarray, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """Add a slow sinusoid to the present leads, as respiration moves the baseline.

    One source (respiration) is seen by every lead, so the frequency, drawn from :data:`WANDER_HZ`
    (0.05 to 0.5 Hz), and the phase (uniform) are shared; each lead gets its own amplitude, drawn from
    +-:data:`WANDER_AMPLITUDE` (0.3 lead std; the sign is the lead's projection of the source).
    """
    out, present = _prepare(signal, lead_mask)
    frequency = float(rng.uniform(*WANDER_HZ))
    phase = float(rng.uniform(0.0, 2 * np.pi))
    amplitudes = rng.uniform(-WANDER_AMPLITUDE, WANDER_AMPLITUDE, size=len(present))
    t = np.arange(out.shape[1]) / sample_rate
    wave = np.sin(2 * np.pi * frequency * t + phase)
    out[present] += (amplitudes[:, None] * wave).astype(np.float32)
    return _finish(out, present)


def powerline_noise(
    signal: np.ndarray, lead_mask: np.ndarray, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """Add mains interference: a 50 or 60 Hz sinusoid (chosen at random from :data:`POWERLINE_HZ`)
    with a random phase and an amplitude drawn from :data:`POWERLINE_AMPLITUDE` (0.01 to 0.1 lead
    std), the same on every present lead (it is picked up by the whole body).

    Preprocessing low-passes at 45 Hz, but a record with strong interference keeps some of it; this
    teaches the network to ignore what is left. When the chosen frequency is at or above the Nyquist
    frequency (a sampling rate of 120 Hz or less) it cannot be represented and a copy is returned.
    """
    out, present = _prepare(signal, lead_mask)
    frequency = float(POWERLINE_HZ[int(rng.integers(len(POWERLINE_HZ)))])
    if frequency >= sample_rate / 2:
        return _finish(out, present)
    amplitude = float(rng.uniform(*POWERLINE_AMPLITUDE))
    phase = float(rng.uniform(0.0, 2 * np.pi))
    t = np.arange(out.shape[1]) / sample_rate
    out[present] += (amplitude * np.sin(2 * np.pi * frequency * t + phase)).astype(np.float32)
    return _finish(out, present)


def lead_dropout(signal: np.ndarray, lead_mask: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Flatten (zero) between one and :data:`DROPOUT_MAX_LEADS` random present leads, as a detached
    electrode would.

    The lead mask is not changed: the network sees a present but flat lead, as it does for a faulty
    electrode in a real record. At least one present lead is always kept, so with a single present
    lead a copy is returned.
    """
    out, present = _prepare(signal, lead_mask)
    most = min(DROPOUT_MAX_LEADS, len(present) - 1)
    if most < 1:
        return _finish(out, present)
    count = int(rng.integers(1, most + 1))
    dropped = rng.choice(present, size=count, replace=False)
    out[dropped] = 0.0
    return _finish(out, present)


def lead_shuffle(signal: np.ndarray, lead_mask: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Permute the signals among the present leads (swapped electrodes); absent rows stay zero.

    The permutation is uniform among those that move at least one lead (redrawn while it is the
    identity), so that the configured probability is the probability of a change even with two
    present leads. With fewer than two present leads a copy is returned.
    """
    out, present = _prepare(signal, lead_mask)
    if len(present) < 2:
        return _finish(out, present)
    order = rng.permutation(present)
    while np.array_equal(order, present):
        order = rng.permutation(present)
    out[present] = out[order]
    return _finish(out, present)


def lead_inversion(signal: np.ndarray, lead_mask: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Negate one random present lead, as swapping its two electrodes (a reversed lead) would."""
    out, present = _prepare(signal, lead_mask)
    if len(present) == 0:
        return _finish(out, present)
    lead = int(rng.choice(present))
    out[lead] = -out[lead]
    return _finish(out, present)


def pad_crop(signal: np.ndarray, lead_mask: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Shift all leads in time by a random offset of 1 to :data:`SHIFT_FRACTION` (10%) of the window,
    later or earlier with equal chance: zeros are padded on one side and as many samples are cropped
    from the other, so the length is kept. A window shorter than 10 samples is returned as a copy.
    """
    out, present = _prepare(signal, lead_mask)
    n = out.shape[1]
    most = int(SHIFT_FRACTION * n)
    if most < 1:
        return _finish(out, present)
    shift = int(rng.integers(1, most + 1)) * (1 if rng.random() < 0.5 else -1)
    shifted = np.zeros_like(out)
    if shift > 0:  # later: zeros at the start, the end cropped
        shifted[:, shift:] = out[:, :-shift]
    else:  # earlier: the start cropped, zeros at the end
        shifted[:, :shift] = out[:, -shift:]
    return _finish(shifted, present)


AUGMENTERS: dict[str, Augmenter] = {
    "cutout": cutout,
    "gaussian_blur": gaussian_blur,
    "amplitude_scaling": amplitude_scaling,
    "baseline_shift": baseline_shift,
    "baseline_wander": baseline_wander,
    "powerline_noise": powerline_noise,
    "lead_dropout": lead_dropout,
    "lead_shuffle": lead_shuffle,
    "lead_inversion": lead_inversion,
    "pad_crop": pad_crop,
}


def augment(
    signal: np.ndarray,
    lead_mask: np.ndarray,
    config: AugmentConfig,
    sample_rate: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``signal`` (leads, T) with each augmentation of ``config`` applied with its probability, float32.

    The augmentations run in the order of :data:`ecgnet.config.AUGMENTATIONS`. Whether each one runs is
    decided first, by one ``rng.random()`` per augmentation in that order, before any of them draws its
    parameters, so a seeded generator gives the same result every time. When ``config.enabled`` is
    False the input itself is returned and ``rng`` is not touched: a run without augmentation draws the
    same random numbers as before this module existed. Otherwise the result is a new array.
    """
    if not config.enabled:
        return signal
    draws = rng.random(len(AUGMENTATIONS))
    out = np.array(signal, dtype=np.float32, copy=True)
    for name, draw in zip(AUGMENTATIONS, draws):
        if draw < getattr(config, name):
            out = AUGMENTERS[name](out, lead_mask, sample_rate, rng)
    return out
