import sys

import numpy as np
import pytest

from skexplain import Explanation
from skexplain.plotting import plot_attributions_heatmap, plot_image_attributions

RNG = np.random.default_rng(0)


def _labels(ticks):
    return [t.get_text() for t in ticks]


def test_tabular_heatmap_draws_the_values(ax):
    values = RNG.normal(size=(3, 5))
    names = ["a", "b", "c", "d", "e"]
    out = plot_attributions_heatmap(values, ax=ax, feature_names=names, sample_names=list("xyz"))
    assert out is ax
    np.testing.assert_array_equal(ax.images[0].get_array(), values)
    assert _labels(ax.get_xticklabels()) == names
    assert _labels(ax.get_yticklabels()) == ["x", "y", "z"]
    limit = np.abs(values).max()
    assert ax.images[0].get_clim() == (-limit, limit)  # centred on 0


def test_heatmap_of_an_explanation_keeps_its_names_and_selects_top_features(ax):
    values = np.array([[0.1, -3.0, 0.5, 2.0], [0.2, 1.0, -0.4, -2.5]])
    explanation = Explanation(values, feature_names=["g0", "g1", "g2", "g3"])
    plot_attributions_heatmap(explanation, ax=ax, max_features=2, colorbar=False)
    # mean |value|: g3 2.25, g1 2.0
    np.testing.assert_array_equal(ax.images[0].get_array(), values[:, [3, 1]])
    assert _labels(ax.get_xticklabels()) == ["g3", "g1"]
    assert len(ax.figure.axes) == 1  # no colour bar


def test_heatmap_errors():
    with pytest.raises(ValueError, match="plot_image_attributions"):
        plot_attributions_heatmap(np.zeros((2, 4, 5)))
    with pytest.raises(ValueError, match="feature_names"):
        plot_attributions_heatmap(np.zeros((2, 3)), feature_names=["a"])
    with pytest.raises(ValueError, match="finite"):
        plot_attributions_heatmap(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="max_features"):
        plot_attributions_heatmap(np.zeros((2, 3)), max_features=0)


def test_image_overlay_rgb(ax):
    values = RNG.normal(size=(3, 4, 5))
    image = RNG.uniform(2, 5, size=(3, 4, 5))
    plot_image_attributions(values, image, ax=ax)
    assert len(ax.images) == 2
    np.testing.assert_allclose(ax.images[-1].get_array(), values.sum(axis=0))
    rgb = np.moveaxis(image, 0, -1)
    np.testing.assert_allclose(ax.images[0].get_array(),
                               (rgb - rgb.min()) / (rgb.max() - rgb.min()))
    limit = np.abs(values.sum(axis=0)).max()
    np.testing.assert_allclose(ax.images[-1].get_clim(), (-limit, limit))
    assert ax.images[-1].get_alpha() == 0.6


def test_image_from_explanation_uses_its_data_and_index(ax):
    values = RNG.normal(size=(2, 1, 4, 5))
    data = RNG.uniform(size=(2, 1, 4, 5))
    explanation = Explanation(values, data=data)
    plot_image_attributions(explanation, ax=ax, index=1, reduce="max_abs")
    np.testing.assert_allclose(ax.images[-1].get_array(), np.abs(values[1, 0]))
    assert ax.images[-1].get_clim()[0] == 0
    grey = data[1, 0]
    np.testing.assert_allclose(ax.images[0].get_array(),
                               (grey - grey.min()) / (grey.max() - grey.min()))


def test_image_without_background(ax):
    values = RNG.normal(size=(4, 5))
    plot_image_attributions(values, ax=ax, colorbar=False)
    assert len(ax.images) == 1
    np.testing.assert_allclose(ax.images[0].get_array(), values)


def test_image_errors():
    with pytest.raises(ValueError, match="dimensions"):
        plot_image_attributions(np.zeros(5))
    with pytest.raises(ValueError, match="image must have shape"):
        plot_image_attributions(np.zeros((3, 4, 5)), np.zeros((3, 5, 4)))
    with pytest.raises(ValueError, match="reduce"):
        plot_image_attributions(np.zeros((4, 5)), reduce="median")
    with pytest.raises(ValueError, match="alpha"):
        plot_image_attributions(np.zeros((4, 5)), alpha=2)
    with pytest.raises(ValueError, match="index"):
        plot_image_attributions(np.zeros((2, 3, 4, 5)), index=2)


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"skexplain\[plot\]"):
        plot_attributions_heatmap(np.zeros((2, 3)))
