import copy

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_set_params,
)
from threadpoolctl import threadpool_limits

from skexplain.explainers import InfluenceFunctions


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Hundreds of tiny refits: on a shared machine extra BLAS / torch threads only cost.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(threads)


def _classification(n, d, n_classes, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    logits = X @ rng.normal(size=(d, n_classes)) + rng.gumbel(size=(n, n_classes))
    return X, np.array(["a", "b", "c"])[np.argmax(logits, axis=1)]


def _log_loss(model, X, y):
    P = model.predict_proba(X)
    return -np.log(P[np.arange(len(y)), np.searchsorted(model.classes_, y)])


def _loo_changes(model, X, y, X_test, loss):
    """Actual change of each test loss when each training example is left out (warm refits)."""
    base = loss(model, X_test)
    changes = []
    for j in range(len(X)):
        refit = copy.deepcopy(model).set_params(warm_start=True) if hasattr(
            model, "warm_start") else clone(model)
        refit.fit(np.delete(X, j, axis=0), np.delete(y, j))
        changes.append(loss(refit, X_test) - base)
    return np.array(changes).T


@pytest.mark.parametrize("n_classes", [2, 3])
def test_logistic_regression_matches_leave_one_out(n_classes):
    X, y = _classification(200, 5, n_classes)
    X_test, y_test = _classification(6, 5, n_classes, seed=1)
    model = LogisticRegression(C=0.1, tol=1e-10, max_iter=1000).fit(X, y)
    E = InfluenceFunctions(model).fit(X, y).explain(X_test, y_test)
    actual = _loo_changes(model, X, y, X_test, lambda m, Xt: _log_loss(m, Xt, y_test))
    assert E.values.shape == (6, 200)
    assert np.corrcoef(E.values.ravel(), actual.ravel())[0, 1] >= 0.99
    np.testing.assert_allclose(E.base_values, _log_loss(model, X_test, y_test), rtol=1e-10)


@pytest.mark.parametrize("model", [Ridge(alpha=5.0), LinearRegression()], ids=type)
def test_linear_regression_matches_leave_one_out(model):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 4))
    y = X @ rng.normal(size=4) + rng.normal(size=100)
    X_test = rng.normal(size=(5, 4))
    y_test = X_test @ np.ones(4)
    model = clone(model).fit(X, y)
    E = InfluenceFunctions(model).fit(X, y).explain(X_test, y_test)
    actual = _loo_changes(model, X, y, X_test, lambda m, Xt: (m.predict(Xt) - y_test) ** 2)
    assert np.corrcoef(E.values.ravel(), actual.ravel())[0, 1] >= 0.95


def test_sign_helpful_harmful_and_names():
    X, y = _classification(120, 3, 2)
    X[:4, 0] = [3.0, -3.0, 2.5, -2.5]
    model = LogisticRegression(C=1.0).fit(X, y)
    y_flipped = y.copy()
    y_flipped[:4] = np.where(y[:4] == "a", "b", "a")
    model = LogisticRegression(C=1.0).fit(X, y_flipped)
    frame = pd.DataFrame(X, index=[f"cell{i}" for i in range(120)])
    explainer = InfluenceFunctions(model, n_top=4).fit(frame, y_flipped)
    E = explainer.explain(X[4:], model.predict(X[4:]))
    order = np.argsort(-E.values, axis=1, kind="stable")
    np.testing.assert_array_equal(E.info["helpful"], order[:, :4])
    np.testing.assert_array_equal(E.info["harmful"], order[:, ::-1][:, :4])
    assert list(E.example_names[:2]) == ["cell0", "cell1"]
    assert E.axes == ("sample", "train_example") and E.info["method"] == "influence_functions"
    assert not E.info["y_predicted"]
    # y=None takes the loss at the model's prediction.
    predicted = explainer.explain(X[4:])
    np.testing.assert_array_equal(predicted.values, E.values)
    np.testing.assert_array_equal(predicted.info["y"], model.predict(X[4:]))
    assert predicted.info["y_predicted"]
    # The flipped examples are the most harmful on average.
    assert set(np.argsort(E.values.mean(axis=0))[:4]) == {0, 1, 2, 3}


def test_pipeline_uses_the_transformed_features():
    X, y = _classification(80, 4, 3)
    X = X * [1, 10, 100, 0.1] + 5
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=0.3)).fit(X, y)
    Z = pipeline[0].transform(X)
    direct = InfluenceFunctions(pipeline[-1]).fit(Z, y).explain(Z[:3], y[:3])
    piped = InfluenceFunctions(pipeline).fit(X, y).explain(X[:3], y[:3])
    np.testing.assert_allclose(piped.values, direct.values, rtol=1e-10)
    # y=None: the pipeline's predictions, through the model adapter.
    predicted = InfluenceFunctions(pipeline).fit(X, y).explain(X[:3])
    np.testing.assert_array_equal(predicted.info["y"], pipeline.predict(X[:3]))
    frame = piped.to_frame()
    assert frame.shape == (3 * 80, 5) and list(frame.columns) == [
        "sample", "train_example", "index", "name", "value"]
    np.testing.assert_allclose(frame["value"], piped.values.ravel())
    assert frame["name"].iloc[81] == "train_1" and frame["sample"].iloc[81] == 1


def test_class_weight_scales_example_weights():
    X, y = _classification(90, 3, 2)
    model = LogisticRegression(C=0.5, class_weight={"a": 2.0, "b": 1.0}).fit(X, y)
    explainer = InfluenceFunctions(model).fit(X, y)
    np.testing.assert_allclose(explainer.example_weights_, np.where(y == "a", 1.0, 0.5))


# --- networks -------------------------------------------------------------------------------

def _train(net, X, y, weight_decay):
    """Full-batch L-BFGS to the optimum of mean cross-entropy + weight_decay / 2 ||theta||^2."""
    X, y = torch.as_tensor(X), torch.as_tensor(y)
    optimizer = torch.optim.LBFGS(net.parameters(), max_iter=500, tolerance_grad=1e-12,
                                  tolerance_change=1e-15, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(X), y) + weight_decay / 2 * sum(
            (p ** 2).sum() for p in net.parameters())
        loss.backward()
        return loss

    for _ in range(3):
        optimizer.step(closure)
    return net


def _torch_data(n=120, d=4, seed=0):
    X, y = _classification(n, d, 3, seed=seed)
    return X, np.searchsorted(["a", "b", "c"], y)


def _torch_logistic(X, y, weight_decay, seed=0):
    torch.manual_seed(seed)
    return _train(torch.nn.Linear(X.shape[1], 3).double(), X, y, weight_decay)


def test_torch_logistic_regression_matches_leave_one_out():
    X, y = _torch_data(n=60)
    X_test, y_test = _torch_data(n=4, seed=1)
    net = _torch_logistic(X, y, 0.05)
    E = InfluenceFunctions(net, solver="exact", weight_decay=0.05).fit(X, y).explain(
        X_test, y_test)

    def test_loss(model):
        with torch.no_grad():
            out = model(torch.as_tensor(X_test))
            return torch.nn.functional.cross_entropy(
                out, torch.as_tensor(y_test), reduction="none").numpy()

    base = test_loss(net)
    actual = np.array([
        test_loss(_train(copy.deepcopy(net), np.delete(X, j, 0), np.delete(y, j), 0.05)) - base
        for j in range(len(X))
    ]).T
    assert np.corrcoef(E.values.ravel(), actual.ravel())[0, 1] >= 0.95


@pytest.fixture(scope="module")
def mlp():
    X, y = _torch_data()
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3))
    return _train(net.double(), X, y, 0.01), X, y


@pytest.mark.parametrize("layers", [None, "2"])
def test_conjugate_gradient_matches_exact_hessian(mlp, layers):
    net, X, y = mlp
    exact = InfluenceFunctions(net, solver="exact", weight_decay=0.01, layers=layers,
                               damping=0.01).fit(X, y).explain(X[:5], y[:5])
    cg = InfluenceFunctions(net, solver="cg", weight_decay=0.01, layers=layers,
                            damping=0.01).fit(X, y)
    E = cg.explain(X[:5], y[:5])
    assert cg.n_parameters_ == (51 if layers is None else 21)
    np.testing.assert_allclose(E.values, exact.values, rtol=1e-6,
                               atol=1e-8 * np.abs(exact.values).max())
    assert E.info["n_iter"].max() <= cg.n_parameters_ + 5
    # y=None: the loss at the predicted class (argmax of the logits).
    with torch.no_grad():
        predicted = net(torch.as_tensor(X[:5])).argmax(1).numpy()
    np.testing.assert_allclose(cg.explain(X[:5]).values, cg.explain(X[:5], predicted).values,
                               rtol=1e-12)


def test_lissa_matches_exact_hessian():
    X, y = _torch_data(n=60)
    net = _torch_logistic(X, y, 0.5)
    exact = InfluenceFunctions(net, solver="exact", weight_decay=0.5).fit(X, y)
    lissa = InfluenceFunctions(net, solver="lissa", weight_decay=0.5, tol=1e-10).fit(X, y)
    E = lissa.explain(X[:4], y[:4])
    np.testing.assert_allclose(E.values, exact.explain(X[:4], y[:4]).values, rtol=1e-6,
                               atol=1e-9)
    assert E.info["n_iter"].max() < lissa.max_iter


def test_iterative_solver_reports_negative_curvature():
    X, y = _torch_data(n=40)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3))
    # Untrained and saddle-shaped: the loss is concave along some directions.
    explainer = InfluenceFunctions(net.double(), solver="cg").fit(X, y)
    H = InfluenceFunctions(net.double(), solver="exact").fit(X, y).inverse_hessian_
    assert np.linalg.eigvalsh(H).min() < 0
    with pytest.raises(ValueError, match="negative curvature"):
        explainer.explain(X[:3], y[:3])


# --- input and parameter checks -------------------------------------------------------------

def test_errors():
    X, y = _classification(50, 3, 2)
    model = LogisticRegression().fit(X, y)
    with pytest.raises(NotFittedError):
        InfluenceFunctions(model).explain(X, y)
    with pytest.raises(ValueError, match="solver='cg' applies to networks"):
        InfluenceFunctions(model, solver="cg").fit(X, y)
    with pytest.raises(ValueError, match="regularisation is read from the model"):
        InfluenceFunctions(model, weight_decay=1.0).fit(X, y)
    with pytest.raises(ValueError, match="Unknown labels"):
        InfluenceFunctions(model).fit(X, np.where(y == "a", "a", "z"))
    with pytest.raises(ValueError, match="smooth objective"):
        l1 = LogisticRegression(l1_ratio=1.0, solver="saga").fit(X, y)
        InfluenceFunctions(l1).fit(X, y)
    with pytest.raises(TypeError, match="not Lasso"):
        InfluenceFunctions(Lasso().fit(X, y == "a")).fit(X, y == "a")
    with pytest.raises(ValueError, match="no model to explain"):
        InfluenceFunctions().fit(X, y)
    with pytest.raises(ValueError, match="y is required for a regression"):
        InfluenceFunctions(Ridge().fit(X, y == "a")).fit(X, y == "a").explain(X[:2])
    explainer = InfluenceFunctions(model).fit(X, y)
    with pytest.raises(ValueError, match="2 features"):
        explainer.explain(X[:, :2], y)
    with pytest.raises(ValueError, match="rows but y has"):
        explainer.explain(X[:3], y[:2])


class _NaNAbove(torch.nn.Module):
    """Logits of a linear layer, NaN for inputs whose first value exceeds 1."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 3).double()

    def forward(self, x):
        out = self.linear(x)
        return torch.where(x[:, :1] > 1, torch.full_like(out, float("nan")), out)


def test_nan_model_output_raises():
    X, y = _torch_data(n=30)
    X[:, 0] = np.clip(X[:, 0], -3, 0.9)
    X[[4, 7], 0] = 2.0
    with pytest.raises(ValueError, match=r"NaN or infinite losses .* \(rows 4, 7\)"):
        InfluenceFunctions(_NaNAbove(), solver="exact").fit(X, y)
    explainer = InfluenceFunctions(_NaNAbove(), solver="exact").fit(X[X[:, 0] < 1],
                                                                   y[X[:, 0] < 1])
    with pytest.raises(ValueError, match="NaN or infinite"):
        explainer.explain(X[:8], y[:8])
    with pytest.raises(ValueError, match="NaN or infinite scores"):
        explainer.explain(X[:8])  # y=None: the adapter's scores


def test_input_not_modified_and_clone():
    X, y = _classification(40, 3, 3)
    model = LogisticRegression().fit(X, y)
    X0, y0 = X.copy(), y.copy()
    explainer = InfluenceFunctions(model, n_top=2)
    explainer.fit(X, y).explain(X[:2], y[:2])
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    assert clone(explainer).model is model
    for check in (check_no_attributes_set_in_init, check_get_params_invariance,
                  check_set_params):
        check("InfluenceFunctions", explainer)


def test_warns_when_the_model_was_not_fitted_on_these_data():
    X, y = _classification(200, 3, 2)
    model = LogisticRegression().fit(X[:100], y[:100])
    with pytest.warns(UserWarning, match="not at the optimum"):
        InfluenceFunctions(model).fit(X[100:], y[100:])
    with pytest.raises(NotFittedError):
        InfluenceFunctions(LogisticRegression()).fit(X, y)


def test_skorch_net_and_sequence_input():
    from skorch import NeuralNetClassifier

    rng = np.random.default_rng(0)
    X = np.eye(4)[rng.integers(0, 4, (60, 12))].transpose(0, 2, 1).astype(np.float32)
    y = (X[:, 0, 3] + X[:, 1, 7] > 0).astype(np.int64)
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv1d(4, 3, 5), torch.nn.ReLU(),
                                 torch.nn.Flatten(), torch.nn.Linear(24, 2))
    net = NeuralNetClassifier(module, criterion=torch.nn.CrossEntropyLoss, max_epochs=5,
                              lr=0.1, train_split=None, verbose=0).fit(X, y)
    params = dict(weight_decay=0.1, damping=0.1, layers="3")
    exact = InfluenceFunctions(net, solver="exact", **params).fit(X, y)
    # loss="auto" reads the net's criterion; the plain module needs it named.
    plain = InfluenceFunctions(net.module_, solver="cg", loss="cross_entropy", **params)
    E = plain.fit(X, y).explain(X[:3], y[:3])
    np.testing.assert_allclose(E.values, exact.explain(X[:3], y[:3]).values, rtol=1e-6,
                               atol=1e-10)
    assert exact.n_parameters_ == 50
    nll = NeuralNetClassifier(module, max_epochs=0, train_split=None).initialize()
    with pytest.raises(ValueError, match="does not know the criterion NLLLoss"):
        InfluenceFunctions(nll).fit(X, y)


def test_pickle_round_trip(mlp):
    import pickle

    net, X, y = mlp
    explainer = InfluenceFunctions(net, weight_decay=0.01, damping=0.01).fit(X, y)
    restored = pickle.loads(pickle.dumps(explainer))
    np.testing.assert_array_equal(restored.explain(X[:2], y[:2]).values,
                                  explainer.explain(X[:2], y[:2]).values)


def test_exact_solver_refuses_huge_networks(monkeypatch):
    from skexplain.explainers import _influence

    monkeypatch.setattr(_influence, "MAX_EXACT_PARAMETERS", 10)
    X, y = _torch_data(n=20)
    net = torch.nn.Linear(4, 3).double()
    with pytest.raises(ValueError, match="too large for 15 parameters"):
        InfluenceFunctions(net, solver="exact", layers=None).fit(X, y)


def test_anndata_and_sparse_equal_the_dense_matrix():
    import scipy.sparse as sp

    anndata = pytest.importorskip("anndata")
    X, y = _classification(60, 4, 2)
    model = LogisticRegression().fit(X, y)
    dense = InfluenceFunctions(model).fit(X, y).explain(X[:3], y[:3])
    adata = anndata.AnnData(X, obs=pd.DataFrame(index=[f"cell{i}" for i in range(60)]))
    from_adata = InfluenceFunctions(model).fit(adata, y).explain(adata[:3], y[:3])
    np.testing.assert_allclose(from_adata.values, dense.values, rtol=1e-12)
    assert list(from_adata.example_names[:2]) == ["cell0", "cell1"]
    sparse = InfluenceFunctions(model).fit(sp.csr_matrix(X), y).explain(
        sp.csc_matrix(X[:3]), y[:3])
    np.testing.assert_allclose(sparse.values, dense.values, rtol=1e-12)
    np.testing.assert_array_equal(sparse.data, X[:3])


def test_nan_linear_model_raises_before_the_hessian():
    X, y = _classification(40, 3, 2)
    model = LogisticRegression().fit(X, y)
    model.coef_ = model.coef_.copy()
    model.coef_[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite losses"):
        InfluenceFunctions(model).fit(X, y)


def test_sparse_text_and_non_numeric_input():
    import scipy.sparse as sp

    X, y = _classification(40, 3, 2)
    model = LogisticRegression().fit(X, y)
    dense = InfluenceFunctions(model).fit(X, y).explain(X[:3], y[:3])
    for fmt in (sp.csr_matrix, sp.csc_array, sp.coo_matrix):
        E = InfluenceFunctions(model).fit(fmt(X), y).explain(fmt(X[:3]), y[:3])
        np.testing.assert_allclose(E.values, dense.values, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(E.data, dense.data)
    with pytest.raises(ValueError, match="holds text"):
        InfluenceFunctions(model).fit(X.astype(str), y)
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(b="x")
    with pytest.raises(ValueError, match=r"non-numeric columns \['b'\]"):
        InfluenceFunctions(model).fit(frame, y)
    explainer = InfluenceFunctions(model).fit(X, y)
    with pytest.raises(ValueError, match=r"non-numeric columns \['b'\]"):
        explainer.explain(frame[:3], y[:3])
    assert dense.info["output"] == "loss" and dense.info["loss"] == "log_loss"
