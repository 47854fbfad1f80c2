"""Explainers: fit on reference data, explain instances, score by faithfulness."""

from ._cam import CAM, GradCAM, GradCAMPlusPlus
from ._deeplift import DeepLift, DeepLiftShap
from ._gradient import InputXGradient, IntegratedGradients, Saliency, SmoothGrad
from ._sensx import SensXExplainer
from ._sequence import reduce_sequence_attributions, shuffle_sequences

__all__ = [
    "CAM",
    "DeepLift",
    "DeepLiftShap",
    "GradCAM",
    "GradCAMPlusPlus",
    "InputXGradient",
    "IntegratedGradients",
    "Saliency",
    "SensXExplainer",
    "SmoothGrad",
    "reduce_sequence_attributions",
    "shuffle_sequences",
]
