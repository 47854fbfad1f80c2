"""Sequence models whose explanations are readable: the exponential-activation CNN."""

from ._cnn import ExpActivationCNNClassifier
from ._modules import ACTIVATIONS, ARCHITECTURES, ConvBlock, ExpActivationCNN, Exponential

__all__ = [
    "ACTIVATIONS",
    "ARCHITECTURES",
    "ConvBlock",
    "ExpActivationCNN",
    "ExpActivationCNNClassifier",
    "Exponential",
]
