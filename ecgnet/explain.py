"""Pictures of what the ensemble sees: the clinical 12-lead plot of a record, integrated-gradients maps of
which leads and moments drive each predicted class, and lead importance over a folder of records.

    ecgnet explain MODEL RECORD.hea --out DIR [--steps 32] [--device auto] [--classes ABBR,...]
    ecgnet explain MODEL DATA_DIR --population --out DIR [--max-records N] [--steps 32]

One record writes into DIR:

- ``ecg.png``: the clinical layout on millimetre paper at 25 mm/s and 10 mm/mV: a 3 x 4 grid of 2.5 s
  segments (I II III | aVR aVL aVF | V1 V2 V3 | V4 V5 V6) and a lead II rhythm strip over the whole
  record, wrapped at 10 s per row (first 60 s at most). Leads the record lacks are blank panels with
  their name. The title gives the record, age and sex, and the predicted classes with probabilities.
- ``attribution_<ABBR>.png`` per explained class (the predicted ones, those of ``--classes``, or the most
  probable when nothing is predicted): one row per lead, the preprocessed signal over a heat strip of
  its attribution (red: evidence for the class, blue: against; 1 = the largest in the record), and *in
  the same figure*, on the right, the per-lead importance bars: each lead's signed share of the evidence
  with its rank. ``|`` in an abbreviation becomes ``-`` in the file name.
- ``explanation.json``: record, leads, every class's probability and threshold, the predicted and
  explained classes, and per explained class each lead's importance (signed share), net contribution
  (logit units), rank, and share of |attribution|; and the method.

Lead importance is a lead's net contribution to the class logit (the sum of its attribution over time:
by completeness its part of the logit's change from the baseline), as a signed share of the leads' total
(:func:`ecgnet.attribution.contribution_shares`: the magnitudes sum to 1). Each lead's share of the summed
|attribution| is in the JSON too: it tells how much a lead is looked at, not for which class, and on real
records it is much the same for every class.

``--population`` goes over the records of DATA_DIR and its subfolders (the first ``--max-records`` by
path) and writes ``lead_importance.csv`` (a row per class: abbreviation, code, the number of records in
which the class was *predicted* -- predictions, not labels, so that unlabelled records count too -- and
the mean lead importance (signed share) of each of the 12 leads over those records, empty when none; a
lead a record lacks counts as 0) and ``lead_importance.png`` (the class x lead heat map, red for, blue
against). ``--classes`` limits the classes explained there too. A record that cannot be read or
explained is skipped with a one-line message on stderr; the exit status is 1 only when no record could
be explained.

Method: integrated gradients of each class logit from a flat baseline, tapered to zero over the record's
first and last quarter second, so the ends get no weight by construction (:mod:`ecgnet.attribution`); the
figures are drawn by :mod:`ecgnet.ecgplot`. The command is :mod:`ecgnet.commands.explain`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .attribution import (
    EDGE_SECONDS,
    contribution_shares,
    lead_contributions,
    lead_importance,
    record_attributions_many,
    uses_beats,
)
from .discovery import find_records
from .ecgplot import attribution_figure, ecg_figure, lead_ranks, population_figure, save_figure
from .files import write_text_atomic
from .inference import Ensemble, ModelInput, model_input, predict_prepared
from .labels import default_class_table
from .measurements import summary_line
from .prepare import PreparedRecord, PrepareOptions, prepare
from .quality import GOOD
from .records import (
    STANDARD_LEADS,
    Record,
    RecordError,
    read_record,
    standard_leads,
)

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
    measurements: np.ndarray | None = None  # the record's measurements (with a feature model)
    quality: tuple[str, ...] | None = None  # a verdict per standard lead (ecgnet.quality)

    @property
    def contributions(self) -> np.ndarray:
        """(K, 12) each lead's net contribution to the explained classes' logits (logit units)."""
        return lead_contributions(self.attributions)

    @property
    def importance(self) -> np.ndarray:
        """(K, 12) lead importance of the explained classes: signed shares of the net contributions."""
        return contribution_shares(self.contributions)

    @property
    def activity(self) -> np.ndarray:
        """(K, 12) each lead's share of |attribution| (how much it is looked at, whatever the sign)."""
        return lead_importance(self.attributions)


def _model_view(ensemble: Ensemble, prepared: PreparedRecord, inputs: ModelInput) -> tuple[np.ndarray, int | None]:
    """What the attribution is drawn over: the record's prepared signal at the model rate with the leads used
    (and its length), or, with beat sampling, the beat groups concatenated (no record length)."""
    if uses_beats(ensemble):
        w, leads_count, t = inputs.windows.shape
        return inputs.windows.transpose(1, 0, 2).reshape(leads_count, w * t), None
    return np.where(inputs.lead_mask[:, None], prepared.signal, 0.0), prepared.signal.shape[1]


def explain_record(ensemble: Ensemble, header_path: str | os.PathLike, classes: Sequence[int] | None = None,
                   steps: int = 32, only_predicted: bool = False) -> Explanation:
    """Read, predict and explain one record. ``classes`` None: the predicted classes, or the most probable
    one when none is (with ``only_predicted``, none then; given classes are also limited to predicted ones)."""
    record = read_record(header_path)
    leads = standard_leads(record.header.leads)
    if not leads:
        raise RecordError(header_path, f"lists no standard lead ({', '.join(record.header.leads)})")
    options = dataclasses.replace(PrepareOptions.of(ensemble.config), quality=True)
    prepared = prepare(record.recording, record.header, options, leads, header_path)
    inputs = model_input(prepared, leads, ensemble.config, record.record_id)
    probabilities = predict_prepared(ensemble, [inputs])[0]
    decision = ensemble.decision.for_lead_set(leads)
    predicted = [int(i) for i in np.flatnonzero(decision.decide(probabilities))]
    if only_predicted:
        explained = [i for i in (predicted if classes is None else classes) if i in predicted]
    else:
        explained = list(classes) if classes is not None else (predicted or [int(np.argmax(probabilities))])
    view, num_samples = _model_view(ensemble, prepared, inputs)
    if explained:
        attributions = record_attributions_many(ensemble, inputs, explained, steps, num_samples)
    else:
        attributions = np.zeros((0, *view.shape))
    beats = uses_beats(ensemble)
    return Explanation(
        record_id=inputs.record_id, leads=leads, probabilities=probabilities, thresholds=decision.thresholds,
        predicted=predicted, explained=explained, attributions=attributions, model_input=view,
        lead_mask=np.asarray(inputs.lead_mask, dtype=bool),
        sample_rate=None if beats else float(ensemble.config.signals.sample_rate),
        group_length=inputs.windows.shape[-1] if beats else None, steps=steps, networks=len(ensemble.networks),
        windows=int(inputs.windows.shape[0]), header_path=str(header_path), record=record,
        measurements=inputs.measurements, quality=prepared.quality,
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
    baseline = (f"zero baseline (a flat ECG), tapered to 0 over the first and last {EDGE_SECONDS:g} s"
                if explanation.sample_rate else "zero baseline")
    total = explanation.contributions[k].sum()
    return (f"{explanation.record_id}: integrated gradients of the {abbreviations[i]} logit "
            f"(p = {explanation.probabilities[i]:.2f}, threshold {explanation.thresholds[i]:.2f}, {status}; "
            f"attributions sum to {total:+.2f})\n"
            f"{baseline}, {explanation.steps} steps, mean over {explanation.networks} networks; {axis}")


def explanation_json(explanation: Explanation, codes: Sequence[str], figures: dict[str, str]) -> dict:
    """What ``explanation.json`` holds."""
    abbreviations = class_abbreviations(codes)
    importance, contributions, activity = explanation.importance, explanation.contributions, explanation.activity

    def per_lead(values, cast=float) -> dict:
        return {abbreviations[i]: dict(zip(STANDARD_LEADS, map(cast, values[k])))
                for k, i in enumerate(explanation.explained)}

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
        "lead_importance": per_lead(importance),
        "lead_contribution": per_lead(contributions),
        "lead_rank": per_lead(np.stack([lead_ranks(row, explanation.lead_mask) for row in importance])
                              if len(importance) else importance, int),
        "lead_share_of_abs_attribution": per_lead(activity),
        "method": {"name": "integrated gradients", "target": "logit",
                   "baseline": "zeros",
                   "edge_taper_seconds": EDGE_SECONDS if explanation.sample_rate else 0.0,
                   "rule": "midpoint", "steps": explanation.steps, "networks": explanation.networks,
                   "axis": "record time" if explanation.sample_rate else "beat groups (model input)",
                   "sample_rate": explanation.sample_rate,
                   "lead_importance": "each lead's net contribution to the logit (sum of its attribution over "
                   "time) as a signed share: the magnitudes sum to 1 over the leads (bars in the attribution "
                   "figures; rank 1 = most for the class)",
                   "lead_contribution": "sum of the lead's attribution over time, logit units",
                   "lead_share_of_abs_attribution": "sum of |attribution| per lead, normalised to sum to 1",
                   "colour_scale": "attribution (a 40 ms mean on the time axis) divided by the record's largest "
                   "|value| over the leads used"},
        "measurements": summary_line(explanation.measurements),
        "lead_quality": dict(zip(STANDARD_LEADS, explanation.quality or ())),
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
    poor = [f"{lead} {verdict}" for lead, verdict in zip(STANDARD_LEADS, explanation.quality or ())
            if lead in explanation.leads and verdict != GOOD]
    page = ecg_figure(record.recording, record.header, _prediction_line(explanation, abbreviations),
                      source=header_path, measured=summary_line(explanation.measurements),
                      quality=f"lead quality: {', '.join(poor)}" if poor else "")
    figures = {"ecg": save_figure(page, out_dir / "ecg.png").name}
    for k, i in enumerate(explanation.explained):
        fig = attribution_figure(explanation.model_input, explanation.attributions[k], explanation.importance[k],
                                 explanation.lead_mask, _attribution_title(explanation, k, abbreviations),
                                 explanation.sample_rate, explanation.group_length, explanation.contributions[k])
        figures[abbreviations[i]] = save_figure(fig, out_dir / f"attribution_{file_label(abbreviations[i])}.png").name
    document = explanation_json(explanation, ensemble.class_codes, figures)
    write_text_atomic(out_dir / "explanation.json", json.dumps(document, indent=2) + "\n")
    return document


@dataclass
class PopulationImportance:
    """Mean lead importance (signed share) per class over the records where the class was predicted."""

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
    path) and average the lead importance (signed shares) per class. A record that fails is reported through
    ``report`` (a line ``skipped PATH: REASON``) and skipped."""
    listing = find_records(data_dir)
    paths = listing.header_paths[:max_records]
    sums = np.zeros((len(ensemble.class_codes), len(STANDARD_LEADS)))
    counts = np.zeros(len(ensemble.class_codes), dtype=np.int64)
    failures, done = list(listing.failures), 0
    for file, reason in failures:
        if report:
            report(f"skipped {file}: {reason}")
    for path in paths:
        try:
            explanation = explain_record(ensemble, path, classes, steps, only_predicted=True)
        except Exception as error:  # one bad record, whatever broke in it, must not stop the run
            reason = error.problem if isinstance(error, RecordError) else f"{type(error).__name__}: {error}"
            failures.append((str(path), " ".join(reason.split())))
            if report:
                report(f"skipped {path}: {failures[-1][1]}")
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
