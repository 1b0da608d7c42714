"""ecgnet.bootstrap: every resampled score equals ecgnet.metric's on the explicitly resampled arrays."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from ecgnet import bootstrap, metric
from ecgnet.labels import default_class_table

TABLE = default_class_table()
SINUS = TABLE.sinus_rhythm_index


def synthetic(num_records: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, binary and scalar outputs with ties (2 decimals), a class with no positives, one with only
    positives, one record without labels and a non-finite output."""
    rng = np.random.default_rng(seed)
    labels = rng.random((num_records, len(TABLE))) < 0.1
    labels[:, SINUS] |= rng.random(num_records) < 0.4
    labels[:, 3] = False
    labels[:, 4] = True
    labels[0] = False
    scalars = np.round(np.clip(labels * 0.3 + rng.random(labels.shape) * 0.7, 0, 1), 2)
    binary = scalars > 0.6
    scalars[1, 2] = np.nan
    return labels, binary, scalars


def explicit(counts: np.ndarray, *arrays: np.ndarray) -> list[np.ndarray]:
    rows = np.repeat(np.arange(len(counts)), counts)
    return [array[rows] for array in arrays]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_score_equals_the_metric_on_the_explicit_resamples(seed):
    labels, binary, scalars = synthetic(80, seed)
    counts = bootstrap.draw(len(labels), 30, seed)
    resampled = bootstrap.resample_scores(labels, binary, scalars, TABLE, counts)
    assert list(resampled) == list(metric.SCORE_NAMES)
    for r, row in enumerate(counts):
        expected = metric.evaluate(*explicit(row, labels, binary, scalars), TABLE)
        for name, value in zip(metric.SCORE_NAMES, expected.macro):
            np.testing.assert_allclose(resampled[name][r], value, rtol=0, atol=1e-12, err_msg=name)
    challenge = bootstrap.challenge_metric_resamples(labels, binary, TABLE, counts)
    for r, row in enumerate(counts):
        chosen_labels, chosen_binary = explicit(row, labels, binary)
        assert abs(challenge[r] - metric.challenge_metric(chosen_labels, chosen_binary, TABLE.weights, SINUS)) < 1e-12


def test_hand_made_counts_including_records_never_drawn():
    labels, binary, scalars = synthetic(12, 5)
    counts = np.array([[1] * 12, [12] + [0] * 11, [0, 3, 0, 0, 2, 0, 0, 0, 5, 1, 1, 0], [0] * 11 + [12]])
    auroc, auprc = bootstrap.auc_resamples(labels, scalars, counts)
    challenge = bootstrap.challenge_metric_resamples(labels, binary, TABLE, counts)
    for r, row in enumerate(counts):
        chosen_labels, chosen_binary, chosen_scalars = explicit(row, labels, binary, scalars)
        expected_auroc, expected_auprc, _, _ = metric.compute_auc(chosen_labels, chosen_scalars)
        np.testing.assert_allclose([auroc[r], auprc[r]], [expected_auroc, expected_auprc], rtol=0, atol=1e-12)
        assert challenge[r] == pytest.approx(
            metric.challenge_metric(chosen_labels, chosen_binary, TABLE.weights, SINUS), abs=1e-12)
    assert counts[0].sum() == 12 and np.isfinite(auroc[0])


def test_a_resample_of_sinus_rhythm_alone_scores_zero_as_the_metric_does():
    labels = np.zeros((3, len(TABLE)), dtype=bool)
    labels[:, SINUS] = True
    labels[2, 0] = True
    counts = np.array([[2, 1, 0], [0, 0, 3]])
    scores = bootstrap.challenge_metric_resamples(labels, labels, TABLE, counts)
    assert scores[0] == 0.0 == metric.challenge_metric(labels[[0, 0, 1]], labels[[0, 0, 1]], TABLE.weights, SINUS)
    assert scores[1] == 1.0


def test_draw_is_seeded_and_counts_every_record_once_per_draw():
    counts = bootstrap.draw(50, 40, seed=7)
    assert counts.shape == (40, 50) and np.all(counts.sum(axis=1) == 50) and counts.min() >= 0
    assert np.array_equal(counts, bootstrap.draw(50, 40, seed=7))
    assert not np.array_equal(counts, bootstrap.draw(50, 40, seed=8))
    # The scoring functions draw the same rows in chunks.
    assert np.array_equal(counts, np.concatenate(list(bootstrap._chunks(50, 40, 7, chunk=7))))
    with pytest.raises(ValueError, match="0 records"):
        bootstrap.draw(0, 10)


def test_chunked_scoring_gives_the_scores_of_the_whole_draw(monkeypatch):
    labels, binary, scalars = synthetic(40, 3)
    whole = bootstrap.resample_scores(labels, binary, scalars, TABLE, bootstrap.draw(40, 25, 4))
    monkeypatch.setattr(bootstrap, "CHUNK_CELLS", 40 * 6)  # chunks of 6 resamples
    (chunked,) = bootstrap._scores_over_draws([(labels, binary, scalars)], TABLE, 25, 4, metric.SCORE_NAMES)
    for name in metric.SCORE_NAMES:
        np.testing.assert_array_equal(chunked[name], whole[name])


def test_score_intervals_hold_the_full_data_scores():
    labels, binary, scalars = synthetic(200, 0)
    intervals = bootstrap.score_intervals(labels, binary, scalars, TABLE, n=200, seed=1)
    full = metric.evaluate(labels, binary, scalars, TABLE)
    assert list(intervals) == list(metric.SCORE_NAMES)
    for name, value in zip(metric.SCORE_NAMES, full.macro):
        interval = intervals[name]
        assert interval.estimate == value and interval.low < interval.high and interval.contains(value)
        assert interval.level == 0.95
    assert intervals == bootstrap.score_intervals(labels, binary, scalars, TABLE, n=200, seed=1)
    wider = bootstrap.score_intervals(labels, binary, scalars, TABLE, n=200, seed=1, level=0.99)
    assert all(wider[name].low <= intervals[name].low for name in metric.SCORE_NAMES)


def test_percentile_interval_leaves_nan_resamples_out():
    interval = bootstrap.percentile_interval(0.5, np.array([np.nan, *np.linspace(0, 1, 101)]), level=0.9)
    assert (interval.low, interval.high) == pytest.approx((0.05, 0.95))
    empty = bootstrap.percentile_interval(0.5, np.array([np.nan]))
    assert np.isnan(empty.low) and empty.to_dict() == {"estimate": 0.5, "low": None, "high": None}
    with pytest.raises(ValueError, match="level"):
        bootstrap.percentile_interval(0.5, np.zeros(3), level=95)


def test_identical_outputs_differ_by_exactly_zero_in_every_resample():
    labels, binary, scalars = synthetic(60, 2)
    result = bootstrap.paired_difference(labels, binary, scalars, binary.copy(), scalars.copy(), TABLE, n=100)
    assert list(result) == ["Challenge metric", "AUROC"]
    for difference in result.values():
        assert difference.a == difference.b
        assert (difference.difference.estimate, difference.difference.low, difference.difference.high) == (0, 0, 0)
        assert difference.b_higher == 0 and difference.tied == 1


def test_a_known_improvement_is_recovered():
    """B's outputs are the labels on 60 % more of the records than A's: B - A is the exact difference, its
    interval holds it and lies above 0, and B wins almost every paired resample."""
    labels, binary, scalars = synthetic(200, 4)
    a_binary, b_binary = binary.copy(), binary.copy()
    a_scalars, b_scalars = scalars.copy(), scalars.copy()
    b_binary[:120], b_scalars[:120] = labels[:120], labels[:120] * 0.8 + 0.1
    a_binary[:20], a_scalars[:20] = labels[:20], labels[:20] * 0.8 + 0.1
    result = bootstrap.paired_difference(labels, a_binary, a_scalars, b_binary, b_scalars, TABLE, n=300, seed=3)
    challenge = result["Challenge metric"]
    exact = (metric.challenge_metric(labels, b_binary, TABLE.weights, SINUS)
             - metric.challenge_metric(labels, a_binary, TABLE.weights, SINUS))
    assert challenge.difference.estimate == exact == challenge.b - challenge.a and exact > 0.1
    assert 0 < challenge.difference.low <= exact <= challenge.difference.high and challenge.b_higher > 0.99
    auroc = result["AUROC"]
    expected = metric.compute_auc(labels, b_scalars)[0] - metric.compute_auc(labels, a_scalars)[0]
    assert auroc.difference.estimate == expected
    assert auroc.difference.low > 0 and auroc.difference.contains(auroc.difference.estimate)
    # The same draws pair the two: swapping A and B negates every resampled difference.
    swapped = bootstrap.paired_difference(labels, b_binary, b_scalars, a_binary, a_scalars, TABLE, n=300, seed=3)
    assert swapped["Challenge metric"].difference.low == pytest.approx(-challenge.difference.high, abs=1e-15)
    assert swapped["Challenge metric"].b_higher == pytest.approx(1 - challenge.b_higher - challenge.tied)


def test_unknown_scores_and_mismatched_counts_are_refused():
    labels, binary, scalars = synthetic(10, 0)
    with pytest.raises(ValueError, match="unknown scores"):
        bootstrap.resample_scores(labels, binary, scalars, TABLE, bootstrap.draw(10, 2), names=["Kappa"])
    with pytest.raises(ValueError, match="10 records"):
        bootstrap.challenge_metric_resamples(labels, binary, TABLE, np.ones((2, 9), dtype=int))


def test_the_module_imports_no_torch():
    code = "import sys, ecgnet.bootstrap; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
