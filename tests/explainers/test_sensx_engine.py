"""SensX walks through a model's first Linear layer (engine="fast") equal whole forward
passes (engine="full"): exactly up to float64 rounding, and within float32 rounding."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, StandardScaler
from torch import nn

from skexplain.explainers import SensX
from skexplain.explainers._first_linear import MIN_FEATURES


def _mlp(n_features, n_hidden=24, dtype=torch.float64, flatten=False, bias=True):
    torch.manual_seed(0)
    layers = [nn.Flatten()] if flatten else []
    layers += [nn.Linear(n_features, n_hidden, bias=bias), nn.ReLU(), nn.Linear(n_hidden, 8),
               nn.Tanh(), nn.Linear(8, 2)]
    return nn.Sequential(*layers).to(dtype).eval()


class Residual(nn.Module):
    """Reads its input twice: the first layer's output is not all the rest sees."""

    def __init__(self, n_features):
        super().__init__()
        self.first = nn.Linear(n_features, 16)
        self.out = nn.Linear(16, n_features)

    def forward(self, x):
        return (self.out(torch.relu(self.first(x))) + x).sum(dim=1, keepdim=True)


class TwoInputs(nn.Module):
    def __init__(self, n_features):
        super().__init__()
        self.first = nn.Linear(n_features, 8)

    def forward(self, x, shift):
        return self.first(x) + shift


def _both(model, X, explained, **params):
    params = dict(n_walks=12, n_profile_samples=20, random_state=0, **params)
    full = SensX(model, engine="full", **params).fit(X).explain(explained)
    fast = SensX(model, engine="fast", **params).fit(X).explain(explained)
    assert (full.info["engine"], fast.info["engine"]) == ("full", "fast")
    return full.values, fast.values


@pytest.mark.parametrize("batch_size", ["auto", 37])
def test_fast_equals_full_forward_passes_in_float64(batch_size):
    # 700 features: a walk of 701 states spans several write chunks and, at batch_size 37,
    # many model calls, so states are carried across both.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 700))
    full, fast = _both(_mlp(700), X, X[:3], batch_size=batch_size, output="probability")
    np.testing.assert_allclose(fast, full, rtol=1e-9, atol=1e-12 * np.abs(full).max())
    assert np.abs(full).max() > 0


def test_fast_equals_full_with_feature_groups_and_a_flatten_first():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 4, 30))  # (n, C, L) rows flattened by the module
    labels = np.broadcast_to(np.arange(30) // 3, (4, 30))  # 10 groups of 12 values
    full, fast = _both(_mlp(120, flatten=True, bias=False), X, X[:4], feature_groups=labels)
    assert full.shape == (4, 10)
    np.testing.assert_allclose(fast, full, rtol=1e-9, atol=1e-12 * np.abs(full).max())


def test_a_linear_layer_over_the_last_axis_is_not_the_first_layer_of_all_values():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(30, 1, 40))  # a Linear(40, .) here maps each row of the last axis
    model = nn.Sequential(nn.Linear(40, 8), nn.Flatten(), nn.Linear(8, 1)).double().eval()
    explanation = SensX(model, n_walks=2, delta=0.5, random_state=0).fit(X).explain(X[:1])
    assert explanation.info["engine"] == "full"
    with pytest.raises(ValueError, match="without flattening them first"):
        SensX(model, engine="fast").fit(X)


def test_float32_fast_is_as_close_to_float64_as_full_passes():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(80, 300)).astype(np.float32)
    params = dict(n_walks=8, delta=0.5, random_state=0)
    exact = SensX(_mlp(300), engine="full", **params).fit(X).explain(X[:3]).values
    net32 = _mlp(300, dtype=torch.float32)
    error = {engine: np.abs(SensX(net32, engine=engine, **params).fit(X).explain(X[:3]).values
                            - exact).max() / np.abs(exact).max()
             for engine in ("full", "fast")}
    assert error["fast"] < 1e-3 and error["fast"] <= 2 * error["full"]


def test_fast_identical_for_any_n_jobs():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(50, 40)).astype(np.float32)
    explainer = SensX(_mlp(40, dtype=torch.float32), n_walks=30, random_state=0).fit(X)
    serial = explainer.explain(X[:4])
    parallel = explainer.set_params(n_jobs=2).explain(X[:4])
    assert serial.info["engine"] == "fast"
    np.testing.assert_array_equal(serial.values, parallel.values)


def test_auto_falls_back_to_full_passes_and_fast_names_the_reason():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(40, MIN_FEATURES + 8))
    for model, reason in [(Residual(X.shape[1]).double(), "not read by one Linear layer only"),
                          (lambda X: X[:, :2], "needs a torch module")]:
        explanation = SensX(model, n_walks=3, random_state=0).fit(X).explain(X[:2])
        assert explanation.info["engine"] == "full"
        with pytest.raises(ValueError, match=reason):
            SensX(model, engine="fast").fit(X)


def test_auto_runs_the_fast_engine_from_min_features_on():
    rng = np.random.default_rng(7)
    for n_features, engine in [(MIN_FEATURES - 1, "full"), (MIN_FEATURES, "fast")]:
        X = rng.normal(size=(30, n_features))
        explainer = SensX(_mlp(n_features), n_walks=2, delta=0.5, random_state=0).fit(X)
        assert explainer.explain(X[:1]).info["engine"] == engine


def test_model_args_run_full_passes():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(30, 40))
    shift = torch.zeros((2, 8), dtype=torch.float64)
    explainer = SensX(TwoInputs(40).double(), n_walks=3, delta=0.5, random_state=0).fit(X)
    explanation = explainer.explain(X[:2], target=0, model_args=(shift,))
    assert explanation.info["engine"] == "full"
    with pytest.raises(ValueError, match="takes 2 inputs; one is needed"):
        explainer.set_params(engine="fast").fit(X)
    # the Linear layer alone: |w| of the explained output, exactly
    expected = np.abs(explainer.model.first.weight.detach().numpy()[0])
    np.testing.assert_allclose(explanation.values, np.tile(expected, (2, 1)), rtol=1e-9)


def test_explain_reads_the_current_weights_and_the_fitted_explainer_pickles():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(40, 12))
    net = _mlp(12)
    explainer = SensX(net, n_walks=5, delta=0.5, engine="fast", random_state=0).fit(X)
    with torch.no_grad():
        net[0].weight.mul_(3.0)  # trained further after fit
    after = explainer.explain(X[:2]).values
    fresh = SensX(net, n_walks=5, delta=0.5, random_state=0, engine="full").fit(X)
    np.testing.assert_allclose(after, fresh.explain(X[:2]).values, rtol=1e-9)
    restored = pickle.loads(pickle.dumps(explainer))
    np.testing.assert_array_equal(restored.explain(X[:2]).values, after)


@pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)
@pytest.mark.parametrize("case", ["binary relu", "3 classes tanh, 2 layers", "log-odds",
                                  "regressor, 2 outputs"])
def test_fast_equals_full_on_scikit_learn_mlps(case):
    rng = np.random.default_rng(9)
    X = rng.normal(size=(200, 40))
    binary = (X[:, 0] + X[:, 1] > 0).astype(int)
    params = {}
    if case == "binary relu":
        model = MLPClassifier((16,), max_iter=30, random_state=0).fit(X, binary)
    elif case == "3 classes tanh, 2 layers":
        model = MLPClassifier((16, 8), activation="tanh", max_iter=30, random_state=0)
        model.fit(X, np.digitize(X[:, 2], [-0.5, 0.5]))
    elif case == "log-odds":
        model = MLPClassifier((16,), activation="logistic", max_iter=30, random_state=0)
        model.fit(X, binary)
        params["output"] = "log_odds"
    else:
        model = MLPRegressor(hidden_layer_sizes=(16,), max_iter=30, random_state=0)
        model.fit(X, np.column_stack([X[:, 0] * X[:, 3], X[:, 1]]))
    full, fast = _both(model, X, X[:3], **params)
    np.testing.assert_allclose(fast, full, rtol=1e-9, atol=1e-12 * np.abs(full).max())


@pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)
@pytest.mark.parametrize("scalers", [
    [StandardScaler()], [StandardScaler(with_mean=False)], [MinMaxScaler()],
    [MaxAbsScaler(), "passthrough", StandardScaler(with_std=False)],
])
def test_scalers_before_a_scikit_learn_mlp_fold_into_its_first_layer(scalers):
    rng = np.random.default_rng(11)
    X = rng.normal(size=(200, 40)) * rng.uniform(0.5, 5, 40) + 3 * rng.normal(size=40)
    model = make_pipeline(*scalers, MLPClassifier((16,), max_iter=30, random_state=0))
    model.fit(X, (X[:, 0] > np.median(X[:, 0])).astype(int))
    full, fast = _both(model, X, X[:3])
    np.testing.assert_allclose(fast, full, rtol=1e-9, atol=1e-12 * np.abs(full).max())


@pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)
def test_other_pipeline_steps_run_full_passes():
    rng = np.random.default_rng(10)
    X = rng.normal(size=(100, 40))
    y = (X[:, 0] > 0).astype(int)
    for first, reason in [(PCA(5), "a PCA before the model"),
                          (MinMaxScaler(clip=True), "a MinMaxScaler before the model")]:
        model = make_pipeline(first, MLPClassifier((8,), max_iter=30, random_state=0))
        model.fit(X, y)
        explainer = SensX(model, n_walks=2, delta=0.5, random_state=0).fit(X)
        assert explainer.explain(X[:1]).info["engine"] == "full"
        with pytest.raises(ValueError, match=reason):
            SensX(model, engine="fast").fit(X)
