"""SensX's overhead over the model's own forward passes, on tabular MLPs D-200-100-1.

For D = 100, 1,000 and 10,000 features a float32 torch MLP D-200-100-1 (random weights,
seed 0) is explained by :class:`skexplain.explainers.SensX` on a few N(0, 1) rows, at 4
walks and at the library's defaults. SensX evaluates ``n_deltas * n_profile_samples``
profile rows per instance plus ``n_walks * (D + 1)`` walk rows per sensitive instance; the
same number of rows, built outside the timed region (one random batch reused), is then
pushed through the model alone in calls of the same batch size,
under ``torch.no_grad``. The ratio SensX seconds / model seconds is the overhead (the aim
is <= 1.2). SensX runs with its default ``engine="auto"`` (walks through the first Linear
layer) and with ``engine="full"`` (whole forward passes). Runs are interleaved (SensX,
SensX full, model, ...), at least ``--repeats`` times and until ``--min-seconds`` have
passed for the setting (runs of a few milliseconds vary by 10-20 % from one to the next),
one torch thread; the medians are reported. Run from the repository root::

    python benchmarks/bench_sensx_overhead.py              # a few minutes on an idle core
    python benchmarks/bench_sensx_overhead.py --dims 100 1000 --repeats 3
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from skexplain._core.compute import resolve_batch_size
from skexplain.explainers import SensX
from skexplain.explainers._sensx import row_dtype

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "sensx_overhead.md"


def make_mlp(n_features):
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(n_features, 200), torch.nn.ReLU(),
        torch.nn.Linear(200, 100), torch.nn.ReLU(),
        torch.nn.Linear(100, 1),
    ).eval()


def sensx_run(explainer, X):
    start = time.perf_counter()
    E = explainer.explain(X)
    seconds = time.perf_counter() - start
    n_profile = len(X) * len(explainer.delta_grid_) * explainer.n_profile_samples \
        if explainer.delta == "auto" else 0
    n_sensitive = int((E.info["delta_star"] > 0).sum())
    n_rows = n_profile + n_sensitive * explainer.n_walks * (X.shape[1] + 1)
    batch_size = resolve_batch_size(explainer.batch_size, X.shape[1],
                                    itemsize=row_dtype(explainer.model_adapter_).itemsize)
    return seconds, n_rows, batch_size, E.info["engine"]


def model_run(model, n_rows, batch_size, n_features):
    rows = torch.randn(min(batch_size, n_rows), n_features)  # built outside the timed region
    calls = [batch_size] * (n_rows // batch_size) + ([n_rows % batch_size] if n_rows %
                                                      batch_size else [])
    with torch.no_grad():
        model(rows[:calls[0]])  # warm-up
        start = time.perf_counter()
        for size in calls:
            model(rows[:size])
        return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--n-explain", type=int, nargs="+", default=[8, 4, 1],
                        help="instances explained for each D (the last value repeats)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--min-seconds", type=float, default=3.0,
                        help="repeat each setting until this long has passed")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    defaults = SensX()
    settings = {"4 walks": {"n_walks": 4}, "defaults": {}}
    lines = []
    for index, n_features in enumerate(args.dims):
        n_explain = args.n_explain[min(index, len(args.n_explain) - 1)]
        rng = np.random.default_rng(0)
        X_fit = rng.normal(size=(200, n_features)).astype(np.float32)
        X = rng.normal(size=(n_explain, n_features)).astype(np.float32)
        model = make_mlp(n_features)
        for label, params in settings.items():
            auto = SensX(model, random_state=0, **params).fit(X_fit)
            full = SensX(model, random_state=0, engine="full", **params).fit(X_fit)
            sensx, whole, alone = [], [], []
            begin = time.perf_counter()
            while len(sensx) < args.repeats or time.perf_counter() - begin < args.min_seconds:
                seconds, n_rows, batch_size, engine = sensx_run(auto, X)
                sensx.append(seconds)
                whole.append(sensx_run(full, X)[0])
                alone.append(model_run(model, n_rows, batch_size, n_features))
            s, f, m = np.median(sensx), np.median(whole), np.median(alone)
            line = (f"| {n_features:,} | {label} | {n_explain} | {n_rows:,} | {batch_size} | "
                    f"{len(sensx)} | {s:.4f} ({engine}) | {f:.4f} | {m:.4f} | **{s / m:.2f}** | "
                    f"{f / m:.2f} | {s / n_rows * 1e6:.2f} | {m / n_rows * 1e6:.2f} |")
            print(line, flush=True)
            lines.append(line)
    load = os.getloadavg()
    command = " ".join(["python benchmarks/bench_sensx_overhead.py",
                        *(sys.argv[1:] if argv is None else argv)])
    header = [
        "# SensX overhead over the model's own forward passes (MLP D-200-100-1, float32)",
        "",
        f"`{command}` (interleaved repeats, at least "
        f"{args.repeats} and {args.min_seconds:g} s per setting, medians; one torch thread; "
        f"defaults n_walks={defaults.n_walks}, "
        f"n_profile_samples={defaults.n_profile_samples}, 20 deltas; load average at the "
        f"end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}).",
        "",
        "| D | setting | instances | rows evaluated | batch size | repeats | SensX s (engine) "
        "| SensX engine=\"full\" s | model alone s | ratio | ratio, full | SensX us/row "
        "| model us/row |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    text = "\n".join(header + lines) + "\n"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
