import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier

from skexplain.explainers import SensX
from skexplain.explainers._sensx import characteristic_delta, median_delta


def _linear(w):
    def model(X):
        return X.reshape(len(X), -1) @ w

    return model


@pytest.fixture(scope="module")
def planted():
    """20 features; the label depends only on features 3 and 7 (XOR-like)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 20))
    y = (X[:, 3] * X[:, 7] > 0).astype(int)
    model = MLPClassifier((32, 16), max_iter=600, random_state=0).fit(X, y)
    confident = X[model.predict_proba(X)[:, 1] > 0.95][:10]
    return X, model, confident


def test_linear_model_attributions_equal_absolute_weights():
    # Every step of a walk on f(x) = w.x changes f by w_j dx_j, so mu*_j = |w_j| exactly.
    rng = np.random.default_rng(0)
    w = rng.normal(size=12)
    X = rng.normal(size=(50, 12))
    explainer = SensX(_linear(w), n_walks=3, delta=0.3, random_state=0).fit(X)
    E = explainer.explain(X[:4])
    np.testing.assert_allclose(E.values, np.tile(np.abs(w), (4, 1)), rtol=1e-9)
    assert E.info["delta_star"].tolist() == [0.3] * 4


def test_planted_features_ranked_first(planted):
    X, model, confident = planted
    E = SensX(model, n_walks=60, random_state=0).fit(X).explain(confident, target=1)
    top2 = E.top_features(2).to_numpy()
    assert all(set(row) == {"x3", "x7"} for row in top2)
    assert E.values.shape == (len(confident), 20) and np.all(E.values >= 0)
    assert np.all((E.info["delta_star"] > 0) & (E.info["delta_star"] <= 1))
    assert E.info["stability_profile"].shape == (len(confident), 20, 3)


def test_identical_for_any_n_jobs_and_backend(planted):
    X, model, confident = planted
    explainer = SensX(model, n_walks=25, n_profile_samples=200, random_state=3)
    explainer.fit(X)
    serial = explainer.set_params(n_jobs=1).explain(confident[:4]).values
    parallel = explainer.set_params(n_jobs=2).explain(confident[:4]).values
    with joblib.parallel_config(backend="threading", n_jobs=2):
        threads = explainer.set_params(n_jobs=None).explain(confident[:4]).values
    np.testing.assert_array_equal(serial, parallel)
    np.testing.assert_array_equal(serial, threads)


def test_random_state_controls_the_result(planted):
    X, model, confident = planted
    explainer = SensX(model, n_walks=5, delta=0.5).fit(X)
    a = explainer.set_params(random_state=1).explain(confident[:2]).values
    b = explainer.set_params(random_state=1).explain(confident[:2]).values
    c = explainer.set_params(random_state=2).explain(confident[:2]).values
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_batch_size_does_not_change_the_result():
    rng = np.random.default_rng(0)
    w = rng.normal(size=9)
    X = rng.normal(size=(40, 9))

    def model(X):
        return 1 / (1 + np.exp(-X @ w))

    calls = []

    def counted(X):
        calls.append(len(X))
        return model(X)

    base = SensX(model, n_walks=12, random_state=0).fit(X).explain(X[:2]).values
    small = SensX(counted, n_walks=12, batch_size=7, random_state=0).fit(X)
    np.testing.assert_allclose(small.explain(X[:2]).values, base, rtol=1e-12)
    assert max(calls) <= 7


def test_sparse_dense_and_dataframe_agree(planted):
    X, model, confident = planted
    Xs = np.where(np.abs(X) < 0.5, 0.0, X)
    dense = SensX(model, n_walks=5, random_state=0).fit(Xs).explain(Xs[:3]).values
    sparse = SensX(model, n_walks=5, random_state=0).fit(sp.csr_matrix(Xs))
    np.testing.assert_array_equal(sparse.explain(sp.csr_matrix(Xs[:3])).values, dense)
    frame = pd.DataFrame(Xs, columns=[f"g{i}" for i in range(Xs.shape[1])])
    named = SensX(model, n_walks=5, random_state=0).fit(frame).explain(frame.iloc[:3])
    np.testing.assert_array_equal(named.values, dense)
    assert named.feature_names[3] == "g3"


def test_sequence_input_finds_planted_motif_positions():
    # Score = how well positions 10..13 spell ACGT; every other position is irrelevant.
    motif = np.zeros((4, 30))
    motif[[0, 1, 2, 3], [10, 11, 12, 13]] = 1.0

    def model(X):
        return 1 / (1 + np.exp(-(4 * (X * motif).sum(axis=(1, 2)) - 8)))

    rng = np.random.default_rng(0)
    X = np.eye(4)[rng.integers(0, 4, size=(200, 30))].transpose(0, 2, 1)
    X[:, :, 10:14] = motif[:, 10:14]
    # The motif is fixed in every reference sequence, so the one-hot domain is given.
    explainer = SensX(model, n_walks=10, lower=0.0, upper=1.0, random_state=0)
    E = explainer.fit(X).explain(X[:3])
    assert E.values.shape == (3, 4, 30)
    per_position = E.values.sum(axis=1)
    assert all(set(np.argsort(-row)[:4]) == {10, 11, 12, 13} for row in per_position)
    assert E.feature_names[10] == "A:10"  # one-hot DNA reference data: genomic names


def test_image_input_with_patch_groups_on_a_torch_model():
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 1),
                                 torch.nn.Sigmoid()).eval()
    with torch.no_grad():
        module[1].weight.zero_()
        module[1].weight.view(3, 8, 8)[:, :4, :4] = 0.5  # only the top-left patch matters
    patches = np.broadcast_to((np.arange(8)[:, None] // 4) * 2 + np.arange(8)[None] // 4,
                              (3, 8, 8))
    X = np.random.default_rng(0).uniform(size=(20, 3, 8, 8))
    explainer = SensX(module, n_walks=4, delta=1.0, feature_groups=patches,
                               random_state=0).fit(X)
    E = explainer.explain(X[:2])
    assert E.values.shape == (2, 4)
    assert E.feature_names.tolist() == ["0", "1", "2", "3"]
    assert np.all(E.values[:, 0] > 0) and np.all(E.values[:, 1:] == 0)
    assert E.info["axes"] == ("sample", "group")


def test_insensitive_instances_are_reported():
    X = np.random.default_rng(0).normal(size=(30, 4))
    explainer = SensX(lambda X: np.full(len(X), 0.7), n_walks=3, random_state=0)
    with pytest.warns(UserWarning, match="2 of 2 instances are insensitive"):
        E = explainer.fit(X).explain(X[:2])
    assert E.info["insensitive"].tolist() == [True, True]
    assert np.all(E.values == 0) and np.all(E.info["delta_star"] == 0)


def test_characteristic_delta_rule():
    grid = np.array([0.25, 0.5, 0.75, 1.0])
    q1 = np.array([[0.9, 0.5, 0.46, 0.46], [0.9, 0.2, 0.0, 0.0], [0.9, 0.9, 0.9, 0.9]])
    q99 = np.array([[1.0, 0.55, 0.5, 0.5], [1.0, 1.0, 1.0, 1.0], [0.95, 0.95, 0.95, 0.95]])
    # row 0: the tail after 0.25 spans 0.46..0.55 -> 0.25; row 1: never stable -> 1.0;
    # row 2: stable from the start -> the first delta.
    assert characteristic_delta(q1, q99, grid, tau=0.1).tolist() == [0.25, 1.0, 0.25]

def test_median_rule_finds_the_start_of_the_flat_tail():
    grid = np.array([0.25, 0.5, 0.75, 1.0])
    q50 = np.array([
        [0.95, 0.7, 0.5, 0.5],  # flat from 0.75 on (0.7 is 0.2 away) -> 0.75
        [0.95, 0.52, 0.5, 0.5],  # within tau from 0.5 on, slope 0.08 <= 0.1 -> 0.5
        [0.95, 0.56, 0.5, 0.5],  # within tau from 0.5 on, but the slope 0.24 > 0.1 -> 0.75
        [0.9, 0.9, 0.9, 0.9],  # flat everywhere -> the first delta
        [0.0, 0.5, 1.0, 0.0],  # only the last box is flat -> 1.0
    ])
    assert median_delta(q50, grid, tau=0.1).tolist() == [0.75, 0.5, 0.75, 0.25, 1.0]


def test_domain_bounds_and_groups_are_validated():
    X = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(ValueError, match="lower must not exceed upper"):
        SensX(_linear(np.ones(3)), lower=1.0, upper=0.0).fit(X)
    with pytest.raises(ValueError, match="feature_groups has shape"):
        SensX(_linear(np.ones(3)), feature_groups=[0, 1]).fit(X)
    with pytest.raises(ValueError, match="delta_grid"):
        SensX(_linear(np.ones(3)), delta_grid=[0.5, 2.0]).fit(X)


def test_clone_pickle_and_grid_search(planted):
    X, model, confident = planted
    explainer = SensX(model, n_walks=5, n_profile_samples=50, random_state=0)
    assert clone(explainer).get_params()["n_walks"] == 5
    fitted = explainer.fit(X)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.explain(confident[:2]).values,
                                  fitted.explain(confident[:2]).values)
    assert fitted.score(confident[:5]) > 0.05  # top-ranked features matter more than random
    search = GridSearchCV(explainer, {"n_walks": [2, 6]}, cv=2).fit(confident)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_estimator_.model is model


def test_dask_backend_gives_identical_results(planted):
    distributed = pytest.importorskip("dask.distributed")
    X, model, confident = planted
    explainer = SensX(model, n_walks=20, n_profile_samples=100, random_state=0).fit(X)
    local = explainer.explain(confident[:3]).values
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster), joblib.parallel_config(backend="dask"):
            remote = explainer.explain(confident[:3]).values
    np.testing.assert_array_equal(local, remote)


def test_median_rule_gives_smaller_boxes_and_keeps_confident_rows_sensitive(planted):
    X, model, confident = planted
    params = dict(n_walks=5, n_profile_samples=200, random_state=0)
    envelope = SensX(model, delta_rule="envelope", **params).fit(X).explain(confident[:5])
    median = SensX(model, delta_rule="median", **params).fit(X).explain(confident[:5])
    assert np.all(median.info["delta_star"] < envelope.info["delta_star"])
    assert not median.info["insensitive"].any() and np.all(median.values.sum(axis=1) > 0)


def test_group_values_follow_sorted_group_labels():
    # One feature per group, labels not in feature order: values stay on the group axis.
    w = np.array([1.0, 0.0, 0.0, 0.0])
    X = np.random.default_rng(0).normal(size=(20, 2, 2))
    labels = np.array([[3, 2], [1, 0]])
    E = SensX(_linear(w), n_walks=2, delta=0.5, feature_groups=labels,
                       random_state=0).fit(X).explain(X[:1])
    assert E.values.shape == (1, 4)
    np.testing.assert_allclose(E.values[0], [0, 0, 0, 1])  # feature (0, 0) is group "3"


def test_rows_do_not_depend_on_the_rest_of_the_batch(planted):
    X, model, confident = planted
    explainer = SensX(model, n_walks=5, n_profile_samples=100, random_state=0).fit(X)
    np.testing.assert_array_equal(explainer.explain(confident[:1]).values,
                                  explainer.explain(confident[:3]).values[:1])


def test_explanation_data_is_a_copy():
    X = np.random.default_rng(0).normal(size=(10, 3))
    E = SensX(_linear(np.ones(3)), n_walks=2, delta=0.5).fit(X).explain(X[:2])
    E.data[:] = 0
    assert np.all(X[:2] != 0)


def test_output_parameter_explains_the_same_quantity_as_a_callable():
    X = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(),
                              torch.nn.Linear(3, 2)).eval()

    def logits(rows):
        with torch.no_grad():
            return net(torch.as_tensor(rows, dtype=torch.float32)).numpy()

    def probabilities(rows):
        return torch.softmax(torch.as_tensor(logits(rows)), 1).numpy()

    def explain(model, **params):
        explainer = SensX(model, n_walks=4, n_profile_samples=50, tau=0.01, random_state=0,
                          **params)
        return explainer.fit(X).explain(X[:3], target=1)

    auto = explain(net)
    assert auto.info["output"] == "logit" and auto.info["method"] == "sensx"
    np.testing.assert_allclose(auto.values, explain(logits).values, rtol=1e-5, atol=1e-6)
    proba = explain(net, output="probability")
    np.testing.assert_allclose(proba.values, explain(probabilities).values, rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(proba.base_values, probabilities(X[:3])[:, 1], rtol=1e-6)
    assert not np.allclose(proba.values, auto.values)
    with pytest.warns(FutureWarning, match="'logit'"):
        old = explain(net, output="logits")
    np.testing.assert_array_equal(old.values, auto.values)


def test_nan_scores_raise_and_the_model_may_be_set_later():
    X = np.random.default_rng(0).normal(size=(30, 3))
    explainer = SensX(n_walks=10, delta=1.0, random_state=0)
    with pytest.raises(ValueError, match="no model to explain"):
        explainer.fit(X)
    # NaN where feature 0 exceeds 1: reached by the walks (delta=1: the whole domain), not
    # by the explained instances themselves.
    explainer.set_params(model=lambda rows: np.where(rows[:, 0] > 1, np.nan, rows[:, 1]))
    inside = X[X[:, 0] < 0.5][:2]
    with pytest.raises(ValueError, match="NaN or infinite scores"):
        explainer.fit(X).explain(inside, target=0)


def _torch_mlp(n_features, dtype):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(n_features, 16), torch.nn.Tanh(),
                              torch.nn.Linear(16, 1), torch.nn.Sigmoid())
    return net.to(dtype).eval()


def test_float32_torch_rows_match_the_float64_model():
    # The same draws in either dtype: float32 rows give float64 rows' values up to rounding,
    # and the float32 model is called with float32 rows (no float64 conversion).
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 6)).astype(np.float32)
    net32 = _torch_mlp(6, torch.float32)
    net64 = _torch_mlp(6, torch.float64)
    seen = []
    net32.register_forward_pre_hook(lambda module, args: seen.append(args[0].dtype))
    params = dict(n_walks=10, n_profile_samples=100, random_state=0)
    v32 = SensX(net32, **params).fit(X).explain(X[:3])
    v64 = SensX(net64, **params).fit(X.astype(np.float64)).explain(X[:3].astype(np.float64))
    assert set(seen) == {torch.float32}
    np.testing.assert_array_equal(v32.info["delta_star"], v64.info["delta_star"])
    np.testing.assert_allclose(v32.values, v64.values, rtol=1e-3,
                               atol=1e-4 * np.abs(v64.values).max())


def test_torch_values_identical_for_n_jobs_and_batch_sizes():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 7)).astype(np.float32)
    net = _torch_mlp(7, torch.float32)
    explainer = SensX(net, n_walks=23, n_profile_samples=40, random_state=0).fit(X)
    serial = explainer.explain(X[:5]).values
    parallel = explainer.set_params(n_jobs=2).explain(X[:5]).values
    np.testing.assert_array_equal(serial, parallel)
    for batch_size in (7, 64, 999):
        other = explainer.set_params(n_jobs=1, batch_size=batch_size).explain(X[:5]).values
        # float32 GEMMs round differently per batch size, and |dy| / |dx| magnifies a score's
        # rounding (~1e-7) for short steps: equal up to that, not bit for bit
        np.testing.assert_allclose(other, serial, rtol=1e-3, atol=1e-3 * np.abs(serial).max())
