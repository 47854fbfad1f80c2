"""Rank the genes of each cell group by the explanations of a classifier of those groups."""

import numbers

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
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


def rank_genes_explained(
    adata, groupby, estimator, *, method="sensx", groups="all", use_raw=None, layer=None,
    aggregate="mean_abs", feature_scale=None, max_cells_per_group=None, n_genes=None,
    explainer_params=None, key_added=None, copy=False, n_jobs=None, random_state=None,
    verbose=0,
):
    """Rank genes per cell group by explaining a classifier of the groups, scanpy-style.

    For every group g of ``adata.obs[groupby]``, the cells of g are explained for the
    classifier's output of class g, and each gene gets the aggregate of its attributions
    over those cells (by default the mean absolute attribution). Genes are ranked by it,
    highest first, and the result is written to ``adata.uns[key_added]`` in the layout of
    :func:`scanpy.tl.rank_genes_groups`, so :func:`scanpy.get.rank_genes_groups_df` and
    :func:`scanpy.pl.rank_genes_groups_dotplot` (and the other ``rank_genes_groups_*``
    plots) read it with ``key=key_added``.

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
        chosen expression and the groups of all cells (the estimator passed stays unfitted;
        fit it yourself to keep it). Its ``classes_`` must contain every ranked group
        (compared as strings). A model without ``classes_`` (a torch module or callable)
        must have one output per category of ``adata.obs[groupby]``, in category order.
    method : str or explainer, default="sensx"
        "sensx", "occlusion", "kernel_shap", "lime" (model-agnostic), or
        "integrated_gradients", "saliency", "input_x_gradient" (torch / skorch models only),
        built with ``explainer_params`` and, where it takes them, ``n_jobs``,
        ``random_state`` and ``verbose``. An explainer instance is cloned, given
        ``model=estimator`` and used with its own settings. The identifiers are those of
        the explainers' ``info["method"]``; "kernelshap" is a deprecated spelling of
        "kernel_shap" (FutureWarning, same result).
    groups : "all" or list of str, default="all"
        Groups to rank (all are still used to fit an unfitted estimator).
    use_raw : bool, default=None
        Use ``adata.raw``; None means True when ``adata.raw`` exists and no layer is given
        (as scanpy).
    layer : str, default=None
        Key of ``adata.layers`` to use instead of ``.X``; not together with ``use_raw=True``.
    aggregate : {"mean_abs", "mean", "median_abs", "max_abs"}, default="mean_abs"
        Gene score of a group from its explained cells' attributions: the mean of the
        absolute values (how much the gene moves the score either way), the mean of the
        signed values (genes that raise the group's score rank first, those that lower it
        last), the median or the maximum of the absolute values. SensX attributions are
        non-negative, so "mean_abs" and "mean" agree for it.
    feature_scale : {"std", "range"} or None, default=None
        Multiply each gene's attributions by its standard deviation or range over all cells
        before aggregating: turns sensitivities (SensX, saliency; score change per unit of
        expression) into score changes over a typical change of the gene. See
        :func:`skexplain.feature_selection.explanation_importances`.
    max_cells_per_group : int or None, default=None
        Explain at most this many cells of each group, drawn without replacement with
        ``random_state``; None explains every cell. The cost grows linearly with the
        number of explained cells: on 765 genes with a logistic regression, SensX with its
        defaults takes about 0.7 s of CPU per cell (0.2 s with ``n_walks=20,
        n_profile_samples=300``), occlusion 0.01 s.
    n_genes : int or None, default=None
        Number of top genes stored per group; None stores all.
    explainer_params : dict, default=None
        More parameters of the explainer named by ``method`` (e.g. ``{"n_walks": 20}``).
    key_added : str, default=None
        Key of ``adata.uns`` to write; None means "rank_genes_explained".
    copy : bool, default=False
        Return a copy of adata with the result instead of writing to adata.
    n_jobs : int, default=None
        Joblib workers of the explainer.
    random_state : int, RandomState instance or None, default=None
        Seeds the choice of cells and the explainer.
    verbose : int, default=0
        Progress output of the explainer.

    Returns
    -------
    adata : anndata.AnnData or None
        The copy when ``copy=True``, else None. ``uns[key_added]`` holds:

        - ``params``: ``groupby``, ``reference`` ("rest": each group is explained by the
          classifier's score of that group against all others), ``method``, ``use_raw``,
          ``layer``, ``corr_method`` (None: there is no test) as in scanpy, plus
          ``aggregate``, ``feature_scale``, ``explainer`` (the explainer's class name) and
          ``n_cells`` (the number of explained cells of each ranked group, in order).
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

    Raises
    ------
    ImportError
        If anndata is not installed (the ``sc`` extra).
    ValueError
        If groupby is not a column of ``adata.obs``, a group is unknown or has no cells,
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
    >>> model = LogisticRegression(max_iter=1000)  # fitted on adata.raw by the call
    >>> rank_genes_explained(adata, "bulk_labels", model, method="occlusion",
    ...                      max_cells_per_group=20, random_state=0)  # doctest: +SKIP
    >>> sc.pl.rank_genes_groups_dotplot(adata, key="rank_genes_explained")  # doctest: +SKIP
    """
    _require_anndata()
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {sorted(AGGREGATES)}, got {aggregate!r}.")
    if feature_scale not in (None, "std", "range"):
        raise ValueError(f"feature_scale must be None, 'std' or 'range', got {feature_scale!r}.")
    _check_optional_int(max_cells_per_group, "max_cells_per_group")
    _check_optional_int(n_genes, "n_genes")
    if isinstance(method, str):
        method = canonical_method(method, METHODS)
    elif not isinstance(method, Explainer):
        raise ValueError(
            f"method must be an explainer or one of {sorted(METHODS)}, got {method!r}."
        )
    labels = _group_labels(adata, groupby)
    ranked = _ranked_groups(labels, groups)
    X, genes, use_raw = _expression(adata, use_raw, layer)
    model = _fitted_estimator(estimator, X, labels, genes)
    rng = check_random_state(random_state)
    explainer = _make_explainer(method, model, explainer_params, n_jobs, random_state, verbose)
    explainer.fit(X)
    names = _output_names(explainer, X)
    spread = None if feature_scale is None else feature_spread(X, feature_scale)

    scores, n_cells = {}, []
    for group in ranked:
        rows = _cells_of(labels, group, max_cells_per_group, rng)
        target = _target_of(names, model, labels, group)
        values = explainer.explain(_dense_rows(X, rows), target=target).values
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

    result = _scanpy_layout(scores, genes, _log_fold_changes(X, labels, ranked), n_genes)
    result["params"] = {
        "groupby": groupby, "reference": "rest", "method": _method_name(method),
        "use_raw": use_raw, "layer": layer, "corr_method": None, "aggregate": aggregate,
        "feature_scale": feature_scale, "explainer": type(explainer).__name__,
        "n_cells": np.asarray(n_cells),
    }
    out = adata.copy() if copy else adata
    out.uns["rank_genes_explained" if key_added is None else key_added] = result
    return out if copy else None


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


def _ranked_groups(labels, groups):
    categories = [str(c) for c in labels.cat.categories]
    present = set(labels.astype(str))
    if isinstance(groups, str) and groups == "all":
        return [c for c in categories if c in present]
    groups = [str(g) for g in groups]
    unknown = [g for g in groups if g not in categories]
    if unknown:
        raise ValueError(f"Unknown groups {unknown}; the groups are {categories}.")
    empty = [g for g in groups if g not in present]
    if empty:
        raise ValueError(f"Groups {empty} have no cells.")
    return groups


def _expression(adata, use_raw, layer):
    """The chosen expression matrix (dense or CSR), its gene names and the use_raw used."""
    if use_raw is None:
        use_raw = adata.raw is not None and layer is None
    X, genes = from_anndata(adata, layer=layer, use_raw=bool(use_raw))
    X = sp.csr_matrix(X) if sp.issparse(X) else np.asarray(X)
    return X, genes, bool(use_raw)


def _fitted_estimator(estimator, X, labels, genes):
    """The estimator if fitted (checked against the genes), else a fitted clone."""
    if not hasattr(estimator, "fit") or not hasattr(estimator, "get_params"):
        return estimator  # a torch module or callable: nothing to check
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return clone(estimator).fit(X, np.asarray(labels.astype(str)))
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
    kwargs.update(params or {})
    return cls(model, **kwargs)


def _method_name(method):
    return method if isinstance(method, str) else type(method).__name__


def _cells_of(labels, group, max_cells, rng):
    rows = np.flatnonzero(np.asarray(labels.astype(str)) == group)
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
