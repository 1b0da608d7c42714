#!/usr/bin/env python
"""Score a folder of Challenge output files against a folder of labelled headers.

    python evaluate_model.py LABELS OUTPUTS [scores.csv] [class_scores.csv] [--report DIR [--model MODEL_DIR]]

With no file arguments the scores are printed as a table; ``--json`` prints them for machines. The
scores themselves are computed by :mod:`ecgnet.metric`. ``--report DIR`` also writes an HTML report with
figures (``DIR/index.html``, see :mod:`ecgnet.report`); ``--model`` adds a model folder's training curves.
"""

import os
import sys

# Scoring does no linear algebra: without this, numpy's import starts a BLAS thread per core, which costs more
# CPU time than reading a thousand files (set before numpy is first imported).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from ecgnet.commands.evaluate import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
