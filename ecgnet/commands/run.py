"""Run a trained model: ``python run_model.py MODEL DATA OUTPUTS``; ``ecgnet run DATA OUTPUTS`` runs the built-in
model (:mod:`ecgnet.builtin`) and says so on its first line.

Writes ``OUTPUTS/<record>.csv`` for every record of DATA it can read (records are grouped by lead set
and run in batches), and reports each record it cannot read on stderr and in ``OUTPUTS/failures.csv``.
Exits non-zero only when no record could be run. The folders are checked first (:mod:`ecgnet.folders`): a
model folder, records in DATA, and neither swapped, before OUTPUTS is created.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..builtin import announce, builtin_model_dir
from ..discovery import SECOND_COPY
from ..folders import check_records_folder, check_run_folders, holds_model
from ..inference import choose_path, run_folder
from ..outputs import WARNING
from ..records import LEAD_SET_WORDS, LeadSet, parse_lead_set


def build_parser(prog: str = "run_model.py") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.strip().splitlines()[0])
    parser.add_argument("folders", nargs="+", metavar="[MODEL] DATA OUTPUTS",
                        help="MODEL: model folder written by train_model.py (left out: the built-in model); "
                        "DATA: folder of records (headers + .mat, or ECG exports: DICOM, EDF, XML, CSV); "
                        "OUTPUTS: folder for the output files (created if needed)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where to run")
    parser.add_argument("--workers", type=int,
                        help="processes reading records (0: in this one; default: one per core, up to 8, with ONNX "
                        "Runtime or a GPU, else 0)")
    parser.add_argument("--batch-records", type=int, help="records per batch (default: 32 on a CPU, 512 on a GPU)")
    parser.add_argument("--runtime", choices=("auto", "torch", "onnxruntime"), default="auto",
                        help="run the networks with torch, or as the ONNX graph `ecgnet export` wrote (CPU); "
                        "default auto: ONNX Runtime on a CPU when the model folder holds the graph")
    parser.add_argument("--details", action="store_true",
                        help="also write OUTPUTS/details.csv: uncertainty, a review flag, lead quality, measurements")
    parser.add_argument("--lead-set", type=lead_set_argument, metavar="NAME",
                        help=f"run only the records of this lead set ({', '.join(LEAD_SET_WORDS)}: the Challenge's "
                        "reduced-lead folders; or leads separated by commas), in a tree that holds each record at "
                        "several lead sets")
    parser.add_argument("--quiet", action="store_true", help="no progress bar, and no line saying which path runs")
    return parser


def lead_set_argument(text: str) -> LeadSet:
    """``--lead-set``: a lead set's name or its leads (argparse type; a wrong one is a usage error)."""
    try:
        return parse_lead_set(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main(argv: Sequence[str] | None = None, prog: str = "run_model.py") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if len(args.folders) not in (2, 3):
        parser.error(f"give MODEL DATA OUTPUTS, or DATA OUTPUTS for the built-in model (got {len(args.folders)} "
                     "folders)")
    *model, data, outputs = args.folders
    if model:
        check_run_folders(model[0], data, f"{prog} MODEL DATA OUTPUTS")
        model_dir = model[0]
    else:
        if holds_model(data):
            raise ValueError(f"'{data}' is a model folder and '{outputs}' the last argument: give the OUTPUTS "
                             f"folder too ({prog} MODEL DATA OUTPUTS), or DATA OUTPUTS for the built-in model")
        check_records_folder(data)
        model_dir = builtin_model_dir()
        print(announce(model_dir))
    path = choose_path(model_dir, args.device, args.runtime, args.workers)
    if not args.quiet:
        print(path.describe(model_dir))
    written, rows = run_folder(model_dir, data, outputs, device=args.device, workers=path.workers,
                               records_per_batch=args.batch_records, progress=not args.quiet,
                               runtime=path.runtime, details=args.details, lead_set=args.lead_set)
    failed, copies = report_rows(rows, prog)
    skipped = f"; {copies} further copies of records skipped" if copies else ""
    print(f"wrote {written} output files to {outputs}; {failed} records failed{skipped}")
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
