"""Resumable training to convergence of the Koo & Ploenzke (2021) CNNs, shared by
``reproduce_koo.py`` and ``reproduce_attribution_table.py``.

The paper's protocol: Adam (lr 1e-3), binary cross-entropy, batch 100, L2 1e-6 on the kernels,
early stopping with patience 20 on a validation score (restoring the best epoch) and the
learning rate multiplied by 0.2 after 5 epochs without improvement, up to ``max_epochs``.

Every epoch writes a checkpoint (model, optimizer and scheduler state, the validation history,
the best weights so far), atomically, so a killed run resumes at its last finished epoch; the
batch order and the dropout masks of epoch ``e`` are seeded by ``(seed, e)`` so a resumed run
trains exactly as an uninterrupted one would. Finished table cells live in a JSON file, written
atomically after each cell.
"""

import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from skexplain.datasets import make_motif_dataset
from skexplain.models import ExpActivationCNN, ExpActivationCNNClassifier

RESULTS = Path(__file__).resolve().parent / "results"
SMOKE = os.environ.get("SKEXPLAIN_SMOKE", "") not in ("", "0")
L2 = 1e-6  # Keras kernel_regularizer=l2(1e-6): 1e-6 * sum(W ** 2) per kernel
MIN_LR = 1e-7


def log(message):
    print(message, flush=True)


def mean_sd(values):
    """"0.123" for one value, "0.123 +/- 0.045" (sample sd) for several."""
    values = np.asarray(values, dtype=float)
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{values.mean():.3f} +/- {values.std(ddof=1):.3f}"


def paper_split(task, n_samples):
    """The paper's task, and its 70/10/20 train/valid/test rows (in generation order)."""
    X, y, mask = make_motif_dataset(task=task, n_samples=n_samples, random_state=0)
    n_train, n_valid = int(0.7 * n_samples), int(0.1 * n_samples)
    rows = np.split(np.arange(n_samples), [n_train, n_train + n_valid])
    return (X, y.astype(np.float32), mask, *rows)


def results_dir(name):
    """benchmarks/results (or benchmarks/results/smoke/<name> in smoke mode)."""
    path = RESULTS / "smoke" / name if SMOKE else RESULTS
    (path / "checkpoints").mkdir(parents=True, exist_ok=True)
    return path


def atomic_write(path, writer):
    """Write through a temporary file then rename, so a kill never leaves half a file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    writer(tmp)
    os.replace(tmp, path)


def load_cells(path):
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else {}


def save_cell(path, key, value):
    """Add one finished cell to the JSON file of cells (re-read first, then rewritten)."""
    cells = load_cells(path)
    cells[key] = value
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(cells, indent=1,
                                                                   sort_keys=True)))
    return cells


def _score(name, y, proba):
    metric = {"roc_auc": roc_auc_score, "average_precision": average_precision_score}[name]
    if y.ndim == 2 and y.shape[1] == 1:
        return float(metric(y[:, 0], proba[:, 0]))
    return float(metric(y, proba, average="macro"))


def predict_logits(module, X, batch_size=500):
    module.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(X), batch_size):
            out.append(module(torch.from_numpy(X[start:start + batch_size])))
    return torch.cat(out).numpy()


def _l2_penalty(module):
    weights = [block.conv.weight for block in module.blocks] + [module.dense.weight,
                                                               module.output.weight]
    return L2 * sum(w.pow(2).sum() for w in weights)


def train(checkpoint, *, architecture, first_activation, seed, X_train, y_train, X_valid,
          y_valid, scoring, max_epochs=100, patience=20, lr=1e-3, batch_size=100,
          lr_factor=0.2, lr_patience=5, log=print):
    """Train (or resume, or load) one CNN; return (module with the best weights, record).

    ``y_*`` are 2-D float arrays (n, n_outputs). ``record`` holds the per-epoch history
    (train loss, validation score, learning rate, seconds), the best epoch and whether
    training stopped early or at the cap.
    """
    checkpoint = Path(checkpoint)
    n_outputs = y_train.shape[1]
    torch.manual_seed(seed)
    module = ExpActivationCNN(n_outputs=n_outputs, input_length=X_train.shape[2],
                              n_channels=X_train.shape[1], architecture=architecture,
                              first_activation=first_activation)
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max", factor=lr_factor, patience=lr_patience, min_lr=MIN_LR)
    state = {"epoch": 0, "history": [], "best_score": -np.inf, "best_epoch": 0,
             "best_model": None, "done": False, "stop_reason": None}
    if checkpoint.exists():
        saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
        module.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        state = saved["state"]
        if not state["done"]:
            log(f"  resuming {checkpoint.name} after epoch {state['epoch']}")
    criterion = torch.nn.BCEWithLogitsLoss()
    X_train_t, y_train_t = torch.from_numpy(X_train), torch.from_numpy(y_train)
    while not state["done"]:
        epoch = state["epoch"] + 1
        start = time.perf_counter()
        module.train()
        order = np.random.default_rng([seed, epoch]).permutation(len(X_train))
        torch.manual_seed(seed * 100_003 + epoch)
        losses = []
        for begin in range(0, len(order), batch_size):
            rows = torch.from_numpy(order[begin:begin + batch_size])
            optimizer.zero_grad()
            loss = criterion(module(X_train_t[rows]), y_train_t[rows])
            (loss + _l2_penalty(module)).backward()
            optimizer.step()
            losses.append(loss.item())
        proba = 1 / (1 + np.exp(-predict_logits(module, X_valid)))
        score = _score(scoring, y_valid, proba)
        current_lr = optimizer.param_groups[0]["lr"]
        scheduler.step(score)
        seconds = time.perf_counter() - start
        state["history"].append({"epoch": epoch, "train_loss": float(np.mean(losses)),
                                 f"valid_{scoring}": score, "lr": current_lr,
                                 "seconds": seconds})
        state["epoch"] = epoch
        if score > state["best_score"]:
            state["best_score"], state["best_epoch"] = score, epoch
            state["best_model"] = {k: v.clone() for k, v in module.state_dict().items()}
        log(f"  {checkpoint.stem} epoch {epoch:3d} loss {np.mean(losses):.4f} valid {scoring} "
            f"{score:.4f} (best {state['best_score']:.4f} @ {state['best_epoch']}) lr "
            f"{current_lr:.1e} {seconds:.0f}s")
        if epoch - state["best_epoch"] >= patience:
            state["done"], state["stop_reason"] = True, "early stopping"
        elif epoch >= max_epochs:
            state["done"], state["stop_reason"] = True, f"epoch cap {max_epochs}"
        saved = {"model": module.state_dict(), "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict(), "state": state,
                 "architecture": architecture, "first_activation": first_activation,
                 "seed": seed}
        atomic_write(checkpoint, lambda tmp, saved=saved: torch.save(saved, tmp))
    module.load_state_dict(state["best_model"])
    module.eval()
    record = {
        "epochs_trained": state["epoch"], "best_epoch": state["best_epoch"],
        f"best_valid_{scoring}": state["best_score"], "stop_reason": state["stop_reason"],
        "train_seconds": float(sum(h["seconds"] for h in state["history"])),
        "history": state["history"],
    }
    return module, record


def as_classifier(module, architecture, first_activation, multilabel, input_length=200):
    """The trained module inside an ExpActivationCNNClassifier, for skexplain's explainers."""
    net = ExpActivationCNNClassifier(architecture=architecture,
                                     first_activation=first_activation, train_split=None,
                                     verbose=0)
    n_outputs = module.output.out_features
    net.n_outputs_ = n_outputs
    net.n_channels_ = module.blocks[0].conv.in_channels
    net.input_length_ = input_length
    net._multilabel = multilabel
    net._classes = np.arange(n_outputs) if multilabel else np.array([0, 1])
    net.initialize()
    net.module_.load_state_dict(module.state_dict())
    net.module_.eval()
    return net


def flattened(history, scoring, window=10):
    """Change of the validation score over the last ``window`` epochs (a flat curve ~ 0)."""
    scores = [h[f"valid_{scoring}"] for h in history]
    if len(scores) <= window:
        return float("nan")
    return float(max(scores[-window:]) - max(scores[:-window]))


def load_average():
    return os.getloadavg()


def load_checkpoint(path):
    """The saved training state of one model, or None when it has not started."""
    path = Path(path)
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)


def progress(rows, max_epochs, patience=20):
    """Markdown lines on models in training: epoch, best score, seconds per epoch, ETA.

    ``rows`` is a list of (name, checkpoint path). The ETA is a range: the fewest epochs
    left (the best epoch stays the best, so early stopping ``patience`` epochs after it) to
    the cap.
    """
    lines = ["| model | epoch | best valid (epoch) | s / epoch (last 5) | epochs left | "
             "hours left |", "|---|---|---|---|---|---|"]
    total_low = total_high = 0.0
    for name, path in rows:
        saved = load_checkpoint(path)
        if saved is None:
            lines.append(f"| {name} | not started | | | | |")
            continue
        state = saved["state"]
        history = state["history"]
        seconds = float(np.median([h["seconds"] for h in history[-5:]]))
        if state["done"]:
            low = high = 0
        else:
            low = max(0, min(max_epochs, state["best_epoch"] + patience) - state["epoch"])
            high = max_epochs - state["epoch"]
        total_low += low * seconds
        total_high += high * seconds
        lines.append(f"| {name} | {state['epoch']}{' (done)' if state['done'] else ''} | "
                     f"{state['best_score']:.4f} ({state['best_epoch']}) | {seconds:.0f} | "
                     f"{low}-{high} | {low * seconds / 3600:.1f}-{high * seconds / 3600:.1f} |")
    lines.append(f"\nStarted models: {total_low / 3600:.1f}-{total_high / 3600:.1f} h of "
                 "training left at the current speed (models not started come on top).")
    return lines


def best_module(path, n_outputs, input_length=200):
    """The best weights so far of a checkpoint, as an ExpActivationCNN in eval mode."""
    saved = load_checkpoint(path)
    module = ExpActivationCNN(n_outputs=n_outputs, input_length=input_length,
                              architecture=saved["architecture"],
                              first_activation=saved["first_activation"])
    module.load_state_dict(saved["state"]["best_model"])
    module.eval()
    return module, saved["state"]
