"""Gene-importance dot plot: genes x groups of cells, from per-cell attributions."""

import numbers

import numpy as np
import pandas as pd

from ..base import Explanation
from ._common import finite_array, get_ax, pyplot, symmetric_limit

AGGREGATES = ("mean", "mean_abs")


def plot_gene_importance(
    attributions, groups, ax=None, *, feature_names=None, genes=None, n_genes=3,
    aggregate="mean", top_k=10, max_size=200.0, cmap="RdBu_r", colorbar=True,
):
    """Dot plot of per-group gene importance, as scanpy draws marker genes.

    For each group of cells (y axis) and gene (x axis), one dot: its colour is the gene's
    mean attribution over the group's cells (signed, or absolute with
    ``aggregate="mean_abs"``); its area is proportional to the fraction of the group's cells
    in which the gene is among that cell's ``top_k`` genes by absolute attribution (how
    consistently the gene matters, as a dot plot's size shows how many cells express it).

    Parameters
    ----------
    attributions : Explanation or array-like of shape (n_cells, n_genes)
        Per-cell attributions, e.g. each cell explained for its own group's class.
    groups : array-like of shape (n_cells,)
        Group (cell type, cluster) of each cell; drawn in sorted order (categories' order
        for a pandas Categorical).
    ax : matplotlib.axes.Axes, optional
    feature_names : array-like of str of shape (n_genes,), optional
        Gene names; default the Explanation's feature names, else ``x0, x1, ...``.
    genes : list of str, optional
        Genes to show, in this order. Default: the ``n_genes`` of highest colour value of
        each group, group after group, each gene once.
    n_genes : int, default=3
        Genes per group when ``genes`` is None.
    aggregate : {"mean", "mean_abs"}, default="mean"
    top_k : int, default=10
        Rank up to which a gene counts as top in a cell, for the dot sizes.
    max_size : float, default=200.0
        Marker area (points squared) of a dot whose gene is top in every cell of the group.
    cmap : str or Colormap, default="RdBu_r"
        Colour map; its scale is symmetric about 0 for "mean", from 0 for "mean_abs".
    colorbar : bool, default=True

    Returns
    -------
    ax : matplotlib.axes.Axes
        ``ax.collections[0]`` holds the ``n_groups * n_shown_genes`` dots, group by group
        (offsets: x = gene position, y = group position); ticks carry the names. A legend
        above the axes gives three dot sizes.

    Raises
    ------
    ImportError
        If matplotlib (the ``plot`` extra) is not installed.
    ValueError
        If the attributions are not (n_cells, n_genes), groups has the wrong length, a
        gene is unknown, or an option is out of range.
    """
    if isinstance(attributions, Explanation):
        if feature_names is None:
            feature_names = attributions.feature_names
        values = attributions.values
    else:
        values = finite_array(attributions, "attributions")
    if values.ndim != 2:
        raise ValueError(f"attributions must have shape (n_cells, n_genes), got shape "
                         f"{values.shape}.")
    n_cells, n_features = values.shape
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}.")
    for name, value in (("n_genes", n_genes), ("top_k", top_k)):
        if not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    names = (np.array([f"x{i}" for i in range(n_features)], dtype=object)
             if feature_names is None else np.asarray(feature_names, dtype=object))
    if names.shape != (n_features,):
        raise ValueError(f"{names.size} feature names for {n_features} genes.")
    labels = pd.Categorical(np.asarray(groups) if not isinstance(groups, pd.Categorical)
                            else groups)
    if len(labels) != n_cells:
        raise ValueError(f"groups has {len(labels)} entries for {n_cells} cells.")

    shown = np.abs(values) if aggregate == "mean_abs" else values
    ranks = np.argsort(np.argsort(-np.abs(values), axis=1, kind="stable"), axis=1)
    is_top = ranks < top_k
    present = [g for g in labels.categories if (labels == g).any()]
    colour = np.array([shown[labels == g].mean(axis=0) for g in present])
    fraction = np.array([is_top[labels == g].mean(axis=0) for g in present])
    columns = _gene_columns(genes, names, colour, n_genes)

    ax = get_ax(ax)
    xs, ys = np.meshgrid(np.arange(len(columns)), np.arange(len(present)))
    colour, fraction = colour[:, columns], fraction[:, columns]
    limit = symmetric_limit(colour)
    dots = ax.scatter(xs.ravel(), ys.ravel(), c=colour.ravel(), s=max_size * fraction.ravel(),
                      cmap=cmap, vmin=-limit if aggregate == "mean" else 0.0, vmax=limit,
                      edgecolors="grey", linewidths=0.5)
    ax.set_xticks(np.arange(len(columns)), names[columns], rotation=90)
    ax.set_yticks(np.arange(len(present)), [str(g) for g in present])
    ax.set_xlim(-0.5, len(columns) - 0.5)
    ax.set_ylim(len(present) - 0.5, -0.5)
    ax.set_xlabel("gene")
    _size_legend(ax, max_size, top_k)
    if colorbar:
        label = "mean |attribution|" if aggregate == "mean_abs" else "mean attribution"
        pyplot().colorbar(dots, ax=ax, label=label)
    return ax


def _gene_columns(genes, names, colour, n_genes):
    if genes is not None:
        index = pd.Index(names)
        missing = [g for g in genes if g not in index]
        if missing:
            raise ValueError(f"Unknown genes {missing}.")
        return index.get_indexer(list(genes))
    top = np.argsort(-colour, axis=1, kind="stable")[:, :n_genes]
    return np.array(list(dict.fromkeys(top.ravel().tolist())))


def _size_legend(ax, max_size, top_k):
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], marker="o", linestyle="", color="grey",
               markersize=np.sqrt(max_size * fraction), label=f"{fraction:.0%}")
        for fraction in (0.25, 0.5, 1.0)
    ]
    ax.legend(handles=handles, title=f"cells with the gene in their top {top_k}",
              loc="lower center", bbox_to_anchor=(0.5, 1.01), ncol=3, frameon=False)
