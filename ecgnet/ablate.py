"""Ablation harness: what each method of the papers is worth on your data.

``ecgnet ablate DATA --config base.toml --vary beat_sampling,features,... --out DIR`` trains the
base recipe and, for each name in ``--vary``, the base with that one method switched on, all on the same
records, folds and seeds, and writes ``DIR/ablation.csv`` and ``DIR/ablation.md``: the out-of-fold
Challenge metric, AUROC and F-measure per lead set (over all records, and mean and standard deviation over
the folds), and the minutes each run took. ``--validation leave-source-out`` makes each fold one source
left out, which is closer to the hidden test than k-fold.

With ``--test TESTDIR``, the records of TESTDIR (by record id) are left out of training, and each run is
then scored on them (:mod:`ecgnet.heldout`): ``DIR/heldout.md`` and ``DIR/heldout.csv`` give the held-out
Challenge metric, AUROC, F-measure and expected calibration error per lead set beside the out-of-fold
estimate, for the final outputs and, for stacked runs, for the network alone and the feature model alone;
for calibrated runs also the final outputs before calibration (their calibration error and AUROC), with
``DIR/heldout_reliability_<variant>.png``, their reliability before and after. Judge a change by these.

Each run's model folder is kept in ``DIR/runs/<name>``; a run whose folder holds a finished model of the
same recipe is not trained again, so a stopped ablation continues where it stopped.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from . import heldout
from .artifacts import read_json, write_json
from .config import AugmentConfig, RunConfig
from .files import write_text_atomic
from .records import EVALUATED_LEAD_SETS
from .training import train

#: What each ``--vary`` name switches on (the rest of the recipe stays the base's).
VARIANTS: dict[str, Callable[[RunConfig], RunConfig]] = {
    "beat_sampling": lambda c: dataclasses.replace(c, beats=dataclasses.replace(c.beats, enabled=True)),
    "features": lambda c: dataclasses.replace(c, features=dataclasses.replace(c.features, enabled=True)),
    "label_masking": lambda c: c.override("training", label_masking=True),
    "augmentation": lambda c: dataclasses.replace(c, augment=AugmentConfig.recommended()),
    "domain": lambda c: c.override("training", domain_weight=0.1),
    "reward_weights": lambda c: c.override("training", reward_weights=True),
    "challenge_loss": lambda c: c.override("training", challenge_loss_weight=0.5),
    "pretraining": lambda c: c.override("training", pretrain_epochs=max(1, c.training.epochs // 2)),
    "feature_model": lambda c: dataclasses.replace(
        c, feature_model=dataclasses.replace(c.feature_model, enabled=not c.feature_model.enabled)),
    "longer_training": lambda c: c.override("training", epochs=c.training.epochs * 2,
                                            patience=c.training.patience * 2),
    "weight_averaging": lambda c: c.override("training", ema_decay=0.99),
    "lead_distillation": lambda c: c.override("training", lead_distillation_weight=1.0, lead_subset_probability=1.0),
    "criteria": lambda c: c.override("feature_model", criteria=True, monotone_trees=True),
}
BASE = "base"
SCORES = (("challenge_metric", "Challenge metric"), ("auroc", "AUROC"), ("f_measure", "F-measure"))
LEAD_SET_NAMES = {",".join(leads): f"{len(leads)} leads" for leads in EVALUATED_LEAD_SETS}
RESULT = "ablation_result.json"
#: Each run's final outputs on the held-out records (ecgnet.heldout.read_outputs), for paired comparisons.
HELDOUT_OUTPUTS = "heldout_outputs.npz"


def variant_configs(base: RunConfig, names: Sequence[str]) -> dict[str, RunConfig]:
    """The base and one config per name of ``names``, in that order; an unknown name is an error."""
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(unknown)}: choose among {', '.join(VARIANTS)}")
    return {BASE: base, **{name: VARIANTS[name](base) for name in names}}


def run_variant(data_dir: str | Path, run_dir: Path, config: RunConfig, progress: bool,
                log: Callable[[str], None], test_dir: str | Path | None = None) -> dict:
    """Train one variant (or reuse its finished run of the same recipe and test folder); its summary and
    seconds, and with ``test_dir`` its held-out scores there (training leaves those records out)."""
    saved = run_dir / RESULT
    test = None if test_dir is None else str(Path(test_dir).resolve())
    if saved.is_file():
        result = read_json(saved)
        if _same_recipe(result.get("config"), config) and result.get("test") == test:
            log(f"{run_dir.name}: reusing the finished run")
            return result
    started = time.perf_counter()
    exclude = heldout.held_out_ids(test_dir) if test_dir is not None else ()
    summary = train(data_dir, run_dir, config, resume=True, progress=progress, log=log, exclude=exclude)
    result = {"config": config.to_dict(), "seconds": time.perf_counter() - started, "summary": summary,
              "test": test}
    if test_dir is not None:
        result["heldout"] = heldout.evaluate(run_dir, test_dir, config.training.device, config.training.workers,
                                             log=log, outputs_file=run_dir / HELDOUT_OUTPUTS)
    write_json(saved, result)
    return result


def _same_recipe(saved: object, config: RunConfig) -> bool:
    """Whether a finished run's saved config is ``config``, read back through the config so that a field added
    since (at its default) does not make it another recipe."""
    try:
        return isinstance(saved, dict) and RunConfig.from_dict(saved) == config
    except ValueError:  # a field since removed or renamed: another recipe
        return False


def _spread(values: Sequence[float]) -> tuple[float, float]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return math.nan, math.nan
    return float(np.mean(finite)), float(np.std(finite))


def result_rows(results: dict[str, dict]) -> list[dict]:
    """One row per (variant, lead set, score): pooled, fold mean, fold standard deviation, minutes."""
    rows = []
    for variant, result in results.items():
        for lead_set, scores in result["summary"]["out_of_fold"].items():
            for score, _ in SCORES:
                mean, std = _spread(scores["per_fold"][score])
                rows.append({"variant": variant, "lead_set": LEAD_SET_NAMES.get(lead_set, lead_set), "score": score,
                             "pooled": scores[score], "fold_mean": mean, "fold_std": std,
                             "minutes": result["seconds"] / 60})
    return rows


def _number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def to_csv(rows: list[dict]) -> str:
    """The rows of :func:`result_rows` or :func:`heldout_rows` as CSV, numbers to 4 decimals."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, list(rows[0]) if rows else [])
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _number(v, 4) if isinstance(v, float) else v for k, v in row.items()})
    return buffer.getvalue()


def to_markdown(rows: list[dict], validation: str, folds: int) -> str:
    """One table per score: a row per variant, a column per lead set, ``pooled (mean ± std over folds)``."""
    variants = list(dict.fromkeys(row["variant"] for row in rows))
    lead_sets = list(dict.fromkeys(row["lead_set"] for row in rows))
    cell = {(r["variant"], r["lead_set"], r["score"]): r for r in rows}
    minutes = {r["variant"]: r["minutes"] for r in rows}
    lines = [f"Out-of-fold scores ({validation}, {folds} folds): pooled over all records, then the mean ± standard "
             "deviation over the folds. The Challenge-metric table also gives the change of the pooled score "
             f"from `{BASE}`.", ""]
    for score, title in SCORES:
        lines += [f"### {title}", "", "| variant | " + " | ".join(lead_sets) + " | minutes |",
                  "|---" * (len(lead_sets) + 2) + "|"]
        for variant in variants:
            cells = []
            for lead_set in lead_sets:
                row = cell[(variant, lead_set, score)]
                text = f"{_number(row['pooled'])} ({_number(row['fold_mean'])} ± {_number(row['fold_std'])})"
                base = cell.get((BASE, lead_set, score))
                if score == "challenge_metric" and variant != BASE and base is not None:
                    text += f" {row['pooled'] - base['pooled']:+.3f}"
                cells.append(text)
            lines.append(f"| {variant} | " + " | ".join(cells) + f" | {minutes[variant]:.1f} |")
        lines.append("")
    return "\n".join(lines)


def ablate(data_dir: str | Path, out_dir: str | Path, base: RunConfig, names: Sequence[str], progress: bool = True,
           log: Callable[[str], None] = print, test_dir: str | Path | None = None) -> list[dict]:
    """Train the base and each variant of ``names`` on ``data_dir`` (less the records of ``test_dir``, where
    each run is then scored); write the tables into ``out_dir``."""
    out_dir = Path(out_dir)
    configs = variant_configs(base, names)
    results = {}
    for name, config in configs.items():
        log(f"== {name} ==")
        results[name] = run_variant(data_dir, out_dir / "runs" / name, config, progress, log, test_dir)
    rows = result_rows(results)
    folds = len(next(iter(results.values()))["summary"]["folds"])
    write_text_atomic(out_dir / "ablation.csv", to_csv(rows))
    write_text_atomic(out_dir / "ablation.md", to_markdown(rows, base.training.validation, folds) + "\n")
    if test_dir is not None:
        held = heldout_rows(results)
        figures = {}
        for name, result in results.items():
            if all("bins" in scores.get("final", {}) for scores in result["heldout"].values()):
                figures[name] = heldout.write_reliability_figure(result["heldout"], out_dir / reliability_file(name))
        write_text_atomic(out_dir / "heldout.csv", to_csv(held))
        markdown = heldout_markdown(held, str(test_dir), base.training.validation, folds,
                                    [path.name for path in figures.values()])
        write_text_atomic(out_dir / "heldout.md", markdown + paired_markdown(paired_changes(out_dir / "runs",
                                                                                         list(results))) + "\n")
    return rows


def paired_changes(runs_dir: Path, names: Sequence[str]) -> dict[str, dict[str, dict]]:
    """{variant: {lead set: {score: Difference}}}: each variant's held-out change from the base on the same
    records, paired (:func:`ecgnet.heldout.paired_change`); variants whose outputs were not kept are left out."""
    base_file = runs_dir / BASE / HELDOUT_OUTPUTS
    if not base_file.is_file():
        return {}
    base = heldout.read_outputs(base_file)
    changes = {}
    for name in names:
        path = runs_dir / name / HELDOUT_OUTPUTS
        if name != BASE and path.is_file():
            other = heldout.read_outputs(path)
            changes[name] = {lead_set: heldout.paired_change(base[lead_set], other[lead_set])
                             for lead_set in base if lead_set in other}
    return changes


def paired_markdown(changes: dict[str, dict[str, dict]]) -> str:
    """The change of each variant from the base on the held-out records, paired, with its 95 % interval and
    the share of resamples in which the variant scores higher: a change whose interval holds 0 is noise."""
    if not changes:
        return ""
    lead_sets = list(dict.fromkeys(name for by_set in changes.values() for name in by_set))
    lines = ["", "### Change from the base on the same held-out records (paired bootstrap, 1,000 resamples)", "",
             "Each cell: the variant's Challenge metric minus the base's, its 95 % interval, and the share of "
             "resamples in which the variant scores higher. An interval that holds 0 is inside the noise of these "
             "records (the noise of retraining is not in it: compare seeds for that).", "",
             "| variant | " + " | ".join(LEAD_SET_NAMES.get(n, n) for n in lead_sets) + " |",
             "|---" * (len(lead_sets) + 1) + "|"]
    for variant, by_set in changes.items():
        cells = []
        for name in lead_sets:
            change = by_set.get(name, {}).get("Challenge metric")
            cells.append("n/a" if change is None else
                         f"{change.difference.estimate:+.3f} [{change.difference.low:+.3f}, "
                         f"{change.difference.high:+.3f}], {change.b_higher:.0%}")
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def reliability_file(variant: str) -> str:
    """The name of a variant's held-out reliability figure (:func:`ecgnet.heldout.reliability_figure`)."""
    return f"heldout_reliability_{variant}.png"


#: The models of a run that are scored on held-out records: the final outputs, and for a stacked run each
#: model alone (the names of :meth:`ecgnet.inference.Ensemble.combine` and of the summary's components).
COMPONENTS = (("final", "final"), (heldout.UNCALIBRATED, "final, before calibration"), ("network", "network alone"),
              ("features", "feature model alone"))
#: The held-out scores: those of the out-of-fold tables and the expected calibration error.
HELDOUT_SCORES = (*SCORES, ("ece", "Expected calibration error"))


def heldout_rows(results: dict[str, dict]) -> list[dict]:
    """One row per (variant, model, lead set, score) that the model has: held-out and out-of-fold values (None
    where the summary has no out-of-fold value, e.g. for the calibration error or the uncalibrated outputs)."""
    rows = []
    for variant, result in results.items():
        summary = result["summary"]
        estimates = {"final": summary["out_of_fold"], **summary.get("components", {})}
        expected = summary.get("expected", {})  # runs of an older version have none
        for lead_set, scores in result["heldout"].items():
            for component, _ in COMPONENTS:
                if component not in scores:
                    continue  # a run without the stack has its final outputs only; one not calibrated no others
                for score, _ in HELDOUT_SCORES:
                    if score not in scores[component]:
                        continue  # the uncalibrated outputs' decisions are the final ones; older runs have no ECE
                    rows.append({"variant": variant, "model": component,
                                 "lead_set": LEAD_SET_NAMES.get(lead_set, lead_set), "score": score,
                                 "heldout": scores[component][score],
                                 "out_of_fold": estimates.get(component, {}).get(lead_set, {}).get(score),
                                 **_expected(expected, component, lead_set, score),
                                 "records": scores["records"]})
    return rows


def _expected(expected: dict, component: str, lead_set: str, score: str) -> dict[str, float | None]:
    """The training summary's expected score of the final outputs and its interval (None where it has none)."""
    entry = expected.get(lead_set, {}) if component == "final" else {}
    values = [entry[score], *entry[f"{score}_interval"]] if score in entry else [None] * 3
    return dict(zip(("expected", "expected_low", "expected_high"), values))


def _cell(row: dict | None, digits: int) -> str:
    """``held-out (out-of-fold)``, and for the final outputs ``; expected E [low, high]``."""
    if row is None:
        return "n/a"
    text = _number(row["heldout"], digits)
    notes = [] if row["out_of_fold"] is None else [_number(row["out_of_fold"], digits)]
    if row.get("expected") is not None:
        low, high = _number(row["expected_low"], digits), _number(row["expected_high"], digits)
        notes.append(f"expected {_number(row['expected'], digits)} [{low}, {high}]")
    return text + (f" ({'; '.join(notes)})" if notes else "")


def heldout_markdown(rows: list[dict], test_dir: str, validation: str, folds: int,
                     figures: Sequence[str] = ()) -> str:
    """One table per score: a row per variant and model that has the score, a column per lead set,
    ``held-out (out-of-fold)``; then the reliability ``figures`` (file names beside the markdown)."""
    keys = list(dict.fromkeys((row["variant"], row["model"]) for row in rows))
    lead_sets = list(dict.fromkeys(row["lead_set"] for row in rows))
    cell = {(r["variant"], r["model"], r["lead_set"], r["score"]): r for r in rows}
    records = max((r["records"] for r in rows), default=0)
    names = dict(COMPONENTS)
    lines = [f"Held-out scores on {records} records of `{test_dir}` that training never saw, each lead set by "
             f"restricting the records to its leads; in brackets the out-of-fold estimate ({validation}, {folds} "
             "folds) of the same model and, for the final outputs, the training summary's expected score with its "
             "95 % interval (each fold decided by thresholds tuned on the other folds, ecgnet.estimate). "
             "Thresholds are tuned on the training folds only. The final outputs "
             "before calibration make the same decisions as after it (the map is increasing and the thresholds "
             "follow it), so only their calibration error and AUROC are given. Calibration error: expected "
             "calibration error over every (record, class) entry, 10 equal-width bins.", ""]
    for score, title in HELDOUT_SCORES:
        digits = 4 if score == "ece" else 3
        shown = [key for key in keys if (*key, lead_sets[0], score) in cell]
        if not shown:
            continue
        lines += [f"### {title}", "", "| variant | model | " + " | ".join(lead_sets) + " |",
                  "|---" * (len(lead_sets) + 2) + "|"]
        for variant, model in shown:
            found = [cell.get((variant, model, lead_set, score)) for lead_set in lead_sets]
            cells = [_cell(row, digits) for row in found]
            lines.append(f"| {variant} | {names[model]} | " + " | ".join(cells) + " |")
        lines.append("")
    if figures:
        lines += ["### Reliability", "",
                  "The final outputs on the held-out records, before calibration (calibrated runs) and after, pooled "
                  "over records and classes, per lead set and over all lead sets:", ""]
        lines += [f"![{name}]({name})" for name in figures]
        lines.append("")
    return "\n".join(lines)

