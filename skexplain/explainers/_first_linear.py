"""Models whose input feeds only a first dense layer: rows that differ step by step.

A multilayer perceptron on tabular or single-cell data starts with ``h = W x + b``. Along a
Morris walk consecutive rows differ in one feature (or one group of features), so the first
layer's output moves by one column of W times the step: ``h_t = h_{t-1} + W[:, j] (z_j -
x_j)``. A caller (SensX's walks) computes ``h`` for whole walks as a running sum of such
columns and runs only the rest of the network (the "head") on it; a walk of n features then
costs ``O(n * n_hidden)`` in the first layer instead of ``O(n**2 * n_hidden)``. The same
idea drives the sparse dense-layer update of :mod:`._fast_ism` (fastISM's, Nair et al. 2022).

Two kinds of model qualify:

- :class:`FirstLinear`: a torch module, traced with ``torch.fx``, whose one input is read
  only by an ``nn.Linear`` (directly, or through one flatten of all but the batch axis);
  its head is the traced graph after that layer;
- :class:`SklearnMLPFirstLayer`: a fitted scikit-learn ``MLPClassifier`` (explained by its
  ``predict_proba``) or ``MLPRegressor`` (``predict``), alone or at the end of a pipeline
  of per-feature scalers (folded into its first layer); its head replays scikit-learn's
  forward pass from the first hidden layer on, in numpy.
"""

import numpy as np
from scipy.special import expit

from ._graph import (
    UnsupportedModel,
    describe_node,
    fast_or_none,
    flatten_user,
    subgraph_after,
    trace_one_input,
)

__all__ = ["FirstLinear", "SklearnMLPFirstLayer", "first_linear_for"]

# Below this many features a whole forward pass of the first layer costs less than the
# running sum (benchmarks/bench_sensx_overhead.py: MLP D-200-100-1, crossover near 30).
MIN_FEATURES = 32


class FirstLinear:
    """The first ``nn.Linear`` of a module, and the module after it.

    Parameters
    ----------
    module : torch.nn.Module
    feature_shape : tuple of int
        Shape of one input row; its product is the Linear's ``in_features``.

    Attributes
    ----------
    layer : torch.nn.Linear
    head : torch.fx.GraphModule
        The module from the layer's output on.
    n_hidden : int

    Raises
    ------
    UnsupportedModel
        If the module cannot be traced, takes more than one input, or its input feeds
        anything but one float32 or float64 Linear layer of all its values (after a
        flatten where the rows have more than one axis).
    """

    def __init__(self, module, feature_shape):
        import torch
        from torch import nn

        traced, nodes, source = trace_one_input(module)
        flat = flatten_user(traced, source)
        if flat is None and len(feature_shape) != 1:
            raise UnsupportedModel(
                f"{type(module).__name__} reads rows of shape {tuple(feature_shape)} without "
                "flattening them first."
            )
        source = flat or source
        users = list(source.users)
        node = users[0] if len(users) == 1 else None
        layer = traced.get_submodule(node.target) if node is not None \
            and node.op == "call_module" else None
        if not isinstance(layer, nn.Linear) or node.args != (source,) or node.kwargs:
            raise UnsupportedModel(
                f"the input of {type(module).__name__} is not read by one Linear layer only "
                f"(first operation: {describe_node(traced, node)})."
            )
        n_features = int(np.prod(feature_shape))
        if layer.in_features != n_features:
            raise UnsupportedModel(
                f"its first Linear layer takes {layer.in_features} inputs, not {n_features}."
            )
        if layer.weight.dtype not in (torch.float32, torch.float64):
            raise UnsupportedModel(f"its first Linear layer is {layer.weight.dtype}, not float32 "
                                   "or float64.")
        self.head = subgraph_after(traced, nodes, node)
        self.layer = layer
        self.n_hidden = layer.out_features

    def weights(self):
        """The layer's current weight, transposed, as an ndarray (n_features, n_hidden) in
        the module's dtype, and its bias as a float64 ndarray (n_hidden,) (zeros if none)."""
        import torch

        layer = self.layer
        weight_t = layer.weight.detach().to("cpu").T.contiguous().numpy()
        bias = np.zeros(self.n_hidden) if layer.bias is None else \
            layer.bias.detach().to("cpu", torch.float64).numpy()
        return weight_t, bias


def _softmax(z):
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


_ACTIVATIONS = {"identity": lambda z: z, "logistic": expit, "tanh": np.tanh,
                "relu": lambda z: np.maximum(z, 0), "softmax": _softmax}


class SklearnMLPFirstLayer:
    """The first layer of a fitted scikit-learn MLP, and its forward pass after it.

    Parameters
    ----------
    model : MLPClassifier or MLPRegressor
        Fitted; a classifier is explained by ``predict_proba``, a regressor by ``predict``.
    scalers : list of fitted StandardScaler, MinMaxScaler or MaxAbsScaler, default=()
        Pipeline steps before the MLP, folded into its first layer (each maps every
        feature by ``x * scale + shift``).

    Attributes
    ----------
    n_hidden : int
        Width of the first hidden layer.
    """

    def __init__(self, model, scalers=()):
        self.model = model
        self.scalers = list(scalers)
        self.n_hidden = model.coefs_[0].shape[1]

    def weights(self):
        """The first layer's weight (n_features, n_hidden) and bias (float64) as a function
        of the pipeline's input: ``coefs_[0]`` and ``intercepts_[0]`` with the scalers
        folded in."""
        weight = np.asarray(self.model.coefs_[0], dtype=np.float64)
        bias = np.asarray(self.model.intercepts_[0], dtype=np.float64)
        scale, shift = _affine_of(self.scalers, len(weight))
        return np.ascontiguousarray(scale[:, None] * weight), bias + shift @ weight

    def head(self, h):
        """What ``predict_proba`` (classifier) or ``predict`` (regressor) returns for rows
        whose first layer's pre-activations are h (ndarray (n, n_hidden))."""
        model = self.model
        hidden = _ACTIVATIONS[model.activation]
        activation = hidden(h)
        for i in range(1, model.n_layers_ - 1):
            activation = activation @ model.coefs_[i] + model.intercepts_[i]
            if i != model.n_layers_ - 2:
                activation = hidden(activation)
        output = _ACTIVATIONS[model.out_activation_](activation)
        if output.shape[1] > 1:
            return output
        output = output.ravel()
        return np.column_stack([1 - output, output]) if hasattr(model, "classes_") \
            else output


def _affine_of(scalers, n_features):
    """``(scale, shift)`` of the per-feature map ``x * scale + shift`` of fitted scalers
    applied one after the other."""
    from sklearn.preprocessing import MaxAbsScaler, StandardScaler

    scale, shift = np.ones(n_features), np.zeros(n_features)
    for scaler in scalers:
        if isinstance(scaler, StandardScaler):  # mean_ is kept even without with_mean
            a = 1 / scaler.scale_ if scaler.with_std else np.ones(n_features)
            b = -scaler.mean_ * a if scaler.with_mean else np.zeros(n_features)
        elif isinstance(scaler, MaxAbsScaler):
            a, b = 1 / scaler.scale_, np.zeros(n_features)
        else:  # MinMaxScaler without clipping
            a, b = scaler.scale_, scaler.min_
        scale, shift = scale * a, shift * a + b
    return scale, shift


def _sklearn_mlp(adapter):
    """The :class:`SklearnMLPFirstLayer` of a scikit-learn adapter, or UnsupportedModel."""
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, StandardScaler

    model, method = adapter.model, getattr(adapter._method, "__name__", None)
    scalers = []
    if isinstance(model, Pipeline):
        steps = [step for _, step in model.steps if step not in (None, "passthrough")]
        scalers, model = steps[:-1], steps[-1]
        for scaler in scalers:
            if not (isinstance(scaler, (StandardScaler, MaxAbsScaler)) or isinstance(
                    scaler, MinMaxScaler) and not scaler.clip):
                raise UnsupportedModel(
                    f"its pipeline has a {type(scaler).__name__} before the model; only "
                    "StandardScaler, MinMaxScaler (clip=False) and MaxAbsScaler fold into "
                    "the first layer."
                )
    if isinstance(model, MLPClassifier) and method == "predict_proba" or \
            isinstance(model, MLPRegressor) and method == "predict":
        return SklearnMLPFirstLayer(model, scalers)
    raise UnsupportedModel(
        "it needs a torch module, a skorch net, or a scikit-learn MLPClassifier (explained "
        f"by predict_proba) or MLPRegressor, got a {type(model).__name__}"
        f"{'' if method is None else f' explained by {method}'}."
    )


def first_linear_for(adapter, feature_shape, engine):
    """The first layer (:class:`FirstLinear` of a torch module or skorch net,
    :class:`SklearnMLPFirstLayer` of a scikit-learn MLP) of a bound model adapter, or None
    where full passes run.

    Parameters
    ----------
    adapter : ModelAdapter
    feature_shape : tuple of int
    engine : {"auto", "fast", "full"}
        "full" gives None; "auto" gives None where the model does not qualify or has fewer
        than ``MIN_FEATURES`` inputs; "fast" raises where it does not qualify.

    Raises
    ------
    ValueError
        With ``engine="fast"``, if the model is neither a torch module (or skorch net)
        called without model_args whose input feeds only a first Linear layer, nor a
        scikit-learn MLP.
    """
    if engine == "auto" and np.prod(feature_shape) < MIN_FEATURES:
        return None

    def build():
        if adapter.module is None:
            return _sklearn_mlp(adapter)
        if adapter._model_args is not None:
            raise UnsupportedModel("it needs a torch module called without model_args.")
        return FirstLinear(adapter.module, feature_shape)

    return fast_or_none(engine, build)
