import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_set_params,
)
from torch import nn

from skexplain.explainers import AttentionMaps, capture_attention
from skexplain.explainers._attention import attention_rollout, gradient_rollout
from skexplain.models import SequenceTransformer, TransformerSequenceClassifier, VisionTransformer
from tests.planted_motifs import insert_at_random, random_sequences

MOTIF = "GATTACAGG"


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class HandSetAttention(nn.Module):
    """Residual self-attention layers whose weights are softmax(mask): query and key
    projections are zero, so the logits are the additive masks given by hand."""

    n_prefix_tokens = 0

    def __init__(self, masks, embed_dim=4, n_heads=2):
        super().__init__()
        self.masks = masks
        self.layers = nn.ModuleList(
            nn.MultiheadAttention(embed_dim, n_heads, batch_first=True) for _ in masks
        )
        for layer in self.layers:
            with torch.no_grad():
                layer.in_proj_weight[:2 * embed_dim] = 0
                layer.in_proj_bias[:2 * embed_dim] = 0

    def forward(self, x):
        h = x.transpose(1, 2)
        for layer, mask in zip(self.layers, self.masks, strict=True):
            h = h + layer(h, h, h, attn_mask=mask.to(h.dtype), need_weights=False)[0]
        return h.mean(1)[:, :2]


def softmax_rows(logits):
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_rollout_equals_the_hand_computed_product():
    rng = np.random.default_rng(0)
    logits = [rng.normal(scale=2.0, size=(6, 6)) for _ in range(3)]
    model = HandSetAttention([torch.as_tensor(m, dtype=torch.float32) for m in logits]).eval()
    X = rng.normal(size=(2, 4, 6))
    E = AttentionMaps(model, method="rollout").fit(X).explain(X)

    expected = np.eye(6)
    for m in logits:
        mixed = 0.5 * softmax_rows(m) + 0.5 * np.eye(6)
        expected = (mixed / mixed.sum(1, keepdims=True)) @ expected
    for i in range(2):
        np.testing.assert_allclose(E.info["relevance_matrix"][i], expected, atol=1e-6)
    np.testing.assert_allclose(E.info["relevance_matrix"].sum(-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(E.values, np.tile(expected.mean(0), (2, 1)), atol=1e-6)
    assert E.info["attention"].shape == (2, 3, 2, 6, 6)
    np.testing.assert_allclose(E.info["attention"][0, 1, 1], softmax_rows(logits[1]), atol=1e-6)


def test_identity_attention_gives_identity_rollout_and_raw_maps():
    eye_only = torch.full((5, 5), -torch.inf).fill_diagonal_(0.0)
    model = HandSetAttention([eye_only, eye_only]).eval()
    X = np.random.default_rng(1).normal(size=(3, 4, 5))
    for method in ("rollout", "raw"):
        E = AttentionMaps(model, method=method).fit(X).explain(X)
        np.testing.assert_allclose(E.info["relevance_matrix"], np.broadcast_to(np.eye(5),
                                   (3, 5, 5)), atol=1e-6)


def test_gradient_rollout_rule_and_zero_gradients():
    rng = np.random.default_rng(2)
    attention = torch.softmax(torch.as_tensor(rng.normal(size=(1, 2, 3, 4, 4))), -1)
    gradients = torch.as_tensor(rng.normal(size=(1, 2, 3, 4, 4)))
    np.testing.assert_array_equal(gradient_rollout(attention, 0 * gradients)[0], np.eye(4))
    a_bar = (gradients * attention).clamp(min=0).mean(2)[0].numpy()
    expected = np.eye(4) + a_bar[0]
    expected = expected + a_bar[1] @ expected
    np.testing.assert_allclose(gradient_rollout(attention, gradients)[0], expected)
    rollout = attention_rollout(attention)
    np.testing.assert_allclose(rollout.sum(-1), 1.0)


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("training", [True, False])
def test_capture_matches_multihead_attention(batch_first, training):
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2, batch_first=batch_first).train(training)
    x = torch.randn(3, 5, 8) if batch_first else torch.randn(5, 3, 8)
    padding = torch.zeros(3, 5, dtype=torch.bool)
    padding[0, -2:] = True
    causal = torch.ones(5, 5, dtype=torch.bool).triu(1)
    kwargs = dict(key_padding_mask=padding, attn_mask=causal, average_attn_weights=False)
    out, weights = mha(x, x, x, **kwargs)
    with capture_attention(mha) as captured:
        out2, weights2 = mha(x, x, x, **kwargs)
    assert "forward" not in mha.__dict__  # restored
    torch.testing.assert_close(out2, out)
    torch.testing.assert_close(weights2, weights)
    torch.testing.assert_close(captured[0], weights)
    # Per-head weights average back to the average_attn_weights=True output.
    torch.testing.assert_close(captured[0].mean(1), mha(x, x, x, key_padding_mask=padding,
                                                        attn_mask=causal)[1])


def test_capture_sees_every_layer_of_an_eval_encoder():
    # In eval mode nn.TransformerEncoderLayer's fused path never calls its attention module.
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True)
    encoder = nn.TransformerEncoder(layer, 3, enable_nested_tensor=False).eval()
    x = torch.randn(2, 6, 8)
    with torch.no_grad():
        expected = encoder(x)
        with capture_attention(encoder) as captured:
            out = encoder(x)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    assert [tuple(w.shape) for w in captured] == [(2, 2, 6, 6)] * 3
    assert torch.backends.mha.get_fastpath_enabled()


def test_vision_transformer_maps_patches_and_raw_shapes():
    torch.manual_seed(0)
    model = VisionTransformer(image_size=32, patch_size=8, d_model=16, n_heads=2, n_layers=3,
                              dim_feedforward=32).eval()
    X = np.random.default_rng(0).random((2, 3, 32, 32))
    E = AttentionMaps(model, method="raw").fit(X).explain(X, target=0)
    assert E.info["attention"].shape == (2, 3, 2, 17, 17)  # (n, layers, heads, tokens, tokens)
    assert E.values.shape == (2, 32 * 32)
    tokens = E.info["token_relevance"]
    assert tokens.shape == (2, 4, 4)
    np.testing.assert_allclose(tokens, E.info["attention"][:, -1].mean(1)[:, 0, 1:]
                               .reshape(2, 4, 4), atol=1e-6)
    # Each 8 x 8 patch carries its token's value.
    np.testing.assert_allclose(E.values.reshape(2, 32, 32),
                               np.kron(tokens, np.ones((8, 8))), atol=1e-6)


def test_bad_models_and_token_layouts():
    X = np.random.default_rng(0).random((2, 4, 12))
    with pytest.raises(ValueError, match="no nn.MultiheadAttention"):
        AttentionMaps(nn.Sequential(nn.Flatten(), nn.Linear(48, 2))).fit(X)
    model = SequenceTransformer(input_length=12, architecture=[
        {"filters": 8, "kernel_size": 3, "dropout": 0.0, "pool": 2}], n_heads=2).eval()
    with pytest.raises(ValueError, match="do not fit token_shape"):
        AttentionMaps(model, token_shape=(5,)).fit(X)
    with pytest.raises(ValueError, match="needs input of shape"):
        AttentionMaps(model).fit(X.reshape(2, -1))
    explainer = AttentionMaps(model, method="gradient_rollout")
    assert clone(explainer).get_params()["method"] == "gradient_rollout"


@pytest.mark.parametrize("check", [check_no_attributes_set_in_init, check_get_params_invariance,
                                   check_set_params], ids=lambda c: c.__name__)
def test_sklearn_checks(check):
    check("AttentionMaps", AttentionMaps(None, method="raw"))


def test_explaining_leaves_the_model_as_it_was():
    model = SequenceTransformer(input_length=16, architecture=[
        {"filters": 8, "kernel_size": 3, "dropout": 0.1, "pool": 2}], n_heads=2).train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    X = np.random.default_rng(0).random((2, 4, 16))
    AttentionMaps(model, method="gradient_rollout").fit(X).explain(X, target=0)
    assert model.training and all(not m.__dict__.get("forward") for m in model.modules())
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, state[key])
    assert torch.backends.mha.get_fastpath_enabled()


@pytest.fixture(scope="module")
def planted_transformer():
    """A transformer that learned 'class 1 holds GATTACAGG' (about 10 s on one thread)."""
    X = random_sequences(1200, length=48, seed=0)
    y = np.arange(1200) % 2
    X[y == 1] = insert_at_random(X[y == 1], MOTIF, seed=1)
    net = TransformerSequenceClassifier(
        architecture=[{"filters": 16, "kernel_size": 9, "dropout": 0.0, "pool": 4}],
        n_heads=2, n_layers=2, dim_feedforward=32, encoder_dropout=0.0, lr=3e-3,
        max_epochs=12, random_state=0, verbose=0,
    )
    return net.fit(X, y)


def test_gradient_rollout_localizes_a_planted_motif(planted_transformer):
    X = insert_at_random(random_sequences(40, length=48, seed=5), MOTIF, seed=6)
    assert planted_transformer.predict_proba(X)[:, 1].mean() > 0.9
    starts = np.array([_motif_start(x) for x in X])
    for method in ("gradient_rollout", "rollout"):
        E = AttentionMaps(planted_transformer, method=method).fit(X).explain(X, target=1)
        top = E.values.argmax(1)
        # The top position lies in the motif or in the token (4 positions) it shares.
        hit = (top >= starts - 3) & (top < starts + len(MOTIF) + 3)
        assert hit.mean() > 0.8, (method, hit.mean())


def _motif_start(x):
    sequence = "".join("ACGT"[i] for i in x.argmax(0))
    return sequence.index(MOTIF)


@pytest.mark.parametrize("method", ["raw", "rollout", "gradient_rollout"])
def test_nan_output_raises_and_leaves_the_model_as_it_was(method):
    torch.manual_seed(0)
    model = SequenceTransformer(input_length=16, architecture=[
        {"filters": 8, "kernel_size": 3, "dropout": 0.1, "pool": 2}], n_heads=2).train()
    X = np.random.default_rng(0).random((3, 4, 16))
    explainer = AttentionMaps(model, method=method).fit(X)
    handle = model.register_forward_hook(lambda _m, _args, out: out * torch.nan)
    try:
        with pytest.raises(ValueError, match="NaN or infinite scores"):
            explainer.explain(X, target=0)
    finally:
        handle.remove()
    assert model.training and all(not m.__dict__.get("forward") for m in model.modules())
    assert torch.backends.mha.get_fastpath_enabled()


def test_batches_model_args_and_output_alias_give_identical_maps():
    class Gated(nn.Module):
        """A sequence transformer whose input is scaled by an extra per-instance input."""

        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.inner = SequenceTransformer(input_length=16, architecture=[
                {"filters": 8, "kernel_size": 3, "dropout": 0.0, "pool": 2}], n_heads=2)
            self.token_shape = self.inner.token_shape
            self.n_prefix_tokens = self.inner.n_prefix_tokens

        def forward(self, x, scale=None):  # fit reads the layout from a call without it
            return self.inner(x if scale is None else x * scale[:, None, None])

    model = Gated().eval()
    X = np.random.default_rng(0).random((4, 4, 16))
    scale = np.array([0.5, 1.0, 2.0, 3.0])
    explainer = AttentionMaps(model, method="gradient_rollout", batch_size=3)
    E = explainer.fit(X).explain(X, target=0, model_args=(scale,))
    alone = [explainer.explain(X[i:i + 1], target=0, model_args=(scale[i:i + 1],)).values[0]
             for i in range(4)]
    np.testing.assert_allclose(E.values, np.stack(alone), rtol=1e-5, atol=1e-7)
    unscaled = explainer.explain(X, target=0, model_args=(np.ones(4),))
    assert not np.allclose(unscaled.values, E.values)
    with pytest.warns(FutureWarning, match="'probabilities' is deprecated"):
        alias = AttentionMaps(model, method="gradient_rollout", output="probabilities").fit(X)
    current = AttentionMaps(model, method="gradient_rollout", output="probability").fit(X)
    np.testing.assert_array_equal(alias.explain(X, 0, model_args=(scale,)).values,
                                  current.explain(X, 0, model_args=(scale,)).values)
