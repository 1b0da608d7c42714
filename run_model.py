#!/usr/bin/env python
"""Run a trained model: ``python run_model.py MODEL DATA OUTPUTS``.

Writes ``OUTPUTS/<record>.csv`` for every record of DATA it can read (records are grouped by lead set
and run in batches), and reports each record it cannot read on stderr and in ``OUTPUTS/failures.csv``.
Exits non-zero only when no record could be run.
"""

from ecgnet.cli import run_command
from ecgnet.commands.run import main

if __name__ == "__main__":
    run_command(main, "run_model.py")
