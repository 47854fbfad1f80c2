"""Activation maximization: the input a network's class or filter responds to most."""

import copy
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._core.base import ModelLevelExplainer
from .._core.compute import N_JOBS_DOC, parallel_map, spawn_seeds
from .._core.explanation import ModelExplanation
from .._core.model import OUTPUT_CONSTRAINT, OUTPUT_DOC
from ._network import (
    check_finite,
    class_labels,
    gradient_ascent,
    layer_name,
    layer_output,
    n_outputs_of,
    network_adapter,
    network_input_shape,
    no_instances,
    resolve_targets,
    single_thread,
)


class ActivationMaximization(ModelLevelExplainer):
    """Input-space activation maximization of a class logit or of a filter.

    Gradient ascent on a relaxed one-hot input: each position holds a distribution over
    the alphabet (axis 1 of the input), either ``softmax(Z)`` of free logits Z
    (``relaxation="softmax"``) or a point of the probability simplex kept there by
    Euclidean projection after every step (``relaxation="clamp"``). The objective is a class
    logit (``layer=None``) or, for a filter of ``layer``, the largest activation of that
    channel over positions. The schedule and stopping rule are DeepResolve's (see
    :class:`DeepResolve`); each of ``n_restarts`` runs starts from standard normal logits
    (their softmax for "clamp") and keeps its best input. Targets run in parallel (the
    core's ``parallel_map``) with seeds spawned up front from ``random_state`` and the target
    index, so results are identical for any ``n_jobs`` and any subset of targets. A
    model-level explainer has no faithfulness ``score``.

    Parameters
    ----------
    model : skorch net or torch.nn.Module
        A fitted network over inputs of shape (n_samples, alphabet, length), e.g. one-hot
        DNA. It is not modified: a float64 copy in eval mode is optimised.
    layer : str, torch.nn.Module or None, default=None
        None maximises class scores (``output``); otherwise the layer (a name from
        ``named_modules()`` such as ``"blocks.0.activation"``, or the module) whose channels
        are maximised.
    relaxation : {"softmax", "clamp"}, default="softmax"
        How the input stays a distribution over the alphabet at each position.
    n_restarts : int, default=5
        Random starts per target.
    learning_rate : float, default=1.0
    warmup : int, default=500
    decay : float, default=0.2
    patience : int, default=10
    tol : float, default=1e-6
    max_iter : int, default=2000
        See :class:`DeepResolve`.
    input_shape : tuple of int, default=None
        Shape of one input, e.g. ``(4, 200)``; from X when ``fit`` gets X, or from a fitted
        :class:`~skexplain.models.ExpActivationCNNClassifier`.
__OUTPUT_DOC__
        Used when ``layer`` is None: the class score maximised is column c of this output.
__N_JOBS_DOC__
    random_state : int, RandomState instance or None, default=None
        Seeds the random starts.

    Attributes
    ----------
    network_ : torch.nn.Module
        The float64 eval-mode copy of the network.
    layer_name_ : str or None
        Name of the layer whose channels are maximised (None for class logits).
    input_shape_ : tuple of int
    n_targets_ : int
        Number of class scores, or of the layer's channels.
    output_names_ : ndarray of shape (n_targets_,)
        Class labels of the scores, or channel indices.
    model_adapter_ : ModelAdapter
        The core's adapter of the model, running on ``network_``.

    References
    ----------
    Simonyan, K., Vedaldi, A. & Zisserman, A. "Deep inside convolutional networks:
    visualising image classification models and saliency maps." ICLR workshop (2014).
    Lanchantin, J., Singh, R., Wang, B. & Qi, Y. "Deep Motif Dashboard: visualizing and
    understanding genomic sequences using deep neural networks." PSB (2017).
    """

    _parameter_constraints = {
        "model": "no_validation",
        "layer": "no_validation",
        "relaxation": [StrOptions({"softmax", "clamp"})],
        "n_restarts": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "warmup": [Interval(Integral, 0, None, closed="left")],
        "decay": [Interval(Real, 0, None, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "input_shape": ["array-like", None],
        "output": OUTPUT_CONSTRAINT,
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self, model=None, *, layer=None, relaxation="softmax", n_restarts=5, learning_rate=1.0,
        warmup=500, decay=0.2, patience=10, tol=1e-6, max_iter=2000, input_shape=None,
        output="auto", n_jobs=None, random_state=None, verbose=0,
    ):
        super().__init__(model)
        self.layer = layer
        self.relaxation = relaxation
        self.n_restarts = n_restarts
        self.learning_rate = learning_rate
        self.warmup = warmup
        self.decay = decay
        self.patience = patience
        self.tol = tol
        self.max_iter = max_iter
        self.input_shape = input_shape
        self.output = output
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X=None, y=None):
        """Prepare the network: copy it and find the number of targets.

        Parameters
        ----------
        X : array-like of shape (n_samples, *input_shape), default=None
            Only its shape is used.
        y : None
            Ignored.

        Returns
        -------
        self : ActivationMaximization

        Raises
        ------
        TypeError
            If the model is not a torch module or skorch net.
        ValueError
            If the input shape is unknown or not (alphabet, length), or the layer does not
            exist.
        """
        import torch

        self._validate_params()
        self._check_model()
        self.input_shape_ = network_input_shape(self.model, X, self.input_shape)
        if len(self.input_shape_) != 2:
            raise ValueError(
                f"Inputs must be sequences of shape (alphabet, length) to relax one-hot "
                f"letters; got input shape {self.input_shape_}."
            )
        if X is not None:
            self.n_features_in_ = int(np.prod(self.input_shape_))
        elif hasattr(self, "n_features_in_"):
            del self.n_features_in_
        adapter = network_adapter(self.model, self.input_shape_, output=self.output,
                                  name=type(self).__name__)
        self.layer_name_ = None if self.layer is None else layer_name(self.model, self.layer)
        if self.layer_name_ is None:
            self.n_targets_ = n_outputs_of(adapter, self.input_shape_)
            self.output_names_ = class_labels(adapter, self.n_targets_)
        else:
            dummy = torch.full((1,) + self.input_shape_, 1 / self.input_shape_[0],
                               dtype=adapter.dtype, device=adapter.device)
            with torch.no_grad():
                self.n_targets_ = layer_output(adapter.module, self.layer_name_, dummy).shape[1]
            self.output_names_ = np.arange(self.n_targets_)
        self.model_adapter_ = adapter
        self.network_ = adapter.module
        return self

    def explain(self, X=None, target=None):
        """Find, for each target, the relaxed input that maximises it.

        Parameters
        ----------
        X : None
            Activation maximization needs no instances; passing X is an error.
        target : None, int or list of int, default=None
            Output indices (or class labels) when ``layer`` is None, channel indices of the
            layer otherwise; None for all of them.

        Returns
        -------
        explanation : ModelExplanation
            Axes ("class", "alphabet", "position") when ``layer`` is None, else ("channel",
            "alphabet", "position"); ``values`` of shape (n_targets, *input_shape): each
            target's best input, a distribution over the alphabet at each position;
            ``labels`` of the first axis the targets (class labels or channel indices).
            ``info`` holds ``best_scores`` (n_targets,), the score of each best input
            (``base_values`` before), ``inputs`` (n_targets, n_restarts, *input_shape),
            ``scores`` and ``n_iter`` (n_targets, n_restarts), ``target``, ``layer`` and
            ``output``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the explainer is not fitted.
        ValueError
            If X is given, a target is unknown, or the network gives NaN or infinite
            scores (a run whose objective is never finite).
        """
        check_is_fitted(self, "network_")
        no_instances(X, "Activation maximization", "it needs no instances; call explain().")
        targets = resolve_targets(target, self.output_names_)
        seeds = spawn_seeds(self.random_state, self.n_targets_, 1)[targets, 0]
        params = self._ascent_params()
        tasks = [
            (self.model_adapter_, self.layer_name_, self.input_shape_, int(k), self.relaxation,
             self.n_restarts, int(seed), params)
            for k, seed in zip(targets, seeds, strict=True)
        ]
        runs = parallel_map(_maximize_target, tasks, n_jobs=self.n_jobs, verbose=self.verbose,
                            description="Activation maximization")
        inputs, scores, values, n_iter = (np.stack(parts) for parts in zip(*runs, strict=True))
        # A run whose objective is never finite keeps -inf: the network gives NaN.
        check_finite(values, "scores (or no finite score in a run)", self.model_adapter_)
        best = inputs[np.arange(len(targets)), scores.argmax(axis=1)]
        axis = "class" if self.layer_name_ is None else "channel"
        info = {
            "method": "activation_maximization",
            "target": targets,
            "output": self.model_adapter_.describe() if axis == "class" else "activation",
            "layer": self.layer_name_,
            "best_scores": scores.max(axis=1),
            "inputs": inputs,
            "scores": scores,
            "n_iter": n_iter,
        }
        return ModelExplanation(
            best, (axis, "alphabet", "position"),
            labels={axis: self.output_names_[targets]},
            units="letter probability", info=info,
        )

    def _ascent_params(self):
        return {
            "learning_rate": self.learning_rate, "warmup": self.warmup, "decay": self.decay,
            "patience": self.patience, "tol": self.tol, "max_iter": self.max_iter,
        }


def _maximize_target(adapter, layer, input_shape, target, relaxation, n_restarts, seed,
                     params):
    """All restarts of one target as one batch; return (inputs, scores, objective, n_iter)."""
    # A private copy of the network: a layer hook must not reach other threads' runs.
    adapter = adapter.with_module(copy.deepcopy(adapter.module))
    network = adapter.module
    as_input = _softmax if relaxation == "softmax" else _identity
    project = None if relaxation == "softmax" else project_to_simplex

    def objective(free):
        x = as_input(free)
        if layer is None:
            score = adapter.forward(x)[:, target]
        else:
            score = layer_output(network, layer, x)[:, target].flatten(1).max(dim=1).values
        return score, score

    rng = np.random.default_rng(seed)
    start = adapter.tensor(rng.standard_normal((n_restarts,) + tuple(input_shape)))
    if project is not None:
        start = _softmax(start)
    with single_thread():
        best, score, value, n_iter = gradient_ascent(objective, start, project=project,
                                                     **params)
        inputs = as_input(best)
    return inputs.cpu().numpy(), score, value, n_iter


def _softmax(free):
    return free.softmax(dim=1)


def _identity(x):
    return x


def project_to_simplex(x):
    """Euclidean projection of each position (axis 1 of x) onto the probability simplex.

    Parameters
    ----------
    x : torch.Tensor of shape (n, alphabet, ...)

    Returns
    -------
    projected : torch.Tensor of the same shape
        Non-negative, summing to 1 over axis 1 (Held, Wolfe & Crowder 1974; Duchi et al.
        2008).
    """
    import torch

    moved = x.movedim(1, -1)
    ordered = moved.sort(dim=-1, descending=True).values
    ranks = torch.arange(1, moved.shape[-1] + 1, dtype=x.dtype, device=x.device)
    thresholds = (ordered.cumsum(dim=-1) - 1) / ranks
    support = (ordered > thresholds).sum(dim=-1, keepdim=True)
    theta = thresholds.gather(-1, support - 1)
    return (moved - theta).clamp_min(0).movedim(-1, 1)


ActivationMaximization.__doc__ = ActivationMaximization.__doc__.replace(
    "__OUTPUT_DOC__", OUTPUT_DOC).replace("__N_JOBS_DOC__", N_JOBS_DOC)
