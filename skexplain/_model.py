"""Turn any supported model into one batched scoring function.

This is the single place where skexplain decides how to call a model: a fitted scikit-learn
estimator (``predict_proba``, else ``decision_function``, else ``predict``), a skorch net, a
torch ``nn.Module`` or a plain callable. Every explainer goes through :class:`ScoreFunction`.
"""

import copy
import sys
import warnings

import numpy as np


class ScoreFunction:
    """Batched model scores on flattened inputs.

    Parameters
    ----------
    model : estimator, skorch net, torch.nn.Module or callable
        A fitted model. Callables receive an array of shape ``(batch, *feature_shape)``
        and return scores of shape ``(batch,)`` or ``(batch, n_outputs)``.
    feature_shape : tuple of int
        Shape of one instance as the model expects it, e.g. ``(n_genes,)`` or ``(4, L)``.
    device : str, torch.device or None, default=None
        Where a torch module or skorch net is run: None keeps the model's own device (that
        of its parameters, or a skorch net's ``device``); another device runs a deep copy
        moved there, so the user's model is never moved.

    Attributes
    ----------
    model : estimator, skorch net, torch.nn.Module or callable
        The model called: the one given, or its copy on ``device``.
    device : str, torch.device or None
        As given.
    output_names : ndarray of shape (n_outputs,) or None
        Class labels of a classifier, when the model has them.

    Raises
    ------
    ValueError
        If ``device`` is given for a model that is neither a torch module nor a skorch net,
        or names CUDA on a machine without it.
    """

    def __init__(self, model, feature_shape, device=None):
        self.feature_shape = tuple(feature_shape)
        self.model = _on_device(model, device)
        self.device = device
        self.kind, self._method = _resolve(self.model)
        self.output_names = _output_names(self.model, self._method)

    def __call__(self, X):
        """Score a batch.

        Parameters
        ----------
        X : ndarray of shape (batch, n_features)
            Flattened instances.

        Returns
        -------
        scores : ndarray of shape (batch, n_outputs), float64
        """
        X = np.asarray(X).reshape((X.shape[0],) + self.feature_shape)
        if self.kind == "torch":
            scores = _call_torch(self.model, X, self.device)
        elif self.kind == "skorch":
            scores = self._method(X.astype(np.float32, copy=False))
        elif self.kind == "sklearn":
            scores = self._method(_as_model_frame(self.model, X))
        else:
            scores = self._method(X)
        scores = np.asarray(scores, dtype=np.float64)
        if scores.ndim == 1:
            scores = scores[:, None]
        if scores.ndim != 2 or scores.shape[0] != X.shape[0]:
            raise ValueError(
                f"The model returned scores of shape {scores.shape} for a batch of "
                f"{X.shape[0]} inputs; expected (batch,) or (batch, n_outputs)."
            )
        return scores

    def resolve_target(self, target, scores):
        """Return one output index per instance.

        Parameters
        ----------
        target : None, int, label or array-like of shape (n_samples,)
            None explains the highest-scoring output of each instance. An ``int`` is an output
            index (as in captum); any other value is looked up among the class labels
            (``output_names``). An array gives one target per instance.
        scores : ndarray of shape (n_samples, n_outputs)
            Model scores of the instances to explain.

        Returns
        -------
        target : ndarray of shape (n_samples,), int

        Raises
        ------
        ValueError
            If an index is out of range, a label is unknown or the array has the wrong length.
        """
        n_samples, n_outputs = scores.shape
        if target is None:
            return np.argmax(scores, axis=1)
        if np.ndim(target) == 0:
            return np.full(n_samples, self._target_index(target, n_outputs), dtype=int)
        target = np.asarray(target)
        if target.shape != (n_samples,):
            raise ValueError(
                f"target has shape {target.shape}; expected a scalar or one target per "
                f"instance, shape ({n_samples},)."
            )
        return np.array([self._target_index(t, n_outputs) for t in target], dtype=int)

    def _target_index(self, target, n_outputs):
        if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
            if not 0 <= target < n_outputs:
                raise ValueError(
                    f"target index {target} is out of range: the model has {n_outputs} "
                    f"output(s), valid indices are 0..{n_outputs - 1}."
                )
            return int(target)
        names = [] if self.output_names is None else list(self.output_names)
        if target not in names:
            raise ValueError(f"Unknown target {target!r}; the model's outputs are {names}.")
        return names.index(target)


def _resolve(model):
    """Return (kind, bound scoring method) for a model."""
    if _is_torch_module(model):
        return "torch", None
    kind = "skorch" if _is_skorch_net(model) else "sklearn"
    for name in ("predict_proba", "decision_function", "predict"):
        method = getattr(model, name, None)
        if method is not None:
            return kind, method
    if callable(model):
        return "callable", model
    raise TypeError(
        f"Cannot explain a {type(model).__name__}: expected a fitted scikit-learn estimator, "
        "a skorch net, a torch.nn.Module or a callable f(X) -> scores."
    )


def _on_device(model, device):
    """The model itself, or a deep copy of a torch module or skorch net moved to device."""
    if device is None:
        return model
    if not (_is_torch_module(model) or _is_skorch_net(model)):
        raise ValueError(
            f"device={device!r} applies to torch modules and skorch nets only; a "
            f"{type(model).__name__} runs where it is. Leave device=None."
        )
    import torch

    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} was asked for, but CUDA is not available.")
    if _is_torch_module(model):
        param = next(model.parameters(), None)
        if param is not None and param.device == device:
            return model
        return copy.deepcopy(model).to(device)
    if model.device is not None and torch.device(model.device) == device:
        return model
    net = copy.deepcopy(model)
    # Set directly: set_params(device=...) would re-initialize the fitted module.
    net.device = device
    net.module_.to(device)
    return net


def _output_names(model, method):
    if method is None or getattr(method, "__name__", "") == "predict":
        return None
    classes = getattr(model, "classes_", None)
    if classes is None:
        return None
    classes = np.asarray(classes)
    if method.__name__ == "decision_function" and len(classes) == 2:
        return classes[1:]  # a binary decision function scores the positive class only
    return classes


# A model can only be a torch module or skorch net if that library is already imported, so
# looking in sys.modules avoids importing torch for scikit-learn models and callables.
def _is_torch_module(model):
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)


def _is_skorch_net(model):
    skorch = sys.modules.get("skorch")
    return skorch is not None and isinstance(model, skorch.NeuralNet)


def _as_model_frame(model, X):
    """Give a model fitted on a DataFrame its column names back (avoids sklearn's warning)."""
    names = getattr(model, "feature_names_in_", None)
    if names is None or X.ndim != 2:
        return X
    import pandas as pd

    return pd.DataFrame(X, columns=names, copy=False)


def _call_torch(module, X, device=None):
    """Run a torch module on X, on the device and in the dtype of its parameters.

    ``device`` is used only by a module without parameters (the CPU when None).
    """
    import torch

    if module.training:
        warnings.warn(
            "The torch module is in training mode; dropout and batch norm make its outputs "
            "random. Call model.eval() before explaining it.",
            UserWarning,
            stacklevel=3,
        )
    param = next(module.parameters(), None)
    dtype = torch.float32 if param is None else param.dtype
    if param is not None:
        device = param.device
    elif device is None:
        device = "cpu"
    with torch.no_grad():
        out = module(torch.as_tensor(X, dtype=dtype, device=device))
    return out.detach().to("cpu", torch.float64).numpy()
