"""Distil a model folder's ensemble into one student network: ``ecgnet distill MODEL OUT --data DATA``
(see :mod:`ecgnet.distill`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ..config import load_config
from ..distill import distill


def build_parser(prog: str = "ecgnet distill") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Distil a model folder's ensemble into one network.")
    parser.add_argument("model_directory", help="the teacher: a model folder written by train_model.py")
    parser.add_argument("output_directory", help="the student's model folder (replaced if it exists)")
    parser.add_argument("--data", required=True, help="the teacher's training records")
    parser.add_argument("--student", help="recipe whose [model] table is the student (default: the teacher's)")
    parser.add_argument("--epochs", type=int, help="epochs of distillation (default: the teacher's recipe's)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "ecgnet distill") -> int:
    args = build_parser(prog).parse_args(argv)
    student = load_config(args.student) if args.student else None
    distill(args.model_directory, args.output_directory, args.data, student, args.epochs, not args.quiet)
    return 0
