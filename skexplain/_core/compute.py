"""The compute engine: rows batched into model calls, seeds spawned up front, parallel tasks.

Every explainer, metric and motif helper that batches model calls or runs tasks in parallel
goes through this module; it is the only place that calls ``joblib.Parallel``.

Batch-size policy (``batch_size="auto"``): a model call gets as many rows as fit in
``AUTO_BATCH_BYTES`` (64 MiB) of row data, counted at 8 bytes a value times a per-method
working-set factor (1 for forward passes, more where a backward pass keeps activations), and
at most ``MAX_AUTO_BATCH`` rows. An integer ``batch_size`` is used as it is.
"""

import numpy as np
from joblib import Parallel, delayed
from sklearn.utils import check_random_state
from tqdm.auto import tqdm

AUTO_BATCH_BYTES = 2**26
MAX_AUTO_BATCH = 4096

BATCH_SIZE_DOC = """    batch_size : int or "auto", default="auto"
        Rows per model call (perturbed copies, path points and references included): the
        model call is the cost and this bounds memory. "auto" fits as many rows as 64 MiB of
        float64 row data holds (at most 4096), the same policy in every explainer."""

N_JOBS_DOC = """    n_jobs : int or None, default=None
        Joblib workers over blocks of instances (None: 1, -1: all cores). Results are
        identical for any n_jobs and joblib backend (``joblib.parallel_config``, dask too).
    verbose : int, default=0
        Show a progress bar when > 0."""


def resolve_batch_size(batch_size, n_features, factor=1):
    """Rows per model call: ``batch_size``, or for "auto" the 64 MiB policy above.

    Parameters
    ----------
    batch_size : int or "auto"
    n_features : int
        Values per row.
    factor : int, default=1
        Working-set multiple of a row's bytes (e.g. activations kept for a backward pass).
    """
    if batch_size == "auto":
        return max(1, min(MAX_AUTO_BATCH, AUTO_BATCH_BYTES // (8 * n_features * factor)))
    return int(batch_size)


def spawn_seeds(random_state, n_tasks, n_seeds=1):
    """Seeds of shape (n_tasks, n_seeds); row i depends only on random_state and i.

    Drawn up front, so results do not depend on how tasks are split among workers.
    """
    root = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    return np.array(
        [np.random.SeedSequence(root, spawn_key=(i,)).generate_state(n_seeds)
         for i in range(n_tasks)]
    ).reshape(n_tasks, n_seeds)


def parallel_map(function, arguments, *, n_jobs=None, verbose=0, description=None,
                 total=None, lazy=False):
    """``function(*args)`` for every tuple in ``arguments``, by joblib, results in order.

    Parameters
    ----------
    function : callable
    arguments : iterable of tuple
    n_jobs : int or None
        Joblib workers; the active ``joblib.parallel_config`` backend is used (loky,
        threading, dask).
    verbose : int
        A tqdm progress bar when > 0.
    description : str, optional
        Label of the progress bar.
    total : int, optional
        Number of tasks, for the progress bar when ``arguments`` has no length.
    lazy : bool, default=False
        Return a generator yielding results as they arrive (a caller that reduces them keeps
        none) instead of a list.
    """
    if total is None and hasattr(arguments, "__len__"):
        total = len(arguments)
    tasks = (delayed(function)(*args) for args in arguments)
    results = Parallel(n_jobs=n_jobs, return_as="generator")(tasks)
    results = tqdm(results, total=total, desc=description, disable=not verbose)
    return results if lazy else list(results)


def score_blocks(score, blocks, batch_size):
    """Score a stream of ``(rows, target[, owner])`` blocks in calls of ``batch_size`` rows.

    Blocks are cut into full batches (a block may be split between two calls), so every
    model call but the last gets exactly ``batch_size`` rows. Rows that do not fill a batch
    wait in one reused buffer of ``batch_size`` rows, and no block is kept once read:
    besides the block being made, at most ``2 * batch_size`` rows are held.

    Parameters
    ----------
    score : callable
        ``score(rows, owner)`` maps rows (batch, n_features) and the instance index of
        each row to scores (batch, n_outputs).
    blocks : iterable of (ndarray of shape (n_rows, n_features), int[, int])
        Rows, the output index whose score is wanted for them, and optionally the instance
        they belong to (for models with extra forward inputs; 0 when absent).
    batch_size : int

    Returns
    -------
    scores : ndarray of shape (total_rows,)
        The target score of every row, in stream order.
    """
    out, buffer, filled = [], None, 0
    buffer_targets = np.empty(batch_size, dtype=int)
    buffer_owners = np.zeros(batch_size, dtype=int)

    def flush(rows, targets, owners):
        out.append(score(rows, owners)[np.arange(len(rows)), targets])

    for block in blocks:
        rows, target = block[0], block[1]
        owner = block[2] if len(block) > 2 else 0
        start = 0
        while start < len(rows):
            if filled == 0 and len(rows) - start >= batch_size:  # a whole batch: no copy
                flush(rows[start:start + batch_size], np.full(batch_size, target),
                      np.full(batch_size, owner))
                start += batch_size
                continue
            if buffer is None or np.result_type(buffer, rows) != buffer.dtype:
                buffer = _grown(buffer, filled, rows, batch_size)
            take = min(batch_size - filled, len(rows) - start)
            buffer[filled:filled + take] = rows[start:start + take]
            buffer_targets[filled:filled + take] = target
            buffer_owners[filled:filled + take] = owner
            filled += take
            start += take
            if filled == batch_size:
                flush(buffer, buffer_targets, buffer_owners)
                filled = 0
        del rows, block  # let the stream free it before making the next one
    if filled:
        flush(buffer[:filled], buffer_targets[:filled], buffer_owners[:filled])
    return np.concatenate(out) if out else np.zeros(0)


def _grown(buffer, filled, block, batch_size):
    """A buffer for ``batch_size`` rows like block's, keeping the first ``filled`` rows."""
    dtype = block.dtype if buffer is None else np.result_type(buffer, block)
    grown = np.empty((batch_size, block.shape[1]), dtype=dtype)
    if filled:
        grown[:filled] = buffer[:filled]
    return grown


def score_in_batches(score, target, chunks, batch_size, owner=0):
    """Score a stream of row blocks for one output, ``batch_size`` rows per model call.

    Returns
    -------
    scores : ndarray of shape (n_rows,)
        The ``target`` column of the scores, in stream order.
    """
    return score_blocks(score, with_target(chunks, target, owner), batch_size)


def with_target(chunks, target, owner=0):
    """Pair each block of rows with its target and owner, holding none once the next is asked."""
    for rows in chunks:
        yield rows, target, owner
        del rows  # not held while the next block is made


def batched_scores(score, X, batch_size, owner=None):
    """All scores of rows X (n, n_features), ``batch_size`` rows per call: (n, n_outputs)."""
    owner = np.arange(len(X)) if owner is None else np.asarray(owner)
    parts = [score(X[s:s + batch_size], owner[s:s + batch_size])
             for s in range(0, len(X), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, 0))


def torch_batches(function, tensors, batch_size):
    """``function(*parts)`` over aligned slices of ``tensors`` (sample axis first), in order.

    The one torch batch loop: forward passes, gradient steps and layer activations of any
    size run through it ``batch_size`` rows at a time; the results are concatenated along
    the first axis (a tuple of results gives a tuple of concatenations).
    """
    import torch

    n = len(tensors[0])
    results = [function(*(t[s:s + batch_size] for t in tensors)) for s in range(0, n, batch_size)]
    if not results:
        raise ValueError("torch_batches got no rows.")
    if isinstance(results[0], tuple):
        return tuple(torch.cat(parts) for parts in zip(*results, strict=True))
    return torch.cat(results)
