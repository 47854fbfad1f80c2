"""Batched model calls, per-instance seeds and joblib tasks shared by perturbation explainers."""

import numpy as np
from joblib import Parallel
from sklearn.utils import check_random_state
from tqdm.auto import tqdm

AUTO_BATCH_VALUES = 2**23  # "auto" batch_size keeps one batch under 64 MiB of float64
MAX_AUTO_BATCH = 4096


def resolve_batch_size(batch_size, n_features):
    """Rows per model call: ``batch_size``, or for "auto" ``min(4096, 2**23 // n_features)``."""
    if batch_size == "auto":
        return max(1, min(MAX_AUTO_BATCH, AUTO_BATCH_VALUES // n_features))
    return batch_size


def instance_seeds(random_state, n_samples, n_seeds):
    """Seeds of shape (n_samples, n_seeds); row i depends only on random_state and i."""
    root = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    return np.array(
        [np.random.SeedSequence(root, spawn_key=(i,)).generate_state(n_seeds)
         for i in range(n_samples)]
    ).reshape(n_samples, n_seeds)


def run_tasks(tasks, total, n_jobs, verbose, description):
    """Run joblib ``delayed`` tasks in order, with a tqdm bar when ``verbose`` > 0."""
    parallel = Parallel(n_jobs=n_jobs, return_as="generator")
    return list(tqdm(parallel(tasks), total=total, desc=description, disable=not verbose))


def score_blocks(score, blocks, batch_size):
    """Score a stream of ``(rows, target)`` blocks in model calls of ``batch_size`` rows.

    Blocks are concatenated and cut into full batches (blocks may be split between two
    calls), so every model call but the last gets exactly ``batch_size`` rows.

    Parameters
    ----------
    score : callable
        Maps rows of shape (batch, n_features) to scores of shape (batch, n_outputs).
    blocks : iterable of (ndarray of shape (n_rows, n_features), int)
        Rows and the output index whose score is wanted for them.
    batch_size : int

    Returns
    -------
    scores : ndarray of shape (total_rows,)
        The target score of every row, in stream order.
    """
    out, rows, targets, n_pending = [], [], [], 0

    def flush(stacked, stacked_targets):
        scores = score(stacked)
        out.append(scores[np.arange(len(stacked)), stacked_targets])

    for block, target in blocks:
        rows.append(block)
        targets.append(np.full(len(block), target, dtype=int))
        n_pending += len(block)
        if n_pending < batch_size:
            continue
        stacked, stacked_targets = _stack(rows), np.concatenate(targets)
        start = 0
        while n_pending - start >= batch_size:
            stop = start + batch_size
            flush(stacked[start:stop], stacked_targets[start:stop])
            start = stop
        rows, targets = [stacked[start:]], [stacked_targets[start:]]
        n_pending -= start
    if n_pending:
        flush(_stack(rows), np.concatenate(targets))
    return np.concatenate(out) if out else np.zeros(0)


def _stack(rows):
    return rows[0] if len(rows) == 1 else np.vstack(rows)  # no copy of a lone block


def score_in_batches(score, target, chunks, batch_size):
    """Score a stream of row blocks for one output, ``batch_size`` rows per model call.

    Returns
    -------
    scores : ndarray of shape (n_rows,)
        The ``target`` column of the scores, in stream order.
    """
    return score_blocks(score, ((rows, target) for rows in chunks), batch_size)
