"""
Which rules does a cell-type classifier follow? Surrogates, anchors and a sparse baseline
========================================================================================

An MLP classifies scanpy's bundled ``pbmc68k_reduced`` cells (700 PBMCs, 765 genes,
log-normalised ``.raw`` values) into six major cell types (the five T-cell subtypes of
``bulk_labels`` merged into one "T cell" class, as in the gene-selection example). We ask
three model-level questions:

1. Global surrogates (:class:`skexplain.explainers.SurrogateExplainer`): which readable
   model -- a small tree, a sparse linear model, RuleFit's rule ensemble -- reproduces the
   MLP's calls, and how faithfully? Fidelity is the agreement with the MLP's labels on
   held-out cells (not the accuracy against the annotation), printed against complexity
   (leaves, non-zero coefficients, rules), with the monocyte rules and their marker genes.
2. Anchors (:class:`skexplain.explainers.AnchorExplainer`): for one confidently called
   held-out cell per type, the rule on quartile-binned genes (the 30 most variable ones)
   that keeps the MLP's call with precision >= 0.95 when the other genes are drawn from
   training cells, with its coverage and the cost per cell.
3. The self-explaining baseline (:func:`skexplain.feature_selection.sparsity_path`): how
   many genes an L1-regularised logistic regression needs to match the MLP's accuracy.

The figure ``examples/output/surrogates_and_rules.png`` shows fidelity against complexity
and accuracy against the number of genes. Runs in about two and a half minutes on 2 CPU
cores.
"""

import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scanpy as sc  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402

from skexplain.explainers import AnchorExplainer, SurrogateExplainer  # noqa: E402
from skexplain.feature_selection import sparsity_path  # noqa: E402

OUTPUT = Path(__file__).resolve().parent / "output"
N_JOBS = 2
CELLS_PER_TYPE = 1
ANCHOR_GENES = 30
MONOCYTE = "CD14+ Monocyte"
# Markers of classical monocytes present among the 765 genes (S100/lysozyme/Fc-receptor
# and myeloid genes); used only to read the rules.
MONOCYTE_MARKERS = ["S100A8", "S100A9", "LYZ", "FCER1G", "CST3", "TYROBP", "FTL", "AIF1",
                    "LST1", "FCN1", "LGALS2", "CFD", "TYMP", "PSAP"]
warnings.filterwarnings("ignore", category=ConvergenceWarning)

# %%
# Data and black box
# ------------------
# The log-normalised expression of all 765 genes; the five T-cell subtypes become one
# class. The MLP is the regularised one of the single-cell gene-importance example.
adata = sc.datasets.pbmc68k_reduced()
X = pd.DataFrame(adata.raw.X.toarray(), columns=adata.raw.var_names, index=adata.obs_names)
T_SUBTYPES = ["CD4+/CD25 T Reg", "CD4+/CD45RA+/CD25- Naive T", "CD4+/CD45RO+ Memory",
              "CD8+ Cytotoxic T", "CD8+/CD45RA+ Naive Cytotoxic"]
bulk_labels = adata.obs["bulk_labels"].astype(str).to_numpy()
y = np.where(np.isin(bulk_labels, T_SUBTYPES), "T cell", bulk_labels)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)
model = MLPClassifier((64,), alpha=1.0, max_iter=1000, random_state=0).fit(X_train, y_train)
mlp_accuracy = float(np.mean(model.predict(X_test) == y_test))
print(f"MLP held-out accuracy (765 genes): {mlp_accuracy:.3f}")

# %%
# Global surrogates: fidelity against complexity
# ----------------------------------------------
# Each surrogate is fitted to the MLP's calls on 75 % of all 700 cells (no annotation is
# used) and scored on the other 25 %. RuleFit's budget is per one-vs-rest class model.
SURROGATES = [("tree", 4), ("tree", 8), ("tree", 16), ("tree", 32),
              ("linear", 8), ("linear", 32), ("linear", 128), ("rules", 10)]
fitted, rows = {}, []
for kind, cap in SURROGATES:
    start = time.perf_counter()
    explainer = SurrogateExplainer(model, surrogate=kind, max_complexity=cap, n_jobs=N_JOBS,
                                   random_state=0).fit(X)
    fitted[kind, cap] = explainer
    rows.append({"surrogate": kind, "max complexity": cap, "complexity": explainer.complexity_,
                 "fidelity": explainer.fidelity_, "train fidelity": explainer.train_fidelity_,
                 "seconds": time.perf_counter() - start})
surrogates = pd.DataFrame(rows)
print("\nSurrogates of the MLP (fidelity = agreement with its calls on held-out cells):")
print(surrogates.to_string(index=False, float_format=lambda v: f"{v:.3f}"))

# %%
# The monocyte rules
# ------------------
# The 16-leaf tree's leaves that call monocytes, with their support and precision (the
# fraction of the leaf's cells that the MLP calls monocytes), and RuleFit's strongest
# monocyte-vs-rest terms.
tree = fitted["tree", 16]
tree_rules = tree.table_[tree.table_["output"] == MONOCYTE]
print(f"\n16-leaf tree, leaves calling {MONOCYTE}:")
print(tree_rules.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
rules = fitted["rules", 10].table_
monocyte_rules = rules[rules["output"] == MONOCYTE].head(5)
print(f"\nRuleFit, strongest {MONOCYTE} terms:")
print(monocyte_rules[["type", "rule", "coef", "support", "precision"]].to_string(
    index=False, float_format=lambda v: f"{v:.2f}"))


def genes_in(rules_text):
    return sorted({gene for text in rules_text for gene in MONOCYTE_MARKERS
                   if f"{gene} " in text or text == gene})


print("monocyte markers in the tree's monocyte rules: "
      + ", ".join(genes_in(tree_rules["rule"])))
print("monocyte markers in RuleFit's monocyte terms: "
      + ", ".join(genes_in(monocyte_rules["rule"])))

# %%
# Anchors for a few cells
# -----------------------
# Genes are cut at their quartiles in the training cells (zero-inflated genes get fewer
# bins); perturbations draw the other genes from training cells. Anchors may use the 30
# most variable genes: the search pulls every candidate predicate, so its cost grows with
# their number (81 predicates here; all 765 genes give 1353). The rare cell types (NK,
# CD34+) may get no anchor: drawn from mostly T cells and monocytes, perturbed cells
# rarely stay NK unless many genes are fixed.
proba = model.predict_proba(X_test)
confident = pd.DataFrame({"type": y_test, "p": proba.max(axis=1),
                          "call": model.classes_[proba.argmax(axis=1)]}, index=X_test.index)
cells = (confident[confident["type"] == confident["call"]]
         .sort_values("p", ascending=False).groupby("type").head(CELLS_PER_TYPE)
         .sort_values("type"))
variable_genes = X_train.var().nlargest(ANCHOR_GENES).index
anchors = AnchorExplainer(model, anchor_features=variable_genes, n_jobs=N_JOBS,
                          random_state=0).fit(X_train)
n_predicates = sum(len(anchors.bin_edges_[j]) for j in anchors.anchor_features_)
start = time.perf_counter()
explanation = anchors.explain(X_test.loc[cells.index])
per_cell = (time.perf_counter() - start) / len(cells)
print(f"\nAnchors (threshold 0.95, {n_predicates} candidate predicates) of {len(cells)} "
      "held-out cells:")
for cell_type, anchor, precision, coverage, n_rows in zip(
    cells["type"], explanation.info["anchor"], explanation.info["precision"],
    explanation.info["coverage"], explanation.info["n_model_rows"], strict=True,
):
    print(f"  {cell_type}: precision {precision:.2f}, coverage {coverage:.2f}, "
          f"{n_rows} model rows\n    IF {anchor}")
print(f"anchors: {per_cell:.1f} s per explained cell "
      f"({int(explanation.info['success'].sum())} of {len(cells)} reach the threshold)")

# %%
# The sparse linear baseline
# --------------------------
# An L1 logistic regression on standardised genes along its regularisation path, trained
# on the MLP's training cells and scored on the same held-out cells as the MLP; the genes
# are counted on the model refitted on all cells.
train_rows, test_rows = X.index.get_indexer(X_train.index), X.index.get_indexer(X_test.index)
path = sparsity_path(X, y, Cs=[0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5],
                     cv=[(train_rows, test_rows)], tol=1e-3, random_state=0)
print("\nL1 logistic regression: genes used against held-out accuracy")
print(path[["C", "n_features", "score"]].to_string(index=False,
                                                    float_format=lambda v: f"{v:.3f}"))
print(f"MLP held-out accuracy with all 765 genes: {mlp_accuracy:.3f}")
within = path[path["score"] >= mlp_accuracy - 0.03]
if len(within):
    smallest = within.iloc[0]
    shown = ", ".join(smallest["features"][:10]) + (", ..." if smallest["n_features"] > 10
                                                    else "")
    print(f"fewest genes within 0.03 of the MLP: {smallest['n_features']} ({shown})")

# %%
# Figure
# ------
OUTPUT.mkdir(exist_ok=True)
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
for kind, group in surrogates.groupby("surrogate"):
    left.plot(group["complexity"], group["fidelity"], "o-", label=kind)
left.set(xscale="log", xlabel="complexity (leaves / non-zero coefficients / rules)",
         ylabel="held-out fidelity to the MLP", title="Global surrogates")
left.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
left.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
left.legend()
right.plot(path["n_features"].clip(lower=0.8), path["score"], "o-", label="L1 logistic")
right.axhline(mlp_accuracy, color="grey", ls="--", label="MLP, 765 genes")
right.set(xscale="log", xlabel="genes with a non-zero coefficient",
          ylabel="held-out accuracy",
          title="Sparse self-explaining baseline")
right.legend()
fig.tight_layout()
fig.savefig(OUTPUT / "surrogates_and_rules.png", dpi=110)
print(f"\nsaved {OUTPUT / 'surrogates_and_rules.png'}")
