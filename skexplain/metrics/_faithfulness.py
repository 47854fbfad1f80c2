"""Faithfulness of attributions: does removing what an explanation ranks first move the model?"""

import numpy as np
from sklearn.utils import check_random_state

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
