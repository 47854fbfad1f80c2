"""Matplotlib figures of explanations; every function takes ``ax=None`` and returns the Axes.

Needs the ``plot`` extra (matplotlib); sequence logos also need logomaker (``motifs``).
"""

from ._genes import plot_gene_importance
from ._heatmap import plot_attributions_heatmap, plot_image_attributions
from ._sensx import plot_sensx_delta, plot_stability_profile
from ._sequence import plot_sequence_attributions

__all__ = [
    "plot_attributions_heatmap",
    "plot_gene_importance",
    "plot_image_attributions",
    "plot_sensx_delta",
    "plot_sequence_attributions",
    "plot_stability_profile",
]
