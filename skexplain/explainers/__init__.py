"""Explainers: fit on reference data, explain instances, score by faithfulness."""

from ._activation_max import ActivationMaximization
from ._deepresolve import DeepResolve, DeepResolveExplanation
from ._sensx import SensXExplainer

__all__ = ["ActivationMaximization", "DeepResolve", "DeepResolveExplanation", "SensXExplainer"]
