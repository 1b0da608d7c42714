"""The model that ships inside the package, so that ``ecgnet run DATA OUTPUTS`` and ``ecgnet explain RECORD`` work
right after ``pip install``: a model folder (:mod:`ecgnet.artifacts`: JSON, safetensors and its ONNX graph, no
pickle) kept as package data in ``ecgnet/builtin_model/``, with its model card (``MODEL_CARD.md``).

``make builtin-model`` rebuilds it from the shared labelled records (the command is in the card). A checkout
where it was never built has no such folder; the commands that would use it then say how to build it or to
give a model folder.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

#: The package-data folder of the built-in model.
FOLDER = "builtin_model"
#: The model card's file name, in the built-in model folder (and in any model folder that has one).
MODEL_CARD = "MODEL_CARD.md"
#: What inference reads of a one-network model folder (:mod:`ecgnet.artifacts`) and its ONNX graph; the
#: out-of-fold outputs, the training log and the checkpoints stay behind.
SHIPPED_FILES = ("config.json", "model.json", "fold_0.safetensors", "ensemble.onnx")
#: Shipped when the folder has them: the feature model's trees, and the training summary the card cites.
OPTIONAL_FILES = ("trees.safetensors", "summary.json")
#: The most the shipped files may weigh together, bytes: the wheel stays small.
MAX_BYTES = 15 * 2**20


def builtin_model_dir() -> Path:
    """The folder of the built-in model; ValueError saying how to get one when this installation has none."""
    folder = Path(str(resources.files("ecgnet").joinpath(FOLDER)))
    if not (folder / "model.json").is_file():
        raise ValueError(f"this installation has no built-in model ({folder} holds no model.json): build it with "
                         "`make builtin-model` in a checkout, or give a MODEL folder that train_model.py wrote")
    return folder


def announce(folder: Path) -> str:
    """The first line a command prints when it runs the built-in model."""
    return f"using the built-in model ({folder}; `ecgnet info` shows its model card)"


def ship(model_dir: str | Path, folder: str | Path | None = None) -> Path:
    """Copy what inference needs of the one-network model folder ``model_dir`` into the package's built-in model
    folder (``folder``, default this package's), replacing the model there but not its card; the folder.
    Refuses a model of several networks, one without its ONNX graph, or files over :data:`MAX_BYTES`."""
    model_dir = Path(model_dir)
    target = Path(folder) if folder is not None else Path(str(resources.files("ecgnet").joinpath(FOLDER)))
    missing = [name for name in SHIPPED_FILES if not (model_dir / name).is_file()]
    if missing or (model_dir / "fold_1.safetensors").exists():
        raise ValueError(f"{model_dir}: not a one-network model folder with its ONNX graph (missing: "
                         f"{', '.join(missing) or 'none'}; a student of `ecgnet distill`, then `ecgnet export`)")
    names = [*SHIPPED_FILES, *(name for name in OPTIONAL_FILES if (model_dir / name).is_file())]
    size = sum((model_dir / name).stat().st_size for name in names)
    if size > MAX_BYTES:
        raise ValueError(f"{model_dir}: {size / 2**20:.1f} MB, over the built-in model's {MAX_BYTES / 2**20:.0f} MB")
    target.mkdir(parents=True, exist_ok=True)
    for name in (*SHIPPED_FILES, *OPTIONAL_FILES):
        (target / name).unlink(missing_ok=True)
    for name in names:
        shutil.copyfile(model_dir / name, target / name)
    print(f"shipped {model_dir} as the built-in model in {target} ({size / 2**20:.1f} MB)")
    return target
