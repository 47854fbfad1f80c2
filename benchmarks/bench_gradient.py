"""Speed (and completeness) of skexplain's gradient explainers next to captum's.

On the exponential-activation CNN-dist of Koo & Ploenzke (2021) built for 1,000-nt input
(weights from a fixed seed: speed does not depend on training), times

- integrated gradients, zero baseline, 50 steps: ``skexplain.explainers.IntegratedGradients``
  (Gauss-Legendre and trapezoid) against ``captum.attr.IntegratedGradients`` with the same
  rows per pass (``internal_batch_size``);
- DeepSHAP with 20 references: ``skexplain.explainers.DeepLiftShap`` against
  ``captum.attr.DeepLiftShap`` (our ``Exponential`` module registered as a captum
  nonlinearity, so both do the same work).

Each cell is the best of ``--repeats`` runs, in seconds per sequence, with the largest
completeness gap ``|sum(attributions) - (f(x) - f(reference))|`` over the sequences.
The table is printed and written to ``benchmarks/results/bench_gradient.md``. Needs captum
(``pip install -e ".[bench]"``).
"""

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch

from skexplain.explainers import DeepLiftShap, IntegratedGradients
from skexplain.models import ExpActivationCNN, Exponential

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "bench_gradient.md"


def one_hot(n, length, seed):
    rng = np.random.default_rng(seed)
    return np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1).copy()


def best_time(function, repeats):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def captum_attr():
    from captum.attr import DeepLiftShap as CaptumDeepLiftShap
    from captum.attr import IntegratedGradients as CaptumIG
    from captum.attr._core import deep_lift

    deep_lift.SUPPORTED_NON_LINEAR.setdefault(Exponential, deep_lift.nonlinear)
    return CaptumIG, CaptumDeepLiftShap


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=1000)
    parser.add_argument("--n-sequences", type=int, default=20)
    parser.add_argument("--n-steps", type=int, default=50)
    parser.add_argument("--n-references", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = ExpActivationCNN(architecture="cnn_dist", input_length=args.length).eval()
    X = one_hot(args.n_sequences, args.length, seed=0)
    references = one_hot(args.n_references, args.length, seed=1)
    x = torch.as_tensor(X)
    with torch.no_grad():
        f_x = model(x)[:, 0].double().numpy()
        f_zero = model(torch.zeros_like(x[:1]))[0, 0].item()
        f_refs = model(torch.as_tensor(references))[:, 0].double().mean().item()
    CaptumIG, CaptumDeepLiftShap = captum_attr()
    n = args.n_sequences
    rows = []

    def gap(values, reference_score):
        totals = values.reshape(n, -1).sum(1).astype(np.float64)
        return float(np.max(np.abs(totals - (f_x - reference_score))))

    for method, captum_method in (("gausslegendre", "gausslegendre"),
                                  ("riemann_trapezoid", "riemann_trapezoid")):
        ours = IntegratedGradients(model, n_steps=args.n_steps, method=method,
                                   batch_size=args.batch_size).fit(X)
        seconds, E = best_time(lambda ours=ours: ours.explain(X, target=0), args.repeats)
        ig = CaptumIG(model)
        captum_seconds, theirs = best_time(
            lambda ig=ig, m=captum_method: ig.attribute(
                x, target=0, n_steps=args.n_steps, method=m,
                internal_batch_size=args.batch_size).detach().numpy(),
            args.repeats,
        )
        rows.append((f"integrated gradients, {args.n_steps} steps, {method}", seconds / n,
                     captum_seconds / n, gap(E.values, f_zero), gap(theirs, f_zero),
                     float(np.max(np.abs(E.values - theirs)))))

    ours = DeepLiftShap(model, baselines=references, batch_size=args.batch_size).fit(X)
    seconds, E = best_time(lambda: ours.explain(X, target=0), args.repeats)
    dls = CaptumDeepLiftShap(model)
    refs = torch.as_tensor(references)
    captum_seconds, theirs = best_time(
        lambda: dls.attribute(x, baselines=refs, target=0).detach().numpy(), args.repeats
    )
    rows.append((f"DeepLiftShap, {args.n_references} references", seconds / n,
                 captum_seconds / n, gap(E.values, f_refs), gap(theirs, f_refs),
                 float(np.max(np.abs(E.values - theirs)))))

    header = (
        f"CNN-dist (exponential first layer), {args.length}-nt one-hot input, "
        f"{n} sequences, batch {args.batch_size} rows, {args.threads} torch thread(s), "
        f"best of {args.repeats}; torch {torch.__version__}, {platform.processor() or 'cpu'}\n\n"
        "| method | skexplain s/seq | captum s/seq | ratio | skexplain max completeness gap "
        "| captum max completeness gap | max abs difference |\n"
        "|---|---|---|---|---|---|---|\n"
    )
    table = header + "".join(
        f"| {name} | {ours_s:.4f} | {captum_s:.4f} | {ours_s / captum_s:.2f} | {ours_gap:.2g} "
        f"| {captum_gap:.2g} | {diff:.2g} |\n"
        for name, ours_s, captum_s, ours_gap, captum_gap, diff in rows
    )
    print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(table)
    print(f"saved {args.output}")


if __name__ == "__main__":
    main()
