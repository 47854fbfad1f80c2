import numpy as np
import pytest

from skexplain.feature_selection import optimal_subset
from skexplain.feature_selection._optimal_subset import subset_sizes

# Every instance sits at x = 0.5 in the domain [-1, 1] (R = 2), so feature j's box is
# [0.5 - 2 delta, min(1, 0.5 + 2 delta)], and a model steps at S = 0.454:
# P(x_j > S) = 0.5 + 0.023 / delta for delta <= 1/4, (1 - S) / (0.5 + 2 delta) above.
S = 0.454
GRID = np.geomspace(1e-4, 1, 50)


def step(X):
    """P(class 1) = 1 if x0 > S else 0."""
    return (X[:, 0] > S).astype(float)


def both(X):
    """P(class 1) = 1 if x0 > S and x1 > S else 0."""
    return ((X[:, 0] > S) & (X[:, 1] > S)).astype(float)


def test_subset_sizes_grow_by_half():
    assert subset_sizes(10).tolist() == [1, 2, 3, 5, 8, 10]
    assert subset_sizes(1).tolist() == [1]


def test_a_single_relevant_feature_flips_at_the_closed_form_delta():
    # P(x0 > S) < 1/2 once 0.5 + 2 delta > 2 (1 - S), i.e. delta > 0.296.
    X = np.full((1, 10), 0.5)
    ranking = np.array([[9.0, 1, 1, 1, 1, 1, 1, 1, 1, 1]])
    result = optimal_subset(step, X, ranking, 0, -1.0, 1.0, n_perturbations=10000,
                            random_state=0)
    assert result.size.tolist() == [1.0]
    assert result.delta[0] == GRID[GRID > 0.296][0]
    assert result.support[0].tolist() == [True] + [False] * 9


def test_the_subset_grows_with_the_rank_of_the_relevant_feature():
    X = np.full((3, 10), 0.5)
    ranking = np.ones((3, 10))
    ranking[0, 0] = 5.0  # x0 ranked 1st
    ranking[1, [1, 0]] = [5.0, 4.0]  # 2nd
    ranking[2, [1, 2, 3, 0]] = [5.0, 4.0, 3.0, 2.0]  # 4th: the next subset size is 5
    result = optimal_subset(step, X, ranking, 0, -1.0, 1.0, n_perturbations=2000,
                            random_state=0)
    assert result.size.tolist() == [1.0, 2.0, 5.0]


def test_two_features_flip_with_a_smaller_box_than_one():
    # The pair flips once P(x > S)^2 < 1/2: delta > 0.0555, objective 0.0036 +
    # (log 2 / log 10)^2 = 0.094; x0 alone needs delta > 0.296, objective 0.105.
    X = np.full((1, 10), 0.5)
    ranking = np.array([[9.0, 8, 1, 1, 1, 1, 1, 1, 1, 1]])
    result = optimal_subset(both, X, ranking, 0, -1.0, 1.0, n_perturbations=10000,
                            random_state=0)
    assert result.size.tolist() == [2.0]
    assert result.delta[0] == GRID[GRID > 0.0555][0]


def test_instances_without_a_flip_are_nan():
    X = np.array([[-0.5] * 4, [0.5] * 4])
    ranking = np.ones((2, 4))
    result = optimal_subset(step, X, ranking, 0, -1.0, 1.0, delta_grid=[0.01, 0.05],
                            n_perturbations=500, random_state=0)
    assert np.isnan(result.size).all() and np.isnan(result.delta).all()  # below 0.5 / no flip
    assert not result.support.any()
    with pytest.raises(ValueError, match="delta_grid"):
        optimal_subset(step, X, ranking, 0, -1.0, 1.0, delta_grid=[0.0, 0.5])
