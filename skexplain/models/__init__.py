"""Sequence and image models whose explanations are readable: the exponential-activation CNN,
concept bottleneck models, prototype networks and small transformers."""

from ._cnn import ExpActivationCNNClassifier
from ._concept_bottleneck import ConceptBottleneck, ConceptBottleneckClassifier
from ._modules import ACTIVATIONS, ARCHITECTURES, ConvBlock, ExpActivationCNN, Exponential
from ._prototype import PrototypeCNNClassifier, PrototypeNetwork
from ._transformer import TransformerSequenceClassifier
from ._transformer_modules import SequenceTransformer, VisionTransformer

__all__ = [
    "ACTIVATIONS",
    "ARCHITECTURES",
    "ConceptBottleneck",
    "ConceptBottleneckClassifier",
    "ConvBlock",
    "ExpActivationCNN",
    "ExpActivationCNNClassifier",
    "Exponential",
    "PrototypeCNNClassifier",
    "PrototypeNetwork",
    "SequenceTransformer",
    "TransformerSequenceClassifier",
    "VisionTransformer",
]
