"""Tests of ecgnet.metric: hand-computed cases, file loading, and agreement with a loop reference.

The ``reference_*`` functions (bench/reference_metric.py, shared with the benchmarks) are a deliberately plain,
loop-by-loop reading of the Challenge 2021 scoring rules, as the official evaluator computes them (pure Python on
lists, no numpy in the scoring). They are the reference the vectorised code is checked against here.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from bench.reference_metric import (
    reference_confusion,
    reference_scores,
)
from ecgnet import metric
from ecgnet.labels import default_class_table
from ecgnet.outputs import format_outputs

NAN = float("nan")
TABLE = default_class_table()
LBBB = TABLE.index_of("733534002")  # the class 733534002|164909002
SNR = TABLE.index_of("426783006")


def scores_dict(scores: metric.Scores) -> dict[str, object]:
    """A :class:`metric.Scores` as the dictionary :func:`reference_scores` returns."""
    values: dict[str, object] = dict(zip(metric.SCORE_NAMES, scores.macro))
    values["class AUROC"] = scores.class_auroc
    values["class AUPRC"] = scores.class_auprc
    values["class F-measure"] = scores.class_f_measure
    return values


def vectorised_scores(labels, binary, scalars, table=TABLE) -> dict[str, object]:
    """ecgnet.metric.evaluate's scores, for comparison with :func:`reference_scores`."""
    return scores_dict(metric.evaluate(labels, binary, scalars, table))


def assert_same_scores(a: dict[str, object], b: dict[str, object], tolerance: float = 1e-9) -> None:
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(
            np.asarray(a[name], float), np.asarray(b[name], float), rtol=0, atol=tolerance, equal_nan=True, err_msg=name
        )


# AUROC and AUPRC, by hand.
def test_auc_hand_computed():
    # outputs 0.9 (pos), 0.8 (neg), 0.4 (pos), 0.1 (neg); thresholds 1.9, 0.9, 0.8, 0.4, 0.1
    #   TP 0 1 1 2 2, FP 0 0 1 1 2 -> TPR 0 .5 .5 1 1, TNR 1 1 .5 .5 0, PPV nan 1 .5 2/3 .5
    # AUROC = .5*.5*(1+1) + 0 + .5*.5*(.5+.5) + 0 = .5 + .25 = .75
    # AUPRC = .5*1 + 0 + .5*(2/3) + 0 = .5 + 1/3
    macro_auroc, macro_auprc, auroc, auprc = metric.compute_auc([[1], [0], [1], [0]], [[0.9], [0.8], [0.4], [0.1]])
    assert auroc[0] == pytest.approx(0.75, abs=1e-12)
    assert auprc[0] == pytest.approx(0.5 + 1 / 3, abs=1e-12)
    assert (macro_auroc, macro_auprc) == (auroc[0], auprc[0])


def test_auc_with_tied_outputs():
    # outputs 0.5 (pos), 0.5 (neg), 0.2 (pos); thresholds 1.5, 0.5, 0.2
    #   TP 0 1 2, FP 0 1 1 -> TPR 0 .5 1, TNR 1 0 0, PPV nan .5 2/3
    # AUROC = .5*.5*(0+1) + .5*.5*(0+0) = .25;  AUPRC = .5*.5 + .5*(2/3) = .25 + 1/3
    _, _, auroc, auprc = metric.compute_auc([[1], [0], [1]], [[0.5], [0.5], [0.2]])
    assert auroc[0] == pytest.approx(0.25, abs=1e-12)
    assert auprc[0] == pytest.approx(0.25 + 1 / 3, abs=1e-12)


def test_class_without_positives_is_nan_and_left_out_of_the_macro():
    # class 0 as in test_auc_hand_computed (AUROC .75, AUPRC .5 + 1/3); class 1 has no positives: TPR is
    # 0/0 at every threshold, so both of its areas are NaN and the macro values are class 0's alone.
    labels = [[1, 0], [0, 0], [1, 0], [0, 0]]
    scalars = [[0.9, 0.3], [0.8, 0.2], [0.4, 0.1], [0.1, 0.0]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning may escape
        macro_auroc, macro_auprc, auroc, auprc = metric.compute_auc(labels, scalars)
    assert np.isnan(auroc[1]) and np.isnan(auprc[1])
    assert macro_auroc == pytest.approx(0.75) and macro_auprc == pytest.approx(0.5 + 1 / 3)


def test_class_with_only_positives_has_auprc_but_no_auroc():
    # outputs 0.3, 0.7, both positive; thresholds 1.7, 0.7, 0.3: TPR 0 .5 1, PPV nan 1 1, TNR 0/0 = NaN
    # AUPRC = .5*1 + .5*1 = 1; AUROC NaN
    _, _, auroc, auprc = metric.compute_auc([[1], [1]], [[0.3], [0.7]])
    assert np.isnan(auroc[0]) and auprc[0] == pytest.approx(1.0)


def test_macro_of_all_nan_is_nan_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        macro_auroc, macro_auprc, _, _ = metric.compute_auc(np.zeros((3, 2), bool), np.ones((3, 2)))
        macro_f, _ = metric.compute_f_measure(np.zeros((3, 2), bool), np.zeros((3, 2), bool))
    assert np.isnan(macro_auroc) and np.isnan(macro_auprc) and np.isnan(macro_f)


def test_non_finite_scalars_count_as_zero():
    # NaN and inf become 0, so the outputs are those of labels [1, 0, 0] with [0.5, 0, 0]: a perfect ranking.
    _, _, auroc, _ = metric.compute_auc([[1], [0], [0]], [[0.5], [NAN], [np.inf]])
    assert auroc[0] == 1.0


def test_no_records_gives_nan():
    macro_auroc, _, auroc, _ = metric.compute_auc(np.zeros((0, 3), bool), np.zeros((0, 3)))
    assert np.isnan(macro_auroc) and auroc.shape == (3,)
    assert np.isnan(metric.compute_accuracy(np.zeros((0, 3), bool), np.zeros((0, 3), bool)))


def test_shapes_must_match():
    with pytest.raises(ValueError, match="same shape"):
        metric.compute_f_measure(np.zeros((2, 3), bool), np.zeros((3, 2), bool))


# Scores on binary outputs, by hand.
def test_accuracy_hand_computed():
    # rows 1 and 3 equal their labels, row 2 misses class 1: 2 of 3
    labels = [[1, 0], [0, 1], [1, 1]]
    binary = [[1, 0], [0, 0], [1, 1]]
    assert metric.compute_accuracy(labels, binary) == pytest.approx(2 / 3)


def test_f_measure_hand_computed():
    # class 0: TP 2, FP 0, FN 0 -> 4/4 = 1;  class 1: TP 1, FP 0, FN 1 -> 2/3
    # class 2: never labelled or output -> 0/0 = NaN, so macro = (1 + 2/3) / 2 = 5/6
    labels = [[1, 0, 0], [0, 1, 0], [1, 1, 0]]
    binary = [[1, 0, 0], [0, 0, 0], [1, 1, 0]]
    macro, per_class = metric.compute_f_measure(labels, binary)
    np.testing.assert_allclose(per_class, [1.0, 2 / 3, NAN], equal_nan=True)
    assert macro == pytest.approx(5 / 6)


def test_modified_confusion_matrix_hand_computed():
    # record 1: labels {0}, outputs {0, 1} -> n = 2: A[0,0] += .5, A[0,1] += .5
    # record 2: labels {1, 2}, outputs {2} -> n = 2: A[1,2] += .5, A[2,2] += .5
    # record 3: nothing; record 4: labels {0}, no output -> nothing added
    labels = [[1, 0, 0], [0, 1, 1], [0, 0, 0], [1, 0, 0]]
    binary = [[1, 1, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0]]
    expected = [[0.5, 0.5, 0.0], [0.0, 0.0, 0.5], [0.0, 0.0, 0.5]]
    np.testing.assert_allclose(metric.modified_confusion_matrix(labels, binary), expected)


def test_challenge_metric_hand_computed():
    # Two classes, class 1 = sinus rhythm, W = [[1, .5], [.5, 1]]. Labels {0}, {1}; outputs {0, 1}, {1}.
    # observed: rec 1 n=2 -> A[0,0]=A[0,1]=.5; rec 2 -> A[1,1]=1: 1*.5 + .5*.5 + 1*1 = 1.75
    # correct (labels as outputs): A[0,0]=1, A[1,1]=1: 2
    # sinus only: rec 1 outputs {1}, n=|{0,1}|=2 -> A[0,1]=.5; rec 2 -> A[1,1]=1: .5*.5 + 1 = 1.25
    # normalised: (1.75 - 1.25) / (2 - 1.25) = 2/3
    weights = np.array([[1.0, 0.5], [0.5, 1.0]])
    labels = [[1, 0], [0, 1]]
    binary = [[1, 1], [0, 1]]
    assert metric.challenge_metric(labels, binary, weights, 1) == pytest.approx(2 / 3)
    # labels that are sinus rhythm only: correct == sinus-only score, the normalisation is undefined -> 0
    assert metric.challenge_metric([[0, 1]], [[1, 0]], weights, 1) == 0.0
    with pytest.raises(ValueError, match="sinus"):
        metric.challenge_metric(labels, binary, weights, None)


def test_challenge_metric_is_one_for_the_labels_and_zero_for_sinus_rhythm():
    rng = np.random.default_rng(3)
    labels = rng.random((40, len(TABLE))) < 0.15
    sinus_only = np.zeros_like(labels)
    sinus_only[:, SNR] = True
    assert metric.challenge_metric(labels, labels, TABLE.weights, SNR) == pytest.approx(1.0)
    assert metric.challenge_metric(labels, sinus_only, TABLE.weights, SNR) == pytest.approx(0.0, abs=1e-12)


# The vectorised scores against the loop reference.
def random_case(seed: int, num_records: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, binary and scalar outputs with ties, empty classes and empty rows."""
    rng = np.random.default_rng(seed)
    num_classes = len(TABLE)
    prevalence = rng.uniform(0.0, 0.4, num_classes)
    prevalence[rng.choice(num_classes, 3, replace=False)] = 0.0  # classes with no positives
    labels = rng.random((num_records, num_classes)) < prevalence
    scalars = np.clip(0.35 * labels + rng.random((num_records, num_classes)) * 0.65, 0, 1)
    scalars = np.round(scalars, int(rng.integers(1, 3)))  # 1 or 2 decimals: many ties
    binary = scalars >= 0.5
    binary[rng.random(num_records) < 0.2] = False  # records with no output class
    return labels, binary, scalars


@pytest.mark.parametrize("seed", range(6))
def test_vectorised_scores_match_the_loop_reference(seed):
    labels, binary, scalars = random_case(seed, num_records=40 + 37 * seed)
    reference = reference_scores(labels, binary, scalars, TABLE.weights, SNR)
    assert_same_scores(vectorised_scores(labels, binary, scalars), reference)
    assert np.isnan(reference["class AUROC"]).sum() >= 3  # the empty classes really were exercised


def test_confusion_matrix_matches_the_loop_reference():
    labels, binary, _ = random_case(11, num_records=120)
    expected = reference_confusion(labels.tolist(), binary.tolist())
    np.testing.assert_allclose(metric.modified_confusion_matrix(labels, binary), expected, rtol=0, atol=1e-12)


def test_a_class_with_only_positives_matches_the_loop_reference():
    labels, binary, scalars = random_case(5, num_records=30)
    labels[:, 4] = True
    reference = reference_scores(labels, binary, scalars, TABLE.weights, SNR)
    assert np.isnan(reference["class AUROC"][4]) and not np.isnan(reference["class AUPRC"][4])
    assert_same_scores(vectorised_scores(labels, binary, scalars), reference)


# Reading labels and outputs.
def write_header(directory: Path, record_id: str, dx: str, comment_prefix: str = "#") -> Path:
    path = directory / f"{record_id}.hea"
    path.write_text(
        f"{record_id} 1 500 5000\n{record_id}.mat 16 1000/mV 16 0 0 0 0 I\n"
        f"{comment_prefix}Age: 50\n{comment_prefix}Sex: Male\n{comment_prefix}Dx: {dx}\n"
    )
    return path


def write_output(directory: Path, record_id: str, classes: str, binary: str, scalars: str) -> Path:
    path = directory / f"{record_id}.csv"
    path.write_text(f"#{record_id}\n{classes}\n{binary}\n{scalars}\n")
    return path


def test_load_labels_reads_equivalent_codes_and_spaced_dx(tmp_path):
    files = [
        write_header(tmp_path, "R1", "164909002,426783006"),  # 164909002 is the second code of CLBBB|LBBB
        write_header(tmp_path, "R2", "733534002, 999999", comment_prefix="# "),  # '# Dx:', an unscored code
        write_header(tmp_path, "R3", ""),
    ]
    labels = metric.load_labels(files, TABLE)
    assert labels.shape == (3, len(TABLE)) and labels.dtype == bool
    assert set(np.flatnonzero(labels[0])) == {LBBB, SNR}
    assert set(np.flatnonzero(labels[1])) == {LBBB}
    assert not labels[2].any()


def test_load_outputs_merges_equivalent_codes_in_any_order(tmp_path):
    # CLBBB|LBBB listed twice (164909002 and 733534002), reordered; 999999 is not scored.
    path = write_output(tmp_path, "R1", "164909002,426783006,999999,733534002", "0,1,1,1", "0.2,0.9,0.7,0.6")
    binary, scalars = metric.load_outputs([path], TABLE)
    assert set(np.flatnonzero(binary[0])) == {LBBB, SNR}  # positive when any equivalent entry is
    assert scalars[0, LBBB] == pytest.approx((0.2 + 0.6) / 2)  # mean of the equivalent entries
    assert scalars[0, SNR] == pytest.approx(0.9)
    others = np.ones(len(TABLE), bool)
    others[[LBBB, SNR]] = False
    assert not binary[0, others].any() and not scalars[0, others].any()  # unmentioned classes are 0


def test_load_outputs_treats_garbage_as_negative_and_zero(tmp_path):
    codes = ["164889003", "164890007", "6374002", "426627000", "270492004", "426783006"]
    path = write_output(tmp_path, "R1", ",".join(codes), "True,t,1.0,yes,nan,2", "nan,inf,abc,,-inf,0.25")
    binary, scalars = metric.load_outputs([path], TABLE)
    columns = [TABLE.index_of(c) for c in codes]
    assert binary[0, columns].tolist() == [True, True, True, False, False, False]  # '1.0' is a number equal to 1

    assert scalars[0, columns].tolist() == [0.0, 0.0, 0.0, 0.0, 0.0, 0.25]


def test_load_outputs_mean_counts_a_garbage_equivalent_as_zero(tmp_path):
    # entries for 733534002 'nan' and 164909002 '0.8': (0 + 0.8) / 2
    path = write_output(tmp_path, "R1", "733534002,164909002", "0,0", "nan,0.8")
    _, scalars = metric.load_outputs([path], TABLE)
    assert scalars[0, LBBB] == pytest.approx(0.4)


def test_load_outputs_rejects_lines_of_different_length(tmp_path):
    path = write_output(tmp_path, "R1", "164889003,164890007", "1", "0.5,0.2")
    with pytest.raises(ValueError, match="R1.csv"):
        metric.load_outputs([path], TABLE)


# Parity with the official evaluator, case by case: each output file below is one the official evaluator reads;
# ``official_reading`` does what it does, entry by entry, independently of ecgnet.metric.
def official_reading(path: Path, table=TABLE) -> tuple[np.ndarray, np.ndarray]:
    """One output file read the official way: lines as a text-mode file yields them, entries stripped, a column
    a set of the codes split on '|', a class positive when any column sharing a code with it is a finite number
    equal to 1 or one of True/true/T/t, its scalar the mean of those columns' finite numbers (anything else 0)."""
    lines = path.read_text().split("\n")  # read_text ends lines at \n, \r\n and \r only, as a text-mode file does
    columns = [set(entry.strip().split("|")) for entry in lines[1].split(",")]
    binary_entries = [entry.strip() for entry in lines[2].split(",")]
    scalar_entries = [entry.strip() for entry in lines[3].split(",")]
    binary, scalars = np.zeros(len(table), bool), np.zeros(len(table))
    for j, scored in enumerate(table.classes):
        hits = [k for k, codes in enumerate(columns) if codes & set(scored.codes)]
        if hits:
            binary[j] = any(_official_positive(binary_entries[k]) for k in hits)
            values = []
            for k in hits:
                try:
                    value = float(scalar_entries[k])
                except ValueError:
                    value = 0.0
                values.append(value if math.isfinite(value) else 0.0)
            scalars[j] = np.mean(values)
    return binary, scalars


def _official_positive(entry: str) -> bool:
    """The official test, spelt out: ``(is_finite_number(entry) and float(entry)==1) or entry in (...)``."""
    try:
        number = float(entry)
    except ValueError:
        number = math.nan
    return (math.isfinite(number) and number == 1) or entry in ("True", "true", "T", "t")


PARITY_CASES = {
    "a|b column, as weights.csv writes an equivalent pair": ("733534002|164909002,426783006", "1,0", "0.8,0.3"),
    "a|b column naming two different classes": ("164889003|426783006,6374002", "1,0", "0.6,0.1"),
    "equivalent codes listed separately": ("733534002,164909002", "0,1", "0.2,0.6"),
    "equivalent codes together and separately": ("733534002|164909002,164909002", "0,0", "0.2,0.6"),
    "spaces inside a|b name no class": ("733534002 | 164909002,426783006", "1,1", "0.8,0.3"),
    "reordered columns": ("426783006,164889003,6374002", "1,0,1", "0.9,0.1,0.7"),
    "duplicated column": ("164889003,164889003", "0,T", "0.4,0.9"),
    "odd binary entries": ("164889003,164890007,6374002,426627000", "1.0,true,yes,t", "1,1,1,1"),
    "numbers equal to 1": ("164889003,164890007,6374002,426627000,270492004", "1e0,+1,1.,01, 1.0 ", "1,1,1,1,1"),
    "numbers not quite 1": ("164889003,164890007,6374002,426627000,270492004", "1.00000001,0.99,2,-1,1e400",
                            "1,1,1,1,1"),
    "a form feed inside a line": ("164889003,426783006", "1\x0c,\x0b0", "0.9,0.2"),
    "odd scalar entries": ("164889003,164890007,6374002,426627000", "1,1,1,1", "nan,inf, 0.5 ,1e400"),
    "entries beyond the class line": ("164889003", "1,0,1", "0.9,0.2,0.3"),
    "an unscored column without entries": ("164889003,999999", "1", "0.9"),
    "Windows line ends": ("164889003,426783006\r", "1,0\r", "0.9,0.2\r"),
}


@pytest.mark.parametrize("case", list(PARITY_CASES))
def test_output_files_are_read_as_the_official_evaluator_reads_them(tmp_path, case):
    classes, binary, scalars = PARITY_CASES[case]
    path = write_output(tmp_path, "R1", classes, binary, scalars)
    expected_binary, expected_scalars = official_reading(path)
    got_binary, got_scalars = metric.load_outputs([path], TABLE)
    np.testing.assert_array_equal(got_binary[0], expected_binary)
    np.testing.assert_allclose(got_scalars[0], expected_scalars, rtol=0, atol=1e-15)


def test_a_scored_column_without_its_entries_is_one_error_naming_the_file(tmp_path):
    """The official evaluator stops with an IndexError here."""
    path = write_output(tmp_path, "R1", "999999,164889003", "1", "0.9")
    with pytest.raises(ValueError, match=r"R1\.csv: 2 classes but 1 labels and 1 probabilities"):
        metric.load_outputs([path], TABLE)


def test_labels_come_from_every_dx_line(tmp_path):
    path = write_header(tmp_path, "R1", "164889003")
    path.write_text(path.read_text().replace("\n", "\r\n") + "#Dx: 426783006\r\n")
    assert set(np.flatnonzero(metric.load_labels([path], TABLE)[0])) == {TABLE.index_of("164889003"), SNR}


def test_evaluate_folders_names_the_missing_output_file(tmp_path):
    labels, outputs = tmp_path / "labels", tmp_path / "outputs"
    labels.mkdir()
    outputs.mkdir()
    write_header(labels, "R1", "426783006")
    write_header(labels, "R2", "426783006")
    write_output(outputs, "R1", "426783006", "1", "0.9")
    with pytest.raises(FileNotFoundError, match=r"R2\.csv"):
        metric.evaluate_folders(labels, outputs)


def test_evaluate_folders_on_written_files(tmp_path):
    # R1: LBBB (by its second code) + sinus rhythm; R2: sinus rhythm only.
    # Outputs: R1 lists LBBB's codes separately (positive, 0.8 and 0.6) and sinus rhythm (0.3, negative);
    # R2 gives sinus rhythm (0.7, positive).
    labels, outputs = tmp_path / "labels", tmp_path / "outputs"
    labels.mkdir()
    outputs.mkdir()
    write_header(labels, "R1", "164909002,426783006")
    write_header(labels, "R2", "426783006", comment_prefix="# ")
    write_output(outputs, "R1", "733534002,426783006,164909002", "1,0,0", "0.8,0.3,0.6")
    write_output(outputs, "R2", "426783006", "1", "0.7")
    scores = metric.evaluate_folders(labels, outputs)
    assert scores.num_records == 2
    # R1's row misses sinus rhythm, R2's is right: accuracy 1/2
    assert scores.accuracy == pytest.approx(0.5)
    # LBBB: one positive (0.7 = mean of .8, .6), one negative (0): AUROC 1; SNR both positive: AUROC NaN
    assert scores.class_auroc[LBBB] == pytest.approx(1.0) and np.isnan(scores.class_auroc[SNR])
    # F: LBBB TP 1 -> 1; SNR TP 1, FN 1 -> 2/3; every other class NaN
    assert scores.class_f_measure[LBBB] == 1.0 and scores.class_f_measure[SNR] == pytest.approx(2 / 3)
    assert scores.f_measure == pytest.approx(5 / 6)
    assert scores.class_positives[SNR] == 2


def test_evaluate_folders_with_a_weights_file(tmp_path):
    # A two-class table: LBBB (two codes) and sinus rhythm. R1 is LBBB, R2 sinus rhythm; the outputs are right.
    weights = tmp_path / "weights.csv"
    weights.write_text(",733534002|164909002,426783006\n733534002|164909002,1,0.5\n426783006,0.5,1\n")
    labels, outputs = tmp_path / "labels", tmp_path / "outputs"
    labels.mkdir()
    outputs.mkdir()
    write_header(labels, "R1", "164909002")
    write_header(labels, "R2", "426783006")
    write_output(outputs, "R1", "426783006,733534002", "0,1", "0.2,0.9")
    write_output(outputs, "R2", "426783006,733534002", "1,0", "0.8,0.1")
    scores = metric.evaluate_folders(labels, outputs, weights_file=weights)
    assert scores.class_labels == ("733534002|164909002", "426783006")
    assert scores.class_positives.tolist() == [1, 1]
    assert scores.macro == (1.0, 1.0, 1.0, 1.0, 1.0)


def test_end_to_end_on_real_headers(tmp_path, shared_data):
    for folder in ("cinc2021/reduced_leads/six_leads", "header_variants"):
        label_dir = shared_data / folder
        output_dir = tmp_path / folder.replace("/", "_")
        output_dir.mkdir()
        header_files = [Path(path) for path in metric.label_files(label_dir)]
        labels = metric.load_labels(header_files, TABLE)
        assert labels.any(axis=1).mean() > 0.9  # the Dx lines were read, '# Dx:' included
        # Outputs: the labels themselves, written with classes in reverse order and scalars 0.9 / 0.1.
        reverse = list(range(len(TABLE)))[::-1]
        for path, row in zip(header_files, labels):
            classes = [TABLE.codes[k] for k in reverse]
            text = format_outputs(path.stem, classes, row[reverse], np.where(row[reverse], 0.9, 0.1))
            (output_dir / f"{path.stem}.csv").write_text(text)
        scores = metric.evaluate_folders(label_dir, output_dir)
        assert scores.num_records == len(header_files)
        assert scores.accuracy == 1.0 and scores.challenge_metric == pytest.approx(1.0)
        assert scores.auroc == 1.0 and scores.f_measure == 1.0
        np.testing.assert_array_equal(scores.class_positives, labels.sum(axis=0))
