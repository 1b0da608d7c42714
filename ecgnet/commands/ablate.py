"""Ablation harness: what each method of the papers is worth on your data.

    ecgnet ablate DATA --config base.toml --vary beat_sampling,features,... --out DIR [--test TESTDIR]

What it trains, scores and writes is told in :mod:`ecgnet.ablate`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from ..ablate import VARIANTS, ablate
from ..config import load_config


def build_parser(prog: str = "ecgnet ablate") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("data_directory", help="folder of training records")
    parser.add_argument("--config", help="base recipe: a shipped recipe's name (default, small, demo, methods) or "
                        "a TOML file (default: $ECGNET_CONFIG or default)")
    parser.add_argument("--vary", default=",".join(VARIANTS),
                        help=f"comma-separated methods to switch on one at a time (default: all: {','.join(VARIANTS)})")
    parser.add_argument("--validation", choices=("kfold", "leave-source-out"), help="how folds are made")
    parser.add_argument("--out", required=True, help="folder for the tables and the runs")
    parser.add_argument("--test", help="folder of labelled records left out of training, on which every run is scored")
    parser.add_argument("--epochs", type=int, help="maximum epochs per fold")
    parser.add_argument("--folds", type=int, help="number of folds (k-fold)")
    parser.add_argument("--max-records", type=int, help="train on a random subset of this many records")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where to train")
    parser.add_argument("--seed", type=int, help="seed shared by every run")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "ecgnet ablate") -> int:
    args = build_parser(prog).parse_args(argv)
    base = load_config(args.config).override(
        "training", validation=args.validation, epochs=args.epochs, folds=args.folds, max_records=args.max_records,
        device=args.device, seed=args.seed)
    names = [name.strip() for name in args.vary.split(",") if name.strip()]
    ablate(args.data_directory, args.out, base, names, progress=not args.quiet, test_dir=args.test)
    print(f"tables written to {Path(args.out) / 'ablation.md'} and ablation.csv"
          + (", heldout.md and heldout.csv" if args.test else ""))
    return 0
