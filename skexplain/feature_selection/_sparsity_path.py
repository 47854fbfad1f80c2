"""The self-explaining baseline: how many features an L1-regularised linear model needs."""

import warnings

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_X_y

from .._linear import l1_logistic_regression


def sparsity_path(X, y, Cs, *, cv=5, scoring=None, max_iter=2000, tol=1e-4, n_jobs=None,
                  random_state=None):
    """Features used against accuracy along the path of an L1-regularised logistic regression.

    The sparse linear model explains itself: its non-zero coefficients are the features it
    uses. For each C, a pipeline of :class:`~sklearn.preprocessing.StandardScaler` (so that
    the penalty treats every feature alike) and an L1 logistic regression is scored by
    stratified cross-validation, and refitted on all of X to count the features with a
    non-zero coefficient (for any class). This is the baseline that post-hoc gene
    selection from a deep model's explanations has to beat.

    Parameters
    ----------
    X : array-like, sparse matrix or DataFrame of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Class labels.
    Cs : array-like of float
        Inverse regularisation strengths (larger: weaker penalty, more features).
    cv : int, cross-validation generator or iterable of (train, test) splits, default=5
        Folds; an int means a shuffled ``StratifiedKFold`` seeded by ``random_state``; one
        ``[(train, test)]`` split scores on a fixed held-out set.
    scoring : str or callable, default=None
        Scorer of :func:`sklearn.model_selection.cross_validate`; None is accuracy.
    max_iter : int, default=2000
        Iterations of saga.
    tol : float, default=1e-4
        Stopping tolerance of saga.
    n_jobs : int, default=None
        Joblib workers over folds.
    random_state : int, RandomState instance or None, default=None
        Seeds the folds and saga.

    Returns
    -------
    path : pandas.DataFrame
        One row per C in increasing order: ``C``, ``n_features`` and ``n_coefficients``
        (non-zero features and coefficients of the model fitted on all of X), ``score`` and
        ``score_std`` (mean and standard deviation over folds) and ``features`` (tuple of
        the names of the features used, by decreasing largest absolute coefficient).

    Raises
    ------
    ValueError
        If Cs is empty or not all positive and finite, or X and y are invalid.

    References
    ----------
    Tibshirani, "Regression shrinkage and selection via the lasso", JRSS B 58 (1996).

    Examples
    --------
    >>> import numpy as np
    >>> from skexplain.feature_selection import sparsity_path
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 10))
    >>> y = (X[:, 0] - X[:, 1] > 0).astype(int)
    >>> path = sparsity_path(X, y, Cs=[0.001, 0.05, 10.0], random_state=0)
    >>> path["n_features"].tolist()[0], sorted(path["features"].iloc[1])
    (0, ['x0', 'x1'])
    """
    names = (np.asarray(X.columns, dtype=object) if hasattr(X, "columns")
             else np.array([f"x{j}" for j in range(np.shape(X)[1])], dtype=object))
    X, y = check_X_y(X, y, accept_sparse="csr", dtype=np.float64)
    Cs = np.sort(np.asarray(Cs, dtype=np.float64).ravel())
    if Cs.size == 0 or not np.all(np.isfinite(Cs)) or np.any(Cs <= 0):
        raise ValueError(f"Cs must be positive finite numbers, got {Cs.tolist()}.")
    if isinstance(cv, int):
        cv = StratifiedKFold(n_splits=cv, shuffle=True, random_state=random_state)
    seed = np.random.RandomState(random_state).randint(np.iinfo(np.int32).max) \
        if not isinstance(random_state, int) else random_state
    rows = []
    for C in Cs:
        pipeline = make_pipeline(
            StandardScaler(with_mean=not hasattr(X, "toarray")),
            l1_logistic_regression(C, max_iter=max_iter, tol=tol, random_state=seed),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            scores = cross_validate(pipeline, X, y, cv=cv, scoring=scoring,
                                    n_jobs=n_jobs)["test_score"]
            coef = np.atleast_2d(clone(pipeline).fit(X, y)[-1].coef_)
        weight = np.abs(coef).max(axis=0)
        used = np.flatnonzero(weight)
        rows.append({
            "C": C, "n_features": len(used), "n_coefficients": int(np.count_nonzero(coef)),
            "score": scores.mean(), "score_std": scores.std(),
            "features": tuple(names[used[np.argsort(-weight[used], kind="stable")]]),
        })
    return pd.DataFrame(rows)
