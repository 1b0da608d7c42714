"""Decision-stage variants on the same trained networks, scored on held-out records side by side.

    python -m bench.heldout_split ../shared/data heldout_test
    python -m ecgnet ablate ../shared/data --test heldout_test --config configs/small.toml --vary "" --out OUT
    python -m bench.decision_variants OUT/runs/base ../shared/data heldout_test --vary criteria,monotone_trees,both

The networks are what a training spends its time on, and a change to the feature model or the stack does
not touch them. So each variant here is the decision stage fitted again (:meth:`ecgnet.decision.Decision.fit`)
on the run's saved out-of-fold network outputs and the training records' measurements, with the variant's
``[feature_model]`` settings, and applied to the same held-out network outputs. A variant that keeps the trees
(``base``, the run's own recipe, and ``criteria``) keeps the run's feature model and its out-of-fold outputs
and fits only the stacks, calibration and thresholds (seconds); one that changes the trees fits them anew
(minutes per lead set). Differences are paired (:func:`ecgnet.bootstrap.paired_difference`, the
same resampled records for both), so the noise of retraining the networks is not in them.

It prints, per lead set, each variant's held-out Challenge metric and AUROC, its training summary's expected
score (:mod:`ecgnet.estimate`) and its difference from ``base`` with a 95 % interval; then the held-out
F-measure and AUROC per class of the classes with a measured criterion (:mod:`ecgnet.criteria`), over the
lead sets pooled.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from ecgnet import bootstrap, estimate, metric
from ecgnet.artifacts import load_model_folder
from ecgnet.criteria import CRITERIA
from ecgnet.decision import FINAL, MEASUREMENT_MODEL, NETWORK, Decision, KeptModels, out_of_fold_key
from ecgnet.discovery import index_records
from ecgnet.heldout import held_out_ids
from ecgnet.inference import combine_components, load_ensemble, predict_components, prepared_batches
from ecgnet.labels import default_class_table
from ecgnet.records import EVALUATED_LEAD_SETS, RecordError, lead_set_name
from ecgnet.training_data import load_training_data

VARIANTS = {
    "base": {},
    "criteria": {"criteria": True},
    "monotone_trees": {"monotone_trees": True},
    "both": {"criteria": True, "monotone_trees": True},
}


def fit_variants(model_dir: Path, data_dir: Path, test_dir: Path, names: list[str]) -> tuple[dict, dict]:
    """({variant: decision}, {variant: expected scores}) fitted on the run's out-of-fold network outputs."""
    folder = load_model_folder(model_dir, weights=False)
    config = folder.config
    data = load_training_data(data_dir, config, progress=False, log=lambda _: None, exclude=held_out_ids(test_dir))
    with np.load(model_dir / "out_of_fold.npz", allow_pickle=False) as saved:
        if [str(i) for i in saved["record_ids"]] != list(data.index.record_ids):
            raise ValueError(f"{model_dir}: its out-of-fold records are not the training records of {data_dir}")
        lead_sets = [lead_set_name(leads) for leads in EVALUATED_LEAD_SETS]
        network = {name: saved[out_of_fold_key(NETWORK, name)] for name in lead_sets}
        features = {name: saved[out_of_fold_key(MEASUREMENT_MODEL, name)] for name in lead_sets}
        folds = saved["folds"]
    labels, table, measured = data.index.labels, data.table, data.measurements_by_lead_set()
    kept = KeptModels(folder.decision.trees, None, features, measured)
    decisions, expected = {}, {}
    for name in names:
        variant = config.override("feature_model", **VARIANTS[name])
        same_trees = variant.feature_model.monotone_trees == config.feature_model.monotone_trees
        decisions[name], outputs = Decision.fit(network, labels, folds, table, variant, measured,
                                                data.prepared.demographics, kept=kept if same_trees else None,
                                                log=lambda _: None)
        expected[name] = estimate.expected_scores(labels, outputs[FINAL], folds, table, variant.training)
    return decisions, expected


def held_out_outputs(model_dir: Path, test_dir: Path, decisions: dict) -> tuple[dict, dict]:
    """({lead set: labels}, {lead set: {variant: (binary, probabilities)}}) on the test records: the networks
    run once per lead set, each variant's decision applied to their outputs."""
    ensemble = load_ensemble(model_dir)
    index, _ = index_records(test_dir, default_class_table())
    position = {path: row for row, path in enumerate(index.header_paths)}
    labels, outputs = {}, {}
    for leads in EVALUATED_LEAD_SETS:
        name = lead_set_name(leads)
        found = [(path, record) for batch in prepared_batches(list(index.header_paths), leads, ensemble.config, 2, 32)
                 for path, record in batch if not isinstance(record, RecordError)]
        records = [record for _, record in found]
        labels[name] = index.labels[[position[path] for path, _ in found]]
        network = predict_components(ensemble, records)[NETWORK]
        outputs[name] = {}
        for variant, decision in decisions.items():
            final = combine_components(dataclasses.replace(ensemble, decision=decision), records, network)[FINAL]
            outputs[name][variant] = (final >= decision.for_lead_set(leads).thresholds, final)
    return labels, outputs


def report(labels: dict, outputs: dict, expected: dict, resamples: int) -> str:
    table = default_class_table()
    lines = ["| lead set | variant | held-out Challenge metric | AUROC | expected [95 %] | "
             "difference from base [95 %] | base wins |", "|---|---|---|---|---|---|---|"]
    for name, variants in outputs.items():
        base_binary, base_scalars = variants["base"]
        for variant, (binary, scalars) in variants.items():
            scores = metric.evaluate(labels[name], binary, scalars, table)
            entry = expected[variant][name]
            low, high = entry["challenge_metric_interval"]
            difference, share = "", ""
            if variant != "base":
                paired = bootstrap.paired_difference(labels[name], base_binary, base_scalars, binary, scalars, table,
                                                     resamples)["Challenge metric"]
                d = paired.difference
                difference = f"{d.estimate:+.3f} [{d.low:+.3f}, {d.high:+.3f}]"
                share = f"{1 - paired.b_higher - paired.tied:.2f}"
            lines.append(f"| {len(name.split(','))} | {variant} | {scores.challenge_metric:.3f} | {scores.auroc:.3f} | "
                         f"{entry['challenge_metric']:.3f} [{low:.3f}, {high:.3f}] | {difference} | {share} |")
    lines += ["", "Per class, every lead set pooled: held-out F-measure (AUROC), positives", ""]
    variants = list(next(iter(outputs.values())))
    lines += ["| class | positives | " + " | ".join(variants) + " |", "|---" * (len(variants) + 2) + "|"]
    pooled_labels = np.concatenate(list(labels.values()))
    pooled = {v: metric.evaluate(pooled_labels, np.concatenate([outputs[n][v][0] for n in outputs]),
                                 np.concatenate([outputs[n][v][1] for n in outputs]), table) for v in variants}
    for code in CRITERIA:
        k = table.codes.index(code)
        cells = [f"{pooled[v].class_f_measure[k]:.2f} ({pooled[v].class_auroc[k]:.2f})" for v in variants]
        lines.append(f"| {table.abbreviations[k]} | {int(pooled_labels[:, k].sum())} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="a finished run trained without the test records")
    parser.add_argument("data", type=Path, help="the training data folder the run was trained on")
    parser.add_argument("test", type=Path, help="the held-out test folder")
    parser.add_argument("--vary", default="criteria,monotone_trees,both", help=f"among {', '.join(VARIANTS)}")
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    names = ["base", *[n for n in args.vary.split(",") if n and n != "base"]]
    decisions, expected = fit_variants(args.model, args.data, args.test, names)
    labels, outputs = held_out_outputs(args.model, args.test, decisions)
    print(report(labels, outputs, expected, args.resamples))


if __name__ == "__main__":
    main()
