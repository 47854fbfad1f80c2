"""Input checks, rankings and batched scoring shared by the explanation metrics.

Scoring goes through the core: a metric's ``score_function`` becomes a model adapter (scores
checked for shape and finiteness), rows are scored by ``score_in_batches`` with the one
batch-size policy, and per-instance random streams come from ``spawn_seeds``.
"""

import numbers

import numpy as np

from .._core.compute import resolve_batch_size, score_in_batches, spawn_seeds
from .._core.model import ModelAdapter

DEFAULT_BATCH_SIZE = "auto"


def check_attributions(X, attributions, target, groups=None):
    """Validate flattened instances, their attributions and targets.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
    attributions : ndarray of shape (n_samples, n_units), float64
    target : ndarray of shape (n_samples,), int
    """
    X = np.asarray(X, dtype=np.float64)
    attributions = np.asarray(attributions, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}.")
    n_samples, n_features = X.shape
    n_units = n_features if groups is None else len(groups)
    if attributions.shape != (n_samples, n_units):
        raise ValueError(
            f"attributions has shape {attributions.shape}; expected ({n_samples}, {n_units}), "
            f"one value per instance and {'group' if groups else 'feature'}."
        )
    if not np.all(np.isfinite(attributions)):
        raise ValueError("attributions contain NaN or infinity.")
    try:
        target = np.broadcast_to(np.asarray(target), (n_samples,)).astype(int)
    except ValueError:
        raise ValueError(
            f"target has shape {np.shape(target)}; expected an output index or one per "
            f"instance, shape ({n_samples},)."
        ) from None
    return X, attributions, target


def check_feature_vector(value, n_features, name):
    """Broadcast a scalar or per-feature array to shape (n_features,), float64."""
    value = np.asarray(value, dtype=np.float64)
    try:
        return np.broadcast_to(value, (n_features,)).copy()
    except ValueError:
        raise ValueError(
            f"{name} has shape {value.shape}; expected a scalar or one value per feature, "
            f"shape ({n_features},)."
        ) from None


def check_positive_int(value, name, minimum=1):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def ranked_units(attributions, absolute=True):
    """Unit indices of each row, largest attribution first; ties keep unit order."""
    key = np.abs(attributions) if absolute else attributions
    return np.argsort(-key, axis=-1, kind="stable")


def column_ranks(order, n_features, groups=None):
    """Rank (0 = first) of each feature's unit in ``order``; grouped features share a rank."""
    unit_rank = np.empty(len(order), dtype=int)
    unit_rank[order] = np.arange(len(order))
    if groups is None:
        return unit_rank
    ranks = np.full(n_features, len(order), dtype=int)  # features in no group never move
    for unit, members in enumerate(groups):
        ranks[members] = unit_rank[unit]
    return ranks


def unit_steps(n_units, n_steps):
    """Numbers of units 0 = k_0 < ... < k_m = n_units, about ``n_steps`` even steps."""
    n_steps = min(n_units, 100) if n_steps is None else check_positive_int(n_steps, "n_steps")
    return np.unique(np.round(np.linspace(0, n_units, n_steps + 1)).astype(int))


def as_score(score_function, n_features):
    """A metric's ``score_function`` as ``score(rows, owner)``: a model adapter.

    An explainer's ``score_function_`` (already an adapter) is used as it is; any other
    callable (``predict_proba``, a lambda) or fitted model is wrapped in one, so its scores
    are checked (NaN, infinity and wrong shapes raise a ValueError naming the rows).
    """
    if isinstance(score_function, ModelAdapter):
        return score_function
    return ModelAdapter(score_function, (n_features,), name="the metric")


def score_rows(score_function, rows, target, batch_size=DEFAULT_BATCH_SIZE, owner=0):
    """The ``target`` column of the model's scores of ``rows``, ``batch_size`` rows per call.

    ``score_function`` may return shape (batch, n_outputs) or, for one output, (batch,);
    ``batch_size`` is an int or "auto" (the core's policy). ``owner`` is the index of the
    instance the rows belong to (it picks the rows of a bound adapter's ``model_args``).
    """
    score = as_score(score_function, rows.shape[1])
    batch_size = resolve_batch_size(batch_size, rows.shape[1])
    return score_in_batches(score, target, [rows], batch_size, owner)


def instance_rngs(random_state, n_samples):
    """One generator per instance; instance i's stream depends only on random_state and i."""
    return [np.random.default_rng(seed) for seed in spawn_seeds(random_state, n_samples)[:, 0]]


def explain_flat(explainer, X, target=None):
    """Explain X; return (flattened instances, flattened values, resolved target indices).

    The instances come back in their original shape ``(n_samples, *feature_shape)``, so
    that perturbed copies can be explained again.
    """
    explanation = explainer.explain(X, target=target)
    values = explanation.values.reshape(len(explanation), -1)
    return explanation.data, values, np.asarray(explanation.info["target"])


def uniform_copies(data, radius, rng):
    """A copy of ``data`` with every feature moved uniformly within +-``radius``."""
    n_features = int(np.prod(data.shape[1:]))
    radius = check_feature_vector(radius, n_features, "radius")
    if np.any(radius < 0):
        raise ValueError("radius must be non-negative.")
    noise = rng.uniform(-1.0, 1.0, size=(len(data), n_features)) * radius
    return data + noise.reshape(data.shape)
