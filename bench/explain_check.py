#!/usr/bin/env python
"""Do the explanations explain the ECG, not the filter? Three checks on real records (issue 24, item 1).

    python -m bench.explain_check --model MODEL [--data ../heldout_test] [--records 8] [--steps 32]
                                  [--filter-records 200] [--parts filter,edges,segments,leads]

``filter``: the start-up transient of the band-pass, with the ends padded by point reflection about the end
sample (``odd``, before) and by mirror reflection keeping the baseline's slope (``mirror``, what the ECG page
and the network's input now use), on the display signal (the record's rate, 0.5-40 Hz, order 2) and the
network's input (the model rate and band). Two measures per lead:

* *cut test*: the record's 2-8 s filtered alone against the same samples filtered within the whole record
  (where they are 2 s from any end): the largest difference in the first and last 0.5 s of the cut, over the
  lead's 99th percentile of |signal|. The true start-up error, whatever the record holds at its ends.
* *edge maximum*: max |x| in the first (last) 0.3 s over the median of the same maximum for the 0.3 s spans
  of the middle half, as the issue measured it (about 1 when the ends look like the rest; a beat in the
  span makes it larger, a start-up dip much larger).

With ``--model``: how far the network's input moves beyond the first and last 0.5, 1 and 2 s (standardised
units, per lead), and the model's held-out outputs with each padding (|change| of the probabilities,
decisions changed, Challenge metric).

``edges``: for the labelled records picked for ``segments``, the attribution per second (|attribution|
summed over the leads) of the first and last 0.5 s over the median of the middle 0.5 s spans of the same
kind (holding an R peak or not: "no larger than the middle, unless the signal has an event there"), and
how often an end is the record's heaviest 0.5 s; before (odd padding, untapered), with the mirror padding
alone, and after (mirror padding, ends tapered over 0.25 s); and the share of |attribution| the taper
leaves out.

``leads``: per label, the explained class's lead measures averaged over its records: the share of
|attribution| per lead (the bars before) and the signed share of the net evidence (the bars now), with its
top three leads.

``segments``: up to ``--records`` records per class label (STach, IAVB, RBBB, LBBB, NSR; a record counts for
the first of these labels it has), the class's attribution against the record's own beats: R peaks and the
median beat's fiducials (P onset, QRS onset and offset, T end) as :mod:`ecgnet.measurements` finds them
(its private helpers: the fiducials are not part of its public output). Per segment (P onset to QRS onset:
the PR interval; QRS; QRS offset to T end: ST-T; the rest: T end to the next P), the share of |attribution|
in it over the share of the record's time it covers: 1 means no preference, 2 twice as dense.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import time
from pathlib import Path

import numpy as np
import torch

from bench.common import REPO
from ecgnet import attribution, measurements, signals
from ecgnet.discovery import find_records
from ecgnet.ecgplot import DISPLAY_BAND
from ecgnet.explain import class_abbreviations, explain_record
from ecgnet.features import R_PEAK_LEADS, best_detection
from ecgnet.inference import load_ensemble, predict_prepared, record_input
from ecgnet.labels import default_class_table
from ecgnet.metric import challenge_metric, load_labels
from ecgnet.records import STANDARD_LEADS, read_record, standard_leads

LABELS = {"STach": ("427084000",), "IAVB": ("270492004",), "RBBB": ("59118001", "713427006"),
          "LBBB": ("164909002", "733534002"), "NSR": ("426783006",)}
SEGMENTS = ("PR", "QRS", "ST-T", "rest")
EDGE_S, CUT_S, SPAN_S = 0.5, (2.0, 8.0), 0.3


@contextlib.contextmanager
def padding_of_the_input(padding: str):
    """The network's input and the ECG page filtered with ``padding`` for the duration (``odd``: as before
    issue 24). Both call :func:`ecgnet.signals.bandpass` with ``padding="mirror"``; the mirror extension is
    swapped for the odd one."""
    mirror = signals._mirror_extend
    if padding == "odd":
        signals._mirror_extend = signals._odd_extend
    try:
        yield
    finally:
        signals._mirror_extend = mirror


def labels_of(header: Path) -> set[str]:
    for line in header.read_text().splitlines():
        if line.lstrip("#").strip().lower().startswith("dx:"):
            return {code.strip() for code in line.split(":", 1)[1].split(",")}
    return set()


# ------------------------------------------------------------------------------------------------------------
# The filter
# ------------------------------------------------------------------------------------------------------------


def _edge_maximum(x: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Per lead, max |x| of the first and of the last SPAN_S over the median of that maximum over the middle
    half's spans."""
    span = int(SPAN_S * fs)
    n = x.shape[-1]
    middle = x[:, n // 4 : 3 * n // 4]
    spans = middle[:, : (middle.shape[1] // span) * span].reshape(len(x), -1, span)
    typical = np.median(np.abs(spans).max(axis=-1), axis=-1)
    typical = np.where(typical > 0, typical, np.nan)
    return np.abs(x[:, :span]).max(-1) / typical, np.abs(x[:, -span:]).max(-1) / typical


def _edge_level(x: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Per lead, |median| of the first SPAN_S (the level a start-up dip or bump shifts; a beat in the span
    hardly moves a median), and the median of the same over the middle half's spans, for reference."""
    span = int(SPAN_S * fs)
    n = x.shape[-1]
    middle = x[:, n // 4 : 3 * n // 4]
    spans = middle[:, : (middle.shape[1] // span) * span].reshape(len(x), -1, span)
    return np.abs(np.median(x[:, :span], axis=-1)), np.median(np.abs(np.median(spans, axis=-1)), axis=-1)


def _cut_error(x: np.ndarray, fs: float, band: tuple[float, float], order: int, padding: str) -> np.ndarray:
    """Per lead, the start-up error of the filter on the record's CUT_S span filtered alone (see the module)."""
    start, stop = int(CUT_S[0] * fs), int(CUT_S[1] * fs)
    reference = signals.bandpass(x, fs, *band, order, padding="mirror")[:, start:stop]
    cut = signals.bandpass(x[:, start:stop], fs, *band, order, padding=padding)
    edge = int(EDGE_S * fs)
    error = np.maximum(np.abs(cut - reference)[:, :edge].max(-1), np.abs(cut - reference)[:, -edge:].max(-1))
    scale = np.percentile(np.abs(reference), 99, axis=-1)
    return error / np.where(scale > 0, scale, np.nan)


def _summary(values) -> str:
    values = np.asarray([v for v in np.concatenate([np.ravel(v) for v in values]) if np.isfinite(v)])
    return f"median {np.median(values):.3f}, p90 {np.percentile(values, 90):.3f}, max {values.max():.2f}"


def check_filter(paths: list[Path], ensemble, out) -> None:
    config = ensemble.config.signals if ensemble is not None else None
    rate = config.sample_rate if config else 250.0
    band = (config.bandpass_low, config.bandpass_high) if config else (0.5, 45.0)
    order = config.filter_order if config else 3
    results: dict[tuple[str, str], dict[str, list]] = {}
    moved: dict[float, list] = {0.5: [], 1.0: [], 2.0: []}
    scaled = []
    for path in paths:
        record = read_record(path)
        x = signals.to_physical(record.recording, record.header.gains, record.header.baselines, path,
                                list(record.header.leads)).astype(np.float32)
        x = x[np.ptp(x, axis=-1) > 0]
        fs = float(record.header.frequency)
        if x.shape[-1] < 10 * fs or not len(x):
            continue
        model = signals.resample(x, fs, rate)
        for view, signal, f, view_band, view_order in (("display", x, fs, DISPLAY_BAND, 2),
                                                        ("network input", model, rate, band, order)):
            for padding in ("odd", "mirror"):
                slot = results.setdefault((view, padding), {"cut": [], "first": [], "last": [], "level": [],
                                                            "middle level": []})
                filtered = signals.bandpass(signal, f, *view_band, view_order, padding=padding)
                if view == "network input":
                    filtered = signals.standardise(filtered)
                first, last = _edge_maximum(filtered, f)
                level, middle_level = _edge_level(filtered, f)
                slot["level"].append(level)
                slot["middle level"].append(middle_level)
                slot["first"].append(first)
                slot["last"].append(last)
                slot["cut"].append(_cut_error(signal, f, view_band, view_order, padding))
        before, after = (signals.bandpass(model, rate, *band, order, padding=p) for p in ("odd", "mirror"))
        scaled.append(np.abs(before.std(axis=-1) / after.std(axis=-1) - 1))
        before, after = signals.standardise(before), signals.standardise(after)
        for seconds in moved:
            edge = int(seconds * rate)
            moved[seconds].append(np.abs(before - after)[:, edge:-edge].max(-1))
    out(f"\n## Filter start-up ({len(paths)} records, all their leads)\n")
    out("| signal | padding | cut test: error in the first/last 0.5 s | |median| of the first 0.3 s "
        "(middle spans) | max |x| first 0.3 s / middle | last 0.3 s / middle |")
    out("| --- | --- | --- | --- | --- | --- |")
    for (view, padding), slot in results.items():
        level = f"{_summary(slot['level'])} ({_summary(slot['middle level'])})"
        out(f"| {view} | {padding} | {_summary(slot['cut'])} | {level} | {_summary(slot['first'])} | "
            f"{_summary(slot['last'])} |")
    out("\n(|median| in mV for the display, in standard deviations for the network input.)")
    out("\nNetwork input (standardised units), largest |odd - mirror| per lead beyond the first and last:")
    for seconds, values in moved.items():
        out(f"- {seconds:g} s: {_summary(values)}")
    out(f"- the lead's standard deviation (which scales all of it): |odd / mirror - 1| {_summary(scaled)}")


def check_outputs(paths: list[Path], ensemble, out) -> None:
    """The model's outputs with the network's input filtered each way, and their Challenge metric."""
    table = default_class_table()
    leads = STANDARD_LEADS
    outputs = {}
    started = time.perf_counter()
    for padding in ("odd", "mirror"):
        with padding_of_the_input(padding):
            inputs = []
            for path in paths:
                record = read_record(path)
                if standard_leads(record.header.leads) != tuple(leads):
                    continue
                inputs.append(record_input(record.recording, record.header, leads, ensemble.config, path))
            probabilities = np.concatenate([predict_prepared(ensemble, inputs[i : i + 32])
                                            for i in range(0, len(inputs), 32)])
        decision = ensemble.decision.for_lead_set(leads)
        outputs[padding] = (probabilities, np.stack([decision.decide(p) for p in probabilities]))
    labels = load_labels([p for p in paths if standard_leads(read_record(p).header.leads) == tuple(leads)], table)
    (p0, d0), (p1, d1) = outputs["odd"], outputs["mirror"]
    out(f"\n## The model's outputs, network input odd vs mirror padding ({len(p0)} 12-lead records, "
        f"{time.perf_counter() - started:.0f} s)\n")
    out(f"- |change| of the probabilities: mean {np.abs(p1 - p0).mean():.4f}, 99th percentile "
        f"{np.percentile(np.abs(p1 - p0), 99):.4f}, max {np.abs(p1 - p0).max():.3f}")
    out(f"- decisions changed: {int((d0 != d1).sum())} of {d0.size} (in {int((d0 != d1).any(1).sum())} records)")
    for name, decided in (("odd", d0), ("mirror", d1)):
        score = challenge_metric(labels, decided.astype(bool), table.weights, table.sinus_rhythm_index)
        out(f"- Challenge metric with {name} padding: {score:.4f}")


# ------------------------------------------------------------------------------------------------------------
# The attributions
# ------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Beats:
    peaks_s: np.ndarray  # R peaks, seconds
    fiducials_ms: dict[str, float]  # p_on, qrs_on, qrs_off, t_end: ms from R


def beats_of(path: Path) -> Beats | None:
    """The record's R peaks and its median beat's fiducials, as :func:`ecgnet.measurements.measure` finds them
    (the same steps as its ``_record``, keeping the peaks)."""
    record = read_record(path)
    fs = float(record.header.frequency)
    signal, present, usable = measurements._physical(record.recording, record.header)
    filtered = signals.bandpass(signal, fs, *measurements.BAND_HZ, measurements.FILTER_ORDER).astype(np.float64)
    filtered[~usable] = 0.0
    index = {lead: i for i, lead in enumerate(STANDARD_LEADS)}
    found = best_detection({lead: signal[index[lead]] for lead in R_PEAK_LEADS if present[index[lead]]}, fs)
    if found is None:
        return None
    peaks = measurements._align(found[1], filtered[index[found[0]]], fs)
    summary = measurements._record(record.recording, record.header)
    if summary.beats is None:
        return None
    fiducials = measurements._fiducials(summary.beats.grid, np.flatnonzero(summary.usable), summary.rr_ms)
    if fiducials is None:
        return None
    times = {"p_on": fiducials.p_on, "qrs_on": fiducials.qrs_on, "qrs_off": fiducials.qrs_off,
             "t_end": fiducials.t_end}
    return Beats(peaks / fs, times)


def segment_masks(beats: Beats, num_samples: int, rate: float) -> dict[str, np.ndarray]:
    """Boolean masks over the model-rate samples: PR (P onset to QRS onset), QRS, ST-T, and the rest."""
    times = np.arange(num_samples) / rate
    f = beats.fiducials_ms
    spans = {"PR": (f["p_on"], f["qrs_on"]), "QRS": (f["qrs_on"], f["qrs_off"]), "ST-T": (f["qrs_off"], f["t_end"])}
    masks = {}
    for name, (start, stop) in spans.items():
        mask = np.zeros(num_samples, dtype=bool)
        if math.isfinite(start) and math.isfinite(stop):
            for peak in beats.peaks_s:
                mask |= (times >= peak + start / 1000) & (times < peak + stop / 1000)
        masks[name] = mask
    masks["rest"] = ~(masks["PR"] | masks["QRS"] | masks["ST-T"])
    return masks


def _end_spans(magnitude: np.ndarray, rate: float, peaks_s: np.ndarray | None) -> tuple[float, float, bool]:
    """The record's |attribution| per sample (over the leads) in its first and last EDGE_S, each over the
    median of the middle EDGE_S spans *of the same kind* (holding an R peak, or not: an end with a beat is
    compared with the middle's beats, an end without one with the middle's spans without one); and whether
    an end span is the heaviest span of the record."""
    span = int(EDGE_S * rate)
    count = len(magnitude) // span
    starts = [k * span for k in range(count)] + [len(magnitude) - span]  # the last span ends at the record's end
    means = np.array([magnitude[s : s + span].mean() for s in starts])
    if peaks_s is None:
        beat = np.zeros(len(starts), dtype=bool)
    else:
        beat = np.array([bool(((peaks_s * rate >= s) & (peaks_s * rate < s + span)).any()) for s in starts])
    middle = np.arange(1, count - 1)

    def ratio(k: int) -> float:
        same = middle[beat[middle] == beat[k]]
        return float(means[k] / np.median(means[same])) if len(same) else math.nan

    return ratio(0), ratio(len(starts) - 1), bool(max(means[0], means[-1]) >= means[middle].max())


def pick_records(data: Path, per_class: int) -> dict[str, list[Path]]:
    picked: dict[str, list[Path]] = {name: [] for name in LABELS}
    for path in sorted(find_records(data).header_paths):
        codes = labels_of(Path(path))
        name = next((n for n, c in LABELS.items() if codes & set(c)), None)
        if name is not None and len(picked[name]) < per_class:
            picked[name].append(Path(path))
    return picked


def check_attributions(ensemble, picked: dict[str, list[Path]], steps: int, parts: set[str], out) -> None:
    abbreviations = class_abbreviations(ensemble.class_codes)
    rate = float(ensemble.config.signals.sample_rate)
    ends: dict[str, list] = {}
    removed = []
    rows = []
    for name, paths in picked.items():
        index = next(i for i, a in enumerate(abbreviations) if name in a.split("|"))
        shares, durations, probabilities = [], [], []
        for path in paths:
            beats = beats_of(path)
            peaks = None if beats is None else beats.peaks_s
            explained = explain_record(ensemble, path, [index], steps)
            mask, n = explained.lead_mask, explained.model_input.shape[1]
            magnitude = np.abs(explained.attributions[0][mask]).sum(0)
            probabilities.append(explained.probabilities[index])
            if "edges" in parts:
                inputs = record_input(explained.record.recording, explained.record.header, explained.leads,
                                      ensemble.config, path)
                untapered = attribution.record_attributions(ensemble, inputs, index, steps, n, edge_seconds=0.0)
                with padding_of_the_input("odd"):
                    inputs = record_input(explained.record.recording, explained.record.header, explained.leads,
                                          ensemble.config, path)
                    before = attribution.record_attributions(ensemble, inputs, index, steps, n, edge_seconds=0.0)
                for key, values in (("before: odd padding, untapered", before),
                                    ("mirror padding, untapered", untapered),
                                    ("after: mirror padding, tapered", explained.attributions[0])):
                    ends.setdefault(key, []).append(_end_spans(np.abs(values[mask]).sum(0), rate, peaks))
                removed.append(1 - magnitude.sum() / np.abs(untapered[mask]).sum())
            if "segments" not in parts or beats is None:
                continue
            masks = segment_masks(beats, len(magnitude), rate)
            shares.append([magnitude[masks[s]].sum() / magnitude.sum() for s in SEGMENTS])
            durations.append([masks[s].mean() for s in SEGMENTS])
        if shares:
            share, duration = np.mean(shares, 0), np.mean(durations, 0)
            rows.append((name, abbreviations[index], len(shares), float(np.median(probabilities)), share, duration))
    if "segments" in parts:
        out(f"\n## Where the attribution lies within the beats ({steps} steps)\n")
        out("Share of the class's |attribution| / share of the record's time, per segment (mean over records):\n")
        out("| label | class explained | records | median p | " + " | ".join(SEGMENTS) + " |")
        out("| --- | --- | --- | --- | " + " | ".join("---" for _ in SEGMENTS) + " |")
        for name, abbreviation, count, probability, share, duration in rows:
            cells = " | ".join(f"{s:.2f} / {d:.2f} = {s / d:.2f}" if d > 0 else "-" for s, d in zip(share, duration))
            out(f"| {name} | {abbreviation} | {count} | {probability:.2f} | {cells} |")
    if ends:
        out(f"\n## The record's ends ({len(removed)} records, each label's class, {steps} steps)\n")
        out("|attribution| per second of the first and last 0.5 s over the median of the middle 0.5 s spans of "
            "the same kind (with an R peak, or without):\n")
        out("| attribution | first 0.5 s: median (p90) | last 0.5 s: median (p90) | an end is the record's "
            "heaviest 0.5 s |")
        out("| --- | --- | --- | --- |")
        for key, values in ends.items():
            values = np.asarray(values, dtype=np.float64)
            first, last = values[:, 0][np.isfinite(values[:, 0])], values[:, 1][np.isfinite(values[:, 1])]
            out(f"| {key} | {np.median(first):.2f} ({np.percentile(first, 90):.2f}) | {np.median(last):.2f} "
                f"({np.percentile(last, 90):.2f}) | {int(values[:, 2].sum())} of {len(values)} |")
        out(f"\nShare of |attribution| the taper leaves out: median {np.median(removed):.3f}, "
            f"max {np.max(removed):.3f}")


def check_leads(ensemble, picked: dict[str, list[Path]], steps: int, out) -> None:
    """Per label, the explained class's per-lead measures averaged over its records: the share of |attribution|
    (the old bars) and the signed share of the net evidence (the new ones)."""
    abbreviations = class_abbreviations(ensemble.class_codes)
    out(f"\n## Lead importance, per label ({steps} steps; mean over the records, 12-lead records only)\n")
    out("| label | records | share of |attribution|: lowest-highest lead | signed share of the net evidence: "
        "lowest-highest | its top three leads |")
    out("| --- | --- | --- | --- | --- |")
    for name, paths in picked.items():
        index = next(i for i, a in enumerate(abbreviations) if name in a.split("|"))
        activity, importance = [], []
        for path in paths:
            explained = explain_record(ensemble, path, [index], steps)
            if not explained.lead_mask.all():
                continue
            activity.append(explained.activity[0])
            importance.append(explained.importance[0])
        if not activity:
            continue
        a, i = np.mean(activity, 0), np.mean(importance, 0)
        top = ", ".join(f"{STANDARD_LEADS[k]} {100 * i[k]:+.0f}%" for k in np.argsort(-i)[:3])
        spread = f"{100 * i.min():+.0f}% to {100 * i.max():+.0f}%"
        out(f"| {name} | {len(activity)} | {a.min():.3f}-{a.max():.3f} | {spread} | {top} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a trained model folder (needed for the outputs, edges and segments)")
    parser.add_argument("--data", type=Path, default=REPO.parent / "heldout_test", help="labelled real records")
    parser.add_argument("--records", type=int, default=8, help="records per class label")
    parser.add_argument("--filter-records", type=int, default=200, help="records for the filter checks")
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--parts", default="filter,edges,segments,leads")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    parts = set(args.parts.split(","))
    ensemble = load_ensemble(args.model, "cpu") if args.model else None
    lines: list[str] = []

    def out(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    started = time.perf_counter()
    if "filter" in parts:
        paths = [Path(p) for p in sorted(find_records(args.data).header_paths)]
        step = max(1, len(paths) // args.filter_records)
        check_filter(paths[::step][: args.filter_records], ensemble, out)
        if ensemble is not None:
            check_outputs(paths, ensemble, out)
    if ensemble is not None and parts & {"edges", "segments", "leads"}:
        picked = pick_records(args.data, args.records)
        if parts & {"edges", "segments"}:
            check_attributions(ensemble, picked, args.steps, parts, out)
        if "leads" in parts:
            check_leads(ensemble, picked, args.steps, out)
    out(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
