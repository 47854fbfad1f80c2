"""Gradient attributions of torch models: saliency, input x gradient, integrated gradients,
SmoothGrad, and the shared machinery of every gradient explainer."""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from .._core.compute import batched_scores, resolve_batch_size, spawn_seeds, torch_batches
from .._core.model import OUTPUT_CONSTRAINT, OUTPUT_DOC, torch_module_of
from ..base import BaseExplainer
from ._sequence import SHUFFLES, check_one_hot, shuffle_tokens

# Working-set factor of the "auto" batch size (see resolve_batch_size): a forward and
# backward pass keeps every layer's activations and their gradients, counted as 32 copies
# of the rows (one conv layer of 32 filters over a one-hot sequence alone holds 8). Measured
# on a 200-nt CNN on CPU, the resulting ~330-row batches run as fast as 128 rows did, while
# 1300-row batches ran 40 % slower (out of cache).
GRADIENT_WORKING_SET = 32

COMMON_PARAMETERS = f"""    model : skorch net or torch.nn.Module
        The fitted model. A skorch net is explained through its ``module_``; any other model
        raises TypeError (use a model-agnostic explainer for those). Extra forward inputs
        (``forward(x, control)``) are passed as ``explain(X, model_args=...)``.
{OUTPUT_DOC}
    batch_size : int or "auto", default="auto"
        Rows per forward and backward pass (path points, noisy copies and references
        included); it bounds memory. "auto" is the policy of every explainer (as many rows as
        64 MiB of float64 row data holds, at most 4096) with a working-set factor of
        {GRADIENT_WORKING_SET}: the backward pass keeps each layer's activations.
    device : str, torch.device or None, default=None
        Where to compute; None uses the device of the module's parameters. A module
        elsewhere is deep-copied to ``device`` (the user's model is never moved)."""

GRADIENT_CORRECTION = """    gradient_correction : bool, default=False
        For one-hot sequences (n, A, L): subtract from each position's gradient its mean
        over the A channels (Majdandzic et al. 2023), which removes the off-simplex
        component that the model never sees in one-hot data; the per-position sum of a
        corrected gradient is 0. Applied to the gradients (or multipliers) before they are
        multiplied by the input difference."""

FITTED_ATTRIBUTES = """    model_adapter_ : ModelAdapter
        The model as the explainer sees it (output head, device, dtype, eval mode).
    torch_module_ : torch.nn.Module
        The explained module, the adapter's (a copy when ``device`` differs from its own).
    n_features_in_ : int
        Number of features (product of ``feature_shape_``).
    feature_shape_ : tuple of int
        Shape of one instance, e.g. (4, L).
    baseline_ : ndarray of shape (n_features,)
        Mean of the reference data passed to ``fit``."""

BATCH_SIZE_CONSTRAINT = [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})]


class TorchExplainer(BaseExplainer):
    """Base of explainers that need a torch model; the model adapter does the rest.

    The adapter (``model_adapter_``; ``score_function_`` during ``explain``, with the call's
    ``model_args`` bound) owns the module, its device and dtype, the output head and eval
    mode. Subclasses implement ``_attribute(X, target)`` with X of shape
    (n, *feature_shape) and target a LongTensor of score columns; instance ``i``'s rows are
    scored with ``self._scores(rows, owner)``, owner holding ``i`` for each row.
    """

    _parameter_constraints = {
        "model": "no_validation",
        "output": OUTPUT_CONSTRAINT,
        "batch_size": BATCH_SIZE_CONSTRAINT,
        "device": "no_validation",
    }
    # Working-set factor of batch_size="auto" (a multiple of a row's bytes).
    _working_set = GRADIENT_WORKING_SET

    def __init__(self, model=None, *, output="auto", batch_size="auto", device=None):
        super().__init__(model)
        self.output = output
        self.batch_size = batch_size
        self.device = device

    def _fit(self, X):
        torch_module_of(self.model, type(self).__name__)  # TypeError for non-torch models
        self.torch_module_ = self.model_adapter_.module
        self._fit_method(X)

    def _fit_method(self, X):
        """Method-specific fitting on the flattened reference data."""

    @property
    def _rows_per_pass(self):
        return resolve_batch_size(self.batch_size, self.n_features_in_, self._working_set)

    @property
    def _device(self):
        return self.model_adapter_.device

    @property
    def _dtype(self):
        return self.model_adapter_.dtype

    def _tensor(self, array):
        return self.model_adapter_.tensor(array)

    def _score_rows(self, X):
        """Checked float64 scores of the instances X (instance i's model_args for row i)."""
        return batched_scores(self.score_function_.scores, X.reshape(len(X), -1),
                              self._rows_per_pass)

    def _scores(self, rows, owner=None):
        """Differentiable scores (batch, n_outputs) of rows owned by instances ``owner``."""
        return self.score_function_.forward(rows, owner)

    def _owners(self, index, repeats=1):
        """Instance indices as a LongTensor, each repeated ``repeats`` times."""
        owner = torch.as_tensor(np.asarray(index), dtype=torch.long, device=self._device)
        return owner.repeat_interleave(repeats) if repeats != 1 else owner

    def _explain(self, X, target):
        X = X.reshape((len(X),) + self.feature_shape_)
        target = torch.as_tensor(target, dtype=torch.long, device=self._device)
        with self.score_function_.inference():
            values, info = self._attribute(X, target)
        return values.reshape(len(X), -1), info

    def _attribute(self, X, target):
        raise NotImplementedError

    def _axes(self):
        if len(self.feature_shape_) == 1:
            return ("sample", "feature")
        return ("sample", "channel") + ("position",) * (len(self.feature_shape_) - 1)


class GradientExplainer(TorchExplainer):
    """Base of explainers built from input gradients (or DeepLIFT multipliers).

    ``_accumulate`` runs a method's draws (path points, noisy copies, references) through
    the model ``batch_size`` rows at a time and sums ``factor * gradient`` per instance.
    """

    _parameter_constraints = {
        **TorchExplainer._parameter_constraints,
        "gradient_correction": ["boolean"],
    }

    def __init__(self, model=None, *, gradient_correction=False, output="auto",
                 batch_size="auto", device=None):
        super().__init__(model, output=output, batch_size=batch_size, device=device)
        self.gradient_correction = gradient_correction

    def _fit(self, X):
        if self.gradient_correction and len(self.feature_shape_) < 2:
            raise ValueError(
                "gradient_correction needs a channel axis: one-hot sequences of shape "
                f"(n_samples, n_channels, length), but the data has feature shape "
                f"{self.feature_shape_}."
            )
        super()._fit(X)

    def _input_gradients(self, rows, refs, target, owner):
        """Gradient of each row's target score: (grads, None)."""
        rows = rows.detach().requires_grad_(True)
        with torch.enable_grad():
            picked = self._scores(rows, owner).gather(1, target[:, None]).sum()
            (grads,) = torch.autograd.grad(picked, rows)
        return grads, None

    def _accumulate(self, X, target, n_draws, make_draws, gradient=None):
        """Sum over draws of ``factor * gradient`` per instance.

        Parameters
        ----------
        X : ndarray of shape (n, *feature_shape)
        target : LongTensor of shape (n,)
        n_draws : int
            Draws per instance.
        make_draws : callable
            ``make_draws(index, x)`` for a block of instances (global indices, tensor) returns
            ``(rows, refs, factors, baselines)``: rows (B * n_draws, *shape) instance-major,
            refs of the same shape or None, factors broadcastable to rows, and baselines
            (B, k, *shape) whose mean target score is wanted, or None.
        gradient : callable, default=input gradients
            ``gradient(rows, refs, target, owner)`` returns (grads, reference scores or
            None); owner holds the instance index of each row (for ``model_args``).

        Returns
        -------
        values : ndarray of shape (n, *feature_shape), float64
            With the gradient correction when it is on.
        totals : ndarray of shape (n,)
            Sum of the uncorrected values of each instance.
        reference_scores : ndarray of shape (n,) or None
            Mean target score of the references (from ``gradient``) or baselines.
        """
        gradient = self._input_gradients if gradient is None else gradient
        batch_size = self._rows_per_pass
        n = len(X)
        values = np.empty(X.shape)
        totals = np.empty(n)
        reference_scores = np.full(n, np.nan)
        per_block = max(1, batch_size // n_draws)
        for start in range(0, n, per_block):
            index = np.arange(start, min(n, start + per_block))
            rows, refs, factors, baselines = make_draws(index, self._tensor(X[index]))
            local = self._owners(np.arange(len(index)), n_draws)
            per_row = factors.ndim > 0
            tensors = [rows, target[index].repeat_interleave(n_draws),
                       self._owners(index, n_draws)]
            tensors += ([] if refs is None else [refs]) + ([factors] if per_row else [])

            def step(rows, draw_target, owner, *rest, has_refs=refs is not None,
                     per_row=per_row, factors=factors):
                part_refs = rest[0] if has_refs else None
                factor = rest[-1] if per_row else factors
                grads, ref_scores = gradient(rows, part_refs, draw_target, owner)
                contribution = factor * grads
                total = contribution.flatten(1).sum(1).double()
                if self.gradient_correction:
                    contribution = factor * correct_gradients(grads)
                if ref_scores is None:
                    ref_scores = torch.zeros(len(rows), dtype=torch.float64,
                                             device=total.device)
                return contribution, total, ref_scores.double()

            contribution, total, ref_scores = torch_batches(step, tensors, batch_size)
            shape = (len(index),) + X.shape[1:]
            acc = torch.zeros(shape, dtype=self._dtype, device=self._device)
            acc.index_add_(0, local, contribution)
            tot = torch.zeros(len(index), dtype=torch.float64, device=self._device)
            tot.index_add_(0, local, total)
            values[index] = acc.to("cpu", torch.float64).numpy()
            totals[index] = tot.cpu().numpy()
            if baselines is not None:
                reference_scores[index] = self._mean_target_scores(baselines, target[index],
                                                                   index)
            elif refs is not None:
                ref = torch.zeros(len(index), dtype=torch.float64, device=self._device)
                ref.index_add_(0, local, ref_scores / n_draws)
                reference_scores[index] = ref.cpu().numpy()
        has_refs = not np.isnan(reference_scores).all()
        return values, totals, reference_scores if has_refs else None

    def _mean_target_scores(self, baselines, target, index):
        """Mean target score over the k baselines (B, k, *shape) of instances ``index``."""
        k = baselines.shape[1]
        flat = baselines.reshape((-1,) + baselines.shape[2:])

        def step(rows, draw_target, owner):
            return self._scores(rows, owner).gather(1, draw_target[:, None])[:, 0]

        with torch.no_grad():
            scores = torch_batches(step, [flat, target.repeat_interleave(k),
                                          self._owners(index, k)], self._rows_per_pass)
        return scores.double().view(-1, k).mean(1).cpu().numpy()

    def _target_scores(self, X, target):
        scores = self._score_rows(X)
        return scores[np.arange(len(X)), target.cpu().numpy()]

    def _completeness(self, X, target, totals, reference_scores):
        """info entries: each instance's score, its references' mean score and the delta."""
        scores = self._target_scores(X, target)
        return {
            "scores": scores,
            "reference_scores": reference_scores,
            "completeness_delta": totals - (scores - reference_scores),
        }


def correct_gradients(grads):
    """Subtract the mean over channels (axis 1) at each position (Majdandzic et al. 2023)."""
    return grads - grads.mean(dim=1, keepdim=True)


class Saliency(GradientExplainer):
    __doc__ = f"""Saliency map: the gradient of the explained score with respect to the input.

    Cost: one forward and backward pass per instance.

    Parameters
    ----------
{COMMON_PARAMETERS}
{GRADIENT_CORRECTION}
    absolute : bool, default=False
        Return ``|gradient|`` (Simonyan et al.); the signed gradient is the usual choice for
        sequences, read as gradient x input (see ``reduce_sequence_attributions``).

    Attributes
    ----------
{FITTED_ATTRIBUTES}

    References
    ----------
    Simonyan, Vedaldi & Zisserman, "Deep inside convolutional networks: visualising image
    classification models and saliency maps", ICLR workshop (2014).
    Majdandzic, Rajesh & Koo, "Correcting gradient-based interpretations of deep neural
    networks for genomics", Genome Biol. 24, 109 (2023).

    Examples
    --------
    >>> import torch
    >>> from skexplain.explainers import Saliency
    >>> model = torch.nn.Linear(3, 1, bias=False)
    >>> _ = torch.nn.init.constant_(model.weight, 2.0)
    >>> X = torch.randn(5, 3).numpy()
    >>> Saliency(model).fit(X).explain(X[:2], target=0).values
    array([[2., 2., 2.],
           [2., 2., 2.]])
    """

    _parameter_constraints = {
        **GradientExplainer._parameter_constraints,
        "absolute": ["boolean"],
    }

    def __init__(self, model=None, *, absolute=False, gradient_correction=False, output="auto",
                 batch_size="auto", device=None):
        super().__init__(model, gradient_correction=gradient_correction, output=output,
                         batch_size=batch_size, device=device)
        self.absolute = absolute

    def _attribute(self, X, target):
        def draws(index, x):
            return x, None, torch.ones((), dtype=self._dtype, device=self._device), None

        values, _, _ = self._accumulate(X, target, 1, draws)
        if self.absolute:
            values = np.abs(values)
        return values, {"method": "saliency", "axes": self._axes()}


class InputXGradient(GradientExplainer):
    __doc__ = f"""Input x gradient: the input times the gradient of the explained score.

    For a linear model ``f(x) = w . x + b`` this is ``w * x``, which sums to ``f(x) - b``.

    Parameters
    ----------
{COMMON_PARAMETERS}
{GRADIENT_CORRECTION}

    Attributes
    ----------
{FITTED_ATTRIBUTES}

    References
    ----------
    Shrikumar, Greenside, Shcherbina & Kundaje, "Not just a black box: learning important
    features through propagating activation differences", arXiv:1605.01713 (2016).
    """

    def _attribute(self, X, target):
        def draws(index, x):
            return x, None, x, None

        values, _, _ = self._accumulate(X, target, 1, draws)
        return values, {"method": "input_x_gradient", "axes": self._axes()}


class _BaselineMixin:
    """Baselines or references: "zeros", "mean", "data", "shuffle" or an array."""

    def _fit_baselines(self, X):
        if isinstance(self.baselines, str):
            if self.baselines == "shuffle":
                if len(self.feature_shape_) != 2:
                    raise ValueError(
                        'baselines="shuffle" needs one-hot sequences of shape (n_samples, '
                        f"n_channels, length); the data has feature shape {self.feature_shape_}."
                    )
                self.baselines_ = None
            elif self.baselines == "zeros":
                self.baselines_ = np.zeros((1, self.n_features_in_))
            elif self.baselines == "mean":
                self.baselines_ = self.baseline_[None].copy()
            else:
                rng = check_random_state(self.random_state)
                k = min(self.n_baselines, X.shape[0])
                self.baselines_ = _dense_rows(X[np.sort(rng.choice(X.shape[0], k, replace=False))])
            return
        baselines = np.asarray(self.baselines, dtype=np.float64)
        if baselines.shape == self.feature_shape_:
            baselines = baselines[None]
        if baselines.shape[1:] != self.feature_shape_ or len(baselines) == 0:
            raise ValueError(
                f"baselines has shape {baselines.shape}; expected the feature shape "
                f"{self.feature_shape_} or (n_baselines, *{self.feature_shape_})."
            )
        if not np.isfinite(baselines).all():
            raise ValueError("baselines contains NaN or infinity.")
        self.baselines_ = baselines.reshape(len(baselines), -1)

    def _n_references(self):
        return self.n_baselines if self.baselines_ is None else len(self.baselines_)

    def _references(self, index, x, seeds):
        """References of a block of instances: tensor (B, k, *feature_shape)."""
        if self.baselines_ is not None:
            fixed = self._tensor(self.baselines_.reshape((-1,) + self.feature_shape_))
            return fixed.expand((len(index),) + fixed.shape)
        tokens = check_one_hot(x.cpu().numpy(), "X (for shuffled baselines)")
        shuffles = [
            shuffle_tokens(tokens[j], self.n_baselines, self.shuffle,
                           np.random.default_rng(seeds[i]))
            for j, i in enumerate(index)
        ]
        n_channels = self.feature_shape_[0]
        eye = torch.eye(n_channels + 1, n_channels, dtype=self._dtype, device=self._device)
        return eye[torch.as_tensor(np.stack(shuffles), device=self._device)].transpose(-1, -2)

    def _reference_info(self):
        if self.baselines_ is None:
            return {"baselines": f"{self.shuffle} shuffle", "n_baselines": self.n_baselines}
        return {"baselines": self.baselines if isinstance(self.baselines, str) else "array",
                "n_baselines": len(self.baselines_)}


BASELINE_CONSTRAINTS = {
    "baselines": [StrOptions({"zeros", "mean", "data", "shuffle"}), "array-like"],
    "n_baselines": [Interval(Integral, 1, None, closed="left")],
    "shuffle": [StrOptions(set(SHUFFLES))],
    "random_state": ["random_state"],
}

BASELINE_PARAMETERS = (
    """    baselines : {{"zeros", "mean", "data", "shuffle"}} or array-like, """
    """default="{default}"
        {what}: all zeros; the mean of the data passed to ``fit``;
        ``n_baselines`` rows drawn from that data (the same for every instance);
        ``n_baselines`` shuffles of each explained one-hot sequence (see ``shuffle``); or
        an array of shape feature_shape or (k, *feature_shape). Several {lower} are
        averaged.
    n_baselines : int, default={n}
        Number of {lower} for "data" and "shuffle".
    shuffle : {{"dinucleotide", "mononucleotide"}}, default="dinucleotide"
        How "shuffle" {lower} are made (see ``shuffle_sequences``).
    random_state : int, RandomState instance or None, default=None
        Seeds the "data" draw and the shuffles; instance i's shuffles depend only on
        ``random_state``, the instance and i (not on ``batch_size``)."""
)


class IntegratedGradients(_BaselineMixin, GradientExplainer):
    __doc__ = f"""Integrated gradients: path integral of gradients from a baseline to the input.

    ``IG_j(x) = (x_j - b_j) * integral_0^1 df/dx_j(b + a (x - b)) da``, by a quadrature of
    ``n_steps`` points. The attributions of an instance sum to ``f(x) - f(b)`` up to the
    quadrature error (completeness); ``info["completeness_delta"]`` reports it. With several
    baselines the attributions (and ``f(b)``) are averaged over them.

    Cost: ``n_steps * n_baselines`` forward and backward rows per instance.

    Parameters
    ----------
{COMMON_PARAMETERS}
{GRADIENT_CORRECTION}
        One-hot baselines (shuffles) keep completeness exact under the correction; zeros
        or mean baselines do not.
{BASELINE_PARAMETERS.format(default="zeros", what="Path starting points", lower="baselines",
                            n=10)}
    n_steps : int, default=50
        Quadrature points on the path.
    method : {{"gausslegendre", "riemann_trapezoid"}}, default="gausslegendre"
        Gauss-Legendre nodes and weights on [0, 1] (exact for polynomial paths of degree
        < 2 n_steps), or the trapezoid rule on ``n_steps`` evenly spaced points including
        both ends (weights summing to 1; captum's "riemann_trapezoid" uses steps of
        1 / n_steps on the same points, so its weights sum to (n_steps - 1) / n_steps).

    Attributes
    ----------
{FITTED_ATTRIBUTES}
    baselines_ : ndarray of shape (k, n_features) or None
        The fixed baselines; None for per-instance shuffles.

    Notes
    -----
    ``info`` holds ``scores`` (f(x)), ``reference_scores`` (mean f(b)) and
    ``completeness_delta`` (sum of attributions minus their difference, before any gradient
    correction), each of shape (n_samples,).

    References
    ----------
    Sundararajan, Taly & Yan, "Axiomatic attribution for deep networks", ICML (2017).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from skexplain.explainers import IntegratedGradients
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <...>
    >>> model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    >>> X = torch.randn(10, 3).numpy()
    >>> E = IntegratedGradients(model).fit(X).explain(X[:2], target=0)
    >>> bool(abs(E.info["completeness_delta"]).max() < 1e-5)
    True
    """

    _parameter_constraints = {
        **GradientExplainer._parameter_constraints,
        **BASELINE_CONSTRAINTS,
        "n_steps": [Interval(Integral, 1, None, closed="left")],
        "method": [StrOptions({"gausslegendre", "riemann_trapezoid"})],
    }

    def __init__(self, model=None, *, baselines="zeros", n_steps=50, method="gausslegendre",
                 n_baselines=10, shuffle="dinucleotide", random_state=None,
                 gradient_correction=False, output="auto", batch_size="auto", device=None):
        super().__init__(model, gradient_correction=gradient_correction, output=output,
                         batch_size=batch_size, device=device)
        self.baselines = baselines
        self.n_steps = n_steps
        self.method = method
        self.n_baselines = n_baselines
        self.shuffle = shuffle
        self.random_state = random_state

    def _fit_method(self, X):
        if self.method == "riemann_trapezoid" and self.n_steps < 2:
            raise ValueError('method="riemann_trapezoid" needs n_steps >= 2.')
        self._fit_baselines(X)

    def _attribute(self, X, target):
        alphas, weights = path_quadrature(self.n_steps, self.method)
        alphas, weights = self._tensor(alphas), self._tensor(weights)
        k, n_steps = self._n_references(), len(alphas)
        seeds = spawn_seeds(self.random_state, len(X), 1)[:, 0]
        shape = (1,) * len(self.feature_shape_)

        def draws(index, x):
            base = self._references(index, x, seeds)  # (B, k, *shape)
            diff = (x[:, None] - base).reshape((-1,) + self.feature_shape_)
            start = base.reshape((-1,) + self.feature_shape_)
            step = alphas.repeat(len(diff)).view((-1,) + shape)
            rows = start.repeat_interleave(n_steps, 0) + step * diff.repeat_interleave(n_steps, 0)
            factors = diff.repeat_interleave(n_steps, 0) * weights.repeat(len(diff)).view(
                (-1,) + shape) / k
            return rows, None, factors, base

        values, totals, reference_scores = self._accumulate(X, target, k * n_steps, draws)
        info = {"method": "integrated_gradients", "axes": self._axes(),
                "n_steps": self.n_steps, "quadrature": self.method, **self._reference_info()}
        info.update(self._completeness(X, target, totals, reference_scores))
        return values, info


def path_quadrature(n_steps, method):
    """Points ``alpha`` in [0, 1] and weights of a quadrature of n_steps points."""
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(n_steps)
        return (nodes + 1) / 2, weights / 2
    alphas = np.linspace(0.0, 1.0, n_steps)
    weights = np.full(n_steps, 1.0 / (n_steps - 1))
    weights[[0, -1]] /= 2
    return alphas, weights


class SmoothGrad(GradientExplainer):
    __doc__ = f"""SmoothGrad: the gradient averaged over noisy copies of the input.

    Each instance x gets ``n_samples`` copies ``x + e`` with Gaussian noise of standard
    deviation ``noise_level * (max(x) - min(x))`` (Smilkov et al.); the attribution is the
    mean gradient (times the input when ``multiply_by_inputs``).

    Parameters
    ----------
{COMMON_PARAMETERS}
{GRADIENT_CORRECTION}
    n_samples : int, default=50
        Noisy copies per instance.
    noise_level : float, default=0.15
        Noise standard deviation as a fraction of the instance's value range (a range of 0
        counts as 1).
    multiply_by_inputs : bool, default=False
        Multiply the mean gradient by the input.
    random_state : int, RandomState instance or None, default=None
        Seeds the noise; instance i's noise depends only on ``random_state`` and i.

    Attributes
    ----------
{FITTED_ATTRIBUTES}

    References
    ----------
    Smilkov, Thorat, Kim, Viegas & Wattenberg, "SmoothGrad: removing noise by adding
    noise", arXiv:1706.03825 (2017).
    """

    _parameter_constraints = {
        **GradientExplainer._parameter_constraints,
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "noise_level": [Interval(Real, 0, None, closed="left")],
        "multiply_by_inputs": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(self, model=None, *, n_samples=50, noise_level=0.15, multiply_by_inputs=False,
                 random_state=None, gradient_correction=False, output="auto",
                 batch_size="auto", device=None):
        super().__init__(model, gradient_correction=gradient_correction, output=output,
                         batch_size=batch_size, device=device)
        self.n_samples = n_samples
        self.noise_level = noise_level
        self.multiply_by_inputs = multiply_by_inputs
        self.random_state = random_state

    def _attribute(self, X, target):
        seeds = spawn_seeds(self.random_state, len(X), 1)[:, 0]
        scale = np.ptp(X.reshape(len(X), -1), axis=1)
        sigma = self.noise_level * np.where(scale > 0, scale, 1.0)
        weight = torch.tensor(1.0 / self.n_samples, dtype=self._dtype, device=self._device)

        def draws(index, x):
            noise = np.stack([
                np.random.default_rng(seeds[i]).standard_normal((self.n_samples,) + X.shape[1:])
                * sigma[i] for i in index
            ])
            rows = (x[:, None] + self._tensor(noise)).reshape((-1,) + X.shape[1:])
            return rows, None, weight, None

        values, _, _ = self._accumulate(X, target, self.n_samples, draws)
        if self.multiply_by_inputs:
            values = values * X
        info = {"method": "smoothgrad", "axes": self._axes(), "noise_std": sigma}
        return values, info


def _dense_rows(X):
    return np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)
