#!/usr/bin/env python
"""Training throughput of a recipe: records/s of one epoch, and the time to preprocess the records.

    python -m bench.train [--config configs/small.toml] [--records 512] [--device cpu]

Writes N synthetic 12-lead records (500 Hz, 10 s), preprocesses them as training does, then trains one
fold's network for one epoch on them and reports records/s and this process's peak RSS.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import REPO, peak_memory_mb, synthetic_records
from ecgnet.config import RunConfig
from ecgnet.device import resolve_device
from ecgnet.fold_training import FoldTrainer
from ecgnet.training_data import load_training_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "small.toml"))
    parser.add_argument("--records", type=int, default=512)
    parser.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    args = parser.parse_args()

    config = RunConfig.from_toml(args.config).override("training", device=args.device, folds=2)
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        synthetic_records(root / "data", args.records)
        started = time.perf_counter()
        data = load_training_data(root / "data", config, progress=False, log=lambda _: None)
        prepare = time.perf_counter() - started
        device = resolve_device(args.device)
        trainer = FoldTrainer(data, 0, config, device, root)
        # Every record trains: the benchmark measures throughput, not a fold split.
        trainer.dataset.rows = np.arange(len(data.index))
        started = time.perf_counter()
        trainer.train_epoch(progress=False)
        epoch = time.perf_counter() - started
    print(f"recipe {Path(args.config).name}, device {device}, batch {config.training.batch_size}")
    print(f"preprocessing: {args.records} records in {prepare:.1f} s = {args.records / prepare:.0f} records/s")
    print(f"training: one epoch of {args.records} records in {epoch:.1f} s = {args.records / epoch:.1f} records/s, "
          f"peak RSS {peak_memory_mb():.0f} MB")


if __name__ == "__main__":
    main()
