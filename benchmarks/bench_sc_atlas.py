"""Wall time and peak memory of ``rank_genes_explained`` per method, fit included.

Two data sets:

- ``pbmc``: scanpy's bundled pbmc68k_reduced (700 cells, 765 log-normalised genes of
  ``.raw``), the default call (SensX) with an unfitted MLP (64 hidden units, alpha=1): the
  "30 s" figure of the docstring.
- ``atlas``: 20,000 cells x 2,000 genes: pbmc68k_reduced's cells drawn with replacement,
  their non-zero values jittered (Gaussian noise, sd 0.2, clipped at 0), and 1,235
  uninformative genes appended (10 % non-zero, Gamma(2, 0.5) values, independent of the cell
  type); sparse CSR float32 in ``.X``. Default settings of ``rank_genes_explained`` (a 30 %
  held-out split, ``max_cells_per_group="auto"``) with an unfitted MLP (64 hidden units,
  alpha=1, early stopping).

Each (data set, method) runs in its own subprocess; peak memory is that process's maximum
resident set size (``resource.getrusage``), shown with the resident size after building the
data (before the call). Writes ``benchmarks/results/sc_atlas.md``.

Usage::

    python benchmarks/bench_sc_atlas.py                      # everything (minutes)
    python benchmarks/bench_sc_atlas.py --methods occlusion  # one method
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "sc_atlas.md"
METHODS = ["sensx", "occlusion", "kernel_shap", "lime"]
FIT_SECONDS = []


def _rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def make_atlas(n_cells=20_000, n_genes=2_000, seed=0):
    """pbmc68k_reduced resampled with noise and padded with uninformative genes (AnnData)."""
    import anndata
    import scanpy as sc
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    pbmc = sc.datasets.pbmc68k_reduced()
    rows = rng.integers(0, pbmc.n_obs, n_cells)
    X = sp.csr_matrix(pbmc.raw.X, dtype=np.float32)[rows]
    X.data = np.clip(X.data + rng.normal(0, 0.2, X.nnz), 0, None).astype(np.float32)
    n_pad = n_genes - pbmc.raw.n_vars
    pad = sp.random(n_cells, n_pad, density=0.1, format="csr", dtype=np.float32, rng=rng,
                    data_rvs=lambda k: rng.gamma(2.0, 0.5, k))
    adata = anndata.AnnData(sp.hstack([X, pad], format="csr"))
    adata.var_names = list(pbmc.raw.var_names) + [f"noise{i}" for i in range(n_pad)]
    adata.obs_names = [f"cell{i}" for i in range(n_cells)]
    adata.obs["bulk_labels"] = pbmc.obs["bulk_labels"].to_numpy()[rows]
    return adata


def worker(dataset, method):
    """Run one call in this process; print a JSON line of measurements."""
    import scanpy as sc
    from sklearn.neural_network import MLPClassifier

    from skexplain.sc import rank_genes_explained

    class TimedMLP(MLPClassifier):
        def fit(self, X, y):
            start = time.perf_counter()
            super().fit(X, y)
            FIT_SECONDS.append(time.perf_counter() - start)
            return self

    if dataset == "pbmc":
        adata = sc.datasets.pbmc68k_reduced()
        estimator = TimedMLP((64,), alpha=1.0, max_iter=1000, random_state=0)
    else:
        adata = make_atlas()
        estimator = TimedMLP((64,), alpha=1.0, early_stopping=True, random_state=0)
    before = _current_rss_mib()
    start = time.perf_counter()
    rank_genes_explained(adata, "bulk_labels", estimator, method=method, random_state=0)
    wall = time.perf_counter() - start
    result = adata.uns["rank_genes_explained"]
    top20 = {g: set(result["names"][g][:20]) for g in ("CD19+ B", "CD56+ NK")}
    print(json.dumps({
        "dataset": dataset, "method": method, "cells": adata.n_obs, "genes": adata.n_vars
        if dataset == "atlas" else adata.raw.n_vars,
        "explained": int(result["params"]["n_cells"].sum()),
        "per_group": int(result["params"]["max_cells_per_group"]),
        "fit_s": FIT_SECONDS[0], "wall_s": wall, "rss_before_mib": before,
        "peak_rss_mib": _rss_mib(),
        "b_markers": len(top20["CD19+ B"] & {"MS4A1", "CD79A", "CD79B"}),
        "nk_markers": len(top20["CD56+ NK"] & {"GNLY", "NKG7", "GZMB", "PRF1"}),
    }))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--datasets", nargs="+", default=["pbmc", "atlas"])
    parser.add_argument("--worker", nargs=2, metavar=("DATASET", "METHOD"))
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    rows = []
    for dataset in args.datasets:
        for method in args.methods if dataset == "atlas" else ["sensx"]:
            out = subprocess.run([sys.executable, __file__, "--worker", dataset, method],
                                 capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
            write_table(rows)  # after every row: a long run keeps what it measured
    print(RESULTS.read_text())
    print(f"wrote {RESULTS}")


def write_table(rows):
    load = os.getloadavg()
    lines = [
        "# rank_genes_explained: wall time and peak memory per method (fit included)",
        "",
        f"Machine: {os.cpu_count()} CPU cores; load average {load[0]:.1f} / {load[1]:.1f} / "
        f"{load[2]:.1f} at the end (PRELIMINARY when loaded: rerun on an idle machine with "
        "`python benchmarks/bench_sc_atlas.py`).",
        "Default settings: 30 % of each group held out and explained (the rest fits the MLP),"
        " `max_cells_per_group=\"auto\"` (20 cells per group up to 1,000 genes, fewer as the "
        "square of the number of genes beyond), SensX with 20 walks and 200 profile samples,"
        " KernelSHAP with 10 background cells and 2,000 coalitions, LIME with 5,000 samples.",
        "Markers: of B (MS4A1, CD79A, CD79B) and NK (GNLY, NKG7, GZMB, PRF1) in the top 20.",
        "",
        "| data | cells x genes | method | explained cells (per group) | fit (s) | "
        "wall, fit included (s) | RSS before (MiB) | peak RSS (MiB) | B | NK |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['cells']} x {r['genes']} | {r['method']} | "
            f"{r['explained']} ({r['per_group']}) | {r['fit_s']:.1f} | {r['wall_s']:.1f} | "
            f"{r['rss_before_mib']:.0f} | {r['peak_rss_mib']:.0f} | {r['b_markers']}/3 | "
            f"{r['nk_markers']}/4 |")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
