"""The ensemble's networks as one ONNX graph, for ONNX Runtime: ``ecgnet export MODEL``.

The graph takes a batch of windows (``signal`` (W, 12, T), ``lead_mask`` (W, 12), ``demographics`` (W, 4),
and ``extra`` (W, F) when the networks take hand-made features) and gives the mean sigmoid of every network
(W, classes), exactly what :meth:`ecgnet.inference.Ensemble.window_probabilities` computes with torch. It is
written into the model folder as ``ensemble.onnx``; the rest of the model (the feature model's trees, the
stack, the thresholds) is already plain arrays and JSON. ``run_model.py --runtime onnxruntime`` uses it.

An export is checked before it is kept: ONNX Runtime must give torch's probabilities within 1e-5 on a batch
of random windows, or nothing is written. The command is :mod:`ecgnet.commands.export`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from . import artifacts
from .artifacts import ONNX_FILE, ONNX_INPUTS, ModelFolderError
from .files import atomic_path
from .inference import Ensemble, load_ensemble

OPSET = 17
TOLERANCE = 1e-5
INPUTS = ONNX_INPUTS  # in this order; load_ensemble checks a graph's inputs against its config (artifacts)


class EnsembleGraph(torch.nn.Module):
    """The networks' mean sigmoid, as one module to trace."""

    def __init__(self, networks: Sequence[torch.nn.Module]):
        super().__init__()
        self.networks = torch.nn.ModuleList(networks)

    def forward(self, signal, lead_mask, demographics, extra=None):
        total = sum(torch.sigmoid(network(signal, lead_mask, demographics, extra)) for network in self.networks)
        return total / len(self.networks)


def window_length(ensemble: Ensemble) -> int:
    """The length in samples of the windows the networks take (sliding windows, or groups of beats)."""
    return artifacts.window_length(ensemble.config)


def example_inputs(ensemble: Ensemble, windows: int, seed: int = 0) -> list[np.ndarray]:
    """Random inputs of the graph's shapes (the values do not matter for tracing, only for the check)."""
    rng = np.random.default_rng(seed)
    inputs = [rng.standard_normal((windows, 12, window_length(ensemble))).astype(np.float32),
              (rng.random((windows, 12)) < 0.8).astype(np.float32),
              np.tile(np.array([[0.6, 1.0, 1.0, 1.0]], dtype=np.float32), (windows, 1))]
    extra = getattr(ensemble.networks[0], "extra_features", 0)
    if extra:
        inputs.append(rng.standard_normal((windows, extra)).astype(np.float32))
    return inputs


def export_onnx(model_dir: str | os.PathLike) -> tuple[Path, float]:
    """Write ``MODEL/ensemble.onnx`` and return its path and the largest difference from torch found by the
    check; ModelFolderError when the check fails (then nothing is written)."""
    import onnxruntime  # only exporting and the ONNX runtime need it

    ensemble = load_ensemble(model_dir, "cpu")
    graph = EnsembleGraph(ensemble.networks).eval()
    inputs = example_inputs(ensemble, windows=3)
    names = list(INPUTS[: len(inputs)])
    path = Path(model_dir) / ONNX_FILE
    with atomic_path(path) as temporary, torch.inference_mode(), warnings.catch_warnings():
        # The tracer warns of the networks' input checks, which it fixes for the traced shapes: the graph takes
        # what the checks allow. The exporter warns that it is the TorchScript-based one, which needs no
        # onnxscript and handles these networks.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(graph, tuple(map(torch.from_numpy, inputs)), str(temporary), dynamo=False,
                          input_names=names, output_names=["probabilities"], opset_version=OPSET,
                          dynamic_axes={name: {0: "windows"} for name in [*names, "probabilities"]})
        session = onnxruntime.InferenceSession(str(temporary), providers=["CPUExecutionProvider"])
        check = example_inputs(ensemble, windows=5, seed=1)
        # The exporter drops an input the networks do not use (demographics, with use_demographics off).
        kept = {entry.name for entry in session.get_inputs()}
        got = session.run(None, {name: values for name, values in zip(names, check) if name in kept})[0]
        expected = ensemble.window_probabilities(*check[:3], check[3] if len(check) > 3 else None)
        difference = float(np.max(np.abs(got - expected)))
        if not difference <= TOLERANCE:
            raise ModelFolderError(f"{path}: ONNX Runtime differs from torch by {difference:.2e} (more than "
                                   f"{TOLERANCE:g}); not written")
    return path, difference

