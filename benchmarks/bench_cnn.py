"""Training cost of ExpActivationCNNClassifier: seconds per epoch and peak memory.

Trains each architecture for a few epochs on the paper's task 1 (200 nt, 12 labels) and
prints a markdown table (also saved to benchmarks/results/bench_cnn.md). Run by hand:

    python benchmarks/bench_cnn.py [--n-train 21000] [--epochs 3] [--threads 1]
"""

import argparse
import resource
import time
from pathlib import Path

import torch

from skexplain.datasets import make_motif_dataset
from skexplain.models import ARCHITECTURES, ExpActivationCNNClassifier

RESULTS = Path(__file__).resolve().parent / "results" / "bench_cnn.md"


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=21_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads; 1 is steadier on a busy machine")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    X, y, _ = make_motif_dataset(task=1, n_samples=args.n_train + 3000, random_state=0)
    X_valid, y_valid = X[args.n_train:], y[args.n_train:]
    X, y = X[:args.n_train], y[:args.n_train]
    rows = [
        f"task 1, {args.n_train} training sequences of 200 nt, batch 100, "
        f"{torch.get_num_threads()} torch threads",
        "",
        "| architecture | first activation | parameters | s / epoch | sequences / s "
        "| peak RSS so far (MiB) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for architecture in ARCHITECTURES:
        for activation in ("exponential", "relu"):
            net = ExpActivationCNNClassifier(
                architecture=architecture, first_activation=activation, max_epochs=args.epochs,
                scoring="average_precision", random_state=0, verbose=0,
            )
            start = time.perf_counter()
            net.fit(X, y, validation_data=(X_valid, y_valid))
            per_epoch = (time.perf_counter() - start) / len(net.history)
            n_parameters = sum(p.numel() for p in net.module_.parameters())
            rows.append(
                f"| {architecture} | {activation} | {n_parameters:,} | {per_epoch:.1f} "
                f"| {args.n_train / per_epoch:,.0f} | {peak_rss_mib():,.0f} |"
            )
            print(rows[-1], flush=True)
    RESULTS.write_text("\n".join(rows) + "\n")
    print("\n".join(rows))
    print(f"saved {RESULTS}")


if __name__ == "__main__":
    main()
