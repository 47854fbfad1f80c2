"""The model adapter: the only place where a model becomes scores.

A fitted scikit-learn estimator or pipeline, a skorch net, a torch ``nn.Module`` or a plain
callable is resolved once, here, into: batched float64 scores of the explained ``output``, the
torch module and a differentiable output head (for gradient methods), output names, targets,
and the dtype and device rows are built in. Torch models always run in eval mode with in-place
activations off, and get their own mode back afterwards; parameters, buffers and
``requires_grad`` flags are never touched.

The one rule for ``output="auto"``: a torch module or skorch net is explained in its own raw
output (logits), a scikit-learn classifier in ``predict_proba``, a regressor in ``predict``
and a callable in what it returns.
"""

import copy
import inspect
import sys
import warnings
from contextlib import contextmanager
from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import StrOptions

OUTPUTS = ("auto", "probability", "logit", "log_odds")
OUTPUT_ALIASES = {"probabilities": "probability", "logits": "logit"}
_EPS = 1e-12

OUTPUT_DOC = """    output : {"auto", "probability", "logit", "log_odds"} or callable, \
default="auto"
        The explained quantity, the same rule in every explainer: "auto" explains a torch
        module or skorch net in its raw outputs (logits), a scikit-learn classifier in
        ``predict_proba``, a regressor in ``predict`` and a callable in what it returns.
        "probability" applies the net's predict nonlinearity (a sigmoid for one output or a
        multi-label net, a softmax otherwise) or calls ``predict_proba``; "logit" is the raw
        output or ``decision_function``; "log_odds" is ``log(p / (1 - p))`` of the
        probabilities. A binary classifier with a single logit ``z`` gets two columns,
        ``(-z, z)`` (or ``(1 - p, p)``). A callable receives the model's raw output (a tensor,
        or a tuple of them, for torch; an array otherwise) and returns scores of shape
        (batch,) or (batch, n_outputs): use it for profile models (BPNet-style) to reduce a
        (batch, tracks, length) profile or pick one head of a tuple. The quantity used is
        recorded in ``info["output"]``. "probabilities" and "logits" are deprecated aliases."""


OUTPUT_CONSTRAINT = [
    StrOptions(set(OUTPUTS) | set(OUTPUT_ALIASES), deprecated=set(OUTPUT_ALIASES)), callable,
]


def canonical_output(output):
    """The output rule's canonical name; deprecated aliases warn (FutureWarning)."""
    if callable(output):
        return output
    if output in OUTPUT_ALIASES:
        warnings.warn(
            f"output={output!r} is deprecated; use output={OUTPUT_ALIASES[output]!r} (same "
            "result).",
            FutureWarning,
            stacklevel=4,
        )
        return OUTPUT_ALIASES[output]
    if output not in OUTPUTS:
        raise ValueError(
            f"output must be one of {OUTPUTS} or a callable, got {output!r}."
        )
    return output


def is_torch_module(model):
    # A model can only be a torch module if torch is already imported: looking in
    # sys.modules avoids importing torch for scikit-learn models and callables.
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)


def is_skorch_net(model):
    skorch = sys.modules.get("skorch")
    return skorch is not None and isinstance(model, skorch.NeuralNet)


def model_kind(model):
    """"torch", "skorch", "sklearn" or "callable".

    Raises
    ------
    TypeError
        If the model is none of these.
    """
    if is_torch_module(model):
        return "torch"
    if is_skorch_net(model):
        return "skorch"
    if any(hasattr(model, m) for m in ("predict_proba", "decision_function", "predict")):
        return "sklearn"
    if callable(model):
        return "callable"
    raise TypeError(
        f"Cannot explain a {type(model).__name__}: expected a fitted scikit-learn estimator, "
        "a skorch net, a torch.nn.Module or a callable f(X) -> scores."
    )


def torch_module_of(model, explainer_name="This explainer"):
    """The torch module of a skorch net or an ``nn.Module`` (the object itself, not a copy).

    Raises
    ------
    TypeError
        If the model is neither (a scikit-learn estimator or plain callable).
    ValueError
        If a skorch net is not initialized.
    """
    kind = model_kind(model)
    if kind == "torch":
        return model
    if kind == "skorch":
        module = getattr(model, "module_", None)
        if module is None:
            raise ValueError(
                f"The skorch net given to {explainer_name} is not fitted (it has no module_)."
            )
        return module
    raise TypeError(
        f"{explainer_name} needs gradients, so a torch model: a fitted skorch net or a "
        f"torch.nn.Module, got a {type(model).__name__}. To explain a scikit-learn model or "
        "a plain callable, use a model-agnostic explainer such as SensX or a perturbation "
        "method (Occlusion, InSilicoMutagenesis, KernelShap)."
    )


class ModelAdapter:
    """One model, seen as batched scores of the explained output.

    Parameters
    ----------
    model : estimator, pipeline, skorch net, torch.nn.Module or callable
        A fitted model. Callables receive an array of shape ``(batch, *feature_shape)``.
    feature_shape : tuple of int
        Shape of one instance as the model expects it, e.g. ``(n_genes,)`` or ``(4, L)``.
    output : {"auto", "probability", "logit", "log_odds"} or callable, default="auto"
        See ``OUTPUT_DOC``.
    device : str, torch.device or None, default=None
        Where a torch model runs: None keeps its own device; another device runs a deep copy
        moved there, so the user's model is never moved.
    name : str, default="explainer"
        Named in error messages (the explainer's class name).

    Attributes
    ----------
    kind : {"torch", "skorch", "sklearn", "callable"}
    output : str or callable
        The canonical output rule asked for ("auto" included).
    resolved_output : str
        What "auto" became: "logit", "probability", "prediction" or "callable".
    module : torch.nn.Module or None
        The torch module (of a skorch net), on ``device``.
    """

    def __init__(self, model, feature_shape, *, output="auto", device=None, name="explainer"):
        self.feature_shape = tuple(feature_shape)
        self.name = name
        self.kind = model_kind(model)
        self.output = canonical_output(output)
        self.model = _on_device(model, self.kind, device)
        self.module = torch_module_of(self.model, name) if self.kind in ("torch", "skorch") \
            else None
        self._method = None if self.module is not None else self._numpy_method()
        self._check_width()
        self.resolved_output = self._resolve_output()
        self._model_args = None
        self.n_outputs = None  # known after the first call

    # --- what is explained ------------------------------------------------------------------

    def _numpy_method(self):
        if self.kind == "callable":
            if self.output not in ("auto",) and not callable(self.output):
                raise ValueError(
                    f"output={self.output!r} needs a classifier; a plain callable is explained "
                    "in what it returns: use output='auto' or a callable reduction."
                )
            return self.model
        wanted = {
            "probability": ("predict_proba",),
            "log_odds": ("predict_proba",),
            "logit": ("decision_function",),
        }.get(self.output, ("predict_proba", "decision_function", "predict"))
        if self.output == "auto" and not _is_classifier(self.model):
            wanted = ("predict",)
        for name in wanted:
            # getattr returns None where sklearn's available_if hides a method.
            method = getattr(self.model, name, None)
            if callable(method):
                return method
        raise ValueError(
            f"output={self.output!r} needs {' or '.join(wanted)}, which the "
            f"{type(self.model).__name__} given to {self.name} does not have."
        )

    def _check_width(self):
        """A fitted scikit-learn model knows its input width: data of another width is an
        error here, not a confusing one inside the model (or none, where it is not called)."""
        expected = getattr(self.model, "n_features_in_", None) if self.kind == "sklearn" \
            else None
        n_features = int(np.prod(self.feature_shape))
        if isinstance(expected, Integral) and expected != n_features:
            raise ValueError(
                f"X has {n_features} features per instance, but the "
                f"{type(self.model).__name__} given to {self.name} was fitted on {expected} "
                "features."
            )

    def _resolve_output(self):
        if callable(self.output):
            return "callable"
        if self.module is not None:
            return "logit" if self.output == "auto" else self.output
        if self.kind == "callable":
            return "callable"
        return {"predict_proba": "probability", "decision_function": "logit",
                "predict": "prediction"}[self._method.__name__] if self.output == "auto" \
            else self.output

    @property
    def classes(self):
        classes = getattr(self.model, "classes_", None)
        return None if classes is None else np.asarray(classes)

    @property
    def output_names(self):
        """Names of the score columns (class labels where they match); None if unknown."""
        return None if self.n_outputs is None else self.names_for(self.n_outputs)

    def names_for(self, n_outputs):
        """Names of n_outputs score columns: class labels where they match, else None."""
        if self.resolved_output in ("prediction", "callable"):
            return None
        classes = self.classes
        if classes is not None and len(classes) == n_outputs:
            return classes
        return None

    def describe(self):
        """The explained quantity, as recorded in ``info["output"]``."""
        if callable(self.output):
            return getattr(self.output, "__name__", "callable")
        return self.resolved_output

    # --- torch side -------------------------------------------------------------------------

    @property
    def device(self):
        import torch

        param = next(self.module.parameters(), None)
        return torch.device("cpu") if param is None else param.device

    @property
    def dtype(self):
        """dtype rows are built in: the module's parameters' (torch), else float64."""
        if self.module is None:
            return np.float64
        import torch

        param = next(self.module.parameters(), None)
        return torch.float32 if param is None else param.dtype

    def tensor(self, array):
        """A numpy array (or tensor) as a tensor in the module's dtype and on its device."""
        import torch

        return torch.as_tensor(np.asarray(array) if not isinstance(array, torch.Tensor)
                               else array, dtype=self.dtype, device=self.device)

    @contextmanager
    def inference(self):
        """Eval mode with in-place activations off; the user's settings come back afterwards.

        Explanations of a module in training mode would depend on dropout draws and batch
        statistics (and would update BatchNorm's running statistics); in-place activations
        overwrite the inputs that attribution hooks read.
        """
        if self.module is None:
            yield
            return
        modules = list(self.module.modules())
        training = [m.training for m in modules]
        was_training = any(training)
        inplace = [m for m in modules if getattr(m, "inplace", False) is True]
        if was_training:  # (eval() on a module in eval mode still costs a setattr each)
            self.module.eval()
        for m in inplace:
            m.inplace = False
        try:
            yield
        finally:
            if was_training:
                for m, flag in zip(modules, training, strict=True):
                    m.training = flag
            for m in inplace:
                m.inplace = True

    def with_args(self, model_args, n_samples):
        """A copy whose forward gets ``model_args`` rows (sample axis first) of n_samples."""
        adapter = copy.copy(self)
        adapter._model_args = _check_model_args(model_args, n_samples, self)
        return adapter

    def forward(self, rows, owner=None):
        """Explained scores of a batch of rows, differentiable: tensor (batch, n_outputs).

        Parameters
        ----------
        rows : torch.Tensor of shape (batch, *feature_shape)
        owner : array-like of int of shape (batch,), optional
            The explained instance each row belongs to: picks its ``model_args`` rows.
        """
        args = ()
        if self._model_args is not None:
            args = tuple(self._rows_of(a, self._owner_index(owner, len(rows)))
                         for a in self._model_args)
        raw = self.module(rows, *args)
        return self._apply_head(raw, len(rows))

    def head(self, raw):
        """The output head applied to a raw torch output of any batch size (differentiable).

        For forward passes whose batch differs from their input's (a layer's output replaced
        by a batch of activations).
        """
        batch = raw[0] if isinstance(raw, (tuple, list)) else raw
        return self._apply_head(raw, len(batch))

    def with_module(self, module):
        """A copy of the adapter whose forward runs ``module`` (e.g. a private network copy)."""
        adapter = copy.copy(self)
        adapter.module = module
        return adapter

    def _owner_index(self, owner, n_rows):
        if owner is not None:
            return np.asarray(owner)
        if n_rows == len(self._model_args[0]):
            return np.arange(n_rows)  # the rows are the explained instances themselves
        raise ValueError(
            f"{self.name} called a model with model_args on {n_rows} rows without saying "
            "which instance each row belongs to (owner)."
        )

    @staticmethod
    def _rows_of(arg, index):
        import torch

        return arg.index_select(0, torch.as_tensor(index, device=arg.device))

    def _apply_head(self, raw, n_rows):
        import torch

        if callable(self.output):
            scores = self.output(raw)
        else:
            if isinstance(raw, torch.Tensor) and raw.ndim == 1 and len(raw) == n_rows:
                raw = raw[:, None]  # one score per row, e.g. a binary skorch net's logit
            if not isinstance(raw, torch.Tensor) or raw.ndim != 2:
                shape = tuple(raw.shape) if isinstance(raw, torch.Tensor) else type(raw).__name__
                raise ValueError(
                    f"The torch model of {self.name} returned outputs of shape {shape}; "
                    f"output={self.output!r} needs (batch, n_outputs). For a profile or tuple "
                    "output, pass output=callable reducing it to (batch, n_outputs)."
                )
            scores = self._torch_head(raw)
        if scores.ndim == 1:
            scores = scores[:, None]
        if scores.ndim != 2 or scores.shape[0] != n_rows:
            raise ValueError(
                f"The output of {self.name}'s model has shape {tuple(scores.shape)} for "
                f"{n_rows} rows; expected (batch,) or (batch, n_outputs)."
            )
        return scores

    def _torch_head(self, raw):
        import torch

        binary = self.classes is not None and len(self.classes) == 2 and raw.shape[1] == 1
        if binary:
            raw = torch.cat([-raw, raw], dim=1)
        if self.resolved_output == "logit":
            return raw
        activation = self._activation(raw.shape[1], binary)
        if activation == "sigmoid" and self.resolved_output == "log_odds":
            return raw  # the log-odds of a sigmoid unit is its logit
        if activation == "sigmoid":
            p = torch.sigmoid(raw)
        elif activation == "softmax":
            p = torch.softmax(raw, dim=1)
        else:
            p = activation(raw)
        if self.resolved_output == "log_odds":
            p = p.clamp(_EPS, 1 - _EPS)
            return torch.log(p) - torch.log1p(-p)
        return p

    def _activation(self, n_raw, binary):
        """The net's predict nonlinearity: "sigmoid", "softmax" or skorch's callable."""
        from torch import nn

        if binary:
            return "sigmoid"
        if self.kind != "skorch":
            return "sigmoid" if n_raw == 1 else "softmax"
        if isinstance(getattr(self.model, "criterion_", None), nn.BCEWithLogitsLoss):
            return "sigmoid"
        return self.model._get_predict_nonlinearity()

    @property
    def needs_model_args(self):
        """Whether a torch model's forward requires inputs besides x (``model_args``)."""
        if self.module is None:
            return False
        try:
            parameters = inspect.signature(self.module.forward).parameters.values()
        except (TypeError, ValueError):
            return False
        positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        return sum(p.kind in positional and p.default is p.empty for p in parameters) > 1

    @property
    def head_is_linear(self):
        """Whether the output head is linear (DeepLIFT and CAM pass through it exactly)."""
        return self.resolved_output == "logit"

    # --- numpy side -------------------------------------------------------------------------

    def scores(self, X, owner=None):
        """Scores of a batch of flattened rows: float64 ndarray (batch, n_outputs), checked.

        Raises
        ------
        ValueError
            If the model returns NaN or infinite scores (naming the rows) or a wrong shape.
        """
        X = np.asarray(X)
        X = X.reshape((X.shape[0],) + self.feature_shape)
        if self.module is not None:
            import torch

            with self.inference(), torch.no_grad():
                scores = self.forward(self.tensor(X), owner)
            scores = scores.detach().to("cpu", torch.float64).numpy()
        else:
            scores = self._numpy_scores(X)
        scores = check_scores(scores, len(X), self.name, self.model)
        self.n_outputs = scores.shape[1]
        return scores

    def _numpy_scores(self, X):
        if self.kind == "sklearn":
            X = _as_model_frame(self.model, X)
        return self.numpy_output(self._method(X))

    def numpy_output(self, raw):
        """Scores (float64) from what a numpy model's method returned, in the output rule."""
        if callable(self.output):
            return np.asarray(self.output(raw), dtype=np.float64)
        scores = np.asarray(raw, dtype=np.float64)
        if self.resolved_output == "log_odds":
            p = np.clip(scores, _EPS, 1 - _EPS)
            return np.log(p) - np.log1p(-p)
        if self.resolved_output == "logit" and scores.ndim == 1 and self.classes is not None \
                and len(self.classes) == 2:
            return np.stack([-scores, scores], axis=1)
        return scores

    def __call__(self, X, owner=None):
        return self.scores(X, owner)

    def resolve_target(self, target, scores):
        """One output index per instance.

        Parameters
        ----------
        target : None, int, label or array-like of shape (n_samples,)
            None explains each instance's highest-scoring output. An ``int`` is an output
            index (as in captum, even when class labels are integers); any other value is a
            class label. An array gives one target per instance.
        scores : ndarray of shape (n_samples, n_outputs)

        Returns
        -------
        target : ndarray of shape (n_samples,), int

        Raises
        ------
        ValueError
            If an index is out of range, a label is unknown or the array has the wrong length.
        """
        n_samples, n_outputs = scores.shape
        names = self.names_for(n_outputs)
        if target is None:
            return np.argmax(scores, axis=1)
        if np.ndim(target) == 0:
            return np.full(n_samples, target_index(target, n_outputs, names), dtype=int)
        # A list keeps each entry's own type (np.asarray would turn [label, 0] into strings).
        target = target if isinstance(target, np.ndarray) else np.asarray(target, dtype=object)
        if target.shape != (n_samples,):
            raise ValueError(
                f"target has shape {target.shape}; expected a scalar or one target per "
                f"instance, shape ({n_samples},)."
            )
        return np.array([target_index(t, n_outputs, names) for t in target], dtype=int)


def target_index(target, n_outputs, names=None):
    """Index of one target among n_outputs: ints are indices, other values class labels.

    Raises
    ------
    ValueError
        If an index is out of range or a label is not among ``names``.
    """
    if isinstance(target, Integral) and not isinstance(target, bool):
        if not 0 <= target < n_outputs:
            raise ValueError(
                f"target index {target} is out of range: the model has {n_outputs} output(s), "
                f"valid indices are 0..{n_outputs - 1}."
            )
        return int(target)
    names = [] if names is None else list(names)
    if target not in names:
        raise ValueError(f"Unknown target {target!r}; the model's outputs are {names}.")
    return names.index(target)


def target_indices(target, n_outputs, names=None):
    """Indices of several targets (model-level methods): None means every output."""
    if target is None:
        return np.arange(n_outputs)
    return np.array([target_index(t, n_outputs, names)
                     for t in np.atleast_1d(np.asarray(target, dtype=object))], dtype=int)


def check_scores(scores, n_rows, name="explainer", model=None):
    """Scores as float64 (n_rows, n_outputs); ValueError on a wrong shape, NaN or infinity."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        scores = scores[:, None]
    model_name = type(model).__name__ if model is not None else "model"
    if scores.ndim != 2 or scores.shape[0] != n_rows:
        raise ValueError(
            f"The {model_name} explained by {name} returned scores of shape {scores.shape} "
            f"for a batch of {n_rows} rows; expected (batch,) or (batch, n_outputs)."
        )
    check_finite(scores, "scores", name, model)
    return scores


def check_finite(values, what, name="explainer", model=None):
    """Raise a ValueError naming the model and the rows if ``values`` has NaN or infinity.

    Parameters
    ----------
    values : array-like of shape (n_rows, ...)
    what : str
        What the values are, e.g. "scores" or "layer activations" (named in the message).
    name : str
        The explainer.
    model : object, optional
        The explained model (its class is named).

    Returns
    -------
    values : ndarray
    """
    values = np.asarray(values)
    if np.isfinite(values).all():
        return values
    rows = np.flatnonzero(~np.isfinite(values.reshape(len(values), -1)).all(axis=1))
    shown = ", ".join(map(str, rows[:10])) + (", ..." if len(rows) > 10 else "")
    model_name = type(model).__name__ if model is not None else "model"
    raise ValueError(
        f"The {model_name} explained by {name} returned NaN or infinite {what} for "
        f"{len(rows)} of {len(values)} rows (rows {shown}); explanations of non-finite "
        "values are meaningless."
    )


def _check_model_args(model_args, n_samples, adapter):
    if model_args is None:
        return None
    if adapter.module is None:
        raise ValueError(
            f"model_args are extra inputs of a torch forward; the {adapter.kind} model given "
            f"to {adapter.name} takes none."
        )
    if not isinstance(model_args, (tuple, list)):
        model_args = (model_args,)
    out = []
    for i, arg in enumerate(model_args):
        tensor = adapter.tensor(arg)
        if tensor.ndim == 0 or tensor.shape[0] != n_samples:
            raise ValueError(
                f"model_args[{i}] has shape {tuple(tensor.shape)}; expected the sample axis "
                f"first with one row per explained instance ({n_samples})."
            )
        out.append(tensor)
    return tuple(out)


def _is_classifier(model):
    from sklearn.base import is_classifier

    return is_classifier(model) or hasattr(model, "predict_proba")


def _on_device(model, kind, device):
    """The model itself, or a deep copy of a torch module or skorch net moved to device."""
    if device is None:
        return model
    if kind not in ("torch", "skorch"):
        raise ValueError(
            f"device={device!r} applies to torch modules and skorch nets only; a "
            f"{type(model).__name__} runs where it is. Leave device=None."
        )
    import torch

    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} was asked for, but CUDA is not available.")
    module = torch_module_of(model)
    param = next(module.parameters(), None)
    if param is not None and param.device == device:
        return model
    if kind == "torch":
        return copy.deepcopy(model).to(device)
    net = copy.deepcopy(model)
    # Set directly: set_params(device=...) would re-initialize the fitted module.
    net.device = device
    net.module_.to(device)
    return net


def _as_model_frame(model, X):
    """Give a model fitted on a DataFrame its column names back (avoids sklearn's warning)."""
    names = getattr(model, "feature_names_in_", None)
    if names is None or X.ndim != 2:
        return X
    import pandas as pd

    return pd.DataFrame(X, columns=names, copy=False)
