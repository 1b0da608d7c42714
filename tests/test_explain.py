"""Explanations: integrated gradients are complete and map back to the record, the ECG plot is to scale,
and the command writes valid pictures and tables for a record and for a folder."""

from __future__ import annotations

import csv
import json
import shutil
from types import SimpleNamespace

import matplotlib.image
import numpy as np
import pytest
import torch

from ecgnet import explain, inference, signals
from ecgnet.config import RunConfig
from ecgnet.data import lead_set_name
from ecgnet.records import LEAD_SETS, STANDARD_LEADS, read_record, standard_leads
from models import create_model

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CLASSES = 5
LONG_RECORD = "A1041"  # 17 s at 500 Hz: three windows of the small recipe, the last one end-aligned


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
    return inference.Ensemble(config, list(networks), [str(i) for i in range(CLASSES)], thresholds,
                              torch.device("cpu"))


def prepared(num_samples: int, seed: int = 0, window: int = 500, stride: int = 250) -> inference.PreparedRecord:
    signal = np.random.default_rng(seed).standard_normal((12, num_samples)).astype(np.float32)
    windows = signals.sliding_windows(signal, window, stride)
    return inference.PreparedRecord("R", windows, np.ones(12, dtype=bool), signals.demographics(60, "Female"))


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
    attributions = explain.integrated_gradients(forward, inputs, baseline, steps=64, max_rows=50)
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
    attributions = explain.integrated_gradients(lambda x: (x**2).sum(dim=(1, 2)), inputs, baseline, steps=3,
                                                max_rows=5)
    torch.testing.assert_close(attributions, inputs**2 - baseline**2)


def test_several_outputs_match_one_at_a_time():
    network = tiny_network(seed=3, double=True)
    inputs = torch.randn(2, 12, 300, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    baseline = torch.zeros_like(inputs)
    both = explain.integrated_gradients(lambda x: torch.stack([logit_of(network, 0)(x), logit_of(network, 4)(x)], 1),
                                        inputs, baseline, steps=8, max_rows=5)
    assert both.shape == (2, *inputs.shape)
    for k, column in enumerate((0, 4)):
        alone = explain.integrated_gradients(logit_of(network, column), inputs, baseline, steps=8)
        torch.testing.assert_close(both[k], alone)


def test_zeroed_lead_gets_exactly_zero_attribution():
    network = tiny_network(double=True)
    inputs = torch.randn(2, 12, 300, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    inputs[:, 4] = 0.0  # aVL flat, though the mask says it is there
    attributions = explain.integrated_gradients(logit_of(network, 1), inputs, torch.zeros_like(inputs), steps=16)
    assert torch.count_nonzero(attributions[:, 4]) == 0
    assert torch.count_nonzero(attributions[:, 3]) > 0


def test_attributions_map_back_to_the_record_with_overlaps_averaged():
    training = tiny_network(seed=5)
    training.train()
    ensemble = tiny_ensemble([tiny_network(seed=4), training])
    record = prepared(1234)  # windows start at 0, 250, 500 and 734 (end-aligned)
    assert len(record.windows) == 4
    per_window = explain.window_attributions(ensemble, record, [2], steps=6)[0]
    mapped = explain.record_attributions(ensemble, record, 2, steps=6, num_samples=1234)
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
    mapped = explain.record_attributions(ensemble, prepared(321), 0, steps=4, num_samples=321)
    assert mapped.shape == (12, 321)
    with pytest.raises(ValueError, match="do not cover"):
        explain.record_attributions(ensemble, prepared(1234), 0, steps=2, num_samples=600)


def test_beat_groups_are_concatenated_not_mapped_to_time():
    ensemble = tiny_ensemble([tiny_network()], beats=True)
    record = prepared(1000, window=300, stride=300)  # stands for 3 groups of beats of 300 samples
    per_window = explain.window_attributions(ensemble, record, [1], steps=4)[0]
    mapped = explain.record_attributions(ensemble, record, 1, steps=4)
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
    explain.record_attributions(tiny_ensemble([network]), record, 0, steps=3, num_samples=900)
    for extra in network.extras:
        assert extra.shape[1] == 7 and torch.equal(extra[-1], torch.arange(7.0))
    assert bool(network.extras) == with_features


def test_lead_importance_is_normalised():
    attributions = np.zeros((12, 50))
    attributions[0, :10], attributions[6, :5] = -1.0, 2.0
    importance = explain.lead_importance(attributions)
    np.testing.assert_allclose(importance[[0, 6]], [0.5, 0.5])
    assert importance.sum() == pytest.approx(1.0)
    assert not explain.lead_importance(np.zeros((12, 5))).any()


def _scale(fig):
    """(mm per second, mm per mV) of the figure's page axes, from its limits and its size in inches."""
    ax = fig.axes[0]
    box = ax.get_position()
    width_mm = box.width * fig.get_figwidth() * 25.4
    height_mm = box.height * fig.get_figheight() * 25.4
    return width_mm / np.ptp(ax.get_xlim()), height_mm / np.ptp(ax.get_ylim())


def test_ecg_page_is_drawn_at_25_mm_per_second_and_10_mm_per_mv(shared_data):
    record = read_record(shared_data / "cinc2021" / "training" / f"{LONG_RECORD}.hea")
    fig = explain.ecg_figure(record.recording, record.header, "Predicted: nothing")
    assert _scale(fig) == pytest.approx((25.0, 10.0), rel=1e-9)
    ax = fig.axes[0]
    # Grid lines: heavy every 5 mm, light every 1 mm (matplotlib drops the light ones under heavy ones).
    assert np.diff(ax.get_xticks()) == pytest.approx(0.2)
    assert np.diff(np.sort(np.r_[ax.get_xticks(), ax.get_xticks(minor=True)])) == pytest.approx(0.04)
    assert np.diff(ax.get_yticks()) == pytest.approx(0.5)
    assert np.diff(np.sort(np.r_[ax.get_yticks(), ax.get_yticks(minor=True)])) == pytest.approx(0.1)
    assert np.ptp(ax.get_xlim()) == pytest.approx(10.4)  # four 2.5 s columns and the calibration pulse
    assert np.ptp(ax.get_ylim()) == pytest.approx(5 * 3.5)  # 3 rows of panels, 17 s of rhythm on 2 rows
    lines = [line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")]
    assert sorted(lines) == sorted([*STANDARD_LEADS, "rhythm II", "rhythm II"])
    # The first segment of lead I is the record's first 2.5 s in mV (display filter aside).
    first = next(line for line in ax.get_lines() if line.get_label() == "I")
    assert first.get_xdata()[0] == 0.0 and first.get_xdata()[-1] == pytest.approx(2.5)


def test_missing_leads_are_blank_panels_with_their_name(shared_data):
    record = read_record(shared_data / "cinc2021" / "reduced_leads" / "two_leads" / "E07500.hea")
    fig = explain.ecg_figure(record.recording, record.header)
    ax = fig.axes[0]
    drawn = {line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")}
    assert drawn == {"I", "II", "rhythm II"}
    texts = {text.get_text() for text in ax.texts}
    assert {"V1 (not recorded)", "aVF (not recorded)", "I", "II"} <= texts


def _check_png(path, size=None):
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4) and image.std() > 0
    if size is not None:
        assert abs(image.shape[1] - size[0]) <= 2 and abs(image.shape[0] - size[1]) <= 2
    return image


@pytest.mark.slow
def test_command_explains_the_classes_asked_for(trained_model, shared_data, tmp_path):
    header = shared_data / "cinc2021" / "training" / f"{LONG_RECORD}.hea"
    argv = [str(trained_model), str(header), "--out", str(tmp_path), "--steps", "4", "--classes", "af"]
    assert explain.main(argv) == 0
    document = json.loads((tmp_path / "explanation.json").read_text())
    ensemble = inference.load_ensemble(trained_model, "cpu")
    record = read_record(header)
    leads = standard_leads(record.header.leads)
    expected = inference.predict_record(ensemble, record.recording, record.header, leads)
    abbreviations = explain.class_abbreviations(ensemble.class_codes)
    got = np.array([document["probabilities"][a] for a in abbreviations])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    thresholds = ensemble.thresholds_for(leads)
    assert document["predicted"] == [a for a, p, t in zip(abbreviations, expected, thresholds) if p >= t]
    assert document["explained"] == ["AF"] and document["leads"] == list(STANDARD_LEADS)
    assert document["method"]["steps"] == 4 and document["method"]["target"] == "logit"
    assert sum(document["lead_importance"]["AF"].values()) == pytest.approx(1.0)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["attribution_AF.png", "ecg.png"]
    _check_png(tmp_path / "attribution_AF.png")
    # 8 + 260 + 8 mm wide, 8 + 5 x 35 + 24 mm high, at 150 dpi.
    _check_png(tmp_path / "ecg.png", size=(276 / 25.4 * 150, 207 / 25.4 * 150))


@pytest.mark.slow
def test_command_explains_the_predicted_classes_of_a_two_lead_record(trained_model, shared_data, tmp_path):
    header = shared_data / "cinc2021" / "reduced_leads" / "two_leads" / "E07500.hea"
    assert explain.main([str(trained_model), str(header), "--out", str(tmp_path), "--steps", "2"]) == 0
    document = json.loads((tmp_path / "explanation.json").read_text())
    probabilities = np.array([c["probability"] for c in document["classes"]])
    thresholds = np.array([c["threshold"] for c in document["classes"]])
    abbreviations = [c["abbreviation"] for c in document["classes"]]
    predicted = [a for a, p, t in zip(abbreviations, probabilities, thresholds) if p >= t]
    assert document["predicted"] == predicted
    assert document["explained"] == (predicted or [abbreviations[int(np.argmax(probabilities))]])
    assert document["leads"] == ["I", "II"]
    for abbreviation in document["explained"]:
        importance = document["lead_importance"][abbreviation]
        assert all(importance[lead] == 0.0 for lead in STANDARD_LEADS[2:])
        assert importance["I"] + importance["II"] == pytest.approx(1.0)
        _check_png(tmp_path / f"attribution_{explain.file_label(abbreviation)}.png")
    _check_png(tmp_path / "ecg.png", size=(276 / 25.4 * 150, 172 / 25.4 * 150))


@pytest.mark.slow
def test_population_skips_a_broken_record(trained_model, shared_data, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    names = ["A0689", "E07500", "HR06000"]  # HR06000 is beyond --max-records: BROKEN is among the first 3
    for name in names:
        source = next((shared_data / "cinc2021").rglob(f"{name}.hea"))
        shutil.copy(source, data)
        shutil.copy(source.with_suffix(".mat"), data)
    shutil.copy(data / "A0689.hea", data / "BROKEN.hea")  # a header whose recording is missing
    out = tmp_path / "out"
    argv = [str(trained_model), str(data), "--population", "--out", str(out), "--steps", "1", "--max-records", "3"]
    assert explain.main(argv) == 0
    skipped = [line for line in capsys.readouterr().err.splitlines() if "skipped" in line]
    assert len(skipped) == 1 and "BROKEN" in skipped[0]
    with open(out / "lead_importance.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    ensemble = inference.load_ensemble(trained_model, "cpu")
    assert [row["class"] for row in rows] == explain.class_abbreviations(ensemble.class_codes)
    assert list(rows[0]) == ["class", "code", "records", *STANDARD_LEADS]
    expected_counts = np.zeros(len(rows), dtype=int)
    for name in names[:2]:
        record = read_record(data / f"{name}.hea")
        leads = standard_leads(record.header.leads)
        probabilities = inference.predict_record(ensemble, record.recording, record.header, leads)
        expected_counts += inference.decide(probabilities, ensemble.thresholds_for(leads))
    assert [int(row["records"]) for row in rows] == list(expected_counts)
    for row in rows:
        values = [row[lead] for lead in STANDARD_LEADS]
        if int(row["records"]):
            assert sum(map(float, values)) == pytest.approx(1.0, abs=1e-4)
        else:
            assert values == [""] * 12
    _check_png(out / "lead_importance.png")


def test_command_rejects_a_folder_without_population(tmp_path):
    with pytest.raises(ValueError, match="--population"):
        explain.main(["model", str(tmp_path), "--out", str(tmp_path / "out")])
    with pytest.raises(ValueError, match="--steps"):
        explain.main(["model", str(tmp_path), "--out", str(tmp_path / "out"), "--steps", "0"])
