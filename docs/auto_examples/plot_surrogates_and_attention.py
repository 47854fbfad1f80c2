"""
Rules, surrogates and attention: which rules a classifier follows, where a transformer looks
==============================================================================================

An MLP classifies scanpy's bundled ``pbmc68k_reduced`` cells (700 PBMCs, 765 genes,
log-normalised ``.raw`` values) into six major cell types (the five T-cell subtypes of
``bulk_labels`` merged into one "T cell" class, as in the gene-selection example). We ask
three model-level questions:

1. Global surrogates (:class:`skexplain.explainers.GlobalSurrogate`): which readable
   model -- a small tree, a sparse linear model, RuleFit's rule ensemble -- reproduces the
   MLP's calls, and how faithfully? Fidelity is the agreement with the MLP's labels on
   held-out cells (not the accuracy against the annotation), printed against complexity
   (leaves, non-zero coefficients, rules), with the monocyte rules and their marker genes.
2. Anchors (:class:`skexplain.explainers.Anchors`): for one confidently called
   held-out cell per type, the rule on quartile-binned genes (the 30 most variable ones)
   that keeps the MLP's call with precision >= 0.95 when the other genes are drawn from
   training cells, with its coverage and the cost per cell.
3. The self-explaining baseline (:func:`skexplain.feature_selection.sparsity_path`): how
   many genes an L1-regularised logistic regression needs to match the MLP's accuracy.

4. Attention maps against the planted truth. A
   :class:`~skexplain.models.TransformerSequenceClassifier` (a conv stem turning each window
   of 4 bases into a token, two encoder layers, a class-token head) is trained on motif task
   3 of Koo & Ploenzke (2021); its attention rollout (Abnar & Zuidema 2020), gradient
   rollout (Chefer, Gur & Wolf 2021) and raw attention are scored against the planted motif
   positions next to saliency and in silico mutagenesis on the same model. Then a small
   :class:`~skexplain.models.VisionTransformer` learns noise images of 3 x 224 x 224 whose
   label is the orientation of one striped 16 x 16 patch
   (:func:`skexplain.datasets.make_planted_patch_images`), and attention rollout and SensX
   with one group per patch are asked which patch decides.

The figure ``examples/output/surrogates_and_rules.png`` shows fidelity against complexity
and accuracy against the number of genes; ``attention_task3.png`` and ``attention_vit.png``
show the attention and attribution maps. Runs in about five minutes on 2 CPU cores.
"""

import resource
import time
import tracemalloc
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scanpy as sc  # noqa: E402
import torch  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from skorch import NeuralNetClassifier  # noqa: E402
from skorch.callbacks import GradientNormClipping  # noqa: E402

from skexplain.datasets import make_motif_dataset, make_planted_patch_images  # noqa: E402
from skexplain.explainers import (  # noqa: E402
    Anchors,
    AttentionMaps,
    GlobalSurrogate,
    InSilicoMutagenesis,
    Saliency,
    SensX,
    reduce_sequence_attributions,
)
from skexplain.feature_selection import sparsity_path  # noqa: E402
from skexplain.metrics import localization_auroc  # noqa: E402
from skexplain.models import TransformerSequenceClassifier, VisionTransformer  # noqa: E402

OUTPUT = Path(__file__).resolve().parent / "output"
N_EXPLAINED = 100  # positive task-3 sequences whose attention maps are scored
torch.set_num_threads(1)
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
    explainer = GlobalSurrogate(model, surrogate=kind, max_complexity=cap, n_jobs=N_JOBS,
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
anchors = Anchors(model, anchor_features=variable_genes, n_jobs=N_JOBS,
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
plt.close(fig)
print(f"\nsaved {OUTPUT / 'surrogates_and_rules.png'}")

# %%
# Attention maps: a transformer on motif task 3
# ---------------------------------------------
# Attention maps say where a transformer moves information; do they point at the evidence?
# 7,000 sequences of 200 nt: 6,000 to train (10 % of them for early stopping), 1,000 to test.

X, y, motif_mask = make_motif_dataset(task=3, n_samples=7000, random_state=0)
X_train, y_train, X_test, y_test = X[:6000], y[:6000], X[6000:], y[6000:]
start = time.perf_counter()
net = TransformerSequenceClassifier(
    first_activation="exponential", max_epochs=12, patience=4, random_state=0, verbose=0,
).fit(X_train, y_train)
print(f"transformer: {len(net.history)} epochs in {time.perf_counter() - start:.0f} s, "
      f"test AUROC {roc_auc_score(y_test, net.predict_proba(X_test)[:, 1]):.3f}")

# %%
# Localization of the planted motifs
# ----------------------------------
# The first 100 positive test sequences are explained for the positive class. Each map
# becomes one score per position: attention maps give each base the value of its token;
# saliency is gradient x input summed over bases; ISM is the L2 norm of the effects of the
# three substitutions. Two scores against the motif positions: the per-position AUROC of
# Koo & Ploenzke (each position a sample, averaged over sequences) and the run-based
# localization AUROC of :func:`skexplain.metrics.localization_auroc` (each run of motif or
# background positions a sample, scored by its maximum; chance is about 0.35).

positives = np.flatnonzero(y_test == 1)[:N_EXPLAINED]
X_explained, mask_explained = X_test[positives], motif_mask[6000:][positives]
reference = X_train[:100]
explainers = {
    "attention rollout": (AttentionMaps(net, method="rollout"), None),
    "gradient rollout": (AttentionMaps(net, method="gradient_rollout"), None),
    "raw attention (last layer)": (AttentionMaps(net, method="raw"), None),
    "saliency": (Saliency(net), "input_times"),
    "ISM": (InSilicoMutagenesis(net, reduction="l2"), None),
}
rows, sequence_maps = [], {}
for name, (explainer, reduction) in explainers.items():
    start = time.perf_counter()
    E = explainer.fit(reference).explain(X_explained, target=1)
    seconds = time.perf_counter() - start
    scores = E.values if reduction is None else reduce_sequence_attributions(E, method=reduction)
    sequence_maps[name] = scores
    per_position = np.mean([roc_auc_score(m, s) for m, s in zip(mask_explained, scores,
                                                                  strict=True)])
    run_based = localization_auroc(scores, mask_explained, buffer=1)[0]
    rows.append({"method": name, "per-position AUROC": per_position,
                 "run-based AUROC": run_based, "ms per sequence": 1000 * seconds / len(positives)})
print(pd.DataFrame(rows).round(3).to_string(index=False))

# %%
# The planted-patch images and the ViT
# ------------------------------------
# 400 training images; the ViT has 196 patch tokens and a class token, width 32, two
# layers of four heads. Both classes carry a planted patch, so only its stripes decide.

images, labels, patch_mask = make_planted_patch_images(440, random_state=0)
torch.manual_seed(0)
vit = NeuralNetClassifier(
    VisionTransformer, module__d_model=32, module__n_layers=2, module__dim_feedforward=64,
    criterion=torch.nn.CrossEntropyLoss, optimizer=torch.optim.AdamW, lr=3e-4, max_epochs=5,
    batch_size=16, train_split=None, callbacks=[GradientNormClipping(1.0)], verbose=0,
)
start = time.perf_counter()
vit.fit(images[:400], labels[:400])
test_images, test_labels, test_mask = images[400:], labels[400:], patch_mask[400:]
accuracy = (vit.predict(test_images) == test_labels).mean()
print(f"ViT: trained in {time.perf_counter() - start:.0f} s, test accuracy {accuracy:.3f}")
del images

# %%
# Which patch decides?
# --------------------
# For each of the 40 test images every method scores the 196 patches (attention maps per
# token; SensX per group of the 3 x 16 x 16 pixels of a patch). "hit" is the share of images
# whose top patch is the planted one; "patch AUROC" is the share of other patches scored
# below the planted one. Gradient rollout explains the predicted class's probability: this
# ViT has two logits, and the gradient of one logit alone also carries what both logits share
# (with it gradient rollout ranked the planted patch below most others); for two classes the
# probability's gradient is the log-odds' gradient times p (1 - p), so it ranks as the
# log-odds would. The ViT is so sure of itself that its probabilities hardly move when
# random boxes are sampled around an image (SensX would call the images insensitive), so
# SensX explains its log-odds of class 1 (the absolute elementary effects rank the patches
# the same for either class). Its cost is measured on the first 4 images, with tracemalloc's
# peak of Python allocations (numpy included, torch's own buffers not) and the process's
# peak resident memory.

planted = test_mask[:, ::16, ::16].reshape(len(test_mask), -1).argmax(1)


def patch_scores(scores, planted_patch):
    hit = scores.argmax(1) == planted_patch
    below = [np.mean(np.delete(s, p) < s[p]) for s, p in zip(scores, planted_patch, strict=True)]
    return hit.mean(), np.mean(below)


class LogOdds(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        logits = self.net(x)
        return logits[:, 1:] - logits[:, :1]


image_rows, image_maps = [], {}
for method in ("rollout", "gradient_rollout"):
    E = AttentionMaps(vit, method=method, output="probability").fit(
        test_images[:2]).explain(test_images)
    image_maps[method] = E.info["token_relevance"].reshape(len(test_images), -1)
    hit, auroc = patch_scores(image_maps[method], planted)
    image_rows.append({"method": f"attention {method}", "images": len(test_images),
                       "hit": hit, "patch AUROC": auroc})

patch_of_pixel = np.arange(196).reshape(14, 14).repeat(16, 0).repeat(16, 1)
groups = np.broadcast_to(patch_of_pixel, (3, 224, 224))
sensx = SensX(LogOdds(vit.module_).eval(), n_walks=10, n_profile_samples=50,
                       feature_groups=groups, lower=-1.0, upper=1.0, random_state=0)
n_sensx = 4
tracemalloc.start()
start = time.perf_counter()
E = sensx.fit(test_images[:2]).explain(test_images[:n_sensx])
seconds = time.perf_counter() - start
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
image_maps["sensx"] = E.values
hit, auroc = patch_scores(E.values, planted[:n_sensx])
image_rows.append({"method": "SensX, 16 x 16 groups", "images": n_sensx, "hit": hit,
                   "patch AUROC": auroc})
print(pd.DataFrame(image_rows).round(3).to_string(index=False))
maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"SensX with 196 patch groups: {seconds / n_sensx:.1f} s per image, "
      f"tracemalloc peak {peak / 2**20:.0f} MiB, process peak RSS {maxrss / 2**10:.0f} MiB")
print("Ungrouped SensX on all 150,528 features of one image: see "
      "benchmarks/bench_vit_sensx.py (benchmarks/results/vit_sensx.md).")

# %%
# Figure: one sequence's maps with its motifs shaded, and one image's patch maps.

fig, axes = plt.subplots(len(sequence_maps) + 1, 1, figsize=(9, 9), sharex=True)
for ax, (name, scores) in zip(axes, sequence_maps.items(), strict=False):
    ax.plot(scores[0], lw=1)
    ax.fill_between(np.arange(200), 0, 1, where=mask_explained[0], alpha=0.2, color="C1",
                    transform=ax.get_xaxis_transform())
    ax.set_ylabel(name, rotation=0, ha="right", fontsize=8)
axes[-1].axis("off")
fig.savefig(OUTPUT / "attention_task3.png", dpi=100, bbox_inches="tight")
fig, axes = plt.subplots(1, 4, figsize=(12, 3))
axes[0].imshow((test_images[0].transpose(1, 2, 0) + 1) / 2)
axes[0].set_title(f"class {test_labels[0]}")
for ax, (name, scores) in zip(axes[1:], image_maps.items(), strict=True):
    ax.imshow(scores[0].reshape(14, 14), cmap="viridis")
    ax.set_title(name)
for ax in axes:
    ax.axis("off")
fig.savefig(OUTPUT / "attention_vit.png", dpi=100, bbox_inches="tight")
print(f"saved {OUTPUT / 'attention_task3.png'} and {OUTPUT / 'attention_vit.png'}")
