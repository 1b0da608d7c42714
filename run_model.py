#!/usr/bin/env python
"""Run a trained model: ``python run_model.py MODEL DATA OUTPUTS`` (``--help`` for the options).

The Challenge's entry point; the command itself is :mod:`ecgnet.commands.run` (also ``ecgnet run``).
"""

from ecgnet.cli import run_command
from ecgnet.commands.run import main

if __name__ == "__main__":
    run_command(main, "run_model.py")
