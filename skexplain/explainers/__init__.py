"""Explainers: fit on reference data, explain instances, score by faithfulness."""

from ._sensx import SensXExplainer

__all__ = ["SensXExplainer"]
