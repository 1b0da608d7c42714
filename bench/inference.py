#!/usr/bin/env python
"""Inference throughput of a recipe's ensemble: run_model.py end to end, and one record at a time.

    python -m bench.inference [--config configs/small.toml] [--networks N] [--records 300] [--device cpu]
                              [--workers 0,2] [--runtimes torch,onnxruntime]

Writes N synthetic 12-lead records (500 Hz, 10 s), builds a model folder of the recipe (untrained
networks: speed does not depend on the weights), then measures
- many at a time: `run_model.py MODEL DATA OUTPUTS` as a subprocess, file loading and writing included,
  records/s over its whole wall time (Python start and model loading included) and its peak RSS, once per
  runtime (torch, and ONNX Runtime on the graph `ecgnet export` writes, checked against torch when written)
  and number of worker processes; and the rate after start-up: its time on a folder of one record (Python
  start, imports, model loading, worker start) taken off;
- one at a time: team_code.run_model called per record as the official harness does (loading included).
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import helper_code
import team_code
from bench.common import REPO, synthetic_records, untrained_model_folder
from ecgnet.config import RunConfig
from ecgnet.export import export_onnx


def many_at_a_time(model: Path, data: Path, outputs: Path, device: str, workers: int,
                   runtime: str = "torch") -> tuple[float, float]:
    """(seconds, peak resident memory in MB of run_model.py's own process, not its workers')."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, str(REPO / "run_model.py"), str(model), str(data), str(outputs),
                              "--quiet", "--device", device, "--workers", str(workers), "--runtime", runtime],
                             stdout=subprocess.DEVNULL)
    # The kernel's peak of this process (VmHWM), read while it runs: its rusage would not do, since Linux
    # carries the larger peak of this benchmark (torch, the model) into a child across fork and exec.
    peak = 0.0
    while child.poll() is None:
        peak = max(peak, _peak_memory_mb(child.pid))
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, child.args)
    return seconds, peak


def _peak_memory_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # it has just ended
        return 0.0
    found = [line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")]
    return int(found[0]) / 1024 if found else 0.0


def one_at_a_time(model: Path, data: Path, device: str, limit: int) -> tuple[float, int]:
    header_files, recording_files = helper_code.find_challenge_files(str(data))
    header_files, recording_files = header_files[:limit], recording_files[:limit]
    loaded = team_code.load_model(str(model), helper_code.twelve_leads, device=device)
    started = time.perf_counter()
    for header_file, recording_file in zip(header_files, recording_files):
        header = helper_code.load_header(header_file)
        team_code.run_model(loaded, header, helper_code.load_recording(recording_file))
    return time.perf_counter() - started, len(header_files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "small.toml"))
    parser.add_argument("--records", type=int, default=300)
    parser.add_argument("--single-records", type=int, default=100, help="records for the one-at-a-time path")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--workers", default="0", help="comma-separated worker counts for run_model.py")
    parser.add_argument("--networks", type=int, help="networks in the ensemble (default: the recipe's folds; "
                        "a distilled student is 1)")
    parser.add_argument("--runtimes", default="torch", help="comma-separated: torch, onnxruntime")
    args = parser.parse_args()

    config = RunConfig.from_toml(args.config)
    networks = args.networks or config.training.folds
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        synthetic_records(root / "data", args.records)
        (root / "one").mkdir()
        for path in sorted((root / "data").iterdir())[:2]:  # one record: its header and its signal file
            (root / "one" / path.name).symlink_to(path)
        parameters = untrained_model_folder(root / "model", config, networks=networks)
        print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
              f"device {args.device}; recipe {Path(args.config).name}: {networks} networks x "
              f"{parameters:,} parameters")
        for runtime in args.runtimes.split(","):
            if runtime == "onnxruntime":
                export_onnx(root / "model")
            for workers in map(int, args.workers.split(",")):
                start, _ = many_at_a_time(root / "model", root / "one", root / "out-one", args.device, workers,
                                          runtime)
                seconds, peak = many_at_a_time(root / "model", root / "data", root / f"out-{runtime}-{workers}",
                                               args.device, workers, runtime)
                print(f"run_model.py end to end ({runtime}, {workers} workers): {args.records} records in "
                      f"{seconds:.1f} s = {args.records / seconds:.1f} records/s, peak RSS {peak:.0f} MB; "
                      f"start-up {start:.1f} s, then {args.records / max(seconds - start, 1e-9):.1f} records/s")
        seconds, count = one_at_a_time(root / "model", root / "data", args.device, args.single_records)
        print(f"one record at a time (team_code.run_model): {count} records in {seconds:.1f} s = "
              f"{count / seconds:.1f} records/s")


if __name__ == "__main__":
    main()
