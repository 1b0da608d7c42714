"""What the benchmarks share: synthetic data, an untrained model folder of a recipe, and memory figures.

Speed does not depend on what a network has learned, so the inference benchmark uses a model folder of
freshly initialised networks with the recipe's shape, and needs no training first.
"""

from __future__ import annotations

import resource
from pathlib import Path

import numpy as np
import torch

from ecgnet import measurement_model, stacking
from ecgnet.artifacts import save_model_description, save_weights, trees_file, weight_file
from ecgnet.config import RunConfig
from ecgnet.decision import Decision
from ecgnet.labels import default_class_table
from ecgnet.models import count_parameters
from ecgnet.network import build_network
from ecgnet.records import LEAD_SETS, lead_set_name
from ecgnet.synthetic import generate_dataset
from ecgnet.trees import save_trees

REPO = Path(__file__).resolve().parents[1]


def synthetic_records(directory: Path, count: int, seed: int = 0, frequency: float = 500.0,
                      duration: float = 10.0, jobs: int = 2) -> list[Path]:
    """``count`` 12-lead synthetic records (fast generator) in ``directory``."""
    return generate_dataset(directory, count, seed=seed, frequency=frequency, duration=duration, n_jobs=jobs,
                            progress=False)


def untrained_model_folder(directory: Path, config: RunConfig, seed: int = 0, networks: int | None = None) -> int:
    """A model folder with ``networks`` (default ``config.training.folds``) freshly initialised networks; returns
    parameters per network."""
    table = default_class_table()
    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    parameters = 0
    networks = networks or config.training.folds
    for fold in range(networks):
        network = build_network(config, len(table))
        parameters = count_parameters(network)
        save_weights(weight_file(directory, fold), network.state_dict())
    thresholds = {lead_set_name(LEAD_SETS[n]): np.full(len(table), 0.5) for n in (12, 6, 4, 3, 2)}
    decision = Decision(table.codes, thresholds)
    if config.feature_model.enabled:
        decision.stacks, decision.component_thresholds = untrained_stack(directory, config, list(thresholds),
                                                                         table.codes, seed)
    save_model_description(directory, config, table.codes, table.labels, networks, decision)
    return parameters


def untrained_stack(directory: Path, config: RunConfig, lead_sets: list[str], codes: list[str], seed: int):
    """Trees of the recipe's size fitted to random labels (the cost of walking them is what is measured), a
    mean stack per lead set and thresholds of each model alone; the trees are saved into ``directory``."""
    rng = np.random.default_rng(seed)
    features, labels = rng.normal(size=(300, measurement_model.NUM_INPUTS)), rng.random((300, 1)) < 0.3
    model = measurement_model.fit_classes(features, labels, config.feature_model, seed)[0]
    save_trees(trees_file(directory), {measurement_model.model_key(name, code): model
                                       for name in lead_sets for code in codes})
    halves = {name: np.full(len(codes), 0.5) for name in lead_sets}
    return ({name: stacking.mean_stack(len(codes)) for name in lead_sets},
            {"network": halves, "features": halves})


def peak_memory_mb(children: bool = False) -> float:
    """Peak resident memory of this process (or of its finished children), in MB."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024
