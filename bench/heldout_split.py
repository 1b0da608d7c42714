"""The held-out test folder of the shared real records: PTB-XL strat_fold 7 and 8, and the 50 Challenge records
of the reduced-lead folder (Georgia, PTB-XL and Chapman-Ningbo; their 12-lead copies), as links.

    python -m bench.heldout_split ../shared/data heldout_test
    python -m ecgnet ablate ../shared/data --test heldout_test --config configs/small.toml --vary feature_model ...

``ecgnet ablate --test`` leaves these records out of training by record id (their other copies too: the
header variants and reduced-lead files of the same records), so training never sees a test record or a
patient of PTB-XL's folds 7 and 8 (PTB-XL's folds keep each patient in one fold). ``bench/ptbxl_folds.csv``
holds PTB-XL's own ``strat_fold`` and ``patient_id`` of ecg_id 1-1999, taken from the public PTB-XL database
table (``ptbxl_database.csv``).
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

FOLDS_FILE = Path(__file__).with_name("ptbxl_folds.csv")
TEST_FOLDS = {7, 8}


def ptbxl_test_ids(folds_file: Path = FOLDS_FILE) -> set[str]:
    """Record ids (``HR`` + 5-digit ecg_id) of the PTB-XL records in the test folds."""
    with open(folds_file, newline="") as f:
        return {f"HR{int(row['ecg_id']):05d}" for row in csv.DictReader(f) if int(row["strat_fold"]) in TEST_FOLDS}


def link_record(header: Path, out: Path) -> None:
    for suffix in (".hea", ".mat"):
        target = out / (header.stem + suffix)
        if not target.exists():
            os.symlink(header.with_suffix(suffix).resolve(), target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="the shared data folder (../shared/data)")
    parser.add_argument("out", type=Path, help="the test folder to create (links to the records)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    wanted = ptbxl_test_ids()
    ptbxl = [h for h in sorted((args.data / "ptbxl").glob("*.hea")) if h.stem in wanted]
    challenge = sorted((args.data / "cinc2021" / "reduced_leads" / "twelve_leads").glob("*.hea"))
    for header in ptbxl + challenge:
        link_record(header, args.out)
    print(f"{args.out}: {len(ptbxl)} PTB-XL records of strat_fold 7-8 and {len(challenge)} Challenge records")


if __name__ == "__main__":
    main()
