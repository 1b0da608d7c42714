#!/usr/bin/env python
"""Score output files: ``python evaluate_model.py LABELS OUTPUTS [scores.csv] [class_scores.csv]``.

The Challenge's entry point; the command itself is :mod:`ecgnet.commands.evaluate` (also ``ecgnet evaluate``).
"""

import os

# Scoring does no linear algebra: without this, numpy's import starts a BLAS thread per core, which costs more
# CPU time than reading a thousand files (set before numpy is first imported).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from ecgnet.cli import run_command  # noqa: E402
from ecgnet.commands.evaluate import main  # noqa: E402

if __name__ == "__main__":
    run_command(main, "evaluate_model.py")
