"""The architecture registry and the SE-ResNet: shapes, lead sets, determinism, structure, inputs that matter."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from ecgnet import models
from ecgnet.config import ModelConfig
from ecgnet.models import count_parameters, create_model, create_model_from_config, list_models, register_model
from ecgnet.models.seresnet import SEBasicBlock1d, SEResNet1d, SqueezeExcite1d
from ecgnet.network import complete_model

NUM_CLASSES = 26
LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
LEAD_SETS = {
    12: LEADS,
    6: ("I", "II", "III", "aVR", "aVL", "aVF"),
    4: ("I", "II", "III", "V2"),
    3: ("I", "II", "V2"),
    2: ("I", "II"),
}
# Narrow and shallow, so every test runs in milliseconds; the structure is the same as the default's.
TINY = {"stem_channels": 8, "stage_channels": (8, 16, 16), "blocks_per_stage": (1, 2, 1), "kernel_size": 5}


def tiny(seed: int = 0, **overrides) -> SEResNet1d:
    torch.manual_seed(seed)
    model = create_model("seresnet", NUM_CLASSES, **{**TINY, **overrides})
    assert isinstance(model, SEResNet1d)
    return model


def inputs(
    batch: int = 3, length: int = 500, leads: int = 12, seed: int = 1
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A batch in the contract's layout: 12 slots, absent leads zeroed, mask, demographics."""
    generator = torch.Generator().manual_seed(seed)
    present = [LEADS.index(name) for name in LEAD_SETS[leads]]
    mask = torch.zeros(batch, 12)
    mask[:, present] = 1.0
    signal = torch.randn(batch, 12, length, generator=generator) * mask.unsqueeze(-1)
    age = torch.rand(batch, generator=generator) * 0.9
    demographics = torch.stack([age, torch.ones(batch), (age > 0.4).float(), torch.ones(batch)], dim=1)
    return signal, mask, demographics


@pytest.mark.parametrize("leads", sorted(LEAD_SETS))
@pytest.mark.parametrize("length", [256, 500, 1001, 2500])
def test_output_shape_for_every_lead_set_and_length(leads: int, length: int) -> None:
    model = tiny().eval()
    with torch.no_grad():
        logits = model(*inputs(batch=2, length=length, leads=leads))
    assert logits.shape == (2, NUM_CLASSES)
    assert torch.isfinite(logits).all()


def test_features_are_what_the_head_sees() -> None:
    model = tiny().eval()
    batch = inputs()
    with torch.no_grad():
        features = model.embedding(*batch)
        assert features.shape == (3, model.embedding_size)
        torch.testing.assert_close(model.head(features), model(*batch), rtol=0, atol=0)
    assert isinstance(model.head, nn.Linear)
    assert model.head.in_features == model.embedding_size
    # pooled (avg + max of the last stage) + lead mask + demographics
    assert model.embedding_size == 2 * 16 + 12 + 4


def test_eval_mode_is_deterministic() -> None:
    model = tiny().eval()
    batch = inputs()
    with torch.no_grad():
        first, second = model(*batch), model(*batch)
    assert torch.equal(first, second)


def test_same_seed_gives_same_weights() -> None:
    a, b = tiny(seed=7).state_dict(), tiny(seed=7).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[key], b[key]) for key in a)
    c = tiny(seed=8).state_dict()
    assert not all(torch.equal(a[key], c[key]) for key in a)


def test_every_residual_block_has_squeeze_excitation() -> None:
    model = create_model("seresnet", NUM_CLASSES)  # the default shape
    blocks = [m for m in model.modules() if isinstance(m, SEBasicBlock1d)]
    assert len(blocks) == sum(complete_model(ModelConfig()).params["blocks_per_stage"])
    assert all(isinstance(block.se, SqueezeExcite1d) for block in blocks)
    assert sum(isinstance(m, SqueezeExcite1d) for m in model.modules()) == len(blocks)


def test_downsampling_by_strided_convolution_not_max_pool() -> None:
    model = create_model("seresnet", NUM_CLASSES)
    assert not any(isinstance(m, nn.MaxPool1d | nn.AdaptiveMaxPool1d | nn.AvgPool1d) for m in model.modules())
    strides = [block.conv1.stride[0] for block in model.modules() if isinstance(block, SEBasicBlock1d)]
    # first block of every stage after the first halves the length; 4 stages of 2 blocks by default
    assert strides == [1, 1, 2, 1, 2, 1, 2, 1]


def test_stem_kernel_and_stride() -> None:
    model = create_model("seresnet", NUM_CLASSES)
    assert model.stem_conv.kernel_size == (15,)
    assert model.stem_conv.stride == (2,)
    assert model.stem_conv.in_channels == 12
    assert tiny(stem_kernel=9).stem_conv.kernel_size == (9,)


def test_even_kernels_are_rejected() -> None:
    with pytest.raises(ValueError, match="odd"):
        tiny(kernel_size=4)
    with pytest.raises(ValueError, match="same length"):
        tiny(stage_channels=(8, 16), blocks_per_stage=(1,))


def test_demographics_change_output_only_when_used() -> None:
    signal, mask, demographics = inputs()
    other = demographics.clone()
    other[:, 0] = 0.0  # age unknown
    other[:, 1] = 0.0
    other[:, 2] = 1.0 - other[:, 2]  # other sex
    for use, should_change in ((True, True), (False, False)):
        model = tiny(use_demographics=use).eval()
        with torch.no_grad():
            changed = not torch.equal(model(signal, mask, demographics), model(signal, mask, other))
        assert changed == should_change, f"use_demographics={use}"
    assert tiny(use_demographics=False).embedding_size == tiny().embedding_size - 4


def test_lead_mask_changes_output() -> None:
    model = tiny().eval()
    signal, mask, demographics = inputs(leads=2)
    wider = mask.clone()
    wider[:, LEADS.index("V2")] = 1.0  # a lead flagged present but flat
    with torch.no_grad():
        assert not torch.equal(model(signal, mask, demographics), model(signal, wider, demographics))


def test_absent_leads_are_ignored_even_if_not_zeroed() -> None:
    model = tiny().eval()
    signal, mask, demographics = inputs(leads=3)
    noisy = signal + (1.0 - mask).unsqueeze(-1) * 5.0  # garbage in the slots the mask says are absent
    with torch.no_grad():
        torch.testing.assert_close(model(signal, mask, demographics), model(noisy, mask, demographics))


def test_lead_mask_also_conditions_the_trunk() -> None:
    """The FiLM layer lets the convolutional features depend on the lead set, not just the head."""
    model = tiny()
    with torch.no_grad():
        model.mask_film.proj.weight.normal_()  # move it away from its identity initialisation
    model.eval()
    signal, mask, demographics = inputs(leads=2)
    wider = mask.clone()
    wider[:, LEADS.index("V2")] = 1.0
    pooled = model.pooled_size
    with torch.no_grad():
        a = model.embedding(signal, mask, demographics)[:, :pooled]
        b = model.embedding(signal, wider, demographics)[:, :pooled]
    assert not torch.equal(a, b)


@pytest.mark.parametrize("overrides", [{}, {"use_demographics": False, "mask_film": False, "block_dropout": 0.1}])
def test_gradient_reaches_every_parameter(overrides: dict) -> None:
    model = tiny(**overrides).train()
    logits = model(*inputs(batch=4))
    nn.functional.binary_cross_entropy_with_logits(logits, torch.ones_like(logits) * 0.5).backward()
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    assert trainable
    missing = [name for name, p in trainable if p.grad is None or not torch.any(p.grad != 0)]
    assert not missing, f"no gradient for {missing}"


def test_wrong_input_shapes_are_explained() -> None:
    model = tiny().eval()
    signal, mask, demographics = inputs()
    with pytest.raises(ValueError, match="signal"):
        model(signal[:, :6], mask, demographics)
    with pytest.raises(ValueError, match="lead_mask"):
        model(signal, mask[:, :6], demographics)
    with pytest.raises(ValueError, match="demographics"):
        model(signal, mask, demographics[:, :2])


def test_registry_lists_seresnet() -> None:
    assert "seresnet" in list_models()


def test_unknown_model_name_lists_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'resnet9000'.*seresnet"):
        create_model("resnet9000", NUM_CLASSES)


def test_unknown_kwarg_is_named() -> None:
    with pytest.raises(ValueError, match=r"unknown argument\(s\) \['widht'\]"):
        create_model("seresnet", NUM_CLASSES, widht=3)


def test_create_from_default_config() -> None:
    torch.manual_seed(0)
    model = create_model_from_config(complete_model(ModelConfig()), num_classes=NUM_CLASSES)
    params = complete_model(ModelConfig()).params
    assert isinstance(model, SEResNet1d)
    assert model.stem_conv.out_channels == params["stem_channels"]
    assert model.stem_conv.kernel_size == (params["stem_kernel"],)
    assert model.head.out_features == NUM_CLASSES
    assert model.dropout.p == params["dropout"]
    model.eval()
    with torch.no_grad():
        assert model(*inputs(batch=1, length=256)).shape == (1, NUM_CLASSES)


def test_a_new_architecture_registers_from_outside() -> None:
    name = "test_dummy_linear"

    @register_model(name)
    class DummyNet(nn.Module):
        def __init__(self, num_classes: int, num_leads: int = 12, width: int = 4) -> None:
            super().__init__()
            self.head = nn.Linear(num_leads + 4, num_classes)
            self.width = width

        def embedding(self, signal: torch.Tensor, lead_mask: torch.Tensor, demographics: torch.Tensor):
            return torch.cat([signal.mean(-1), demographics], dim=1)

        def forward(self, signal: torch.Tensor, lead_mask: torch.Tensor, demographics: torch.Tensor):
            return self.head(self.embedding(signal, lead_mask, demographics))

    try:
        assert name in list_models()
        model = create_model(name, num_classes=5, width=9)
        assert isinstance(model, DummyNet) and model.width == 9
        assert model(*inputs(batch=2)).shape == (2, 5)
        with pytest.raises(ValueError, match="already registered"):
            register_model(name)(lambda num_classes, num_leads=12: nn.Identity())
        with pytest.raises(ValueError, match=r"\['depth'\]"):
            create_model(name, num_classes=5, depth=2)
        config = complete_model(ModelConfig(architecture=name, params={"width": 7}))  # a new architecture is one file
        assert config.params == {"width": 7}
        assert create_model_from_config(config, num_classes=5).width == 7
        with pytest.raises(ValueError, match="unknown argument"):  # the SE-ResNet fields are not its own
            complete_model(ModelConfig(architecture=name, params={"stem_channels": 8}))
    finally:
        models.unregister_model(name)
    assert name not in list_models()


def test_count_parameters() -> None:
    model = tiny()
    total = sum(p.numel() for p in model.parameters())
    assert count_parameters(model) == total
    frozen = tiny(mask_film=False)
    film = sum(p.numel() for p in frozen.mask_film.parameters())
    assert count_parameters(frozen) == total - film
    assert count_parameters(frozen, trainable_only=False) == total


def test_torchscript_matches_eager() -> None:
    model = tiny().eval()
    batch = inputs(length=300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated upstream; this only checks it still compiles
        scripted = torch.jit.script(model)
    with torch.no_grad():
        torch.testing.assert_close(scripted(*batch), model(*batch))
        torch.testing.assert_close(scripted.embedding(*batch), model.embedding(*batch))


def test_extra_features_are_joined_before_the_head():
    torch.manual_seed(0)
    net = create_model("seresnet", num_classes=5, stem_channels=8, stage_channels=[8, 8], blocks_per_stage=[1, 1],
                       extra_features=3).eval()
    x, m, d = torch.randn(2, 12, 300), torch.ones(2, 12), torch.zeros(2, 4)
    extra = torch.zeros(2, 3)
    assert net.embedding_size == net.pooled_size + 12 + 4 + 3
    changed = extra.clone()
    changed[:, 1] = 5.0
    assert not torch.allclose(net(x, m, d, extra), net(x, m, d, changed))
    with pytest.raises(ValueError, match="extra must be"):
        net(x, m, d)
    plain = create_model("seresnet", num_classes=5, stem_channels=8, stage_channels=[8, 8], blocks_per_stage=[1, 1])
    with pytest.raises(ValueError, match="no extra features"):
        plain(x, m, d, extra)


def test_a_new_architecture_is_one_file_in_the_models_folder(tmp_path, monkeypatch) -> None:
    """The package imports every module of its folder: a file that registers itself needs no other edit."""
    import sys
    import textwrap

    (tmp_path / "tiny_test_net.py").write_text(textwrap.dedent('''
        from torch import nn

        from ecgnet.models._registry import register_model


        @register_model("tiny_test_net")
        class TinyNet(nn.Module):
            def __init__(self, num_classes: int, num_leads: int = 12, width: int = 3) -> None:
                super().__init__()
                self.head = nn.Linear(num_leads, num_classes)

            def forward(self, signal, lead_mask, demographics, extra=None):
                return self.head(signal.mean(-1))
    '''))
    monkeypatch.setattr(models, "__path__", [*models.__path__, str(tmp_path)])
    try:
        models._import_architectures()
        assert "tiny_test_net" in list_models()
        assert complete_model(ModelConfig("tiny_test_net")).params == {"width": 3}
    finally:
        if "tiny_test_net" in list_models():
            models.unregister_model("tiny_test_net")
        sys.modules.pop("ecgnet.models.tiny_test_net", None)
