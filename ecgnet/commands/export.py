"""Write a model folder's networks as one ONNX graph, for ONNX Runtime: ``ecgnet export MODEL``
(see :mod:`ecgnet.export`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ..artifacts import ONNX_FILE
from ..export import export_onnx


def build_parser(prog: str = "ecgnet export") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Write a model folder's networks as one ONNX graph "
                                     f"({ONNX_FILE}) for run_model.py --runtime onnxruntime.")
    parser.add_argument("model_directory", help="model folder written by train_model.py")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "ecgnet export") -> int:
    args = build_parser(prog).parse_args(argv)
    path, difference = export_onnx(args.model_directory)
    print(f"wrote {path}; ONNX Runtime matches torch within {difference:.1e}")
    return 0
