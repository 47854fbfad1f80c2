import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from skexplain import Explanation
from skexplain.explainers import SensX
from skexplain.plotting import plot_sensx_delta, plot_stability_profile


@pytest.fixture(scope="module")
def explanation():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    model = LogisticRegression().fit(X, X[:, 0] > 0)
    explainer = SensX(model, n_walks=5, n_profile_samples=100, tau=0.3,
                               delta_grid=np.linspace(0.1, 1, 10), random_state=0).fit(X)
    return explainer.explain(X[:6], target=1)


def test_stability_profile_curves(ax, explanation):
    out = plot_stability_profile(explanation, 2, ax=ax)
    assert out is ax
    profile, grid = explanation.info["stability_profile"][2], explanation.info["delta_grid"]
    for k in range(3):
        np.testing.assert_allclose(ax.lines[k].get_xdata(), grid)
        np.testing.assert_allclose(ax.lines[k].get_ydata(), profile[:, k])
    delta_star = explanation.info["delta_star"][2]
    assert delta_star > 0
    np.testing.assert_allclose(ax.lines[3].get_xdata(), [delta_star, delta_star])
    assert ax.get_title() == "instance 2"


def test_insensitive_instance_has_no_delta_line(ax):
    grid = np.array([0.5, 1.0])
    explanation = Explanation(np.zeros((1, 2)), info={
        "stability_profile": np.full((1, 2, 3), 0.5), "delta_grid": grid,
        "delta_star": np.array([0.0])})
    plot_stability_profile(explanation, ax=ax)
    assert len(ax.lines) == 3


def test_delta_star_counts(ax):
    grid = np.linspace(0.1, 1, 10)
    delta_star = np.array([0.2, 0.2, 1.0, 0.0, 0.5, 0.2])
    explanation = Explanation(np.zeros((6, 2)), info={"delta_star": delta_star,
                                                      "delta_grid": grid})
    out = plot_sensx_delta(explanation, ax=ax)
    assert out is ax
    bars = ax.patches
    np.testing.assert_allclose([b.get_x() + b.get_width() / 2 for b in bars],
                               [0.0, 0.2, 0.5, 1.0])
    np.testing.assert_allclose([b.get_height() for b in bars], [1, 3, 1, 1])
    np.testing.assert_allclose(bars[0].get_width(), 0.08)


def test_real_explanation_delta_counts(ax, explanation):
    plot_sensx_delta(explanation, ax=ax)
    assert sum(b.get_height() for b in ax.patches) == len(explanation)


def test_errors(explanation):
    fixed = Explanation(np.zeros((1, 2)), info={"delta_star": np.array([0.3])})
    with pytest.raises(ValueError, match="stability profile"):
        plot_stability_profile(fixed)
    with pytest.raises(ValueError, match="delta"):
        plot_sensx_delta(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="index"):
        plot_stability_profile(explanation, 6)
