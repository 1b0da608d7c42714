"""bench/gpu.sh, the one command of a GPU session, keeps working: its dry run goes through every step on the CPU."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import REPO

pytestmark = pytest.mark.slow


def test_the_gpu_benchmark_runs_every_step_in_its_dry_run():
    result = subprocess.run(["bash", "bench/gpu.sh", "--dry-run", "--records", "48"], cwd=REPO, capture_output=True,
                            text=True, timeout=600, env={**os.environ, "PYTHON": sys.executable})
    assert result.returncode == 0, result.stdout + result.stderr
    table = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    names = {line.split(" | ")[0].lstrip("| ") for line in table}
    for expected in ("cores", "records and cache", "torch.compile", "loader alone, 2 workers", "epoch (steady state)",
                     "validation pass", "after a resume", "run_model, 0 workers, 8 records per batch",
                     "2-process NCCL torchrun"):
        assert expected in names, result.stdout
    assert not any("FAILED" in line for line in table), result.stdout
