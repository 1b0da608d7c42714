"""Training: the model folder it writes, resuming a stopped run, and reproducibility."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from conftest import tiny_config

from ecgnet import fold_training, training, training_data
from ecgnet.artifacts import load_weights, weight_file
from ecgnet.config import RunConfig
from ecgnet.decision import Decision
from ecgnet.network import build_network, complete
from ecgnet.records import LEAD_SETS, lead_set_name

pytestmark = pytest.mark.slow


def test_model_folder_has_everything_inference_needs(trained_model):
    names = {p.name for p in trained_model.iterdir()}
    assert {"config.json", "model.json", "fold_0.safetensors", "fold_1.safetensors", "training_log.csv",
            "summary.json", "out_of_fold.npz"} <= names
    assert "checkpoints" not in names  # a finished run leaves no checkpoints behind
    config = RunConfig.load_json(trained_model / "config.json")
    assert config.model.params["stem_channels"] == 32  # the small recipe, saved with the model
    description = json.loads((trained_model / "model.json").read_text())
    assert set(description["thresholds"]) == {lead_set_name(LEAD_SETS[n]) for n in (12, 6, 4, 3, 2)}
    assert all(len(v) == 26 for v in description["thresholds"].values())


def test_summary_reports_every_lead_set(trained_model):
    summary = json.loads((trained_model / "summary.json").read_text())["out_of_fold"]
    assert len(summary) == 5
    for scores in summary.values():
        assert scores["records"] == 77
        assert -1.0 <= scores["challenge_metric"] <= 1.0
        assert 0.0 <= scores["auroc"] <= 1.0
        assert set(scores["per_fold"]) == {"challenge_metric", "auroc", "auprc", "f_measure", "accuracy"}
        assert all(len(values) == 2 for values in scores["per_fold"].values())
    expected = json.loads((trained_model / "summary.json").read_text())["expected"]
    assert set(expected) == set(summary)
    for entry in expected.values():
        low, high = entry["challenge_metric_interval"]
        assert low <= entry["challenge_metric"] <= high and entry["records"] == 77


def test_training_log_has_a_row_per_fold_and_epoch(trained_model):
    with open(trained_model / "training_log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["fold"], r["epoch"]) for r in rows] == [("0", "1"), ("0", "2"), ("1", "1"), ("1", "2")]
    assert all(float(r["train_loss"]) > 0 for r in rows)


def test_model_folder_holds_the_stack_and_each_model_alone(trained_model):
    description = json.loads((trained_model / "model.json").read_text())
    lead_sets = {lead_set_name(LEAD_SETS[n]) for n in (12, 6, 4, 3, 2)}
    assert description["trees_file"] == "trees.safetensors" and (trained_model / "trees.safetensors").is_file()
    assert set(description["stacks"]) == lead_sets
    assert set(description["component_thresholds"]) == {"network", "features"}
    summary = json.loads((trained_model / "summary.json").read_text())
    assert set(summary["components"]) == {"network", "features"}
    assert all(set(scores) == lead_sets for scores in summary["components"].values())
    with np.load(trained_model / "out_of_fold.npz", allow_pickle=False) as saved:
        assert len(saved["record_ids"]) == 77 and str(saved["record_ids"][0]).startswith(("A", "E", "HR", "JS"))
        assert {f"{model}:{name}" for model in ("network", "features") for name in lead_sets} <= set(saved.files)
        assert lead_sets <= set(saved.files)


def _train(data, model_dir, resume=False, config=None):
    return training.train(data, model_dir, config or tiny_config(), resume=resume, progress=False,
                          log=lambda _: None)


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_resume_continues_a_stopped_run_to_the_same_weights(shared_data, tmp_path, monkeypatch, ema_decay):
    data = shared_data / "cinc2021" / "training"
    config = tiny_config().override("training", ema_decay=ema_decay)
    _train(data, tmp_path / "straight", config=config)

    original = fold_training.FoldTrainer.train_epoch
    calls = {"n": 0}

    def interrupted(self, progress):
        calls["n"] += 1
        if calls["n"] == 4:  # fold 1, epoch 2: fold 0 is done, fold 1 has one epoch checkpointed
            raise KeyboardInterrupt
        return original(self, progress)

    monkeypatch.setattr(fold_training.FoldTrainer, "train_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _train(data, tmp_path / "stopped", config=config)
    assert (tmp_path / "stopped" / "checkpoints" / "fold_1.pt").is_file()
    assert not (tmp_path / "stopped" / "model.json").exists()

    monkeypatch.setattr(fold_training.FoldTrainer, "train_epoch", original)
    with pytest.raises(ValueError, match="another recipe"):
        training.train(data, tmp_path / "stopped", config.override("training", epochs=3), resume=True,
                       progress=False, log=lambda _: None)
    _train(data, tmp_path / "stopped", resume=True, config=config)
    for fold in (0, 1):
        straight = load_weights(weight_file(tmp_path / "straight", fold))
        resumed = load_weights(weight_file(tmp_path / "stopped", fold))
        assert all(np.array_equal(straight[k].numpy(), resumed[k].numpy()) for k in straight)
    with open(tmp_path / "stopped" / "training_log.csv") as f:
        epochs = [(r["fold"], r["epoch"]) for r in csv.DictReader(f)]
    assert epochs == [("0", "1"), ("0", "2"), ("1", "1"), ("1", "2")]


def test_a_kill_between_log_and_checkpoint_leaves_no_duplicate_row_and_no_temporary(shared_data, tmp_path,
                                                                                      monkeypatch):
    data = shared_data / "cinc2021" / "training"
    original = fold_training.FoldTrainer.save_checkpoint
    calls = {"n": 0}

    def killed(self):
        calls["n"] += 1
        if calls["n"] == 2:  # fold 0, epoch 2: logged, not checkpointed
            raise KeyboardInterrupt
        original(self)

    monkeypatch.setattr(fold_training.FoldTrainer, "save_checkpoint", killed)
    with pytest.raises(KeyboardInterrupt):
        _train(data, tmp_path)
    (tmp_path / ".fold_0.safetensors.abc.tmp").write_bytes(b"half")  # what a kill in the middle of a write leaves
    monkeypatch.setattr(fold_training.FoldTrainer, "save_checkpoint", original)
    _train(data, tmp_path, resume=True)
    with open(tmp_path / "training_log.csv") as f:
        epochs = [(r["fold"], r["epoch"]) for r in csv.DictReader(f)]
    assert epochs == [("0", "1"), ("0", "2"), ("1", "1"), ("1", "2")]
    assert not list(tmp_path.rglob("*.tmp"))


def test_leave_source_out_makes_one_fold_per_source(shared_data, tmp_path):
    config = tiny_config(epochs=1).override("training", validation="leave-source-out")
    summary = training.train(shared_data / "cinc2021" / "training", tmp_path, config, progress=False,
                             log=lambda _: None)
    assert summary["folds"] == ["CPSC", "Chapman-Ningbo", "Georgia", "PTB-XL"]
    assert len(list(tmp_path.glob("fold_*.safetensors"))) == 4


def test_every_method_on_trains_and_serves(tmp_path):
    from ecgnet.ablate import VARIANTS
    from ecgnet.inference import run_folder
    from ecgnet.synthetic import generate_dataset

    generate_dataset(tmp_path / "train", 40, seed=3, progress=False)
    generate_dataset(tmp_path / "test", 4, seed=4, progress=False, prefix="HELD", leads=2)
    config = tiny_config(epochs=1, folds=2)
    for switch_on in VARIANTS.values():
        config = switch_on(config)
    summary = training.train(tmp_path / "train", tmp_path / "model", config, progress=False, log=lambda _: None)
    assert complete(RunConfig.load_json(tmp_path / "model" / "config.json")) == complete(config)
    assert len(summary["out_of_fold"]) == 5
    written, failures = run_folder(tmp_path / "model", tmp_path / "test", tmp_path / "out", progress=False)
    assert written == 4 and not failures


def test_weight_averaging_keeps_the_moving_average(shared_data, tmp_path):
    import torch

    config = tiny_config(epochs=1).override("training", ema_decay=0.5)
    data = training_data.load_training_data(shared_data / "cinc2021" / "training", config, progress=False,
                                       log=lambda _: None)
    trainer = fold_training.FoldTrainer(data, 0, config, torch.device("cpu"), tmp_path)
    assert trainer.evaluated_network() is trainer.ema.module
    trainer.train_epoch(progress=False)
    raw, averaged = trainer.network.state_dict(), trainer.evaluated_network().state_dict()
    assert any(not torch.equal(raw[k], averaged[k]) for k in raw if raw[k].is_floating_point())
    kept = trainer.run(lambda _: None, progress=False)
    assert all(torch.equal(kept[k], trainer.ema.module.state_dict()[k]) for k in kept)


def test_loader_workers_train_to_the_same_weights_on_a_cpu(shared_data, tmp_path):
    """Workers only cut examples: the crops and lead subsets come from the (seed, epoch, record), wherever drawn."""
    data = shared_data / "cinc2021" / "training"
    config = tiny_config(epochs=2)
    _train(data, tmp_path / "none", config=config)
    _train(data, tmp_path / "two", config=config.override("training", loader_workers=2))
    for fold in (0, 1):
        alone = load_weights(weight_file(tmp_path / "none", fold))
        workers = load_weights(weight_file(tmp_path / "two", fold))
        assert all(np.array_equal(alone[k].numpy(), workers[k].numpy()) for k in alone)


def test_validation_predictions_equal_the_inference_path(shared_data):
    from ecgnet.inference import Ensemble, model_input, predict_prepared

    config = tiny_config().override("training", max_records=12)
    data = training_data.load_training_data(shared_data / "cinc2021" / "training", config, progress=False,
                                       log=lambda _: None)
    torch.manual_seed(0)
    network = build_network(config, len(data.table)).eval()
    rows = np.arange(len(data.index))[::-1]
    for leads in (LEAD_SETS[12], LEAD_SETS[2]):
        got = fold_training.predict_rows(network, data, rows, leads, config, torch.device("cpu"))
        inputs = [model_input(data.prepared.record(r), leads, config, data.index.record_ids[r]) for r in rows]
        ensemble = Ensemble(config, [network], Decision(data.table.codes, {}), torch.device("cpu"))
        np.testing.assert_allclose(got, predict_prepared(ensemble, inputs), rtol=0, atol=1e-6)


def test_a_resumed_checkpoint_keeps_the_optimiser_counters_on_the_cpu(shared_data, tmp_path, monkeypatch):
    data = shared_data / "cinc2021" / "training"
    calls = {"n": 0}
    original = fold_training.FoldTrainer.train_epoch

    def stop_after_one(self, progress):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, progress)

    monkeypatch.setattr(fold_training.FoldTrainer, "train_epoch", stop_after_one)
    with pytest.raises(KeyboardInterrupt):
        _train(data, tmp_path)
    state = torch.load(tmp_path / "checkpoints" / "fold_0.pt", map_location="cpu", weights_only=True)
    assert "cuda_rng" in state
    steps = [value["step"] for value in state["optimizer"]["state"].values()]
    assert steps and all(step.device.type == "cpu" for step in steps)
