"""Explainers: fit on reference data, explain instances, score by faithfulness."""

from ._activation_max import ActivationMaximization
from ._anchor import AnchorExplainer
from ._attention import AttentionExplainer, capture_attention
from ._cam import CAM, GradCAM, GradCAMPlusPlus
from ._deeplift import DeepLift, DeepLiftShap
from ._deepresolve import DeepResolve, DeepResolveExplanation
from ._dissection import NetworkDissection
from ._gradient import InputXGradient, IntegratedGradients, Saliency, SmoothGrad
from ._influence import InfluenceExplainer
from ._neighbors import NearestNeighborExplainer
from ._perturbation import InSilicoMutagenesis, KernelShapExplainer, LimeExplainer, Occlusion
from ._sensx import SensXExplainer
from ._sequence import reduce_sequence_attributions, shuffle_sequences
from ._surrogate import SurrogateExplainer
from ._tcav import TCAV
from ._tracin import TracInExplainer

__all__ = [
    "ActivationMaximization",
    "AnchorExplainer",
    "AttentionExplainer",
    "CAM",
    "DeepLift",
    "DeepLiftShap",
    "DeepResolve",
    "DeepResolveExplanation",
    "GradCAM",
    "GradCAMPlusPlus",
    "InSilicoMutagenesis",
    "InfluenceExplainer",
    "InputXGradient",
    "IntegratedGradients",
    "KernelShapExplainer",
    "LimeExplainer",
    "NearestNeighborExplainer",
    "NetworkDissection",
    "Occlusion",
    "Saliency",
    "SensXExplainer",
    "SmoothGrad",
    "SurrogateExplainer",
    "TCAV",
    "TracInExplainer",
    "capture_attention",
    "reduce_sequence_attributions",
    "shuffle_sequences",
]
