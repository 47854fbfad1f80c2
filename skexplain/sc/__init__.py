"""Single-cell integration: explanation-based gene rankings on AnnData, read by scanpy.

Needs the ``sc`` extra (anndata, scanpy): ``pip install 'skexplain[sc]'``.
"""

from ._rank_genes import rank_genes_explained

__all__ = ["rank_genes_explained"]
