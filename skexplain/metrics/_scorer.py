"""Scorers: explanation metrics as ``scorer(explainer, X, y=None)`` for GridSearchCV."""

import inspect

from .._core.base import register_scorer_resolver
from ._consistency import input_consistency, seed_consistency
from ._faithfulness import deletion_auc, deletion_score, insertion_auc
from ._infidelity import infidelity
from ._perturbation import topk_perturbation_auc
from ._randomization import model_randomization_test
from ._sensitivity import max_sensitivity


class ExplanationScorer:
    """A metric of an explainer's explanations, callable as ``scorer(explainer, X, y=None)``.

    Higher is better (lower-is-better metrics are negated, as in sklearn's ``neg_*``
    scorers), so it can be passed as ``scoring`` to ``GridSearchCV(explainer, param_grid)``
    or to ``explainer.score``. Make one with :func:`make_explanation_scorer` or
    :func:`get_explanation_scorer`.

    Parameters
    ----------
    metric : callable
        ``metric(explainer, X, y, **kwargs) -> float``.
    sign : {1, -1}
        -1 for a metric where lower is better.
    kwargs : dict
        Keyword arguments of the metric.
    """

    def __init__(self, metric, sign, kwargs):
        self.metric = metric
        self.sign = sign
        self.kwargs = kwargs

    def __call__(self, explainer, X, y=None):
        """Score the explanations of X by ``explainer`` (fitted); higher is better."""
        return self.sign * float(self.metric(explainer, X, y, **self.kwargs))

    def __repr__(self):
        name = getattr(self.metric, "__name__", repr(self.metric)).lstrip("_")
        args = "".join(f", {key}={value!r}" for key, value in self.kwargs.items())
        return f"make_explanation_scorer({name}{args}, greater_is_better={self.sign > 0})"


def _explained(explainer, X, target):
    explanation = explainer.explain(X, target=target)
    n_samples = len(explanation)
    return (
        explanation,
        explanation.data.reshape(n_samples, -1),
        explanation.values.reshape(n_samples, -1),
        explanation.info["target"],
    )


def _deletion_score(explainer, X, y, target=None, **kwargs):
    _, data, values, target = _explained(explainer, X, target)
    return deletion_score(explainer.score_function_, data, values, target,
                          explainer.baseline_, groups=explainer._feature_groups(), **kwargs)


def _deletion_auc(explainer, X, y, target=None, baseline=None, **kwargs):
    _, data, values, target = _explained(explainer, X, target)
    baseline = explainer.baseline_ if baseline is None else baseline
    return deletion_auc(explainer.score_function_, data, values, target, baseline,
                        groups=explainer._feature_groups(), **kwargs)


def _insertion_auc(explainer, X, y, target=None, baseline=None, **kwargs):
    _, data, values, target = _explained(explainer, X, target)
    baseline = explainer.baseline_ if baseline is None else baseline
    return insertion_auc(explainer.score_function_, data, values, target, baseline,
                         groups=explainer._feature_groups(), **kwargs)


def _topk_perturbation_auc(explainer, X, y, target=None, lower=None, upper=None, delta=1.0,
                           **kwargs):
    explanation, data, values, target = _explained(explainer, X, target)
    lower = getattr(explainer, "lower_", None) if lower is None else lower
    upper = getattr(explainer, "upper_", None) if upper is None else upper
    if lower is None or upper is None:
        raise ValueError(
            f"{type(explainer).__name__} has no domain (lower_, upper_): pass lower and upper "
            "to the top-k perturbation scorer."
        )
    if isinstance(delta, str) and delta == "delta_star":
        delta = explanation.info["delta_star"]
    return topk_perturbation_auc(explainer.score_function_, data, values, target, lower,
                                 upper, delta=delta, groups=explainer._feature_groups(),
                                 **kwargs)


def _infidelity(explainer, X, y, target=None, **kwargs):
    _, data, values, target = _explained(explainer, X, target)
    return infidelity(explainer.score_function_, data, values, target, **kwargs)


def _max_sensitivity(explainer, X, y, **kwargs):
    return max_sensitivity(explainer, X, **kwargs)


def _seed_consistency(explainer, X, y, **kwargs):
    return seed_consistency(explainer, X, **kwargs)


def _input_consistency(explainer, X, y, **kwargs):
    return input_consistency(explainer, X, **kwargs)


def _model_randomization(explainer, X, y, **kwargs):
    kwargs = {"X_train": X, "y_train": y, **kwargs}
    return 1.0 - model_randomization_test(explainer, X, **kwargs)["similarity"].iloc[-1]


# name -> (metric(explainer, X, y, **kwargs), sign, public function it wraps)
_SCORERS = {
    "deletion_score": (_deletion_score, 1, deletion_score),
    "neg_deletion_auc": (_deletion_auc, -1, deletion_auc),
    "insertion_auc": (_insertion_auc, 1, insertion_auc),
    "neg_topk_perturbation_auc": (_topk_perturbation_auc, -1, topk_perturbation_auc),
    "neg_infidelity": (_infidelity, -1, infidelity),
    "neg_max_sensitivity": (_max_sensitivity, -1, max_sensitivity),
    "seed_consistency": (_seed_consistency, 1, seed_consistency),
    "input_consistency": (_input_consistency, 1, input_consistency),
    "model_randomization": (_model_randomization, 1, model_randomization_test),
}
_ADAPTERS = {function: metric for metric, _, function in _SCORERS.values()}


def _with_fixed_seed(function, kwargs):
    """Default random_state=0, so that all candidates of a search share the random draws."""
    if "random_state" in inspect.signature(function).parameters:
        return {"random_state": 0, **kwargs}
    return kwargs


def get_explanation_scorer_names():
    """Names accepted by :func:`get_explanation_scorer` and ``explainer.score(scoring=...)``.

    Returns
    -------
    names : list of str
    """
    return sorted(_SCORERS)


def get_explanation_scorer(scoring, **kwargs):
    """The scorer of a metric by name, with its keyword arguments.

    ==============================  ==========================================================
    name                            metric (negated when lower is better)
    ==============================  ==========================================================
    ``deletion_score``              :func:`deletion_score` (the default of ``score``)
    ``neg_deletion_auc``            :func:`deletion_auc`, baseline = ``explainer.baseline_``
    ``insertion_auc``               :func:`insertion_auc`, baseline = ``explainer.baseline_``
    ``neg_topk_perturbation_auc``   :func:`topk_perturbation_auc` in the explainer's domain
                                    (``lower_`` / ``upper_``); ``delta="delta_star"`` uses
                                    SensX's delta* of each instance
    ``neg_infidelity``              :func:`infidelity`
    ``neg_max_sensitivity``         :func:`max_sensitivity`
    ``seed_consistency``            :func:`seed_consistency`
    ``input_consistency``           :func:`input_consistency`
    ``model_randomization``         1 - the last ``similarity`` of
                                    :func:`model_randomization_test` (labels: the scored
                                    ``X, y``)
    ==============================  ==========================================================

    Parameters
    ----------
    scoring : str or callable
        A name above, or a scorer ``scorer(explainer, X, y=None)``, returned as is.
    **kwargs
        Keyword arguments of the metric (for example ``n_steps``, or ``target``, which is
        passed to ``explainer.explain``). A metric's ``random_state`` defaults to 0, so that
        every candidate of a search is scored on the same random draws.

    Returns
    -------
    scorer : callable
        ``scorer(explainer, X, y=None) -> float``, higher is better.

    Raises
    ------
    ValueError
        If the name is unknown, or keyword arguments come with a callable.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skexplain.explainers import SensX
    >>> from skexplain.metrics import get_explanation_scorer
    >>> X = np.random.default_rng(0).normal(size=(40, 3))
    >>> explainer = SensX(lambda X: X @ [1.0, 0.0, 2.0], delta=0.5, random_state=0)
    >>> scorer = get_explanation_scorer("insertion_auc", n_steps=3)
    >>> search = GridSearchCV(explainer, {"n_walks": [1, 2]}, scoring=scorer, cv=2).fit(X)
    >>> sorted(search.best_params_)
    ['n_walks']
    """
    if callable(scoring):
        if kwargs:
            raise ValueError("Keyword arguments apply to a scorer given by name, not to a "
                             "callable.")
        return scoring
    if scoring not in _SCORERS:
        raise ValueError(
            f"Unknown explanation scorer {scoring!r}; valid names are "
            f"{get_explanation_scorer_names()}."
        )
    metric, sign, function = _SCORERS[scoring]
    return ExplanationScorer(metric, sign, _with_fixed_seed(function, kwargs))


def make_explanation_scorer(metric, *, greater_is_better=True, **kwargs):
    """Make a scorer ``scorer(explainer, X, y=None)`` from an explanation metric.

    Parameters
    ----------
    metric : callable
        One of the metric functions of :mod:`skexplain.metrics` (it is then given what it
        needs from the explainer: the explanation of X, ``score_function_``, ``baseline_``,
        the domain), or any ``metric(explainer, X, y, **kwargs) -> float``.
    greater_is_better : bool, default=True
        False negates the metric, so that the scorer is higher for better explanations.
    **kwargs
        Keyword arguments of the metric; for the metrics of :mod:`skexplain.metrics`,
        ``random_state`` defaults to 0.

    Returns
    -------
    scorer : ExplanationScorer

    Examples
    --------
    >>> from skexplain.metrics import deletion_auc, make_explanation_scorer
    >>> make_explanation_scorer(deletion_auc, greater_is_better=False, n_steps=10)
    make_explanation_scorer(deletion_auc, n_steps=10, greater_is_better=False)
    """
    if not callable(metric):
        raise ValueError(f"metric must be callable, got {metric!r}.")
    if metric in _ADAPTERS:
        kwargs = _with_fixed_seed(metric, kwargs)
    return ExplanationScorer(_ADAPTERS.get(metric, metric), 1 if greater_is_better else -1,
                             kwargs)


register_scorer_resolver(get_explanation_scorer)
