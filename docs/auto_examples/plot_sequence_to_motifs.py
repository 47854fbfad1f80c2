"""
From a trained CNN to seqlets, motifs and variant effects (IRF1 ChIP-seq)
=========================================================================

After an attribution map, a genomics analysis goes on in the same few steps: call the
stretches of high attribution (*seqlets*), name the motif each one matches, discover the
motifs shared across the data set, and score variants. This example runs them on real data,
the IRF1 ChIP-seq task of Koo & Ploenzke (2021) that ships with skexplain (400-nt peaks
against background sequences):

1. train an exponential-activation CNN for a few epochs;
2. explain the positive test sequences with DeepLiftShap (shuffled references);
3. call seqlets of both signs with the recursive seqlet caller (tangermeme's algorithm) and
   name them with TomTom against the bundled JASPAR database;
4. discover motifs with tfmodisco-lite (skipped when ``modisco-lite`` is not installed);
5. score substitutions inside the strongest IRF seqlet, an insertion and a deletion with
   :func:`skexplain.sequences.variant_effects`.
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
from sklearn.metrics import roc_auc_score  # noqa: E402

from skexplain.datasets import load_chipseq  # noqa: E402
from skexplain.explainers import DeepLiftShap, InSilicoMutagenesis, Saliency  # noqa: E402
from skexplain.models import ExpActivationCNNClassifier  # noqa: E402
from skexplain.motifs import annotate_seqlets, plot_logo, recursive_seqlets  # noqa: E402
from skexplain.plotting import plot_sequence_attributions  # noqa: E402
from skexplain.sequences import variant_effects  # noqa: E402

torch.set_num_threads(1)  # small CNN: a second thread costs more than it saves
OUTPUT = Path(__file__).resolve().parent / "output"
OUTPUT.mkdir(exist_ok=True)
EPOCHS = 8
start_time = time.perf_counter()

# %%
# Data and model
# --------------
# IRF1 ChIP-seq: 2,724 / 389 / 779 sequences of 400 nt (train / validation / test), about
# half from IRF1 peaks. CNN-dist with an exponential first layer (Koo & Ploenzke 2021),
# trained a few epochs with early stopping on the validation AUROC.
data = load_chipseq("IRF1")
net = ExpActivationCNNClassifier(architecture="cnn_dist", first_activation="exponential",
                                 max_epochs=EPOCHS, random_state=0, verbose=0)
net.fit(data.X_train, data.y_train, validation_data=(data.X_valid, data.y_valid))
auroc = roc_auc_score(data.y_test, net.predict_proba(data.X_test)[:, 1])
print(f"IRF1: {len(net.history)} epochs, test AUROC {auroc:.3f}")

# %%
# Attributions
# ------------
# DeepLiftShap (rescale rule) of the positive-class logit against 10 shuffled copies of
# each sequence, on the positive test sequences, reduced to one score per position
# (attribution of the observed base).
X_pos = data.X_test[data.y_test == 1]
explainer = DeepLiftShap(net, baselines="shuffle", shuffle="mononucleotide", n_baselines=10,
                         random_state=0).fit(data.X_train[:100])
E = explainer.explain(X_pos, target=1)
scores = E.reduce("input_times").values  # (n, 400)
print(f"DeepLiftShap of {len(X_pos)} sequences: values {E.values.shape}, {E.units}")

# %%
# Seqlets of both signs
# ---------------------
# The recursive caller finds spans whose summed attribution is improbably large under a
# null built from the whole map; negative seqlets (bases that lower the score) are called
# on the negated map, without overlapping the positive ones.
seqlets = recursive_seqlets(scores, sign="both")
print(seqlets.groupby("sign").size().rename("seqlets").to_string())
print(seqlets.head(8).to_string(index=False))

# %%
# Which motifs are they?
# ----------------------
# TomTom against the bundled JASPAR CORE vertebrates, on the 100 strongest seqlets of each
# sign; a name counts at q < 0.05.
strongest = pd.concat([
    seqlets[seqlets.sign == sign].sort_values("attribution", key=np.abs, ascending=False)
    .head(100) for sign in ("positive", "negative")
], ignore_index=True)
annotated = annotate_seqlets(strongest, X_pos)
annotated["named"] = np.where(annotated.motif_q_value < 0.05, annotated.motif_name, "(none)")
for sign, group in annotated.groupby("sign", sort=False):
    print(f"\n{sign} seqlets, most frequent TomTom names (q < 0.05):")
    print(group["named"].value_counts().head(8).to_string())
top_positive = annotated[annotated.sign == "positive"]
irf = (top_positive.motif_q_value < 0.05) & top_positive.motif_name.str.upper().str.startswith(
    "IRF")
print(f"\n{irf.mean():.0%} of the 100 strongest positive seqlets are IRF-family motifs")

# %%
# The strongest IRF seqlet in its sequence, with the seqlets of that sequence shaded
# (orange: positive, blue: negative).
best = top_positive[irf].iloc[0]
i = int(best.example_idx)
fig, axes = plt.subplots(2, 1, figsize=(12, 4.5))
plot_sequence_attributions(E, index=i, ax=axes[0], title=f"positive test sequence {i}")
for row in seqlets[seqlets.example_idx == i].itertuples():
    axes[0].axvspan(row.start - 0.5, row.end - 0.5, alpha=0.2,
                    color="tab:orange" if row.sign == "positive" else "tab:blue", lw=0)
lo, hi = max(int(best.start) - 10, 0), min(int(best.end) + 10, X_pos.shape[2])
plot_sequence_attributions(E, index=i, ax=axes[1], start=lo, end=hi,
                           title=f"seqlet [{best.start}, {best.end}): TomTom {best.motif_name} "
                                 f"(q = {best.motif_q_value:.1e})")
fig.tight_layout()
fig.savefig(OUTPUT / "irf1_seqlets.png", dpi=90)

# %%
# Motif discovery with tfmodisco-lite
# -----------------------------------
# tfmodisco-lite clusters seqlets by their *hypothetical* contributions (a score for every
# base at every position). Here they are the mean-centred input gradients (gradient x
# (one-hot - 1/4) style, Majdandzic et al. 2023), which cost one backward pass;
# ``DeepLiftShap(net, hypothetical=True)`` gives DeepSHAP's (one pass per reference) and can
# be passed the same way.
# :func:`skexplain.motifs.discover_motifs` converts the (n, 4, L) layout to tfmodisco-lite's
# (n, L, 4), runs it unchanged, trims its patterns and names them with TomTom.
try:
    import modiscolite  # noqa: F401
except ImportError:
    print("modisco-lite is not installed (pip install 'skexplain[genomics]'): skipped.")
    motifs = None
else:
    from skexplain.motifs import discover_motifs

    X_modisco = np.concatenate([data.X_valid, data.X_test])
    hyp = Saliency(net, gradient_correction=True).fit(X_modisco[:1]).explain(X_modisco,
                                                                              target=1).values
    motifs = discover_motifs(X_modisco, hyp, n_leiden_runs=10, min_metacluster_size=50)
    columns = ["pattern", "n_seqlets", "width", "contribution", "motif_name", "motif_q_value",
               "motif_matches"]
    print(motifs.table[columns].to_string(index=False) if len(motifs) else "no motif found")
    if len(motifs):
        fig = motifs.plot(n_motifs=6)
        fig.savefig(OUTPUT / "irf1_modisco_motifs.png", dpi=90)

# %%
# Variant effects
# ---------------
# Every substitution inside the strongest IRF seqlet, plus an insertion of 4 bases in its
# middle and the deletion of its 4 central bases, scored as the change of the logit
# (indels keep the length: an insertion drops the last bases, a deletion pads with N).
sequence = "".join("ACGT"[b] for b in X_pos[i].argmax(axis=0))
s, e = int(best.start), int(best.end)
rows = [{"sequence": i, "position": p, "ref": sequence[p], "alt": alt}
        for p in range(s, e) for alt in "ACGT" if alt != sequence[p]]
middle = (s + e) // 2
rows.append({"sequence": i, "position": middle, "ref": "", "alt": "GCGC"})
rows.append({"sequence": i, "position": middle - 2, "ref": sequence[middle - 2:middle + 2],
             "alt": ""})
effects = variant_effects(net, X_pos, pd.DataFrame(rows), target=1)
print(effects.sort_values("effect").head(8).to_string(index=False))
print(effects[effects.kind != "SNV"].to_string(index=False))

# A substitution's effect is the ISM value of that base (no centring).
ism = InSilicoMutagenesis(net, reduction=None, start=s, end=e).fit(X_pos[:1]).explain(
    X_pos[i:i + 1], target=1).values[0]
snv = effects[effects.kind == "SNV"]
matrix = np.zeros((4, e - s))  # (base, position in the seqlet)
for row in snv.itertuples():
    matrix["ACGT".index(row.alt), row.position - s] = row.effect
print(f"largest |variant effect - ISM| over the {len(snv)} substitutions: "
      f"{np.abs(matrix - ism[:, s:e]).max():.1e}")

fig, axes = plt.subplots(2, 1, figsize=(8, 4), sharex=True)
plot_sequence_attributions(E, index=i, ax=axes[0], start=s, end=e,
                           title=f"DeepLiftShap of seqlet [{s}, {e}) ({best.motif_name})")
plot_logo(matrix, ax=axes[1], kind="weight",
          title="effect of each substitution on the logit (letter: the new base)")
axes[1].xaxis.set_major_formatter(lambda x, _: f"{x + s:.0f}")
fig.tight_layout()
fig.savefig(OUTPUT / "irf1_variant_effects.png", dpi=90)
print(f"saved figures to {OUTPUT}; {time.perf_counter() - start_time:.0f} s in all")
