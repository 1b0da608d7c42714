"""Folds, lead subsets and training windows (ecgnet.data)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecgnet.config import AugmentConfig, BeatConfig, SignalConfig
from ecgnet.data import (
    REDUCED_LEAD_SETS,
    ExampleOptions,
    TrainingWindows,
    leave_source_out_folds,
    random_lead_mask,
    stratified_folds,
)
from ecgnet.discovery import index_records
from ecgnet.labels import default_class_table
from ecgnet.prepare import PreparedSignals
from ecgnet.records import STANDARD_LEADS, lead_set_name

TABLE = default_class_table()
SINUS = "426783006"
AF = "164889003"


# Folds.
def _assert_stratified(labels, folds, k):
    assert folds.shape == (len(labels),)
    assert set(np.unique(folds)) == set(range(k))
    sizes = np.bincount(folds, minlength=k)
    assert sizes.max() - sizes.min() <= 1
    for c in range(labels.shape[1]):
        positives = labels[:, c].astype(bool)
        if positives.sum() >= k:
            per_fold = np.bincount(folds[positives], minlength=k)
            assert (per_fold > 0).all(), f"class {c} has folds without positives: {per_fold}"
            assert per_fold.max() - per_fold.min() <= max(2, positives.sum() // k // 2)


@pytest.mark.parametrize("k", [2, 3, 5, 10])
def test_stratified_folds_on_random_multilabel_data(k):
    rng = np.random.default_rng(k)
    labels = rng.random((301, 12)) < rng.uniform(0.01, 0.4, 12)
    _assert_stratified(labels, stratified_folds(labels, k, seed=0), k)


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("seed", range(6))
def test_stratified_folds_on_real_labels(shared_data, k, seed):
    index, _ = index_records(shared_data / "cinc2021" / "training", TABLE)
    _assert_stratified(index.labels, stratified_folds(index.labels, k, seed), k)


def test_stratified_folds_with_a_dominant_class_keeps_rare_classes_in_every_fold():
    # Rare classes mostly share records with a class present in most records, as sinus rhythm is.
    rng = np.random.default_rng(177)
    labels = rng.random((60, 6)) < rng.uniform(0.03, 0.3, 6)
    labels[:, 0] |= rng.random(60) < 0.6
    for seed in range(20):
        _assert_stratified(labels, stratified_folds(labels, 4, seed), 4)


def test_stratified_folds_places_unlabelled_records():
    labels = np.zeros((23, 3), dtype=bool)
    labels[:6, 0] = True
    _assert_stratified(labels, stratified_folds(labels, 4, seed=1), 4)


def test_stratified_folds_is_deterministic_per_seed():
    rng = np.random.default_rng(0)
    labels = rng.random((200, 8)) < 0.2
    first = stratified_folds(labels, 5, seed=3)
    assert np.array_equal(first, stratified_folds(labels, 5, seed=3))
    assert not np.array_equal(first, stratified_folds(labels, 5, seed=4))


def test_stratified_folds_rejects_too_few_folds_or_records():
    labels = np.ones((4, 2), dtype=bool)
    with pytest.raises(ValueError, match="at least 2 folds"):
        stratified_folds(labels, 1, seed=0)
    with pytest.raises(ValueError, match="4 records"):
        stratified_folds(labels, 5, seed=0)
    assert sorted(stratified_folds(labels, 4, seed=0)) == [0, 1, 2, 3]


def test_leave_source_out_folds_one_fold_per_sorted_source():
    folds, names = leave_source_out_folds(["PTB-XL", "CPSC", "PTB-XL", "Georgia"])
    assert names == ["CPSC", "Georgia", "PTB-XL"]
    assert folds.tolist() == [2, 0, 2, 1]


# Lead subsets.
def test_random_lead_mask_keeps_all_leads_with_probability_zero():
    rng = np.random.default_rng(0)
    assert all(random_lead_mask(rng, 0.0).all() for _ in range(300))


def test_random_lead_mask_always_reduces_with_probability_one():
    rng = np.random.default_rng(0)
    masks = [random_lead_mask(rng, 1.0) for _ in range(1000)]
    assert all(m.dtype == bool and m.shape == (12,) for m in masks)
    assert not any(m.all() for m in masks)
    assert all(m.any() for m in masks)
    names = {lead_set_name(np.array(STANDARD_LEADS)[m]) for m in masks}
    official = {lead_set_name(leads) for leads in REDUCED_LEAD_SETS}
    assert official <= names
    assert len(names - official) > 20


# Training windows.
def _prepared(lengths, masks=None, seed=0):
    rng = np.random.default_rng(seed)
    sigs = [rng.standard_normal((12, n)).astype(np.float32) + 3.0 for n in lengths]
    masks = np.ones((len(lengths), 12), dtype=bool) if masks is None else np.asarray(masks, dtype=bool)
    for signal, mask in zip(sigs, masks):
        signal[~mask] = 0.0
    demographics = rng.random((len(lengths), 4)).astype(np.float32)
    return PreparedSignals(sigs, masks, demographics)


def test_training_windows_shapes_and_values():
    prepared = _prepared([700, 300, 500])
    labels = np.eye(3, 26, dtype=bool)
    dataset = TrainingWindows(prepared, [2, 0], labels, window=400, reduced_probability=0.5, seed=0)
    assert len(dataset) == 2
    example = dataset[0]
    signal, mask, demographics, target = (example[k] for k in ("signal", "lead_mask", "demographics", "labels"))
    assert signal.shape == (12, 400) and mask.shape == (12,)
    assert example["extra"].shape == (0,) and int(example["source"]) == -1
    assert demographics.tolist() == prepared.demographics[2].tolist()
    assert target.tolist() == labels[2].astype(np.float32).tolist()
    assert str(signal.dtype) == str(mask.dtype) == "torch.float32"


def test_training_windows_repeat_within_an_epoch_and_change_across_epochs():
    prepared = _prepared([2000] * 4)
    dataset = TrainingWindows(prepared, range(4), np.zeros((4, 26)), window=250, reduced_probability=0.5, seed=7)
    first = [dataset[i]["signal"] for i in range(4)]
    assert all((first[i] == dataset[i]["signal"]).all() for i in range(4))
    dataset.set_epoch(1)
    assert not all((first[i] == dataset[i]["signal"]).all() for i in range(4))
    other_seed = TrainingWindows(prepared, range(4), np.zeros((4, 26)), window=250, reduced_probability=0.5, seed=8)
    assert not all((first[i] == other_seed[i]["signal"]).all() for i in range(4))


def test_training_windows_zero_the_leads_left_out():
    masks = np.ones((3, 12), dtype=bool)
    masks[1, 6:] = False  # a limb-lead-only record
    dataset = TrainingWindows(_prepared([600] * 3, masks), range(3), np.zeros((3, 26)), 500, 1.0, seed=0)
    seen_partial = False
    for epoch in range(30):
        dataset.set_epoch(epoch)
        for i in range(3):
            signal, mask = dataset[i]["signal"].numpy(), dataset[i]["lead_mask"].numpy().astype(bool)
            assert mask.any() and not (mask & ~masks[i]).any()
            assert (signal[~mask] == 0).all()
            assert (signal[mask] != 0).any(axis=1).all()
            seen_partial |= not mask.all()
    assert seen_partial


def test_training_windows_fall_back_to_the_record_leads():
    only_v6 = np.zeros((1, 12), dtype=bool)
    only_v6[0, 11] = True
    dataset = TrainingWindows(_prepared([600], only_v6), [0], np.zeros((1, 26)), 500, 1.0, seed=0)
    for epoch in range(40):
        dataset.set_epoch(epoch)
        signal, mask = dataset[0]["signal"], dataset[0]["lead_mask"]
        assert mask.numpy().astype(bool).tolist() == only_v6[0].tolist()
        assert (signal[11] != 0).any() and (signal[:11] == 0).all()


# Methods of the papers in the training examples.
def _with_annotations(prepared: PreparedSignals, n_features: int = 10) -> PreparedSignals:
    rng = np.random.default_rng(5)
    peaks = [np.arange(30, len(s[0]) - 30, 70) for s in prepared.signals]
    values = rng.random((len(prepared.lead_masks), n_features)).astype(np.float32)
    return PreparedSignals(prepared.signals, prepared.lead_masks, prepared.demographics, peaks, values)


def test_examples_with_every_option_off_are_the_plain_ones():
    prepared = _with_annotations(_prepared([700, 900]))
    plain = TrainingWindows(prepared, [0, 1], np.zeros((2, 26)), 400, 0.5, seed=2)
    off = TrainingWindows(prepared, [0, 1], np.zeros((2, 26)), 400, 0.5, seed=2,
                          options=ExampleOptions(beats=BeatConfig(), augment=AugmentConfig(), sample_rate=100))
    for item in range(2):
        for name, value in plain[item].items():
            assert torch.equal(value, off[item][name])


def test_beat_sampling_makes_examples_of_k_beats():
    prepared = _with_annotations(_prepared([700, 900]))
    beats = BeatConfig(enabled=True, beats_per_example=3, beat_samples=50)
    dataset = TrainingWindows(prepared, [0, 1], np.zeros((2, 26)), 400, 0.0, seed=2,
                              options=ExampleOptions(beats=beats, sample_rate=100))
    assert dataset[0]["signal"].shape == (12, 150)
    with pytest.raises(ValueError, match="R peaks"):
        TrainingWindows(_prepared([700]), [0], np.zeros((1, 26)), 400, 0.0, seed=2,
                        options=ExampleOptions(beats=beats))


def test_features_and_sources_reach_the_example():
    prepared = _with_annotations(_prepared([700, 900]))
    dataset = TrainingWindows(prepared, [1, 0], np.zeros((2, 26)), 400, 0.5, seed=2,
                              options=ExampleOptions(features=True, sources=np.array([4, 7])))
    example = dataset[0]
    assert example["extra"].numpy().tolist() == prepared.features[1].tolist()
    assert int(example["source"]) == 7


def test_augmentation_changes_examples_and_keeps_absent_leads_zero():
    masks = np.ones((2, 12), dtype=bool)
    masks[:, 6:] = False
    prepared = _prepared([700, 900], masks)
    plain = TrainingWindows(prepared, [0, 1], np.zeros((2, 26)), 400, 0.0, seed=2)
    augmented = TrainingWindows(prepared, [0, 1], np.zeros((2, 26)), 400, 0.0, seed=2,
                                options=ExampleOptions(augment=AugmentConfig(amplitude_scaling=1.0), sample_rate=100))
    assert not torch.equal(plain[0]["signal"], augmented[0]["signal"])
    assert (augmented[0]["signal"][6:] == 0).all()


# Loading across epochs, and inference windows made on demand.
def test_the_epoch_reaches_workers_that_live_across_epochs():
    """A set_epoch on the main process's dataset never reaches persistent workers; the sampler carries it."""
    from ecgnet.data import EpochSampler, epoch_loader

    prepared = _prepared([700, 900, 800, 600])
    dataset = TrainingWindows(prepared, [0, 1, 2, 3], np.zeros((4, 26)), 400, 0.5, seed=2)
    sampler = EpochSampler(len(dataset), seed=5)
    in_process = epoch_loader(dataset, sampler, 2, workers=0, pin_memory=False, drop_last=False)
    workers = epoch_loader(dataset, EpochSampler(len(dataset), seed=5), 2, workers=2, pin_memory=False,
                           drop_last=False)
    epochs = []
    for epoch in range(2):
        sampler.set_epoch(epoch)
        workers.sampler.set_epoch(epoch)
        expected = [batch["signal"] for batch in in_process]
        got = [batch["signal"] for batch in workers]
        assert all(torch.equal(a, b) for a, b in zip(expected, got))
        epochs.append(torch.cat(got))
    assert not torch.equal(epochs[0], epochs[1])  # new crops and orders every epoch


def test_record_windows_cut_on_demand_equal_the_inference_windows():
    from ecgnet.data import RecordWindows
    from ecgnet.prepare import record_windows

    config = SignalConfig(sample_rate=100, window_seconds=2.0, inference_stride_seconds=1.0)
    masks = np.ones((3, 12), dtype=bool)
    masks[1, 3] = False
    prepared = _prepared([450, 120, 700], masks)
    windows = RecordWindows(prepared, [2, 0, 1], ["I", "II", "aVR", "V1"], config)
    expected = [record_windows(prepared.record(row), ["I", "II", "aVR", "V1"], config) for row in (2, 0, 1)]
    assert len(windows) == sum(len(w) for w, _ in expected)
    cut = [windows[i] for i in range(len(windows))]
    assert [int(item["position"]) for item in cut] == [p for p, (w, _) in enumerate(expected) for _ in w]
    flat = [(window, keep) for w, keep in expected for window in w]
    for item, (window, keep) in zip(cut, flat):
        np.testing.assert_array_equal(item["signal"].numpy(), window)
        np.testing.assert_array_equal(item["lead_mask"].numpy().astype(bool), keep)


def test_full_lead_copies_share_the_window_and_differ_by_the_chosen_leads_alone():
    masks = np.ones((2, 12), dtype=bool)
    masks[1, 9:] = False  # the second record lacks three leads: its full copy lacks them too
    prepared = _prepared([700, 900], masks)
    dataset = TrainingWindows(prepared, [0, 1], np.zeros((2, 26)), 400, 1.0, seed=2,
                              options=ExampleOptions(augment=AugmentConfig(amplitude_scaling=1.0), sample_rate=100,
                                                     full_leads=True))
    for item, row in enumerate([0, 1]):
        example = dataset[item]
        keep = example["lead_mask"].bool()
        assert example["full_lead_mask"].bool().tolist() == masks[row].tolist()
        assert not keep.all()  # a reduced set was drawn (probability 1)
        assert torch.equal(example["signal"][keep], example["full_signal"][keep])
        assert (example["signal"][~keep] == 0).all()
        assert (example["full_signal"][~torch.from_numpy(masks[row])] == 0).all()
