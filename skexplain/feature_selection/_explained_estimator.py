"""ExplainedEstimator: a model whose feature importances come from its explanations."""

import numbers

from sklearn.base import BaseEstimator, MetaEstimatorMixin, _fit_context, clone
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods, Interval, RealNotInt, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from .._core.validation import check_numeric
from ._aggregate import AGGREGATES, explanation_importances, seeded_explainer
from ._selector import _check_model_source


def _estimator_has(name):
    def check(self):
        if hasattr(self, "estimator_"):
            return hasattr(self.estimator_, name)
        return hasattr(self.estimator, name)

    return check


class ExplainedEstimator(MetaEstimatorMixin, BaseEstimator):
    """A model whose ``feature_importances_`` are aggregated explanations of itself.

    ``fit(X, y)`` fits a clone of ``estimator``, fits a clone of ``explainer`` on X to
    explain it, explains (a subsample of) X and aggregates the explanations into
    ``feature_importances_`` (see :func:`explanation_importances`). Predictions are those of
    the fitted estimator. This is the importance getter for scikit-learn's selectors, which
    read ``feature_importances_``: ``SelectFromModel(ExplainedEstimator(...))`` and
    ``RFE(ExplainedEstimator(...))`` select by explanations of any model, including models
    without coefficients or built-in importances (an MLP, a skorch net). RFE refits it on
    each shrinking feature set, so the explanations always match the current features.

    Parameters
    ----------
    estimator : estimator
        The unfitted model.
    explainer : explainer
        An explainer created without a model (e.g. ``SensX()``); it explains the
        fitted estimator.
    aggregate : {"mean_abs", "mean", "median_abs", "max_abs"} or callable, default="mean_abs"
        How one feature's values over the explained instances become its importance.
    per_class : bool, default=False
        Explain each instance for its own label and keep the maximum over classes of the
        class-wise importances scaled to unit sum (see :func:`explanation_importances`).
    feature_scale : {"std", "range"} or None, default=None
        Multiply each feature's explanation by its standard deviation or range in X before
        aggregating ("std" suits sensitivities such as SensX's; see
        :func:`explanation_importances`).
    max_samples : int, float in (0, 1] or None, default=None
        Number or fraction of training instances to explain; None explains all.
    random_state : int, RandomState instance or None, default=None
        Draws the subsample and, when the explainer's own ``random_state`` is None, seeds
        the explainer (its clone).

    Attributes
    ----------
    estimator_ : estimator
        The fitted clone of ``estimator``.
    explainer_ : explainer
        The fitted explainer of ``estimator_``.
    feature_importances_ : ndarray of shape (n_features_in_,)
        Aggregated explanation of each feature.
    classes_ : ndarray
        The estimator's classes, for classifiers.
    n_features_in_ : int
        Number of features seen during fit.

    Examples
    --------
    >>> from sklearn.feature_selection import RFE
    >>> from sklearn.neural_network import MLPClassifier
    >>> from skexplain.datasets import make_l2x_synthetic
    >>> from skexplain.explainers import SensX
    >>> from skexplain.feature_selection import ExplainedEstimator
    >>> X, y, _ = make_l2x_synthetic("orange_skin", n_samples=600, random_state=0)
    >>> model = ExplainedEstimator(
    ...     MLPClassifier((16,), max_iter=2000, random_state=0),
    ...     SensX(n_walks=5, delta=0.5, random_state=0),
    ...     max_samples=40, random_state=0,
    ... )
    >>> RFE(model, n_features_to_select=4, step=2).fit(X, y).support_.nonzero()[0].tolist()
    [0, 1, 2, 3]
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit"])],
        "explainer": [HasMethods(["fit", "explain"])],
        "aggregate": [StrOptions(set(AGGREGATES)), callable],
        "per_class": ["boolean"],
        "feature_scale": [StrOptions({"std", "range"}), None],
        "max_samples": [
            None, Interval(RealNotInt, 0, 1, closed="right"),
            Interval(numbers.Integral, 1, None, closed="left"),
        ],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator, explainer, *, aggregate="mean_abs", per_class=False,
                 feature_scale=None, max_samples=None, random_state=None):
        self.estimator = estimator
        self.explainer = explainer
        self.aggregate = aggregate
        self.per_class = per_class
        self.feature_scale = feature_scale
        self.max_samples = max_samples
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, **fit_params):
        """Fit the estimator, explain it on X, aggregate.

        Parameters
        ----------
        X : array-like, sparse matrix or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        **fit_params
            Passed to the estimator's ``fit``.

        Returns
        -------
        self : object
        """
        _check_model_source(self.explainer, self.estimator)
        check_numeric(X)
        X_checked, y = validate_data(self, X, y, accept_sparse="csr")
        X = X if hasattr(X, "columns") else X_checked  # the model keeps column names
        self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
        if hasattr(self.estimator_, "classes_"):
            self.classes_ = self.estimator_.classes_
        explainer, rng = seeded_explainer(self.explainer, self.random_state)
        self.explainer_ = explainer.set_params(model=self.estimator_).fit(X)
        result = explanation_importances(
            self.explainer_, X, y, aggregate=self.aggregate, per_class=self.per_class,
            feature_scale=self.feature_scale, max_samples=self.max_samples,
            random_state=rng,
        )
        self.feature_importances_ = result.importances
        return self

    @available_if(_estimator_has("predict"))
    def predict(self, X):
        """The fitted estimator's ``predict``."""
        check_is_fitted(self)
        check_numeric(X)
        return self.estimator_.predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """The fitted estimator's ``predict_proba``."""
        check_is_fitted(self)
        check_numeric(X)
        return self.estimator_.predict_proba(X)

    @available_if(_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """The fitted estimator's ``predict_log_proba``."""
        check_is_fitted(self)
        check_numeric(X)
        return self.estimator_.predict_log_proba(X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        """The fitted estimator's ``decision_function``."""
        check_is_fitted(self)
        check_numeric(X)
        return self.estimator_.decision_function(X)

    @available_if(_estimator_has("score"))
    def score(self, X, y, **score_params):
        """The fitted estimator's ``score``."""
        check_is_fitted(self)
        check_numeric(X)
        return self.estimator_.score(X, y, **score_params)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags = inner.classifier_tags
        tags.regressor_tags = inner.regressor_tags
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.target_tags.required = True
        return tags
