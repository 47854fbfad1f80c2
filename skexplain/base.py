"""The explainer contract: :class:`BaseExplainer` and its result, :class:`Explanation`."""

import numbers

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_array, check_is_fitted

from ._model import ScoreFunction


class Explanation:
    """Attributions of a batch of instances, with what is needed to read them.

    Parameters
    ----------
    values : ndarray of shape (n_samples, *feature_shape)
        One value per instance and feature (or feature group); what the last axes index is
        named in ``info["axes"]``.
    data : ndarray of shape (n_samples, *feature_shape), optional
        The explained instances.
    base_values : ndarray of shape (n_samples,), optional
        The model's score of the explained output for each instance.
    feature_names : array-like of str, optional
        One name per flattened feature (or group); defaults to ``x0, x1, ...``.
    output_names : array-like, optional
        Names of the model's outputs (class labels).
    info : dict, optional
        Method-specific results, e.g. ``target``, ``delta_star``, ``axes``.

    Examples
    --------
    >>> import numpy as np
    >>> from skexplain import Explanation
    >>> E = Explanation(np.array([[0.1, -2.0, 0.5]]), feature_names=["a", "b", "c"])
    >>> E.top_features(2)
       1  2
    0  b  c
    """

    def __init__(
        self, values, data=None, base_values=None, feature_names=None, output_names=None,
        info=None,
    ):
        self.values = np.asarray(values)
        self.data = None if data is None else np.asarray(data)
        self.base_values = None if base_values is None else np.asarray(base_values)
        n_features = int(np.prod(self.values.shape[1:]))
        if feature_names is None:
            feature_names = [f"x{i}" for i in range(n_features)]
        self.feature_names = np.asarray(feature_names, dtype=object)
        if self.feature_names.shape != (n_features,):
            raise ValueError(
                f"{len(self.feature_names)} feature names given for {n_features} features."
            )
        self.output_names = None if output_names is None else np.asarray(output_names)
        self.info = {} if info is None else dict(info)

    def __len__(self):
        return self.values.shape[0]

    def __repr__(self):
        return (
            f"Explanation(values shape={self.values.shape}, "
            f"method={self.info.get('method', 'unknown')!r})"
        )

    def _flat_values(self):
        return self.values.reshape(len(self), -1)

    def to_frame(self):
        """Tidy long table: one row per instance and feature.

        Returns
        -------
        frame : pandas.DataFrame
            Columns ``sample``, ``feature``, ``value`` and, when data is stored, ``data``.
        """
        n_samples, n_features = len(self), len(self.feature_names)
        frame = pd.DataFrame(
            {
                "sample": np.repeat(np.arange(n_samples), n_features),
                "feature": np.tile(self.feature_names, n_samples),
                "value": self._flat_values().ravel(),
            }
        )
        if self.data is not None and self.data[0].size == n_features:
            frame["data"] = self.data.reshape(n_samples, -1).ravel()
        return frame

    def top_features(self, k=10):
        """Names of the ``k`` features with the largest absolute value, per instance.

        Parameters
        ----------
        k : int, default=10
            Number of features to return; at most the number of features.

        Returns
        -------
        top : pandas.DataFrame of shape (n_samples, k)
            Feature names, rank 1 first; ties keep feature order.
        """
        n_features = len(self.feature_names)
        if not isinstance(k, numbers.Integral) or not 1 <= k <= n_features:
            raise ValueError(f"k must be an integer in [1, {n_features}], got {k!r}.")
        order = np.argsort(-np.abs(self._flat_values()), axis=1, kind="stable")[:, :k]
        return pd.DataFrame(self.feature_names[order], columns=range(1, k + 1))


class BaseExplainer(BaseEstimator):
    """Base class of all explainers: ``fit(X)``, ``explain(X, target)``, ``score(X)``.

    Subclasses implement ``_explain(X, target)`` (X flattened to ``(n_samples, n_features)``)
    and may extend ``_fit(X)``; this class validates input, resolves the model into a batched
    scoring function (see :class:`skexplain._model.ScoreFunction`) and packages the result.

    Parameters
    ----------
    model : estimator, skorch net, torch.nn.Module or callable
        The fitted model to explain. ``sklearn.base.clone`` (and so GridSearchCV) keeps this
        very model in the clone rather than an unfitted copy.
    """

    # A reason string in subclasses whose values are not feature attributions: no ``score``.
    _score_unavailable = None

    _parameter_constraints = {"model": "no_validation"}

    def __init__(self, model):
        self.model = model

    def __sklearn_clone__(self):
        # The explained model is already fitted: a clone (as made by GridSearchCV) must keep
        # it as it is, not refit-ready, while every other parameter is cloned as usual.
        params = self.get_params(deep=False)
        model = params.pop("model")
        return type(self)(model=model, **clone(params, safe=False))

    def fit(self, X, y=None):
        """Learn what the method needs from reference data.

        Parameters
        ----------
        X : array-like, sparse matrix or DataFrame of shape (n_samples, *feature_shape)
            Reference data (for example the training set).
        y : None
            Ignored; present for pipeline and grid-search compatibility.

        Returns
        -------
        self : object

        Raises
        ------
        ValueError
            If X is empty, contains NaN or infinity, or is not at least 2-D.
        """
        self._validate_params()
        X, feature_shape, names = _check_input(X)
        self.feature_shape_ = feature_shape
        self.n_features_in_ = int(np.prod(feature_shape))
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.score_function_ = ScoreFunction(self.model, feature_shape, self._model_device())
        self.baseline_ = np.asarray(X.mean(axis=0), dtype=np.float64).ravel()
        self._fit(X)
        return self

    def _fit(self, X):
        """Method-specific fitting on the flattened reference data (dense or CSR)."""

    def _model_device(self):
        """Device the scoring function runs a torch model on; None: the model's own."""
        return None

    def explain(self, X, target=None):
        """Explain the model's output for each instance of X.

        Parameters
        ----------
        X : array-like, sparse matrix or DataFrame of shape (n_samples, *feature_shape)
            Instances to explain.
        target : None, int, label or array-like of shape (n_samples,), default=None
            Output to explain: None for each instance's highest-scoring output, an int for an
            output index (as in captum, even when the class labels are integers), another
            value for a class label (as in ``classes_``), or one of these per instance.

        Returns
        -------
        explanation : Explanation

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the explainer is not fitted.
        ValueError
            If X has another feature shape than the reference data, contains NaN or
            infinity, or target is invalid.
        """
        X = self._check_explain_input(X)
        scores = self.score_function_(X)
        target = self.score_function_.resolve_target(target, scores)
        values, info = self._explain(X, target)
        info = {"target": target, **info}
        names = self._feature_names_out()
        unit_shape = self.feature_shape_ if self._feature_groups() is None else names.shape
        return Explanation(
            values.reshape((len(X),) + tuple(unit_shape)),
            data=X.reshape((len(X),) + self.feature_shape_).copy(),
            base_values=scores[np.arange(len(X)), target],
            feature_names=names,
            output_names=self.score_function_.output_names,
            info=info,
        )

    def _explain(self, X, target):
        """Return (values of shape (n_samples, n_units), info); a unit is a feature or group."""
        raise NotImplementedError

    def _feature_names_out(self):
        if hasattr(self, "feature_names_in_"):
            return self.feature_names_in_
        return np.asarray(_default_feature_names(self.feature_shape_), dtype=object)

    def _feature_groups(self):
        """Member indices of each explained unit; None when every feature stands alone."""
        return None

    def score(self, X=None, y=None, scoring=None):
        """Faithfulness of the explanations of X (higher is better).

        By default the deletion score of :func:`skexplain.metrics.deletion_score`: how much
        more the model's score moves when the top-ranked features are set to their reference
        mean than when random features are.

        Parameters
        ----------
        X : array-like, sparse matrix or DataFrame of shape (n_samples, *feature_shape)
        y : None
            Ignored by the default; passed on to ``scoring``.
        scoring : str or callable, default=None
            Another metric: a name of :func:`skexplain.metrics.get_explanation_scorer_names`
            (e.g. "insertion_auc", "neg_infidelity") or a scorer ``scorer(explainer, X, y)``.

        Returns
        -------
        score : float

        Raises
        ------
        NotImplementedError
            For explainers whose values are not feature attributions (model-level, concept-
            and example-based ones): they have no faithfulness score.
        """
        from .metrics import deletion_score, get_explanation_scorer

        if self._score_unavailable:
            raise NotImplementedError(
                f"{type(self).__name__} has no faithfulness score: {self._score_unavailable}."
            )
        if X is None:
            raise ValueError("score needs the instances X whose explanations are scored.")

        if scoring is not None:
            return get_explanation_scorer(scoring)(self, X, y)
        explanation = self.explain(X)
        return deletion_score(
            self.score_function_,
            explanation.data.reshape(len(explanation), -1),
            explanation.values.reshape(len(explanation), -1),
            target=explanation.info["target"],
            baseline=self.baseline_,
            groups=self._feature_groups(),
        )

    def _per_feature(self, value, name):
        """A finite scalar or array broadcast to one float per flattened feature (a copy)."""
        value = np.asarray(value, dtype=np.float64)
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{name} must be finite.")
        try:
            return np.broadcast_to(value, self.feature_shape_).ravel().copy()
        except ValueError:
            raise ValueError(
                f"{name} has shape {value.shape}; expected a scalar or an array "
                f"broadcastable to the feature shape {self.feature_shape_}."
            ) from None

    def _check_explain_input(self, X):
        check_is_fitted(self)
        X, feature_shape, names = _check_input(X)
        if feature_shape != self.feature_shape_:
            raise ValueError(
                f"X has feature shape {feature_shape}, but {type(self).__name__} was fitted "
                f"on feature shape {self.feature_shape_}."
            )
        fitted_names = getattr(self, "feature_names_in_", None)
        if names is not None and fitted_names is not None and not np.array_equal(
            names, fitted_names
        ):
            raise ValueError(
                "The feature names of X differ from those seen in fit (same names, same order "
                "are required)."
            )
        return X.toarray() if sp.issparse(X) else X


def _check_input(X):
    """Validate X; return (X flattened to 2-D float64, feature shape, feature names or None)."""
    names = None
    if hasattr(X, "columns"):
        columns = np.asarray(X.columns, dtype=object)
        if all(isinstance(c, str) for c in columns):
            names = columns
    if not sp.issparse(X) and np.ndim(X) == 1:
        raise ValueError(
            "Expected a 2-D array or more (n_samples, *feature_shape), got a 1-D array; "
            "reshape a single instance with X.reshape(1, -1)."
        )
    X = check_array(
        X, accept_sparse="csr", dtype=np.float64, allow_nd=True, ensure_all_finite=True,
        input_name="X",
    )
    feature_shape = tuple(X.shape[1:])
    if not sp.issparse(X):
        X = X.reshape(X.shape[0], -1)
    return X, feature_shape, names


def _default_feature_names(feature_shape):
    if len(feature_shape) == 1:
        return [f"x{i}" for i in range(feature_shape[0])]
    return ["x" + "_".join(map(str, idx)) for idx in np.ndindex(*feature_shape)]
