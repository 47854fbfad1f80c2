"""SensX's top-k perturbation test: randomise the top-ranked features inside a box."""

import numpy as np
from scipy.integrate import trapezoid

from ._common import (
    DEFAULT_BATCH_SIZE,
    check_attributions,
    check_feature_vector,
    check_positive_int,
    column_ranks,
    instance_rngs,
    ranked_units,
    score_rows,
    unit_steps,
)


def topk_perturbation_curve(
    score_function, X, attributions, target, lower, upper, *, delta=1.0, groups=None,
    n_steps=None, n_perturbations=1000, quantile=0.5, absolute=True,
    batch_size=DEFAULT_BATCH_SIZE, random_state=None,
):
    """Median model score when the top-k ranked features are drawn at random in a box.

    For each instance x and each k, the k highest-ranked features (or groups) are drawn
    uniformly and independently in the box ``[max(lower, x - delta R), min(upper, x + delta
    R)]`` (R = upper - lower), the other features keeping their value, ``n_perturbations``
    times; the curve is the ``quantile`` (median) of the model's score of the explained
    output against k. A faithful ranking makes it fall fast: a small area under the curve
    (:func:`topk_perturbation_auc`). This is the test by which SensX was compared with other
    attribution methods on single-cell classifiers (Aggarwal, Cogan & Periwal, bioRxiv
    2025.02.21.639516), where delta is SensX's delta*.

    Parameters
    ----------
    score_function : callable
        Maps a batch of shape (batch, n_features) to scores of shape (batch, n_outputs).
    X : ndarray of shape (n_samples, n_features)
        The explained instances, flattened.
    attributions : ndarray of shape (n_samples, n_units)
        One value per feature, or per group when ``groups`` is given.
    target : int or ndarray of shape (n_samples,)
        Output index explained for each instance.
    lower, upper : float or ndarray of shape (n_features,)
        Global domain of the features (e.g. the min / max of the training data); it is
        widened to contain each instance.
    delta : float or ndarray of shape (n_samples,), default=1.0
        Half-width of the box as a fraction of the global range, in [0, 1]; one per instance
        to use, e.g., SensX's ``info["delta_star"]``.
    groups : list of ndarray of int, optional
        Member feature indices of each unit; a group is redrawn as a whole.
    n_steps : int, optional
        Number of even steps of k from 0 to n_units; default ``min(n_units, 100)``.
    n_perturbations : int, default=1000
        Random draws per instance and k.
    quantile : float in [0, 1], default=0.5
        Quantile of the scores recorded (the median in SensX).
    absolute : bool, default=True
        Rank by absolute attribution (True) or by signed attribution (False).
    batch_size : int or "auto", default="auto"
        Rows per model call; "auto" is the explainers' policy (64 MiB of float64 rows, at
        most 4096).
    random_state : int, RandomState instance or None, default=None
        Seeds the draws; instance i's draws depend only on it and i.

    Returns
    -------
    fractions : ndarray of shape (n_points,)
        k as a fraction of the number of units, from 0 to 1.
    scores : ndarray of shape (n_samples, n_points)
        The quantile of the model's score at each k; the first column is the unperturbed
        score.

    Raises
    ------
    ValueError
        If shapes disagree, lower exceeds upper, or delta or quantile is out of range.
    """
    X, attributions, target = check_attributions(X, attributions, target, groups)
    n_samples, n_features = X.shape
    lower = np.minimum(check_feature_vector(lower, n_features, "lower"), X)
    upper = np.maximum(check_feature_vector(upper, n_features, "upper"), X)
    delta = np.broadcast_to(np.asarray(delta, dtype=np.float64), (n_samples,))
    if not np.all((delta >= 0) & (delta <= 1)):
        raise ValueError("delta must lie in [0, 1].")
    if not 0 <= quantile <= 1:
        raise ValueError(f"quantile must lie in [0, 1], got {quantile!r}.")
    n_perturbations = check_positive_int(n_perturbations, "n_perturbations")
    n_units = attributions.shape[1]
    ks = unit_steps(n_units, n_steps)
    orders = ranked_units(attributions, absolute)
    rngs = instance_rngs(random_state, n_samples)
    scores = np.empty((n_samples, len(ks)))
    for i in range(n_samples):
        low, high = walk_box(X[i], lower[i], upper[i], delta[i])
        ranks = column_ranks(orders[i], n_features, groups)
        scores[i, 0] = score_rows(score_function, X[i][None], target[i], owner=i)[0]
        for j, k in enumerate(ks[1:], start=1):
            drawn = perturbed_scores(
                score_function, X[i], target[i], np.flatnonzero(ranks < k), low, high,
                n_perturbations, rngs[i], batch_size, owner=i,
            )
            scores[i, j] = np.quantile(drawn, quantile)
    return ks / n_units, scores


def topk_perturbation_auc(score_function, X, attributions, target, lower, upper, **kwargs):
    """Area under the top-k perturbation curve (lower is better), mean over instances.

    The trapezoid area of :func:`topk_perturbation_curve` over k as a fraction of the number
    of units (0 to 1), in units of the model's score. Keyword arguments are those of
    :func:`topk_perturbation_curve`.

    Returns
    -------
    auc : float
    """
    fractions, scores = topk_perturbation_curve(
        score_function, X, attributions, target, lower, upper, **kwargs
    )
    return float(trapezoid(scores, fractions, axis=1).mean())


def perturbed_scores(score_function, x, target, columns, low, high, n_perturbations, rng,
                     batch_size=DEFAULT_BATCH_SIZE, owner=0):
    """Scores of ``n_perturbations`` copies of x whose ``columns`` are uniform in [low, high].

    Returns
    -------
    scores : ndarray of shape (n_perturbations,)
    """
    rows = np.repeat(x[None], n_perturbations, axis=0)
    rows[:, columns] = rng.uniform(low[columns], high[columns],
                                   size=(n_perturbations, len(columns)))
    return score_rows(score_function, rows, target, batch_size, owner)


def walk_box(x, lower, upper, delta):
    """The box ``[max(lower, x - delta R), min(upper, x + delta R)]``, R = upper - lower."""
    half_width = delta * (upper - lower)
    return np.maximum(lower, x - half_width), np.minimum(upper, x + half_width)
