"""Explainers: fit on reference data, explain instances, score by faithfulness.

Names follow the field (captum's style: bare nouns). The old ``*Explainer`` names stay
importable as deprecated aliases of the same classes (FutureWarning).
"""

from .._core.validation import deprecated_names
from ._activation_max import ActivationMaximization
from ._anchor import Anchors
from ._attention import AttentionMaps, capture_attention
from ._cam import CAM, GradCAM, GradCAMPlusPlus
from ._deeplift import DeepLift, DeepLiftShap
from ._deepresolve import DeepResolve, DeepResolveExplanation
from ._dissection import NetworkDissection
from ._gradient import InputXGradient, IntegratedGradients, Saliency, SmoothGrad
from ._influence import InfluenceFunctions
from ._neighbors import DeepKNN
from ._perturbation import InSilicoMutagenesis, KernelShap, Lime, Occlusion
from ._sensx import SensX
from ._sequence import reduce_sequence_attributions, shuffle_sequences
from ._surrogate import GlobalSurrogate
from ._tcav import TCAV
from ._tracin import TracIn

__all__ = [
    "ActivationMaximization",
    "Anchors",
    "AttentionMaps",
    "CAM",
    "DeepKNN",
    "DeepLift",
    "DeepLiftShap",
    "DeepResolve",
    "DeepResolveExplanation",
    "GlobalSurrogate",
    "GradCAM",
    "GradCAMPlusPlus",
    "InSilicoMutagenesis",
    "InfluenceFunctions",
    "InputXGradient",
    "IntegratedGradients",
    "KernelShap",
    "Lime",
    "NetworkDissection",
    "Occlusion",
    "Saliency",
    "SensX",
    "SmoothGrad",
    "TCAV",
    "TracIn",
    "capture_attention",
    "reduce_sequence_attributions",
    "shuffle_sequences",
]

_DEPRECATED = {
    "AnchorExplainer": "Anchors",
    "AttentionExplainer": "AttentionMaps",
    "InfluenceExplainer": "InfluenceFunctions",
    "KernelShapExplainer": "KernelShap",
    "LimeExplainer": "Lime",
    "NearestNeighborExplainer": "DeepKNN",
    "SensXExplainer": "SensX",
    "SurrogateExplainer": "GlobalSurrogate",
    "TracInExplainer": "TracIn",
}
__getattr__ = deprecated_names(__name__, _DEPRECATED, globals())
