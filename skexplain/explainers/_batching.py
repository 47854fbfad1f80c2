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


def iter_tasks(tasks, total, n_jobs, verbose, description):
    """Run joblib ``delayed`` tasks, yielding results in order (tqdm bar if ``verbose`` > 0).

    Results are yielded as they arrive, so a caller that reduces them keeps none.
    """
    parallel = Parallel(n_jobs=n_jobs, return_as="generator")
    yield from tqdm(parallel(tasks), total=total, desc=description, disable=not verbose)


def run_tasks(tasks, total, n_jobs, verbose, description):
    """Run joblib ``delayed`` tasks in order; the list of their results."""
    return list(iter_tasks(tasks, total, n_jobs, verbose, description))


def score_blocks(score, blocks, batch_size):
    """Score a stream of ``(rows, target)`` blocks in model calls of ``batch_size`` rows.

    Blocks are cut into full batches (a block may be split between two calls), so every
    model call but the last gets exactly ``batch_size`` rows. Rows that do not fill a batch
    wait in one reused buffer of ``batch_size`` rows, and no block is kept once read:
    besides the block being made, at most ``2 * batch_size`` rows are held.

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
    out, buffer, filled = [], None, 0
    buffer_targets = np.empty(batch_size, dtype=int)

    def flush(rows, targets):
        out.append(score(rows)[np.arange(len(rows)), targets])

    for block, target in blocks:
        start = 0
        while start < len(block):
            if filled == 0 and len(block) - start >= batch_size:  # a whole batch: no copy
                flush(block[start:start + batch_size], np.full(batch_size, target))
                start += batch_size
                continue
            if buffer is None or np.result_type(buffer, block) != buffer.dtype:
                buffer = _grown(buffer, filled, block, batch_size)
            take = min(batch_size - filled, len(block) - start)
            buffer[filled:filled + take] = block[start:start + take]
            buffer_targets[filled:filled + take] = target
            filled += take
            start += take
            if filled == batch_size:
                flush(buffer, buffer_targets)
                filled = 0
        del block  # let the stream free it before making the next one
    if filled:
        flush(buffer[:filled], buffer_targets[:filled])
    return np.concatenate(out) if out else np.zeros(0)


def _grown(buffer, filled, block, batch_size):
    """A buffer for ``batch_size`` rows like block's, keeping the first ``filled`` rows."""
    dtype = block.dtype if buffer is None else np.result_type(buffer, block)
    grown = np.empty((batch_size, block.shape[1]), dtype=dtype)
    if filled:
        grown[:filled] = buffer[:filled]
    return grown


def score_in_batches(score, target, chunks, batch_size):
    """Score a stream of row blocks for one output, ``batch_size`` rows per model call.

    Returns
    -------
    scores : ndarray of shape (n_rows,)
        The ``target`` column of the scores, in stream order.
    """
    return score_blocks(score, with_target(chunks, target), batch_size)


def with_target(chunks, target):
    """Pair each block of rows with its target, holding none once the next is asked for."""
    for rows in chunks:
        yield rows, target
        del rows  # not held while the next block is made
