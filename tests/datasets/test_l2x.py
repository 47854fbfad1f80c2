import numpy as np
import pytest

from skexplain.datasets import make_l2x_synthetic

TASKS = ["xor", "orange_skin", "nonlinear_additive", "switch"]


@pytest.mark.parametrize("name", TASKS)
@pytest.mark.parametrize("n_features", [10, 13])
def test_shapes_and_dtypes(name, n_features):
    X, y, relevant = make_l2x_synthetic(name, n_samples=50, n_features=n_features, random_state=0)
    assert X.shape == (50, n_features)
    assert X.dtype == np.float64
    assert y.shape == (50,)
    assert np.issubdtype(y.dtype, np.integer)
    assert set(np.unique(y)) <= {0, 1}
    assert relevant.shape == (50, n_features)
    assert relevant.dtype == bool
    # Extra columns are never relevant.
    assert not relevant[:, 10:].any()


@pytest.mark.parametrize("name", TASKS)
def test_deterministic_under_random_state(name):
    first = make_l2x_synthetic(name, n_samples=200, random_state=42)
    second = make_l2x_synthetic(name, n_samples=200, random_state=np.random.RandomState(42))
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    other = make_l2x_synthetic(name, n_samples=200, random_state=43)
    assert not np.array_equal(first[0], other[0])


def _additive(X):
    return -100 * np.sin(0.2 * X[:, 0]) + np.abs(X[:, 1]) + X[:, 2] + np.exp(-X[:, 3]) - 2.4


@pytest.mark.parametrize(
    "name, score, columns",
    [
        ("xor", lambda X: X[:, 0] * X[:, 1], [0, 1]),
        ("orange_skin", lambda X: (X[:, :4] ** 2).sum(axis=1) - 4, [0, 1, 2, 3]),
        ("nonlinear_additive", _additive, [0, 1, 2, 3]),
    ],
)
def test_label_rule_and_mask(name, score, columns):
    X, y, relevant = make_l2x_synthetic(name, n_samples=2000, random_state=0)
    np.testing.assert_array_equal(y, (score(X) < 0).astype(int))
    expected = np.zeros(10, dtype=bool)
    expected[columns] = True
    assert (relevant == expected).all()


def test_switch_rule_and_mask():
    n_samples = 2001
    X, y, relevant = make_l2x_synthetic("switch", n_samples=n_samples, random_state=0)
    # The group of a row is in the relevant mask; it must agree with the shift of x9.
    orange = relevant[:, 0]
    assert orange.sum() == n_samples // 2
    assert relevant[:, 9].all()
    np.testing.assert_array_equal(relevant[:, :4], np.repeat(orange[:, None], 4, axis=1))
    np.testing.assert_array_equal(relevant[:, 4:8], np.repeat(~orange[:, None], 4, axis=1))
    assert not relevant[:, 8].any()
    assert relevant.sum(axis=1).tolist() == [5] * n_samples
    # x9 ~ N(+-3, 1): its sign matches the group except in the far tail.
    agreement = np.mean((X[:, 9] > 0) == orange)
    assert agreement > 0.99
    assert abs(X[orange, 9].mean() - 3) < 0.15
    assert abs(X[~orange, 9].mean() + 3) < 0.15

    orange_score = (X[:, :4] ** 2).sum(axis=1) - 4
    additive_score = _additive(X[:, 4:8])
    np.testing.assert_array_equal(y[orange], (orange_score[orange] < 0).astype(int))
    np.testing.assert_array_equal(y[~orange], (additive_score[~orange] < 0).astype(int))


def test_switch_groups_are_shuffled():
    _, _, relevant = make_l2x_synthetic("switch", n_samples=1000, random_state=0)
    orange = relevant[:, 0]
    # Not simply the first half.
    assert 0.3 < orange[:500].mean() < 0.7


@pytest.mark.parametrize("name", TASKS)
def test_class_balance(name):
    _, y, _ = make_l2x_synthetic(name, n_samples=20000, random_state=0)
    assert 0.35 < y.mean() < 0.65


@pytest.mark.parametrize("name", ["XOR", "regression", ""])
def test_unknown_name(name):
    with pytest.raises(ValueError, match="xor.*orange_skin.*nonlinear_additive.*switch"):
        make_l2x_synthetic(name)


@pytest.mark.parametrize("n_features", [0, 4, 9])
def test_too_few_features(n_features):
    with pytest.raises(ValueError, match="n_features"):
        make_l2x_synthetic("xor", n_features=n_features)


@pytest.mark.parametrize("n_samples", [0, -3])
def test_bad_n_samples(n_samples):
    with pytest.raises(ValueError, match="n_samples"):
        make_l2x_synthetic("xor", n_samples=n_samples)


@pytest.mark.parametrize("kwargs", [{"n_samples": 10.0}, {"n_features": 10.5}])
def test_non_integer_sizes(kwargs):
    with pytest.raises(TypeError):
        make_l2x_synthetic("xor", **kwargs)
