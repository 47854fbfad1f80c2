"""Nearest training examples in the input space or in a network layer's representation."""

from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.neighbors import NearestNeighbors
from sklearn.utils._param_validation import Interval

from .._model import ScoreFunction, _is_skorch_net, _is_torch_module
from ..base import BaseExplainer, Explanation, _check_input
from ._influence import _example_names


class NearestNeighborExplainer(BaseExplainer):
    """Explain a prediction by the training examples nearest to it, with deep k-NN credibility.

    Each explained example is embedded (its input, or the output of a network layer,
    flattened) and its ``n_neighbors`` nearest training examples are retrieved with their
    labels and distances. The credibility of the model's prediction is the fraction of those
    neighbours whose label agrees with it: the deep k-NN nonconformity of Papernot & McDaniel
    (2018), ``alpha = #neighbours with another label``, as ``1 - alpha / n_neighbors``, without
    their calibration set. Low credibility flags predictions unsupported by the training data.

    Parameters
    ----------
    model : estimator, skorch net, torch.nn.Module or callable
        The fitted model whose predictions are explained (``predict`` where it has one, else
        the highest-scoring output).
    layer : None, str or torch.nn.Module, default=None
        Layer of a network whose output is the representation; None for the input space.
    n_neighbors : int, default=5
        Number of training examples retrieved per example.
    metric : str or callable, default="cosine"
        Distance, any metric of :class:`sklearn.neighbors.NearestNeighbors`.
    n_jobs : int, default=None
        Parallel jobs of the neighbour search.
    batch_size : int, default=256
        Examples per forward pass when embedding with a layer.

    Attributes
    ----------
    neighbors_ : sklearn.neighbors.NearestNeighbors
        The index over the embedded training examples.
    labels_ : ndarray of shape (n_train,)
        Training labels.
    training_names_ : ndarray of str of shape (n_train,)
        The index of a training DataFrame, else ``train_<i>``.
    layer_name_ : str or None
        The layer used.

    References
    ----------
    Papernot & McDaniel, "Deep k-nearest neighbors: towards confident, interpretable and
    robust deep learning", arXiv:1803.04765 (2018).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skexplain.explainers import NearestNeighborExplainer
    >>> X = np.array([[0.0, 1.0], [0.1, 1.0], [1.0, 0.0], [1.0, 0.1]])
    >>> y = np.array(["a", "a", "b", "b"])
    >>> model = LogisticRegression().fit(X, y)
    >>> explainer = NearestNeighborExplainer(model, n_neighbors=2, metric="euclidean")
    >>> E = explainer.fit(X, y).explain([[0.0, 0.9]])
    >>> E.info["indices"], E.info["labels"], E.info["credibility"]
    (array([[0, 1]]), array([['a', 'a']], dtype='<U1'), array([1.]))
    """

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

    def fit(self, X, y):
        """Embed the training examples and index them.

        Parameters
        ----------
        X : array-like, sparse matrix or DataFrame of shape (n_train, *input_shape)
            Training inputs.
        y : array-like of shape (n_train,)
            Training labels (comparable with the model's predictions).

        Returns
        -------
        self : NearestNeighborExplainer

        Raises
        ------
        ValueError
            If X is invalid, X and y differ in length, there are fewer training examples than
            ``n_neighbors``, or the layer does not exist.
        TypeError
            If a layer is named but the model is not a network.
        """
        self._validate_params()
        data, self.feature_shape_, _ = _check_input(X)
        labels = np.asarray(y).copy()
        if labels.shape != (data.shape[0],):
            raise ValueError(f"y must have shape ({data.shape[0]},), got {labels.shape}.")
        if data.shape[0] < self.n_neighbors:
            raise ValueError(
                f"n_neighbors={self.n_neighbors} exceeds the {data.shape[0]} training examples."
            )
        self.n_features_in_ = int(np.prod(self.feature_shape_))
        self.layer_name_ = None
        if self.layer is not None:
            from ._network import layer_name, torch_network

            self._network = torch_network(self.model, type(self).__name__)
            self.layer_name_ = layer_name(self.model, self.layer)
            data = data.toarray() if sp.issparse(data) else data
        self.labels_ = labels
        self.training_names_ = _example_names(X)
        self.neighbors_ = NearestNeighbors(
            n_neighbors=self.n_neighbors, metric=self.metric, n_jobs=self.n_jobs
        ).fit(self._embed(data))
        return self

    def _embed(self, data):
        """Rows of the representation: the flattened input, or the layer's output."""
        if self.layer_name_ is None:
            return data
        import torch

        from ._network import layer_output

        shape = (-1,) + self.feature_shape_
        with torch.no_grad():
            return np.concatenate([
                layer_output(self._network, self.layer_name_,
                             torch.as_tensor(data[i:i + self.batch_size].reshape(shape)))
                .reshape(len(data[i:i + self.batch_size]), -1).numpy()
                for i in range(0, data.shape[0], self.batch_size)
            ])

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
            ``values`` of shape (n_samples, n_neighbors): distances to the neighbours,
            nearest first; ``base_values`` the credibility. ``info`` holds ``indices``,
            ``names`` and ``labels`` of the neighbours (n_samples, n_neighbors), the model's
            ``prediction`` and the ``credibility`` (n_samples,).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the explainer is not fitted.
        ValueError
            If X does not have the training data's shape or is not finite.
        """
        data = self._check_explain_input(X)
        distances, indices = self.neighbors_.kneighbors(self._embed(data))
        labels = self.labels_[indices]
        prediction = self._predict(X, data)
        credibility = (labels == prediction[:, None]).mean(axis=1)
        info = {
            "method": "nearest_neighbors",
            "axes": ("sample", "neighbor"),
            "layer": self.layer_name_,
            "indices": indices,
            "names": self.training_names_[indices],
            "labels": labels,
            "prediction": prediction,
            "credibility": credibility,
        }
        return Explanation(
            distances, data=data.reshape((-1,) + self.feature_shape_), base_values=credibility,
            feature_names=[f"neighbor_{i + 1}" for i in range(self.n_neighbors)], info=info,
        )

    def score(self, X=None, y=None):
        """Not defined: neighbour distances are not feature attributions.

        Raises
        ------
        NotImplementedError
            Always.
        """
        raise NotImplementedError("NearestNeighborExplainer has no faithfulness score.")
