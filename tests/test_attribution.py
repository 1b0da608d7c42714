"""Integrated gradients (ecgnet.attribution): complete, exact where they must be, and mapped back to the
record's time axis."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ecgnet import attribution, inference, signals
from ecgnet.config import RunConfig
from ecgnet.decision import Decision
from ecgnet.models import create_model
from ecgnet.records import LEAD_SETS, lead_set_name

CLASSES = 5


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """These batches are small: a second thread only adds synchronisation, which costs far more than the
    work when the cores are shared with other jobs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)



def tiny_network(seed: int = 0, double: bool = False) -> torch.nn.Module:
    torch.manual_seed(seed)
    network = create_model("seresnet", num_classes=CLASSES, stem_channels=8, stage_channels=[8, 8],
                           blocks_per_stage=[1, 1])
    return (network.double() if double else network).eval()


def tiny_ensemble(networks, beats: bool = False) -> inference.Ensemble:
    """An ensemble of tiny networks on 100 Hz input: 5 s windows every 2.5 s."""
    config = RunConfig.from_dict({"signals": {"sample_rate": 100, "window_seconds": 5.0,
                                              "inference_stride_seconds": 2.5}})
    if beats:  # only what the explainer reads of a beat-sampling config
        config = SimpleNamespace(signals=config.signals, beats=SimpleNamespace(enabled=True))
    thresholds = {lead_set_name(LEAD_SETS[12]): np.full(CLASSES, 0.5)}
    return inference.Ensemble(config, list(networks), Decision([str(i) for i in range(CLASSES)], thresholds),
                              torch.device("cpu"))


def prepared(num_samples: int, seed: int = 0, window: int = 500, stride: int = 250) -> inference.ModelInput:
    signal = np.random.default_rng(seed).standard_normal((12, num_samples)).astype(np.float32)
    windows = signals.sliding_windows(signal, window, stride)
    return inference.ModelInput("R", windows, np.ones(12, dtype=bool), signals.demographics(60, "Female"))


def logit_of(network, k: int):
    def forward(x):
        n = x.shape[0]
        mask = torch.ones(n, 12, dtype=x.dtype)
        demographics = torch.tensor([[0.6, 1.0, 0.0, 1.0]], dtype=x.dtype).expand(n, -1)
        return network(x, mask, demographics)[:, k]
    return forward


def test_completeness_sum_equals_output_difference():
    network = tiny_network(double=True)
    inputs = torch.randn(2, 12, 400, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    baseline = torch.zeros(12, 400, dtype=torch.float64)
    forward = logit_of(network, 2)
    attributions = attribution.integrated_gradients(forward, inputs, baseline, steps=64, max_rows=50)
    assert attributions.shape == inputs.shape
    with torch.no_grad():
        difference = forward(inputs) - forward(baseline.expand_as(inputs))
    total = attributions.sum(dim=(1, 2))
    assert difference.abs().min() > 1e-3  # the check below means something
    np.testing.assert_allclose(total.numpy(), difference.numpy(), rtol=0.01, atol=1e-4)
    assert all(p.grad is None for p in network.parameters())


def test_midpoint_rule_is_exact_for_a_quadratic():
    # f = sum x^2 has a gradient linear along the path, which the midpoint rule integrates exactly:
    # the attribution of x_i from baseline b_i is x_i^2 - b_i^2, with any number of steps.
    generator = torch.Generator().manual_seed(5)
    inputs = torch.randn(4, 3, 7, dtype=torch.float64, generator=generator)
    baseline = torch.randn(3, 7, dtype=torch.float64, generator=generator)
    attributions = attribution.integrated_gradients(lambda x: (x**2).sum(dim=(1, 2)), inputs, baseline, steps=3,
                                                max_rows=5)
    torch.testing.assert_close(attributions, inputs**2 - baseline**2)


def test_several_outputs_match_one_at_a_time():
    network = tiny_network(seed=3, double=True)
    inputs = torch.randn(2, 12, 300, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    baseline = torch.zeros_like(inputs)
    pair = lambda x: torch.stack([logit_of(network, 0)(x), logit_of(network, 4)(x)], 1)  # noqa: E731
    both = attribution.integrated_gradients(pair, inputs, baseline, steps=8, max_rows=5)
    assert both.shape == (2, *inputs.shape)
    for k, column in enumerate((0, 4)):
        alone = attribution.integrated_gradients(logit_of(network, column), inputs, baseline, steps=8)
        torch.testing.assert_close(both[k], alone)


def test_zeroed_lead_gets_exactly_zero_attribution():
    network = tiny_network(double=True)
    inputs = torch.randn(2, 12, 300, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    inputs[:, 4] = 0.0  # aVL flat, though the mask says it is there
    attributions = attribution.integrated_gradients(logit_of(network, 1), inputs, torch.zeros_like(inputs), steps=16)
    assert torch.count_nonzero(attributions[:, 4]) == 0
    assert torch.count_nonzero(attributions[:, 3]) > 0


def test_attributions_map_back_to_the_record_with_overlaps_averaged():
    training = tiny_network(seed=5)
    training.train()
    ensemble = tiny_ensemble([tiny_network(seed=4), training])
    record = prepared(1234)  # windows start at 0, 250, 500 and 734 (end-aligned)
    assert len(record.windows) == 4
    per_window = attribution.window_attributions(ensemble, record, [2], steps=6)[0]
    mapped = attribution.record_attributions(ensemble, record, 2, steps=6, num_samples=1234, edge_seconds=0)
    assert mapped.shape == (12, 1234)
    np.testing.assert_allclose(mapped[:, 100], per_window[0, :, 100])  # window 0 only
    np.testing.assert_allclose(mapped[:, 300], (per_window[0, :, 300] + per_window[1, :, 50]) / 2)
    np.testing.assert_allclose(mapped[:, 740], (per_window[1, :, 490] + per_window[2, :, 240]
                                                + per_window[3, :, 6]) / 3)
    np.testing.assert_allclose(mapped[:, 1233], per_window[3, :, 499])  # the end-aligned window only
    assert training.training and not ensemble.networks[0].training  # modes are given back
    assert all(p.grad is None for network in ensemble.networks for p in network.parameters())


def test_short_record_is_cut_back_from_its_padded_window():
    ensemble = tiny_ensemble([tiny_network()])
    mapped = attribution.record_attributions(ensemble, prepared(321), 0, steps=4, num_samples=321)
    assert mapped.shape == (12, 321)
    with pytest.raises(ValueError, match="do not cover"):
        attribution.record_attributions(ensemble, prepared(1234), 0, steps=2, num_samples=600)


def test_beat_groups_are_concatenated_not_mapped_to_time():
    ensemble = tiny_ensemble([tiny_network()], beats=True)
    record = prepared(1000, window=300, stride=300)  # stands for 3 groups of beats of 300 samples
    per_window = attribution.window_attributions(ensemble, record, [1], steps=4)[0]
    mapped = attribution.record_attributions(ensemble, record, 1, steps=4)
    assert mapped.shape == (12, len(record.windows) * 300)
    np.testing.assert_allclose(mapped[:, 300:600], per_window[1])


class _Recorder(torch.nn.Module):
    """A network that records how it was called: with the hand-made features or without them."""

    def __init__(self, takes_extra: bool):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(12, CLASSES))
        self.takes_extra, self.extras = takes_extra, []

    def forward(self, *args):
        assert len(args) == (4 if self.takes_extra else 3)
        if self.takes_extra:
            self.extras.append(args[3])
        return (args[0] ** 2).mean(dim=-1) @ self.weight


@pytest.mark.parametrize("with_features", (False, True))
def test_hand_made_features_are_passed_per_window(with_features):
    network = _Recorder(takes_extra=with_features)
    record = prepared(900)
    features = np.arange(7, dtype=np.float32) if with_features else None
    record = SimpleNamespace(**{**vars(record), "features": features})
    attribution.record_attributions(tiny_ensemble([network]), record, 0, steps=3, num_samples=900)
    for extra in network.extras:
        assert extra.shape[1] == 7 and torch.equal(extra[-1], torch.arange(7.0))
    assert bool(network.extras) == with_features


def test_lead_importance_is_normalised():
    attributions = np.zeros((12, 50))
    attributions[0, :10], attributions[6, :5] = -1.0, 2.0
    importance = attribution.lead_importance(attributions)
    np.testing.assert_allclose(importance[[0, 6]], [0.5, 0.5])
    assert importance.sum() == pytest.approx(1.0)
    assert not attribution.lead_importance(np.zeros((12, 5))).any()


def test_edge_taper_is_zero_at_the_ends_and_one_inside():
    taper = attribution.edge_taper(100, 10)
    assert taper[0] == 0.0 and taper[-1] == 0.0 and (taper[10:90] == 1.0).all()
    assert (np.diff(taper[:11]) > 0).all() and np.allclose(taper, taper[::-1])
    assert (attribution.edge_taper(8, 10) < 1).all() and attribution.edge_taper(5, 0).tolist() == [1.0] * 5


def test_the_record_s_ends_get_no_attribution_by_construction():
    ensemble = tiny_ensemble([tiny_network(seed=1)])
    record = prepared(1234)
    untapered = attribution.record_attributions(ensemble, record, 3, steps=4, num_samples=1234, edge_seconds=0)
    tapered = attribution.record_attributions(ensemble, record, 3, steps=4, num_samples=1234)
    edge = int(attribution.EDGE_SECONDS * 100)  # the tiny ensemble's input is at 100 Hz
    assert np.abs(untapered[:, [0, -1]]).min() > 0  # the network does respond at the ends
    assert not tapered[:, [0, -1]].any()
    np.testing.assert_allclose(tapered[:, edge:-edge], untapered[:, edge:-edge])
    assert (np.abs(tapered[:, :edge]) <= np.abs(untapered[:, :edge])).all()


class _MiddleEvent(torch.nn.Module):
    """A hand-built network that responds to one event: a matched filter for a 0.1 s bump in V1 and V2,
    rectified and summed over time, like a convolutional network's detector (zero padding at the ends, so it
    also answers there to anything bump-like). Class 1's logit; the other classes are zero."""

    def __init__(self, rate: int):
        super().__init__()
        t = torch.arange(-rate // 10, rate // 10 + 1, dtype=torch.float32) / rate
        bump = torch.exp(-0.5 * (t / 0.02) ** 2)
        self.kernel = torch.nn.Parameter((bump - bump.mean()).view(1, 1, -1), requires_grad=False)
        self.weights = torch.zeros(12)
        self.weights[[6, 7]] = torch.tensor([1.0, 0.6])

    def forward(self, x, mask, demographics):
        n, leads, samples = x.shape
        response = torch.nn.functional.conv1d(x.reshape(n * leads, 1, samples), self.kernel,
                                              padding=self.kernel.shape[-1] // 2).reshape(n, leads, samples)
        score = (torch.relu(response - 0.5).sum(dim=-1) * self.weights.to(x)).sum(dim=-1)
        logits = torch.zeros(n, CLASSES, dtype=x.dtype)
        logits[:, 1] = score
        return logits


def test_an_event_in_the_middle_of_the_record_gets_its_attribution_there():
    rate = 100
    ensemble = tiny_ensemble([_MiddleEvent(rate)])
    t = np.arange(500) / rate
    signal = 0.05 * np.random.default_rng(3).standard_normal((12, 500))
    bump = np.exp(-0.5 * ((t - 2.5) / 0.02) ** 2)  # the class-defining event, 2.5 s into a 5 s record
    signal[6] += 3 * bump
    signal[7] += 2 * bump
    signal[:, :3] += 2.0  # and a step at the start, as a filter's start-up would leave it
    windows = signals.sliding_windows(signal.astype(np.float32), 500, 250)
    record = inference.ModelInput("R", windows, np.ones(12, dtype=bool), signals.demographics(60, "Female"))
    mapped = attribution.record_attributions(ensemble, record, 1, steps=32, num_samples=500)
    magnitude = np.abs(mapped).sum(axis=0)
    event = np.abs(t - 2.5) <= 0.1
    assert magnitude[event].sum() / magnitude.sum() > 0.9
    # Untapered, the detector's answer to the step (through its zero padding) outweighs the middle.
    untapered = np.abs(attribution.record_attributions(ensemble, record, 1, steps=32, num_samples=500,
                                                       edge_seconds=0)).sum(axis=0)
    assert untapered[:50].mean() > 2 * untapered[50:-50].mean()
    assert magnitude[:50].mean() < magnitude[50:-50].mean() and magnitude[-50:].mean() < magnitude[50:-50].mean()
    shares = attribution.contribution_shares(attribution.lead_contributions(mapped))
    assert np.argmax(shares) == 6 and np.argsort(-shares)[1] == 7 and shares[[6, 7]].sum() > 0.9


def test_lead_contributions_add_up_to_the_logit_change():
    network = tiny_network(seed=2, double=True)
    ensemble = tiny_ensemble([network])
    record = prepared(500)  # one window
    record.windows = record.windows.astype(np.float64)
    mapped = attribution.record_attributions(ensemble, record, 2, steps=64, num_samples=500, edge_seconds=0)
    contributions = attribution.lead_contributions(mapped)
    forward = logit_of(network, 2)
    with torch.no_grad():
        x = torch.from_numpy(record.windows)
        change = float(forward(x)[0] - forward(torch.zeros_like(x))[0])
    assert abs(change) > 1e-3
    assert contributions.sum() == pytest.approx(change, rel=0.02, abs=1e-4)


def test_contribution_shares_are_signed_and_their_magnitudes_sum_to_one():
    shares = attribution.contribution_shares(np.array([[2.0, -1.0, 1.0] + [0.0] * 9, [0.0] * 12]))
    np.testing.assert_allclose(shares[0, :3], [0.5, -0.25, 0.25])
    assert np.abs(shares[0]).sum() == pytest.approx(1.0) and not shares[1].any()
