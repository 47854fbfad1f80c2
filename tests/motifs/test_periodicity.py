import numpy as np
import pytest

from skexplain.motifs import periodicity

D = np.arange(200)


@pytest.mark.parametrize("period", [6.0, 10.5, 15.0])
def test_recovers_the_period_of_a_damped_oscillation_on_a_decay(period):
    curve = 3 * np.exp(-D / 30) + np.cos(2 * np.pi * D / period) * np.exp(-D / 80)
    result = periodicity(curve, random_state=0)
    assert abs(result.period - period) < 0.1
    assert result.significant and result.strength > 10


def test_recovers_the_period_through_noise():
    rng = np.random.default_rng(0)
    curve = np.cos(2 * np.pi * D / 10.5) * np.exp(-D / 80) + rng.normal(0, 0.3, len(D))
    result = periodicity(curve, min_period=5, max_period=25, random_state=0)
    assert abs(result.period - 10.5) < 0.3 and result.significant


@pytest.mark.parametrize("kind", ["noise", "decay", "flat", "line"])
def test_curves_without_a_period_are_not_significant(kind):
    rng = np.random.default_rng(1)
    curve = {
        "noise": rng.normal(size=len(D)),
        "decay": 5 * np.exp(-D / 15) + rng.normal(0, 0.05, len(D)),
        "flat": np.full(len(D), 2.0),
        "line": 0.3 * D - 4,
    }[kind]
    result = periodicity(curve, random_state=0)
    assert not result.significant and result.p_value > 0.05


def test_null_p_values_are_calibrated():
    # Pure noise: about 5 % of curves significant at alpha = 0.05.
    p = [periodicity(np.random.default_rng(s).normal(size=120), n_permutations=99,
                     random_state=s).p_value for s in range(60)]
    assert np.mean(np.array(p) <= 0.05) <= 0.15


def test_band_spectrum_and_errors():
    result = periodicity(np.cos(2 * np.pi * D / 8), min_period=4, max_period=20,
                         n_permutations=19, random_state=0)
    assert result.periods.min() >= 4 and result.periods.max() <= 20
    assert result.power.shape == result.background.shape == result.periods.shape
    assert result.p_value == pytest.approx(1 / 20)
    with pytest.raises(ValueError, match="at least 8"):
        periodicity(np.ones(5))
    with pytest.raises(ValueError, match="min_period"):
        periodicity(D, min_period=1)
    with pytest.raises(ValueError, match="max_period"):
        periodicity(D, min_period=5, max_period=3)
