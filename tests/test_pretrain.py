"""Contrastive pre-training: it trains the trunk, leaves the classifier alone, and its views differ."""

from __future__ import annotations

import numpy as np
import torch
from conftest import tiny_config

from ecgnet.network import build_network
from ecgnet.prepare import PreparedSignals
from ecgnet.pretrain import ContrastivePairs, pretrain


def prepared(n=12, samples=1000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / 100
    sigs = [(np.sin(2 * np.pi * rng.uniform(0.8, 2.0) * t) + 0.1 * rng.standard_normal((12, samples)))
            .astype(np.float32) for _ in range(n)]
    return PreparedSignals(sigs, np.ones((n, 12), dtype=bool), np.zeros((n, 4), dtype=np.float32))


def test_the_two_views_of_a_record_differ_and_are_reproducible():
    config = tiny_config()
    pairs = ContrastivePairs(prepared(), np.arange(12), config, seed=3)
    first, second = pairs[0]
    assert first["signal"].shape == second["signal"].shape == (12, config.signals.window_samples)
    assert not torch.equal(first["signal"], second["signal"])
    again = ContrastivePairs(prepared(), np.arange(12), config, seed=3)[0]
    assert torch.equal(again[0]["signal"], first["signal"])


def test_pretraining_changes_the_trunk_and_not_the_classifier():
    config = tiny_config().override("training", pretrain_epochs=2, batch_size=4)
    torch.manual_seed(0)
    network = build_network(config, 26)
    before = {name: value.clone() for name, value in network.state_dict().items()}
    history = pretrain(network, prepared(), np.arange(12), config, torch.device("cpu"), seed=0, progress=False,
                       log=lambda _: None)
    assert len(history) == 2 and all(np.isfinite(history))
    after = network.state_dict()
    assert not torch.equal(before["stem_conv.weight"], after["stem_conv.weight"])
    assert torch.equal(before["head.weight"], after["head.weight"])
