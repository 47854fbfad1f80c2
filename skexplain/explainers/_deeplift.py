"""DeepLIFT (rescale rule) and DeepSHAP for torch models, through module hooks."""

import warnings
from contextlib import contextmanager

import numpy as np
import torch

from .._core.compute import spawn_seeds
from ..nn import deeplift_rule
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
from ._network import captured_output

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

    A non-linear output head (``output="probability"`` or ``"log_odds"``, or a callable
    reduction of a profile or tuple output) passes back the average of its gradient along
    the straight line between the reference's and the input's raw outputs (64-node
    Gauss-Legendre rule): the rescale rule for a sigmoid of one logit, and completeness for
    a softmax or any smooth reduction.

    The rules come from the registry of :mod:`skexplain.nn`
    (:func:`~skexplain.nn.register_deeplift_rule`): ReLU and its variants, PReLU, ELU, SELU,
    CELU, GELU, SiLU, Mish, Sigmoid, LogSigmoid, Tanh, Softplus, Softsign, the hard variants
    and :class:`skexplain.models.Exponential` get the rescale rule, MaxPool1d/2d/3d the rule
    above. Softmax, attention (``nn.MultiheadAttention``) and normalisation over features
    (LayerNorm, GroupNorm, InstanceNorm) pass their ordinary gradient, where DeepLIFT is not
    exact: their names are listed in ``info["inexact_modules"]`` and in the warning raised
    when completeness fails.

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
    correction), each of shape (n_samples,), and ``inexact_modules``, the names of modules
    DeepLIFT is not exact through. The module is run in eval mode, with in-place
    activations switched off, and restored afterwards.

    Warns
    -----
    UserWarning
        When ``|completeness_delta|`` exceeds 1e-3 relative to ``1 + |f(x)| + |f(r)|``,
        naming the inexact modules (softmax, attention) or a nonlinearity called in
        ``forward`` that is not a module.

    References
    ----------
    Shrikumar, Greenside & Kundaje, "Learning important features through propagating
    activation differences", ICML (2017).
    """

    _parameter_constraints = {
        **GradientExplainer._parameter_constraints,
        **BASELINE_CONSTRAINTS,
    }

    def __init__(self, model=None, *, baselines="zeros", n_baselines=10, shuffle="dinucleotide",
                 random_state=None, gradient_correction=False, output="auto", batch_size="auto",
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
        inexact = inexact_modules(self.torch_module_)
        info = {"method": self._method_name, "axes": self._axes(), **self._reference_info(),
                "inexact_modules": inexact}
        info.update(self._completeness(X, target, totals, reference_scores))
        scale = 1 + np.abs(info["scores"]) + np.abs(reference_scores)
        worst = np.max(np.abs(info["completeness_delta"]) / scale)
        if worst > COMPLETENESS_TOLERANCE:
            if inexact:
                cause = (
                    "DeepLIFT's rules are not exact through "
                    + ", ".join(inexact)
                    + ", which pass their ordinary gradient"
                )
            else:
                cause = (
                    "the model probably calls a nonlinearity that is not its own nn.Module "
                    "(e.g. torch.relu in forward) or one DeepLIFT has no rule for "
                    "(skexplain.nn.register_deeplift_rule)"
                )
            warnings.warn(
                f"{type(self).__name__}: attributions miss f(x) - f(reference) by up to "
                f"{worst:.2g} (relative): {cause}. See info['completeness_delta'].",
                UserWarning,
                stacklevel=4,
            )
        return values, info

    _method_name = "deeplift"

    def _multipliers(self, rows, refs, target, owner):
        """DeepLIFT multipliers of the rows' target scores; (multipliers, reference scores).

        Inputs and references run as one batch (two halves, each reference with its
        instance's ``model_args``) through the adapter's forward and output head.
        """
        adapter = self.score_function_
        rows = rows.detach().requires_grad_(True)
        n = len(rows)
        with torch.enable_grad():
            with deeplift_hooks(adapter.module), captured_output(adapter.module) as raw:
                scores = adapter.forward(torch.cat([rows, refs]), torch.cat([owner, owner]))
            ref_scores = scores[n:].detach().gather(1, target[:, None])[:, 0]
            if adapter.head_is_linear:
                picked = scores[:n].gather(1, target[:, None]).sum()
            else:
                raw_x, raw_r = _halves(raw[0])
                weights = head_multipliers(
                    adapter.head, _detached(raw_x),
                    _detached(raw_r), target,
                )
                picked = sum((w * x).sum() for w, x in zip(weights, _parts(raw_x),
                                                           strict=True))
            (grads,) = torch.autograd.grad(picked, rows)
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

    def __init__(self, model=None, *, baselines="data", n_baselines=20, shuffle="dinucleotide",
                 random_state=None, gradient_correction=False, output="auto", batch_size="auto",
                 device=None):
        super().__init__(model, baselines=baselines, n_baselines=n_baselines, shuffle=shuffle,
                         random_state=random_state, gradient_correction=gradient_correction,
                         output=output, batch_size=batch_size, device=device)


@contextmanager
def deeplift_hooks(module):
    """The registered DeepLIFT rules of ``module``'s submodules, as forward hooks.

    The batch holds inputs then their references (two halves); see
    :mod:`skexplain.nn` for what a rule returns.
    """
    handles = []
    for m in module.modules():
        rule = deeplift_rule(m)
        if rule is not None and rule.hook is not None:
            handles.append(m.register_forward_hook(rule.hook))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def inexact_modules(module):
    """Names (with types) of the submodules that DeepLIFT's rules are not exact through."""
    out = []
    for name, m in module.named_modules():
        rule = deeplift_rule(m)
        if rule is not None and not rule.exact:
            out.append(f"{name or 'the model'!r} ({type(m).__name__})")
    return out


def _parts(raw):
    """A raw output as a tuple of tensors."""
    return tuple(raw) if isinstance(raw, (tuple, list)) else (raw,)


def _like(raw, parts):
    """parts in raw's container: a tensor, a tuple, a list or a named tuple."""
    if not isinstance(raw, (tuple, list)):
        return parts[0]
    if hasattr(raw, "_fields"):
        return type(raw)(*parts)
    return type(raw)(parts)


def _halves(raw):
    """The input half and the reference half of a raw output (tensor or tuple)."""
    halves = [t.chunk(2) for t in _parts(raw)]
    return (_like(raw, [h[0] for h in halves]), _like(raw, [h[1] for h in halves]))


def _detached(raw):
    return _like(raw, [t.detach() for t in _parts(raw)])


def head_multipliers(head, raw_x, raw_r, target, n_nodes=HEAD_NODES):
    """Multipliers of the raw outputs for the target score of a non-linear output head.

    The gradient of the target score is averaged along the segment from raw_r to raw_x
    (Gauss-Legendre, ``n_nodes`` nodes); its dot product with ``raw_x - raw_r`` is the
    score difference. Raw outputs may be tensors or tuples of tensors (one multiplier per
    part).

    Returns
    -------
    multipliers : tuple of torch.Tensor
        One per part of the raw output, shaped like it.
    """
    alphas, weights = path_quadrature(n_nodes, "gausslegendre")
    xs, rs = _parts(raw_x), _parts(raw_r)
    n = len(xs[0])
    points, node_weights = [], []
    for x, r in zip(xs, rs, strict=True):
        shape = (1, n_nodes) + (1,) * (x.ndim - 1)
        a = torch.as_tensor(alphas, dtype=x.dtype, device=x.device).view(shape)
        node_weights.append(torch.as_tensor(weights, dtype=x.dtype, device=x.device).view(shape))
        segment = r[:, None] + a * (x - r)[:, None]
        points.append(segment.reshape((-1,) + x.shape[1:]).requires_grad_(True))
    with torch.enable_grad():
        scores = head(_like(raw_x, points))
        picked = scores.gather(1, target.repeat_interleave(n_nodes)[:, None]).sum()
        grads = torch.autograd.grad(picked, points, allow_unused=True)
    out = []
    for g, x, w in zip(grads, xs, node_weights, strict=True):
        if g is None:  # a part the head does not read
            out.append(torch.zeros_like(x))
            continue
        out.append((g.view((n, n_nodes) + x.shape[1:]) * w).sum(1))
    return tuple(out)
