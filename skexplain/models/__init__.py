"""Models whose explanations are readable: the exponential-activation CNN, concept bottleneck
models and prototype networks."""

from ._cnn import ExpActivationCNNClassifier
from ._concept_bottleneck import ConceptBottleneck, ConceptBottleneckClassifier
from ._modules import ACTIVATIONS, ARCHITECTURES, ConvBlock, ExpActivationCNN, Exponential
from ._prototype import PrototypeCNNClassifier, PrototypeNetwork

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
]
