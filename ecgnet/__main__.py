"""The ``ecgnet`` command (also ``python -m ecgnet``): one subcommand per task, each the same as its script.

    ecgnet train DATA MODEL [options]          as train_model.py
    ecgnet run [MODEL] DATA OUTPUTS [options]  as run_model.py; without MODEL, the built-in model
    ecgnet evaluate LABELS OUTPUTS [options]   as evaluate_model.py
    ecgnet compare LABELS OUTPUTS_A OUTPUTS_B  is B better than A, with a bootstrap interval
    ecgnet convert IN OUT                      ECG files (DICOM, EDF, XML, CSV) as Challenge records
    ecgnet info [MODEL]                        a model's card (the built-in model's by default)
    ecgnet report | explain | ablate | synthetic | export | distill ...

``ecgnet SUBCOMMAND --help`` tells each one's options.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

from .cli import run_command

#: Subcommand -> (module, what it does); each module has ``main(argv, prog)`` and is imported only when run.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "train": ("ecgnet.commands.train", "train the ensemble on a folder of records"),
    "run": ("ecgnet.commands.run", "run a trained model on a folder of records"),
    "evaluate": ("ecgnet.commands.evaluate", "score output files against labelled headers"),
    "compare": ("ecgnet.commands.compare", "compare two folders of outputs: B - A with a bootstrap interval"),
    "report": ("ecgnet.commands.report", "an HTML report of the scores, with figures"),
    "explain": ("ecgnet.commands.explain", "the clinical ECG page and attribution maps of a record or a folder"),
    "ablate": ("ecgnet.commands.ablate", "measure the methods of the papers, held out or out of fold"),
    "synthetic": ("ecgnet.commands.synthetic", "write synthetic records (volume and speed tests)"),
    "export": ("ecgnet.commands.export", "write a model's networks as one ONNX graph, for ONNX Runtime"),
    "distill": ("ecgnet.commands.distill", "one student network trained on the ensemble's out-of-fold outputs"),
    "info": ("ecgnet.commands.info", "show a model's card (the built-in model's without MODEL)"),
    "convert": ("ecgnet.commands.convert", "write ECG files (DICOM, EDF, vendor XML, CSV) as Challenge WFDB records"),
}


def usage() -> str:
    width = max(map(len, SUBCOMMANDS))
    lines = [f"  {name:<{width}}  {summary}" for name, (_, summary) in SUBCOMMANDS.items()]
    return "usage: ecgnet SUBCOMMAND [options]   (ecgnet SUBCOMMAND --help for its options)\n\n" + "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Dispatch to the subcommand; its errors become one line and a non-zero exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        sys.exit(0 if argv else 2)
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"ecgnet: error: unknown subcommand {name!r}\n{usage()}", file=sys.stderr)
        sys.exit(2)
    if name == "evaluate":  # scoring starts no BLAS threads (see evaluate_model.py); set before numpy loads
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    module = importlib.import_module(SUBCOMMANDS[name][0])  # only the subcommand's own imports are paid for
    prog = f"ecgnet {name}"
    run_command(lambda: module.main(rest, prog), prog)


if __name__ == "__main__":
    main()
