"""The network a run's config describes: completing the [model] table, building, shapes without memory."""

from __future__ import annotations

import pytest
import torch

from ecgnet.config import ModelConfig, RunConfig
from ecgnet.network import build_network, complete, complete_model, network_shapes


def test_config_with_unknown_architecture_fails_clearly() -> None:
    with pytest.raises(ValueError, match="unknown model 'nope'; known models"):
        complete_model(ModelConfig(architecture="nope"))


def test_the_model_table_is_checked_against_the_constructor_and_filled_with_its_defaults() -> None:
    config = complete_model(ModelConfig(params={"stem_channels": 16, "stage_channels": [8, 16], "dropout": 0}))
    assert config.params["stage_channels"] == (8, 16) and config.params["dropout"] == 0.0
    assert config.params["kernel_size"] == 7  # left out: the constructor's default, written out
    with pytest.raises(ValueError, match=r"unknown argument\(s\) \['width'\]; it accepts \['block_dropout'"):
        complete_model(ModelConfig(params={"width": 3}))
    with pytest.raises(ValueError, match="stem_channels must be an integer, not 'wide'"):
        complete_model(ModelConfig(params={"stem_channels": "wide"}))
    with pytest.raises(ValueError, match=r"\['num_classes'\] are decided by the run"):
        complete_model(ModelConfig(params={"num_classes": 3}))


def test_complete_names_the_source_and_leaves_the_rest_of_the_config_alone() -> None:
    config = RunConfig(model=ModelConfig(params={"stem_channels": 8}))
    completed = complete(config, "my.toml")
    assert completed.model.params["stem_channels"] == 8 and "kernel_size" in completed.model.params
    assert completed.training == config.training and completed.signals == config.signals
    assert complete(completed) == completed  # a saved config is already complete
    with pytest.raises(ValueError, match=r"^my.toml \[model\]: model 'seresnet' got unknown argument"):
        complete(RunConfig(model=ModelConfig(params={"width": 3})), "my.toml")


def test_the_config_stays_plain_data_until_completed() -> None:
    assert RunConfig.from_dict({"model": {"width": 3}}).model.params == {"width": 3}  # no torch, no registry


def test_shapes_on_the_meta_device_are_those_of_the_built_network() -> None:
    config = complete(RunConfig(model=ModelConfig(params={"stem_channels": 8, "stage_channels": [8, 8],
                                                         "blocks_per_stage": [1, 1]})))
    torch.manual_seed(0)
    built = {name: tuple(t.shape) for name, t in build_network(config, 5).state_dict().items()}
    assert network_shapes(config, 5) == built
