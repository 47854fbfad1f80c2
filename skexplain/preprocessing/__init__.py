"""Transformers that prepare genomic and single-cell data for models."""

from ._one_hot import OneHotSequenceEncoder, read_fasta
from ._squashed_scale import SquashedScaler

__all__ = ["OneHotSequenceEncoder", "SquashedScaler", "read_fasta"]
