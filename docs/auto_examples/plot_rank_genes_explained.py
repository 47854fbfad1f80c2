"""
Explanation-based marker genes on AnnData, drawn by scanpy and skexplain
=========================================================================

:func:`skexplain.sc.rank_genes_explained` explains a cell-type classifier on the cells of
each type and stores the per-type gene ranking in ``adata.uns`` in the layout of scanpy's
``rank_genes_groups``, so scanpy's readers and plots take it as they are. We train a
logistic regression on two thirds of scanpy's bundled ``pbmc68k_reduced`` (700 PBMCs, 765
log-normalised genes in ``.raw``), rank genes with SensX on the held-out third, print the
top genes next to scanpy's Wilcoxon test and draw scanpy's dot plot of the ranking. Then
:mod:`skexplain.plotting` draws per-cell SensX attributions of B and NK cells as a
gene-importance dot plot and one cell's stability profile. Last, an unfitted classifier is
handed to ``rank_genes_explained``, which then splits the cells itself: it fits the
classifier on 70 % of each type and explains only the held-out cells. Figures go to
``examples/output/``. Runs in about a minute on 2 CPU cores. The main example,
``plot_single_cell_gene_importance.py``, compares SensX, occlusion, KernelSHAP and Wilcoxon
on canonical markers.
"""

import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import scanpy as sc  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from skexplain.explainers import SensX  # noqa: E402
from skexplain.plotting import plot_gene_importance, plot_stability_profile  # noqa: E402
from skexplain.sc import rank_genes_explained  # noqa: E402

OUTPUT = Path(__file__).resolve().parent / "output"
TYPES = ["CD19+ B", "CD56+ NK", "CD14+ Monocyte"]

# %%
# A classifier of the annotated cell types, fitted on the training cells' ``.raw``.
adata = sc.datasets.pbmc68k_reduced()
train, test = train_test_split(np.arange(adata.n_obs), test_size=1 / 3,
                               stratify=adata.obs["bulk_labels"], random_state=0)
model = LogisticRegression(C=0.1, max_iter=2000)
model.fit(adata.raw.X[train], adata.obs["bulk_labels"].astype(str).iloc[train])
held_out = adata[test].copy()
print(f"held-out accuracy: "
      f"{model.score(held_out.raw.X, held_out.obs['bulk_labels'].astype(str)):.2f}")

# %%
# Rank genes per type by the mean SensX attribution over 6 held-out cells of the type (drawn
# at random), each explained for its own type's probability, with rank_genes_explained's
# SensX settings (20 walks, 200 profile samples: fewer than SensX's own defaults). The
# fitted model is explained on the cells given: here all of them are held out.
SENSX = {"n_walks": 20, "n_profile_samples": 200}
start = time.perf_counter()
rank_genes_explained(held_out, "bulk_labels", model, method="sensx", max_cells_per_group=6,
                     random_state=0)
elapsed = time.perf_counter() - start
n_cells = held_out.uns["rank_genes_explained"]["params"]["n_cells"].sum()
print(f"SensX ranking: {n_cells} cells x {held_out.raw.n_vars} genes in {elapsed:.0f} s")

sc.tl.rank_genes_groups(held_out, "bulk_labels", method="wilcoxon", use_raw=True)
for cell_type in TYPES:
    ours = sc.get.rank_genes_groups_df(held_out, cell_type, key="rank_genes_explained")
    theirs = sc.get.rank_genes_groups_df(held_out, cell_type)
    print(f"{cell_type:15s} SensX   : {', '.join(ours['names'][:6])}")
    print(f"{'':15s} Wilcoxon: {', '.join(theirs['names'][:6])}")

# %%
# scanpy draws the ranking: the top 3 genes of each type, coloured by the SensX score.
OUTPUT.mkdir(exist_ok=True)
dotplot = sc.pl.rank_genes_groups_dotplot(
    held_out, key="rank_genes_explained", n_genes=3, values_to_plot="scores",
    dendrogram=False, show=False, return_fig=True,
)
dotplot.savefig(OUTPUT / "rank_genes_explained_dotplot.png", bbox_inches="tight", dpi=100)

# %%
# Per-cell attributions of 6 B and 6 NK cells: mean attribution per type (colour) and the
# fraction of cells in which the gene is among the cell's top 10 (size); and the stability
# profile from which SensX took the first cell's walk box.
cells = np.concatenate([np.flatnonzero(held_out.obs["bulk_labels"] == t)[:6] for t in TYPES[:2]])
explainer = SensX(model, **SENSX, random_state=0).fit(held_out.raw.X)
explanation = explainer.explain(held_out.raw.X[cells].toarray(),
                                target=held_out.obs["bulk_labels"].astype(str).iloc[cells])
explanation.feature_names = np.asarray(held_out.raw.var_names, dtype=object)
figure, (left, right) = plt.subplots(1, 2, figsize=(13, 4), width_ratios=(2, 1))
plot_gene_importance(explanation, held_out.obs["bulk_labels"].astype(str).iloc[cells].to_numpy(),
                     ax=left, n_genes=5)
plot_stability_profile(explanation, 0, ax=right)
figure.savefig(OUTPUT / "rank_genes_explained_cells.png", bbox_inches="tight", dpi=100)
print(f"saved {OUTPUT / 'rank_genes_explained_dotplot.png'} and "
      f"{OUTPUT / 'rank_genes_explained_cells.png'}")

# %%
# An unfitted classifier: rank_genes_explained fits a clone on 70 % of each type's cells and
# explains only held-out ones (``split="auto"``); the split is recorded in ``uns``.
rank_genes_explained(adata, "bulk_labels", LogisticRegression(C=0.1, max_iter=2000),
                     method="occlusion", random_state=0, key_added="occlusion")
params = adata.uns["occlusion"]["params"]
print(f"occlusion, fitted here: split {params['split']}, {params['n_train']} training cells, "
      f"{params['n_held_out']} held out, {params['n_cells'].sum()} explained; CD19+ B: "
      f"{', '.join(adata.uns['occlusion']['names']['CD19+ B'][:6])}")
