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
