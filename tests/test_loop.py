"""The shared training loop (ecgnet.loop) on a tiny network: schedule, clipping, early stopping, resumption."""

from __future__ import annotations

import copy

import pytest
import torch

from ecgnet.config import TrainingConfig
from ecgnet.loop import (
    GRADIENT_CLIP_NORM,
    EarlyStopping,
    Loop,
    Optimisation,
    Validation,
    learning_rate_factor,
    run_epoch,
)

CPU = torch.device("cpu")
SETTINGS = TrainingConfig(learning_rate=0.01, warmup_fraction=0.25)
generator = torch.Generator().manual_seed(1)
INPUTS, TARGETS = torch.randn(24, 3, generator=generator), torch.randn(24, 1, generator=generator)
BATCHES = [(INPUTS[i:i + 8], TARGETS[i:i + 8]) for i in range(0, 16, 8)]
VALIDATION = (INPUTS[16:], TARGETS[16:])


class Tiny:
    """A seeded network with dropout (so that the random generator's state matters), its loop and its loss."""

    def __init__(self, epochs: int = 4, patience: int | None = None):
        torch.manual_seed(0)
        self.network = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 1))
        self.optimisation = Optimisation(self.network.parameters(), SETTINGS, CPU, total_steps=epochs * len(BATCHES))
        stopping = EarlyStopping(patience, copy.deepcopy(self.network.state_dict())) if patience else None
        self.loop = Loop(self.optimisation, epochs, stopping)

    def batch_loss(self, batch):
        inputs, targets = batch
        with self.optimisation.autocast():
            outputs = self.network(inputs)
        return torch.nn.functional.mse_loss(outputs.float(), targets), len(inputs)

    def train_epoch(self, epoch: int) -> float:
        return run_epoch(self.network, BATCHES, self.batch_loss, self.optimisation, f"epoch {epoch}", False)

    def score(self) -> tuple[float, dict[str, float]]:
        self.network.eval()
        with torch.no_grad():
            return -float(torch.nn.functional.mse_loss(self.network(VALIDATION[0]), VALIDATION[1])), {}

    def run(self, end_epoch=lambda _: None) -> None:
        self.loop.run(self.train_epoch, end_epoch, Validation(self.score, self.network))


def test_learning_rate_warms_up_then_decays():
    factors = [learning_rate_factor(s, 100, 0.1) for s in range(100)]
    assert factors[0] == pytest.approx(0.1)
    assert max(factors) == pytest.approx(1.0)
    assert factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))
    assert factors[-1] < 0.01


def test_each_step_takes_the_rate_of_the_schedule_and_without_one_the_recipe_s():
    network = torch.nn.Linear(3, 1)
    scheduled = Optimisation(network.parameters(), SETTINGS, CPU, total_steps=8)
    constant = Optimisation(network.parameters(), SETTINGS, CPU)
    for step in range(8):
        assert scheduled.learning_rate() == pytest.approx(0.01 * learning_rate_factor(step, 8, 0.25))
        assert constant.learning_rate() == 0.01
        for optimisation in (scheduled, constant):
            optimisation.step(network(INPUTS).sum())


def test_gradients_are_clipped_to_the_norm_and_small_ones_left_alone():
    network = torch.nn.Linear(3, 1, bias=False)
    steps = []
    optimisation = Optimisation(network.parameters(), SETTINGS, CPU, after_step=lambda: steps.append(1))
    optimisation.step(1000 * network(torch.ones(1, 3)).sum())
    assert network.weight.grad.norm().item() == pytest.approx(GRADIENT_CLIP_NORM)
    optimisation.step(0.1 * network(torch.ones(1, 3)).sum())
    assert torch.allclose(network.weight.grad, torch.full((1, 3), 0.1))
    assert len(steps) == 2


def test_on_the_cpu_there_is_no_autocast_and_no_loss_scaling():
    optimisation = Optimisation(torch.nn.Linear(3, 1).parameters(), SETTINGS, CPU)
    assert not optimisation.scaler.is_enabled()
    with optimisation.autocast():
        assert not torch.is_autocast_enabled("cpu")


def test_an_epoch_s_loss_is_the_mean_over_its_examples():
    tiny = Tiny()
    uneven = [(INPUTS[:2], TARGETS[:2]), (INPUTS[2:8], TARGETS[2:8])]
    losses = []

    def recorded(batch):
        loss, examples = tiny.batch_loss(batch)
        losses.append((loss.item(), examples))
        return loss, examples

    mean = run_epoch(tiny.network, uneven, recorded, tiny.optimisation, "", False)
    assert tiny.network.training
    assert mean == pytest.approx(sum(loss * n for loss, n in losses) / 8)


def test_without_validation_every_epoch_runs():
    tiny = Tiny(epochs=3)
    results = []
    tiny.loop.run(tiny.train_epoch, results.append)
    assert [result.epoch for result in results] == [1, 2, 3] and tiny.loop.epoch == 3
    assert all(result.score != result.score and not result.improved for result in results)  # NaN: no score


def test_early_stopping_stops_after_patience_epochs_without_a_better_score_and_keeps_the_best():
    tiny = Tiny(epochs=10, patience=3)
    scores = iter([0.1, 0.3, 0.2, 0.25, 0.3, 0.9])
    kept = {}

    def end_epoch(result):
        if result.improved:
            kept[result.epoch] = {k: v.clone() for k, v in tiny.network.state_dict().items()}

    tiny.loop.run(tiny.train_epoch, end_epoch, Validation(lambda: (next(scores), {}), tiny.network))
    stopping = tiny.loop.stopping
    assert tiny.loop.epoch == 5  # epochs 3, 4 and 5 score no better than epoch 2's 0.3
    assert (stopping.best_epoch, stopping.best_score, stopping.bad_epochs) == (2, 0.3, 3)
    assert sorted(kept) == [1, 2]
    assert all(torch.equal(stopping.best_state[k], kept[2][k]) for k in kept[2])


def test_early_stopping_needs_a_validation():
    tiny = Tiny(patience=2)
    with pytest.raises(ValueError, match="validation"):
        tiny.loop.run(tiny.train_epoch, lambda _: None)


def test_a_resumed_loop_continues_to_the_same_weights(tmp_path):
    straight = Tiny(epochs=4, patience=3)
    straight.run()
    checkpoint = tmp_path / "loop.pt"
    stopped = Tiny(epochs=4, patience=3)

    def save_then_stop(result):
        stopped.loop.save(checkpoint, network=stopped.network.state_dict())
        if result.epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stopped.run(save_then_stop)
    torch.manual_seed(123)  # whatever ran in between: the checkpoint brings the generator back
    resumed = Tiny(epochs=4, patience=3)
    state = resumed.loop.resume(checkpoint)
    resumed.network.load_state_dict(state["network"])
    epochs = []
    resumed.run(lambda result: epochs.append(result.epoch))
    assert epochs == [3, 4]
    for name, value in straight.network.state_dict().items():
        assert torch.equal(value, resumed.network.state_dict()[name])
    assert resumed.loop.stopping.best_epoch == straight.loop.stopping.best_epoch
    assert resumed.optimisation.learning_rate() == straight.optimisation.learning_rate()


def test_resuming_without_a_checkpoint_changes_nothing(tmp_path):
    tiny = Tiny()
    assert tiny.loop.resume(tmp_path / "missing.pt") is None and tiny.loop.epoch == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_gpu_the_forward_pass_is_in_reduced_precision_and_only_float16_is_scaled():
    device = torch.device("cuda")
    network = torch.nn.Linear(3, 1).to(device)
    optimisation = Optimisation(network.parameters(), SETTINGS, device, total_steps=4)
    with optimisation.autocast():
        outputs = network(INPUTS.to(device))
    assert outputs.dtype == optimisation.amp_dtype
    assert optimisation.scaler.is_enabled() == (optimisation.amp_dtype == torch.float16)
    optimisation.step(outputs.float().pow(2).mean())
    assert all(torch.isfinite(p).all() for p in network.parameters())
