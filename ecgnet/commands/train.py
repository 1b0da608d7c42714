"""Train the model: ``python train_model.py DATA MODEL [options]``.

Without options this is the Challenge's ``training_code(DATA, MODEL)``: the ``default`` recipe (the GPU
recipe for the full data; or the one ``$ECGNET_CONFIG`` names). Options override single settings; the methods
of the papers (beat sampling, features, label masking, augmentation, domain generalisation, loss shaping) are
switched on in the TOML recipe (see the ``methods`` recipe), pre-training also by ``--pretrain-epochs``.

On several GPUs (or CPU processes), the same command under torchrun trains with DistributedDataParallel:
``torchrun --standalone --nproc_per_node N train_model.py DATA MODEL [options]`` (see ecgnet/distributed.py).
"""


from __future__ import annotations

import argparse
from collections.abc import Sequence

from .. import distributed
from ..config import CONFIG_ENV, load_config
from ..folders import check_training_folders
from ..network import complete
from ..training import train


def build_parser(prog: str = "train_model.py") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Train the SE-ResNet ensemble on a folder of Challenge records "
        "(headers + .mat, searched recursively) and write the model folder.")
    parser.add_argument("data_directory", help="folder of training records")
    parser.add_argument("model_directory", help="folder to write the model to (created if needed)")
    parser.add_argument("--config", help="a shipped recipe's name (default: the GPU recipe for the full data; "
                        "small: a CPU and a few thousand records; demo; methods) or a TOML file "
                        f"(default: ${CONFIG_ENV} or default)")
    parser.add_argument("--epochs", type=int, help="maximum epochs per fold")
    parser.add_argument("--folds", type=int, help="number of folds, and of networks in the ensemble")
    parser.add_argument("--batch-size", type=int, help="training batch size")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where to train (auto: GPU if any)")
    parser.add_argument("--workers", type=int, help="processes for preprocessing and data loading")
    parser.add_argument("--seed", type=int, help="seed of folds, initialisation and sampling")
    parser.add_argument("--validation", choices=("kfold", "leave-source-out"), help="how folds are made")
    parser.add_argument("--max-records", type=int, help="train on a random subset of this many records")
    parser.add_argument("--cache-dir", help="where preprocessed signals are cached (default: $ECGNET_CACHE or "
                        "~/.cache/ecgnet)")
    parser.add_argument("--no-cache", action="store_true", help="preprocess in memory, without the disk cache")
    parser.add_argument("--use-unlabelled", choices=("yes", "no"),
                        help="train on records without a scored label too, as all-negative")
    parser.add_argument("--pretrain-epochs", type=int, help="epochs of self-supervised contrastive pre-training "
                        "of each fold's encoder (on its training and unlabelled records) before fine-tuning; 0 = off")
    parser.add_argument("--resume", action="store_true", help="continue a stopped run from its checkpoints")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "train_model.py") -> int:
    args = build_parser(prog).parse_args(argv)
    # Swapped or empty folders are named before anything is created or any record prepared.
    check_training_folders(args.data_directory, args.model_directory, f"{prog} DATA MODEL")
    config = load_config(args.config)
    config = config.override(
        "training", epochs=args.epochs, folds=args.folds, batch_size=args.batch_size, device=args.device,
        workers=args.workers, seed=args.seed, validation=args.validation, max_records=args.max_records,
        cache_dir=args.cache_dir, cache=False if args.no_cache else None, pretrain_epochs=args.pretrain_epochs,
        use_unlabelled=None if args.use_unlabelled is None else args.use_unlabelled == "yes")
    config = complete(config, args.config or "the recipe")  # its [model] table checked before any data is read
    train(args.data_directory, args.model_directory, config, resume=args.resume, progress=not args.quiet)
    if distributed.is_main():  # every process trained; rank 0 wrote the folder
        print(f"model written to {args.model_directory}")
    return 0

