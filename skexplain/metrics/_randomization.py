"""Sanity check by model randomization (Adebayo et al. 2018): explanations must change."""

import copy
import sys

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state

from ._common import explain_flat
from ._consistency import ranking_agreement

METHODS = ("auto", "cascading", "labels")


def model_randomization_test(
    explainer, X, *, X_reference=None, target=None, method="auto", X_train=None,
    y_train=None, metric="spearman", k=10, random_state=None,
):
    """Compare explanations of the trained model with those of randomized models.

    An explanation that reflects what the model learned must change when the learned
    parameters are destroyed; one that does not (e.g. an edge detector on the input) fails
    the check. Two randomizations of Adebayo et al. are available:

    - "cascading" (model parameter randomization): layers are re-initialised one at a time
      from the output layer down, cumulatively; one row per step. Supported for torch
      ``nn.Module`` models (each module with its own parameters is a layer, re-initialised
      by its ``reset_parameters`` or, without one, by a normal draw with the parameter's
      standard deviation), skorch nets (their ``module_``), sklearn's MLPClassifier /
      MLPRegressor (``coefs_`` and ``intercepts_`` redrawn with sklearn's Glorot-uniform
      initialisation) and sklearn Pipelines ending in one of these.
    - "labels" (data randomization): an unfitted clone of the model (a scikit-learn or
      skorch estimator) is refitted on ``(X_train, y_train)`` with the labels shuffled;
      one row.

    "auto" uses "cascading" where it is supported, "labels" otherwise. Each explainer (the
    original one included) is an unfitted clone of ``explainer`` fitted on ``X_reference``
    with the model swapped, and every model is explained for the same outputs as the
    trained one. The result's ``similarity`` is the mean :func:`ranking_agreement` with the
    trained model's explanation: it should drop far below the agreement of repeated
    explanations of the trained model (:func:`seed_consistency`).

    Parameters
    ----------
    explainer : explainer
        A :class:`skexplain.BaseExplainer` (fitted or not) whose ``model`` is trained.
    X : array-like of shape (n_samples, *feature_shape)
        Instances to explain.
    X_reference : array-like, optional
        Reference data for fitting the explainers; default X.
    target : None, int, label or array-like, default=None
        Output to explain, resolved on the trained model and then kept for every model.
    method : {"auto", "cascading", "labels"}, default="auto"
        Randomization, see above.
    X_train, y_train : array-like, optional
        Training data, required by "labels".
    metric : {"spearman", "top_k"}, default="spearman"
        See :func:`ranking_agreement`.
    k : int, default=10
        Number of top features for "top_k".
    random_state : int, RandomState instance or None, default=None
        Seeds the re-initialisations and the label shuffle.

    Returns
    -------
    result : pandas.DataFrame
        Columns ``randomized`` (the layers randomized so far, or "shuffled labels") and
        ``similarity``, one row per randomized model.

    Raises
    ------
    ValueError
        If the method is unknown, "cascading" is not supported for the model, or "labels"
        lacks training data.
    TypeError
        If the model can be neither re-initialised nor refitted.

    References
    ----------
    Adebayo, Gilmer, Muelly, Goodfellow, Hardt & Kim, "Sanity checks for saliency maps",
    NeurIPS 2018.
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {list(METHODS)}.")
    reference = X if X_reference is None else X_reference
    rng = check_random_state(random_state)
    model = explainer.model
    cascade = _cascade(model, rng) if method != "labels" else None
    if cascade is None and method == "cascading":
        raise ValueError(
            f"Cascading randomization is not supported for a {type(model).__name__}; use "
            "method='labels' with X_train and y_train."
        )
    stages = cascade if cascade is not None else _shuffled_labels(model, X_train, y_train, rng)
    original = clone(explainer).fit(reference)
    _, values, target = explain_flat(original, X, target)
    rows = []
    for name, randomized in stages:
        randomized_explainer = clone(explainer).set_params(model=randomized).fit(reference)
        _, moved, _ = explain_flat(randomized_explainer, X, target)
        rows.append((name, ranking_agreement(values, moved, metric=metric, k=k).mean()))
    return pd.DataFrame(rows, columns=["randomized", "similarity"])


def _cascade(model, rng):
    """Generator of (name, model) with layers re-initialised top-down, or None if unsupported.

    The same copy is randomized further at each step, so consume each model before the next.
    """
    if isinstance(model, Pipeline):
        final = _cascade_target(model.steps[-1][1])
        if final is None:
            return None
        copied = copy.deepcopy(model)
        step, estimator = copied.steps[-1]
        return ((f"{step}: {name}", copied) for name, _ in _cascade_layers(estimator, rng))
    if _cascade_target(model) is None:
        return None
    copied = copy.deepcopy(model)
    return ((name, copied) for name, _ in _cascade_layers(copied, rng))


def _cascade_target(model):
    if _torch_module(model) is not None:
        return "torch"
    if hasattr(model, "coefs_") and hasattr(model, "intercepts_"):
        return "mlp"
    return None


def _torch_module(model):
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    if isinstance(model, torch.nn.Module):
        return model
    module = getattr(model, "module_", None)  # a fitted skorch net
    return module if isinstance(module, torch.nn.Module) else None


def _cascade_layers(model, rng):
    """Re-initialise the layers of ``model`` in place from the top, yielding after each."""
    module = _torch_module(model)
    if module is not None:
        layers = [(name or type(layer).__name__, layer) for name, layer in
                  module.named_modules() if next(layer.parameters(recurse=False), None)
                  is not None]
        done = []
        for name, layer in reversed(layers):
            _reset_torch_layer(layer, int(rng.randint(np.iinfo(np.int32).max)))
            done.append(name)
            yield ", ".join(done), model
        return
    done = []
    for i in reversed(range(len(model.coefs_))):
        fan_in, fan_out = model.coefs_[i].shape
        bound = np.sqrt((2.0 if model.activation == "logistic" else 6.0) / (fan_in + fan_out))
        dtype = model.coefs_[i].dtype
        model.coefs_[i] = rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype)
        model.intercepts_[i] = rng.uniform(-bound, bound, fan_out).astype(dtype)
        done.append(f"coefs_[{i}]")
        yield ", ".join(done), model


def _reset_torch_layer(layer, seed):
    import torch

    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        if hasattr(layer, "reset_parameters"):
            layer.reset_parameters()
            return
        for param in layer.parameters(recurse=False):
            std = float(param.std()) if param.numel() > 1 else 1.0
            torch.nn.init.normal_(param, std=std)


def _shuffled_labels(model, X_train, y_train, rng):
    if X_train is None or y_train is None:
        raise ValueError(
            "Label randomization refits the model on shuffled labels: pass X_train and "
            "y_train."
        )
    if not hasattr(model, "fit") or not hasattr(model, "get_params"):
        raise TypeError(
            f"Cannot randomize a {type(model).__name__}: it has no layers to re-initialise "
            "and is not an estimator that can be refitted."
        )
    y_shuffled = rng.permutation(np.asarray(y_train))
    return [("shuffled labels", clone(model).fit(X_train, y_shuffled))]
