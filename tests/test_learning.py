"""A model must learn what is learnable: trained on synthetic records whose labels follow from the
signal, it must score well on synthetic records it never saw."""

from __future__ import annotations

import pytest
from conftest import tiny_config

from ecgnet.inference import run_folder
from ecgnet.metric import evaluate_folders
from ecgnet.synthetic import generate_dataset
from ecgnet.training import train

pytestmark = pytest.mark.slow

# Sinus rhythm, sinus bradycardia, sinus tachycardia, atrial fibrillation. The first three differ by heart
# rate with a 10 bpm gap between ranges; AF by irregular RR intervals and absent P waves. A classifier
# that only ever says "sinus rhythm" scores 0 on the normalised Challenge metric and a perfect one 1.
# Measured: a 2-fold ensemble of the tiny test network trained for 20 epochs on 240 records scores 0.70
# on 80 held-out records, with AUROC 1.0 / 1.0 / 0.99 on the rate classes and 0.64 on AF (irregularity
# needs more data than this). The bars: 0.6 overall, which a model that has not learned the rhythms
# cannot reach, and 0.95 AUROC on each rate class, which the signal determines completely.
RHYTHMS = ("NSR", "SB", "STach", "AF")
RATE_CLASSES = ("NSR", "SB", "STach")


def test_a_model_learns_learnable_synthetic_labels(tmp_path):
    generate_dataset(tmp_path / "train", 240, seed=11, rhythms=RHYTHMS, progress=False)
    generate_dataset(tmp_path / "test", 80, seed=12, rhythms=RHYTHMS, progress=False, prefix="HELD")
    config = tiny_config(epochs=20, folds=2).override("training", learning_rate=0.003)
    train(tmp_path / "train", tmp_path / "model", config, progress=False, log=lambda _: None)
    run_folder(tmp_path / "model", tmp_path / "test", tmp_path / "out", progress=False)
    scores = evaluate_folders(tmp_path / "test", tmp_path / "out")
    assert scores.challenge_metric >= 0.6, f"held-out Challenge metric {scores.challenge_metric:.3f} < 0.6"
    auroc = dict(zip(scores.class_abbreviations, scores.class_auroc))
    assert all(auroc[name] >= 0.95 for name in RATE_CLASSES), auroc
