#!/usr/bin/env python
"""A distilled student against its teacher: held-out scores and run_model.py speed.

    python -m bench.distill TEACHER DATA TEST [--student demo] [--epochs 24] [--records 300] [--out DIR]

TEACHER is a model folder trained on DATA less the records of TEST (for example by
``python -m ecgnet ablate DATA --test TEST``); the student is distilled from its out-of-fold outputs
(``ecgnet distill``), then both are scored on TEST (held out: neither saw it) per lead set, and both run
``run_model.py`` on N synthetic records with torch and with ONNX Runtime (the graph is exported first).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.common import synthetic_records
from bench.inference import many_at_a_time
from ecgnet import heldout
from ecgnet.config import load_config
from ecgnet.distill import distill
from ecgnet.export import export_onnx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("teacher", type=Path)
    parser.add_argument("data", type=Path)
    parser.add_argument("test", type=Path)
    parser.add_argument("--student", default="demo", help="recipe whose [model] table is the student")
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--records", type=int, default=300, help="synthetic records for the speed runs")
    parser.add_argument("--out", type=Path, help="where to keep the student (default: temporary)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        student = distill(args.teacher, args.out or Path(temporary) / "student", args.data,
                          load_config(args.student), args.epochs, progress=False, log=lambda _: None)
        models = {"teacher": args.teacher, "student": student}
        scores = {name: heldout.evaluate(folder, args.test, "cpu", workers=0, log=lambda _: None)
                  for name, folder in models.items()}
        lead_sets = list(scores["teacher"])
        print("| model | " + " | ".join(f"{key.count(',') + 1} leads" for key in lead_sets) + " |")
        print("| --- |" + " --- |" * len(lead_sets))
        for name, result in scores.items():
            cells = [f"{result[key]['final']['challenge_metric']:.3f} ({result[key]['final']['auroc']:.3f})"
                     for key in lead_sets]
            print(f"| {name}: Challenge metric (AUROC) | " + " | ".join(cells) + " |")
        data = Path(temporary) / "speed"
        synthetic_records(data, args.records)
        for name, folder in models.items():
            export_onnx(folder)
            for runtime in ("torch", "onnxruntime"):
                seconds, peak = many_at_a_time(folder, data, Path(temporary) / f"out-{name}-{runtime}", "cpu", 0,
                                               runtime)
                print(f"{name}, {runtime}: {args.records / seconds:.1f} records/s end to end, peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
