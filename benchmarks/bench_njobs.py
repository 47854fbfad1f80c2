"""Speed-up of ``n_jobs=2`` over ``n_jobs=1`` for SensX and in silico mutagenesis.

SensX explains a float32 torch MLP 1000-200-100-1 (random weights) on ``--n-sensx``
N(0, 1) rows at its defaults; ISM (:class:`skexplain.explainers.InSilicoMutagenesis`,
through its public API) explains a small float32 CNN on ``--n-ism`` random one-hot
sequences of 1,000 nt. Each method runs with n_jobs=1 and n_jobs=2 interleaved,
``--repeats`` times, the parent on one torch thread (the engine puts each worker on one);
the values of both runs are checked to be identical. Measure on an idle machine only:
the aim is a speed-up >= 1.6 on two cores. Run from the repository root::

    python benchmarks/bench_njobs.py
    python benchmarks/bench_njobs.py --methods sensx --repeats 3
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "njobs.md"


def sensx_case(n_rows):
    from skexplain.explainers import SensX

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(1000, 200), torch.nn.ReLU(),
                                torch.nn.Linear(200, 100), torch.nn.ReLU(),
                                torch.nn.Linear(100, 1)).eval()
    rng = np.random.default_rng(0)
    X_fit = rng.normal(size=(200, 1000)).astype(np.float32)
    X = rng.normal(size=(n_rows, 1000)).astype(np.float32)

    def run(n_jobs):
        explainer = SensX(model, random_state=0, n_jobs=n_jobs).fit(X_fit)
        return explainer.explain(X).values

    return f"SensX defaults, MLP 1000-200-100-1, {n_rows} rows", run


def ism_case(n_rows):
    from skexplain.explainers import InSilicoMutagenesis

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv1d(4, 32, 19, padding=9), torch.nn.ReLU(), torch.nn.MaxPool1d(10),
        torch.nn.Conv1d(32, 32, 7, padding=3), torch.nn.ReLU(), torch.nn.MaxPool1d(10),
        torch.nn.Flatten(), torch.nn.Linear(32 * 10, 1),
    ).eval()
    rng = np.random.default_rng(0)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, size=(n_rows, 1000))].transpose(0, 2, 1)

    def run(n_jobs):
        explainer = InSilicoMutagenesis(model, n_jobs=n_jobs).fit(X)
        return explainer.explain(X).values

    return f"ISM, CNN (conv 19 / pool 10 / conv 7 / pool 10 / dense), 1,000 nt, {n_rows} seqs", run


CASES = {"sensx": sensx_case, "ism": ism_case}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--n-sensx", type=int, default=16)
    parser.add_argument("--n-ism", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    lines = []
    for method in args.methods:
        label, run = CASES[method](args.n_sensx if method == "sensx" else args.n_ism)
        run(2)  # starts the workers once
        times = {1: [], 2: []}
        values = {}
        for _ in range(args.repeats):
            for n_jobs in (1, 2):
                start = time.perf_counter()
                values[n_jobs] = run(n_jobs)
                times[n_jobs].append(time.perf_counter() - start)
        same = np.array_equal(values[1], values[2])
        t1, t2 = np.median(times[1]), np.median(times[2])
        line = f"| {label} | {t1:.2f} | {t2:.2f} | {t1 / t2:.2f} | {same} |"
        print(line, flush=True)
        lines.append(line)
    load = os.getloadavg()
    text = "\n".join([
        "# n_jobs=2 speed-up (one torch thread per worker)",
        "",
        f"`python benchmarks/bench_njobs.py` ({args.repeats} interleaved repeats, medians; "
        f"{os.cpu_count()} cores; load average at the end {load[0]:.2f} / {load[1]:.2f} / "
        f"{load[2]:.2f}).",
        "",
        "| case | n_jobs=1 s | n_jobs=2 s | speed-up | identical values |",
        "|---|---:|---:|---:|---|",
        *lines,
        "",
    ])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
