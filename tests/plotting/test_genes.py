import numpy as np
import pandas as pd
import pytest

from skexplain import Explanation
from skexplain.plotting import plot_gene_importance

VALUES = np.array([
    [3.0, 1.0, 0.0, -2.0],
    [2.0, 0.5, 1.0, -1.0],
    [1.0, 0.0, 0.0, 2.0],
    [0.0, 4.0, 1.0, 0.5],
    [0.0, 2.0, 3.0, 0.1],
])
GROUPS = ["a", "a", "a", "b", "b"]
GENES = ["g0", "g1", "g2", "g3"]


def _labels(ticks):
    return [t.get_text() for t in ticks]


def test_dots_colour_and_size(ax):
    out = plot_gene_importance(VALUES, GROUPS, ax=ax, feature_names=GENES, n_genes=2,
                               top_k=1, max_size=100)
    assert out is ax
    # group a means: 2, .5, .33, -.33 -> g0, g1; group b: 0, 3, 2, .3 -> g1, g2
    assert _labels(ax.get_xticklabels()) == ["g0", "g1", "g2"]
    assert _labels(ax.get_yticklabels()) == ["a", "b"]
    dots = ax.collections[0]
    assert len(dots.get_offsets()) == 2 * 3
    colour = np.array([[2.0, 0.5, 1 / 3], [0.0, 3.0, 2.0]])
    np.testing.assert_allclose(dots.get_array(), colour.ravel())
    # top-1 gene per cell: a -> g0, g0, g3; b -> g1, g2
    fraction = np.array([[2 / 3, 0, 0], [0, 0.5, 0.5]])
    np.testing.assert_allclose(dots.get_sizes(), 100 * fraction.ravel())
    np.testing.assert_allclose(dots.get_offsets(), [[x, y] for y in range(2) for x in range(3)])
    assert dots.get_clim() == (-3.0, 3.0)


def test_explanation_names_given_genes_and_category_order(ax):
    groups = pd.Categorical(GROUPS, categories=["b", "a"])
    plot_gene_importance(Explanation(VALUES, feature_names=GENES), groups, ax=ax,
                         genes=["g3", "g0"], aggregate="mean_abs", colorbar=False)
    assert _labels(ax.get_xticklabels()) == ["g3", "g0"]
    assert _labels(ax.get_yticklabels()) == ["b", "a"]
    colour = np.array([[0.3, 0.0], [5 / 3, 2.0]])
    np.testing.assert_allclose(ax.collections[0].get_array(), colour.ravel())
    assert ax.collections[0].get_clim()[0] == 0


def test_errors():
    with pytest.raises(ValueError, match="groups has 2"):
        plot_gene_importance(VALUES, ["a", "b"])
    with pytest.raises(ValueError, match="Unknown genes"):
        plot_gene_importance(VALUES, GROUPS, feature_names=GENES, genes=["CD3E"])
    with pytest.raises(ValueError, match="n_cells, n_genes"):
        plot_gene_importance(VALUES[None], GROUPS)
    with pytest.raises(ValueError, match="top_k"):
        plot_gene_importance(VALUES, GROUPS, top_k=0)
    with pytest.raises(ValueError, match="aggregate"):
        plot_gene_importance(VALUES, GROUPS, aggregate="max")
