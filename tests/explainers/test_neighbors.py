import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_set_params,
)

from skexplain.explainers import DeepKNN


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _data(n=60, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, np.where(X[:, 0] > 0, "pos", "neg")


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "manhattan"])
def test_input_space_equals_sklearn_nearest_neighbors(metric):
    X, y = _data()
    model = LogisticRegression().fit(X, y)
    E = DeepKNN(model, n_neighbors=4, metric=metric).fit(X, y).explain(X[:7])
    distances, indices = NearestNeighbors(n_neighbors=4, metric=metric).fit(X).kneighbors(X[:7])
    np.testing.assert_array_equal(E.info["indices"], indices)
    np.testing.assert_array_equal(E.indices, indices)
    assert E.axes == ("sample", "neighbor") and E.info["method"] == "deep_knn"
    np.testing.assert_allclose(E.values, distances)
    np.testing.assert_array_equal(E.info["labels"], y[indices])
    np.testing.assert_array_equal(E.info["prediction"], model.predict(X[:7]))


def test_credibility_by_hand():
    # Training examples on a line; the query at 0.9 has neighbours 1.0 (b), 0.7 (a), 0.6 (a).
    X = np.array([[0.0], [0.6], [0.7], [1.0], [3.0], [3.2]])
    y = np.array(["a", "a", "a", "b", "b", "b"])

    def model(rows):  # scores (a, b): predicts "b" right of 0.8
        return np.column_stack([0.8 - rows[:, 0], rows[:, 0] - 0.8])

    # A callable has no class labels: its predictions are output indices, so are the labels.
    labels = np.searchsorted(["a", "b"], y)
    explainer = DeepKNN(model, n_neighbors=3, metric="euclidean").fit(X, labels)
    E = explainer.explain(np.array([[0.9], [3.05], [0.1]]))
    np.testing.assert_array_equal(E.info["indices"], [[3, 2, 1], [4, 5, 3], [0, 1, 2]])
    np.testing.assert_array_equal(E.info["prediction"], [1, 1, 0])
    np.testing.assert_allclose(E.info["credibility"], [1 / 3, 1.0, 1.0])
    np.testing.assert_allclose(E.base_values, E.info["credibility"])


def test_layer_representation():
    X, y = _data()
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Identity(), torch.nn.Linear(5, 3), torch.nn.ReLU(),
                              torch.nn.Linear(3, 2)).eval()
    labels = (y == "pos").astype(int)
    # The identity layer reduces to neighbours in input space.
    identity = DeepKNN(net, layer="0", n_neighbors=3).fit(X, labels)
    inputs = DeepKNN(net, n_neighbors=3).fit(X, labels)
    np.testing.assert_array_equal(identity.explain(X[:5]).info["indices"],
                                  inputs.explain(X[:5]).info["indices"])
    # A hidden layer: neighbours of the hidden activations, computed by hand.
    with torch.no_grad():
        hidden = net[2](net[1](torch.as_tensor(X, dtype=torch.float32))).numpy()
    E = DeepKNN(net, layer=net[2], n_neighbors=3, metric="euclidean").fit(
        X, labels).explain(X[:5])
    _, expected = NearestNeighbors(n_neighbors=3).fit(hidden).kneighbors(hidden[:5])
    np.testing.assert_array_equal(E.info["indices"], expected)
    assert E.info["layer"] == "2"
    with torch.no_grad():
        predicted = net(torch.as_tensor(X[:5], dtype=torch.float32)).argmax(1).numpy()
    np.testing.assert_array_equal(E.info["prediction"], predicted)


def test_names_sparse_and_input_not_modified():
    X, y = _data()
    frame = pd.DataFrame(X, index=[f"cell{i}" for i in range(60)],
                         columns=[f"g{i}" for i in range(5)])
    model = LogisticRegression().fit(frame, y)
    E = DeepKNN(model, n_neighbors=2).fit(frame, y).explain(frame.iloc[:3])
    np.testing.assert_array_equal(E.info["names"][:, 0], ["cell0", "cell1", "cell2"])
    sparse = DeepKNN(LogisticRegression().fit(X, y), n_neighbors=2).fit(
        sp.csr_matrix(X), y).explain(sp.csr_matrix(X[:3]))
    np.testing.assert_array_equal(sparse.info["indices"], E.info["indices"])
    X0 = X.copy()
    DeepKNN(LogisticRegression().fit(X, y)).fit(X, y).explain(X[:2])
    np.testing.assert_array_equal(X, X0)


def test_errors_and_sklearn_checks():
    X, y = _data()
    model = LogisticRegression().fit(X, y)
    with pytest.raises(NotFittedError):
        DeepKNN(model).explain(X)
    with pytest.raises(ValueError, match="exceeds the 60 training examples"):
        DeepKNN(model, n_neighbors=61).fit(X, y)
    with pytest.raises(ValueError, match="y must have shape"):
        DeepKNN(model).fit(X, y[:-1])
    with pytest.raises(ValueError, match="no model to explain"):
        DeepKNN().fit(X, y)
    with pytest.raises(TypeError, match="needs a torch model"):
        DeepKNN(model, layer="0").fit(X, y)
    with pytest.raises(ValueError, match="feature shape"):
        DeepKNN(model).fit(X, y).explain(X[:, :3])
    explainer = DeepKNN(model)
    assert clone(explainer).model is model
    for check in (check_no_attributes_set_in_init, check_get_params_invariance,
                  check_set_params):
        check("DeepKNN", explainer)


def test_nan_scores_raise_and_positional_parameters_warn():
    X, y = _data()
    labels = (y == "pos").astype(int)

    def model(rows):  # NaN scores for rows whose first value exceeds 2
        scores = np.column_stack([-rows[:, 0], rows[:, 0]])
        scores[rows[:, 0] > 2] = np.nan
        return scores

    explainer = DeepKNN(model, n_neighbors=3).fit(X, labels)
    query = X[:4].copy()
    query[1, 0] = 3.0
    with pytest.raises(ValueError, match=r"NaN or infinite scores .*rows 1\)"):
        explainer.explain(query)
    # A layer whose output is NaN gets an error too (not neighbours of NaN rows).
    net = torch.nn.Sequential(torch.nn.Linear(5, 3), torch.nn.Threshold(0.5, float("nan")),
                              torch.nn.Linear(3, 2))
    with pytest.raises(ValueError, match="output of layer '1' .* NaN or infinite"):
        DeepKNN(net, layer="1").fit(X, labels)
    with pytest.warns(FutureWarning, match="layer, n_neighbors by position"):
        old = DeepKNN(model, None, 3)
    assert old.layer is None and old.n_neighbors == 3


def _blobs(n, seed, shift=1.5):
    """Three Gaussian classes in 10 dimensions, apart by ``shift`` standard deviations."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    return rng.normal(size=(n, 10)) + shift * np.eye(3, 10)[y], y


def test_deep_knn_over_layers_sums_the_nonconformity():
    X, y = _blobs(90, 0)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(10, 6), torch.nn.Tanh(),
                              torch.nn.Linear(6, 3)).double().eval()
    layers = [None, "1", "2"]
    deep = DeepKNN(net, layer=layers, n_neighbors=4).fit(X, y)
    E = deep.explain(X[:6])
    assert E.values.shape == (6, 3, 4) and E.axes == ("sample", "layer", "neighbor")
    assert E.example_names.shape == (6, 3, 4) and E.example_names[0, 0, 0] == "train_0"
    agreements = []
    for layer in layers:
        single = DeepKNN(net, layer=layer, n_neighbors=4).fit(X, y)
        S = single.explain(X[:6])
        np.testing.assert_array_equal(E.info["indices"][:, layers.index(layer)],
                                      S.info["indices"])
        agreements.append(S.info["agreement"])
    np.testing.assert_allclose(E.info["agreement"], np.mean(agreements, axis=0))


def test_calibrated_credibility_is_a_conformal_p_value():
    X, y = _blobs(300, 0, shift=3.0)
    X_cal, y_cal = _blobs(300, 1, shift=3.0)
    X_test, y_test = _blobs(400, 2, shift=3.0)
    model = LogisticRegression().fit(X, y)
    explainer = DeepKNN(model, n_neighbors=10, metric="euclidean")
    E = explainer.fit(X, y, X_calibration=X_cal, y_calibration=y_cal).explain(X_test)
    p_true = E.info["p_values"][np.arange(400), y_test]
    # Exchangeable data: p-values at the true label are (super-)uniform.
    for level in (0.05, 0.1, 0.3):
        assert np.mean(p_true <= level) <= level + 0.04
    assert p_true.mean() >= 0.4  # ties at alpha = 0 make discrete p-values conservative
    np.testing.assert_allclose(
        E.info["credibility"], E.info["p_values"][np.arange(400), E.info["prediction"]])
    # Shuffling each input's features breaks the class signal: credibility drops.
    rng = np.random.default_rng(3)
    shuffled = np.array([rng.permutation(row) for row in X_test])
    shuffled_credibility = explainer.explain(shuffled).info["credibility"]
    assert shuffled_credibility.mean() < 0.6 * E.info["credibility"].mean()
    assert np.mean(shuffled_credibility < 0.1) > 3 * np.mean(E.info["credibility"] < 0.1)
    with pytest.raises(ValueError, match="both X_calibration and y_calibration"):
        explainer.fit(X, y, X_calibration=X_cal)
    # fit(..., X_calibration=, y_calibration=) == fit + calibrate == the old positional call.
    calibrated = DeepKNN(model, n_neighbors=10, metric="euclidean").fit(X, y).calibrate(
        X_cal, y_cal)
    np.testing.assert_array_equal(calibrated.calibration_scores_,
                                  explainer.fit(X, y, X_calibration=X_cal,
                                                y_calibration=y_cal).calibration_scores_)
    with pytest.warns(FutureWarning, match="X_calibration, y_calibration by position"):
        old = DeepKNN(model, n_neighbors=10, metric="euclidean").fit(X, y, X_cal, y_cal)
    np.testing.assert_array_equal(old.calibration_scores_, calibrated.calibration_scores_)
    # Given labels (here the true ones) are scored instead of the predictions.
    E_true = calibrated.explain(X_test[:50], y_test[:50])
    np.testing.assert_allclose(E_true.info["credibility"], p_true[:50])
    np.testing.assert_array_equal(E_true.info["prediction"], E.info["prediction"][:50])


def test_anndata_equals_the_matrix():
    anndata = pytest.importorskip("anndata")
    X, y = _data()
    model = LogisticRegression().fit(X, y)
    adata = anndata.AnnData(X, obs=pd.DataFrame(index=[f"cell{i}" for i in range(60)]))
    E = DeepKNN(model, n_neighbors=3).fit(adata, y).explain(adata[:4])
    expected = DeepKNN(model, n_neighbors=3).fit(X, y).explain(X[:4])
    np.testing.assert_array_equal(E.indices, expected.indices)
    np.testing.assert_array_equal(E.info["prediction"], expected.info["prediction"])
    assert E.example_names[0, 0] == "cell0"


def test_to_frame_lists_the_neighbours():
    X, y = _data()
    model = LogisticRegression().fit(X, y)
    E = DeepKNN(model, n_neighbors=2).fit(X, y).explain(X[:3])
    frame = E.to_frame()
    assert list(frame.columns) == ["sample", "neighbor", "index", "name", "value"]
    np.testing.assert_array_equal(frame["index"], E.indices.ravel())
    np.testing.assert_array_equal(frame["name"], [f"train_{i}" for i in E.indices.ravel()])
    np.testing.assert_allclose(frame["value"], E.values.ravel())


def test_info_records_the_output_of_the_predictions():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = (X[:, 0] > 0).astype(int)
    E = DeepKNN(LogisticRegression().fit(X, y), n_neighbors=3).fit(X, y).explain(X[:2])
    assert E.info["output"] == "probability"
