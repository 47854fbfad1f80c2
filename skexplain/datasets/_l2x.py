"""Synthetic feature-selection tasks of L2X (Chen et al., 2018)."""

import numbers

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["make_l2x_synthetic"]

_MIN_FEATURES = 10
_SWITCH_FEATURE = 9
_SWITCH_SHIFT = 3.0


def _xor_score(X):
    return X[:, 0] * X[:, 1]


def _orange_skin_score(X):
    return np.sum(X[:, :4] ** 2, axis=1) - 4.0


def _nonlinear_additive_score(X):
    return -100.0 * np.sin(0.2 * X[:, 0]) + np.abs(X[:, 1]) + X[:, 2] + np.exp(-X[:, 3]) - 2.4


# name -> (score function of the first four columns, relevant column indices)
_SIMPLE_TASKS = {
    "xor": (_xor_score, (0, 1)),
    "orange_skin": (_orange_skin_score, (0, 1, 2, 3)),
    "nonlinear_additive": (_nonlinear_additive_score, (0, 1, 2, 3)),
}
_VALID_NAMES = (*_SIMPLE_TASKS, "switch")


def _check_params(name, n_samples, n_features):
    if name not in _VALID_NAMES:
        raise ValueError(f"Unknown task name {name!r}; valid names are {list(_VALID_NAMES)}.")
    for param, value in (("n_samples", n_samples), ("n_features", n_features)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            raise TypeError(f"{param} must be an integer, got {type(value).__name__}.")
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}.")
    if n_features < _MIN_FEATURES:
        raise ValueError(f"n_features must be >= {_MIN_FEATURES}, got {n_features}.")


def _make_switch(X, rng):
    """Shift column 9 and label each row with its own rule, in place on ``X``."""
    n_samples, n_features = X.shape
    orange = np.zeros(n_samples, dtype=bool)
    orange[rng.permutation(n_samples)[: n_samples // 2]] = True

    X[:, _SWITCH_FEATURE] += np.where(orange, _SWITCH_SHIFT, -_SWITCH_SHIFT)
    # Orange-skin rows use x0..x3; the other rows use the additive rule on x4..x7
    # (the reference generator swaps columns 0-3 and 4-7 after labelling).
    score = np.where(orange, _orange_skin_score(X), _nonlinear_additive_score(X[:, 4:8]))

    relevant = np.zeros((n_samples, n_features), dtype=bool)
    relevant[orange, :4] = True
    relevant[~orange, 4:8] = True
    relevant[:, _SWITCH_FEATURE] = True
    return score, relevant


def make_l2x_synthetic(name, n_samples=10000, n_features=10, random_state=None):
    """Generate one of the synthetic feature-selection tasks of L2X.

    The features are drawn i.i.d. from a standard normal distribution and the
    binary label is ``y = 1`` if and only if a task-specific score ``s(x) < 0``.
    Only a few features enter ``s``, so the ground truth of which features
    matter is known for every row. The tasks were introduced by L2X [1]_ and
    are used to benchmark SensX [2]_.

    - ``"xor"``: ``s = x0 * x1``; relevant features ``{0, 1}``.
    - ``"orange_skin"``: ``s = x0^2 + x1^2 + x2^2 + x3^2 - 4``;
      relevant ``{0, 1, 2, 3}``.
    - ``"nonlinear_additive"``:
      ``s = -100 sin(0.2 x0) + |x1| + x2 + exp(-x3) - 2.4``;
      relevant ``{0, 1, 2, 3}``.
    - ``"switch"``: a random half of the rows (``n_samples // 2`` of them)
      has ``x9`` shifted by ``+3`` and follows the orange-skin rule on
      ``x0..x3`` (relevant ``{0, 1, 2, 3, 9}``); the other half has ``x9``
      shifted by ``-3`` and follows the nonlinear-additive rule applied to
      ``x4..x7`` (relevant ``{4, 5, 6, 7, 9}``).

    The reference generator draws labels from ``P(y = 1) = 1 / (1 + exp(s))``
    and then takes the most probable class; thresholding ``s`` at zero, as done
    here, gives the same labels.

    Parameters
    ----------
    name : {"xor", "orange_skin", "nonlinear_additive", "switch"}
        The task to generate.
    n_samples : int, default=10000
        Number of rows.
    n_features : int, default=10
        Number of columns, at least 10. Columns beyond those used by the task
        are pure noise.
    random_state : int, RandomState instance or None, default=None
        Seed or generator that makes the output deterministic.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), dtype float64
        The features.
    y : ndarray of shape (n_samples,), dtype int
        The labels, ``1`` where ``s(x) < 0`` and ``0`` elsewhere.
    relevant : ndarray of shape (n_samples, n_features), dtype bool
        ``relevant[i, j]`` is True when feature ``j`` enters the label rule of
        row ``i``.

    Raises
    ------
    ValueError
        If ``name`` is not a known task, ``n_samples < 1`` or
        ``n_features < 10``.

    References
    ----------
    .. [1] J. Chen, L. Song, M. J. Wainwright and M. I. Jordan, "Learning to
       Explain: An Information-Theoretic Perspective on Model Interpretation",
       ICML 2018.
    .. [2] SensX, reference code at https://github.com/nihcompmed/SensX
       (``synthetic_datasets/make_data.py``).

    Examples
    --------
    >>> from skexplain.datasets import make_l2x_synthetic
    >>> X, y, relevant = make_l2x_synthetic("xor", n_samples=5, random_state=0)
    >>> X.shape, y.shape, relevant.shape
    ((5, 10), (5,), (5, 10))
    >>> relevant[0].nonzero()[0]
    array([0, 1])
    """
    _check_params(name, n_samples, n_features)
    rng = check_random_state(random_state)
    X = rng.standard_normal((n_samples, n_features))

    if name == "switch":
        score, relevant = _make_switch(X, rng)
    else:
        score_fn, columns = _SIMPLE_TASKS[name]
        score = score_fn(X)
        relevant = np.zeros((n_samples, n_features), dtype=bool)
        relevant[:, list(columns)] = True

    y = (score < 0).astype(int)
    return X, y, relevant
