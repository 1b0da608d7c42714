"""Inference: every lead set, one-record and batched paths agree, model folders survive a round trip."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import helper_code
import team_code
from ecgnet import inference
from ecgnet.artifacts import ModelFolderError
from ecgnet.metric import evaluate_folders
from ecgnet.outputs import read_outputs

pytestmark = pytest.mark.slow
LEAD_FOLDERS = ("twelve_leads", "six_leads", "four_leads", "three_leads", "two_leads")


@pytest.mark.parametrize("folder", LEAD_FOLDERS)
def test_runs_on_every_reduced_lead_folder(trained_model, shared_data, tmp_path, folder):
    data = shared_data / "cinc2021" / "reduced_leads" / folder
    written, failures = inference.run_folder(trained_model, data, tmp_path, progress=False)
    assert (written, failures) == (50, [])
    scores = evaluate_folders(data, tmp_path)
    assert 0.0 <= scores.auroc <= 1.0


def _harness_outputs(model_dir, data_dir):
    """What the official harness does: load_model per lead set, run_model per record."""
    results = {}
    header_files, recording_files = helper_code.find_challenge_files(str(data_dir))
    for header_file, recording_file in zip(header_files, recording_files):
        header = helper_code.load_header(header_file)
        leads = helper_code.sort_leads(helper_code.get_leads(header))
        model = team_code.load_model(str(model_dir), leads)
        results[helper_code.get_recording_id(header)] = team_code.run_model(
            model, header, helper_code.load_recording(recording_file))
    return results


@pytest.mark.parametrize("folder", ("twelve_leads", "three_leads"))
def test_batch_and_single_record_paths_agree(trained_model, shared_data, tmp_path, folder):
    data = shared_data / "cinc2021" / "reduced_leads" / folder
    inference.run_folder(trained_model, data, tmp_path, records_per_batch=7, progress=False)
    for record_id, (classes, labels, probabilities) in _harness_outputs(trained_model, data).items():
        _, batch_classes, batch_labels, batch_probabilities = read_outputs(tmp_path / f"{record_id}.csv")
        assert list(batch_classes) == list(classes)
        np.testing.assert_allclose([float(p) for p in batch_probabilities], probabilities, atol=2e-5)
        assert [int(x) for x in batch_labels] == list(labels)


def test_single_record_accepts_int16_and_float(trained_model, shared_data):
    header_file = shared_data / "cinc2021" / "reduced_leads" / "six_leads" / "E07500.hea"
    header = helper_code.load_header(str(header_file))
    recording = helper_code.load_recording(str(header_file.with_suffix(".mat")))
    model = team_code.load_model(str(trained_model), helper_code.get_leads(header))
    _, _, from_int = team_code.run_model(model, header, recording.astype(np.int16))
    _, _, from_float = team_code.run_model(model, header, recording.astype(np.float64))
    np.testing.assert_allclose(from_int, from_float, atol=1e-6)


def test_header_order_does_not_matter(trained_model, shared_data):
    """A record whose rows follow a non-standard header order gives the same result."""
    header_file = shared_data / "cinc2021" / "reduced_leads" / "three_leads" / "E07500.hea"
    header = helper_code.load_header(str(header_file))
    recording = helper_code.load_recording(str(header_file.with_suffix(".mat")))
    lines = header.strip().split("\n")
    swapped_header = "\n".join([lines[0], lines[3], lines[1], lines[2], *lines[4:]])
    model = team_code.load_model(str(trained_model), ("I", "II", "V2"))
    _, _, expected = team_code.run_model(model, header, recording)
    _, _, swapped = team_code.run_model(model, swapped_header, recording[[2, 0, 1]])
    np.testing.assert_allclose(swapped, expected, atol=1e-6)


def test_model_folder_round_trip(trained_model, shared_data, tmp_path):
    copy = tmp_path / "copied"
    shutil.copytree(trained_model, copy)
    data = shared_data / "cinc2021" / "reduced_leads" / "two_leads"
    inference.run_folder(trained_model, data, tmp_path / "a", progress=False)
    inference.run_folder(copy, data, tmp_path / "b", progress=False)
    for output in (tmp_path / "a").glob("*.csv"):
        assert output.read_text() == (tmp_path / "b" / output.name).read_text()


def test_corrupted_model_folder_fails_clearly(trained_model, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(trained_model, broken)
    (broken / "fold_1.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ModelFolderError, match="fold_1.safetensors"):
        inference.load_ensemble(broken, "cpu")


def test_a_stacked_model_folder_loads_without_unpickling(trained_model, shared_data, monkeypatch):
    """Weights, trees and stack come from safetensors and JSON: unpickling anything would raise here."""
    import pickle

    def refuse(*_args, **_kwargs):
        raise AssertionError("a model folder must never be unpickled")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(np, "load", refuse)
    ensemble = inference.load_ensemble(trained_model, "cpu")
    assert ensemble.decision.stacked and len(ensemble.decision.trees) == 5 * 26
    header_file = shared_data / "cinc2021" / "reduced_leads" / "three_leads" / "E07500.hea"
    header = helper_code.load_header(str(header_file))
    recording = helper_code.load_recording(str(header_file.with_suffix(".mat")))
    model = team_code.load_model(str(trained_model), helper_code.get_leads(header))
    _, labels, probabilities = team_code.run_model(model, header, recording)
    assert np.isfinite(probabilities).all() and len(labels) == 26


def test_stack_entries_that_do_not_fit_fail_clearly(trained_model, tmp_path):
    import json

    from ecgnet.trees import load_trees, save_trees

    def broken(name, edit):
        folder = tmp_path / name
        shutil.copytree(trained_model, folder)
        edit(folder)
        return folder

    def without_feature_model(folder):
        config = json.loads((folder / "config.json").read_text())
        config["feature_model"]["enabled"] = False
        (folder / "config.json").write_text(json.dumps(config))

    def missing_class(folder):
        trees = load_trees(folder / "trees.safetensors")
        del trees[next(iter(trees))]
        save_trees(folder / "trees.safetensors", trees)

    def bad_stack(folder):
        description = json.loads((folder / "model.json").read_text())
        description["stacks"]["I,II"]["intercepts"][0] = "x"
        (folder / "model.json").write_text(json.dumps(description))

    for name, edit, message in (("config", without_feature_model, "has no feature model, but the folder has a stack"),
                                ("trees", missing_class, "trees.safetensors: no model for class"),
                                ("stack", bad_stack, "model.json: stack for I,II")):
        with pytest.raises(ModelFolderError, match=message):
            inference.load_ensemble(broken(name, edit), "cpu")
    (tmp_path / "gone").mkdir()
    shutil.copytree(trained_model, tmp_path / "gone" / "model")
    (tmp_path / "gone" / "model" / "trees.safetensors").unlink()
    with pytest.raises(ModelFolderError, match="trees.safetensors: trees file is missing"):
        inference.load_ensemble(tmp_path / "gone" / "model", "cpu")


def test_a_batch_of_only_broken_records_does_not_stop_a_stacked_run(trained_model, shared_data, tmp_path):
    source = shared_data / "cinc2021" / "reduced_leads" / "twelve_leads"
    data = tmp_path / "data"
    data.mkdir()
    for name in ("E07500", "E07501", "E07502"):
        for suffix in (".hea", ".mat"):
            shutil.copy(source / f"{name}{suffix}", data)
    for name in ("E07500", "E07501"):  # the first batch of two: both unreadable
        (data / f"{name}.mat").write_bytes(b"garbage")
    written, failures = inference.run_folder(trained_model, data, tmp_path / "out", records_per_batch=2,
                                             progress=False)
    assert written == 1 and len(failures) == 2
    assert (tmp_path / "out" / "E07502.csv").is_file()


# A model folder's weights are compared with the network config.json describes before that network is built.


def _untrained_folder(directory):
    """A model folder of two untrained networks of the tiny recipe and three classes (no training needed)."""
    from conftest import tiny_config

    from ecgnet.artifacts import save_model_description, save_weights, weight_file
    from ecgnet.decision import Decision
    from ecgnet.labels import default_class_table
    from ecgnet.network import build_network

    config, table = tiny_config(), default_class_table()
    save_model_description(directory, config, table.codes[:3], table.labels[:3], 2,
                           Decision(table.codes[:3], {"I,II": np.full(3, 0.5)}))
    for fold in range(2):
        save_weights(weight_file(directory, fold), build_network(config, 3).state_dict())
    return directory


def _edit(path, change):
    import json

    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _load_error(folder, runtime="torch"):
    with pytest.raises(ModelFolderError) as caught:
        inference.load_ensemble(folder, "cpu", runtime)
    text = str(caught.value)
    assert "\n" not in text and len(text) <= 400, text
    return text


def test_an_untrained_folder_loads(tmp_path):
    assert len(inference.load_ensemble(_untrained_folder(tmp_path / "model"), "cpu").networks) == 2


def test_a_state_dict_that_does_not_fit_names_the_file_and_the_tensors(tmp_path):
    folder = _untrained_folder(tmp_path / "model")
    _edit(folder / "config.json", lambda c: c["model"].update(stem_channels=16))
    text = _load_error(folder)
    assert text.startswith(f"{folder / 'fold_0.safetensors'}: weights do not fit the network config.json describes: ")
    assert "size mismatch for stem_conv.weight (8, 12, 15) in the file, (16, 12, 15) in the network" in text


def test_missing_and_unexpected_tensors_are_named(tmp_path):
    from ecgnet.artifacts import load_weights, save_weights

    folder = _untrained_folder(tmp_path / "model")
    state = load_weights(folder / "fold_1.safetensors")
    state["surplus.weight"] = state.pop("head.weight")
    save_weights(folder / "fold_1.safetensors", state)
    text = _load_error(folder)
    assert "fold_1.safetensors: weights do not fit" in text
    assert "missing tensors head.weight; unexpected tensors surplus.weight" in text


def test_many_mismatches_are_cut_to_one_short_line(tmp_path):
    folder = _untrained_folder(tmp_path / "model")
    _edit(folder / "config.json", lambda c: c["model"].update(stage_channels=[16, 32, 32, 48],
                                                               blocks_per_stage=[2, 2, 2, 2]))
    text = _load_error(folder)
    assert "missing tensors" in text and " more" in text


def test_a_network_that_does_not_fit_its_weights_is_never_allocated(tmp_path, monkeypatch):
    """Only the meta-device build runs: a config.json describing a huge network costs no memory."""
    import torch

    import ecgnet.network

    built, original = [], ecgnet.network.build_network

    def spy(config, classes):
        built.append(torch.empty(0).device.type)
        return original(config, classes)

    folder = _untrained_folder(tmp_path / "model")
    _edit(folder / "config.json", lambda c: c["model"].update(stem_channels=1024, stage_channels=[1024] * 4))
    monkeypatch.setattr(ecgnet.network, "build_network", spy)
    assert "size mismatch for stem_conv.weight" in _load_error(folder)
    assert built == ["meta"]


def test_a_config_the_architecture_refuses_is_named(tmp_path):
    folder = _untrained_folder(tmp_path / "model")
    _edit(folder / "config.json", lambda c: c["model"].update(stem_kernel=4))
    assert f"{folder / 'config.json'}: stem_kernel must be a positive odd number" in _load_error(folder)


@pytest.mark.slow
def test_spreads_are_those_of_the_final_outputs_each_network_or_window_alone_would_give(trained_model, tmp_path):
    import dataclasses

    import neurokit2 as nk

    from ecgnet.inference import load_ensemble, predict_prepared, prepared_batches, uncertainty_spreads
    from ecgnet.records import STANDARD_LEADS, write_record

    for seed, seconds in enumerate((10, 10, 25)):  # the last has several windows
        ecg = np.asarray(nk.ecg_simulate(duration=seconds, sampling_rate=500, heart_rate=60 + 10 * seed,
                                         random_state=seed))
        write_record(tmp_path / "data", f"R{seed}", np.tile(ecg, (12, 1)), 500, age=50, sex="Male")
    ensemble = load_ensemble(trained_model, "cpu")
    paths = sorted((tmp_path / "data").glob("*.hea"))
    records = [record for _, record in next(prepared_batches(paths, STANDARD_LEADS, ensemble.config, 0, 8))]
    assert max(len(record.windows) for record in records) >= 3
    across_networks, across_windows = uncertainty_spreads(ensemble, records)
    alone = [predict_prepared(dataclasses.replace(ensemble, networks=[network]), records)
             for network in ensemble.networks]  # each through the stack and the calibration
    np.testing.assert_allclose(across_networks, np.std(alone, axis=0), rtol=1e-9, atol=1e-12)
    for k, record in enumerate(records):
        windows = [dataclasses.replace(record, windows=record.windows[w : w + 1]) for w in range(len(record.windows))]
        np.testing.assert_allclose(across_windows[k], predict_prepared(ensemble, windows).std(axis=0),
                                   rtol=1e-5, atol=1e-8)  # float32 batches of other sizes
