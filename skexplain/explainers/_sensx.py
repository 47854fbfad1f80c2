"""SensX: model-agnostic local attribution by calibrated global sensitivity analysis."""

import warnings
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.utils._param_validation import Interval, StrOptions

from .._core.base import LocalExplainer
from .._core.compute import parallel_map, resolve_batch_size, spawn_seeds
from .._core.model import OUTPUT_CONSTRAINT, check_scores
from ..metrics._perturbation import walk_box
from ._first_linear import first_linear_for
from ._groups import groups_from_labels
from ._perturbation import shared_docs

DEFAULT_DELTA_GRID = np.linspace(0.05, 1.0, 20)
ITEM_ROWS = 2048  # a block of walks drawn from one seed has about this many rows
MIN_WALKS_PER_SEED = 10  # ... and at least this many walks (the block of earlier releases)
TASK_BATCHES = 4  # a parallel task scores about this many batches
CHUNK_BYTES = 2**19  # rows are written in chunks of this many bytes, which stay in cache
MIN_STEP = 1e-12


@shared_docs
class SensX(LocalExplainer):
    """SensX local feature attribution (model-agnostic, sensitivity-based).

    For each instance, SensX (1) scans boxes of growing half-width ``delta * R`` around it (R =
    the global range of each feature) and records the 1 %, 50 % and 99 % quantiles of the
    model's score on uniform samples from each box (the stability profile); (2) picks the
    characteristic ``delta*``: by default (``delta_rule="median"``, the rule of the
    reference code behind the papers' synthetic benchmark) the box from which on the median
    curve stays flat up to the global box (range and slope within ``tau``), i.e. the scale at
    which the typical prediction has settled at its global value; ``delta_rule="envelope"``
    (the TMLR text) takes the first delta after which ``max q99 - min q1`` over all larger
    boxes stays within ``tau``; (3)
    runs ``n_walks`` Morris-style walks from the instance to a random endpoint in the
    ``delta*`` box, changing one feature (or feature group) at a time in random order, and
    averages the absolute elementary effects ``|dy| / |dx|`` (Morris mu*). Instances whose
    score varies by at most ``tau`` over the whole grid are reported as insensitive (``delta* =
    0``, all attributions 0) in ``info["insensitive"]``; this is judged on the 1 % / 99 %
    envelope whichever ``delta_rule`` is used. Row i of a result depends only on
    ``random_state``, the instance and i.

    Cost per instance: ``len(delta_grid) * n_profile_samples`` model evaluations for the
    profile (none when ``delta`` is fixed) plus ``n_walks * (n_units + 1)`` for the walks,
    where ``n_units`` is the number of features, or of groups when ``feature_groups`` is set.
    Work is split into items (one instance's profile, or a block of its walks of about
    2,048 rows, at least ten walks, each drawn from its own seed); consecutive items form
    tasks of about four batches, a split that depends only on ``batch_size`` and the
    problem's shape, so results are
    identical for any ``n_jobs`` and joblib backend.

    Parameters
    ----------
    model : estimator, pipeline, skorch net, torch.nn.Module, callable or None, default=None
        The fitted model; None until set (``set_params(model=...)``, as a selector does).
        ``tau`` is in units of the explained score: a probability keeps its meaning best
        (``output="probability"`` for a torch model or skorch net, whose "auto" output is
        its logits).
    n_walks : int, default=150
        Number of Morris walks per instance. The rank of weak but relevant features (the
        second feature of the L2X switch task's additive rows) is noise-limited: on that
        task (``benchmarks/bench_sensx_l2x.py``, median rule, data seed 0) top-2 accuracy
        was 0.87 at 50 walks, 0.93 at 100 and 0.94-0.96 at 150 (two walk streams; the
        reference code swept 100 to 15,000 walks). Cost grows linearly: for many features
        (a walk costs ``n_features + 1`` evaluations) fewer walks or ``feature_groups``
        may be preferred.
    delta : "auto" or float in (0, 1], default="auto"
        Half-width of the walk box as a fraction of the global range; "auto" finds ``delta*``
        from the stability profile.
    delta_grid : array-like of float in (0, 1], default=None
        Deltas of the stability profile; None means ``linspace(0.05, 1, 20)``.
    n_profile_samples : int, default=25
        Uniform samples per delta in the stability profile. The default median rule needs
        only a median per box, and 25 samples find the same delta* as 100 on the L2X
        switch task; the evaluations saved go to the walks, which decide accuracy. With the
        defaults an instance of 10 features costs ``20 * 25 + 150 * 11 = 2150``
        evaluations, under a tenth of KernelSHAP's 25,000 (500 coalitions x a 50-row
        background). For ``delta_rule="envelope"`` use at least 100 (the fewest for which
        the 1 % / 99 % quantiles are not the sample minimum / maximum).
    delta_rule : {"median", "envelope"}, default="median"
        How delta* is read from the profile. "median" (the reference implementation's
        ``get_delta_star``, used for the synthetic benchmarks of both papers; see
        :func:`median_delta`): the start of the flat tail of the median curve, scanning
        down from delta = 1. "envelope" (the TMLR text and its PyTorch code; see
        :func:`characteristic_delta`): the first delta after which the 1 % / 99 %
        envelope of all larger boxes stays within ``tau``. For a confident classifier of
        few features the score spans both classes in every large box, so the envelope
        rule gives ``delta* = 1`` and walks across the whole domain, where features that
        matter only in another region of the input space (the other branch of the switch
        task) are credited: top-2 accuracy 0.91 / 0.90 on the switch task's two data
        seeds, against 0.94 / 0.96 for the median rule (150 walks each).
    tau : float, default=0.1
        Largest variation of the score (in score units) counted as stable.
    lower, upper : float or array-like of shape feature_shape, default=None
        Global domain; None takes the per-feature min / max of the data passed to ``fit``.
        The domain is widened to contain each explained instance. A feature constant in the
        reference data has no range and gets attribution 0: for one-hot sequences pass
        ``lower=0, upper=1``.
    feature_groups : array-like of shape feature_shape or (n_features,), default=None
        A group label for every feature (image patches, genes of a pathway). A group moves
        as one; its step is the L2 norm of its change and its effect is credited to the group,
        so values then have shape (n_samples, n_groups), groups in sorted label order.
    engine : {"auto", "fast", "full"}, default="auto"
        How walk states are scored. "fast": through the model's first layer, for a torch
        module (or skorch net) whose one input is read only by an ``nn.Linear`` (directly
        or after a flatten), e.g. an MLP on tabular or expression data, and for a
        scikit-learn ``MLPClassifier`` (probabilities or log-odds) or ``MLPRegressor``,
        alone or after per-feature scalers in a pipeline (StandardScaler, MinMaxScaler,
        MaxAbsScaler, folded into its first layer). Consecutive states
        differ in one feature (or group), so the layer's output is updated by one weight
        column per step, ``O(n_hidden)`` work instead of ``O(n_features * n_hidden)``, and
        only the rest of the network runs; values equal whole forward passes up to float
        rounding. "full": whole forward passes. "auto": "fast" where the model qualifies
        and has at least 32 features (below that a forward pass of the first layer is the
        cheaper), else "full"; ``info["engine"]`` says which ran. "fast" where the model
        does not qualify raises a ValueError at ``fit``. The stability profile always runs
        whole forward passes (its rows differ in every feature).
    <output>
    <batch_size>
        It bounds the memory of perturbed rows to ``batch_size * n_features`` values.
    device : str, torch.device or None, default=None
        Where a torch module or skorch net is run, e.g. "cuda"; None runs it where it is
        (its parameters' device). A model elsewhere is deep-copied to ``device``; the
        perturbed rows are built on the CPU and sent there one batch at a time.
    n_jobs : int, default=None
        Number of joblib workers (None: 1 unless inside ``joblib.parallel_config``).
    random_state : int, RandomState instance or None, default=None
        Seeds the box samples, walk endpoints and feature orders.
    verbose : int, default=0
        Show progress bars when > 0.

    Attributes
    ----------
    lower_, upper_ : ndarray of shape (n_features,)
        Global domain used.
    feature_groups_ : list of ndarray of int or None
        Member feature indices of each group.
    group_names_ : ndarray or None
        Group labels, in the order of the values' last axis.
    n_features_in_ : int
        Number of features (product of ``feature_shape_``).
    feature_shape_ : tuple of int
        Shape of one instance.
    feature_names_in_ : ndarray of str
        Column names, when fitted on a DataFrame.
    baseline_ : ndarray of shape (n_features,)
        Mean of the reference data, used by ``score``.
    first_linear_ : FirstLinear, SklearnMLPFirstLayer or None
        The model's first Linear layer and the network after it, where the fast engine
        runs; None where whole forward passes run.

    Notes
    -----
    *Engine.* Rows are built in the model's dtype (float32 for most torch models; float64
    for scikit-learn models and callables) and written straight into one reused buffer of
    ``batch_size`` rows per task, rows of many instances and walks sharing a model call.
    A walk state is a bit select between x and the endpoint z (``rank < t``), computed for
    many whole walks at once, a cache-sized chunk at a time; a profile row is one fused
    multiply-add ``low + u * width`` of a uniform vector u drawn once per sample and mapped
    into every delta box (common random numbers across deltas). With the fast engine a
    walk state is the first Linear layer's output instead: ``W x + b`` plus a running sum
    of the weight columns of the features moved so far, each times its change (float32
    within a chunk of a few hundred states, carried across chunks in float64), so that a
    walk of n features costs ``O(n * n_hidden)`` in that layer rather than ``O(n**2 *
    n_hidden)``. Elementary effects use the steps between x and z as the model sees them
    (in its dtype), accumulated in float64.
    ``batch_size="auto"`` counts the row dtype's bytes (float32 rows: twice the rows of
    float64).

    *Memory.* A task holds one buffer of ``batch_size`` rows (plus, for whole forward
    passes of walks, a boolean mask of one cache-sized chunk), the profile boxes of its instances
    (``2 * len(delta_grid)`` rows each) and, for the walks it runs, their endpoints and
    orders (``n_units`` values each). Memory therefore does not grow with ``n_walks``,
    ``n_profile_samples`` or the number of instances, only with ``batch_size *
    n_features``; each of ``n_jobs`` workers holds this much.

    *Cost.* Each walk scores ``n_units + 1`` rows of ``n_features`` values, so the number
    of model evaluations grows linearly in ``n_units`` and the time of one evaluation with
    ``n_features`` (building the row, and the model itself for a CNN or dense layer):
    without groups an explanation costs ``O(n_walks * n_features**2)`` (for an MLP through
    the fast engine, the first layer's share of it drops to ``O(n_walks * n_features *
    n_hidden)``; at 1,000 and 10,000 features SensX then takes 0.23-0.37x and 0.03-0.05x
    the time of the model's own forward passes over the same rows,
    ``benchmarks/bench_sensx_overhead.py``). Feature groups
    (image patches, gene sets) cut the number of evaluations to ``n_walks * (n_groups +
    1)``; for a 3 x 224 x 224 image, 8 x 8 patches make 784 groups instead of 150,528
    features. ``benchmarks/bench_scale.py`` measures both.

    *Distributed.* Tasks are plain joblib calls, so any joblib backend runs them, with
    identical results. To use a dask cluster (the ``dask`` extra), connect a client and
    select the backend around ``explain``::

        import joblib
        from dask.distributed import Client

        client = Client("tcp://scheduler-address:8786")  # or Client(LocalCluster())
        with joblib.parallel_config(backend="dask"):
            explanation = explainer.explain(X)

    The model is sent to the workers once per chunk of tasks (two chunks per worker for
    each of the profile and walk phases), and a worker process runs torch on one thread;
    on a GPU cluster give ``device="cuda"`` so that each worker runs its copy on its GPU.

    References
    ----------
    Aggarwal, Cogan & Periwal, "SensX: Model-Agnostic Local Feature Attribution via
    Calibrated Global Sensitivity Analysis", TMLR (2026); bioRxiv 2025.02.21.639516.
    Morris, "Factorial sampling plans for preliminary computational experiments",
    Technometrics 33 (1991).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skexplain.explainers import SensX
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 5))
    >>> y = (X[:, 2] > 0).astype(int)
    >>> model = LogisticRegression().fit(X, y)
    >>> explainer = SensX(model, n_walks=20, random_state=0).fit(X)
    >>> explainer.explain(X[:3], target=1).top_features(1)
        1
    0  x2
    1  x2
    2  x2
    """

    _parameter_constraints = {
        "model": "no_validation",
        "n_walks": [Interval(Integral, 1, None, closed="left")],
        "delta": [StrOptions({"auto"}), Interval(Real, 0, 1, closed="right")],
        "delta_grid": ["array-like", None],
        "n_profile_samples": [Interval(Integral, 2, None, closed="left")],
        "delta_rule": [StrOptions({"median", "envelope"})],
        "tau": [Interval(Real, 0, None, closed="left")],
        "lower": ["array-like", Real, None],
        "upper": ["array-like", Real, None],
        "feature_groups": ["array-like", None],
        "engine": [StrOptions({"auto", "fast", "full"})],
        "output": OUTPUT_CONSTRAINT,
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "device": "no_validation",
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self, model=None, *, n_walks=150, delta="auto", delta_grid=None, n_profile_samples=25,
        delta_rule="median", tau=0.1, lower=None, upper=None, feature_groups=None,
        engine="auto", output="auto", batch_size="auto", device=None, n_jobs=None,
        random_state=None, verbose=0,
    ):
        super().__init__(model)
        self.output = output
        self.n_walks = n_walks
        self.delta = delta
        self.delta_grid = delta_grid
        self.n_profile_samples = n_profile_samples
        self.delta_rule = delta_rule
        self.tau = tau
        self.lower = lower
        self.upper = upper
        self.feature_groups = feature_groups
        self.engine = engine
        self.batch_size = batch_size
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _fit(self, X):
        self.lower_ = self._domain_bound(self.lower, X, "min")
        self.upper_ = self._domain_bound(self.upper, X, "max")
        if np.any(self.lower_ > self.upper_):
            raise ValueError("lower must not exceed upper for any feature.")
        self.delta_grid_ = self._check_delta_grid()
        self.feature_groups_, self.group_names_ = self._check_groups()
        self.first_linear_ = first_linear_for(self.model_adapter_, self.feature_shape_,
                                              self.engine)

    def _domain_bound(self, bound, X, reduce):
        if bound is None:
            value = getattr(X, reduce)(axis=0)
            return np.asarray(value.toarray() if sp.issparse(value) else value).ravel()
        return self._per_feature(bound, "The domain bound lower / upper")

    def _check_delta_grid(self):
        if self.delta_grid is None:
            return DEFAULT_DELTA_GRID
        grid = np.sort(np.asarray(self.delta_grid, dtype=np.float64).ravel())
        if grid.size < 2 or not np.all((grid > 0) & (grid <= 1)):
            raise ValueError("delta_grid needs at least two deltas, each in (0, 1].")
        return grid

    def _check_groups(self):
        if self.feature_groups is None:
            return None, None
        return groups_from_labels(self.feature_groups, self.feature_shape_)

    def _feature_names_out(self):
        if self.group_names_ is not None:
            return np.asarray([str(name) for name in self.group_names_], dtype=object)
        return super()._feature_names_out()

    def _feature_groups(self):
        return self.feature_groups_

    def _batch_size(self):
        return resolve_batch_size(self.batch_size, self.n_features_in_)

    def _n_units(self):
        return self.n_features_in_ if self.feature_groups_ is None else len(self.feature_groups_)

    def _axes(self):
        if self.feature_groups_ is not None:
            return ("sample", "group")
        if len(self.feature_shape_) == 2:
            return ("sample", "channel", "position")
        return ("sample",) + ("feature",) * len(self.feature_shape_)

    def _row_dtype(self):
        """The numpy dtype rows are built in: the torch module's (float32 mostly), else float64."""
        return row_dtype(self.score_function_)

    def _explain(self, X, target):
        n_samples = len(X)
        n_walk_blocks = -(-self.n_walks // self._walks_per_item())
        seeds = spawn_seeds(self.random_state, n_samples, 1 + n_walk_blocks)
        profile_seeds, walk_seeds = seeds[:, 0], seeds[:, 1:]
        lower = np.minimum(self.lower_, X)  # the domain always contains the instance
        upper = np.maximum(self.upper_, X)
        dtype = self._row_dtype()
        batch_size = resolve_batch_size(self.batch_size, self.n_features_in_,
                                        itemsize=dtype.itemsize)
        engine = _Engine(self.score_function_, dtype, batch_size, self.n_jobs, self.verbose)

        info = {"method": "sensx", "axes": self._axes()}
        if self.delta == "auto":
            quantiles = self._stability_profiles(engine, X, target, lower, upper, profile_seeds)
            if self.delta_rule == "envelope":
                delta_star = characteristic_delta(
                    quantiles[..., 0], quantiles[..., 2], self.delta_grid_, self.tau
                )
            else:
                delta_star = median_delta(quantiles[..., 1], self.delta_grid_, self.tau)
            envelope = quantiles[..., 2].max(axis=1) - quantiles[..., 0].min(axis=1)
            insensitive = envelope <= self.tau
            delta_star[insensitive] = 0.0
            info.update(stability_profile=quantiles, delta_grid=self.delta_grid_)
            if insensitive.any():
                warnings.warn(
                    f"{insensitive.sum()} of {n_samples} instances are insensitive: their "
                    f"score varies by at most tau={self.tau} over every box, so their "
                    "attributions are 0 (see info['insensitive']).",
                    UserWarning,
                    stacklevel=3,
                )
        else:
            delta_star = np.full(n_samples, float(self.delta))
            insensitive = np.zeros(n_samples, dtype=bool)
        plan = self._walk_plan()
        info.update(delta_star=delta_star, insensitive=insensitive,
                    engine="full" if plan.head is None else "fast")
        values = self._walks(engine, plan, X, target, lower, upper, delta_star, walk_seeds)
        return values, info

    def _stability_profiles(self, engine, X, target, lower, upper, seeds):
        """Quantiles (n_samples, n_deltas, 3): one work item per instance."""
        plan = _ProfilePlan(self.delta_grid_, self.n_profile_samples, self.n_features_in_)
        items = [(x, low, high, t, i, seed) for i, (x, low, high, t, seed)
                 in enumerate(zip(X, lower, upper, target, seeds, strict=True))]
        return np.stack(list(engine.run(plan, items, plan.n_rows,
                                        "SensX stability profiles")))

    def _walks_per_item(self):
        """Walks drawn from one seed: about ``ITEM_ROWS`` rows, a number fixed by the shape
        of the problem (never by ``n_jobs``), so that the fixed cost of an item stays small
        next to its rows for few features, and items stay fine-grained for many."""
        per_item = max(MIN_WALKS_PER_SEED, ITEM_ROWS // (self._n_units() + 1))
        return min(self.n_walks, per_item)

    def _walk_plan(self):
        """Walks through the model's first Linear layer where it has one
        (``first_linear_``: a torch module of one input, so never with model_args, or a
        scikit-learn MLP), else through whole forward passes."""
        if self.first_linear_ is None:
            return _WalkPlan(self.feature_groups_, self.n_features_in_)
        return _LinearWalkPlan(self.feature_groups_, self.n_features_in_, self.first_linear_)

    def _walks(self, engine, plan, X, target, lower, upper, delta_star, seeds):
        """Mean absolute elementary effects (n_samples, n_units): items of blocks of walks."""
        n_units = self._n_units()
        values = np.zeros((len(X), n_units))
        block = self._walks_per_item()
        jobs = [
            (i, min(block, self.n_walks - block * b), seeds[i, b])
            for i in np.flatnonzero(delta_star > 0)
            for b in range(seeds.shape[1])
        ]
        items = [(X[i], *walk_box(X[i], lower[i], upper[i], delta_star[i]), n_walks,
                  target[i], i, seed) for i, n_walks, seed in jobs]
        results = engine.run(plan, items, block * (n_units + 1),
                             "SensX walks")
        # Summed as they arrive: the effects of finished items are not kept.
        for (i, _, _), effects in zip(jobs, results, strict=True):
            values[i] += effects
        return values / self.n_walks


def row_dtype(adapter):
    """The numpy dtype of rows for a model adapter: its torch module's dtype, else float64.

    A dtype numpy lacks (bfloat16) gives float32; the adapter converts each batch.
    """
    dtype = adapter.dtype
    if adapter.module is None:
        return np.dtype(np.float64)
    import torch

    try:
        return torch.empty(0, dtype=dtype).numpy().dtype
    except TypeError:
        return np.dtype(np.float32)


class _Engine:
    """Scores the rows of work items (a profile, a block of walks) in full model calls.

    Consecutive items are grouped into tasks of about ``TASK_BATCHES * batch_size`` rows
    (the split depends only on ``batch_size`` and the items, never on ``n_jobs``); a task
    writes its items' rows straight into one reused buffer of ``batch_size`` rows in the
    model's dtype, several items sharing a model call, and gives every row the index of its
    instance (the ``owner`` that picks its ``model_args``). Tasks run through
    :func:`skexplain._core.compute.parallel_map` with the model shipped once per chunk.
    """

    def __init__(self, score, dtype, batch_size, n_jobs, verbose):
        self.score, self.dtype, self.batch_size = score, dtype, batch_size
        self.n_jobs, self.verbose = n_jobs, verbose

    def run(self, plan, items, rows_per_item, description):
        per_task = max(1, TASK_BATCHES * self.batch_size // max(1, rows_per_item))
        tasks = [(items[s:s + per_task],) for s in range(0, len(items), per_task)]
        results = parallel_map(
            _score_task, tasks, shared=(self.score, plan, self.dtype, self.batch_size),
            n_jobs=self.n_jobs, verbose=self.verbose, description=description, lazy=True,
        )
        for finished in results:
            yield from finished


def _score_task(score, plan, dtype, batch_size, items):
    """Rows of a task's items, ``batch_size`` per model call; each item's finished result."""
    rows = plan.rows(items, dtype)
    total = int(rows.item_rows.sum())
    owners = np.repeat([item[-2] for item in items], rows.item_rows)
    targets = np.repeat([item[-3] for item in items], rows.item_rows)
    buffer = np.empty((min(batch_size, total), plan.row_width), dtype)
    scores = np.empty(total)
    with _scoring(score, plan.head) as score_rows:
        for start in range(0, total, batch_size):
            stop = min(start + batch_size, total)
            rows.write(buffer[:stop - start], start, stop)
            batch = score_rows(buffer[:stop - start], owners[start:stop])
            scores[start:stop] = batch[np.arange(stop - start), targets[start:stop]]
    return rows.finish(scores)


def characteristic_delta(q_low, q_high, delta_grid, tau):
    """SensX's delta* from the stability profile.

    Parameters
    ----------
    q_low, q_high : ndarray of shape (n_samples, n_deltas)
        Lower and upper profile curves: the 1 % and 99 % quantiles of the score in each
        delta box (TMLR rule), or the median twice (bioRxiv rule).
    delta_grid : ndarray of shape (n_deltas,)
        Sorted deltas.
    tau : float
        Largest variation counted as stable.

    Returns
    -------
    delta_star : ndarray of shape (n_samples,)
        First ``delta_j`` whose tail variation ``max_{l>j} q_high_l - min_{l>j} q_low_l`` is
        at most ``tau``; 1.0 (the global box) when none is.
    """
    tail_max = np.maximum.accumulate(q_high[:, ::-1], axis=1)[:, ::-1]
    tail_min = np.minimum.accumulate(q_low[:, ::-1], axis=1)[:, ::-1]
    stable = (tail_max[:, 1:] - tail_min[:, 1:]) <= tau
    return np.where(stable.any(axis=1), delta_grid[np.argmax(stable, axis=1)], 1.0)


def median_delta(q50, delta_grid, tau):
    """SensX's delta* by the median rule of the bioRxiv version (its reference code).

    Scanning down from the largest delta, the median curve is followed while it stays flat:
    delta* is the smallest ``delta_j`` such that the medians of all boxes ``l >= j`` lie
    within ``tau`` of each other and every slope between neighbouring deltas of that tail,
    ``|q50_{l+1} - q50_l| / (delta_{l+1} - delta_l)``, is at most ``tau`` (score units
    per unit of delta). It is the box from which on the typical prediction has settled at
    its global value (for a confident classifier: where the median prediction has flipped).

    Parameters
    ----------
    q50 : ndarray of shape (n_samples, n_deltas)
        Median score in each delta box.
    delta_grid : ndarray of shape (n_deltas,)
        Sorted deltas.
    tau : float
        Largest variation (and slope) counted as flat.

    Returns
    -------
    delta_star : ndarray of shape (n_samples,)
        The start of the flat tail; the largest delta when only it is flat.
    """
    tail_range = (np.maximum.accumulate(q50[:, ::-1], axis=1)
                  - np.minimum.accumulate(q50[:, ::-1], axis=1))[:, ::-1]
    slope = np.abs(np.diff(q50, axis=1)) / np.diff(delta_grid)
    steep = np.zeros(q50.shape, dtype=bool)  # a slope above tau at or after j
    steep[:, :-1] = np.logical_or.accumulate((slope > tau)[:, ::-1], axis=1)[:, ::-1]
    flat = (tail_range <= tau) & ~steep  # monotone in j; the last delta is always flat
    return delta_grid[np.argmax(flat, axis=1)]


@contextmanager
def _scoring(score, head=None):
    """``score_rows(rows, owner)``: float64 scores; a torch model is put in inference mode
    once for the whole task rather than once per call. With ``head`` (the module after its
    first layer) the rows are that layer's outputs."""
    module = getattr(score, "module", None)
    if module is None and head is not None:  # a scikit-learn MLP's layers after the first
        yield lambda rows, owner: check_scores(score.numpy_output(head(rows)), len(rows),
                                               score.name, score.model)
        return
    if module is None or not hasattr(score, "forward"):
        yield score
        return
    import torch

    def score_rows(rows, owner):
        if head is None:
            batch = rows.reshape((len(rows),) + score.feature_shape)
            scores = score.forward(score.tensor(batch), owner)
        else:
            scores = score.head(head(score.tensor(rows)))
        scores = scores.detach().to("cpu", torch.float64).numpy()
        return check_scores(scores, len(rows), score.name, score.model)

    with score.inference(), torch.no_grad():
        yield score_rows


class _ProfilePlan:
    """Stability profiles: ``n_samples`` uniform points in each delta box of an instance.

    Common random numbers: sample k draws one uniform vector u_k in [0, 1)^D and is mapped
    into every box, ``low_j + u_k * (high_j - low_j)``; rows run instance by instance,
    sample-major within one (all deltas of u_0, then of u_1, ...), so one draw of D numbers
    makes ``n_deltas`` rows and a row costs one multiply-add per value. The result of an
    instance is its 1 %, 50 % and 99 % score quantiles, shape (n_deltas, 3).
    """

    head = None  # rows are model inputs

    def __init__(self, delta_grid, n_samples, n_features):
        self.delta_grid = delta_grid
        self.n_samples = n_samples
        self.row_width = n_features
        self.n_rows = len(delta_grid) * n_samples

    def rows(self, items, dtype):
        return _ProfileRows(self, items, dtype)


class _ProfileRows:
    """The profile rows of a task's instances, built for all of them at once."""

    def __init__(self, plan, items, dtype):
        x, lower, upper = (np.stack([item[k] for item in items]) for k in range(3))
        # walk_box for every delta at once (the same operations, so the same boxes)
        low, high = walk_box(x[:, None], lower[:, None], upper[:, None],
                             plan.delta_grid[None, :, None])
        self.low = low.astype(dtype)  # (n_items, n_deltas, D)
        self.width = (high - low).astype(dtype)
        self.rngs = [np.random.default_rng(item[-1]) for item in items]
        self.dtype = dtype
        self.item, self.drawn, self.last = None, 0, None  # samples drawn of self.item
        self.n_deltas, self.n_samples = len(plan.delta_grid), plan.n_samples
        self.item_rows = np.full(len(items), plan.n_rows)

    def _uniforms(self, i, first, last):
        """u of samples first..last (inclusive) of item i, drawn in order (writes only move
        forward, so that at most a batch's worth of samples is held)."""
        if self.item != i:
            self.item, self.drawn, self.last = i, 0, None
        # float32 uniforms (24 random bits) whatever the dtype: rows in float32 and float64
        # differ by rounding only.
        shape = (max(0, last + 1 - self.drawn), self.low.shape[2])
        new = self.rngs[i].random(shape, dtype=np.float32).astype(self.dtype, copy=False)
        u = new if first >= self.drawn else np.concatenate([self.last[None], new])
        if len(new):
            self.drawn, self.last = last + 1, new[-1]
        return u

    def write(self, out, start, stop):
        import torch

        n_deltas, per_item = self.n_deltas, self.n_deltas * self.n_samples
        out = torch.from_numpy(out)
        low, width = torch.from_numpy(self.low), torch.from_numpy(self.width)
        row = start
        while row < stop:  # one fused pass: low + u * width
            i, r = divmod(row, per_item)
            k, j0 = divmod(r, n_deltas)
            at = row - start
            items = (stop - row) // per_item if r == 0 else 0
            samples = (stop - row) // n_deltas if j0 == 0 and not items else 0
            if items:  # whole instances
                u = torch.from_numpy(np.stack([self._uniforms(j, 0, self.n_samples - 1)
                                               for j in range(i, i + items)]))
                block = out[at:at + items * per_item].view(items, self.n_samples, n_deltas, -1)
                torch.addcmul(low[i:i + items, None], u[:, :, None], width[i:i + items, None],
                              out=block)
                row += items * per_item
            elif samples:  # whole samples of one instance: every delta of each
                samples = min(samples, self.n_samples - k)
                u = torch.from_numpy(self._uniforms(i, k, k + samples - 1))
                block = out[at:at + samples * n_deltas].view(samples, n_deltas, -1)
                torch.addcmul(low[i, None], u[:, None], width[i, None], out=block)
                row += samples * n_deltas
            else:
                j1 = min(n_deltas, j0 + stop - row)
                u = torch.from_numpy(self._uniforms(i, k, k)[:1])
                torch.addcmul(low[i, j0:j1], u, width[i, j0:j1], out=out[at:at + j1 - j0])
                row += j1 - j0

    def finish(self, scores):
        values = scores.reshape(-1, self.n_samples, self.n_deltas)
        return list(np.swapaxes(_quantiles(values), 1, 2))


PROFILE_QUANTILES = np.array([0.01, 0.5, 0.99])


def _quantiles(values):
    """The 1 %, 50 % and 99 % quantiles along axis 1 of (n, n_samples, m) values (numpy's
    default linear method), computed from one sort: ``np.quantile``'s overhead dominates
    for these small arrays. Shape (n, 3, m)."""
    ordered = np.sort(values, axis=1)
    n_samples = values.shape[1]
    position = PROFILE_QUANTILES * (n_samples - 1)
    below = np.floor(position).astype(np.intp)
    above = np.minimum(below + 1, n_samples - 1)
    fraction = (position - below)[:, None]
    a, b = ordered[:, below], ordered[:, above]
    return a + (b - a) * fraction


class _WalkPlan:
    """``n_walks`` Morris walks of one instance in the box ``[low, high]``.

    Each walk draws an endpoint z uniformly in ``[low, high]`` and a random order of the
    units (features, or groups); it moves the units from x to z one at a time, the changes
    accumulating, and credits unit u with ``|y_t - y_{t-1}| / |z_u - x_u|`` (0 for a step
    shorter than 1e-12; the L2 norm of the change for a group), x and z taken in the model's
    dtype. ``finish`` gives the sum over the walks of each unit's absolute elementary
    effect, shape (n_units,).
    """

    head = None  # rows are model inputs

    def __init__(self, groups, n_features):
        self.groups = groups
        self.row_width = n_features
        self.n_units = n_features if groups is None else len(groups)
        self.unit_of_feature = None
        if groups is not None:
            self.unit_of_feature = np.empty(n_features, dtype=np.intp)
            for unit, members in enumerate(groups):
                self.unit_of_feature[members] = unit

    def rows(self, items, dtype):
        return _WalkRows(self, items, dtype)


class _LinearWalkPlan(_WalkPlan):
    """The same walks, scored through a model's first Linear layer (:class:`FirstLinear`):
    rows are that layer's outputs (``n_hidden`` wide), the rest of the model scores them."""

    def __init__(self, groups, n_features, first):
        super().__init__(groups, n_features)
        self.head = first.head
        self.row_width = first.n_hidden
        self.weight_t, self.bias = first.weights()
        if groups is not None:  # features unit by unit: a unit's members are a slice
            self.members = np.concatenate(groups)
            self.unit_size = np.array([len(g) for g in groups])
            self.unit_start = np.cumsum(self.unit_size) - self.unit_size

    def rows(self, items, dtype):
        return _LinearWalkRows(self, items, dtype)


def _draw_walks(plan, low, high, n_walks, seed):
    """Orders (n_walks, n_units) and endpoints (n_walks, n_features) of a block of walks.

    Endpoints are ``low + (high - low) * u``, u uniform in [0, 1): the arithmetic (and the
    stream) of ``Generator.uniform(low, high)``, without its per-call argument checks.
    """
    rng = np.random.default_rng(seed)
    n_units = plan.n_units
    low, high = low.ravel(), high.ravel()
    if n_walks <= MIN_WALKS_PER_SEED:
        # Endpoint and order of each walk in turn: the stream of earlier releases, whose
        # blocks were ten walks (kept for the many-feature problems they served).
        u = np.empty((n_walks, low.size))
        order = np.empty((n_walks, n_units), dtype=np.intp)
        for walk in range(n_walks):
            rng.random(out=u[walk])
            order[walk] = rng.permutation(n_units)
    else:  # all endpoints, then all orders: two generator calls for a long block
        u = rng.random((n_walks, low.size))
        order = np.empty((n_walks, n_units), dtype=np.intp)
        order[:] = np.arange(n_units)
        rng.permuted(order, axis=1, out=order)
    return order, low + (high - low) * u


class _Walks:
    """The blocks of walks of a task's items, one after the other: endpoints, orders and
    step lengths; each item's effects from the scores."""

    def __init__(self, plan, items, dtype):
        draws = [_draw_walks(plan, low, high, n_walks, seed)
                 for _, low, high, n_walks, _, _, seed in items]
        n_units = plan.n_units
        item_walks = np.array([len(order) for order, _ in draws])
        self.order = np.concatenate([order for order, _ in draws])
        z = np.concatenate([z for _, z in draws]).astype(dtype)
        x = np.stack([item[0] for item in items]).astype(dtype)
        self.walk_item = np.repeat(np.arange(len(items)), item_walks)
        change = z.astype(np.float64) - x.astype(np.float64)[self.walk_item]
        n_walks = len(z)
        if plan.unit_of_feature is None:
            self.step = np.abs(change)
        else:
            unit = plan.unit_of_feature[None] + n_units * np.arange(n_walks)[:, None]
            self.step = np.sqrt(np.bincount(unit.ravel(), weights=(change * change).ravel(),
                                            minlength=n_walks * n_units)).reshape(n_walks, -1)
        self.n_units = n_units
        self.item_rows = item_walks * (n_units + 1)
        self._prepare(plan, x, z, change)

    def _prepare(self, plan, x, z, change):
        """Keep what writing the states needs: x (n_items, n_features) and z (n_walks,
        n_features) in the row dtype, the change z - x (n_walks, n_features) in float64."""
        raise NotImplementedError

    def write(self, out, start, stop):
        """Rows ``start:stop`` into ``out``, a cache-sized chunk at a time; a chunk holds
        whole walks where they fit (chunks start at multiples of its rows)."""
        length = self.n_units + 1
        chunk = max(1, CHUNK_BYTES // (out.shape[1] * out.itemsize))
        if chunk >= length:
            chunk -= chunk % length
        a = start
        while a < stop:
            b = min(stop, (a // chunk + 1) * chunk)
            self._write(out[a - start:b - start], a, b)
            a = b

    def _write(self, out, start, stop):
        length = self.n_units + 1
        row = start
        while row < stop:
            walk, t0 = divmod(row, length)
            at = row - start
            whole = (stop - row) // length if t0 == 0 else 0
            n = whole * length if whole else min(length, t0 + stop - row) - t0
            if whole:
                self._states(out[at:at + n], slice(walk, walk + whole), 0, length)
            else:
                self._states(out[at:at + n], walk, t0, t0 + n)
            row += n

    def finish(self, scores):
        y = scores.reshape(len(self.order), self.n_units + 1)
        effect = np.abs(np.diff(y, axis=1))  # step t moves unit order[:, t]
        step = np.take_along_axis(self.step, self.order, axis=1)
        moved = step > MIN_STEP
        effect = np.where(moved, effect / np.where(moved, step, 1.0), 0.0)
        n_items = len(self.item_rows)
        slot = self.walk_item[:, None] * self.n_units + self.order  # (item, unit) of a step
        return list(np.bincount(slot.ravel(), weights=effect.ravel(),
                                minlength=n_items * self.n_units).reshape(n_items, -1))


class _WalkRows(_Walks):
    """Walk states written as bit selects between x and z.

    State t of a walk holds z in the features whose unit comes before t in the walk's
    order (rank < t) and x elsewhere: ``bits(x) ^ ((bits(x) ^ bits(z)) * (rank < t))``,
    three passes of vectorised integer work per value, exactly x or z, for any number of
    whole walks at once or part of one walk.
    """

    def _prepare(self, plan, x, z, change):
        self.bits = np.dtype(f"u{x.itemsize}")
        self.x_bits = x.view(self.bits)[self.walk_item]
        self.flip = z.view(self.bits) ^ self.x_bits
        n_walks = len(z)
        rank = np.empty((n_walks, self.n_units), dtype=np.int32)
        rank[np.arange(n_walks)[:, None], self.order] = np.arange(self.n_units, dtype=np.int32)
        self.rank = rank if plan.unit_of_feature is None else rank[:, plan.unit_of_feature]
        self.t = np.arange(self.n_units + 1, dtype=np.int32)

    def _states(self, out, walks, t0, t1):
        """States t0..t1 of one walk (an int) or of whole walks (a slice; t0 = 0)."""
        out = out.view(self.bits)
        if isinstance(walks, slice):  # (walk, state, feature)
            out = out.reshape(walks.stop - walks.start, t1 - t0, -1)
        mask = np.empty(out.shape, dtype=bool)
        np.less(self.rank[walks, None], self.t[t0:t1, None], out=mask)
        np.multiply(mask, self.flip[walks, None], out=out)
        np.bitwise_xor(out, self.x_bits[walks, None], out=out)


class _LinearWalkRows(_Walks):
    """The states of a block of walks as a first Linear layer's outputs.

    State 0 is ``W x + b``; state t adds the column of W of the feature moved at step t
    times its change, ``h_t = h_{t-1} + W[:, j] (z_j - x_j)`` (for a group, the sum over
    its members). A chunk of states is a gather of weight columns, a scaling and a running
    sum: ``O(n_hidden)`` work per state instead of the layer's ``O(n_features *
    n_hidden)``. The running sum is float32 within a chunk of a few hundred rows; a walk
    that spans chunks carries its state from one to the next in float64. Writes only move
    forward.
    """

    def _prepare(self, plan, x, z, change):
        self.plan = plan
        self.h0 = ((x @ plan.weight_t).astype(np.float64) + plan.bias)[self.walk_item]
        if plan.groups is None:  # the change of each step, in walk order
            self.step_change = np.take_along_axis(change.astype(x.dtype), self.order, axis=1)
        else:
            self.change = change.astype(x.dtype)
        self.carry = None  # float64 state of the last row written

    def _states(self, out, walks, t0, t1):
        import torch

        if isinstance(walks, slice):  # whole walks
            states = out.reshape(walks.stop - walks.start, t1, -1)
            states[:, 0] = self.h0[walks]
            if self.plan.groups is None:
                np.multiply(self.plan.weight_t[self.order[walks]],
                            self.step_change[walks, :, None], out=states[:, 1:])
            else:
                for k, walk in enumerate(range(walks.start, walks.stop)):
                    self._changes(states[k, 1:], walk, slice(None))
            torch.from_numpy(states).cumsum_(1)
            return
        if t0 == 0:
            self.carry = self.h0[walks]
            out[0] = 0
        steps = slice(max(t0, 1) - 1, t1 - 1)
        self._changes(out[1 - min(t0, 1):], walks, steps)
        total = out.sum(axis=0, dtype=np.float64)
        out[0] += self.carry
        torch.from_numpy(out).cumsum_(0)
        self.carry = self.carry + total

    def _changes(self, out, walk, steps):
        """``out[i]``: the change of the layer's output at the i-th of a walk's ``steps``."""
        plan = self.plan
        units = self.order[walk, steps]
        if plan.groups is None:
            np.multiply(plan.weight_t[units], self.step_change[walk, steps, None], out=out)
            return
        size = plan.unit_size[units]
        offsets = np.cumsum(size) - size
        features = plan.members[np.repeat(plan.unit_start[units] - offsets, size)
                                + np.arange(size.sum())]
        np.add.reduceat(plan.weight_t[features] * self.change[walk, features][:, None],
                        offsets, axis=0, out=out)
