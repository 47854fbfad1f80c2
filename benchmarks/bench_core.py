"""Old code against new: has the one-core redesign made any explainer slower?

Times ``explain`` (after one warm-up call, the best of 3 calls) of every method family on
fixed workloads with two source trees of
skexplain: ``--old`` (a checkout of the code before the redesign, e.g. made with
``git worktree add /tmp/skexplain-old 430dd2f``) and the current one. Each measurement runs
in a fresh process with one torch thread; old and new runs are interleaved, ``--repeats``
times, and the table gives the median seconds of each and their ratio. Written to
``benchmarks/results/core.md``.

    python benchmarks/bench_core.py --old /tmp/skexplain-old
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (label, class name now, class name before the redesign, constructor keywords, model kind)
WORKLOADS = [
    ("SensX, MLP D=50, 20 rows", "SensX", "SensXExplainer", {"random_state": 0}, "mlp"),
    ("KernelShap, MLP D=50, 10 rows", "KernelShap", "KernelShapExplainer",
     {"n_samples": 500, "random_state": 0}, "mlp"),
    ("Lime, MLP D=50, 10 rows", "Lime", "LimeExplainer",
     {"n_samples": 500, "random_state": 0}, "mlp"),
    ("Occlusion, CNN 200 nt, 16 seqs", "Occlusion", "Occlusion", {"window": 5}, "cnn"),
    ("ISM, CNN 200 nt, 16 seqs", "InSilicoMutagenesis", "InSilicoMutagenesis", {}, "cnn"),
    ("Saliency, CNN 200 nt, 64 seqs", "Saliency", "Saliency", {}, "cnn"),
    ("IntegratedGradients, CNN 200 nt, 16 seqs", "IntegratedGradients",
     "IntegratedGradients", {}, "cnn"),
    ("DeepLiftShap, CNN 200 nt, 16 seqs", "DeepLiftShap", "DeepLiftShap",
     {"n_baselines": 10, "random_state": 0}, "cnn"),
    ("GradCAM, CNN 200 nt, 64 seqs", "GradCAM", "GradCAM", {"layer": "conv2"}, "cnn"),
    ("IntegratedGradients, CNN-dist 1,000 nt, 8 seqs", "IntegratedGradients",
     "IntegratedGradients", {}, "cnn_dist"),
    ("DeepLiftShap, CNN-dist 1,000 nt, 8 seqs", "DeepLiftShap", "DeepLiftShap",
     {"n_baselines": 20, "random_state": 0}, "cnn_dist"),
    ("ISM, CNN-dist 1,000 nt, 2 seqs", "InSilicoMutagenesis", "InSilicoMutagenesis", {},
     "cnn_dist"),
    ("IntegratedGradients (batch 128), CNN-dist 1,000 nt, 8 seqs", "IntegratedGradients",
     "IntegratedGradients", {"batch_size": 128}, "cnn_dist"),
]


def _cnn():
    import torch
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv1d(4, 32, 11, padding=5), nn.ReLU(), nn.MaxPool1d(4),
        nn.Conv1d(32, 32, 5, padding=2), nn.ReLU(), nn.Flatten(), nn.Linear(32 * 50, 3),
    ).eval()


def _worker(index):
    """Time one workload in this process (the tree on PYTHONPATH is the one measured)."""
    import numpy as np
    import torch

    torch.set_num_threads(1)
    import skexplain.explainers as ex

    label, new, old, kwargs, kind = WORKLOADS[index]
    cls = getattr(ex, new, None) or getattr(ex, old)
    rng = np.random.default_rng(0)
    if kind == "mlp":
        from sklearn.neural_network import MLPClassifier

        X = rng.standard_normal((300, 50))
        y = (X[:, 0] * X[:, 1] > 0).astype(int)
        model = MLPClassifier((50,), max_iter=300, random_state=0).fit(X, y)
        n = 20 if new == "SensX" else 10
        reference, explained = X, X[:n]
    elif kind == "cnn_dist":
        import torch

        from skexplain.models import ExpActivationCNN

        torch.manual_seed(0)
        model = ExpActivationCNN(input_length=1000, architecture="cnn_dist").eval()
        X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (32, 1000))].transpose(0, 2, 1)
        reference, explained = X, X[:2 if new == "InSilicoMutagenesis" else 8]
    else:
        model = _cnn()
        if new == "GradCAM":
            model = torch.nn.Sequential()
            cnn = _cnn()
            for name, layer in zip(["conv1", "relu1", "pool", "conv2", "relu2", "flat", "fc"],
                                   cnn, strict=True):
                model.add_module(name, layer)
        X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (64, 200))].transpose(0, 2, 1)
        n = 64 if new in ("Saliency", "GradCAM") else 16
        reference, explained = X, X[:n]
    explainer = cls(model, **kwargs).fit(reference)
    explainer.explain(explained[:2], target=0)  # warm-up: torch's and joblib's first calls
    times = []
    for _ in range(3):
        start = time.perf_counter()
        explainer.explain(explained, target=0)
        times.append(time.perf_counter() - start)
    return min(times)


def _measure(tree, index):
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, "-W", "ignore", __file__, "--worker", str(index)],
        env=env, capture_output=True, text=True, cwd=tree, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, help="source tree of the code before the redesign")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", help="run the workloads whose label contains this text")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(_worker(args.worker)))
        return
    rows = ["| workload | before (s) | now (s) | now / before |", "|---|---:|---:|---:|"]
    for index, (label, *_) in enumerate(WORKLOADS):
        if args.only and args.only not in label:
            continue
        times = {"old": [], "new": []}
        for _ in range(args.repeats):
            times["old"].append(_measure(args.old, index))
            times["new"].append(_measure(ROOT, index))
        old, new = statistics.median(times["old"]), statistics.median(times["new"])
        rows.append(f"| {label} | {old:.3f} | {new:.3f} | {new / old:.2f} |")
        print(rows[-1], flush=True)
    load = os.getloadavg()[0]
    text = "\n".join([
        "# Core redesign: explain time before and after", "",
        f"Median over {args.repeats} interleaved processes (each: one warm-up call, then the "
        "best of 3 explain calls), one torch thread; "
        f"load average {load:.2f} at the end.", "", *rows, ""])
    if not args.only:  # a partial run does not replace the table
        (ROOT / "benchmarks" / "results" / "core.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
