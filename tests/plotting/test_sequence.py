import numpy as np
import pytest

from skexplain import Explanation
from skexplain.plotting import plot_sequence_attributions

pytest.importorskip("logomaker")

RNG = np.random.default_rng(0)
SEQUENCE = np.eye(4)[[0, 2, 1, 3, 3, 0]].T  # AGCTTA, shape (4, 6)


def _signed_stacks(ax, length):
    """Signed height of each position's letters (glyphs below the axis count negative)."""
    heights = np.zeros(length)
    for patch in ax.patches:
        box = patch.get_path().get_extents(patch.get_transform() - ax.transData)
        position = int(round(box.x0 + box.width / 2))
        heights[position] += -box.height if box.y0 < -1e-9 else box.height
    return heights


def test_observed_base_heights_are_the_attributions(ax):
    values = RNG.normal(size=(4, 6))
    out = plot_sequence_attributions(values, SEQUENCE, ax=ax)
    assert out is ax
    expected = (values * SEQUENCE).sum(axis=0)
    np.testing.assert_allclose(_signed_stacks(ax, 6), expected, atol=0.02)
    assert ax.get_ylabel() == "attribution"


def test_weight_logo_without_sequence(ax):
    values = np.array([[1.0, 0.0], [0.5, -1.0], [0.0, 0.0], [0.0, -0.5]])
    plot_sequence_attributions(values, ax=ax)
    np.testing.assert_allclose(_signed_stacks(ax, 2), [1.5, -1.5], atol=0.02)


def test_explanation_data_index_and_window(ax):
    values = RNG.normal(size=(2, 4, 6))
    data = np.stack([SEQUENCE, SEQUENCE[:, ::-1]])
    plot_sequence_attributions(Explanation(values, data=data), ax=ax, index=1, start=2, end=5)
    expected = (values[1] * data[1]).sum(axis=0)[2:5]
    np.testing.assert_allclose(_signed_stacks(ax, 3), expected, atol=0.02)
    assert ax.xaxis.get_major_formatter()(0, None) == "2"  # positions of the sequence


def test_errors():
    with pytest.raises(ValueError, match="4 channels"):
        plot_sequence_attributions(np.zeros((3, 6)))
    with pytest.raises(ValueError, match="one-hot"):
        plot_sequence_attributions(np.zeros((4, 6)), SEQUENCE * 2)
    with pytest.raises(ValueError, match="shape"):
        plot_sequence_attributions(np.zeros((4, 6)), SEQUENCE[:, :5])
    with pytest.raises(ValueError, match="start, end"):
        plot_sequence_attributions(np.zeros((4, 6)), start=4, end=4)
    with pytest.raises(ValueError, match="dimensions"):
        plot_sequence_attributions(np.zeros(6))
