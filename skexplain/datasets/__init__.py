"""Synthetic and benchmark data sets."""

from ._l2x import make_l2x_synthetic

__all__ = ["make_l2x_synthetic"]
