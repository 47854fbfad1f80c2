"""Motifs: effect curves of inserted motifs, their periodicity, and sequence logos."""

from ._effects import EffectCurve, effect_curve
from ._logos import plot_logo
from ._periodicity import Periodicity, periodicity

__all__ = ["EffectCurve", "Periodicity", "effect_curve", "periodicity", "plot_logo"]
