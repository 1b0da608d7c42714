"""Calibrated probabilities (ecgnet.calibration): Platt scaling per class lowers the expected calibration error of
miscalibrated outputs, keeps every ranking, and reads back from JSON."""

from __future__ import annotations

import numpy as np
import pytest

from ecgnet.calibration import Calibration, expected_calibration_error, fit


def _overconfident(records: int = 4000, classes: int = 3, seed: int = 0):
    """Labels drawn from true probabilities, and outputs that push those probabilities towards 0 and 1."""
    rng = np.random.default_rng(seed)
    truth = rng.beta(1.0, 4.0, size=(records, classes))
    labels = rng.random((records, classes)) < truth
    logit = np.log(truth / (1 - truth))
    return labels, 1 / (1 + np.exp(-3.0 * logit - 1.0))  # three times too sharp, and shifted


def test_calibration_lowers_the_expected_calibration_error_and_keeps_the_ranking():
    labels, outputs = _overconfident()
    calibration = fit(labels[:2000], outputs[:2000])  # fitted on one half, measured on the other
    before = expected_calibration_error(labels[2000:], outputs[2000:])
    after = expected_calibration_error(labels[2000:], calibration.apply(outputs[2000:]))
    assert after < before / 3 and after < 0.02
    calibrated = calibration.apply(outputs)
    for k in range(labels.shape[1]):  # an increasing map: no two records change order
        order = np.argsort(outputs[:, k])
        assert np.all(np.diff(calibrated[order, k]) >= 0)
        assert len(np.unique(calibrated[:, k])) == len(np.unique(outputs[:, k]))  # and none tie that did not


def test_a_class_with_too_few_positives_keeps_the_identity():
    labels, outputs = _overconfident(records=200)
    labels[:, 1] = False
    labels[:2, 1] = True
    calibration = fit(labels, outputs)
    assert calibration.scale[1] == 1.0 and calibration.shift[1] == 0.0
    np.testing.assert_allclose(calibration.apply(outputs)[:, 1], outputs[:, 1], rtol=1e-9)


def test_expected_calibration_error_by_hand():
    # bin 0.1-0.2: p 0.1, 0.1 (mean .1), y 1, 0 (.5): gap .4 x 2/4; bin 0.9-1: p .9, .9, y 1, 1: gap .1 x 2/4
    assert expected_calibration_error(np.array([1, 0, 1, 1]), np.array([0.1, 0.1, 0.9, 0.9])) == pytest.approx(0.25)


def test_a_calibration_reads_back_and_rejects_what_is_not_one():
    calibration = Calibration(np.array([1.5, 0.5]), np.array([-0.2, 0.3]))
    again = Calibration.from_json(calibration.to_json(), 2, "x")
    assert np.array_equal(again.scale, calibration.scale) and np.array_equal(again.shift, calibration.shift)
    for bad, words in [({"scale": [1.0]}, "'scale' and one 'shift'"), ({"scale": [1.0], "shift": [0.0]}, "needs 2"),
                       ({"scale": [1.0, float("nan")], "shift": [0.0, 0.0]}, "finite")]:
        with pytest.raises(ValueError, match=words):
            Calibration.from_json(bad, 2, "x")


def test_invert_undoes_apply_so_a_report_can_show_the_outputs_before_calibration():
    calibration = Calibration(np.array([0.5, 1.0, 2.5]), np.array([-1.0, 0.0, 0.7]))
    raw = np.random.default_rng(1).uniform(1e-6, 1 - 1e-6, size=(50, 3))
    np.testing.assert_allclose(calibration.invert(calibration.apply(raw)), raw, rtol=1e-9, atol=1e-12)
    # The outputs files keep 6 significant digits: inverting those stays within the file's precision.
    written = np.array([[float(f"{p:g}") for p in row] for row in calibration.apply(raw)])
    np.testing.assert_allclose(calibration.invert(written), raw, rtol=1e-4, atol=1e-6)
