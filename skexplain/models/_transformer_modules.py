"""Small transformer modules: a conv-stem sequence transformer and a vision transformer.

Both expose what :class:`~skexplain.explainers.AttentionMaps` needs to map attention
back to the input: ``n_prefix_tokens`` (tokens before the content tokens, such as a
class token) and ``token_shape`` (the grid of content tokens over the input positions).
Their attention layers are ``nn.MultiheadAttention`` inside ``nn.TransformerEncoder``.
"""

import torch
from torch import nn

from ._modules import ACTIVATIONS, ConvBlock, _output_length, _resolve_architecture

# One conv block: 32 filters of width 19, max pool 4 (a token per 4 positions).
STEM = ({"filters": 32, "kernel_size": 19, "dropout": 0.1, "pool": 4},)


def _encoder(d_model, n_heads, n_layers, dim_feedforward, dropout):
    if d_model % n_heads:
        raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}.")
    layer = nn.TransformerEncoderLayer(
        d_model, n_heads, dim_feedforward=dim_feedforward, dropout=dropout, activation="gelu",
        batch_first=True, norm_first=True,
    )
    return nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)


class SequenceTransformer(nn.Module):
    """Transformer over one-hot sequences: conv stem, encoder layers, pooled head.

    The stem is a list of :class:`~skexplain.models.ConvBlock` (conv, batch norm,
    activation, dropout, max pool), as in :class:`~skexplain.models.ExpActivationCNN`; each
    of its output positions is one token whose width is the last block's filters. A learned
    class token is put first (``pooling="cls"``), a learned position embedding is added,
    ``n_layers`` pre-norm ``nn.TransformerEncoderLayer`` blocks mix the tokens, and the
    class token's final state (or the mean over tokens, ``pooling="mean"``),
    layer-normalised, feeds a linear output layer. With a class token everything the
    output knows of the sequence passed through attention, which is what attention maps
    can show; a mean-pooled model may bypass attention through the residual stream.

    Parameters
    ----------
    n_outputs : int, default=1
        Number of output logits.
    input_length : int, default=200
        Sequence length L.
    n_channels : int, default=4
        Alphabet size.
    architecture : list of dict, default=STEM
        Conv blocks of the stem, as for :class:`~skexplain.models.ExpActivationCNN`; the
        default is one block of 32 filters of width 19 and max pool 4, so each token is a
        window of 4 positions and there are ceil(L / 4) tokens.
    first_activation : str, default="relu"
        Activation of the first conv block, one of :data:`~skexplain.models.ACTIVATIONS`
        ("exponential" included); later blocks use ReLU.
    n_heads : int, default=4
        Attention heads; the token width must be divisible by it.
    n_layers : int, default=2
    dim_feedforward : int, default=64
    encoder_dropout : float, default=0.1
        Dropout of the encoder layers (attention weights included).
    pooling : {"cls", "mean"}, default="cls"
        Read the output from a class token or from the mean of the content tokens.

    Attributes
    ----------
    blocks : nn.ModuleList of ConvBlock
        The stem; ``blocks[0].activation`` is the first activation.
    n_prefix_tokens : int
        1 with a class token (it comes first), else 0.
    token_shape : tuple of int
        ``(n_content_tokens,)``: the stem's output positions.
    """

    def __init__(self, n_outputs=1, input_length=200, n_channels=4, architecture=STEM,
                 first_activation="relu", n_heads=4, n_layers=2, dim_feedforward=64,
                 encoder_dropout=0.1, pooling="cls"):
        super().__init__()
        if pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean', got {pooling!r}.")
        specs, _ = _resolve_architecture(architecture)
        if first_activation not in ACTIVATIONS:
            raise ValueError(
                f"first_activation must be one of {sorted(ACTIVATIONS)}, got {first_activation!r}."
            )
        blocks, in_channels, length = [], n_channels, input_length
        for i, spec in enumerate(specs):
            activation = first_activation if i == 0 else "relu"
            blocks.append(ConvBlock(in_channels, activation=activation, **spec))
            in_channels, length = spec["filters"], _output_length(length, spec)
            if length < 1:
                raise ValueError(
                    f"input_length={input_length} is too short for this stem: block {i} "
                    "leaves no positions."
                )
        self.blocks = nn.ModuleList(blocks)
        self.token_shape = (length,)
        self.n_prefix_tokens = int(pooling == "cls")
        if self.n_prefix_tokens:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, in_channels))
        self.position = nn.Parameter(
            0.02 * torch.randn(1, self.n_prefix_tokens + length, in_channels))
        self.encoder = _encoder(in_channels, n_heads, n_layers, dim_feedforward, encoder_dropout)
        self.norm = nn.LayerNorm(in_channels)
        self.output = nn.Linear(in_channels, n_outputs)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        tokens = x.transpose(1, 2)
        if self.n_prefix_tokens:
            tokens = torch.cat([self.cls_token.expand(len(x), -1, -1), tokens], dim=1)
        states = self.norm(self.encoder(tokens + self.position))
        return self.output(states[:, 0] if self.n_prefix_tokens else states.mean(1))

    def conv_kernels(self):
        """Conv kernels of the stem, first layer first: tensors (filters, in_channels, width)."""
        return [block.conv.weight for block in self.blocks]


class VisionTransformer(nn.Module):
    """A small vision transformer (ViT) for images of shape (n_channels, height, width).

    Non-overlapping ``patch_size`` x ``patch_size`` patches are embedded by a strided
    convolution, a learned class token is put first, a learned position embedding is added,
    ``n_layers`` pre-norm ``nn.TransformerEncoderLayer`` blocks mix the tokens and the class
    token's final state, layer-normalised, feeds a linear head (Dosovitskiy et al., "An image
    is worth 16x16 words", ICLR 2021). Written with torch.nn; no pretrained weights.

    Parameters
    ----------
    n_outputs : int, default=2
    image_size : int or (int, int), default=224
        Height and width; each must be a multiple of ``patch_size``.
    patch_size : int, default=16
    n_channels : int, default=3
    d_model : int, default=64
    n_heads : int, default=4
    n_layers : int, default=4
    dim_feedforward : int, default=128
    dropout : float, default=0.0

    Attributes
    ----------
    n_prefix_tokens : int
        1: the class token comes first.
    token_shape : tuple of int
        The patch grid ``(height // patch_size, width // patch_size)``, row-major.
    """

    n_prefix_tokens = 1

    def __init__(self, n_outputs=2, image_size=224, patch_size=16, n_channels=3, d_model=64,
                 n_heads=4, n_layers=4, dim_feedforward=128, dropout=0.0):
        super().__init__()
        height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
        if height % patch_size or width % patch_size:
            raise ValueError(
                f"image_size {(height, width)} must be a multiple of patch_size={patch_size}."
            )
        self.token_shape = (height // patch_size, width // patch_size)
        n_patches = self.token_shape[0] * self.token_shape[1]
        self.patch_embedding = nn.Conv2d(n_channels, d_model, patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d_model))
        self.position = nn.Parameter(0.02 * torch.randn(1, 1 + n_patches, d_model))
        self.encoder = _encoder(d_model, n_heads, n_layers, dim_feedforward, dropout)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_outputs)

    def forward(self, x):
        patches = self.patch_embedding(x).flatten(2).transpose(1, 2)
        cls = self.cls_token.expand(len(x), -1, -1)
        tokens = torch.cat([cls, patches], dim=1) + self.position
        return self.head(self.norm(self.encoder(tokens))[:, 0])
