"""Nearest training examples in the input space or in a network layer's representation."""

from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.neighbors import NearestNeighbors
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from .._core.base import ExampleExplainer
from .._core.compute import batched_scores, resolve_batch_size, torch_batches
from .._core.explanation import ExampleExplanation
from .._core.validation import check_input
from ._influence import BATCH_SIZE_CONSTRAINT, example_names, positional_deprecated


class DeepKNN(ExampleExplainer):
    """Explain a prediction by the training examples nearest to it, with deep k-NN credibility.

    Each explained example is embedded (its input, or the output of a network layer,
    flattened) and its ``n_neighbors`` nearest training examples are retrieved with their
    labels and distances. Deep k-NN (Papernot & McDaniel 2018) scores how well the training
    data support a label j by the nonconformity ``alpha(x, j)``, the number of neighbours, over
    all the given layers, whose label is not j:

    - without calibration data, the credibility of the model's prediction is the fraction of
      neighbours that agree with it, ``1 - alpha(x, prediction) / (n_layers * n_neighbors)``;
    - with a held-out calibration set (``fit(X, y, X_calibration=..., y_calibration=...)``
      or ``calibrate``), it is the
      conformal p-value ``p_j = mean(A >= alpha(x, j))`` of the prediction, A the
      nonconformity of each calibration example at its true label; ``p_values`` for every
      class are returned too (the paper's own prediction is their argmax).

    Low credibility flags predictions the training data do not support (outliers, shifted or
    adversarial inputs). ``explain(X, y)`` scores given labels (e.g. the true ones) instead
    of the predictions.

    Parameters
    ----------
    model : estimator, skorch net, torch.nn.Module, callable or None, default=None
        The fitted model whose predictions are explained, through the model adapter: the
        class of the highest score (``predict_proba`` of a classifier, the logits of a
        network, as class labels where the model has ``classes_``), a regressor's
        prediction, or for a model with one output (a callable returning labels) 1 where it
        is positive. Every parameter after ``model`` is keyword-only (by position they
        still work, with a FutureWarning).
    layer : None, str, torch.nn.Module or list of them, default=None
        Layer of a network whose output is the representation; None for the input space. A
        list gives one neighbour search per layer, as in deep k-NN (None in the list stands
        for the input).
    n_neighbors : int, default=5
        Number of training examples retrieved per example and layer.
    metric : str or callable, default="cosine"
        Distance, any metric of :class:`sklearn.neighbors.NearestNeighbors`.
    n_jobs : int, default=None
        Parallel jobs of the neighbour search.
    batch_size : int or "auto", default="auto"
        Examples per forward pass (embedding with a layer, predictions). "auto" applies the
        policy of every explainer (64 MiB of float64 input values per batch, at most 4096
        rows).

    Attributes
    ----------
    neighbors_ : list of sklearn.neighbors.NearestNeighbors
        One index of the embedded training examples per layer.
    layer_names_ : list of str or None
        The layers used (None for the input space).
    labels_ : ndarray of shape (n_train,)
        Training labels.
    classes_ : ndarray of shape (n_classes,)
        The distinct training labels, the order of ``p_values``.
    calibration_scores_ : ndarray of shape (n_calibration,)
        Nonconformity of the calibration examples, when calibration data were given.
    training_names_ : ndarray of str of shape (n_train,)
        The index of a training DataFrame, else ``train_<i>``.
    feature_shape_ : tuple of int
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Column names of a training DataFrame (only then).
    model_adapter_ : skexplain._core.model.ModelAdapter
        The model as scores; its torch module gives the layer representations.

    References
    ----------
    Papernot & McDaniel, "Deep k-nearest neighbors: towards confident, interpretable and
    robust deep learning", arXiv:1803.04765 (2018).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skexplain.explainers import DeepKNN
    >>> X = np.array([[0.0, 1.0], [0.1, 1.0], [1.0, 0.0], [1.0, 0.1]])
    >>> y = np.array(["a", "a", "b", "b"])
    >>> model = LogisticRegression().fit(X, y)
    >>> explainer = DeepKNN(model, n_neighbors=2, metric="euclidean")
    >>> E = explainer.fit(X, y).explain([[0.0, 0.9]])
    >>> E.indices, E.info["labels"], E.info["credibility"]
    (array([[0, 1]]), array([['a', 'a']], dtype='<U1'), array([1.]))
    """

    _parameter_constraints = {
        "model": "no_validation",
        "layer": "no_validation",
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "metric": [str, callable],
        "n_jobs": [Integral, None],
        "batch_size": BATCH_SIZE_CONSTRAINT,
    }

    @positional_deprecated
    def __init__(self, model=None, *, layer=None, n_neighbors=5, metric="cosine", n_jobs=None,
                 batch_size="auto"):
        self.model = model
        self.layer = layer
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.n_jobs = n_jobs
        self.batch_size = batch_size

    @positional_deprecated
    def fit(self, X, y, *, X_calibration=None, y_calibration=None):
        """Embed the training examples, index them, and score the calibration examples.

        Parameters
        ----------
        X : array-like, sparse matrix, DataFrame or AnnData of shape (n_train, *input_shape)
            Training inputs.
        y : array-like of shape (n_train,)
            Training labels (comparable with the model's predictions).
        X_calibration : array-like of shape (n_calibration, *input_shape), default=None
            Held-out examples (not in the training data) for calibrated credibility;
            keyword-only (by position it still works, with a FutureWarning). The same as
            ``fit(X, y).calibrate(X_calibration, y_calibration)``.
        y_calibration : array-like of shape (n_calibration,), default=None
            Their true labels.

        Returns
        -------
        self : DeepKNN

        Raises
        ------
        ValueError
            If the model is missing, X is invalid, X and y differ in length, there are fewer
            training examples than ``n_neighbors``, a layer does not exist, a layer's output
            is NaN or infinite, or only one of the calibration arrays is given.
        TypeError
            If a layer is named but the model is not a network.
        """
        self._validate_params()
        self._check_model()
        if (X_calibration is None) != (y_calibration is None):
            raise ValueError("Pass both X_calibration and y_calibration, or neither.")
        data, self.feature_shape_, names = check_input(X)
        labels = _labels(y, data.shape[0], "y")
        if data.shape[0] < self.n_neighbors:
            raise ValueError(
                f"n_neighbors={self.n_neighbors} exceeds the {data.shape[0]} training examples."
            )
        self.n_features_in_ = int(np.prod(self.feature_shape_))
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.model_adapter_ = self._model_adapter(self.feature_shape_)
        self._batch_size = resolve_batch_size(self.batch_size, self.n_features_in_)
        layers = self.layer if isinstance(self.layer, (list, tuple)) else [self.layer]
        self.layer_names_ = [None] * len(layers)
        if any(layer is not None for layer in layers):
            from ._network import layer_name

            if self.model_adapter_.module is None:
                raise TypeError(
                    f"DeepKNN reads the representation of a network layer, so layer={self.layer!r} "
                    "needs a torch model (a skorch net or torch.nn.Module), got a "
                    f"{type(self.model).__name__}; use layer=None for the input space."
                )
            self.layer_names_ = [None if layer is None else layer_name(self.model, layer)
                                 for layer in layers]
        self.labels_ = labels
        self.classes_ = np.unique(labels)
        self.training_names_ = example_names(X)
        self.neighbors_ = [
            NearestNeighbors(n_neighbors=self.n_neighbors, metric=self.metric,
                             n_jobs=self.n_jobs).fit(self._embed(data, name))
            for name in self.layer_names_
        ]
        if hasattr(self, "calibration_scores_"):
            del self.calibration_scores_
        if X_calibration is not None:
            self.calibrate(X_calibration, y_calibration)
        return self

    def calibrate(self, X, y):
        """Score held-out examples, for calibrated credibility and p-values.

        Parameters
        ----------
        X : array-like, sparse matrix, DataFrame or AnnData of shape (n_calibration, \
*input_shape)
            Held-out examples, not in the training data.
        y : array-like of shape (n_calibration,)
            Their true labels.

        Returns
        -------
        self : DeepKNN
            With ``calibration_scores_``, the nonconformity of each example at its label.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the explainer is not fitted.
        ValueError
            If X does not match the training data or X and y differ in length.
        """
        calibration = self._check_examples(X)
        truth = _labels(y, calibration.shape[0], "y_calibration")
        _, indices = self._search(calibration)
        self.calibration_scores_ = _nonconformity(self.labels_[indices], truth)
        return self

    def _check_examples(self, X):
        check_is_fitted(self, "neighbors_")
        data, feature_shape, names = check_input(X)
        if feature_shape != self.feature_shape_:
            raise ValueError(
                f"X has feature shape {feature_shape}, but DeepKNN was fitted on feature "
                f"shape {self.feature_shape_}."
            )
        fitted = getattr(self, "feature_names_in_", None)
        if names is not None and fitted is not None and not np.array_equal(names, fitted):
            raise ValueError(
                "The feature names of X differ from those seen in fit (same names, same order "
                "are required)."
            )
        return data

    def _embed(self, data, name):
        """Rows of the representation: the flattened input, or the layer's output."""
        if name is None:
            return data
        import torch

        from ._network import layer_output

        adapter = self.model_adapter_
        rows = adapter.tensor((data.toarray() if sp.issparse(data) else data)
                              .reshape((-1,) + self.feature_shape_))
        with adapter.inference(), torch.no_grad():
            embedded = torch_batches(
                lambda xb: layer_output(adapter.module, name, xb).reshape(len(xb), -1),
                (rows,), self._batch_size)
        embedded = embedded.to("cpu", torch.float64).numpy()
        bad = np.flatnonzero(~np.isfinite(embedded).all(axis=1))
        if len(bad):
            raise ValueError(
                f"The output of layer {name!r} of the {type(self.model).__name__} is NaN or "
                f"infinite for {len(bad)} of {len(embedded)} examples (rows "
                f"{', '.join(map(str, bad[:10]))}{', ...' if len(bad) > 10 else ''})."
            )
        return embedded

    def _search(self, data):
        """Distances and indices of the neighbours, each of shape (n, n_layers, n_neighbors)."""
        found = [index.kneighbors(self._embed(data, name))
                 for index, name in zip(self.neighbors_, self.layer_names_, strict=True)]
        return (np.stack([d for d, _ in found], axis=1),
                np.stack([i for _, i in found], axis=1))

    def _predict(self, data):
        """The model's predictions (through the model adapter: NaN scores raise)."""
        adapter = self.model_adapter_
        rows = data.toarray() if sp.issparse(data) else data
        scores = batched_scores(adapter.scores, rows, self._batch_size)
        if adapter.resolved_output == "prediction":
            return scores[:, 0]
        if scores.shape[1] == 1:
            return (scores[:, 0] > 0).astype(int)
        index = np.argmax(scores, axis=1)
        names = adapter.names_for(scores.shape[1])
        return index if names is None else names[index]

    def explain(self, X, y=None):
        """Retrieve the nearest training examples of each example of X.

        Parameters
        ----------
        X : array-like, sparse matrix, DataFrame or AnnData of shape (n_samples, \
*input_shape)
        y : array-like of shape (n_samples,), default=None
            Labels whose support is scored (e.g. the true labels); None scores the model's
            predictions (the deep k-NN credibility).

        Returns
        -------
        explanation : ExampleExplanation
            ``values``: distances to the neighbours, nearest first, of shape
            (n_samples, n_neighbors), axes ("sample", "neighbor"), or
            (n_samples, n_layers, n_neighbors), axes ("sample", "layer", "neighbor"), when
            ``layer`` is a list; ``indices`` their training indices and ``example_names``
            their names (both shaped as ``values``); ``base_values`` the credibility;
            ``data`` the examples. ``info`` holds ``indices``, ``names`` and ``labels`` of
            the neighbours (shaped as ``values``), the model's ``prediction`` and the
            ``output`` it is the highest-scoring class of (the model adapter's, e.g.
            "probability" or "logit"), the
            ``agreement`` of the neighbours' labels with the scored label (the prediction,
            or y) and its ``credibility`` (n_samples,), and with calibration data the
            ``p_values`` (n_samples, n_classes) of every class of ``classes_``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the explainer is not fitted.
        ValueError
            If X does not have the training data's shape or is not finite, y has the wrong
            length, or the model returns NaN or infinite scores.
        """
        data = self._check_examples(X)
        prediction = self._predict(data)
        scored = prediction if y is None else _labels(y, data.shape[0], "y")
        distances, indices = self._search(data)
        labels = self.labels_[indices]
        agreement = 1.0 - _nonconformity(labels, scored) / labels[0].size
        info = {"method": "deep_knn", "layer": self.layer_names_,
                # the quantity whose highest-scoring class is the prediction
                "output": self.model_adapter_.describe(), "prediction": prediction,
                "agreement": agreement, "credibility": agreement}
        if y is not None:
            info["y"] = scored
        if hasattr(self, "calibration_scores_"):
            info["p_values"] = np.column_stack([
                self._p_value(_nonconformity(labels, np.full(len(labels), c)))
                for c in self.classes_
            ])
            info["credibility"] = self._p_value(_nonconformity(labels, scored))
        if isinstance(self.layer, (list, tuple)):
            axes = ("sample", "layer", "neighbor")
        else:
            axes, info["layer"] = ("sample", "neighbor"), self.layer_names_[0]
            distances, indices, labels = distances[:, 0], indices[:, 0], labels[:, 0]
        names = self.training_names_[indices]
        info.update(indices=indices, names=names, labels=labels)
        return ExampleExplanation(
            distances, indices=indices, axes=axes, units=f"{self.metric} distance"
            if isinstance(self.metric, str) else "distance", info=info,
            data=(data.toarray() if sp.issparse(data) else data).reshape(
                (-1,) + self.feature_shape_),
            base_values=info["credibility"], example_names=names,
        )

    def _p_value(self, alpha):
        return (self.calibration_scores_[None, :] >= alpha[:, None]).mean(axis=1)


def _labels(y, n, name):
    labels = np.asarray(y).copy()
    if labels.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {labels.shape}.")
    return labels


def _nonconformity(labels, candidate):
    """Deep k-NN alpha: neighbours (over all layers) whose label is not the candidate's."""
    return (labels != np.asarray(candidate).reshape(-1, 1, 1)).sum(axis=(1, 2))
