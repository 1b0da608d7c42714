"""Distributed training: the helpers alone and in a group of one, and a 2-process torchrun run on the CPU."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
from conftest import REPO
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import TensorDataset

from ecgnet import distributed, inference

TORCHRUN_VARIABLES = ("WORLD_SIZE", "LOCAL_RANK", "RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture
def alone(monkeypatch):
    """A process that torchrun did not start."""
    for name in TORCHRUN_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_helpers_fall_back_to_a_single_process(alone):
    rows = np.arange(7)
    network = torch.nn.BatchNorm1d(3)
    with distributed.process_group("cpu") as device:
        assert device == torch.device("cpu")
        assert not distributed.is_distributed()  # no process group was started
        assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
        distributed.barrier()
        distributed.broadcast_buffers(network)
        assert distributed.broadcast_object({"a": 1}) == {"a": 1}
        assert distributed.all_gather_object(3) == [3]
        assert distributed.shard(rows) is rows
        assert distributed.gather_shards(rows) is rows
        assert distributed.sum_over_processes(1.5, 2) == (1.5, 2.0)
        assert distributed.wrap(network, device) is network
        assert distributed.training_sampler(TensorDataset(torch.zeros(4)), seed=0) is None


def test_torchrun_with_one_process_is_a_plain_run(alone, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert not distributed.launched_by_torchrun()
    with distributed.process_group("cpu"):
        assert not distributed.is_distributed()


def test_rank_comes_from_torchrun_variables_outside_a_group(alone, monkeypatch):
    """As in train_model.py after training has left the process group."""
    for name, value in {"WORLD_SIZE": "2", "LOCAL_RANK": "1", "RANK": "1"}.items():
        monkeypatch.setenv(name, value)
    assert distributed.launched_by_torchrun()
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (1, 2, False)
    assert distributed.process_device("cpu") == torch.device("cpu")


@pytest.fixture
def group_of_one(alone, tmp_path):
    """A real gloo process group of one process, so that the collectives run."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    yield
    distributed.cleanup()


def test_helpers_in_a_group_of_one(group_of_one):
    assert distributed.is_distributed()
    rows = np.arange(5)
    assert np.array_equal(distributed.gather_shards(distributed.shard(rows)), rows)
    assert distributed.broadcast_object(("decision", 1)) == ("decision", 1)
    assert distributed.sum_over_processes(2.0, 3) == (2.0, 3.0)
    distributed.barrier()
    network = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    distributed.broadcast_buffers(network)
    assert isinstance(distributed.wrap(network, torch.device("cpu")), DistributedDataParallel)
    sampler = distributed.training_sampler(TensorDataset(torch.zeros(6)), seed=3)
    sampler.set_epoch(1)
    assert sorted(sampler) == list(range(6))


TINY_TOML = """
[signals]
sample_rate = 100
window_seconds = 5.0
inference_stride_seconds = 2.5

[model]
stem_channels = 8
stage_channels = [8, 16, 16, 24]
blocks_per_stage = [1, 1, 1, 1]

[training]
epochs = 2
folds = 2
batch_size = 16
workers = 1
device = "cpu"
seed = 0
patience = 5
"""


def _torchrun(processes: int, *arguments: str | Path) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in TORCHRUN_VARIABLES}
    environment["OMP_NUM_THREADS"] = "1"  # two processes on a machine that may have two cores
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
               "train_model.py", *map(str, arguments)]
    return subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_two_cpu_processes_write_a_model_that_runs(shared_data, tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_TOML)
    model_dir = tmp_path / "model"
    done = _torchrun(2, shared_data / "cinc2021" / "training", model_dir, "--config", config, "--device", "cpu",
                     "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "training on 2 processes" in done.stdout
    # Only rank 0 logs and prints.
    assert done.stdout.count("77 records") == 1
    assert done.stdout.count("model written to") == 1

    names = {p.name for p in model_dir.iterdir()}
    assert {"config.json", "model.json", "fold_0.safetensors", "fold_1.safetensors", "training_log.csv",
            "summary.json", "out_of_fold.npz"} <= names
    assert "checkpoints" not in names
    with open(model_dir / "training_log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["fold"], r["epoch"]) for r in rows] == [("0", "1"), ("0", "2"), ("1", "1"), ("1", "2")]
    summary = json.loads((model_dir / "summary.json").read_text())["out_of_fold"]
    assert all(scores["records"] == 77 for scores in summary.values())
    with np.load(model_dir / "out_of_fold.npz") as oof:  # the gathered shares fill every record
        probabilities = [name for name in oof.files if name not in ("labels", "folds", "record_ids")]
        assert all(np.all(oof[name].sum(axis=1) > 0) for name in probabilities)
        assert len(oof["record_ids"]) == 77

    outputs = tmp_path / "outputs"
    written, failures = inference.run_folder(model_dir, shared_data / "cinc2021" / "reduced_leads" / "two_leads",
                                             outputs, device="cpu", progress=False)
    assert (written, failures) == (50, [])


@pytest.mark.slow
def test_two_cpu_processes_train_with_every_method_on(shared_data, tmp_path):
    """Pre-training, the source classifier, beat sampling and the features under DistributedDataParallel."""
    config = tmp_path / "methods.toml"
    methods = {"label_masking = true", "domain_weight = 0.1", "reward_weights = true", "challenge_loss_weight = 0.5",
               "pretrain_epochs = 1"}
    text = TINY_TOML.replace("epochs = 2", "epochs = 1").replace("patience = 5", "patience = 5\n" + "\n".join(methods))
    config.write_text(text + "\n[beats]\nenabled = true\n\n[features]\nenabled = true\n\n[augment]\ncutout = 0.5\n")
    done = _torchrun(2, shared_data / "cinc2021" / "training", tmp_path / "model", "--config", config, "--device",
                     "cpu", "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("pre-training epoch 1") == 2  # once per fold, logged by rank 0 only
    assert (tmp_path / "model" / "fold_1.safetensors").is_file()
