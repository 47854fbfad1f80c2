"""ExplanationSelector: keep the features that explanations of a model rank highest."""

import math
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, _fit_context, clone
from sklearn.feature_selection import SelectorMixin
from sklearn.utils import Bunch
from sklearn.utils._param_validation import HasMethods, Interval, RealNotInt, StrOptions
from sklearn.utils.validation import check_is_fitted, check_memory, validate_data

from .._core.validation import check_numeric
from ._aggregate import AGGREGATES, explanation_importances, seeded_explainer
from ._optimal_subset import optimal_subset


class ExplanationSelector(SelectorMixin, MetaEstimatorMixin, BaseEstimator):
    """Select the features that explanations of a model rank highest.

    ``fit`` explains the training data (or a subsample of ``max_samples`` instances) with
    ``explainer``, aggregates the explanations into one importance per feature
    (``feature_importances_``) and keeps the top features. It is a scikit-learn selector:
    it works in a Pipeline, in ``GridSearchCV`` over ``n_features_to_select``, keeps feature
    names (``get_feature_names_out``, e.g. gene names) and sparse input stays sparse.

    Which model is explained:

    - ``estimator=None``: the explainer's ``model``, as given and already fitted. It must
      take the very features the selector receives (in a Pipeline, the output of the steps
      before it) and is never refitted, so under cross-validation it has seen the test
      folds if it was fitted on all the data.
    - ``estimator`` given (and the explainer without a model, e.g. ``Occlusion()``):
      ``fit(X, y)`` fits a clone of ``estimator`` on the training data it receives,
      explains that fitted clone (``estimator_``) on the same training data and selects.
      Under cross-validation
      (``GridSearchCV(Pipeline([..., ("select", ExplanationSelector(...)), ...]))``) each
      training fold gets its own model and explanations: nothing from the test fold leaks
      into the selection. This is the setting for tuning ``n_features_to_select``; pass
      ``memory`` so that the fits and explanations are computed once per fold, not once
      per candidate.

    Parameters
    ----------
    explainer : explainer
        An unfitted or fitted :class:`skexplain.BaseExplainer` (e.g. ``SensX``);
        a clone of it is fitted on the training data. Its ``model`` is the fitted model to
        explain, or None when ``estimator`` is given.
    estimator : estimator, default=None
        An unfitted model, fitted by ``fit`` on (X, y) and explained; see above.
    n_features_to_select : int, float in (0, 1], "auto" or None, default=None
        Number (int) or fraction (float) of features to keep. None keeps half of them, or,
        with a ``threshold``, all above it. "auto" keeps the median size of SensX's
        per-instance optimal subsets (see :func:`optimal_subset`: the smallest set of
        top-ranked features whose perturbation flips the prediction), the features being
        the top ones by ``feature_importances_``.
    threshold : float, str or None, default=None
        Keep features whose importance is at least this value: a float, "mean", "median",
        or a scaled one such as "0.5*mean". With ``n_features_to_select``, at most that many
        of them are kept.
    aggregate : {"mean_abs", "mean", "median_abs", "max_abs"} or callable, default="mean_abs"
        How one feature's values over the explained instances become its importance; a
        callable maps values of shape (n_explained, n_features) to (n_features,).
    per_class : bool, default=False
        Explain each instance for its own label and keep features that matter for any class
        (see :func:`explanation_importances`); False explains each instance's
        highest-scoring output and aggregates over all instances.
    feature_scale : {"std", "range"} or None, default=None
        Multiply each feature's explanation by its standard deviation or range in the
        training data before aggregating (see :func:`explanation_importances`): use "std"
        for sensitivities such as SensX's, which are per unit of the feature; None for
        attributions in score units.
    max_samples : int, float in (0, 1] or None, default=None
        Number or fraction of training instances to explain (stratified by y for
        classification); None explains all. Explanations cost far more than fits, so this is
        the main lever on time.
    memory : str, joblib.Memory or None, default=None
        Caches the fit of ``estimator`` and the explanations, keyed on everything but
        ``n_features_to_select`` and ``threshold``, so that a grid search over those reuses
        them.
    random_state : int, RandomState instance or None, default=None
        Draws the subsample of ``max_samples``, seeds the "auto" subset search and, when
        the explainer's own ``random_state`` is None, the explainer (its clone).

    Attributes
    ----------
    feature_importances_ : ndarray of shape (n_features_in_,)
        Aggregated explanation of each feature.
    class_importances_ : ndarray of shape (n_classes, n_features_in_) or None
        Per-class aggregates (``per_class=True``), rows in the order of ``classes_``.
    classes_ : ndarray or None
        Labels of the rows of ``class_importances_``.
    support_ : ndarray of shape (n_features_in_,), bool
        Selected features.
    n_features_ : int
        Number of selected features.
    ranking_ : ndarray of shape (n_features_in_,), int
        Rank of each feature by importance, 1 for the most important.
    estimator_ : estimator
        The fitted clone of ``estimator`` (absent when ``estimator`` is None).
    explainer_ : explainer
        The fitted clone of ``explainer``, explaining ``estimator_`` or the given model.
    explained_indices_ : ndarray of int
        Rows of the training data that were explained.
    subset_sizes_ : ndarray of shape (n_explained,)
        With "auto": each explained instance's optimal subset size (NaN without a flip).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of str
        Names of the features, when fitted on a DataFrame.

    See Also
    --------
    ExplainedEstimator : a model with explanation-based ``feature_importances_``, for
        sklearn's SelectFromModel and RFE.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skexplain.explainers import SensX
    >>> from skexplain.feature_selection import ExplanationSelector
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame(rng.normal(size=(300, 6)), columns=list("ABCDEF"))
    >>> y = (X["B"] - 2 * X["E"] > 0).astype(int)
    >>> selector = ExplanationSelector(
    ...     SensX(n_walks=5, delta=0.5, random_state=0),
    ...     estimator=LogisticRegression(), n_features_to_select=2, max_samples=50,
    ...     random_state=0,
    ... ).fit(X, y)
    >>> selector.get_feature_names_out().tolist()
    ['B', 'E']
    >>> selector.transform(X).shape
    (300, 2)
    """

    _parameter_constraints = {
        "explainer": [HasMethods(["fit", "explain"])],
        "estimator": [HasMethods(["fit"]), None],
        "n_features_to_select": [
            None, StrOptions({"auto"}), Interval(RealNotInt, 0, 1, closed="right"),
            Interval(Integral, 1, None, closed="left"),
        ],
        "threshold": [None, str, Real],
        "aggregate": [StrOptions(set(AGGREGATES)), callable],
        "per_class": ["boolean"],
        "feature_scale": [StrOptions({"std", "range"}), None],
        "max_samples": [
            None, Interval(RealNotInt, 0, 1, closed="right"),
            Interval(Integral, 1, None, closed="left"),
        ],
        "memory": [None, str, HasMethods(["cache"])],
        "random_state": ["random_state"],
    }

    def __init__(
        self, explainer, *, estimator=None, n_features_to_select=None, threshold=None,
        aggregate="mean_abs", per_class=False, feature_scale=None, max_samples=None,
        memory=None, random_state=None,
    ):
        self.explainer = explainer
        self.estimator = estimator
        self.n_features_to_select = n_features_to_select
        self.threshold = threshold
        self.aggregate = aggregate
        self.per_class = per_class
        self.feature_scale = feature_scale
        self.max_samples = max_samples
        self.memory = memory
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Explain the training data, aggregate, select.

        Parameters
        ----------
        X : array-like, sparse matrix or DataFrame of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,), default=None
            Labels; required when ``estimator`` is given or ``per_class=True``.

        Returns
        -------
        self : object

        Raises
        ------
        ValueError
            If the model to explain is given twice or not at all, y is missing when needed,
            the explained model expects another number of features, or
            ``n_features_to_select`` exceeds the number of features.
        """
        _check_model_source(self.explainer, self.estimator)
        check_numeric(X)
        if y is not None or self.estimator is not None or self.per_class:
            X_checked, y = validate_data(self, X, y, accept_sparse="csr", multi_output=True)
        else:
            X_checked = validate_data(self, X, accept_sparse="csr")
        X_fit = X if hasattr(X, "columns") else X_checked  # the model keeps column names
        _check_model_width(self.explainer.model, self.n_features_in_)
        fitted = check_memory(self.memory).cache(_fit_and_explain)(
            self.explainer, self.estimator, X_fit, y, self.aggregate, self.per_class,
            self.feature_scale, self.max_samples, self.random_state,
            self.n_features_to_select == "auto",
        )
        if fitted.estimator is not None:
            self.estimator_ = fitted.estimator
        self.explainer_ = fitted.explainer
        self.feature_importances_ = fitted.importances
        self.class_importances_ = fitted.class_importances
        self.classes_ = fitted.classes
        self.explained_indices_ = fitted.rows
        if fitted.subset_sizes is not None:
            self.subset_sizes_ = fitted.subset_sizes
        self.ranking_ = np.empty(self.n_features_in_, dtype=int)
        self.ranking_[np.argsort(-self.feature_importances_, kind="stable")] = np.arange(
            1, self.n_features_in_ + 1)
        self.support_ = self._select()
        self.n_features_ = int(self.support_.sum())
        return self

    def _select(self):
        n_features = self.n_features_in_
        count = self._count(n_features)
        support = self.ranking_ <= count
        if self.threshold is not None:
            support &= self.feature_importances_ >= _threshold_value(
                self.threshold, self.feature_importances_)
        return support

    def _count(self, n_features):
        wanted = self.n_features_to_select
        if wanted is None:
            return n_features if self.threshold is not None else max(1, n_features // 2)
        if wanted == "auto":
            sizes = self.subset_sizes_
            if np.all(np.isnan(sizes)):
                warnings.warn(
                    "No explained instance's prediction flips on the subset grid; keeping "
                    "all features.", UserWarning, stacklevel=3,
                )
                return n_features
            return math.ceil(np.nanmedian(sizes))
        if isinstance(wanted, Integral):
            if wanted > n_features:
                raise ValueError(
                    f"n_features_to_select={wanted} exceeds the number of features of X: "
                    f"{n_features} feature(s)."
                )
            return wanted
        return max(1, int(wanted * n_features))

    def _get_support_mask(self):
        check_is_fitted(self)
        return self.support_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.required = self.estimator is not None or self.per_class
        return tags


def _fit_and_explain(explainer, estimator, X, y, aggregate, per_class, feature_scale,
                     max_samples, random_state, find_subsets):
    """Fit the model (if any) and the explainer, explain, aggregate; cached by ``memory``."""
    explainer, rng = seeded_explainer(explainer, random_state)
    fitted_estimator = None
    if estimator is not None:
        fitted_estimator = clone(estimator).fit(X, y)
        explainer.set_params(model=fitted_estimator)
    explainer.fit(X)
    result = explanation_importances(
        explainer, X, y, aggregate=aggregate, per_class=per_class,
        feature_scale=feature_scale, max_samples=max_samples, random_state=rng,
    )
    subset_sizes = None
    if find_subsets:
        subset_sizes = _subset_sizes(explainer, result, X, rng)
    return Bunch(estimator=fitted_estimator, explainer=explainer,
                 importances=result.importances, class_importances=result.class_importances,
                 classes=result.classes, rows=result.rows, subset_sizes=subset_sizes)


def _subset_sizes(explainer, result, X, random_state):
    """Optimal subset size of each explained instance, ranked by the aggregated values."""
    explanation = result.explanation
    data = explanation.data.reshape(len(explanation), -1)
    lower = getattr(explainer, "lower_", None)
    upper = getattr(explainer, "upper_", None)
    if lower is None or upper is None:
        lower, upper = _column_range(X)
    return optimal_subset(
        explainer.score_function_, data, result.attributions, explanation.info["target"], lower,
        upper, random_state=random_state,
    ).size


def _column_range(X):
    values = X.to_numpy() if hasattr(X, "to_numpy") else X
    low, high = values.min(axis=0), values.max(axis=0)
    if hasattr(low, "toarray"):
        low, high = low.toarray(), high.toarray()
    return np.asarray(low, dtype=np.float64).ravel(), np.asarray(high, dtype=np.float64).ravel()


def _check_model_source(explainer, estimator):
    model = explainer.model
    if estimator is None and model is None:
        raise ValueError(
            "Nothing to explain: give the explainer a fitted model, or give the selector an "
            "estimator to fit and explain."
        )
    if estimator is not None and model is not None:
        raise ValueError(
            "The model to explain is given twice: with an estimator, create the explainer "
            "without a model, e.g. SensX() or Occlusion() (the selector explains the "
            "estimator it fits)."
        )


def _check_model_width(model, n_features):
    width = getattr(model, "n_features_in_", None)
    if width is not None and width != n_features:
        raise ValueError(
            f"The explained model expects {width} features but X has {n_features}: the model "
            "must be fitted on the features the selector receives (e.g. after the same "
            "preprocessing), or pass an estimator for the selector to fit."
        )


def _threshold_value(threshold, importances):
    if not isinstance(threshold, str):
        return float(threshold)
    scale, _, reference = threshold.rpartition("*")
    references = {"mean": np.mean, "median": np.median}
    if reference.strip() not in references:
        raise ValueError(
            f"Unknown threshold {threshold!r}; use a number, 'mean', 'median' or a scaled "
            "one such as '1.5*mean'."
        )
    try:
        factor = float(scale) if scale else 1.0
    except ValueError:
        raise ValueError(f"Cannot read the scale of threshold {threshold!r}.") from None
    return factor * references[reference.strip()](importances)
