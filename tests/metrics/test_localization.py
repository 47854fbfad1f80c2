from itertools import groupby

import numpy as np
import pytest
from sklearn.metrics import auc, precision_recall_curve, roc_auc_score

from skexplain.metrics import localization_auroc, localization_scores

# Widths of the 12 JASPAR motifs of Koo & Ploenzke's task 1 (Arid3a ... YY1).
TASK1_WIDTHS = [12, 10, 11, 11, 16, 12, 11, 6, 10, 11, 15, 15]


def _scores_with_run_maxima(labels, maxima):
    """Scores that are 0 everywhere except one position per run holding that run's max."""
    labels = np.asarray(labels, dtype=bool)
    scores = np.zeros(len(labels))
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    assert len(starts) == len(maxima)
    scores[starts] = maxima
    return scores


def test_hand_computed_runs():
    mask = np.array([[0, 0, 1, 1, 0, 0, 0, 1, 0, 0]], dtype=bool)
    scores = np.array([[0.1, 0.2, 0.9, 0.3, 0.1, 0.8, 0.2, 0.7, 0.3, 0.1]])
    # Runs: neg .2, pos .9, neg .8, pos .7, neg .3. AUROC: .9 beats all three negatives, .7
    # beats two: 5/6. PR points (recall, precision): (0, 1), (.5, 1), (.5, .5), (1, 2/3),
    # (1, .5), (1, .4): area .5 + (.5 + 2/3) / 4 = 19/24. (The released splitter searches
    # for the end of the second positive run from 4 + 7 = 11, past the end, and drops it.)
    auroc, aupr = localization_scores(scores, mask, buffer=1)
    np.testing.assert_allclose(auroc, [5 / 6])
    np.testing.assert_allclose(aupr, [19 / 24])


def test_positive_runs_at_both_ends_count():
    labels = [1, 1, 0, 0, 1, 0, 0, 1, 1]
    scores = _scores_with_run_maxima(labels, [0.6, 0.5, 0.4, 0.7, 0.9])
    # Positives .6, .4, .9 against negatives .5, .7: 3 of 6 pairs. Dropping the last
    # positive run, as the released splitter does, would give 1/4.
    auroc, _ = localization_scores(scores[None], np.array([labels], dtype=bool), buffer=1)
    np.testing.assert_allclose(auroc, [0.5])


def test_alternating_single_position_runs_reduce_to_per_position_auroc():
    rng = np.random.default_rng(0)
    labels = np.arange(40) % 2 == 0
    scores = rng.random(40)
    auroc, aupr = localization_scores(scores[None], labels[None], buffer=1)
    precision, recall, _ = precision_recall_curve(labels, scores)
    np.testing.assert_allclose(auroc, [roc_auc_score(labels, scores)])
    np.testing.assert_allclose(aupr, [auc(recall, precision)])


def test_agrees_with_sklearn_on_runs_with_ties():
    rng = np.random.default_rng(1)
    mask = rng.random((200, 60)) < 0.15
    scores = rng.integers(0, 5, (200, 60)).astype(float)  # many ties
    auroc, aupr = localization_scores(scores, mask, buffer=1)
    for i in range(200):
        runs = [(bool(label), max(s for _, s in group)) for label, group in
                groupby(zip(mask[i], scores[i], strict=True), key=lambda pair: pair[0])]
        labels, maxima = np.array(runs).T
        if labels.all() or not labels.any():
            assert np.isnan(auroc[i]) and np.isnan(aupr[i])
            continue
        precision, recall, _ = precision_recall_curve(labels, maxima)
        assert auroc[i] == pytest.approx(roc_auc_score(labels, maxima), abs=1e-12)
        assert aupr[i] == pytest.approx(auc(recall, precision), abs=1e-12)


@pytest.mark.parametrize("buffer", [1, 4, 10, 15])
def test_perfect_and_reversed_scores(buffer):
    rng = np.random.default_rng(2)
    mask = np.zeros((50, 100), dtype=bool)
    for i in range(50):
        for start in rng.choice(np.arange(5, 85, 20), size=rng.integers(1, 4), replace=False):
            mask[i, start:start + rng.integers(3, 10)] = True
    noise = 0.1 * rng.random(mask.shape)
    auroc, aupr = localization_scores(mask + noise, mask, buffer=buffer)
    np.testing.assert_allclose(auroc, 1.0)
    np.testing.assert_allclose(aupr, 1.0)
    if buffer == 1:  # otherwise the widened positive runs also hold background positions
        auroc, _ = localization_scores(-(mask + noise), mask, buffer=buffer)
        np.testing.assert_allclose(auroc, 0.0)


@pytest.mark.parametrize("peak, buffer, expected", [
    (12, 1, 0.25), (12, 4, 1.0), (13, 4, 0.25), (9, 4, 1.0), (8, 4, 0.25),
    (6, 10, 1.0), (5, 10, 0.25), (15, 10, 1.0), (16, 10, 0.25),
])
def test_buffer_widens_positives_with_the_released_alignment(peak, buffer, expected):
    # One motif position (10); a buffer of b makes 10 - (b - b // 2 - 1) .. 10 + b // 2
    # positive. The only nonzero score is at `peak`: AUROC 1 inside the widened run; outside
    # it the positive run (max 0) ties one negative run and loses to the other: 0.25.
    mask = np.zeros((1, 30), dtype=bool)
    mask[0, 10] = True
    scores = np.zeros((1, 30))
    scores[0, peak] = 1.0
    auroc, _ = localization_scores(scores, mask, buffer=buffer)
    np.testing.assert_allclose(auroc, [expected])


def test_single_class_sequences_are_nan_and_skipped_by_the_summary():
    mask = np.zeros((4, 12), dtype=bool)
    mask[1] = True  # only positives
    mask[2, 6] = True  # widened to the whole sequence by buffer 20
    mask[3, [2, 3]] = True
    scores = np.arange(48, dtype=float).reshape(4, 12)
    scores[3, 2] = 100.0
    auroc, aupr = localization_scores(scores, mask, buffer=20)
    assert np.isnan(auroc[:3]).all() and np.isnan(aupr[:3]).all()
    auroc, aupr = localization_scores(scores, mask, buffer=1)
    assert np.isnan(auroc[:2]).all()
    assert auroc[3] == 1.0 and aupr[3] == 1.0
    assert localization_auroc(scores, mask, buffer=1) == (np.nanmean(auroc), np.nanstd(auroc))
    assert np.isnan(localization_auroc(scores[:2], mask[:2])).all()


def _task1_masks(rng, n_samples, length=200):
    """Motif positions as in task 1: 1-5 motifs, gaps from k + 1 uniform draws."""
    mask = np.zeros((n_samples, length), dtype=bool)
    for i in range(n_samples):
        k = rng.choice(5, p=[0.5, 0.25, 0.17, 0.05, 0.03]) + 1
        widths = rng.choice(TASK1_WIDTHS, k)
        gaps = rng.random(k + 1)
        gaps = np.floor(gaps / gaps.sum() * (length - widths.sum())).astype(int)
        position = gaps[0]
        for width, gap in zip(widths, gaps[1:], strict=True):
            mask[i, position:position + width] = True
            position += width + gap
    return mask


def test_random_scores_sit_at_the_known_chance_level():
    # Chance is about 0.32 (buffer 10) and 0.37 (buffer 15), not 0.5: negative runs are
    # longer than positive ones, so their maximum of random scores is higher.
    rng = np.random.default_rng(3)
    mask = _task1_masks(rng, 2000)
    scores = rng.random(mask.shape)
    mean_10, _ = localization_auroc(scores, mask, buffer=10)
    mean_15, _ = localization_auroc(scores, mask, buffer=15)
    assert 0.28 < mean_10 < 0.36
    assert 0.33 < mean_15 < 0.41
    assert mean_15 > mean_10


def test_rows_are_independent_and_inputs_untouched():
    rng = np.random.default_rng(4)
    mask = _task1_masks(rng, 20)
    scores = rng.random(mask.shape)
    scores_copy, mask_copy = scores.copy(), mask.copy()
    full, _ = localization_scores(scores, mask.astype(int), buffer=10)
    single = [localization_scores(scores[[i]], mask[[i]], buffer=10)[0][0] for i in range(20)]
    np.testing.assert_array_equal(full, single)
    np.testing.assert_array_equal(scores, scores_copy)
    np.testing.assert_array_equal(mask, mask_copy)


@pytest.mark.parametrize("scores, mask, buffer, match", [
    (np.zeros((2, 4, 10)), np.zeros((2, 10)), 10, "reduce attribution maps"),
    (np.zeros((2, 10)), np.zeros((2, 11)), 10, "mask has shape"),
    (np.full((2, 10), np.nan), np.zeros((2, 10)), 10, "NaN"),
    (np.zeros((2, 10)), np.zeros((2, 10)), 0, "buffer"),
    (np.zeros((2, 10)), np.zeros((2, 10)), 2.5, "buffer"),
])
def test_bad_input_raises(scores, mask, buffer, match):
    with pytest.raises(ValueError, match=match):
        localization_scores(scores, mask, buffer=buffer)
