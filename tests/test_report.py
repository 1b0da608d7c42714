"""ecgnet.report: the HTML report, its figures, its curves, what it reads of a model folder, and its command line
(ecgnet report), on real label headers."""

from __future__ import annotations

import base64
import csv
import json
import os
import re
import shutil
import struct
import subprocess
import sys
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.image import imread

from ecgnet import metric, report
from ecgnet.labels import default_class_table
from ecgnet.outputs import save_outputs
from ecgnet.records import STANDARD_LEADS, read_header, source_of
from ecgnet.report import model_folder

REPO = Path(__file__).resolve().parents[1]
TABLE = default_class_table()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Real records of three sources, each kept in one lead-set version: 12 leads or 2 leads.
TWELVE_LEADS = ("E07500", "E07501", "E07502", "HR06000", "HR06001", "HR06002", "JS20000", "JS20001")
TWO_LEADS = ("E07503", "E07504", "HR06003", "JS20002", "JS20003", "JS20004")
TRAINING_LOG = (
    "fold,epoch,train_loss,val_challenge,val_auroc,learning_rate,seconds\n"
    "0,1,0.90,0.10,0.60,0.001,3.1\n0,2,0.70,0.30,0.70,0.001,3.0\n0,3,0.50,0.45,0.80,0.0005,3.2\n"
    "1,1,0.95,0.12,0.61,0.001,3.1\n1,2,0.72,0.28,0.69,0.001,3.3\n1,3,0.52,0.40,0.79,0.0005,3.0\n"
)
SUMMARY = (
    '{"validation": "stratified", "folds": ["fold 0", "fold 1"], "out_of_fold": {'
    '"I,II,III,aVR,aVL,aVF,V1,V2,V3,V4,V5,V6": {"records": 77, "challenge_metric": 0.4123, "auroc": 0.8, '
    '"auprc": 0.4, "f_measure": 0.3, "accuracy": 0.1}, '
    '"I,II": {"records": 77, "challenge_metric": 0.3111, "auroc": 0.7, "auprc": 0.3, "f_measure": 0.2, '
    '"accuracy": 0.05}}, "expected": {"I,II": {"challenge_metric": 0.25, "challenge_metric_interval": [0.2, 0.3]}}}'
)


def write_outputs(label_dir: Path, output_dir: Path, seed: int = 0) -> None:
    """Seeded random probabilities, nudged towards the labels so the scores are neither 0 nor 1."""
    output_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for header in sorted(label_dir.glob("*.hea")):
        truth = TABLE.encode(read_header(header)[1].labels)
        probabilities = np.clip(0.35 * truth + 0.7 * rng.random(len(TABLE)), 0, 1).round(3)
        save_outputs(output_dir / f"{header.stem}.csv", header.stem, TABLE.codes, probabilities >= 0.5, probabilities)


@pytest.fixture(scope="module")
def folders(tmp_path_factory, shared_data) -> tuple[Path, Path]:
    """Labels: 8 twelve-lead and 6 two-lead real headers of three sources; outputs for each."""
    root = tmp_path_factory.mktemp("report-data")
    labels = root / "labels"
    labels.mkdir()
    reduced = shared_data / "cinc2021" / "reduced_leads"
    for folder, names in (("twelve_leads", TWELVE_LEADS), ("two_leads", TWO_LEADS)):
        for name in names:
            shutil.copy(reduced / folder / f"{name}.hea", labels)
    write_outputs(labels, root / "outputs")
    return labels, root / "outputs"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A model folder with a hand-written training log (2 folds, 3 epochs) and summary."""
    folder = tmp_path_factory.mktemp("model")
    (folder / "training_log.csv").write_text(TRAINING_LOG)
    (folder / "summary.json").write_text(SUMMARY)
    return folder


@pytest.fixture(scope="module")
def built(folders, model_dir, tmp_path_factory) -> Path:
    """The report of ``folders`` with ``model_dir``: the path of its index.html."""
    return report.build_report(*folders, tmp_path_factory.mktemp("report") / "out", model_dir=model_dir)


# Reading the page back.
VOID = {"meta", "img", "br", "hr", "link", "input", "col", "area", "base", "wbr", "source"}


class PageParser(HTMLParser):
    """Checks that every element is closed in order, and collects the tables (by id) and images."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.errors: list[str] = []
        self.images: list[dict[str, str]] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.table: str | None = None
        self.cell: list[str] | None = None
        self.doctype = ""

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "img":
            self.images.append(attributes)
        if tag == "table":
            self.table = attributes.get("id", "")
            self.tables[self.table] = []
        elif tag == "tr" and self.table is not None:
            self.tables[self.table].append([])
        elif tag in ("td", "th"):
            self.cell = []
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.open[-1:]}")
            return
        self.open.pop()
        if tag in ("td", "th") and self.cell is not None and self.table is not None:
            self.tables[self.table][-1].append("".join(self.cell).strip())
            self.cell = None
        elif tag == "table":
            self.table = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def parse_page(path: Path) -> PageParser:
    parser = PageParser()
    parser.feed(path.read_text())
    parser.close()
    assert parser.errors == [] and parser.open == [], (parser.errors, parser.open)
    assert parser.doctype.lower() == "doctype html"
    return parser


def table_dict(rows: list[list[str]]) -> dict[str, list[str]]:
    """Body rows keyed by their first cell (the header row left out)."""
    return {row[0]: row[1:] for row in rows[1:]}


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, after checking the signature."""
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def strip_images(text: str) -> str:
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:image/png;base64,", text)


# The report.
def test_every_figure_is_a_decodable_png(built):
    for name in (*report.FIGURE_FILES, report.TRAINING_FIGURE):
        data = (built.parent / name).read_bytes()
        width, height = png_size(data)
        assert 300 <= width <= 1600 and 200 <= height <= 1400, (name, width, height)
        pixels = imread(built.parent / name)
        assert pixels.shape[:2] == (height, width)
        assert np.ptp(pixels) > 0, f"{name} is blank"


def test_page_is_valid_self_contained_html(built):
    page = parse_page(built)
    text = built.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", text), "the page must load nothing from elsewhere"
    assert "<script" not in text and "<link" not in text
    # One image per figure, each the PNG file beside the page, inline.
    assert text.count("<img") == len(report.FIGURE_FILES) + 1 == len(page.images)
    embedded = [base64.b64decode(image["src"].removeprefix("data:image/png;base64,")) for image in page.images]
    assert all(image["src"].startswith("data:image/png;base64,") for image in page.images)
    files = [(built.parent / name).read_bytes() for name in (*report.FIGURE_FILES, report.TRAINING_FIGURE)]
    assert embedded == files


def test_overall_scores_are_the_metric_s(built, folders):
    expected = metric.evaluate_folders(*folders)
    overall = table_dict(parse_page(built).tables["overall"])
    assert overall["Challenge metric"] == [report.format_score(expected.challenge_metric)]
    assert abs(float(overall["Challenge metric"][0]) - expected.challenge_metric) <= 5e-4
    assert 0 < expected.challenge_metric < 1  # a value that tells a wrong report from a right one
    assert overall["AUROC"] == [report.format_score(expected.auroc)]
    assert overall["F-measure"] == [report.format_score(expected.f_measure)]
    assert overall["Records"] == [str(len(TWELVE_LEADS) + len(TWO_LEADS))]


def test_classes_are_named_with_their_scores(built, folders):
    expected = metric.evaluate_folders(*folders)
    classes = table_dict(parse_page(built).tables["classes"])
    assert list(classes) == TABLE.abbreviations
    for scored, positives, auroc in zip(TABLE.classes, expected.class_positives, expected.class_auroc):
        name, codes, shown_positives, shown_auroc = classes[scored.abbreviation][:4]
        assert (name, codes, shown_positives) == (scored.name, scored.label, str(int(positives)))
        assert shown_auroc == report.format_score(auroc)
    assert "CRBBB|RBBB" in classes and classes["CRBBB|RBBB"][1] == "713427006|59118001"


def test_groups_by_source_and_lead_set(built, folders, tmp_path):
    tables = parse_page(built).tables
    sources = table_dict(tables["sources"])
    names = TWELVE_LEADS + TWO_LEADS
    assert set(sources) == {source_of(name) for name in names} == {"Georgia", "PTB-XL", "Chapman-Ningbo"}
    for source, row in sources.items():
        # The group's score, recomputed by the metric from a folder holding that source's headers only.
        subset = tmp_path / source
        subset.mkdir()
        for name in names:
            if source_of(name) == source:
                shutil.copy(folders[0] / f"{name}.hea", subset)
        expected = metric.evaluate_folders(subset, folders[1])
        assert row == [str(expected.num_records), *map(report.format_score, (expected.challenge_metric,
                                                                            expected.auroc, expected.f_measure))]
    lead_sets = table_dict(tables["lead-sets"])
    assert list(lead_sets) == ["12 leads", "2 leads: I, II"]
    assert [row[0] for row in lead_sets.values()] == [str(len(TWELVE_LEADS)), str(len(TWO_LEADS))]


def test_one_group_is_said_in_one_line(folders, tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    for name in TWELVE_LEADS[:3]:
        shutil.copy(folders[0] / f"{name}.hea", labels)
    evaluation = report.load_evaluation(labels, folders[1])
    page = report.render_html(evaluation, dict.fromkeys(report.FIGURE_FILES, b"png"), labels, folders[1])
    assert '<table id="sources">' not in page and '<table id="lead-sets">' not in page
    assert "Every record has the same source: Georgia." in page
    assert "Every record has the same lead set: 12 leads." in page
    assert "Training" not in page


def test_model_section_shows_out_of_fold_scores(built):
    out_of_fold = table_dict(parse_page(built).tables["out-of-fold"])
    assert out_of_fold == {
        "12 leads": ["77", "0.412", "0.800", "0.400", "0.300", "0.100", "n/a"],
        "2 leads: I, II": ["77", "0.311", "0.700", "0.300", "0.200", "0.050", "0.250 [0.200, 0.300]"],
    }


def test_text_is_escaped(folders, tmp_path):
    labels = tmp_path / "<b>labels&"
    shutil.copytree(folders[0], labels)
    evaluation = report.load_evaluation(labels, folders[1])
    page = report.render_html(evaluation, dict.fromkeys(report.FIGURE_FILES, b"png"), labels, folders[1])
    assert "<b>labels&" not in page and "&lt;b&gt;labels&amp;" in page


def test_missing_output_file_fails_like_evaluate_folders(folders, tmp_path):
    outputs = tmp_path / "outputs"
    shutil.copytree(folders[1], outputs)
    (outputs / "HR06001.csv").unlink()
    with pytest.raises(FileNotFoundError) as expected:
        metric.evaluate_folders(folders[0], outputs)
    with pytest.raises(FileNotFoundError) as raised:
        report.build_report(folders[0], outputs, tmp_path / "report")
    assert str(raised.value) == str(expected.value) and "HR06001.csv" in str(raised.value)
    assert not (tmp_path / "report" / "index.html").exists()


def test_missing_model_folder_is_an_error(folders, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        report.build_report(*folders, tmp_path / "report", model_dir=tmp_path / "nowhere")


# Curves.
def test_roc_curve_on_a_hand_example():
    labels = np.array([1, 0, 1, 0, 1], dtype=bool)
    scalars = np.array([0.9, 0.8, 0.8, 0.3, 0.1])
    curve = report.class_curve(labels, scalars)
    np.testing.assert_array_equal(curve.thresholds, [np.inf, 0.9, 0.8, 0.3, 0.1])
    np.testing.assert_allclose(curve.tpr, [0, 1 / 3, 2 / 3, 2 / 3, 1])
    np.testing.assert_allclose(curve.fpr, [0, 0, 0.5, 1, 1])
    np.testing.assert_allclose(curve.precision, [np.nan, 1, 2 / 3, 1 / 2, 3 / 5])
    # Of the 6 positive-negative pairs, 3 are ranked right and 1 is tied: AUROC 3.5 / 6.
    area = np.trapezoid(curve.tpr, curve.fpr)
    assert area == pytest.approx(7 / 12)
    _, _, class_auroc, class_auprc = metric.compute_auc(labels[:, None], scalars[:, None])
    assert area == pytest.approx(class_auroc[0])
    assert np.sum(np.diff(curve.tpr) * curve.precision[1:]) == pytest.approx(class_auprc[0])


def test_curves_agree_with_the_metric_on_random_outputs():
    rng = np.random.default_rng(3)
    labels = rng.random((200, 6)) < [0.02, 0.1, 0.3, 0.5, 0.9, 0.0]
    scalars = (rng.random((200, 6)) * 0.6 + 0.4 * labels).round(2)  # rounded: many ties
    scalars[:5, 0] = np.nan  # a non-finite output counts as 0
    _, _, class_auroc, class_auprc = metric.compute_auc(labels, scalars)
    for k in range(labels.shape[1]):
        curve = report.class_curve(labels[:, k], scalars[:, k])
        assert np.all(np.diff(curve.thresholds) < 0)
        assert np.trapezoid(curve.tpr, curve.fpr) == pytest.approx(class_auroc[k], nan_ok=True)
        assert np.sum(np.diff(curve.tpr) * curve.precision[1:]) == pytest.approx(class_auprc[k], nan_ok=True)
    assert np.isnan(class_auroc[5]) and report.class_curve(labels[:, 5], scalars[:, 5]).positives == 0


# Training curves.
def test_training_log_is_read_per_fold(tmp_path):
    log = tmp_path / "training_log.csv"
    # Fold 1 logged epoch 2 twice (a resumed run): the later row counts. Folds sort numerically.
    log.write_text(TRAINING_LOG + "1,2,0.60,0.33,0.7,0.001,3\n10,1,0.8,0.2,0.6,0.001,3\n")
    folds = report.read_training_log(log)
    assert list(folds) == ["0", "1", "10"]
    np.testing.assert_array_equal(folds["0"]["epoch"], [1, 2, 3])
    np.testing.assert_allclose(folds["1"]["train_loss"], [0.95, 0.60, 0.52])
    np.testing.assert_allclose(folds["1"]["val_challenge"], [0.12, 0.33, 0.40])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("fold,epoch,train_loss\n0,1,0.5\n", "no column val_challenge"),
        ("fold,epoch,train_loss,val_challenge\n", "no rows"),
        ("fold,epoch,train_loss,val_challenge\n0,1,oops,0.1\n", "line 2"),
    ],
)
def test_bad_training_log_names_the_file(tmp_path, text, problem):
    log = tmp_path / "training_log.csv"
    log.write_text(text)
    with pytest.raises(ValueError, match=problem) as raised:
        report.read_training_log(log)
    assert str(log) in str(raised.value)


def test_plot_training_log_writes_a_png(tmp_path):
    (tmp_path / "training_log.csv").write_text(TRAINING_LOG)
    png = report.plot_training_log(tmp_path / "training_log.csv", tmp_path / "curves.png")
    assert png == tmp_path / "curves.png"
    width, height = png_size(png.read_bytes())
    assert imread(png).shape[:2] == (height, width) and width > height > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png", "training_log.csv"]  # no temporary left


# Command line.
def run_module(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ecgnet", "report", *map(str, args)], cwd=cwd, capture_output=True, text=True,
        timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_command_line_writes_the_same_page(built, folders, model_dir, tmp_path):
    result = run_module(*folders, "--out", tmp_path / "again", "--model", model_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "again" / "index.html")
    # Deterministic: a second run gives the same document apart from the PNG bytes.
    assert strip_images((tmp_path / "again" / "index.html").read_text()) == strip_images(built.read_text())


def test_command_line_curves(model_dir, tmp_path):
    result = run_module("curves", model_dir, "--out", tmp_path / "figures", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    png_size((tmp_path / "figures" / report.TRAINING_FIGURE).read_bytes())
    missing = run_module("curves", tmp_path / "nowhere", "--out", tmp_path / "figures", cwd=tmp_path)
    lines = missing.stderr.strip().splitlines()
    assert missing.returncode == 1 and len(lines) == 1, missing.stderr
    assert lines[0].startswith("ecgnet report: error: ") and "nowhere" in lines[0]


def test_command_line_help_documents_curves(tmp_path):
    result = run_module("--help", cwd=tmp_path)
    assert result.returncode == 0 and "--model" in result.stdout and "curves MODEL_DIR" in result.stdout
    assert result.stdout.startswith("usage: ecgnet report ")
    curves = run_module("curves", "--help", cwd=tmp_path)
    assert curves.returncode == 0 and curves.stdout.startswith("usage: ecgnet report curves ")


def test_the_report_and_its_command_never_load_torch(tmp_path):
    script = ("import sys\nimport ecgnet.report, ecgnet.report.model_folder, ecgnet.commands.report\n"
              "assert 'torch' not in sys.modules, 'torch was imported'\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_report_of_a_trained_model_folder(trained_model, folders, tmp_path):
    result = run_module(*folders, "--out", tmp_path / "report", "--model", trained_model, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    page = parse_page(tmp_path / "report" / "index.html")
    png_size((tmp_path / "report" / report.TRAINING_FIGURE).read_bytes())
    assert len(page.images) == len(report.FIGURE_FILES) + 1
    # One out-of-fold row per lead set the model was tuned for, 12 leads first.
    rows = table_dict(page.tables["out-of-fold"])
    assert list(rows)[0] == "12 leads" and "2 leads: I, II" in rows and len(rows) == 5
    assert len({row[0] for row in rows.values()}) == 1 and int(next(iter(rows.values()))[0]) > 0
    assert all(row[-1].count("[") == 1 for row in rows.values())  # every lead set's expected score and interval


def test_the_calibration_section_shows_the_reliability_and_its_error():
    from ecgnet.calibration import expected_calibration_error
    from ecgnet.report import reliability_figure

    rng = np.random.default_rng(0)
    labels = rng.random((300, 26)) < 0.1
    scalars = np.clip(labels * 0.7 + rng.random((300, 26)) * 0.3, 0, 1)
    evaluation = SimpleNamespace(labels=labels, scalars=scalars)
    figure = reliability_figure(evaluation)
    ece = expected_calibration_error(labels, scalars)
    assert f"{ece:.4f}" in figure.axes[0].get_title() and 0 < ece < 1


# Selective prediction.
def _one_hot(*names: str) -> np.ndarray:
    row = np.zeros(len(TABLE), dtype=bool)
    row[[TABLE.abbreviations.index(name) for name in names]] = True
    return row


def test_deferral_order_defers_the_most_uncertain_first_and_unknowns_last():
    np.testing.assert_array_equal(report.deferral_order(np.array([0.1, 0.2, 5.0, np.nan])), [2, 1, 0, 3])
    np.testing.assert_array_equal(report.deferral_order(np.array([1.0, 1.0, 2.0])), [2, 0, 1])  # ties: record order


def test_selective_curve_on_a_hand_case():
    """Four records, one of them wrong and the most uncertain: deferring it makes the rest perfect; keeping all
    gives the plain scores, for the random baseline too; the record without an uncertainty is kept last."""
    labels = np.array([_one_hot("AF"), _one_hot("NSR"), _one_hot("AF"), _one_hot("IAVB", "NSR")])
    binary = np.array([_one_hot("AF"), _one_hot("NSR"), _one_hot("NSR"), _one_hot("IAVB", "NSR")])
    curve = report.selective_curve(labels, binary, np.array([0.1, 0.2, 5.0, np.nan]), TABLE, [4, 3, 1])
    plain = metric.challenge_metric(labels, binary, TABLE.weights, TABLE.sinus_rhythm_index)
    assert 0 < plain < 1
    np.testing.assert_allclose(curve.scores, [[plain, 0.75], [1.0, 1.0], [1.0, 1.0]])
    np.testing.assert_allclose(curve.random_mean[0], [plain, 0.75])
    np.testing.assert_allclose(curve.random_std[0], [0, 0], atol=1e-12)
    # Random orders average below the informed one once the wrong record can be deferred; seeded, so repeatable.
    assert curve.random_mean[1, 1] < 1.0
    again = report.selective_curve(labels, binary, np.array([0.1, 0.2, 5.0, np.nan]), TABLE, [4, 3, 1])
    np.testing.assert_array_equal(again.random_mean, curve.random_mean)


def _details_file(path: Path, rows: list[dict[str, str]], columns: Sequence[str]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)


def test_the_selective_section_defers_by_details_csv(folders, tmp_path):
    labels_dir, outputs = folders
    copied = tmp_path / "outputs"
    shutil.copytree(outputs, copied)
    evaluation = report.load_evaluation(labels_dir, copied)
    wrong = (evaluation.labels != evaluation.binary).sum(axis=1)  # the more wrong classes, the less sure
    names = evaluation.record_ids
    rows = [{"record": name, "review": str(int(k < 3)), "uncertainty": str(float(w))}
            for k, (name, w) in enumerate(zip(names, wrong)) if name != names[-1]]  # the last one has no row
    rows.append({"record": "NOT_SCORED", "review": "1", "uncertainty": "99"})  # ignored
    _details_file(copied / "details.csv", rows, ["record", "review", "uncertainty"])
    section = report.selective_section(evaluation, copied)
    assert isinstance(section, report.SelectiveSection)
    assert section.flagged == 3 and section.with_details == len(names) - 1
    curve = section.curve
    assert curve.kept[0] == len(names) and curve.scores[0, 0] == pytest.approx(evaluation.scores.challenge_metric)
    # Half kept: the record without a row, then the least wrong others.
    half = int(np.flatnonzero(curve.kept == len(names) // 2)[0])
    kept = report.deferral_order(np.append(wrong[:-1], np.nan))[len(names) - len(names) // 2:]
    assert len(names) - 1 in kept
    assert curve.scores[half, 0] == pytest.approx(metric.challenge_metric(
        evaluation.labels[kept], evaluation.binary[kept], TABLE.weights, TABLE.sinus_rhythm_index))
    np.testing.assert_array_equal(section.unflagged.kept, [len(names) - 3])
    # The page: figure and table, 100 % first with the overall score.
    index = report.build_report(labels_dir, copied, tmp_path / "report")
    page = parse_page(index)
    assert (index.parent / report.SELECTIVE_FIGURE).is_file() and len(page.images) == len(report.FIGURE_FILES) + 1
    table = table_dict(page.tables["selective"])
    assert list(table)[:5] == ["100 %", "90 %", "80 %", "70 %", "50 %"] and list(table)[5].startswith("not flagged")
    assert table["100 %"][:2] == [str(len(names)), report.format_score(evaluation.scores.challenge_metric)]


def test_without_details_the_selective_section_says_why(built, folders, tmp_path):
    text = built.read_text()
    assert '<p class="note" id="selective">No details.csv in the outputs folder' in text
    assert not (built.parent / report.SELECTIVE_FIGURE).exists()
    copied = tmp_path / "outputs"
    shutil.copytree(folders[1], copied)
    _details_file(copied / "details.csv", [{"record": "E07500", "review": "1"}], ["record", "review"])
    evaluation = report.load_evaluation(folders[0], copied)
    assert "no uncertainty column" in report.selective_section(evaluation, copied)


def test_the_calibration_is_undone_per_lead_set_from_the_model_folder(tmp_path):
    from ecgnet.calibration import Calibration

    codes = list(reversed(TABLE.codes))  # the model's class order need not be the table's
    twelve = Calibration(np.linspace(0.5, 2.0, len(codes)), np.linspace(-1.0, 1.0, len(codes)))
    two = Calibration(np.full(len(codes), 3.0), np.zeros(len(codes)))
    _model_description(tmp_path, codes, {",".join(STANDARD_LEADS): twelve, "I,II": two})
    raw = np.random.default_rng(0).uniform(0.01, 0.99, size=(3, len(TABLE)))
    leads = [STANDARD_LEADS, ("I", "II"), ("I", "II", "V2")]  # 3 leads: served by the closest set, I,II
    order = [codes.index(code) for code in TABLE.codes]  # model column of each table column
    calibrated = np.array([
        twelve.apply(raw[0][np.argsort(order)])[order], two.apply(raw[1]), two.apply(raw[2])])
    evaluation = SimpleNamespace(table=TABLE, leads=leads, scalars=calibrated)
    np.testing.assert_allclose(report.uncalibrated_scalars(evaluation, tmp_path), raw, rtol=1e-9)
    _model_description(tmp_path, codes, None)
    assert report.uncalibrated_scalars(evaluation, tmp_path) is None


def _model_description(folder, codes, calibrations):
    """model.json as training writes it, with these calibrations (None: an uncalibrated model)."""
    from ecgnet.artifacts import save_model_description
    from ecgnet.config import RunConfig
    from ecgnet.decision import Decision

    thresholds = {"I,II": np.full(len(codes), 0.5)}
    labels = [TABLE.labels[TABLE.index_of(code)] for code in codes]
    save_model_description(folder, RunConfig(), codes, labels, 1, Decision(codes, thresholds,
                                                                           calibrations=calibrations))


# What the report reads of a model folder.
def test_a_folder_without_model_json_or_summary_has_neither(tmp_path):
    assert model_folder.read_decision(tmp_path) is None
    assert model_folder.read_summary(tmp_path) is None
    assert model_folder.training_log_path(tmp_path) == tmp_path / "training_log.csv"


def test_the_summary_is_read_per_lead_set(model_dir, tmp_path):
    summary = model_folder.read_summary(model_dir)
    assert summary.validation == "stratified"
    assert [name for name, _ in summary.out_of_fold] == [",".join(STANDARD_LEADS), "I,II"]
    assert summary.out_of_fold[1][1]["challenge_metric"] == 0.3111
    # What is not a JSON object has no scores; a summary without a validation says n/a.
    (tmp_path / "summary.json").write_text('{"out_of_fold": {"I,II": [1, 2]}}')
    assert model_folder.read_summary(tmp_path) == model_folder.Summary("n/a", [("I,II", {})])
    (tmp_path / "summary.json").write_text("[]")
    assert model_folder.read_summary(tmp_path) == model_folder.Summary("n/a", [])


def test_a_malformed_calibration_names_the_file_and_lead_set(tmp_path):
    from ecgnet.artifacts import ModelFolderError

    codes = TABLE.codes[:2]
    _model_description(tmp_path, codes, None)
    description = json.loads((tmp_path / "model.json").read_text())
    description["calibration"] = {"I,II": {"scale": [1.0], "shift": [0.0, 0.0]}}
    (tmp_path / "model.json").write_text(json.dumps(description))
    with pytest.raises(ModelFolderError, match="calibration for I,II") as raised:
        model_folder.read_decision(tmp_path)
    assert str(tmp_path / "model.json") in str(raised.value)


# What a reader sees: classes without curves folded into one line, numbers in the confusion matrix, a glossary.
def _curve(positives: int, negatives: int) -> report.Curve:
    labels = np.array([True] * positives + [False] * negatives)
    return report.class_curve(labels, np.linspace(0, 1, labels.size))


def test_classes_without_positives_or_negatives_get_no_panel_and_are_named_in_one_line():
    curves = [_curve(3, 5), _curve(0, 8), _curve(8, 0), _curve(1, 7), _curve(0, 8)]
    names = ["AF", "IAVB", "NSR", "SB", "RAD"]
    roc = report.curve_panels(curves, names, "roc")
    assert roc.shown == [0, 3]
    assert roc.folded == ("No curve for the 2 classes without a positive record here: IAVB, RAD; "
                          "nor for the 1 class that every record has: NSR.")
    pr = report.curve_panels(curves, names, "pr")  # precision and recall need no negatives
    assert pr.shown == [0, 2, 3]
    assert pr.folded == "No curve for the 2 classes without a positive record here: IAVB, RAD."
    assert report.curve_panels(curves[:1], names[:1], "roc") == report.Panels([0], "")


def test_the_curve_figures_draw_only_classes_with_positives(folders):
    evaluation = report.load_evaluation(*folders)
    curves = report.class_curves(evaluation)
    positives = evaluation.scores.class_positives
    with_positives = [name for name, n in zip(TABLE.abbreviations, positives) if n > 0]
    without = [name for name, n in zip(TABLE.abbreviations, positives) if n == 0]
    assert with_positives and without  # both kinds, or the test tells nothing
    for figure in (report.roc_figure(evaluation, curves), report.pr_figure(evaluation, curves)):
        drawn = [ax.get_title().split(" (")[0] for ax in figure.axes if ax.get_visible()]
        assert drawn == with_positives
        notes = [text.get_text().replace("\n", " ") for text in figure.texts]
        assert any(note.startswith(f"No curve for the {len(without)} classes") and note.endswith(
            ", ".join(without) + ".") for note in notes), notes


def test_the_page_names_the_classes_without_curves_once_per_figure(built, folders):
    text = built.read_text()
    expected = metric.evaluate_folders(*folders)
    without = [name for name, n in zip(TABLE.abbreviations, expected.class_positives) if n == 0]
    for note_id in ("roc-left-out", "pr-left-out"):
        line = re.search(rf'<p class="note" id="{note_id}">([^<]*)</p>', text).group(1)
        assert line.endswith(": " + ", ".join(without) + ".") and "&#x27;" not in line


def test_cell_text():
    assert [report.cell_text(v) for v in (0.0, 1.0, 12.0, 0.5, 1 / 3, 1 / 12, 2.25, 12.5, 137.2)] == [
        "", "1", "12", "0.5", "0.33", "0.083", "2.2", "12", "137"]


def test_the_confusion_matrix_prints_every_cell_and_colours_each_row_by_its_shares():
    """Three records over the table's classes: the classes neither labelled nor output are left out, each kept
    cell holds the metric's value, the colour is the share of its row."""
    labels = np.array([_one_hot("NSR"), _one_hot("NSR"), _one_hot("AF", "STach")])
    binary = np.array([_one_hot("NSR"), _one_hot("SB"), _one_hot("AF")])
    evaluation = SimpleNamespace(labels=labels, binary=binary, scores=SimpleNamespace(
        class_abbreviations=tuple(TABLE.abbreviations)))
    cells = report.confusion_cells(evaluation)
    assert cells.names == [name for name in TABLE.abbreviations if name in ("AF", "NSR", "SB", "STach")]
    assert set(cells.left_out) == set(TABLE.abbreviations) - set(cells.names) and len(cells.left_out) == 22
    full = metric.modified_confusion_matrix(labels, binary)
    kept = [TABLE.abbreviations.index(name) for name in cells.names]
    np.testing.assert_allclose(cells.matrix, full[np.ix_(kept, kept)])
    at = {name: i for i, name in enumerate(cells.names)}
    # NSR: one record right (1), one called SB (1/2: n counts NSR and SB); AF + STach called AF: 1/2 each.
    assert cells.texts[at["NSR"]][at["NSR"]] == "1" and cells.texts[at["NSR"]][at["SB"]] == "0.5"
    assert cells.texts[at["AF"]][at["AF"]] == "0.5" and cells.texts[at["STach"]][at["AF"]] == "0.5"
    assert cells.texts[at["SB"]] == ["", "", "", ""]  # never labelled: an empty row, shares 0
    np.testing.assert_allclose(cells.shares[at["NSR"]][[at["NSR"], at["SB"]]], [2 / 3, 1 / 3])
    np.testing.assert_allclose(cells.shares.sum(axis=1), [1.0 if row.any() else 0.0 for row in cells.matrix])
    # The figure prints exactly those numbers, each in its cell, and names what it left out.
    figure = report.confusion_figure(evaluation)
    printed = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in figure.axes[0].texts}
    assert printed == {(j, k): text for j, row in enumerate(cells.texts) for k, text in enumerate(row) if text}
    image = figure.axes[0].images[0]
    np.testing.assert_allclose(image.get_array(), cells.shares)
    assert image.get_clim() == (0, 1)
    assert figure.get_supxlabel().replace("\n", " ").startswith("Left out, neither labelled nor output here: AFL")


def test_the_page_explains_every_score_and_the_confusion_matrix(built):
    page = parse_page(built)
    glossary = table_dict(page.tables["glossary"])
    overall = table_dict(page.tables["overall"])
    for score in ("Challenge metric", "AUROC", "AUPRC", "F-measure", "Accuracy", "ECE", "Expected on new records"):
        assert len(glossary[score][0]) > 80, score
    assert set(overall) - {"Records"} <= set(glossary)
    text = built.read_text()
    assert '<p class="note" id="confusion-note">' in text and "share of its row" in text
    assert "taken at its word" in text  # calibration in plain words
