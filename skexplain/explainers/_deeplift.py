"""DeepLIFT (rescale rule) and DeepSHAP for torch models, through module hooks."""

import warnings
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._core.compute import spawn_seeds
from ..models._modules import Exponential
from ._gradient import (
    BASELINE_CONSTRAINTS,
    BASELINE_PARAMETERS,
    COMMON_PARAMETERS,
    FITTED_ATTRIBUTES,
    GRADIENT_CORRECTION,
    GradientExplainer,
    _BaselineMixin,
    path_quadrature,
)

# Element-wise nonlinearities that get the rescale rule; anything else is treated as linear
# (its ordinary gradient is used), which is exact for conv, linear, batch norm in eval mode,
# average pooling, dropout in eval mode, flatten and reshapes.
ELEMENTWISE = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Sigmoid, nn.LogSigmoid, nn.Tanh, nn.Softplus, nn.Softsign, nn.Hardtanh, nn.Hardsigmoid,
    nn.Hardswish, Exponential,
)
MAX_POOLS = {nn.MaxPool1d: F.max_pool1d, nn.MaxPool2d: F.max_pool2d, nn.MaxPool3d: F.max_pool3d}
MIN_DELTA = 1e-10  # float64 input differences below this use the derivative
HEAD_NODES = 64  # Gauss-Legendre nodes for the output nonlinearity's multiplier
COMPLETENESS_TOLERANCE = 1e-3


class DeepLift(_BaselineMixin, GradientExplainer):
    __doc__ = f"""DeepLIFT with the rescale rule: contributions of input differences to the
    difference of the explained score from its value at a reference.

    The model runs on the input and its reference together; each element-wise nonlinearity
    module ``y = g(x)`` passes back the multiplier ``(g(x) - g(r)) / (x - r)`` (the rescale
    rule; its derivative where ``x = r``), each max-pooling module splits its output
    difference between the positions of the input's and the reference's maxima (as captum),
    and every other module its ordinary gradient. The attributions ``multiplier * (x - r)``
    of an instance sum to ``f(x) - f(r)`` (summation-to-delta) whenever every nonlinearity
    is its own module used in ``forward`` (``torch.relu`` called inside ``forward`` is invisible
    to hooks and breaks this); the gap is reported in ``info["completeness_delta"]`` and a
    warning is raised when it exceeds 1e-3 (relative to ``1 + |f(x)| + |f(r)|``). With
    several references (see :class:`DeepLiftShap`) the attributions are averaged over them.

    A non-linear output (``output="probabilities"``) passes back the average of its gradient
    along the straight line between the reference's and the input's raw outputs (64-node
    Gauss-Legendre rule): the rescale rule for a sigmoid of one logit, and completeness for
    a softmax.

    The element-wise modules handled are ReLU and its variants, ELU, SELU, CELU, GELU, SiLU,
    Mish, Sigmoid, LogSigmoid, Tanh, Softplus, Softsign, the hard variants and
    :class:`skexplain.models.Exponential`; MaxPool1d/2d/3d as described. Softmax, attention or
    normalisation over features inside the model are treated as linear.

    Parameters
    ----------
{COMMON_PARAMETERS}
{GRADIENT_CORRECTION}
        One-hot references (shuffles) keep completeness exact under the correction; zeros
        or mean references do not.
{BASELINE_PARAMETERS.format(default="zeros", what="References", lower="references", n=10)}

    Attributes
    ----------
{FITTED_ATTRIBUTES}
    baselines_ : ndarray of shape (k, n_features) or None
        The fixed references; None for per-instance shuffles.

    Notes
    -----
    ``info`` holds ``scores`` (f(x)), ``reference_scores`` (mean f(r)) and
    ``completeness_delta`` (sum of attributions minus their difference, before any gradient
    correction), each of shape (n_samples,). The module is run in eval mode, with in-place
    activations switched off, and restored afterwards.

    References
    ----------
    Shrikumar, Greenside & Kundaje, "Learning important features through propagating
    activation differences", ICML (2017).
    """

    _parameter_constraints = {
        **GradientExplainer._parameter_constraints,
        **BASELINE_CONSTRAINTS,
    }

    def __init__(self, model, *, baselines="zeros", n_baselines=10, shuffle="dinucleotide",
                 random_state=None, gradient_correction=False, output="auto", batch_size=128,
                 device=None):
        super().__init__(model, gradient_correction=gradient_correction, output=output,
                         batch_size=batch_size, device=device)
        self.baselines = baselines
        self.n_baselines = n_baselines
        self.shuffle = shuffle
        self.random_state = random_state

    def _fit_method(self, X):
        self._fit_baselines(X)

    def _attribute(self, X, target):
        k = self._n_references()
        seeds = spawn_seeds(self.random_state, len(X), 1)[:, 0]

        def draws(index, x):
            refs = self._references(index, x, seeds).reshape((-1,) + self.feature_shape_)
            rows = x.repeat_interleave(k, 0)
            return rows, refs, (rows - refs) / k, None

        values, totals, reference_scores = self._accumulate(
            X, target, k, draws, gradient=self._multipliers
        )
        info = {"method": self._method_name, "axes": self._axes(), **self._reference_info()}
        info.update(self._completeness(X, target, totals, reference_scores))
        scale = 1 + np.abs(info["scores"]) + np.abs(reference_scores)
        worst = np.max(np.abs(info["completeness_delta"]) / scale)
        if worst > COMPLETENESS_TOLERANCE:
            warnings.warn(
                f"{type(self).__name__}: attributions miss f(x) - f(reference) by up to "
                f"{worst:.2g} (relative); the model probably calls a nonlinearity that is not "
                "its own nn.Module (e.g. torch.relu in forward) or one DeepLIFT does not "
                "handle. See info['completeness_delta'].",
                UserWarning,
                stacklevel=4,
            )
        return values, info

    _method_name = "deeplift"

    def _multipliers(self, rows, refs, target):
        """DeepLIFT multipliers of the rows' target scores; (multipliers, reference scores)."""
        rows = rows.detach().requires_grad_(True)
        with torch.enable_grad():
            with rescale_hooks(self.torch_module_):
                raw = self.torch_module_(torch.cat([rows, refs]))
            raw_x, raw_r = raw.chunk(2)
            weights, ref_scores = head_multipliers(self.head_, raw_x.detach(), raw_r.detach(),
                                                   target)
            (grads,) = torch.autograd.grad((weights * raw_x).sum(), rows)
        return grads, ref_scores


class DeepLiftShap(DeepLift):
    __doc__ = f"""DeepSHAP: DeepLIFT averaged over a distribution of references.

    The attributions are the mean over ``n_baselines`` references of DeepLIFT's (rescale
    rule, see :class:`DeepLift`); they sum to ``f(x) - mean f(r)`` (additivity over the
    reference set). The default references are rows of the data passed to ``fit``; for DNA,
    ``baselines="shuffle"`` takes dinucleotide shuffles of each sequence (as tangermeme).

    Parameters
    ----------
{COMMON_PARAMETERS}
{GRADIENT_CORRECTION}
{BASELINE_PARAMETERS.format(default="data", what="References", lower="references", n=20)}

    Attributes
    ----------
{FITTED_ATTRIBUTES}
    baselines_ : ndarray of shape (k, n_features) or None
        The fixed references; None for per-instance shuffles.

    References
    ----------
    Lundberg & Lee, "A unified approach to interpreting model predictions", NeurIPS (2017).
    Shrikumar, Greenside & Kundaje, "Learning important features through propagating
    activation differences", ICML (2017).
    """

    _method_name = "deepliftshap"

    def __init__(self, model, *, baselines="data", n_baselines=20, shuffle="dinucleotide",
                 random_state=None, gradient_correction=False, output="auto", batch_size=128,
                 device=None):
        super().__init__(model, baselines=baselines, n_baselines=n_baselines, shuffle=shuffle,
                         random_state=random_state, gradient_correction=gradient_correction,
                         output=output, batch_size=batch_size, device=device)


@contextmanager
def rescale_hooks(module):
    """Forward hooks that make backprop return DeepLIFT multipliers.

    The batch holds inputs then their references (two halves). Each hooked module returns,
    for the input half, a tensor equal to its output whose gradient is the rescale
    multiplier (``out.detach() + m * (inp - inp.detach())``); the reference half is detached.
    """
    handles = []
    for m in module.modules():
        if isinstance(m, ELEMENTWISE):
            handles.append(m.register_forward_hook(_elementwise_rescale))
        elif type(m) in MAX_POOLS:
            handles.append(m.register_forward_hook(_maxpool_rescale))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _elementwise_rescale(module, args, output):
    x_in, r_in = args[0].chunk(2)
    y_out, r_out = output.chunk(2)
    with torch.no_grad():
        slope = _secant(module, x_in, r_in).to(output.dtype)
    return torch.cat([y_out.detach() + slope * (x_in - x_in.detach()), r_out.detach()])


def _secant(module, x, r):
    """(g(x) - g(r)) / (x - r) in float64, the derivative g'(x) where x == r."""
    x64, r64 = x.double(), r.double()
    if next(module.parameters(), None) is not None:  # e.g. PReLU: run in its own dtype
        x64, r64 = x, r
    delta = x64 - r64
    small = delta.abs() < MIN_DELTA
    slope = (module.forward(x64) - module.forward(r64)) / torch.where(small, 1.0, delta)
    if small.any():
        with torch.enable_grad():
            point = x64.detach().requires_grad_(True)
            (derivative,) = torch.autograd.grad(module.forward(point).sum(), point)
        slope = torch.where(small, derivative, slope)
    return slope


def _maxpool_rescale(module, args, output):
    x_in, r_in = args[0].chunk(2)
    y_out, r_out = output.chunk(2)
    pool = MAX_POOLS[type(module)]
    options = (module.kernel_size, module.stride, module.padding, module.dilation,
               module.ceil_mode)
    with torch.no_grad():
        _, x_argmax = pool(x_in, *options, return_indices=True)
        _, r_argmax = pool(r_in, *options, return_indices=True)
        top = torch.maximum(y_out, r_out)
        from_input, from_reference = top - r_out, y_out - top
        delta = x_in - r_in
        small = delta.abs() < MIN_DELTA
        inverse = torch.where(small, 0.0, 1.0 / torch.where(small, 1.0, delta))
    live = x_in - x_in.detach()  # zero-valued; carries the gradient
    spread = (
        _gather(live * inverse, x_argmax) * from_input
        + _gather(live * inverse, r_argmax) * from_reference
        + _gather(live * small, x_argmax)  # ordinary gradient where input == reference
    )
    return torch.cat([y_out.detach() + spread, r_out.detach()])


def _gather(values, flat_index):
    """values (N, C, *in_shape) at pooled positions flat_index (N, C, *out_shape)."""
    return values.flatten(2).gather(2, flat_index.flatten(2)).view(flat_index.shape)


def head_multipliers(head, raw_x, raw_r, target):
    """Multipliers of the raw outputs for the target score, and the references' scores.

    A linear head passes its gradient; otherwise the gradient of the target score is
    averaged along the segment from raw_r to raw_x (Gauss-Legendre), whose dot product with
    ``raw_x - raw_r`` is the score difference.
    """
    with torch.no_grad():
        ref_scores = head(raw_r).gather(1, target[:, None])[:, 0]
    n_nodes = 1 if head.linear else HEAD_NODES
    alphas, weights = path_quadrature(n_nodes, "gausslegendre")
    alphas = torch.as_tensor(alphas, dtype=raw_x.dtype, device=raw_x.device)
    weights = torch.as_tensor(weights, dtype=raw_x.dtype, device=raw_x.device)
    with torch.enable_grad():
        points = (raw_r[:, None] + alphas[None, :, None] * (raw_x - raw_r)[:, None])
        points = points.reshape(-1, raw_x.shape[1]).requires_grad_(True)
        picked = head(points).gather(1, target.repeat_interleave(n_nodes)[:, None]).sum()
        (grads,) = torch.autograd.grad(picked, points)
    grads = grads.view(len(raw_x), n_nodes, -1)
    return (grads * weights[None, :, None]).sum(1), ref_scores
