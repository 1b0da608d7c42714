#!/usr/bin/env python
"""Everything the first GPU run needs to measure, in one go, printed as one markdown table.

    python -m bench.gpu [--records 30000] [--out DIR] [--dry-run]

Run through ``bench/gpu.sh``, which makes the environment. On synthetic records (never real ones), with the
default recipe on the GPU:
- the environment: GPUs, native bfloat16, cuDNN, ``/dev/shm``, cores, the cache's disk;
- the GPU-only rate of the real training step (``FoldTrainer.step``) on batches already on the device, with
  and without a read of the loss each step, ``cudnn.benchmark`` on and off, batch 128, 256 and 512, with
  peak memory; then with ``torch.compile``;
- the data loader alone with 1, 2, 4 and 8 workers;
- a steady-state epoch (the second) on every training record, projected to 88,253 records, and how busy
  the GPU was (GPU-only step time x steps / epoch time);
- one validation pass, wall against the main process's CPU time;
- ``run_model.py``'s folder runner on 2,000 records with 0 and 8 workers and batches up to 1,024 records;
- 50 steps after a resume from a checkpoint, against 50 before it;
- with 2 or more GPUs, a 2-process NCCL ``torchrun`` training.

``--dry-run`` runs every step on the CPU at a tiny scale (CI runs it so that this script keeps working);
its figures mean nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from bench.common import synthetic_records, untrained_model_folder
from ecgnet import fold_training, training_data
from ecgnet.config import RunConfig
from ecgnet.device import native_bf16
from ecgnet.inference import run_folder
from ecgnet.records import LEAD_SETS

REPO = Path(__file__).resolve().parents[1]

FULL_DATA = 88_253
Row = tuple[str, str]


class Scale:
    """How big each measurement is: the real one, or a tiny one on the CPU."""

    def __init__(self, dry_run: bool, records: int):
        self.dry_run = dry_run
        self.records = 48 if dry_run else records
        self.run_records = 16 if dry_run else 2000
        self.batches = (8, 16) if dry_run else (128, 256, 512)
        self.steps = 3 if dry_run else 50
        self.workers = (1, 2) if dry_run else (1, 2, 4, 8)
        self.run_batches = (8,) if dry_run else (256, 1024)
        self.device = torch.device("cpu" if dry_run else "cuda")


def recipe(scale: Scale, cache: Path, **training) -> RunConfig:
    config = RunConfig.from_toml(REPO / "configs" / ("demo.toml" if scale.dry_run else "default.toml"))
    settings = {"device": scale.device.type, "cache_dir": str(cache), "epochs": 2, "folds": 5, **training}
    return config.override("training", **settings)


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def environment(scale: Scale, cache: Path) -> list[Row]:
    rows = [("device", scale.device.type), ("torch", torch.__version__), ("cores", str(os.cpu_count()))]
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        rows += [("GPUs", ", ".join(names)), ("native bfloat16", str(native_bf16())),
                 ("cuDNN", str(torch.backends.cudnn.version()))]
    if Path("/dev/shm").exists():
        rows.append(("/dev/shm", f"{shutil.disk_usage('/dev/shm').total / 2**30:.1f} GiB"))
    free = shutil.disk_usage(cache).free / 2**30
    mounts = {line.split()[1]: line.split()[2] for line in Path("/proc/mounts").read_text().splitlines()
              if len(line.split()) > 2} if Path("/proc/mounts").exists() else {}
    mount = max((m for m in mounts if str(cache.resolve()).startswith(m)), key=len, default="?")
    rows.append(("cache disk", f"{cache} on {mount} ({mounts.get(mount, '?')}), {free:.0f} GiB free"))
    return rows


def device_batches(trainer: fold_training.FoldTrainer, count: int) -> list[dict[str, torch.Tensor]]:
    """``count`` training batches, already on the device."""
    trainer.sampler.set_epoch(0)
    batches = []
    for batch in trainer.loader:
        batches.append({name: value.to(trainer.device) for name, value in batch.items()})
        if len(batches) == count:
            break
    return batches


def step_rate(trainer: fold_training.FoldTrainer, batches: list, steps: int, read_loss: bool) -> float:
    """Examples per second of ``steps`` training steps on device batches (after 3 warm-up steps)."""
    for batch in batches[:3]:
        trainer.step(batch)
    synchronise(trainer.device)
    started = time.perf_counter()
    for i in range(steps):
        loss = trainer.step(batches[i % len(batches)])
        if read_loss:
            loss.item()
    synchronise(trainer.device)
    return steps * len(batches[0]["labels"]) / (time.perf_counter() - started)


def gpu_steps(scale: Scale, data: training_data.TrainingData, cache: Path, work: Path) -> tuple[list[Row], float]:
    """The step-rate rows, and the examples/s of the default batch (for the busy estimate)."""
    rows, default_rate = [], 0.0
    for batch_size in scale.batches:
        config = recipe(scale, cache, batch_size=batch_size)
        for benchmark in (True, False):
            torch.backends.cudnn.benchmark = benchmark
            if scale.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            trainer = fold_training.FoldTrainer(data, 0, config, scale.device, work)
            batches = device_batches(trainer, 8)
            free = step_rate(trainer, batches, scale.steps, read_loss=False)
            synced = step_rate(trainer, batches, scale.steps, read_loss=True)
            peak = torch.cuda.max_memory_allocated() / 2**30 if scale.device.type == "cuda" else 0.0
            rows.append((f"step, batch {batch_size}, cudnn.benchmark {benchmark}",
                         f"{free:,.0f} examples/s ({synced:,.0f} reading the loss each step), peak {peak:.1f} GiB"))
            if benchmark and batch_size == recipe(scale, cache).training.batch_size:
                default_rate = free
    torch.backends.cudnn.benchmark = True
    return rows, default_rate


def compiled_steps(scale: Scale, data: training_data.TrainingData, cache: Path, work: Path) -> list[Row]:
    trainer = fold_training.FoldTrainer(data, 0, recipe(scale, cache), scale.device, work)
    batches = device_batches(trainer, 8)
    eager = step_rate(trainer, batches, scale.steps, read_loss=False)
    started = time.perf_counter()
    trainer.model = torch.compile(trainer.model, backend="eager" if scale.dry_run else "inductor")
    trainer.step(batches[0])
    synchronise(scale.device)
    compile_seconds = time.perf_counter() - started
    compiled = step_rate(trainer, batches, scale.steps, read_loss=False)
    return [("torch.compile", f"{compiled:,.0f} examples/s against {eager:,.0f} eager; compiling took "
                              f"{compile_seconds:.0f} s")]


def loader_rates(scale: Scale, data: training_data.TrainingData, cache: Path, work: Path) -> list[Row]:
    rows = []
    for workers in scale.workers:
        trainer = fold_training.FoldTrainer(data, 0, recipe(scale, cache, loader_workers=workers), scale.device, work)
        wanted, seen, examples, started = 6 if scale.dry_run else 60, 0, 0, 0.0
        for epoch in range(wanted):  # as many epochs as it takes to see ``wanted`` batches after the first
            trainer.sampler.set_epoch(epoch)
            for batch in trainer.loader:
                seen += 1
                if seen == 1:  # the workers' start-up is not the steady rate
                    started = time.perf_counter()
                    continue
                examples += len(batch["labels"])
                if seen > wanted:
                    break
            if seen > wanted:
                break
        rate = examples / (time.perf_counter() - started)
        rows.append((f"loader alone, {workers} workers", f"{rate:,.0f} examples/s"))
    return rows


def epoch_and_validation(scale: Scale, data: training_data.TrainingData, cache: Path, work: Path,
                         step_examples_per_second: float) -> list[Row]:
    trainer = fold_training.FoldTrainer(data, 0, recipe(scale, cache), scale.device, work)
    trainer.train_epoch(progress=False)  # the first epoch pays for the workers' and kernels' start-up
    trainer.epoch += 1
    synchronise(scale.device)
    started = time.perf_counter()
    trainer.train_epoch(progress=False)
    synchronise(scale.device)
    seconds = time.perf_counter() - started
    examples = len(trainer.train_rows)
    projected = seconds * FULL_DATA * 0.8 / examples  # 5 folds: an epoch trains on 4/5 of the records
    busy = min(1.0, examples / step_examples_per_second / seconds) if step_examples_per_second else float("nan")
    cpu, wall = time.process_time(), time.perf_counter()
    fold_training.predict_rows(trainer.evaluated_network(), data, trainer.val_rows, LEAD_SETS[12], trainer.config,
                          scale.device, trainer.validation_windows)
    synchronise(scale.device)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return [("epoch (steady state)", f"{seconds:.1f} s for {examples:,} examples = {examples / seconds:,.0f}/s; "
                                     f"{projected:.0f} s projected to {FULL_DATA:,} records; GPU busy about "
                                     f"{busy:.0%}"),
            ("validation pass", f"{len(trainer.val_rows):,} records: {wall:.1f} s wall, {cpu:.1f} s CPU of the "
                                "main process")]


def resumed_steps(scale: Scale, data: training_data.TrainingData, cache: Path, work: Path) -> list[Row]:
    config = recipe(scale, cache)
    trainer = fold_training.FoldTrainer(data, 0, config, scale.device, work)
    batches = device_batches(trainer, 8)
    before = step_rate(trainer, batches, scale.steps, read_loss=False)
    trainer.save_checkpoint()
    resumed = fold_training.FoldTrainer(data, 0, config, scale.device, work)
    resumed.load_checkpoint()
    after = step_rate(resumed, batches, scale.steps, read_loss=False)
    return [("after a resume", f"{after:,.0f} examples/s against {before:,.0f} before")]


def inference_rates(scale: Scale, cache: Path, work: Path) -> list[Row]:
    data = work / "run-records"
    synthetic_records(data, scale.run_records, seed=7, jobs=os.cpu_count() or 1)
    model = work / "model"
    untrained_model_folder(model, recipe(scale, cache))
    rows = []
    for workers in (0, 2 if scale.dry_run else 8):
        for batch in scale.run_batches:
            started = time.perf_counter()
            written, _ = run_folder(model, data, work / "outputs", device=scale.device.type, workers=workers,
                                    records_per_batch=batch, progress=False)
            seconds = time.perf_counter() - started
            rows.append((f"run_model, {workers} workers, {batch} records per batch",
                         f"{written / seconds:,.0f} records/s"))
    return rows


def multi_gpu(scale: Scale, work: Path) -> list[Row]:
    if scale.dry_run or torch.cuda.device_count() < 2:
        return [("2-process NCCL torchrun", "not run: fewer than 2 GPUs" if not scale.dry_run else "not run (dry)")]
    data = work / "nccl-records"
    synthetic_records(data, 400, seed=9, jobs=os.cpu_count() or 1)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "train_model.py", str(data), str(work / "nccl-model"), "--epochs", "1", "--folds", "2"]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    outcome = "passed" if result.returncode == 0 else f"failed: {result.stderr.strip().splitlines()[-1:]}"
    return [("2-process NCCL torchrun", f"{outcome} in {time.perf_counter() - started:.0f} s")]


def timed(name: str, rows: list[Row], measure: Callable[[], list[Row]]) -> None:
    """Add ``measure()``'s rows to ``rows``; a step that fails is one row saying so, and the others still run."""
    started = time.perf_counter()
    try:
        rows += measure()
    except Exception as error:  # one broken measurement must not cost the rest of a scarce GPU session
        rows.append((name, f"FAILED: {type(error).__name__}: {' '.join(str(error).split())[:200]}"))
    print(f"[{name}: {time.perf_counter() - started:.0f} s]", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--records", type=int, default=30000, help="synthetic training records")
    parser.add_argument("--out", type=Path, help="keep the records, cache and models here (default: temporary)")
    parser.add_argument("--dry-run", action="store_true", help="every step, tiny, on the CPU")
    args = parser.parse_args()
    scale = Scale(args.dry_run, args.records)
    if not scale.dry_run and not torch.cuda.is_available():
        print("bench/gpu.py: error: no CUDA GPU (use --dry-run to check the script on a CPU)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as temporary:
        work = args.out or Path(temporary)
        cache, checkpoints = work / "cache", work / "checkpoints"
        for folder in (cache, checkpoints):
            folder.mkdir(parents=True, exist_ok=True)
        rows: list[Row] = []
        timed("environment", rows, lambda: environment(scale, cache))
        started = time.perf_counter()
        synthetic_records(work / "records", scale.records, seed=1, jobs=os.cpu_count() or 1)
        data = training_data.load_training_data(work / "records", recipe(scale, cache), progress=False,
                                                log=lambda _: None)
        rows.append(("records and cache", f"{len(data.index):,} synthetic records prepared in "
                                          f"{time.perf_counter() - started:.0f} s"))
        rate = 0.0

        def steps() -> list[Row]:
            nonlocal rate
            found, rate = gpu_steps(scale, data, cache, checkpoints)
            return found

        timed("training step", rows, steps)
        timed("torch.compile", rows, lambda: compiled_steps(scale, data, cache, checkpoints))
        timed("loader", rows, lambda: loader_rates(scale, data, cache, checkpoints))
        timed("epoch", rows, lambda: epoch_and_validation(scale, data, cache, checkpoints, rate))
        timed("resume", rows, lambda: resumed_steps(scale, data, cache, checkpoints))
        timed("run_model", rows, lambda: inference_rates(scale, cache, work))
        timed("torchrun", rows, lambda: multi_gpu(scale, work))
    print(f"| measurement ({'dry run, CPU: figures mean nothing' if scale.dry_run else 'GPU'}) | result |")
    print("| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 1 if any(value.startswith("FAILED") for _, value in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
