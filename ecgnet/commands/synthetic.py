"""Write synthetic ECG records whose rhythm labels can be learned from the signal (volume and speed tests, the
demo): ``ecgnet synthetic OUT_DIR --records N [options]``; the records are told in :mod:`ecgnet.synthetic`."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from ..synthetic import METHODS, RHYTHMS, generate_dataset, resolve_leads, resolve_rhythms


def build_parser(prog: str = "ecgnet synthetic") -> argparse.ArgumentParser:
    classes = ", ".join(f"{r.abbreviation}={r.code}" for r in RHYTHMS.values())
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Write synthetic ECG records (Challenge format: .hea + .mat) whose rhythm labels can be "
        f"learned from the signal. Classes: {classes}.",
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", help="directory to write the records into")
    parser.add_argument("--records", "-n", type=int, required=True, help="number of records")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--frequency", type=float, default=500.0, help="sampling rate in Hz (default 500)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per record (default 10)")
    parser.add_argument("--method", choices=METHODS, default="fast", help="renderer (default fast)")
    parser.add_argument("--leads", default="12", help="lead set: 12, 6, 4, 3, 2 or comma-separated names (default 12)")
    parser.add_argument(
        "--classes", default=None, help="comma-separated rhythm codes or abbreviations (default: all five)"
    )
    parser.add_argument("--prefix", default="SYN", help="record id prefix (default SYN)")
    parser.add_argument("--jobs", "-j", type=int, default=1, help="worker processes, -1 = all cores")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "ecgnet synthetic") -> int:
    args = build_parser(prog).parse_args(argv)
    if args.records < 0:
        raise ValueError(f"--records must be non-negative (got {args.records})")
    started = time.perf_counter()
    paths = generate_dataset(
        args.out_dir,
        args.records,
        seed=args.seed,
        frequency=args.frequency,
        duration=args.duration,
        method=args.method,
        leads=resolve_leads(args.leads),
        n_jobs=args.jobs,
        progress=not args.quiet,
        prefix=args.prefix,
        rhythms=resolve_rhythms(args.classes),
    )
    if not args.quiet:
        elapsed = time.perf_counter() - started
        rate = len(paths) / elapsed if elapsed > 0 else float("inf")
        print(f"wrote {len(paths)} records to {args.out_dir} in {elapsed:.1f} s ({rate:.0f} records/s)")
    return 0
