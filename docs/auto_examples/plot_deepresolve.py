"""
DeepResolve: what each class needs from a network, and the spacing rules it learned
====================================================================================

DeepResolve (Liu, Barr & Gifford, BMC Bioinformatics 2019) explains a trained network without
any input: for each class it runs gradient ascent on the activation of an intermediate layer
to maximise the class logit (minus an L2 penalty) from several random starts, and summarises
the optimised maps into one importance per channel, an inconsistency per channel (channels
whose importance flips between starts interact with others) and a similarity between classes.

1. Train CNN-deep with an exponential first layer on the synthetic task 1 of Koo & Ploenzke
   (2021): 12 JASPAR motifs planted in random DNA, one label per transcription factor.
2. DeepResolve on the last conv block: are each class's top channels the channels that
   respond to that class's motif? (Ground truth from inserting the motif into random DNA,
   data DeepResolve never sees.)
3. Class similarity: do classes whose motifs look alike (TomTom between the JASPAR motifs)
   share channels? The network's channels do (their responses to the motifs group the two
   pairs of TFs that share a core); DeepResolve's class similarity does not.
4. Class similarity and label co-occurrence, the paper's claim: on a task whose TFs are bound
   in pairs (:func:`~skexplain.datasets.make_cooccurring_motif_task`), each class's most
   similar class is its partner and the class similarity follows the label correlation
   (Mantel test); on task 1, whose labels are independent, it does not.
5. Activation maximization: does the input that maximises a class contain its motif? Logos
   of that input next to the JASPAR motif and to the first-layer filter matching it.
6. A synthetic task with a planted helical spacing rule (an NFY box and an SP1 site must be
   on the same face of the DNA, period 10.5 nt): the effect curve of the SP1 site's distance
   from the NFY box, and its Fourier analysis (Puffin, Dudnyk et al. Science 2024).

Runs in about eight minutes on one CPU thread.
"""

# %%
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from skexplain.datasets import (  # noqa: E402
    TASK1_TFS,
    load_jaspar_motifs,
    make_cooccurring_motif_task,
    make_motif_dataset,
)
from skexplain.explainers import ActivationMaximization, DeepResolve  # noqa: E402
from skexplain.models import ExpActivationCNNClassifier  # noqa: E402
from skexplain.motifs import (  # noqa: E402
    effect_curve,
    filter_ppms,
    periodicity,
    plot_logo,
    tomtom_matches,
    trim_ppm,
)

torch.set_num_threads(1)
OUTPUT = Path(__file__).resolve().parent / "output"
OUTPUT.mkdir(exist_ok=True)
N_SEQUENCES, EPOCHS = 20_000, 12
START = time.perf_counter()
rng = np.random.default_rng(0)
JASPAR = load_jaspar_motifs(list(TASK1_TFS))


def sample_instances(ppm, n):
    """n motif instances (one-hot, (n, 4, width)) with each column drawn from the PPM."""
    cumulative = ppm.cumsum(axis=0)
    letters = (rng.random((n, 1, ppm.shape[1])) > cumulative[None, :-1]).sum(axis=1)
    return np.eye(4, dtype=np.float32)[letters].transpose(0, 2, 1)


def random_dna(n, length):
    return np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1).copy()


# %%
# Task 1 and the network: CNN-deep, exponential first layer, trained briefly.
X, y, _ = make_motif_dataset(task=1, n_samples=N_SEQUENCES, random_state=0)
train, valid, test = np.split(np.arange(len(X)), [int(0.7 * len(X)), int(0.8 * len(X))])
net = ExpActivationCNNClassifier(architecture="cnn_deep", max_epochs=EPOCHS,
                                 scoring="average_precision", random_state=0, verbose=0)
net.fit(X[train], y[train], validation_data=(X[valid], y[valid]))
auroc = roc_auc_score(y[test], net.predict_proba(X[test]), average=None)
print(f"CNN-deep, {len(net.history)} epochs on {len(train)} sequences: test AUROC "
      f"{auroc.mean():.3f} (per TF {auroc.min():.2f} to {auroc.max():.2f}) "
      f"[{time.perf_counter() - START:.0f} s]")

# %%
# DeepResolve on the last conv block (128 channels x 3 positions), 10 starts per class.
explainer = DeepResolve(net, n_restarts=10, n_jobs=2, random_state=0).fit()
E = explainer.explain()
E.output_names = np.array(TASK1_TFS)
print(f"DeepResolve on {E.info['layer']} {explainer.activation_shape_}: "
      f"{E.info['n_iter'].mean():.0f} ascent steps per start on average; "
      f"{E.info['non_additive'].sum(axis=1).mean():.1f} non-additive and "
      f"{E.info['negative'].sum(axis=1).mean():.1f} negative channels per class "
      f"[{time.perf_counter() - START:.0f} s]")


def last_block(X):
    """Output of the last conv block (n, 128, 3), from a forward hook."""
    store = []
    block = net.module_.blocks[-1]
    handle = block.register_forward_hook(lambda _m, _i, output: store.append(output))
    with torch.no_grad():
        net.module_(torch.as_tensor(X))
    handle.remove()
    return store[0].numpy()


# Ground truth: how much each channel's mean output rises when the TF's motif is inserted at
# a random position of random DNA.
background = random_dna(500, X.shape[2])
base = last_block(background)
rows, gains = [], []
top5 = E.top_channels(5)
for k, tf in enumerate(TASK1_TFS):
    inserted = background.copy()
    instances = sample_instances(JASPAR[tf], len(inserted))
    for i, start in enumerate(rng.integers(0, X.shape[2] - instances.shape[2], len(inserted))):
        inserted[i, :, start:start + instances.shape[2]] = instances[i]
    gain = (last_block(inserted) - base).mean(axis=(0, 2))
    gains.append(gain)
    detectors = set(np.argsort(-gain)[:5])
    rows.append({
        "TF": tf,
        "top-5 overlap": len(detectors & set(top5.iloc[k])),
        "Spearman(OFIV, gain)": spearmanr(E.values[k], gain)[0],
        "non-additive": int(E.info["non_additive"][k].sum()),
    })
table = pd.DataFrame(rows).set_index("TF")
print(table.round(2).to_markdown())
print(f"mean top-5 overlap {table['top-5 overlap'].mean():.1f} of 5 (chance {25 / 128:.2f}); "
      f"mean Spearman {table['Spearman(OFIV, gain)'].mean():.2f}")
fig, ax = plt.subplots(figsize=(12, 4))
E.plot_importance(ax=ax)
fig.tight_layout()
fig.savefig(OUTPUT / "deepresolve_importance.png", dpi=120)
plt.close(fig)

# %%
# First-layer filters as motifs (Koo & Ploenzke: PPMs of the windows that activate each filter,
# trimmed, matched to JASPAR with TomTom), for the logos below.
activations = net.first_layer_activations(X[test])
ppms, _ = filter_ppms(activations, X[test], window=20, threshold=0.5)
ppms = [trim_ppm(ppm, min_ic=0.5, pad=3) for ppm in ppms]
filter_matches = tomtom_matches(ppms, evalue_threshold=0.1)

# %%
# Class similarity and motif families. Ground truth first: how alike the 12 JASPAR motifs are
# (-log10 TomTom p-value of each pair, against the whole JASPAR database, best of both
# directions). Two pairs share a core and stand apart, the only ones with p < 0.05: FOSL1-MAFK
# (the bZIP half-site TGA[CG]TCA / TGCTGA) and Gabpa-STAT1 (GGAA). TF structural families do
# not make motif families here: bZIP CEBPB-FOSL1, MADS MEF2A-SRF and C2H2 SP1-YY1 all have
# p > 0.07. Task 1 plants its motifs independently, so the labels carry no co-occurrence;
# shared channels can only come from shared sequence.
#
# The same three statistics, fixed before looking, are asked of two similarity matrices between
# the 12 TFs: (a) the network's own channels, the correlation between two TFs' channel
# responses (the gains above: each last-block channel's mean rise when the motif is inserted in
# random DNA), and (b) DeepResolve's class similarity, the correlation of the classes' overall
# importance vectors. Statistics: the mean similarity of the two family pairs minus that of the
# other 64 pairs; how many of the four TFs have their partner as nearest class; the Spearman
# correlation with motif similarity over all 66 pairs. Each gets a permutation p-value that
# relabels the 12 TFs (Mantel test).
#
# The answer: the network's channels group the motif families, DeepResolve's class similarity does
# not. Channels that respond to both FOSL1 and MAFK exist, but the labels are independent, so the
# network is trained to tell the two apart, and each class's importance vector (what maximises that
# class's logit) also holds the channels that separate it from its partner, with opposite signs:
# FOSL1-MAFK ranks near the bottom of the 66 pairs. DeepResolve's family gap (p about 0.05) rests on
# Gabpa-STAT1 alone, the most similar pair, and the most similar pairs are all classes the network
# has barely learned after 12 epochs (test AUROC near 0.6 for Gabpa, STAT1, CEBPB, YY1), whose
# importance vectors are generic. Trained to convergence the picture is sharper, not different:
# after 40 epochs (test AUROC 0.967, every TF above 0.87), the channel responses rank Gabpa-STAT1
# and FOSL1-MAFK first and second of 66 pairs (partner nearest for 4 of 4, p = 0.005), while
# DeepResolve ranks them 58th and 64th (partner nearest for 0 of 4; Spearman with motif similarity
# -0.32). Variants of the class similarity (Spearman or cosine instead of Pearson, the plain mean of
# the restarts' vectors) rank the pairs 56th to 66th in that network; the positive part of the
# importance vectors (negative entries set to 0) ranks them 12th and 31st.
pairs = tomtom_matches(JASPAR, evalue_threshold=None)
pairs = pairs[pairs.target_name.isin(TASK1_TFS)]
motif_similarity = (pairs.pivot_table(index="query", columns="target_name", values="p_value",
                                      aggfunc="min")
                    .loc[list(TASK1_TFS), list(TASK1_TFS)].to_numpy())
motif_similarity = -np.log10(np.minimum(motif_similarity, motif_similarity.T))
upper = np.triu_indices(12, k=1)
shared = np.zeros((12, 12), dtype=bool)
for a, b in (("FOSL1", "MAFK"), ("Gabpa", "STAT1")):
    i, j = TASK1_TFS.index(a), TASK1_TFS.index(b)
    shared[i, j] = shared[j, i] = True


def grouping(similarity):
    """Similarity gap of the shared-core pairs, their TFs whose nearest class is the partner,
    and the rank correlation with motif similarity over all pairs."""
    nearest = np.where(np.eye(12, dtype=bool), -np.inf, similarity).argmax(axis=1)
    return np.array([
        similarity[upper][shared[upper]].mean() - similarity[upper][~shared[upper]].mean(),
        sum(shared[k, nearest[k]] for k in np.flatnonzero(shared.any(axis=1))),
        spearmanr(similarity[upper], motif_similarity[upper])[0],
    ])


def report(name, similarity):
    """Print the three statistics with their permutation p-values and the family pairs' ranks."""
    observed = grouping(similarity)
    permutations = np.random.default_rng(1)  # its own stream: the draws below stay as they were
    null = np.array([grouping(similarity[np.ix_(p, p)])
                     for p in (permutations.permutation(12) for _ in range(2000))])
    p_values = (1 + (null >= observed).sum(axis=0)) / (1 + len(null))
    ranks = "; ".join(
        f"{TASK1_TFS[i]}-{TASK1_TFS[j]} {similarity[i, j]:+.2f} (rank "
        f"{int((similarity[upper] > similarity[i, j]).sum()) + 1} of 66)"
        for i, j in zip(*np.nonzero(np.triu(shared)), strict=True))
    print(f"{name}: family pairs minus the other pairs {observed[0]:+.2f} (p = {p_values[0]:.3f}); "
          f"nearest class is the partner {observed[1]:.0f} of 4 (chance {null[:, 1].mean():.2f}, "
          f"p = {p_values[1]:.3f}); Spearman with motif similarity {observed[2]:+.2f} "
          f"(p = {p_values[2]:.3f}); {ranks}")


similarity = E.info["class_similarity"]
report("channel responses", np.corrcoef(np.array(gains)))
report("DeepResolve class similarity", similarity)
closest = np.argsort(-similarity[upper])[:3]
print("DeepResolve's most similar classes: " + "; ".join(
    f"{TASK1_TFS[upper[0][i]]}-{TASK1_TFS[upper[1][i]]} {similarity[upper][i]:.2f} (test AUROC "
    f"{auroc[upper[0][i]]:.2f}, {auroc[upper[1][i]]:.2f})" for i in closest)
    + f"; vs label correlation: {E.label_agreement(y[test]):.2f}")
ax = E.plot_class_similarity()
ax.figure.savefig(OUTPUT / "deepresolve_class_similarity.png", dpi=120)
plt.close(ax.figure)

# %%
# Class similarity where the labels co-occur. DeepResolve's claim (Liu, Barr & Gifford 2019,
# their figure 5) is about classes that are bound together: a network trained on co-occurring
# labels shares features between them, and the class similarity should follow the correlation
# of the labels. ``make_cooccurring_motif_task`` plants the 12 task-1 motifs in six fixed pairs
# (Arid3a-CEBPB, FOSL1-Gabpa, MAFK-MAX, MEF2A-NFYB, SP1-SRF, STAT1-YY1; the two shared-core
# pairs of task 1 fall in different modules): one to three pairs are active per sequence, and an
# active pair plants both motifs with probability 0.8, else one of them. Partners' labels then
# correlate at 0.85, the others' at -0.1.
#
# Two statistics, each with a Mantel-type p-value that relabels the classes (the same random
# permutation of the rows and columns of the class similarity, the label correlation kept):
# how many classes have their partner as nearest class, and the Spearman correlation between
# class similarity and label correlation over the 66 pairs of classes.


def mantel(similarity, reference, statistic, n_permutations=5000, seed=1):
    """Observed statistic(similarity, reference), and its one-sided permutation p-value."""
    observed = statistic(similarity, reference)
    permutations = np.random.default_rng(seed)
    null = np.array([
        statistic(similarity[np.ix_(p, p)], reference)
        for p in (permutations.permutation(len(similarity)) for _ in range(n_permutations))
    ])
    return observed, (1 + np.sum(null >= observed)) / (1 + n_permutations), null.mean()


def label_spearman(similarity, label_correlation):
    return spearmanr(similarity[upper], label_correlation[upper])[0]


def partner_nearest(similarity, label_correlation):
    """Classes whose most similar class is their most correlated label (their partner)."""
    off = ~np.eye(len(similarity), dtype=bool)
    nearest = np.where(off, similarity, -np.inf).argmax(axis=1)
    return np.sum(nearest == np.where(off, label_correlation, -np.inf).argmax(axis=1))


X_co, y_co, _ = make_cooccurring_motif_task(n_samples=8000, cooccurrence=0.8, random_state=0)
train_co, valid_co, test_co = np.split(np.arange(len(X_co)), [5600, 6400])
net_co = ExpActivationCNNClassifier(architecture="cnn_deep", max_epochs=8,
                                    scoring="average_precision", random_state=0, verbose=0)
net_co.fit(X_co[train_co], y_co[train_co], validation_data=(X_co[valid_co], y_co[valid_co]))
auroc_co = roc_auc_score(y_co[test_co], net_co.predict_proba(X_co[test_co]), average="macro")
E_co = DeepResolve(net_co, n_restarts=10, n_jobs=2, random_state=0).fit().explain()
E_co.output_names = np.array(TASK1_TFS)  # the modules' TFs, in label-column order
label_correlation = np.corrcoef(y_co[train_co].T)
similarity_co = E_co.info["class_similarity"]
nearest, nearest_p, nearest_chance = mantel(similarity_co, label_correlation, partner_nearest)
rho, rho_p, _ = mantel(similarity_co, label_correlation, label_spearman)
partners = np.arange(12) ^ 1
print(f"co-occurring labels (CNN-deep, {len(net_co.history)} epochs, test AUROC "
      f"{auroc_co:.3f}): nearest class is the partner for {nearest} of 12 classes (chance "
      f"{nearest_chance:.2f}, p = {nearest_p:.4f}); Spearman(class similarity, label "
      f"correlation) {rho:+.2f} (Mantel p = {rho_p:.4f}); partners' similarity "
      f"{similarity_co[np.arange(12), partners].mean():+.2f}, other pairs "
      f"{similarity_co[upper][partners[upper[0]] != upper[1]].mean():+.2f} "
      f"[{time.perf_counter() - START:.0f} s]")

# The contrast: task 1, whose labels are independent (all 66 label correlations within 0.05 of
# zero; the nearest "partner" is noise).
label_correlation_1 = np.corrcoef(y[train].T)
rho_1, rho_1_p, _ = mantel(similarity, label_correlation_1, label_spearman)
nearest_1, nearest_1_p, _ = mantel(similarity, label_correlation_1, partner_nearest)
print(f"independent labels (task 1): largest |label correlation| "
      f"{np.abs(label_correlation_1[upper]).max():.2f}; Spearman(class similarity, label "
      f"correlation) {rho_1:+.2f} (Mantel p = {rho_1_p:.4f}); nearest class is the most "
      f"correlated label for {nearest_1} of 12 (p = {nearest_1_p:.4f})")
ax = E_co.plot_class_similarity()
ax.figure.savefig(OUTPUT / "deepresolve_class_similarity_cooccurring.png", dpi=120)
plt.close(ax.figure)

# %%
# Activation maximization: the relaxed one-hot input that maximises each class logit, scanned
# with that TF's PWM (both strands). Its best log-odds score, as a fraction of the PWM's
# maximum, against the best score of the same PWM in the other classes' inputs.
maximizer = ActivationMaximization(net, relaxation="clamp", n_restarts=2, max_iter=300,
                                   n_jobs=2, random_state=0).fit()
inputs = maximizer.explain().values


def best_pwm_score(pwm, x):
    """Best log-odds match (fraction of the maximum) of a PWM in one-hot x, both strands."""
    log_odds = np.log2(np.clip(pwm, 1e-3, 1) / 0.25)
    sequence = np.eye(4)[x.argmax(axis=0)].T
    scores = [
        max(np.sum(w * sequence[:, s:s + w.shape[1]]) for s in range(x.shape[1] - w.shape[1]))
        for w in (log_odds, log_odds[::-1, ::-1])
    ]
    return max(scores) / log_odds.max(axis=0).sum(), int(np.argmax(scores))


scores = np.array([[best_pwm_score(JASPAR[tf], x)[0] for x in inputs] for tf in TASK1_TFS])
own, others = np.diag(scores), np.where(np.eye(12, dtype=bool), np.nan, scores)
print(pd.DataFrame({"own class": own, "best other class": np.nanmax(others, axis=1)},
                   index=TASK1_TFS).round(2).T.to_markdown())
print(f"{int(np.sum(own >= np.nanmax(others, axis=1)))} of 12 TFs match their own class's "
      f"maximised input best [{time.perf_counter() - START:.0f} s]")

fig, axes = plt.subplots(3, 3, figsize=(11, 5))
for row, tf in zip(axes, ("CEBPB", "MAX", "SRF"), strict=True):
    k = TASK1_TFS.index(tf)
    width = JASPAR[tf].shape[1]
    log_odds = np.log2(np.clip(JASPAR[tf], 1e-3, 1) / 0.25)
    window = max(range(inputs.shape[2] - width),
                 key=lambda s: max(np.sum(log_odds * inputs[k][:, s:s + width]),
                                   np.sum(log_odds[::-1, ::-1] * inputs[k][:, s:s + width])))
    plot_logo(JASPAR[tf], ax=row[0], title=f"{tf} (JASPAR)")
    plot_logo(inputs[k][:, window:window + width], ax=row[1], title="maximised input")
    hits = filter_matches[filter_matches.target_name.str.upper() == tf.upper()]
    if len(hits):
        best = hits.sort_values("e_value").iloc[0]
        plot_logo(ppms[int(best.query.removeprefix("filter"))], ax=row[2],
                  title=f"{best.query} (TomTom E = {best.e_value:.0e})")
    else:
        row[2].set_axis_off()
fig.tight_layout()
fig.savefig(OUTPUT / "deepresolve_logos.png", dpi=120)
plt.close(fig)

# %%
# A planted spacing rule. Sequences of 120 nt hold an NFY box (NFYB) and, 16 to 70 nt
# downstream, an SP1 site; the label is 1 when cos(2 pi d / 10.5) > 0 for their distance d
# (same face of the helix), 0 otherwise or when one of the two is missing.
PERIOD, LENGTH, SPACINGS = 10.5, 120, np.arange(16, 71)
NFY, SP1 = JASPAR["NFYB"], JASPAR["SP1"]


def spacing_task(n):
    X = random_dna(n, LENGTH)
    kind = rng.choice(3, n, p=[0.6, 0.2, 0.2])  # both motifs, NFY only, SP1 only
    distance = rng.choice(SPACINGS, n)
    start = rng.integers(0, LENGTH - SPACINGS[-1] - SP1.shape[1] + 1, n)
    nfy, sp1 = sample_instances(NFY, n), sample_instances(SP1, n)
    for i in range(n):
        if kind[i] != 2:
            X[i, :, start[i]:start[i] + NFY.shape[1]] = nfy[i]
        if kind[i] != 1:
            X[i, :, start[i] + distance[i]:start[i] + distance[i] + SP1.shape[1]] = sp1[i]
    return X, ((kind == 0) & (np.cos(2 * np.pi * distance / PERIOD) > 0)).astype(int)


X_s, y_s = spacing_task(8000)
spacing_net = ExpActivationCNNClassifier(
    architecture=[{"filters": 8, "kernel_size": 15, "dropout": 0.1, "pool": 2},
                  {"filters": 16, "kernel_size": 31, "dropout": 0.1, "pool": LENGTH // 2}],
    module__dense_units=32, lr=3e-3, max_epochs=20, patience=4, random_state=0, verbose=0,
).fit(X_s, y_s)
X_t, y_t = spacing_task(2000)
print(f"spacing task: {len(spacing_net.history)} epochs, test AUROC "
      f"{roc_auc_score(y_t, spacing_net.predict_proba(X_t)[:, 1]):.3f}")

# Effect curve: the NFY box at position 20 of 300 random sequences, the SP1 site inserted at
# each distance; the mean change of the predicted probability of class 1.
curve = effect_curve(spacing_net, random_dna(300, LENGTH), SP1, anchor=NFY, anchor_position=20,
                     offsets=SPACINGS, target=1, random_state=0)
result = periodicity(curve.effects, random_state=0)
in_phase = np.cos(2 * np.pi * curve.offsets / PERIOD) > 0
print(f"effect curve: mean effect {curve.effects[in_phase].mean():+.2f} at in-phase "
      f"distances, {curve.effects[~in_phase].mean():+.2f} out of phase; Fourier analysis of "
      f"its first difference: period {result.period:.2f} nt (planted {PERIOD}), strength "
      f"{result.strength:.1f}x background, p = {result.p_value:.3f}")
fig, (ax_curve, ax_power) = plt.subplots(1, 2, figsize=(11, 3.5))
curve.plot(ax=ax_curve)
ax_curve.set_xlabel("SP1 start - NFY start (nt)")
result.plot(ax=ax_power)
fig.tight_layout()
fig.savefig(OUTPUT / "deepresolve_effect_curve.png", dpi=120)
plt.close(fig)
print(f"saved figures to {OUTPUT} [{time.perf_counter() - START:.0f} s]")
