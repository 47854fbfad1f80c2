"""In silico mutagenesis: skexplain's fast (fastISM) and full engines against tangermeme.

Models: ``ExpActivationCNN(input_length=1000)`` with random weights (the cost of a forward
pass does not depend on training), in eval mode: CNN-deep with an exponential first layer,
CNN-dist (exponential) and CNN-deep with a ReLU first layer (the "ReLU CNN"). Each sequence
has 3,000 single-nucleotide substitutions. Compared, interleaved (every repeat runs every
method once, in turn), one torch / BLAS thread:

- skexplain ``InSilicoMutagenesis(engine="fast")`` (the default where the model qualifies),
  with n_jobs=1 and 2;
- skexplain ``InSilicoMutagenesis(engine="full")`` (a full forward pass per mutant);
- tangermeme ``saturation_mutagenesis`` at its defaults (``fast=True``: it runs
  ``fast=False`` when it predicts the job to take under 30 s, else its own fastISM) and
  with ``fast=False``.

Tables for 32 and for 2 sequences. The full-pass methods take minutes on 32 sequences, so
by default they run on ``--n-full`` of them and their time is scaled to 32 (marked); pass
``--n-full 32`` for the exact figure. Values: the largest absolute difference from
skexplain's full engine (mean-centred hypothetical maps, target 0), on the sequences both
ran. A last table shows the batch-size policy on CNN-deep, 2 sequences: the full engine at
fixed batch sizes, at the previous "auto" (input bytes only: 2,097 rows) and at the new
"auto" (activation bytes of one row), and the fast engine at fixed sizes and "auto".

Run ``python benchmarks/bench_ism.py --help``; results go to benchmarks/results/ism.md.
"""

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from skexplain._core.compute import resolve_batch_size
from skexplain.explainers import InSilicoMutagenesis
from skexplain.models import ExpActivationCNN

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "ism.md"
LENGTH = 1000
MODELS = {
    "CNN-deep (exponential)": dict(architecture="cnn_deep", first_activation="exponential"),
    "CNN-dist (exponential)": dict(architecture="cnn_dist", first_activation="exponential"),
    "ReLU CNN (CNN-deep, ReLU)": dict(architecture="cnn_deep", first_activation="relu"),
}


def make_model(spec, seed=0):
    torch.manual_seed(seed)
    return ExpActivationCNN(n_outputs=1, input_length=LENGTH, **spec).eval()


def sequences(n, seed=0):
    tokens = np.random.default_rng(seed).integers(0, 4, size=(n, LENGTH))
    return np.eye(4, dtype=np.float32)[tokens].transpose(0, 2, 1).copy()


def skexplain_ism(model, X, engine, batch_size="auto", n_jobs=None):
    ism = InSilicoMutagenesis(model, engine=engine, batch_size=batch_size, n_jobs=n_jobs)
    E = ism.fit(X[:1]).explain(X, target=0)
    assert E.info["engine"] == engine
    return E.values


def tangermeme_ism(model, X, fast):
    from tangermeme.saturation_mutagenesis import saturation_mutagenesis

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return saturation_mutagenesis(model, torch.tensor(X), target=0, hypothetical=True,
                                      fast=fast, verbose=False).numpy()


def methods(model, has_tangermeme):
    rows = [
        ("skexplain fast (engine='fast', default)", "fast",
         lambda X: skexplain_ism(model, X, "fast")),
        ("skexplain fast, n_jobs=2", "fast",
         lambda X: skexplain_ism(model, X, "fast", n_jobs=2)),
        ("skexplain full (engine='full')", "full", lambda X: skexplain_ism(model, X, "full")),
    ]
    if has_tangermeme:
        rows += [
            ("tangermeme saturation_mutagenesis (default)", "tangermeme",
             lambda X: tangermeme_ism(model, X, True)),
            ("tangermeme saturation_mutagenesis, fast=False", "full",
             lambda X: tangermeme_ism(model, X, False)),
        ]
    return rows


def run_table(model, n, n_full, repeats, has_tangermeme):
    """Fastest seconds (for n sequences) and values of every method, interleaved."""
    X = sequences(n)
    table = methods(model, has_tangermeme)
    best = {name: np.inf for name, _, _ in table}
    values = {}
    for name, _, function in table:  # warm-up: first torch call, both joblib workers
        function(X[:2] if "n_jobs" in name else X[:1])
    for _ in range(repeats):
        for name, kind, function in table:
            part = X[:min(n, n_full)] if kind == "full" else X
            start = time.perf_counter()
            values[name] = function(part)
            seconds = (time.perf_counter() - start) * n / len(part)
            best[name] = min(best[name], seconds)
    reference = values["skexplain full (engine='full')"]
    k = len(reference)
    rows = []
    for name, kind, _ in table:
        diff = np.abs(values[name][:k] - reference).max()
        scaled = kind == "full" and n_full < n
        rows.append((name, best[name], diff, scaled))
    return rows


def batch_table(model, repeats):
    X = sequences(2, seed=1)
    old_auto = resolve_batch_size("auto", 4 * LENGTH)
    ism = InSilicoMutagenesis(model, engine="full").fit(X[:1])
    ism._bound_adapter = ism.model_adapter_
    new_auto = ism._batch_size()
    from skexplain.explainers._fast_ism import FAST_WORKING_SET, FastISM

    fast_auto = max(16, FAST_WORKING_SET // FastISM(model, (4, LENGTH)).bytes_per_edit())
    runs = [(f"full, batch_size={b}", "full", b) for b in (32, 128, 512)]
    runs += [(f"full, previous auto ({old_auto} rows: input bytes)", "full", old_auto),
             (f"full, auto ({new_auto} rows: activation bytes)", "full", "auto")]
    runs += [(f"fast, batch_size={b}", "fast", b) for b in (64, 128, 256, 1024)]
    runs += [(f"fast, auto ({fast_auto} edits)", "fast", "auto")]
    best = {name: np.inf for name, _, _ in runs}
    for _ in range(repeats):
        for name, engine, b in runs:
            start = time.perf_counter()
            skexplain_ism(model, X, engine, batch_size=b)
            best[name] = min(best[name], time.perf_counter() - start)
    return [(name, best[name] / len(X)) for name, _, _ in runs]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-sequences", type=int, nargs="+", default=[32, 2])
    parser.add_argument("--n-full", type=int, default=4,
                        help="sequences the full-pass methods run on (time scaled up)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--no-batch-table", action="store_true")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    try:
        import tangermeme  # noqa: F401

        has_tangermeme = True
    except ImportError:
        has_tangermeme = False
    load = os.getloadavg()
    lines = [
        "# In silico mutagenesis: fast and full engines vs tangermeme",
        "",
        "Command: `python benchmarks/bench_ism.py " + " ".join(
            a for a in sys.argv[1:]) + f"`; {os.cpu_count()} CPU cores, one torch / BLAS "
        f"thread, torch {torch.__version__}; load average at start {load[0]:.2f}, "
        f"{load[1]:.2f}, {load[2]:.2f}. Interleaved, fastest of {args.repeats} repeats after "
        "one warm-up call. Sequences of 1,000 nt (3,000 substitutions each), random "
        "weights, target 0. max abs diff: against skexplain's full engine (mean-centred "
        "hypothetical maps), on the sequences both ran.",
        "",
    ]
    with threadpool_limits(1):
        for n in args.n_sequences:
            for label in args.models:
                model = make_model(MODELS[label])
                rows = run_table(model, n, args.n_full, args.repeats, has_tangermeme)
                times = {name: t for name, t, _, _ in rows}
                tm = times.get("tangermeme saturation_mutagenesis (default)")
                fast = times["skexplain fast (engine='fast', default)"]
                lines += [f"### {label}, {n} sequences", "",
                          "| method | seconds (all sequences) | s / sequence | "
                          "max abs diff | vs skexplain fast |",
                          "|---|---:|---:|---:|---:|"]
                for name, seconds, diff, scaled in rows:
                    note = f" (scaled from {min(n, args.n_full)})" if scaled else ""
                    lines.append(f"| {name}{note} | {seconds:.2f} | {seconds / n:.3f} | "
                                 f"{diff:.1e} | {seconds / fast:.2f}x |")
                if tm is not None:
                    lines += ["", f"skexplain fast is {tm / fast:.2f}x faster than "
                              "tangermeme's default; n_jobs=2 speed-up "
                              f"{fast / times['skexplain fast, n_jobs=2']:.2f}x."]
                lines.append("")
                print("\n".join(lines[-(len(rows) + 6):]), flush=True)
        if not args.no_batch_table:
            model = make_model(MODELS["CNN-deep (exponential)"])
            lines += ["### Batch-size policy, CNN-deep (exponential), 2 sequences", "",
                      "| engine, rows per call | s / sequence |", "|---|---:|"]
            for name, seconds in batch_table(model, args.repeats):
                lines.append(f"| {name} | {seconds:.3f} |")
            lines.append("")
            print("\n".join(lines[-14:]), flush=True)
    lines += [
        "Notes: skexplain's fast engine recomputes, per substitution, only the windows its "
        "receptive field reaches up to the dense layer, with the first convolution's change "
        "taken as a difference of two kernel columns and the dense layer updated sparsely "
        "(``W x_ref`` plus ``W`` at the reached positions); tangermeme's fastISM also "
        "recomputes windows but convolves the first layer and recomputes the dense layer "
        "in full. tangermeme's default runs ``fast=False`` when it predicts the job to "
        "take under 30 s (so on 2 sequences it is a full-pass method). The batch-size "
        "table: the full engine's 'auto' now divides 64 MiB by the bytes of one row's "
        "activations (a forward pass of one row, distinct leaf outputs), not by its input "
        "bytes.",
        "",
    ]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
