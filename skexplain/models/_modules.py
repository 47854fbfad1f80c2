"""Torch modules of the exponential-activation CNNs (Koo & Ploenzke 2021)."""

import math

import torch
from torch import nn

from ..nn import register_deeplift_rule, register_default_layer, rescale_rule


class Exponential(nn.Module):
    """Element-wise ``exp(x)``, the first-layer activation of Koo & Ploenzke (2021).

    A module rather than a call to ``torch.exp`` in ``forward``: DeepLIFT / DeepSHAP (captum,
    tangermeme) find nonlinearities through module hooks.
    """

    def forward(self, x):
        return torch.exp(x)


register_deeplift_rule(Exponential, rescale_rule)


ACTIVATIONS = {
    "exponential": Exponential,
    "relu": nn.ReLU,
    "softplus": nn.Softplus,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "linear": nn.Identity,
}


def _block(filters, kernel_size, dropout, pool=1, padding="same"):
    return {
        "filters": filters, "kernel_size": kernel_size, "dropout": dropout, "pool": pool,
        "padding": padding,
    }


# Layer sizes of the paper's architectures (Koo & Ploenzke 2021, Methods); dense (units, dropout).
ARCHITECTURES = {
    "cnn2": ([_block(32, 19, 0.1, pool=2), _block(124, 5, 0.1, pool=50)], (512, 0.5)),
    "cnn50": ([_block(32, 19, 0.1, pool=50), _block(124, 5, 0.1, pool=2)], (512, 0.5)),
    "cnn_deep": (
        [
            _block(32, 19, 0.1),
            _block(48, 7, 0.2, pool=4),
            _block(96, 7, 0.3, pool=4, padding="valid"),
            _block(128, 3, 0.4, pool=3, padding="valid"),
        ],
        (512, 0.5),
    ),
    "cnn_local": ([_block(24, 19, 0.1, pool=50), _block(48, 3, 0.2, pool=2)], (96, 0.5)),
    "cnn_dist": (
        [
            _block(24, 19, 0.1),
            _block(32, 7, 0.2, pool=4),
            _block(48, 7, 0.3, pool=4, padding="valid"),
            _block(64, 3, 0.4, pool=3, padding="valid"),
        ],
        (96, 0.5),
    ),
}

_BLOCK_KEYS = {"filters", "kernel_size", "dropout", "pool", "padding"}


class ConvBlock(nn.Module):
    """conv (no bias) -> batch norm -> activation -> dropout -> max pool (when ``pool`` > 1).

    Batch-norm epsilon follows Keras (1e-3); its momentum is torch's default (0.1), as
    Keras's 0.99 leaves the running statistics near their initial values in short trainings.
    """

    def __init__(self, in_channels, filters, kernel_size, activation, dropout, pool=1,
                 padding="same"):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, filters, kernel_size, padding=padding, bias=False)
        self.batch_norm = nn.BatchNorm1d(filters, eps=1e-3)
        self.activation = ACTIVATIONS[activation]()
        self.dropout = nn.Dropout(dropout)
        self.pool = nn.MaxPool1d(pool, ceil_mode=True) if pool > 1 else nn.Identity()

    def forward(self, x):
        return self.pool(self.dropout(self.activation(self.batch_norm(self.conv(x)))))


class ExpActivationCNN(nn.Module):
    """A 1-D CNN over one-hot sequences whose first layer may use an exponential activation.

    Koo, P. K. & Ploenzke, M. "Improving representations of genomic sequence motifs in
    convolutional networks with exponential activations." Nat. Mach. Intell. 3, 258-266 (2021).

    Parameters
    ----------
    n_outputs : int, default=1
        Number of output logits (1 for a binary task, one per class or label otherwise).
    input_length : int, default=200
        Sequence length L of the input (n, n_channels, L).
    n_channels : int, default=4
        Alphabet size (4 for one-hot DNA, A, C, G, T).
    architecture : {"cnn2", "cnn50", "cnn_deep", "cnn_local", "cnn_dist"} or list of dict, \
default="cnn_deep"
        A named architecture of the paper or a list of conv blocks, each a dict with keys
        ``filters``, ``kernel_size``, ``dropout`` and optionally ``pool`` (default 1) and
        ``padding`` ("same" or "valid", default "same").
    first_activation : str, default="exponential"
        Activation of the first conv layer, one of ``ACTIVATIONS``; later layers use ReLU.
    dense_units : int, optional
        Width of the hidden dense layer; default from the named architecture (512 for a
        custom list).
    dense_dropout : float, default=0.5
        Dropout after the hidden dense layer.

    Attributes
    ----------
    blocks : nn.ModuleList of ConvBlock
        The conv blocks, first layer first; ``blocks[0].activation`` is the first activation.
    """

    def __init__(self, n_outputs=1, input_length=200, n_channels=4, architecture="cnn_deep",
                 first_activation="exponential", dense_units=None, dense_dropout=0.5):
        super().__init__()
        specs, default_dense = _resolve_architecture(architecture)
        if first_activation not in ACTIVATIONS:
            raise ValueError(
                f"first_activation must be one of {sorted(ACTIVATIONS)}, got {first_activation!r}."
            )
        dense_units = default_dense[0] if dense_units is None else dense_units
        blocks, in_channels, length = [], n_channels, input_length
        for i, spec in enumerate(specs):
            activation = first_activation if i == 0 else "relu"
            blocks.append(ConvBlock(in_channels, activation=activation, **spec))
            in_channels = spec["filters"]
            length = _output_length(length, spec)
            if length < 1:
                raise ValueError(
                    f"input_length={input_length} is too short for this architecture: "
                    f"block {i} leaves no positions."
                )
        self.blocks = nn.ModuleList(blocks)
        self.flatten = nn.Flatten()
        self.dense = nn.Linear(in_channels * length, dense_units, bias=False)
        self.dense_batch_norm = nn.BatchNorm1d(dense_units, eps=1e-3)
        self.dense_activation = nn.ReLU()
        self.dense_dropout = nn.Dropout(dense_dropout)
        self.output = nn.Linear(dense_units, n_outputs)
        self._init_weights()

    def _init_weights(self):
        # Glorot-uniform kernels as in Keras: the exponential activation is sensitive to the
        # initial scale of the first-layer filters (paper, Supplementary Fig. 5).
        for module in self.modules():
            if isinstance(module, nn.Conv1d | nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        x = self.dense_dropout(self.dense_activation(self.dense_batch_norm(
            self.dense(self.flatten(x))
        )))
        return self.output(x)

    def conv_kernels(self):
        """Conv kernels, first layer first: list of tensors (filters, in_channels, width)."""
        return [block.conv.weight for block in self.blocks]


def _last_block_activation(module):
    return f"blocks.{len(module.blocks) - 1}.activation"


# Class-activation maps of this CNN read the last conv block's activation by default.
register_default_layer(ExpActivationCNN, _last_block_activation)


def _resolve_architecture(architecture):
    if isinstance(architecture, str):
        if architecture not in ARCHITECTURES:
            raise ValueError(
                f"architecture must be one of {sorted(ARCHITECTURES)} or a list of conv "
                f"blocks, got {architecture!r}."
            )
        return ARCHITECTURES[architecture]
    specs = list(architecture)
    if not specs:
        raise ValueError("architecture must contain at least one conv block.")
    resolved = []
    for spec in specs:
        spec = dict(spec)
        missing = {"filters", "kernel_size", "dropout"} - set(spec)
        unknown = set(spec) - _BLOCK_KEYS
        if missing or unknown:
            raise ValueError(
                f"Each conv block needs keys filters, kernel_size, dropout (optional: pool, "
                f"padding); got {sorted(spec)}."
            )
        resolved.append(_block(**spec))
    return resolved, (512, 0.5)


def _output_length(length, spec):
    if spec["padding"] == "valid":
        length = length - spec["kernel_size"] + 1
    if spec["pool"] > length:
        return 0
    return math.ceil(length / spec["pool"]) if spec["pool"] > 1 else length
