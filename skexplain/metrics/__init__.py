"""Scores of explanation quality."""

from ._faithfulness import deletion_score
from ._localization import localization_auroc, localization_scores

__all__ = ["deletion_score", "localization_auroc", "localization_scores"]
