"""Per-example loss gradients of a torch network over a chosen subset of its parameters.

Influence functions and TracIn both score a training example by the gradient of its loss with
respect to the network's parameters. This module resolves the loss, selects the parameters
(those of named layers, or all of them), and computes per-example gradients, the Hessian of
the mean training loss and its products with vectors, all in float64 with ``torch.func``.
"""

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, grad_and_value, jvp, vmap

from .._core.compute import batched_scores, torch_batches
from ._network import layer_name, torch_network


class ExampleGradients:
    """Per-example loss gradients of a network, flattened over the selected parameters.

    Parameters
    ----------
    model : skorch net or torch.nn.Module
        The fitted network; a float64 copy in eval mode is used.
    loss : {"auto", "cross_entropy", "binary_cross_entropy", "squared_error"} or callable
        Per-example loss of the outputs: ``loss(outputs, y) -> (batch,)`` when callable.
        "auto" takes the skorch net's criterion (cross-entropy, BCE-with-logits or MSE), and
        for a plain module cross-entropy when it has several outputs, BCE-with-logits for one.
    layers : None, str, module or list of them
        Layers whose parameters are differentiated; None for every parameter.
    explainer_name : str
        Named in error messages.
    """

    def __init__(self, model, loss, layers, explainer_name):
        self.explainer_name = explainer_name
        self.network = torch_network(model, explainer_name)
        self.names = _parameter_names(model, self.network, layers)
        named = dict(self.network.named_parameters())
        self.fixed = {k: v for k, v in named.items() if k not in self.names}
        self.shapes = [named[k].shape for k in self.names]
        self.loss_name = None if callable(loss) else loss_name(loss, model)
        self.loss = loss if callable(loss) else _BuiltinLoss(self.loss_name)
        self.theta = self.flat(named)

    def loss_kind(self, x):
        """Name of the built-in loss used (None for a callable), given an example input x."""
        if self.loss_name is not None or not isinstance(self.loss, _BuiltinLoss):
            return self.loss_name
        with torch.no_grad():
            outputs = self.network(x)
        return "cross_entropy" if outputs.shape[-1] > 1 else "binary_cross_entropy"

    def n_outputs(self, x):
        """Number of outputs of the network (the last axis), given an example input x."""
        with torch.no_grad():
            return int(self.network(x).shape[-1])

    @property
    def n_parameters(self):
        return int(self.theta.numel())

    def flat(self, named):
        """The selected parameters of a name -> tensor mapping, as one float64 vector."""
        return torch.cat([torch.as_tensor(named[k]).detach().reshape(-1).to(torch.float64)
                          for k in self.names])

    def load(self, state_dict):
        """Set the parameters (and buffers) found in a state dict."""
        state = {k: torch.as_tensor(v) for k, v in state_dict.items()}
        state = {k: v.to(torch.float64) if v.is_floating_point() else v for k, v in state.items()}
        missing = [k for k in self.names if k not in state]
        if missing:
            raise ValueError(f"The checkpoint has no parameter(s) {missing[:5]}.")
        self.fixed = {**self.fixed, **{k: v for k, v in state.items() if k not in self.names}}
        self.theta = self.flat(state)

    def _unflatten(self, theta):
        sizes = [int(np.prod(s)) for s in self.shapes]
        parts = torch.split(theta, sizes)
        return {k: p.reshape(s) for k, p, s in zip(self.names, parts, self.shapes, strict=True)}

    def _losses(self, theta, x, y):
        outputs = functional_call(self.network, {**self.fixed, **self._unflatten(theta)}, (x,))
        return self.loss(outputs, y)

    def _sample_loss(self, theta, x, y):
        return self._losses(theta, x[None], y[None]).sum()

    def losses(self, X, y, batch_size):
        """Per-example losses, ndarray of shape (n,).

        Raises
        ------
        ValueError
            If a loss is NaN or infinite (naming the examples).
        """
        with torch.no_grad():
            losses = torch_batches(lambda xb, yb: self._losses(self.theta, xb, yb), (X, y),
                                   batch_size)
        return self._checked(losses, "losses").numpy()

    def gradients(self, X, y, batch_size):
        """Per-example gradients, tensor of shape (n, n_parameters).

        Raises
        ------
        ValueError
            If a loss or gradient is NaN or infinite (naming the examples).
        """
        per_sample = vmap(grad_and_value(self._sample_loss), in_dims=(None, 0, 0))
        gradients, losses = torch_batches(lambda xb, yb: per_sample(self.theta, xb, yb),
                                          (X, y), batch_size)
        # A NaN output can leave a finite (zero) gradient behind: the losses are checked too.
        self._checked(losses, "losses")
        return self._checked(gradients, "loss gradients")

    def _checked(self, values, what):
        bad = ~torch.isfinite(values.reshape(len(values), -1)).all(dim=1)
        if bad.any():
            rows = torch.nonzero(bad).reshape(-1).tolist()
            shown = ", ".join(map(str, rows[:10])) + (", ..." if len(rows) > 10 else "")
            raise ValueError(
                f"The network given to {self.explainer_name} has NaN or infinite {what} for "
                f"{len(rows)} of {len(values)} examples (rows {shown}); check its outputs "
                "on these inputs: influence of non-finite losses is meaningless."
            )
        return values

    def hessian(self, X, y, batch_size, n_columns=32):
        """Hessian of the mean loss, tensor of shape (n_parameters, n_parameters).

        Built from Hessian-vector products with ``n_columns`` unit vectors at a time, which
        bounds the memory of the batched forward-over-reverse passes.
        """
        product = self.hessian_product(X, y, batch_size)
        identity = torch.eye(self.n_parameters, dtype=torch.float64)
        H = torch.cat([product(identity[:, start:start + n_columns])
                       for start in range(0, self.n_parameters, n_columns)], dim=1)
        return (H + H.T) / 2

    def hessian_product(self, X, y, batch_size):
        """A function V (n_parameters, k) -> H V, H the Hessian of the mean loss."""

        def product(V):
            total = torch.zeros_like(V)

            def add_batch(xb, yb):
                # A sum over batches: each batch adds to total and returns nothing to keep
                # (torch_batches concatenates the empty results), so memory stays one H V.
                gradient = grad(lambda t: self._losses(t, xb, yb).sum())
                column = vmap(lambda v: jvp(gradient, (self.theta,), (v,))[1],
                              in_dims=1, out_dims=1)
                total.add_(column(V))
                return V.new_zeros(0)

            torch_batches(add_batch, (X, y), batch_size)
            return total / len(X)

        return product


def network_data(X, y, gradients, input_shape=None):
    """X as a float64 tensor and y as the loss expects it, checked to match.

    ``input_shape``, when given, is the shape one input of X must have (the training data's).

    y is int64 for cross-entropy, float64 for the other built-in losses, and as given (floats
    as float64) for a callable loss.
    """
    X = torch.as_tensor(np.asarray(X, dtype=np.float64))
    if X.ndim < 2 or len(X) == 0:
        raise ValueError(
            f"X must be a non-empty array (n_samples, *input_shape), got shape {tuple(X.shape)}."
        )
    if not torch.isfinite(X).all():
        raise ValueError("X contains NaN or infinity.")
    if input_shape is not None and tuple(X.shape[1:]) != tuple(input_shape):
        raise ValueError(
            f"X has input shape {tuple(X.shape[1:])}, but the training data had "
            f"{tuple(input_shape)}."
        )
    y = np.asarray(y)
    if len(y) != len(X):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}.")
    kind = gradients.loss_kind(X[:1])
    if kind == "cross_entropy":
        y = _class_indices(y, gradients.n_outputs(X[:1]))
    elif kind is not None or np.issubdtype(y.dtype, np.floating):
        y = _float_targets(y, kind)
    return X, torch.as_tensor(y)


def _class_indices(y, n_classes):
    """y as int64 class indices in [0, n_classes) for cross-entropy; else a ValueError."""
    expected = (f"cross-entropy takes class indices 0..{n_classes - 1} (one per output of "
                "the network)")
    if y.ndim != 1:
        raise ValueError(f"y has shape {y.shape}; {expected}, one label per example.")
    if y.dtype.kind == "O":  # numbers held as objects are fine
        try:
            y = y.astype(np.float64)
        except (TypeError, ValueError):
            pass
    if y.dtype.kind not in "iub" and not (y.dtype.kind == "f" and np.all(y == np.round(y))):
        shown = np.unique(y.astype(object).astype(str))[:5].tolist()
        raise ValueError(f"y has labels {shown} that are not class indices; {expected}.")
    labels = y.astype(np.int64)
    bad = np.unique(labels[(labels < 0) | (labels >= n_classes)])
    if len(bad):
        raise ValueError(
            f"y has labels {bad[:5].tolist()} out of range: {expected}."
        )
    return labels


def _float_targets(y, kind):
    """y as float64; binary cross-entropy targets must lie in [0, 1]."""
    try:
        targets = y.astype(np.float64)
    except (TypeError, ValueError):
        shown = np.unique(y.astype(object).astype(str))[:5].tolist()
        raise ValueError(f"y has labels {shown} that are not numbers.") from None
    if kind == "binary_cross_entropy":
        bad = np.unique(targets[~((targets >= 0) & (targets <= 1))])
        if len(bad):
            raise ValueError(
                f"y has labels {bad[:5].tolist()} outside [0, 1]: binary cross-entropy "
                "takes targets (0 or 1, or probabilities) per output."
            )
    return targets


def predicted_targets(adapter, X, gradients, y_train, batch_size):
    """The targets the network predicts for X, shaped and typed as the training targets.

    The scores come from the model adapter (its raw outputs, checked for NaN): for
    cross-entropy the index of the highest output; for binary cross-entropy 1.0 where an
    output's logit is positive (a binary net with one logit gets two columns ``(-z, z)``
    from the adapter: z is the second).

    Raises
    ------
    ValueError
        For a squared-error or callable loss (there is no predicted target to take the loss
        at: pass y), or if the model returns NaN or infinite scores.
    """
    X = torch.as_tensor(np.asarray(X, dtype=np.float64))
    if X.ndim < 2 or len(X) == 0 or tuple(X.shape[1:]) != adapter.feature_shape:
        raise ValueError(
            f"X has shape {tuple(X.shape)}; expected (n_samples, *input_shape) with the "
            f"training data's input shape {adapter.feature_shape}."
        )
    if not torch.isfinite(X).all():
        raise ValueError("X contains NaN or infinity.")
    kind = gradients.loss_kind(X[:1])
    if kind not in ("cross_entropy", "binary_cross_entropy"):
        what = "a callable loss" if kind is None else f"loss={kind!r}"
        raise ValueError(
            f"y is required with {what}: a predicted target is defined for "
            "classification losses only (cross_entropy, binary_cross_entropy)."
        )
    rows = X.reshape(len(X), -1).numpy()
    scores = batched_scores(adapter.scores, rows, batch_size)
    if kind == "cross_entropy":
        return np.argmax(scores, axis=1).astype(np.int64)
    shape = tuple(y_train.shape[1:])
    n_outputs = int(np.prod(shape))
    if scores.shape[1] == 2 and n_outputs == 1:
        scores = scores[:, 1:]
    return (scores > 0).astype(np.float64).reshape((len(X),) + shape)


def load_checkpoint(checkpoint):
    """A state dict from a mapping or a path saved with ``torch.save``."""
    if isinstance(checkpoint, Mapping):
        return checkpoint
    if isinstance(checkpoint, (str, Path)):
        return torch.load(checkpoint, map_location="cpu", weights_only=True)
    raise ValueError(
        f"A checkpoint must be a state dict or the path of one, got {type(checkpoint).__name__}."
    )


def loss_name(loss, model):
    """The built-in loss "auto" stands for; None when it depends on the number of outputs."""
    if loss != "auto":
        return loss
    criterion = getattr(model, "criterion_", None)
    if criterion is not None:
        for kind, name in ((nn.CrossEntropyLoss, "cross_entropy"),
                           (nn.BCEWithLogitsLoss, "binary_cross_entropy"),
                           (nn.MSELoss, "squared_error")):
            if isinstance(criterion, kind):
                return name
        raise ValueError(
            f"loss='auto' does not know the criterion {type(criterion).__name__}; pass "
            "loss as a callable loss(outputs, y) -> per-example losses."
        )
    return None  # decided from the number of outputs


class _BuiltinLoss:
    """Per-example loss by name; name None decides from the number of outputs."""

    def __init__(self, name):
        self.name = name

    def __call__(self, outputs, y):
        kind = self.name or (
            "cross_entropy" if outputs.shape[-1] > 1 else "binary_cross_entropy")
        if kind == "cross_entropy":
            return F.cross_entropy(outputs, y, reduction="none")
        outputs = outputs.reshape(len(outputs), -1)
        y = y.reshape(len(y), -1).to(outputs.dtype)
        if kind == "binary_cross_entropy":
            return F.binary_cross_entropy_with_logits(outputs, y, reduction="none").sum(1)
        return ((outputs - y) ** 2).sum(1)


def _parameter_names(model, network, layers):
    named = [k for k, p in network.named_parameters()]
    if layers is None:
        return named
    if isinstance(layers, (str, nn.Module)):
        layers = [layers]
    names = []
    for layer in layers:
        prefix = layer_name(model, layer) + "."
        found = [k for k in named if k.startswith(prefix) and k not in names]
        if not found:
            raise ValueError(f"The layer {prefix[:-1]!r} has no parameters.")
        names += found
    return names
