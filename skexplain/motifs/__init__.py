"""Motifs: first-layer filters to PPMs, MEME files, TomTom matching, effect curves of
inserted motifs and their periodicity, and sequence logos."""

from ._effects import EffectCurve, effect_curve
from ._filters import filter_ppms, information_content, trim_ppm
from ._logos import plot_logo
from ._meme import load_jaspar_database, read_meme, write_meme
from ._periodicity import Periodicity, periodicity
from ._tomtom import match_fraction, tomtom_matches

__all__ = [
    "EffectCurve",
    "Periodicity",
    "effect_curve",
    "filter_ppms",
    "information_content",
    "load_jaspar_database",
    "match_fraction",
    "periodicity",
    "plot_logo",
    "read_meme",
    "tomtom_matches",
    "trim_ppm",
    "write_meme",
]
