"""From per-instance explanations of a data set to one importance per feature."""

import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.utils import Bunch, _safe_indexing, check_random_state, resample
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.sparsefuncs import mean_variance_axis, min_max_axis

from .._core.validation import check_input

AGGREGATES = {
    "mean_abs": lambda values: np.abs(values).mean(axis=0),
    "mean": lambda values: values.mean(axis=0),
    "median_abs": lambda values: np.median(np.abs(values), axis=0),
    "max_abs": lambda values: np.abs(values).max(axis=0),
}


def explanation_importances(
    explainer, X, y=None, *, aggregate="mean_abs", per_class=False, feature_scale=None,
    max_samples=None, random_state=None,
):
    """Explain (a subsample of) X and aggregate the explanations into feature importances.

    Parameters
    ----------
    explainer : fitted explainer
        A :class:`skexplain.BaseExplainer` whose explanations have one value per feature of X
        (not per feature group).
    X : array-like, sparse matrix or DataFrame of shape (n_samples, n_features)
        Data to explain.
    y : array-like of shape (n_samples,), optional
        Labels; used to stratify the subsample (classification targets) and, with
        ``per_class``, as the output explained for each instance.
    aggregate : {"mean_abs", "mean", "median_abs", "max_abs"} or callable, default="mean_abs"
        How a feature's values over the explained instances become one importance; a
        callable maps values of shape (n_explained, n_features) to shape (n_features,).
    per_class : bool, default=False
        False: explain each instance for the model's highest-scoring output and aggregate
        over all of them. True: explain each instance for its own label ``y``, aggregate per
        class, scale each class's importances to unit sum (so that every class has an equal
        say, however many instances or however large its scores) and take each feature's
        maximum over classes: a feature that matters for any one class ranks high.
    feature_scale : {"std", "range"} or None, default=None
        Multiply each feature's values by its standard deviation or range in X before
        aggregating. This turns sensitivities (score change per unit of the feature, as
        SensX's elementary effects or gradients) into the score change over a typical
        change of the feature, the scaled Morris measure of Sin & Gernaey (2009), so that a
        feature with a small spread does not rank high merely for being steep. Leave None
        for attributions already in score units (SHAP values, integrated gradients).
    max_samples : int, float in (0, 1] or None, default=None
        Number (int) or fraction (float) of the instances to explain, drawn without
        replacement and stratified by y for classification targets; None explains all. An
        int larger than the number of instances explains all of them.
    random_state : int, RandomState instance or None, default=None
        Draws the subsample.

    Returns
    -------
    result : Bunch
        ``importances`` (n_features,); ``class_importances`` (n_classes, n_features) and
        ``classes`` (n_classes,) with ``per_class``, else None; ``rows``, the indices of the
        explained instances; ``explanation``, their :class:`skexplain.Explanation`;
        ``attributions`` (n_explained, n_features), its values as aggregated (scaled by
        ``feature_scale``).

    Raises
    ------
    ValueError
        If ``per_class`` has no y, the explanations are not one value per feature, or the
        aggregate is unknown or returns the wrong shape.
    """
    if not hasattr(X, "shape"):
        X = np.asarray(X, dtype=np.float64)
    n_samples, n_features = X.shape
    if per_class and y is None:
        raise ValueError("per_class=True explains each instance for its label: y is required.")
    rows = explained_rows(n_samples, y, max_samples, random_state)
    X_explained = _safe_indexing(X, rows)
    y_explained = None if y is None else np.asarray(y)[rows]
    target = _label_targets(explainer, X_explained, y_explained) if per_class else None
    explanation = explainer.explain(X_explained, target=target)
    values = explanation.values.reshape(len(explanation), -1)
    if values.shape[1] != n_features:
        raise ValueError(
            f"The explanations have {values.shape[1]} values per instance for {n_features} "
            "features; selecting features needs one value per feature (not per group)."
        )
    if feature_scale is not None:
        values = values * feature_spread(X, feature_scale)
    result = Bunch(rows=rows, explanation=explanation, attributions=values,
                   class_importances=None, classes=None)
    if not per_class:
        result.importances = _aggregate(values, aggregate, n_features)
        return result
    classes = np.unique(y_explained)
    per_class_values = np.vstack(
        [_aggregate(values[y_explained == c], aggregate, n_features) for c in classes]
    )
    totals = np.abs(per_class_values).sum(axis=1, keepdims=True)
    scaled = np.divide(per_class_values, totals, out=np.zeros_like(per_class_values),
                       where=totals > 0)
    result.update(importances=scaled.max(axis=0), class_importances=per_class_values,
                  classes=classes)
    return result


def feature_spread(X, how):
    """Per-feature standard deviation ("std") or range ("range") of X, dense or sparse."""
    if sp.issparse(X):
        X = sp.csr_matrix(X)
        if how == "std":
            return np.sqrt(mean_variance_axis(X, axis=0)[1])
        low, high = min_max_axis(X, axis=0)
        return np.asarray(high - low, dtype=np.float64)
    values = np.asarray(X, dtype=np.float64)
    if how == "std":
        return values.std(axis=0)
    if how == "range":
        return values.max(axis=0) - values.min(axis=0)
    raise ValueError(f"Unknown feature_scale {how!r}; choose 'std', 'range' or None.")


def seeded_explainer(explainer, random_state):
    """A clone of explainer; an explainer random_state of None is drawn from random_state.

    Returns
    -------
    explainer : explainer
    random_state : RandomState
        The generator, for whatever else it seeds.
    """
    rng = check_random_state(random_state)
    explainer = clone(explainer)
    if explainer.get_params(deep=False).get("random_state", 0) is None:
        explainer.set_params(random_state=int(rng.randint(np.iinfo(np.int32).max)))
    return explainer, rng


def explained_rows(n_samples, y, max_samples, random_state):
    """Sorted indices of the instances to explain."""
    if max_samples is None:
        return np.arange(n_samples)
    if isinstance(max_samples, numbers.Integral):
        size = min(int(max_samples), n_samples)
    else:
        size = max(1, int(round(max_samples * n_samples)))
    if size == n_samples:
        return np.arange(n_samples)
    stratify = None
    if y is not None and type_of_target(y) in ("binary", "multiclass"):
        stratify = np.asarray(y)
    rows = resample(np.arange(n_samples), replace=False, n_samples=size, stratify=stratify,
                    random_state=check_random_state(random_state))
    return np.sort(rows)


def _label_targets(explainer, X, labels):
    """Output index of each label: looked up in the model's classes when it has them."""
    names = _output_names(explainer, X)
    if names is None:
        return labels
    index = {label: i for i, label in enumerate(names.tolist())}
    missing = sorted({label for label in labels.tolist() if label not in index}, key=str)
    if missing:
        raise ValueError(f"Labels {missing} are not among the model's classes {list(names)}.")
    return np.array([index[label] for label in labels.tolist()])


def _output_names(explainer, X):
    """Names of the explained model's outputs (class labels or None), from one scored row."""
    row, _, _ = check_input(_safe_indexing(X, [0]))
    row = row.toarray() if sp.issparse(row) else row
    adapter = explainer.score_function_
    return adapter.names_for(adapter(row).shape[1])


def _aggregate(values, aggregate, n_features):
    if callable(aggregate):
        importances = np.asarray(aggregate(values), dtype=np.float64)
    elif aggregate in AGGREGATES:
        importances = AGGREGATES[aggregate](values)
    else:
        raise ValueError(
            f"Unknown aggregate {aggregate!r}; choose one of {sorted(AGGREGATES)} or a "
            "callable."
        )
    if importances.shape != (n_features,):
        raise ValueError(
            f"The aggregate returned shape {importances.shape}; expected ({n_features},)."
        )
    return importances
