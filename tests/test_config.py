"""Run configuration: TOML, JSON, overrides and validation (ecgnet.config)."""

from __future__ import annotations

import json
import re

import pytest
from conftest import REPO

from ecgnet.config import (
    CONFIG_ENV,
    CONFIG_VERSION,
    RunConfig,
    SignalConfig,
    TrainingConfig,
    default_config_path,
    load_config,
)
from ecgnet.network import complete

CONFIGS = ["default", "small", "demo"]


@pytest.mark.parametrize("name", CONFIGS)
def test_shipped_configs_load_and_round_trip(name, tmp_path):
    config = RunConfig.from_toml(REPO / "configs" / f"{name}.toml")
    assert config.to_dict()["version"] == CONFIG_VERSION
    assert RunConfig.from_dict(config.to_dict()) == config
    config.save_json(tmp_path / "config.json")
    assert RunConfig.load_json(tmp_path / "config.json") == config
    completed = complete(config)  # what training saves, and what a model folder's networks are built from
    completed.save_json(tmp_path / "completed.json")
    assert complete(RunConfig.load_json(tmp_path / "completed.json")) == completed
    assert isinstance(completed.model.params["stage_channels"], tuple)


def test_default_toml_matches_default_path_and_reads_values():
    config = RunConfig.from_toml(default_config_path())
    assert default_config_path() == (REPO / "configs" / "default.toml").resolve()  # configs/ is the package's recipes
    assert config.training.batch_size == 128 and config.model.params["stage_channels"] == [64, 128, 192, 256]
    small = RunConfig.from_toml(REPO / "configs" / "small.toml")
    assert small.model.params["stem_channels"] == 32 and small.signals.bandpass_high == 45.0  # unset keys keep defaults


def test_json_of_a_config_is_plain_json(tmp_path):
    complete(RunConfig()).save_json(tmp_path / "c.json")
    data = json.loads((tmp_path / "c.json").read_text())
    assert set(data) == {"version", "signals", "model", "training", "beats", "features", "feature_model", "augment"}
    assert data["model"]["stage_channels"] == [64, 128, 192, 256]


def test_unknown_section_is_named():
    with pytest.raises(ValueError, match=r"my.toml: unknown config section\(s\) \['optimiser'\]"):
        RunConfig.from_dict({"optimiser": {}}, "my.toml")


def test_unknown_key_is_named_with_its_section(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[training]\nepochs = 3\nlearning_raet = 0.1\n")
    with pytest.raises(ValueError, match=r"bad.toml \[training\]: unknown key\(s\) \['learning_raet'\]"):
        RunConfig.from_toml(path)


def test_invalid_toml_is_a_value_error(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[training\n")
    with pytest.raises(ValueError, match="broken.toml: not valid TOML"):
        RunConfig.from_toml(path)


def test_unreadable_json_names_the_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="config.json: cannot read config"):
        RunConfig.load_json(path)


@pytest.mark.parametrize("version", [0, 2, "1"])
def test_other_config_version_is_rejected(version):
    with pytest.raises(ValueError, match=f"config version {version} is not supported"):
        RunConfig.from_dict({"version": version})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"training": {"epochs": "ten"}}, r"\[training\] epochs must be an integer, not 'ten'"),
        ({"training": {"epochs": True}}, r"\[training\] epochs must be an integer"),
        ({"training": {"mixed_precision": "yes"}}, r"mixed_precision must be true or false"),
        ({"model": {"stage_channels": [8, "16"]}}, r"\[model\]: model 'seresnet' stage_channels must be an integer"),
        ({"model": {"stage_channels": 8}}, r"stage_channels must be a list of integers, not 8"),
        ({"signals": {"bandpass_low": "0.5"}}, r"\[signals\] bandpass_low must be a number"),
        ({"signals": 5}, r"\[signals\]: must be a table of settings"),
        ([1, 2], r"a config must be a table of sections"),
    ],
)
def test_values_of_the_wrong_type_are_named(data, message):
    with pytest.raises(ValueError, match=message):  # the [model] table's types are its architecture's
        complete(RunConfig.from_dict(data, "c.toml"), "c.toml")


def test_numbers_are_converted_to_the_field_type():
    data = {"signals": {"sample_rate": 100.0, "window_seconds": 5}, "training": {"max_records": None}}
    config = RunConfig.from_dict(data)
    assert config.signals.sample_rate == 100 and isinstance(config.signals.sample_rate, int)
    assert isinstance(config.signals.window_seconds, float)
    assert config.training.max_records is None


def test_override_replaces_fields_and_ignores_none():
    config = RunConfig()
    changed = config.override("training", epochs=3, seed=None, device="cpu", max_records=50)
    assert (changed.training.epochs, changed.training.device, changed.training.max_records) == (3, "cpu", 50)
    assert changed.training.seed == config.training.seed
    assert config.training.epochs == 30  # the original is unchanged
    assert changed.model == config.model
    assert complete(config.override("model", stage_channels=[8, 16])).model.params["stage_channels"] == (8, 16)


def test_override_rejects_unknown_keys_sections_and_bad_values():
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['epoch'\]"):
        RunConfig().override("training", epoch=3)
    with pytest.raises(ValueError, match="unknown config section 'optimiser'"):
        RunConfig().override("optimiser", lr=1)
    with pytest.raises(ValueError, match="training.device"):
        RunConfig().override("training", device="tpu")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"device": "gpu"}, "training.device must be one of auto, cpu, cuda"),
        ({"validation": "holdout"}, "training.validation must be one of kfold, leave-source-out"),
        ({"threshold_method": "best"}, "training.threshold_method must be one of coordinate, evolution, fixed"),
        ({"epochs": 0}, "training.epochs must be at least 1"),
        ({"folds": 1}, "training.folds must be at least 2"),
        ({"batch_size": 0}, "training.batch_size must be at least 1"),
        ({"workers": -1}, "training.workers must be at least 0"),
        ({"max_records": 0}, "training.max_records must be at least 1"),
        ({"lead_subset_probability": 1.5}, "training.lead_subset_probability must be between 0 and 1"),
        ({"learning_rate": 0.0}, "training.learning_rate must be positive"),
    ],
)
def test_training_config_validation(values, message):
    with pytest.raises(ValueError, match=message):
        TrainingConfig(**values)


def test_training_config_accepts_valid_choices():
    config = TrainingConfig(device="cuda", validation="leave-source-out", threshold_method="evolution", epochs=1,
                            folds=1)
    assert config.folds == 1  # leave-source-out makes one fold per source whatever ``folds`` says


def test_signal_config_validation_and_window_lengths():
    config = SignalConfig(sample_rate=100, window_seconds=2.5, inference_stride_seconds=0.25)
    assert config.window_samples == 250 and config.stride_samples == 25  # a shorter stride: see test_memory_bounds
    with pytest.raises(ValueError, match="signals.sample_rate must be positive"):
        SignalConfig(sample_rate=0)
    with pytest.raises(ValueError, match="signals.window_seconds must be at least 1, not 0.01"):
        SignalConfig(window_seconds=0.01)  # would pass as positive, then abort the run
    with pytest.raises(ValueError, match="signals.sample_rate must be at least 50 Hz"):
        SignalConfig(sample_rate=10)


def test_load_config_prefers_path_then_environment_then_the_default_recipe(tmp_path, monkeypatch):
    env_file = tmp_path / "env.toml"
    env_file.write_text("[training]\nepochs = 2\n")
    path_file = tmp_path / "path.toml"
    path_file.write_text("[training]\nepochs = 5\n")
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    assert load_config() == RunConfig.from_toml(default_config_path())
    monkeypatch.setenv(CONFIG_ENV, str(env_file))
    assert load_config().training.epochs == 2
    assert load_config(path_file).training.epochs == 5
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "missing.toml"))
    with pytest.raises(ValueError, match="missing.toml: no such config file"):
        load_config()


def test_methods_recipe_spells_out_every_switch_and_changes_nothing():
    """configs/methods.toml documents every method's setting; with all off it is the small recipe."""
    import dataclasses
    import tomllib

    text = tomllib.loads((REPO / "configs" / "methods.toml").read_text())
    methods = RunConfig.from_toml(REPO / "configs" / "methods.toml")
    assert methods == RunConfig.from_toml(REPO / "configs" / "small.toml")
    for section in ("beats", "features", "feature_model", "augment"):
        assert set(text[section]) == {f.name for f in dataclasses.fields(getattr(methods, section))}
    switches = {"label_masking", "domain_weight", "reward_weights", "reward_alpha", "challenge_loss_weight",
                "pretrain_epochs", "pretrain_temperature", "ema_decay", "threshold_method"}
    assert switches <= set(text["training"])


@pytest.mark.parametrize("section, values, message", [
    ("beats", {"beats_per_example": 0}, "beats.beats_per_example must be at least 1"),
    ("augment", {"cutout": 1.5}, "augment.cutout must be a probability"),
    ("training", {"domain_weight": -1.0}, "training.domain_weight must not be negative"),
    ("training", {"pretrain_epochs": -1}, "training.pretrain_epochs must be at least 0"),
    ("training", {"pretrain_temperature": 0.0}, "training.pretrain_temperature must be positive"),
    ("training", {"ema_decay": 1.0}, r"training.ema_decay must be in \[0, 1\)"),
    ("feature_model", {"stack": "vote"}, "feature_model.stack must be one of logistic, mean"),
    ("feature_model", {"max_leaf_nodes": 1}, "feature_model.max_leaf_nodes is too small"),
    ("feature_model", {"learning_rate": 0.0}, "feature_model.learning_rate must be positive"),
    ("feature_model", {"l2_regularization": -1.0}, "feature_model.l2_regularization must not be negative"),
])
def test_method_settings_out_of_range_are_named(section, values, message):
    with pytest.raises(ValueError, match=message):
        RunConfig.from_dict({section: values})


def test_augmentation_is_enabled_by_any_probability():
    from ecgnet.config import AugmentConfig

    assert not AugmentConfig().enabled and AugmentConfig(lead_inversion=0.1).enabled
    assert AugmentConfig.recommended().enabled


def test_a_shipped_recipe_is_found_by_its_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anywhere: an installed package carries its recipes
    assert load_config("small") == RunConfig.from_toml(REPO / "configs" / "small.toml")
    with pytest.raises(ValueError, match="no shipped recipe of that name .*small"):
        load_config("smal")


# Ranges that keep a run's memory bounded, checked wherever a config is built: a TOML recipe, a saved
# config.json, an override. Each error names the file, the section and the field.
@pytest.mark.parametrize("section, values, message", [
    ("signals", {"sample_rate": 10_000_000}, "signals.sample_rate must be at most 2000, not 10000000"),
    ("signals", {"sample_rate": 10}, "signals.sample_rate must be at least 50 Hz"),
    ("signals", {"window_seconds": 1e6}, "signals.window_seconds must be at most 120, not 1000000.0"),
    ("signals", {"window_seconds": 120.0, "sample_rate": 2000, "inference_stride_seconds": 60.0},
     "signals.window_seconds x sample_rate must be at most 60000 samples a window, not 240000"),
    ("signals", {"inference_stride_seconds": 0.001}, "signals.inference_stride_seconds must be at least "
                                                     "window_seconds / 10 (1; each sample in at most 10 windows)"),
    ("signals", {"inference_stride_seconds": 1e9}, "signals.inference_stride_seconds must be at most 120"),
    ("signals", {"filter_order": 1000}, "signals.filter_order must be at most 10"),
    ("signals", {"bandpass_low": -1.0}, "signals.bandpass_low must not be negative"),
    ("signals", {"bandpass_high": 1e9}, "signals.bandpass_high must be at most 1000"),
    ("beats", {"beats_per_example": 1000}, "beats.beats_per_example must be at most 64"),
    ("beats", {"beats_per_example": 64, "beat_samples": 5000}, "beats.beats_per_example x beat_samples must be at "
                                                              "most 60000 samples a window, not 320000"),
    ("beats", {"inference_groups": 10**6}, "beats.inference_groups must be at most 256"),
    ("training", {"epochs": 10**6}, "training.epochs must be at most 1000"),
    ("training", {"batch_size": 10**6}, "training.batch_size must be at most 4096"),
    ("training", {"folds": 1000}, "training.folds must be at most 20"),
    ("training", {"workers": 10**4}, "training.workers must be at most 256"),
    ("training", {"pretrain_epochs": 10**6}, "training.pretrain_epochs must be at most 1000"),
    ("training", {"seed": -1}, "training.seed must be at least 0"),
    ("training", {"seed": 2**64}, "training.seed must be at most 4294967295"),
    ("feature_model", {"max_iter": 10**9}, "feature_model.max_iter must be at most 10000"),
    ("feature_model", {"max_leaf_nodes": 10**9}, "feature_model.max_leaf_nodes must be at most 4096"),
    ("model", {"stage_channels": [8, 16, 10**6, 24]}, "model.stage_channels must be between 1 and 1024, not 1000000"),
    ("model", {"blocks_per_stage": [1, 1, 1000, 1]}, "model.blocks_per_stage must be between 1 and 16, not 1000"),
    ("model", {"stem_channels": 10**400}, "model.stem_channels must be between 1 and 1024, not a number of 401"),
    ("model", {"stage_channels": [8] * 100, "blocks_per_stage": [1] * 100},
     "model.stage_channels must list at most 16"),
    ("model", {"dropout": float("nan")}, "model.dropout must be between -1000000 and 1000000, not nan"),
])
def test_memory_bounds(section, values, message, tmp_path):
    """The same refusal from a TOML recipe and from a saved config.json, naming the file and the field."""
    with pytest.raises(ValueError, match=re.escape(f"c.toml [{section}]")) as from_dict:
        RunConfig.from_dict({section: values}, "c.toml")
    assert message in str(from_dict.value) and "\n" not in str(from_dict.value)
    path = tmp_path / "config.json"
    path.write_text(json.dumps({section: values}))
    with pytest.raises(ValueError, match=re.escape(f"{path} [{section}]")) as from_json:
        RunConfig.load_json(path)
    assert message in str(from_json.value)


@pytest.mark.parametrize("section, key", [("signals", "window_seconds"), ("training", "learning_rate"),
                                          ("feature_model", "stack_regularization"), ("training", "reward_alpha")])
@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
def test_numbers_that_are_not_finite_are_refused_from_toml(section, key, value, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(f"[{section}]\n{key} = {value}\n")
    with pytest.raises(ValueError, match=re.escape(f"c.toml [{section}]: {section}.{key} must be")):
        RunConfig.from_toml(path)


def test_integers_too_large_for_a_float_or_for_python_are_refused_in_one_line(tmp_path):
    with pytest.raises(ValueError, match=r"c.toml \[signals\] window_seconds must be a number of sane size, not a "
                                         "number of 401 digits"):
        RunConfig.from_dict({"signals": {"window_seconds": 10**400}}, "c.toml")
    for name, text in (("c.toml", "[training]\nepochs = " + "9" * 5000 + "\n"),
                       ("c.json", '{"training": {"epochs": ' + "9" * 5000 + "}}")):
        (tmp_path / name).write_text(text)
        load = RunConfig.from_toml if name.endswith(".toml") else RunConfig.load_json
        with pytest.raises(ValueError, match=f"{name}: holds a number too long to read"):
            load(tmp_path / name)


def test_an_override_is_held_to_the_same_ranges():
    with pytest.raises(ValueError, match="signals.sample_rate must be at most 2000"):
        RunConfig().override("signals", sample_rate=10**7)


def test_the_ranges_admit_every_shipped_recipe_and_their_edges():
    for name in CONFIGS + ["methods"]:
        load_config(name)
    SignalConfig(sample_rate=2000, window_seconds=30.0, inference_stride_seconds=3.0)
    SignalConfig(sample_rate=500, window_seconds=120.0, inference_stride_seconds=12.0)
    RunConfig.from_dict({"model": {"stage_channels": [1024] * 4, "blocks_per_stage": [16] * 4},
                         "training": {"seed": 2**32 - 1, "batch_size": 4096}, "beats": {"beats_per_example": 64}})
