"""TracIn: influence of training examples traced through saved training checkpoints."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._core.base import ExampleExplainer
from .._core.compute import resolve_batch_size
from .._core.explanation import ExampleExplanation
from ._influence import (
    BATCH_SIZE_CONSTRAINT,
    checked_examples,
    example_names,
    loss_name_of,
    positional_deprecated,
    top_examples,
)


class TracIn(ExampleExplainer):
    """TracIn-CP: the sum over checkpoints of learning rate times gradient dot products.

    For a test example z and training example z_j the value is

        value[z, j] = sum_t eta_t * grad L(theta_t; z) . grad l(theta_t; z_j),

    over saved checkpoints theta_t with learning rates eta_t (Pruthi et al. 2020): the
    first-order decrease of the test loss from the gradient steps taken on z_j. **Sign
    convention:** positive values mark *proponents* (helpful training examples, whose steps
    lowered the test loss), negative values *opponents* (harmful ones), as in
    :class:`InfluenceFunctions`. ``self_influence`` (``sum_t eta_t ||grad l_j||^2``) is high
    for mislabelled and atypical training examples.

    Gradients are taken in float64 over the parameters of ``layers``. captum's ``TracInCP``
    computes the same quantity (a test checks they agree) but loads checkpoints from files
    in float32; here checkpoints may be in-memory state dicts.

    Parameters
    ----------
    model : skorch net, torch.nn.Module or None, default=None
        The network (its architecture; the parameter values come from the checkpoints). Its
        own parameters give the predicted targets ``explain`` uses when y is None.
    checkpoints : list of dict or path
        State dicts of the module saved during training (``module.state_dict()``), or the
        paths they were saved to with ``torch.save``. Keyword-only (given by position it
        still works, with a FutureWarning); required by ``fit``.
    learning_rates : float or array-like of shape (n_checkpoints,), default=1.0
        Learning rate in force at each checkpoint.
    loss : {"auto", "cross_entropy", "binary_cross_entropy", "squared_error"} or callable, \
default="auto"
        Per-example loss, as in :class:`InfluenceFunctions`.
    layers : None, str, torch.nn.Module or list of them, default=None
        Layers whose parameter gradients are compared (e.g. the last one, as TracInCPFast
        does); None for all parameters.
    n_top : int, default=10
        Number of top proponents and opponents listed per explained example in ``info``.
    batch_size : int or "auto", default="auto"
        Examples per gradient batch. "auto" applies the policy of every explainer (64 MiB
        per batch, at most 4096 rows) to a row of n_parameters + n_input_values float64
        values, times 8 for the backward pass' working set.

    Attributes
    ----------
    learning_rates_ : ndarray of shape (n_checkpoints,)
    feature_shape_ : tuple of int
        Shape of one input.
    n_features_in_ : int
        Number of input values per example.
    model_adapter_ : skexplain._core.model.ModelAdapter
        The model as scores (the predicted targets when ``explain`` gets no y).
    n_parameters_ : int
        Number of parameters the gradients are taken over.
    training_names_ : ndarray of str of shape (n_train,)
        The index of a training DataFrame, else ``train_<i>``.

    References
    ----------
    Pruthi, Liu, Kale & Sundararajan, "Estimating training data influence by tracing gradient
    descent", NeurIPS 2020.
    """

    _parameter_constraints = {
        "model": "no_validation",
        "checkpoints": [list, tuple, None],
        "learning_rates": ["array-like", Real],
        "loss": [StrOptions({"auto", "cross_entropy", "binary_cross_entropy",
                             "squared_error"}), callable],
        "layers": "no_validation",
        "n_top": [Interval(Integral, 1, None, closed="left")],
        "batch_size": BATCH_SIZE_CONSTRAINT,
    }

    @positional_deprecated
    def __init__(self, model=None, *, checkpoints=None, learning_rates=1.0, loss="auto",
                 layers=None, n_top=10, batch_size="auto"):
        self.model = model
        self.checkpoints = checkpoints
        self.learning_rates = learning_rates
        self.loss = loss
        self.layers = layers
        self.n_top = n_top
        self.batch_size = batch_size

    def fit(self, X, y):
        """Store the training data and check the checkpoints.

        Parameters
        ----------
        X : array-like, sparse matrix, DataFrame or AnnData of shape (n_train, *input_shape)
            Training inputs.
        y : array-like of shape (n_train,) or (n_train, n_outputs)
            Training targets (class indices for cross-entropy).

        Returns
        -------
        self : TracIn

        Raises
        ------
        ValueError
            If the model or the checkpoints are missing, a checkpoint lacks a parameter, the
            learning rates do not match the checkpoints, X and y are invalid, or a loss or
            gradient is NaN or infinite.
        TypeError
            If the model is not a network.
        """
        from ._example_gradients import ExampleGradients, load_checkpoint, network_data

        self._validate_params()
        self._check_model()
        data = checked_examples(X)
        if self.checkpoints is None:
            raise ValueError("TracIn needs checkpoints: pass checkpoints=[state_dict, ...].")
        if not len(self.checkpoints):
            raise ValueError("checkpoints is empty: pass at least one state dict.")
        rates = np.array(self.learning_rates, dtype=np.float64)
        if rates.ndim == 0:
            rates = np.full(len(self.checkpoints), float(rates))
        if rates.shape != (len(self.checkpoints),) or not np.all(np.isfinite(rates)):
            raise ValueError(
                f"learning_rates must be a finite scalar or one per checkpoint "
                f"({len(self.checkpoints)}), got shape {rates.shape}."
            )
        self.learning_rates_ = rates
        self._gradients = ExampleGradients(self.model, self.loss, self.layers,
                                           type(self).__name__)
        self._states = [load_checkpoint(c) for c in self.checkpoints]
        for state in self._states:
            self._gradients.load(state)
        self.training_names_ = example_names(X)
        self._X, self._y = network_data(data, y, self._gradients)
        self.feature_shape_ = tuple(self._X.shape[1:])
        self.n_features_in_ = int(np.prod(self.feature_shape_))
        self.n_parameters_ = self._gradients.n_parameters
        self._batch_size = resolve_batch_size(
            self.batch_size, self.n_parameters_ + self.n_features_in_, factor=8)
        self.model_adapter_ = self._model_adapter(self.feature_shape_)
        return self

    def _per_checkpoint(self, X, y):
        """Yield (learning rate, gradients of X, gradients of the training set)."""
        for rate, state in zip(self.learning_rates_, self._states, strict=True):
            self._gradients.load(state)
            G_train = self._gradients.gradients(self._X, self._y, self._batch_size)
            G = None if X is None else self._gradients.gradients(X, y, self._batch_size)
            yield rate, G, G_train

    def explain(self, X, y=None):
        """TracIn influence of every training example on each example of X.

        Parameters
        ----------
        X : array-like, sparse matrix, DataFrame or AnnData of shape (n_samples, \
*input_shape)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            Targets at which the test loss is taken. None takes the model's prediction
            (the highest logit for cross-entropy, the positive logits for binary
            cross-entropy); a squared-error or callable loss needs y.

        Returns
        -------
        explanation : ExampleExplanation
            ``values`` of shape (n_samples, n_train), axes ("sample", "train_example"),
            positive for proponents; ``data`` the examples, ``example_names`` the training
            examples' names (n_train,); ``info`` holds ``helpful`` and ``harmful``
            (n_samples, n_top): indices of the top proponents and opponents, strongest
            first, ``y`` (the targets used), ``y_predicted``, ``output`` ("loss": the
            values are products of loss gradients) and ``loss`` (the loss' name).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the explainer is not fitted.
        ValueError
            If X has another input shape than the training data or is not numeric (text:
            encode DNA with OneHotSequenceEncoder), a label is not a class index of the
            network (cross-entropy) or not in [0, 1] (binary cross-entropy), y is
            None with a regression or callable loss, or the model's scores, losses or
            gradients are NaN or infinite.
        """
        from ._example_gradients import network_data, predicted_targets

        check_is_fitted(self, "learning_rates_")
        X = checked_examples(X)
        y_predicted = y is None
        if y_predicted:
            X = np.asarray(X, dtype=np.float64)
            y = predicted_targets(self.model_adapter_, X, self._gradients, self._y,
                                  self._batch_size)
        X, y_t = network_data(X, y, self._gradients, self._X.shape[1:])
        values = sum(rate * (G @ G_train.T).numpy()
                     for rate, G, G_train in self._per_checkpoint(X, y_t))
        helpful, harmful = top_examples(values, self.n_top)
        # the values are products of loss gradients: "loss" names the loss (of the
        # network's raw outputs, its logits)
        loss = self._gradients.loss_kind(self._X[:1]) or loss_name_of(self.loss)
        info = {"method": "tracin", "output": "loss", "loss": loss, "y": np.asarray(y),
                "y_predicted": y_predicted, "helpful": helpful, "harmful": harmful}
        return ExampleExplanation(values, axes=("sample", "train_example"),
                             units="decrease of the loss (learning rate x gradient product)",
                             info=info, data=X.numpy(), example_names=self.training_names_)

    def self_influence(self):
        """TracIn of each training example on itself: ``sum_t eta_t ||grad l_j||^2``.

        Returns
        -------
        self_influence : ndarray of shape (n_train,)
            Large values flag mislabelled or atypical training examples.
        """
        check_is_fitted(self, "learning_rates_")
        return sum(rate * (G_train ** 2).sum(1).numpy()
                   for rate, _, G_train in self._per_checkpoint(None, None))

