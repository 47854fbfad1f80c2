import numpy as np
import pytest
from scipy.integrate import trapezoid

from skexplain.metrics import deletion_auc, deletion_curve, insertion_auc, insertion_curve

from .conftest import linear


@pytest.fixture
def linear_case():
    rng = np.random.default_rng(0)
    w = rng.normal(size=8)
    X = rng.normal(size=(5, 8))
    baseline = rng.normal(size=8)
    exact = w * (X - baseline)  # each feature's exact contribution f(x) - f(x without it)
    return linear(w), w, X, baseline, exact


def test_deletion_curve_matches_closed_form_for_a_linear_model(linear_case):
    f, w, X, baseline, exact = linear_case
    fractions, scores = deletion_curve(f, X, exact, 0, baseline, absolute=False)
    np.testing.assert_allclose(fractions, np.arange(9) / 8)
    # Deleting the k largest contributions removes exactly their sum from f(x).
    ordered = -np.sort(-exact, axis=1)
    expected = (X @ w)[:, None] - np.hstack([np.zeros((5, 1)), np.cumsum(ordered, axis=1)])
    np.testing.assert_allclose(scores, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(scores[:, -1], baseline @ w)


def test_insertion_curve_matches_closed_form_and_ends_at_the_instance(linear_case):
    f, w, X, baseline, exact = linear_case
    _, scores = insertion_curve(f, X, exact, 0, baseline, absolute=False)
    ordered = -np.sort(-exact, axis=1)
    expected = baseline @ w + np.hstack([np.zeros((5, 1)), np.cumsum(ordered, axis=1)])
    np.testing.assert_allclose(scores, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(scores[:, -1], X @ w)


def test_exact_attributions_have_the_best_areas_of_all_rankings(linear_case):
    f, w, X, baseline, exact = linear_case
    best_deletion = deletion_auc(f, X, exact, 0, baseline, absolute=False)
    best_insertion = insertion_auc(f, X, exact, 0, baseline, absolute=False)
    rng = np.random.default_rng(1)
    for _ in range(30):
        other = rng.normal(size=exact.shape)
        assert deletion_auc(f, X, other, 0, baseline, absolute=False) >= best_deletion - 1e-12
        assert insertion_auc(f, X, other, 0, baseline, absolute=False) <= best_insertion + 1e-12
    # The area is the trapezoid rule over the fraction deleted.
    fractions, scores = deletion_curve(f, X, exact, 0, baseline, absolute=False)
    assert best_deletion == pytest.approx(trapezoid(scores, fractions, axis=1).mean())


def test_groups_move_together_and_steps_are_subsampled():
    w = np.array([1.0, 1.0, 10.0, 0.0])
    X = np.ones((1, 4))
    groups = [np.array([0, 1]), np.array([2, 3])]
    _, scores = deletion_curve(linear(w), X, np.array([[1.0, 5.0]]), 0, 0.0, groups=groups)
    assert scores.tolist() == [[12.0, 2.0, 0.0]]  # group 1 (features 2, 3) first
    fractions, scores = deletion_curve(linear(np.ones(300)), np.ones((1, 300)),
                                       np.ones((1, 300)), 0, 0.0, n_steps=4)
    assert fractions.tolist() == [0, 0.25, 0.5, 0.75, 1.0]
    assert scores.tolist() == [[300.0, 225.0, 150.0, 75.0, 0.0]]


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="attributions has shape"):
        deletion_curve(linear(np.ones(3)), np.ones((2, 3)), np.ones((2, 2)), 0, 0.0)
    with pytest.raises(ValueError, match="baseline has shape"):
        insertion_curve(linear(np.ones(3)), np.ones((2, 3)), np.ones((2, 3)), 0, np.ones(2))
    with pytest.raises(ValueError, match="NaN"):
        deletion_auc(linear(np.ones(3)), np.ones((1, 3)), np.array([[np.nan, 1, 1]]), 0, 0.0)
