"""Explainers: fit on reference data, explain instances, score by faithfulness."""

from ._activation_max import ActivationMaximization
from ._anchor import AnchorExplainer
from ._cam import CAM, GradCAM, GradCAMPlusPlus
from ._deeplift import DeepLift, DeepLiftShap
from ._deepresolve import DeepResolve, DeepResolveExplanation
from ._gradient import InputXGradient, IntegratedGradients, Saliency, SmoothGrad
from ._perturbation import InSilicoMutagenesis, KernelShapExplainer, LimeExplainer, Occlusion
from ._sensx import SensXExplainer
from ._sequence import reduce_sequence_attributions, shuffle_sequences
from ._surrogate import SurrogateExplainer

__all__ = [
    "ActivationMaximization",
    "AnchorExplainer",
    "CAM",
    "DeepLift",
    "DeepLiftShap",
    "DeepResolve",
    "DeepResolveExplanation",
    "GradCAM",
    "GradCAMPlusPlus",
    "InSilicoMutagenesis",
    "InputXGradient",
    "IntegratedGradients",
    "KernelShapExplainer",
    "LimeExplainer",
    "Occlusion",
    "Saliency",
    "SensXExplainer",
    "SmoothGrad",
    "SurrogateExplainer",
    "reduce_sequence_attributions",
    "shuffle_sequences",
]
