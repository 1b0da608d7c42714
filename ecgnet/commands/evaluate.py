"""Score a folder of Challenge output files against a folder of labelled headers.

    python evaluate_model.py LABELS OUTPUTS [scores.csv] [class_scores.csv] [--report DIR [--model MODEL_DIR]]

With no file arguments the scores are printed as a table; ``--json`` prints them for machines. The
scores themselves are computed by :mod:`ecgnet.metric`. ``--report DIR`` also writes an HTML report with
figures (``DIR/index.html``, see :mod:`ecgnet.report`); ``--model`` adds a model folder's training curves.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .. import metric
from ..discovery import SECOND_COPY
from ..files import write_text_atomic


def build_parser(prog: str = "evaluate_model.py") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="PhysioNet/CinC Challenge 2021 scores (AUROC, AUPRC, accuracy, F-measure, Challenge metric).",
    )
    parser.add_argument("labels", help="folder of labelled headers (.hea with a Dx line)")
    parser.add_argument("outputs", help="folder of output files, <record>.csv for each header")
    parser.add_argument("scores_csv", nargs="?", help="write the five scores here (3 decimals)")
    parser.add_argument("class_scores_csv", nargs="?", help="write the per-class scores here (3 decimals)")
    parser.add_argument("--weights", metavar="FILE", help="weights table to use instead of the official one")
    parser.add_argument("--json", action="store_true", help="print every score (full precision) as JSON")
    parser.add_argument("--report", metavar="DIR", help="also write an HTML report with figures: DIR/index.html")
    parser.add_argument(
        "--model", metavar="MODEL_DIR", help="with --report: add this model folder's training curves and summary"
    )
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "evaluate_model.py") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if args.model and not args.report:
        parser.error("--model needs --report DIR")
    # Missing folders and files, unreadable headers and bad weights tables raise: ecgnet.cli.run_command makes
    # each one line and exit status 1.
    scores = metric.evaluate_folders(args.labels, args.outputs, args.weights)
    if args.scores_csv:
        write_text_atomic(args.scores_csv, metric.scores_csv(scores))
    if args.class_scores_csv:
        write_text_atomic(args.class_scores_csv, metric.class_scores_csv(scores))
    if args.report:
        # Imported here: matplotlib and the data module load only when a report is asked for.
        from ..report import build_report

        build_report(args.labels, args.outputs, args.report, model_dir=args.model, weights_file=args.weights)
    report_skipped(scores.skipped, prog)
    if args.json:
        print(json.dumps(scores.to_dict(), indent=2))
    elif not args.scores_csv:
        print(metric.summary_table(scores))
    return 0


def report_skipped(skipped: Sequence[tuple[str, str]], prog: str) -> None:
    """Each label file that was not read, on stderr; the second copies of records (a reduced-lead tree holds
    each record at several lead sets) in one line, since each record is scored once."""
    copies = [file for file, reason in skipped if reason.startswith(SECOND_COPY)]
    for file, reason in skipped:
        if not reason.startswith(SECOND_COPY):
            print(f"{prog}: skipped {file}: {reason}", file=sys.stderr)
    if copies:
        print(f"{prog}: {len(copies)} label files are further copies of records already read (e.g. {copies[0]}); "
              "each record is scored once", file=sys.stderr)
