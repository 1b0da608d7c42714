#!/usr/bin/env python
"""Time of one record's explanation: integrated gradients of one class at 16/32/64 steps, against plain
gradient x input and against prediction alone, for a recipe's ensemble.

    python -m bench.explain [--config configs/small.toml] [--record ../shared/data/cinc2021/training/A0689.hea]
                            [--steps 16,32,64] [--repeats 3] [--device cpu] [--threads N]

The ensemble is the recipe's number of freshly initialised networks (timing does not depend on the
weights). The record is a real one when the shared data is there, otherwise a synthetic 10 s 500 Hz
record. Each figure is the best of ``--repeats`` runs after one warm-up, and covers the attribution of
one class over the record's windows (no figure drawing). Gradient x input is one gradient per network
and window; integrated gradients costs ``steps`` of them, batched, plus mapping windows back to the
record. The load average is printed because shared cores make every figure slower, and with torch's
threads spinning at their barriers far slower than the share of the cores lost: on a busy machine
``--threads 1`` gives the steadier figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from bench.common import REPO, synthetic_records
from ecgnet import attribution, signals
from ecgnet.config import RunConfig
from ecgnet.decision import Decision
from ecgnet.device import resolve_device
from ecgnet.inference import Ensemble, ModelInput, predict_prepared, record_input
from ecgnet.labels import default_class_table
from ecgnet.network import build_network
from ecgnet.records import LEAD_SETS, lead_set_name, read_record, standard_leads

DEFAULT_RECORD = REPO.parent / "shared" / "data" / "cinc2021" / "training" / "A0689.hea"


def untrained_ensemble(config: RunConfig, device: torch.device, seed: int = 0) -> Ensemble:
    """The recipe's ensemble with freshly initialised networks, in eval mode, thresholds 0.5."""
    table = default_class_table()
    torch.manual_seed(seed)
    networks = [build_network(config, len(table)).to(device).eval()
                for _ in range(config.training.folds)]
    thresholds = {lead_set_name(LEAD_SETS[n]): np.full(len(table), 0.5) for n in (12, 6, 4, 3, 2)}
    batch_size = 1024 if device.type == "cuda" else 64
    return Ensemble(config, networks, Decision(table.codes, thresholds), device, batch_size)


def gradient_times_input(ensemble: Ensemble, record: ModelInput, class_index: int) -> np.ndarray:
    """The baseline method: d logit / d input x input per window, averaged over the networks."""
    total = None
    for network in ensemble.networks:
        x = torch.from_numpy(record.windows).to(ensemble.device).requires_grad_(True)
        n = x.shape[0]
        mask = torch.from_numpy(record.lead_mask.astype(np.float32)).to(ensemble.device).expand(n, -1)
        demographics = torch.from_numpy(record.demographics).to(ensemble.device).expand(n, -1)
        (gradient,) = torch.autograd.grad(network(x, mask, demographics)[:, class_index].sum(), x)
        value = (gradient * x).detach()
        total = value if total is None else total + value
    return (total / len(ensemble.networks)).cpu().numpy()


def best_time(run: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Best wall time of ``repeats`` runs after a warm-up (the device synchronised around each)."""
    run()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return min(times)


def load_record(path: Path | None, config: RunConfig, scratch: Path) -> tuple[ModelInput, int, str]:
    """The prepared record, its length at the model rate, and its name."""
    if path is None or not path.is_file():
        path = synthetic_records(scratch, 1, jobs=1)[0]
    record = read_record(path)
    leads = standard_leads(record.header.leads)
    prepared = record_input(record.recording, record.header, leads, config, path)
    length = signals.preprocess(record.recording, record.header, config.signals, path, leads)[0].shape[1]
    return prepared, length, f"{path.stem} ({record.header.num_samples / record.header.frequency:g} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "small.toml"))
    parser.add_argument("--record", type=Path, default=DEFAULT_RECORD)
    parser.add_argument("--steps", default="16,32,64", help="comma-separated step counts")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    config = RunConfig.from_toml(args.config)
    device = resolve_device(args.device)
    ensemble = untrained_ensemble(config, device)
    with tempfile.TemporaryDirectory() as scratch:
        record, length, name = load_record(args.record, config, Path(scratch))
    windows = len(record.windows)
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, device "
          f"{device}, load average {os.getloadavg()[0]:.1f}; recipe {Path(args.config).name}: {len(ensemble.networks)} "
          f"networks; record {name}: {windows} window(s) of {record.windows.shape[-1]} samples")
    predict = best_time(lambda: predict_prepared(ensemble, [record]), args.repeats, device)
    gradient = best_time(lambda: gradient_times_input(ensemble, record, 0), args.repeats, device)
    rows = [("prediction only (26 classes)", "-", predict), ("gradient x input (1 class)", "1", gradient)]
    for steps in (int(s) for s in args.steps.split(",")):
        seconds = best_time(lambda s=steps: attribution.record_attributions(ensemble, record, 0, s, length),
                            args.repeats, device)
        rows.append(("integrated gradients (1 class)", str(steps), seconds))
    print("\n| method | steps | seconds | x gradient x input |\n| --- | --- | --- | --- |")
    for method, steps, seconds in rows:
        print(f"| {method} | {steps} | {seconds:.3f} | {seconds / gradient:.1f} |")


if __name__ == "__main__":
    main()
