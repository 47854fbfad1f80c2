"""Motifs: first-layer filters to PPMs, MEME files, TomTom matching, FIMO scans, seqlets
called on attribution maps and their annotation, effect curves of inserted motifs and their
periodicity, sequence logos, and motif discovery with tfmodisco-lite."""

from ._effects import EffectCurve, effect_curve
from ._filters import filter_ppms, information_content, trim_ppm
from ._fimo import fimo
from ._logos import plot_logo
from ._meme import load_jaspar_database, read_meme, write_meme
from ._modisco import MotifDiscovery, discover_motifs
from ._periodicity import Periodicity, periodicity
from ._seqlets import annotate_seqlets, recursive_seqlets, seqlet_recall_precision, window_seqlets
from ._tomtom import match_fraction, tomtom_matches

__all__ = [
    "EffectCurve",
    "MotifDiscovery",
    "Periodicity",
    "annotate_seqlets",
    "discover_motifs",
    "effect_curve",
    "filter_ppms",
    "fimo",
    "information_content",
    "load_jaspar_database",
    "match_fraction",
    "periodicity",
    "plot_logo",
    "read_meme",
    "recursive_seqlets",
    "seqlet_recall_precision",
    "tomtom_matches",
    "trim_ppm",
    "window_seqlets",
    "write_meme",
]
