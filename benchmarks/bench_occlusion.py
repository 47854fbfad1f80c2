"""Occlusion of sequences: skexplain's fast (fastISM window edits) and full engines vs captum.

Model: ``ExpActivationCNN(input_length=1000, architecture="cnn_deep")`` (exponential first
layer) with random weights (the cost of a forward pass does not depend on training), in eval
mode; random one-hot sequences; baseline 0.25 per base; target 0. Compared, interleaved
(every repeat runs every method once, in turn), one torch / BLAS thread:

- skexplain ``Occlusion(engine="fast")`` (the default where the model qualifies),
  ``batch_size="auto"``;
- skexplain ``Occlusion(engine="full")``, a full forward pass per occluded copy,
  ``batch_size="auto"`` (sized by one row's activations: 46 rows per call here);
- captum ``Occlusion.attribute`` with ``perturbations_per_eval`` set so that a model call
  has about 128 rows (its default, 1, makes one call per window).

Windows of 10 positions with stride 1 (991 windows per sequence) and of 50 with stride 5.
The full-pass methods take minutes on 32 sequences, so by default they run on ``--n-full``
of them and their time is scaled to all (marked); ``--n-full 32`` gives the exact figure.
max abs diff: against skexplain's full engine, on the sequences both ran.

Run ``python benchmarks/bench_occlusion.py --help``; ``--quick`` is a small check run.
Results go to benchmarks/results/occlusion.md.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from skexplain.explainers import Occlusion
from skexplain.models import ExpActivationCNN

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "occlusion.md"
FULL_ROWS = 128  # rows per model call of captum
BASELINE = 0.25


def make_model(length, seed=0):
    torch.manual_seed(seed)
    return ExpActivationCNN(n_outputs=1, input_length=length, architecture="cnn_deep",
                            first_activation="exponential").eval()


def sequences(n, length, seed=0):
    tokens = np.random.default_rng(seed).integers(0, 4, size=(n, length))
    return np.eye(4, dtype=np.float32)[tokens].transpose(0, 2, 1).copy()


def skexplain_occlusion(model, X, engine, window, stride):
    occlusion = Occlusion(model, window=window, stride=stride, baseline=BASELINE,
                          engine=engine)
    E = occlusion.fit(X[:1]).explain(X, target=0)
    assert E.info["engine"] == engine
    return E.values


def captum_occlusion(model, X, window, stride):
    from captum.attr import Occlusion as CaptumOcclusion

    per_eval = max(1, FULL_ROWS // len(X))
    return CaptumOcclusion(model).attribute(
        torch.tensor(X), sliding_window_shapes=(X.shape[1], window),
        strides=(X.shape[1], stride), baselines=BASELINE, target=0,
        perturbations_per_eval=per_eval,
    ).detach().numpy()


def methods(model, window, stride, has_captum):
    rows = [
        ("skexplain fast (engine='fast', default)", "fast",
         lambda X: skexplain_occlusion(model, X, "fast", window, stride)),
        ("skexplain full (engine='full')", "full",
         lambda X: skexplain_occlusion(model, X, "full", window, stride)),
    ]
    if has_captum:
        rows.append((f"captum Occlusion (~{FULL_ROWS} rows per call)", "full",
                     lambda X: captum_occlusion(model, X, window, stride)))
    return rows


def run_table(model, X, n_full, window, stride, repeats, has_captum):
    """Fastest seconds per sequence and values of every method, interleaved."""
    table = methods(model, window, stride, has_captum)
    best = {name: np.inf for name, _, _ in table}
    values = {}
    for _, _, function in table:  # warm-up: first torch calls, tracing
        function(X[:1])
    for _ in range(repeats):
        for name, kind, function in table:
            part = X[:min(len(X), n_full)] if kind == "full" else X
            start = time.perf_counter()
            values[name] = function(part)
            best[name] = min(best[name], (time.perf_counter() - start) / len(part))
    reference = values[table[1][0]]
    k = len(reference)
    return [(name, best[name], np.abs(values[name][:k] - reference).max(),
             kind == "full" and n_full < len(X)) for name, kind, _ in table]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-sequences", type=int, default=32)
    parser.add_argument("--n-full", type=int, default=4,
                        help="sequences the full-pass methods run on (time per sequence)")
    parser.add_argument("--length", type=int, default=1000)
    parser.add_argument("--windows", nargs="+", default=["10:1", "50:5"],
                        help="window:stride pairs")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="a small check run: 4 sequences, 1 for full passes, 1 repeat")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    if args.quick:
        args.n_sequences, args.n_full, args.repeats = 4, 1, 1
    torch.set_num_threads(1)
    try:
        import captum  # noqa: F401

        has_captum = True
    except ImportError:
        has_captum = False
    load = os.getloadavg()
    lines = [
        "# Occlusion of sequences: fast and full engines vs captum",
        "",
        "Command: `python benchmarks/bench_occlusion.py " + " ".join(sys.argv[1:]) + "`; "
        f"{os.cpu_count()} CPU cores, one torch / BLAS thread, torch {torch.__version__}; "
        f"load average at start {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}. Interleaved, "
        f"fastest of {args.repeats} repeats after one warm-up call. CNN-deep (exponential "
        f"first layer), random weights, {args.n_sequences} random one-hot sequences of "
        f"{args.length:,} nt, baseline 0.25 per base, target 0. max abs diff: against "
        "skexplain's full engine, on the sequences both ran."
        + (" PRELIMINARY: other processes shared the cores (load average above 1)."
           if load[0] > 1 else ""),
        "",
    ]
    model = make_model(args.length)
    X = sequences(args.n_sequences, args.length)
    with threadpool_limits(1):
        for spec in args.windows:
            window, stride = (int(v) for v in spec.split(":"))
            n_windows = 1 + -(-(args.length - window) // stride)
            rows = run_table(model, X, args.n_full, window, stride, args.repeats, has_captum)
            fast = rows[0][1]
            lines += [f"### window {window}, stride {stride} ({n_windows} windows per "
                      "sequence)", "",
                      "| method | s / sequence | skexplain fast's speed-up | max abs diff |",
                      "|---|---:|---:|---:|"]
            for name, seconds, diff, scaled in rows:
                note = f" (on {min(args.n_sequences, args.n_full)} sequences)" if scaled \
                    else ""
                lines.append(f"| {name}{note} | {seconds:.3f} | {seconds / fast:.1f}x | "
                             f"{diff:.1e} |")
            lines.append("")
            print("\n".join(lines[-(len(rows) + 5):]), flush=True)
    load = os.getloadavg()
    lines += [
        f"Load average at the end {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}.",
        "",
        "Notes: the fast engine computes each sequence's activations once and, per occluded "
        "window, only the positions its receptive field reaches up to the dense layer: the "
        "first convolution's change is the convolution of the window's input change (new "
        "minus old columns) over the reached positions, without bias; later layers are "
        "recomputed on the reached windows; the dense layer is updated sparsely (``W x_ref`` "
        "plus ``W`` at the reached positions). A single substitution (ISM) gathers kernel "
        "column differences instead. captum's ``Occlusion`` and skexplain's full engine run "
        "a full forward pass per occluded copy.",
        "",
    ]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
