"""Synthetic and benchmark data sets."""

from ._chipseq import load_chipseq
from ._concepts import make_motif_concept
from ._cooccurring import COOCCURRING_MODULES, make_cooccurring_motif_task
from ._images import make_planted_patch_images
from ._l2x import make_l2x_synthetic
from ._motif_tasks import (
    TASK1_TFS,
    TASK3_BACKGROUND_TFS,
    TASK3_CORE_TFS,
    load_jaspar_motifs,
    make_motif_dataset,
)

__all__ = [
    "COOCCURRING_MODULES",
    "TASK1_TFS",
    "TASK3_BACKGROUND_TFS",
    "TASK3_CORE_TFS",
    "load_chipseq",
    "load_jaspar_motifs",
    "make_cooccurring_motif_task",
    "make_l2x_synthetic",
    "make_motif_concept",
    "make_motif_dataset",
    "make_planted_patch_images",
]
