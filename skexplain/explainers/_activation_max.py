"""Activation maximization: the input a network's class or filter responds to most."""

import copy
from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from ..base import BaseExplainer, Explanation
from ._network import (
    gradient_ascent,
    layer_name,
    layer_output,
    network_input_shape,
    output_names,
    single_thread,
    target_indices,
    torch_network,
)


class ActivationMaximization(BaseExplainer):
    """Input-space activation maximization of a class logit or of a filter.

    Gradient ascent on a relaxed one-hot input: each position holds a distribution over
    the alphabet (axis 1 of the input), either ``softmax(Z)`` of free logits Z
    (``relaxation="softmax"``) or a point of the probability simplex kept there by
    Euclidean projection after every step (``relaxation="clamp"``). The objective is a class
    logit (``layer=None``) or, for a filter of ``layer``, the largest activation of that
    channel over positions. The schedule and stopping rule are DeepResolve's (see
    :class:`DeepResolve`); each of ``n_restarts`` runs starts from standard normal logits
    (their softmax for "clamp") and keeps its best input. Targets run in parallel with
    seeds drawn up front, so results are identical for any ``n_jobs``.

    Parameters
    ----------
    model : skorch net or torch.nn.Module
        A fitted network over inputs of shape (n_samples, alphabet, length), e.g. one-hot
        DNA. It is not modified: a float64 copy in eval mode is optimised.
    layer : str, torch.nn.Module or None, default=None
        None maximises class logits; otherwise the layer (a name from ``named_modules()``
        such as ``"blocks.0.activation"``, or the module) whose channels are maximised.
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
    n_jobs : int, default=None
        Number of joblib workers over targets.
    random_state : int, RandomState instance or None, default=None
        Seeds the random starts.
    verbose : int, default=0
        Show a progress bar when > 0.

    Attributes
    ----------
    network_ : torch.nn.Module
        The float64 eval-mode copy of the network.
    layer_name_ : str or None
        Name of the layer whose channels are maximised (None for class logits).
    input_shape_ : tuple of int
    n_targets_ : int
        Number of class logits, or of the layer's channels.
    output_names_ : ndarray of shape (n_targets_,)
        Class labels of the logits, or channel indices.

    References
    ----------
    Simonyan, K., Vedaldi, A. & Zisserman, A. "Deep inside convolutional networks:
    visualising image classification models and saliency maps." ICLR workshop (2014).
    Lanchantin, J., Singh, R., Wang, B. & Qi, Y. "Deep Motif Dashboard: visualizing and
    understanding genomic sequences using deep neural networks." PSB (2017).
    """

    _score_unavailable = "it explains the network, not instances"

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
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self, model, *, layer=None, relaxation="softmax", n_restarts=5, learning_rate=1.0,
        warmup=500, decay=0.2, patience=10, tol=1e-6, max_iter=2000, input_shape=None,
        n_jobs=None, random_state=None, verbose=0,
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
        self.input_shape_ = network_input_shape(self.model, X, self.input_shape)
        if len(self.input_shape_) != 2:
            raise ValueError(
                f"Inputs must be sequences of shape (alphabet, length) to relax one-hot "
                f"letters; got input shape {self.input_shape_}."
            )
        if X is not None:
            self.n_features_in_ = int(np.prod(self.input_shape_))
        network = torch_network(self.model, type(self).__name__)
        self.layer_name_ = None if self.layer is None else layer_name(self.model, self.layer)
        dummy = torch.full((1,) + self.input_shape_, 1 / self.input_shape_[0],
                           dtype=torch.float64)
        with torch.no_grad():
            if self.layer_name_ is None:
                self.n_targets_ = network(dummy).shape[1]
                self.output_names_ = output_names(self.model, self.n_targets_)
            else:
                self.n_targets_ = layer_output(network, self.layer_name_, dummy).shape[1]
                self.output_names_ = np.arange(self.n_targets_)
        self.network_ = network
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
        explanation : Explanation
            ``values`` of shape (n_targets, *input_shape): each target's best input, a
            distribution over the alphabet at each position. ``info`` holds ``inputs``
            (n_targets, n_restarts, *input_shape), ``scores`` and ``n_iter`` (n_targets,
            n_restarts), and ``target``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the explainer is not fitted.
        ValueError
            If X is given or a target is unknown.
        """
        check_is_fitted(self, "network_")
        if X is not None:
            raise ValueError("Activation maximization needs no instances: call explain().")
        targets = target_indices(target, self.output_names_)
        root = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        seeds = [np.random.SeedSequence(root, spawn_key=(int(k),)).generate_state(1)[0]
                 for k in targets]
        tasks = (
            delayed(_maximize_target)(
                self.network_, self.layer_name_, self.input_shape_, int(k), self.relaxation,
                self.n_restarts, seed, self._ascent_params(),
            )
            for k, seed in zip(targets, seeds, strict=True)
        )
        parallel = Parallel(n_jobs=self.n_jobs, return_as="generator")
        runs = list(tqdm(parallel(tasks), total=len(targets), desc="Activation maximization",
                         disable=not self.verbose))
        inputs, scores, n_iter = (np.stack(parts) for parts in zip(*runs, strict=True))
        best = inputs[np.arange(len(targets)), scores.argmax(axis=1)]
        info = {
            "method": "activation_maximization",
            "axes": ("target", "alphabet", "position"),
            "target": targets,
            "layer": self.layer_name_,
            "inputs": inputs,
            "scores": scores,
            "n_iter": n_iter,
        }
        return Explanation(best, base_values=scores.max(axis=1),
                           output_names=self.output_names_[targets], info=info)

    def _ascent_params(self):
        return {
            "learning_rate": self.learning_rate, "warmup": self.warmup, "decay": self.decay,
            "patience": self.patience, "tol": self.tol, "max_iter": self.max_iter,
        }


def _maximize_target(network, layer, input_shape, target, relaxation, n_restarts, seed,
                     params):
    """All restarts of one target as one batch; return (inputs, scores, n_iter)."""
    import torch

    network = copy.deepcopy(network)  # a layer hook must not reach other threads' runs
    as_input = _softmax if relaxation == "softmax" else _identity
    project = None if relaxation == "softmax" else project_to_simplex

    def objective(free):
        x = as_input(free)
        if layer is None:
            score = network(x)[:, target]
        else:
            score = layer_output(network, layer, x)[:, target].flatten(1).max(dim=1).values
        return score, score

    rng = np.random.default_rng(seed)
    start = torch.from_numpy(rng.standard_normal((n_restarts,) + tuple(input_shape)))
    if project is not None:
        start = _softmax(start)
    with single_thread():
        best, score, _, n_iter = gradient_ascent(objective, start, project=project, **params)
        inputs = as_input(best)
    return inputs.numpy(), score, n_iter


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
    ranks = torch.arange(1, moved.shape[-1] + 1, dtype=x.dtype)
    thresholds = (ordered.cumsum(dim=-1) - 1) / ranks
    support = (ordered > thresholds).sum(dim=-1, keepdim=True)
    theta = thresholds.gather(-1, support - 1)
    return (moved - theta).clamp_min(0).movedim(-1, 1)
