"""Seconds and peak memory of SensX on a vision transformer, grouped and ungrouped.

The SensX paper explains a ViT on 3 x 224 x 224 images, so 150,528 features per image. This
script trains the small :class:`skexplain.models.VisionTransformer` of the attention
example (width 32, two layers of four heads, 16 x 16 patches) on planted-patch images
(:func:`skexplain.datasets.make_planted_patch_images`), then explains one test image with
:class:`skexplain.explainers.SensX`:

- grouped: one group per 16 x 16 patch (196 groups of 768 features);
- ungrouped: every one of the 150,528 features is a unit of the Morris walks.

For each it reports the seconds, the number of model evaluations, the peak of Python
allocations during the call (``tracemalloc``: numpy arrays included, torch's own buffers
not) and the process's peak resident memory so far (``ru_maxrss``), and the rank of the
planted patch (patches scored by their summed absolute attributions when ungrouped). SensX
explains the ViT's log-odds of class 1. Run from the repository root::

    python benchmarks/bench_vit_sensx.py                 # both rows
    python benchmarks/bench_vit_sensx.py --rows ungrouped  # only the 150,528-feature row
    python benchmarks/bench_vit_sensx.py --n-walks 2 --threads 2

Each row also reports SensX's seconds per model evaluation next to the model's own
seconds per row: the same ViT (float32, as SensX calls it: inference mode, no_grad) on
random rows built outside the timed region, in calls of SensX's batch size
(``batch_size="auto"``: 64 MiB of float32 rows, 111 rows of 150,528 values).
"""

import argparse
import os
import resource
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch
from skorch import NeuralNetClassifier
from skorch.callbacks import GradientNormClipping

from skexplain._core.compute import resolve_batch_size
from skexplain.datasets import make_planted_patch_images
from skexplain.explainers import SensX
from skexplain.models import VisionTransformer

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "vit_sensx.md"


def train_vit(n_train, epochs):
    images, labels, mask = make_planted_patch_images(n_train + 8, random_state=0)
    torch.manual_seed(0)
    vit = NeuralNetClassifier(
        VisionTransformer, module__d_model=32, module__n_layers=2, module__dim_feedforward=64,
        criterion=torch.nn.CrossEntropyLoss, optimizer=torch.optim.AdamW, lr=3e-4,
        max_epochs=epochs, batch_size=16, train_split=None,
        callbacks=[GradientNormClipping(1.0)], verbose=0,
    )
    vit.fit(images[:n_train], labels[:n_train])
    test = images[n_train:]
    accuracy = (vit.predict(test) == labels[n_train:]).mean()
    return vit, test, mask[n_train:], accuracy


class LogOdds(torch.nn.Module):
    """The ViT's log-odds of class 1, ``z1 - z0``: the score SensX explains.

    The trained ViT is so confident that its probabilities hardly move in random boxes
    (SensX would call every image insensitive), while its log-odds do.
    """

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        logits = self.net(x)
        return logits[:, 1:] - logits[:, :1]


def planted_rank(values, mask, grouped):
    """Rank of the planted patch among the 196 patches (1 = first; ties count against it)."""
    if grouped:
        scores = values
    else:  # sum of |attribution| over the 3 x 16 x 16 features of each patch
        scores = np.abs(values.reshape(3, 14, 16, 14, 16)).sum(axis=(0, 2, 4)).ravel()
    planted = mask[::16, ::16].ravel().argmax()
    return int((scores >= scores[planted]).sum())


def model_seconds_per_row(module, batch_size, n_calls=3):
    """The model alone: seconds per row over n_calls calls of batch_size random rows."""
    rows = torch.rand(batch_size, 3, 224, 224) * 2 - 1
    with torch.no_grad():
        module(rows[:2])
        start = time.perf_counter()
        for _ in range(n_calls):
            module(rows)
    return (time.perf_counter() - start) / (n_calls * batch_size)


def run(vit, image, mask, grouped, args):
    groups = None
    if grouped:
        patch = np.arange(196).reshape(14, 14).repeat(16, 0).repeat(16, 1)
        groups = np.broadcast_to(patch, (3, 224, 224))
    module = LogOdds(vit.module_).eval()
    explainer = SensX(
        module, n_walks=args.n_walks_grouped if grouped else args.n_walks,
        n_profile_samples=args.n_profile_samples, feature_groups=groups, lower=-1.0, upper=1.0,
        random_state=0,
    ).fit(image[None])
    n_units = 196 if grouped else image.size
    n_evaluations = (len(explainer.delta_grid_) * args.n_profile_samples
                     + explainer.n_walks * (n_units + 1))
    tracemalloc.start()
    start = time.perf_counter()
    E = explainer.explain(image[None])
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # KiB on Linux
    batch_size = resolve_batch_size("auto", image.size, itemsize=4)
    model_row = model_seconds_per_row(module, batch_size)
    return {
        "units": f"{n_units:,} {'patch groups' if grouped else 'features'}",
        "walks": explainer.n_walks,
        "model evaluations": f"{n_evaluations:,}",
        "seconds": f"{seconds:.1f}",
        "ms / evaluation": f"{seconds / n_evaluations * 1e3:.3f}",
        "model alone ms / row": f"{model_row * 1e3:.3f}",
        "batch size": batch_size,
        "tracemalloc peak (MiB)": f"{peak / 2**20:.0f}",
        "peak RSS so far (MiB)": f"{max_rss:.0f}",
        "delta*": f"{E.info['delta_star'][0]:.2f}",
        "planted patch rank": planted_rank(E.values[0], mask, grouped),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-train", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--n-walks", type=int, default=1, help="walks of the ungrouped run")
    parser.add_argument("--n-walks-grouped", type=int, default=10)
    parser.add_argument("--n-profile-samples", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rows", nargs="+", choices=["grouped", "ungrouped"],
                        default=["grouped", "ungrouped"], help="which rows to run")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    start = time.perf_counter()
    vit, test, mask, accuracy = train_vit(args.n_train, args.epochs)
    print(f"ViT trained in {time.perf_counter() - start:.0f} s; accuracy on 8 test images "
          f"{accuracy:.2f}", flush=True)
    rows = []
    for grouped in [kind == "grouped" for kind in args.rows]:
        rows.append(run(vit, test[0], mask[0], grouped, args))
        print(rows[-1], flush=True)
    header = list(rows[0])
    lines = [
        "# SensX on a ViT (3 x 224 x 224 planted-patch image)",
        "",
        f"`python benchmarks/bench_vit_sensx.py` ({args.threads} torch thread(s), "
        f"{args.n_profile_samples} profile samples per delta, ViT test accuracy "
        f"{accuracy:.2f}; load average {os.getloadavg()[0]:.2f}).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(str(row[key]) for key in header) + " |" for row in rows),
        "",
    ]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
