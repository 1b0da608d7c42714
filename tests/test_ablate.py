"""The ablation harness: it trains the base and each variant on the same folds and writes the tables."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from conftest import tiny_config

from ecgnet import ablate, heldout
from ecgnet.synthetic import generate_dataset

pytestmark = pytest.mark.slow


def test_every_variant_switches_on_its_method_only():
    base = tiny_config()
    configs = ablate.variant_configs(base, list(ablate.VARIANTS))
    assert configs["base"] is base
    changed = {name: {section for section in ("signals", "model", "training", "beats", "features", "augment")
                      if getattr(config, section) != getattr(base, section)}
               for name, config in configs.items() if name != "base"}
    assert changed == {"beat_sampling": {"beats"}, "features": {"features"}, "label_masking": {"training"},
                       "augmentation": {"augment"}, "domain": {"training"}, "reward_weights": {"training"},
                       "challenge_loss": {"training"}, "pretraining": {"training"}, "feature_model": set(),
                       "longer_training": {"training"}, "weight_averaging": {"training"},
                       "lead_distillation": {"training"}, "criteria": set()}
    assert configs["feature_model"].feature_model.enabled != base.feature_model.enabled
    assert configs["pretraining"].training.pretrain_epochs >= 1
    with pytest.raises(ValueError, match="unknown method"):
        ablate.variant_configs(base, ["dropout"])


def test_the_harness_writes_tables_for_every_variant(tmp_path):
    generate_dataset(tmp_path / "data", 48, seed=5, progress=False, frequency=250.0)
    base = tiny_config(epochs=1, folds=2)
    messages = []
    rows = ablate.ablate(tmp_path / "data", tmp_path / "out", base, list(ablate.VARIANTS), progress=False,
                         log=messages.append)
    variants = ["base", *ablate.VARIANTS]
    assert len(rows) == len(variants) * 5 * len(ablate.SCORES)
    with open(tmp_path / "out" / "ablation.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["variant"] for r in table[:: 5 * len(ablate.SCORES)]] == variants
    assert {r["lead_set"] for r in table} == {"12 leads", "6 leads", "4 leads", "3 leads", "2 leads"}
    for row in table:
        assert float(row["minutes"]) > 0
        assert row["pooled"] == "n/a" or -1 <= float(row["pooled"]) <= 1
    markdown = (tmp_path / "out" / "ablation.md").read_text()
    for title in ("Challenge metric", "AUROC", "F-measure"):
        assert f"### {title}" in markdown
    assert all(f"| {name} |" in markdown for name in variants)
    # A second call reuses the finished runs instead of training again.
    messages.clear()
    again = ablate.ablate(tmp_path / "data", tmp_path / "out", base, ["features"], progress=False,
                          log=messages.append)
    assert sum("reusing" in m for m in messages) == 2
    assert [r["pooled"] for r in again if r["variant"] == "features"] == \
        [r["pooled"] for r in rows if r["variant"] == "features"]


def test_held_out_markdown_gives_each_model_the_scores_it_has():
    rows = [{"variant": "base", "model": model, "lead_set": "12 leads", "score": score, "heldout": value,
             "out_of_fold": oof, "records": 9}
            for model, score, value, oof in (
                ("final", "challenge_metric", 0.5, 0.55), ("final", "auroc", 0.9, 0.91),
                ("final", "f_measure", 0.4, 0.41), ("final", "ece", 0.0046, None),
                ("uncalibrated", "auroc", 0.9, None), ("uncalibrated", "ece", 0.0052, None))]
    markdown = ablate.heldout_markdown(rows, "test", "kfold", 5, ["heldout_reliability_base.png"])
    assert "| base | final | 0.0046 |" in markdown and "| base | final, before calibration | 0.0052 |" in markdown
    assert "| base | final | 0.500 (0.550) |" in markdown and markdown.count("before calibration |") == 2
    assert "![heldout_reliability_base.png](heldout_reliability_base.png)" in markdown


def test_held_out_rows_carry_the_expected_score_of_the_final_outputs():
    scores = {"challenge_metric": 0.5, "auroc": 0.9}
    expected = {"I,II": {"challenge_metric": 0.45, "challenge_metric_interval": [0.4, 0.5]}}
    result = {"summary": {"out_of_fold": {"I,II": {"challenge_metric": 0.55}}, "expected": expected},
              "heldout": {"I,II": {"records": 9, "final": scores, "network": scores}}}
    rows = ablate.heldout_rows({"base": result})
    final = next(r for r in rows if r["model"] == "final" and r["score"] == "challenge_metric")
    assert (final["expected"], final["expected_low"], final["expected_high"]) == (0.45, 0.4, 0.5)
    assert all(r["expected"] is None for r in rows if r is not final)
    markdown = ablate.heldout_markdown(rows, "test", "kfold", 5)
    assert "| base | final | 0.500 (0.550; expected 0.450 [0.400, 0.500]) |" in markdown


def test_markdown_reports_pooled_spread_and_change_from_base():
    rows = [{"variant": v, "lead_set": "12 leads", "score": s, "pooled": p, "fold_mean": p, "fold_std": 0.01,
             "minutes": 2.0} for v, p in (("base", 0.4), ("features", 0.45)) for s, _ in ablate.SCORES]
    markdown = ablate.to_markdown(rows, "kfold", 5)
    assert "| features | 0.450 (0.450 ± 0.010) +0.050 | 2.0 |" in markdown
    assert "| base | 0.400 (0.400 ± 0.010) | 2.0 |" in markdown
    assert ablate._spread([0.1, math.nan, 0.3]) == pytest.approx((0.2, 0.1))


def test_with_a_test_folder_training_leaves_it_out_and_every_run_is_scored_there(tmp_path):
    import shutil

    from ecgnet.training_data import load_training_data

    generate_dataset(tmp_path / "data", 40, seed=5, progress=False, frequency=250.0)
    generate_dataset(tmp_path / "test", 12, seed=6, progress=False, frequency=250.0, prefix="TST")
    for suffix in (".hea", ".mat"):  # a training record that is also a test record: left out of training
        shutil.copy(tmp_path / "data" / f"SYN00001{suffix}", tmp_path / "test")
    base = tiny_config(epochs=1, folds=2)
    base = base.override("feature_model", enabled=True, max_iter=5, max_leaf_nodes=4, min_samples_leaf=3)
    ablate.ablate(tmp_path / "data", tmp_path / "out", base, [], progress=False, log=lambda _: None,
                  test_dir=tmp_path / "test")
    result = json.loads((tmp_path / "out" / "runs" / "base" / ablate.RESULT).read_text())
    assert all(scores["records"] == 13 for scores in result["heldout"].values())
    data = load_training_data(tmp_path / "data", base, progress=False, log=lambda _: None,
                              exclude=heldout.held_out_ids(tmp_path / "test"))
    assert "SYN00001" not in data.index.record_ids and len(data.index) == 39
    markdown = (tmp_path / "out" / "heldout.md").read_text()
    assert "13 records" in markdown
    for model in ("final", "final, before calibration", "network alone", "feature model alone"):
        assert f"| base | {model} |" in markdown
    # Before calibration: only its calibration error and AUROC (its decisions are the final ones).
    challenge = markdown.split("### Challenge metric")[1].split("###")[0]
    assert "before calibration" not in challenge and "### Expected calibration error" in markdown
    assert f"![{ablate.reliability_file('base')}]({ablate.reliability_file('base')})" in markdown
    assert (tmp_path / "out" / ablate.reliability_file("base")).read_bytes()[:4] == b"\x89PNG"
    with open(tmp_path / "out" / "heldout.csv") as f:
        rows = list(csv.DictReader(f))
    # final, network, features: every score and the calibration error; before calibration: AUROC and the error.
    assert len(rows) == 5 * (3 * (len(ablate.SCORES) + 1) + 2)
    assert {r["score"] for r in rows if r["model"] == "uncalibrated"} == {"auroc", "ece"}
    assert all(-1 <= float(r["heldout"]) <= 1 for r in rows if r["heldout"] != "n/a")


def test_paired_changes_are_read_from_each_runs_kept_outputs(tmp_path):
    from ecgnet.files import save_arrays

    rng = np.random.default_rng(0)
    labels = rng.random((40, 26)) < 0.1
    final = np.clip(labels * 0.6 + rng.random(labels.shape) * 0.4, 0, 1)
    for name, decided in (("base", final >= 0.5), ("features", labels), ("domain", final >= 0.5)):
        (tmp_path / name).mkdir()
        save_arrays(tmp_path / name / ablate.HELDOUT_OUTPUTS, record_ids=np.arange(40).astype(str), labels=labels,
                    **{"rows:I,II": np.arange(40), "final:I,II": final, "decided:I,II": decided})
    changes = ablate.paired_changes(tmp_path, ["base", "features", "domain", "no_outputs"])
    assert list(changes) == ["features", "domain"]
    markdown = ablate.paired_markdown(changes)
    assert "| domain | +0.000 [+0.000, +0.000], 0% |" in markdown
    assert markdown.count("| features | +") == 1
