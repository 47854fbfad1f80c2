"""TransformerSequenceClassifier: a small conv-stem transformer as a skorch / sklearn classifier."""

import torch
from sklearn.utils.validation import check_is_fitted
from skorch.dataset import ValidSplit

from ._cnn import ExpActivationCNNClassifier
from ._transformer_modules import STEM, SequenceTransformer


class TransformerSequenceClassifier(ExpActivationCNNClassifier):
    """Transformer classifier of one-hot sequences (conv stem, encoder, class-token head).

    The network of :class:`~skexplain.models.SequenceTransformer` trained as
    :class:`~skexplain.models.ExpActivationCNNClassifier` is: Adam, binary cross-entropy
    (cross-entropy for more than two classes), early stopping on the validation AUROC or
    AUPR, a learning rate cut by ``lr_factor`` when it plateaus, the same target layouts
    (binary, multi-class, multi-label) and the same optional penalties on the stem's conv
    kernels (off by default). Its attention can be read with
    :class:`~skexplain.explainers.AttentionMaps`.

    Parameters
    ----------
    module : torch.nn.Module class, default=SequenceTransformer
        Network class; it receives ``n_outputs``, ``input_length``, ``n_channels``,
        ``architecture``, ``first_activation``, ``n_heads``, ``n_layers``,
        ``dim_feedforward``, ``encoder_dropout``, ``pooling`` and any ``module__*``
        parameter.
    architecture : list of dict, default=STEM
        Conv blocks of the stem (see :class:`~skexplain.models.SequenceTransformer`).
    first_activation : str, default="relu"
    n_heads : int, default=4
    n_layers : int, default=2
    dim_feedforward : int, default=64
    encoder_dropout : float, default=0.1
    pooling : {"cls", "mean"}, default="cls"
        Read the output from a class token or from the mean over tokens.
    l1, l2, smoothness : float or sequence of float, default=0.0
        Penalties on the stem's conv kernels, as for ExpActivationCNNClassifier.
    criterion, optimizer, lr, max_epochs, batch_size, scoring, patience, lr_patience, \
lr_factor, train_split, random_state, verbose, **kwargs
        As for :class:`~skexplain.models.ExpActivationCNNClassifier`; ``random_state``
        seeds initialisation, dropout and batch order through a forked torch RNG.

    Attributes
    ----------
    classes_ : ndarray
    n_outputs_ : int
    module_ : SequenceTransformer
        The trained network (in eval mode after ``fit``).

    Examples
    --------
    >>> import numpy as np
    >>> from skexplain.models import TransformerSequenceClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (40, 32))].transpose(0, 2, 1)
    >>> y = np.arange(40) % 2
    >>> net = TransformerSequenceClassifier(max_epochs=1, random_state=0, verbose=0)
    >>> net.fit(X, y).predict_proba(X).shape
    (40, 2)
    """

    def __init__(
        self,
        module=SequenceTransformer,
        *,
        architecture=STEM,
        first_activation="relu",
        n_heads=4,
        n_layers=2,
        dim_feedforward=64,
        encoder_dropout=0.1,
        pooling="cls",
        l1=0.0,
        l2=0.0,
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
            module, architecture=architecture, first_activation=first_activation, l1=l1, l2=l2,
            smoothness=smoothness, criterion=criterion, optimizer=optimizer, lr=lr,
            max_epochs=max_epochs, batch_size=batch_size, scoring=scoring, patience=patience,
            lr_patience=lr_patience, lr_factor=lr_factor, train_split=train_split,
            random_state=random_state, verbose=verbose, **kwargs,
        )
        self.n_heads = n_heads
        self.n_layers = n_layers
        self.dim_feedforward = dim_feedforward
        self.encoder_dropout = encoder_dropout
        self.pooling = pooling

    def initialize_module(self):
        check_is_fitted(self, "n_outputs_", msg="fit() sets the network's input and output size.")
        kwargs = {
            "n_outputs": self.n_outputs_,
            "input_length": self.input_length_,
            "n_channels": self.n_channels_,
            "architecture": self.architecture,
            "first_activation": self.first_activation,
            "n_heads": self.n_heads,
            "n_layers": self.n_layers,
            "dim_feedforward": self.dim_feedforward,
            "encoder_dropout": self.encoder_dropout,
            "pooling": self.pooling,
            **self.get_params_for("module"),
        }
        self.module_ = self.initialized_instance(self.module, kwargs)
        return self
