"""
Attention rollout against gradients, ISM and SensX: transformers on DNA and on images
=====================================================================================

Attention maps say where a transformer moves information; do they point at the evidence?
Two tasks with planted ground truth answer that:

1. Motif task 3 of Koo & Ploenzke (2021) (:func:`skexplain.datasets.make_motif_dataset`):
   a :class:`~skexplain.models.TransformerSequenceClassifier` (a conv stem turning each
   window of 4 bases into a token, two encoder layers, a class-token head) is trained, and
   the positions its attention rollout (Abnar & Zuidema 2020) and gradient rollout
   (Chefer, Gur & Wolf 2021) rank first are scored against the planted motifs, next to
   saliency and in silico mutagenesis (ISM) on the same model.
2. Noise images of 3 x 224 x 224 with one striped 16 x 16 patch whose orientation is the
   label (:func:`skexplain.datasets.make_planted_patch_images`): a small
   :class:`~skexplain.models.VisionTransformer` is trained, and attention rollout and SensX
   with one group per 16 x 16 patch are asked which patch decides.
"""

# %%
import time
import tracemalloc
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from skorch import NeuralNetClassifier  # noqa: E402
from skorch.callbacks import GradientNormClipping  # noqa: E402

from skexplain.datasets import make_motif_dataset, make_planted_patch_images  # noqa: E402
from skexplain.explainers import (  # noqa: E402
    AttentionExplainer,
    InSilicoMutagenesis,
    Saliency,
    SensXExplainer,
    reduce_sequence_attributions,
)
from skexplain.metrics import localization_auroc  # noqa: E402
from skexplain.models import TransformerSequenceClassifier, VisionTransformer  # noqa: E402

torch.set_num_threads(1)
OUTPUT = Path(__file__).resolve().parent / "output"
OUTPUT.mkdir(exist_ok=True)
N_EXPLAINED = 100

# %%
# Task 3 and the transformer
# --------------------------
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
    "attention rollout": (AttentionExplainer(net, method="rollout"), None),
    "gradient rollout": (AttentionExplainer(net, method="gradient_rollout"), None),
    "raw attention (last layer)": (AttentionExplainer(net, method="raw"), None),
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
    E = AttentionExplainer(vit, method=method, output="probabilities").fit(
        test_images[:2]).explain(test_images)
    image_maps[method] = E.info["token_relevance"].reshape(len(test_images), -1)
    hit, auroc = patch_scores(image_maps[method], planted)
    image_rows.append({"method": f"attention {method}", "images": len(test_images),
                       "hit": hit, "patch AUROC": auroc})

patch_of_pixel = np.arange(196).reshape(14, 14).repeat(16, 0).repeat(16, 1)
groups = np.broadcast_to(patch_of_pixel, (3, 224, 224))
sensx = SensXExplainer(LogOdds(vit.module_).eval(), n_walks=10, n_profile_samples=50,
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
maxrss = __import__("resource").getrusage(__import__("resource").RUSAGE_SELF).ru_maxrss
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
