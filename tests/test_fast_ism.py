"""The fast ISM engine (fastISM) against full forward passes, its fallback, hypothetical
contributions and n_jobs."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from skexplain.explainers import InSilicoMutagenesis  # noqa: E402
from skexplain.explainers._fast_ism import FastISM, UnsupportedModel  # noqa: E402


def one_hot(n, length, seed=0, channels=4):
    tokens = np.random.default_rng(seed).integers(0, channels, size=(n, length))
    return np.eye(channels, dtype=np.float32)[tokens].transpose(0, 2, 1).copy()


def randomise(model, seed=0):
    """Random weights and BatchNorm statistics, eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=generator) * 0.3)
                m.running_var.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
    return model.eval()


def both(model, X, **params):
    """Values and engines of fast and full ISM (raw effects)."""
    out = {}
    for engine in ("fast", "full"):
        ism = InSilicoMutagenesis(model, engine=engine, reduction=None, **params).fit(X)
        E = ism.explain(X, target=0)
        assert E.info["engine"] == engine
        out[engine] = E.values
    return out["fast"], out["full"]


def stack(first_activation, conv_specs, pools, head="dense", length=60, n_outputs=2):
    """Conv1d(padding, stride, dilation) -> BN -> act -> dropout -> pool, ..., then a head."""
    layers, channels = [], 4
    for k, ((filters, kernel, padding, stride, dilation), pool) in enumerate(
            zip(conv_specs, pools, strict=True)):
        layers += [nn.Conv1d(channels, filters, kernel, stride=stride, padding=padding,
                             dilation=dilation, bias=k > 0),
                   nn.BatchNorm1d(filters), first_activation() if k == 0 else nn.ReLU(),
                   nn.Dropout(0.3)]
        if pool is not None:
            layers.append(pool)
        channels = filters
    body = nn.Sequential(*layers)
    with torch.no_grad():
        width = body(torch.zeros(1, 4, length)).shape[2]
    if head == "dense":
        tail = [nn.Flatten(), nn.Linear(channels * width, 8), nn.ReLU(), nn.Linear(8, n_outputs)]
    else:
        tail = [nn.AdaptiveMaxPool1d(1), nn.Flatten(), nn.Linear(channels, n_outputs)]
    return nn.Sequential(body, *tail)


class Exp(nn.Module):
    def forward(self, x):
        return torch.exp(x)


CASES = {
    "same_maxpool_ceil": (nn.ReLU, [(6, 7, "same", 1, 1), (5, 5, "same", 1, 1)],
                          [nn.MaxPool1d(3, ceil_mode=True), nn.MaxPool1d(2, ceil_mode=True)]),
    "valid_stride_dilation": (nn.ReLU, [(6, 5, "valid", 2, 1), (5, 3, 0, 1, 2)],
                              [None, nn.AvgPool1d(2)]),
    "int_padding_pool_padding": (Exp, [(4, 6, 2, 1, 1), (5, 4, 3, 3, 1)],
                                 [nn.MaxPool1d(4, stride=2, padding=1, dilation=1,
                                               ceil_mode=True), None]),
    "pool_dilation_even_kernel": (nn.ELU, [(4, 4, "same", 1, 3), (3, 2, "same", 1, 1)],
                                  [nn.MaxPool1d(3, stride=2, padding=1, dilation=2), None]),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("head", ["dense", "global"])
def test_fast_equals_full_on_random_conv_stacks(name, head):
    activation, specs, pools = CASES[name]
    torch.manual_seed(sum(map(ord, name)))
    model = randomise(stack(activation, specs, pools, head=head), seed=len(name))
    X = one_hot(3, 60, seed=1)
    fast, full = both(model, X)
    assert np.abs(full).max() > 1e-3  # the model does react to substitutions
    np.testing.assert_allclose(fast, full, atol=1e-5, rtol=0)


def random_stack(seed):
    """A randomised conv stack (1-3 conv layers of random padding, stride, dilation and
    pooling; activation by seed, 0-3), its input (2, 4, 50) and the generator that drew it."""
    rng = np.random.default_rng(seed)
    specs, pools = [], []
    for _ in range(int(rng.integers(1, 4))):
        kernel = int(rng.integers(1, 8))
        padding = ["same", "valid", int(rng.integers(0, 3))][int(rng.integers(3))]
        stride = 1 if padding == "same" else int(rng.integers(1, 3))
        specs.append((int(rng.integers(2, 7)), kernel, padding, stride, int(rng.integers(1, 3))))
        pool = int(rng.integers(1, 4))
        pools.append(nn.MaxPool1d(pool, ceil_mode=bool(rng.integers(2))) if pool > 1 else None)
    activation = [nn.ReLU, Exp, nn.Softplus, nn.Tanh][seed]
    torch.manual_seed(seed)
    model = randomise(stack(activation, specs, pools, length=50), seed=seed)
    return model, one_hot(2, 50, seed=seed), rng


@pytest.mark.parametrize("seed", range(4))
def test_fast_equals_full_on_randomised_stacks(seed):
    model, X, _ = random_stack(seed)
    fast, full = both(model, X, start=3, end=47)
    np.testing.assert_allclose(fast, full, atol=1e-5, rtol=0)


@pytest.mark.parametrize("architecture", ["cnn_deep", "cnn_dist", "cnn_local"])
@pytest.mark.parametrize("first_activation", ["exponential", "relu"])
def test_fast_equals_full_on_the_package_cnns(architecture, first_activation):
    from skexplain.models import ExpActivationCNN

    torch.manual_seed(0)
    length = 200 if architecture == "cnn_local" else 160
    model = randomise(ExpActivationCNN(n_outputs=2, input_length=length,
                                       architecture=architecture,
                                       first_activation=first_activation))
    engine = FastISM(model, (4, length))
    assert engine.linear is model.dense  # the dense head is updated sparsely
    X = one_hot(1, length, seed=2)
    fast, full = both(model, X)
    assert np.abs(full).max() > 1e-4
    np.testing.assert_allclose(fast, full, atol=1e-5, rtol=0)


class LSTMModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 5, batch_first=True)
        self.out = nn.Linear(5, 2)

    def forward(self, x):
        hidden, _ = self.lstm(x.transpose(1, 2))
        return self.out(hidden[:, -1])


class Residual(nn.Module):
    """A skip connection from the input itself (unsupported) and one from the first
    activation (then the local part ends there)."""

    def __init__(self, skip_input=True):
        super().__init__()
        self.skip_input = skip_input
        self.conv = nn.Conv1d(4, 4, 5, padding="same")
        self.conv2 = nn.Conv1d(4, 4, 3, padding="same")
        self.out = nn.Linear(4 * 30, 2)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        skip = x if self.skip_input else h
        return self.out((skip + self.conv2(h)).flatten(1))


class EarlyGlobal(nn.Module):
    """A global op (centring over positions) between two convolutions."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 6, 5, padding="same")
        self.conv2 = nn.Conv1d(6, 3, 3)
        self.out = nn.Linear(3 * 28, 2)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        h = h - h.mean(dim=2, keepdim=True)
        return self.out(torch.relu(self.conv2(h)).flatten(1))


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(4, 8)
        self.attention = nn.MultiheadAttention(8, 2, batch_first=True)
        self.out = nn.Linear(8, 2)

    def forward(self, x):
        h = self.embed(x.transpose(1, 2))
        h, _ = self.attention(h, h, h)
        return self.out(h.mean(dim=1))


@pytest.mark.parametrize("module", [LSTMModel, Attention])
def test_unsupported_models_fall_back_to_full_passes(module):
    torch.manual_seed(0)
    model = module().eval()
    X = one_hot(2, 30, seed=3)
    auto = InSilicoMutagenesis(model, reduction=None).fit(X).explain(X, target=1)
    full = InSilicoMutagenesis(model, reduction=None, engine="full").fit(X).explain(X, target=1)
    assert auto.info["engine"] == "full"
    np.testing.assert_array_equal(auto.values, full.values)
    with pytest.raises(ValueError, match="engine='fast'.*Conv1d"):
        InSilicoMutagenesis(model, engine="fast").fit(X).explain(X)


def test_residual_branch_is_not_treated_as_local():
    torch.manual_seed(0)
    model = Residual().eval()
    with pytest.raises(UnsupportedModel, match="residual"):
        FastISM(model, (4, 30))
    X = one_hot(2, 30, seed=4)
    auto = InSilicoMutagenesis(model, reduction=None).fit(X).explain(X, target=0)
    full = InSilicoMutagenesis(model, reduction=None, engine="full").fit(X).explain(X, target=0)
    assert auto.info["engine"] == "full"
    np.testing.assert_array_equal(auto.values, full.values)
    # A branch from the first activation: the local part ends there, values still exact.
    torch.manual_seed(1)
    model = Residual(skip_input=False).eval()
    engine = FastISM(model, (4, 30))
    assert len(engine.chain) == 2 and engine.linear is None
    fast, full = both(model, X)
    np.testing.assert_allclose(fast, full, atol=1e-5, rtol=0)


def test_early_global_op_ends_the_local_part():
    torch.manual_seed(0)
    model = EarlyGlobal().eval()
    engine = FastISM(model, (4, 30))
    assert len(engine.chain) == 2 and engine.linear is None  # conv, relu; the rest in full
    X = one_hot(2, 30, seed=5)
    fast, full = both(model, X)
    np.testing.assert_allclose(fast, full, atol=1e-5, rtol=0)


def test_callables_and_sklearn_models_use_full_passes():
    W = np.random.default_rng(0).normal(size=(4, 12))
    X = one_hot(2, 12, seed=6)
    E = InSilicoMutagenesis(lambda X: (X * W).sum(axis=(1, 2))).fit(X).explain(X)
    assert E.info["engine"] == "full"
    with pytest.raises(ValueError, match="engine='fast'.*torch module"):
        InSilicoMutagenesis(lambda X: (X * W).sum(axis=(1, 2)), engine="fast").fit(X).explain(X)


def _small_cnn():
    torch.manual_seed(3)
    return randomise(stack(Exp, [(6, 7, "same", 1, 1), (4, 3, "valid", 1, 1)],
                           [nn.MaxPool1d(2, ceil_mode=True), None], length=40, n_outputs=3))


def test_hypothetical_contributions_match_tangermeme():
    sm = pytest.importorskip("tangermeme.saturation_mutagenesis")
    model = _small_cnn()
    X = one_hot(3, 40, seed=7)
    for hypothetical in (True, False):
        E = InSilicoMutagenesis(model, hypothetical=hypothetical).fit(X).explain(X, target=2)
        expected = sm.saturation_mutagenesis(model, torch.tensor(X), target=2, fast=False,
                                             hypothetical=hypothetical).numpy()
        np.testing.assert_allclose(E.values, expected, atol=1e-5, rtol=0)
    # not hypothetical = the hypothetical map times the one-hot input
    H = InSilicoMutagenesis(model).fit(X).explain(X, target=2).values
    np.testing.assert_allclose(E.values, H * X, atol=0)
    assert np.count_nonzero(E.values * (1 - X)) == 0 and np.count_nonzero(H * (1 - X)) > 0


def test_n_jobs_gives_identical_values():
    model = _small_cnn()
    X = one_hot(6, 40, seed=8)
    for engine in ("fast", "full"):
        values = [InSilicoMutagenesis(model, engine=engine, batch_size=64, n_jobs=n_jobs)
                  .fit(X).explain(X).values for n_jobs in (1, 2)]
        np.testing.assert_array_equal(values[0], values[1])


def test_auto_batch_counts_activations_of_conv_models():
    from skexplain._core.compute import AUTO_BATCH_BYTES, resolve_batch_size
    from skexplain.explainers._fast_ism import activation_bytes
    from skexplain.models import ExpActivationCNN

    model = ExpActivationCNN(input_length=1000, architecture="cnn_deep").eval()
    X = one_hot(1, 1000, seed=9)
    ism = InSilicoMutagenesis(model).fit(X)
    ism._bound_adapter = ism.model_adapter_
    rows = ism._batch_size()
    per_row = activation_bytes(model, (4, 1000))
    assert per_row > 8 * 4 * 1000  # activations outweigh the input
    assert rows < resolve_batch_size("auto", 4 * 1000) / 10
    assert AUTO_BATCH_BYTES / 2 <= rows * per_row <= AUTO_BATCH_BYTES


def test_variant_effect_of_a_substitution_is_the_ism_value():
    import pandas as pd

    from skexplain.sequences import variant_effects

    model = _small_cnn()
    X = one_hot(3, 40, seed=10)
    rng = np.random.default_rng(0)
    tokens = X.argmax(axis=1)
    rows = []
    for _ in range(30):
        s, p = int(rng.integers(3)), int(rng.integers(40))
        alt = int((tokens[s, p] + rng.integers(1, 4)) % 4)
        rows.append((s, p, "ACGT"[tokens[s, p]], "ACGT"[alt]))
    variants = pd.DataFrame(rows, columns=["sequence", "position", "ref", "alt"])
    ism = InSilicoMutagenesis(model, reduction=None).fit(X).explain(X, target=1).values
    expected = ism[variants["sequence"], ["ACGT".index(a) for a in variants["alt"]],
                   variants["position"]]
    for engine in ("fast", "full"):
        effects = variant_effects(model, X, variants, target=1, engine=engine)
        np.testing.assert_allclose(effects["effect"], expected, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="engine='fast'"):
        variant_effects(LSTMModel().eval(), X, variants, engine="fast")
