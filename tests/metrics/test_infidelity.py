import numpy as np
import pytest

from skexplain.metrics import infidelity

from .conftest import linear


@pytest.fixture
def case():
    rng = np.random.default_rng(0)
    w = rng.normal(size=6)
    return linear(w, offset=0.3), w, rng.normal(size=(4, 6))


def test_gradient_of_a_linear_model_has_zero_infidelity(case):
    f, w, X = case
    assert infidelity(f, X, np.tile(w, (4, 1)), 0, random_state=0) == pytest.approx(0, abs=1e-20)


def test_scaled_gradient_matches_closed_form_and_normalization_removes_the_scale(case):
    # With phi = 2w the error is (I.w)^2, whose mean is sigma^2 |w|^2.
    f, w, X = case
    sigma = 0.2
    value = infidelity(f, X, np.tile(2 * w, (4, 1)), 0, noise_scale=sigma,
                       n_perturbations=4000, random_state=0)
    assert value == pytest.approx(sigma**2 * w @ w, rel=0.05)
    normalized = infidelity(f, X, np.tile(2 * w, (4, 1)), 0, noise_scale=sigma,
                            normalize=True, random_state=0)
    assert normalized == pytest.approx(0, abs=1e-20)


def test_a_wrong_attribution_is_less_faithful(case):
    f, w, X = case
    right = infidelity(f, X, np.tile(w, (4, 1)) + 0.01, 0, random_state=0)
    wrong = infidelity(f, X, np.tile(w[::-1], (4, 1)), 0, random_state=0)
    assert right < wrong


def test_per_feature_noise_and_errors(case):
    f, w, X = case
    # Only feature 0 is perturbed: phi differing from w elsewhere does not matter.
    scale = np.zeros(6)
    scale[0] = 1.0
    phi = np.tile(w, (4, 1))
    phi[:, 1:] = 100.0
    assert infidelity(f, X, phi, 0, noise_scale=scale) == pytest.approx(0, abs=1e-20)
    with pytest.raises(ValueError, match="noise_scale must be non-negative"):
        infidelity(f, X, phi, 0, noise_scale=-1.0)
    with pytest.raises(ValueError, match="attributions has shape"):
        infidelity(f, X, phi[:, :3], 0)
