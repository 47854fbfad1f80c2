"""DeepLIFT rules of torch module types, as forward hooks.

DeepLIFT runs a batch that holds the inputs then their references (two halves). A rule is a
forward hook ``rule(module, args, output) -> output`` that returns, for the input half, a
tensor equal to the module's output whose gradient is the DeepLIFT multiplier, and the
reference half detached. Modules without a rule pass their ordinary gradient, which is exact
for linear maps (conv, linear, batch norm in eval mode, average pooling, dropout in eval
mode, reshapes). Modules registered with ``exact=False`` also pass their ordinary gradient,
but DeepLIFT is not exact through them (softmax, attention, layer normalisation): an
explainer names them when the attributions miss the score difference.
"""

from collections import namedtuple

import torch
import torch.nn.functional as F
from torch import nn

MIN_DELTA = 1e-10  # float64 input differences below this use the derivative

DeepLiftRule = namedtuple("DeepLiftRule", ["hook", "exact"])
DeepLiftRule.__doc__ = """A module type's DeepLIFT rule: a forward hook (or None for the
ordinary gradient) and whether the rule is exact (summation-to-delta holds through it)."""

_RULES = {}


def register_deeplift_rule(module_type, rule, *, exact=True):
    """Register how DeepLIFT passes multipliers back through a module type.

    Parameters
    ----------
    module_type : type
        A ``torch.nn.Module`` subclass; its subclasses inherit the rule unless they have
        their own.
    rule : callable or None
        A forward hook ``rule(module, args, output) -> output`` for the two-halves batch
        (see the module docstring), e.g. :func:`rescale_rule` for an element-wise
        nonlinearity; None passes the ordinary gradient.
    exact : bool, default=True
        False when summation-to-delta does not hold through the module under this rule
        (softmax, attention); explainers then name the module when they warn.

    Examples
    --------
    >>> import torch
    >>> from skexplain.nn import register_deeplift_rule, rescale_rule
    >>> class Square(torch.nn.Module):
    ...     def forward(self, x):
    ...         return x * x
    >>> register_deeplift_rule(Square, rescale_rule)
    """
    if not (isinstance(module_type, type) and issubclass(module_type, nn.Module)):
        raise TypeError(f"module_type must be a torch.nn.Module subclass, got {module_type!r}.")
    if rule is not None and not callable(rule):
        raise TypeError("rule must be a forward hook (module, args, output) -> output, or None.")
    _RULES[module_type] = DeepLiftRule(rule, bool(exact))


def deeplift_rule(module):
    """The registered rule of a module (most specific class first), or None if it has none."""
    for cls in type(module).__mro__:
        rule = _RULES.get(cls)
        if rule is not None:
            return rule
    return None


def rescale_rule(module, args, output):
    """The rescale rule of an element-wise nonlinearity ``y = g(x)``.

    The input half passes back ``(g(x) - g(r)) / (x - r)`` (computed in float64; the
    derivative ``g'(x)`` where ``x == r``).
    """
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


MAX_POOLS = {nn.MaxPool1d: F.max_pool1d, nn.MaxPool2d: F.max_pool2d, nn.MaxPool3d: F.max_pool3d}


def maxpool_rule(module, args, output):
    """Max pooling: the output difference is split between the positions of the input's and
    the reference's maxima (as captum); the ordinary gradient where input == reference."""
    x_in, r_in = args[0].chunk(2)
    y_out, r_out = output.chunk(2)
    pool = next(f for cls, f in MAX_POOLS.items() if isinstance(module, cls))
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


for _type in (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
              nn.Mish, nn.Sigmoid, nn.LogSigmoid, nn.Tanh, nn.Softplus, nn.Softsign,
              nn.Hardtanh, nn.Hardsigmoid, nn.Hardswish, nn.PReLU):
    register_deeplift_rule(_type, rescale_rule)
for _type in MAX_POOLS:
    register_deeplift_rule(_type, maxpool_rule)
# Not element-wise: their ordinary gradient is passed, and summation-to-delta may fail.
for _type in (nn.Softmax, nn.Softmin, nn.LogSoftmax, nn.Softmax2d, nn.MultiheadAttention,
              nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm, nn.InstanceNorm1d,
              nn.InstanceNorm2d, nn.InstanceNorm3d):
    register_deeplift_rule(_type, None, exact=False)
del _type
