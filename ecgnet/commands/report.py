"""Write the HTML report of a folder of labels and a folder of outputs, or draw a model's training curves.

    ecgnet report LABELS OUTPUTS --out DIR [--model MODEL_DIR] [--weights FILE]
    ecgnet report curves MODEL_DIR --out DIR

The first writes the report (``evaluate_model.py LABELS OUTPUTS --report DIR`` does the same, see
:mod:`ecgnet.report`); the second draws only ``MODEL_DIR/training_log.csv`` as ``DIR/training_curves.png``.
A labels folder that is named ``curves`` is given as ``./curves``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..report import TRAINING_FIGURE, build_report, plot_training_log
from ..report.model_folder import training_log_path


def build_parser(prog: str = "ecgnet report") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Write an HTML report (DIR/index.html and PNG figures) of Challenge scores. "
        f"'{prog} curves MODEL_DIR --out DIR' draws only a model folder's training curves.",
    )
    parser.add_argument("labels", help="folder of labelled headers (.hea with a Dx line)")
    parser.add_argument("outputs", help="folder of output files, <record>.csv for each header")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for index.html and the figures")
    parser.add_argument("--model", metavar="MODEL_DIR", help="add this model folder's training curves and summary")
    parser.add_argument("--weights", metavar="FILE", help="weights table to use instead of the official one")
    return parser


def build_curves_parser(prog: str = "ecgnet report") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{prog} curves", description=f"Draw MODEL_DIR/training_log.csv as DIR/{TRAINING_FIGURE}."
    )
    parser.add_argument("model_dir", metavar="MODEL_DIR", help="model folder holding training_log.csv")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the figure")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "ecgnet report") -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["curves"]:
        args = build_curves_parser(prog).parse_args(argv[1:])
        out_dir = Path(args.out)
        out_dir.mkdir(parents=True, exist_ok=True)
        print(plot_training_log(training_log_path(args.model_dir), out_dir / TRAINING_FIGURE))
        return 0
    args = build_parser(prog).parse_args(argv)
    print(build_report(args.labels, args.outputs, args.out, model_dir=args.model, weights_file=args.weights))
    return 0
