"""Sequence and image models whose explanations are readable: the exponential-activation CNN
and small transformers."""

from ._cnn import ExpActivationCNNClassifier
from ._modules import ACTIVATIONS, ARCHITECTURES, ConvBlock, ExpActivationCNN, Exponential
from ._transformer import TransformerSequenceClassifier
from ._transformer_modules import SequenceTransformer, VisionTransformer

__all__ = [
    "ACTIVATIONS",
    "ARCHITECTURES",
    "ConvBlock",
    "ExpActivationCNN",
    "ExpActivationCNNClassifier",
    "Exponential",
    "SequenceTransformer",
    "TransformerSequenceClassifier",
    "VisionTransformer",
]
