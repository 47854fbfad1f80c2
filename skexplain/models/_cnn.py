"""ExpActivationCNNClassifier: the exponential-activation CNN as a skorch / sklearn classifier."""

import numbers

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNetClassifier
from skorch.callbacks import (
    EarlyStopping,
    EpochScoring,
    EpochTimer,
    LRScheduler,
    PassthroughScoring,
    PrintLog,
)
from skorch.dataset import ValidSplit

from ._modules import ExpActivationCNN

_SCORERS = {"roc_auc": roc_auc_score, "average_precision": average_precision_score}


class ExpActivationCNNClassifier(NeuralNetClassifier):
    """CNN classifier of one-hot sequences with an exponential first-layer activation.

    The network of :class:`~skexplain.models.ExpActivationCNN` trained as in Koo & Ploenzke
    (2021): Adam, binary cross-entropy (cross-entropy for more than two classes), early
    stopping on the validation AUROC or AUPR and a learning rate cut by ``lr_factor`` when it
    plateaus. Exponential first-layer filters learn readable motifs.

    Koo, P. K. & Ploenzke, M. "Improving representations of genomic sequence motifs in
    convolutional networks with exponential activations." Nat. Mach. Intell. 3, 258-266 (2021).
    The L1 and smoothness penalties follow Puffin (Dudnyk et al., Science 384, 2024).

    Parameters
    ----------
    module : torch.nn.Module class, default=ExpActivationCNN
        Network class; it receives ``n_outputs``, ``input_length``, ``n_channels``,
        ``architecture``, ``first_activation`` and any ``module__*`` parameter.
    architecture : str or list of dict, default="cnn_deep"
        See :class:`~skexplain.models.ExpActivationCNN`.
    first_activation : str, default="exponential"
        Activation of the first conv layer: exponential, relu, softplus, sigmoid, tanh, elu
        or linear.
    l1, l2, smoothness : float or sequence of float
        Penalties on the conv kernels, per conv layer (first layer first; a float applies to
        every layer, missing layers get 0), added to the training loss:
        ``l1 * mean|W|``, ``l2 * mean(W ** 2)`` and ``smoothness * mean((W[..., i + 1] -
        W[..., i]) ** 2)`` (squared differences of neighbouring kernel positions).
        Defaults: L1 4e-5 on the first layer and 5e-5 on the second, L2 2e-3 on the second.
    criterion : torch loss class or None, default=None
        None picks binary cross-entropy on logits for binary and multi-label targets and
        cross-entropy for multi-class ones.
    lr : float, default=1e-3
        Adam learning rate.
    max_epochs : int, default=100
    batch_size : int, default=100
    scoring : {"roc_auc", "average_precision"}, default="roc_auc"
        Validation score (macro over labels) that early stopping and the learning-rate
        schedule monitor; the paper uses AUPR for multi-label task 1 and AUROC otherwise.
    patience : int, default=20
        Epochs without improvement of the validation score before training stops; the best
        epoch's weights are restored.
    lr_patience : int, default=5
        Epochs without improvement before the learning rate is multiplied by ``lr_factor``.
    lr_factor : float, default=0.2
    train_split : callable or None, default=ValidSplit(0.1, stratified=False, random_state=0)
        skorch validation split, used unless ``fit`` gets ``validation_data``. None trains
        without validation (and so without early stopping).
    random_state : int or None, default=None
        Seeds weight initialisation, dropout and batch order, so training is reproducible.
    verbose : int, default=1
        0 silences the per-epoch table.
    **kwargs
        Other skorch parameters (``device``, ``optimizer__*``, ``module__dense_units``, ...).

    Attributes
    ----------
    classes_ : ndarray
        Class labels; for multi-label y the label indices ``0..n_labels - 1``.
    n_outputs_ : int
        Number of output logits.
    module_ : ExpActivationCNN
        The trained network (in eval mode after ``fit``).

    Notes
    -----
    ``y`` may be binary (n,), multi-class (n,) or a multi-label indicator matrix
    (n, n_labels). ``predict_proba`` returns (n, 2) for binary, (n, n_classes) for
    multi-class and (n, n_labels) per-label probabilities for multi-label targets.
    """

    def __init__(
        self,
        module=ExpActivationCNN,
        *,
        architecture="cnn_deep",
        first_activation="exponential",
        l1=(4e-5, 5e-5),
        l2=(0.0, 2e-3),
        smoothness=0.0,
        criterion=None,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        max_epochs=100,
        batch_size=100,
        scoring="roc_auc",
        patience=20,
        lr_patience=5,
        lr_factor=0.2,
        train_split=ValidSplit(0.1, stratified=False, random_state=0),  # noqa: B008
        random_state=None,
        verbose=1,
        **kwargs,
    ):
        super().__init__(
            module, criterion=criterion, optimizer=optimizer, lr=lr, max_epochs=max_epochs,
            batch_size=batch_size, train_split=train_split, verbose=verbose, **kwargs,
        )
        self.architecture = architecture
        self.first_activation = first_activation
        self.l1 = l1
        self.l2 = l2
        self.smoothness = smoothness
        self.scoring = scoring
        self.patience = patience
        self.lr_patience = lr_patience
        self.lr_factor = lr_factor
        self.random_state = random_state

    @property
    def _default_callbacks(self):
        timing_and_losses = loss_callbacks()[:-1]
        if self.train_split is None and getattr(self, "_validation_dataset", None) is None:
            return [*timing_and_losses, ("print_log", PrintLog())]
        name = f"valid_{self.scoring}"
        return [
            *timing_and_losses,
            (name, EpochScoring(_ValidationScorer(self.scoring), name=name,
                                lower_is_better=False)),
            ("lr_scheduler", LRScheduler(
                policy=torch.optim.lr_scheduler.ReduceLROnPlateau, monitor=name, mode="max",
                factor=self.lr_factor, patience=self.lr_patience,
            )),
            ("early_stopping", EarlyStopping(
                monitor=name, lower_is_better=False, patience=self.patience, load_best=True,
                sink=print if _is_verbose(self.verbose) else _silent,
            )),
            ("print_log", PrintLog()),
        ]

    @property
    def classes_(self):
        try:
            return self._classes
        except AttributeError as exc:
            raise AttributeError(f"{type(self).__name__} is not fitted: no classes_.") from exc

    def fit(self, X, y, validation_data=None, **fit_params):
        """Train the network on one-hot sequences.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_channels, length)
            One-hot sequences (see :class:`~skexplain.preprocessing.OneHotSequenceEncoder`).
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a 0/1 indicator matrix for multi-label tasks.
        validation_data : tuple (X_valid, y_valid), optional
            A fixed validation set for early stopping and the learning-rate schedule, in the
            same form as X and y; it replaces ``train_split`` for this fit.

        Returns
        -------
        self : ExpActivationCNNClassifier

        Raises
        ------
        ValueError
            If X is not 3-D or has NaN, if y has one class only, or a parameter is invalid.
        """
        self._check_params()
        X = _check_sequences(X)
        y_encoded = self._fit_targets(y, len(X))
        self.n_channels_, self.input_length_ = X.shape[1:]
        self._validation_dataset = None
        if validation_data is not None:
            X_valid, y_valid = validation_data
            X_valid = _check_sequences(X_valid, self)
            self._validation_dataset = self.get_dataset(
                X_valid, self._encode_targets(y_valid, len(X_valid))
            )
        try:
            with torch.random.fork_rng(devices=[]):
                if self.random_state is not None:
                    torch.manual_seed(self.random_state)
                super().fit(X, y_encoded, **fit_params)
        finally:
            self._validation_dataset = None
        return self

    def get_split_datasets(self, X, y=None, **fit_params):
        if getattr(self, "_validation_dataset", None) is not None:
            return self.get_dataset(X, y), self._validation_dataset
        return super().get_split_datasets(X, y, **fit_params)

    def _check_params(self):
        if self.scoring not in _SCORERS:
            raise ValueError(f"scoring must be one of {sorted(_SCORERS)}, got {self.scoring!r}.")
        for name in ("l1", "l2", "smoothness"):
            values = np.atleast_1d(np.asarray(getattr(self, name), dtype=float))
            if values.ndim != 1 or np.any(values < 0) or not np.all(np.isfinite(values)):
                raise ValueError(f"{name} must be a non-negative float or sequence of floats.")
        if self.random_state is not None and not isinstance(self.random_state, numbers.Integral):
            raise ValueError(f"random_state must be None or an int, got {self.random_state!r}.")

    def _fit_targets(self, y, n_samples):
        """Learn the classes and output layout from y; return y encoded for the loss."""
        y = np.asarray(y)
        self._multilabel = y.ndim == 2
        if self._multilabel:
            self._classes = np.arange(y.shape[1])
            self.n_outputs_ = y.shape[1]
        elif y.ndim == 1:
            self._classes = np.unique(y)
            if len(self._classes) < 2:
                raise ValueError("y has a single class; a classifier needs at least two.")
            self.n_outputs_ = 1 if len(self._classes) == 2 else len(self._classes)
        return self._encode_targets(y, n_samples)

    def _encode_targets(self, y, n_samples):
        y = np.asarray(y)
        if y.shape[0] != n_samples:
            raise ValueError(f"X has {n_samples} samples but y has {y.shape[0]}.")
        if self._multilabel:
            if y.ndim != 2 or y.shape[1] != self.n_outputs_ or not np.isin(y, (0, 1)).all():
                raise ValueError(
                    f"A 2-D y must be a 0/1 multi-label indicator matrix with "
                    f"{self.n_outputs_} columns."
                )
            return y.astype(np.float32)
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D or a 2-D indicator matrix, got shape {y.shape}.")
        unknown = np.setdiff1d(y, self._classes)
        if len(unknown):
            raise ValueError(f"y contains labels not seen in fit: {unknown[:5]}.")
        codes = np.searchsorted(self._classes, y)
        if self.n_outputs_ == 1:
            return codes.astype(np.float32)[:, None]
        return codes.astype(np.int64)

    def check_data(self, X, y):
        # Classes are set by fit from the full y (skorch would infer them per call).
        pass

    def initialize_module(self):
        check_is_fitted(self, "n_outputs_", msg="fit() sets the network's input and output size.")
        kwargs = {
            "n_outputs": self.n_outputs_,
            "input_length": self.input_length_,
            "n_channels": self.n_channels_,
            "architecture": self.architecture,
            "first_activation": self.first_activation,
            **self.get_params_for("module"),
        }
        self.module_ = self.initialized_instance(self.module, kwargs)
        return self

    def initialize_criterion(self):
        criterion = self.criterion
        if criterion is None:
            multiclass = self.n_outputs_ > 1 and not self._multilabel
            criterion = torch.nn.CrossEntropyLoss if multiclass else torch.nn.BCEWithLogitsLoss
        self.criterion_ = self.initialized_instance(criterion, self.get_params_for("criterion"))
        return self

    def get_loss(self, y_pred, y_true, X=None, training=False):
        loss = super().get_loss(y_pred, y_true, X=X, training=training)
        if training:
            loss = loss + self.kernel_penalty()
        return loss

    def kernel_penalty(self):
        """The L1, L2 and smoothness penalty on the conv kernels (a scalar tensor)."""
        kernels = self.module_.conv_kernels()
        penalty = torch.zeros((), device=kernels[0].device)
        for name in ("l1", "l2", "smoothness"):
            for weight, kernel in zip(_per_layer(getattr(self, name), len(kernels)), kernels,
                                      strict=True):
                if weight:
                    penalty = penalty + weight * _penalty_term(name, kernel)
        return penalty

    def predict_proba(self, X):
        """Class (or per-label) probabilities.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_channels, length)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes) or (n_samples, n_labels)
        """
        return self._probabilities(self.forward(_check_sequences(X, self), training=False))

    def _probabilities(self, logits):
        if self.n_outputs_ == 1:
            positive = torch.sigmoid(logits[:, 0]).numpy()
            return np.column_stack([1 - positive, positive])
        if self._multilabel:
            return torch.sigmoid(logits).numpy()
        return torch.softmax(logits, dim=1).numpy()

    def decision_function(self, X):
        """Logits: (n_samples,) for binary targets, (n_samples, n_outputs) otherwise."""
        logits = self.forward(_check_sequences(X, self), training=False).numpy()
        return logits[:, 0] if self.n_outputs_ == 1 else logits

    def predict(self, X):
        """Class labels (n_samples,), or a 0/1 matrix (n_samples, n_labels) for multi-label."""
        proba = self.predict_proba(X)
        if self._multilabel:
            return (proba > 0.5).astype(int)
        return self.classes_[proba.argmax(axis=1)]

    def first_layer_activations(self, X):
        """Outputs of the first conv layer's activation, aligned with input positions.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_channels, length)

        Returns
        -------
        activations : ndarray of shape (n_samples, n_filters, length)
            Post-activation (before dropout and pooling) in eval mode; position i is the
            filter centred on input position i ("same" padding).
        """
        X = _check_sequences(X, self)
        first = self.module_.blocks[0]
        outputs = []
        handle = first.activation.register_forward_hook(
            lambda _module, _inputs, output: outputs.append(output.detach().cpu())
        )
        try:
            self.forward(X, training=False)
        finally:
            handle.remove()
        return torch.cat(outputs).numpy()


def loss_callbacks():
    """skorch's timing, loss and print-log callbacks, without validation scoring."""
    return [
        ("epoch_timer", EpochTimer()),
        ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
        ("valid_loss", PassthroughScoring(name="valid_loss")),
        ("print_log", PrintLog()),
    ]


def check_one_hot(X):
    """X as float32 (n_samples, n_channels, length), or a ValueError naming the problem."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 3:
        raise ValueError(
            f"X must be one-hot sequences of shape (n_samples, n_channels, length), got "
            f"shape {X.shape}; OneHotSequenceEncoder makes them from strings."
        )
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or infinity.")
    return X


def _check_sequences(X, net=None):
    if net is not None:
        check_is_fitted(net, "n_outputs_")
    X = check_one_hot(X)
    if net is not None:
        expected = (net.n_channels_, net.input_length_)
        if X.shape[1:] != expected:
            raise ValueError(
                f"X has (n_channels, length) {X.shape[1:]}, but the network was fitted on "
                f"{expected}."
            )
    return X


def _is_verbose(verbose):
    # A plain truth test would fail on the array values sklearn's set_params check tries.
    return isinstance(verbose, (bool, int, np.integer)) and verbose > 0


def _silent(*_args, **_kwargs):
    pass


def _per_layer(value, n_layers):
    values = list(np.atleast_1d(np.asarray(value, dtype=float)))
    if len(values) == 1:
        return values * n_layers
    return (values + [0.0] * n_layers)[:n_layers]


def _penalty_term(name, kernel):
    if name == "l1":
        return kernel.abs().mean()
    if name == "l2":
        return kernel.pow(2).mean()
    return (kernel[..., 1:] - kernel[..., :-1]).pow(2).mean()


class _ValidationScorer:
    """Macro AUROC / AUPR of the validation set, for skorch's EpochScoring (picklable)."""

    def __init__(self, name):
        self.name = name

    def __call__(self, net, X, y):
        # X may be a skorch validation Dataset, so go through forward (which skorch caches).
        proba = net._probabilities(net.forward(X, training=False))
        y = np.asarray(y)
        metric = _SCORERS[self.name]
        if net.n_outputs_ == 1:
            return metric(y.ravel(), proba[:, 1])
        if not net._multilabel:
            y = np.eye(net.n_outputs_)[y]
        return metric(y, proba, average="macro")
