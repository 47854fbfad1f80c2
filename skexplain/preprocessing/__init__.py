"""Transformers that prepare genomic and single-cell data for models."""

from ._squashed_scale import SquashedScaler

__all__ = ["SquashedScaler"]
