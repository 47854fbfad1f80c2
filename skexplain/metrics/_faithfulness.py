"""Faithfulness of attributions: does removing what an explanation ranks first move the model?"""

import numpy as np
from scipy.integrate import trapezoid
from sklearn.utils import check_random_state

from ._common import (
    DEFAULT_BATCH_SIZE,
    check_attributions,
    check_feature_vector,
    column_ranks,
    ranked_units,
    score_rows,
    unit_steps,
)

DEFAULT_FRACTIONS = np.linspace(0.05, 0.5, 10)


def deletion_score(
    score_function, X, attributions, target, baseline, groups=None, fractions=None,
    random_state=0,
):
    """Deletion faithfulness relative to random deletion (higher is better).

    For each instance the features (or groups) are ranked by absolute attribution; the top k
    are set to ``baseline`` and the absolute change of the model's score is recorded, for k
    from ``fractions`` of the features. The same is done for a random ranking. The score is
    the mean over instances and k of the difference: positive when the explanation finds
    features that matter more than random ones, about 0 for an uninformative explanation.
    It is a deletion curve (Samek et al. 2017, "Evaluating the visualization of what a deep
    neural network has learned") compared with its random-order control, as in the top-k
    perturbation test of SensX (Aggarwal, Cogan & Periwal 2025).

    Parameters
    ----------
    score_function : callable
        Maps a batch of shape (batch, n_features) to scores of shape (batch, n_outputs).
    X : ndarray of shape (n_samples, n_features)
        The explained instances, flattened.
    attributions : ndarray of shape (n_samples, n_units)
        One value per feature, or per group when ``groups`` is given.
    target : ndarray of shape (n_samples,), int
        Output index explained for each instance.
    baseline : ndarray of shape (n_features,)
        Value a deleted feature takes (for example the mean of the reference data).
    groups : list of ndarray of int, optional
        Member feature indices of each unit; None when units are single features.
    fractions : array-like of float in (0, 1], optional
        Fractions of units to delete; default ``linspace(0.05, 0.5, 10)``.
    random_state : int, RandomState instance or None, default=0
        Seed of the random control ranking.

    Returns
    -------
    score : float
        In units of the model's score (a probability for classifiers).

    Raises
    ------
    ValueError
        If the shapes of X, attributions, target and baseline disagree.
    """
    X = np.asarray(X, dtype=np.float64)
    attributions = np.asarray(attributions, dtype=np.float64)
    n_samples, n_features = X.shape
    n_units = n_features if groups is None else len(groups)
    if attributions.shape != (n_samples, n_units) or np.shape(baseline) != (n_features,):
        raise ValueError(
            f"Shapes disagree: X {X.shape}, attributions {attributions.shape} "
            f"(expected ({n_samples}, {n_units})), baseline {np.shape(baseline)}."
        )
    fractions = DEFAULT_FRACTIONS if fractions is None else np.asarray(fractions)
    ks = np.unique(np.clip(np.ceil(fractions * n_units).astype(int), 1, n_units))
    rng = check_random_state(random_state)
    gains = []
    for i in range(n_samples):
        ranked = np.argsort(-np.abs(attributions[i]), kind="stable")
        random_order = rng.permutation(n_units)
        deleted = np.vstack(
            [_deleted_rows(X[i], baseline, order, ks, groups) for order in (ranked, random_order)]
        )
        scores = score_function(np.vstack([X[i][None], deleted]))[:, target[i]]
        change = np.abs(scores[1:] - scores[0])
        gains.append(change[: len(ks)].mean() - change[len(ks):].mean())
    return float(np.mean(gains))


def _deleted_rows(x, baseline, order, ks, groups):
    """One row per k: x with its first k units in ``order`` set to the baseline."""
    rows = np.repeat(x[None], len(ks), axis=0)
    for row, k in zip(rows, ks, strict=True):
        units = order[:k]
        columns = units if groups is None else np.concatenate([groups[u] for u in units])
        row[columns] = baseline[columns]
    return rows


def deletion_curve(
    score_function, X, attributions, target, baseline, *, groups=None, n_steps=None,
    absolute=True, batch_size=DEFAULT_BATCH_SIZE,
):
    """Model score as the top-ranked features are deleted one step at a time.

    Step k sets the k highest-ranked features (or groups) of each instance to ``baseline``,
    the rest keeping their value, and records the model's score of the explained output. A
    faithful explanation makes the score fall fast: a small area under the curve
    (:func:`deletion_auc`). This is the deletion metric of Petsiuk, Das & Saenko, "RISE:
    Randomized input sampling for explanation of black-box models", BMVC 2018 (pixel flipping
    in Samek et al. 2017).

    Parameters
    ----------
    score_function : callable
        Maps a batch of shape (batch, n_features) to scores of shape (batch, n_outputs), e.g.
        a classifier's ``predict_proba`` or an explainer's ``score_function_``.
    X : ndarray of shape (n_samples, n_features)
        The explained instances, flattened.
    attributions : ndarray of shape (n_samples, n_units)
        One value per feature, or per group when ``groups`` is given.
    target : int or ndarray of shape (n_samples,)
        Output index explained for each instance.
    baseline : float or ndarray of shape (n_features,)
        Value a deleted feature takes (for example the mean of the reference data).
    groups : list of ndarray of int, optional
        Member feature indices of each unit; None when units are single features.
    n_steps : int, optional
        Number of even steps from no unit to all units; default ``min(n_units, 100)``, so
        every unit is its own step for up to 100 units.
    absolute : bool, default=True
        Rank by absolute attribution (True) or by signed attribution, largest first (False).
    batch_size : int or "auto", default="auto"
        Rows per model call; "auto" is the explainers' policy (64 MiB of float64 rows, at
        most 4096).

    Returns
    -------
    fractions : ndarray of shape (n_points,)
        Fraction of units deleted at each point, from 0 to 1.
    scores : ndarray of shape (n_samples, n_points)
        Model score of the explained output at each point.

    Raises
    ------
    ValueError
        If the shapes of X, attributions, target and baseline disagree.

    See Also
    --------
    insertion_curve, deletion_auc
    """
    return _replacement_curve(
        score_function, X, attributions, target, baseline, groups, n_steps, absolute,
        batch_size, insert=False,
    )


def insertion_curve(
    score_function, X, attributions, target, baseline, *, groups=None, n_steps=None,
    absolute=True, batch_size=DEFAULT_BATCH_SIZE,
):
    """Model score as the top-ranked features are inserted into the baseline.

    Step k starts from ``baseline`` and gives the k highest-ranked features (or groups) their
    value in the instance. A faithful explanation makes the score rise fast: a large area
    under the curve (:func:`insertion_auc`). The insertion metric of Petsiuk, Das & Saenko,
    "RISE", BMVC 2018. Parameters, returns and errors as in :func:`deletion_curve`.

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
    baseline : float or ndarray of shape (n_features,)
        The starting point: the value of every feature not yet inserted.
    groups : list of ndarray of int, optional
        Member feature indices of each unit.
    n_steps : int, optional
        Number of even steps; default ``min(n_units, 100)``.
    absolute : bool, default=True
        Rank by absolute attribution (True) or by signed attribution (False).
    batch_size : int or "auto", default="auto"
        Rows per model call; "auto" is the explainers' policy (64 MiB of float64 rows, at
        most 4096).

    Returns
    -------
    fractions : ndarray of shape (n_points,)
        Fraction of units inserted at each point, from 0 to 1.
    scores : ndarray of shape (n_samples, n_points)
        Model score of the explained output at each point.
    """
    return _replacement_curve(
        score_function, X, attributions, target, baseline, groups, n_steps, absolute,
        batch_size, insert=True,
    )


def deletion_auc(score_function, X, attributions, target, baseline, **kwargs):
    """Area under the deletion curve (lower is better), mean over instances.

    The trapezoid area of :func:`deletion_curve` over the fraction of units deleted (0 to 1),
    in units of the model's score. Keyword arguments are those of :func:`deletion_curve`.

    Returns
    -------
    auc : float
    """
    fractions, scores = deletion_curve(score_function, X, attributions, target, baseline,
                                       **kwargs)
    return float(trapezoid(scores, fractions, axis=1).mean())


def insertion_auc(score_function, X, attributions, target, baseline, **kwargs):
    """Area under the insertion curve (higher is better), mean over instances.

    The trapezoid area of :func:`insertion_curve` over the fraction of units inserted (0 to
    1), in units of the model's score. Keyword arguments are those of
    :func:`insertion_curve`.

    Returns
    -------
    auc : float
    """
    fractions, scores = insertion_curve(score_function, X, attributions, target, baseline,
                                        **kwargs)
    return float(trapezoid(scores, fractions, axis=1).mean())


def _replacement_curve(
    score_function, X, attributions, target, baseline, groups, n_steps, absolute, batch_size,
    insert,
):
    X, attributions, target = check_attributions(X, attributions, target, groups)
    n_samples, n_features = X.shape
    baseline = check_feature_vector(baseline, n_features, "baseline")
    ks = unit_steps(attributions.shape[1], n_steps)
    orders = ranked_units(attributions, absolute)
    scores = np.empty((n_samples, len(ks)))
    for i in range(n_samples):
        replaced = column_ranks(orders[i], n_features, groups)[None, :] < ks[:, None]
        start, end = (baseline, X[i]) if insert else (X[i], baseline)
        rows = np.where(replaced, end, start)
        scores[i] = score_rows(score_function, rows, target[i], batch_size, owner=i)
    return ks / attributions.shape[1], scores
