"""Scores of explanation quality."""

from ._faithfulness import deletion_score

__all__ = ["deletion_score"]
