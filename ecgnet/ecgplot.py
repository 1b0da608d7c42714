"""Drawing ECGs for a reader: the clinical 12-lead page on millimetre paper (25 mm/s, 10 mm/mV: a 3 x 4 grid of
2.5 s segments and a lead II rhythm strip), the attribution figure (each lead over a heat strip of its
attribution, with per-lead importance bars) and the population heat map. Figures are written atomically.
"""


from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from . import signals
from .files import atomic_path
from .records import (
    STANDARD_LEADS,
    Header,
    standard_leads,
    standard_rows,
)

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


def display_signal(recording: np.ndarray, header: Header, source: str | os.PathLike = "<recording>"
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The record in mV at its own rate for reading: (12, n) in the standard lead slots (NaN where a lead is
    missing) and which slots hold a lead. A light 0.5-40 Hz band-pass removes baseline wander and hum; its ends
    are padded by mirror reflection, so a record that starts on a wave or a recorder's hold shows no
    start-up dip."""
    rows = standard_rows(header.leads)
    recording = np.asarray(recording)
    out = np.full((len(STANDARD_LEADS), recording.shape[-1]), np.nan, dtype=np.float32)
    present = np.zeros(len(STANDARD_LEADS), dtype=bool)
    if not rows:
        return out, present
    slots, picked = list(rows), list(rows.values())
    physical = signals.to_physical(recording[picked], header.gains[picked], header.baselines[picked], source,
                                   [header.leads[r] for r in picked])
    absent = signals.fill_non_finite(physical)
    out[slots] = signals.bandpass(physical, header.frequency, *DISPLAY_BAND, order=2, padding="mirror")
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
               source: str | os.PathLike = "<recording>", measured: str = "", quality: str = "") -> Figure:
    """The clinical 12-lead plot of a record (digital ``recording``, rows in header order) as a Figure.

    One axes holds the page, x in seconds and y in mV, sized so that 1 s is 25 mm and 1 mV is 10 mm on
    the figure (its size is derived from the millimetres). ``subtitle`` is a line under the title (the
    predictions); ``measured`` (the machine-read measurements) and ``quality`` (what is wrong with which
    lead, say why a trace looks flat) go on the right of the title and subtitle lines."""
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
    right_edge = 1 - right / figure_mm[0]
    if measured:
        fig.text(right_edge, 1 - 7 / figure_mm[1], measured, fontsize=11, ha="right", va="baseline")
    if quality:
        fig.text(right_edge, 1 - 13 / figure_mm[1], quality, fontsize=10, ha="right", va="baseline", color="#b00000")
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


def heat_scale(attributions: np.ndarray, lead_mask: np.ndarray, sample_rate: float | None) -> tuple[np.ndarray, float]:
    """The heat strip's values: ``attributions`` (12, n) smoothed over :data:`HEAT_SMOOTHING_SECONDS` (when
    the axis is time) and divided by their largest magnitude over the leads in ``lead_mask``, so that 1 is
    the record's strongest evidence for the class and -1 as strong against it; and that divisor (0 when the
    attribution is zero everywhere, and the values are then left as they are)."""
    width = int(round(HEAT_SMOOTHING_SECONDS * sample_rate)) if sample_rate else 1
    heat = _smooth(np.asarray(attributions, dtype=np.float64), width)
    scale = float(np.abs(heat[lead_mask]).max()) if lead_mask.any() and heat.size else 0.0
    return (heat / scale if scale > 0 else heat), scale


def attribution_figure(signal: np.ndarray, attributions: np.ndarray, importance: np.ndarray, lead_mask: np.ndarray,
                       title: str, sample_rate: float | None = None, group_length: int | None = None,
                       contributions: np.ndarray | None = None) -> Figure:
    """One row per lead: ``signal`` (12, n) drawn over a heat strip of ``attributions`` (12, n), diverging
    colours centred at 0 and scaled so that the record's largest |attribution| is 1 (:func:`heat_scale`); on
    the right, level with the rows, the per-lead ``importance`` bars (12,): signed shares of the evidence
    (:func:`ecgnet.attribution.contribution_shares`), each with its rank, and with ``contributions`` (12,) the
    lead's net contribution in logit units.

    The x axis is in seconds when ``sample_rate`` is given; otherwise in input samples, with a line
    between consecutive input groups of ``group_length`` samples (beat sampling). All rows share one
    axes and one image: a figure of 12 separate axes costs several times as much to draw."""
    leads = len(STANDARD_LEADS)
    fig = Figure(figsize=(15.0, 9.0), dpi=FIGURE_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.05, 0.15, 0.75, 0.75))
    n = signal.shape[-1]
    end = n / sample_rate if sample_rate else float(n)
    heat, _ = heat_scale(attributions, lead_mask, sample_rate)
    norm = Normalize(vmin=-1.0, vmax=1.0)  # symmetric: white is exactly 0
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
    _importance_bars(fig.add_axes((0.83, 0.15, 0.14, 0.75)), importance, lead_mask, contributions)
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=fig.add_axes((0.05, 0.05, 0.75, 0.02)),
                       orientation="horizontal")
    bar.ax.tick_params(labelsize=7)
    smoothing = f"{HEAT_SMOOTHING_SECONDS * 1000:g} ms mean, " if sample_rate else ""
    bar.set_label(f"attribution relative to the record's largest ({smoothing}1 = strongest): red for the class, "
                  "blue against", fontsize=8)
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


def _importance_bars(ax, importance: np.ndarray, lead_mask: np.ndarray, contributions: np.ndarray | None = None
                     ) -> None:
    """Horizontal bars level with the rows of the attribution map (lead I at the top): each lead's signed share
    of the evidence in %, red for the class and blue against, labelled with the share, the lead's rank
    (1 = most for the class) and, when given, its contribution in logit units."""
    importance = np.asarray(importance, dtype=np.float64) * 100
    positions = np.arange(len(STANDARD_LEADS)) + 0.5
    colours = ["0.75" if not present else "#b2182b" if value >= 0 else "#2166ac"
               for present, value in zip(lead_mask, importance)]
    ax.barh(positions, importance, color=colours, height=0.7)
    ax.axvline(0, color="0.3", linewidth=0.6)
    ax.set_yticks(positions, STANDARD_LEADS, fontsize=8)
    ax.set_ylim(len(STANDARD_LEADS), 0)
    reach = max(float(np.abs(importance).max()), 1e-9)
    ax.set_xlim(-reach * 1.05 if (importance < 0).any() else 0.0, reach * 2.2)  # room for the labels on the right
    ranks = lead_ranks(importance, lead_mask)
    for lead, (position, value) in enumerate(zip(positions, importance)):
        if not lead_mask[lead]:
            continue
        label = f" {value:+.0f}% #{ranks[lead]}"
        if contributions is not None:
            label += f" ({contributions[lead]:+.2f})"
        ax.text(max(value, 0.0), position, label, va="center", fontsize=7)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_xlabel("% of the evidence (signed)", fontsize=7)
    title = "lead importance: share of the\nnet evidence, #rank"
    ax.set_title(title + (" (logit)" if contributions is not None else ""), fontsize=9)


def lead_ranks(values: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
    """Ranks (12,) of the leads by ``values`` (12,), largest first (1 = the lead most for the class), ties in
    lead order; leads not ``present`` get rank 0 and do not count."""
    values = np.asarray(values, dtype=np.float64)
    present = np.ones(values.shape, dtype=bool) if present is None else np.asarray(present, dtype=bool)
    order = [i for i in np.argsort(-values, kind="stable") if present[i]]
    ranks = np.zeros(values.shape, dtype=np.int64)
    ranks[order] = np.arange(1, len(order) + 1)
    return ranks


def population_figure(importance: np.ndarray, counts: np.ndarray, abbreviations: Sequence[str]) -> Figure:
    """Heat map of mean lead importance (classes x 12 leads: signed shares of the evidence, shown in %), red for
    the class and blue against, on a scale symmetric about 0; classes never predicted are grey."""
    classes = len(abbreviations)
    fig = Figure(figsize=(9.0, 1.6 + 0.3 * classes), dpi=FIGURE_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.2, 0.08, 0.68, 0.82))
    percent = np.asarray(importance, dtype=np.float64) * 100
    shown = np.ma.masked_invalid(np.where(counts[:, None] > 0, percent, np.nan))
    finite = np.abs(percent[counts > 0])
    finite = finite[np.isfinite(finite)]
    top = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    image = ax.imshow(shown, aspect="auto", cmap="RdBu_r", vmin=-top, vmax=top)
    ax.set_facecolor("0.88")
    ax.set_xticks(np.arange(len(STANDARD_LEADS)), STANDARD_LEADS, fontsize=8)
    ax.set_yticks(np.arange(classes), [f"{a} (n={c})" for a, c in zip(abbreviations, counts)], fontsize=8)
    for i, j in zip(*np.nonzero((counts[:, None] > 0) & np.isfinite(percent))):
        ax.text(j, i, f"{percent[i, j]:+.0f}", ha="center", va="center", fontsize=6,
                color="white" if abs(percent[i, j]) > 0.6 * top else "black")
    ax.set_title("mean lead importance over the records where the class is predicted:\neach lead's signed share "
                 "(%) of the net evidence for the class's logit", fontsize=10)
    bar = fig.colorbar(image, cax=fig.add_axes((0.9, 0.08, 0.02, 0.82)))
    bar.ax.tick_params(labelsize=7)
    bar.set_label("% of the evidence (red: for, blue: against)", fontsize=8)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Write ``fig`` as PNG at its own resolution, atomically, and return the path."""
    path = Path(path)
    with atomic_path(path) as temporary:
        fig.savefig(temporary, format="png", dpi=fig.dpi)
    return path
