"""The clinical ECG page (ecgnet.ecgplot): drawn to scale, missing leads shown as such."""

from __future__ import annotations

import numpy as np
import pytest

from ecgnet import ecgplot
from ecgnet.records import STANDARD_LEADS, read_record

LONG_RECORD = "A1041"  # 17 s at 500 Hz: three windows of the small recipe, the last one end-aligned


def _scale(fig):
    """(mm per second, mm per mV) of the figure's page axes, from its limits and its size in inches."""
    ax = fig.axes[0]
    box = ax.get_position()
    width_mm = box.width * fig.get_figwidth() * 25.4
    height_mm = box.height * fig.get_figheight() * 25.4
    return width_mm / np.ptp(ax.get_xlim()), height_mm / np.ptp(ax.get_ylim())


def test_ecg_page_is_drawn_at_25_mm_per_second_and_10_mm_per_mv(shared_data):
    record = read_record(shared_data / "cinc2021" / "training" / f"{LONG_RECORD}.hea")
    fig = ecgplot.ecg_figure(record.recording, record.header, "Predicted: nothing")
    assert _scale(fig) == pytest.approx((25.0, 10.0), rel=1e-9)
    ax = fig.axes[0]
    # Grid lines: heavy every 5 mm, light every 1 mm (matplotlib drops the light ones under heavy ones).
    assert np.diff(ax.get_xticks()) == pytest.approx(0.2)
    assert np.diff(np.sort(np.r_[ax.get_xticks(), ax.get_xticks(minor=True)])) == pytest.approx(0.04)
    assert np.diff(ax.get_yticks()) == pytest.approx(0.5)
    assert np.diff(np.sort(np.r_[ax.get_yticks(), ax.get_yticks(minor=True)])) == pytest.approx(0.1)
    assert np.ptp(ax.get_xlim()) == pytest.approx(10.4)  # four 2.5 s columns and the calibration pulse
    assert np.ptp(ax.get_ylim()) == pytest.approx(5 * 3.5)  # 3 rows of panels, 17 s of rhythm on 2 rows
    lines = [line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")]
    assert sorted(lines) == sorted([*STANDARD_LEADS, "rhythm II", "rhythm II"])
    # The first segment of lead I is the record's first 2.5 s in mV (display filter aside).
    first = next(line for line in ax.get_lines() if line.get_label() == "I")
    assert first.get_xdata()[0] == 0.0 and first.get_xdata()[-1] == pytest.approx(2.5)


def test_missing_leads_are_blank_panels_with_their_name(shared_data):
    record = read_record(shared_data / "cinc2021" / "reduced_leads" / "two_leads" / "E07500.hea")
    fig = ecgplot.ecg_figure(record.recording, record.header)
    ax = fig.axes[0]
    drawn = {line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")}
    assert drawn == {"I", "II", "rhythm II"}
    texts = {text.get_text() for text in ax.texts}
    assert {"V1 (not recorded)", "aVF (not recorded)", "I", "II"} <= texts


def test_the_page_carries_the_measurements_and_says_why_a_lead_looks_wrong(shared_data):
    record = read_record(shared_data / "cinc2021" / "training" / f"{LONG_RECORD}.hea")
    fig = ecgplot.ecg_figure(record.recording, record.header, "Predicted: nothing", measured="HR 57/min  QRS 87 ms",
                             quality="lead quality: II noisy")
    texts = {text.get_text() for text in fig.texts}
    assert {"HR 57/min  QRS 87 ms", "lead quality: II noisy"} <= texts


def test_the_page_shows_no_filter_dip_at_the_start(shared_data):
    # HR06003 opens with 30 ms held at +1 mV in II and III. Padded by odd reflection about that first sample, the
    # display filter drew a dip of 0.5-0.7 mV (median of 60-300 ms) in II, III and the rhythm strip.
    record = read_record(shared_data / "cinc2021" / "reduced_leads" / "twelve_leads" / "HR06003.hea")
    signal, present = ecgplot.display_signal(record.recording, record.header)
    fs = record.header.frequency
    start = slice(int(0.06 * fs), int(0.3 * fs))
    for lead in ("II", "III"):
        assert abs(np.median(signal[STANDARD_LEADS.index(lead), start])) < 0.1


def test_the_heat_scale_is_the_record_s_largest_attribution():
    attributions = np.zeros((12, 400))
    attributions[1, 100:110], attributions[6, 200:210] = 3.0, -1.5
    attributions[4, 300:310] = 50.0  # a lead the model did not get does not set the scale
    mask = np.ones(12, dtype=bool)
    mask[4] = False
    heat, scale = ecgplot.heat_scale(attributions, mask, 100.0)
    assert scale == pytest.approx(3.0) and np.abs(heat[mask]).max() == pytest.approx(1.0)
    assert heat[6].min() == pytest.approx(-0.5)
    zero, scale = ecgplot.heat_scale(np.zeros((12, 50)), mask, 100.0)
    assert scale == 0.0 and not zero.any()


def test_lead_ranks_put_the_lead_most_for_the_class_first():
    values = np.array([0.1, 0.4, -0.2, 0.0, 0.3, 0, 0, 0, 0, 0, 0, 0.05])
    present = np.ones(12, dtype=bool)
    present[4] = False
    ranks = ecgplot.lead_ranks(values, present)
    assert ranks[1] == 1 and ranks[0] == 2 and ranks[11] == 3 and ranks[2] == 11 and ranks[4] == 0
    assert sorted(ranks[present]) == list(range(1, 12))


def test_attribution_and_population_figures_show_signed_shares():
    rng = np.random.default_rng(0)
    signal, attributions = rng.standard_normal((12, 500)), rng.standard_normal((12, 500))
    mask = np.ones(12, dtype=bool)
    mask[7:] = False
    importance = np.where(mask, rng.uniform(-1, 1, 12), 0.0)
    importance /= np.abs(importance).sum()
    fig = ecgplot.attribution_figure(signal, attributions, importance, mask, "title", 100.0,
                                     contributions=importance * 3)
    bar_axes = fig.axes[1]
    labels = [text.get_text() for text in bar_axes.texts]
    assert len(labels) == 7 and any("#1 " in label for label in labels)
    assert "relative to the record's largest" in fig.axes[-1].get_xlabel()
    counts = np.array([2, 0, 1])
    table = np.vstack([importance, np.full(12, np.nan), -importance])
    population = ecgplot.population_figure(table, counts, ["A", "B", "C"])
    image = population.axes[0].images[0]
    assert image.norm.vmin == -image.norm.vmax  # white is exactly 0
