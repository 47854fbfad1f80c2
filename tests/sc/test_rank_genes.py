import sys
import warnings

import joblib
import matplotlib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from skexplain.explainers import Occlusion
from skexplain.sc import rank_genes_explained

matplotlib.use("Agg")
sc = pytest.importorskip("scanpy")

GROUPBY = "bulk_labels"
# scanpy's Wilcoxon markers of these types in pbmc68k_reduced (specs/single_cell.md)
MARKERS = {
    "CD19+ B": ["CD79A", "CD79B", "MS4A1", "IGJ", "IGLL5", "PTPRCAP"],
    "CD56+ NK": ["NKG7", "GNLY", "CD7", "CTSW", "GZMB", "CST7", "GZMA", "CLIC3"],
    "CD14+ Monocyte": ["FTL", "AIF1", "PSAP", "LST1", "TYROBP", "FCER1G", "FCGR3A", "CTSS",
                       "FCN1", "C1QA", "S100A9"],
}


@pytest.fixture(scope="module")
def pbmc():
    return sc.datasets.pbmc68k_reduced()


@pytest.fixture(scope="module")
def model(pbmc):
    y = pbmc.obs[GROUPBY].astype(str).to_numpy()
    return LogisticRegression(C=0.1, max_iter=2000).fit(pbmc.raw.X, y)


@pytest.fixture(scope="module")
def ranked(pbmc, model):
    adata = pbmc.copy()
    rank_genes_explained(adata, GROUPBY, model, method="occlusion", aggregate="mean",
                         max_cells_per_group=10, random_state=0, key_added="occ")
    return adata


def _top(adata, key, group, k):
    return list(adata.uns[key]["names"][group][:k])


@pytest.mark.parametrize("group", sorted(MARKERS))
def test_occlusion_ranks_known_markers_high(ranked, group):
    top10 = _top(ranked, "occ", group, 10)
    assert len(set(top10) & set(MARKERS[group])) >= 3, top10


def test_sensx_ranks_known_markers_high(pbmc, model):
    adata = pbmc.copy()
    rank_genes_explained(
        adata, GROUPBY, model, groups=["CD19+ B", "CD56+ NK"], max_cells_per_group=5,
        explainer_params={"n_walks": 10, "n_profile_samples": 200}, random_state=0,
    )
    result = adata.uns["rank_genes_explained"]
    assert result["names"].dtype.names == ("CD19+ B", "CD56+ NK")
    assert result["params"]["explainer"] == "SensX"
    assert _top(adata, "rank_genes_explained", "CD19+ B", 2) == ["CD79A", "CD79B"]
    nk_top = _top(adata, "rank_genes_explained", "CD56+ NK", 10)
    assert len(set(nk_top) & set(MARKERS["CD56+ NK"])) >= 3, nk_top


def test_scanpy_layout(ranked, pbmc):
    result = ranked.uns["occ"]
    groups = [str(c) for c in pbmc.obs[GROUPBY].cat.categories]
    assert {"groupby", "reference", "method", "use_raw", "layer", "corr_method"} <= set(
        result["params"])
    assert result["params"]["groupby"] == GROUPBY and result["params"]["use_raw"] is True
    assert result["params"]["n_cells"].tolist() == [
        min(10, n) for n in pbmc.obs[GROUPBY].value_counts().reindex(groups)]
    for key, dtype in [("names", "O"), ("scores", "float32"), ("logfoldchanges", "float32"),
                       ("pvals", "float64"), ("pvals_adj", "float64")]:
        assert isinstance(result[key], np.recarray)
        assert result[key].dtype.names == tuple(groups)
        assert all(result[key].dtype[g] == np.dtype(dtype) for g in groups)
        assert len(result[key]) == pbmc.raw.n_vars
    for group in groups:
        scores = result["scores"][group]
        assert np.all(np.diff(scores) <= 0)  # best first
        assert sorted(result["names"][group]) == sorted(pbmc.raw.var_names)
        assert np.isnan(result["pvals"][group]).all()  # no test, no p-values


def test_scanpy_readers(ranked):
    frame = sc.get.rank_genes_groups_df(ranked, "CD19+ B", key="occ")
    assert list(frame.columns) == ["names", "scores", "logfoldchanges", "pvals", "pvals_adj"]
    assert frame["names"].tolist() == list(ranked.uns["occ"]["names"]["CD19+ B"])
    np.testing.assert_array_equal(frame["scores"], ranked.uns["occ"]["scores"]["CD19+ B"])

    adata = ranked.copy()
    dotplot = sc.pl.rank_genes_groups_dotplot(
        adata, key="occ", n_genes=2, values_to_plot="scores", show=False, return_fig=True,
        dendrogram=False,
    )
    groups = adata.uns["occ"]["names"].dtype.names
    expected_genes = [g for group in groups for g in _top(adata, "occ", group, 2)]
    assert list(dotplot.var_names) == expected_genes
    colours = dotplot.dot_color_df  # the stored scores, groups x genes (with repeats)
    colours = colours.loc[:, ~colours.columns.duplicated()]
    for group in groups:
        frame = sc.get.rank_genes_groups_df(adata, group, key="occ").set_index("names")
        np.testing.assert_allclose(colours.loc[group].to_numpy(dtype=float),
                                   frame.loc[colours.columns, "scores"].to_numpy())
    axes = sc.pl.rank_genes_groups_dotplot(adata, key="occ", n_genes=2, show=False,
                                           dendrogram=False)
    assert axes["mainplot_ax"].get_xticklabels()[0].get_text() == expected_genes[0]
    matplotlib.pyplot.close("all")


def test_h5ad_round_trip(ranked, tmp_path):
    anndata = pytest.importorskip("anndata")
    ranked.write_h5ad(tmp_path / "ranked.h5ad")
    back = anndata.read_h5ad(tmp_path / "ranked.h5ad")
    assert back.uns["occ"]["params"]["method"] == "occlusion"
    assert list(back.uns["occ"]["names"]["CD56+ NK"]) == list(ranked.uns["occ"]["names"][
        "CD56+ NK"])


@pytest.mark.parametrize("use_raw, layer", [(True, None), (False, "lognorm")])
def test_log_fold_changes_match_scanpy(pbmc, model, use_raw, layer):
    adata = pbmc.copy()
    adata.layers["lognorm"] = pbmc.raw.X.copy()
    adata.layers["lognorm"].data[::3] *= 0.5  # differ from .raw
    rank_genes_explained(adata, GROUPBY, model, method="occlusion", use_raw=use_raw,
                         layer=layer, max_cells_per_group=2, random_state=0)
    sc.tl.rank_genes_groups(adata, GROUPBY, method="t-test", use_raw=use_raw, layer=layer)
    ours = sc.get.rank_genes_groups_df(adata, None, key="rank_genes_explained")
    theirs = sc.get.rank_genes_groups_df(adata, None)
    both = ours.merge(theirs, on=["group", "names"])
    assert len(both) == len(ours) == adata.n_vars * 10
    np.testing.assert_allclose(both["logfoldchanges_x"], both["logfoldchanges_y"], atol=1e-4)
    params = adata.uns["rank_genes_explained"]["params"]
    assert params["use_raw"] is use_raw and params["layer"] == layer


def _planted(adata, scale=3.0):
    """A layer of noise where gene i (i = category code) marks category i."""
    rng = np.random.default_rng(0)
    codes = adata.obs[GROUPBY].cat.codes.to_numpy()
    layer = rng.normal(size=adata.shape) * 0.1
    layer[np.arange(adata.n_obs), codes] += scale
    return layer


def test_layer_chooses_the_input_and_unfitted_estimator_is_fitted_on_it(pbmc):
    adata = pbmc[:, :60].copy()
    adata.layers["planted"] = _planted(adata)
    estimator = LogisticRegression(max_iter=500)
    rank_genes_explained(adata, GROUPBY, estimator, method="occlusion", layer="planted",
                         max_cells_per_group=5, random_state=0)
    assert adata.uns["rank_genes_explained"]["params"]["split"] == "holdout"
    with pytest.raises(NotFittedError):
        check_is_fitted(estimator)  # a clone was fitted
    result = adata.uns["rank_genes_explained"]
    assert result["params"]["layer"] == "planted" and result["params"]["use_raw"] is False
    for code, group in enumerate(adata.obs[GROUPBY].cat.categories):
        assert result["names"][group][0] == adata.var_names[code]
    # the same estimator on .X (scaled expression) finds no planted gene first
    with pytest.warns(UserWarning, match="z-scored"):
        rank_genes_explained(adata, GROUPBY, estimator, method="occlusion", use_raw=False,
                             max_cells_per_group=5, random_state=0, key_added="X")
    firsts = [adata.uns["X"]["names"][g][0] for g in adata.obs[GROUPBY].cat.categories]
    assert sum(f == adata.var_names[i] for i, f in enumerate(firsts)) <= 1


def test_callable_model_outputs_in_category_order(pbmc):
    """f(X) = the planted genes, one per category: occlusion with the mean as baseline gives
    exactly x_g - mean_g on the group's gene and 0 elsewhere."""
    adata = pbmc[:, :40].copy()
    layer = _planted(adata)
    adata.layers["planted"] = layer
    n_groups = len(adata.obs[GROUPBY].cat.categories)
    rank_genes_explained(adata, GROUPBY, lambda X: X[:, :n_groups], method="occlusion",
                         layer="planted", aggregate="mean", max_cells_per_group=None,
                         random_state=0)
    result = adata.uns["rank_genes_explained"]
    codes = adata.obs[GROUPBY].cat.codes.to_numpy()
    for code, group in enumerate(adata.obs[GROUPBY].cat.categories):
        expected = layer[codes == code, code].mean() - layer[:, code].mean()
        assert result["names"][group][0] == adata.var_names[code]
        np.testing.assert_allclose(result["scores"][group][0], expected, rtol=1e-5)
        np.testing.assert_allclose(result["scores"][group][1:], 0, atol=1e-6)
    assert result["params"]["n_cells"].sum() == adata.n_obs


def test_explainer_instance_and_copy(pbmc, model):
    adata = pbmc.copy()
    instance = Occlusion(baseline="zeros")  # the model is set by rank_genes_explained
    out = rank_genes_explained(adata, GROUPBY, model, method=instance, groups=["CD19+ B"],
                               max_cells_per_group=3, random_state=0, copy=True)
    assert "rank_genes_explained" not in adata.uns
    assert instance.model is None  # the instance passed is not modified
    assert out.uns["rank_genes_explained"]["params"]["method"] == "Occlusion"
    rank_genes_explained(adata, GROUPBY, model, method="occlusion", groups=["CD19+ B"],
                         explainer_params={"baseline": "zeros"}, max_cells_per_group=3,
                         random_state=0)
    np.testing.assert_array_equal(out.uns["rank_genes_explained"]["scores"]["CD19+ B"],
                                  adata.uns["rank_genes_explained"]["scores"]["CD19+ B"])


def test_n_jobs_and_random_state_pass_through(pbmc, model):
    results = []
    for n_jobs in (1, 2):
        adata = pbmc.copy()
        with joblib.parallel_config(backend="threading"):  # no process start-up in tests
            rank_genes_explained(
                adata, GROUPBY, model, groups=["CD56+ NK"], n_jobs=n_jobs,
                max_cells_per_group=2, random_state=3, n_genes=20,
                explainer_params={"n_walks": 10, "n_profile_samples": 50})
        results.append(adata.uns["rank_genes_explained"])
    np.testing.assert_array_equal(results[0]["scores"]["CD56+ NK"],
                                  results[1]["scores"]["CD56+ NK"])
    assert len(results[0]["names"]) == 20
    adata = pbmc.copy()
    rank_genes_explained(adata, GROUPBY, model, groups=["CD56+ NK"], max_cells_per_group=2,
                         random_state=4, n_genes=20,
                         explainer_params={"n_walks": 10, "n_profile_samples": 50})
    assert not np.array_equal(adata.uns["rank_genes_explained"]["scores"]["CD56+ NK"],
                              results[0]["scores"]["CD56+ NK"])


def test_errors(pbmc, model):
    adata = pbmc.copy()
    with pytest.raises(ValueError, match="not a column"):
        rank_genes_explained(adata, "cell_type", model)
    with pytest.raises(ValueError, match="not both"):
        rank_genes_explained(adata, GROUPBY, model, use_raw=True, layer="x")
    with pytest.raises(ValueError, match="no layer 'x'"):
        rank_genes_explained(adata, GROUPBY, model, layer="x")
    with pytest.raises(ValueError, match="method"):
        rank_genes_explained(adata, GROUPBY, model, method="shap")
    with pytest.raises(ValueError, match="aggregate"):
        rank_genes_explained(adata, GROUPBY, model, aggregate="sum")
    with pytest.raises(ValueError, match="Unknown groups"):
        rank_genes_explained(adata, GROUPBY, model, groups=["B cells"])
    with pytest.raises(ValueError, match="max_cells_per_group"):
        rank_genes_explained(adata, GROUPBY, model, max_cells_per_group=0)
    small = clone(model).fit(pbmc.raw.X[:, :10], pbmc.obs[GROUPBY].astype(str))
    with pytest.raises(ValueError, match="10 features"):
        rank_genes_explained(adata, GROUPBY, small, method="occlusion")
    two = clone(model).fit(pbmc.raw.X, pbmc.obs[GROUPBY].astype(str) == "CD19+ B")
    with pytest.raises(ValueError, match="does not predict group"):
        rank_genes_explained(adata, GROUPBY, two, method="occlusion", max_cells_per_group=1)
    assert "rank_genes_explained" not in adata.uns


def test_missing_anndata_names_the_extra(monkeypatch, pbmc, model):
    monkeypatch.setitem(sys.modules, "anndata", None)
    with pytest.raises(ImportError, match=r"skexplain\[sc\]"):
        rank_genes_explained(pbmc, GROUPBY, model)


def test_kernelshap_spelling_is_deprecated_with_identical_results(pbmc, model):
    kwargs = dict(groups=["CD19+ B"], max_cells_per_group=2, random_state=0, n_genes=10,
                  explainer_params={"n_background": 3, "n_samples": 40,
                                    "background": "sample"})
    new, old = pbmc.copy(), pbmc.copy()
    rank_genes_explained(new, GROUPBY, model, method="kernel_shap", **kwargs)
    with pytest.warns(FutureWarning, match="'kernel_shap'"):
        rank_genes_explained(old, GROUPBY, model, method="kernelshap", **kwargs)
    new, old = new.uns["rank_genes_explained"], old.uns["rank_genes_explained"]
    assert new["params"]["method"] == old["params"]["method"] == "kernel_shap"
    np.testing.assert_array_equal(new["scores"]["CD19+ B"], old["scores"]["CD19+ B"])
    assert list(new["names"]["CD19+ B"]) == list(old["names"]["CD19+ B"])
    assert np.any(new["scores"]["CD19+ B"] != 0)


def test_explainers_take_anndata_with_layer_and_use_raw(pbmc, model):
    explainer = Occlusion(model, baseline="zeros").fit(pbmc, use_raw=True)
    np.testing.assert_array_equal(explainer.feature_names_in_, pbmc.raw.var_names)
    E = explainer.explain(pbmc[:3], target=0, use_raw=True)
    dense = Occlusion(model, baseline="zeros").fit(pbmc.raw.X).explain(pbmc.raw.X[:3],
                                                                        target=0)
    np.testing.assert_array_equal(E.values, dense.values)
    assert list(E.feature_names) == list(pbmc.raw.var_names)
    adata = pbmc.copy()
    adata.layers["raw_copy"] = adata.X * 0  # an all-zero layer: every occlusion is a no-op
    narrow = LogisticRegression(max_iter=500).fit(adata.X, adata.obs[GROUPBY].astype(str))
    E = Occlusion(narrow, baseline="zeros").fit(adata, layer="raw_copy").explain(
        adata[:2], target=0, layer="raw_copy")
    np.testing.assert_array_equal(E.values, 0.0)
    with pytest.raises(ValueError, match="no layer"):
        Occlusion(narrow).fit(adata, layer="missing")


@pytest.mark.parametrize("name", ["sensx", "occlusion", "kernel_shap", "lime",
                                  "integrated_gradients", "saliency", "input_x_gradient"])
def test_method_names_are_the_explainers_info_method(name):
    import torch

    from skexplain.sc._rank_genes import METHODS

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4)).astype(np.float32)
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    params = {"sensx": {"n_walks": 2, "n_profile_samples": 20},
              "kernel_shap": {"n_background": 3}, "lime": {"n_samples": 50}}.get(name, {})
    with np.errstate(all="ignore"):
        E = METHODS[name](model, **params).fit(X).explain(X[:2], target=1)
    assert E.info["method"] == name


FITTED_ON = []
CELL_INDEX_SCALE = np.arange(700) / 700  # pbmc68k_reduced has 700 cells


class _RecordingLogisticRegression(LogisticRegression):
    """Records the rows it is fitted on (the last feature is the cell's index)."""

    def fit(self, X, y):
        FITTED_ON.append(np.rint(np.asarray(X[:, -1]) * len(CELL_INDEX_SCALE)).astype(int))
        return super().fit(X, y)


def _indexed(pbmc):
    adata = pbmc[:, :40].copy()
    layer = _planted(adata)
    layer[:, -1] = CELL_INDEX_SCALE  # the cell's index (scaled to [0, 1)), as a gene
    adata.layers["indexed"] = layer
    return adata


def test_split_explains_held_out_cells_only_stratified_and_reproducibly(pbmc):
    adata = _indexed(pbmc)
    runs = []
    for seed in (0, 0, 1):
        FITTED_ON.clear()
        rank_genes_explained(adata, GROUPBY, _RecordingLogisticRegression(max_iter=300),
                             method="occlusion", layer="indexed", max_cells_per_group=None,
                             random_state=seed)
        (trained,) = FITTED_ON
        result = adata.uns["rank_genes_explained"]
        explained = adata.obs_names.get_indexer(result["explained_cells"])
        assert len(np.intersect1d(trained, explained)) == 0  # disjoint
        assert len(trained) + len(explained) == adata.n_obs  # all held-out cells explained
        params = result["params"]
        assert params["split"] == "holdout" and params["explain_fraction"] == 0.3
        assert params["n_train"] == len(trained) and params["n_held_out"] == len(explained)
        assert params["random_state"] == seed and params["fitted_here"]
        sizes = adata.obs[GROUPBY].value_counts()
        held = adata.obs[GROUPBY].iloc[explained].value_counts()
        for group, n in sizes.items():  # stratified: 30 % of every group
            assert held[group] == min(max(round(0.3 * n), 1), n - 1)
        runs.append(sorted(explained))
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_split_mask_names_and_none(pbmc, model):
    adata = pbmc.copy()
    mask = np.zeros(adata.n_obs, dtype=bool)
    mask[::7] = True
    for split in (mask, adata.obs_names[mask]):
        rank_genes_explained(adata, GROUPBY, model, method="occlusion", split=split,
                             max_cells_per_group=None, random_state=0)
        result = adata.uns["rank_genes_explained"]
        assert result["params"]["split"] == "mask"
        assert list(result["explained_cells"]) == list(adata.obs_names[mask])
    # a fitted estimator is explained on every cell by default (split="auto" -> none)
    rank_genes_explained(adata, GROUPBY, model, method="occlusion", max_cells_per_group=None,
                         random_state=0)
    result = adata.uns["rank_genes_explained"]
    assert result["params"]["split"] == "none" and not result["params"]["fitted_here"]
    assert len(result["explained_cells"]) == adata.n_obs
    with pytest.raises(ValueError, match="split"):
        rank_genes_explained(adata, GROUPBY, model, split=1.5)
    with pytest.raises(ValueError, match="not in adata.obs_names"):
        rank_genes_explained(adata, GROUPBY, model, split=["no-such-cell"])


def _scaled_model(pbmc):
    y = pbmc.obs[GROUPBY].astype(str).to_numpy()
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000)).fit(
        pbmc.raw.X.toarray(), y)


def _rarely_expressed_warnings(record):
    return [w for w in record if "rarely expressed" in str(w.message)]


def test_scaled_pipeline_warns_and_plain_model_does_not(pbmc, model):
    adata = pbmc.copy()
    kwargs = dict(method="occlusion", groups=["CD19+ B"], max_cells_per_group=2,
                  random_state=0)
    with pytest.warns(UserWarning, match="StandardScaler in its pipeline"):
        rank_genes_explained(adata, GROUPBY, _scaled_model(pbmc), **kwargs)
    assert "StandardScaler" in adata.uns["rank_genes_explained"]["params"]["scaling"]
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        rank_genes_explained(adata, GROUPBY, model, **kwargs)
        rank_genes_explained(adata, GROUPBY, make_pipeline(model), **kwargs)
    assert not _rarely_expressed_warnings(record)
    assert adata.uns["rank_genes_explained"]["params"]["scaling"] == ""


def test_input_space_model_explains_the_scaled_genes(pbmc):
    """For a linear logit, every elementary effect is exact: |w_j| / s_j per unit of raw
    expression (rare genes, small s_j, first), |w_j| per unit of the scaled gene."""
    adata = pbmc.copy()
    pipe = _scaled_model(pbmc)
    scaler, linear = pipe[0], pipe[-1]
    group = "CD56+ NK"
    weights = np.abs(linear.coef_[list(linear.classes_).index(group)])
    kwargs = dict(groups=[group], max_cells_per_group=2, aggregate="mean", random_state=0,
                  explainer_params={"delta": 0.5, "n_walks": 2, "output": "logit"})
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        rank_genes_explained(adata, GROUPBY, pipe, input_space="model", key_added="model",
                             **kwargs)
    assert not _rarely_expressed_warnings(record)
    with pytest.warns(UserWarning, match="rarely expressed"):
        rank_genes_explained(adata, GROUPBY, pipe, key_added="raw", **kwargs)
    moving = scaler.var_ > 0
    for key, expected in [("model", weights), ("raw", weights / scaler.scale_)]:
        frame = sc.get.rank_genes_groups_df(adata, group, key=key).set_index("names")
        got = frame.loc[np.asarray(pbmc.raw.var_names)[moving], "scores"].to_numpy()
        np.testing.assert_allclose(got, expected[moving], rtol=1e-3)
    assert adata.uns["model"]["params"]["input_space"] == "model"
    # occlusion with the mean baseline is the same in both spaces
    rank_genes_explained(adata, GROUPBY, pipe, method="occlusion", input_space="model",
                         groups=[group], max_cells_per_group=3, random_state=0,
                         key_added="occ_model")
    with pytest.warns(UserWarning, match="rarely expressed"):
        rank_genes_explained(adata, GROUPBY, pipe, method="occlusion", groups=[group],
                             max_cells_per_group=3, random_state=0, key_added="occ_raw")
    np.testing.assert_allclose(adata.uns["occ_model"]["scores"][group],
                               adata.uns["occ_raw"]["scores"][group], atol=1e-6)
    with pytest.raises(ValueError, match="needs a Pipeline"):
        rank_genes_explained(adata, GROUPBY, linear, input_space="model")


def test_default_sensx_settings_are_recorded(pbmc, model):
    adata = pbmc.copy()
    rank_genes_explained(adata, GROUPBY, model, groups=["CD19+ B"], max_cells_per_group=1,
                         random_state=0)
    params = adata.uns["rank_genes_explained"]["params"]
    assert params["explainer_params"]["n_walks"] == 20
    assert params["explainer_params"]["n_profile_samples"] == 200
    assert params["max_cells_per_group"] == 1 and params["n_cells"].tolist() == [1]
