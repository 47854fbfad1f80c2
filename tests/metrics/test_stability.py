import numpy as np
import pytest

from skexplain.explainers import SensX
from skexplain.metrics import (
    input_consistency,
    max_sensitivity,
    ranking_agreement,
    seed_consistency,
)

from .conftest import GradientOfSquares, linear


def test_ranking_agreement_closed_forms():
    a = np.array([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]])
    b = np.array([[4.0, 3.0, 2.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(ranking_agreement(a, a), [1.0, 1.0])
    np.testing.assert_allclose(ranking_agreement(a, b), [-1.0, 1.0])
    np.testing.assert_allclose(ranking_agreement(a[:1], -a[:1]), [1.0])  # absolute values
    np.testing.assert_allclose(ranking_agreement(a[:1], -a[:1], absolute=False), [-1.0])
    c = np.array([[1.0, 4.0, 3.0, 2.0]])
    assert ranking_agreement(a[:1], c, metric="top_k", k=2).tolist() == [0.5]
    assert ranking_agreement(a[:1], b[:1], metric="top_k", k=2).tolist() == [0.0]
    assert ranking_agreement(a[:1], a[1:], metric="spearman").tolist() == [0.0]
    with pytest.raises(ValueError, match="k must be"):
        ranking_agreement(a, b, metric="top_k", k=5)
    with pytest.raises(ValueError, match="Unknown metric"):
        ranking_agreement(a, b, metric="kendall")
    with pytest.raises(ValueError, match="same shape"):
        ranking_agreement(a, b[:, :3])


def test_max_sensitivity_of_an_exact_gradient_is_bounded_by_the_ball():
    # phi(x) = 2x moves by 2 * noise: at most 2 r sqrt(D), on average 2 r sqrt(D / 3).
    X = np.random.default_rng(0).normal(size=(6, 9))
    explainer = GradientOfSquares(lambda X: (X**2).sum(axis=1)).fit(X)
    r = 0.05
    value = max_sensitivity(explainer, X, radius=r, n_perturbations=20, random_state=0)
    assert 2 * r * np.sqrt(9 / 3) < value <= 2 * r * np.sqrt(9)
    assert max_sensitivity(explainer, X, radius=0.0, random_state=0) == 0.0


def test_max_sensitivity_normalization_divides_by_the_explanation_norm():
    X = np.full((1, 4), 2.0)  # |phi(x)| = |2x| = 8
    explainer = GradientOfSquares(lambda X: (X**2).sum(axis=1)).fit(X)
    raw = max_sensitivity(explainer, X, radius=0.1, n_perturbations=5, random_state=3)
    relative = max_sensitivity(explainer, X, radius=0.1, n_perturbations=5, normalize=True,
                               random_state=3)
    assert relative == pytest.approx(raw / 8.0)


def test_sensx_on_a_linear_model_is_perfectly_stable():
    # On f = w.x SensX returns |w| exactly, for any input and seed.
    rng = np.random.default_rng(0)
    w = rng.normal(size=7)
    X = rng.normal(size=(30, 7))
    explainer = SensX(linear(w), n_walks=2, delta=0.3, random_state=0).fit(X)
    assert max_sensitivity(explainer, X[:4], radius=0.2, n_perturbations=3) == pytest.approx(
        0, abs=1e-9)
    assert input_consistency(explainer, X[:4], radius=0.2) == 1.0
    assert seed_consistency(explainer, X[:4], metric="top_k", k=3) == 1.0


def test_seed_consistency_grows_with_the_number_of_walks(planted):
    X, _, model, confident = planted
    spearman, top2 = [], []
    for n_walks in (1, 40, 200):
        explainer = SensX(model, n_walks=n_walks, delta=0.5).fit(X)
        spearman.append(seed_consistency(explainer, confident[:4], random_state=0))
        top2.append(seed_consistency(explainer, confident[:4], metric="top_k", k=2,
                                     random_state=0))
    # The planted pair is found with few walks; the order of the 18 irrelevant features,
    # pure Monte Carlo noise, settles slowly.
    assert spearman[0] < spearman[1] < spearman[2]
    assert top2[0] < 1.0 and top2[1] == top2[2] == 1.0


def test_input_consistency_drops_with_the_radius(planted):
    X, _, model, confident = planted
    explainer = SensX(model, n_walks=20, delta=0.5, random_state=0).fit(X)
    near = input_consistency(explainer, confident[:4], radius=0.01, random_state=0)
    far = input_consistency(explainer, confident[:4], radius=3.0, random_state=0)
    assert near > 0.9 > far


def test_seed_consistency_needs_a_random_state():
    X = np.ones((3, 2))
    explainer = GradientOfSquares(lambda X: X.sum(axis=1)).fit(X)
    with pytest.raises(ValueError, match="has no random_state parameter"):
        seed_consistency(explainer, X)
