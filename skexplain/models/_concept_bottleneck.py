"""ConceptBottleneckClassifier: x -> concepts -> y, with test-time concept intervention."""

import numbers

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet
from skorch.dataset import unpack_data
from skorch.utils import to_tensor
from torch import nn

from ._cnn import loss_callbacks
from ._modules import ExpActivationCNN

TRAINING_MODES = ("independent", "sequential", "joint")
CONCEPT_MODELS = ("auto", "mlp", "cnn")


def mlp(n_inputs, hidden_units, n_outputs, dropout=0.0):
    """Linear -> ReLU -> dropout for each hidden width, then a linear output layer."""
    layers, width = [nn.Flatten()], n_inputs
    for units in hidden_units:
        layers += [nn.Linear(width, units), nn.ReLU(), nn.Dropout(dropout)]
        width = units
    layers.append(nn.Linear(width, n_outputs))
    return nn.Sequential(*layers)


class ConceptBottleneck(nn.Module):
    """g: x -> concept logits, then f: concept probabilities -> class logits.

    Koh, P. W. et al. "Concept bottleneck models." ICML 2020.

    Parameters
    ----------
    concept_model : nn.Module
        Maps an input batch to (batch, n_concepts) concept logits.
    task_model : nn.Module
        Maps (batch, n_concepts) concept probabilities to (batch, n_classes) logits.
    """

    def __init__(self, concept_model, task_model):
        super().__init__()
        self.concept_model = concept_model
        self.task_model = task_model

    def forward(self, x, concepts=None):
        """Class logits and concept logits; ``concepts`` (NaN = keep the prediction) intervene."""
        concept_logits = self.concept_model(x)
        bottleneck = torch.sigmoid(concept_logits)
        if concepts is not None:
            bottleneck = torch.where(torch.isnan(concepts), bottleneck, concepts)
        return self.task_model(bottleneck), concept_logits


class ConceptBottleneckClassifier(NeuralNet):
    """Concept bottleneck model: predict concepts from x, then the class from the concepts.

    The network is x -> c_hat = sigmoid(g(x)) -> y_hat = f(c_hat) (Koh et al. 2020), with the
    concept probabilities as the bottleneck. Because the class depends on x only through the
    concepts, an expert can correct a predicted concept at test time (test-time intervention)
    and see the prediction change: ``predict(X, concepts=C)``.

    Koh, P. W., Nguyen, T., Tang, Y. S., Mussmann, S., Pierson, E., Kim, B. & Liang, P.
    "Concept bottleneck models." ICML 2020, PMLR 119, 5338-5348.

    Parameters
    ----------
    module : torch.nn.Module class, default=ConceptBottleneck
        Receives ``concept_model`` and ``task_model`` (built from the parameters below) and
        any ``module__*`` parameter.
    training : {"independent", "sequential", "joint"}, default="joint"
        "independent": g is fitted on (x, c) and f on the *true* concepts; "sequential": g
        first, then f on g's predicted concepts of the training data; "joint": g and f
        together, minimising the class loss plus ``concept_weight`` times the concept loss.
    concept_weight : float, default=1.0
        lambda of joint training (0 gives a standard model that ignores the concepts).
    concept_model : {"auto", "mlp", "cnn"} or callable, default="auto"
        g. "mlp": an MLP on flattened inputs with ``hidden_units``; "cnn": an
        :class:`~skexplain.models.ExpActivationCNN` with ``architecture`` and
        ``first_activation`` whose outputs are the concept logits; "auto": "cnn" for 3-D
        input (one-hot sequences) and "mlp" otherwise; a callable (e.g. an nn.Module class)
        is called as ``concept_model(input_shape, n_concepts)`` at each fit and must return a
        module mapping the input batch to (batch, n_concepts) logits.
    hidden_units : tuple of int, default=(64,)
        Hidden widths of the MLP g.
    dropout : float, default=0.0
        Dropout after each hidden layer of the MLP g.
    architecture : str or list of dict, default="cnn_local"
        Conv trunk of the CNN g; see :class:`~skexplain.models.ExpActivationCNN`.
    first_activation : str, default="exponential"
        First-layer activation of the CNN g.
    task_hidden_units : tuple of int, default=()
        Hidden widths of f; () makes f a linear (logistic) model of the concepts.
    criterion : torch loss class, default=torch.nn.CrossEntropyLoss
        Class loss; the concept loss is binary cross-entropy on the concept logits.
    lr : float, default=1e-2
        Adam learning rate.
    max_epochs : int, default=30
        Epochs of each stage (g then f for independent and sequential training).
    batch_size : int, default=64
    train_split : callable or None, default=None
        skorch validation split; None trains on all data.
    random_state : int or None, default=None
        Seeds initialisation and batch order.
    verbose : int, default=0
    **kwargs
        Other skorch parameters (``optimizer__weight_decay``, ``device``, ...).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_concepts_ : int
    input_shape_ : tuple
        Shape of one input (n_features,) or (n_channels, length).
    module_ : ConceptBottleneck
        The trained network (in eval mode after ``fit``).

    Examples
    --------
    >>> import numpy as np
    >>> from skexplain.models import ConceptBottleneckClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 5)).astype("float32")
    >>> C = (X[:, :3] > 0).astype(int)
    >>> y = C[:, 0] & C[:, 1]
    >>> cbm = ConceptBottleneckClassifier(training="independent", random_state=0)
    >>> cbm = cbm.fit(X, y, concepts=C)
    >>> cbm.predict(X[:2], concepts=C[:2]).tolist()  # intervene with the true concepts
    [0, 0]
    """

    def __init__(
        self,
        module=ConceptBottleneck,
        *,
        training="joint",
        concept_weight=1.0,
        concept_model="auto",
        hidden_units=(64,),
        dropout=0.0,
        architecture="cnn_local",
        first_activation="exponential",
        task_hidden_units=(),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=1e-2,
        max_epochs=30,
        batch_size=64,
        train_split=None,
        random_state=None,
        verbose=0,
        **kwargs,
    ):
        super().__init__(
            module, criterion=criterion, optimizer=optimizer, lr=lr, max_epochs=max_epochs,
            batch_size=batch_size, train_split=train_split, verbose=verbose, **kwargs,
        )
        self.training = training
        self.concept_weight = concept_weight
        self.concept_model = concept_model
        self.hidden_units = hidden_units
        self.dropout = dropout
        self.architecture = architecture
        self.first_activation = first_activation
        self.task_hidden_units = task_hidden_units
        self.random_state = random_state

    @property
    def _default_callbacks(self):
        return loss_callbacks()

    def fit(self, X, y, concepts=None, **fit_params):
        """Train g and f as ``training`` says.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features) or (n_samples, n_channels, length)
            Tabular features or one-hot sequences.
        y : array-like of shape (n_samples,)
            Class labels.
        concepts : array-like of shape (n_samples, n_concepts)
            The true binary (0/1) concepts of each sample.

        Returns
        -------
        self : ConceptBottleneckClassifier

        Raises
        ------
        ValueError
            If concepts are missing, not 0/1 or not aligned with X, if y has one class, if X
            has NaN or a parameter is invalid.
        """
        self._check_params()
        X = _check_inputs(X)
        if concepts is None:
            raise ValueError("fit needs the true concepts: fit(X, y, concepts=C).")
        concepts = _check_concepts(concepts, len(X))
        if not np.isin(concepts, (0, 1)).all():
            raise ValueError("concepts must be binary (0/1) in fit.")
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"y must be 1-D with {len(X)} labels, got shape {y.shape}.")
        self._classes = np.unique(y)
        if len(self._classes) < 2:
            raise ValueError("y has a single class; a classifier needs at least two.")
        codes = np.searchsorted(self._classes, y).astype(np.int64)
        self.input_shape_ = X.shape[1:]
        self.n_concepts_ = concepts.shape[1]
        with torch.random.fork_rng(devices=[]):
            if self.random_state is not None:
                torch.manual_seed(self.random_state)
            self.initialize()
            if self.training == "joint":
                targets = np.column_stack([codes, concepts]).astype(np.float32)
                self._fit_stage("joint", X, targets, **fit_params)
            else:
                self._fit_stage("concepts", X, concepts, **fit_params)
                bottleneck = concepts if self.training == "independent" \
                    else self.predict_concept_proba(X)
                self._fit_stage("task", bottleneck.astype(np.float32), codes, **fit_params)
        self._set_training(False)
        return self

    def _fit_stage(self, stage, X, targets, **fit_params):
        self._stage = stage
        try:
            self.partial_fit(X, targets, **fit_params)
        finally:
            self._stage = None

    def _check_params(self):
        if self.training not in TRAINING_MODES:
            raise ValueError(f"training must be one of {TRAINING_MODES}, got {self.training!r}.")
        if not isinstance(self.concept_weight, numbers.Real) or not self.concept_weight >= 0:
            raise ValueError(f"concept_weight must be a float >= 0, got {self.concept_weight!r}.")
        if not callable(self.concept_model) and self.concept_model not in CONCEPT_MODELS:
            raise ValueError(
                f"concept_model must be one of {CONCEPT_MODELS} or a callable returning a "
                f"torch.nn.Module, got {self.concept_model!r}."
            )
        if self.random_state is not None and not isinstance(self.random_state, numbers.Integral):
            raise ValueError(f"random_state must be None or an int, got {self.random_state!r}.")

    @property
    def classes_(self):
        try:
            return self._classes
        except AttributeError as exc:
            raise AttributeError(f"{type(self).__name__} is not fitted: no classes_.") from exc

    def initialize_module(self):
        check_is_fitted(self, "n_concepts_", msg="fit() sets the network's sizes.")
        kwargs = {
            "concept_model": self._build_concept_model(),
            "task_model": mlp(self.n_concepts_, self.task_hidden_units, len(self.classes_)),
            **self.get_params_for("module"),
        }
        self.module_ = self.initialized_instance(self.module, kwargs)
        return self

    def _build_concept_model(self):
        if callable(self.concept_model):
            return self.concept_model(self.input_shape_, self.n_concepts_)
        kind = self.concept_model
        if kind == "auto":
            kind = "cnn" if len(self.input_shape_) == 2 else "mlp"
        if kind == "cnn":
            if len(self.input_shape_) != 2:
                raise ValueError("concept_model='cnn' needs X of shape (n, n_channels, length).")
            n_channels, length = self.input_shape_
            return ExpActivationCNN(
                n_outputs=self.n_concepts_, input_length=length, n_channels=n_channels,
                architecture=self.architecture, first_activation=self.first_activation,
            )
        return mlp(int(np.prod(self.input_shape_)), self.hidden_units, self.n_concepts_,
                   self.dropout)

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        loss = self._stage_loss(Xi, yi)
        loss.backward()
        return {"loss": loss, "y_pred": None}

    def validation_step(self, batch, **fit_params):
        self._set_training(False)
        Xi, yi = unpack_data(batch)
        with torch.no_grad():
            loss = self._stage_loss(Xi, yi)
        return {"loss": loss, "y_pred": None}

    def _stage_loss(self, Xi, yi):
        """The loss of the current stage; frozen parts get no gradient."""
        Xi, yi = to_tensor(Xi, device=self.device), to_tensor(yi, device=self.device)
        concept_loss = nn.functional.binary_cross_entropy_with_logits
        if self._stage == "concepts":
            return concept_loss(self.module_.concept_model(Xi), yi.float())
        if self._stage == "task":
            return self.criterion_(self.module_.task_model(Xi), yi.long())
        class_logits, concept_logits = self.module_(Xi)
        return (self.criterion_(class_logits, yi[:, 0].long())
                + self.concept_weight * concept_loss(concept_logits, yi[:, 1:]))

    def _outputs(self, X, concepts=None):
        """Class and concept logits (tensors) in eval mode, with optional intervention."""
        X = _check_inputs(X, self)
        inputs = X
        if concepts is not None:
            inputs = {"x": X, "concepts": _check_concepts(concepts, len(X), self)}
        return self.forward(inputs, training=False)

    def predict_proba(self, X, concepts=None):
        """Class probabilities, optionally with intervened concepts.

        Parameters
        ----------
        X : ndarray of shape (n_samples, *input_shape_)
        concepts : array-like of shape (n_samples, n_concepts), optional
            Test-time intervention: each non-NaN entry (a concept probability in [0, 1],
            usually the true 0/1 value) replaces the predicted concept; NaN keeps the
            prediction.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        return torch.softmax(self._outputs(X, concepts)[0], dim=1).numpy()

    def predict(self, X, concepts=None):
        """Class labels (n_samples,); ``concepts`` intervene as in :meth:`predict_proba`."""
        proba = self.predict_proba(X, concepts)
        return self.classes_[proba.argmax(axis=1)]

    def predict_concept_proba(self, X):
        """Predicted concept probabilities sigmoid(g(x)), shape (n_samples, n_concepts)."""
        return torch.sigmoid(self._outputs(X)[1]).numpy()

    def predict_concepts(self, X):
        """Predicted binary concepts (n_samples, n_concepts): probability above 0.5."""
        return (self.predict_concept_proba(X) > 0.5).astype(int)

    def concept_score(self, X, concepts, average=True):
        """Concept accuracy of g.

        Parameters
        ----------
        X : ndarray of shape (n_samples, *input_shape_)
        concepts : array-like of shape (n_samples, n_concepts)
            True 0/1 concepts.
        average : bool, default=True
            Mean over concepts; False returns one accuracy per concept.

        Returns
        -------
        accuracy : float or ndarray of shape (n_concepts,)
        """
        concepts = _check_concepts(concepts, len(X), self)
        accuracy = (self.predict_concepts(X) == concepts).mean(axis=0)
        return float(accuracy.mean()) if average else accuracy

    def score(self, X, y, concepts=None):
        """Class accuracy, optionally with intervened concepts."""
        return float(np.mean(self.predict(X, concepts) == np.asarray(y)))


def _check_inputs(X, net=None):
    X = np.asarray(X, dtype=np.float32)
    if X.ndim not in (2, 3):
        raise ValueError(
            f"X must be 2-D (n_samples, n_features) or 3-D one-hot sequences (n_samples, "
            f"n_channels, length), got shape {X.shape}."
        )
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or infinity.")
    if net is not None:
        check_is_fitted(net, "n_concepts_")
        if X.shape[1:] != net.input_shape_:
            raise ValueError(
                f"X has per-sample shape {X.shape[1:]}, but the model was fitted on "
                f"{net.input_shape_}."
            )
    return X


def _check_concepts(concepts, n_samples, net=None):
    concepts = np.asarray(concepts, dtype=np.float32)
    if concepts.ndim != 2 or concepts.shape[0] != n_samples:
        raise ValueError(
            f"concepts must have shape (n_samples, n_concepts) with n_samples={n_samples}, got "
            f"{concepts.shape}."
        )
    if net is not None and concepts.shape[1] != net.n_concepts_:
        raise ValueError(
            f"concepts has {concepts.shape[1]} columns, but the model has {net.n_concepts_} "
            f"concepts."
        )
    known = concepts[~np.isnan(concepts)]
    if np.any((known < 0) | (known > 1)) or np.isinf(known).any():
        raise ValueError("concepts must be in [0, 1] (NaN marks concepts left as predicted).")
    return concepts
