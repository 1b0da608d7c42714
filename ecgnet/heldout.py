"""Scores on records a model never saw: the held-out benchmark.

:func:`evaluate` runs a model folder on the records of a test folder, once per Challenge lead set (each
record restricted to those leads, as the Challenge's reduced-lead test files are), and scores the final
outputs and, for a stacked model, the network alone and the feature model alone, each with its own
thresholds tuned on the training folds. Nothing is tuned on the test records.

For a calibrated model it also scores the final outputs before calibration (``uncalibrated``): their
expected calibration error, AUROC and AUPRC only. The model's thresholds are tuned on the calibrated outputs,
and the Platt map is increasing, so the uncalibrated outputs with those thresholds mapped back make exactly
the calibrated decisions: their Challenge metric, F-measure and accuracy are the final ones, and are not
repeated. Each component's reliability bins (sums per bin, so lead sets pool by adding) let
:func:`reliability_figure` draw the reliability before and after calibration.

``python -m ecgnet ablate DATA --test TESTDIR`` trains on DATA less the test records (by record id) and
reports these scores beside the out-of-fold estimate.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import bootstrap, metric
from .calibration import expected_calibration_error, reliability
from .decision import FINAL
from .discovery import index_records
from .files import save_arrays, write_bytes_atomic
from .inference import Ensemble, load_ensemble, predict_components, prepared_batches
from .labels import default_class_table
from .records import EVALUATED_LEAD_SETS, RecordError, lead_set_name

if TYPE_CHECKING:
    from matplotlib.figure import Figure

UNCALIBRATED = "uncalibrated"
#: The scores of the uncalibrated outputs (the others are the final outputs', see the module's text).
UNCALIBRATED_SCORES = ("auroc", "auprc")


def held_out_ids(test_dir: str | os.PathLike) -> set[str]:
    """The record ids of a test folder: training leaves these out."""
    return set(index_records(test_dir, default_class_table())[0].record_ids)


def _predict(ensemble: Ensemble, paths: list[Path], leads: Sequence[str], workers: int
             ) -> tuple[list[int], dict[str, np.ndarray], int]:
    """(rows that could be run, probabilities per component of those rows, records that failed)."""
    position = {path: row for row, path in enumerate(paths)}
    rows, prepared, failed = [], [], 0
    for batch in prepared_batches(paths, leads, ensemble.config, workers, 32):
        for path, record in batch:
            if isinstance(record, RecordError):
                failed += 1
                continue
            rows.append(position[path])
            prepared.append(record)
    # Calibration applied here rather than inside predict_components, so the outputs before it are kept too.
    decision = ensemble.decision
    uncalibrated = dataclasses.replace(ensemble, decision=dataclasses.replace(decision, calibrations=None))
    components = predict_components(uncalibrated, prepared)
    if decision.calibrations:
        components[UNCALIBRATED] = components[FINAL]
        components[FINAL] = decision.for_lead_set(leads).calibration.apply(components[FINAL])
    return rows, components, failed


def reliability_bins(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, list[float]]:
    """Per equal-width bin (:func:`ecgnet.calibration.reliability`): entries, and the sums of their
    probabilities and of their labels; sums, so that bins of several lead sets pool by adding."""
    mean, observed, counts = reliability(labels, probabilities)
    return {"count": counts.tolist(), "probability": np.nan_to_num(mean * counts).tolist(),
            "positive": np.nan_to_num(observed * counts).tolist()}


def evaluate(model_dir: str | os.PathLike, test_dir: str | os.PathLike, device: str = "auto",
             workers: int = 0, log: Callable[[str], None] = print,
             outputs_file: str | os.PathLike | None = None) -> dict:
    """Held-out scores: ``{lead set: {component: {score: value}, "records": n}}`` with components ``final``,
    for a stacked model ``network`` and ``features``, and for a calibrated model ``uncalibrated``; the scores
    are :data:`ecgnet.metric.SUMMARY_SCORES` (:data:`UNCALIBRATED_SCORES` for ``uncalibrated``), ``ece``,
    the expected calibration error, and ``bins``, the :func:`reliability_bins`. With ``outputs_file``, the
    final outputs of every record are saved there too (:func:`read_outputs`), for paired comparisons."""
    table = default_class_table()
    index, _ = index_records(test_dir, table)
    ensemble = load_ensemble(model_dir, device)
    results, kept = {}, {"record_ids": np.array(index.record_ids), "labels": index.labels}
    for leads in EVALUATED_LEAD_SETS:
        name = lead_set_name(leads)
        rows, components, failed = _predict(ensemble, list(index.header_paths), leads, workers)
        labels = index.labels[rows]
        thresholds = ensemble.decision.for_lead_set(leads).thresholds
        kept |= {f"rows:{name}": np.asarray(rows, dtype=np.int64), f"final:{name}": components[FINAL],
                 f"decided:{name}": components[FINAL] >= thresholds}
        results[name] = {"records": len(rows), "failed": failed}
        for component, probabilities in components.items():
            if component == UNCALIBRATED:
                found = dict(zip(UNCALIBRATED_SCORES, metric.compute_auc(labels, probabilities)[:2]))
            else:
                thresholds = ensemble.decision.for_lead_set(leads).thresholds_of(component)
                found = metric.summary_scores(labels, probabilities, thresholds, table)
            found["ece"] = expected_calibration_error(labels, probabilities)
            found["bins"] = reliability_bins(labels, probabilities)
            results[name][component] = found
        final = results[name]["final"]
        before = f" (before calibration {results[name][UNCALIBRATED]['ece']:.4f})" if UNCALIBRATED in components else ""
        log(f"held-out {len(leads)} leads ({len(rows)} records): Challenge metric {final['challenge_metric']:.3f}, "
            f"AUROC {final['auroc']:.3f}, ECE {final['ece']:.4f}{before}")
    if outputs_file is not None:
        save_arrays(outputs_file, **kept)
    return results


def read_outputs(path: str | os.PathLike) -> dict[str, dict[str, np.ndarray]]:
    """A saved :func:`evaluate`'s outputs: per lead set ``record_ids``, ``labels``, ``final`` (probabilities)
    and ``decided`` (labels given) of the records that could be run."""
    with np.load(path, allow_pickle=False) as saved:
        arrays = {name: saved[name] for name in saved.files}
    found = {}
    for key in arrays:
        if key.startswith("rows:"):
            name, rows = key.removeprefix("rows:"), arrays[key]
            found[name] = {"record_ids": arrays["record_ids"][rows], "labels": arrays["labels"][rows],
                           "final": arrays[f"final:{name}"], "decided": arrays[f"decided:{name}"]}
    return found


def paired_change(base: dict[str, np.ndarray], other: dict[str, np.ndarray], resamples: int = 1000,
                  seed: int = 0) -> dict[str, bootstrap.Difference]:
    """``other`` - ``base`` on the records both ran (one lead set of :func:`read_outputs` each), paired over
    ``resamples`` bootstrap resamples of the records (:func:`ecgnet.bootstrap.paired_difference`)."""
    position = {record_id: row for row, record_id in enumerate(other["record_ids"])}
    a = [row for row, record_id in enumerate(base["record_ids"]) if record_id in position]
    b = [position[base["record_ids"][row]] for row in a]
    return bootstrap.paired_difference(base["labels"][a], base["decided"][a], base["final"][a], other["decided"][b],
                                       other["final"][b], default_class_table(), resamples, seed)


def _from_bins(bins: Sequence[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(bin means, observed frequencies, entries, expected calibration error) of bins pooled by adding."""
    count, probability, positive = (np.sum([b[key] for b in bins], axis=0) for key in ("count", "probability",
                                                                                        "positive"))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean, observed = probability / count, positive / count
    return mean, observed, count, float(np.abs(probability - positive).sum() / max(count.sum(), 1))


def reliability_figure(results: dict) -> Figure:
    """Reliability of the final outputs on the held-out records, pooled over records and classes: one panel
    per lead set and one pooled over them, before calibration (when the model calibrates) and after."""
    from .report.figures import new_figure, reliability_panel

    names = {UNCALIBRATED: "before calibration", "final": "calibrated"}
    components = [c for c in (UNCALIBRATED, "final") if all("bins" in r.get(c, {}) for r in results.values())]
    if UNCALIBRATED not in components:
        names["final"] = "final outputs"
    panels = [(f"{len(name.split(','))} leads ({r['records']} records)", [r]) for name, r in results.items()]
    panels.append((f"{len(results)} lead sets pooled", list(results.values())))
    figure = new_figure(12, 8)
    axes = figure.subplots(2, -(-len(panels) // 2), sharex=True, sharey=True, squeeze=False).ravel()
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    for ax, (title, chosen) in zip(axes, panels):
        series = []
        for component in components:
            mean, observed, count, ece = _from_bins([r[component]["bins"] for r in chosen])
            series.append((f"{names[component]}, ECE {ece:.4f}", mean, observed, count))
        reliability_panel(ax, series)
        ax.set_title(title, fontsize=10)
    figure.supxlabel("predicted probability (mean of the bin)")
    figure.supylabel("observed frequency of positives")
    figure.suptitle("Reliability of the final outputs on held-out records, pooled over records and classes")
    return figure


def write_reliability_figure(results: dict, path: str | os.PathLike) -> Path:
    """Draw :func:`reliability_figure` of ``results`` (:func:`evaluate`'s) as a PNG file; return its path."""
    from .report.figures import png_bytes

    path = Path(path)
    write_bytes_atomic(path, png_bytes(reliability_figure(results)))
    return path
