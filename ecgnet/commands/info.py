"""Show a model's card: ``ecgnet info [MODEL]`` prints ``MODEL_CARD.md`` of the built-in model (without MODEL) or of
a model folder that has one; for a folder without a card, what its ``summary.json`` says of it."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from ..builtin import MODEL_CARD, builtin_model_dir


def build_parser(prog: str = "ecgnet info") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Show a model's card: its training data, recipe, "
                                     "held-out scores, weak classes, intended use and input contract.")
    parser.add_argument("model", metavar="MODEL", nargs="?", help="a model folder (default: the built-in model)")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "ecgnet info") -> int:
    args = build_parser(prog).parse_args(argv)
    folder = Path(args.model) if args.model else builtin_model_dir()
    card = folder / MODEL_CARD
    if card.is_file():
        print(card.read_text(encoding="utf-8"), end="")
        return 0
    summary = folder / "summary.json"
    if not summary.is_file():
        raise ValueError(f"{folder}: no {MODEL_CARD} and no summary.json: give a model folder train_model.py wrote")
    print(f"{folder}: no {MODEL_CARD}; its training summary ({summary}):")
    print(json.dumps(json.loads(summary.read_text(encoding="utf-8")), indent=2))
    return 0
