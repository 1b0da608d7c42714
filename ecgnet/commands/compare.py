"""Compare two folders of outputs on the same labels: is B better than A, or is the difference noise?

    ecgnet compare LABELS OUTPUTS_A OUTPUTS_B [--bootstrap N] [--seed S] [--weights FILE] [--json]

Both folders are scored on the records both have an output for; a labelled record missing from either is
left out of both (so both are scored on the same records) and the records left out are counted on stderr in
one line. For the Challenge metric and AUROC it prints A's and B's scores, B - A with its 95 % interval over
N paired bootstrap resamples of the records (each resample scores A and B on the same draws,
:func:`ecgnet.bootstrap.paired_difference`), and the share of resamples in which B scores higher.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .. import bootstrap, metric
from .evaluate import report_skipped, resample_count


def build_parser(prog: str = "ecgnet compare") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Compare two folders of outputs on the same labels: B - A in the Challenge metric and AUROC "
                    "with a 95 %% interval over paired bootstrap resamples of the records, and the share of "
                    "resamples in which B is higher. Records without an output in both folders are left out of "
                    "both.",
    )
    parser.add_argument("labels", help="folder of labelled headers (.hea with a Dx line)")
    parser.add_argument("outputs_a", help="folder of output files of A (<record>.csv)")
    parser.add_argument("outputs_b", help="folder of output files of B (<record>.csv)")
    parser.add_argument("--bootstrap", metavar="N", type=resample_count, default=1000,
                        help="number of paired bootstrap resamples (default 1000)")
    parser.add_argument("--seed", metavar="S", type=int, default=0, help="the resamples' seed (default 0)")
    parser.add_argument("--weights", metavar="FILE", help="weights table to use instead of the official one")
    parser.add_argument("--json", action="store_true", help="print everything (full precision) as JSON")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "ecgnet compare") -> int:
    args = build_parser(prog).parse_args(argv)
    # Missing folders, no record in common and unreadable files raise: ecgnet.cli.run_command makes each one line.
    arrays = metric.read_folders(args.labels, [args.outputs_a, args.outputs_b], args.weights, common=True)
    report_skipped(arrays.skipped, prog)
    report_left_out(arrays.left_out, (args.outputs_a, args.outputs_b), len(arrays.header_files), prog)
    (a_binary, a_scalars), (b_binary, b_scalars) = arrays.outputs
    differences = bootstrap.paired_difference(arrays.labels, a_binary, a_scalars, b_binary, b_scalars,
                                              arrays.table, args.bootstrap, args.seed)
    if args.json:
        print(json.dumps({
            "num_records": len(arrays.header_files),
            "left_out": len(set().union(*arrays.left_out)),
            "A": str(args.outputs_a),
            "B": str(args.outputs_b),
            "bootstrap": {"resamples": args.bootstrap, "seed": args.seed, "level": bootstrap.LEVEL},
            "scores": {name: difference.to_dict() for name, difference in differences.items()},
        }, indent=2))
    else:
        print(comparison_table(differences, len(arrays.header_files), args))
    return 0


def report_left_out(left_out: Sequence[Sequence[Path]], folders: Sequence[str], kept: int, prog: str) -> None:
    """One line on stderr for the labelled records scored in neither folder because one of them lacks it."""
    records = set().union(*left_out)
    if not records:
        return
    parts = [f"{len(files)} without an output in {folder} (e.g. {Path(files[0]).stem})"
             for files, folder in zip(left_out, folders) if files]
    print(f"{prog}: {len(records)} of {len(records) + kept} labelled records left out of both: "
          f"{'; '.join(parts)}", file=sys.stderr)


def _signed(value: float) -> str:
    return "n/a" if value != value else f"{value:+.3f}"


def _cell(value: float) -> str:
    return "n/a" if value != value else f"{value:.3f}"


def comparison_table(differences: dict[str, bootstrap.Difference], num_records: int,
                     args: argparse.Namespace) -> str:
    """A's and B's scores, B - A with its interval, and the share of resamples with B higher, one row a score."""
    width = max(len(name) for name in differences)
    level = f"{bootstrap.LEVEL:.0%} interval"
    lines = [
        f"{num_records} records; A: {args.outputs_a}; B: {args.outputs_b}",
        f"{args.bootstrap} paired bootstrap resamples of the records (seed {args.seed})",
        "",
        f"{'':<{width}}  {'A':>6}  {'B':>6}   {'B - A':>6}  {level:<18}  B higher",
    ]
    for name, d in differences.items():
        interval = f"[{_signed(d.difference.low)}, {_signed(d.difference.high)}]"
        lines.append(f"{name:<{width}}  {_cell(d.a):>6}  {_cell(d.b):>6}   {_signed(d.difference.estimate):>6}  "
                     f"{interval:<18}  {_cell(d.b_higher):>8}")
    return "\n".join(lines)
