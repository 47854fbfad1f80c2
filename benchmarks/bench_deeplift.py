"""DeepLiftShap: skexplain against tangermeme's ``deep_lift_shap`` on CNN-deep.

The exponential-activation CNN-deep of Koo & Ploenzke (2021) (``skexplain.models``) built for
1,000-nt input, weights from a fixed seed (speed does not depend on training), 32 random
sequences, 20 dinucleotide shuffles per sequence (tangermeme's default ``n_shuffles``), target 0,
one torch thread, float32 (the model's dtype; both libraries run the model in it). Timed,
interleaved, ``--repeats`` times each:

- ``skexplain``: ``DeepLiftShap(model, baselines="shuffle", n_baselines=20)``, default
  ``batch_size="auto"``, shuffles drawn inside the call;
- ``skexplain hypothetical``: the same with ``hypothetical=True``;
- ``tangermeme``: ``deep_lift_shap`` at its defaults (``batch_size=32``, its own dinucleotide
  shuffles drawn inside the call), our ``Exponential`` registered through
  ``additional_nonlinear_ops`` (tangermeme's ``_nonlinear`` rescale rule);
- ``tangermeme, same refs``: ``deep_lift_shap`` given skexplain's references as a tensor (no
  shuffling inside the call), also with ``hypothetical=True``.

The last column is each float32 result's largest error against skexplain's result on a
float64 copy of the model with the same references (untimed).

Columns: seconds (median and best of the repeats), the ratio of our median to tangermeme's
default median, the largest completeness gap ``|sum attributions - (f(x) - mean f(ref))|``
(float64 sums of the float32 results), and the largest absolute difference from skexplain's
values on the same references (per-position sums of the ordinary attributions, since
tangermeme puts a position's whole contribution on the observed base; the hypothetical
contributions element by element). The table is printed and written to
``benchmarks/results/deeplift.md`` with the load average.

Run: ``python benchmarks/bench_deeplift.py`` (``--repeats 5`` on an idle machine).
"""

import argparse
import copy
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from skexplain._core.compute import spawn_seeds
from skexplain.explainers import DeepLiftShap
from skexplain.models import ExpActivationCNN, Exponential

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "deeplift.md"


def one_hot(n, length, seed):
    rng = np.random.default_rng(seed)
    return np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1).copy()


def _errors(values, truth):
    """Largest absolute error, and the median over sequences of each one's largest."""
    per_sequence = np.abs(values - truth).reshape(len(values), -1).max(1)
    return f"{per_sequence.max():.1e} ({np.median(per_sequence):.0e})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=1000)
    parser.add_argument("--n-sequences", type=int, default=32)
    parser.add_argument("--n-shuffles", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", default="auto", help='skexplain\'s batch_size ("auto")')
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    from tangermeme.deep_lift_shap import _nonlinear, deep_lift_shap

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = ExpActivationCNN(architecture="cnn_deep", input_length=args.length).eval()
    n, k, seed = args.n_sequences, args.n_shuffles, 0
    X = one_hot(n, args.length, seed=0)
    x = torch.as_tensor(X)
    batch_size = args.batch_size if args.batch_size == "auto" else int(args.batch_size)
    ours = DeepLiftShap(model, baselines="shuffle", n_baselines=k, random_state=seed,
                        batch_size=batch_size).fit(X)
    ours_hyp = DeepLiftShap(model, baselines="shuffle", n_baselines=k, random_state=seed,
                            batch_size=batch_size, hypothetical=True).fit(X)
    # skexplain's references, to give tangermeme the same ones (a private helper: the
    # shuffles of instance i depend only on random_state and i).
    refs = ours._references(np.arange(n), x, spawn_seeds(seed, n, 1)[:, 0])
    ops = {Exponential: _nonlinear}

    def tangermeme(**kw):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return deep_lift_shap(model, x, target=0, device="cpu",
                                  additional_nonlinear_ops=ops, **kw).double().numpy()

    methods = {
        "skexplain": lambda: ours.explain(X, target=0),
        "skexplain hypothetical": lambda: ours_hyp.explain(X, target=0),
        "tangermeme (defaults)": lambda: tangermeme(n_shuffles=k, random_state=seed),
        "tangermeme, same refs": lambda: tangermeme(references=refs.clone()),
        "tangermeme, same refs, hypothetical": lambda: tangermeme(references=refs.clone(),
                                                                 hypothetical=True),
    }
    load_before = os.getloadavg()
    for run in methods.values():  # warm-up (thread pools, allocator, first-call costs)
        run()
    times = {name: [] for name in methods}
    cpu = {name: [] for name in methods}
    results = {}
    for _ in range(args.repeats):
        for name, run in methods.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            results[name] = run()
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    load_after = os.getloadavg()

    with torch.no_grad():
        f_x = model(x)[:, 0].double().numpy()
        f_ref = model(refs.reshape((-1,) + X.shape[1:]))[:, 0].double().numpy().reshape(n, k)
    difference = f_x - f_ref.mean(1)
    E, H = results["skexplain"], results["skexplain hypothetical"]
    # Float64 ground truth (untimed): skexplain on a float64 copy of the model, same refs.
    model64 = copy.deepcopy(model).double()
    truth = DeepLiftShap(model64, baselines="shuffle", n_baselines=k, random_state=seed,
                         hypothetical=True).fit(X).explain(X, target=0).values
    truth_positions = (truth * X).sum(1)
    same = results["tangermeme, same refs"]
    same_hyp = results["tangermeme, same refs, hypothetical"]
    ours_positions = E.values.sum(1)
    rows = []
    for name in methods:
        if name == "skexplain":
            delta = np.abs(E.info["completeness_delta"]).max()
            diff = "0"
            error = _errors(ours_positions, truth_positions)
        elif name == "skexplain hypothetical":
            delta = np.abs((H.values * X).sum((1, 2)) - difference).max()
            diff = f"{np.abs(H.values - same_hyp).max():.1e} (vs tangermeme's)"
            error = _errors(H.values, truth)
        elif name == "tangermeme (defaults)":
            delta, diff, error = float("nan"), "other references", "-"
        elif name == "tangermeme, same refs":
            delta = np.abs(same.sum((1, 2)) - difference).max()
            diff = f"{np.abs(same.sum(1) - ours_positions).max():.1e} (position sums)"
            error = _errors(same.sum(1), truth_positions)
        else:
            delta = np.abs((same_hyp * X).sum((1, 2)) - difference).max()
            diff = f"{np.abs(H.values - same_hyp).max():.1e}"
            error = _errors(same_hyp, truth)
        t = np.array(times[name])
        rows.append((name, np.median(t), t.min(), np.median(cpu[name]), delta, diff, error))
    reference = np.median(times["tangermeme (defaults)"])
    reference_cpu = np.median(cpu["tangermeme (defaults)"])
    scale = np.abs(ours_positions).max()
    lines = [
        "# DeepLiftShap: skexplain vs tangermeme `deep_lift_shap`",
        "",
        f"CNN-deep (exponential first layer), {args.length} nt, {n} sequences x {k} "
        f"dinucleotide shuffles, float32, {args.threads} torch thread(s), "
        f"{args.repeats} interleaved repeats; skexplain batch_size={args.batch_size} "
        f"({ours._rows_per_pass} pairs per pass), tangermeme batch_size=32 (its default). "
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}. "
        f"Load average (1, 5, 15 min) before {tuple(round(v, 2) for v in load_before)}, "
        f"after {tuple(round(v, 2) for v in load_after)}.",
        "",
        "| method | median s | best s | ratio to tangermeme (defaults) | CPU s (median) | CPU "
        "ratio | completeness delta max | max abs diff vs skexplain (same refs) | error vs "
        "float64: max (median over sequences) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, median, best, cpu_s, delta, diff, error in rows:
        lines.append(f"| {name} | {median:.3f} | {best:.3f} | {median / reference:.2f} | "
                     f"{cpu_s:.3f} | {cpu_s / reference_cpu:.2f} | {delta:.1e} | {diff} | "
                     f"{error} |")
    lines += [
        "",
        f"Largest per-position attribution: {scale:.2e}. Ratios are of medians; the CPU "
        "time (process time) is less sensitive to a loaded machine than the wall time. "
        "Completeness delta: "
        "|sum of attributions - (f(x) - mean f(ref))| per sequence, in float64 from the float32 "
        "results; for hypothetical contributions, of hypothetical x one-hot input. The float32 "
        "secants of skexplain's rescale rule are recomputed in float64 where their rounding "
        "could exceed 1e-5 (relative), so they do not lose accuracy where input and reference "
        "nearly agree. Error vs float64: against skexplain's result on a float64 copy of the "
        "model with the same references (untimed; per-position sums for ordinary attributions, "
        "all bases for hypothetical contributions): the median over sequences of each "
        "sequence's largest error is in parentheses. Both libraries share the few large "
        "errors, probably near-ties (which position holds a max-pool window's maximum, the "
        "sign of a ReLU's input) that float32 resolves otherwise than float64.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)


if __name__ == "__main__":
    main()
