#!/usr/bin/env python
"""Train the model: ``python train_model.py DATA MODEL [options]``.

Without options this is the Challenge's ``training_code(DATA, MODEL)``: the recipe of
``configs/default.toml`` (or of ``$ECGNET_CONFIG``). Options override single settings; the methods of the
papers (beat sampling, features, label masking, augmentation, domain generalisation, loss shaping) are
switched on in the TOML recipe (see configs/methods.toml), pre-training also by ``--pretrain-epochs``.

On several GPUs (or CPU processes), the same command under torchrun trains with DistributedDataParallel:
``torchrun --standalone --nproc_per_node N train_model.py DATA MODEL [options]`` (see ecgnet/distributed.py).
"""

from ecgnet.cli import run_command
from ecgnet.commands.train import main

if __name__ == "__main__":
    run_command(main, "train_model.py")
