"""TracIn: influence of training examples traced through saved training checkpoints."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..base import BaseExplainer, Explanation
from ._influence import _example_names


class TracIn(BaseExplainer):
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
    model : skorch net or torch.nn.Module
        The network (its architecture; the parameter values come from the checkpoints).
    checkpoints : list of dict or path
        State dicts of the module saved during training (``module.state_dict()``), or the
        paths they were saved to with ``torch.save``.
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
    batch_size : int, default=256
        Examples per gradient batch.

    Attributes
    ----------
    learning_rates_ : ndarray of shape (n_checkpoints,)
    n_parameters_ : int
        Number of parameters the gradients are taken over.
    training_names_ : ndarray of str of shape (n_train,)
        The index of a training DataFrame, else ``train_<i>``.

    References
    ----------
    Pruthi, Liu, Kale & Sundararajan, "Estimating training data influence by tracing gradient
    descent", NeurIPS 2020.
    """

    _score_unavailable = "TracIn values are not feature attributions"

    _parameter_constraints = {
        "model": "no_validation",
        "checkpoints": [list, tuple],
        "learning_rates": ["array-like", Real],
        "loss": [StrOptions({"auto", "cross_entropy", "binary_cross_entropy",
                             "squared_error"}), callable],
        "layers": "no_validation",
        "n_top": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, model, checkpoints, *, learning_rates=1.0, loss="auto", layers=None,
                 n_top=10, batch_size=256):
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
        X : array-like of shape (n_train, *input_shape)
            Training inputs.
        y : array-like of shape (n_train,) or (n_train, n_outputs)
            Training targets (class indices for cross-entropy).

        Returns
        -------
        self : TracIn

        Raises
        ------
        ValueError
            If there is no checkpoint, a checkpoint lacks a parameter, the learning rates do
            not match the checkpoints, or X and y are invalid.
        TypeError
            If the model is not a network.
        """
        from ._example_gradients import ExampleGradients, load_checkpoint, network_data

        self._validate_params()
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
        self._X, self._y = network_data(X, y, self._gradients)
        self.training_names_ = _example_names(X)
        self.n_parameters_ = self._gradients.n_parameters
        return self

    def _per_checkpoint(self, X, y):
        """Yield (learning rate, gradients of X, gradients of the training set)."""
        for rate, state in zip(self.learning_rates_, self._states, strict=True):
            self._gradients.load(state)
            G_train = self._gradients.gradients(self._X, self._y, self.batch_size)
            G = None if X is None else self._gradients.gradients(X, y, self.batch_size)
            yield rate, G, G_train

    def explain(self, X, y):
        """TracIn influence of every training example on each example of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, *input_shape)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets at which the test loss is taken (e.g. the predicted class).

        Returns
        -------
        explanation : Explanation
            ``values`` of shape (n_samples, n_train), positive for proponents;
            ``feature_names`` are the training examples' names; ``info`` holds
            ``helpful`` and ``harmful`` (n_samples, n_top): indices of the top proponents and
            opponents, strongest first, and ``y``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the explainer is not fitted.
        ValueError
            If X has another input shape than the training data, or X and y are invalid.
        """
        from ._example_gradients import network_data

        check_is_fitted(self, "learning_rates_")
        X, y_t = network_data(X, y, self._gradients, self._X.shape[1:])
        values = sum(rate * (G @ G_train.T).numpy()
                     for rate, G, G_train in self._per_checkpoint(X, y_t))
        k = min(self.n_top, values.shape[1])
        order = np.argsort(-values, axis=1, kind="stable")
        info = {"method": "tracin", "axes": ("sample", "training_example"), "y": np.asarray(y),
                "helpful": order[:, :k], "harmful": order[:, ::-1][:, :k]}
        return Explanation(values, data=X.numpy(), feature_names=self.training_names_,
                           info=info)

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

