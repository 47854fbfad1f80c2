import numpy as np
import pytest

from skexplain.motifs import effect_curve, periodicity

ANCHOR, PARTNER = "CAGTTGCAATCG", "GTACCTAGGACT"  # long: no chance matches in backgrounds
PERIOD = 10.5


def _find(X, motif):
    """Start of the first exact match of motif in each one-hot sequence (-1 if none)."""
    letters = np.argmax(X, axis=1)
    codes = np.array(["ACGT".index(c) for c in motif])
    windows = np.lib.stride_tricks.sliding_window_view(letters, len(codes), axis=1)
    hits = np.all(windows == codes, axis=2)
    return np.where(hits.any(axis=1), hits.argmax(axis=1), -1)


def helical_model(X):
    """Cooperativity with the helical phase: cos(2 pi d / 10.5) when both motifs are present
    at spacing d, 0 otherwise."""
    a, b = _find(X, ANCHOR), _find(X, PARTNER)
    both = (a >= 0) & (b >= 0)
    return np.where(both, np.cos(2 * np.pi * (b - a) / PERIOD), 0.0)


def _backgrounds(n=20, length=200, seed=0):
    rng = np.random.default_rng(seed)
    return np.eye(4)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1)


def test_spacing_curve_equals_the_planted_rule_and_its_period_is_found():
    curve = effect_curve(helical_model, _backgrounds(), PARTNER, anchor=ANCHOR)
    assert curve.anchor_position == 94
    assert curve.offsets[0] == -94 and curve.offsets[-1] == 200 - 12 - 94
    assert not np.any(np.abs(curve.offsets) < 12)  # never over the anchor
    np.testing.assert_allclose(curve.effects, np.cos(2 * np.pi * curve.offsets / PERIOD))
    np.testing.assert_allclose(curve.standard_errors, 0, atol=1e-12)
    assert curve.baseline == 0
    downstream = curve.effects[curve.offsets >= 12]
    result = periodicity(downstream, random_state=0)
    assert abs(result.period - PERIOD) < 0.1
    assert result.significant and result.p_value <= 0.002 and result.strength > 10


def test_a_model_blind_to_spacing_gives_a_flat_curve_without_period():
    def additive(X):
        return 0.5 * (_find(X, ANCHOR) >= 0) + 0.3 * (_find(X, PARTNER) >= 0)

    curve = effect_curve(additive, _backgrounds(), PARTNER, anchor=ANCHOR)
    np.testing.assert_allclose(curve.effects, 0.3)
    result = periodicity(curve.effects, random_state=0)
    assert np.isnan(result.period) and not result.significant and result.strength == 0


def test_position_curve_without_anchor_and_offsets():
    def position_of_partner(X):
        return _find(X, PARTNER).astype(float)

    curve = effect_curve(position_of_partner, _backgrounds(5, 60), PARTNER, anchor_position=10,
                         offsets=[-10, 0, 30])
    assert curve.baseline == -1  # no partner in the backgrounds
    np.testing.assert_allclose(curve.effects, np.array([0, 10, 40]) + 1)


def test_ppm_motifs_are_sampled_reproducibly_and_n_jobs_does_not_matter():
    ppm = np.full((4, 6), 0.1)
    ppm[2] = 0.7
    backgrounds = _backgrounds(30, 80)

    def g_count(X):
        return X[:, 2].sum(axis=1)

    a = effect_curve(g_count, backgrounds, ppm, random_state=0, n_jobs=1)
    b = effect_curve(g_count, backgrounds, ppm, random_state=0, n_jobs=2, batch_size=7)
    c = effect_curve(g_count, backgrounds, ppm, random_state=1)
    np.testing.assert_array_equal(a.effects, b.effects)
    assert not np.array_equal(a.effects, c.effects)
    # One instance per background, the same at every offset; about 0.7 * 6 Gs inserted.
    assert 2.5 < a.effects.mean() < 4.5 and a.standard_errors.max() < 0.5


def test_trained_cnn_and_targets():
    from tests.planted_motifs import MOTIFS, random_sequences, trained_classifier

    net = trained_classifier()
    curve = effect_curve(net, random_sequences(50, seed=3), MOTIFS[1], target=1)
    assert curve.effects.min() > 0.5  # the motif switches its class on anywhere
    with pytest.raises(ValueError, match="pass target"):
        effect_curve(net, random_sequences(5, seed=3), MOTIFS[1])


def test_errors():
    backgrounds = _backgrounds(3, 30)
    with pytest.raises(ValueError, match="string over ACGT"):
        effect_curve(helical_model, backgrounds, "ACGN")
    with pytest.raises(ValueError, match="distribution"):
        effect_curve(helical_model, backgrounds, np.ones((4, 3)))
    with pytest.raises(ValueError, match="over the anchor"):
        effect_curve(helical_model, backgrounds, "ACGT", anchor="GGGG", offsets=[2])
    with pytest.raises(ValueError, match="outside the sequence"):
        effect_curve(helical_model, backgrounds, "ACGT", anchor_position=0, offsets=[27])
    with pytest.raises(ValueError, match="anchor_position"):
        effect_curve(helical_model, backgrounds, "ACGT", anchor="GGGG", anchor_position=28)
    with pytest.raises(ValueError, match="shape"):
        effect_curve(helical_model, backgrounds[0], "ACGT")


def test_torch_models_follow_the_explainers_output_rule():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv1d(4, 2, 5), torch.nn.ReLU(),
                              torch.nn.AdaptiveMaxPool1d(1), torch.nn.Flatten(),
                              torch.nn.Linear(2, 3)).eval()

    def head(rows, activation):
        with torch.no_grad():
            return activation(net(torch.as_tensor(rows, dtype=torch.float32))).numpy()

    backgrounds = _backgrounds(n=6, length=40)
    kwargs = dict(offsets=[-10, 0, 7], anchor_position=15, target=2)
    auto = effect_curve(net, backgrounds, "GATTACA", **kwargs)
    logits = effect_curve(lambda X: head(X, lambda z: z), backgrounds, "GATTACA", **kwargs)
    np.testing.assert_allclose(auto.effects, logits.effects, rtol=1e-5, atol=1e-6)
    proba = effect_curve(net, backgrounds, "GATTACA", output="probability", batch_size=4,
                         **kwargs)
    softmax = effect_curve(lambda X: head(X, lambda z: torch.softmax(z, 1)), backgrounds,
                           "GATTACA", **kwargs)
    np.testing.assert_allclose(proba.effects, softmax.effects, rtol=1e-5, atol=1e-6)
    assert not np.allclose(proba.effects, auto.effects)


def test_nan_scores_raise():
    with pytest.raises(ValueError, match="NaN or infinite scores"):
        effect_curve(lambda X: np.full(len(X), np.nan), _backgrounds(n=3, length=30), "GATC",
                     offsets=[0, 5])
