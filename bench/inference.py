#!/usr/bin/env python
"""Inference throughput: run_model.py end to end, and one record at a time.

    python -m bench.inference [--model DIR | --config configs/small.toml [--networks N]] [--records 10000]
                              [--device cpu] [--workers auto,0,2] [--runtimes auto,torch,onnxruntime]

With no flag at all it measures the built-in model (ecgnet/builtin_model) on 10,000 records, run as a user
runs it: run_model.py with its defaults, which choose the runtime and the workers for the machine
(``ecgnet.inference.choose_path``). Writes N synthetic 12-lead records (500 Hz, 10 s); with ``--config``,
builds a model folder of that recipe instead (untrained networks: speed does not depend on the weights); then
measures
- many at a time: `run_model.py MODEL DATA OUTPUTS` as a subprocess, file loading and writing included,
  records/s over its whole wall time (Python start and model loading included) and its peak RSS, once per
  runtime (torch, and ONNX Runtime on the graph `ecgnet export` writes, checked against torch when written)
  and number of worker processes; and the rate after start-up: its time on a folder of one record (Python
  start, imports, model loading, worker start) taken off;
- one at a time: team_code.run_model called per record as the official harness does (loading included).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import helper_code
import team_code
from bench.common import REPO, synthetic_records, untrained_model_folder
from ecgnet.builtin import builtin_model_dir
from ecgnet.config import RunConfig
from ecgnet.export import export_onnx
from ecgnet.inference import choose_path


def many_at_a_time(model: Path, data: Path, outputs: Path, device: str, workers: int | str = "auto",
                   runtime: str = "auto") -> tuple[float, float]:
    """(seconds, peak resident memory in MB of run_model.py's own process, not its workers'); ``auto`` leaves
    the choice to run_model.py's defaults."""
    options = [] if workers == "auto" else ["--workers", str(workers)]
    options += [] if runtime == "auto" else ["--runtime", runtime]
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, str(REPO / "run_model.py"), str(model), str(data), str(outputs),
                              "--quiet", "--device", device, *options], stdout=subprocess.DEVNULL)
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
    parser.add_argument("--model", type=Path, help="a model folder (default: the built-in model, unless --config)")
    parser.add_argument("--config", help="measure an untrained model folder of this recipe instead")
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--single-records", type=int, default=100, help="records for the one-at-a-time path")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--workers", default="auto", help="comma-separated worker counts for run_model.py (auto: "
                        "its default)")
    parser.add_argument("--networks", type=int, help="with --config: networks in the ensemble (default: the "
                        "recipe's folds; a distilled student is 1)")
    parser.add_argument("--runtimes", default="auto", help="comma-separated: auto (run_model.py's default), "
                        "torch, onnxruntime")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        synthetic_records(root / "data", args.records)
        (root / "one").mkdir()
        for path in sorted((root / "data").iterdir())[:2]:  # one record: its header and its signal file
            (root / "one" / path.name).symlink_to(path)
        model = _model(args, root)
        for runtime in args.runtimes.split(","):
            if runtime == "onnxruntime" and not (model / "ensemble.onnx").exists():
                export_onnx(model)
            for workers in args.workers.split(","):
                chosen = choose_path(model, args.device, runtime, None if workers == "auto" else int(workers))
                start, _ = many_at_a_time(model, root / "one", root / "out-one", args.device, workers, runtime)
                seconds, peak = many_at_a_time(model, root / "data", root / f"out-{runtime}-{workers}",
                                               args.device, workers, runtime)
                print(f"run_model.py end to end (runtime {runtime}, workers {workers}: {chosen.runtime}, "
                      f"{chosen.workers} workers): {args.records} records in {seconds:.1f} s = "
                      f"{args.records / seconds:.1f} records/s, peak RSS {peak:.0f} MB; start-up {start:.1f} s, "
                      f"then {args.records / max(seconds - start, 1e-9):.1f} records/s")
        seconds, count = one_at_a_time(model, root / "data", args.device, args.single_records)
        print(f"one record at a time (team_code.run_model): {count} records in {seconds:.1f} s = "
              f"{count / seconds:.1f} records/s")


def _model(args: argparse.Namespace, root: Path) -> Path:
    """The model folder measured: ``--model``, an untrained one of ``--config``'s recipe, or the built-in one."""
    machine = f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, device {args.device}"
    if args.config:
        config = RunConfig.from_toml(args.config)
        networks = args.networks or config.training.folds
        parameters = untrained_model_folder(root / "model", config, networks=networks)
        print(f"{machine}; recipe {Path(args.config).name}: {networks} networks x {parameters:,} parameters "
              "(untrained)")
        return root / "model"
    model = args.model or builtin_model_dir()
    print(f"{machine}; model {model}")
    return model


if __name__ == "__main__":
    main()
