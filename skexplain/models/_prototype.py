"""PrototypeCNNClassifier: a ProtoPNet for one-hot sequences, explained by training subsequences."""

import numbers

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet
from torch import nn

from .._core.explanation import ExampleExplanation
from ._cnn import check_one_hot, loss_callbacks
from ._modules import ACTIVATIONS, ConvBlock, _resolve_architecture

DEFAULT_ARCHITECTURE = ({"filters": 32, "kernel_size": 15, "dropout": 0.1},)


class PrototypeNetwork(nn.Module):
    """ProtoPNet over 1-D sequences: conv trunk, prototype layer, linear last layer.

    A patch is one position of the feature map (its receptive field in the input); the
    similarity of prototype p_j to an input is ``max_t log((d_t + 1) / (d_t + epsilon))`` with
    ``d_t = ||z_t - p_j||^2`` (Chen et al. 2019).

    Parameters
    ----------
    n_classes : int
    n_channels : int, default=4
    architecture : list of dict, default=DEFAULT_ARCHITECTURE
        Conv blocks as in :class:`~skexplain.models.ExpActivationCNN` (no dense layer).
    first_activation : str, default="exponential"
    prototypes_per_class : int, default=5
    prototype_dim : int, default=32
        Channels of the add-on layers' output and of each prototype (a 1-position patch).
    epsilon : float, default=1e-4
    incorrect_class_connection : float, default=-0.5
        Initial last-layer weight from a prototype to the classes it does not belong to (its
        own class gets 1).

    Attributes
    ----------
    prototype_class : tensor of shape (n_prototypes, n_classes)
        One-hot class identity of each prototype (prototype j belongs to class
        ``j // prototypes_per_class``).
    """

    def __init__(self, n_classes, n_channels=4, architecture=DEFAULT_ARCHITECTURE,
                 first_activation="exponential", prototypes_per_class=5, prototype_dim=32,
                 epsilon=1e-4, incorrect_class_connection=-0.5):
        super().__init__()
        if first_activation not in ACTIVATIONS:
            raise ValueError(
                f"first_activation must be one of {sorted(ACTIVATIONS)}, got {first_activation!r}."
            )
        specs, _ = _resolve_architecture(list(architecture))
        blocks, in_channels = [], n_channels
        for i, spec in enumerate(specs):
            activation = first_activation if i == 0 else "relu"
            blocks.append(ConvBlock(in_channels, activation=activation, **spec))
            in_channels = spec["filters"]
        self.blocks = nn.ModuleList(blocks)
        self.add_on = nn.Sequential(
            nn.Conv1d(in_channels, prototype_dim, 1), nn.ReLU(),
            nn.Conv1d(prototype_dim, prototype_dim, 1), nn.Sigmoid(),
        )
        n_prototypes = n_classes * prototypes_per_class
        self.prototypes = nn.Parameter(torch.rand(n_prototypes, prototype_dim))
        identity = torch.eye(n_classes).repeat_interleave(prototypes_per_class, dim=0)
        self.register_buffer("prototype_class", identity)
        self.last_layer = nn.Linear(n_prototypes, n_classes, bias=False)
        self.epsilon = epsilon
        self.incorrect_class_connection = incorrect_class_connection
        self.reset_last_layer()

    def reset_last_layer(self):
        """Set the last layer to 1 for each prototype's class, ``incorrect_class_connection``
        for the others."""
        identity = self.prototype_class.T
        weight = identity + self.incorrect_class_connection * (1 - identity)
        with torch.no_grad():
            self.last_layer.weight.copy_(weight)

    @torch.no_grad()
    def keep_prototypes(self, indices):
        """Remove every prototype not in ``indices`` (with its last-layer column)."""
        indices = torch.as_tensor(indices, dtype=torch.long)
        self.prototypes = nn.Parameter(self.prototypes[indices].clone())
        self.prototype_class = self.prototype_class[indices]
        last_layer = nn.Linear(len(indices), self.prototype_class.shape[1], bias=False)
        last_layer.weight.copy_(self.last_layer.weight[:, indices])
        self.last_layer = last_layer.to(self.prototypes.device)

    def features(self, x):
        """Latent patches z: (batch, prototype_dim, n_positions)."""
        for block in self.blocks:
            x = block(x)
        return self.add_on(x)

    def distances(self, z, prototypes=None):
        """Squared distances (batch, n_prototypes, n_positions) of the patches z to the
        prototypes (default: all of them; or a (n, prototype_dim) tensor)."""
        prototypes = self.prototypes if prototypes is None else prototypes
        cross = torch.einsum("bdt,pd->bpt", z, prototypes)
        squared = z.pow(2).sum(dim=1, keepdim=True) - 2 * cross \
            + prototypes.pow(2).sum(dim=1)[None, :, None]
        return torch.relu(squared)

    def similarity(self, distance):
        """ProtoPNet's log activation log((d + 1) / (d + epsilon))."""
        return torch.log((distance + 1) / (distance + self.epsilon))

    def forward(self, x):
        """Class logits (batch, n_classes) and min distances (batch, n_prototypes)."""
        min_distances = self.distances(self.features(x)).amin(dim=2)
        return self.last_layer(self.similarity(min_distances)), min_distances


class PrototypeCNNClassifier(NeuralNet):
    """Prototype network (ProtoPNet) classifier of one-hot sequences.

    A conv trunk maps each position of a sequence to a latent patch; each prototype is a
    latent patch of its class, and the class logits are a linear function of how close each
    prototype comes to any patch of the input ("this looks like that"). After training, each
    prototype is projected ("pushed") onto its nearest training patch of its class, so it *is*
    a training subsequence (its receptive field) and every prediction is explained by
    similarities to real subsequences (:meth:`explain`).

    Chen, C., Li, O., Tao, C., Barnett, A. J., Su, J. & Rudin, C. "This looks like that: deep
    learning for interpretable image recognition." NeurIPS 2019.

    Training follows the paper in small: ``warm_epochs`` with the trunk frozen (add-on layers
    and prototypes only), then ``max_epochs`` of joint training (trunk, add-on layers and
    prototypes; last layer fixed at its initialisation) with the loss
    ``CE + cluster_weight * Clst - separation_weight * Sep + l1 * L1``. Clst is the mean over
    samples of the smallest distance to a prototype of the sample's class, Sep the mean
    smallest distance to a prototype of another class, L1 the absolute sum of the last-layer
    weights to other classes. A push (projection, :meth:`push`) at epoch ``push_start`` and
    every ``push_every`` epochs after it, and always after the last epoch, is followed by
    ``last_layer_epochs`` of training the last layer alone (everything else frozen and in
    eval mode) with the same loss. Before the final last-layer stage the prototypes whose
    nearest training sequences are mostly of other classes are pruned (:meth:`prune`, the
    paper's pruning step); on DNA these are prototypes on background sequence.

    Parameters
    ----------
    module : torch.nn.Module class, default=PrototypeNetwork
        Receives ``n_classes``, ``n_channels``, ``architecture``, ``first_activation``,
        ``prototypes_per_class``, ``prototype_dim`` and any ``module__*`` parameter.
    architecture : list of dict, default=DEFAULT_ARCHITECTURE
        Conv blocks (keys ``filters``, ``kernel_size``, ``dropout``, optional ``pool`` and
        ``padding``); the default, one block of 32 filters of width 15, gives prototypes of
        15 nucleotides.
    first_activation : str, default="exponential"
        First-layer activation (exponential filters learn readable motifs; Koo & Ploenzke
        2021).
    prototypes_per_class : int, default=5
        The paper uses 10.
    prototype_dim : int, default=32
    cluster_weight : float, default=0.8
    separation_weight : float, default=0.08
    l1 : float, default=1e-4
    criterion : torch loss class, default=torch.nn.CrossEntropyLoss
        The classification loss (on logits and class indices).
    lr : float, default=1e-2
        Adam learning rate of the warm and joint stages.
    last_layer_lr : float, default=1e-2
        Adam learning rate of the last-layer stages.
    warm_epochs : int, default=2
    max_epochs : int, default=30
        Joint epochs.
    push_start : int, default=10
    push_every : int, default=10
    last_layer_epochs : int, default=10
    prune_k : int, default=6
        Nearest training sequences looked at by :meth:`prune`; 0 disables pruning.
    prune_threshold : int, default=3
        A prototype is kept when at least this many of them are of its class.
    batch_size : int, default=64
    random_state : int or None, default=None
        Seeds initialisation, dropout and batch order.
    verbose : int, default=0
    **kwargs
        Other skorch parameters (``device``, ``module__epsilon``, ...).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_prototypes_ : int
        Number of prototypes (after pruning).
    prototype_classes_ : ndarray of shape (n_prototypes,)
        Class label of each prototype.
    receptive_field_ : int
        Width in nucleotides of the subsequence behind one latent patch.
    pruned_prototypes_ : ndarray of int
        Indices (before pruning) of the prototypes :meth:`prune` removed.
    prototype_sample_indices_ : ndarray of shape (n_prototypes,)
        Row of the training X whose patch each prototype was last pushed onto.
    prototype_starts_ : ndarray of shape (n_prototypes,)
        Start of that patch's receptive field in its sequence (negative or past the end
        where the field runs over an edge; those columns are zero).
    prototype_sequences_ : ndarray of shape (n_prototypes, n_channels, receptive_field_)
        The training subsequences that are the prototypes.
    module_ : PrototypeNetwork
        The trained network (in eval mode after ``fit``).
    """

    def __init__(
        self,
        module=PrototypeNetwork,
        *,
        architecture=DEFAULT_ARCHITECTURE,
        first_activation="exponential",
        prototypes_per_class=5,
        prototype_dim=32,
        cluster_weight=0.8,
        separation_weight=0.08,
        l1=1e-4,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=1e-2,
        last_layer_lr=1e-2,
        warm_epochs=2,
        max_epochs=30,
        push_start=10,
        push_every=10,
        last_layer_epochs=10,
        prune_k=6,
        prune_threshold=3,
        batch_size=64,
        train_split=None,
        random_state=None,
        verbose=0,
        **kwargs,
    ):
        super().__init__(
            module, criterion=criterion, optimizer=optimizer, lr=lr,
            max_epochs=max_epochs, batch_size=batch_size, train_split=train_split,
            verbose=verbose, **kwargs,
        )
        self.architecture = architecture
        self.first_activation = first_activation
        self.prototypes_per_class = prototypes_per_class
        self.prototype_dim = prototype_dim
        self.cluster_weight = cluster_weight
        self.separation_weight = separation_weight
        self.l1 = l1
        self.last_layer_lr = last_layer_lr
        self.warm_epochs = warm_epochs
        self.push_start = push_start
        self.push_every = push_every
        self.last_layer_epochs = last_layer_epochs
        self.prune_k = prune_k
        self.prune_threshold = prune_threshold
        self.random_state = random_state

    @property
    def _default_callbacks(self):
        return loss_callbacks()

    @property
    def classes_(self):
        try:
            return self._classes
        except AttributeError as exc:
            raise AttributeError(f"{type(self).__name__} is not fitted: no classes_.") from exc

    def fit(self, X, y, **fit_params):
        """Train with the ProtoPNet stages and push the prototypes onto training patches.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_channels, length)
            One-hot sequences.
        y : array-like of shape (n_samples,)
            Class labels (binary or multi-class); every class needs a sample.

        Returns
        -------
        self : PrototypeCNNClassifier

        Raises
        ------
        ValueError
            If X is not 3-D or has NaN, y is not aligned with X or has one class, or a
            parameter is invalid.
        """
        self._check_params()
        X = _check_sequences(X)
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"y must be 1-D with {len(X)} labels, got shape {y.shape}.")
        self._classes = np.unique(y)
        if len(self._classes) < 2:
            raise ValueError("y has a single class; a classifier needs at least two.")
        codes = np.searchsorted(self._classes, y).astype(np.int64)
        self.n_channels_ = X.shape[1]
        self.n_prototypes_ = len(self._classes) * self.prototypes_per_class
        self.prototype_classes_ = np.repeat(self._classes, self.prototypes_per_class)
        self.pruned_prototypes_ = np.array([], dtype=np.int64)
        self._receptive_field = _receptive_field(self.architecture)
        self.receptive_field_ = self._receptive_field[1]
        with torch.random.fork_rng(devices=[]):
            if self.random_state is not None:
                torch.manual_seed(self.random_state)
            self.initialize()
            self._train_stage("warm", X, codes, self.warm_epochs, **fit_params)
            for epoch in range(1, self.max_epochs + 1):
                self._train_stage("joint", X, codes, 1, **fit_params)
                due = epoch >= self.push_start and (epoch - self.push_start) % self.push_every == 0
                if due and epoch < self.max_epochs:
                    self.push(X, y)
                    self._train_stage("last_layer", X, codes, self.last_layer_epochs,
                                      **fit_params)
            self.push(X, y)
            if self.prune_k:
                self.prune(X, y)
            self._train_stage("last_layer", X, codes, self.last_layer_epochs, **fit_params)
        self._set_training(False)
        return self

    def _check_params(self):
        for name in ("prototypes_per_class", "prototype_dim", "push_start", "push_every"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        for name in ("warm_epochs", "max_epochs", "last_layer_epochs", "prune_k",
                     "prune_threshold"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, got {value!r}.")
        for name in ("cluster_weight", "separation_weight", "l1", "lr", "last_layer_lr"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Real) or not value >= 0:
                raise ValueError(f"{name} must be a float >= 0, got {value!r}.")
        if self.random_state is not None and not isinstance(self.random_state, numbers.Integral):
            raise ValueError(f"random_state must be None or an int, got {self.random_state!r}.")

    def initialize_module(self):
        check_is_fitted(self, "n_prototypes_", msg="fit() sets the network's sizes.")
        kwargs = {
            "n_classes": len(self.classes_),
            "n_channels": self.n_channels_,
            "architecture": self.architecture,
            "first_activation": self.first_activation,
            "prototypes_per_class": self.prototypes_per_class,
            "prototype_dim": self.prototype_dim,
            **self.get_params_for("module"),
        }
        self.module_ = self.initialized_instance(self.module, kwargs)
        return self

    def _stage_parts(self, stage):
        net = self.module_
        parts = {
            "warm": [net.add_on, net.prototypes],
            "joint": [net.blocks, net.add_on, net.prototypes],
            "last_layer": [net.last_layer],
        }[stage]
        return [p for part in parts for p in ([part] if isinstance(part, nn.Parameter)
                                               else part.parameters())]

    def _train_stage(self, stage, X, codes, epochs, **fit_params):
        """Train the stage's parameters for ``epochs``; the rest is frozen and in eval mode."""
        if epochs == 0:
            return
        trained = self._stage_parts(stage)
        trained_ids = {id(p) for p in trained}
        for parameter in self.module_.parameters():
            parameter.requires_grad_(id(parameter) in trained_ids)
        lr = self.last_layer_lr if stage == "last_layer" else self.lr
        self.optimizer_ = self.optimizer(trained, lr=lr, **self.get_params_for("optimizer"))
        self._stage = stage
        try:
            self.partial_fit(X, codes, epochs=epochs, **fit_params)
        finally:
            self._stage = None
            for parameter in self.module_.parameters():
                parameter.requires_grad_(True)

    def _set_training(self, training=True):
        super()._set_training(training)
        stage = getattr(self, "_stage", None)
        if training and stage in ("warm", "last_layer"):
            self.module_.blocks.eval()
            if stage == "last_layer":
                self.module_.add_on.eval()

    def get_loss(self, y_pred, y_true, X=None, training=False):
        logits, min_distances = y_pred
        y_true = torch.as_tensor(y_true, device=logits.device).long()
        loss = self.criterion_(logits, y_true)
        own = self.module_.prototype_class[:, y_true].T.bool()  # (batch, n_prototypes)
        far = torch.finfo(min_distances.dtype).max
        cluster = min_distances.masked_fill(~own, far).amin(dim=1).mean()
        separation = min_distances.masked_fill(own, far).amin(dim=1).mean()
        l1 = (self.module_.last_layer.weight * (1 - self.module_.prototype_class.T)).abs().sum()
        return (loss + self.cluster_weight * cluster - self.separation_weight * separation
                + self.l1 * l1)

    @torch.no_grad()
    def push(self, X, y):
        """Project each prototype onto its nearest latent patch among training X of its class.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_channels, length)
            Training sequences.
        y : array-like of shape (n_samples,)
            Their labels.

        Returns
        -------
        self : PrototypeCNNClassifier
            With the prototypes replaced and ``prototype_sample_indices_``,
            ``prototype_starts_`` and ``prototype_sequences_`` set.
        """
        X = _check_sequences(X, self)
        y = np.asarray(y)
        self.module_.eval()
        patches = self._patches(X)  # (n, dim, positions)
        identity = self.module_.prototype_class.argmax(dim=1).cpu().numpy()
        sample_index = np.zeros(self.n_prototypes_, dtype=np.int64)
        position = np.zeros(self.n_prototypes_, dtype=np.int64)
        for code, label in enumerate(self.classes_):
            rows = np.flatnonzero(y == label)
            if not len(rows):
                raise ValueError(f"No training sample of class {label!r} to push onto.")
            members = np.flatnonzero(identity == code)
            distances = self._distances(patches[rows], members)  # (rows, members, positions)
            flat = distances.permute(1, 0, 2).reshape(len(members), -1).argmin(dim=1).numpy()
            sample_index[members] = rows[flat // patches.shape[2]]
            position[members] = flat % patches.shape[2]
        self.module_.prototypes.data.copy_(
            patches[torch.as_tensor(sample_index), :, torch.as_tensor(position)]
        )
        self.prototype_sample_indices_ = sample_index
        self.prototype_starts_ = self._field_starts(position)
        self.prototype_sequences_ = _windows(X, sample_index, self.prototype_starts_,
                                             self.receptive_field_)
        return self

    @torch.no_grad()
    def prune(self, X, y):
        """Remove the prototypes whose nearest training sequences are mostly of other classes.

        ProtoPNet's pruning (Chen et al. 2019, section 2.5): a prototype is kept when at least
        ``prune_threshold`` of the ``prune_k`` training sequences with the closest patch to it
        belong to its class. A prototype on background (a patch every class has) is pruned.
        Each class keeps at least its best prototype.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_channels, length)
            Training sequences.
        y : array-like of shape (n_samples,)
            Their labels.

        Returns
        -------
        self : PrototypeCNNClassifier
            With ``pruned_prototypes_`` (indices before pruning) set and the prototype
            attributes restricted to the kept ones.
        """
        X = _check_sequences(X, self)
        y = np.asarray(y)
        min_distances, _ = self._closest_patches(X)
        nearest = np.argsort(min_distances, axis=0, kind="stable")[:self.prune_k]
        own = (y[nearest] == self.prototype_classes_[None, :]).sum(axis=0)
        keep = own >= self.prune_threshold
        for label in self.classes_:
            members = np.flatnonzero(self.prototype_classes_ == label)
            if not keep[members].any():
                keep[members[own[members].argmax()]] = True
        kept = np.flatnonzero(keep)
        self.module_.keep_prototypes(kept)
        self.pruned_prototypes_ = np.flatnonzero(~keep)
        self.n_prototypes_ = len(kept)
        for name in ("prototype_classes_", "prototype_sample_indices_", "prototype_starts_",
                     "prototype_sequences_"):
            setattr(self, name, getattr(self, name)[kept])
        return self

    def _closest_patches(self, X):
        """Min distance and its position, each (n_samples, n_prototypes), in eval mode."""
        self.module_.eval()
        distances, positions = [], []
        for i in range(0, len(X), 512):
            patches = self._patches(X[i:i + 512])
            closest = self._distances(patches).min(dim=2)
            distances.append(closest.values.numpy())
            positions.append(closest.indices.numpy())
        return np.concatenate(distances), np.concatenate(positions)

    def _patches(self, X):
        chunks = [self.module_.features(torch.as_tensor(X[i:i + 512], device=self.device)).cpu()
                  for i in range(0, len(X), 512)]
        return torch.cat(chunks)

    def _distances(self, patches, members=None):
        prototypes = self.module_.prototypes.detach().cpu()
        if members is not None:
            prototypes = prototypes[torch.as_tensor(members)]
        return self.module_.distances(patches, prototypes)

    def _field_starts(self, positions):
        offset, _, jump = self._receptive_field
        return offset + np.asarray(positions) * jump

    def predict_proba(self, X):
        """Class probabilities (n_samples, n_classes)."""
        logits, _ = self.forward(_check_sequences(X, self), training=False)
        return torch.softmax(logits, dim=1).numpy()

    def decision_function(self, X):
        """Class logits (n_samples, n_classes)."""
        logits, _ = self.forward(_check_sequences(X, self), training=False)
        return logits.numpy()

    def predict(self, X):
        """Class labels (n_samples,)."""
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    def score(self, X, y):
        """Accuracy."""
        return float(np.mean(self.predict(X) == np.asarray(y)))

    @torch.no_grad()
    def explain(self, X):
        """Each prediction as similarities to the prototypes and the best-matching subsequences.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_channels, length)

        Returns
        -------
        explanation : PrototypeExplanation
            An example-based result with axes ("sample", "prototype"). ``values``
            (n_samples, n_prototypes): similarity ``log((d + 1) / (d + epsilon))``
            of each prototype to its closest patch of each sequence (about
            ``log(1 / epsilon)``, 9.21, for an exact copy of the prototype's subsequence).
            ``indices`` (n_samples, n_prototypes): the training row each prototype was
            pushed onto; ``prototype_names`` (also ``feature_names``): "prototype<j>
            (<class>)"; ``data``: X; ``output_names``: the classes;
            ``base_values``: the logit of the predicted class. ``info`` holds ``starts``
            (n_samples, n_prototypes), where the closest patch's receptive field starts;
            ``subsequences`` (n_samples, n_prototypes, n_channels, receptive_field_), those
            patches (zero columns beyond the sequence ends); ``contributions``
            (n_samples, n_prototypes), similarity times the last-layer weight to the
            predicted class (they sum to its logit); ``predictions``; ``prototype_classes``;
            ``prototype_sequences`` and ``prototype_sample_indices`` (the pushed training
            subsequences); ``receptive_field``; ``axes`` ("sample", "prototype").

        Raises
        ------
        NotFittedError
            If the model is not fitted.
        ValueError
            If X is not 3-D, has NaN or a different number of channels.
        """
        X = _check_sequences(X, self)
        min_distances, positions = self._closest_patches(X)
        similarities = self.module_.similarity(torch.as_tensor(min_distances)).numpy()
        weights = self.module_.last_layer.weight.detach().cpu().numpy()
        logits = similarities @ weights.T
        predicted = logits.argmax(axis=1)
        starts = self._field_starts(positions)
        n, n_prototypes = starts.shape
        subsequences = _windows(
            X, np.repeat(np.arange(n), n_prototypes), starts.ravel(), self.receptive_field_
        ).reshape(n, n_prototypes, X.shape[1], self.receptive_field_)
        names = [f"prototype{j} ({label})" for j, label in enumerate(self.prototype_classes_)]
        return PrototypeExplanation(
            similarities,
            indices=np.tile(self.prototype_sample_indices_, (n, 1)),
            data=X, base_values=logits[np.arange(n), predicted],
            prototype_names=names, output_names=self.classes_,
            info={
                "method": "protopnet",
                "starts": starts,
                "subsequences": subsequences,
                "contributions": similarities * weights[predicted],
                "predictions": self.classes_[predicted],
                "prototype_classes": self.prototype_classes_,
                "prototype_sequences": self.prototype_sequences_,
                "prototype_sample_indices": self.prototype_sample_indices_,
                "receptive_field": self.receptive_field_,
            },
        )


class PrototypeExplanation(ExampleExplanation):
    """Similarities of each explained sequence to the prototypes (training subsequences).

    An example-based result with axes ("sample", "prototype").

    Parameters
    ----------
    values : ndarray of shape (n_samples, n_prototypes)
        Similarity of each prototype to its closest patch of each sequence.
    indices : ndarray of int of shape (n_samples, n_prototypes)
        The training row each prototype was pushed onto (the same for every sample).
    data : ndarray of shape (n_samples, n_channels, length)
        The explained sequences.
    base_values : ndarray of shape (n_samples,)
        Logit of the predicted class.
    prototype_names : array-like of str of shape (n_prototypes,)
    output_names : array-like of shape (n_classes,)
    info : dict
    """

    def __init__(self, values, indices, data, base_values, prototype_names, output_names,
                 info=None):
        super().__init__(values, indices=indices, axes=("sample", "prototype"),
                         units="similarity log((d + 1) / (d + epsilon))", info=info,
                         data=data, base_values=base_values)
        self.prototype_names = np.asarray(prototype_names, dtype=object)
        self.output_names = np.asarray(output_names)

    @property
    def feature_names(self):
        """The prototype names (the name of this attribute in earlier versions)."""
        return self.prototype_names


def _receptive_field(architecture):
    """(offset, width, jump): feature position t sees input ``offset + t * jump`` onwards."""
    specs, _ = _resolve_architecture(list(architecture))
    offset, width, jump = 0, 1, 1
    for spec in specs:
        kernel = spec["kernel_size"]
        if spec["padding"] == "same":
            offset -= (kernel - 1) // 2 * jump
        width += (kernel - 1) * jump
        if spec["pool"] > 1:
            width += (spec["pool"] - 1) * jump
            jump *= spec["pool"]
    return offset, width, jump


def _windows(X, rows, starts, width):
    """X[rows[i], :, starts[i]:starts[i] + width], zero-padded beyond the sequence ends."""
    padded = np.pad(X, ((0, 0), (0, 0), (width, width)))
    columns = np.asarray(starts)[:, None] + width + np.arange(width)
    return padded[np.asarray(rows)[:, None], :, columns].transpose(0, 2, 1)


def _check_sequences(X, net=None):
    if net is not None:
        check_is_fitted(net, "n_prototypes_")
    X = check_one_hot(X)
    if net is not None:
        if X.shape[1] != net.n_channels_:
            raise ValueError(
                f"X has {X.shape[1]} channels, but the network was fitted on {net.n_channels_}."
            )
    return X
