"""Score a folder of Challenge output files against a folder of labelled headers.

    python evaluate_model.py LABELS OUTPUTS [scores.csv] [class_scores.csv] [--report DIR [--model MODEL_DIR]]
                             [--bootstrap N [--seed S]]

With no file arguments the scores are printed as a table; ``--json`` prints them for machines. The
scores themselves are computed by :mod:`ecgnet.metric`. ``--report DIR`` also writes an HTML report with
figures (``DIR/index.html``, see :mod:`ecgnet.report`), and says where as the last line on stderr; ``--model``
adds a model folder's training curves.
``--bootstrap N`` adds each score's 95 % interval over N resamples of the records (:mod:`ecgnet.bootstrap`)
to the table and the JSON; the CSV files stay the official five numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .. import bootstrap, metric
from ..discovery import SECOND_COPY
from ..files import write_text_atomic
from ..folders import check_evaluation_folders


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
    parser.add_argument("--report", metavar="DIR", help="also write an HTML report with figures: DIR/index.html "
                        "(its path is printed on stderr)")
    parser.add_argument(
        "--model", metavar="MODEL_DIR", help="with --report: add this model folder's training curves and summary"
    )
    parser.add_argument("--bootstrap", metavar="N", type=resample_count,
                        help="add each score's 95 %% interval over N bootstrap resamples of the records (e.g. 1000)")
    parser.add_argument("--seed", metavar="S", type=int, help="with --bootstrap: the resamples' seed (default 0)")
    return parser


def resample_count(text: str) -> int:
    """A number of bootstrap resamples: a positive integer (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive number of resamples, not {text!r}")
    return value


def main(argv: Sequence[str] | None = None, prog: str = "evaluate_model.py") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if args.model and not args.report:
        parser.error("--model needs --report DIR")
    if args.seed is not None and not args.bootstrap:
        parser.error("--seed needs --bootstrap N")
    # Missing folders and files, unreadable headers and bad weights tables raise: ecgnet.cli.run_command makes
    # each one line and exit status 1. Swapped or empty folders are named first.
    check_evaluation_folders(args.labels, args.outputs, f"{prog} LABELS OUTPUTS")
    arrays = metric.read_folders(args.labels, [args.outputs], args.weights)
    scores = arrays.scores()
    seed = 0 if args.seed is None else args.seed
    intervals = None
    if args.bootstrap:
        (binary, scalars), = arrays.outputs
        intervals = bootstrap.score_intervals(arrays.labels, binary, scalars, arrays.table, args.bootstrap, seed)
    if args.scores_csv:
        write_text_atomic(args.scores_csv, metric.scores_csv(scores))
    if args.class_scores_csv:
        write_text_atomic(args.class_scores_csv, metric.class_scores_csv(scores))
    if args.report:
        # Imported here: matplotlib and the data module load only when a report is asked for.
        from ..report import build_report

        index = build_report(args.labels, args.outputs, args.report, model_dir=args.model, weights_file=args.weights)
    report_skipped(scores.skipped, prog)
    if args.json:
        entries = scores.to_dict()
        if intervals is not None:
            entries["bootstrap"] = {
                "resamples": args.bootstrap,
                "seed": seed,
                "level": bootstrap.LEVEL,
                "intervals": {name: interval.to_dict() for name, interval in intervals.items()},
            }
        print(json.dumps(entries, indent=2))
    elif intervals is not None:  # printed even beside scores.csv: the intervals have no place in the CSV files
        bounds = {name: (interval.low, interval.high) for name, interval in intervals.items()}
        title = f"{bootstrap.LEVEL:.0%} interval ({args.bootstrap} bootstrap resamples of the records, seed {seed})"
        print(metric.summary_table(scores, bounds, title))
    elif not args.scores_csv:
        print(metric.summary_table(scores))
    if args.report:  # last, and on stderr: stdout stays the scores (the JSON with --json)
        sys.stdout.flush()
        print(f"report written to {index}", file=sys.stderr)
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
