#!/usr/bin/env python
"""Train the model: ``python train_model.py DATA MODEL [options]`` (``--help`` for the options).

The Challenge's entry point; the command itself is :mod:`ecgnet.commands.train` (also ``ecgnet train``).
"""

from ecgnet.cli import run_command
from ecgnet.commands.train import main

if __name__ == "__main__":
    run_command(main, "train_model.py")
