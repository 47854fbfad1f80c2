"""DeepLIFT (rescale rule) and DeepSHAP for torch models, through module hooks."""

import contextlib
import warnings
from contextlib import contextmanager

import numpy as np
import torch

from .._core.compute import spawn_seeds
from ..nn import deeplift_rule, maxpool_rule
from ..nn._deeplift_rules import split_rule
from ._gradient import (
    BASELINE_CONSTRAINTS,
    BASELINE_PARAMETERS,
    COMMON_PARAMETERS,
    FITTED_ATTRIBUTES,
    GRADIENT_CORRECTION,
    GradientExplainer,
    _BaselineMixin,
    correct_gradients,
    path_quadrature,
)
from ._network import captured_output

HEAD_NODES = 64  # Gauss-Legendre nodes for the output nonlinearity's multiplier
COMPLETENESS_TOLERANCE = 1e-3
# Working-set factor of batch_size="auto" (resolve_batch_size: 64 MiB over this many float64
# copies of an input row per input-reference pair). Measured on CNN-deep at 1,000 nt on CPU
# (benchmarks/bench_deeplift.py): see DeepLift's batch_size.
DEEPLIFT_WORKING_SET = 32

HYPOTHETICAL_PARAMETER = """    hypothetical : bool, default=False
        Return hypothetical contributions instead of attributions: for one-hot sequences
        (n, A, L), the contribution base ``b`` would make at each position,
        ``mean_r sum_c (e_b[c] - r[c]) * m_r[c]`` with ``m_r`` the multipliers for
        reference ``r`` (tangermeme's ``hypothetical_attributions``), for every base, not
        only the observed one; shape (n_samples, A, L). This is what motif discovery with
        tfmodisco-lite takes (``hypothetical_contribs``, with ``E.as_channels_last()``).
        Summed over channels after multiplying by the one-hot input, they give the
        per-position sums of the ordinary attributions, so ``E.values * E.data`` is
        tangermeme's ``deep_lift_shap(hypothetical=False)``. X must be one-hot (exactly one
        channel set at each position: replace unknown bases, N, first); the gradient
        correction does not change them for one-hot references. ``info["quantity"]``
        names what ``values`` hold; ``completeness_delta`` is that of the attributions."""


class DeepLift(_BaselineMixin, GradientExplainer):
    __doc__ = f"""DeepLIFT with the rescale rule: contributions of input differences to the
    difference of the explained score from its value at a reference.

    The references run first, without gradients, while hooks record what each nonlinearity
    and max-pooling module sees; the inputs then run with the rules applied against those
    records, and one backward pass over the inputs gives the multipliers (a rule registered
    by a user, which has no such split variant, makes the inputs and references run as one
    batch of two halves instead). Each element-wise nonlinearity module ``y = g(x)`` passes
    back the multiplier ``(g(x) - g(r)) / (x - r)`` (the rescale rule; its derivative where
    ``x = r``), computed in the model's dtype from the layer's outputs and recomputed in
    float64 only where their rounding could make it wrong by more than 1e-5 (relative);
    each max-pooling module splits its output difference between the positions of the
    input's and the reference's maxima (as captum), and every other module passes its
    ordinary gradient. The attributions ``multiplier * (x - r)``
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
{HYPOTHETICAL_PARAMETER}

    Attributes
    ----------
{FITTED_ATTRIBUTES}
    baselines_ : ndarray of shape (k, n_features) or None
        The fixed references; None for per-instance shuffles.

    Notes
    -----
    ``info`` holds ``scores`` (f(x)), ``reference_scores`` (mean f(r)) and
    ``completeness_delta`` (sum of attributions minus their difference, before any gradient
    correction), each of shape (n_samples,), from the same forward passes as the
    multipliers, ``quantity`` ("attributions" or "hypothetical_contributions") and
    ``inexact_modules``, the names of modules DeepLIFT is not exact through.

    ``batch_size`` counts input-reference pairs per pass (as tangermeme's); "auto" holds
    64 MiB over a working set of {DEEPLIFT_WORKING_SET} float64 copies of an input row per
    pair (65 pairs for 4 x 1,000 inputs; on CNN-deep at 1,000 nt, 20 to 160 pairs ran
    equally fast on CPU and 320 about 30 % slower). An instance's references may span
    several passes; the values do not depend on ``batch_size``. The module is run in eval
    mode, with in-place activations switched off, and restored afterwards.

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
        "hypothetical": ["boolean"],
    }

    def __init__(self, model=None, *, baselines="zeros", n_baselines=10, shuffle="dinucleotide",
                 random_state=None, hypothetical=False, gradient_correction=False,
                 output="auto", batch_size="auto", device=None):
        super().__init__(model, gradient_correction=gradient_correction, output=output,
                         batch_size=batch_size, device=device)
        self.baselines = baselines
        self.n_baselines = n_baselines
        self.shuffle = shuffle
        self.random_state = random_state
        self.hypothetical = hypothetical

    def _fit_method(self, X):
        if self.hypothetical and len(self.feature_shape_) != 2:
            raise ValueError(
                "hypothetical=True needs one-hot sequences of shape (n_samples, n_channels, "
                f"length); the data has feature shape {self.feature_shape_}."
            )
        self._fit_baselines(X)

    def _attribute(self, X, target):
        if self.hypothetical:
            check_one_hot_strict(X, "X (for hypothetical=True)")
        values, totals, scores, reference_scores = self._contributions(X, target)
        inexact = inexact_modules(self.torch_module_)
        info = {"method": self._method_name, "axes": self._axes(), **self._reference_info(),
                "quantity": ("hypothetical_contributions" if self.hypothetical
                             else "attributions"),
                "inexact_modules": inexact, "scores": scores,
                "reference_scores": reference_scores,
                "completeness_delta": totals - (scores - reference_scores)}
        scale = 1 + np.abs(scores) + np.abs(reference_scores)
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
    # Working-set factor of batch_size="auto", in float64 bytes of an input row: a pass
    # holds every layer's activations for the input and its reference (see _contributions).
    _working_set = DEEPLIFT_WORKING_SET

    def _contributions(self, X, target):
        """Averaged contributions of the references of every instance of X.

        Instances are taken in blocks whose input-reference pairs fill ``batch_size``
        pairs per pass (an instance's references may span several passes); each pass is
        a gradient-free forward pass of the references, a forward pass of the inputs and a
        backward pass of the inputs (see ``_multipliers``), with the rules' hooks
        registered once for the whole call. References are built in the model's dtype.

        Returns
        -------
        values : ndarray of shape (n, *feature_shape), float64
            Attributions (gradient-corrected when asked), or hypothetical contributions.
        totals : ndarray of shape (n,)
            Sum of each instance's uncorrected attributions.
        scores, reference_scores : ndarray of shape (n,)
            f(x) and the mean f(r) over the references, from the same passes.
        """
        n, k = len(X), self._n_references()
        shape = self.feature_shape_
        pairs = self._rows_per_pass
        seeds = spawn_seeds(self.random_state, n, 1)[:, 0]
        values = np.empty(X.shape)
        totals, scores, reference_scores = np.empty(n), np.empty(n), np.empty(n)
        module = self.score_function_.module
        head = contextlib.nullcontext([]) if self.score_function_.head_is_linear else (
            captured_output(module))
        with torch.enable_grad(), _Hooks(module) as hooks, head as raw:
            for start in range(0, n, max(1, pairs // k)):
                index = np.arange(start, min(n, start + max(1, pairs // k)))
                x = self._tensor(X[index])
                refs = self._references(index, x, seeds).reshape((-1,) + shape)
                local = torch.arange(len(index), device=self._device).repeat_interleave(k)
                acc = torch.zeros(x.shape, dtype=self._dtype, device=self._device)
                sums = torch.zeros((3, len(index)), dtype=torch.float64, device=self._device)
                for lo in range(0, len(refs), pairs):
                    own = local[lo:lo + pairs]
                    ref = refs[lo:lo + pairs]
                    rows = x[own]
                    raw.clear()
                    grads, row_scores, ref_scores = self._multipliers(
                        rows, ref, target[index][own], self._owners(index[own.cpu().numpy()]),
                        raw, hooks)
                    diff = rows - ref
                    contribution = grads * diff
                    sums[0].index_add_(0, own, contribution.flatten(1).sum(1).double())
                    sums[1].index_add_(0, own, row_scores.double())
                    sums[2].index_add_(0, own, ref_scores.double())
                    if self.gradient_correction:
                        grads = correct_gradients(grads)
                        if not self.hypothetical:
                            contribution = grads * diff
                    if self.hypothetical:
                        contribution = grads - (ref * grads).sum(1, keepdim=True)
                    acc.index_add_(0, own, contribution)
                values[index] = acc.to("cpu", torch.float64).numpy() / k
                totals[index], scores[index], reference_scores[index] = (
                    sums.cpu().numpy() / k)
        return values, totals, scores, reference_scores

    def _multipliers(self, rows, refs, target, owner, raw, hooks):
        """DeepLIFT multipliers of the rows' target scores against their references.

        With every rule split-capable, the references run first without gradients (the
        hooks record each rule module's input and output), then the rows with the rules
        applied against the records: the backward pass runs on the rows only. Otherwise
        rows and references run as one batch (two halves). Each row and its reference get
        the instance's ``model_args``; ``raw`` collects the raw output when the head is not
        linear.

        Returns
        -------
        multipliers : tensor of shape (m, *feature_shape)
        scores, reference_scores : tensors of shape (m,)
            The target scores of the rows and of the references.
        """
        adapter = self.score_function_
        n = len(rows)
        if hooks.split:
            try:
                return self._split_multipliers(rows, refs, target, owner, raw, hooks)
            except _Modified:  # a forward that updates activations in place: two halves
                hooks.split = False
                raw.clear()
        batch = torch.cat([rows, refs]).requires_grad_(True)
        scores = adapter.forward(batch, torch.cat([owner, owner]))
        picked_scores = scores.detach().gather(1, target.repeat(2)[:, None])[:, 0]
        if adapter.head_is_linear:
            picked = scores[:n].gather(1, target[:, None]).sum()
        else:
            raw_x, raw_r = _halves(raw[0])
            picked = self._head_picked(raw_x, raw_r, target)
        (grads,) = torch.autograd.grad(picked, batch)
        return grads[:n], picked_scores[:n], picked_scores[n:]

    def _split_multipliers(self, rows, refs, target, owner, raw, hooks):
        """_multipliers by a gradient-free pass of the references, then one of the rows."""
        adapter = self.score_function_
        try:
            hooks.mode = "reference"
            with torch.no_grad():
                ref_scores = adapter.forward(refs, owner)
            hooks.mode = "input"
            rows = rows.detach().requires_grad_(True)
            scores = adapter.forward(rows, owner)
            if adapter.head_is_linear:
                picked = scores.gather(1, target[:, None]).sum()
            else:
                raw_r, raw_x = raw
                picked = self._head_picked(raw_x, raw_r, target)
            (grads,) = torch.autograd.grad(picked, rows)
        finally:
            hooks.mode = "pairs"
            hooks.reset()
        return (grads, scores.detach().gather(1, target[:, None])[:, 0],
                ref_scores.gather(1, target[:, None])[:, 0])

    def _head_picked(self, raw_x, raw_r, target):
        """Sum of raw_x times the multipliers of a non-linear head (differentiable in raw_x)."""
        weights = head_multipliers(self.score_function_.head, _detached(raw_x),
                                   _detached(raw_r), target)
        return sum((w * x).sum() for w, x in zip(weights, _parts(raw_x), strict=True))


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
{HYPOTHETICAL_PARAMETER}

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
                 random_state=None, hypothetical=False, gradient_correction=False,
                 output="auto", batch_size="auto", device=None):
        super().__init__(model, baselines=baselines, n_baselines=n_baselines, shuffle=shuffle,
                         random_state=random_state, hypothetical=hypothetical,
                         gradient_correction=gradient_correction, output=output,
                         batch_size=batch_size, device=device)


@contextmanager
def deeplift_hooks(module):
    """The registered DeepLIFT rules of ``module``'s submodules, as forward hooks.

    The batch holds inputs then their references (two halves); see
    :mod:`skexplain.nn` for what a rule returns.
    """
    with _Hooks(module) as hooks:
        hooks.mode = "pairs"
        yield


class _Modified(Exception):
    """A recorded reference activation was modified in place by the forward pass."""


def _versions(record):
    """Version counters of the tensors of a record (they change on in-place updates)."""
    inputs, output = record
    outputs = output if isinstance(output, tuple) else (output,)
    return tuple(t._version for t in (inputs, *outputs))


class _Hooks:
    """The rules of a module's submodules as forward hooks, registered once per call.

    ``mode`` says what a hook does: "pairs" runs a rule on a batch of inputs then their
    references; "reference" records each hooked module's (input, output) in call order
    (a gradient-free pass of the references); "input" runs the rule's split variant
    (:func:`skexplain.nn._deeplift_rules.split_rule`) on a batch of inputs against the
    recorded references. ``split`` says whether every rule has a split variant. Max-pooling
    modules return their indices while registered (the rule reads them).
    """

    def __init__(self, module):
        self.module = module
        self.mode = "pairs"
        self.records, self.calls = {}, {}

    def __enter__(self):
        self.handles, self.pools, self.split = [], [], True
        for m in self.module.modules():
            rule = deeplift_rule(m)
            if rule is None or rule.hook is None:
                continue
            split = split_rule(rule.hook)
            self.split &= split is not None
            self.handles.append(m.register_forward_hook(self._hook(rule.hook, split)))
            if rule.hook is maxpool_rule and getattr(m, "return_indices", True) is False:
                m.return_indices = True
                self.pools.append(m)
        return self

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()
        for m in self.pools:
            m.return_indices = False
        self.reset()

    def reset(self):
        self.records.clear()
        self.calls.clear()

    def _hook(self, rule, split):
        def hook(module, args, output):
            result = apply(module, args, output)
            if isinstance(output, tuple) and module not in self.pools:
                return (result, *output[1:])  # the module's own (values, indices)
            return result

        def apply(module, args, output):
            if self.mode == "pairs":
                return rule(module, args, output)
            if self.mode == "reference":
                record = (args[0].detach(), output)
                self.records.setdefault(module, []).append((record, _versions(record)))
                return output[0] if isinstance(output, tuple) else output
            call = self.calls.get(module, 0)
            self.calls[module] = call + 1
            records = self.records.get(module, [])
            if call >= len(records) or records[call][0][0].shape != args[0].shape:
                raise RuntimeError(
                    f"DeepLIFT: {type(module).__name__} was called differently for the inputs "
                    "and for their references (data-dependent control flow in forward?)."
                )
            record, versions = records[call]
            if _versions(record) != versions:
                raise _Modified  # changed in place after its hook: not safe to keep
            return split(module, args, output, record)

        return hook


def check_one_hot_strict(X, what):
    """Raise ValueError unless X (n, A, L) has exactly one channel set to 1 at each position."""
    X = np.asarray(X)
    sums = X.sum(axis=1)
    if not (np.isin(X, (0, 1)).all() and (sums == 1).all()):
        raise ValueError(
            f"{what} must be one-hot along the channel axis (axis 1): exactly one channel set "
            "to 1 at each position; unknown bases (all-zero columns) and soft encodings have "
            "no hypothetical contributions."
        )


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
