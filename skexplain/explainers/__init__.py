"""Explainers: fit on reference data, explain instances, score by faithfulness."""

from ._perturbation import InSilicoMutagenesis, KernelShapExplainer, LimeExplainer, Occlusion
from ._sensx import SensXExplainer

__all__ = [
    "InSilicoMutagenesis",
    "KernelShapExplainer",
    "LimeExplainer",
    "Occlusion",
    "SensXExplainer",
]
