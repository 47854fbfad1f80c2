"""The inside of a torch network: a named layer, its activation, and gradient ascent.

Model-level explainers (DeepResolve, activation maximization, TCAV, network dissection)
optimise or probe an intermediate activation of a network rather than explain instances. The
model itself is resolved by the core (:func:`~skexplain._core.model.torch_module_of`,
:class:`~skexplain._core.model.ModelAdapter`: module, output head, output names); this module
keeps only what is specific to networks: a private float64 copy to optimise, finding a layer
by name, running the network with that layer's output replaced (or read), the batched
gradient ascent that DeepResolve and activation maximization share, and the checks that a
model-level ``explain`` shares.
"""

import copy
from contextlib import contextmanager

import numpy as np
import torch

from .._core.model import ModelAdapter, target_indices, torch_module_of
from .._core.model import check_finite as _check_finite


def torch_network(model, explainer_name):
    """A float64 copy of the model's torch module in eval mode, with frozen parameters.

    Parameters
    ----------
    model : skorch net or torch.nn.Module
        A fitted network.
    explainer_name : str
        Named in the error messages.

    Returns
    -------
    module : torch.nn.Module
        The copy (the user's network is left as it is).

    Raises
    ------
    TypeError, ValueError
        As :func:`skexplain._core.model.torch_module_of`.
    """
    module = torch_module_of(model, explainer_name)
    network = copy.deepcopy(module).to(dtype=torch.float64).eval()
    for parameter in network.parameters():
        parameter.requires_grad_(False)
    for sub in network.modules():  # an in-place activation would overwrite a replaced output
        if getattr(sub, "inplace", False) is True:
            sub.inplace = False
    return network


def network_adapter(model, input_shape, *, output="auto", name="explainer"):
    """The core's model adapter of the model, running on a private float64 copy of its network.

    Output head, output names and target resolution are the core's (the same quantity as in
    every other explainer for the same ``output``); the forward pass runs on the copy of
    :func:`torch_network`, so that hooks and gradient ascent never touch the user's network.

    Parameters
    ----------
    model : skorch net or torch.nn.Module
    input_shape : tuple of int
        Shape of one network input.
    output : {"auto", "probability", "logit", "log_odds"} or callable, default="auto"
        See :data:`skexplain._core.model.OUTPUT_DOC`.
    name : str
        The explainer's name, for error messages.

    Returns
    -------
    adapter : ModelAdapter
        ``adapter.module`` is the float64 copy, ``adapter.forward(rows)`` its scores.

    Raises
    ------
    TypeError
        If the model is not a torch module or skorch net.
    """
    network = torch_network(model, name)
    adapter = ModelAdapter(model, input_shape, output=output, name=name)
    return adapter.with_module(network)


def n_outputs_of(adapter, input_shape):
    """Number of scores the adapter's network gives one input (a forward pass on zeros).

    Raises
    ------
    ValueError
        If the output is not (batch, n_outputs) after the output head.
    """
    dummy = torch.zeros((1,) + tuple(input_shape), dtype=adapter.dtype, device=adapter.device)
    with torch.no_grad():
        scores = adapter.forward(dummy)
    check_finite(scores.cpu().numpy(), "scores of an all-zero input", adapter)
    return int(scores.shape[1])


def check_finite(values, what, adapter):
    """Raise a ValueError naming the model and the rows if ``values`` has NaN or infinity."""
    return _check_finite(values, what, adapter.name, adapter.model)


def class_labels(adapter, n_outputs):
    """Labels of the scores: the core's output names, or indices where it has none."""
    names = adapter.names_for(n_outputs)
    return np.arange(n_outputs) if names is None else np.asarray(names)


def resolve_targets(target, labels):
    """Indices of the targets among ``labels``: None for every one (the core's rule).

    Raises
    ------
    ValueError
        If an index is out of range or a label is unknown.
    """
    return target_indices(target, len(labels), labels)


def no_instances(X, name, hint):
    """Raise if an input-independent explainer is given instances."""
    if X is not None:
        raise ValueError(f"{name} explains the network, not instances: {hint}")


def network_input_shape(model, X=None, shape=None):
    """Shape of one input: from X, from ``shape``, or from a fitted skexplain CNN classifier."""
    if X is not None:
        X = np.asarray(X)
        if X.ndim < 2 or len(X) == 0:
            raise ValueError(
                f"X must hold at least one instance, shape (n_samples, *input_shape); got "
                f"shape {X.shape}."
            )
        return tuple(X.shape[1:])
    if shape is not None:
        shape = tuple(int(s) for s in np.atleast_1d(shape))
        if not shape or min(shape) < 1:
            raise ValueError(f"input_shape must be positive integers, got {shape}.")
        return shape
    if hasattr(model, "n_channels_") and hasattr(model, "input_length_"):
        return (int(model.n_channels_), int(model.input_length_))
    raise ValueError(
        "The network's input shape is unknown: pass input_shape (e.g. (4, 200)) or fit on "
        "a few instances X."
    )


def layer_name(model, layer):
    """Name (as in ``named_modules``) of the layer to optimise, checked against the network.

    ``None`` picks the last conv block of an :class:`~skexplain.models.ExpActivationCNN`
    (any module with a ``blocks`` list); a module object is looked up by identity.
    """
    module = torch_module_of(model)
    names = {name: sub for name, sub in module.named_modules() if name}
    if layer is None:
        blocks = getattr(module, "blocks", None)
        if blocks is not None and len(blocks):
            return f"blocks.{len(blocks) - 1}"
        raise ValueError(
            "layer=None picks the last conv block of a network with a 'blocks' list; name "
            f"the layer of this {type(module).__name__}, one of {list(names)[:20]}."
        )
    if isinstance(layer, str):
        if layer not in names:
            raise ValueError(f"No layer named {layer!r}; the network has {list(names)[:20]}.")
        return layer
    for name, sub in names.items():
        if sub is layer:
            return name
    raise ValueError(f"The layer {type(layer).__name__} is not a submodule of the network.")


@contextmanager
def captured_output(module):
    """Within the context, a list that collects every output ``module`` returns."""
    captured = []
    handle = module.register_forward_hook(lambda _m, _args, output: captured.append(output))
    try:
        yield captured
    finally:
        handle.remove()


@contextmanager
def replaced_output(network, name, value):
    """Within the context, the layer ``name`` outputs ``value`` whatever its input."""
    handle = network.get_submodule(name).register_forward_hook(lambda *_: value)
    try:
        yield
    finally:
        handle.remove()


class _Stop(Exception):
    """Raised by a hook to end a forward pass once the layer of interest has run."""


def layer_output(network, name, x):
    """Output of the layer ``name`` for input x; the layers after it are not run.

    The input may be shorter than the network's own (a filter's receptive field): only the
    layers up to ``name`` must accept it.
    """
    store = []

    def hook(_module, _inputs, output):
        store.append(output)
        raise _Stop

    handle = network.get_submodule(name).register_forward_hook(hook)
    try:
        network(x)
    except _Stop:
        pass
    finally:
        handle.remove()
    if not store:
        raise ValueError(f"The layer {name!r} did not run in the network's forward pass.")
    return store[0]


@contextmanager
def single_thread():
    """Run torch on one thread within the context, so results never depend on thread count."""

    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n_threads)


def gradient_ascent(objective, start, *, learning_rate, warmup, decay, patience, tol, max_iter,
                    project=None):
    """Plain gradient ascent of independent rows, keeping each row's best iterate.

    The schedule and stopping rule of DeepResolve (Liu, Barr & Gifford 2019): the learning
    rate is ``learning_rate`` up to step ``warmup`` and ``learning_rate * (i - warmup) **
    -decay`` at each later step i; a row stops when its objective has not improved
    by more than ``tol`` for ``patience`` steps, or after ``max_iter`` steps. Stopped rows are
    frozen but stay in the batch, so a row's path never depends on the others.

    Parameters
    ----------
    objective : callable
        ``objective(H) -> (score, value)``, two tensors of shape (n_rows,): the quantity
        reported (a class logit) and the objective maximised (the logit minus penalties).
    start : torch.Tensor of shape (n_rows, ...)
        Starting points (float64).
    project : callable, optional
        Maps each iterate back to the feasible set after every step.

    Returns
    -------
    best : torch.Tensor of shape start.shape
        Each row's iterate with the highest objective.
    score, value : ndarray of shape (n_rows,)
        Score and objective at ``best``.
    n_iter : ndarray of shape (n_rows,)
        Steps taken by each row.
    """

    n_rows = len(start)
    current = start.clone()
    best = current.clone()
    device = start.device
    best_value = torch.full((n_rows,), -torch.inf, dtype=torch.float64, device=device)
    best_score = torch.zeros(n_rows, dtype=torch.float64, device=device)
    stalled = torch.zeros(n_rows, dtype=torch.int64, device=device)
    active = torch.ones(n_rows, dtype=torch.bool, device=device)
    n_iter = torch.zeros(n_rows, dtype=torch.int64, device=device)
    for step in range(max_iter + 1):
        current.requires_grad_(True)
        score, value = objective(current)
        (gradient,) = torch.autograd.grad(value.sum(), current)
        with torch.no_grad():
            score, value = score.detach(), value.detach()
            improved = active & (value > best_value + tol)
            best[improved] = current[improved]
            best_value[improved] = value[improved]
            best_score[improved] = score[improved]
            stalled = torch.where(improved, 0, stalled + 1)
            active &= stalled < patience
            if not active.any() or step == max_iter:
                break
            n_iter += active
            rate = learning_rate if step <= warmup else learning_rate * (step - warmup) ** -decay
            mask = active.reshape((n_rows,) + (1,) * (current.ndim - 1))
            current = current.detach() + rate * gradient * mask
            if project is not None:
                current = torch.where(mask, project(current), current)
    return best.detach(), best_score.cpu().numpy(), best_value.cpu().numpy(), n_iter.cpu().numpy()
