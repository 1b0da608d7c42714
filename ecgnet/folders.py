"""What a folder given to a command holds (ECG records, a model, output files, or nothing), and the checks of
the commands' folder arguments built on it, made before any folder is created or any record prepared.

A newcomer's commonest mistakes are two folder arguments swapped and a folder that holds no record. Found
late, they read as an error about something else (``model.json: file is missing``, "no usable labelled
record" after a progress bar) and leave folders behind (an output folder, ``checkpoints/`` inside the data
folder). Each check here raises one ValueError naming the folder, what it holds and the fix, with the
command's usage; :func:`ecgnet.cli.run_command` prints it as one line and exits with status 1.

The look is quick and shallow: a folder holds records when a ``.hea`` file (in any case, hidden or not) or an
ECG export (a DICOM, EDF, vendor XML, declared CSV or NumPy file) lies in it or below, found at the first one;
:func:`ecgnet.discovery.find_records` then decides, file by file,
which are records, and names the others with their reasons.
"""

from __future__ import annotations

import os

from .discovery import HEADER_EXTENSION
from .formats import GENERIC_SUFFIXES, export_for, export_suffixes

#: The files ``train_model.py`` writes into a model folder (:mod:`ecgnet.artifacts`): either marks one, so that
#: a folder whose training stopped counts as a model folder too.
MODEL_FILES = ("model.json", "config.json")
#: How a fix names a folder of records, and a folder of labels.
RECORDS = "the folder of the records' .hea and signal (.mat or .dat) files"
LABELS = "the folder of the labelled headers (.hea files with a # Dx: line)"


def holds_model(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder with a model's ``model.json`` or ``config.json`` in it."""
    return any(os.path.isfile(os.path.join(path, name)) for name in MODEL_FILES)


def holds_records(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a record file (a header, or an ECG export: :func:`is_record_file`) or a folder with
    one in it or below (symbolic links to folders followed once, so that a loop ends); the walk stops at the
    first one."""
    if os.path.isfile(path):
        return is_record_file(os.fspath(path))
    pending, seen = [os.fspath(path)], set()
    while pending:
        folder = pending.pop()
        real = os.path.realpath(folder)
        if real in seen:
            continue
        seen.add(real)
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_dir():
                        pending.append(entry.path)
                    elif is_record_file(entry.path):
                        return True
        except OSError:  # an unreadable folder: find_records names it, with its reason
            continue
    return False


def is_record_file(path: str) -> bool:
    """Whether the file ``path`` is a header (``.hea``, any case) or an ECG export: a file of an export format's
    suffix, which for suffixes other files share (``.xml``, ``.csv``) must also be recognised by its content."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix == HEADER_EXTENSION:
        return True
    if suffix not in export_suffixes():
        return False
    return suffix not in GENERIC_SUFFIXES or (os.path.isfile(path) and export_for(path) is not None)


def holds_outputs(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder with an output file (``.csv``) directly in it."""
    try:
        with os.scandir(path) as entries:
            return any(entry.name.endswith(".csv") for entry in entries)
    except OSError:
        return False


def no_record_found(path: str | os.PathLike, name: str, give: str = RECORDS) -> str:
    """The message for a folder without any header file: where was looked, and what to ``give`` instead."""
    hint = " (it holds a model: model.json)" if holds_model(path) else ""
    return (f"no record found in {name} '{path}'{hint} (looked for .hea files and ECG exports, recursively): "
            f"give {give}")


def check_model_folder(model_dir: str | os.PathLike, data: str | os.PathLike, usage: str,
                       data_name: str = "DATA_DIR") -> None:
    """Refuse a MODEL argument that is no model folder: one that does not exist, or holds records (swapped with
    ``data``, named ``data_name``, when that holds a model). A folder that holds neither is left to the model
    folder's own checks at load, which name the missing file."""
    if not os.path.exists(model_dir):
        raise ValueError(f"MODEL_DIR '{model_dir}' does not exist: give the folder train_model.py wrote ({usage})")
    if holds_model(model_dir) or not holds_records(model_dir):
        return
    what = "is an ECG record" if os.path.isfile(model_dir) else "holds ECG records and no model.json"
    if holds_model(data):
        raise ValueError(f"MODEL_DIR '{model_dir}' {what}, and {data_name} '{data}' holds a model: are the two "
                         f"arguments swapped? ({usage})")
    raise ValueError(f"MODEL_DIR '{model_dir}' {what}: give the folder train_model.py wrote ({usage})")


def check_records_folder(path: str | os.PathLike, name: str = "DATA_DIR", give: str = RECORDS) -> None:
    """Refuse a folder of records (named ``name`` in the message) that does not exist, is a file, or holds no
    header file at all; the fix says what to ``give``."""
    if not os.path.exists(path):
        raise ValueError(f"{name} '{path}' does not exist: give {give}")
    if not os.path.isdir(path):
        raise ValueError(f"{name} '{path}' is a file, not a folder: give {give}")
    if not holds_records(path):
        raise ValueError(no_record_found(path, name, give))


def check_run_folders(model_dir: str | os.PathLike, data_dir: str | os.PathLike, usage: str) -> None:
    """``run_model.py MODEL DATA OUTPUTS``: a model folder, then a folder with records; swapped ones named."""
    check_model_folder(model_dir, data_dir, usage)
    check_records_folder(data_dir)


def check_training_folders(data_dir: str | os.PathLike, model_dir: str | os.PathLike, usage: str) -> None:
    """``train_model.py DATA MODEL``: a folder with records, and a MODEL that is no file. DATA and MODEL are
    named as swapped when DATA holds a model or no record while MODEL holds records (training would otherwise
    index nothing and leave ``checkpoints/`` in the folder of records)."""
    data_has_model = os.path.isdir(data_dir) and holds_model(data_dir)
    if (data_has_model or not holds_records(data_dir)) and os.path.isdir(model_dir) and holds_records(model_dir):
        what = "a model (model.json) and no ECG record" if data_has_model else "no ECG record"
        raise ValueError(f"DATA_DIR '{data_dir}' holds {what}, and MODEL_DIR '{model_dir}' holds "
                         f"ECG records: are the two arguments swapped? ({usage})")
    check_records_folder(data_dir)
    if os.path.exists(model_dir) and not os.path.isdir(model_dir):
        raise ValueError(f"MODEL_DIR '{model_dir}' is a file: give a folder to write the model to ({usage})")


def check_evaluation_folders(labels: str | os.PathLike, outputs: str | os.PathLike, usage: str) -> None:
    """``evaluate_model.py LABELS OUTPUTS``: the labels are headers, the outputs ``.csv`` files; swapped ones
    named. Other problems are left to the evaluation, which names the file."""
    if (os.path.isdir(labels) and not holds_records(labels) and holds_outputs(labels)
            and os.path.isdir(outputs) and holds_records(outputs)):
        raise ValueError(f"LABELS '{labels}' holds output files (.csv) and no .hea file, and OUTPUTS '{outputs}' "
                         f"holds .hea files: are the two arguments swapped? ({usage})")
    check_records_folder(labels, "LABELS", LABELS)
