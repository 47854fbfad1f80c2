"""How SensX and KernelSHAP scale with the number of features D, up to 3 x 224 x 224.

Image-shaped inputs ``(3, s, s)`` go to a tiny CNN defined here (one 4 x 4 convolution with
stride 4 and 8 filters, ReLU, global average pooling, a linear layer to 2 logits; random
weights from a fixed seed: the cost of a forward pass does not depend on training), for
s = 6, 18, 58 and 224, i.e. D = 108, 972, 10,092 and 150,528 features. A single-cell-shaped
input of 20,000 genes goes to a small MLP (20,000 -> 64 -> 2). For each case one instance is
explained and the script reports:

- the model evaluations per instance (rows scored), from the documented formula and
  checked against a count of the rows the model actually received;
- seconds per instance (one explanation, after a warm-up call of the model): wall time
  and the process's CPU time, which a machine shared with other work distorts less;
- peak memory of the explanation: the peak of Python / numpy allocations during
  ``explain`` (``tracemalloc``; torch's own buffers are not traced) and the peak resident
  set size of the process (``ru_maxrss``), next to the size of one batch of perturbed rows
  (``batch_size * D`` float64 values), the bound the explainers keep to;
- the growth exponent of evaluations and CPU seconds with D between consecutive sizes.

SensX runs without feature groups with ``--n-walks`` (default 2) walks and a fixed
``delta`` (0.5, so no stability profile: its ``len(delta_grid) * n_profile_samples``
evaluations do not depend on D), and with feature groups (8 x 8 image patches, all three
channels together, 784 groups; 200 gene sets of 100 genes) with ``--group-walks`` (50)
walks. KernelSHAP (``n_samples="auto"``, ``--n-background`` sampled background rows) runs
where its estimated time, from the seconds per evaluation SensX measured at the same D, is
within ``--kernel-shap-limit`` seconds (600) and its regression design of
``n_coalitions x D`` float64 values within ``--max-design-gib`` (1 GiB); other sizes are
reported as skipped with the estimate.

Every case runs in its own process (so the peak RSS is that case's), with ``--threads``
(default 1) torch and BLAS threads. The table is printed and written to
``benchmarks/results/scale.md``.
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "scale.md"
IMAGE_SIDES = (6, 18, 58, 224)
PATCH = 8
N_GENES = 20_000
GENE_SET_SIZE = 100
DELTA = 0.5
NOTE = """### Reading the tables

Evaluations per instance follow the documented formulas exactly: `n_walks * (units + 1)`
for SensX, `1 + n_background * n_coalitions` for KernelSHAP, so for a fixed number of walks
they grow linearly in D (exponent 1.00). Time grows linearly too while fixed costs per model
call dominate; once every evaluation's own work, building a row of D values and running the
model on it, dominates, it grows faster (up to D**2 for a model whose cost is linear in D).
Feature groups cut the evaluations to the number of groups. Memory does not follow the
number of evaluations: the traced peak stays at two to three batches of perturbed rows
(`batch_size * D` float64 values each), whatever D, the number of walks or the number of
rows scored (hundreds of GiB of rows for the largest cases). A KernelSHAP case is skipped
when its regression design alone would exceed the memory limit or its estimated time the
time limit.
"""


def tiny_cnn():
    """A tiny image CNN: 4 x 4 stride-4 convolution to 8 maps, ReLU, mean pool, linear."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, kernel_size=4, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(8, 2),
    ).eval()


def small_mlp(n_genes):
    """An MLP of expression profiles: n_genes -> 64 -> ReLU -> 2."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(n_genes, 64), nn.ReLU(), nn.Linear(64, 2)).eval()


def patch_labels(side, patch):
    """A label per pixel of (3, side, side): its patch, every channel in the same one."""
    rows = np.arange(side) // patch
    grid = rows[:, None] * (-(-side // patch)) + rows[None, :]
    return np.broadcast_to(grid, (3, side, side))


class CountingModel:
    """Wrap a torch module: count the rows scored and the largest batch."""

    def __init__(self, module):
        self.module = module
        self.rows = 0
        self.largest_batch = 0

    def __call__(self, X):
        import torch

        self.rows += len(X)
        self.largest_batch = max(self.largest_batch, len(X))
        with torch.no_grad():
            return self.module(torch.as_tensor(X, dtype=torch.float32)).numpy()


def make_case(case):
    """Data, model and explainer of one case."""
    from skexplain.explainers import KernelShap, SensX

    rng = np.random.default_rng(0)
    if case["input"] == "image":
        side = case["side"]
        X = rng.uniform(size=(20, 3, side, side))
        module = tiny_cnn()
        groups = patch_labels(side, PATCH) if case["grouped"] else None
    else:
        X = np.log1p(rng.negative_binomial(2, 0.5, size=(20, N_GENES)).astype(float))
        module = small_mlp(N_GENES)
        groups = np.arange(N_GENES) // GENE_SET_SIZE if case["grouped"] else None
    model = CountingModel(module)
    if case["method"] == "sensx":
        explainer = SensX(
            model, n_walks=case["n_walks"], delta=DELTA, feature_groups=groups,
            random_state=0,
        )
    else:
        if groups is None:  # one player per feature, not per image column
            groups = np.arange(X[0].size).reshape(X.shape[1:])
        explainer = KernelShap(
            model, background="sample", n_background=case["n_background"],
            feature_groups=groups, random_state=0,
        )
    return X, model, explainer


def run_case(case):
    """Explain one instance; a dict of measurements (runs in a fresh process)."""
    import torch

    torch.set_num_threads(case["threads"])
    from threadpoolctl import threadpool_limits

    with threadpool_limits(case["threads"]):
        X, model, explainer = make_case(case)
        explainer.fit(X)
        model(X[:2])  # warm-up: the first torch call
        model.rows = model.largest_batch = 0
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        start, cpu_start = time.perf_counter(), time.process_time()
        explanation = explainer.explain(X[:1], target=1)
        seconds = time.perf_counter() - start
        cpu_seconds = time.process_time() - cpu_start
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "rows": model.rows - 1,  # explain() scores the instance once before the method
        "largest_batch": model.largest_batch,
        "batch_size": explainer._batch_size(),
        "n_units": explanation.values.shape[1],
        "traced_mib": traced_peak / 2**20,
        "rss_mib": rss_peak / 2**10,
        "rss_before_mib": rss_before / 2**10,
        "finite": bool(np.all(np.isfinite(explanation.values))),
    }


def in_subprocess(case):
    output = subprocess.run(
        [sys.executable, __file__, "--case", json.dumps(case)], check=True,
        capture_output=True, text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def sensx_evaluations(n_walks, n_units):
    return n_walks * (n_units + 1)


def kernel_shap_coalitions(n_players):
    return int(min(2 * n_players + 2048, 2.0 ** min(n_players, 62) - 2))


def fmt_row(label, d, units, result, evaluations):
    per_eval_us = 1e6 * result["cpu_seconds"] / max(result["rows"], 1)
    batch_mib = result["batch_size"] * d * 8 / 2**20
    check = "" if result["rows"] == evaluations else f" (formula {evaluations:,})"
    return (
        f"| {label} | {d:,} | {units:,} | {result['rows']:,}{check} | {result['seconds']:.2f} "
        f"| {result['cpu_seconds']:.2f} | {per_eval_us:.1f} "
        f"| {result['batch_size']} ({batch_mib:.1f} MiB) "
        f"| {result['largest_batch']} | {result['traced_mib']:.1f} | {result['rss_mib']:.0f} |"
    )


def growth(points):
    """Exponents b of y ~ D**b between consecutive (D, y) points."""
    return [np.log(y1 / y0) / np.log(d1 / d0)
            for (d0, y0), (d1, y1) in zip(points[:-1], points[1:], strict=True)]


HEADER = (
    "| case | D | units | evaluations / instance | seconds / instance | CPU seconds "
    "| CPU us / evaluation | batch_size (one batch) | largest model call | traced peak MiB "
    "| peak RSS MiB |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--sides", type=int, nargs="+", default=list(IMAGE_SIDES))
    parser.add_argument("--n-walks", type=int, default=2)
    parser.add_argument("--group-walks", type=int, default=50)
    parser.add_argument("--n-background", type=int, default=10)
    parser.add_argument("--kernel-shap-limit", type=float, default=600.0)
    parser.add_argument("--max-design-gib", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(json.loads(args.case))))
        return

    import torch

    lines, sensx_points, per_eval = [], [], {}
    base = {"threads": args.threads}

    def report(line):
        print(line, flush=True)
        lines.append(line)

    report("### SensX without groups, tiny CNN on (3, s, s) images and an MLP on 20,000 genes")
    report("")
    report(HEADER)
    for side in args.sides:
        d = 3 * side * side
        case = {**base, "method": "sensx", "input": "image", "side": side, "grouped": False,
                "n_walks": args.n_walks}
        result = in_subprocess(case)
        sensx_points.append((d, result["rows"], result["cpu_seconds"]))
        per_eval[d] = result["seconds"] / result["rows"]
        report(fmt_row(f"SensX, {args.n_walks} walks, image 3x{side}x{side}", d, d, result,
                       sensx_evaluations(args.n_walks, d)))
    case = {**base, "method": "sensx", "input": "genes", "grouped": False,
            "n_walks": args.n_walks}
    result = in_subprocess(case)
    report(fmt_row(f"SensX, {args.n_walks} walks, 20,000 genes (MLP)", N_GENES, N_GENES,
                   result, sensx_evaluations(args.n_walks, N_GENES)))
    report("")
    evaluation_growth = growth([(d, rows) for d, rows, _ in sensx_points])
    second_growth = growth([(d, seconds) for d, _, seconds in sensx_points])
    sizes = [f"{d0:,} -> {d1:,}" for (d0, _, _), (d1, _, _)
             in zip(sensx_points[:-1], sensx_points[1:], strict=True)]
    report("Growth exponent b of cost ~ D**b between consecutive image sizes:")
    report("")
    report("| D | evaluations | CPU seconds |")
    report("|---|---:|---:|")
    for label, b_rows, b_seconds in zip(sizes, evaluation_growth, second_growth, strict=True):
        report(f"| {label} | {b_rows:.2f} | {b_seconds:.2f} |")
    report("")

    report(f"### SensX with feature groups, {args.group_walks} walks")
    report("")
    report(HEADER)
    side = max(args.sides)
    d = 3 * side * side
    n_patches = (-(-side // PATCH)) ** 2
    result = in_subprocess({**base, "method": "sensx", "input": "image", "side": side,
                            "grouped": True, "n_walks": args.group_walks})
    report(fmt_row(f"SensX, {PATCH}x{PATCH} patches, image 3x{side}x{side}", d, n_patches,
                   result, sensx_evaluations(args.group_walks, n_patches)))
    n_sets = N_GENES // GENE_SET_SIZE
    result = in_subprocess({**base, "method": "sensx", "input": "genes", "grouped": True,
                            "n_walks": args.group_walks})
    report(fmt_row(f"SensX, {n_sets} gene sets of {GENE_SET_SIZE}, 20,000 genes", N_GENES,
                   n_sets, result, sensx_evaluations(args.group_walks, n_sets)))
    report("")

    report(f"### KernelSHAP, n_samples='auto', {args.n_background} background rows")
    report("")
    report(HEADER)
    skipped = []
    kernel_cases = [(side, False) for side in args.sides] + [(max(args.sides), True)]
    for side, grouped in kernel_cases:
        d = 3 * side * side
        units = (-(-side // PATCH)) ** 2 if grouped else d
        coalitions = kernel_shap_coalitions(units)
        evaluations = 1 + args.n_background * coalitions
        estimate = evaluations * per_eval.get(d, np.nan)
        design_gib = coalitions * units * 8 / 2**30
        label = (f"KernelSHAP, {PATCH}x{PATCH} patches" if grouped else "KernelSHAP") + \
            f", image 3x{side}x{side}"
        if estimate > args.kernel_shap_limit or design_gib > args.max_design_gib:
            skipped.append(
                f"- {label}: skipped, {evaluations:,} evaluations estimated at "
                f"{estimate:,.0f} s and a {coalitions:,} x {units:,} regression design of "
                f"{design_gib:,.1f} GiB (limits {args.kernel_shap_limit:.0f} s, "
                f"{args.max_design_gib:g} GiB)."
            )
            continue
        result = in_subprocess({**base, "method": "kernel_shap", "input": "image",
                                "side": side, "grouped": grouped,
                                "n_background": args.n_background})
        report(fmt_row(label, d, units, result, evaluations))
    report("")
    lines.extend(skipped)
    print("\n".join(skipped))
    lines.extend(["", NOTE])

    preamble = (
        "# Scaling with the number of features\n\n"
        f"Command: `python benchmarks/bench_scale.py` on {os.cpu_count()} CPU cores "
        f"(shared with other work), {args.threads} torch / BLAS thread(s) "
        f"(torch {torch.__version__}, Python {platform.python_version()}). One instance "
        "per case, each case in its own process. Growth exponents use CPU seconds, which "
        "other work on the machine distorts less than wall seconds. "
        "`evaluations / instance` counts the rows "
        "the model received (the formula's value is shown only where they differ); "
        "`traced peak` is the peak of Python / numpy allocations during `explain` "
        "(tracemalloc), `peak RSS` the process's peak resident memory, everything "
        "included (Python, torch, the 20 reference rows).\n\n"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(preamble + "\n".join(lines) + "\n")
    print(f"Written to {args.output}")


if __name__ == "__main__":
    main()
