"""DeepLIFT rules of torch module types, as forward hooks.

DeepLIFT runs a batch that holds the inputs then their references (two halves). A rule is a
forward hook ``rule(module, args, output) -> output`` that returns, for the input half, a
tensor equal to the module's output whose gradient is the DeepLIFT multiplier, and the
reference half detached. Modules without a rule pass their ordinary gradient, which is exact
for linear maps (conv, linear, batch norm in eval mode, average pooling, dropout in eval
mode, reshapes). Modules registered with ``exact=False`` also pass their ordinary gradient,
but DeepLIFT is not exact through them (softmax, attention, layer normalisation): an
explainer names them when the attributions miss the score difference.

The built-in rules (:func:`rescale_rule`, :func:`maxpool_rule`) also have split variants
(``split_rule``) for the explainers' faster passes: the references run first without
gradients while their inputs and outputs are recorded, then the inputs alone run against the
records, so the backward pass covers the inputs only. A rule returns a tensor from an
autograd function whose backward writes the multipliers directly.
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


SECANT_TOLERANCE = 1e-5  # largest relative rounding error of a secant left unrefined


class _Multipliers(torch.autograd.Function):
    """The output of a rule's module (values unchanged) whose backward is the rule's.

    ``backward(grad)`` writes the input half's gradient with ``fill(grad[:n], out[:n])``
    and zeros to the reference half (whose gradient is never read: the references are
    constants); with ``halves=False`` the batch holds inputs only, ``fill(grad, out)``.
    """

    @staticmethod
    def forward(ctx, inputs, output, fill, halves):
        # ``output`` is a detached tensor handed over in a list: not an input of the
        # function, so the result is not a view of one and may be updated in place.
        ctx.fill = fill
        ctx.halves = halves
        ctx.input_shape = inputs.shape
        return output[0]

    @staticmethod
    def backward(ctx, grad):
        out = grad.new_empty(ctx.input_shape)
        if ctx.halves:
            n = len(grad) // 2
            ctx.fill(grad[:n], out[:n])
            out[n:].zero_()
        else:
            ctx.fill(grad, out)
        del ctx.fill
        return out, None, None, None


# Modules whose pieces have slope 0 or 1: the quotient of their float outputs is exact (to
# the rounding of x - r), so only x == r needs the derivative.
_UNIT_PIECES = (nn.ReLU, nn.ReLU6, nn.Hardtanh)


def rescale_rule(module, args, output):
    """The rescale rule of an element-wise nonlinearity ``y = g(x)``.

    The input half passes back ``(g(x) - g(r)) / (x - r)``, computed from the module's own
    outputs in their dtype; where the rounding of those outputs could make the quotient
    wrong by more than 1e-5 (relative), that is where ``g(x)`` and ``g(r)`` nearly agree, it
    is recomputed in float64 from the inputs, and the derivative ``g'(x)`` is used where
    ``x == r``. The float64 recomputation runs ``g`` on a flat tensor of those elements
    only (a module with parameters, e.g. PReLU, is recomputed whole, in its own dtype).
    """
    x_in, r_in = args[0].detach().chunk(2)
    y_out, r_out = output.detach().chunk(2)
    with torch.no_grad():
        slope = _secant(module, x_in, r_in, y_out, r_out)
    return _Multipliers.apply(args[0], [output.detach()],
                              lambda grad, out: torch.mul(grad, slope, out=out), True)


def _rescale_split(module, args, output, reference):
    """rescale_rule for a batch of inputs whose references ran before (see split_rule)."""
    x_in, y_out = args[0].detach(), output.detach()
    with torch.no_grad():
        slope = _secant(module, x_in, reference[0], y_out, reference[1])
    return _Multipliers.apply(args[0], [y_out],
                              lambda grad, out: torch.mul(grad, slope, out=out), False)


def _secant(module, x, r, y, y_r):
    """(g(x) - g(r)) / (x - r) from the outputs y = g(x), y_r = g(r); see rescale_rule."""
    delta = x - r
    rise = y - y_r
    slope = rise / delta
    if not slope.is_floating_point():
        return _exact_secant(module, x, r).to(y.dtype)
    if isinstance(module, _UNIT_PIECES):
        doubtful = delta == 0
    else:
        # |rounding error of y - y_r| <= eps (|y| + |y_r|): refine where that is not small
        # against |y - y_r| (x == r included, where both are 0).
        bound = y.abs().add_(y_r.abs()).mul_(torch.finfo(slope.dtype).eps / SECANT_TOLERANCE)
        doubtful = rise.abs_() <= bound
    if not doubtful.any():
        return slope
    if next(module.parameters(), None) is not None:  # e.g. PReLU: per-channel parameters
        exact = _exact_secant(module, x, r).to(slope.dtype)
        return torch.where(doubtful, exact, slope)
    where = doubtful.view(-1).nonzero().squeeze(1)
    flat = slope.view(-1)
    flat[where] = _exact_secant(module, x.reshape(-1)[where], r.reshape(-1)[where]).to(
        slope.dtype)
    return slope


def _exact_secant(module, x, r):
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
    the reference's maxima (as captum); the ordinary gradient where input == reference.

    ``output`` may be the pair (values, indices) of a module with ``return_indices=True``
    (the explainers switch it on while their hooks are registered, so that the maxima are
    found once); the values are returned.
    """
    inputs = args[0].detach()
    output, argmax = _pooled(module, inputs, output)
    x_argmax, r_argmax = argmax.chunk(2)
    x_in, r_in = inputs.chunk(2)
    y_out, r_out = output.detach().chunk(2)
    fill = _maxpool_fill(x_in, r_in, y_out, r_out, x_argmax, r_argmax)
    return _Multipliers.apply(args[0], [output.detach()], fill, True)


def _maxpool_split(module, args, output, reference):
    """maxpool_rule for a batch of inputs whose references ran before (see split_rule)."""
    x_in = args[0].detach()
    output, x_argmax = _pooled(module, x_in, output)
    r_in, (r_out, r_argmax) = reference[0], _pooled(module, reference[0], reference[1])
    fill = _maxpool_fill(x_in, r_in, output.detach(), r_out, x_argmax, r_argmax)
    return _Multipliers.apply(args[0], [output.detach()], fill, False)


def _pooled(module, inputs, output):
    """(values, indices) of a max-pooling module's output, the indices computed if absent."""
    if isinstance(output, tuple):
        return output
    pool = next(f for cls, f in MAX_POOLS.items() if isinstance(module, cls))
    with torch.no_grad():
        _, argmax = pool(inputs, module.kernel_size, module.stride, module.padding,
                         module.dilation, module.ceil_mode, return_indices=True)
    return output, argmax


def _maxpool_fill(x_in, r_in, y_out, r_out, x_argmax, r_argmax):
    """The backward of the max-pool rule: fill(grad, out) writes the input's multipliers."""
    with torch.no_grad():
        x_argmax, r_argmax = x_argmax.flatten(2), r_argmax.flatten(2)
        x_in, r_in = x_in.flatten(2), r_in.flatten(2)
        y_out, r_out = y_out.flatten(2), r_out.detach().flatten(2)
        top = torch.maximum(y_out, r_out)
        # Per window: the input difference at each maximum, the output difference routed
        # there, and their quotient (the ordinary gradient, 1, at the input's maximum where
        # input == reference; nothing through the reference's maximum there).
        at_x = y_out - r_in.gather(2, x_argmax)
        at_r = x_in.gather(2, r_argmax) - r_out
        small_x, small_r = at_x.abs() < MIN_DELTA, at_r.abs() < MIN_DELTA
        through_x = torch.where(small_x, 1.0, (top - r_out) / torch.where(small_x, 1.0, at_x))
        through_r = torch.where(small_r, 0.0, (y_out - top) / torch.where(small_r, 1.0, at_r))

    def fill(grad, out):
        grad = grad.flatten(2)
        flat = out.zero_().view(out.shape[0], out.shape[1], -1)
        flat.scatter_add_(2, x_argmax, grad * through_x)
        flat.scatter_add_(2, r_argmax, grad * through_r)

    return fill


_SPLIT = {}


def split_rule(hook):
    """The variant of a built-in rule for inputs whose references ran in an earlier pass.

    ``split(module, args, output, reference) -> output``: the batch holds inputs only, and
    ``reference`` is the (input, output) the module saw for the matching references
    (recorded by a forward hook during a gradient-free pass of the references). None for
    rules without one (rules registered by users), which run on the two-halves batch.
    """
    return _SPLIT.get(hook)


_SPLIT[rescale_rule] = _rescale_split
_SPLIT[maxpool_rule] = _maxpool_split


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
