"""Integrated gradients of the ensemble's class logits with respect to a record's input windows, put back on
the record's time axis, and what sums them up per lead.

Method: integrated gradients (Sundararajan et al., 2017) of the class **logit** of every network with
respect to its input windows, from a zero baseline (a flat ECG: zero is each lead's mean after
standardisation) along the straight path, by the midpoint rule with ``steps`` points, averaged over the
networks. The logit rather than the probability: the networks' heads are linear in it, and the sigmoid's
saturation would squash the attributions of confident predictions towards zero. Window attributions are
put back on the record's time axis, overlapping windows averaged.

The record's ends carry no weight by construction: the attribution is multiplied by a taper, zero at the
first and last sample and rising by a raised cosine to one over :data:`EDGE_SECONDS` (:func:`edge_taper`).
A network's convolutions start on zero padding, so its gradient is largest at the very ends of its input
whatever the ECG holds there (HR06003, untapered: 2.5 times the record's mean |attribution| in its first
0.1 s). What the taper removes is left out of the per-lead sums too (on 38 held-out records, a median 2.5 %
of the summed |attribution|, at most 7.4 %; BENCHMARKS.md, "Explanations"). With beat sampling the model's
input is groups of resampled beats, not the record's time: the attribution is then drawn over that input
(the groups concatenated), untapered, and the figure says so.

Per lead: :func:`lead_contributions`, the sum of a lead's attribution over time, is by completeness that
lead's part of the logit's change from the baseline (logit units, signed); :func:`contribution_shares`
expresses them as signed fractions of their total magnitude, what the bars and the population map show
(ranked by :func:`ecgnet.ecgplot.lead_ranks`). :func:`lead_importance` (each lead's share of
|attribution|) measures how much a lead is looked at whatever the sign, and is much the same for every
class.
"""


from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import Tensor

from . import signals
from .inference import Ensemble, ModelInput


def integrated_gradients(
    forward: Callable[[Tensor], Tensor], inputs: Tensor, baseline: Tensor, steps: int, max_rows: int = 64
) -> Tensor:
    """Integrated gradients of ``forward`` at each row of ``inputs`` (B, ...) from ``baseline``.

    ``forward`` maps a batch (N, ...) to one output per row (N,), or to several (N, K); each row's output
    must depend on that row only (a network in eval mode). The path integral is the midpoint rule with
    ``steps`` points; the (row, point) pairs are evaluated in batches of ``max_rows``. Returns the
    attributions, shaped like ``inputs`` for one output per row, (K, B, ...) for K outputs. Their sum
    over a row approximates ``forward(input) - forward(baseline)`` (completeness).

    Only the interpolated inputs require gradients, and gradients are taken with ``torch.autograd.grad``,
    so no ``.grad`` is accumulated on any parameter.
    """
    if steps < 1 or max_rows < 1:
        raise ValueError(f"steps and max_rows must be positive, got {steps} and {max_rows}")
    inputs = inputs.detach()
    baseline = torch.broadcast_to(baseline.detach().to(inputs), inputs.shape)
    delta = inputs - baseline
    alphas = (torch.arange(steps, dtype=inputs.dtype, device=inputs.device) + 0.5) / steps
    pairs = inputs.shape[0] * steps
    gradient_sum: Tensor | None = None
    single = False
    with torch.enable_grad():
        for start in range(0, pairs, max_rows):
            index = torch.arange(start, min(start + max_rows, pairs), device=inputs.device)
            row, step = index // steps, index % steps
            scale = alphas[step].view(-1, *([1] * (inputs.dim() - 1)))
            points = (baseline[row] + scale * delta[row]).requires_grad_(True)
            outputs = forward(points)
            single = outputs.dim() == 1
            outputs = outputs.reshape(len(index), -1)
            if gradient_sum is None:
                gradient_sum = inputs.new_zeros((outputs.shape[1], *inputs.shape))
            for k, gradient in enumerate(_column_gradients(outputs, points)):
                gradient_sum[k].index_add_(0, row, gradient)
    attributions = delta * gradient_sum / steps
    return attributions[0] if single else attributions


def _column_gradients(outputs: Tensor, points: Tensor) -> list[Tensor]:
    """d(sum of column k)/d points for every column of ``outputs`` (N, K), sharing one forward graph."""
    if not outputs.requires_grad:  # an output that does not depend on the input at all
        return [torch.zeros_like(points) for _ in range(outputs.shape[1])]
    gradients = []
    for k in range(outputs.shape[1]):
        (gradient,) = torch.autograd.grad(outputs[:, k].sum(), points, retain_graph=k < outputs.shape[1] - 1,
                                          allow_unused=True)
        gradients.append(torch.zeros_like(points) if gradient is None else gradient)
    return gradients


def _network_logits(network: torch.nn.Module, record: ModelInput, classes: Sequence[int],
                    dtype: torch.dtype, device: torch.device) -> Callable[[Tensor], Tensor]:
    """The logits of ``classes`` for a batch of windows of ``record`` (its mask, demographics and
    hand-made features repeated for every row)."""
    mask = torch.as_tensor(np.asarray(record.lead_mask), dtype=dtype, device=device).reshape(1, -1)
    demographics = torch.as_tensor(np.asarray(record.demographics), dtype=dtype, device=device).reshape(1, -1)
    features = getattr(record, "features", None)
    extra = None
    if features is not None:  # per record, so the same for every window
        extra = torch.as_tensor(np.asarray(features), dtype=dtype, device=device).reshape(1, -1)
    columns = torch.as_tensor(list(classes), dtype=torch.long, device=device)

    def forward(x: Tensor) -> Tensor:
        n = x.shape[0]
        if extra is None:
            logits = network(x, mask.expand(n, -1), demographics.expand(n, -1))
        else:
            logits = network(x, mask.expand(n, -1), demographics.expand(n, -1), extra.expand(n, -1))
        return logits[:, columns]

    return forward


@contextmanager
def _in_eval_mode(networks: Sequence[torch.nn.Module]):
    """Eval mode for the duration: in training mode batch norm would mix the rows of a batch (and
    update its statistics) and dropout would make the path integral random."""
    modes = [network.training for network in networks]
    try:
        for network in networks:
            network.eval()
        yield
    finally:
        for network, mode in zip(networks, modes):
            network.train(mode)


def uses_beats(ensemble: Ensemble) -> bool:
    """Whether the ensemble's input windows are groups of beats (beat sampling) rather than time windows."""
    return bool(getattr(getattr(ensemble.config, "beats", None), "enabled", False))


#: Seconds at each end of a record over which its attribution is tapered from zero (at the end sample) to its
#: full size, by a raised cosine.
EDGE_SECONDS = 0.25


def edge_taper(num_samples: int, edge_samples: int) -> np.ndarray:
    """(num_samples,) weights: 0 at the first and last sample, rising by a raised cosine over ``edge_samples``
    samples at each end to 1 (all ones when ``edge_samples`` < 1; a record shorter than two edges rises and
    falls without reaching 1)."""
    if edge_samples < 1 or num_samples < 1:
        return np.ones(max(num_samples, 0))
    distance = np.minimum(np.arange(num_samples), np.arange(num_samples)[::-1])  # samples from the nearer end
    return 0.5 - 0.5 * np.cos(np.pi * np.minimum(distance / edge_samples, 1.0))


def window_attributions(ensemble: Ensemble, record: ModelInput, classes: Sequence[int], steps: int,
                        max_rows: int | None = None) -> np.ndarray:
    """Integrated gradients of each class logit per input window, averaged over the networks: (K, W, 12, T).

    ``max_rows`` (window, step) pairs go through a network at once; by default half the ensemble's
    inference batch, at most 256: the backward pass keeps every activation of the batch in memory."""
    max_rows = max_rows or min(256, max(8, ensemble.batch_size // 2))
    windows = torch.from_numpy(np.ascontiguousarray(record.windows))
    total = None
    with _in_eval_mode(ensemble.networks):
        for network in ensemble.networks:
            parameter = next(network.parameters(), None)
            dtype = parameter.dtype if parameter is not None else torch.float32
            x = windows.to(device=ensemble.device, dtype=dtype)
            forward = _network_logits(network, record, classes, dtype, ensemble.device)
            attributions = integrated_gradients(forward, x, torch.zeros_like(x), steps, max_rows)
            attributions = attributions.double()
            total = attributions if total is None else total + attributions
    return (total / len(ensemble.networks)).cpu().numpy()


def overlap_average(per_window: np.ndarray, num_samples: int, stride: int) -> np.ndarray:
    """Window values (..., W, 12, T) on the record's time axis (..., 12, ``num_samples``): each sample gets
    the mean over the windows covering it. The windows must be those of :func:`signals.sliding_windows`
    for this length and stride (the last one end-aligned; a short record's single window end-padded)."""
    length = per_window.shape[-1]
    starts = signals.window_starts(num_samples, length, stride)
    if len(starts) != per_window.shape[-3]:
        raise ValueError(f"{per_window.shape[-3]} windows of {length} samples do not cover a record of "
                         f"{num_samples} samples with stride {stride} ({len(starts)} windows)")
    span = max(num_samples, length)
    shape = per_window.shape[:-3] + (per_window.shape[-2], span)
    total = np.zeros(shape, dtype=np.float64)
    count = np.zeros(span, dtype=np.int64)
    for w, start in enumerate(starts):
        total[..., start : start + length] += per_window[..., w, :, :]
        count[start : start + length] += 1
    return total[..., :num_samples] / count[:num_samples]


def record_attributions_many(ensemble: Ensemble, record: ModelInput, class_indices: Sequence[int], steps: int,
                             num_samples: int | None = None, edge_seconds: float = EDGE_SECONDS) -> np.ndarray:
    """Attributions (K, 12, n) of several classes at once (one forward pass per batch, a backward per class).

    Time windows are mapped back to the record's ``num_samples`` samples at the model rate (by default the
    length that ``W`` windows with no end-aligned last window span: give the true length when it is
    known) and tapered over ``edge_seconds`` at each end (:func:`edge_taper`; 0: not tapered). With beat
    sampling, n is the model's input, the W groups concatenated (W x T), untapered."""
    per_window = window_attributions(ensemble, record, class_indices, steps)
    if uses_beats(ensemble):
        k, w, leads, t = per_window.shape
        return per_window.transpose(0, 2, 1, 3).reshape(k, leads, w * t)
    config = ensemble.config.signals
    length = per_window.shape[-1]
    if num_samples is None:
        num_samples = length + (per_window.shape[1] - 1) * config.stride_samples
    mapped = overlap_average(per_window, num_samples, config.stride_samples)
    return mapped * edge_taper(num_samples, int(round(edge_seconds * config.sample_rate)))


def record_attributions(ensemble: Ensemble, record: ModelInput, class_index: int, steps: int,
                        num_samples: int | None = None, edge_seconds: float = EDGE_SECONDS) -> np.ndarray:
    """Integrated gradients (12, n) of one class's logit for one prepared record, averaged over the
    ensemble's networks and mapped back to the record's time axis (see :func:`record_attributions_many`)."""
    return record_attributions_many(ensemble, record, [class_index], steps, num_samples, edge_seconds)[0]


def lead_contributions(attributions: np.ndarray) -> np.ndarray:
    """Each lead's net contribution to the logit, in logit units: the sum of its attribution over time,
    (..., 12, n) -> (..., 12). Positive is evidence for the class. By completeness, for a record of one
    window and untapered attributions they add up to f(record) - f(baseline); the taper leaves the ends out,
    and with overlapping windows the record's attribution is the windows' mean at each sample."""
    return np.asarray(attributions, dtype=np.float64).sum(axis=-1)


def contribution_shares(contributions: np.ndarray) -> np.ndarray:
    """Lead contributions (..., 12) as signed fractions of their total magnitude: the magnitudes sum to 1
    over the leads (all zeros when every contribution is zero). +0.30: the lead carries 30 % of the
    evidence, for the class; -0.10: 10 %, against it."""
    contributions = np.asarray(contributions, dtype=np.float64)
    total = np.abs(contributions).sum(axis=-1, keepdims=True)
    return np.divide(contributions, total, out=np.zeros_like(contributions), where=total > 0)


def lead_importance(attributions: np.ndarray) -> np.ndarray:
    """Sum of |attribution| over time per lead, normalised to sum to 1 over the leads: (..., 12, n) -> (..., 12).
    All zeros when the attribution is zero everywhere. How much each lead is looked at, whatever the sign:
    on real records it is much the same for every class (leads I and II lead it);
    :func:`contribution_shares` of :func:`lead_contributions` is what differs between classes."""
    magnitude = np.abs(np.asarray(attributions, dtype=np.float64)).sum(axis=-1)
    total = magnitude.sum(axis=-1, keepdims=True)
    return np.divide(magnitude, total, out=np.zeros_like(magnitude), where=total > 0)
