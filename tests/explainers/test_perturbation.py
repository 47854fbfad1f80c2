import itertools
import math

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skexplain.explainers import (
    InSilicoMutagenesis,
    KernelShap,
    Lime,
    Occlusion,
)
from skexplain.explainers._perturbation import shapley_coalitions
from skexplain.models import ExpActivationCNNClassifier


def _one_hot(n, length, seed=0):
    rng = np.random.default_rng(seed)
    return np.eye(4)[rng.integers(0, 4, size=(n, length))].transpose(0, 2, 1)


def _linear_sequence_model(W):
    def model(X):
        return (X * W).sum(axis=(1, 2))

    return model


def _small_conv_net(length, n_outputs=2):
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv1d(4, 3, 5, padding=2), torch.nn.ReLU(), torch.nn.Flatten(),
        torch.nn.Linear(3 * length, n_outputs),
    ).eval()


def _exact_shapley(model, x, background, weights):
    """Shapley values by enumeration of the game v(S) = E_b f(x_S, b_rest)."""
    n_players = x.size

    def worth(coalition):
        rows = background.copy()
        rows[:, list(coalition)] = x[list(coalition)]
        return weights @ model(rows)

    phi = np.zeros(n_players)
    for player in range(n_players):
        others = [k for k in range(n_players) if k != player]
        for size in range(n_players):
            kernel = math.factorial(size) * math.factorial(n_players - size - 1) / \
                math.factorial(n_players)
            for coalition in itertools.combinations(others, size):
                phi[player] += kernel * (worth(coalition + (player,)) - worth(coalition))
    return phi


@pytest.fixture(scope="module")
def tabular():
    """Gaussian features of different scales; y depends on features 1, 4 and 6."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 8)) * np.linspace(0.5, 2.0, 8)
    w = np.array([0.0, 2.0, 0.0, 0.0, -1.5, 0.0, 1.0, 0.0])
    return X, w


# --- in silico mutagenesis --------------------------------------------------------------


def test_ism_is_exact_on_a_linear_model():
    W = np.random.default_rng(0).normal(size=(4, 15))
    X = _one_hot(3, 15)
    reference = X.argmax(axis=1)
    model = _linear_sequence_model(W)
    raw = InSilicoMutagenesis(model, reduction=None).fit(X).explain(X).values
    expected = W[None] - W[reference, np.arange(15)][:, None, :]  # W[c, i] - W[x_i, i]
    np.testing.assert_allclose(raw, expected, atol=1e-12)
    centred = InSilicoMutagenesis(model).fit(X).explain(X)
    np.testing.assert_allclose(centred.values, np.broadcast_to(W - W.mean(axis=0), X.shape),
                               atol=1e-12)  # the catalogue's closed form (W - mean_c W)
    assert centred.info["axes"] == ("sample", "channel", "position")
    l2 = InSilicoMutagenesis(model, reduction="l2").fit(X).explain(X)
    np.testing.assert_allclose(l2.values, np.sqrt((expected ** 2).sum(axis=1)), atol=1e-12)
    assert l2.values.shape == (3, 15) and l2.feature_names[:2].tolist() == ["pos0", "pos1"]


def test_ism_range_leaves_other_positions_at_zero():
    W = np.random.default_rng(1).normal(size=(4, 12))
    X = _one_hot(2, 12)
    calls = []

    def model(X):
        calls.append(len(X))
        return _linear_sequence_model(W)(X)

    E = InSilicoMutagenesis(model, start=3, end=-2).fit(X).explain(X)
    assert np.all(E.values[:, :, :3] == 0) and np.all(E.values[:, :, 10:] == 0)
    np.testing.assert_allclose(E.values[:, :, 3:10], np.broadcast_to(
        (W - W.mean(axis=0))[:, 3:10], (2, 4, 7)), atol=1e-12)
    assert calls == [2, 2 * (1 + 3 * 7)]  # explain's scores, then references and mutants


def test_ism_matches_tangermeme_on_a_cnn():
    tangermeme = pytest.importorskip("tangermeme.saturation_mutagenesis")
    net = _small_conv_net(30)
    X = _one_hot(4, 30).astype(np.float32)
    E = InSilicoMutagenesis(net).fit(X).explain(X, target=1)
    theirs = tangermeme.saturation_mutagenesis(
        net, torch.tensor(X), target=1, hypothetical=True, fast=False, device="cpu"
    ).numpy()
    np.testing.assert_allclose(E.values, theirs, atol=1e-5)
    observed = tangermeme.saturation_mutagenesis(
        net, torch.tensor(X), target=1, fast=False, device="cpu"
    ).numpy()
    np.testing.assert_allclose(E.values * E.data, observed, atol=1e-5)


def test_ism_rejects_input_that_is_not_one_hot():
    X = _one_hot(3, 10)
    explainer = InSilicoMutagenesis(_linear_sequence_model(np.ones((4, 10)))).fit(X)
    soft = X.copy()
    soft[1, :, 4] = 0.25
    with pytest.raises(ValueError, match=r"one-hot sequences.*sequences \[1\]"):
        explainer.explain(soft)
    with pytest.raises(ValueError, match="n_channels, length"):
        InSilicoMutagenesis(lambda X: X.sum(axis=1)).fit(np.zeros((5, 7)))
    with pytest.raises(ValueError, match="No position to mutate"):
        InSilicoMutagenesis(lambda X: X.sum(axis=(1, 2)), start=8, end=8).fit(X)


# --- occlusion ---------------------------------------------------------------------------


@pytest.mark.parametrize("window, stride", [(1, 1), (5, 2), (4, 4), (6, 5)])
def test_occlusion_equals_captum_on_a_sequence_cnn(window, stride):
    captum = pytest.importorskip("captum.attr")
    net = _small_conv_net(23)
    X = _one_hot(5, 23).astype(np.float32)
    E = Occlusion(net, window=window, stride=stride, baseline=0.25).fit(X).explain(X, target=1)
    theirs = captum.Occlusion(net).attribute(
        torch.tensor(X), sliding_window_shapes=(4, window), strides=(4, stride), baselines=0.25,
        target=1,
    ).numpy()
    np.testing.assert_allclose(E.values, theirs, atol=1e-6)
    assert E.values.shape == (5, 4, 23)


def test_occlusion_equals_captum_on_tabular_input(tabular):
    captum = pytest.importorskip("captum.attr")
    X, _ = tabular
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3))
    net.eval()
    explainer = Occlusion(net, window=3, stride=2, baseline="zeros").fit(X)
    E = explainer.explain(X[:6], target=2)
    theirs = captum.Occlusion(net).attribute(
        torch.tensor(X[:6], dtype=torch.float32), sliding_window_shapes=(3,), strides=(2,),
        baselines=0.0, target=2,
    ).numpy()
    np.testing.assert_allclose(E.values, theirs, atol=1e-6)


def test_occlusion_of_groups_on_a_linear_model(tabular):
    X, w = tabular
    labels = ["a", "a", "b", "b", "c", "c", "d", "d"]
    E = Occlusion(lambda X: X @ w, feature_groups=labels).fit(X).explain(X[:3])
    contribution = w * (X[:3] - X.mean(axis=0))  # f(x) - f(x with a group at the mean)
    np.testing.assert_allclose(E.values, contribution.reshape(3, 4, 2).sum(axis=2), atol=1e-12)
    assert E.feature_names.tolist() == ["a", "b", "c", "d"]
    assert E.info["axes"] == ("sample", "group")


def test_shuffled_windows_keep_the_composition():
    # The model counts G and C in each half: shuffling inside a window changes nothing,
    # unless the window straddles the two halves, whose weights differ.
    def model(X):
        gc = X[:, 1] + X[:, 2]
        return gc[:, :10].sum(axis=1) + 3 * gc[:, 10:].sum(axis=1)

    X = _one_hot(3, 20)
    E = Occlusion(model, window=5, baseline="shuffle", n_shuffles=4,
                  random_state=0).fit(X).explain(X)
    np.testing.assert_allclose(E.values, 0.0, atol=1e-12)
    straddling = Occlusion(model, window=4, stride=3, baseline="shuffle", random_state=0)
    assert np.any(straddling.fit(X).explain(X).values != 0)


def test_occlusion_parameters_are_validated(tabular):
    X, w = tabular
    with pytest.raises(ValueError, match="stride=3 is larger than window=2"):
        Occlusion(lambda X: X @ w, window=2, stride=3).fit(X)
    with pytest.raises(ValueError, match="window=9 is longer"):
        Occlusion(lambda X: X @ w, window=9).fit(X)
    with pytest.raises(ValueError, match='baseline="shuffle"'):
        Occlusion(lambda X: X @ w, baseline="shuffle").fit(X)
    with pytest.raises(ValueError, match="baseline has shape"):
        Occlusion(lambda X: X @ w, baseline=np.zeros(3)).fit(X)


# --- KernelSHAP --------------------------------------------------------------------------


def _interactions(X):
    return X[:, 0] * X[:, 1] + np.sin(X[:, 2]) + X[:, 3] * X[:, 4] * X[:, 5]


def test_kernel_shap_enumerates_exact_shapley_values():
    X = np.random.default_rng(0).normal(size=(200, 6))
    explainer = KernelShap(_interactions, background="sample", n_background=7,
                                    random_state=0).fit(X)
    E = explainer.explain(X[:3])
    for x, values in zip(X[:3], E.values, strict=True):
        exact = _exact_shapley(_interactions, x, explainer.background_,
                               explainer.background_weights_)
        np.testing.assert_allclose(values, exact, atol=1e-12)
    np.testing.assert_allclose(E.values.sum(axis=1) + E.info["expected_value"], E.base_values,
                               atol=1e-12)


def test_kernel_shap_agrees_with_shap():
    shap = pytest.importorskip("shap")
    X = np.random.default_rng(1).normal(size=(150, 6))
    explainer = KernelShap(_interactions, background="sample", n_background=5,
                                    random_state=0).fit(X)
    theirs = shap.KernelExplainer(_interactions, explainer.background_).shap_values(
        X[:4], l1_reg=False, silent=True)
    np.testing.assert_allclose(explainer.explain(X[:4]).values, theirs, atol=1e-10)


def test_sampled_kernel_shap_is_additive_and_close_to_exact():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 12))

    def model(X):
        return np.tanh(X[:, :6] @ np.arange(1, 7) / 5) * X[:, 6] + X[:, 7:].sum(axis=1) * X[:, 0]

    sampled = KernelShap(model, n_background=8, n_samples=400, random_state=0).fit(X)
    E = sampled.explain(X[:3])
    np.testing.assert_allclose(E.values.sum(axis=1) + E.info["expected_value"], E.base_values,
                               atol=1e-10)
    exact = KernelShap(model, n_background=8, n_samples=2**12, random_state=0)
    exact_values = exact.fit(X).explain(X[:3]).values
    for a, b in zip(E.values, exact_values, strict=True):
        assert np.corrcoef(a, b)[0, 1] > 0.99


def test_kernel_shap_of_a_linear_model_is_exact_even_when_sampled():
    # For an additive game any set of coalitions fits exactly: phi_j = w_j (x_j - E_b x_j).
    rng = np.random.default_rng(3)
    w = rng.normal(size=30)
    X = rng.normal(size=(100, 30))
    explainer = KernelShap(lambda X: X @ w, n_background=10, n_samples=200,
                                    random_state=0).fit(X)
    expected = w * (X[:2] - explainer.background_weights_ @ explainer.background_)
    np.testing.assert_allclose(explainer.explain(X[:2]).values, expected, atol=1e-10)


def test_kernel_shap_l1_reg_keeps_the_relevant_players(tabular):
    X, w = tabular
    E = KernelShap(lambda X: X @ w, l1_reg=3, n_samples=100,
                            random_state=0).fit(X).explain(X[:3])
    assert np.all((E.values != 0) == (w != 0))
    aic = KernelShap(lambda X: X @ w, l1_reg="aic", random_state=0).fit(X)
    assert np.all(aic.explain(X[:3]).values[:, w == 0] == 0)


def test_shapley_coalition_weights():
    rng = np.random.default_rng(0)
    coalitions, weights = shapley_coalitions(5, 30, rng)  # 2**5 - 2 = 30: enumerated
    assert len(coalitions) == 30 and len({c.tobytes() for c in coalitions}) == 30
    sizes = coalitions.sum(axis=1)
    kernel = 4 / (np.array([math.comb(5, s) for s in sizes]) * sizes * (5 - sizes))
    np.testing.assert_allclose(weights, kernel / kernel.sum())
    coalitions, weights = shapley_coalitions(21, 300, rng)  # sampled, in complementary pairs
    assert len(coalitions) == 300 and coalitions.sum(axis=1).min() == 1
    assert np.isclose(weights.sum(), 1.0)
    keys = {c.tobytes() for c in coalitions}
    assert all((~c).tobytes() in keys for c in coalitions)


# --- LIME --------------------------------------------------------------------------------


def test_lime_ranks_the_true_features_of_a_sparse_linear_model(tabular):
    X, w = tabular
    E = Lime(lambda X: X @ w, n_samples=2000, random_state=0).fit(X).explain(X[:5])
    # Coefficients are per standard deviation of each feature: w_j * sd_j.
    expected = w * X.std(axis=0)
    np.testing.assert_allclose(E.values, np.tile(expected, (5, 1)), atol=0.02)
    assert all(set(row) == {"x1", "x4", "x6"} for row in E.top_features(3).to_numpy())
    assert np.all(E.info["score"] > 0.99)


def test_lime_ranking_equals_the_lime_package(tabular):
    lime_tabular = pytest.importorskip("lime.lime_tabular")
    X, w = tabular
    model = LogisticRegression().fit(X, (X @ w > 0).astype(int))
    E = Lime(model, n_samples=3000, random_state=0).fit(X).explain(X[:3], target=1)
    lime = lime_tabular.LimeTabularExplainer(X, discretize_continuous=False, random_state=0)
    for x, values in zip(X[:3], E.values, strict=True):
        theirs = dict(lime.explain_instance(x, model.predict_proba, num_features=8,
                                            num_samples=3000).as_map()[1])
        theirs = np.array([theirs[j] for j in range(8)])
        top = np.argsort(-np.abs(values))[:3]
        assert top.tolist() == np.argsort(-np.abs(theirs))[:3].tolist()
        np.testing.assert_allclose(values[top], theirs[top], rtol=0.15)


def test_lime_feature_selection_keeps_the_true_features(tabular):
    X, w = tabular
    for method in ["auto", "forward_selection", "highest_weights", "lasso_path"]:
        E = Lime(lambda X: X @ w, n_samples=500, feature_selection=method,
                          n_features_to_select=3, random_state=0).fit(X).explain(X[:2])
        assert np.all((E.values != 0) == (w != 0)), method


def test_lime_finds_a_planted_window_in_sequences():
    motif = np.zeros((4, 40))
    motif[[0, 1, 2, 3, 0], [20, 21, 22, 23, 24]] = 1.0

    def model(X):
        return 1 / (1 + np.exp(-(3 * (X * motif).sum(axis=(1, 2)) - 9)))

    reference = _one_hot(30, 40)
    X = _one_hot(3, 40, seed=1)
    X[:, :, 20:25] = motif[:, 20:25]
    for baseline in ["mean", "shuffle"]:
        E = Lime(model, window=5, baseline=baseline, n_samples=500,
                          random_state=0).fit(reference).explain(X)
        assert E.values.shape == (3, 8) and E.feature_names[4] == "pos20:25"
        assert np.all(np.argmax(E.values, axis=1) == 4), baseline
        assert E.info["axes"] == ("sample", "window")


# --- shared behaviour --------------------------------------------------------------------


def _explainer(name, model):
    """A configured explainer and data it applies to."""
    if name in ("occlusion", "lime", "kernel_shap"):
        X = np.random.default_rng(0).normal(size=(60, 7))
        return {
            "occlusion": Occlusion(model, window=2),
            "lime": Lime(model, n_samples=300, random_state=0),
            "kernel_shap": KernelShap(model, n_background=5, n_samples=200,
                                               random_state=0),
        }[name], X
    X = _one_hot(40, 18)
    return {
        "occlusion_shuffle": Occlusion(model, window=3, baseline="shuffle", n_shuffles=3,
                                       random_state=0),
        "lime_sequence": Lime(model, window=3, n_samples=200, baseline="shuffle",
                                       random_state=0),
        "kernel_shap_sequence": KernelShap(model, window=4, n_samples=100,
                                                    background="sample", n_background=4,
                                                    random_state=0),
        "ism": InSilicoMutagenesis(model),
    }[name], X


def _nonlinear(X):
    if X.ndim == 2:
        return np.tanh(X @ np.arange(7.0) / 7) + X[:, 0] * X[:, 1]
    W = np.random.default_rng(0).normal(size=X.shape[1:])
    return np.tanh((X * W).sum(axis=(1, 2))) + X[:, 1, 3] * X[:, 2, 4]


METHODS = ["occlusion", "lime", "kernel_shap", "occlusion_shuffle", "lime_sequence",
           "kernel_shap_sequence", "ism"]


@pytest.mark.parametrize("name", METHODS)
def test_identical_for_any_n_jobs_backend_and_batch_size(name):
    calls = []

    def counted(X):
        calls.append(len(X))
        return _nonlinear(X)

    explainer, X = _explainer(name, counted)
    explainer.set_params(batch_size=64).fit(X)
    serial = explainer.set_params(n_jobs=1).explain(X[:5]).values
    assert max(calls) <= 64
    parallel = explainer.set_params(n_jobs=2).explain(X[:5]).values
    with joblib.parallel_config(backend="threading", n_jobs=2):
        threads = explainer.set_params(n_jobs=None).explain(X[:5]).values
    np.testing.assert_array_equal(serial, parallel)
    np.testing.assert_array_equal(serial, threads)
    big_batches = explainer.set_params(batch_size=1000).explain(X[:5]).values
    np.testing.assert_allclose(big_batches, serial, rtol=1e-10, atol=1e-12)
    # Row i depends only on random_state and i, not on the rest of the batch.
    np.testing.assert_allclose(explainer.explain(X[:1]).values, serial[:1], rtol=1e-10,
                               atol=1e-12)


def test_dask_backend_gives_identical_results():
    distributed = pytest.importorskip("dask.distributed")
    explainer, X = _explainer("lime_sequence", _nonlinear)
    explainer.fit(X)
    local = explainer.explain(X[:3]).values
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster), joblib.parallel_config(backend="dask"):
            remote = explainer.explain(X[:3]).values
    np.testing.assert_array_equal(local, remote)


def test_verbose_shows_progress(capsys):
    explainer, X = _explainer("ism", _nonlinear)
    explainer.set_params(verbose=1).fit(X).explain(X[:2])
    assert "InSilicoMutagenesis" in capsys.readouterr().err


def test_random_state_controls_the_samples(tabular):
    X, w = tabular
    lime = Lime(lambda X: np.tanh(X @ w), n_samples=100).fit(X)
    a = lime.set_params(random_state=1).explain(X[:2]).values
    b = lime.set_params(random_state=1).explain(X[:2]).values
    c = lime.set_params(random_state=2).explain(X[:2]).values
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_sklearn_pipeline_on_a_dataframe(tabular):
    X, w = tabular
    frame = pd.DataFrame(X, columns=[f"gene{j}" for j in range(8)])
    y = (X @ w > 0).astype(int)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, y)
    shap_E = KernelShap(model, random_state=0).fit(frame).explain(frame.iloc[:4],
                                                                           target=1)
    np.testing.assert_allclose(shap_E.values.sum(axis=1) + shap_E.info["expected_value"],
                               shap_E.base_values, atol=1e-10)
    for E in [
        shap_E,
        Lime(model, n_samples=1000, random_state=0).fit(frame).explain(frame.iloc[:4],
                                                                                target=1),
        Occlusion(model).fit(frame).explain(frame.iloc[:4], target=1),
    ]:
        assert E.feature_names[0] == "gene0" and E.values.shape == (4, 8)
        assert set(E.top_features(1)[1]) <= {"gene1", "gene4", "gene6"}


@pytest.fixture(scope="module")
def sequence_cnn():
    X = _one_hot(200, 60).astype(np.float32)
    y = np.arange(200) % 2
    X[y == 1, :, 30:35] = np.eye(4, dtype=np.float32)[[2, 0, 3, 3, 0]].T
    net = ExpActivationCNNClassifier(
        architecture=[{"filters": 8, "kernel_size": 5, "dropout": 0.0, "pool": 4}],
        module__dense_units=16, max_epochs=3, verbose=0, random_state=0,
    )
    return net.fit(X, y), X


def test_every_method_runs_on_the_sequence_cnn(sequence_cnn):
    net, X = sequence_cnn
    rows = X[:3]
    ism = InSilicoMutagenesis(net).fit(X).explain(rows, target=1)
    occlusion = Occlusion(net, window=5).fit(X).explain(rows, target=1)
    assert ism.values.shape == occlusion.values.shape == (3, 4, 60)
    lime = Lime(net, window=5, n_samples=300, random_state=0).fit(X).explain(rows)
    shap_E = KernelShap(net, window=10, background="sample", n_background=5,
                                 random_state=0).fit(X).explain(rows, target=1)
    assert lime.values.shape == (3, 12) and shap_E.values.shape == (3, 6)
    np.testing.assert_allclose(shap_E.values.sum(axis=1) + shap_E.info["expected_value"],
                               shap_E.base_values, atol=1e-5)
    # A skorch net is explained in its logits under output="auto", as in the gradient
    # explainers (ISM explained predict_proba before); output="probability" gives those.
    logits = net.forward(rows).numpy()
    logits = np.concatenate([-logits, logits], axis=1) if logits.shape[1] == 1 else logits
    assert ism.info["output"] == "logit"
    np.testing.assert_allclose(ism.base_values, logits[:, 1], rtol=1e-6)
    proba = InSilicoMutagenesis(net, output="probability").fit(X).explain(rows, target=1)
    np.testing.assert_allclose(proba.base_values, net.predict_proba(rows)[:, 1], rtol=1e-6)
    assert not np.allclose(proba.values, ism.values)


def test_explanation_data_is_a_copy_and_input_is_untouched():
    X = _one_hot(10, 12)
    original = X.copy()
    explainer = InSilicoMutagenesis(_linear_sequence_model(np.ones((4, 12)))).fit(X)
    E = explainer.explain(X[:2])
    E.data[:] = 0
    np.testing.assert_array_equal(X, original)


PARTS = {
    "occlusion": lambda model: Occlusion(model, window=2, baseline="zeros"),
    "lime": lambda model: Lime(model, n_samples=200, random_state=0),
    "kernel_shap": lambda model: KernelShap(model, background="sample", n_background=4,
                                            random_state=0),
    "ism": lambda model: InSilicoMutagenesis(model),
}


def _inputs_of(name):
    if name == "ism":
        return _one_hot(30, 6).astype(np.float32), _small_conv_net(6, n_outputs=3)
    X = np.random.default_rng(0).normal(size=(30, 5)).astype(np.float32)
    torch.manual_seed(0)
    return X, torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(),
                                  torch.nn.Linear(4, 3)).eval()


@pytest.mark.parametrize("name", PARTS)
def test_output_parameter_explains_the_same_quantity_as_a_callable(name):
    X, net = _inputs_of(name)

    def probabilities(rows):
        with torch.no_grad():
            return torch.softmax(net(torch.as_tensor(rows, dtype=torch.float32)), 1).numpy()

    def logits(rows):
        with torch.no_grad():
            return net(torch.as_tensor(rows, dtype=torch.float32)).numpy()

    auto = PARTS[name](net).fit(X).explain(X[:3], target=2)
    assert auto.info["output"] == "logit" and auto.info["method"] == name
    np.testing.assert_allclose(auto.values, PARTS[name](logits).fit(X).explain(
        X[:3], target=2).values, rtol=1e-5, atol=1e-6)
    proba = PARTS[name](net).set_params(output="probability").fit(X).explain(X[:3], target=2)
    assert proba.info["output"] == "probability"
    np.testing.assert_allclose(proba.values, PARTS[name](probabilities).fit(X).explain(
        X[:3], target=2).values, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(proba.base_values, probabilities(X[:3])[:, 2], rtol=1e-6)
    with pytest.warns(FutureWarning, match="'probability'"):
        old = PARTS[name](net).set_params(output="probabilities").fit(X)
    np.testing.assert_array_equal(old.explain(X[:3], target=2).values, proba.values)


@pytest.mark.parametrize("name", PARTS)
def test_nan_scores_raise_naming_the_rows(name):
    X, _ = _inputs_of(name)

    def broken(rows):
        scores = np.ones(len(rows))
        scores[-1] = np.nan
        return scores

    with pytest.raises(ValueError, match="NaN or infinite scores"):
        PARTS[name](broken).fit(X).explain(X[:2])


@pytest.mark.parametrize("name", PARTS)
def test_the_model_may_be_set_after_construction(name):
    X, net = _inputs_of(name)
    explainer = PARTS[name](None)
    with pytest.raises(ValueError, match="no model to explain"):
        explainer.fit(X)
    late = explainer.set_params(model=net).fit(X).explain(X[:2], target=1)
    np.testing.assert_array_equal(late.values,
                                  PARTS[name](net).fit(X).explain(X[:2], target=1).values)


@pytest.mark.parametrize("name", PARTS)
def test_a_torch_model_in_train_mode_is_explained_in_eval_mode_and_left_unchanged(name):
    X, _ = _inputs_of(name)
    torch.manual_seed(0)
    if name == "ism":
        net = torch.nn.Sequential(torch.nn.Conv1d(4, 3, 3), torch.nn.BatchNorm1d(3),
                                  torch.nn.Dropout(0.5), torch.nn.Flatten(),
                                  torch.nn.Linear(12, 2))
    else:
        net = torch.nn.Sequential(torch.nn.Linear(5, 3), torch.nn.BatchNorm1d(3),
                                  torch.nn.Dropout(0.5), torch.nn.Linear(3, 2))
    net.train()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    E = PARTS[name](net).fit(X).explain(X[:3], target=1)
    assert net.training and all(m.training for m in net.modules())
    for key, value in net.state_dict().items():
        assert torch.equal(value, state[key]), key
    net.eval()
    with torch.no_grad():
        expected = net(torch.as_tensor(X[:3])).numpy()[:, 1]
    np.testing.assert_allclose(E.base_values, expected, rtol=1e-6)  # eval-mode scores
    again = PARTS[name](net.train()).fit(X).explain(X[:3], target=1)
    np.testing.assert_array_equal(again.values, E.values)  # no dropout draws
