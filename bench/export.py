#!/usr/bin/env python
"""CPU inference of one network of a recipe: eager against TorchScript and torch.compile.

    python -m bench.export [--config configs/small.toml] [--batch 64] [--repeats 10]

Measures windows/s of a freshly initialised network in eval mode (speed does not depend on the weights)
for each way of running it, after warm-up, and checks that they agree with eager to 1e-4. Compilation
time is reported separately: it is paid once per process, which for run_model.py means once per run.
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch

from bench.common import REPO
from ecgnet.config import RunConfig
from ecgnet.models import create_model_from_config


def windows_per_second(run, inputs, batch: int, repeats: int) -> float:
    with torch.inference_mode():
        run(*inputs)  # warm-up
        best = min(_timed(run, inputs) for _ in range(repeats))
    return batch / best


def _timed(run, inputs) -> float:
    started = time.perf_counter()
    run(*inputs)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "small.toml"))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    config = RunConfig.from_toml(args.config)
    torch.manual_seed(0)
    network = create_model_from_config(config.model, 26).eval()
    inputs = (torch.randn(args.batch, 12, config.signals.window_samples), torch.ones(args.batch, 12),
              torch.zeros(args.batch, 4))
    with torch.inference_mode():
        reference = network(*inputs)
    print(f"{args.config}: batch {args.batch} x 12 x {config.signals.window_samples}, "
          f"{torch.get_num_threads()} threads")
    print(f"eager: {windows_per_second(network, inputs, args.batch, args.repeats):.0f} windows/s")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated in recent releases; measured all the same
        started = time.perf_counter()
        scripted = torch.jit.freeze(torch.jit.script(network))
        setup = time.perf_counter() - started
    with torch.inference_mode():
        agree = torch.allclose(scripted(*inputs), reference, atol=1e-4)
    print(f"TorchScript (frozen): {windows_per_second(scripted, inputs, args.batch, args.repeats):.0f} windows/s, "
          f"setup {setup:.1f} s, agrees with eager: {agree}")
    compiled = torch.compile(network)
    started = time.perf_counter()
    with torch.inference_mode():
        agree = torch.allclose(compiled(*inputs), reference, atol=1e-4)
    setup = time.perf_counter() - started
    print(f"torch.compile: {windows_per_second(compiled, inputs, args.batch, args.repeats):.0f} windows/s, "
          f"compilation {setup:.1f} s, agrees with eager: {agree}")


if __name__ == "__main__":
    main()
