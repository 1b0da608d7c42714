"""The training objective: every option changes the loss it should, and nothing when off."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecgnet import losses
from ecgnet.config import TrainingConfig
from ecgnet.labels import default_class_table
from ecgnet.models import create_model
from ecgnet.objective import Objective, TrainingModel, lead_distillation_loss, positive_weights, trunk_embedding

TABLE = default_class_table()
C = len(TABLE)


def network():
    torch.manual_seed(0)
    return create_model("seresnet", num_classes=C, stem_channels=8, stage_channels=[8, 8],
                        blocks_per_stage=[1, 1]).eval()


def batch(n=6, seed=0):
    rng = np.random.default_rng(seed)
    labels = torch.from_numpy((rng.random((n, C)) < 0.15).astype(np.float32))
    logits = torch.from_numpy(rng.standard_normal((n, C)).astype(np.float32)).requires_grad_()
    sources = torch.tensor([0, 1, 0, 1, 2, 0][:n])  # 2: a source the fold does not train on
    return logits, labels, sources


EVERY_CLASS = np.ones((2, C), dtype=bool)  # two training sources, each labelling every class


def objective(label_mask=EVERY_CLASS, **settings):
    train_labels = np.random.default_rng(1).random((40, C)) < 0.2
    return Objective.for_fold(TrainingConfig(**settings), TABLE, train_labels, label_mask, torch.device("cpu"))


def test_with_every_option_off_the_loss_is_weighted_cross_entropy():
    logits, labels, sources = batch()
    loss = objective()(logits, None, labels, sources)
    pos_weight = positive_weights(np.random.default_rng(1).random((40, C)) < 0.2)
    expected = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)(logits, labels)
    assert torch.equal(loss, expected)


def test_label_masking_removes_the_masked_pairs_from_the_loss():
    mask = np.ones((2, C), dtype=bool)
    mask[1, :10] = False  # source 1 labels none of the first 10 classes
    logits, labels, sources = batch()
    loss = objective(mask, label_masking=True)(logits, None, labels, sources)
    (gradient,) = torch.autograd.grad(loss, logits)
    records_of_source_1 = (sources == 1).numpy()
    assert (gradient[records_of_source_1, :10] == 0).all()
    assert (gradient[records_of_source_1, 10:] != 0).any() and (gradient[~records_of_source_1] != 0).all()
    # The unknown source keeps every class; without the switch the mask is ignored.
    assert (gradient[4] != 0).all()
    unmasked = objective(mask)(logits, None, labels, sources)
    assert not torch.isclose(loss, unmasked)


def test_reward_weights_multiply_the_per_class_losses():
    logits, labels, sources = batch()
    rewards = torch.tensor(TABLE.weights, dtype=torch.float32)
    weights = losses.reward_class_weights(labels, rewards, 1.0)
    loss = objective(reward_weights=True)(logits, None, labels, sources)
    expected = losses.masked_bce(logits, labels, objective().pos_weight, weights)
    assert torch.isclose(loss, expected) and not torch.isclose(loss, objective()(logits, None, labels, sources))


def test_challenge_term_is_added_with_its_weight():
    logits, labels, sources = batch()
    base = objective()(logits, None, labels, sources)
    shaped = objective(challenge_loss_weight=0.5)(logits, None, labels, sources)
    term = losses.challenge_loss(labels, torch.sigmoid(logits), torch.tensor(TABLE.weights, dtype=torch.float32),
                                 TABLE.sinus_rhythm_index)
    assert torch.isclose(shaped, base + 0.5 * term)


def test_source_classifier_loss_counts_records_of_known_sources_only():
    logits, labels, sources = batch()
    source_logits = torch.randn(len(sources), 2)
    base = objective(domain_weight=0.2)(logits, None, labels, sources)
    with_domain = objective(domain_weight=0.2)(logits, source_logits, labels, sources)
    known = sources < 2
    expected = base + 0.2 * torch.nn.functional.cross_entropy(source_logits[known], sources[known])
    assert torch.isclose(with_domain, expected)
    assert torch.equal(objective()(logits, source_logits, labels, sources), base)  # weight 0: ignored


def test_training_model_without_domain_is_the_network():
    net = network()
    model = TrainingModel(net, num_sources=0)
    x, m, d = torch.randn(3, 12, 400), torch.ones(3, 12), torch.zeros(3, 4)
    logits, source_logits = model(x, m, d)
    assert source_logits is None and torch.equal(logits, net(x, m, d))


def test_training_model_reverses_the_source_gradient_into_the_trunk():
    net = network()
    model = TrainingModel(net, num_sources=3)
    x, m, d = torch.randn(3, 12, 400), torch.ones(3, 12), torch.zeros(3, 4)
    _, source_logits = model(x, m, d)
    assert source_logits.shape == (3, 3)
    features = net.embedding(x, m, d)
    assert trunk_embedding(net, features).shape == (3, net.pooled_size)
    # Lowering the source loss moves the classifier one way and the trunk the other way.
    loss = torch.nn.functional.cross_entropy(source_logits, torch.tensor([0, 1, 2]))
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.blocks.parameters())
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in net.head.parameters())


def test_positive_weights_favour_rare_classes():
    labels = np.zeros((100, 3), dtype=bool)
    labels[:50, 0] = True
    labels[:1, 1] = True
    weights = positive_weights(labels).numpy()
    assert weights[0] == pytest.approx(1.0)
    assert weights[1] == pytest.approx(np.sqrt(99))
    assert weights[2] == pytest.approx(10.0)  # no positives: sqrt(100), within the [1, 20] range
    assert positive_weights(np.eye(1000, 1, dtype=bool)).item() == 20.0  # sqrt(999) is capped


def test_a_class_no_training_source_labels_is_learnt_as_negative_everywhere():
    mask = np.ones((2, C), dtype=bool)
    mask[:, 3] = False  # neither source has a positive of class 3
    mask[1, 4] = False
    logits, labels, sources = batch()
    loss = objective(mask, label_masking=True)(logits, None, labels, sources)
    (gradient,) = torch.autograd.grad(loss, logits)
    assert (gradient[:, 3] != 0).all()
    assert (gradient[(sources == 1).numpy(), 4] == 0).all()


def test_challenge_term_ignores_masked_pairs():
    mask = np.ones((2, C), dtype=bool)
    mask[1, :10] = False
    logits, labels, sources = batch()
    shaped = objective(mask, label_masking=True, challenge_loss_weight=1.0)
    (gradient,) = torch.autograd.grad(shaped(logits, None, labels, sources), logits)
    assert (gradient[(sources == 1).numpy(), :10] == 0).all()


def test_lead_distillation_draws_the_reduced_outputs_to_the_full_ones_and_not_back():
    full = torch.tensor([[2.0, -1.0], [0.5, 3.0]], requires_grad=True)
    assert lead_distillation_loss(full.detach().clone(), full).abs().item() < 1e-6  # agreeing costs nothing
    reduced = torch.zeros(2, 2, requires_grad=True)
    loss = lead_distillation_loss(reduced, full)
    loss.backward()
    assert loss.item() > 0
    assert full.grad is None  # the full copy teaches; it is not pulled toward the reduced one
    # The gradient moves each reduced output toward its full-lead output.
    assert torch.all(torch.sign(-reduced.grad) == torch.sign(full.detach()))
