"""Attention maps of transformers: raw attention, attention rollout and gradient rollout."""

import math
from contextlib import contextmanager
from numbers import Integral

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from .._core.compute import torch_batches
from ._cam import MAP_PARAMETERS, _ActivationMapExplainer
from ._gradient import COMMON_PARAMETERS, FITTED_ATTRIBUTES, GRADIENT_WORKING_SET, _dense_rows

# Working-set factor of batch_size="auto": the per-head maps of every layer are kept, and
# for "gradient_rollout" their gradients too.
ATTENTION_WORKING_SET = 2 * GRADIENT_WORKING_SET
ATTENTION_PARAMETERS = COMMON_PARAMETERS.replace(
    f"factor of\n        {GRADIENT_WORKING_SET}:", f"factor of\n        {ATTENTION_WORKING_SET}:"
).replace("the backward pass keeps each layer's activations",
          "every layer's per-head maps (and gradients) are kept")


@contextmanager
def capture_attention(module):
    """Record the per-head attention weights of every ``nn.MultiheadAttention`` in ``module``.

    Within the context each attention module computes its output explicitly (the same
    result as ``nn.MultiheadAttention``, up to rounding) and appends its weights
    ``softmax(Q K^T / sqrt(d) + mask)``, a tensor (batch, heads, tokens, tokens) before
    dropout, to the yielded list, in call order. The weights stay in the autograd graph, so
    gradients with respect to them can be taken. The fused fast path of
    ``nn.TransformerEncoderLayer``, which never calls its attention module, is switched off
    meanwhile (``torch.backends.mha.set_fastpath_enabled``); both are restored on exit.

    Raises
    ------
    ValueError
        Within the context, if an attention module is used for cross-attention (queries and
        keys of different lengths) or has ``add_bias_kv`` / ``add_zero_attn`` (extra keys).
    """
    layers = [m for m in module.modules() if isinstance(m, nn.MultiheadAttention)]
    weights = []
    saved = {m: m.__dict__.get("forward") for m in layers}
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    for m in layers:
        m.forward = _ExplicitAttention(m, weights)
    try:
        yield weights
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        for m, forward in saved.items():
            del m.forward
            if forward is not None:
                m.forward = forward


class _ExplicitAttention:
    """``nn.MultiheadAttention.forward`` written out, recording the attention weights."""

    def __init__(self, module, store):
        self.module = module
        self.store = store

    def __call__(self, query, key, value, key_padding_mask=None, need_weights=True,
                 attn_mask=None, average_attn_weights=True, is_causal=False):
        m = self.module
        if m.bias_k is not None or m.add_zero_attn:
            raise ValueError(
                "Attention maps need square token-to-token weights; add_bias_kv and "
                "add_zero_attn add keys."
            )
        if m.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        length, batch, embed_dim = query.shape
        if key.shape[0] != length:
            raise ValueError(
                f"Attention maps need self-attention; got {length} queries and "
                f"{key.shape[0]} keys."
            )
        heads = m.num_heads
        head_dim = embed_dim // heads
        if m._qkv_same_embed_dim:
            w_q, w_k, w_v = m.in_proj_weight.chunk(3)
        else:
            w_q, w_k, w_v = m.q_proj_weight, m.k_proj_weight, m.v_proj_weight
        b_q, b_k, b_v = (None,) * 3 if m.in_proj_bias is None else m.in_proj_bias.chunk(3)

        def split(x, w, b):  # (L, N, E) -> (N, H, L, head_dim)
            return F.linear(x, w, b).view(length, batch, heads, head_dim).permute(1, 2, 0, 3)

        q, k, v = split(query, w_q, b_q), split(key, w_k, b_k), split(value, w_v, b_v)
        logits = q @ k.transpose(-1, -2) / math.sqrt(head_dim)
        mask = _additive_mask(attn_mask, key_padding_mask, is_causal, batch, heads, length,
                              logits.dtype)
        if mask is not None:
            logits = logits + mask
        attention = torch.softmax(logits, dim=-1)
        self.store.append(attention)
        attention = F.dropout(attention, m.dropout, training=m.training)
        out = (attention @ v).permute(2, 0, 1, 3).reshape(length, batch, embed_dim)
        out = F.linear(out, m.out_proj.weight, m.out_proj.bias)
        if m.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        return out, attention.mean(1) if average_attn_weights else attention


def _additive_mask(attn_mask, key_padding_mask, is_causal, batch, heads, length, dtype):
    """Masks as one additive tensor broadcastable to (N, H, L, L), or None."""

    def additive(mask):
        if mask.dtype == torch.bool:
            return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(
                mask, -math.inf)
        return mask.to(dtype)

    total = None
    if attn_mask is None and is_causal:
        attn_mask = torch.ones(length, length, dtype=torch.bool).triu(1)
    if attn_mask is not None:
        total = additive(attn_mask)
        if total.ndim == 3:
            total = total.view(batch, heads, length, length)
    if key_padding_mask is not None:
        padding = additive(key_padding_mask).view(batch, 1, 1, length)
        total = padding if total is None else total + padding
    return total


def attention_rollout(attention):
    """Attention rollout (Abnar & Zuidema 2020) of per-head maps.

    Parameters
    ----------
    attention : torch.Tensor of shape (n, layers, heads, tokens, tokens)
        Attention weights, first layer first; rows (queries) sum to 1.

    Returns
    -------
    rollout : torch.Tensor of shape (n, tokens, tokens)
        ``A~(L) ... A~(1)`` with ``A~ = rownorm(0.5 mean_h A + 0.5 I)`` (the identity stands
        for the residual connections); row i is how much each input token flows into token i
        of the last layer.
    """
    eye = torch.eye(attention.shape[-1], dtype=attention.dtype, device=attention.device)
    mixed = 0.5 * attention.mean(2) + 0.5 * eye
    mixed = mixed / mixed.sum(-1, keepdim=True)
    rollout = eye.expand(len(attention), -1, -1)
    for layer in range(attention.shape[1]):
        rollout = mixed[:, layer] @ rollout
    return rollout


def gradient_rollout(attention, gradients):
    """Gradient-weighted attention relevance (Chefer, Gur & Wolf 2021, self-attention rule).

    Parameters
    ----------
    attention, gradients : torch.Tensor of shape (n, layers, heads, tokens, tokens)
        Attention weights, first layer first, and the gradient of the explained score with
        respect to them.

    Returns
    -------
    relevance : torch.Tensor of shape (n, tokens, tokens)
        ``R`` from ``R = I`` updated layer by layer as ``R <- R + A_bar R`` with
        ``A_bar = mean_h (grad * A)^+``.
    """
    weighted = (gradients * attention).clamp(min=0).mean(2)
    eye = torch.eye(attention.shape[-1], dtype=attention.dtype, device=attention.device)
    relevance = eye.expand(len(attention), -1, -1)
    for layer in range(attention.shape[1]):
        relevance = relevance + weighted[:, layer] @ relevance
    return relevance


MAP_NOTES_ATTENTION = """    Values have shape (n_samples, n_positions), the input
    positions flattened (the channel axis, axis 1 of X, is summed out): ``feature_names``
    are ``pos0, pos1, ...`` (``pos3_5`` for row 3, column 5 of an image). ``info`` holds
    ``attention``, the per-head maps (n_samples, layers, heads, tokens, tokens) in the
    module's dtype, ``relevance_matrix`` R (n_samples, tokens, tokens), ``token_relevance``
    (n_samples, *token_shape), ``n_prefix_tokens`` and ``token_shape``."""

INTERPOLATION_PARAMETER = MAP_PARAMETERS.replace('default="linear"', 'default="nearest"')


class AttentionMaps(_ActivationMapExplainer):
    __doc__ = f"""Attention maps of a transformer, mapped back to input positions or patches.

    The per-layer, per-head attention weights ``A = softmax(Q K^T / sqrt(d))`` of every
    ``nn.MultiheadAttention`` of the model are recorded during a forward pass (see
    :func:`capture_attention`; this works in eval mode too, where
    ``nn.TransformerEncoderLayer`` otherwise skips its attention module) and combined into
    a token-to-token relevance matrix R:

    - ``"raw"``: the last layer's attention, averaged over heads;
    - ``"rollout"``: attention rollout, ``R = A~(L) ... A~(1)`` with ``A~ = rownorm(0.5
      mean_h A + 0.5 I)`` (Abnar & Zuidema 2020); independent of the target;
    - ``"gradient_rollout"``: from ``R = I``, ``R <- R + mean_h (grad A * A)^+ R`` layer by
      layer, with grad A the gradient of the explained score with respect to A (Chefer, Gur
      & Wolf 2021, "Generic attention-model explainability"; their rule for self-attention).

    The relevance of each token is the row of R of the token the output is read from: the
    class token (``query="cls"``), or the mean of all rows (``query="mean"``, for a
    mean-pooled head). Prefix tokens (class tokens) are then dropped and the content tokens,
    laid out on ``token_shape``, are stretched to the input positions: a token that is a
    window of 4 bases, or a 16 x 16 patch, gives its value to each of its positions.

{MAP_NOTES_ATTENTION}

    Parameters
    ----------
{ATTENTION_PARAMETERS}
        The output only matters for ``"gradient_rollout"``; the model's output is checked
        (NaN or infinite scores raise ValueError) for every method.
    method : {{"raw", "rollout", "gradient_rollout"}}, default="rollout"
    query : {{"auto", "cls", "mean"}}, default="auto"
        Which row of R scores the tokens; "auto" is "cls" when the model has prefix tokens,
        else "mean".
    n_prefix_tokens : int or None, default=None
        Tokens before the content tokens (1 for a ViT's class token); None reads the
        module's ``n_prefix_tokens`` attribute, or 0 when it has none.
    token_shape : tuple of int or None, default=None
        Grid of the content tokens, row-major (``(L // pool,)`` for sequences, ``(H / p,
        W / p)`` for p x p patches); None reads the module's ``token_shape`` attribute, or
        infers it: all tokens along a sequence, or square patches tiling an image.
{INTERPOLATION_PARAMETER}

    Attributes
    ----------
{FITTED_ATTRIBUTES}
    n_layers_, n_heads_, n_tokens_ : int
        Attention layers (calls, in order), heads and tokens of the model.
    n_prefix_tokens_ : int
    token_shape_ : tuple of int
    query_ : str
        The resolved ``query``.

    ``fit`` runs the model once on a reference row, without ``model_args``, to read its
    attention layout: a model with extra forward inputs must accept a call with ``x``
    alone there (e.g. default extra inputs); ``explain(X, model_args=...)`` passes them.

    Raises
    ------
    ValueError
        In ``fit``, if the model has no ``nn.MultiheadAttention``, its layers disagree on
        the number of tokens or heads, the tokens do not fit ``token_shape``, or the input is
        not (n_samples, n_channels, *positions).

    Notes
    -----
    For ``"gradient_rollout"`` of a classifier with one logit per class, explain
    ``output="probability"``: the gradient of one logit alone also carries what all
    logits share, which can rank the evidence last (seen on a two-class ViT); with two
    classes the probability's gradient is the log-odds' gradient times p (1 - p).

    Attention weights show where information flows, not why the model decides (Jain &
    Wallace 2019; Wiegreffe & Pinter 2019); averaging heads hides their roles, which
    ``info["attention"]`` keeps.

    References
    ----------
    Abnar & Zuidema, "Quantifying attention flow in transformers", ACL (2020).
    Chefer, Gur & Wolf, "Generic attention-model explainability for interpreting bi-modal
    and encoder-decoder transformers", ICCV (2021).
    """

    _parameter_constraints = {
        **_ActivationMapExplainer._parameter_constraints,
        "method": [StrOptions({"raw", "rollout", "gradient_rollout"})],
        "query": [StrOptions({"auto", "cls", "mean"})],
        "n_prefix_tokens": [Interval(Integral, 0, None, closed="left"), None],
        "token_shape": [tuple, list, None],
    }

    _working_set = ATTENTION_WORKING_SET

    def __init__(self, model=None, *, method="rollout", query="auto", n_prefix_tokens=None,
                 token_shape=None, interpolation="nearest", output="auto", batch_size="auto",
                 device=None):
        super().__init__(model, interpolation=interpolation, output=output,
                         batch_size=batch_size, device=device)
        self.method = method
        self.query = query
        self.n_prefix_tokens = n_prefix_tokens
        self.token_shape = token_shape

    @property
    def _method_name(self):
        return f"attention_{self.method}"

    def _fit(self, X):
        if len(self.feature_shape_) < 2:
            raise ValueError(
                "AttentionMaps maps tokens to positions, so it needs input of shape "
                "(n_samples, n_channels, *positions); the data has feature shape "
                f"{self.feature_shape_}."
            )
        super()._fit(X)

    def _fit_method(self, X):
        sample = self._tensor(_dense_rows(X[:1]).reshape((1,) + self.feature_shape_))
        with self.model_adapter_.inference(), torch.no_grad(), \
                capture_attention(self.torch_module_) as weights:
            self.torch_module_(sample)
        if not weights:
            raise ValueError(
                "The model has no nn.MultiheadAttention that runs in its forward pass; "
                "AttentionMaps reads attention from those."
            )
        shapes = {tuple(w.shape[1:]) for w in weights}
        if len(shapes) > 1:
            raise ValueError(
                f"The attention layers disagree on (heads, tokens, tokens): {sorted(shapes)}."
            )
        self.n_layers_ = len(weights)
        self.n_heads_, self.n_tokens_, _ = shapes.pop()
        module = self.torch_module_
        prefix = self.n_prefix_tokens
        if prefix is None:
            prefix = int(getattr(module, "n_prefix_tokens", 0))
        self.n_prefix_tokens_ = prefix
        self.token_shape_ = self._resolve_token_shape(module, self.n_tokens_ - prefix)
        self.query_ = self.query if self.query != "auto" else ("cls" if prefix else "mean")

    def _resolve_token_shape(self, module, n_content):
        shape = self.token_shape if self.token_shape is not None else getattr(
            module, "token_shape", None)
        spatial = self.feature_shape_[1:]
        if shape is None:
            shape = _infer_token_shape(spatial, n_content)
        shape = None if shape is None else tuple(int(s) for s in shape)
        if shape is None or len(shape) != len(spatial) or int(np.prod(shape)) != n_content:
            raise ValueError(
                f"The model has {n_content} content tokens (after {self.n_prefix_tokens_} "
                f"prefix tokens), which do not fit token_shape {shape} over the input "
                f"positions {spatial}; pass token_shape and n_prefix_tokens."
            )
        return shape

    def _attribute(self, X, target):
        def step(x, part_target, owner):
            maps, matrix = self._relevance(x, part_target, owner)
            tokens = self._token_relevance(matrix)
            return maps.detach(), matrix, tokens, self._upsample(tokens)

        attention, relevance, token_maps, upsampled = torch_batches(
            step, [self._tensor(X), target, self._owners(np.arange(len(X)))],
            self._rows_per_pass,
        )
        info = {
            "method": self._method_name,
            "axes": ("sample", "position"),
            "attention": attention.cpu().numpy(),
            "relevance_matrix": relevance.to("cpu", torch.float64).numpy(),
            "token_relevance": token_maps.to("cpu", torch.float64).numpy(),
            "n_prefix_tokens": self.n_prefix_tokens_,
            "token_shape": self.token_shape_,
        }
        return upsampled.to("cpu", torch.float64).numpy(), info

    def _relevance(self, x, target, owner):
        """Per-head maps (B, layers, heads, T, T) and the relevance matrix R (B, T, T)."""
        if self.method != "gradient_rollout":
            with torch.no_grad(), capture_attention(self.torch_module_) as weights:
                self._scores(x, owner)
            maps = torch.stack(weights, 1)
            if self.method == "raw":
                return maps, maps[:, -1].mean(1)
            return maps, attention_rollout(maps)
        x = x.detach().requires_grad_(True)  # so that A, computed from x, is in the graph
        with torch.enable_grad(), capture_attention(self.torch_module_) as weights:
            picked = self._scores(x, owner).gather(1, target[:, None]).sum()
            grads = torch.autograd.grad(picked, weights)
        maps = torch.stack([w.detach() for w in weights], 1)
        return maps, gradient_rollout(maps, torch.stack(grads, 1))

    def _token_relevance(self, matrix):
        rows = matrix[:, 0] if self.query_ == "cls" else matrix.mean(1)
        return rows[:, self.n_prefix_tokens_:].reshape((len(rows),) + self.token_shape_)


def _infer_token_shape(spatial, n_content):
    """All tokens along a sequence, or square patches tiling an image (None if they do not)."""
    if len(spatial) == 1:
        return (n_content,)
    side = round((np.prod(spatial) / n_content) ** (1 / len(spatial)))
    if side >= 1 and all(s % side == 0 for s in spatial):
        return tuple(s // side for s in spatial)
    return None
