import numpy as np
import pytest

from skexplain.metrics import topk_perturbation_auc, topk_perturbation_curve

from .conftest import linear


def test_curve_at_the_upper_corner_matches_closed_form():
    # At the upper corner the box is [x - delta R, x]: a perturbed feature is uniform there,
    # the sum of symmetric draws has its median at the sum of midpoints, so the median score
    # after perturbing the top k features is f(x) - delta/2 * sum_{top k} w_j R_j.
    w = np.array([4.0, 0.0, 2.0, 1.0, 0.0, 3.0])
    X = np.ones((2, 6))
    f = linear(w)
    exact = np.tile(w, (2, 1))
    fractions, scores = topk_perturbation_curve(
        f, X, exact, 0, lower=-1.0, upper=1.0, delta=0.1, n_perturbations=4000,
        random_state=0,
    )
    ordered = -np.sort(-w)
    expected = w.sum() - 0.1 * 2 / 2 * np.concatenate([[0.0], np.cumsum(ordered)])
    np.testing.assert_allclose(fractions, np.arange(7) / 6)
    # The median of 4000 draws has a standard error below 0.007 here.
    np.testing.assert_allclose(scores, np.tile(expected, (2, 1)), atol=0.03)


def test_true_ranking_has_the_smallest_area():
    w = np.array([4.0, 0.0, 2.0, 1.0, 0.0, 3.0])
    X = np.ones((3, 6))
    params = dict(lower=-1.0, upper=1.0, delta=0.5, n_perturbations=300, random_state=0)
    best = topk_perturbation_auc(linear(w), X, np.tile(w, (3, 1)), 0, **params)
    rng = np.random.default_rng(0)
    for _ in range(10):
        other = rng.permutation(w)
        if np.array_equal(other, w):
            continue
        assert topk_perturbation_auc(linear(w), X, np.tile(other, (3, 1)), 0, **params) > best


def test_zero_delta_leaves_the_score_unchanged_and_seeds_repeat():
    rng = np.random.default_rng(0)
    X, A = rng.normal(size=(2, 5)), rng.normal(size=(2, 5))
    f = linear(np.arange(5.0))
    _, scores = topk_perturbation_curve(f, X, A, 0, -3.0, 3.0, delta=[0.0, 0.0],
                                        n_perturbations=5)
    np.testing.assert_allclose(scores, np.tile((X @ np.arange(5.0))[:, None], (1, 6)))
    a = topk_perturbation_curve(f, X, A, 0, -3.0, 3.0, n_perturbations=5, random_state=1)[1]
    b = topk_perturbation_curve(f, X, A, 0, -3.0, 3.0, n_perturbations=5, random_state=1)[1]
    np.testing.assert_array_equal(a, b)


def test_invalid_delta_and_quantile_raise():
    X = np.zeros((1, 3))
    with pytest.raises(ValueError, match="delta must lie"):
        topk_perturbation_curve(linear(np.ones(3)), X, X, 0, -1, 1, delta=1.5)
    with pytest.raises(ValueError, match="quantile"):
        topk_perturbation_curve(linear(np.ones(3)), X, X, 0, -1, 1, quantile=2)
    with pytest.raises(ValueError, match="n_perturbations"):
        topk_perturbation_curve(linear(np.ones(3)), X, X, 0, -1, 1, n_perturbations=0)
