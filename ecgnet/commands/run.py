"""Run a trained model: ``python run_model.py MODEL DATA OUTPUTS``.

Writes ``OUTPUTS/<record>.csv`` for every record of DATA it can read (records are grouped by lead set
and run in batches), and reports each record it cannot read on stderr and in ``OUTPUTS/failures.csv``.
Exits non-zero only when no record could be run. The folders are checked first (:mod:`ecgnet.folders`): a
model folder, records in DATA, and neither swapped, before OUTPUTS is created.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..discovery import SECOND_COPY
from ..folders import check_run_folders
from ..inference import run_folder
from ..outputs import WARNING
from ..records import LEAD_SET_WORDS, LeadSet, parse_lead_set


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
    parser.add_argument("--lead-set", type=lead_set_argument, metavar="NAME",
                        help=f"run only the records of this lead set ({', '.join(LEAD_SET_WORDS)}: the Challenge's "
                        "reduced-lead folders; or leads separated by commas), in a tree that holds each record at "
                        "several lead sets")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def lead_set_argument(text: str) -> LeadSet:
    """``--lead-set``: a lead set's name or its leads (argparse type; a wrong one is a usage error)."""
    try:
        return parse_lead_set(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main(argv: Sequence[str] | None = None, prog: str = "run_model.py") -> int:
    args = build_parser(prog).parse_args(argv)
    check_run_folders(args.model_directory, args.data_directory, f"{prog} MODEL DATA OUTPUTS")
    written, rows = run_folder(args.model_directory, args.data_directory, args.output_directory,
                               device=args.device, workers=args.workers,
                               records_per_batch=args.batch_records, progress=not args.quiet,
                               runtime=args.runtime, details=args.details, lead_set=args.lead_set)
    failed, copies = report_rows(rows, prog)
    skipped = f"; {copies} further copies of records skipped" if copies else ""
    print(f"wrote {written} output files to {args.output_directory}; {failed} records failed{skipped}")
    if written == 0:
        print(f"{prog}: error: no record could be run", file=sys.stderr)
        return 1
    return 0



def report_rows(rows: Sequence[tuple[str, str]], prog: str) -> tuple[int, int]:
    """Print each failure and warning of a run on stderr, and the second copies of records in one line (a
    reduced-lead tree holds each record at several lead sets: its other copies are skipped, not failed);
    return (failures, second copies)."""
    copies = [(path, reason) for path, reason in rows if reason.startswith(SECOND_COPY)]
    failed = 0
    for path, reason in rows:
        if reason.startswith(WARNING):
            print(f"{prog}: {path}: {reason}", file=sys.stderr)
        elif not reason.startswith(SECOND_COPY):
            print(f"{prog}: skipped {path}: {reason}", file=sys.stderr)
            failed += 1
    if copies:
        path, reason = copies[0]
        print(f"{prog}: skipped {len(copies)} further copies of records (e.g. {path}: {reason}); each record runs "
              "once, from its copy with the most leads: to run the records of one lead set, give --lead-set NAME "
              "or that lead set's folder", file=sys.stderr)
    return failed, len(copies)
