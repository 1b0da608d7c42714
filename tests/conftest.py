"""Shared fixtures: where the real records of ``../shared/data`` are, and small helpers for tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SHARED_REFERENCE = REPO.parent / "shared" / "reference"


def _need(path: Path) -> Path:
    """``path`` if it exists; otherwise skip (or fail when REQUIRE_SHARED_DATA=1, as in CI)."""
    if path.exists():
        return path
    reason = f"needs the shared real records at {path} (absent here)"
    if os.environ.get("REQUIRE_SHARED_DATA") == "1":
        pytest.fail(f"REQUIRE_SHARED_DATA=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def _private_signal_cache(tmp_path_factory) -> None:
    """Tests cache preprocessed signals in a folder of their own, never in the user's cache."""
    os.environ["ECGNET_CACHE"] = str(tmp_path_factory.mktemp("signal-cache"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``: real Challenge-format records (see its README)."""
    return _need(SHARED_DATA)


@pytest.fixture(scope="session")
def shared_reference() -> Path:
    """``../shared/reference``: the official class tables."""
    return _need(SHARED_REFERENCE)


def tiny_config(epochs: int = 2, folds: int = 2):
    """A network and recipe small enough to train in seconds on 2 CPU cores."""
    from ecgnet.config import RunConfig

    return RunConfig.from_dict({
        "signals": {"sample_rate": 100, "window_seconds": 5.0, "inference_stride_seconds": 2.5},
        "model": {"stem_channels": 8, "stage_channels": [8, 16, 16, 24], "blocks_per_stage": [1, 1, 1, 1]},
        "training": {"epochs": epochs, "folds": folds, "batch_size": 16, "workers": 1, "device": "cpu",
                     "seed": 0, "patience": 5},
    })


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory, shared_data) -> Path:
    """A model folder trained with the small recipe (2 epochs, 2 folds, fewer trees) on the 77 real training
    records: the network, the feature model and the stack."""
    from ecgnet.config import RunConfig
    from ecgnet.training import train

    config = RunConfig.from_toml(REPO / "configs" / "small.toml").override("training", epochs=2, folds=2, device="cpu")
    config = config.override("feature_model", max_iter=30)
    model_dir = tmp_path_factory.mktemp("model")
    train(shared_data / "cinc2021" / "training", model_dir, config, progress=False, log=lambda _: None)
    return model_dir


@pytest.fixture(scope="session")
def untrained_model(tmp_path_factory) -> Path:
    """A model folder of one untrained network of the tiny recipe, for the 26 scored classes, thresholds 0.5:
    what runs a folder of records end to end in seconds, for tests of what is run rather than of its scores."""
    import numpy as np

    from ecgnet.artifacts import save_model_description, save_weights, weight_file
    from ecgnet.decision import Decision
    from ecgnet.labels import default_class_table
    from ecgnet.network import build_network

    folder = tmp_path_factory.mktemp("untrained") / "model"
    config, table = tiny_config(), default_class_table()
    save_model_description(folder, config, table.codes, table.labels, 1,
                           Decision(table.codes, {"I,II": np.full(len(table), 0.5)}))
    save_weights(weight_file(folder, 0), build_network(config, len(table)).state_dict())
    return folder
