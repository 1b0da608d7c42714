"""The Challenge scores by a loop reference: a deliberately plain, loop-by-loop reading of the Challenge 2021
scoring rules (as the official evaluator computes them; pure Python on lists, no numpy in the scoring).

The benchmarks' yardstick: ``bench.evaluate`` times ``ecgnet.metric`` against it, and
``bench.per_record_evaluator`` scores with it, and tests/test_metric.py checks ``ecgnet.metric`` against it (the
tests import it from here; the benchmarks import no tests).
"""

from __future__ import annotations

import math

import numpy as np

NAN = float("nan")


def _reference_mean(values: list[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return sum(kept) / len(kept) if kept else NAN


def _rate(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else NAN


def reference_class_auc(truth: list[bool], output: list[float]) -> tuple[float, float]:
    """AUROC and AUPRC of one class, step by step: every distinct output (and one above the largest) as a
    threshold, descending; trapezoids under (TPR, TNR) for AUROC, steps under (TPR, PPV) for AUPRC."""
    n = len(output)
    thresholds = sorted(set(output), reverse=True)
    thresholds.insert(0, thresholds[0] + 1)  # one value above the largest
    positives = sum(truth)
    negatives = n - positives
    # Thresholds descend, so the records with output >= threshold only ever grow: walk the records from the
    # highest output down and move each to the called-positive side once its output reaches the threshold.
    order = sorted(range(n), key=lambda i: output[i], reverse=True)
    tp = fp = i = 0
    tpr, tnr, ppv = [], [], []
    for threshold in thresholds:
        while i < n and output[order[i]] >= threshold:
            if truth[order[i]]:
                tp += 1
            else:
                fp += 1
            i += 1
        fn, tn = positives - tp, negatives - fp
        tpr.append(_rate(tp, tp + fn))
        tnr.append(_rate(tn, tn + fp))
        ppv.append(_rate(tp, tp + fp))
    auroc = auprc = 0.0
    for j in range(len(thresholds) - 1):
        auroc += 0.5 * (tpr[j + 1] - tpr[j]) * (tnr[j + 1] + tnr[j])
        auprc += (tpr[j + 1] - tpr[j]) * ppv[j + 1]
    return auroc, auprc


def reference_auc(labels: list[list[bool]], scalars: list[list[float]]) -> tuple[list[float], list[float]]:
    num_classes = len(labels[0])
    pairs = [reference_class_auc([r[k] for r in labels], [r[k] for r in scalars]) for k in range(num_classes)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def reference_accuracy(labels: list[list[bool]], binary: list[list[bool]]) -> float:
    correct = 0
    for label_row, output_row in zip(labels, binary):
        if all(a == b for a, b in zip(label_row, output_row)):
            correct += 1
    return correct / len(labels)


def reference_f_measure(labels: list[list[bool]], binary: list[list[bool]]) -> list[float]:
    scores = []
    for k in range(len(labels[0])):
        tp = fp = fn = 0
        for label_row, output_row in zip(labels, binary):
            tp += label_row[k] and output_row[k]
            fp += (not label_row[k]) and output_row[k]
            fn += label_row[k] and not output_row[k]
        scores.append(_rate(2 * tp, 2 * tp + fp + fn))
    return scores


def reference_confusion(labels: list[list[bool]], binary: list[list[bool]]) -> list[list[float]]:
    num_classes = len(labels[0])
    matrix = [[0.0] * num_classes for _ in range(num_classes)]
    for label_row, output_row in zip(labels, binary):
        n = max(1, sum(1 for a, b in zip(label_row, output_row) if a or b))
        for j in range(num_classes):
            if label_row[j]:
                for k in range(num_classes):
                    if output_row[k]:
                        matrix[j][k] += 1.0 / n
    return matrix


def reference_challenge_metric(labels, binary, weights: list[list[float]], sinus_index: int) -> float:
    def score(outputs) -> float:
        matrix = reference_confusion(labels, outputs)
        return sum(w * a for w_row, a_row in zip(weights, matrix) for w, a in zip(w_row, a_row))

    sinus_only = [[k == sinus_index for k in range(len(labels[0]))] for _ in labels]
    observed, correct, inactive = score(binary), score(labels), score(sinus_only)
    return (observed - inactive) / (correct - inactive) if correct != inactive else 0.0


def reference_scores(labels, binary, scalars, weights, sinus_index: int) -> dict[str, object]:
    """Every score by the loop reference, from numpy arrays (converted to lists first)."""
    labels, binary = np.asarray(labels, bool).tolist(), np.asarray(binary, bool).tolist()
    scalars, weights = np.asarray(scalars, float).tolist(), np.asarray(weights, float).tolist()
    auroc, auprc = reference_auc(labels, scalars)
    f_measure = reference_f_measure(labels, binary)
    return {
        "AUROC": _reference_mean(auroc),
        "AUPRC": _reference_mean(auprc),
        "Accuracy": reference_accuracy(labels, binary),
        "F-measure": _reference_mean(f_measure),
        "Challenge metric": reference_challenge_metric(labels, binary, weights, sinus_index),
        "class AUROC": auroc,
        "class AUPRC": auprc,
        "class F-measure": f_measure,
    }
