"""Run a trained model: ``python run_model.py MODEL DATA OUTPUTS``.

Writes ``OUTPUTS/<record>.csv`` for every record of DATA it can read (records are grouped by lead set
and run in batches), and reports each record it cannot read on stderr and in ``OUTPUTS/failures.csv``.
Exits non-zero only when no record could be run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..inference import run_folder
from ..outputs import WARNING


def build_parser(prog: str = "run_model.py") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.strip().splitlines()[0])
    parser.add_argument("model_directory", help="model folder written by train_model.py")
    parser.add_argument("data_directory", help="folder of records (headers + .mat)")
    parser.add_argument("output_directory", help="folder for the output files (created if needed)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where to run")
    parser.add_argument("--workers", type=int,
                        help="processes reading records (0: in this one; default 0 on a CPU, up to 8 on a GPU)")
    parser.add_argument("--batch-records", type=int, help="records per batch (default: 32 on a CPU, 512 on a GPU)")
    parser.add_argument("--runtime", choices=("torch", "onnxruntime"), default="torch",
                        help="run the networks with torch, or as the ONNX graph `ecgnet export` wrote (CPU)")
    parser.add_argument("--details", action="store_true",
                        help="also write OUTPUTS/details.csv: uncertainty, a review flag, lead quality, measurements")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "run_model.py") -> int:
    args = build_parser(prog).parse_args(argv)
    written, failures = run_folder(args.model_directory, args.data_directory, args.output_directory,
                                   device=args.device, workers=args.workers,
                                   records_per_batch=args.batch_records, progress=not args.quiet,
                                   runtime=args.runtime, details=args.details)
    failed = 0
    for path, reason in failures:
        if reason.startswith(WARNING):
            print(f"{prog}: {path}: {reason}", file=sys.stderr)
        else:
            print(f"{prog}: skipped {path}: {reason}", file=sys.stderr)
            failed += 1
    print(f"wrote {written} output files to {args.output_directory}; {failed} records failed")
    if written == 0:
        print(f"{prog}: error: no record could be run", file=sys.stderr)
        return 1
    return 0

