"""Perturbation attributions: occlusion, in silico mutagenesis, LIME and KernelSHAP.

All four are model-agnostic: they only call the model's scores (through the model adapter),
``batch_size`` rows per call, on perturbed copies of each instance. Instances are processed
in blocks by joblib workers (``n_jobs``); the blocks depend only on ``batch_size``, and every
random draw of instance i comes from a seed that depends only on ``random_state`` and i, so
results are identical for any ``n_jobs`` and joblib backend. :func:`run_plans` is the
machinery they (and :class:`SensX`) share: every perturbed row carries the index of its
instance in the explained X, so that a model's extra forward inputs (``model_args``) follow
it.
"""

import itertools
import re
import textwrap
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from joblib import effective_n_jobs
from scipy.special import comb
from sklearn.cluster import KMeans
from sklearn.linear_model import LassoLarsIC, Ridge, lars_path
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from .._core.base import LocalExplainer
from .._core.compute import (
    BATCH_SIZE_DOC,
    CHUNKS_PER_WORKER,
    MAX_AUTO_BATCH,
    parallel_map,
    resolve_batch_size,
    score_blocks,
    spawn_seeds,
    with_target,
)
from .._core.model import OUTPUT_CONSTRAINT, OUTPUT_DOC
from ._groups import groups_from_labels, position_windows, span_names

_COMMON_CONSTRAINTS = {
    "model": "no_validation",
    "output": OUTPUT_CONSTRAINT,
    "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
    "device": "no_validation",
    "n_jobs": [Integral, None],
    "verbose": ["verbose"],
}
_BASELINE = [StrOptions({"mean", "zeros", "shuffle"}), Real, "array-like"]
_SHARED_DOCS = {"output": OUTPUT_DOC, "batch_size": BATCH_SIZE_DOC}


def shared_docs(cls):
    """Put the shared docstring fragments in place of ``<output>`` / ``<batch_size>`` lines."""

    def fill(match):
        return textwrap.indent(textwrap.dedent(_SHARED_DOCS[match.group(2)]), match.group(1))

    if cls.__doc__:
        cls.__doc__ = re.sub(r"^( *)<(output|batch_size)>$", fill, cls.__doc__,
                             flags=re.MULTILINE)
    return cls


def run_plans(score, plan, items, *, rows_per_item, batch_size, n_jobs=None, verbose=0,
              description=None, n_items=None):
    """Score the perturbation plans of ``items`` in batches and parallel tasks.

    Each item is ``(payload, target, owner, seed)``; ``plan(*payload, target, rng,
    batch_size)`` returns ``(chunks, n_rows, finish)``: an iterable of row blocks (drawn
    lazily), their total number of rows, and a function of the target scores of those
    rows. Consecutive items are grouped into tasks of about ``batch_size`` rows (the split
    depends only on ``batch_size`` and ``rows_per_item``, never on ``n_jobs``); within a task
    their rows are streamed into model calls of ``batch_size`` rows, each row carrying its
    item's ``owner`` (the index of its instance in the explained X, which picks its
    ``model_args`` rows).

    Parameters
    ----------
    score : callable
        ``score(rows, owner)``: the model adapter (with bound ``model_args``).
    plan : callable
    items : iterable of (tuple, int, int, int)
    rows_per_item : int
        Rows of one item (an upper bound); sets how many items make one task.
    batch_size : int
    n_jobs, verbose, description
        As in :func:`skexplain._core.compute.parallel_map`.
    n_items : int, optional
        Number of items, for the progress bar when ``items`` is a generator.

    Yields
    ------
    result
        ``finish(scores)`` of every item, in item order, as the tasks end.
    """
    per_task = max(1, batch_size // max(1, rows_per_item))
    if n_items is None and hasattr(items, "__len__"):
        n_items = len(items)
    n_tasks = None if n_items is None else -(-n_items // per_task)
    tasks = ((score, plan, block, batch_size) for block in _batched(items, per_task))
    for results in parallel_map(_run_task, tasks, n_jobs=n_jobs, verbose=verbose,
                                description=description, total=n_tasks, lazy=True):
        yield from results


def _batched(items, size):
    iterator = iter(items)
    while block := list(itertools.islice(iterator, size)):
        yield block


def _run_task(score, plan, items, batch_size):
    """Plans of a block of items, their rows scored together; the finished results."""
    plans = [plan(*payload, target, np.random.default_rng(seed), batch_size)
             for payload, target, _, seed in items]
    blocks = itertools.chain.from_iterable(
        with_target(chunks, target, owner)
        for (chunks, _, _), (_, target, owner, _) in zip(plans, items, strict=True)
    )
    scores = score_blocks(score, blocks, batch_size)
    bounds = np.cumsum([0] + [n_rows for _, n_rows, _ in plans])
    return [finish(scores[a:b]) for (_, _, finish), a, b
            in zip(plans, bounds[:-1], bounds[1:], strict=True)]


class _PerturbationExplainer(LocalExplainer):
    """Shared machinery: explained units, baselines, and batched, parallel perturbation plans.

    A subclass implements ``_plan(x, target, rng, batch_size)`` returning ``(chunks, n_rows,
    finish)``: an iterable of row blocks (perturbed copies of the flattened instance x, at
    most ``batch_size`` rows each, drawn lazily), their total number of rows, and a function
    mapping the target scores of those rows to ``(values, extras)``, extras being a dict of
    per-instance scalars reported in ``info``.
    """

    _random = False  # whether the method draws random numbers (then it has random_state)

    def _batch_size(self):
        return resolve_batch_size(self.batch_size, self.n_features_in_)

    def _explain(self, X, target):
        if self._random:
            seeds = spawn_seeds(self.random_state, len(X), 1)[:, 0]
        else:
            seeds = np.zeros(len(X), dtype=np.uint32)
        items = [((x,), t, i, seed)
                 for i, (x, t, seed) in enumerate(zip(X, target, seeds, strict=True))]
        finished = list(run_plans(
            self.score_function_, self._plan, items, rows_per_item=self._rows_per_instance(),
            batch_size=self._batch_size(), n_jobs=self.n_jobs, verbose=self.verbose,
            description=type(self).__name__,
        ))
        values = np.stack([values for values, _ in finished])
        extras = {key: np.array([extra[key] for _, extra in finished])
                  for key in finished[0][1]}
        return values, {"method": self._method, "axes": self._axes(), **extras}

    # --- explained units -------------------------------------------------------------------

    def _check_units(self):
        """Units for LIME and KernelSHAP: feature groups, position windows or None (features)."""
        if self.feature_groups is not None:
            groups, names = groups_from_labels(self.feature_groups, self.feature_shape_)
            self.unit_kind_ = "group"
            return groups, np.asarray([str(name) for name in names], dtype=object)
        if len(self.feature_shape_) >= 2:
            window = self._check_window()
            windows, spans = position_windows(self.feature_shape_, window, window)
            self.unit_kind_ = "position" if window == 1 else "window"
            return windows, span_names(spans)
        self.unit_kind_ = "feature"
        return None, None

    def _check_window(self):
        length = self.feature_shape_[-1]
        if self.window > length:
            raise ValueError(f"window={self.window} is longer than the input ({length}).")
        return self.window

    def _feature_groups(self):
        return self.units_

    def _feature_names_out(self):
        if self.units_ is not None:
            return self.unit_names_
        return super()._feature_names_out()

    def _axes(self):
        if self.units_ is not None:
            return ("sample", self.unit_kind_)
        if len(self.feature_shape_) == 2:
            return ("sample", "channel", "position")
        return ("sample",) + ("feature",) * len(self.feature_shape_)

    def _n_units(self):
        return self.n_features_in_ if self.units_ is None else len(self.units_)

    def _unit_of_feature(self):
        """Unit index of every feature (units are disjoint and cover every feature)."""
        if self.units_ is None:
            return np.arange(self.n_features_in_)
        index = np.empty(self.n_features_in_, dtype=int)
        for unit, members in enumerate(self.units_):
            index[members] = unit
        return index

    # --- baselines -------------------------------------------------------------------------

    def _check_baseline(self):
        """Baseline row of shape (n_features,), or None for "shuffle"."""
        baseline = self.baseline
        if isinstance(baseline, str):
            if baseline == "shuffle":
                if len(self.feature_shape_) < 2 or self.feature_groups is not None:
                    raise ValueError(
                        'baseline="shuffle" permutes the positions of sequence windows: it '
                        "needs (n_samples, n_channels, length) input and no feature_groups."
                    )
                return None
            if baseline == "mean":
                return self.baseline_.copy()
            return np.zeros(self.n_features_in_)
        return self._per_feature(baseline, "baseline")


@shared_docs
class Occlusion(_PerturbationExplainer):
    """Occlusion: the score lost when a sliding window of the input is replaced by a baseline.

    Windows of ``window`` consecutive positions, ``stride`` apart, slide along the last axis:
    over features for tabular input ``(n_samples, n_features)``, over positions for
    sequences ``(n_samples, n_channels, length)``, every channel of a window being occluded
    together. The last window is cut at the end of the input, so every position is covered.
    The attribution of a feature is the mean, over the windows that contain it, of
    ``f(x) - f(x with the window occluded)`` (positive when occluding lowers the score):
    the convention of captum's ``Occlusion``, whose results this reproduces. With
    ``feature_groups`` each group is occluded as one and gets its own score change.

    Parameters
    ----------
    model : estimator, pipeline, skorch net, torch.nn.Module, callable or None, default=None
        The fitted model; None until set (``set_params(model=...)``, as a selector does).
    window : int, default=1
        Width of the window, in positions (sequences) or features (tabular).
    stride : int, default=None
        Step between window starts, at most ``window``; None means ``window`` (disjoint).
    baseline : {"mean", "zeros", "shuffle"}, float or array-like of shape feature_shape, \
default="mean"
        What an occluded window becomes: the mean of the data passed to ``fit`` (0.25 per
        base for one-hot DNA), zeros, a given value, or for sequences ``"shuffle"``: the
        window's own positions in a random order (keeps its composition), averaged over
        ``n_shuffles`` draws.
    n_shuffles : int, default=10
        Random orders per window with ``baseline="shuffle"``.
    feature_groups : array-like of shape feature_shape or (n_features,), default=None
        A group label per feature; groups replace the windows and the values then have
        shape (n_samples, n_groups), groups in sorted label order.
    engine : {"auto", "fast", "full"}, default="auto"
        How occluded sequences are scored (the values are the same):

        - ``"fast"``: exact locality-restricted recomputation for convolutional stacks,
          the engine of :class:`InSilicoMutagenesis` (fastISM, Nair et al. 2022) with a
          window of positions as the edit. The torch module is traced (``torch.fx``);
          up to its first global layer each occluded window changes only the positions
          its receptive field reaches, so the reference activations are computed once
          per sequence and only those windows are recomputed, many windows per tensor.
          The first convolution's change comes from the window's input change alone
          (new minus old columns: kernel-column differences for a window of one
          position, their convolution over the reached positions for wider windows),
          and a ``Flatten`` + ``Linear`` head is updated sparsely. It needs sequences
          ``(n_samples, n_channels, length)`` (one-hot, soft or real-valued columns: the
          first layer is linear in them), no ``feature_groups``, and a torch module
          called without ``model_args``; the
          supported layers are those of :class:`InSilicoMutagenesis`. Values equal full
          forward passes up to float rounding (below 1e-5 for float32 models).
        - ``"full"``: every occluded copy is a full forward pass.
        - ``"auto"`` (default): ``"fast"`` where it applies, ``"full"`` otherwise;
          ``info["engine"]`` says which ran. ``"fast"`` where it does not apply raises a
          ValueError naming the reason (the module and layer for an unsupported model).
    <output>
    <batch_size>
        With the fast engine: occluded windows per engine call ("auto" keeps a call's
        windows near 32 MiB).
    device : str, torch.device or None, default=None
        Where a torch module or skorch net is run, e.g. "cuda"; None runs it where it is.
        A model elsewhere is deep-copied to ``device``.
    n_jobs : int, default=None
        Number of joblib workers over blocks of instances (of whole sequences with the fast
        engine). Values are identical for any n_jobs.
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffles (the only random part).
    verbose : int, default=0
        Show a progress bar when > 0.

    Attributes
    ----------
    units_ : list of ndarray of int or None
        Member features of each group, or None (values per feature).
    baseline_ : ndarray of shape (n_features,)
        Mean of the reference data.
    n_features_in_, feature_shape_, feature_names_in_
        As for every explainer.

    Notes
    -----
    *Cost and memory.* Model evaluations per instance: ``1 + n_windows``, with ``n_windows
    = 1 + ceil((length - window) / stride)``; ``1 + n_windows * n_shuffles`` with
    ``baseline="shuffle"``; ``1 + n_groups`` with ``feature_groups``. Occluded rows are made
    one batch at a time, so about ``2 * batch_size`` rows of ``n_features`` values are held
    however many windows there are. The fast engine's cost per window is that of the
    positions it reaches (on CNN-deep at 1,000 nt, windows of 10: see
    benchmarks/results/occlusion.md); it holds one sequence's reference activations, laid
    out as the windows an edit reads, per worker.

    *Distributed.* Blocks of instances are joblib tasks, so ``with
    joblib.parallel_config(backend="dask"):`` around ``explain`` runs them on the cluster of
    the current ``dask.distributed.Client``, with identical results (the ``dask`` extra;
    see :class:`SensX`).

    References
    ----------
    Zeiler & Fergus, "Visualizing and understanding convolutional networks", ECCV (2014).
    Zhou & Troyanskaya, "Predicting effects of noncoding variants with deep learning-based
    sequence model" (DeepSEA), Nature Methods 12 (2015).
    Nair, Shrikumar, Schreiber & Kundaje, "fastISM: performant in silico saturation
    mutagenesis for convolutional neural networks", Bioinformatics 38 (2022).

    Examples
    --------
    >>> import numpy as np
    >>> from skexplain.explainers import Occlusion
    >>> X = np.random.default_rng(0).normal(size=(50, 4))
    >>> model = lambda X: X @ np.array([0.0, 2.0, 0.0, -1.0])
    >>> E = Occlusion(model, baseline="zeros").fit(X).explain(X[:1])
    >>> np.allclose(E.values, X[:1] * [0.0, 2.0, 0.0, -1.0])
    True
    """

    _parameter_constraints = {
        **_COMMON_CONSTRAINTS,
        "window": [Interval(Integral, 1, None, closed="left")],
        "stride": [Interval(Integral, 1, None, closed="left"), None],
        "baseline": _BASELINE,
        "n_shuffles": [Interval(Integral, 1, None, closed="left")],
        "feature_groups": ["array-like", None],
        "engine": [StrOptions({"auto", "fast", "full"})],
        "random_state": ["random_state"],
    }
    _method = "occlusion"
    _random = True

    def __init__(
        self, model=None, *, window=1, stride=None, baseline="mean", n_shuffles=10,
        feature_groups=None, engine="auto", output="auto", batch_size="auto", device=None,
        n_jobs=None, random_state=None, verbose=0,
    ):
        super().__init__(model)
        self.output = output
        self.window = window
        self.stride = stride
        self.baseline = baseline
        self.n_shuffles = n_shuffles
        self.feature_groups = feature_groups
        self.engine = engine
        self.batch_size = batch_size
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _fit(self, X):
        self._baseline_row = self._check_baseline()
        if self.feature_groups is not None:
            self.units_, self.unit_names_ = self._check_units()
            self._occluded = self.units_
            return
        self.units_ = self.unit_names_ = None
        window = self._check_window()
        stride = window if self.stride is None else self.stride
        if stride > window:
            raise ValueError(
                f"stride={stride} is larger than window={window}: positions between windows "
                "would never be occluded."
            )
        self._occluded, self._spans = position_windows(self.feature_shape_, window, stride)

    def _rows_per_instance(self):
        draws = self.n_shuffles if self._baseline_row is None else 1
        return 1 + len(self._occluded) * draws

    def _batch_size(self):
        """Full engine: "auto" counts a torch module's activations of one row, not only its
        input (as :class:`InSilicoMutagenesis` does: a conv model's activations are many
        times its input, and thousands of rows per call run slower)."""
        return _activation_batch_size(self)

    def _shuffle_orders(self, rng):
        """The random orders of every window, ``n_shuffles`` each, drawn from rng."""
        return [[rng.permutation(np.arange(start, stop)) for _ in range(self.n_shuffles)]
                for start, stop in self._spans]

    def _plan(self, x, target, rng, batch_size):
        occluded = self._occluded
        draws = 1 if self._baseline_row is not None else self.n_shuffles
        if self._baseline_row is None:
            orders = self._shuffle_orders(rng)

        def occluded_rows():
            # The instance itself comes first, in the first batch.
            jobs = [None] + [(unit, draw) for unit in range(len(occluded))
                             for draw in range(draws)]
            for start in range(0, len(jobs), batch_size):
                chunk = jobs[start:start + batch_size]
                rows = np.repeat(x[None], len(chunk), axis=0)
                for row, job in zip(rows, chunk, strict=True):
                    if job is None:
                        continue
                    unit, draw = job
                    if self._baseline_row is None:
                        self._shuffle_window(row, self._spans[unit], orders[unit][draw])
                    else:
                        row[occluded[unit]] = self._baseline_row[occluded[unit]]
                yield rows

        def finish(scores):
            return self._finish(scores), {}

        return occluded_rows(), self._rows_per_instance(), finish

    def _finish(self, scores):
        """Values of one instance from the scores of it (first) and of its occluded copies
        (window-major, then draw)."""
        occluded = self._occluded
        drops = scores[0] - scores[1:].reshape(len(occluded), -1).mean(axis=1)
        if self.units_ is not None:
            return drops
        total, count = np.zeros(self.n_features_in_), np.zeros(self.n_features_in_)
        for members, drop in zip(occluded, drops, strict=True):
            total[members] += drop
            count[members] += 1
        return total / count

    def _shuffle_window(self, row, span, order):
        grid = row.reshape(-1, self.feature_shape_[-1])  # a view: channels x positions
        grid[:, span[0]:span[1]] = grid[:, order]

    # --- engines ---------------------------------------------------------------------------

    def _explain(self, X, target):
        fast = self._fast_setup(X)
        if fast is None:
            values, info = super()._explain(X, target)
            return values, {**info, "engine": "full"}
        engine, grid, vectors, tokens, base_tokens = fast
        n_channels, length = self.feature_shape_
        spans = np.asarray(self._spans)
        draws = 1 if base_tokens is not None else self.n_shuffles
        starts, stops = np.repeat(spans[:, 0], draws), np.repeat(spans[:, 1], draws)
        width = int((stops - starts).max())
        if base_tokens is None:  # the same orders as the full engine's, seed by seed
            seeds = spawn_seeds(self.random_state, len(X), 1)[:, 0]
            replacement = np.zeros((len(X), len(starts), width), dtype=np.int64)
            for i, seed in enumerate(seeds):
                orders = self._shuffle_orders(np.random.default_rng(seed))
                flat = [order for window in orders for order in window]
                for e, order in enumerate(flat):
                    replacement[i, e, :len(order)] = order
        else:
            replacement = base_tokens
        if self.batch_size == "auto":
            from ._fast_ism import FAST_WORKING_SET

            batch_size = max(16, min(MAX_AUTO_BATCH,
                                     FAST_WORKING_SET // engine.bytes_per_edit(width)))
        else:
            batch_size = int(self.batch_size)
        # Each sequence is computed on its own, so the split into tasks cannot change the
        # values: a few tasks per worker (each traces the module once).
        n_workers = effective_n_jobs(self.n_jobs)
        per_task = -(-len(X) // (4 * n_workers)) if n_workers > 1 else len(X)
        tasks = []
        for s in range(0, len(X), per_task):
            part = slice(s, s + per_task)
            tasks.append((self.score_function_, grid[part], tokens[part], vectors, target[part],
                          starts, stops, replacement if base_tokens is not None
                          else replacement[part], batch_size))
        from ._fast_ism import window_edit_scores

        scores = np.concatenate(list(parallel_map(
            window_edit_scores, tasks, n_jobs=self.n_jobs, verbose=self.verbose,
            description=type(self).__name__)))
        values = np.stack([self._finish(row) for row in scores])
        return values, {"method": self._method, "axes": self._axes(), "engine": "fast"}

    def _fast_setup(self, X):
        """The fast engine and the tokens of X and of the baseline, or None (full passes)."""
        from ._fast_ism import fast_engine_of, vocabulary
        from ._graph import UnsupportedModel, fast_or_none

        def build():
            if self.feature_groups is not None:
                raise UnsupportedModel("it occludes windows of positions, not feature_groups.")
            engine = fast_engine_of(self.score_function_, self.feature_shape_)
            grid = X.reshape((len(X),) + self.feature_shape_).astype(np.float32)
            extra = () if self._baseline_row is None else (
                self._baseline_row.reshape(self.feature_shape_),)
            vectors, tokens, extra_tokens = vocabulary(grid, *extra)
            return engine, grid, vectors, tokens, extra_tokens[0] if extra_tokens else None

        return fast_or_none(self.engine, build)


@shared_docs
class InSilicoMutagenesis(_PerturbationExplainer):
    """In silico saturation mutagenesis (ISM) of one-hot sequences.

    Every single-nucleotide substitution of each sequence in ``[start, end)`` is scored; the
    raw effect of base c at position i is ``f(x with base c at i) - f(x)``, 0 at the
    reference base and outside ``[start, end)``.

    Two engines compute the same values (``engine``):

    - ``"fast"``: exact locality-restricted ISM for convolutional stacks (fastISM, Nair et
      al. 2022). The torch module is traced (``torch.fx``); up to its first global layer
      (a dense layer over the flattened positions, global pooling, attention, ...) each
      substitution changes only the window of positions its receptive field reaches, so
      the reference activations are computed once per sequence and only those windows are
      recomputed, many substitutions per tensor. The first convolution's change is a
      difference of two kernel columns (no convolution) and a ``Flatten`` + ``Linear``
      head is updated sparsely (``W x_ref`` once, plus ``W`` at the reached positions).
      Supported: ``Conv1d`` (zero padding, same / valid / int, stride, dilation),
      ``MaxPool1d`` (padding, dilation, ceil mode), ``AvgPool1d`` without padding,
      ``BatchNorm1d`` in eval mode, dropout (eval), elementwise activations (ReLU,
      exponential, ...); the first layer must be a ``Conv1d`` of the input. Values equal
      full forward passes up to float rounding (below 1e-5 for float32 models).
    - ``"full"``: every mutant is a full forward pass; the mutants of one sequence are
      built batch by batch in float32 (exact for one-hot input, and what torch models
      take) and scored ``batch_size`` per model call with the reference in the same
      stream: the cost of a plain batched loop over the ``(C - 1) * (end - start)``
      mutants, plus one row.
    - ``"auto"`` (default): ``"fast"`` where the model qualifies (a torch module whose
      locality is proven, called without ``model_args``), ``"full"`` otherwise;
      ``info["engine"]`` says which ran.

    Reductions (``reduction``):

    - ``"mean_centred"`` (default): the raw effects minus their mean over the C bases at
      each position, shape (n_samples, C, L); for a linear model ``f = sum(W * x)`` this is
      ``W - mean_c W`` exactly (Majdandzic et al. 2023). With ``hypothetical=True``
      (default) every base keeps its value: the hypothetical contributions that
      tfmodisco-lite takes (tangermeme's ``saturation_mutagenesis(hypothetical=True)``).
      With ``hypothetical=False`` only the observed base keeps its value (minus the mean
      substitution effect there), the others are 0: ``E.values`` is then the map times
      the one-hot input, tangermeme's default.
    - ``None``: the raw effects, shape (n_samples, C, L).
    - ``"l2"``: the L2 norm over the C bases of the raw effects at each position, shape
      (n_samples, L); positions are then the explained units (``feature_names`` ``pos0``,
      ``pos1``, ...), and ``score`` deletes whole positions.

    Parameters
    ----------
    model : estimator, pipeline, skorch net, torch.nn.Module, callable or None, default=None
        The fitted model of one-hot sequences of shape (n, C, L); None until set.
    reduction : {"mean_centred", "l2"} or None, default="mean_centred"
        See above.
    start, end : int, default=None
        Mutated positions ``[start, end)``; None means the whole sequence. Negative values
        count from the end, as in Python slices.
    hypothetical : bool, default=True
        Keep the effects of every base (hypothetical contributions, shape (n, C, L)); False
        keeps only the observed base's (the map times the one-hot input). Ignored with
        ``reduction="l2"``.
    engine : {"auto", "fast", "full"}, default="auto"
        See above. ``"fast"`` on a model it cannot prove local raises a ValueError naming
        the module and the layer.
    <output>
    batch_size : int or "auto", default="auto"
        Rows per model call: mutants per full forward pass, or substitutions per call of
        the fast engine. "auto" sizes a call by its working set: for a torch module the
        activations of one row (counted once, by a forward pass of one row), not only its
        input bytes, so that a call's activations stay near 64 MiB (conv models otherwise
        get thousands of rows per call and run slower); for the fast engine the windows
        of one substitution, kept near 32 MiB. Other models: as in every explainer.
    device : str, torch.device or None, default=None
        Where a torch module or skorch net is run, e.g. "cuda"; None runs it where it is.
        A model elsewhere is deep-copied to ``device``.
    n_jobs : int, default=None
        Number of joblib workers over blocks of whole sequences. Each sequence's mutants
        are batched on their own (batches depend only on ``batch_size``), so values are
        identical for any n_jobs and joblib backend.
    verbose : int, default=0
        Show a progress bar when > 0.

    Attributes
    ----------
    start_, end_ : int
        Mutated positions, resolved.
    units_ : list of ndarray of int or None
        The features of each position with ``reduction="l2"``, else None.
    n_features_in_, feature_shape_, feature_names_in_
        As for every explainer.

    Raises
    ------
    ValueError
        In ``fit``, if the input is not of shape (n, C, L) or the range is empty; in
        ``explain``, if a sequence is not one-hot (each position exactly one 1, zeros
        elsewhere), or ``engine="fast"`` and the model is not a supported conv stack.

    Notes
    -----
    *Cost and memory.* Model evaluations per sequence: ``1 + (C - 1) * (end - start)``.
    Mutants are made one batch at a time (about ``2 * batch_size`` rows held). The fast
    engine's cost per substitution is that of the windows it reaches: on the CNN-deep
    architecture at 1,000 nt about 1/20 of a forward pass (benchmarks/results/ism.md); it
    holds the reference activations of the sequences of one task.

    *Distributed.* Blocks of instances are joblib tasks, so ``with
    joblib.parallel_config(backend="dask"):`` around ``explain`` runs them on the cluster of
    the current ``dask.distributed.Client``, with identical results (the ``dask`` extra;
    see :class:`SensX`).

    References
    ----------
    Alipanahi et al., "Predicting the sequence specificities of DNA- and RNA-binding
    proteins by deep learning" (DeepBind), Nature Biotechnology 33 (2015).
    Majdandzic, Rajesh & Koo, "Correcting gradient-based interpretations of deep neural
    networks for genomics", Genome Biology 24 (2023).

    Examples
    --------
    >>> import numpy as np
    >>> from skexplain.explainers import InSilicoMutagenesis
    >>> W = np.random.default_rng(0).normal(size=(4, 12))
    >>> model = lambda X: (X * W).sum(axis=(1, 2))
    >>> X = np.eye(4)[np.random.default_rng(1).integers(0, 4, size=(3, 12))].transpose(0, 2, 1)
    >>> E = InSilicoMutagenesis(model).fit(X).explain(X)
    >>> np.allclose(E.values, W - W.mean(axis=0))
    True
    """

    _parameter_constraints = {
        **_COMMON_CONSTRAINTS,
        "reduction": [StrOptions({"mean_centred", "l2"}), None],
        "start": [Integral, None],
        "end": [Integral, None],
        "hypothetical": ["boolean"],
        "engine": [StrOptions({"auto", "fast", "full"})],
    }
    _method = "ism"

    def __init__(self, model=None, *, reduction="mean_centred", start=None, end=None,
                 hypothetical=True, engine="auto", output="auto", batch_size="auto",
                 device=None, n_jobs=None, verbose=0):
        super().__init__(model)
        self.output = output
        self.reduction = reduction
        self.start = start
        self.end = end
        self.hypothetical = hypothetical
        self.engine = engine
        self.batch_size = batch_size
        self.device = device
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _fit(self, X):
        if len(self.feature_shape_) != 2 or self.feature_shape_[0] < 2:
            raise ValueError(
                "InSilicoMutagenesis needs one-hot sequences of shape (n_samples, n_channels, "
                f"length), n_channels >= 2; got feature shape {self.feature_shape_}."
            )
        self._check_one_hot(X)
        n_channels, length = self.feature_shape_
        self.start_, self.end_, _ = slice(self.start, self.end).indices(length)
        if self.start_ >= self.end_:
            raise ValueError(
                f"No position to mutate: start={self.start}, end={self.end} select an empty "
                f"range of a sequence of length {length}."
            )
        self.units_ = self.unit_names_ = None
        if self.reduction == "l2":
            self.units_ = [np.arange(n_channels) * length + i for i in range(length)]
            self.unit_names_ = span_names([(i, i + 1) for i in range(length)])
            self.unit_kind_ = "position"

    def _check_explain_input(self, X, **kwargs):
        X = super()._check_explain_input(X, **kwargs)
        self._check_one_hot(X)
        return X

    def _check_one_hot(self, X):
        grid = _dense_rows(X, slice(None)).reshape((X.shape[0],) + self.feature_shape_)
        binary = (grid == 0) | (grid == 1)
        if not (binary.all() and np.all(grid.sum(axis=1) == 1)):
            bad = np.flatnonzero(~(binary.all(axis=1) & (grid.sum(axis=1) == 1)).all(axis=1))
            raise ValueError(
                "InSilicoMutagenesis needs one-hot sequences: every position must have "
                f"exactly one channel equal to 1 and the others 0; sequences {bad[:5].tolist()}"
                f"{' ...' if len(bad) > 5 else ''} are not."
            )

    def _rows_per_instance(self):
        return 1 + (self.feature_shape_[0] - 1) * (self.end_ - self.start_)

    def _plan(self, x, target, rng, batch_size):
        n_channels, length = self.feature_shape_
        reference = x.reshape(n_channels, length).argmax(axis=0)
        positions = np.arange(self.start_, self.end_)
        bases = np.tile(np.arange(n_channels), (len(positions), 1))
        alternative = bases[bases != reference[positions, None]]
        position = np.repeat(positions, n_channels - 1)
        # Row 0 "mutates" position 0 to its own base: the reference, scored in the same stream.
        edit_position = np.concatenate([[0], position])
        edit_base = np.concatenate([[reference[0]], alternative])
        x32 = x.astype(np.float32)  # exact for one-hot input, and what torch models take

        def mutants():
            for start in range(0, len(edit_position), batch_size):
                p = edit_position[start:start + batch_size]
                b = edit_base[start:start + batch_size]
                rows = np.repeat(x32[None], len(p), axis=0)
                k = np.arange(len(p))
                rows[k, reference[p] * length + p] = 0.0
                rows[k, b * length + p] = 1.0
                yield rows

        def finish(scores):
            effects = np.zeros((n_channels, length))
            effects[alternative, position] = scores[1:] - scores[0]
            return self._reduce(effects, reference).ravel(), {}

        return mutants(), len(edit_position), finish

    def _reduce(self, effects, reference):
        """Values of one sequence from its raw effects (C, L) and its bases (L,)."""
        if self.reduction == "l2":
            return np.sqrt((effects ** 2).sum(axis=0))
        if self.reduction == "mean_centred":
            effects = effects - effects.mean(axis=0)
            effects[:, :self.start_] = effects[:, self.end_:] = 0.0
        if not self.hypothetical:
            effects = effects * (np.arange(len(effects))[:, None] == reference)
        return effects

    # --- engines ---------------------------------------------------------------------------

    def _explain(self, X, target):
        engine = self._fast_engine()
        if engine is None:
            values, info = super()._explain(X, target)
            return values, {**info, "engine": "full"}
        n_channels, length = self.feature_shape_
        grid = X.reshape(len(X), n_channels, length).astype(np.float32)
        reference = grid.argmax(axis=1)
        batch_size = self._fast_batch_size(engine)
        # Each sequence is computed on its own, so the split into tasks cannot change the
        # values: one task per chunk of parallel_map (each traces the module once), the
        # model sent once per chunk.
        workers = effective_n_jobs(self.n_jobs)
        per_task = -(-len(X) // (CHUNKS_PER_WORKER * workers)) if workers > 1 else len(X)
        tasks = [(grid[s:s + per_task], target[s:s + per_task]) for s in range(0, len(X),
                                                                          per_task)]
        effects = np.concatenate(list(parallel_map(
            _fast_ism_task, tasks, n_jobs=self.n_jobs, verbose=self.verbose,
            description=type(self).__name__,
            shared=(self.score_function_, self.start_, self.end_, batch_size))))
        values = np.stack([self._reduce(e, r).ravel()
                           for e, r in zip(effects, reference, strict=True)])
        return values, {"method": self._method, "axes": self._axes(), "engine": "fast"}

    def _fast_engine(self):
        """The fast engine for this model, or None where the full engine runs."""
        from ._fast_ism import fast_engine_for

        return fast_engine_for(self.score_function_, self.feature_shape_, self.engine)

    def _fast_batch_size(self, engine):
        if self.batch_size != "auto":
            return int(self.batch_size)
        from ._fast_ism import FAST_WORKING_SET

        return max(16, min(MAX_AUTO_BATCH, FAST_WORKING_SET // engine.bytes_per_edit()))

    def _batch_size(self):
        """Full engine: "auto" counts a torch module's activations of one row, not only its
        input (a conv model's activations are many times its input)."""
        return _activation_batch_size(self)


def _activation_batch_size(explainer):
    """Rows per model call of a perturbation explainer's full passes: with "auto" and a torch
    module, sized by the bytes of one row's activations (a forward pass of one row)."""
    factor = 1
    adapter = explainer.score_function_
    if explainer.batch_size == "auto" and adapter.module is not None:
        from ._fast_ism import activation_bytes

        try:
            with adapter.inference():
                per_row = activation_bytes(adapter.module, explainer.feature_shape_)
        except Exception:  # noqa: BLE001 - a model needing model_args: input bytes only
            per_row = 0
        factor = max(1, -(-per_row // (8 * explainer.n_features_in_)))
    return resolve_batch_size(explainer.batch_size, explainer.n_features_in_, factor)


def _fast_ism_task(adapter, start, end, batch_size, grid, target):
    """Raw effects (n, C, L) of every substitution in [start, end) of sequences grid (n, C, L)
    through the fast engine: one task of whole sequences.

    Each sequence is computed on its own (its reference, then its edits in batches that
    depend only on ``batch_size``), so its values do not depend on the other sequences of
    the task: they are identical for any n_jobs and any split of X.
    """
    import torch

    from ._fast_ism import FastISM

    n, n_channels, length = grid.shape
    positions = np.arange(start, end)
    position = np.repeat(positions, n_channels - 1)
    shift = np.tile(np.arange(1, n_channels), len(positions))
    zero = np.zeros(len(position), dtype=np.int64)
    effects = np.zeros((n, n_channels, length))
    with adapter.inference(), torch.no_grad():
        engine = FastISM(adapter.module, (n_channels, length))
        for i in range(n):
            x = adapter.tensor(grid[i:i + 1])
            base = adapter.forward(x).to("cpu", torch.float64).numpy()[0, target[i]]
            state = engine.reference(x)
            old = grid[i].argmax(axis=0)[position]
            new = (old + shift) % n_channels
            for s in range(0, len(position), batch_size):
                rows = slice(s, s + batch_size)
                raw = engine.outputs(state, zero[rows], position[rows], old[rows], new[rows])
                scores = adapter.head(raw).to("cpu", torch.float64).numpy()
                effects[i, new[rows], position[rows]] = scores[:, target[i]] - base
    return effects

@shared_docs
class Lime(_PerturbationExplainer):
    """LIME: a locally weighted linear surrogate of the model around each instance.

    Two modes, as in the ``lime`` package:

    - Tabular input (n_samples, n_features) without ``feature_groups`` (lime's
      ``LimeTabularExplainer`` with ``discretize_continuous=False``): ``n_samples`` points
      ``mean + scale * N(0, 1)`` are drawn from the per-feature mean and standard deviation
      of the data passed to ``fit`` (features constant there get scale 1), the instance
      itself first. Features are standardised with that mean and scale, each sample is
      weighted by ``sqrt(exp(-d**2 / kernel_width**2))``, d its Euclidean distance to the
      standardised instance, and a ridge regression (alpha 1) of the target score on the
      standardised features gives the values: score change per standard deviation.
    - Sequences (n, C, L), or any input with ``feature_groups`` (lime's image and text
      explainers): the interpretable features are units, windows of ``window`` positions
      (all channels) or groups, each switched on (kept) or off (replaced by the
      ``baseline``) at random with probability 1/2, the instance (all on) first; the
      weights use the cosine distance of the on/off vector to all-on, and the ridge
      regression is on the on/off vectors. Values have shape (n_samples, n_units).

    Parameters
    ----------
    model : estimator, pipeline, skorch net, torch.nn.Module, callable or None, default=None
        The fitted model; None until set (``set_params(model=...)``, as a selector does).
    n_samples : int, default=5000
        Perturbed samples per instance (including the instance).
    kernel_width : float, default=None
        Width of the exponential kernel; None means ``0.75 * sqrt(n_features)`` for tabular
        input and 0.25 for units (lime's defaults).
    feature_selection : {"auto", "none", "forward_selection", "highest_weights", \
"lasso_path"}, default="auto"
        How to keep ``n_features_to_select`` features, as in lime: "auto" is forward
        selection for at most 6 features, else highest weights. Unselected features get 0.
    n_features_to_select : int, default=None
        Features (or units) in the surrogate; None keeps all of them (no selection).
    window : int, default=1
        Width of the units of sequence input, in positions (disjoint windows).
    baseline : {"mean", "zeros", "shuffle"}, float or array-like, default="mean"
        What a unit switched off becomes: the mean of the fit data, zeros, a value, or for
        sequences ``"shuffle"``: that part of a random permutation of the instance's
        positions (one permutation per instance). Unused for tabular input.
    feature_groups : array-like of shape feature_shape or (n_features,), default=None
        A group label per feature; groups are then the units.
    <output>
    <batch_size>
    device : str, torch.device or None, default=None
        Where a torch module or skorch net is run, e.g. "cuda"; None runs it where it is.
        A model elsewhere is deep-copied to ``device``.
    n_jobs : int, default=None
        Number of joblib workers over blocks of instances.
    random_state : int, RandomState instance or None, default=None
        Seeds the perturbed samples.
    verbose : int, default=0
        Show a progress bar when > 0.

    Attributes
    ----------
    mean_, scale_ : ndarray of shape (n_features,)
        Statistics of the fit data that tabular sampling and standardisation use.
    units_ : list of ndarray of int or None
        Member features of each unit; None for tabular input (values per feature).
    n_features_in_, feature_shape_, feature_names_in_
        As for every explainer.

    Notes
    -----
    ``info`` holds, per instance, the surrogate's ``intercept``, its weighted R^2
    (``score``) and its prediction at the instance (``local_prediction``).

    *Cost and memory.* Model evaluations per instance: ``n_samples``. The perturbed rows
    are scored ``batch_size`` at a time, but the surrogate is fitted on the whole design:
    ``n_samples x n_features`` float64 values for tabular input (the samples themselves, a
    few copies), ``n_samples x n_units`` with units. For inputs of 10**4 features or more,
    give ``feature_groups`` (image patches, gene sets): the rows are then made one batch at
    a time and the design has one column per group.

    *Distributed.* Blocks of instances are joblib tasks, so ``with
    joblib.parallel_config(backend="dask"):`` around ``explain`` runs them on the cluster of
    the current ``dask.distributed.Client``, with identical results (the ``dask`` extra;
    see :class:`SensX`).

    References
    ----------
    Ribeiro, Singh & Guestrin, "'Why should I trust you?': Explaining the predictions of any
    classifier", KDD (2016).

    Examples
    --------
    >>> import numpy as np
    >>> from skexplain.explainers import Lime
    >>> X = np.random.default_rng(0).normal(size=(200, 5))
    >>> model = lambda X: X @ np.array([0.0, 3.0, 0.0, 0.0, -1.0])
    >>> E = Lime(model, n_samples=500, random_state=0).fit(X).explain(X[:2])
    >>> E.top_features(2)
        1   2
    0  x1  x4
    1  x1  x4
    """

    _parameter_constraints = {
        **_COMMON_CONSTRAINTS,
        "n_samples": [Interval(Integral, 2, None, closed="left")],
        "kernel_width": [Interval(Real, 0, None, closed="neither"), None],
        "feature_selection": [StrOptions({"auto", "none", "forward_selection",
                                          "highest_weights", "lasso_path"})],
        "n_features_to_select": [Interval(Integral, 1, None, closed="left"), None],
        "window": [Interval(Integral, 1, None, closed="left")],
        "baseline": _BASELINE,
        "feature_groups": ["array-like", None],
        "random_state": ["random_state"],
    }
    _method = "lime"
    _random = True

    def __init__(
        self, model=None, *, n_samples=5000, kernel_width=None, feature_selection="auto",
        n_features_to_select=None, window=1, baseline="mean", feature_groups=None,
        output="auto", batch_size="auto", device=None, n_jobs=None, random_state=None, verbose=0,
    ):
        super().__init__(model)
        self.output = output
        self.n_samples = n_samples
        self.kernel_width = kernel_width
        self.feature_selection = feature_selection
        self.n_features_to_select = n_features_to_select
        self.window = window
        self.baseline = baseline
        self.feature_groups = feature_groups
        self.batch_size = batch_size
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _fit(self, X):
        self.units_, self.unit_names_ = self._check_units()
        self.mean_, self.scale_ = _mean_and_scale(X)
        if self.units_ is not None:
            self._off_row = self._check_baseline()
        default_width = 0.75 * np.sqrt(self.n_features_in_) if self.units_ is None else 0.25
        self.kernel_width_ = default_width if self.kernel_width is None else self.kernel_width

    def _rows_per_instance(self):
        return self.n_samples

    def _plan(self, x, target, rng, batch_size):
        if self.units_ is None:
            samples = rng.normal(size=(self.n_samples, x.size)) * self.scale_ + self.mean_
            samples[0] = x
            design = (samples - self.mean_) / self.scale_
            distances = np.linalg.norm(design - design[0], axis=1)
            chunks = (samples[s:s + batch_size] for s in range(0, self.n_samples, batch_size))
        else:
            design = rng.integers(0, 2, size=(self.n_samples, len(self.units_))).astype(float)
            design[0] = 1.0
            off = self._off_row if self._off_row is not None else self._shuffled(x, rng)
            distances = _cosine_distance_to_ones(design)
            unit_of_feature = self._unit_of_feature()
            chunks = (np.where(design[s:s + batch_size, unit_of_feature] > 0, x, off)
                      for s in range(0, self.n_samples, batch_size))
        weights = np.sqrt(np.exp(-(distances ** 2) / self.kernel_width_ ** 2))

        def finish(scores):
            return _lime_surrogate(design, scores, weights, self.feature_selection,
                                   self.n_features_to_select)

        return chunks, self.n_samples, finish

    def _shuffled(self, x, rng):
        grid = x.reshape(-1, self.feature_shape_[-1])
        return grid[:, rng.permutation(grid.shape[1])].ravel()


def _mean_and_scale(X):
    """Per-feature mean and standard deviation (1 where it is 0), dense or sparse X."""
    mean = np.asarray(X.mean(axis=0)).ravel()
    if sp.issparse(X):
        variance = np.asarray(X.multiply(X).mean(axis=0)).ravel() - mean ** 2
    else:
        variance = X.var(axis=0)
    scale = np.sqrt(np.maximum(variance, 0.0))
    scale[scale == 0] = 1.0
    return mean, scale


def _cosine_distance_to_ones(design):
    """Cosine distance of each on/off row to all-on; 1 for the all-off row."""
    on = design.sum(axis=1)
    similarity = np.divide(on, np.sqrt(on * design.shape[1]), out=np.zeros_like(on),
                           where=on > 0)
    return 1.0 - similarity


def _lime_surrogate(design, y, weights, method, n_select):
    """Weighted ridge (alpha 1) on the selected columns; (coefficients, extras)."""
    n_columns = design.shape[1]
    if n_select is None or n_select >= n_columns or method == "none":
        used = np.arange(n_columns)
    else:
        used = _lime_selection(design, y, weights, n_select, method)
    ridge = Ridge(alpha=1.0).fit(design[:, used], y, sample_weight=weights)
    coefficients = np.zeros(n_columns)
    coefficients[used] = ridge.coef_
    extras = {
        "intercept": float(ridge.intercept_),
        "score": float(ridge.score(design[:, used], y, sample_weight=weights)),
        "local_prediction": float(ridge.predict(design[:1, used])[0]),
    }
    return coefficients, extras


def _lime_selection(design, y, weights, n_select, method):
    """Columns kept by lime's feature selection methods."""
    if method == "auto":
        method = "forward_selection" if n_select <= 6 else "highest_weights"
    if method == "forward_selection":
        used = []
        for _ in range(n_select):
            candidates = [c for c in range(design.shape[1]) if c not in used]
            fits = [Ridge(alpha=0.0).fit(design[:, used + [c]], y, sample_weight=weights)
                    .score(design[:, used + [c]], y, sample_weight=weights)
                    for c in candidates]
            used.append(candidates[int(np.argmax(fits))])
        return np.array(used)
    if method == "highest_weights":
        ridge = Ridge(alpha=0.01).fit(design, y, sample_weight=weights)
        return np.argsort(-np.abs(ridge.coef_ * design[0]), kind="stable")[:n_select]
    # lasso_path: the last point of the lasso path with at most n_select columns
    root = np.sqrt(weights)
    centred = (design - np.average(design, axis=0, weights=weights)) * root[:, None]
    target = (y - np.average(y, weights=weights)) * root
    _, _, coefs = lars_path(centred, target, method="lasso")
    for step in range(coefs.shape[1] - 1, 0, -1):
        nonzero = np.flatnonzero(coefs[:, step])
        if len(nonzero) <= n_select:
            return nonzero
    return np.flatnonzero(coefs[:, 0])


@shared_docs
class KernelShap(_PerturbationExplainer):
    """KernelSHAP: Shapley values of a model from a kernel-weighted linear regression.

    The players are the features of tabular input, windows of ``window`` positions of
    sequences (all channels), or ``feature_groups``. The value of a coalition S is the
    weighted mean, over the background rows b (learnt in ``fit``), of the model's score on
    x with the players outside S taken from b. Coalitions are weighted with the Shapley
    kernel ``(M - 1) / (C(M, |S|) |S| (M - |S|))`` and fitted by least squares under the
    efficiency constraint ``sum(values) = f(x) - E_b f(b)``, which therefore holds exactly.
    When the budget ``n_samples`` covers all ``2**M - 2`` coalitions they are enumerated and
    the values are the exact Shapley values of this game; otherwise, as in the ``shap``
    package, the most heavily weighted coalition sizes are enumerated while the budget
    allows and the rest sampled in complementary pairs. Players that equal every background
    row at x cannot change the value and get 0 (and are left out of M).

    Parameters
    ----------
    model : estimator, pipeline, skorch net, torch.nn.Module, callable or None, default=None
        The fitted model; None until set (``set_params(model=...)``, as a selector does).
    background : {"kmeans", "sample"}, default="kmeans"
        How the background is drawn from the data passed to ``fit``: k-means centres
        weighted by cluster size (as ``shap.kmeans``, without rounding to data values), or
        a random sample of rows with equal weights (better for one-hot sequences). All rows
        are used when there are at most ``n_background``.
    n_background : int, default=20
        Number of background rows.
    n_samples : "auto" or int, default="auto"
        Coalitions per instance; "auto" is ``2 * M + 2048`` (shap's default), at most
        ``2**M - 2``.
    l1_reg : None, int or {"aic", "bic"}, default=None
        Keep only some players before the constrained fit: an int keeps that many, in the
        order they enter the lasso path; "aic" / "bic" keep those of the lasso chosen by the
        criterion (all players when it chooses none). The others get 0. shap's default is
        10 players; None keeps all of them.
    window : int, default=1
        Width of the players of sequence input, in positions (disjoint windows).
    feature_groups : array-like of shape feature_shape or (n_features,), default=None
        A group label per feature; groups are then the players.
    <output>
    <batch_size>
    device : str, torch.device or None, default=None
        Where a torch module or skorch net is run, e.g. "cuda"; None runs it where it is.
        A model elsewhere is deep-copied to ``device``.
    n_jobs : int, default=None
        Number of joblib workers over blocks of instances.
    random_state : int, RandomState instance or None, default=None
        Seeds the background (k-means or sample) and the sampled coalitions.
    verbose : int, default=0
        Show a progress bar when > 0.

    Attributes
    ----------
    background_ : ndarray of shape (n_background, n_features)
        Background rows.
    background_weights_ : ndarray of shape (n_background,)
        Their weights (summing to 1).
    expected_value_ : ndarray of shape (n_outputs,) or None
        Weighted mean score of the background, ``E_b f(b)``; None for a torch model whose
        forward needs ``model_args`` (then it is computed per instance, with its own).
    units_ : list of ndarray of int or None
        Member features of each player; None when players are features.
    n_features_in_, feature_shape_, feature_names_in_
        As for every explainer.

    Notes
    -----
    ``info["expected_value"]`` is ``E_b f(b)`` for each instance's target (the background
    scored with the instance's ``model_args``, if any), so that
    ``E.values.sum(axis=1) + info["expected_value"] == E.base_values``.

    *Cost and memory.* Model evaluations per instance: ``1 + n_background * (1 +
    n_coalitions)``, with ``n_coalitions = min(n_samples, 2**M - 2)`` (``n_samples="auto"``:
    ``2 * M + 2048``) for M players. Rows are made a block of whole coalitions at a time
    (``max(batch_size, n_background)`` rows), but the regression holds the ``n_coalitions x
    M`` coalition matrix in float64 (a few copies): about 1.8 GB for 10,000 players with
    the default budget, 365 GB for 150,528. Give ``feature_groups`` (image patches, gene
    sets) for inputs of more than a few thousand features.

    *Distributed.* Blocks of instances are joblib tasks, so ``with
    joblib.parallel_config(backend="dask"):`` around ``explain`` runs them on the cluster of
    the current ``dask.distributed.Client``, with identical results (the ``dask`` extra;
    see :class:`SensX`).

    References
    ----------
    Lundberg & Lee, "A unified approach to interpreting model predictions", NeurIPS (2017).
    Covert & Lee, "Improving KernelSHAP: practical Shapley value estimation using linear
    regression", AISTATS (2021).

    Examples
    --------
    >>> import numpy as np
    >>> from skexplain.explainers import KernelShap
    >>> X = np.random.default_rng(0).normal(size=(100, 3))
    >>> model = lambda X: X[:, 0] * X[:, 1] + X[:, 2]
    >>> explainer = KernelShap(model, background="sample", random_state=0).fit(X)
    >>> E = explainer.explain(X[:2])
    >>> np.allclose(E.values.sum(axis=1) + E.info["expected_value"], E.base_values)
    True
    """

    _parameter_constraints = {
        **_COMMON_CONSTRAINTS,
        "background": [StrOptions({"kmeans", "sample"})],
        "n_background": [Interval(Integral, 1, None, closed="left")],
        "n_samples": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "l1_reg": [StrOptions({"aic", "bic"}), Interval(Integral, 1, None, closed="left"),
                   None],
        "window": [Interval(Integral, 1, None, closed="left")],
        "feature_groups": ["array-like", None],
        "random_state": ["random_state"],
    }
    _method = "kernel_shap"
    _random = True

    def __init__(
        self, model=None, *, background="kmeans", n_background=20, n_samples="auto", l1_reg=None,
        window=1, feature_groups=None, output="auto", batch_size="auto", device=None, n_jobs=None,
        random_state=None, verbose=0,
    ):
        super().__init__(model)
        self.output = output
        self.background = background
        self.n_background = n_background
        self.n_samples = n_samples
        self.l1_reg = l1_reg
        self.window = window
        self.feature_groups = feature_groups
        self.batch_size = batch_size
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _fit(self, X):
        self.units_, self.unit_names_ = self._check_units()
        self.background_, self.background_weights_ = self._summarise(X)
        self.expected_value_ = None
        if not self.model_adapter_.needs_model_args:
            scores = self.score_function_(self.background_)
            self.expected_value_ = self.background_weights_ @ scores

    def _summarise(self, X):
        n_rows = X.shape[0]
        if n_rows <= self.n_background:
            return _dense_rows(X, np.arange(n_rows)), np.full(n_rows, 1.0 / n_rows)
        rng = check_random_state(self.random_state)
        if self.background == "sample":
            rows = np.sort(rng.choice(n_rows, self.n_background, replace=False))
            return _dense_rows(X, rows), np.full(self.n_background, 1.0 / self.n_background)
        kmeans = KMeans(self.n_background, n_init=1, random_state=rng).fit(X)
        counts = np.bincount(kmeans.labels_, minlength=self.n_background)
        return kmeans.cluster_centers_, counts / n_rows

    def _n_coalitions(self, n_players):
        budget = 2 * n_players + 2048 if self.n_samples == "auto" else self.n_samples
        return int(max(0, min(budget, 2.0 ** min(n_players, 62) - 2)))

    def _rows_per_instance(self):
        n_background = len(self.background_)
        return 1 + n_background * (1 + max(1, self._n_coalitions(self._n_units())))

    def _plan(self, x, target, rng, batch_size):
        background, n_background = self.background_, len(self.background_)
        unit_of_feature = self._unit_of_feature()
        differs = np.zeros(self._n_units(), dtype=bool)
        differs[unit_of_feature[np.any(background != x, axis=0)]] = True
        players = np.flatnonzero(differs)
        coalitions, kernel_weights = shapley_coalitions(
            len(players), self._n_coalitions(len(players)), rng
        )
        per_chunk = max(1, batch_size // n_background)

        def coalition_rows():
            # The instance, then the background (the empty coalition, with x's model_args).
            yield np.concatenate([x[None], background])
            for start in range(0, len(coalitions), per_chunk):
                on = np.zeros((len(coalitions[start:start + per_chunk]), self._n_units()),
                              dtype=bool)
                on[:, players] = coalitions[start:start + per_chunk]
                keep = on[:, unit_of_feature]  # (chunk, n_features)
                rows = np.where(keep[:, None, :], x, background[None])
                yield rows.reshape(-1, x.size)

        def finish(scores):
            values = np.zeros(self._n_units())
            expected = scores[1:1 + n_background] @ self.background_weights_
            extras = {"expected_value": expected}
            if len(players) == 0:
                return values, extras
            worth = scores[1 + n_background:].reshape(len(coalitions), n_background) \
                @ self.background_weights_
            values[players] = shapley_regression(
                coalitions, worth - expected, kernel_weights, scores[0] - expected, self.l1_reg
            )
            return values, extras

        return coalition_rows(), 1 + n_background * (1 + len(coalitions)), finish


def _dense_rows(X, rows):
    """Rows of X as a new dense float64 array (X dense or CSR)."""
    return X[rows].toarray() if sp.issparse(X) else X[rows]


def shapley_coalitions(n_players, n_coalitions, rng):
    """Coalitions and Shapley-kernel weights for KernelSHAP.

    Coalition sizes s and n_players - s are taken in pairs, heaviest kernel mass first
    (sizes 1 and M - 1, then 2 and M - 2, ...). A size pair is enumerated completely while
    the remaining budget, shared in proportion to the remaining kernel mass, covers it; the
    rest of the budget is drawn at random: a size from the remaining mass, a random
    coalition of that size and its complement. A coalition drawn again adds to its weight.
    Enumerated coalitions weigh their Shapley kernel; the random ones share the remaining
    kernel mass in proportion to their counts.

    Parameters
    ----------
    n_players : int
    n_coalitions : int
        Budget; all ``2**n_players - 2`` proper non-empty coalitions when it covers them.
    rng : numpy.random.Generator

    Returns
    -------
    coalitions : ndarray of shape (n, n_players), bool
    weights : ndarray of shape (n,)
        Kernel weights, summing to 1.
    """
    M = n_players
    if M < 2:
        return np.zeros((0, M), dtype=bool), np.zeros(0)
    sizes = np.arange(1, M // 2 + 1)  # a size s stands for s and M - s
    paired = sizes < M - sizes
    mass = (M - 1) / (sizes * (M - sizes)) * np.where(paired, 2.0, 1.0)
    mass /= mass.sum()
    coalitions, weights = [], []
    budget, remaining = n_coalitions, mass.copy()
    n_full = 0
    for k, size in enumerate(sizes):
        count = comb(M, size, exact=True) * (2 if paired[k] else 1)
        if budget * remaining[k] / count < 1 - 1e-8:
            break
        for members in itertools.combinations(range(M), size):
            on = np.zeros(M, dtype=bool)
            on[list(members)] = True
            coalitions.append(on)
            if paired[k]:
                coalitions.append(~on)
        weights.extend([mass[k] / count] * count)
        budget -= count
        if remaining[k] < 1:
            remaining = remaining / (1 - remaining[k])
        n_full += 1
    if n_full < len(sizes) and budget > 0:
        drawn, counts = _draw_coalitions(M, sizes[n_full:], mass[n_full:], paired[n_full:],
                                         budget, rng)
        coalitions.extend(drawn)
        weights.extend(counts * mass[n_full:].sum() / counts.sum())
    return np.array(coalitions, dtype=bool).reshape(-1, M), np.array(weights)


def _draw_coalitions(M, sizes, mass, paired, budget, rng):
    """Random coalitions (with complements for paired sizes) and how often each was drawn."""
    probability = np.where(paired, mass / 2, mass)
    probability /= probability.sum()
    index, drawn, counts = {}, [], []
    for size in sizes[rng.choice(len(sizes), size=4 * budget, p=probability)]:
        if budget <= 0:
            break
        on = np.zeros(M, dtype=bool)
        on[rng.permutation(M)[:size]] = True
        members = [on, ~on] if size < M - size else [on]
        for coalition in members:
            key = coalition.tobytes()
            if key in index:
                counts[index[key]] += 1
            elif budget > 0:
                index[key] = len(drawn)
                drawn.append(coalition)
                counts.append(1.0)
                budget -= 1
    return drawn, np.array(counts)


def shapley_regression(coalitions, worth, weights, total, l1_reg=None):
    """Least-squares Shapley values under the efficiency constraint.

    Minimises ``sum_S w_S (worth_S - sum_{i in S} phi_i) ** 2`` subject to ``sum(phi) =
    total`` (the constraint is solved for the last kept player and substituted).

    Parameters
    ----------
    coalitions : ndarray of shape (n, M), bool
    worth : ndarray of shape (n,)
        Value of each coalition minus the value of the empty one.
    weights : ndarray of shape (n,)
    total : float
        Value of the grand coalition minus that of the empty one.
    l1_reg : None, int or {"aic", "bic"}
        Player selection before the fit (see :class:`KernelShap`).

    Returns
    -------
    phi : ndarray of shape (M,)
    """
    n_players = coalitions.shape[1]
    Z = coalitions.astype(np.float64)
    root = np.sqrt(weights)
    kept = np.arange(n_players) if l1_reg is None else _select_players(
        Z * root[:, None], worth * root, l1_reg)
    phi = np.zeros(n_players)
    if len(kept) == 1:
        phi[kept] = total
        return phi
    last, rest = kept[-1], kept[:-1]
    design = (Z[:, rest] - Z[:, [last]]) * root[:, None]
    response = (worth - Z[:, last] * total) * root
    solution = np.linalg.lstsq(design, response, rcond=None)[0]
    phi[rest] = solution
    phi[last] = total - solution.sum()
    return phi


def _select_players(design, response, l1_reg):
    if isinstance(l1_reg, str):
        lasso = LassoLarsIC(criterion=l1_reg, fit_intercept=False).fit(design, response)
        kept = np.flatnonzero(lasso.coef_)
    else:
        _, _, coefs = lars_path(design, response, method="lasso", max_iter=l1_reg)
        kept = np.flatnonzero(coefs[:, -1])
    return kept if len(kept) else np.arange(design.shape[1])
