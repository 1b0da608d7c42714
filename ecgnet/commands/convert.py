"""Write ECG files as Challenge-format WFDB records (``.hea`` + ``.mat``), so that the official harness and every
WFDB tool read them: ``ecgnet convert IN OUT``.

IN is one file (a DICOM, EDF, GE MUSE or Philips XML, declared CSV or NumPy export, or a WFDB header) or a
folder, every record of which is converted. Each record is written as ``OUT/<record id>.hea`` and ``.mat``:
int16 microvolts (gain 1000 per mV, baseline 0), the file's lead names, rate, age and sex, its labels when it
has a ``#Dx`` line. A sample the file does not hold is written as format 16's "no sample" value. One file
that cannot be read is reported in one line and the others are converted; the exit status is 1 when any was
refused.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..discovery import SECOND_COPY, find_records
from ..records import RecordError, read_record, write_record


def build_parser(prog: str = "ecgnet convert") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Write ECG files (DICOM, EDF, GE MUSE or Philips XML, CSV or NumPy with a declared rate, "
        "WFDB) as Challenge-format records (.hea + .mat) in OUT.",
    )
    parser.add_argument("source", metavar="IN", help="an ECG file, or a folder of them (searched recursively)")
    parser.add_argument("out_dir", metavar="OUT", help="folder to write the records into (created if missing)")
    parser.add_argument("--overwrite", action="store_true", help="replace records OUT already holds")
    return parser


def convert(source: Path, out_dir: Path, overwrite: bool = False) -> Path:
    """Write the record of the file ``source`` into ``out_dir``; its header path. Refuses (FileExistsError)
    to replace a record there unless ``overwrite``."""
    record = read_record(source)
    target = out_dir / f"{record.record_id}.hea"
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target}: already exists (--overwrite replaces it)")
    header = record.header
    signal = (record.recording - header.baselines[:, None]) / header.gains[:, None]  # mV, NaN kept
    return write_record(out_dir, record.record_id, signal, header.frequency, header.leads, age=header.age,
                        sex=header.sex, labels=header.labels)


def main(argv: Sequence[str] | None = None, prog: str = "ecgnet convert") -> int:
    args = build_parser(prog).parse_args(argv)
    source, out_dir = Path(args.source), Path(args.out_dir)
    if source.is_dir():
        listing = find_records(source)
        paths = listing.header_paths
        refused = [(path, reason) for path, reason in listing.failures if not reason.startswith(SECOND_COPY)]
        for path, reason in listing.failures:
            if reason.startswith(SECOND_COPY):
                print(f"skipped {path}: {reason}")
    elif source.exists():
        paths, refused = [source], []
    else:
        raise FileNotFoundError(f"{source}: no such file or folder")
    if source.is_dir() and not paths and not refused:
        raise ValueError(f"no record found in {source} (looked for .hea files and ECG exports, recursively)")
    written = 0
    for path in paths:
        try:
            print(f"{path} -> {convert(path, out_dir, args.overwrite)}")
            written += 1
        except (RecordError, FileExistsError) as error:
            refused.append((str(path), str(error).removeprefix(f"{path}: ")))
    for path, reason in refused:
        print(f"{prog}: refused {path}: {reason}", file=sys.stderr)
    print(f"converted {written} record{'s' * (written != 1)} into {out_dir}"
          + (f"; {len(refused)} refused" if refused else ""))
    return 1 if refused else 0
