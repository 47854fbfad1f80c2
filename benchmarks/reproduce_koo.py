"""Koo & Ploenzke (2021), task 1, trained to convergence: localization, match fraction, AUROC.

Reproduces the CNN-deep numbers of "Improving representations of genomic sequence motifs in
convolutional networks with exponential activations" (Nat. Mach. Intell. 3, 258-266, 2021):
task 1 at the paper's size and split (30,000 sequences of ``make_motif_dataset(task=1,
random_state=0)``, 70/10/20 in row order), CNN-deep with an exponential and a ReLU first layer,
each trained with the paper's protocol (Adam 1e-3, batch 100, L2 1e-6, early stopping with
patience 20 on the validation AUPR, learning rate x 0.2 after 5 epochs without improvement, at
most 100 epochs), for two seeds (weight initialisation, batch order, dropout). Per model:

- test AUROC and AUPR (macro over the 12 labels);
- filter match fraction: first-layer filters -> PPMs (sites above 0.5 x max, 20-nt windows,
  trimmed to IC > 0.5 bits + 3), TomTom against JASPAR 2016 (E < 0.1), fraction whose hits name
  one of the 12 TFs;
- run-level localization AUROC at buffer 10 and 15 (per position the max over first-layer
  filters of the post-activation output; :func:`skexplain.metrics.localization_auroc`, whose
  run splitter fixes the released code's offset bug), and the same with the released splitter.

Then CNN-2 and CNN-50 (seed 0) for the match-fraction contrast of the paper's figure 2.

Run from the repository root (one torch thread, so it can share the machine)::

    nice -n 19 python benchmarks/reproduce_koo.py

It resumes where it stopped: every epoch is checkpointed under
``benchmarks/results/checkpoints/`` and every finished model's row is kept in
``benchmarks/results/koo_cells.json``; the table is rewritten to ``benchmarks/results/koo.md``
after each model. ``SKEXPLAIN_SMOKE=1`` runs a tiny version (1,000 sequences, 2 epochs) into
``benchmarks/results/smoke/``.

``--status`` prints how far each model has trained and the time left, without training.
``--partial`` evaluates the best weights so far of the CNN-deep models still training and
writes ``benchmarks/results/koo_partial.md`` (an interim view; it does not train either).
``--evaluate-only`` trains nothing: it adds what finished models lack (the localization with
the released splitter, from their saved best weights) and rewrites ``koo.md``. A plain run
does the same first, before training what is left.

Localization is also reported with the paper's released run splitter
(:func:`released_localization_auroc`, bugs included), next to the paper's numbers, which
were computed with it.
"""

import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

# This checkout's skexplain (not another installed copy), and the shared training helpers.
sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from _paper_training import (  # noqa: E402
    SMOKE,
    as_classifier,
    best_module,
    flattened,
    load_average,
    load_cells,
    log,
    mean_sd,
    paper_split,
    progress,
    results_dir,
    save_cell,
    train,
)

from skexplain.datasets import TASK1_TFS  # noqa: E402
from skexplain.metrics import localization_auroc  # noqa: E402
from skexplain.motifs import filter_ppms, match_fraction, tomtom_matches, trim_ppm  # noqa: E402

N_SAMPLES = 1_000 if SMOKE else 30_000
MAX_EPOCHS = 2 if SMOKE else 100
SCORING = "average_precision"
# Most important first: CNN-deep exp / ReLU seed 0, then seed 1, then the figure-2 contrast.
MODELS = [
    ("cnn_deep", "exponential", 0), ("cnn_deep", "relu", 0),
    ("cnn_deep", "exponential", 1), ("cnn_deep", "relu", 1),
    ("cnn2", "exponential", 0), ("cnn2", "relu", 0),
    ("cnn50", "exponential", 0), ("cnn50", "relu", 0),
]
# Paper (CNN-deep, Extended Data Fig. 1d): localization AUROC mean +/- sd over sequences.
PAPER_LOCALIZATION = {"exponential": (15, 0.889, 0.201), "relu": (10, 0.391, 0.331)}
OUT = results_dir("koo")
CELLS = OUT / "koo_cells.json"
RELEASED_KEYS = ("localization_released_b10", "localization_released_b15")


def _released_run_maxima(score, label, value):
    """Maxima of ``score`` over the runs of class ``value`` as the released loop finds them.

    A state machine with the released loop's exact semantics (``label`` holds 0 / 1):

    - it keeps an ``index`` (0 at first) and, each turn, looks for the first position of
      class ``value`` at or after ``index``: ``start = index + offset``. The test for "one
      was found" is ``any`` of the list of offsets, which is also false when the only offset
      is 0 (a lone position at ``index`` itself);
    - it then looks for the end of the run (the first position of the other class) from
      ``index + start``, not from ``start``: after the first turn ``index`` is counted twice,
      so the end found can lie several runs further on and the run swallows its neighbours,
      or no end is found at all. The same ``any`` test applies, so an end found at offset 0
      and nowhere after counts as "none";
    - an end found: the run ``score[start:end]`` is kept and ``index = end``; no end: a
      negative run (``value == 0``) is closed at the sequence end and kept, a positive run
      is dropped; either way the loop stops;
    - when no start is found, the loop still runs the end search once more with the
      ``start`` of the previous turn (a stale value, before ``index``), and keeps that run
      as well: one extra, overlapping instance after the last run found.

    Returns None where the released code raises (no start on the first turn: ``start`` is
    unbound there).
    """
    length = len(label)
    maxima = []
    index, start = 0, None
    while True:
        offsets = np.flatnonzero(label[index:] == value)
        found = bool(np.any(offsets))  # any(list(s)): False for [] and for [0]
        if found:
            start = index + int(offsets[0])
        elif start is None:
            return None
        ends = np.flatnonzero(label[index + start:] != value)
        if np.any(ends):
            end = index + start + int(ends[0])
            maxima.append(score[start:end].max())
            index = end
        else:
            if value == 0:
                maxima.append(score[start:length].max())
            break
        if not found:
            break
    return maxima


def released_localization_auroc(scores, mask, buffer):
    """Localization AUROC (mean, sd over sequences) with the paper's released run splitter.

    The function ``interpretability_performance`` of the notebook
    ``task1_step7_PWM_scan_comparison`` in github.com/p-koo/exponential_activations,
    reimplemented with its bugs, so that our CNNs can be held next to the paper's numbers on
    equal terms; :func:`skexplain.metrics.localization_auroc` is the corrected metric and
    the one the tables lead with. Identical to it: the labels (``mask``, i.e. ground-truth
    information content > 0.01 bits), the widening (box of width ``buffer``, ``buffer // 2``
    positions to the left), one sample per run scored by its maximum, the per-sequence AUROC
    (sklearn's ``roc_curve`` then ``auc``, which is ``roc_auc_score``) and the nanmean / nanstd
    over sequences. Different: which runs are collected, by two separate loops over the
    widened labels (:func:`_released_run_maxima`, positives then negatives):

    - after the first run of each class, the end of a run is searched from ``index + start``
      where ``start`` already includes ``index``: runs get ends too far on (swallowing the
      runs between) and later runs are skipped;
    - a positive run with no end found (reaching the end of the sequence, or pushed past it
      by the doubled offset) is dropped; a negative one is closed at the sequence end;
    - ``any(list(offsets))`` is false for the single offset 0, so a lone match at the current
      index counts as "none";
    - when no further run starts, the end search runs once more with the previous run's
      start and adds that (overlapping, longer) run again.

    A sequence whose collected runs hold one class only gets NaN (sklearn's ``roc_curve``
    gives NaN there too), as does one where the released code raises (no run of one class
    at all: a variable is unbound).

    Parameters
    ----------
    scores : ndarray of shape (n_samples, length)
        Per-position scores.
    mask : ndarray of shape (n_samples, length), bool
        Ground-truth motif positions.
    buffer : int
        Width of the widening box.

    Returns
    -------
    mean, sd : float
        ``nanmean`` and ``nanstd`` of the per-sequence AUROC.
    """
    auroc = _released_scores(scores, mask, buffer)
    if np.isnan(auroc).all():
        return float("nan"), float("nan")
    return float(np.nanmean(auroc)), float(np.nanstd(auroc))


def _released_scores(scores, mask, buffer):
    """Per-sequence AUROC of :func:`released_localization_auroc` (NaN where undefined)."""
    scores = np.asarray(scores, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    if scores.shape != mask.shape or scores.ndim != 2:
        raise ValueError(f"scores {scores.shape} and mask {mask.shape} must be equal 2-D.")
    left = buffer // 2  # int(buffer / 2) in the released code
    padded = np.pad(mask.astype(np.int64), ((0, 0), (left, buffer - left)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, buffer, axis=1)
    labels = (windows.sum(axis=2) > 0)[:, :mask.shape[1]].astype(np.int64)
    auroc = np.full(len(scores), np.nan)
    for i, (score, label) in enumerate(zip(scores, labels, strict=True)):
        positives = _released_run_maxima(score, label, 1)
        negatives = _released_run_maxima(score, label, 0)
        if not positives or not negatives:
            continue
        values = np.r_[positives, negatives]
        classes = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
        auroc[i] = roc_auc_score(classes, values)
    return auroc


def data():
    return paper_split(1, N_SAMPLES)


def evaluate(net, X_test, y_test, mask_test):
    start = time.perf_counter()
    proba = net.predict_proba(X_test)
    activations = net.first_layer_activations(X_test)
    ppms, n_sites = filter_ppms(activations, X_test, window=20, threshold=0.5)
    ppms = [trim_ppm(ppm, min_ic=0.5, pad=3) for ppm in ppms]
    matches = tomtom_matches(ppms, evalue_threshold=0.1)
    per_position = activations.max(axis=1)
    loc10, sd10 = localization_auroc(per_position, mask_test, buffer=10)
    loc15, sd15 = localization_auroc(per_position, mask_test, buffer=15)
    released = released_localization(per_position, mask_test)
    matched = sorted(set(matches.target_name)) if len(matches) else []
    return {
        "test_auroc": float(roc_auc_score(y_test, proba, average="macro")),
        "test_aupr": float(average_precision_score(y_test, proba, average="macro")),
        "match_fraction": float(match_fraction(matches, TASK1_TFS, len(ppms))),
        "filters_with_hits": int(matches["query"].nunique()) if len(matches) else 0,
        "tfs_recovered": sorted({t for t in TASK1_TFS
                                 if t.casefold() in {m.casefold() for m in matched}}),
        "localization_b10": [loc10, sd10], "localization_b15": [loc15, sd15],
        **released,
        "eval_seconds": time.perf_counter() - start,
    }



def released_localization(per_position, mask_test):
    """The cells' keys of the released splitter: buffer 10 and 15, [mean, sd]."""
    return {key: list(released_localization_auroc(per_position, mask_test, buffer))
            for key, buffer in zip(RELEASED_KEYS, (10, 15), strict=True)}


def _mean_sd_cell(value):
    return "-" if value is None else f"{value[0]:.3f} +/- {value[1]:.3f}"


def write_table(cells):
    load = " ".join(f"{x:.2f}" for x in load_average())
    lines = [
        "# Koo & Ploenzke (2021), task 1, trained to convergence",
        "",
        "Command: `nice -n 19 python benchmarks/reproduce_koo.py` (one torch thread, CPU).",
        f"Data: `make_motif_dataset(task=1, n_samples={N_SAMPLES}, random_state=0)`, "
        "70/10/20 split in row order. Protocol: Adam 1e-3, batch 100, L2 1e-6, early stopping "
        "patience 20 on validation AUPR (best epoch restored), LR x 0.2 after 5 flat epochs, "
        f"cap {MAX_EPOCHS} epochs. Localization: run-level AUROC, correct run splitter "
        "(the released one double-counts its offset); the \"released splitter\" columns and "
        "rows use the paper's released splitter, bugs included, to compare on equal terms. "
        "Mean +/- sd is over sequences for one model, and over seeds (sd of the seed means) "
        "for the summary rows.",
        "",
        f"Load average when this file was written: {load} (2 shared cores; timings "
        "preliminary).",
        "",
        "## Per model",
        "",
        "| model | first layer | seed | epochs (best) | stop | valid AUPR gain, last 10 ep. | "
        "test AUROC | test AUPR | match fraction | loc. AUROC b10 | loc. AUROC b15 | "
        "loc. b10, released splitter | loc. b15, released splitter | train (min) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for architecture, activation, seed in MODELS:
        cell = cells.get(f"{architecture}/{activation}/{seed}")
        if cell is None:
            continue
        b10, b15 = cell["localization_b10"], cell["localization_b15"]
        lines.append(
            f"| {architecture} | {activation} | {seed} | {cell['epochs_trained']} "
            f"({cell['best_epoch']}) | {cell['stop_reason']} | {cell['flattened']:+.4f} | "
            f"{cell['test_auroc']:.3f} | {cell['test_aupr']:.3f} | "
            f"{cell['match_fraction']:.2f} | {b10[0]:.3f} +/- {b10[1]:.3f} | "
            f"{b15[0]:.3f} +/- {b15[1]:.3f} | "
            f"{_mean_sd_cell(cell.get('localization_released_b10'))} | "
            f"{_mean_sd_cell(cell.get('localization_released_b15'))} | "
            f"{cell['train_seconds'] / 60:.0f} |")
    lines += [
        "",
        "## CNN-deep against the paper (mean +/- sd over seeds)",
        "",
        "| first layer | seeds | metric | ours | paper | ours - paper |",
        "|---|---|---|---|---|---|",
    ]
    total = 0.0
    for activation in ("exponential", "relu"):
        done = [cells[k] for k in (f"cnn_deep/{activation}/{s}" for s in (0, 1)) if k in cells]
        if not done:
            lines.append(f"| {activation} | 0 | (not finished) | | | |")
            continue
        buffer, paper, paper_sd = PAPER_LOCALIZATION[activation]
        ours = [c[f"localization_b{buffer}"][0] for c in done]
        lines.append(f"| {activation} | {len(done)} | localization AUROC, buffer {buffer} | "
                     f"{mean_sd(ours)} | {paper:.3f} +/- {paper_sd:.3f} | "
                     f"{np.mean(ours) - paper:+.3f} |")
        other = 10 if buffer == 15 else 15
        lines.append(f"| {activation} | {len(done)} | localization AUROC, buffer {other} | "
                     f"{mean_sd([c[f'localization_b{other}'][0] for c in done])} | - | |")
        released = [c for c in done if all(k in c for k in RELEASED_KEYS)]
        if released:
            ours = [c[f"localization_released_b{buffer}"][0] for c in released]
            lines.append(
                f"| {activation} | {len(released)} | localization AUROC, buffer {buffer} "
                f"(released splitter) | {mean_sd(ours)} | {paper:.3f} +/- {paper_sd:.3f} | "
                f"{np.mean(ours) - paper:+.3f} |")
            lines.append(
                f"| {activation} | {len(released)} | localization AUROC, buffer {other} "
                f"(released splitter) | "
                f"{mean_sd([c[f'localization_released_b{other}'][0] for c in released])} "
                "| - | |")
        for key, label in (("test_auroc", "test AUROC"), ("test_aupr", "test AUPR"),
                           ("match_fraction", "match fraction (TomTom E < 0.1)"),
                           ("epochs_trained", "epochs trained")):
            lines.append(f"| {activation} | {len(done)} | {label} | "
                         f"{mean_sd([c[key] for c in done])} | - | |")
    exp = [cells[k]["localization_b15"][0] for k in ("cnn_deep/exponential/0",
                                                     "cnn_deep/exponential/1") if k in cells]
    relu = [cells[k]["localization_b10"][0] for k in ("cnn_deep/relu/0", "cnn_deep/relu/1")
            if k in cells]
    if exp and relu:
        lines += ["", f"Margin exp (b15) - ReLU (b10): ours {np.mean(exp) - np.mean(relu):.3f}, "
                  f"paper {0.889 - 0.391:.3f}."]
    exp = [cells[k]["localization_released_b15"][0] for k in ("cnn_deep/exponential/0",
           "cnn_deep/exponential/1") if "localization_released_b15" in cells.get(k, {})]
    relu = [cells[k]["localization_released_b10"][0] for k in ("cnn_deep/relu/0",
            "cnn_deep/relu/1") if "localization_released_b10" in cells.get(k, {})]
    if exp and relu:
        lines += ["", "Margin with the released splitter: ours "
                  f"{np.mean(exp) - np.mean(relu):.3f}, paper {0.889 - 0.391:.3f}."]
    fig2 = [(a, act) for a in ("cnn2", "cnn50") for act in ("exponential", "relu")
            if f"{a}/{act}/0" in cells]
    if fig2:
        lines += ["", "## Figure-2 contrast (seed 0): filter match fraction", "",
                  "| model | first layer | match fraction | test AUROC | TFs recovered |",
                  "|---|---|---|---|---|"]
        for architecture, activation in fig2:
            cell = cells[f"{architecture}/{activation}/0"]
            lines.append(f"| {architecture} | {activation} | {cell['match_fraction']:.2f} | "
                         f"{cell['test_auroc']:.3f} | {len(cell['tfs_recovered'])} of 12 |")
    for cell in cells.values():
        total += cell["train_seconds"] + cell["eval_seconds"]
    remaining = [f"{a}/{act}/{s}" for a, act, s in MODELS if f"{a}/{act}/{s}" not in cells]
    lines += ["", f"Wall time of the finished models: {total / 3600:.2f} h (training and "
              "evaluation, one thread, nice 19 on a loaded machine).",
              f"Not finished yet: {', '.join(remaining) if remaining else 'none'}."]
    text = "\n".join(lines) + "\n"
    (OUT / "koo.md").write_text(text)
    return text


def checkpoint(architecture, activation, seed):
    return OUT / "checkpoints" / f"koo_{architecture}_{activation}_seed{seed}.pt"


def status():
    rows = [(f"{a}/{act}/{s}", checkpoint(a, act, s)) for a, act, s in MODELS]
    log("\n".join(progress(rows, MAX_EPOCHS)))


def partial():
    """Evaluate the best-so-far weights of the unfinished CNN-deep models."""
    cells = load_cells(CELLS)
    X, y, mask, _, _, test_rows = data()
    lines = ["# Koo & Ploenzke (2021), task 1: models still training, best weights so far", "",
             "Interim numbers (`python benchmarks/reproduce_koo.py --partial`): each CNN-deep "
             "model that has not finished, evaluated with its best validation epoch so far. "
             "Finished models are in koo.md.", "",
             "| model | first layer | seed | epochs so far (best) | valid AUPR | test AUROC | "
             "match fraction | loc. AUROC b10 | loc. AUROC b15 | loc. b10, released splitter | "
             "loc. b15, released splitter |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for architecture, activation, seed in MODELS:
        path = checkpoint(architecture, activation, seed)
        if architecture != "cnn_deep" or f"{architecture}/{activation}/{seed}" in cells \
                or not path.exists():
            continue
        module, state = best_module(path, n_outputs=y.shape[1])
        net = as_classifier(module, architecture, activation, multilabel=True)
        cell = evaluate(net, X[test_rows], y[test_rows], mask[test_rows])
        b10, b15 = cell["localization_b10"], cell["localization_b15"]
        lines.append(f"| {architecture} | {activation} | {seed} | {state['epoch']} "
                     f"({state['best_epoch']}) | {state['best_score']:.3f} | "
                     f"{cell['test_auroc']:.3f} | {cell['match_fraction']:.2f} | "
                     f"{b10[0]:.3f} +/- {b10[1]:.3f} | {b15[0]:.3f} +/- {b15[1]:.3f} | "
                     f"{_mean_sd_cell(cell[RELEASED_KEYS[0]])} | "
                     f"{_mean_sd_cell(cell[RELEASED_KEYS[1]])} |")
        log(lines[-1])
    text = "\n".join(lines) + "\n"
    (OUT / "koo_partial.md").write_text(text)
    log(text)


def lacking_released(cells):
    """Finished models whose cell has no released-splitter localization yet."""
    return [key for key, cell in cells.items() if key.startswith("cnn_deep/")
            and not all(k in cell for k in RELEASED_KEYS)]


def add_released(cells, X, y, mask, test_rows):
    """Fill in the released-splitter keys of finished cells from their saved best weights.

    Nothing is trained: the checkpoint's best weights are loaded, the first-layer scan of
    the test set recomputed, and the stored correct-splitter localization at buffer 10
    recomputed as a check that these are the weights the cell was evaluated with.
    """
    for key in lacking_released(cells):
        architecture, activation, seed = key.split("/")
        path = checkpoint(architecture, activation, int(seed))
        if not path.exists():
            log(f"{key}: no checkpoint at {path}; released splitter not computed")
            continue
        module, _ = best_module(path, n_outputs=y.shape[1])
        net = as_classifier(module, architecture, activation, multilabel=True)
        per_position = net.first_layer_activations(X[test_rows]).max(axis=1)
        stored = cells[key]["localization_b10"][0]
        again = localization_auroc(per_position, mask[test_rows], buffer=10)[0]
        if abs(again - stored) > 1e-6:
            log(f"{key}: checkpoint gives localization b10 {again:.6f}, the cell holds "
                f"{stored:.6f}: not the evaluated weights; released splitter not computed")
            continue
        released = released_localization(per_position, mask[test_rows])
        cells = save_cell(CELLS, key, {**cells[key], **released})
        log(f"{key}: released splitter b10 {released[RELEASED_KEYS[0]][0]:.3f}, b15 "
            f"{released[RELEASED_KEYS[1]][0]:.3f} (correct splitter b10 {stored:.3f}, "
            f"b15 {cells[key]['localization_b15'][0]:.3f})")
    return cells


def main():
    torch.set_num_threads(1)
    if "--status" in sys.argv:
        return status()
    if "--partial" in sys.argv:
        return partial()
    evaluate_only = "--evaluate-only" in sys.argv
    cells = load_cells(CELLS)
    write_table(cells)
    finished = all(f"{a}/{act}/{s}" in cells for a, act, s in MODELS)
    if (finished or evaluate_only) and not lacking_released(cells):
        log(write_table(cells))
        return
    X, y, mask, train_rows, valid_rows, test_rows = data()
    if lacking_released(cells):
        cells = add_released(cells, X, y, mask, test_rows)
        log(write_table(cells))
    if finished or evaluate_only:
        return
    log(f"task 1: {len(train_rows)} / {len(valid_rows)} / {len(test_rows)} sequences")
    for architecture, activation, seed in MODELS:
        key = f"{architecture}/{activation}/{seed}"
        if key in cells:
            continue
        log(f"{key}: training")
        module, record = train(
            checkpoint(architecture, activation, seed),
            architecture=architecture, first_activation=activation, seed=seed,
            X_train=X[train_rows], y_train=y[train_rows], X_valid=X[valid_rows],
            y_valid=y[valid_rows], scoring=SCORING, max_epochs=MAX_EPOCHS, log=log)
        net = as_classifier(module, architecture, activation, multilabel=True)
        cell = {**{k: v for k, v in record.items() if k != "history"},
                "flattened": flattened(record["history"], SCORING),
                **evaluate(net, X[test_rows], y[test_rows], mask[test_rows])}
        cells = save_cell(CELLS, key, cell)
        log(f"{key}: done {cell}")
        log(write_table(cells))
    log("all models finished")


if __name__ == "__main__":
    main()
