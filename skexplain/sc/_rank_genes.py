"""Rank the genes of each cell group by the explanations of a classifier of those groups."""

import numbers
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._core.base import Explainer
from .._core.validation import canonical_method, from_anndata
from ..explainers import (
    InputXGradient,
    IntegratedGradients,
    KernelShap,
    Lime,
    Occlusion,
    Saliency,
    SensX,
)
from ..feature_selection._aggregate import AGGREGATES, feature_spread

METHODS = {
    "sensx": SensX,
    "occlusion": Occlusion,
    "kernel_shap": KernelShap,
    "lime": Lime,
    "integrated_gradients": IntegratedGradients,
    "saliency": Saliency,
    "input_x_gradient": InputXGradient,
}

# Defaults that keep the default call on pbmc68k_reduced within 30 s, fit included (the
# docstring states the measured times; benchmarks/bench_sc_atlas.py measures them).
DEFAULT_SPLIT = 0.3
DEFAULT_MAX_CELLS = "auto"
AUTO_CELLS, AUTO_GENES, MIN_AUTO_CELLS = 20, 1000, 3
METHOD_DEFAULTS = {
    "sensx": {"n_walks": 20, "n_profile_samples": 200, "delta_rule": "envelope"},
    "kernel_shap": {"n_background": 10, "n_samples": 2000},
}
ZSCORE_PROBE_CELLS = 2000


def rank_genes_explained(
    adata, groupby, estimator, *, method="sensx", groups="all", use_raw=None, layer=None,
    split="auto", aggregate="mean_abs", feature_scale=None, input_space="raw",
    max_cells_per_group=DEFAULT_MAX_CELLS, n_genes=None, explainer_params=None,
    key_added=None, copy=False, n_jobs=None, random_state=None, verbose=0,
):
    """Rank genes per cell group by explaining a classifier of the groups, scanpy-style.

    For every group g of ``adata.obs[groupby]``, the cells of g are explained for the
    classifier's output of class g, and each gene gets the aggregate of its attributions
    over those cells (by default the mean absolute attribution). Genes are ranked by it,
    highest first, and the result is written to ``adata.uns[key_added]`` in the layout of
    :func:`scanpy.tl.rank_genes_groups`, so :func:`scanpy.get.rank_genes_groups_df` and
    :func:`scanpy.pl.rank_genes_groups_dotplot` (and the other ``rank_genes_groups_*``
    plots) read it with ``key=key_added``.

    By default (``split="auto"``) an unfitted estimator is fitted on 70 % of each group's
    cells and only the held-out 30 % are explained, so that the ranking says what the model
    learnt to generalise, not how it memorised its training cells; a fitted estimator is
    explained on the cells given (pass held-out cells, or ``split``).

    *Time.* With the defaults (SensX with 20 walks and 200 profile samples, at most 20
    held-out cells per group) on scanpy's ``pbmc68k_reduced`` (700 cells, 765 genes of
    ``.raw``) and an unfitted ``MLPClassifier((64,), alpha=1.0)``, the call takes about 30 s
    on 2 CPU cores, fit included (130 cells explained; about 0.15 s per cell, 7 s for the
    fit); occlusion about 2 s per 100 cells. On 20,000 cells x 2,000 genes the defaults
    explain 5 cells per group, sized to finish within 2 minutes, fit included
    (``benchmarks/bench_sc_atlas.py`` measures it: ``benchmarks/results/sc_atlas.md``).
    The cost of SensX, occlusion and KernelSHAP grows with the number of explained cells
    times the square of the number of genes.

    *Scaled models.* A StandardScaler (or RobustScaler, MinMaxScaler, MaxAbsScaler) in front
    of the classifier, or z-scored expression (``sc.pp.scale``), divides each gene by its
    spread: a rarely expressed gene of tiny spread is stretched most, so per-unit
    sensitivities (SensX, gradients) and perturbations of the raw expression favour rare
    genes, and the model itself often learns to lean on them. Such a scaling is detected,
    named in ``params["scaling"]`` and warned about (``UserWarning``). Remedies:
    ``input_space="model"`` explains the pipeline's final estimator on the scaled genes it
    sees (a sensitivity is then per standard deviation of the gene; occlusion with its
    mean baseline is unchanged), ``feature_scale="std"`` rescales raw-space sensitivities
    the same way, and best, fit the classifier on unscaled log-normalised expression.

    Parameters
    ----------
    adata : anndata.AnnData
        Cells by genes; not modified unless written to (``copy=False``), and then only
        ``adata.uns[key_added]``.
    groupby : str
        Column of ``adata.obs`` with the groups (categorical, or made categorical); these are
        the classes the estimator predicts.
    estimator : classifier, skorch net, torch.nn.Module or callable
        Predicts the groups from expression (of ``.raw``, a layer or ``.X``, as chosen by
        ``use_raw`` and ``layer``). A fitted scikit-learn classifier is used as it is; an
        unfitted one (``check_is_fitted`` fails) is cloned and the clone is fitted on the
        chosen expression and the groups of the training cells of ``split`` (the estimator
        passed stays unfitted; fit it yourself to keep it). Its ``classes_`` must contain
        every ranked group (compared as strings). A model without ``classes_`` (a torch
        module or callable) must have one output per category of ``adata.obs[groupby]``,
        in category order.
    method : str or explainer, default="sensx"
        "sensx", "occlusion", "kernel_shap", "lime" (model-agnostic), or
        "integrated_gradients", "saliency", "input_x_gradient" (torch / skorch models only),
        built with ``explainer_params`` and, where it takes them, ``n_jobs``,
        ``random_state`` and ``verbose``. An explainer instance is cloned, given
        ``model=estimator`` and used with its own settings. The identifiers are those of
        the explainers' ``info["method"]``; "kernelshap" is a deprecated spelling of
        "kernel_shap" (FutureWarning, same result).
    groups : "all" or list of str, default="all"
        Groups to rank (all are still used to fit an unfitted estimator); "all" ranks the
        groups that have cells to explain.
    use_raw : bool, default=None
        Use ``adata.raw``; None means True when ``adata.raw`` exists and no layer is given
        (as scanpy).
    layer : str, default=None
        Key of ``adata.layers`` to use instead of ``.X``; not together with ``use_raw=True``.
    split : "auto", float in (0, 1), array-like or None, default="auto"
        Which cells are explained. A float: that fraction of each group's cells (rounded,
        at least one, and never a group's only cell) is held out, drawn with
        ``random_state``; an unfitted estimator is fitted on the other cells. A boolean
        mask over the cells or a list of ``obs_names``: the cells to explain (the others
        fit an unfitted estimator). None: every cell is explained (and fits an unfitted
        estimator). "auto": 0.3 when the call fits the estimator, else None. The
        explainer's reference data (SensX's domain, the occlusion and SHAP baselines, the
        spread of ``feature_scale``) are the training cells (all cells with None).
    aggregate : {"mean_abs", "mean", "median_abs", "max_abs"}, default="mean_abs"
        Gene score of a group from its explained cells' attributions: the mean of the
        absolute values (how much the gene moves the score either way), the mean of the
        signed values (genes that raise the group's score rank first, those that lower it
        last), the median or the maximum of the absolute values. SensX attributions are
        non-negative, so "mean_abs" and "mean" agree for it.
    feature_scale : {"std", "range"} or None, default=None
        Multiply each gene's attributions by its standard deviation or range over the
        reference cells (see ``split``) before aggregating: turns sensitivities (SensX,
        saliency; score change per unit of expression) into score changes over a typical
        change of the gene. See
        :func:`skexplain.feature_selection.explanation_importances`.
    input_space : {"raw", "model"}, default="raw"
        "raw" explains the estimator on the chosen expression. "model" needs a Pipeline:
        its steps before the final estimator transform the expression (one column per gene,
        e.g. a scaler) and the final estimator is explained on the transformed genes.
    max_cells_per_group : "auto", int or None, default="auto"
        Explain at most this many cells of each group (among those ``split`` holds out),
        drawn without replacement with ``random_state``; None explains every one. "auto"
        is 20 up to 1,000 genes and ``round(20 * (1000 / n_genes) ** 2)`` beyond, at least
        3 (5 at 2,000 genes), since a cell costs about the square of the number of genes.
        The cost grows linearly with the number of explained cells: on 765 genes with an
        MLP, SensX with the defaults below takes about 0.15 s per cell, occlusion 0.02 s.
    n_genes : int or None, default=None
        Number of top genes stored per group; None stores all.
    explainer_params : dict, default=None
        More parameters of the explainer named by ``method`` (e.g. ``{"n_walks": 50}``).
        Defaults that differ from the explainer's own: SensX ``n_walks=20,
        n_profile_samples=200, delta_rule="envelope"`` (the rule of the TMLR paper and its
        PyTorch code, with which these defaults were measured: the markers on
        pbmc68k_reduced are those of 50 walks and 1,000 samples, at a third of the cost);
        KernelSHAP ``n_background=10, n_samples=2000``.
    key_added : str, default=None
        Key of ``adata.uns`` to write; None means "rank_genes_explained".
    copy : bool, default=False
        Return a copy of adata with the result instead of writing to adata.
    n_jobs : int, default=None
        Joblib workers of the explainer.
    random_state : int, RandomState instance or None, default=None
        Seeds the split, the choice of cells and the explainer.
    verbose : int, default=0
        Progress output of the explainer.

    Returns
    -------
    adata : anndata.AnnData or None
        The copy when ``copy=True``, else None. ``uns[key_added]`` holds:

        - ``params``: ``groupby``, ``reference`` ("rest": each group is explained by the
          classifier's score of that group against all others), ``method``, ``use_raw``,
          ``layer``, ``corr_method`` (None: there is no test) as in scanpy, plus
          ``aggregate``, ``feature_scale``, ``input_space``, ``explainer`` (the explainer's
          class name), ``explainer_params`` (its scalar parameters), ``split`` ("holdout",
          "mask" or "none"), ``explain_fraction`` (NaN unless "holdout"), ``fitted_here``,
          ``n_train`` (cells that fitted the estimator, 0 if it came fitted),
          ``n_held_out``, ``max_cells_per_group`` (the cap used, 0 for none),
          ``random_state`` (the int seed, -1 for None or a RandomState), ``scaling`` (the
          detected standardisation, "" if none) and ``n_cells`` (the number of explained
          cells of each ranked group, in order).
        - ``explained_cells``: the ``obs_names`` of the explained cells (dtype object).
        - ``names``: record array, one field per group, gene names by rank (dtype object).
        - ``scores``: record array, the aggregated attributions (float32).
        - ``logfoldchanges``: record array (float32), scanpy's log2 fold change of the mean
          expression of the group over the rest, ``log2((expm1(m_g) + 1e-9) / (expm1(m_rest)
          + 1e-9))``; meaningful for log1p-normalised data only, as in scanpy (NaN where a
          mean is negative, as for scaled data).
        - ``pvals``, ``pvals_adj``: record arrays of NaN (float64). An explanation-based
          ranking has no p-values; the fields exist because scanpy's readers expect them
          for every method but its own "logreg". Filtering by ``pval_cutoff`` therefore
          keeps no gene.

    Warns
    -----
    UserWarning
        If the estimator scales the genes or the expression looks z-scored, while
        ``input_space="raw"`` and ``feature_scale=None`` (see *Scaled models*).

    Raises
    ------
    ImportError
        If anndata is not installed (the ``sc`` extra).
    ValueError
        If groupby is not a column of ``adata.obs``, a group is unknown or has no cells to
        explain, ``split`` is not a fraction in (0, 1), a mask or known cell names,
        ``input_space="model"`` is not given a Pipeline that keeps one column per gene,
        ``use_raw`` and ``layer`` conflict, the estimator's genes differ from the chosen
        expression, the estimator does not predict a ranked group, or an option is unknown.

    See Also
    --------
    scanpy.tl.rank_genes_groups : the statistical tests this mirrors.
    skexplain.feature_selection.explanation_importances : the same aggregation for arrays.

    Examples
    --------
    >>> import scanpy as sc  # doctest: +SKIP
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skexplain.sc import rank_genes_explained
    >>> adata = sc.datasets.pbmc68k_reduced()  # doctest: +SKIP
    >>> model = LogisticRegression(max_iter=1000)  # fitted on 70 % of the cells by the call
    >>> rank_genes_explained(adata, "bulk_labels", model, method="occlusion",
    ...                      random_state=0)  # doctest: +SKIP
    >>> adata.uns["rank_genes_explained"]["params"]["split"]  # doctest: +SKIP
    'holdout'
    >>> sc.pl.rank_genes_groups_dotplot(adata, key="rank_genes_explained")  # doctest: +SKIP
    """
    _require_anndata()
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {sorted(AGGREGATES)}, got {aggregate!r}.")
    if feature_scale not in (None, "std", "range"):
        raise ValueError(f"feature_scale must be None, 'std' or 'range', got {feature_scale!r}.")
    if input_space not in ("raw", "model"):
        raise ValueError(f"input_space must be 'raw' or 'model', got {input_space!r}.")
    if not (isinstance(max_cells_per_group, str) and max_cells_per_group == "auto"):
        _check_optional_int(max_cells_per_group, "max_cells_per_group")
    _check_optional_int(n_genes, "n_genes")
    if isinstance(method, str):
        method = canonical_method(method, METHODS)
    elif not isinstance(method, Explainer):
        raise ValueError(
            f"method must be an explainer or one of {sorted(METHODS)}, got {method!r}."
        )
    labels = _group_labels(adata, groupby)
    X, genes, use_raw = _expression(adata, use_raw, layer)
    fits = _needs_fit(estimator)
    seed = _seed_of(random_state)
    rng = check_random_state(random_state)
    explained, train, fraction, split_kind = _split(split, fits, labels, adata.obs_names, rng)
    ranked = _ranked_groups(labels, groups, explained)
    model = _fitted_estimator(estimator, X, labels, genes, train if fits else None)
    scaling = _scaling_of(model, X)
    model, X_in = _input_space(model, X, input_space, len(genes))
    if scaling and input_space == "raw" and feature_scale is None:
        warnings.warn(
            f"{scaling}: explanations in the raw expression space then favour rarely "
            "expressed genes (a gene of tiny spread is stretched most by the scaling, so a "
            "small change of it moves the model most). Pass input_space='model' to explain "
            "the scaled genes the model sees, or feature_scale='std', or fit the classifier "
            "on unscaled log-normalised expression (recorded in params['scaling']).",
            UserWarning, stacklevel=2,
        )
    explainer = _make_explainer(method, model, explainer_params, n_jobs, random_state, verbose)
    reference = X_in[np.flatnonzero(train)]  # stays sparse when X is
    explainer.fit(reference)
    names = _output_names(explainer, X_in)
    spread = None if feature_scale is None else feature_spread(reference, feature_scale)

    if isinstance(max_cells_per_group, str):
        max_cells_per_group = auto_max_cells(len(genes))
    scores, n_cells, cells = {}, [], []
    for group in ranked:
        rows = _cells_of(labels, explained, group, max_cells_per_group, rng)
        target = _target_of(names, model, labels, group)
        values = explainer.explain(_dense_rows(X_in, rows), target=target).values
        values = values.reshape(len(rows), -1)
        if values.shape[1] != len(genes):
            raise ValueError(
                f"The explainer gives {values.shape[1]} values per cell for {len(genes)} "
                "genes; ranking genes needs one value per gene (no feature groups)."
            )
        if spread is not None:
            values = values * spread
        scores[group] = AGGREGATES[aggregate](values)
        n_cells.append(len(rows))
        cells.append(rows)

    result = _scanpy_layout(scores, genes, _log_fold_changes(X, labels, ranked), n_genes)
    result["params"] = {
        "groupby": groupby, "reference": "rest", "method": _method_name(method),
        "use_raw": use_raw, "layer": layer, "corr_method": None, "aggregate": aggregate,
        "feature_scale": feature_scale, "input_space": input_space,
        "explainer": type(explainer).__name__,
        "explainer_params": _scalar_params(explainer),
        "split": split_kind,
        "explain_fraction": np.nan if fraction is None else float(fraction),
        "fitted_here": fits, "n_train": int(train.sum()) if fits else 0,
        "n_held_out": int(explained.sum()),
        "max_cells_per_group": 0 if max_cells_per_group is None else max_cells_per_group,
        "random_state": seed, "scaling": scaling or "",
        "n_cells": np.asarray(n_cells),
    }
    result["explained_cells"] = np.asarray(
        adata.obs_names[np.sort(np.concatenate(cells))], dtype=object)
    out = adata.copy() if copy else adata
    out.uns["rank_genes_explained" if key_added is None else key_added] = result
    return out if copy else None


def auto_max_cells(n_genes):
    """Cells explained per group by ``max_cells_per_group="auto"``: 20 up to 1,000 genes,
    then fewer as the square of the number of genes (the cost of a cell), at least 3."""
    return max(MIN_AUTO_CELLS, min(AUTO_CELLS, round(AUTO_CELLS * (AUTO_GENES / n_genes) ** 2)))


def _require_anndata():
    try:
        import anndata  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "skexplain.sc needs anndata (and scanpy to plot): pip install 'skexplain[sc]'."
        ) from exc


def _check_optional_int(value, name):
    if value is not None and (
        not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1
    ):
        raise ValueError(f"{name} must be None or a positive integer, got {value!r}.")


def _group_labels(adata, groupby):
    if groupby not in adata.obs.columns:
        raise ValueError(f"groupby={groupby!r} is not a column of adata.obs.")
    labels = adata.obs[groupby]
    if not isinstance(labels.dtype, pd.CategoricalDtype):
        labels = labels.astype("category")
    return labels


def _ranked_groups(labels, groups, explained):
    categories = [str(c) for c in labels.cat.categories]
    present = set(labels.astype(str)[explained])
    if isinstance(groups, str) and groups == "all":
        return [c for c in categories if c in present]
    groups = [str(g) for g in groups]
    unknown = [g for g in groups if g not in categories]
    if unknown:
        raise ValueError(f"Unknown groups {unknown}; the groups are {categories}.")
    empty = [g for g in groups if g not in present]
    if empty:
        raise ValueError(f"Groups {empty} have no cells to explain (none held out).")
    return groups


def _needs_fit(estimator):
    """Whether the estimator is an unfitted scikit-learn estimator (fitted by the call)."""
    if not hasattr(estimator, "fit") or not hasattr(estimator, "get_params"):
        return False  # a torch module or callable
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return True
    return False


def _seed_of(random_state):
    """The seed to record: the int given, else -1 (None or a RandomState instance)."""
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return int(random_state)
    return -1


def _split(split, fits, labels, obs_names, rng):
    """(explained mask, training/reference mask, held-out fraction or None, kind)."""
    n_cells = len(labels)
    if isinstance(split, str) and split == "auto":
        split = DEFAULT_SPLIT if fits else None
    if split is None:
        everything = np.ones(n_cells, dtype=bool)
        return everything, everything, None, "none"
    if isinstance(split, numbers.Real) and not isinstance(split, bool):
        if not 0 < split < 1:
            raise ValueError(f"split must be in (0, 1) as a fraction, got {split!r}.")
        explained = np.zeros(n_cells, dtype=bool)
        codes = np.asarray(labels.cat.codes)
        for code in np.unique(codes):
            rows = rng.permutation(np.flatnonzero(codes == code))
            if len(rows) < 2:
                continue  # a single cell trains the model; it cannot be held out too
            n_held = min(max(int(round(split * len(rows))), 1), len(rows) - 1)
            explained[rows[:n_held]] = True
        return explained, ~explained, float(split), "holdout"
    if isinstance(split, str):
        raise ValueError(f"split must be 'auto', a fraction, a mask or None, got {split!r}.")
    mask = np.asarray(split)
    if mask.dtype != bool:  # names of the cells to explain
        names = {str(name) for name in mask.ravel()}
        mask = np.asarray([str(name) in names for name in obs_names])
        if mask.sum() != len(names):
            raise ValueError("split names cells that are not in adata.obs_names.")
    if mask.shape != (n_cells,):
        raise ValueError(f"A split mask needs one bool per cell ({n_cells}), got shape "
                         f"{mask.shape}.")
    if not mask.any() or mask.all():
        raise ValueError("A split mask must hold out some cells and keep some for training.")
    return mask, ~mask, None, "mask"


def _expression(adata, use_raw, layer):
    """The chosen expression matrix (dense or CSR), its gene names and the use_raw used."""
    if use_raw is None:
        use_raw = adata.raw is not None and layer is None
    X, genes = from_anndata(adata, layer=layer, use_raw=bool(use_raw))
    X = sp.csr_matrix(X) if sp.issparse(X) else np.asarray(X)
    return X, genes, bool(use_raw)


def _fitted_estimator(estimator, X, labels, genes, train):
    """The estimator if fitted (checked against the genes), else a clone fitted on the
    training cells (``train``, a mask)."""
    if train is not None:
        rows = np.flatnonzero(train)
        return clone(estimator).fit(X[rows], np.asarray(labels.astype(str))[rows])
    if not hasattr(estimator, "fit") or not hasattr(estimator, "get_params"):
        return estimator  # a torch module or callable: nothing to check
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None and not np.array_equal(np.asarray(names, dtype=object), genes):
        raise ValueError(
            "The estimator was fitted on other genes (feature_names_in_) than the chosen "
            "expression matrix; check use_raw and layer."
        )
    n_in = getattr(estimator, "n_features_in_", None)
    if n_in is not None and n_in != len(genes):
        raise ValueError(
            f"The estimator was fitted on {n_in} features, but the chosen expression matrix "
            f"has {len(genes)} genes; check use_raw and layer."
        )
    return estimator


def _make_explainer(method, model, params, n_jobs, random_state, verbose):
    if isinstance(method, Explainer):
        return clone(method).set_params(model=model)
    cls = METHODS[method]
    accepted = cls().get_params(deep=False)
    shared = {"n_jobs": n_jobs, "random_state": random_state, "verbose": verbose}
    kwargs = {k: v for k, v in shared.items() if k in accepted}
    kwargs.update(METHOD_DEFAULTS.get(method, {}))
    kwargs.update(params or {})
    return cls(model, **kwargs)


def _scalar_params(explainer):
    """The explainer's scalar parameters (what h5ad can store), for the record."""
    return {
        key: value for key, value in explainer.get_params(deep=False).items()
        if isinstance(value, (str, numbers.Real)) and key != "model"
    }


def _scalers_in(estimator):
    """Names of the per-gene scaling steps in front of a pipeline's final estimator."""
    if not isinstance(estimator, Pipeline):
        return []
    return [type(step).__name__ for step in _flat_steps(estimator.steps[:-1])
            if _divides_by_spread(step)]


def _flat_steps(steps):
    for _, step in steps:
        if isinstance(step, Pipeline):
            yield from _flat_steps(step.steps)
        else:
            yield step


def _divides_by_spread(step):
    if isinstance(step, StandardScaler):
        return bool(step.with_std)
    if isinstance(step, RobustScaler):
        return bool(step.with_scaling)
    return isinstance(step, (MaxAbsScaler, MinMaxScaler))


def _scaling_of(model, X):
    """A sentence naming the standardisation in front of the model, or None."""
    scalers = _scalers_in(model)
    if scalers:
        return f"The estimator scales each gene ({', '.join(scalers)} in its pipeline)"
    rows = X[:ZSCORE_PROBE_CELLS]
    rows = rows.toarray() if sp.issparse(rows) else np.asarray(rows, dtype=np.float64)
    means, sds = rows.mean(axis=0), rows.std(axis=0)
    if len(rows) > 2 and rows.min() < 0 and np.median(np.abs(means)) < 0.1 \
            and np.median(np.abs(sds - 1)) < 0.1:
        return ("The expression looks z-scored (per-gene mean about 0, standard deviation "
                "about 1; e.g. sc.pp.scale); use log-normalised expression (use_raw or a layer)")
    return None


def _input_space(model, X, input_space, n_genes):
    """(model, expression) explained: as given, or the final estimator on the pipeline's
    transformed genes (input_space="model")."""
    if input_space == "raw":
        return model, X
    if not isinstance(model, Pipeline) or len(model.steps) < 2:
        raise ValueError("input_space='model' needs a Pipeline whose steps before the final "
                         "estimator transform the genes (e.g. a StandardScaler).")
    front, final = model[:-1], model[-1]
    Z = front.transform(X.toarray() if sp.issparse(X) else X)
    Z = np.asarray(Z.toarray() if sp.issparse(Z) else Z, dtype=np.float64)
    if Z.shape[1] != n_genes:
        raise ValueError(
            f"input_space='model' needs one model input per gene; the pipeline's transform "
            f"gives {Z.shape[1]} columns for {n_genes} genes."
        )
    return final, Z


def _method_name(method):
    return method if isinstance(method, str) else type(method).__name__


def _cells_of(labels, explained, group, max_cells, rng):
    rows = np.flatnonzero((np.asarray(labels.astype(str)) == group) & explained)
    if max_cells is not None and len(rows) > max_cells:
        rows = np.sort(rng.choice(rows, size=max_cells, replace=False))
    return rows


def _output_names(explainer, X):
    """Names of the explained model's outputs (class labels), from one scored cell."""
    adapter = explainer.score_function_
    scores = adapter(_dense_rows(X, [0]))
    return adapter.names_for(scores.shape[1])


def _target_of(names, model, labels, group):
    """Output index of the group: its class in ``classes_``, else its category code."""
    if names is None:
        if hasattr(model, "classes_"):
            raise ValueError(
                "The estimator has classes_ but its score (predict) names no output per "
                "class; use a classifier with predict_proba or decision_function."
            )
        return [str(c) for c in labels.cat.categories].index(group)
    matches = [i for i, name in enumerate(names) if str(name) == group]
    if not matches:
        raise ValueError(
            f"The estimator does not predict group {group!r}; its classes are "
            f"{[str(n) for n in names]}."
        )
    return matches[0]


def _dense_rows(X, rows):
    return X[rows].toarray() if sp.issparse(X) else X[rows]


def _log_fold_changes(X, labels, groups):
    """scanpy's log2 fold change of each group's mean expression over the rest's."""
    is_group = np.asarray(labels.astype(str))
    changes = {}
    for group in groups:
        inside = is_group == group
        mean_in = np.asarray(X[inside].mean(axis=0), dtype=np.float64).ravel()
        mean_out = np.asarray(X[~inside].mean(axis=0), dtype=np.float64).ravel()
        with np.errstate(invalid="ignore"):  # NaN for negative (e.g. scaled) data, as scanpy
            changes[group] = np.log2((np.expm1(mean_in) + 1e-9) / (np.expm1(mean_out) + 1e-9))
    return changes


def _scanpy_layout(scores, genes, fold_changes, n_genes):
    """Record arrays by rank, one field per group, as scanpy's rank_genes_groups writes."""
    n_top = len(genes) if n_genes is None else min(n_genes, len(genes))
    order = {g: np.argsort(-s, kind="stable")[:n_top] for g, s in scores.items()}
    columns = {
        "names": ("O", {g: genes[i] for g, i in order.items()}),
        "scores": ("float32", {g: scores[g][i] for g, i in order.items()}),
        "logfoldchanges": ("float32", {g: fold_changes[g][i] for g, i in order.items()}),
        "pvals": ("float64", {g: np.full(n_top, np.nan) for g in order}),
        "pvals_adj": ("float64", {g: np.full(n_top, np.nan) for g in order}),
    }
    return {
        key: pd.DataFrame(data).to_records(index=False, column_dtypes=dtype)
        for key, (dtype, data) in columns.items()
    }
