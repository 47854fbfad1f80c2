"""
Which training cells are responsible for one cell's call?
=========================================================

Example-based explanations answer with training examples instead of genes. We fit a
regularised logistic-regression cell-type classifier (PCA of the 765 log-normalised genes of
scanpy's bundled ``pbmc68k_reduced``, 10 annotated cell types) and, for one held-out cell,
list the training cells whose removal would most change its loss
(:class:`skexplain.explainers.InfluenceExplainer`, Koh & Liang 2017; positive = helpful) and
its nearest training cells with the deep k-NN credibility of the call
(:class:`skexplain.explainers.NearestNeighborExplainer`, Papernot & McDaniel 2018). The
influence of every training cell on that call is checked against actual leave-one-out refits.
"""

import copy
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scanpy as sc  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

from skexplain.explainers import InfluenceExplainer, NearestNeighborExplainer  # noqa: E402

OUTPUT = Path(__file__).resolve().parent / "output"
TOP = 5

# %%
# A cell-type classifier: 30 principal components of the log-normalised genes, then an L2
# logistic regression (sklearn minimises ``C * sum log-loss + 1/2 ||W||^2``).
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
influence = InfluenceExplainer(model, n_top=TOP).fit(X_train, y_train)
fit_seconds = time.perf_counter() - start
start = time.perf_counter()
E = influence.explain(X_test, predicted)
influence_seconds = (time.perf_counter() - start) / len(X_test)
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
knn = NearestNeighborExplainer(model, n_neighbors=10, metric="cosine").fit(X_train, y_train)
N = knn.explain(X_test)
knn_seconds = (time.perf_counter() - start) / len(X_test)
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
OUTPUT.mkdir(exist_ok=True)
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
print(f"saved {OUTPUT / 'influence_one_cell.png'}")
