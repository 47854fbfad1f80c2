"""The compute engine: rows batched into model calls, seeds spawned up front, parallel tasks.

Every explainer, metric and motif helper that batches model calls or runs tasks in parallel
goes through this module; it is the only place that calls ``joblib.Parallel``.

Batch-size policy (``batch_size="auto"``): a model call gets as many rows as fit in
``AUTO_BATCH_BYTES`` (64 MiB) of row data, counted at 8 bytes a value times a per-method
working-set factor (1 for forward passes, more where a backward pass keeps activations), and
at most ``MAX_AUTO_BATCH`` rows. An integer ``batch_size`` is used as it is. Callers that
build rows in the model's own dtype (float32 for most torch models) pass its ``itemsize``.

Parallel engine (``parallel_map``): tasks are cut up front, independently of ``n_jobs``, so
results never depend on the number of workers. With several workers the tasks are sent in
``CHUNKS_PER_WORKER`` chunks per worker (consecutive tasks, run one after the other in the
worker): objects shared by every task (``shared=``, e.g. the model) are pickled once per
chunk rather than once per task, and a process worker runs torch on one thread, so that
``n_jobs`` workers use ``n_jobs`` cores without oversubscription.
"""

import functools
import itertools
import os
import sys
from numbers import Integral

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.utils import check_random_state
from tqdm.auto import tqdm

AUTO_BATCH_BYTES = 2**26
MAX_AUTO_BATCH = 4096
CHUNKS_PER_WORKER = 2

BATCH_SIZE_DOC = """    batch_size : int or "auto", default="auto"
        Rows per model call (perturbed copies, path points and references included): the
        model call is the cost and this bounds memory. "auto" fits as many rows as 64 MiB of
        float64 row data holds (at most 4096), the same policy in every explainer."""

N_JOBS_DOC = """    n_jobs : int or None, default=None
        Joblib workers over blocks of instances (None: 1, -1: all cores). Results are
        identical for any n_jobs and joblib backend (``joblib.parallel_config``, dask too).
    verbose : int, default=0
        Show a progress bar when > 0."""


def resolve_batch_size(batch_size, n_features, factor=1, *, itemsize=8,
                       max_bytes=AUTO_BATCH_BYTES):
    """Rows per model call: ``batch_size``, or for "auto" the 64 MiB policy above.

    Parameters
    ----------
    batch_size : int or "auto"
    n_features : int
        Values per row.
    factor : int, default=1
        Working-set multiple of a row's bytes (e.g. activations kept for a backward pass).
    itemsize : int, default=8
        Bytes per value of the rows (4 for float32 rows built in a torch model's dtype).
    max_bytes : int, default=AUTO_BATCH_BYTES
        Bytes of row data per call.
    """
    if batch_size == "auto":
        row_bytes = int(itemsize) * int(n_features) * factor
        return max(1, min(MAX_AUTO_BATCH, int(max_bytes) // row_bytes))
    return int(batch_size)


def spawn_seeds(random_state, n_tasks, n_seeds=1):
    """Seeds of shape (n_tasks, n_seeds); row i depends only on random_state and i.

    Drawn up front, so results do not depend on how tasks are split among workers.
    """
    if isinstance(random_state, Integral):
        root = _root_of_int(int(random_state))
    else:
        root = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    return np.array(
        [np.random.SeedSequence(root, spawn_key=(i,)).generate_state(n_seeds)
         for i in range(n_tasks)]
    ).reshape(n_tasks, n_seeds)


@functools.lru_cache(maxsize=64)
def _root_of_int(seed):
    """``spawn_seeds``' root for an int random_state (seeding a RandomState costs 0.15 ms)."""
    return check_random_state(seed).randint(np.iinfo(np.int32).max)


def parallel_map(function, arguments, *, n_jobs=None, verbose=0, description=None,
                 total=None, lazy=False, shared=()):
    """``function(*shared, *args)`` for every tuple in ``arguments``, by joblib, in order.

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
    shared : tuple, default=()
        Leading arguments common to every task (a model, an explainer): with several workers
        they travel once per chunk of tasks instead of once per task.

    Notes
    -----
    With one worker the tasks run here, one after the other. With several, consecutive
    tasks are grouped into about ``CHUNKS_PER_WORKER * n_workers`` chunks (when the number
    of tasks is known), each a single joblib call; a chunk running in another process sets
    torch to one thread first. Which task runs where never changes a result.
    """
    if total is None and hasattr(arguments, "__len__"):
        total = len(arguments)
    shared = tuple(shared)
    workers = _n_workers(n_jobs)
    if workers == 1:
        results = (function(*shared, *args) for args in arguments)
    else:
        size = 1 if total is None else max(1, -(-total // (CHUNKS_PER_WORKER * workers)))
        parent = os.getpid()
        chunks = (delayed(_run_chunk)(function, shared, chunk, parent)
                  for chunk in _chunked(arguments, size))
        results = itertools.chain.from_iterable(
            Parallel(n_jobs=n_jobs, return_as="generator")(chunks)
        )
    if verbose:  # (a disabled bar still costs milliseconds to set up)
        results = tqdm(results, total=total, desc=description)
    return results if lazy else list(results)


def _n_workers(n_jobs):
    """Workers that joblib would use with the active backend; 1 when it runs tasks in line."""
    from joblib.parallel import get_active_backend

    backend, config_jobs = get_active_backend()
    if n_jobs is None:
        n_jobs = config_jobs
    if n_jobs is None:  # joblib's default for the backend: 1, or all workers (dask)
        n_jobs = getattr(backend, "default_n_jobs", 1)
    if n_jobs == 1:
        return 1
    try:
        return max(1, int(effective_n_jobs(n_jobs)))
    except Exception:  # a backend that cannot tell (a remote cluster): assume several
        return 2


def _chunked(arguments, size):
    iterator = iter(arguments)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _run_chunk(function, shared, chunk, parent_pid):
    """A chunk of tasks in a worker: torch on one thread when in another process."""
    if os.getpid() != parent_pid:
        one_torch_thread()
    return [function(*shared, *args) for args in chunk]


def one_torch_thread():
    """Run torch (if it is imported) on one intra-op thread; a no-op otherwise."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)


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
