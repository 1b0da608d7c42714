#!/usr/bin/env python
"""The Challenge entry points: ``training_code``, ``load_model`` and ``run_model``.

Thin on purpose: the logic lives in the ``ecgnet`` package. ``training_code`` trains with the recipe
of ``configs/default.toml`` (the GPU recipe for the full data) unless ``$ECGNET_CONFIG`` names another
TOML file, for example ``configs/small.toml`` for a CPU.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ecgnet.arguments import header_text, lead_names, recording_array
from ecgnet.config import load_config
from ecgnet.decision import LeadSetDecision
from ecgnet.inference import Ensemble, load_ensemble, predict_record
from ecgnet.records import RecordError, header_source, parse_header
from ecgnet.training import train


def training_code(data_directory: str, model_directory: str) -> None:
    """Train the ensemble on ``data_directory`` and write it to ``model_directory``."""
    config = load_config()
    train(data_directory, model_directory, config)


@dataclass
class LoadedModel:
    """The ensemble with the lead set it serves and that lead set's decision (thresholds, stack, calibration)."""

    ensemble: Ensemble
    leads: tuple[str, ...]
    decision: LeadSetDecision


@lru_cache(maxsize=4)
def _ensemble(model_directory: str, device: str, written: int) -> Ensemble:
    # The harness calls load_model once per lead set; the networks are the same for all of them.
    # ``written`` (model.json's modification time) makes a model retrained in the same folder load anew.
    return load_ensemble(model_directory, device)


def load_model(model_directory: str, leads: Sequence[str], device: str | None = None) -> LoadedModel:
    """The model for ``leads`` (any subset of the 12 standard leads; a sequence of names, never a bare string:
    ``"II"`` would be the leads I and I)."""
    if not isinstance(model_directory, (str, os.PathLike)):
        raise TypeError(f"model_directory must be a path (str or os.PathLike), not {type(model_directory).__name__}")
    leads = lead_names(leads)
    if device is not None and not isinstance(device, str):
        raise TypeError(f"device must be a device name such as 'cpu' or 'cuda' (str), not {type(device).__name__}")
    device = device or os.environ.get("ECGNET_DEVICE", "auto")
    description = Path(model_directory, "model.json")
    written = description.stat().st_mtime_ns if description.is_file() else 0
    ensemble = _ensemble(os.path.abspath(model_directory), device, written)
    return LoadedModel(ensemble, leads, ensemble.decision.for_lead_set(leads))


def run_model(model: LoadedModel, header: str, recording: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(classes, binary labels, probabilities) for one record; ``recording`` rows follow the header. Every error
    about the header or the recording names the record."""
    if not isinstance(model, LoadedModel):
        raise TypeError(f"model must be what load_model returns (LoadedModel), not {type(model).__name__}")
    source = header_source(header_text(header))
    parsed = parse_header(header, source)
    record = parsed.record_id
    array = recording_array(recording, record)
    try:
        probabilities = predict_record(model.ensemble, array, parsed, model.leads, source=record)
    except RecordError:
        raise  # it names the record: predict_record was told its name
    except ValueError as error:  # a check deeper down that was not told which record it was given
        raise ValueError(f"{record}: {' '.join(str(error).split())}") from error
    labels = model.decision.decide(probabilities).astype(int)
    return list(model.ensemble.class_codes), labels, probabilities
