"""Explain the ensemble's predictions with pictures: ``ecgnet explain MODEL RECORD.hea --out DIR`` (one record)
or ``ecgnet explain MODEL DATA_DIR --population --out DIR`` (lead importance over a folder); what each writes
is told in :mod:`ecgnet.explain`. Without MODEL, the built-in model (:mod:`ecgnet.builtin`) explains."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..builtin import announce, builtin_model_dir
from ..explain import select_classes, write_explanation, write_population
from ..folders import check_model_folder, check_records_folder
from ..inference import load_ensemble


def build_parser(prog: str = "ecgnet explain") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Explain the ensemble's predictions with pictures: the "
                                     "clinical ECG plot, integrated-gradients attribution maps and lead importance.")
    parser.add_argument("paths", nargs="+", metavar="[MODEL] RECORD",
                        help="MODEL: model folder written by train_model.py (left out: the built-in model); RECORD: "
                        "a record's .hea file or ECG export, or with --population a folder")
    parser.add_argument("--out", required=True, help="folder for the figures and tables (created if needed)")
    parser.add_argument("--steps", type=int, default=32, help="integration steps (default 32)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where to run")
    parser.add_argument("--classes", help="comma-separated abbreviations or codes to explain (default: predicted)")
    parser.add_argument("--population", action="store_true", help="mean lead importance over a folder's records")
    parser.add_argument("--max-records", type=int, help="with --population: the first N records only")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "ecgnet explain") -> int:
    args = build_parser(prog).parse_args(argv)
    if args.steps < 1:
        raise ValueError(f"--steps must be at least 1, not {args.steps}")
    if args.max_records is not None and args.max_records < 1:
        raise ValueError(f"--max-records must be at least 1, not {args.max_records}")
    if len(args.paths) > 2:
        raise ValueError(f"give [MODEL] RECORD, not {len(args.paths)} paths ({prog} [MODEL] RECORD --out DIR)")
    *model, target = args.paths
    target = Path(target)
    # The folders are checked before the model loads and before --out is created.
    if model:
        check_model_folder(model[0], target, f"{prog} MODEL RECORD --out DIR", data_name="RECORD")
        model_dir = model[0]
    else:
        model_dir = builtin_model_dir()
        print(announce(model_dir))
    if args.population != target.is_dir():
        raise ValueError(f"{target}: --population needs a folder of records" if args.population
                         else f"{target}: is a folder; give a record's .hea file, or add --population")
    if args.population:
        check_records_folder(target)
    ensemble = load_ensemble(model_dir, args.device)
    classes = select_classes(args.classes, ensemble.class_codes) if args.classes else None
    if args.population:
        result = write_population(ensemble, target, args.out, args.steps, args.max_records, classes,
                                  report=lambda line: print(f"{prog}: {line}", file=sys.stderr))
        print(f"explained {result.records} records ({len(result.failures)} skipped); wrote lead_importance.csv "
              f"and lead_importance.png to {args.out}")
        if not result.records:
            print(f"{prog}: error: no record could be explained (each one's reason is above)", file=sys.stderr)
            return 1
        return 0
    document = write_explanation(ensemble, target, args.out, classes, args.steps)
    print(f"{document['record_id']}: predicted {', '.join(document['predicted']) or 'nothing'}; wrote "
          f"{', '.join(document['figures'].values())} and explanation.json to {args.out}")
    return 0
