"""Tests of ecgnet.losses: label masking, reward weights, the soft Challenge score, masked BCE and NT-Xent.

The soft score is checked against ``ecgnet.metric.challenge_metric`` on binary outputs; NT-Xent against a
plain loop over the views written here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ecgnet import losses, metric
from ecgnet.labels import default_class_table

TABLE = default_class_table()
SNR = TABLE.sinus_rhythm_index


# Label masking.
def test_label_mask_table_marks_the_classes_each_source_labels():
    sources = ["b", "a", "b", "c", "a"]
    labels = np.array([[1, 0, 0], [0, 0, 0], [0, 1, 0], [0, 0, 0], [1, 0, 0]], dtype=bool)
    names, mask = losses.label_mask_table(sources, labels)
    assert names == ["a", "b", "c"]
    assert mask.dtype == bool
    np.testing.assert_array_equal(mask, [[1, 0, 0], [1, 1, 0], [0, 0, 0]])


def test_label_mask_table_rejects_mismatched_rows():
    with pytest.raises(ValueError, match="one row per source"):
        losses.label_mask_table(["a", "b"], np.zeros((3, 2), dtype=bool))


def test_unknown_sources_get_the_index_after_the_names_and_an_all_true_mask():
    names = ["a", "b"]
    indices = losses.source_indices(["b", "new", "a"], names)
    assert indices.dtype == np.int64
    np.testing.assert_array_equal(indices, [1, 2, 0])
    mask_table = np.array([[1, 0, 0], [0, 1, 0]], dtype=bool)
    masks = losses.record_label_masks(indices, mask_table)
    np.testing.assert_array_equal(masks, [[0, 1, 0], [1, 1, 1], [1, 0, 0]])


def test_record_sources_from_prefixes_and_from_a_table():
    records = ["HR00001", "JS00002", "A0003", "XYZ9"]
    assert losses.record_sources(records) == ["PTB-XL", "Chapman-Ningbo", "CPSC", "other"]
    table = {"JS00002": "Ningbo", "XYZ9": "Mine"}
    assert losses.record_sources(records, table) == ["PTB-XL", "Ningbo", "CPSC", "Mine"]


def test_read_source_table(tmp_path):
    path = tmp_path / "sources.csv"
    # A byte-order mark and spaces around values are tolerated; extra columns are ignored.
    path.write_text("\ufeffrecord,source,note\nHR00001, PTB-XL ,x\n\nE0002,Georgia,\n", encoding="utf-8")
    assert losses.read_source_table(path) == {"HR00001": "PTB-XL", "E0002": "Georgia"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("record,origin\nHR1,x\n", "line 1: missing column"),
        ("HR1,x\n", "line 1: missing column"),
        ("", "line 1: missing column"),
        ("record,source\nHR1,x\nHR2,\n", "line 3: empty source"),
        ("record,source\nHR1,x\n,y\n", "line 3: empty record"),
        ("record,source\nHR1,x\nHR2\n", "line 3: empty source"),
        ("record,source\nHR1,x\nHR2,y\nHR1,z\n", "line 4: record HR1 is listed twice"),
    ],
)
def test_read_source_table_errors_name_the_file_and_line(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as error:
        losses.read_source_table(path)
    assert str(path) in str(error.value)
    assert "\n" not in str(error.value)


# Reward weights.
def test_reward_class_weights_by_hand():
    weights = torch.tensor([[1.0, 0.5, 0.0], [0.5, 1.0, 0.25], [0.0, 0.25, 1.0]])
    # M = 1 - W + 2 I = [[2, .5, 1], [.5, 2, .75], [1, .75, 2]]
    labels = torch.tensor([[1, 0, 0], [1, 0, 1], [0, 0, 0], [0, 1, 0]], dtype=torch.bool)
    expected = torch.tensor([[2.0, 0.5, 1.0], [1.0, 0.5, 1.0], [1.0, 1.0, 1.0], [0.5, 2.0, 0.75]])
    result = losses.reward_class_weights(labels, weights, alpha=2.0)
    assert result.dtype == torch.float32
    torch.testing.assert_close(result, expected)


def test_reward_class_weights_accept_float_labels_and_numpy_weights():
    weights = np.array([[1.0, 0.5], [0.5, 1.0]])
    labels = torch.tensor([[0.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    result = losses.reward_class_weights(labels, weights, alpha=1.0)
    assert result.dtype == torch.float64
    torch.testing.assert_close(result, torch.tensor([[0.5, 1.0], [1.0, 1.0]], dtype=torch.float64))


def test_alpha_changes_only_the_positives_when_w_is_the_identity():
    generator = torch.Generator().manual_seed(0)
    labels = torch.rand(16, 5, generator=generator) < 0.3
    labels[0] = False  # a record without labels
    identity = torch.eye(5)
    low = losses.reward_class_weights(labels, identity, alpha=0.25)
    high = losses.reward_class_weights(labels, identity, alpha=0.75)
    torch.testing.assert_close(low[~labels], torch.ones(int((~labels).sum())))
    torch.testing.assert_close(high[~labels], low[~labels])
    assert torch.all(low[labels] == 0.25) and torch.all(high[labels] == 0.75)


def test_reward_weights_of_the_real_table_are_lower_for_rewarded_confusions():
    labels = torch.zeros(1, len(TABLE), dtype=torch.bool)
    labels[0, 0] = True
    result = losses.reward_class_weights(labels, TABLE.weights, alpha=1.0)
    np.testing.assert_allclose(result[0].numpy(), 1 - TABLE.weights[0] + np.eye(len(TABLE))[0], rtol=1e-6)


# The soft Challenge score.
def _random_batch(seed: int, records: int = 24) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.random((records, len(TABLE))) < 0.08
    labels[: records // 4] = False
    labels[: records // 4, SNR] = True  # some sinus-only records
    labels[-1] = False  # and one without any scored label
    binary = rng.random((records, len(TABLE))) < 0.1
    binary[::3] = labels[::3]  # some rows exactly right
    return labels, binary


@pytest.mark.parametrize("seed", range(5))
def test_soft_score_equals_the_metric_on_binary_outputs(seed):
    labels, binary = _random_batch(seed)
    expected = metric.challenge_metric(labels, binary, TABLE.weights, SNR)
    score = losses.soft_challenge_score(torch.from_numpy(labels), torch.from_numpy(binary).double(),
                                        TABLE.weights, SNR)
    assert score.dtype == torch.float64
    assert abs(score.item() - expected) < 1e-6
    # float32 probabilities give the same to float32 precision.
    score32 = losses.soft_challenge_score(torch.from_numpy(labels), torch.from_numpy(binary).float(),
                                          torch.from_numpy(TABLE.weights), SNR)
    assert abs(score32.item() - expected) < 1e-5


def test_soft_score_is_one_for_the_labels_and_zero_for_sinus_only():
    labels, _ = _random_batch(7)
    labels_t = torch.from_numpy(labels).double()
    assert losses.soft_challenge_score(labels_t, labels_t, TABLE.weights, SNR).item() == pytest.approx(1.0, abs=1e-12)
    sinus = torch.zeros_like(labels_t)
    sinus[:, SNR] = 1
    assert losses.soft_challenge_score(labels_t, sinus, TABLE.weights, SNR).item() == pytest.approx(0.0, abs=1e-12)
    loss = losses.challenge_loss(labels_t, labels_t, TABLE.weights, SNR)
    assert loss.item() == pytest.approx(0.0, abs=1e-12)


def test_soft_score_uses_the_soft_union_by_hand():
    # Two classes, W = I, no sinus class: inactive is 0, so the score is observed / correct.
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    probabilities = torch.tensor([[0.5, 0.5], [0.0, 0.25]])
    # Record 1: union 1 + 0.5 = 1.5, A[0, 0] += 0.5 / 1.5; record 2: union 1, A[1, 1] += 0.25.
    expected = (0.5 / 1.5 + 0.25) / 2
    score = losses.soft_challenge_score(labels, probabilities, torch.eye(2), None)
    assert score.item() == pytest.approx(expected, rel=1e-6)


def test_soft_union_is_at_least_one_for_soft_labels():
    # Smoothed labels: the union 0.2 + 0.1 - 0.02 + 0.2 = 0.48 is raised to 1, so A[0, 0] = 0.2 * 0.1 / 1;
    # the second record is right (A[1, 1] = 1).
    labels = torch.tensor([[0.2, 0.0], [0.0, 1.0]])
    probabilities = torch.tensor([[0.1, 0.2], [0.0, 1.0]])
    correct = 0.2 * 0.2 / 1.0 + 1  # union of the first labels with themselves: 0.36 -> 1
    score = losses.soft_challenge_score(labels, probabilities, torch.eye(2), None)
    assert score.item() == pytest.approx((0.2 * 0.1 + 1) / correct, rel=1e-6)


def test_soft_score_is_differentiable():
    labels, _ = _random_batch(3)
    logits = torch.randn(labels.shape, generator=torch.Generator().manual_seed(3), requires_grad=True)
    score = losses.soft_challenge_score(torch.from_numpy(labels), torch.sigmoid(logits), TABLE.weights, SNR)
    score.backward()
    assert logits.grad is not None and torch.all(torch.isfinite(logits.grad))
    assert logits.grad.abs().sum() > 0


def test_raising_a_true_label_raises_the_score_and_a_false_one_lowers_it():
    labels, _ = _random_batch(11)
    labels_t = torch.from_numpy(labels).double()
    probabilities = torch.rand(labels.shape, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    row, column = np.argwhere(labels & ~(np.arange(len(TABLE)) == SNR))[0]
    raised = probabilities.clone()
    raised[row, column] = min(1.0, raised[row, column].item() + 0.3)
    before = losses.soft_challenge_score(labels_t, probabilities, TABLE.weights, SNR)
    assert losses.soft_challenge_score(labels_t, raised, TABLE.weights, SNR) > before
    # With W = I a wrong class earns nothing and only grows the union.
    wrong_row, wrong_column = np.argwhere(~labels & labels.any(axis=1, keepdims=True))[0]
    wrong = probabilities.clone()
    wrong[wrong_row, wrong_column] = min(1.0, wrong[wrong_row, wrong_column].item() + 0.3)
    identity = torch.eye(len(TABLE), dtype=torch.float64)
    assert losses.soft_challenge_score(labels_t, wrong, identity, SNR) < losses.soft_challenge_score(
        labels_t, probabilities, identity, SNR)


def test_soft_score_of_a_batch_of_sinus_only_labels_is_zero_with_a_finite_gradient():
    labels = torch.zeros(4, len(TABLE))
    labels[:, SNR] = 1
    logits = torch.zeros(4, len(TABLE), requires_grad=True)
    score = losses.soft_challenge_score(labels, torch.sigmoid(logits), TABLE.weights, SNR)
    assert score.item() == 0.0
    assert metric.challenge_metric(labels.bool().numpy(), np.zeros((4, len(TABLE)), bool), TABLE.weights, SNR) == 0
    score.backward()
    assert torch.all(torch.isfinite(logits.grad))


def test_soft_score_is_computed_in_float32_under_autocast():
    labels, binary = _random_batch(2)
    probabilities = torch.from_numpy(binary).float() * 0.7 + 0.1
    plain = losses.soft_challenge_score(torch.from_numpy(labels), probabilities, TABLE.weights, SNR)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        mixed = losses.soft_challenge_score(torch.from_numpy(labels), probabilities, TABLE.weights, SNR)
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, plain)


# Masked BCE.
def test_masked_bce_without_weights_is_bce_with_logits():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 4, generator=generator)
    targets = (torch.rand(6, 4, generator=generator) < 0.4).float()
    pos_weight = torch.tensor([1.0, 2.0, 0.5, 3.0])
    torch.testing.assert_close(losses.masked_bce(logits, targets), torch.nn.BCEWithLogitsLoss()(logits, targets))
    torch.testing.assert_close(losses.masked_bce(logits, targets, pos_weight=pos_weight),
                               torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)(logits, targets))


def test_masked_elements_leave_the_mean_and_get_no_gradient():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(5, 3, generator=generator)
    targets = (torch.rand(5, 3, generator=generator) < 0.5).float()
    mask = torch.rand(5, 3, generator=generator) < 0.6
    mask[0, 0], mask[1, 1] = False, True
    kept = torch.nn.functional.binary_cross_entropy_with_logits(logits[mask], targets[mask])
    first = logits.clone().requires_grad_(True)
    loss = losses.masked_bce(first, targets, element_weights=mask)
    torch.testing.assert_close(loss, kept)  # the mean over the kept elements, not over all
    loss.backward()
    assert torch.all(first.grad[~mask] == 0) and torch.all(first.grad[mask] != 0)
    # Changing a masked logit changes nothing.
    changed = logits.clone()
    changed[~mask] = 50.0
    torch.testing.assert_close(losses.masked_bce(changed, targets, element_weights=mask), kept)


def test_masked_bce_weights_and_an_all_masked_batch():
    logits = torch.tensor([[0.0, 2.0]])
    targets = torch.tensor([[1.0, 0.0]])
    weights = torch.tensor([[3.0, 1.0]])
    each = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    expected = (3 * each[0, 0] + each[0, 1]) / 4
    torch.testing.assert_close(losses.masked_bce(logits, targets, element_weights=weights), expected)
    nothing = losses.masked_bce(logits.requires_grad_(True), targets, element_weights=torch.zeros(1, 2))
    assert nothing.item() == 0.0
    nothing.backward()
    assert torch.all(logits.grad == 0)


# NT-Xent.
def _reference_nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> float:
    """The SimCLR loss view by view, in plain Python over the pairs."""
    views = [v / v.norm() for v in [*z1.double(), *z2.double()]]
    count, batch = len(views), len(z1)
    total = 0.0
    for i in range(count):
        partner = (i + batch) % count
        terms = {j: math.exp(float(views[i] @ views[j]) / temperature) for j in range(count) if j != i}
        total += -math.log(terms[partner] / sum(terms.values()))
    return total / count


def test_nt_xent_on_orthogonal_vectors_by_hand():
    e1, e2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    same = losses.nt_xent(torch.stack([e1, e2]), torch.stack([e1, e2]), temperature=1.0)
    # Each view: partner similarity 1, the two others 0.
    assert same.item() == pytest.approx(math.log(1 + 2 / math.e), rel=1e-6)
    swapped = losses.nt_xent(torch.stack([e1, e2]), torch.stack([e2, e1]), temperature=1.0)
    # Each view: partner similarity 0; the other example's second view is identical (1), the third is 0.
    assert swapped.item() == pytest.approx(math.log(2 + math.e), rel=1e-6)


@pytest.mark.parametrize("temperature", [0.1, 0.5, 2.0])
def test_nt_xent_matches_the_loop_reference(temperature):
    generator = torch.Generator().manual_seed(5)
    z1, z2 = torch.randn(4, 3, generator=generator), torch.randn(4, 3, generator=generator)
    assert losses.nt_xent(z1, z2, temperature).item() == pytest.approx(_reference_nt_xent(z1, z2, temperature),
                                                                       rel=1e-5)


def test_nt_xent_is_symmetric_and_lower_for_matching_views():
    generator = torch.Generator().manual_seed(2)
    z1, z2 = torch.randn(8, 16, generator=generator), torch.randn(8, 16, generator=generator)
    torch.testing.assert_close(losses.nt_xent(z1, z2, 0.1), losses.nt_xent(z2, z1, 0.1))
    assert losses.nt_xent(z1, z1 * 3.0, 0.05) < losses.nt_xent(z1, z2, 0.05)


def test_nt_xent_is_stable_at_low_temperature():
    generator = torch.Generator().manual_seed(4)
    z1 = (torch.randn(6, 8, generator=generator) * 100).requires_grad_(True)
    z2 = torch.randn(6, 8, generator=generator) * 100
    loss = losses.nt_xent(z1, z2, temperature=1e-3)
    loss.backward()
    assert torch.isfinite(loss) and torch.all(torch.isfinite(z1.grad))


def test_nt_xent_is_computed_in_float32_under_autocast():
    generator = torch.Generator().manual_seed(6)
    z1, z2 = torch.randn(4, 8, generator=generator), torch.randn(4, 8, generator=generator)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        mixed = losses.nt_xent(z1, z2, 0.05)
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, losses.nt_xent(z1, z2, 0.05))


def test_nt_xent_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 2"):
        losses.nt_xent(torch.ones(1, 3), torch.ones(1, 3), 0.1)
    with pytest.raises(ValueError, match="same shape"):
        losses.nt_xent(torch.ones(2, 3), torch.ones(2, 4), 0.1)
    with pytest.raises(ValueError, match="temperature"):
        losses.nt_xent(torch.ones(2, 3), torch.ones(2, 3), 0.0)
