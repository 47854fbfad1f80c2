"""
Models that explain themselves: prototypes and concept bottlenecks
===================================================================

Two models whose predictions carry their own explanation:

1. A prototype network (ProtoPNet, Chen et al. 2019) classifies sequences of task 1 by which
   transcription-factor motif they carry. Each prototype is projected onto a real training
   subsequence, so a prediction reads "this sequence looks like that subsequence". We draw
   the projected prototypes as logos next to their JASPAR matches (TomTom).
2. A concept bottleneck model (Koh et al. 2020) predicts which motifs a sequence holds (the
   concepts), then the class from the concepts alone; replacing predicted concepts by true
   ones at test time (intervention) shows how much of the error is the concepts' fault.
"""

# %%
import re
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from skexplain.datasets import TASK1_TFS, make_motif_dataset  # noqa: E402
from skexplain.models import ConceptBottleneckClassifier, PrototypeCNNClassifier  # noqa: E402
from skexplain.motifs import (  # noqa: E402
    load_jaspar_database,
    plot_logo,
    tomtom_matches,
    trim_ppm,
)

torch.set_num_threads(1)
OUTPUT = Path(__file__).resolve().parent / "output"
OUTPUT.mkdir(exist_ok=True)

# %%
# Task 1 sequences (100 nt) that carry exactly one motif, of one of four TFs; the class is
# the TF. ``mask`` marks the planted motif positions (the ground truth).
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
seconds = (time.perf_counter() - start) / len(explanation)
print(f"explain: {seconds * 1e3:.2f} ms per instance; values {explanation.values.shape}, "
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
database = load_jaspar_database()
matches = tomtom_matches(ppms, database=database, evalue_threshold=0.1, names=names)
best_match = matches.groupby("query", sort=False).head(1).set_index("query")
own = matches[matches["target_name"].str.upper()
              == matches["query"].str.extract(r"\((.*)\)")[0].str.upper()]
own_evalue = own.groupby("query")["e_value"].min()
table = pd.DataFrame({
    "class": protonet.prototype_classes_,
    "on motif": on_motif,
    "best JASPAR match": best_match["target_name"].reindex(names).fillna("-").to_numpy(),
    "E-value": best_match["e_value"].reindex(names).to_numpy(),
    "own TF E-value": own_evalue.reindex(names).to_numpy(),
}, index=names)
print(table.to_string(float_format=lambda v: f"{v:.1e}", na_rep="-"))
same_family = [bool(re.match(FAMILIES[label], match.upper()))
               for label, match in zip(table["class"], table["best JASPAR match"], strict=True)]
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

# %%
# Concept bottleneck: the concepts are the 12 TFs' presence, the class is "has a site of
# CEBPB, Gabpa, MAX or SP1"; g is an exponential-activation CNN, f a logistic model of the
# concepts.
core = [TASK1_TFS.index(tf) for tf in ("CEBPB", "Gabpa", "MAX", "SP1")]
X_cbm, concepts, _ = make_motif_dataset(task=1, n_samples=4000, length=100, random_state=1)
label = concepts[:, core].max(axis=1)
train, test = slice(0, 3000), slice(3000, None)
rows = []
for training in ("independent", "sequential", "joint"):
    start = time.perf_counter()
    cbm = ConceptBottleneckClassifier(training=training, lr=1e-2, max_epochs=20,
                                      random_state=0)
    cbm.fit(X_cbm[train], label[train], concepts=concepts[train])
    rows.append({
        "training": training,
        "seconds": round(time.perf_counter() - start),
        "concept accuracy": cbm.concept_score(X_cbm[test], concepts[test]),
        "accuracy (predicted concepts)": cbm.score(X_cbm[test], label[test]),
        "accuracy (true concepts)": cbm.score(X_cbm[test], label[test],
                                              concepts=concepts[test]),
    })
print(f"positives: {label[test].mean():.2f} of the test set; concepts present: "
      f"{concepts[test].mean():.2f}")
print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
