"""The bases of the three kinds of explainer, validate-then-delegate.

- :class:`LocalExplainer`: ``fit(X)`` learns what the method needs from reference data,
  ``explain(X, target)`` returns an :class:`Attribution` (sample axis first), ``score``
  is the faithfulness of the explanations (``scoring=`` picks another metric).
- :class:`ModelLevelExplainer`: ``explain(X=None, target=None)`` returns a
  :class:`ModelExplanation`; ``target=None`` means every class.
- :class:`ExampleExplainer`: ``fit(X, y)``, ``explain(X, y=None)`` returns an
  :class:`ExampleExplanation` over training examples.

Subclasses implement the method-specific ``_fit`` and ``_explain``; the bases do the
validation, resolve the model once through :class:`ModelAdapter` and package the result.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from .compute import batched_scores, resolve_batch_size
from .explanation import Attribution
from .model import ModelAdapter
from .validation import check_input, default_feature_names

_SCORERS = {}


def register_scorer_resolver(resolver):
    """Install ``resolver(scoring) -> scorer(explainer, X, y)`` (done by skexplain.metrics)."""
    _SCORERS["resolver"] = resolver


class Explainer(BaseEstimator):
    """What every explainer shares: the model parameter and how it is cloned and resolved.

    Parameters
    ----------
    model : estimator, pipeline, skorch net, torch.nn.Module, callable or None
        The fitted model to explain; None until set (``set_params(model=...)``), as an
        explainer inside a selector gets it. ``sklearn.base.clone`` (and so GridSearchCV)
        keeps this very model in the clone rather than an unfitted copy.
    """

    _parameter_constraints = {"model": "no_validation"}

    def __init__(self, model=None):
        self.model = model

    def __sklearn_clone__(self):
        # The explained model is already fitted: a clone must keep it as it is, while every
        # other parameter is cloned as usual.
        params = self.get_params(deep=False)
        model = params.pop("model")
        return type(self)(model=model, **clone(params, safe=False))

    def _check_model(self):
        if self.model is None:
            raise ValueError(
                f"{type(self).__name__} has no model to explain: pass the fitted model "
                "(or set it with set_params(model=...)) before fit."
            )

    def _model_adapter(self, feature_shape):
        """The one adapter of this explainer's model (output and device parameters used)."""
        self._check_model()
        return ModelAdapter(
            self.model, feature_shape, output=getattr(self, "output", "auto"),
            device=getattr(self, "device", None), name=type(self).__name__,
        )


class DataExplainer(Explainer):
    """Base of explainers fitted on reference data: validation, feature shape and names.

    ``fit(X)`` validates X (arrays, sparse, DataFrame, AnnData), records the feature shape
    and names, builds the model adapter, then calls the method-specific ``_fit(X)``. Local
    explainers and the global surrogate derive from it.
    """

    def fit(self, X, y=None, *, layer=None, use_raw=False):
        """Learn what the method needs from reference data.

        Parameters
        ----------
        X : array-like, sparse matrix, DataFrame or AnnData of shape (n_samples, \
*feature_shape)
            Reference data (for example the training set).
        y : None
            Ignored; present for pipeline and grid-search compatibility.
        layer : str, optional
            For AnnData input: the layer to use instead of ``.X``.
        use_raw : bool, default=False
            For AnnData input: use ``.raw``.

        Returns
        -------
        self : object

        Raises
        ------
        ValueError
            If the model is missing, or X is empty, contains NaN or infinity, holds text, or
            is not at least 2-D.
        """
        self._validate_params()
        self._check_model()
        X, feature_shape, names = check_input(X, layer=layer, use_raw=use_raw)
        self.feature_shape_ = feature_shape
        self.n_features_in_ = int(np.prod(feature_shape))
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.model_adapter_ = self._model_adapter(feature_shape)
        self.baseline_ = np.asarray(X.mean(axis=0), dtype=np.float64).ravel()
        self._one_hot_dna = _is_one_hot_dna(X, feature_shape)
        self._fit(X)
        return self

    def _fit(self, X):
        """Method-specific fitting on the flattened reference data (dense or CSR)."""

    def _feature_names_out(self):
        if hasattr(self, "feature_names_in_"):
            return self.feature_names_in_
        alphabet = "ACGT" if getattr(self, "_one_hot_dna", False) else None
        return default_feature_names(self.feature_shape_, alphabet=alphabet)

    def _feature_groups(self):
        """Member indices of each explained unit; None when every feature stands alone."""
        return None

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

    def _check_explain_input(self, X, layer=None, use_raw=False):
        check_is_fitted(self)
        X, feature_shape, names = check_input(X, layer=layer, use_raw=use_raw)
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


class LocalExplainer(DataExplainer):
    """Base of local explainers: ``fit(X)``, ``explain(X, target)``, ``score(X)``.

    Subclasses implement ``_explain(X, target)`` (X flattened to ``(n_samples, n_features)``,
    target one output index per row) returning ``(values, info)``, and may extend
    ``_fit(X)``. During ``explain``, ``self.score_function_`` is the model adapter with the
    call's ``model_args`` bound.
    """

    @property
    def score_function_(self):
        """The model adapter: batched scores of flattened rows (with bound model_args)."""
        return getattr(self, "_bound_adapter", None) or self.model_adapter_

    def explain(self, X, target=None, *, model_args=None, layer=None, use_raw=False):
        """Explain the model's output for each instance of X.

        Parameters
        ----------
        X : array-like, sparse matrix, DataFrame or AnnData of shape (n_samples, \
*feature_shape)
            Instances to explain.
        target : None, int, label or array-like of shape (n_samples,), default=None
            Output to explain: None for each instance's highest-scoring output, an int for an
            output index (as in captum, even when the class labels are integers), another
            value for a class label (as in ``classes_``), or one of these per instance.
        model_args : tuple of array-like or tensor, optional
            Extra inputs of a torch model's forward, one row per instance of X.
        layer, use_raw : optional
            For AnnData input, as in ``fit``.

        Returns
        -------
        explanation : Attribution

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the explainer is not fitted.
        ValueError
            If X has another feature shape than the reference data, contains NaN or
            infinity, the target is invalid, or the model returns NaN or infinite scores.
        """
        X = self._check_explain_input(X, layer=layer, use_raw=use_raw)
        adapter = self.model_adapter_
        if model_args is not None:
            adapter = adapter.with_args(model_args, len(X))
        self._bound_adapter = adapter
        try:
            batch_size = resolve_batch_size(getattr(self, "batch_size", "auto"),
                                            self.n_features_in_)
            scores = batched_scores(adapter.scores, X, batch_size)
            target = adapter.resolve_target(target, scores)
            values, info = self._explain(X, target)
        finally:
            del self._bound_adapter
        info = {"target": target, "output": adapter.describe(), **info}
        return self._attribution(X, values, scores, target, adapter, info)

    def _attribution(self, X, values, scores, target, adapter, info):
        names = self._feature_names_out()
        unit_shape = self.feature_shape_ if self._feature_groups() is None else names.shape
        return Attribution(
            values.reshape((len(X),) + tuple(unit_shape)),
            data=X.reshape((len(X),) + self.feature_shape_).copy(),
            base_values=scores[np.arange(len(X)), target],
            feature_names=names,
            output_names=adapter.names_for(scores.shape[1]),
            info=info,
        )

    def _explain(self, X, target):
        """Return (values of shape (n_samples, n_units), info); a unit is a feature or group."""
        raise NotImplementedError

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
        ValueError
            If X is missing.
        """
        if X is None:
            raise ValueError("score needs the instances X whose explanations are scored.")
        resolver = _SCORERS.get("resolver")
        if resolver is None:
            raise RuntimeError("import skexplain.metrics to score explanations.")
        return resolver("deletion_score" if scoring is None else scoring)(self, X, y)


class ModelLevelExplainer(Explainer):
    """Base of model-level explainers: ``explain(X=None, target=None)``.

    X is the probe or concept data the method needs (None where it needs none) and
    ``target=None`` means every class. Results are :class:`ModelExplanation` objects whose
    axes are named (class, channel, concept, ...). There is no faithfulness ``score``: the
    values are not attributions of instances.
    """


class ExampleExplainer(Explainer):
    """Base of example-based explainers: ``fit(X, y)``, ``explain(X, y=None)``.

    Results are :class:`ExampleExplanation` objects: per explained sample, values over the
    training examples (or the k retrieved ones with their indices).
    """


def _is_one_hot_dna(X, feature_shape):
    """Whether the flattened reference data are one-hot DNA of shape (n, 4, L): named A:0..."""
    if len(feature_shape) != 2 or feature_shape[0] != 4 or sp.issparse(X):
        return False
    X = np.asarray(X).reshape(-1, *feature_shape)
    return bool(np.isin(X, (0, 1)).all() and (X.sum(axis=1) == 1).all())
