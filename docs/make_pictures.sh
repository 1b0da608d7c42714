#!/usr/bin/env bash
# Re-make the README's pictures from the shared real records (about 10 minutes on 2 CPU cores):
# a demo-recipe ensemble trained on the PTB-XL and CPSC 2018 records of ../shared/data, run on the 50
# Challenge 2021 records it never saw (12-lead copies, with details.csv), scored with a report (its
# calibration and selective-prediction figures too), and one record explained.
# Usage: bash docs/make_pictures.sh [RECORD_ID]   (from the repository root, with the venv active)
# With BUILTIN=1, only the quick start's pictures: the built-in model explaining the real DICOM ECG of
# tests/data/formats/dicom (pydicom's test file), without a model folder: BUILTIN=1 bash docs/make_pictures.sh
# With MODEL=DIR (a trained model folder), only the explanation pictures are made, with that model and
# without training: MODEL=../runs/base_s0/runs/base bash docs/make_pictures.sh
set -euo pipefail
SHARED=${SHARED:-../shared/data}
WORK=${WORK:-/tmp/ecgnet-pictures}
RECORD=${1:-HR06003}
TEST="$SHARED/cinc2021/reduced_leads/twelve_leads"

explain_pictures() {  # $1: the model folder
    rm -rf "$WORK/explain"
    python -m ecgnet explain "$1" "$TEST/$RECORD.hea" --out "$WORK/explain"
    rm -f docs/explain_attribution_*.png  # a class no longer predicted leaves no stale picture
    cp "$WORK/explain/ecg.png" docs/explain_ecg.png
    for figure in "$WORK"/explain/attribution_*.png; do
        cp "$figure" "docs/explain_$(basename "$figure")"
    done
}

if [ -n "${BUILTIN:-}" ]; then
    rm -rf "$WORK/builtin"
    python -m ecgnet explain tests/data/formats/dicom/waveform_ecg.dcm --out "$WORK/builtin"
    rm -f docs/builtin_*.png
    cp "$WORK/builtin/ecg.png" docs/builtin_ecg.png
    for figure in "$WORK"/builtin/attribution_*.png; do
        cp "$figure" "docs/builtin_$(basename "$figure")"
    done
    exit 0
fi
if [ -n "${MODEL:-}" ]; then
    explain_pictures "$MODEL"
    exit 0
fi
mkdir -p "$WORK/train"
for folder in ptbxl cpsc2018; do
    ln -sf "$(realpath "$SHARED/$folder")"/* "$WORK/train/"
done
python train_model.py "$WORK/train" "$WORK/model" --config configs/demo.toml --epochs 8 --quiet
python run_model.py "$WORK/model" "$TEST" "$WORK/outputs" --details --quiet
python evaluate_model.py "$TEST" "$WORK/outputs" --report "$WORK/report" --model "$WORK/model"
cp "$WORK/report/class_scores.png" docs/report_class_scores.png
cp "$WORK/report/confusion.png" docs/report_confusion.png
cp "$WORK/report/reliability.png" docs/report_reliability.png
cp "$WORK/report/selective.png" docs/report_selective.png
cp "$WORK/report/training_curves.png" docs/training_curves.png
explain_pictures "$WORK/model"
