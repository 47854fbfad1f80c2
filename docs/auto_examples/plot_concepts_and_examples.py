"""
Concepts and examples: the motifs a network uses, and the training cells behind a call
======================================================================================

Feature attributions say which nucleotides of one sequence matter. Concept-based explanations
ask a question about the whole network in the field's own vocabulary: does the network use the
IRF motif to call IRF1 peaks? Which motif does each first-layer channel detect?

1. Train CNN-deep with an exponential first layer on real in vivo data: IRF1 ChIP-seq peaks
   against background (Koo & Ploenzke, Nat. Mach. Intell. 2021).
2. TCAV (Kim et al., ICML 2018): concepts are JASPAR motifs inserted into real background
   sequences, the untouched backgrounds are the random counterexamples. Is the IRF motif
   significant for the peak class, and an unrelated motif (CTCF) not?
3. Network dissection (Bau et al., CVPR 2017) of the first layer: where does each channel
   fire (the top 0.5% of its activations over the test set) and which motif's FIMO hits does
   that overlap most (IoU)? Compared with the TomTom labels of the filters' PPMs.
4. Influence functions (Koh & Liang, ICML 2017) on a PBMC cell-type classifier (a regularised
   logistic regression on scanpy's bundled ``pbmc68k_reduced``): which training cells are
   most responsible, helpful or harmful, for one cell's call, checked against actual
   leave-one-out refits; and its nearest training cells with the deep k-NN credibility of
   the call (Papernot & McDaniel 2018).
5. A prototype network (ProtoPNet, Chen et al., NeurIPS 2019) on synthetic task 1: each
   prototype is projected onto a real training subsequence; how many land on a planted motif,
   and their logos next to their JASPAR matches (TomTom).

Each section prints the seconds each method spends per explained instance.
"""

# %%
import copy
import re
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scanpy as sc  # noqa: E402
import torch  # noqa: E402
from memelite import fimo  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

from skexplain.datasets import (  # noqa: E402
    TASK1_TFS,
    load_chipseq,
    make_motif_concept,
    make_motif_dataset,
)
from skexplain.explainers import (  # noqa: E402
    TCAV,
    DeepKNN,
    InfluenceFunctions,
    NetworkDissection,
)
from skexplain.models import ExpActivationCNNClassifier, PrototypeCNNClassifier  # noqa: E402
from skexplain.motifs import (  # noqa: E402
    filter_ppms,
    load_jaspar_database,
    plot_logo,
    tomtom_matches,
    trim_ppm,
)

torch.set_num_threads(1)
OUTPUT = Path(__file__).resolve().parent / "output"
OUTPUT.mkdir(exist_ok=True)
EPOCHS = 15
JASPAR = load_jaspar_database()
# JASPAR 2016 matrices: the IRF1 motif, its partner PU.1 (SPI1; IRF and ETS sites form
# composite elements), and motifs with no known role in IRF1 binding.
PANEL = {
    "IRF1": "MA0050.2 IRF1", "SPI1": "MA0080.4 SPI1", "CTCF": "MA0139.1 CTCF",
    "SP1": "MA0079.3 SP1", "SP2": "MA0516.1 SP2", "ZNF263": "MA0528.1 ZNF263",
    "FOS::JUN": "MA0099.2 FOS::JUN", "CEBPB": "MA0466.2 CEBPB",
}
timings = {}  # seconds per explained instance, by method

# %%
# The IRF1 task: 400-nt sequences, peaks (1) against background (0), with the published
# train / valid / test split; CNN-deep trained as in Koo & Ploenzke (2021).
data = load_chipseq("IRF1")
net = ExpActivationCNNClassifier(architecture="cnn_deep", max_epochs=EPOCHS, random_state=0,
                                 verbose=0)
start = time.perf_counter()
net.fit(data.X_train, data.y_train, validation_data=(data.X_valid, data.y_valid))
auroc = roc_auc_score(data.y_test, net.predict_proba(data.X_test)[:, 1])
print(f"IRF1: trained in {time.perf_counter() - start:.0f} s, test AUROC {auroc:.3f}")
positives = data.X_test[data.y_test == 1]
backgrounds = data.X_test[data.y_test == 0]

# %%
# TCAV on the third conv block. Each concept: 150 background sequences with one instance of
# the motif sampled from its JASPAR matrix (either strand); random sets are drawn from the
# background sequences themselves, so a concept differs from its counterexamples only by the
# motif. Scores are over the positive test sequences; 20 runs, Bonferroni over the concepts.
concepts = {
    name: make_motif_concept(JASPAR[PANEL[name]], 150, backgrounds=backgrounds,
                             random_state=i)[0]
    for i, name in enumerate(["IRF1", "SPI1", "CTCF", "SP1"])
}
start = time.perf_counter()
tcav = TCAV(net, layer="blocks.2", concepts=concepts, random_concepts=backgrounds, n_runs=20,
            random_state=0).fit()
E = tcav.explain(positives, target=1)  # the IRF1-peak class (the net's one logit)
timings["TCAV"] = (time.perf_counter() - start) / len(positives)
rows = pd.DataFrame({
    "TCAV score": E.values[0], "sd": E.info["sd"][0], "p value": E.info["p_value"][0],
    "significant": E.info["significant"][0],
}, index=pd.Index(E.labels["concept"], name="concept"))
print(rows.round(4).to_markdown())
random_scores = E.info["random_scores"][0]
print(f"random-vs-random CAVs: score {random_scores.mean():.2f} +/- "
      f"{random_scores.std(ddof=1):.2f}")
for name, row in rows.iterrows():
    verdict = "significant" if row["significant"] else "not significant"
    print(f"TCAV {name}: score {row['TCAV score']:.2f} +/- {row['sd']:.2f}, "
          f"p = {row['p value']:.2g}, {verdict}")
print(f"TCAV: {timings['TCAV']:.4f} s per explained sequence (CAV fits included)")
# A significant score below 0.5 means the concept lowers the class logit: a GC-rich SP1 site
# makes a sequence look less like an IRF1 peak to this network.

fig, ax = plt.subplots(figsize=(5, 3))
ax.boxplot([*E.info["scores"][0], random_scores], tick_labels=[*E.labels["concept"], "random"])
ax.axhline(0.5, color="grey", lw=0.5)
ax.set_ylabel("TCAV score (IRF1 peaks)")
fig.tight_layout()
fig.savefig(OUTPUT / "tcav_irf1.png", dpi=120)
plt.close(fig)

# %%
# Network dissection of the first layer (before pooling, one position per nucleotide).
# Concept masks: FIMO hits (p < 1e-4, both strands) of the panel motifs in the test sequences.


def fimo_masks(X, motifs):
    """Boolean (n_sequences, length) mask of each motif's FIMO hits."""
    hits = fimo({name: JASPAR[key] for name, key in motifs.items()}, X, threshold=1e-4)
    masks = {}
    for name, table in zip(motifs, hits, strict=True):
        mask = np.zeros((len(X), X.shape[2]), dtype=bool)
        for row in table.itertuples():
            mask[int(row.sequence_name), int(row.start):int(row.end)] = True
        masks[name] = mask
    return masks


X = data.X_test
masks = fimo_masks(X, PANEL)
start = time.perf_counter()
dissection = NetworkDissection(net, layers="blocks.0.activation").fit(X)
D = dissection.explain(X, concepts=masks)
timings["network dissection"] = (time.perf_counter() - start) / len(X)

# TomTom labels of the same filters (their PPMs from the sequences that activate them).
start = time.perf_counter()
ppms, _ = filter_ppms(net.first_layer_activations(X), X, window=20, threshold=0.5)
matches = tomtom_matches([trim_ppm(ppm, min_ic=0.5, pad=3) for ppm in ppms],
                         evalue_threshold=0.1)
timings["filter PPMs + TomTom"] = (time.perf_counter() - start) / len(X)
best_match = matches.groupby("query").first()
channels = pd.DataFrame({
    "dissection label": D.info["best_concept"], "IoU": D.info["best_iou"],
    "IRF1 IoU": D.values[:, list(D.labels["concept"]).index("IRF1")],
    "detector": D.info["detector"],
}, index=[f"filter{c}" for c in range(len(D.values))])
channels["TomTom match"] = best_match["target_name"].reindex(channels.index).fillna("-")
channels["TomTom E"] = best_match["e_value"].reindex(channels.index).map(
    lambda e: "-" if np.isnan(e) else f"{e:.1e}")
print(channels.sort_values("IRF1 IoU", ascending=False).round(3).to_markdown())

irf = channels["TomTom match"].str.upper().str.startswith("IRF")
agree = irf & (channels["dissection label"] == "IRF1") & channels["detector"]
labelled = channels["TomTom match"] != "-"


def family(names):
    """Motif names in upper case, with every IRF motif counted as one family."""
    names = names.str.upper()
    return names.where(~names.str.startswith("IRF"), "IRF")


same = family(channels["dissection label"]) == family(channels["TomTom match"])
print(f"network dissection: {int(agree.sum())} of {int(irf.sum())} IRF filters (TomTom) are "
      f"IRF1 detectors; {int(channels['detector'].sum())} of {len(channels)} channels are "
      f"detectors (IoU > 0.04)")
print(f"TomTom-labelled filters whose dissection label is the same motif (family): "
      f"{int((same & labelled).sum())} of {int(labelled.sum())} (the others match motifs "
      "outside the panel)")
print(f"IRF1 IoU: {channels.loc[irf, 'IRF1 IoU'].mean():.3f} for the IRF filters, "
      f"{channels.loc[~irf, 'IRF1 IoU'].mean():.3f} for the others")
print(f"network dissection: {timings['network dissection']:.5f} s per sequence; "
      f"filter PPMs + TomTom: {timings['filter PPMs + TomTom']:.5f} s per sequence")

fig, ax = plt.subplots(figsize=(6, 7))
order = channels.sort_values("IRF1 IoU", ascending=False).index
image = ax.imshow(D.values[[channels.index.get_loc(c) for c in order]], aspect="auto",
                  cmap="viridis")
ax.set_xticks(range(len(D.labels["concept"])), D.labels["concept"], rotation=60, fontsize=7)
ax.set_yticks(range(len(order)),
              [f"{c} ({channels.loc[c, 'TomTom match']})" for c in order], fontsize=6)
fig.colorbar(image, ax=ax, label="IoU")
fig.tight_layout()
fig.savefig(OUTPUT / "dissection_irf1.png", dpi=120)
plt.close(fig)

# %%
# Influence functions and nearest neighbours on single-cell data. A cell-type classifier:
# 30 principal components of the log-normalised genes, then an L2 logistic regression
# (sklearn minimises ``C * sum log-loss + 1/2 ||W||^2``).
TOP = 5
adata = sc.datasets.pbmc68k_reduced()
X = pd.DataFrame(adata.raw.X.toarray(), columns=adata.raw.var_names, index=adata.obs_names)
y = adata.obs["bulk_labels"].astype(str).to_numpy()
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)
model = make_pipeline(PCA(n_components=30, random_state=0),
                      LogisticRegression(C=0.1, max_iter=5000, tol=1e-8))
model.fit(X_train, y_train)
predicted = model.predict(X_test)
print(f"held-out accuracy: {np.mean(predicted == y_test):.2f}")

# %%
# Influence of every training cell on every held-out cell's loss at its predicted type. The
# PCA is held fixed; the Hessian is the logistic regression's own (310 parameters).
start = time.perf_counter()
influence = InfluenceFunctions(model, n_top=TOP).fit(X_train, y_train)
fit_seconds = time.perf_counter() - start
start = time.perf_counter()
E = influence.explain(X_test, predicted)
timings["influence"] = influence_seconds = (time.perf_counter() - start) / len(X_test)
print(f"influence: fit {fit_seconds:.2f} s, {1e3 * influence_seconds:.2f} ms per explained "
      f"cell ({E.values.shape[1]} training cells each)")

# %%
# One cell: the misclassified held-out cell with the least confident call.
proba = model.predict_proba(X_test).max(axis=1)
wrong = np.flatnonzero(predicted != y_test)
cell = wrong[np.argmin(proba[wrong])] if len(wrong) else int(np.argmin(proba))
print(f"cell {X_test.index[cell]}: annotated {y_test[cell]!r}, called {predicted[cell]!r} "
      f"(p = {proba[cell]:.2f})")


# %%
# Check against actual leave-one-out refits of the classifier (PCA kept), for every
# training cell: the predicted and the actual change of this cell's loss.
Z_train, z_cell = model[0].transform(X_train), model[0].transform(X_test.iloc[[cell]])


def loss_without(j):
    refit = copy.deepcopy(model[-1]).set_params(warm_start=True)
    keep = np.arange(len(X_train)) != j
    p = refit.fit(Z_train[keep], y_train[keep]).predict_proba(z_cell)[0]
    return -np.log(p[list(refit.classes_).index(predicted[cell])])


start = time.perf_counter()
actual = np.array([loss_without(j) for j in range(len(X_train))]) - E.base_values[cell]
loo_seconds = time.perf_counter() - start
r = np.corrcoef(E.values[cell], actual)[0, 1]
shared = len(set(E.info["helpful"][cell]) & set(np.argsort(-actual)[:TOP]))
print(f"predicted vs actual leave-one-out change over {len(X_train)} training cells: "
      f"Pearson r = {r:.3f}; {shared} of the top-{TOP} helpful cells are the actual top-{TOP} "
      f"({loo_seconds:.0f} s of refits)")

# %%
# The most helpful and harmful training cells, with the actual change of the loss when each
# is left out.
def table(indices, values):
    return pd.DataFrame({
        "training cell": X_train.index[indices],
        "cell type": y_train[indices],
        "influence": values[indices],
        "actual LOO change": actual[indices],
    })


print("most helpful training cells (removing them would raise the loss of the call):")
print(table(E.info["helpful"][cell], E.values[cell]).to_string(index=False))
print("most harmful training cells (removing them would lower it):")
print(table(E.info["harmful"][cell], E.values[cell]).to_string(index=False))

# %%
# Across all held-out cells: helpful training cells mostly share the called type,
# harmful ones mostly do not.
same = y_train[E.info["helpful"]] == predicted[:, None]
other = y_train[E.info["harmful"]] == predicted[:, None]
print(f"top-{TOP} helpful cells of the called type: {same.mean():.0%}; "
      f"top-{TOP} harmful: {other.mean():.0%}")

# %%
# Nearest training cells in gene space (cosine), and the credibility of each call: the
# fraction of the 10 neighbours annotated with the called type.
start = time.perf_counter()
knn = DeepKNN(model, n_neighbors=10, metric="cosine").fit(X_train, y_train)
N = knn.explain(X_test)
timings["k-NN"] = knn_seconds = (time.perf_counter() - start) / len(X_test)
print(f"k-NN: {1e3 * knn_seconds:.2f} ms per explained cell (fit included)")
print(f"nearest training cells of cell {X_test.index[cell]} "
      f"(credibility {N.info['credibility'][cell]:.1f}):")
print(pd.DataFrame({"training cell": N.info["names"][cell], "cell type": N.info["labels"][cell],
                    "cosine distance": N.values[cell].round(3)}).head(TOP).to_string(index=False))
correct = predicted == y_test
print(f"mean credibility: correct calls {N.info['credibility'][correct].mean():.2f}, "
      f"wrong calls {N.info['credibility'][~correct].mean():.2f}")

# %%
# The influence of every training cell on this call, by cell type.
frame = pd.DataFrame({"type": y_train, "influence": E.values[cell]})
order = frame.groupby("type")["influence"].median().sort_values().index
fig, ax = plt.subplots(figsize=(6.5, 3.8))
ax.boxplot([frame.loc[frame["type"] == t, "influence"] for t in order], orientation="horizontal",
           tick_labels=order, flierprops={"markersize": 2})
ax.axvline(0, color="grey", lw=0.5)
ax.set_xlabel("influence on the call (positive = helpful)")
ax.set_title(f"training cells behind calling {X_test.index[cell]} {predicted[cell]!r}",
             fontsize=9)
fig.tight_layout()
fig.savefig(OUTPUT / "influence_one_cell.png", dpi=120)
plt.close(fig)

# %%
# A prototype network (ProtoPNet) on task 1 sequences (100 nt) that carry exactly one motif,
# of one of four TFs; the class is the TF. ``mask`` marks the planted motif positions (the
# ground truth).
TFS = ["CEBPB", "Gabpa", "SP1", "YY1"]
# JASPAR names of each TF's family (bZIP C/EBP, ETS, SP/KLF zinc fingers, YY).
FAMILIES = {"CEBPB": "CEBP", "Gabpa": "GABP|ELK|ETS|ETV|ELF|ERG|FLI|FEV|SPI|EHF",
            "SP1": r"SP\d|KLF", "YY1": "YY"}
X_all, presence, mask_all = make_motif_dataset(task=1, n_samples=12_000, length=100,
                                               random_state=0)
one_motif = (presence.sum(axis=1) == 1) & presence[:, [TASK1_TFS.index(t) for t in TFS]].any(1)
X, mask = X_all[one_motif], mask_all[one_motif]
y = np.asarray(TASK1_TFS)[presence[one_motif].argmax(axis=1)]
n_train = int(0.8 * len(X))
labels, counts = np.unique(y, return_counts=True)
print(f"{len(X)} sequences ({n_train} train), per class: "
      + ", ".join(f"{label} {count}" for label, count in zip(labels, counts, strict=True)))

start = time.perf_counter()
protonet = PrototypeCNNClassifier(lr=3e-3, max_epochs=20, random_state=0)
protonet.fit(X[:n_train], y[:n_train])
print(f"prototype network: {time.perf_counter() - start:.0f} s to train, test accuracy "
      f"{protonet.score(X[n_train:], y[n_train:]):.3f}, {protonet.n_prototypes_} prototypes "
      f"({len(protonet.pruned_prototypes_)} pruned) of {protonet.receptive_field_} nt")

# %%
# Each projected prototype is a training subsequence. How many lie on a planted motif (at
# least 5 motif positions in the window), against random windows of the same width?


def motif_positions(rows, starts, width):
    columns = np.asarray(starts)[:, None] + np.arange(width)
    inside = (columns >= 0) & (columns < X.shape[2])
    return (mask[np.asarray(rows)[:, None], columns.clip(0, X.shape[2] - 1)] & inside).sum(1)


width = protonet.receptive_field_
on_motif = motif_positions(protonet.prototype_sample_indices_, protonet.prototype_starts_,
                           width) >= 5
rng = np.random.default_rng(0)
random_windows = motif_positions(rng.integers(0, n_train, 5000),
                                 rng.integers(-(width // 2), X.shape[2] - width // 2, 5000),
                                 width) >= 5
print(f"projected prototypes on a planted motif: {on_motif.mean():.2f} "
      f"(random windows: {random_windows.mean():.2f})")

# %%
# Explain the test set: every prototype's similarity to each sequence and where it matches.
start = time.perf_counter()
explanation = protonet.explain(X[n_train:])
timings["prototypes"] = seconds = (time.perf_counter() - start) / len(explanation)
print(f"prototype explain: {seconds * 1e3:.2f} ms per instance; values {explanation.values.shape}, "
      f"subsequences {explanation.info['subsequences'].shape}")
first = explanation.info["contributions"][0]
top = np.argsort(first)[::-1][:3]
print(f"test sequence 0 (true {y[n_train]}, predicted {explanation.info['predictions'][0]}): "
      + ", ".join(f"{explanation.feature_names[j]} similarity {explanation.values[0, j]:.2f} "
                  f"at {explanation.info['starts'][0, j]}" for j in top))

# %%
# A prototype is one subsequence; its PPM is the average of its best matches in the 100
# training sequences most similar to it, trimmed and matched against JASPAR with TomTom.
train_explanation = protonet.explain(X[:n_train])
best = np.argsort(-train_explanation.values, axis=0)[:100]  # (100, n_prototypes)
subsequences = train_explanation.info["subsequences"]
ppms = []
for j in range(protonet.n_prototypes_):
    counts = subsequences[best[:, j], j].sum(axis=0) + 0.1
    ppms.append(trim_ppm(counts / counts.sum(axis=0), min_ic=0.5, pad=1))
names = [f"proto{j} ({label})" for j, label in enumerate(protonet.prototype_classes_)]
database = JASPAR
matches = tomtom_matches(ppms, database=database, evalue_threshold=0.1, names=names)
best_match = matches.groupby("query", sort=False).head(1).set_index("query")
own = matches[matches["target_name"].str.upper()
              == matches["query"].str.extract(r"\((.*)\)")[0].str.upper()]
own_evalue = own.groupby("query")["e_value"].min()
prototype_table = pd.DataFrame({
    "class": protonet.prototype_classes_,
    "on motif": on_motif,
    "best JASPAR match": best_match["target_name"].reindex(names).fillna("-").to_numpy(),
    "E-value": best_match["e_value"].reindex(names).to_numpy(),
    "own TF E-value": own_evalue.reindex(names).to_numpy(),
}, index=names)
print(prototype_table.to_string(float_format=lambda v: f"{v:.1e}", na_rep="-"))
best_names = prototype_table["best JASPAR match"]
same_family = [bool(re.match(FAMILIES[label], match.upper()))
               for label, match in zip(prototype_table["class"], best_names, strict=True)]
print(f"prototypes matching their own class's TF (E < 0.1): {own_evalue.size} of "
      f"{len(names)}; best match in the class TF's family: {sum(same_family)}")

# %%
fig, axes = plt.subplots(len(ppms), 2, figsize=(9, 1.6 * len(ppms)), squeeze=False)
for j, (name, ppm) in enumerate(zip(names, ppms, strict=True)):
    plot_logo(ppm, ax=axes[j, 0], title=name)
    if name in best_match.index:
        match = best_match.loc[name]
        target = database[match["target"]]
        if match["orientation"] == "-":
            target = target[::-1, ::-1]
        plot_logo(target, ax=axes[j, 1], title=f"{match['target']} (E = {match['e_value']:.1e})")
    else:
        axes[j, 1].set_axis_off()
fig.tight_layout()
fig.savefig(OUTPUT / "prototype_logos.png", dpi=80)
plt.close(fig)
print("seconds per explained instance: "
      + ", ".join(f"{method} {value:.5f}" for method, value in timings.items()))
print(f"saved figures to {OUTPUT}")
