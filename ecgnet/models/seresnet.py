"""1D squeeze-and-excitation ResNet for multi-lead ECG, one network for every lead subset.

Layout::

    signal * lead_mask -> stem conv (stem_kernel, stride 2) -> BN -> [lead-mask FiLM] -> ReLU
      -> stages of SE basic blocks (first block of every stage after the first has stride 2)
      -> concat(global average pool, global max pool) ++ lead_mask ++ [demographics] ++ [extra features]
      -> dropout -> linear head -> logits

There is no max-pool: every downsampling is a strided convolution, as in the papers this project follows.
Global pooling makes the network accept any length (at least ``MIN_LENGTH`` samples is sensible; shorter still
runs but sees almost no context).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ._registry import register_model

NUM_DEMOGRAPHICS = 4
MIN_LENGTH = 256


def _same_padding(kernel_size: int) -> int:
    return kernel_size // 2


class SqueezeExcite1d(nn.Module):
    """Channel attention: squeeze time by averaging, excite with a bottleneck MLP, rescale channels by a sigmoid.

    It lets a block up-weight the channels that matter for the current record (e.g. rhythm vs. morphology).
    """

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        # Floor of 4 hidden units so narrow "small" models still have a usable bottleneck.
        hidden = max(4, channels // reduction)
        self.reduce = nn.Conv1d(channels, hidden, kernel_size=1)
        self.act = nn.ReLU(inplace=True)
        self.expand = nn.Conv1d(hidden, channels, kernel_size=1)
        self.gate = nn.Sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        scale = x.mean(dim=-1, keepdim=True)
        scale = self.gate(self.expand(self.act(self.reduce(scale))))
        return x * scale


class SEBasicBlock1d(nn.Module):
    """Residual basic block: conv-BN-ReLU-[dropout]-conv-BN-SE, plus shortcut, then ReLU.

    The shortcut is a 1x1 strided convolution with BN whenever the stride or width changes, else identity.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 7,
        stride: int = 1,
        se_reduction: int = 8,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        padding = _same_padding(kernel_size)
        # Convolutions feeding a BatchNorm need no bias (BN's shift replaces it).
        self.conv1 = nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn1 = nn.BatchNorm1d(out_channels)
        self.act1 = nn.ReLU(inplace=True)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv1d(out_channels, out_channels, kernel_size, padding=padding, bias=False)
        self.bn2 = nn.BatchNorm1d(out_channels)
        self.se = SqueezeExcite1d(out_channels, se_reduction)
        if stride != 1 or in_channels != out_channels:
            self.shortcut: nn.Module = nn.Sequential(
                nn.Conv1d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm1d(out_channels),
            )
        else:
            self.shortcut = nn.Identity()
        self.act2 = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        out = self.drop(self.act1(self.bn1(self.conv1(x))))
        out = self.se(self.bn2(self.conv2(out)))
        return self.act2(out + self.shortcut(x))


class LeadMaskFiLM(nn.Module):
    """Per-channel scale and shift of the stem features computed from the lead mask.

    Zeroed leads alone only tell the trunk "this lead is flat"; conditioning on the mask lets the early filters
    re-balance themselves per lead subset (a 2-lead input has far less energy than a 12-lead one) instead of
    leaving all adaptation to the final linear layer. Initialised to the identity so it starts as a no-op.
    """

    def __init__(self, num_leads: int, channels: int) -> None:
        super().__init__()
        self.proj = nn.Linear(num_leads, 2 * channels)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: Tensor, lead_mask: Tensor) -> Tensor:
        gamma, beta = self.proj(lead_mask).unsqueeze(-1).chunk(2, dim=1)
        return x * (1.0 + gamma) + beta


@register_model("seresnet")
class SEResNet1d(nn.Module):
    """1D SE-ResNet classifier with lead-mask and demographic inputs joined before the head.

    Args:
        num_classes: outputs (one logit per class, multi-label).
        num_leads: input channels (12; reduced lead sets are passed as 12 slots with absent leads zeroed).
        stem_channels: width of the stem convolution.
        stage_channels: width of each stage.
        blocks_per_stage: residual blocks in each stage (same length as ``stage_channels``).
        stem_kernel: kernel of the stem convolution (odd; large, to see a QRS complex at once).
        kernel_size: kernel of the block convolutions (odd).
        se_reduction: squeeze-and-excitation bottleneck ratio.
        dropout: dropout on the feature vector before the head.
        use_demographics: join age/sex (with their 'known' flags) to the features; when False the
            demographics argument is accepted and ignored.
        block_dropout: dropout between the two convolutions of every block (0 = off).
        mask_film: condition the stem features on the lead mask (see ``LeadMaskFiLM``).
        extra_features: length of an extra per-record feature vector (hand-made features such as RR
            statistics) joined to the pooled features; 0 = none, and the ``extra`` argument must be None.
    """

    def __init__(
        self,
        num_classes: int,
        num_leads: int = 12,
        stem_channels: int = 64,
        stage_channels: Sequence[int] = (64, 128, 192, 256),
        blocks_per_stage: Sequence[int] = (2, 2, 2, 2),
        stem_kernel: int = 15,
        kernel_size: int = 7,
        se_reduction: int = 8,
        dropout: float = 0.2,
        use_demographics: bool = True,
        block_dropout: float = 0.0,
        mask_film: bool = True,
        extra_features: int = 0,
    ) -> None:
        super().__init__()
        stage_channels = tuple(int(c) for c in stage_channels)
        blocks_per_stage = tuple(int(b) for b in blocks_per_stage)
        _validate(
            num_classes,
            num_leads,
            stem_channels,
            stage_channels,
            blocks_per_stage,
            stem_kernel,
            kernel_size,
            se_reduction,
            dropout,
            block_dropout,
        )
        self.num_classes = num_classes
        self.num_leads = num_leads
        self.use_demographics = use_demographics
        self.num_demographics = NUM_DEMOGRAPHICS  # an attribute, as TorchScript cannot read module globals

        self.stem_conv = nn.Conv1d(
            num_leads, stem_channels, stem_kernel, stride=2, padding=_same_padding(stem_kernel), bias=False
        )
        self.stem_bn = nn.BatchNorm1d(stem_channels)
        self.use_mask_film = mask_film
        # Always built (TorchScript wants a fixed attribute type); left out of the graph when disabled and then
        # frozen so it neither counts as a trainable parameter nor receives a (None) gradient.
        self.mask_film = LeadMaskFiLM(num_leads, stem_channels)
        if not mask_film:
            self.mask_film.requires_grad_(False)
        self.stem_act = nn.ReLU(inplace=True)

        blocks: list[nn.Module] = []
        in_channels = stem_channels
        for stage_index, (channels, count) in enumerate(zip(stage_channels, blocks_per_stage)):
            for block_index in range(count):
                # The stem already halved the length; every later stage halves it once more on entry.
                stride = 2 if stage_index > 0 and block_index == 0 else 1
                blocks.append(
                    SEBasicBlock1d(in_channels, channels, kernel_size, stride, se_reduction, block_dropout)
                )
                in_channels = channels
        self.blocks = nn.Sequential(*blocks)

        self.pooled_size = 2 * in_channels  # average and max pooling, concatenated
        if extra_features < 0:
            raise ValueError(f"extra_features must not be negative, got {extra_features}")
        self.extra_features = extra_features
        self.side_features = num_leads + (self.num_demographics if use_demographics else 0) + extra_features
        self.embedding_size = self.pooled_size + self.side_features
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.embedding_size, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv1d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm1d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def _check_inputs(self, signal: Tensor, lead_mask: Tensor, demographics: Tensor, extra: Tensor | None) -> None:
        if signal.dim() != 3 or signal.size(1) != self.num_leads:
            raise ValueError(f"signal must be (batch, {self.num_leads}, time), got {list(signal.shape)}")
        batch = signal.size(0)
        if lead_mask.dim() != 2 or lead_mask.size(0) != batch or lead_mask.size(1) != self.num_leads:
            raise ValueError(f"lead_mask must be ({batch}, {self.num_leads}), got {list(lead_mask.shape)}")
        expected = self.num_demographics
        if demographics.dim() != 2 or demographics.size(0) != batch or demographics.size(1) != expected:
            raise ValueError(f"demographics must be ({batch}, {expected}), got {list(demographics.shape)}")
        if self.extra_features == 0:
            if extra is not None:
                raise ValueError("this network takes no extra features (extra_features = 0), but some were given")
        elif extra is None or extra.dim() != 2 or extra.size(0) != batch or extra.size(1) != self.extra_features:
            got = "none" if extra is None else str(list(extra.shape))
            raise ValueError(f"extra must be ({batch}, {self.extra_features}), got {got}")

    @torch.jit.export
    def embedding(self, signal: Tensor, lead_mask: Tensor, demographics: Tensor, extra: Tensor | None = None) -> Tensor:
        """The embedding, the vector fed to the classifier: pooled trunk features, lead mask, (optionally)
        demographics and extra features."""
        self._check_inputs(signal, lead_mask, demographics, extra)
        lead_mask = lead_mask.to(signal.dtype)
        # Zero absent leads here too, so a caller that forgot to cannot leak a lead the mask says is missing.
        x = signal * lead_mask.unsqueeze(-1)
        x = self.stem_bn(self.stem_conv(x))
        if self.use_mask_film:
            x = self.mask_film(x, lead_mask)
        x = self.blocks(self.stem_act(x))
        parts = [x.mean(dim=-1), x.amax(dim=-1), lead_mask]
        if self.use_demographics:
            parts.append(demographics.to(signal.dtype))
        if extra is not None:
            parts.append(extra.to(signal.dtype))
        return torch.cat(parts, dim=1)

    def classify(self, embedding: Tensor) -> Tensor:
        """Logits from the vector :meth:`embedding` returns."""
        return self.head(self.dropout(embedding))

    def forward(self, signal: Tensor, lead_mask: Tensor, demographics: Tensor, extra: Tensor | None = None) -> Tensor:
        """Logits ``(B, num_classes)`` for ``signal (B, num_leads, T)``; see the package docstring."""
        return self.classify(self.embedding(signal, lead_mask, demographics, extra))


def _validate(
    num_classes: int,
    num_leads: int,
    stem_channels: int,
    stage_channels: tuple[int, ...],
    blocks_per_stage: tuple[int, ...],
    stem_kernel: int,
    kernel_size: int,
    se_reduction: int,
    dropout: float,
    block_dropout: float,
) -> None:
    """Reject shapes that would build but misbehave (e.g. even kernels shift the 'same' padding)."""
    if num_classes < 1 or num_leads < 1 or stem_channels < 1:
        raise ValueError("num_classes, num_leads and stem_channels must be positive")
    if not stage_channels or len(stage_channels) != len(blocks_per_stage):
        raise ValueError(
            f"stage_channels {stage_channels} and blocks_per_stage {blocks_per_stage} must be non-empty and "
            "of the same length"
        )
    if min(stage_channels) < 1 or min(blocks_per_stage) < 1:
        raise ValueError("every stage needs a positive width and at least one block")
    for name, kernel in (("stem_kernel", stem_kernel), ("kernel_size", kernel_size)):
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"{name} must be a positive odd number, got {kernel}")
    if se_reduction < 1:
        raise ValueError(f"se_reduction must be >= 1, got {se_reduction}")
    for name, rate in (("dropout", dropout), ("block_dropout", block_dropout)):
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {rate}")
