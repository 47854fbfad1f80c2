"""Nearest training examples in the input space or in a network layer's representation."""

from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.neighbors import NearestNeighbors
from sklearn.utils._param_validation import Interval

from .._core.model import ModelAdapter as ScoreFunction
from .._core.model import is_skorch_net as _is_skorch_net
from .._core.model import is_torch_module as _is_torch_module
from .._core.validation import check_input as _check_input
from ..base import BaseExplainer, Explanation
from ._influence import _example_names


class DeepKNN(BaseExplainer):
    """Explain a prediction by the training examples nearest to it, with deep k-NN credibility.

    Each explained example is embedded (its input, or the output of a network layer,
    flattened) and its ``n_neighbors`` nearest training examples are retrieved with their
    labels and distances. Deep k-NN (Papernot & McDaniel 2018) scores how well the training
    data support a label j by the nonconformity ``alpha(x, j)``, the number of neighbours, over
    all the given layers, whose label is not j:

    - without calibration data, the credibility of the model's prediction is the fraction of
      neighbours that agree with it, ``1 - alpha(x, prediction) / (n_layers * n_neighbors)``;
    - with a held-out calibration set (``fit(..., X_calibration, y_calibration)``), it is the
      conformal p-value ``p_j = mean(A >= alpha(x, j))`` of the prediction, A the
      nonconformity of each calibration example at its true label; ``p_values`` for every
      class are returned too (the paper's own prediction is their argmax).

    Low credibility flags predictions the training data do not support (outliers, shifted or
    adversarial inputs).

    Parameters
    ----------
    model : estimator, skorch net, torch.nn.Module or callable
        The fitted model whose predictions are explained (``predict`` where it has one, else
        the index of the highest-scoring output).
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
    batch_size : int, default=256
        Examples per forward pass when embedding with a layer.

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
    >>> E.info["indices"], E.info["labels"], E.info["credibility"]
    (array([[0, 1]]), array([['a', 'a']], dtype='<U1'), array([1.]))
    """

    _score_unavailable = "neighbour distances are not feature attributions"

    _parameter_constraints = {
        "model": "no_validation",
        "layer": "no_validation",
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "metric": [str, callable],
        "n_jobs": [Integral, None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, model, layer=None, n_neighbors=5, metric="cosine", n_jobs=None,
                 batch_size=256):
        self.model = model
        self.layer = layer
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.n_jobs = n_jobs
        self.batch_size = batch_size

    def fit(self, X, y, X_calibration=None, y_calibration=None):
        """Embed the training examples, index them, and score the calibration examples.

        Parameters
        ----------
        X : array-like, sparse matrix or DataFrame of shape (n_train, *input_shape)
            Training inputs.
        y : array-like of shape (n_train,)
            Training labels (comparable with the model's predictions).
        X_calibration : array-like of shape (n_calibration, *input_shape), default=None
            Held-out examples (not in the training data) for calibrated credibility.
        y_calibration : array-like of shape (n_calibration,), default=None
            Their true labels.

        Returns
        -------
        self : DeepKNN

        Raises
        ------
        ValueError
            If X is invalid, X and y differ in length, there are fewer training examples than
            ``n_neighbors``, a layer does not exist, or only one of the calibration arrays is
            given.
        TypeError
            If a layer is named but the model is not a network.
        """
        self._validate_params()
        data, self.feature_shape_, _ = _check_input(X)
        labels = _labels(y, data.shape[0], "y")
        if data.shape[0] < self.n_neighbors:
            raise ValueError(
                f"n_neighbors={self.n_neighbors} exceeds the {data.shape[0]} training examples."
            )
        if (X_calibration is None) != (y_calibration is None):
            raise ValueError("Pass both X_calibration and y_calibration, or neither.")
        self.n_features_in_ = int(np.prod(self.feature_shape_))
        layers = self.layer if isinstance(self.layer, (list, tuple)) else [self.layer]
        self.layer_names_ = [None] * len(layers)
        if any(layer is not None for layer in layers):
            from ._network import layer_name, torch_network

            self._network = torch_network(self.model, type(self).__name__)
            self.layer_names_ = [None if layer is None else layer_name(self.model, layer)
                                 for layer in layers]
        self.labels_ = labels
        self.classes_ = np.unique(labels)
        self.training_names_ = _example_names(X)
        self.neighbors_ = [
            NearestNeighbors(n_neighbors=self.n_neighbors, metric=self.metric,
                             n_jobs=self.n_jobs).fit(self._embed(data, name))
            for name in self.layer_names_
        ]
        if X_calibration is not None:
            calibration = self._check_explain_input(X_calibration)
            truth = _labels(y_calibration, calibration.shape[0], "y_calibration")
            _, indices = self._search(calibration)
            self.calibration_scores_ = _nonconformity(self.labels_[indices], truth)
        elif hasattr(self, "calibration_scores_"):
            del self.calibration_scores_
        return self

    def _embed(self, data, name):
        """Rows of the representation: the flattened input, or the layer's output."""
        if name is None:
            return data
        import torch

        from ._network import layer_output

        data = data.toarray() if sp.issparse(data) else data
        shape = (-1,) + self.feature_shape_
        with torch.no_grad():
            return np.concatenate([
                layer_output(self._network, name,
                             torch.as_tensor(data[i:i + self.batch_size].reshape(shape)))
                .reshape(len(data[i:i + self.batch_size]), -1).numpy()
                for i in range(0, data.shape[0], self.batch_size)
            ])

    def _search(self, data):
        """Distances and indices of the neighbours, each of shape (n, n_layers, n_neighbors)."""
        found = [index.kneighbors(self._embed(data, name))
                 for index, name in zip(self.neighbors_, self.layer_names_, strict=True)]
        return (np.stack([d for d, _ in found], axis=1),
                np.stack([i for _, i in found], axis=1))

    def _predict(self, X, data):
        model = self.model
        if _is_skorch_net(model):
            return np.asarray(model.predict(data.reshape((-1,) + self.feature_shape_)
                                            .astype(np.float32)))
        if not _is_torch_module(model) and hasattr(model, "predict"):
            return np.asarray(model.predict(X))
        scores = ScoreFunction(model, self.feature_shape_)(data)
        if scores.shape[1] == 1:
            return (scores[:, 0] > 0).astype(int)
        return np.argmax(scores, axis=1)

    def explain(self, X):
        """Retrieve the nearest training examples of each example of X.

        Parameters
        ----------
        X : array-like, sparse matrix or DataFrame of shape (n_samples, *input_shape)

        Returns
        -------
        explanation : Explanation
            ``values``: distances to the neighbours, nearest first, of shape
            (n_samples, n_neighbors), or (n_samples, n_layers, n_neighbors) when ``layer``
            is a list; ``base_values`` the credibility. ``info`` holds ``indices``, ``names``
            and ``labels`` of the neighbours (shaped as ``values``), the model's
            ``prediction``, the ``agreement`` of the neighbours' labels with it and its
            ``credibility`` (n_samples,), and with calibration data the ``p_values``
            (n_samples, n_classes) of every class of ``classes_``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the explainer is not fitted.
        ValueError
            If X does not have the training data's shape or is not finite.
        """
        data = self._check_explain_input(X)
        distances, indices = self._search(data)
        labels = self.labels_[indices]
        prediction = self._predict(X, data)
        agreement = 1.0 - _nonconformity(labels, prediction) / labels[0].size
        info = {"method": "nearest_neighbors", "layer": self.layer_names_,
                "prediction": prediction, "agreement": agreement, "credibility": agreement}
        if hasattr(self, "calibration_scores_"):
            info["p_values"] = np.column_stack([
                self._p_value(_nonconformity(labels, np.full(len(labels), c)))
                for c in self.classes_
            ])
            info["credibility"] = self._p_value(_nonconformity(labels, prediction))
        names = [f"neighbor_{i + 1}" for i in range(self.n_neighbors)]
        if isinstance(self.layer, (list, tuple)):
            info["axes"] = ("sample", "layer", "neighbor")
            names = [f"{layer or 'input'}:{n}" for layer in self.layer_names_ for n in names]
        else:
            info["axes"], info["layer"] = ("sample", "neighbor"), self.layer_names_[0]
            distances, indices, labels = distances[:, 0], indices[:, 0], labels[:, 0]
        info.update(indices=indices, names=self.training_names_[indices], labels=labels)
        return Explanation(
            distances, data=data.reshape((-1,) + self.feature_shape_),
            base_values=info["credibility"], feature_names=names, info=info,
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
