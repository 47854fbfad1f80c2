"""Explanations that travel: reduce, genomic names, shap, AnnData and (n, L, 4) exports."""

import json

import numpy as np
import pytest

from skexplain._core.explanation import Attribution, reduce_sequence_values
from skexplain._core.validation import default_feature_names, sequence_feature_names

SEQ_AXES = ("sample", "channel", "position")


def one_hot(n, length, seed=0):
    rng = np.random.default_rng(seed)
    return np.eye(4)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1).copy()


def sequence_result(n=3, length=5, seed=0, **kwargs):
    X = one_hot(n, length, seed)
    values = np.random.default_rng(seed + 1).normal(size=X.shape)
    return Attribution(values, data=X, base_values=np.arange(n, dtype=float),
                       info={"axes": SEQ_AXES, "method": "deeplift",
                             "target": np.zeros(n, dtype=int), **kwargs},
                       output_names=["bound", "unbound"], units="logit")


# --- names and reductions --------------------------------------------------------------------

def test_sequence_feature_names_follow_the_flattened_channel_position_order():
    names = sequence_feature_names(3)
    assert names.tolist()[:4] == ["A:0", "A:1", "A:2", "C:0"] and len(names) == 12
    X = np.arange(12).reshape(4, 3)
    for flat, name in zip(X.ravel(), names, strict=True):
        letter, position = name.split(":")
        assert X["ACGT".index(letter), int(position)] == flat
    assert default_feature_names((4, 3), alphabet="ACGT").tolist() == names.tolist()
    # The shape alone never makes DNA: a (4, L) input keeps the x{c}_{p} names.
    assert default_feature_names((4, 3))[1] == "x0_1"
    assert sequence_feature_names(2, ["a", "b"]).tolist() == ["a:0", "a:1", "b:0", "b:1"]
    with pytest.raises(ValueError, match="alphabet of 4 letters"):
        default_feature_names((3, 5), alphabet="ACGT")
    with pytest.raises(ValueError, match="each channel once"):
        sequence_feature_names(3, "AAGT")


@pytest.mark.parametrize("method", ["input_times", "sum", "sum_abs", "max_abs", "l2"])
def test_reduce_to_positions(method):
    E = sequence_result()
    v, X = E.values, E.data
    expected = {"input_times": (v * X).sum(1), "sum": v.sum(1), "sum_abs": np.abs(v).sum(1),
                "max_abs": np.abs(v).max(1), "l2": np.sqrt((v**2).sum(1))}[method]
    R = E.reduce(method)
    assert R.axes == ("sample", "position") and R.values.shape == (3, 5)
    np.testing.assert_allclose(R.values, expected)
    np.testing.assert_allclose(reduce_sequence_values(v, X, method), expected)
    assert R.feature_names.tolist() == ["0", "1", "2", "3", "4"]
    np.testing.assert_array_equal(R.data, X.argmax(1))
    assert R.info["reduction"] == method and R.info["method"] == "deeplift"
    assert R.base_values.tolist() == [0, 1, 2] and R.units == "logit"
    assert R[1].values.shape == (1, 5)


def test_reduce_keeps_position_names_and_checks_its_input():
    E = sequence_result(length=2)
    named = Attribution(E.values, E.data, feature_names=sequence_feature_names(2, "ACGT"),
                        axes=SEQ_AXES)
    assert named.reduce("sum").feature_names.tolist() == ["0", "1"]
    coords = [f"{b}:chr1:{p}" for b in "ACGT" for p in (100, 101)]
    assert Attribution(E.values, axes=SEQ_AXES, feature_names=coords).reduce(
        "l2").feature_names.tolist() == ["chr1:100", "chr1:101"]
    X = E.data.copy()
    X[0, :, 1] = 0  # an unknown base
    assert Attribution(E.values, X, axes=SEQ_AXES).reduce("sum").data[0, 1] == 4
    with pytest.raises(ValueError, match="needs the sequences"):
        Attribution(E.values, axes=SEQ_AXES).reduce()
    with pytest.raises(ValueError, match="method must be one of"):
        E.reduce("mean")
    with pytest.raises(ValueError, match="sequence result"):
        Attribution(np.zeros((2, 3))).reduce("sum")


# --- shap ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def agg():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def test_kernel_shap_to_shap_plots_and_additivity(agg):
    shap = pytest.importorskip("shap")
    from sklearn.linear_model import LogisticRegression

    from skexplain.explainers import KernelShap

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    clf = LogisticRegression().fit(X, (X[:, 0] - X[:, 2] > 0).astype(int))

    def f(A):
        return clf.predict_proba(A)[:, 1]

    explainer = KernelShap(f, background="sample", n_background=10, random_state=0).fit(X)
    E = explainer.explain(X[:6])
    S = E.to_shap()
    assert isinstance(S, shap.Explanation) and S.values.shape == (6, 4)
    np.testing.assert_allclose(S.base_values, f(explainer.background_).mean())  # E[f(X)]
    np.testing.assert_allclose(S.base_values + S.values.sum(1), f(X[:6]), atol=1e-8)
    np.testing.assert_array_equal(S.data, X[:6])
    assert list(S.feature_names) == ["x0", "x1", "x2", "x3"]
    shap.plots.waterfall(S[0], show=False)
    agg.close("all")
    shap.plots.beeswarm(S, show=False)
    agg.close("all")
    shap.plots.bar(S, show=False)
    agg.close("all")


def test_deepliftshap_to_shap_on_a_tiny_cnn_flat_and_by_position(agg):
    shap = pytest.importorskip("shap")
    torch = pytest.importorskip("torch")
    from torch import nn

    from skexplain.explainers import DeepLiftShap

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(4, 3, 5, padding=2), nn.ReLU(), nn.Flatten(),
                          nn.Linear(3 * 12, 1)).eval()
    X = one_hot(10, 12).astype(np.float32)
    E = DeepLiftShap(model, baselines=X[6:10]).fit(X).explain(X[:4], target=0)
    with torch.no_grad():
        fx = model(torch.as_tensor(X[:4]))[:, 0].numpy()
        f_ref = model(torch.as_tensor(X[6:10]))[:, 0].numpy().mean()

    S = E.to_shap()
    assert S.values.shape == (4, 48) and S.feature_names[13] == "C:1"
    np.testing.assert_allclose(S.base_values, f_ref, rtol=1e-5)
    np.testing.assert_allclose(S.base_values + S.values.sum(1), fx, atol=1e-5)
    np.testing.assert_array_equal(S.data, X[:4].reshape(4, -1))

    P = E.to_shap("positions", reduction="sum")
    assert P.values.shape == (4, 12) and list(P.feature_names[:2]) == ["0", "1"]
    np.testing.assert_allclose(P.base_values + P.values.sum(1), fx, atol=1e-5)
    assert P.display_data[0, 0] == "ACGT"[X[0, :, 0].argmax()]
    shap.plots.waterfall(S[0], show=False)
    agg.close("all")
    shap.plots.waterfall(P[1], show=False)
    agg.close("all")
    shap.plots.beeswarm(P, show=False)
    agg.close("all")
    with pytest.raises(ValueError, match="flatten must be"):
        E.to_shap(flatten=False)


def test_to_shap_base_values_fall_back_to_scores_minus_the_sum():
    pytest.importorskip("shap")
    E = Attribution(np.array([[1.0, 2.0], [0.5, 0.0]]), base_values=np.array([10.0, 1.0]),
                    info={"reference_scores": np.array([np.nan, np.nan])})
    S = E.to_shap()
    np.testing.assert_allclose(S.base_values, [7.0, 0.5])
    np.testing.assert_allclose(S.base_values + S.values.sum(1), E.base_values)
    assert Attribution(np.zeros((1, 2))).to_shap().base_values is None
    # Feature groups: values per group, data per feature, so no data travels.
    grouped = Attribution(np.zeros((2, 2)), data=np.zeros((2, 6)), feature_names=["g0", "g1"])
    assert grouped.to_shap().data is None
    # A 4-channel result with its own names keeps them; alphabet=None keeps the defaults.
    seq = sequence_result(length=2)
    assert seq.to_shap(alphabet=None).feature_names[1] == "x1"
    own = Attribution(seq.values, axes=SEQ_AXES, feature_names=[f"f{i}" for i in range(8)])
    assert own.to_shap().feature_names[1] == "f1"
    explainer_default = Attribution(seq.values, axes=SEQ_AXES,
                                    feature_names=default_feature_names((4, 2)))
    assert explainer_default.to_shap().feature_names[1] == "A:1"
    assert seq.to_shap(alphabet="ACGU").feature_names[-1] == "U:1"
    assert seq.to_shap().output_names == "bound"
    mixed = Attribution(np.zeros((2, 2)), info={"target": np.array([0, 1])})
    assert mixed.to_shap().output_names is None
    per_position = Attribution(np.ones((2, 5)), axes=("sample", "position"))
    np.testing.assert_array_equal(per_position.to_shap("positions").values, np.ones((2, 5)))
    with pytest.raises(ValueError, match="sequence result"):
        Attribution(np.ones((2, 5))).to_shap("positions")
    with pytest.raises(ValueError, match="3 letters for 4 channels"):
        seq.to_shap(alphabet="ACG")


# --- AnnData ---------------------------------------------------------------------------------

def test_to_anndata_round_trip_of_a_sequence_result(tmp_path):
    anndata = pytest.importorskip("anndata")
    E = sequence_result(length=4, expected_value=np.array([0.1, 0.2, 0.3]),
                        layer_map=np.ones((3, 2, 2)), n_baselines=5, shuffle="dinucleotide",
                        output="logit", inexact_modules=[], callable_thing=len)
    A = E.to_anndata()
    assert A.shape == (3, 16) and A.var_names[5] == "C:1"
    assert A.obs_names.tolist() == ["0", "1", "2"]
    np.testing.assert_array_equal(A.X, E.values.reshape(3, -1))
    np.testing.assert_array_equal(A.obs["base_value"], [0, 1, 2])
    np.testing.assert_array_equal(A.obs["expected_value"], [0.1, 0.2, 0.3])
    meta = A.uns["explanation"]
    json.dumps(meta)
    assert meta["method"] == "deeplift" and meta["feature_shape"] == [4, 4]
    assert meta["axes"] == list(SEQ_AXES) and meta["output_names"] == ["bound", "unbound"]
    assert meta["n_baselines"] == 5 and "callable_thing" not in meta
    assert set(meta["obs_info"]) == {"target", "expected_value"}

    path = tmp_path / "E.h5ad"
    A.write_h5ad(path)
    B = Attribution.from_anndata(anndata.read_h5ad(path))
    np.testing.assert_allclose(B.values, E.values)
    assert B.axes == SEQ_AXES and B.units == "logit" and B.method == "deeplift"
    assert B.feature_names.tolist() == sequence_feature_names(4).tolist()
    np.testing.assert_array_equal(B.base_values, E.base_values)
    np.testing.assert_array_equal(B.info["target"], [0, 0, 0])
    np.testing.assert_array_equal(B.info["layer_map"], np.ones((3, 2, 2)))
    assert B.output_names.tolist() == ["bound", "unbound"] and B.data is None
    np.testing.assert_allclose(B.reduce("sum").values, E.reduce("sum").values)


def test_to_anndata_as_a_layer_beside_the_data():
    pytest.importorskip("anndata")
    E = Attribution(np.arange(6.0).reshape(2, 3), data=np.ones((2, 3)) * 7,
                    feature_names=["CD3E", "MS4A1", "LYZ"], info={"method": "saliency"})
    A = E.to_anndata(layer="saliency", obs_names=["cell_a", "cell_b"])
    assert A.var_names.tolist() == ["CD3E", "MS4A1", "LYZ"]
    assert A.obs_names.tolist() == ["cell_a", "cell_b"]
    np.testing.assert_array_equal(A.X, E.data)
    np.testing.assert_array_equal(A.layers["saliency"], E.values)
    B = Attribution.from_anndata(A)
    np.testing.assert_array_equal(B.values, E.values)
    np.testing.assert_array_equal(B.data, E.data)
    assert B.feature_names.tolist() == ["CD3E", "MS4A1", "LYZ"] and B.base_values is None
    with pytest.raises(KeyError, match="No layer"):
        Attribution.from_anndata(A, layer="ig")
    with pytest.raises(ValueError, match="no data"):
        Attribution(np.zeros((2, 3))).to_anndata(layer="v")
    with pytest.raises(ValueError, match="1 obs_names given for 2"):
        E.to_anndata(obs_names=["a"])


# --- channels last, tangermeme ---------------------------------------------------------------

def test_channels_last_and_tangermeme_layouts():
    E = sequence_result(n=2, length=6)
    values, data = E.as_channels_last()
    assert values.shape == data.shape == (2, 6, 4) and values.dtype == np.float32
    np.testing.assert_array_equal(values, np.transpose(E.values, (0, 2, 1)).astype(np.float32))
    for i in range(2):
        np.testing.assert_array_equal(data[i], E.data[i].T)
    assert Attribution(E.values, axes=SEQ_AXES).as_channels_last()[1] is None
    with pytest.raises(ValueError, match="sequence result"):
        Attribution(np.zeros((2, 3))).as_channels_last()
    torch = pytest.importorskip("torch")
    X_attr, X = E.to_tangermeme()
    assert isinstance(X_attr, torch.Tensor) and tuple(X_attr.shape) == (2, 4, 6)
    np.testing.assert_array_equal(X.numpy(), E.data.astype(np.float32))


@pytest.mark.parametrize("module, call, extra", [
    ("shap", lambda E: E.to_shap(), "bench"),
    ("anndata", lambda E: E.to_anndata(), "sc"),
    ("torch", lambda E: E.to_tangermeme(), "torch"),
])
def test_missing_optional_packages_name_what_to_install(monkeypatch, module, call, extra):
    monkeypatch.setitem(__import__("sys").modules, module, None)
    with pytest.raises(ImportError, match=f"needs {module}.*{extra}"):
        call(sequence_result())
