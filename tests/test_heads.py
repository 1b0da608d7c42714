"""Tests of models.heads: the gradient-reversal layer, the domain classifier and the SimCLR projection head."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ecgnet.models.heads import DomainClassifier, GradientReversal, ProjectionHead, reverse_gradient


@pytest.mark.parametrize("scale", [1.0, 0.3, 0.0])
def test_gradient_reversal_is_identity_forward_and_negates_backward(scale):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, generator=generator, requires_grad=True)
    upstream = torch.randn(3, 4, generator=generator)
    layer = GradientReversal(scale)
    y = layer(x)
    torch.testing.assert_close(y, x)
    y.backward(upstream)
    torch.testing.assert_close(x.grad, -scale * upstream)


def test_gradient_reversal_scale_can_change_between_steps():
    layer = GradientReversal()
    layer.scale = 2.5
    x = torch.ones(2, requires_grad=True)
    layer(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.full((2,), -2.5))
    x.grad = None
    reverse_gradient(x, 0.5).sum().backward()
    torch.testing.assert_close(x.grad, torch.full((2,), -0.5))


def test_domain_classifier_shape():
    classifier = DomainClassifier(in_features=10, num_domains=5, hidden=8)
    assert classifier(torch.randn(7, 10)).shape == (7, 5)
    with pytest.raises(ValueError, match="domain"):
        DomainClassifier(10, 0)


def test_the_encoder_gets_the_reversed_gradient_and_the_classifier_the_plain_one():
    torch.manual_seed(0)
    encoder = nn.Linear(6, 10)
    classifier = DomainClassifier(in_features=10, num_domains=3, hidden=8, reversal_scale=0.7)
    signals, domains = torch.randn(5, 6), torch.tensor([0, 1, 2, 1, 0])

    def gradients(head: nn.Module) -> list[torch.Tensor]:
        encoder.zero_grad()
        classifier.zero_grad()
        nn.functional.cross_entropy(head(encoder(signals)), domains).backward()
        return [p.grad.clone() for p in (*encoder.parameters(), *classifier.parameters())]

    reversed_ = gradients(classifier)
    plain = gradients(classifier.classifier)  # the same layers without the reversal
    encoder_count = len(list(encoder.parameters()))
    for got, want in zip(reversed_[:encoder_count], plain[:encoder_count]):
        torch.testing.assert_close(got, -0.7 * want)
        assert want.abs().sum() > 0
    for got, want in zip(reversed_[encoder_count:], plain[encoder_count:]):
        torch.testing.assert_close(got, want)


def test_projection_head_shape_in_training_and_evaluation():
    head = ProjectionHead(in_features=12, hidden=16, out_features=4)
    assert head(torch.randn(3, 12)).shape == (3, 4)
    head.eval()
    assert head(torch.randn(1, 12)).shape == (1, 4)
    assert isinstance(head.net[1], nn.BatchNorm1d)
