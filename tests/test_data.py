"""Indexing, folds, lead subsets and training windows (ecgnet.data)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecgnet.config import AugmentConfig, BeatConfig, SignalConfig
from ecgnet.data import (
    REDUCED_LEAD_SETS,
    ExampleOptions,
    PreparedSignals,
    TrainingWindows,
    index_records,
    join_prepared,
    lead_set_name,
    leave_source_out_folds,
    random_lead_mask,
    record_windows,
    source_of,
    stratified_folds,
)
from ecgnet.labels import default_class_table
from ecgnet.records import STANDARD_LEADS, write_record

TABLE = default_class_table()
SINUS = "426783006"
AF = "164889003"


# Sources and lead-set names.
@pytest.mark.parametrize(
    ("record_id", "source"),
    [
        ("A0001", "CPSC"),
        ("Q0001", "CPSC-Extra"),
        ("I01", "INCART"),
        ("S0001", "PTB"),
        ("HR00001", "PTB-XL"),
        ("E00001", "Georgia"),
        ("JS00001", "Chapman-Ningbo"),
        ("hr00001", "PTB-XL"),
        ("X0001", "other"),
        ("AB0001", "other"),
        ("H0001", "other"),
        ("00001", "other"),
        ("", "other"),
    ],
)
def test_source_of_maps_every_challenge_prefix(record_id, source):
    assert source_of(record_id) == source


def test_lead_set_name_uses_standard_order_and_spelling():
    assert lead_set_name(["II", "I"]) == "I,II"
    assert lead_set_name(["V2", "II", "I"]) == "I,II,V2"
    assert lead_set_name(["AVR", "avl", "I"]) == "I,aVR,aVL"
    assert lead_set_name(["I", "I", "II"]) == "I,II"
    assert lead_set_name(["I", "X1"]) == "I"
    assert lead_set_name(list(reversed(STANDARD_LEADS))) == ",".join(STANDARD_LEADS)


# Indexing a data folder.
def test_index_records_of_shared_training_folder(shared_data):
    index, failures = index_records(shared_data / "cinc2021" / "training", TABLE)
    assert failures == []
    assert len(index) == 77
    assert index.labels.shape == (77, len(TABLE)) == (77, 26)
    assert index.labels.dtype == bool
    assert index.labels.any(axis=1).all()
    assert set(index.sources) == {"CPSC", "Georgia", "PTB-XL", "Chapman-Ningbo"}
    assert index.sources.count("Chapman-Ningbo") == 45
    assert index.sources.count("PTB-XL") == 17
    assert index.record_ids == [p.stem for p in index.header_paths]
    assert len(index) == 77


def _write(directory, record_id, labels=(SINUS,), age=50.0, sex="Male"):
    signal = np.zeros((12, 500))
    return write_record(directory, record_id, signal, 500, age=age, sex=sex, labels=labels)


def test_index_records_is_recursive_and_reports_missing_recordings(tmp_path):
    _write(tmp_path, "A0001", labels=(AF,))
    _write(tmp_path / "sub" / "deeper", "HR00001", age=None, sex=None)
    lost = _write(tmp_path / "sub", "E00001")
    lost.with_suffix(".mat").unlink()
    (tmp_path / "broken.hea").write_text("not a header\n")

    index, failures = index_records(tmp_path, TABLE)

    assert sorted(index.record_ids) == ["A0001", "HR00001"]
    failed = dict(failures)
    assert set(failed) == {str(lost), str(tmp_path / "broken.hea")}
    assert "missing" in failed[str(lost)]
    row = index.record_ids.index("A0001")
    assert index.labels[row, TABLE.index_of(AF)] and index.labels[row].sum() == 1

    flat, _ = index_records(tmp_path, TABLE, recursive=False)
    assert flat.record_ids == ["A0001"]


def test_record_index_subset_keeps_rows_aligned(shared_data):
    index, _ = index_records(shared_data / "cinc2021" / "training", TABLE)
    part = index.subset([5, 0])
    assert part.record_ids == [index.record_ids[5], index.record_ids[0]]
    assert np.array_equal(part.labels, index.labels[[5, 0]])


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


# Inference windows.
def test_record_windows_restricts_to_the_wanted_leads():
    config = SignalConfig(sample_rate=100, window_seconds=2.0, inference_stride_seconds=1.0)
    prepared = _prepared([450])
    lead_mask = np.ones(12, dtype=bool)
    lead_mask[1] = False  # the record lacks lead II
    windows, keep = record_windows(prepared.signals[0], lead_mask, ["I", "II", "AVR"], config)
    assert windows.shape == (4, 12, 200) and windows.dtype == np.float32
    assert keep.tolist() == [lead in ("I", "aVR") for lead in STANDARD_LEADS]
    assert (windows[:, ~keep] == 0).all()
    assert np.array_equal(windows[0, 0], prepared.signals[0][0, :200])
    assert np.array_equal(windows[-1, 3], prepared.signals[0][3, -200:])


def test_record_windows_pads_a_short_record():
    config = SignalConfig(sample_rate=100, window_seconds=2.0, inference_stride_seconds=1.0)
    signal = _prepared([120]).signals[0]
    windows, keep = record_windows(signal, np.ones(12, dtype=bool), STANDARD_LEADS, config)
    assert windows.shape == (1, 12, 200) and keep.all()
    assert np.array_equal(windows[0, :, :120], signal) and (windows[0, :, 120:] == 0).all()


def test_a_record_found_twice_is_indexed_once_with_its_most_complete_copy(shared_data):
    """The reduced-lead folders hold the same 50 records as the twelve-lead folder."""
    index, failures = index_records(shared_data / "cinc2021" / "reduced_leads", default_class_table())
    assert len(index) == 50
    assert all(path.parent.name == "twelve_leads" for path in index.header_paths)
    assert len(failures) == 4 * 50
    assert all("another copy of record" in reason for _, reason in failures)


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


def test_record_windows_with_beat_sampling_are_beat_groups():
    config = SignalConfig(sample_rate=100, window_seconds=2.0, inference_stride_seconds=1.0)
    signal = _prepared([1000]).signals[0]
    beats = BeatConfig(enabled=True, beats_per_example=2, beat_samples=40, inference_groups=3)
    windows, keep = record_windows(signal, np.ones(12, dtype=bool), STANDARD_LEADS, config, beats,
                                   np.arange(50, 950, 80))
    assert windows.shape == (3, 12, 80) and keep.all()
    with pytest.raises(ValueError, match="R peaks"):
        record_windows(signal, np.ones(12, dtype=bool), STANDARD_LEADS, config, beats, None)


def test_join_prepared_puts_the_second_after_the_first():
    first, second = _with_annotations(_prepared([300, 400])), _with_annotations(_prepared([500], seed=1))
    joined = join_prepared(first, second)
    assert len(joined.signals) == 3 and joined.signals[2].shape == (12, 500)
    np.testing.assert_array_equal(joined.signals[1], first.signals[1])
    np.testing.assert_array_equal(joined.peaks[2], second.peaks[0])
    assert joined.features.shape == (3, 10) and joined.lead_masks.shape == (3, 12)
