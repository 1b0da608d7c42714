"""Pictures of what the ensemble sees: the clinical 12-lead plot of a record, integrated-gradients maps of
which leads and moments drive each predicted class, and lead importance over a folder of records.

    python -m ecgnet.explain MODEL RECORD.hea --out DIR [--steps 32] [--device auto] [--classes ABBR,...]
    python -m ecgnet.explain MODEL DATA_DIR --population --out DIR [--max-records N] [--steps 32]

One record writes into DIR:

- ``ecg.png``: the clinical layout on millimetre paper at 25 mm/s and 10 mm/mV: a 3 x 4 grid of 2.5 s
  segments (I II III | aVR aVL aVF | V1 V2 V3 | V4 V5 V6) and a lead II rhythm strip over the whole
  record, wrapped at 10 s per row (first 60 s at most). Leads the record lacks are blank panels with
  their name. The title gives the record, age and sex, and the predicted classes with probabilities.
- ``attribution_<ABBR>.png`` per explained class (the predicted ones, those of ``--classes``, or the most
  probable when nothing is predicted): one row per lead, the preprocessed signal over a heat strip of
  its attribution (red: evidence for the class, blue: against), and *in the same figure*, on the right,
  the per-lead importance bars. ``|`` in an abbreviation becomes ``-`` in the file name.
- ``explanation.json``: record, leads, every class's probability and threshold, the predicted and
  explained classes, per-lead importance of each explained class, and the method.

``--population`` goes over the records of DATA_DIR (not its subfolders; the first ``--max-records`` by
name) and writes ``lead_importance.csv`` (a row per class: abbreviation, code, the number of records in
which the class was *predicted* -- predictions, not labels, so that unlabelled records count too -- and
the mean normalised importance of each of the 12 leads over those records, empty when none; a lead a
record lacks counts as 0) and ``lead_importance.png`` (the class x lead heat map). ``--classes`` limits
the classes explained there too. A record that cannot be read or explained is skipped with a one-line
message on stderr; the exit status is 1 only when no record could be explained.

Method: integrated gradients (Sundararajan et al., 2017) of the class **logit** of every network with
respect to its input windows, from a zero baseline (a flat ECG: zero is each lead's mean after
standardisation) along the straight path, by the midpoint rule with ``steps`` points, averaged over the
networks. The logit rather than the probability: the networks' heads are linear in it, and the sigmoid's
saturation would squash the attributions of confident predictions towards zero. Window attributions are
put back on the record's time axis, overlapping windows averaged. With beat sampling the model's input is
groups of resampled beats, not the record's time: the attribution is then drawn over that input (the
groups concatenated) and the figure says so. Per-lead importance is the sum of |attribution| over time,
normalised to sum to 1 over the leads.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from torch import Tensor

from . import signals
from .files import write_text_atomic
from .inference import Ensemble, PreparedRecord, decide, load_ensemble, predict_prepared, prepare_record
from .labels import default_class_table
from .records import (
    STANDARD_LEADS,
    Header,
    Record,
    RecordError,
    canonical_lead,
    find_header_files,
    read_record,
    standard_leads,
)

PROG = "python -m ecgnet.explain"

# ECG paper: the clinical conventions, and the grid that goes with them.
MM_PER_INCH = 25.4
MM_PER_SECOND = 25.0
MM_PER_MV = 10.0
SEGMENT_SECONDS = 2.5
CLINICAL_COLUMNS: tuple[tuple[str, ...], ...] = (("I", "II", "III"), ("aVR", "aVL", "aVF"),
                                                 ("V1", "V2", "V3"), ("V4", "V5", "V6"))
PAGE_SECONDS = SEGMENT_SECONDS * len(CLINICAL_COLUMNS)
ROW_MV = 3.5  # height of a row of panels: 35 mm, room for a 2 mV QRS above the baseline
BASELINE_MV = 2.0  # depth of a row's baseline below its top, on a 5 mm line
CALIBRATION_SECONDS = 0.4  # left margin holding the 1 mV x 200 ms calibration pulse
RHYTHM_SECONDS = 60.0  # longest rhythm strip drawn
DISPLAY_BAND = (0.5, 40.0)  # Hz: removes baseline wander and mains hum for reading, nothing more
PAPER_MARGINS_MM = (8.0, 8.0, 8.0, 24.0)  # left, right, bottom, top (the title)
ECG_DPI = 150  # about 6 pixels per millimetre: the 1 mm grid stays visible
FIGURE_DPI = 110
HEAT_SMOOTHING_SECONDS = 0.04  # the heat strip is shown at print resolution, not per sample

_MINOR_GRID = "#f6c9c9"
_MAJOR_GRID = "#e58f8f"


# ----------------------------------------------------------------------------------------------------------
# Integrated gradients
# ----------------------------------------------------------------------------------------------------------


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


def _network_logits(network: torch.nn.Module, record: PreparedRecord, classes: Sequence[int],
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


def window_attributions(ensemble: Ensemble, record: PreparedRecord, classes: Sequence[int], steps: int,
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


def record_attributions_many(ensemble: Ensemble, record: PreparedRecord, class_indices: Sequence[int], steps: int,
                             num_samples: int | None = None) -> np.ndarray:
    """Attributions (K, 12, n) of several classes at once (one forward pass per batch, a backward per class).

    Time windows are mapped back to the record's ``num_samples`` samples at the model rate (by default the
    length that ``W`` windows with no end-aligned last window span: give the true length when it is
    known). With beat sampling, n is the model's input, the W groups concatenated (W x T)."""
    per_window = window_attributions(ensemble, record, class_indices, steps)
    if uses_beats(ensemble):
        k, w, leads, t = per_window.shape
        return per_window.transpose(0, 2, 1, 3).reshape(k, leads, w * t)
    config = ensemble.config.signals
    length = per_window.shape[-1]
    if num_samples is None:
        num_samples = length + (per_window.shape[1] - 1) * config.stride_samples
    return overlap_average(per_window, num_samples, config.stride_samples)


def record_attributions(ensemble: Ensemble, record: PreparedRecord, class_index: int, steps: int,
                        num_samples: int | None = None) -> np.ndarray:
    """Integrated gradients (12, n) of one class's logit for one prepared record, averaged over the
    ensemble's networks and mapped back to the record's time axis (see :func:`record_attributions_many`)."""
    return record_attributions_many(ensemble, record, [class_index], steps, num_samples)[0]


def lead_importance(attributions: np.ndarray) -> np.ndarray:
    """Sum of |attribution| over time per lead, normalised to sum to 1 over the leads: (..., 12, n) -> (..., 12).
    All zeros when the attribution is zero everywhere."""
    magnitude = np.abs(np.asarray(attributions, dtype=np.float64)).sum(axis=-1)
    total = magnitude.sum(axis=-1, keepdims=True)
    return np.divide(magnitude, total, out=np.zeros_like(magnitude), where=total > 0)


# ----------------------------------------------------------------------------------------------------------
# The clinical ECG plot
# ----------------------------------------------------------------------------------------------------------


def display_signal(recording: np.ndarray, header: Header, source: str | os.PathLike = "<recording>"
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The record in mV at its own rate for reading: (12, n) in the standard lead slots (NaN where a lead is
    missing) and which slots hold a lead. A light 0.5-40 Hz band-pass removes baseline wander and hum."""
    slot_of = {lead: i for i, lead in enumerate(STANDARD_LEADS)}
    rows: dict[int, int] = {}
    for row, lead in enumerate(header.leads):
        slot = slot_of.get(canonical_lead(lead))
        if slot is not None:
            rows.setdefault(slot, row)  # the first of repeated names, as preprocessing does
    recording = np.asarray(recording)
    out = np.full((len(STANDARD_LEADS), recording.shape[-1]), np.nan, dtype=np.float32)
    present = np.zeros(len(STANDARD_LEADS), dtype=bool)
    if not rows:
        return out, present
    slots, picked = list(rows), list(rows.values())
    physical = signals.to_physical(recording[picked], header.gains[picked], header.baselines[picked], source,
                                   [header.leads[r] for r in picked])
    absent = signals.fill_non_finite(physical)
    out[slots] = signals.bandpass(physical, header.frequency, *DISPLAY_BAND, order=2)
    present[slots] = ~absent
    out[~present] = np.nan
    return out, present


def _paper_grid(ax, x_range: tuple[float, float], y_range: tuple[float, float]) -> None:
    """Millimetre paper on ``ax`` (x in s, y in mV): 1 mm lines light, 5 mm lines heavier, no tick labels."""
    (x0, x1), (y0, y1) = x_range, y_range
    minor_x, major_x = 1 / MM_PER_SECOND, 5 / MM_PER_SECOND
    minor_y, major_y = 1 / MM_PER_MV, 5 / MM_PER_MV
    # Ticks on multiples of the grid step counted from the axes' corners, which are themselves on 5 mm lines.
    ax.set_xticks(x0 + major_x * np.arange(round((x1 - x0) / major_x) + 1))
    ax.set_xticks(x0 + minor_x * np.arange(round((x1 - x0) / minor_x) + 1), minor=True)
    ax.set_yticks(y0 + major_y * np.arange(round((y1 - y0) / major_y) + 1))
    ax.set_yticks(y0 + minor_y * np.arange(round((y1 - y0) / minor_y) + 1), minor=True)
    ax.grid(which="minor", color=_MINOR_GRID, linewidth=0.3)
    ax.grid(which="major", color=_MAJOR_GRID, linewidth=0.7)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    ax.set_axisbelow(True)
    for spine in ax.spines.values():
        spine.set_color(_MAJOR_GRID)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)


def _calibration_pulse(ax, baseline: float) -> None:
    """The 1 mV, 200 ms square pulse at the start of a row, showing the scale."""
    x0 = -CALIBRATION_SECONDS + 0.1
    ax.plot([x0, x0 + 0.04, x0 + 0.04, x0 + 0.24, x0 + 0.24, x0 + 0.28],
            [baseline, baseline, baseline + 1, baseline + 1, baseline, baseline], color="black", linewidth=0.8)


def _row_baseline(row: int) -> float:
    return -(row * ROW_MV + BASELINE_MV)


def _draw_panels(ax, signal: np.ndarray, present: np.ndarray, frequency: float) -> None:
    """The 3 x 4 grid: column c shows its leads from 2.5c to 2.5(c+1) s, at their true times."""
    for column, leads in enumerate(CLINICAL_COLUMNS):
        start_s = column * SEGMENT_SECONDS
        first, last = int(round(start_s * frequency)), int(round((start_s + SEGMENT_SECONDS) * frequency))
        for row, lead in enumerate(leads):
            baseline = _row_baseline(row)
            slot = STANDARD_LEADS.index(lead)
            segment = signal[slot, first : min(last + 1, signal.shape[1])]
            if present[slot] and len(segment):
                times = (first + np.arange(len(segment))) / frequency
                ax.plot(times, baseline + segment, color="black", linewidth=0.6, label=lead)
            name = lead if present[slot] else f"{lead} (not recorded)"
            ax.text(start_s + 0.06, baseline + 1.1, name, fontsize=9, color="black" if present[slot] else "0.45")
            if column:  # the short mark where one lead gives way to the next
                ax.plot([start_s, start_s], [baseline - 0.3, baseline + 0.3], color="black", linewidth=0.8)


def _rhythm_lead(present: np.ndarray) -> int | None:
    """Lead II, or the first lead the record has in the clinical order when it lacks II."""
    order = ["II"] + [lead for column in CLINICAL_COLUMNS for lead in column if lead != "II"]
    return next((STANDARD_LEADS.index(lead) for lead in order if present[STANDARD_LEADS.index(lead)]), None)


def _draw_rhythm(ax, signal: np.ndarray, present: np.ndarray, frequency: float, rows: int) -> None:
    """The rhythm strip under the panels, wrapped at the page width."""
    slot = _rhythm_lead(present)
    for k in range(rows):
        baseline = _row_baseline(len(CLINICAL_COLUMNS[0]) + k)
        _calibration_pulse(ax, baseline)
        if slot is None:
            ax.text(0.06, baseline + 1.1, "rhythm strip: no lead recorded", fontsize=9, color="0.45")
            continue
        first = int(round(k * PAGE_SECONDS * frequency))
        strip = signal[slot, first : min(int(round((k + 1) * PAGE_SECONDS * frequency)) + 1, signal.shape[1])]
        ax.plot(np.arange(len(strip)) / frequency, baseline + strip, color="black", linewidth=0.6,
                label=f"rhythm {STANDARD_LEADS[slot]}")
        label = STANDARD_LEADS[slot] if rows == 1 else f"{STANDARD_LEADS[slot]}  {k * PAGE_SECONDS:g}-" \
                                                        f"{(k + 1) * PAGE_SECONDS:g} s"
        ax.text(0.06, baseline + 1.1, label, fontsize=9)


def _demographics_text(header: Header) -> str:
    parts = []
    if isinstance(header.age, int | float) and math.isfinite(header.age):
        parts.append(f"{header.age:g} y")
    if header.sex and header.sex.strip().lower() not in ("unknown", "nan", ""):
        parts.append(header.sex.strip())
    return ", ".join(parts) or "age and sex unknown"


def ecg_figure(recording: np.ndarray, header: Header, subtitle: str = "", rhythm_seconds: float = RHYTHM_SECONDS,
               source: str | os.PathLike = "<recording>") -> Figure:
    """The clinical 12-lead plot of a record (digital ``recording``, rows in header order) as a Figure.

    One axes holds the page, x in seconds and y in mV, sized so that 1 s is 25 mm and 1 mV is 10 mm on
    the figure (its size is derived from the millimetres). ``subtitle`` is a line under the title (the
    predictions)."""
    signal, present = display_signal(recording, header, source)
    frequency = float(header.frequency)
    duration = signal.shape[1] / frequency
    rhythm_rows = max(1, math.ceil(min(duration, rhythm_seconds) / PAGE_SECONDS - 1e-9))
    rows = len(CLINICAL_COLUMNS[0]) + rhythm_rows
    x_range = (-CALIBRATION_SECONDS, PAGE_SECONDS)
    y_range = (-rows * ROW_MV, 0.0)
    width_mm = (x_range[1] - x_range[0]) * MM_PER_SECOND
    height_mm = (y_range[1] - y_range[0]) * MM_PER_MV
    left, right, bottom, top = PAPER_MARGINS_MM
    figure_mm = (left + width_mm + right, bottom + height_mm + top)
    fig = Figure(figsize=(figure_mm[0] / MM_PER_INCH, figure_mm[1] / MM_PER_INCH), dpi=ECG_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((left / figure_mm[0], bottom / figure_mm[1], width_mm / figure_mm[0], height_mm / figure_mm[1]))
    _paper_grid(ax, x_range, y_range)
    for row in range(len(CLINICAL_COLUMNS[0])):
        _calibration_pulse(ax, _row_baseline(row))
    _draw_panels(ax, signal, present, frequency)
    _draw_rhythm(ax, signal, present, frequency, rhythm_rows)
    leads = standard_leads(header.leads)
    title = (f"{header.record_id}   {_demographics_text(header)}   {len(leads)} leads, {frequency:g} Hz, "
             f"{duration:.1f} s")
    fig.text(left / figure_mm[0], 1 - 7 / figure_mm[1], title, fontsize=12, weight="bold", va="baseline")
    if subtitle:
        fig.text(left / figure_mm[0], 1 - 13 / figure_mm[1], subtitle, fontsize=10, va="baseline")
    rhythm = _rhythm_lead(present)
    scale = (f"25 mm/s, 10 mm/mV, display filter {DISPLAY_BAND[0]:g}-{DISPLAY_BAND[1]:g} Hz; rhythm strip "
             f"{'none' if rhythm is None else STANDARD_LEADS[rhythm]}")
    fig.text(left / figure_mm[0], 1 - 19 / figure_mm[1], scale, fontsize=8, color="0.35", va="baseline")
    return fig


# ----------------------------------------------------------------------------------------------------------
# Attribution and population figures
# ----------------------------------------------------------------------------------------------------------


def _smooth(values: np.ndarray, width: int) -> np.ndarray:
    """Moving average along the last axis (same length), for display."""
    if width <= 1:
        return values
    kernel = np.ones(width) / width
    return np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="same"), -1, values)


def _bin_columns(values: np.ndarray, columns: int) -> np.ndarray:
    """Means over ``columns`` nearly equal bins of the last axis (unchanged when it is not longer)."""
    n = values.shape[-1]
    if n <= columns:
        return values
    edges = np.linspace(0, n, columns + 1).astype(int)[:-1]
    return np.add.reduceat(values, edges, axis=-1) / np.diff(np.append(edges, n))


def attribution_figure(signal: np.ndarray, attributions: np.ndarray, lead_mask: np.ndarray, title: str,
                       sample_rate: float | None = None, group_length: int | None = None) -> Figure:
    """One row per lead: ``signal`` (12, n) drawn over a heat strip of ``attributions`` (12, n), diverging
    colours centred at 0; on the right, level with the rows, the per-lead importance bars
    (:func:`lead_importance`).

    The x axis is in seconds when ``sample_rate`` is given; otherwise in input samples, with a line
    between consecutive input groups of ``group_length`` samples (beat sampling). All rows share one
    axes and one image: a figure of 12 separate axes costs several times as much to draw."""
    leads = len(STANDARD_LEADS)
    fig = Figure(figsize=(15.0, 9.0), dpi=FIGURE_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.05, 0.15, 0.75, 0.75))
    n = signal.shape[-1]
    end = n / sample_rate if sample_rate else float(n)
    width = int(round(HEAT_SMOOTHING_SECONDS * sample_rate)) if sample_rate else 1
    heat = _smooth(np.asarray(attributions, dtype=np.float64), width)
    scale = float(np.percentile(np.abs(heat[lead_mask]), 99)) if lead_mask.any() else 0.0
    norm = Normalize(vmin=-(scale or 1.0), vmax=scale or 1.0)  # symmetric: white is exactly 0
    cmap = colormaps["RdBu_r"].with_extremes(bad="0.88")  # leads the model did not get are grey
    # Binned to the axes' pixel columns and drawn without resampling filters: a filter would also blur the
    # colours of one lead into its neighbours' rows.
    shown = _bin_columns(heat, int(0.75 * 15.0 * FIGURE_DPI))
    ax.imshow(np.ma.masked_array(shown, np.broadcast_to(~lead_mask[:, None], shown.shape)), aspect="auto",
              cmap=cmap, norm=norm, extent=(0.0, end, leads, 0.0), interpolation="nearest")
    _draw_lead_rows(ax, signal, lead_mask, end)
    if group_length:
        ax.vlines(np.arange(group_length, n, group_length), 0, leads, color="0.3", linewidth=0.6, linestyle=":")
    ax.set_xlabel("time (s)" if sample_rate else "model input sample (beat groups, concatenated)", fontsize=9)
    ax.tick_params(labelsize=8)
    _importance_bars(fig.add_axes((0.83, 0.15, 0.14, 0.75)), lead_importance(attributions), lead_mask)
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=fig.add_axes((0.05, 0.05, 0.75, 0.02)),
                       orientation="horizontal")
    bar.ax.tick_params(labelsize=7)
    bar.set_label("attribution (red: towards the class, blue: against; clipped at the 99th percentile)",
                  fontsize=8)
    fig.suptitle(title, fontsize=11, x=0.05, ha="left")
    return fig


def _draw_lead_rows(ax, signal: np.ndarray, lead_mask: np.ndarray, end: float) -> None:
    """Lead i in the band [i, i + 1] of ``ax`` (y downwards), each scaled to fill its band."""
    leads = len(STANDARD_LEADS)
    x = np.linspace(0.0, end, signal.shape[-1], endpoint=False)
    for i in range(leads):
        if not lead_mask[i]:
            ax.text(0.005 * end, i + 0.5, "not used by the model", fontsize=8, color="0.4", va="center")
            continue
        # A robust range, so that one artefact does not flatten the whole lead.
        limit = max(float(np.percentile(np.abs(signal[i]), 99.9)) * 1.1, 1e-6)
        ax.plot(x, i + 0.5 - 0.45 * np.clip(signal[i], -limit, limit) / limit, color="black", linewidth=0.5)
    ax.hlines(np.arange(1, leads), 0, end, color="0.35", linewidth=0.6)
    ax.set_yticks(np.arange(leads) + 0.5, STANDARD_LEADS, fontsize=9)
    ax.tick_params(axis="y", length=0)
    ax.set_xlim(0, end)
    ax.set_ylim(leads, 0)


def _importance_bars(ax, importance: np.ndarray, lead_mask: np.ndarray) -> None:
    """Horizontal bars level with the rows of the attribution map (lead I at the top), with their values."""
    positions = np.arange(len(STANDARD_LEADS)) + 0.5
    colours = ["#b2182b" if present else "0.75" for present in lead_mask]
    ax.barh(positions, importance, color=colours, height=0.7)
    ax.set_yticks(positions, STANDARD_LEADS, fontsize=8)
    ax.set_ylim(len(STANDARD_LEADS), 0)
    ax.set_xlim(0, max(float(importance.max()) * 1.3, 1e-9))
    for position, value in zip(positions, importance):
        ax.text(value, position, f" {value:.2f}", va="center", fontsize=7)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_title("lead importance\n(share of |attribution|)", fontsize=9)


def population_figure(importance: np.ndarray, counts: np.ndarray, abbreviations: Sequence[str]) -> Figure:
    """Heat map of mean lead importance (classes x 12 leads); classes never predicted are grey."""
    classes = len(abbreviations)
    fig = Figure(figsize=(9.0, 1.4 + 0.3 * classes), dpi=FIGURE_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.2, 0.08, 0.68, 0.84))
    shown = np.ma.masked_invalid(np.where(counts[:, None] > 0, importance, np.nan))
    finite = importance[counts > 0]
    top = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    image = ax.imshow(shown, aspect="auto", cmap="YlOrRd", vmin=0, vmax=top)
    ax.set_facecolor("0.88")
    ax.set_xticks(np.arange(len(STANDARD_LEADS)), STANDARD_LEADS, fontsize=8)
    ax.set_yticks(np.arange(classes), [f"{a} (n={c})" for a, c in zip(abbreviations, counts)], fontsize=8)
    for i, j in zip(*np.nonzero((counts[:, None] > 0) & np.isfinite(importance))):
        ax.text(j, i, f"{importance[i, j]:.2f}", ha="center", va="center", fontsize=6,
                color="white" if importance[i, j] > 0.6 * top else "black")
    ax.set_title("mean lead importance over the records where the class is predicted", fontsize=10)
    bar = fig.colorbar(image, cax=fig.add_axes((0.9, 0.08, 0.02, 0.84)))
    bar.ax.tick_params(labelsize=7)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Write ``fig`` as PNG at its own resolution and return the path."""
    path = Path(path)
    fig.savefig(path, format="png", dpi=fig.dpi)
    return path


# ----------------------------------------------------------------------------------------------------------
# Records and folders
# ----------------------------------------------------------------------------------------------------------


def class_abbreviations(codes: Sequence[str]) -> list[str]:
    """The abbreviation of each class code (the code itself for a class the official table lacks)."""
    table = default_class_table()
    names = []
    for code in codes:
        index = table.index_of(code)
        names.append(table.classes[index].abbreviation if index is not None else str(code))
    return names


def file_label(abbreviation: str) -> str:
    """An abbreviation as it appears in a file name (``CLBBB|LBBB`` -> ``CLBBB-LBBB``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", abbreviation).strip("-") or "class"


def select_classes(spec: str, codes: Sequence[str]) -> list[int]:
    """Class indices from a comma-separated list of abbreviations (``LBBB`` matches ``CLBBB|LBBB``) or codes."""
    abbreviations = class_abbreviations(codes)
    chosen = []
    for token in (t.strip() for t in spec.split(",")):
        if not token:
            continue
        matches = [i for i, (a, c) in enumerate(zip(abbreviations, codes))
                   if token.lower() in {part.lower() for part in (*a.split("|"), a, c)}]
        if not matches:
            raise ValueError(f"unknown class {token!r}; the model's classes are {', '.join(abbreviations)}")
        chosen += [i for i in matches if i not in chosen]
    if not chosen:
        raise ValueError("--classes names no class")
    return chosen


@dataclass
class Explanation:
    """One record explained: its predictions and the attributions of the explained classes."""

    record_id: str
    leads: tuple[str, ...]
    probabilities: np.ndarray  # (classes,)
    thresholds: np.ndarray  # (classes,)
    predicted: list[int]
    explained: list[int]
    attributions: np.ndarray  # (K, 12, n) for the explained classes
    model_input: np.ndarray  # (12, n): the preprocessed signal, or the concatenated beat groups
    lead_mask: np.ndarray  # (12,)
    sample_rate: float | None  # None: the axis is the model's input (beat sampling)
    group_length: int | None
    steps: int
    networks: int
    windows: int  # input windows (or beat groups) of the record
    header_path: str
    record: Record

    @property
    def importance(self) -> np.ndarray:
        """(K, 12) normalised per-lead importance of the explained classes."""
        return lead_importance(self.attributions)


def _model_view(ensemble: Ensemble, record: Record, leads: Sequence[str], prepared: PreparedRecord
                ) -> tuple[np.ndarray, int | None]:
    """What the attribution is drawn over: the record's preprocessed signal at the model rate (and its
    length), or, with beat sampling, the beat groups concatenated (no record length)."""
    if uses_beats(ensemble):
        w, leads_count, t = prepared.windows.shape
        return prepared.windows.transpose(1, 0, 2).reshape(leads_count, w * t), None
    signal, _ = signals.preprocess(record.recording, record.header, ensemble.config.signals,
                                   source=record.header_path, keep_leads=leads)
    return np.where(prepared.lead_mask[:, None], signal, 0.0), signal.shape[1]


def explain_record(ensemble: Ensemble, header_path: str | os.PathLike, classes: Sequence[int] | None = None,
                   steps: int = 32, only_predicted: bool = False) -> Explanation:
    """Read, predict and explain one record. ``classes`` None: the predicted classes, or the most probable
    one when none is (with ``only_predicted``, none then; given classes are also limited to predicted ones)."""
    record = read_record(header_path)
    leads = standard_leads(record.header.leads)
    if not leads:
        raise RecordError(header_path, f"lists no standard lead ({', '.join(record.header.leads)})")
    prepared = prepare_record(record.recording, record.header, leads, ensemble.config, header_path)
    probabilities = predict_prepared(ensemble, [prepared])[0]
    thresholds = ensemble.thresholds_for(leads)
    predicted = [int(i) for i in np.flatnonzero(decide(probabilities, thresholds))]
    if only_predicted:
        explained = [i for i in (predicted if classes is None else classes) if i in predicted]
    else:
        explained = list(classes) if classes is not None else (predicted or [int(np.argmax(probabilities))])
    view, num_samples = _model_view(ensemble, record, leads, prepared)
    if explained:
        attributions = record_attributions_many(ensemble, prepared, explained, steps, num_samples)
    else:
        attributions = np.zeros((0, *view.shape))
    beats = uses_beats(ensemble)
    return Explanation(
        record_id=prepared.record_id, leads=leads, probabilities=probabilities, thresholds=thresholds,
        predicted=predicted, explained=explained, attributions=attributions, model_input=view,
        lead_mask=np.asarray(prepared.lead_mask, dtype=bool),
        sample_rate=None if beats else float(ensemble.config.signals.sample_rate),
        group_length=prepared.windows.shape[-1] if beats else None, steps=steps, networks=len(ensemble.networks),
        windows=int(prepared.windows.shape[0]), header_path=str(header_path), record=record,
    )


def _prediction_line(explanation: Explanation, abbreviations: Sequence[str], width: int = 100) -> str:
    """The predicted classes by probability, as many as fit on one line of the ECG page's title."""
    p = explanation.probabilities
    if explanation.predicted:
        ranked = sorted(explanation.predicted, key=lambda i: -p[i])
        items = [f"{abbreviations[i]} {p[i]:.2f}" for i in ranked]
        shown = 1
        while shown < len(items) and len(", ".join(items[: shown + 1])) < width:
            shown += 1
        more = f" and {len(items) - shown} more" if shown < len(items) else ""
        return "Predicted: " + ", ".join(items[:shown]) + more
    best = int(np.argmax(p))
    return f"Predicted: nothing above its threshold (most probable: {abbreviations[best]} {p[best]:.2f})"


def _attribution_title(explanation: Explanation, k: int, abbreviations: Sequence[str]) -> str:
    i = explanation.explained[k]
    status = "predicted" if i in explanation.predicted else "not predicted"
    axis = ("over the record's time axis, overlapping windows averaged" if explanation.sample_rate else
            f"over the model's input: {explanation.windows} groups of resampled beats concatenated "
            "(beat sampling), not the record's time axis")
    return (f"{explanation.record_id}: integrated gradients of the {abbreviations[i]} logit "
            f"(p = {explanation.probabilities[i]:.2f}, threshold {explanation.thresholds[i]:.2f}, {status})\n"
            f"zero baseline, {explanation.steps} steps, mean over {explanation.networks} networks; {axis}")


def explanation_json(explanation: Explanation, codes: Sequence[str], figures: dict[str, str]) -> dict:
    """What ``explanation.json`` holds."""
    abbreviations = class_abbreviations(codes)
    importance = explanation.importance
    return {
        "record_id": explanation.record_id,
        "header": explanation.header_path,
        "leads": list(explanation.leads),
        "classes": [{"code": c, "abbreviation": a, "probability": float(p), "threshold": float(t),
                     "predicted": i in explanation.predicted}
                    for i, (c, a, p, t) in enumerate(zip(codes, abbreviations, explanation.probabilities,
                                                         explanation.thresholds))],
        "probabilities": {a: float(p) for a, p in zip(abbreviations, explanation.probabilities)},
        "predicted": [abbreviations[i] for i in explanation.predicted],
        "explained": [abbreviations[i] for i in explanation.explained],
        "lead_importance": {abbreviations[i]: dict(zip(STANDARD_LEADS, map(float, importance[k])))
                            for k, i in enumerate(explanation.explained)},
        "method": {"name": "integrated gradients", "target": "logit", "baseline": "zeros",
                   "rule": "midpoint", "steps": explanation.steps, "networks": explanation.networks,
                   "axis": "record time" if explanation.sample_rate else "beat groups (model input)",
                   "sample_rate": explanation.sample_rate, "lead_importance": "sum of |attribution| per lead, "
                   "normalised to sum to 1 (bars in the attribution figures)"},
        "figures": figures,
    }


def write_explanation(ensemble: Ensemble, header_path: str | os.PathLike, out_dir: str | os.PathLike,
                      classes: Sequence[int] | None = None, steps: int = 32) -> dict:
    """Explain one record into ``out_dir`` (ecg.png, attribution_<ABBR>.png, explanation.json); return the JSON."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    explanation = explain_record(ensemble, header_path, classes, steps)
    abbreviations = class_abbreviations(ensemble.class_codes)
    record = explanation.record
    figures = {"ecg": save_figure(ecg_figure(record.recording, record.header, _prediction_line(
        explanation, abbreviations), source=header_path), out_dir / "ecg.png").name}
    for k, i in enumerate(explanation.explained):
        fig = attribution_figure(explanation.model_input, explanation.attributions[k], explanation.lead_mask,
                                 _attribution_title(explanation, k, abbreviations), explanation.sample_rate,
                                 explanation.group_length)
        figures[abbreviations[i]] = save_figure(fig, out_dir / f"attribution_{file_label(abbreviations[i])}.png").name
    document = explanation_json(explanation, ensemble.class_codes, figures)
    write_text_atomic(out_dir / "explanation.json", json.dumps(document, indent=2) + "\n")
    return document


@dataclass
class PopulationImportance:
    """Mean normalised lead importance per class over the records where the class was predicted."""

    abbreviations: list[str]
    codes: list[str]
    importance: np.ndarray  # (classes, 12), NaN where a class was never predicted
    counts: np.ndarray  # (classes,)
    records: int
    failures: list[tuple[str, str]]


def population_importance(ensemble: Ensemble, data_dir: str | os.PathLike, steps: int = 32,
                          max_records: int | None = None, classes: Sequence[int] | None = None,
                          report: Callable[[str], None] | None = None) -> PopulationImportance:
    """Explain the predicted classes of every record of ``data_dir`` (the first ``max_records``, sorted by
    path) and average the normalised lead importance per class. A record that fails is reported through
    ``report`` and skipped."""
    paths = find_header_files(data_dir)[:max_records]
    sums = np.zeros((len(ensemble.class_codes), len(STANDARD_LEADS)))
    counts = np.zeros(len(ensemble.class_codes), dtype=np.int64)
    failures, done = [], 0
    for path in paths:
        try:
            explanation = explain_record(ensemble, path, classes, steps, only_predicted=True)
        except Exception as error:  # one bad record, whatever broke in it, must not stop the run
            reason = error.problem if isinstance(error, RecordError) else f"{type(error).__name__}: {error}"
            failures.append((str(path), " ".join(reason.split())))
            if report:
                report(f"{PROG}: skipped {path}: {failures[-1][1]}")
            continue
        done += 1
        for k, i in enumerate(explanation.explained):
            sums[i] += explanation.importance[k]
            counts[i] += 1
    means = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], np.nan)
    return PopulationImportance(class_abbreviations(ensemble.class_codes), list(ensemble.class_codes), means,
                                counts, done, failures)


def population_csv(result: PopulationImportance) -> str:
    """``lead_importance.csv``: class, code, records (where predicted), then the 12 leads (empty when 0)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["class", "code", "records", *STANDARD_LEADS])
    for abbreviation, code, count, row in zip(result.abbreviations, result.codes, result.counts, result.importance):
        values = [f"{v:.6f}" for v in row] if count else [""] * len(STANDARD_LEADS)
        writer.writerow([abbreviation, code, int(count), *values])
    return buffer.getvalue()


def write_population(ensemble: Ensemble, data_dir: str | os.PathLike, out_dir: str | os.PathLike, steps: int = 32,
                     max_records: int | None = None, classes: Sequence[int] | None = None,
                     report: Callable[[str], None] | None = None) -> PopulationImportance:
    """Write ``lead_importance.csv`` and ``lead_importance.png`` for a folder of records."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = population_importance(ensemble, data_dir, steps, max_records, classes, report)
    write_text_atomic(out_dir / "lead_importance.csv", population_csv(result))
    save_figure(population_figure(result.importance, result.counts, result.abbreviations),
                out_dir / "lead_importance.png")
    return result


# ----------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Explain the ensemble's predictions with pictures: the "
                                     "clinical ECG plot, integrated-gradients attribution maps and lead importance.")
    parser.add_argument("model", metavar="MODEL", help="model folder written by train_model.py")
    parser.add_argument("target", metavar="RECORD", help="a record's .hea file, or with --population a folder")
    parser.add_argument("--out", required=True, help="folder for the figures and tables (created if needed)")
    parser.add_argument("--steps", type=int, default=32, help="integration steps (default 32)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where to run")
    parser.add_argument("--classes", help="comma-separated abbreviations or codes to explain (default: predicted)")
    parser.add_argument("--population", action="store_true", help="mean lead importance over a folder's records")
    parser.add_argument("--max-records", type=int, help="with --population: the first N records only")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; errors propagate to :func:`ecgnet.cli.run_command` for one-line reporting."""
    args = _parser().parse_args(argv)
    if args.steps < 1:
        raise ValueError(f"--steps must be at least 1, not {args.steps}")
    if args.max_records is not None and args.max_records < 1:
        raise ValueError(f"--max-records must be at least 1, not {args.max_records}")
    target = Path(args.target)
    if args.population != target.is_dir():
        raise ValueError(f"{target}: --population needs a folder of records" if args.population
                         else f"{target}: is a folder; give a record's .hea file, or add --population")
    ensemble = load_ensemble(args.model, args.device)
    classes = select_classes(args.classes, ensemble.class_codes) if args.classes else None
    if args.population:
        result = write_population(ensemble, target, args.out, args.steps, args.max_records, classes,
                                  report=lambda line: print(line, file=sys.stderr))
        print(f"explained {result.records} records ({len(result.failures)} skipped); wrote lead_importance.csv "
              f"and lead_importance.png to {args.out}")
        return 0 if result.records else 1
    document = write_explanation(ensemble, target, args.out, classes, args.steps)
    print(f"{document['record_id']}: predicted {', '.join(document['predicted']) or 'nothing'}; wrote "
          f"{', '.join(document['figures'].values())} and explanation.json to {args.out}")
    return 0


if __name__ == "__main__":
    from .cli import run_command

    run_command(main, "ecgnet.explain")
