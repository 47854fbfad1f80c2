"""Stability of feature rankings: across random seeds and across near-identical inputs."""

import copy
from itertools import combinations

import numpy as np
from scipy.stats import rankdata
from sklearn.utils import check_random_state

from ._common import check_positive_int, explain_flat, ranked_units, uniform_copies

METRICS = ("spearman", "top_k")


def ranking_agreement(values_a, values_b, *, metric="spearman", k=10, absolute=True):
    """Agreement of two explanations' feature rankings, per instance.

    Parameters
    ----------
    values_a, values_b : array-like of shape (n_samples, *feature_shape)
        Two explanations of the same instances.
    metric : {"spearman", "top_k"}, default="spearman"
        "spearman": Spearman rank correlation of the values (ties share their mean rank;
        two constant rows agree perfectly, a constant and a varying row score 0).
        "top_k": the fraction of the ``k`` top-ranked features the two share.
    k : int, default=10
        Number of top features for "top_k".
    absolute : bool, default=True
        Rank by absolute value (True) or by signed value (False).

    Returns
    -------
    agreement : ndarray of shape (n_samples,)
        In [-1, 1] for "spearman", [0, 1] for "top_k"; 1 is identical rankings.

    Raises
    ------
    ValueError
        If the shapes differ, the metric is unknown or k is out of range.
    """
    a = np.asarray(values_a, dtype=np.float64)
    b = np.asarray(values_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim < 2:
        raise ValueError(
            f"The two explanations must have the same shape (n_samples, ...); got {a.shape} "
            f"and {b.shape}."
        )
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    if absolute:
        a, b = np.abs(a), np.abs(b)
    if metric == "spearman":
        return _spearman_rows(a, b)
    if metric == "top_k":
        if not isinstance(k, (int, np.integer)) or not 1 <= k <= a.shape[1]:
            raise ValueError(f"k must be an integer in [1, {a.shape[1]}], got {k!r}.")
        top_a, top_b = ranked_units(a, False)[:, :k], ranked_units(b, False)[:, :k]
        return np.array([len(np.intersect1d(ra, rb)) / k for ra, rb in zip(top_a, top_b,
                                                                        strict=True)])
    raise ValueError(f"Unknown metric {metric!r}; choose one of {list(METRICS)}.")


def seed_consistency(
    explainer, X, *, n_seeds=3, metric="spearman", k=10, target=None, random_state=None,
):
    """How much a stochastic explainer's rankings agree across its random seeds.

    X is explained ``n_seeds`` times, each with the explainer's ``random_state`` set to a
    different seed drawn from ``random_state`` (the fitted explainer is copied, not refitted,
    so the seed must act at explanation time, as in SensX), for the same outputs; the result
    is the mean :func:`ranking_agreement` over instances and pairs of seeds (higher is more
    stable). Low values mean the explainer needs more samples (e.g. SensX ``n_walks``).

    Parameters
    ----------
    explainer : fitted explainer
        An explainer with a ``random_state`` parameter.
    X : array-like of shape (n_samples, *feature_shape)
        Instances to explain.
    n_seeds : int, default=3
        Number of seeds; at least 2.
    metric : {"spearman", "top_k"}, default="spearman"
        See :func:`ranking_agreement`.
    k : int, default=10
        Number of top features for "top_k".
    target : None, int, label or array-like, default=None
        Output to explain, as in ``explainer.explain`` (resolved once, then fixed).
    random_state : int, RandomState instance or None, default=None
        Draws the seeds.

    Returns
    -------
    consistency : float

    Raises
    ------
    ValueError
        If the explainer has no ``random_state`` parameter or n_seeds < 2.
    """
    n_seeds = check_positive_int(n_seeds, "n_seeds", minimum=2)
    if "random_state" not in explainer.get_params(deep=False):
        raise ValueError(
            f"{type(explainer).__name__} has no random_state parameter: its explanations do "
            "not depend on a seed."
        )
    seeds = check_random_state(random_state).randint(np.iinfo(np.int32).max, size=n_seeds)
    runs = []
    for seed in seeds:
        seeded = copy.copy(explainer).set_params(random_state=int(seed))
        _, values, target = explain_flat(seeded, X, target)
        runs.append(values)
    return float(np.mean([ranking_agreement(a, b, metric=metric, k=k).mean()
                          for a, b in combinations(runs, 2)]))


def input_consistency(
    explainer, X, *, radius=0.01, n_perturbations=3, metric="spearman", k=10, target=None,
    random_state=None,
):
    """How much an explainer's rankings agree between an input and near-identical copies.

    ``n_perturbations`` copies of X, every feature moved uniformly within ``radius``, are
    explained for the same outputs as X (each copy as a whole batch, so row i keeps its
    position and, for SensX, its random numbers); the result is the mean
    :func:`ranking_agreement` with the explanation of X over instances and copies (higher is
    more stable). The rank-based counterpart of :func:`max_sensitivity`, in the spirit of
    the local stability of Alvarez-Melis & Jaakkola, "On the robustness of interpretability
    methods", ICML workshop 2018.

    Parameters
    ----------
    explainer : fitted explainer
        Any :class:`skexplain.BaseExplainer`.
    X : array-like of shape (n_samples, *feature_shape)
        Instances to explain.
    radius : float or ndarray of shape (n_features,), default=0.01
        Half-width of the perturbation of each feature, in the feature's units.
    n_perturbations : int, default=3
        Perturbed copies of X.
    metric : {"spearman", "top_k"}, default="spearman"
        See :func:`ranking_agreement`.
    k : int, default=10
        Number of top features for "top_k".
    target : None, int, label or array-like, default=None
        Output to explain, as in ``explainer.explain`` (resolved once, on X).
    random_state : int, RandomState instance or None, default=None
        Seeds the perturbations.

    Returns
    -------
    consistency : float
    """
    n_perturbations = check_positive_int(n_perturbations, "n_perturbations")
    rng = check_random_state(random_state)
    data, values, target = explain_flat(explainer, X, target)
    agreements = []
    for _ in range(n_perturbations):
        _, moved, _ = explain_flat(explainer, uniform_copies(data, radius, rng), target)
        agreements.append(ranking_agreement(values, moved, metric=metric, k=k).mean())
    return float(np.mean(agreements))


def _spearman_rows(a, b):
    ra = rankdata(a, axis=1)
    rb = rankdata(b, axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    norm = np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
    both_constant = ~ra.any(axis=1) & ~rb.any(axis=1)
    out = np.where(both_constant, 1.0, 0.0)
    np.divide((ra * rb).sum(axis=1), norm, out=out, where=norm > 0)
    return out
