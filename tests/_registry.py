"""Every public estimator of skexplain, and how to build each explainer on tiny data.

``all_estimators()`` walks skexplain's public subpackages (like sklearn's ``all_estimators``)
and returns every public class deriving from :class:`sklearn.base.BaseEstimator`.
``CASES`` gives, per explainer class, a :class:`Case`: a factory building it on a tiny fitted
model and tiny data, and how to fit and explain it under the target contract (issue 16):

- local explainers: ``fit(X)``, ``explain(X, target)``, sample axis first;
- model-level explainers: ``explain(X=None, target=None)``, target None = every class;
- example-based explainers: ``fit(X, y)``, ``explain(X, y=None)``.

Models: a logistic regression on 5 float64 features (3 string classes) for the model-agnostic
explainers; a tiny torch CNN (conv, BatchNorm, ReLU, global average pool, linear; 2 logits) on
one-hot sequences of shape (n, 4, 12) for the gradient and sequence explainers; a one-layer
transformer for attention maps. Each build takes well under a second.
"""

import importlib
import inspect
import pkgutil
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from torch import nn

import skexplain
from skexplain.models import SequenceTransformer

LENGTH = 12
CLASSES = np.array(["a", "b", "c"])
EXPLAINER_BASES = ("Explainer", "LocalExplainer", "ModelLevelExplainer", "ExampleExplainer",
                   "BaseExplainer")


# --- discovery -------------------------------------------------------------------------------

def public_modules():
    """skexplain and its public subpackages and modules (no component starting with "_")."""
    modules = [skexplain]
    for info in pkgutil.walk_packages(skexplain.__path__, "skexplain."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        try:
            modules.append(importlib.import_module(info.name))
        except ImportError as error:  # an optional extra that is not installed
            if "skexplain" in str(error):
                raise
    return modules


def all_estimators():
    """{name: class} of every public estimator class of skexplain (sklearn BaseEstimator)."""
    found = {}
    for module in public_modules():
        for name, obj in inspect.getmembers(module, inspect.isclass):
            if name.startswith("_") or not obj.__module__.startswith("skexplain"):
                continue
            if not issubclass(obj, BaseEstimator) or obj.__module__ == "skexplain._core.base":
                continue
            if name in EXPLAINER_BASES:
                continue
            found[name] = obj
    return dict(sorted(found.items()))


def is_explainer(cls):
    from skexplain._core.base import Explainer

    return issubclass(cls, Explainer)


def all_explainers():
    return {n: c for n, c in all_estimators().items() if is_explainer(c)}


# --- tiny data and models --------------------------------------------------------------------

def tabular_data(n=40, seed=0):
    """X (n, 5) float64 and string labels a/b/c from the first three features."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    y = CLASSES[np.argmax(X[:, :3], axis=1)]
    return X, y


_CACHE = {}


class RowwiseLogisticRegression(LogisticRegression):
    """A logistic regression whose scores of a row do not depend on the other rows.

    sklearn's ``decision_function`` is a BLAS product whose last bits change with the number
    of rows; summing each row's products itself makes a row's score bit-identical in any
    batch, so "batch result == per-row result" can be checked exactly for float64 models.
    """

    def decision_function(self, X):
        X = np.asarray(X, dtype=np.float64)
        scores = (X[:, None, :] * self.coef_[None]).sum(axis=2) + self.intercept_
        return scores[:, 0] if scores.shape[1] == 1 else scores


def logistic_regression():
    if "logreg" not in _CACHE:
        X, y = tabular_data()
        _CACHE["logreg"] = RowwiseLogisticRegression().fit(X, y)
    return _CACHE["logreg"]


def sequence_data(n=16, seed=0):
    """One-hot sequences (n, 4, LENGTH) float32 and int labels (GC content above median)."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 4, (n, LENGTH))
    X = np.ascontiguousarray(np.eye(4, dtype=np.float32)[tokens].transpose(0, 2, 1))
    gc = ((tokens == 1) | (tokens == 2)).sum(axis=1)
    y = (gc > np.median(gc)).astype(np.int64)
    return X, y


class Explodable:
    """Mixin: ``explode = True`` makes forward raise inside the model, after some layers."""

    explode = False

    def _maybe_explode(self):
        if self.explode:
            raise RuntimeError("boom inside the model's forward")


class TinyCNN(Explodable, nn.Module):
    """conv -> BatchNorm -> ReLU -> global average pool -> linear: 2 logits (CAM-able)."""

    def __init__(self, n_outputs=2, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv1d(4, 4, 5, padding=2)
        self.bn = nn.BatchNorm1d(4)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(4, n_outputs)
        with torch.no_grad():  # non-trivial running statistics, so a change is visible
            self.bn.running_mean.copy_(0.1 * torch.arange(4.0))
            self.bn.running_var.copy_(1.0 + 0.2 * torch.arange(4.0))

    def forward(self, x):
        h = self.relu(self.bn(self.conv(x)))
        self._maybe_explode()
        return self.fc(self.flatten(self.pool(h)))


def tiny_cnn(seed=0):
    return TinyCNN(seed=seed).eval()


class TinyTransformer(Explodable, SequenceTransformer):
    """skexplain's SequenceTransformer, explodable."""

    def forward(self, x):
        self._maybe_explode()
        return super().forward(x)


def tiny_transformer(seed=0):
    torch.manual_seed(seed)
    model = TinyTransformer(
        n_outputs=2, input_length=LENGTH,
        architecture=({"filters": 4, "kernel_size": 3, "dropout": 0.0, "pool": 1},),
        n_heads=2, n_layers=1, dim_feedforward=8, encoder_dropout=0.0)
    return model.eval()


def concepts_data():
    """Two concept sets and a random pool of one-hot sequences (for TCAV)."""
    X, _ = sequence_data(n=30, seed=3)
    return {"first": X[:10], "second": X[10:20]}, X[20:30]


def concept_masks(X):
    """Per-position binary masks (n, LENGTH) of two concepts (for NetworkDissection)."""
    tokens = X.argmax(axis=1)
    return {"A": tokens == 0, "GC": (tokens == 1) | (tokens == 2)}


# --- cases -----------------------------------------------------------------------------------

@dataclass
class Case:
    """How to build, fit and explain one explainer class on tiny data.

    Attributes
    ----------
    family : {"local", "model_level", "example"}
    data : {"tabular", "sequence"}
        Tabular: X (n, 5) float64 for a logistic regression; sequence: one-hot (n, 4, 12).
    model : callable
        Returns a fresh fitted model (a new object each call).
    params : dict
        Constructor parameters besides the model (small, fast settings).
    fit_X : {"data", None}
        Whether fit takes X (model-level methods may take none).
    explain_X : bool
        Whether explain takes instances X (model-level ones without probe data take none).
    explain_y : bool
        Whether explain is passed the labels (example-based methods).
    one_hot : bool
        Whether the explainer is declared to take one-hot sequences.
    stochastic : bool
        Whether instances draw random numbers (then one instance alone differs from in a batch).
    """

    cls: type
    family: str
    data: str
    model: object
    params: dict = field(default_factory=dict)
    fit_X: object = "data"
    explain_X: bool = True
    explain_y: bool = False
    one_hot: bool = False
    stochastic: bool = False
    explain_kwargs: dict = field(default_factory=dict)
    deprecated_name: str = None

    @property
    def name(self):
        return self.cls.__name__

    @property
    def float32(self):
        return self.data == "sequence"

    @property
    def is_torch(self):
        return self.data == "sequence"

    def dataset(self):
        """(X_fit, y_fit, X_explain, y_explain)."""
        if self.data == "tabular":
            X, y = tabular_data()
            return X, y, X[:3].copy(), y[:3].copy()
        X, y = sequence_data()
        return X, y, X[:3].copy(), y[:3].copy()

    def make(self, model="default", **params):
        """The explainer, unfitted, on a fresh model (or the one given)."""
        model = self.model() if isinstance(model, str) and model == "default" else model
        params = {**self.params, **params}
        params = {k: (v() if callable(v) and k in _LAZY_PARAMS else v) for k, v in params.items()}
        if "checkpoints" in inspect.signature(self.cls).parameters:
            # checkpoints of the case's own model where the given one has none (unfitted)
            source = model if _has_torch_module(model) else self.model()
            params.setdefault("checkpoints", [
                {k: v.clone() for k, v in torch_module(source).state_dict().items()}])
        return self.cls(model, **params)

    def fit(self, explainer, X=None, y=None):
        X_fit, y_fit, _, _ = self.dataset()
        X = X_fit if X is None else X
        y = y_fit if y is None else y
        if self.family == "example":
            return explainer.fit(X, y)
        if self.fit_X is None:
            return explainer.fit()
        return explainer.fit(X)

    def explain(self, explainer, X=None, target=None, y=None, **kwargs):
        _, _, X_explain, y_explain = self.dataset()
        X = X_explain if X is None else X
        kwargs = {**{k: _of_rows(v, X, X_explain) for k, v in self.explain_kwargs.items()},
                  **kwargs}
        if self.family == "example":
            if self.explain_y:
                n_rows = X.shape[0] if hasattr(X, "shape") else len(X)  # sparse has no len
                return explainer.explain(X, y_explain[:n_rows] if y is None else y, **kwargs)
            return explainer.explain(X, **kwargs) if y is None else explainer.explain(X, y)
        if self.family == "model_level":
            if self.explain_X:
                return explainer.explain(X, target=target, **kwargs)
            return explainer.explain(target=target, **kwargs)
        return explainer.explain(X, target=target, **kwargs)

    def fitted(self, **params):
        return self.fit(self.make(**params))

    def bad_target(self):
        """A target index out of range for this case's model."""
        return 99


def torch_module(model):
    return model if isinstance(model, nn.Module) else model.module_


def _has_torch_module(model):
    return isinstance(model, nn.Module) or getattr(model, "module_", None) is not None


_LAZY_PARAMS = ("concepts", "random_concepts")


def _nd_params():
    """NetworkDissection: concepts (masks of the probe data) go where the class takes them."""
    X, _ = sequence_data()
    return concept_masks(X)


def _build_cases():
    lr = logistic_regression
    seq = dict(data="sequence", model=tiny_cnn)
    tab = dict(data="tabular", model=lambda: _copy(lr()))
    concepts = lambda: concepts_data()[0]  # noqa: E731
    pool = lambda: concepts_data()[1]  # noqa: E731
    from skexplain import explainers as E

    cases = [
        # local, model-agnostic, on the logistic regression
        Case(E.SensX, "local", **tab, stochastic=True,
             params=dict(n_walks=2, delta=0.5, random_state=0), deprecated_name="SensXExplainer"),
        Case(E.Occlusion, "local", **tab, params=dict(window=1)),
        Case(E.Lime, "local", **tab, stochastic=True,
             params=dict(n_samples=40, random_state=0), deprecated_name="LimeExplainer"),
        Case(E.KernelShap, "local", **tab, stochastic=True,
             params=dict(n_background=4, n_samples=40, random_state=0),
             deprecated_name="KernelShapExplainer"),
        Case(E.Anchors, "local", **tab, stochastic=True,
             params=dict(max_anchor_size=2, min_samples_start=20, n_samples_per_pull=20,
                         n_coverage_samples=200, random_state=0),
             deprecated_name="AnchorExplainer"),
        # local, on one-hot sequences and the tiny CNN
        Case(E.InSilicoMutagenesis, "local", **seq, one_hot=True),
        Case(E.Saliency, "local", **seq),
        Case(E.InputXGradient, "local", **seq),
        Case(E.IntegratedGradients, "local", **seq, params=dict(n_steps=8)),
        Case(E.SmoothGrad, "local", **seq, stochastic=True,
             params=dict(n_samples=4, random_state=0)),
        Case(E.DeepLift, "local", **seq),
        Case(E.DeepLiftShap, "local", **seq, stochastic=True,
             params=dict(n_baselines=3, random_state=0)),
        Case(E.GradCAM, "local", **seq),
        Case(E.GradCAMPlusPlus, "local", **seq),
        Case(E.CAM, "local", **seq),
        Case(E.AttentionMaps, "local", data="sequence", model=tiny_transformer,
             deprecated_name="AttentionExplainer"),
        # model-level
        Case(E.GlobalSurrogate, "model_level", **tab, explain_X=False,
             params=dict(max_complexity=4, random_state=0), deprecated_name="SurrogateExplainer"),
        Case(E.DeepResolve, "model_level", **seq, fit_X=None, explain_X=False, stochastic=True,
             params=dict(n_restarts=2, max_iter=20, warmup=5, input_shape=(4, LENGTH),
                         layer="relu", random_state=0)),
        Case(E.ActivationMaximization, "model_level", **seq, fit_X=None, explain_X=False,
             stochastic=True,
             params=dict(n_restarts=2, max_iter=20, warmup=5, input_shape=(4, LENGTH),
                         random_state=0)),
        Case(E.TCAV, "model_level", **seq, fit_X=None, stochastic=True,
             params=dict(layer="relu", concepts=concepts, random_concepts=pool, n_runs=2,
                         random_state=0)),
        _dissection_case(E, seq),
        # example-based
        Case(E.InfluenceFunctions, "example", **tab, explain_y=True, params=dict(n_top=3),
             deprecated_name="InfluenceExplainer"),
        Case(E.TracIn, "example", **seq, explain_y=True, params=dict(n_top=3),
             deprecated_name="TracInExplainer"),
        Case(E.DeepKNN, "example", **tab, params=dict(n_neighbors=3),
             deprecated_name="NearestNeighborExplainer"),
    ]
    return {case.name: case for case in cases}


def _dissection_case(E, seq):
    """Concepts in the constructor if the class takes them there, else in explain."""
    takes = "concepts" in inspect.signature(E.NetworkDissection).parameters
    return Case(E.NetworkDissection, "model_level", **seq,
                params=dict(layers="relu", **({"concepts": _nd_params} if takes else {})),
                explain_kwargs={} if takes else {"concepts": concept_masks})


def _of_rows(value, X, X_default):
    """A per-row keyword (a function of the explained rows, e.g. concept masks) for X.

    Input the function cannot read (text, a wrong shape) gets the value for the default rows,
    so that the explainer, not this helper, meets the bad input.
    """
    if not callable(value):
        return value
    try:
        return value(np.asarray(X, dtype=float))
    except (TypeError, ValueError, IndexError):
        return value(X_default)


def _copy(model):
    import copy

    return copy.deepcopy(model)


CASES = _build_cases()


# --- non-explainer estimators (selectors, transformers) -------------------------------------

def other_estimators():
    """{name: factory} of fitted-on-demand selectors and transformers for the bad-input suite.

    Each factory returns (estimator, X_fit, y_fit); the estimator is fitted by the caller.
    """
    from skexplain.explainers import Occlusion
    from skexplain.feature_selection import ExplainedEstimator, ExplanationSelector
    from skexplain.preprocessing import SquashedScaler

    def counts():
        rng = np.random.default_rng(0)
        return rng.poisson(5.0, size=(30, 5)).astype(np.float64)

    def selector():
        X, y = tabular_data()
        return ExplanationSelector(Occlusion(None), estimator=LogisticRegression(),
                                   n_features_to_select=2), X, y

    def explained():
        X, y = tabular_data()
        return ExplainedEstimator(LogisticRegression(), Occlusion(None)), X, y

    def scaler():
        return SquashedScaler(), counts(), None

    return {"ExplanationSelector": selector, "ExplainedEstimator": explained,
            "SquashedScaler": scaler}
