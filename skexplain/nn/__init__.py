"""Registries that torch modules plug into, so explainers never import concrete models.

- DeepLIFT rules (:func:`register_deeplift_rule`): how a module type passes DeepLIFT
  multipliers back (the rescale rule for element-wise nonlinearities, the max-pool rule), or
  that it is passed through with its ordinary gradient although DeepLIFT is not exact
  through it (softmax, attention), so that explanations report it.
- Default layers (:func:`register_default_layer`): the layer a class-activation map reads
  by default for a model class.

A module that defines a new nonlinearity or architecture registers it where it is defined
(``skexplain.models`` registers its ``Exponential`` activation and the default layer of
``ExpActivationCNN``).
"""

from ._deeplift_rules import (
    DeepLiftRule,
    deeplift_rule,
    maxpool_rule,
    register_deeplift_rule,
    rescale_rule,
)
from ._layers import default_layer, register_default_layer

__all__ = [
    "DeepLiftRule",
    "deeplift_rule",
    "default_layer",
    "maxpool_rule",
    "register_deeplift_rule",
    "register_default_layer",
    "rescale_rule",
]
