import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from skexplain.motifs import plot_logo

matplotlib.use("Agg")
pytest.importorskip("logomaker")

PPM = np.array([[1.0, 0.25, 0.5], [0, 0.25, 0.5], [0, 0.25, 0], [0, 0.25, 0]])


def _stack_heights(ax):
    """Height of each position's letter stack, from the glyph patches logomaker draws."""
    heights = {}
    for patch in ax.patches:
        box = patch.get_path().get_extents(patch.get_transform() - ax.transData)
        x = int(round(box.x0 + box.width / 2))
        heights[x] = heights.get(x, 0) + box.height
    return np.array([heights.get(i, 0) for i in range(PPM.shape[1])])


@pytest.mark.parametrize("kind, matrix, expected", [
    ("information", PPM, [2.0, 0.0, 1.0]),  # bits: 2 - H(column)
    ("probability", PPM, [1.0, 1.0, 1.0]),
    ("weight", PPM - 0.25, [1.5, 0.0, 1.0]),  # sum of |weights|, negatives below the axis
])
def test_letter_heights(kind, matrix, expected):
    ax = plot_logo(matrix, ax=plt.figure().gca(), kind=kind, title="x")
    np.testing.assert_allclose(_stack_heights(ax), expected, atol=0.05)
    assert ax.get_title() == "x"
    plt.close("all")


def test_errors():
    with pytest.raises(ValueError, match=r"\(4, width\)"):
        plot_logo(np.ones((3, 2)))
    with pytest.raises(ValueError, match="PPM"):
        plot_logo(-PPM)
    with pytest.raises(ValueError, match="kind"):
        plot_logo(PPM, kind="bits")
