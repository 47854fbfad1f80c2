"""First-layer filters to motifs: PPMs, information content, MEME files and TomTom matching."""

from ._filters import filter_ppms, information_content, trim_ppm
from ._meme import load_jaspar_database, read_meme, write_meme
from ._tomtom import match_fraction, tomtom_matches

__all__ = [
    "filter_ppms",
    "information_content",
    "load_jaspar_database",
    "match_fraction",
    "read_meme",
    "tomtom_matches",
    "trim_ppm",
    "write_meme",
]
