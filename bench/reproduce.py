"""Fingerprint seeded small trainings and their outputs, to show that a change kept behaviour identical.

Trains the demo recipe (shortened) on a fixed subset of real records, distils it into one network, runs both
on every lead set of the Challenge samples, and trains a second model with contrastive pre-training. Prints
a SHA-256 for each file of the three model folders and one for all output files together. Run it before and
after a change: equal fingerprints mean the same weights, trees, stack, calibration, thresholds and
byte-identical outputs. Files that record time (the training log's durations) are fingerprinted without
their time columns, and weight files by their tensors and metadata.

    python -m bench.reproduce ../shared/data --work /tmp/reproduce
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

from safetensors import safe_open

REPO = Path(__file__).resolve().parents[1]
TIME_COLUMNS = ("seconds", "elapsed", "time")


def run(*command: str) -> None:
    quiet = subprocess.DEVNULL
    subprocess.run([sys.executable, *command], cwd=REPO, check=True, stdout=quiet, stderr=quiet)


def digest(path: Path) -> str:
    if path.suffix == ".csv" and path.name.startswith("training_log"):
        return hashlib.sha256(without_time_columns(path.read_text()).encode()).hexdigest()
    if path.suffix == ".safetensors":
        return tensors_digest(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tensors_digest(path: Path) -> str:
    """The tensors and metadata, in name order: safetensors may lay equal contents out in another order."""
    with safe_open(str(path), "np") as tensors:
        hasher = hashlib.sha256(json.dumps(tensors.metadata(), sort_keys=True).encode())
        for name in sorted(tensors.keys()):
            array = tensors.get_tensor(name)
            hasher.update(f"{name}{array.dtype}{array.shape}".encode())
            hasher.update(array.tobytes())
    return hasher.hexdigest()


def without_time_columns(text: str) -> str:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return text
    keep = [i for i, name in enumerate(rows[0]) if not any(word in name for word in TIME_COLUMNS)]
    buffer = io.StringIO()
    csv.writer(buffer).writerows([[row[i] for i in keep if i < len(row)] for row in rows])
    return buffer.getvalue()


def fingerprint(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): digest(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the shared data folder (ptbxl/ and cinc2021/ inside)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/reproduce"), help="scratch folder (replaced)")
    parser.add_argument("--records", type=int, default=300, help="training records drawn from PTB-XL")
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    model, outputs = args.work / "model", args.work / "outputs"
    run("train_model.py", str(args.data / "ptbxl"), str(model), "--config", "configs/demo.toml", "--epochs", "3",
        "--folds", "2", "--seed", "0", "--max-records", str(args.records), "--no-cache", "--workers", "1",
        "--quiet")
    inputs = [args.data / "cinc2021" / "training", *sorted((args.data / "cinc2021" / "reduced_leads").iterdir())]
    for folder in inputs:  # each lead set on its own, so that every stack and threshold set is used
        run("run_model.py", str(model), str(folder), str(outputs / folder.name))
    student = args.work / "student"
    run("-m", "ecgnet", "distill", str(model), str(student), "--data", str(args.data / "ptbxl"), "--epochs", "2",
        "--quiet")
    for folder in inputs:
        run("run_model.py", str(student), str(folder), str(outputs / "student" / folder.name))
    pretrained = args.work / "pretrained"  # the encoder pre-trained (contrastive) before fine-tuning
    run("train_model.py", str(args.data / "ptbxl"), str(pretrained), "--config", "configs/demo.toml", "--epochs",
        "1", "--pretrain-epochs", "1", "--folds", "2", "--seed", "0", "--max-records", "120", "--no-cache",
        "--workers", "1", "--quiet")
    for folder in (model, student, pretrained):
        for name, value in fingerprint(folder).items():
            print(f"{folder.name:11}{value[:16]}  {name}")
    together = hashlib.sha256("".join(f"{k}{v}" for k, v in fingerprint(outputs).items()).encode()).hexdigest()
    print(f"outputs    {together[:16]}  ({len(fingerprint(outputs))} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
