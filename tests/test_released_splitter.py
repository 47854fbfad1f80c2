"""The released run splitter of Koo & Ploenzke (2021), reimplemented in the Koo benchmark.

Every expected value below is traced by hand through the released loops (positives, then
negatives; ``index``, ``start``, the end search from ``index + start``, the ``any`` test)
on a label of length 10-12 with ``buffer=1`` (no widening) unless stated.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from skexplain.metrics import localization_scores

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "reproduce_koo.py"


@pytest.fixture(scope="module")
def koo():
    spec = importlib.util.spec_from_file_location("reproduce_koo", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _correct(scores, mask, buffer=1):
    return localization_scores(np.atleast_2d(scores), np.atleast_2d(mask), buffer=buffer)[0][0]


def _released(koo, scores, mask, buffer=1):
    return koo._released_scores(np.atleast_2d(scores), np.atleast_2d(mask), buffer)[0]


def test_second_positive_run_dropped_by_doubled_offset(koo):
    # Runs: neg 0-1, pos 2-3, neg 4-5, pos 6-7, neg 8-9. Positives: turn 1 start 2, end 4;
    # turn 2 start 6, end searched from 4 + 6 = 10: none, so run 6-7 is dropped.
    # Negatives (0-1, 4-5, 8-9) come out right. Correct: pos {.9, .6} vs neg {.2, .5, .7}
    # = 5/6; released: pos {.9} vs the same negatives = 1.
    mask = np.array([0, 0, 1, 1, 0, 0, 1, 1, 0, 0], dtype=bool)
    scores = np.array([0.1, 0.2, 0.9, 0.3, 0.5, 0.4, 0.05, 0.6, 0.7, 0.0])
    assert _correct(scores, mask) == pytest.approx(5 / 6)
    assert _released(koo, scores, mask) == pytest.approx(1.0)
    positives = koo._released_run_maxima(scores, mask.astype(int), 1)
    negatives = koo._released_run_maxima(scores, mask.astype(int), 0)
    assert positives == pytest.approx([0.9])
    assert negatives == pytest.approx([0.2, 0.5, 0.7])


def test_stale_start_adds_an_overlapping_positive(koo):
    # One positive run 2-3. Positives: turn 1 start 2, end 4, index 4; turn 2 finds no
    # start but searches ends from 4 + 2 = 6 with the old start 2: end 6, so scores[2:6]
    # (max .8) is added as a second positive. Correct: pos {.3} vs neg {.2, .8} = 1/2;
    # released: pos {.3, .8} vs neg {.2, .8} = (1 + 0 + 1 + 1/2) / 4 = 5/8.
    mask = np.array([0, 0, 1, 1, 0, 0, 0, 0, 0, 0], dtype=bool)
    scores = np.array([0.1, 0.2, 0.3, 0.3, 0.8, 0.1, 0.0, 0.0, 0.0, 0.0])
    assert koo._released_run_maxima(scores, mask.astype(int), 1) == pytest.approx([0.3, 0.8])
    assert _correct(scores, mask) == pytest.approx(0.5)
    assert _released(koo, scores, mask) == pytest.approx(5 / 8)


def test_positive_at_the_end_dropped_and_stale_negative_added(koo):
    # Runs: neg 0-1, pos 2-3, neg 4-7, pos 8-9. Positives: run 2-3, then start 8 with ends
    # searched from 12: none, dropped. Negatives: 0-1; start 4, ends from 2 + 4 = 6: end 8
    # (right by chance); then no start after 8, the old start 4 with ends from 12: none, so
    # scores[4:10] (max .9, the last positive's) is added as a negative.
    # Correct: pos {.5, .9} vs neg {.1, .2} = 1; released: pos {.5} vs {.1, .2, .9} = 2/3.
    mask = np.array([0, 0, 1, 1, 0, 0, 0, 0, 1, 1], dtype=bool)
    scores = np.array([0.1, 0.1, 0.5, 0.5, 0.2, 0.2, 0.2, 0.2, 0.9, 0.9])
    assert koo._released_run_maxima(scores, mask.astype(int), 0) == pytest.approx(
        [0.1, 0.2, 0.9])
    assert _correct(scores, mask) == pytest.approx(1.0)
    assert _released(koo, scores, mask) == pytest.approx(2 / 3)


def test_any_of_offset_zero_and_swallowed_positive(koo):
    # Runs: neg 0, pos 1, neg 2-5, pos 6, neg 7-8, pos 9-11. Positives: run 1; then start
    # 6 with ends searched from 2 + 6 = 8: the offsets are [0] and any([0]) is False, so
    # the loop stops (runs 6 and 9-11 lost). Negatives: 0; start 2, ends from 1 + 2 = 3:
    # first 1 at 6, run 2-5 (right); start 7, ends from 6 + 7 = 13: none, so the run is
    # closed at the end, 7-11, swallowing the positive 9-11 (max .8).
    # Correct: pos {.6, .7, .8} vs neg {0, .1, .2} = 1; released: pos {.6} vs
    # {0, .1, .8} = 2/3.
    mask = np.array([0, 1, 0, 0, 0, 0, 1, 0, 0, 1, 1, 1], dtype=bool)
    scores = np.array([0.0, 0.6, 0.1, 0.1, 0.1, 0.1, 0.7, 0.2, 0.2, 0.8, 0.3, 0.3])
    label = mask.astype(int)
    assert koo._released_run_maxima(scores, label, 1) == pytest.approx([0.6])
    assert koo._released_run_maxima(scores, label, 0) == pytest.approx([0.0, 0.1, 0.8])
    assert _correct(scores, mask) == pytest.approx(1.0)
    assert _released(koo, scores, mask) == pytest.approx(2 / 3)


def test_widening_as_released_and_agreement_on_a_simple_case(koo):
    # One motif position (4). buffer 3: positions 3-5 positive (left = 3 // 2 = 1), one
    # middle run; the stale-start search starts at 6 + 3 = 9 where the only offset is 0,
    # so nothing is added and both splitters agree: pos {.9} vs neg {.3, .8} = 1. buffer 1:
    # pos {.1} (position 4) vs neg {.9, .8} = 0, again for both.
    mask = np.zeros(10, dtype=bool)
    mask[4] = True
    scores = np.array([0.1, 0.2, 0.3, 0.9, 0.1, 0.1, 0.8, 0.0, 0.0, 0.0])
    assert _released(koo, scores, mask, buffer=3) == pytest.approx(1.0)
    assert _correct(scores, mask, buffer=3) == pytest.approx(1.0)
    assert _released(koo, scores, mask, buffer=1) == pytest.approx(0.0)
    assert _correct(scores, mask, buffer=1) == pytest.approx(0.0)
    # buffer 4 (left 2): positions 3-6 positive. With .95 at position 2: pos {.9} (3-6) vs
    # neg {.95 (0-2), 0 (7-9)} = 1/2; a window centred one step further left (2-5) would
    # put .95 in the positive run and give 1.
    scores[2] = 0.95
    assert _released(koo, scores, mask, buffer=4) == pytest.approx(0.5)
    assert _correct(scores, mask, buffer=4) == pytest.approx(0.5)


def test_undefined_sequences_are_nan_and_summary(koo):
    # The only positive run reaches the end: no end found, dropped, one class left -> NaN
    # (the corrected metric keeps it). No positive at all: the released code raises -> NaN.
    end_run = np.array([0, 0, 0, 1, 1], dtype=bool)
    scores = np.array([0.1, 0.2, 0.3, 0.9, 0.4])
    assert np.isnan(_released(koo, scores, end_run))
    assert _correct(scores, end_run) == pytest.approx(1.0)
    assert np.isnan(_released(koo, scores, np.zeros(5, dtype=bool)))
    # Summary: nanmean and population sd over the defined sequences (1 and 2/3).
    mask = np.array([[0, 0, 1, 1, 0, 0, 1, 1, 0, 0],
                     [0, 0, 1, 1, 0, 0, 0, 0, 1, 1],
                     [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]], dtype=bool)
    scores = np.array([[0.1, 0.2, 0.9, 0.3, 0.5, 0.4, 0.05, 0.6, 0.7, 0.0],
                       [0.1, 0.1, 0.5, 0.5, 0.2, 0.2, 0.2, 0.2, 0.9, 0.9],
                       np.linspace(0, 1, 10)])
    mean, sd = koo.released_localization_auroc(scores, mask, 1)
    assert mean == pytest.approx(5 / 6)
    assert sd == pytest.approx(1 / 6)


def test_random_scans_differ_between_splitters(koo):
    # On several motifs per sequence the two splitters disagree on many sequences.
    rng = np.random.default_rng(0)
    mask = np.zeros((50, 200), dtype=bool)
    for row in mask:
        for begin in rng.choice(190, size=3, replace=False):
            row[begin:begin + 8] = True
    scores = rng.random(mask.shape) + 0.5 * mask
    released = koo._released_scores(scores, mask, 10)
    correct = localization_scores(scores, mask, buffer=10)[0]
    both = ~np.isnan(released) & ~np.isnan(correct)
    assert both.sum() > 40
    assert np.mean(np.abs(released[both] - correct[both]) > 1e-9) > 0.3
