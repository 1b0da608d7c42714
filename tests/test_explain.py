"""Explanations: the command (ecgnet explain) writes valid pictures and tables for a record and for a folder."""

from __future__ import annotations

import csv
import json
import shutil

import matplotlib.image
import numpy as np
import pytest

from ecgnet import explain, inference
from ecgnet.commands import explain as explain_command
from ecgnet.records import STANDARD_LEADS, RecordError, read_record, standard_leads, write_record

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LONG_RECORD = "A1041"  # 17 s at 500 Hz: three windows of the small recipe, the last one end-aligned


def _check_png(path, size=None):
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4) and image.std() > 0
    if size is not None:
        assert abs(image.shape[1] - size[0]) <= 2 and abs(image.shape[0] - size[1]) <= 2
    return image


@pytest.mark.slow
def test_command_explains_the_classes_asked_for(trained_model, shared_data, tmp_path):
    header = shared_data / "cinc2021" / "training" / f"{LONG_RECORD}.hea"
    argv = [str(trained_model), str(header), "--out", str(tmp_path), "--steps", "4", "--classes", "af"]
    assert explain_command.main(argv) == 0
    document = json.loads((tmp_path / "explanation.json").read_text())
    ensemble = inference.load_ensemble(trained_model, "cpu")
    record = read_record(header)
    leads = standard_leads(record.header.leads)
    expected = inference.predict_record(ensemble, record.recording, record.header, leads)
    abbreviations = explain.class_abbreviations(ensemble.class_codes)
    got = np.array([document["probabilities"][a] for a in abbreviations])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    thresholds = ensemble.decision.for_lead_set(leads).thresholds
    assert document["predicted"] == [a for a, p, t in zip(abbreviations, expected, thresholds) if p >= t]
    assert document["explained"] == ["AF"] and document["leads"] == list(STANDARD_LEADS)
    assert document["method"]["steps"] == 4 and document["method"]["target"] == "logit"
    importance = document["lead_importance"]["AF"]
    assert sum(map(abs, importance.values())) == pytest.approx(1.0)  # signed shares of the net evidence
    contribution = document["lead_contribution"]["AF"]
    total = sum(map(abs, contribution.values()))
    assert all(importance[lead] == pytest.approx(contribution[lead] / total) for lead in STANDARD_LEADS)
    ranks = document["lead_rank"]["AF"]
    assert sorted(ranks.values()) == list(range(1, 13)) and ranks[max(importance, key=importance.get)] == 1
    assert sum(document["lead_share_of_abs_attribution"]["AF"].values()) == pytest.approx(1.0)
    assert document["method"]["edge_taper_seconds"] == 0.25
    assert document["measurements"].startswith("HR ") and "QRS" in document["measurements"]  # as on the page
    assert set(document["lead_quality"]) == set(STANDARD_LEADS)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["attribution_AF.png", "ecg.png"]
    _check_png(tmp_path / "attribution_AF.png")
    # 8 + 260 + 8 mm wide, 8 + 5 x 35 + 24 mm high, at 150 dpi.
    _check_png(tmp_path / "ecg.png", size=(276 / 25.4 * 150, 207 / 25.4 * 150))


@pytest.mark.slow
def test_command_explains_the_predicted_classes_of_a_two_lead_record(trained_model, shared_data, tmp_path):
    header = shared_data / "cinc2021" / "reduced_leads" / "two_leads" / "E07500.hea"
    assert explain_command.main([str(trained_model), str(header), "--out", str(tmp_path), "--steps", "2"]) == 0
    document = json.loads((tmp_path / "explanation.json").read_text())
    probabilities = np.array([c["probability"] for c in document["classes"]])
    thresholds = np.array([c["threshold"] for c in document["classes"]])
    abbreviations = [c["abbreviation"] for c in document["classes"]]
    predicted = [a for a, p, t in zip(abbreviations, probabilities, thresholds) if p >= t]
    assert document["predicted"] == predicted
    assert document["explained"] == (predicted or [abbreviations[int(np.argmax(probabilities))]])
    assert document["leads"] == ["I", "II"]
    for abbreviation in document["explained"]:
        importance = document["lead_importance"][abbreviation]
        assert all(importance[lead] == 0.0 for lead in STANDARD_LEADS[2:])
        assert abs(importance["I"]) + abs(importance["II"]) == pytest.approx(1.0)
        assert set(document["lead_rank"][abbreviation].values()) == {0, 1, 2}  # the absent leads are not ranked
        _check_png(tmp_path / f"attribution_{explain.file_label(abbreviation)}.png")
    _check_png(tmp_path / "ecg.png", size=(276 / 25.4 * 150, 172 / 25.4 * 150))


@pytest.mark.slow
def test_population_skips_a_broken_record(trained_model, shared_data, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    names = ["A0689", "E07500", "HR06000"]  # HR06000 is beyond --max-records; BROKEN is reported, never counted
    for name in names:
        source = next((shared_data / "cinc2021").rglob(f"{name}.hea"))
        shutil.copy(source, data)
        shutil.copy(source.with_suffix(".mat"), data)
    shutil.copy(data / "A0689.hea", data / "BROKEN.hea")  # a header whose recording is missing
    out = tmp_path / "out"
    argv = [str(trained_model), str(data), "--population", "--out", str(out), "--steps", "1", "--max-records", "2"]
    assert explain_command.main(argv) == 0
    skipped = [line for line in capsys.readouterr().err.splitlines() if "skipped" in line]
    assert len(skipped) == 1 and "BROKEN" in skipped[0] and skipped[0].startswith("ecgnet explain: skipped ")
    with open(out / "lead_importance.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    ensemble = inference.load_ensemble(trained_model, "cpu")
    assert [row["class"] for row in rows] == explain.class_abbreviations(ensemble.class_codes)
    assert list(rows[0]) == ["class", "code", "records", *STANDARD_LEADS]
    expected_counts = np.zeros(len(rows), dtype=int)
    for name in names[:2]:
        record = read_record(data / f"{name}.hea")
        leads = standard_leads(record.header.leads)
        probabilities = inference.predict_record(ensemble, record.recording, record.header, leads)
        expected_counts += ensemble.decision.for_lead_set(leads).decide(probabilities)
    assert [int(row["records"]) for row in rows] == list(expected_counts)
    for row in rows:
        values = [row[lead] for lead in STANDARD_LEADS]
        if int(row["records"]):  # a mean of signed shares whose magnitudes sum to 1 in each record
            assert 0 < sum(abs(float(v)) for v in values) <= 1.0 + 1e-4
        else:
            assert values == [""] * 12
    _check_png(out / "lead_importance.png")


def test_command_rejects_a_folder_without_population(tmp_path):
    model = tmp_path / "model"  # a model folder to look at (the MODEL argument is checked first)
    model.mkdir()
    (model / "model.json").write_text("{}")
    with pytest.raises(ValueError, match="--population"):
        explain_command.main([str(model), str(tmp_path), "--out", str(tmp_path / "out")])
    with pytest.raises(ValueError, match="--steps"):
        explain_command.main([str(model), str(tmp_path), "--out", str(tmp_path / "out"), "--steps", "0"])


def test_a_record_without_an_ecg_is_refused_not_explained(trained_model, tmp_path):
    header = write_record(tmp_path, "FLAT", np.zeros((12, 5000)), 500)
    ensemble = inference.load_ensemble(trained_model, "cpu")
    with pytest.raises(RecordError, match=r"FLAT\.hea: no ECG signal in any lead \(flat: I, II"):
        explain.explain_record(ensemble, header, steps=1)


@pytest.mark.slow
def test_the_ends_of_real_records_carry_no_more_attribution_than_their_middle(trained_model, shared_data):
    """Issue 24: the first and last 0.5 s of real records are never their heaviest, and weigh about what the
    middle's 0.5 s spans weigh; the end samples themselves get nothing. HR06003 opens on a recorder's hold
    that the old filter padding turned into a second-long dip, which drew the heaviest attribution."""
    ensemble = inference.load_ensemble(trained_model, "cpu")
    paths = [shared_data / "cinc2021" / "reduced_leads" / "twelve_leads" / "HR06003.hea",
             *sorted((shared_data / "cinc2021" / "training").glob("*.hea"))[:5]]
    rate = ensemble.config.signals.sample_rate
    span = int(0.5 * rate)
    ratios = []
    for path in paths:
        explanation = explain.explain_record(ensemble, path, steps=8)
        for attributions in explanation.attributions:
            magnitude = np.abs(attributions[explanation.lead_mask]).sum(axis=0)
            assert magnitude[0] == 0 and magnitude[-1] == 0
            # The middle's spans lie strictly between the first and last 0.5 s: none shares a sample with either
            # end (a span that overlapped the last one would compare the end with itself).
            inner = magnitude[span:-span]
            count = len(inner) // span
            middle = inner[: count * span].reshape(count, span).mean(axis=1)
            first, last = magnitude[:span].mean(), magnitude[-span:].mean()
            # "No larger than the middle" (issue 24), to float noise: HR06003's last 0.5 s and its heaviest middle span
            # weigh the same to 3e-5 relative.
            assert max(first, last) <= middle.max() * (1 + 1e-3), path.name
            ratios += [first / np.median(middle), last / np.median(middle)]
    assert np.median(ratios) <= 1.0
