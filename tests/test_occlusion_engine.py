"""Occlusion through the fast (fastISM) engine: window edits against full forward passes,
every baseline, the fallback, n_jobs."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from skexplain.explainers import Occlusion, _fast_ism  # noqa: E402
from skexplain.explainers._fast_ism import FastISM, vocabulary  # noqa: E402

from .test_fast_ism import (  # noqa: E402
    CASES,
    Attention,
    LSTMModel,
    Residual,
    _small_cnn,
    one_hot,
    randomise,
    stack,
)


def both(model, X, target=0, fit=None, **params):
    """Values of fast and full Occlusion; checks which engine ran."""
    out = {}
    for engine in ("fast", "full"):
        occlusion = Occlusion(model, engine=engine, **params).fit(X if fit is None else fit)
        E = occlusion.explain(X, target=target)
        assert E.info["engine"] == engine
        out[engine] = E.values
    return out["fast"], out["full"]


def test_window_edits_equal_forward_passes_of_the_edited_sequences():
    # Engine level: windows of several widths in one batch, cut at the end, any new columns.
    model = randomise(stack(nn.ReLU, [(6, 5, "same", 1, 2), (4, 3, "valid", 2, 1)],
                            [nn.MaxPool1d(3, ceil_mode=True), None], length=50), seed=1)
    X = one_hot(2, 50, seed=2)
    rng = np.random.default_rng(0)
    vectors = np.vstack([np.eye(4), np.zeros((1, 4)), rng.uniform(size=(3, 4))])
    tokens = X.argmax(axis=1)
    width = 9
    n_edits = 40
    sequence = rng.integers(0, 2, n_edits)
    starts = rng.integers(0, 50, n_edits)
    starts[:4] = [0, 41, 45, 49]  # the first and last positions, windows cut at the end
    stops = np.minimum(starts + rng.integers(1, width + 1, n_edits), 50)
    new = rng.integers(0, len(vectors), (n_edits, width))
    old = np.zeros_like(new)
    edited = np.repeat(X[sequence], 1, axis=0).astype(np.float64)
    for e in range(n_edits):
        span = np.arange(starts[e], stops[e])
        old[e, :len(span)] = tokens[sequence[e], span]
        new[e, len(span):] = old[e, len(span):]
        edited[e][:, span] = vectors[new[e, :len(span)]].T
    with torch.no_grad():
        engine = FastISM(model, (4, 50))
        state = engine.reference(torch.tensor(X), width, engine.tokens(vectors))
        fast = engine.outputs(state, sequence, starts, old, new).numpy()
        full = model(torch.tensor(edited, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(fast, full, atol=1e-5, rtol=0)
    assert np.abs(full - model(torch.tensor(X))[sequence].detach().numpy()).max() > 1e-3


WINDOWS = [(1, 1), (4, 2), (5, 5), (7, 3), (12, 1)]


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("head", ["dense", "global"])
def test_fast_occlusion_equals_full_on_random_conv_stacks(name, head):
    activation, specs, pools = CASES[name]
    torch.manual_seed(sum(map(ord, name)))
    model = randomise(stack(activation, specs, pools, head=head), seed=len(name))
    X = one_hot(3, 60, seed=1)
    for (window, stride), baseline in zip(WINDOWS, [0.25, "zeros", "mean", 0.25, "mean"],
                                          strict=True):
        fast, full = both(model, X, window=window, stride=stride, baseline=baseline,
                          fit=one_hot(20, 60, seed=9))
        assert np.abs(full).max() > 1e-4  # occluding does change the score
        np.testing.assert_allclose(fast, full, atol=1e-5, rtol=0)


@pytest.mark.parametrize("seed", range(4))
def test_fast_occlusion_equals_full_on_randomised_stacks(seed):
    from .test_fast_ism import random_stack

    model, X, rng = random_stack(seed)
    window = int(rng.integers(2, 11))
    stride = int(rng.integers(1, window + 1))
    fast, full = both(model, X, window=window, stride=stride, baseline=0.25)
    np.testing.assert_allclose(fast, full, atol=1e-5, rtol=0)


def test_shuffled_windows_draw_the_same_orders():
    model = _small_cnn()
    X = one_hot(3, 40, seed=3)
    fast, full = both(model, X, target=2, window=6, stride=4, baseline="shuffle",
                      n_shuffles=3, random_state=0)
    assert np.abs(full).max() > 1e-4
    np.testing.assert_allclose(fast, full, atol=1e-5, rtol=0)


@pytest.mark.parametrize("architecture", ["cnn_deep", "cnn_dist"])
def test_fast_occlusion_equals_full_on_the_package_cnns(architecture):
    from skexplain.models import ExpActivationCNN

    torch.manual_seed(0)
    model = randomise(ExpActivationCNN(n_outputs=2, input_length=160,
                                       architecture=architecture))
    X = one_hot(2, 160, seed=4)
    for window, stride, baseline in [(10, 1, 0.25), (25, 7, "zeros"), (1, 1, 0.25)]:
        fast, full = both(model, X, target=1, window=window, stride=stride, baseline=baseline)
        assert np.abs(full).max() > 1e-4
        np.testing.assert_allclose(fast, full, atol=1e-5, rtol=0)


def test_fast_occlusion_matches_captum():
    captum = pytest.importorskip("captum.attr")
    model = _small_cnn()
    X = one_hot(3, 40, seed=5)
    E = Occlusion(model, window=8, stride=3, baseline=0.25).fit(X).explain(X, target=2)
    assert E.info["engine"] == "fast"
    theirs = captum.Occlusion(model).attribute(
        torch.tensor(X), sliding_window_shapes=(4, 8), strides=(4, 3), baselines=0.25,
        target=2).numpy()
    np.testing.assert_allclose(E.values, theirs, atol=1e-5, rtol=0)


def test_one_hot_like_input_and_array_baselines(monkeypatch):
    # Soft columns (few distinct ones) and a baseline varying along the sequence.
    model = _small_cnn()
    rng = np.random.default_rng(6)
    X = 0.8 * one_hot(3, 40, seed=6) + 0.05
    baseline = rng.dirichlet(np.ones(4), size=40).T
    fast, full = both(model, X, target=1, window=5, stride=2, baseline=baseline)
    np.testing.assert_allclose(fast, full, atol=1e-5, rtol=0)
    # Real-valued input: every column is its own token, still exact; windows of one
    # position convolve too when the table of kernel columns would be too large.
    X = rng.normal(size=(2, 4, 40)).astype(np.float32)
    fast, full = both(model, X, target=1, window=3, stride=1, baseline="zeros")
    np.testing.assert_allclose(fast, full, atol=1e-5, rtol=0)
    gathered, _ = both(model, X, target=1, window=1, baseline="zeros")
    monkeypatch.setattr(_fast_ism, "TABLE_BYTES", 100)
    convolved, full = both(model, X, target=1, window=1, baseline="zeros")
    np.testing.assert_allclose(gathered, full, atol=1e-5, rtol=0)
    np.testing.assert_allclose(convolved, full, atol=1e-5, rtol=0)
    assert FastISM(model, (4, 40)).tokens(np.eye(4))["table"] is None


def test_vocabulary_keeps_known_columns():
    X = one_hot(2, 10, seed=7)
    X[0, :, 3] = 0  # an N
    baseline = np.full((4, 10), 0.25)
    baseline[:, 2] = [0, 1, 0, 0]
    vectors, tokens, (base,) = vocabulary(X, baseline)
    assert vectors.shape == (6, 4)  # the 4 bases, N, then 0.25
    np.testing.assert_array_equal(tokens[0, 3], 4)
    np.testing.assert_array_equal(vectors[tokens].transpose(0, 2, 1), X)
    np.testing.assert_array_equal(vectors[base].T, baseline)


def test_n_jobs_gives_identical_values():
    model = _small_cnn()
    X = one_hot(6, 40, seed=8)
    for params in (dict(window=5, stride=1, baseline=0.25),
                   dict(window=4, stride=2, baseline="shuffle", n_shuffles=2, random_state=1)):
        values = [Occlusion(model, engine="fast", batch_size=32, n_jobs=n_jobs, **params)
                  .fit(X).explain(X).values for n_jobs in (1, 2)]
        np.testing.assert_array_equal(values[0], values[1])


def test_batch_size_does_not_change_the_values():
    model = _small_cnn()
    X = one_hot(2, 40, seed=10)
    values = [Occlusion(model, window=6, stride=2, batch_size=b).fit(X).explain(X).values
              for b in (3, "auto")]
    np.testing.assert_allclose(values[0], values[1], atol=1e-6, rtol=0)


@pytest.mark.parametrize("module", [LSTMModel, Attention, Residual])
def test_unsupported_models_fall_back_to_full_passes(module):
    torch.manual_seed(0)
    model = module().eval()
    X = one_hot(2, 30, seed=11)
    params = dict(window=4, stride=2, baseline=0.25)
    auto = Occlusion(model, **params).fit(X).explain(X, target=1)
    full = Occlusion(model, engine="full", **params).fit(X).explain(X, target=1)
    assert auto.info["engine"] == "full"
    np.testing.assert_array_equal(auto.values, full.values)
    with pytest.raises(ValueError, match="engine='fast' cannot run on this model"):
        Occlusion(model, engine="fast", **params).fit(X).explain(X)


def test_what_the_fast_engine_does_not_serve():
    model = _small_cnn()
    X = one_hot(2, 40, seed=12)
    groups = np.repeat(np.arange(8), 5)[None].repeat(4, axis=0)
    E = Occlusion(model, feature_groups=groups).fit(X).explain(X)
    assert E.info["engine"] == "full"
    with pytest.raises(ValueError, match="engine='fast'.*feature_groups"):
        Occlusion(model, feature_groups=groups, engine="fast").fit(X).explain(X)
    W = np.random.default_rng(0).normal(size=(4, 40))
    with pytest.raises(ValueError, match="engine='fast'.*torch module"):
        Occlusion(lambda X: (X * W).sum(axis=(1, 2)), engine="fast").fit(X).explain(X)
    net = nn.Sequential(nn.Linear(8, 3), nn.Tanh(), nn.Linear(3, 2)).eval()
    tabular = np.random.default_rng(1).normal(size=(5, 8))
    assert Occlusion(net).fit(tabular).explain(tabular).info["engine"] == "full"
    with pytest.raises(ValueError, match="engine='fast'.*n_channels, length"):
        Occlusion(net, engine="fast").fit(tabular).explain(tabular)


def test_multi_base_substitutions_through_fast_edit_scores():
    # Variant-effect scoring of equal-length multi-base substitutions (-1: unchanged).
    from skexplain._core.model import ModelAdapter
    from skexplain.explainers._fast_ism import fast_edit_scores

    model = _small_cnn()
    X = one_hot(3, 40, seed=13)
    rng = np.random.default_rng(1)
    n_edits = 25
    sequence = rng.integers(0, 3, n_edits)
    position = rng.integers(0, 40, n_edits)
    position[:2] = [38, 39]  # running past the end: cut
    new = rng.integers(-1, 4, (n_edits, 4))
    columns = rng.integers(0, 3, n_edits)
    adapter = ModelAdapter(model, (4, 40))
    fast = fast_edit_scores(adapter, X, sequence, position, new, columns, batch_size=7)
    edited = X[sequence].copy()
    for e in range(n_edits):
        for i, base in enumerate(new[e]):
            if base >= 0 and position[e] + i < 40:
                edited[e, :, position[e] + i] = np.eye(4)[base]
    full = adapter.scores(edited.reshape(n_edits, -1))[np.arange(n_edits), columns]
    reference = adapter.scores(X[sequence].reshape(n_edits, -1))[np.arange(n_edits), columns]
    assert np.abs(full - reference).max() > 1e-3
    np.testing.assert_allclose(fast, full, atol=1e-5, rtol=0)


def test_full_engine_auto_batch_counts_activations_of_conv_models():
    from skexplain._core.compute import AUTO_BATCH_BYTES, resolve_batch_size
    from skexplain.explainers._fast_ism import activation_bytes
    from skexplain.models import ExpActivationCNN

    model = ExpActivationCNN(input_length=1000, architecture="cnn_deep").eval()
    X = one_hot(1, 1000, seed=14)
    occlusion = Occlusion(model, window=10, engine="full").fit(X)
    occlusion._bound_adapter = occlusion.model_adapter_
    rows = occlusion._batch_size()
    per_row = activation_bytes(model, (4, 1000))
    assert rows < resolve_batch_size("auto", 4 * 1000) / 10
    assert AUTO_BATCH_BYTES / 2 <= rows * per_row <= AUTO_BATCH_BYTES
    # A tabular MLP's activations are no larger than its input: the usual policy.
    net = nn.Sequential(nn.Linear(8, 6), nn.Tanh(), nn.Linear(6, 2)).eval()
    tabular = Occlusion(net).fit(np.zeros((3, 8)))
    tabular._bound_adapter = tabular.model_adapter_
    assert tabular._batch_size() == resolve_batch_size("auto", 8)
