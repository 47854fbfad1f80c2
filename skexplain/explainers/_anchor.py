"""Anchors: local IF-THEN rules that fix a prediction (Ribeiro, Singh & Guestrin 2018)."""

import numbers
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from .._core.base import LocalExplainer
from .._core.compute import batched_scores, parallel_map, resolve_batch_size, spawn_seeds
from .._core.explanation import Attribution

DEFAULT_SAMPLES_PER_PULL = 100  # alibi's batch_size
PRECISION_MARGIN = 0.05  # an anchor is valid when its precision's lower bound > threshold - this
KL_ITERATIONS = 17  # bisection steps of the KL confidence bounds (precision 2**-17)
_RULE_KEYS = ("anchor", "rules")  # per-instance lists in info
_RULE_ARRAYS = ("precision", "coverage", "success", "n_model_rows")


class AnchorExplanation(Attribution):
    """The anchors of a batch of instances: IF-THEN rules with their precision and coverage.

    An :class:`~skexplain.Explanation` (attribution) whose ``values`` (n_samples,
    n_features) are the rise in estimated precision when each feature's predicates joined
    the anchor (0 for features outside it), and which carries the rules as data. The same
    entries stay in ``info`` ("anchor", "rules", "precision", "coverage", "success",
    "n_model_rows"), as before.

    Parameters
    ----------
    values, data, base_values, feature_names, output_names, info, axes, units
        As for :class:`~skexplain.Explanation`; ``info`` must hold the rule entries above,
        one per instance.

    Attributes
    ----------
    anchors : list of str
        Each instance's anchor as text, e.g. "CD14 > 2.1 and LYZ > 3.4", or "(any)" when
        the empty anchor already holds.
    rules : list of list of (str, str, float)
        Each instance's predicates ``(feature, "<=" or ">", threshold)``, one bound per
        feature and side.
    precision, coverage : ndarray of shape (n_samples,)
        Estimated precision of each anchor, and the fraction of the fitted rows it covers.
    success : ndarray of bool of shape (n_samples,)
        Whether the anchor reached the explainer's threshold.
    n_model_rows : ndarray of int of shape (n_samples,)
        Rows scored by the model for each instance.

    Raises
    ------
    ValueError
        If ``info`` lacks a rule entry or holds one of another length than the samples.
    """

    def __init__(self, values, data=None, base_values=None, feature_names=None,
                 output_names=None, info=None, axes=None, units="precision gain"):
        super().__init__(values, data, base_values, feature_names, output_names, info, axes,
                         units)
        for key in _RULE_KEYS + _RULE_ARRAYS:
            if key not in self.info or len(self.info[key]) != len(self):
                raise ValueError(
                    f"An AnchorExplanation needs info[{key!r}] with one entry per instance "
                    f"({len(self)})."
                )
        for key in _RULE_ARRAYS:
            self.info[key] = np.asarray(self.info[key])
        for key in _RULE_KEYS:
            self.info[key] = list(self.info[key])

    anchors = property(lambda self: self.info["anchor"], doc="Anchors as text.")
    rules = property(lambda self: self.info["rules"], doc="Predicates of each anchor.")
    precision = property(lambda self: self.info["precision"], doc="Precision per anchor.")
    coverage = property(lambda self: self.info["coverage"], doc="Coverage per anchor.")
    success = property(lambda self: self.info["success"], doc="Threshold reached.")
    n_model_rows = property(lambda self: self.info["n_model_rows"], doc="Rows scored.")

    def __getitem__(self, key):
        """As for an attribution; the rules of the selected instances are kept."""
        rows = key[0] if isinstance(key, tuple) else key
        rows = np.arange(len(self))[[rows] if isinstance(rows, numbers.Integral) else rows]
        sliced = super().__getitem__(key)
        info = dict(sliced.info)
        for key_ in _RULE_KEYS:
            info[key_] = [self.info[key_][i] for i in rows]
        return AnchorExplanation(sliced.values, sliced.data, sliced.base_values,
                                 sliced.feature_names, sliced.output_names, info, sliced.axes,
                                 sliced.units)

    def rules_frame(self):
        """The rules as a tidy table: one row per predicate of each anchor.

        Returns
        -------
        frame : pandas.DataFrame
            Columns ``sample``, ``feature``, ``op`` ("<=" or ">"), ``threshold``,
            ``precision``, ``coverage`` and ``success``; instances whose anchor is empty
            have no row.
        """
        records = [
            (i, feature, op, threshold, self.precision[i], self.coverage[i],
             bool(self.success[i]))
            for i, rules in enumerate(self.rules) for feature, op, threshold in rules
        ]
        return pd.DataFrame(records, columns=["sample", "feature", "op", "threshold",
                                              "precision", "coverage", "success"])


class Anchors(LocalExplainer):
    """Anchors: the rule of widest coverage that keeps the model's prediction.

    Each feature is cut into quantile bins of the data passed to ``fit`` (``n_bins`` bins,
    duplicate edges merged, as in the anchor paper and alibi). For an instance x every bin
    edge e of feature j gives one predicate, ``x_j <= e`` or ``x_j > e`` (whichever x
    satisfies), and an anchor A is a conjunction of predicates. Its precision is
    ``P(label(z) = target | z satisfies A)`` under the perturbation distribution
    ``D(z | A)``: rows of the fitted data drawn at random, each anchored feature whose value
    breaks A replaced by a value of that feature drawn from the fitted rows that satisfy A
    on it. Its coverage is the fraction of the fitted rows (at most ``n_coverage_samples``)
    that satisfy A.

    The search is the paper's: beam search over anchors of growing size, keeping at each
    size the ``beam_size`` candidates of highest precision found by the KL-LUCB bandit
    (Kaufmann & Kalyanakrishnan 2013; ``n_samples_per_pull`` samples per pull, tolerance
    ``tau``, confidence ``1 - delta``; ties in estimated precision go to the wider coverage), then
    sampling these until their precision is known to within ``0.05`` of ``threshold``. The
    valid anchor (precision >= threshold, lower bound > threshold - 0.05) of largest
    coverage wins; the search stops when no candidate can cover more. Samples drawn for an
    anchor are reused by its extensions that they satisfy. When no anchor reaches
    ``threshold``, the most precise candidate is returned with ``info["success"]`` False.

    Work is parallel over instances with joblib (``n_jobs``); the seeds of instance i depend
    only on ``random_state`` and i, so results are identical for any ``n_jobs``. The rows of
    all arms pulled together (``n_samples_per_pull`` per arm) are scored in model calls of
    ``batch_size`` rows; for a model that scores rows independently the result does not
    depend on ``batch_size``.

    The model's scores come from the model adapter (``predict_proba`` of a classifier, the
    logits of a network, what a callable returns); NaN or infinite scores, of the explained
    instances or of any perturbed row, raise a ValueError instead of giving rules built on
    them.

    Parameters
    ----------
    model : estimator, skorch net, torch.nn.Module, callable or None, default=None
        The fitted model; the label of a row is its highest-scoring output, or, for a model
        with a single output, that output itself (a callable returning labels).
    threshold : float in (0, 1], default=0.95
        Precision an anchor must reach (tau in the paper).
    delta : float in (0, 1), default=0.1
        Confidence parameter of the bounds.
    tau : float in (0, 1), default=0.15
        Tolerance of KL-LUCB's best-arm identification (epsilon in alibi).
    n_samples_per_pull : int, default=None
        Samples drawn per arm pull of the bandit (``batch_size`` in alibi); None means 100.
    batch_size : int or "auto", default="auto"
        Rows per model call, as in every explainer: it bounds memory and does not change
        the result (for a model that scores rows independently). "auto" fits as many rows
        as 64 MiB of float64 row data holds (at most 4096).

        .. deprecated::
            Before, ``batch_size`` was the number of samples per arm pull. An integer
            ``batch_size`` given without ``n_samples_per_pull`` keeps that meaning (and the
            results it gave) with a FutureWarning; pass ``n_samples_per_pull`` instead (and
            ``batch_size`` only to bound the rows per model call). The old meaning will be
            removed in a future version.
    beam_size : int, default=1
        Anchors kept per size (1 in alibi, 4 in the paper's code).
    n_bins : int, default=4
        Quantile bins per feature (4: quartiles).
    max_anchor_size : int, default=None
        Most predicates in an anchor; None means no limit.
    anchor_features : array-like of int, str or bool, default=None
        Features that may appear in an anchor (indices, names or a boolean mask; the others
        are still perturbed); None means all. The cost grows with the number of
        predicates, so with thousands of genes restrict anchors to, e.g., the highly
        variable or marker genes.
    min_samples_start : int, default=100
        Samples of the empty anchor drawn first.
    n_coverage_samples : int, default=10000
        Fitted rows (a random subset when there are more) on which coverage is measured.
    n_jobs : int, default=None
        Number of joblib workers over instances.
    random_state : int, RandomState instance or None, default=None
        Seeds the sampling and the coverage subset.
    verbose : int, default=0
        Show a progress bar over instances when > 0.

    Attributes
    ----------
    bin_edges_ : list of ndarray
        Inner quantile edges of each feature (values below the feature's maximum).
    reference_ : ndarray of shape (n_reference, n_features)
        The fitted rows, from which perturbations are drawn.
    n_outputs_ : int
        Number of model outputs.
    anchor_features_ : ndarray of int
        Indices of the features that may appear in an anchor.
    n_features_in_, feature_names_in_, feature_shape_
        As for every explainer.

    Notes
    -----
    ``explain`` returns an :class:`AnchorExplanation`: ``values`` of shape (n_samples,
    n_features), the rise in estimated precision when each feature's predicates joined the
    anchor (0 for features not in it), and the rules as data: ``anchors`` (the rules as
    text), ``rules`` (a list of ``(feature, "<=" or ">", threshold)`` per instance, one bound
    per feature and side), ``precision``, ``coverage``, ``success`` and ``n_model_rows``
    (rows scored), also in ``info`` under the keys "anchor", "rules", ... The cost
    per instance is a few thousand model rows for a handful of features, and grows with the
    number of predicates (features x edges).

    References
    ----------
    Ribeiro, Singh & Guestrin, "Anchors: high-precision model-agnostic explanations", AAAI
    (2018). Kaufmann & Kalyanakrishnan, "Information complexity in bandit subset
    selection", COLT (2013).

    Examples
    --------
    >>> import numpy as np
    >>> from skexplain.explainers import Anchors
    >>> X = np.random.default_rng(0).normal(size=(5000, 3))
    >>> model = lambda X: ((X[:, 0] > 0) & (X[:, 1] > 0)).astype(int)
    >>> explainer = Anchors(model, random_state=0).fit(X)
    >>> E = explainer.explain(np.array([[0.3, 0.2, -1.0]]))
    >>> sorted((feature, op) for feature, op, value in E.rules[0])
    [('x0', '>'), ('x1', '>')]
    >>> bool(E.precision[0] >= 0.95), round(float(E.coverage[0]), 2)
    (True, 0.25)
    """

    _parameter_constraints = {
        "model": "no_validation",
        "threshold": [Interval(Real, 0, 1, closed="right")],
        "delta": [Interval(Real, 0, 1, closed="neither")],
        "tau": [Interval(Real, 0, 1, closed="neither")],
        "n_samples_per_pull": [Interval(Integral, 1, None, closed="left"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "beam_size": [Interval(Integral, 1, None, closed="left")],
        "n_bins": [Interval(Integral, 2, None, closed="left")],
        "max_anchor_size": [Interval(Integral, 1, None, closed="left"), None],
        "anchor_features": ["array-like", None],
        "min_samples_start": [Interval(Integral, 1, None, closed="left")],
        "n_coverage_samples": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self, model=None, *, threshold=0.95, delta=0.1, tau=0.15, n_samples_per_pull=None,
        batch_size="auto", beam_size=1, n_bins=4, max_anchor_size=None, anchor_features=None,
        min_samples_start=100, n_coverage_samples=10000, n_jobs=None, random_state=None,
        verbose=0,
    ):
        super().__init__(model)
        self.threshold = threshold
        self.delta = delta
        self.tau = tau
        self.n_samples_per_pull = n_samples_per_pull
        self.batch_size = batch_size
        self.beam_size = beam_size
        self.n_bins = n_bins
        self.max_anchor_size = max_anchor_size
        self.anchor_features = anchor_features
        self.min_samples_start = min_samples_start
        self.n_coverage_samples = n_coverage_samples
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _fit(self, X):
        X = X.toarray() if hasattr(X, "toarray") else np.array(X, dtype=np.float64)
        quantiles = np.linspace(0, 1, self.n_bins + 1)[1:-1]
        self.bin_edges_ = []
        for column in X.T:
            edges = np.unique(np.quantile(column, quantiles))
            self.bin_edges_.append(edges[edges < column.max()])
        self.reference_ = X
        self._reference_bins = self._bins(X)
        rows = np.arange(len(X))
        if len(X) > self.n_coverage_samples:
            rng = check_random_state(self.random_state)
            rows = np.sort(rng.choice(len(X), self.n_coverage_samples, replace=False))
        self._coverage_bins = self._reference_bins[rows]
        self.n_outputs_ = self.score_function_(X[:1]).shape[1]
        self.anchor_features_ = self._check_anchor_features()

    def _pull_and_batch_sizes(self):
        """(samples per arm pull, rows per model call or None for one call per pull)."""
        if self.n_samples_per_pull is None and self.batch_size != "auto":
            warnings.warn(
                "Anchors' batch_size is now the number of rows per model call, as in every "
                "explainer; the samples per arm pull it used to set are n_samples_per_pull. "
                f"batch_size={self.batch_size} without n_samples_per_pull keeps the old "
                "meaning (same results) until that is removed in a future version: pass "
                f"n_samples_per_pull={self.batch_size} instead.",
                FutureWarning, stacklevel=4,
            )
            return int(self.batch_size), None
        samples = (DEFAULT_SAMPLES_PER_PULL if self.n_samples_per_pull is None
                   else int(self.n_samples_per_pull))
        return samples, resolve_batch_size(self.batch_size, self.n_features_in_)

    def _check_anchor_features(self):
        """Indices of the features that may appear in an anchor."""
        if self.anchor_features is None:
            return np.arange(self.n_features_in_)
        selection = np.asarray(self.anchor_features)
        if selection.dtype == bool:
            if selection.shape != (self.n_features_in_,):
                raise ValueError(
                    f"anchor_features is a mask of {selection.size} values for "
                    f"{self.n_features_in_} features."
                )
            return np.flatnonzero(selection)
        if selection.dtype.kind in "OUS":
            names = list(self._feature_names_out())
            unknown = [name for name in selection if name not in names]
            if unknown:
                raise ValueError(f"Unknown anchor_features: {unknown[:5]}.")
            return np.array(sorted(names.index(name) for name in selection), dtype=int)
        indices = selection.astype(int)
        if np.any((indices < 0) | (indices >= self.n_features_in_)):
            raise ValueError(
                f"anchor_features indices must be in [0, {self.n_features_in_ - 1}]."
            )
        return np.unique(indices)

    def _bins(self, X):
        """Bin index of every value: b such that edge[b - 1] < x <= edge[b]."""
        return np.column_stack([np.searchsorted(edges, column, side="left")
                                for edges, column in zip(self.bin_edges_, X.T, strict=True)])

    def _explain(self, X, target):
        # read at each explain, so set_params(batch_size=...) after fit applies
        self._samples_per_pull, self._rows_per_call = self._pull_and_batch_sizes()
        seeds = spawn_seeds(self.random_state, len(X), 1)[:, 0]
        results = parallel_map(self._explain_one, list(zip(X, target, seeds, strict=True)),
                               n_jobs=self.n_jobs, verbose=self.verbose,
                               description=type(self).__name__)
        values = np.stack([r.pop("values") for r in results])
        info = {key: [r[key] for r in results] for key in results[0]}
        for key in ("precision", "coverage", "success", "n_model_rows"):
            info[key] = np.asarray(info[key])
        return values, {"method": "anchors", "axes": ("sample", "feature"), **info}

    def _attribution(self, X, values, scores, target, adapter, info):
        E = super()._attribution(X, values, scores, target, adapter, info)
        return AnchorExplanation(E.values, E.data, E.base_values, E.feature_names,
                                 E.output_names, E.info, E.axes)

    def _explain_one(self, x, target, seed):
        search = _AnchorSearch(self, x, int(target), np.random.default_rng(seed))
        order, success = search.run()
        names = self._feature_names_out()
        values = np.zeros(self.n_features_in_)
        previous = search.empty_precision
        for k in range(len(order)):
            precision = search.precision(tuple(sorted(order[:k + 1])))
            values[search.feature[order[k]]] += precision - previous
            previous = precision
        rules = search.rule(order)
        anchor = tuple(sorted(order))
        return {
            "values": values,
            "anchor": " and ".join(f"{names[f]} {op} {v:.4g}" for f, op, v in rules) or "(any)",
            "rules": [(str(names[f]), op, float(v)) for f, op, v in rules],
            "precision": search.precision(anchor) if order else search.empty_precision,
            "coverage": search.coverage(anchor) if order else 1.0,
            "success": success,
            "n_model_rows": search.n_model_rows,
        }

    def score(self, X=None, y=None, scoring=None):
        """Mean coverage of the valid anchors of X (0 for an instance without one).

        This is **not** a faithfulness score, unlike the ``score`` of attribution
        explainers: anchors are rules, and the score measures how much of the data the
        rules that reach the precision threshold cover (higher is better), so that
        GridSearchCV can tune, e.g., ``n_bins`` or ``threshold``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Instances whose anchors are scored.
        y : None
            Ignored by the built-in scores; passed on to a callable ``scoring``.
        scoring : None, "coverage", "precision" or callable, default=None
            None or "coverage": the mean coverage of valid anchors (0 for an instance
            without one); "precision": the mean estimated precision of the anchors; a
            callable ``scoring(explainer, X, y) -> float``.

        Returns
        -------
        score : float

        Raises
        ------
        ValueError
            If X is None or ``scoring`` is not one of the above.
        """
        if callable(scoring):
            return float(scoring(self, X, y))
        if scoring not in (None, "coverage", "precision"):
            raise ValueError(
                f"Anchors scores its rules by 'coverage' (the default) or 'precision', or by "
                f"a callable scoring(explainer, X, y); got scoring={scoring!r}. Anchors are "
                "rules, not attributions: faithfulness metrics do not apply."
            )
        if X is None:
            raise ValueError("score needs the instances X whose anchors are scored.")
        explanation = self.explain(X)
        if scoring == "precision":
            return float(np.mean(explanation.precision))
        return float(np.mean(explanation.coverage * explanation.success))


class _AnchorSearch:
    """Beam search with KL-LUCB for the anchor of one instance.

    Predicate k bounds feature ``feature[k]`` by bin edge ``edge[k]``: ``bin <= edge`` when
    ``upper[k]`` (x is at or below the edge), else ``bin > edge``.
    """

    def __init__(self, explainer, x, target, rng):
        self.explainer, self.rng, self.target = explainer, rng, target
        self.score = explainer.score_function_
        self.reference = explainer.reference_
        self.reference_bins = explainer._reference_bins
        x_bins = explainer._bins(x[None])[0]
        feature, edge = [], []
        for j in explainer.anchor_features_:
            feature.extend([j] * len(explainer.bin_edges_[j]))
            edge.extend(range(len(explainer.bin_edges_[j])))
        self.feature, self.edge = np.array(feature, dtype=int), np.array(edge, dtype=int)
        self.upper = x_bins[self.feature] <= self.edge
        self.n_predicates = len(self.feature)
        self.coverage_sat = self._satisfies(explainer._coverage_bins)
        self.x_label = self.score(x[None])[0] if explainer.n_outputs_ == 1 else None
        self.n_model_rows = 1
        # Every sample drawn so far: its bins and whether the model gave it the target label,
        # in buffers that double when full (samples are drawn ~100 at a time, thousands of times).
        self._bins = np.zeros((1024, len(x_bins)), dtype=np.int16)
        self._labels = np.zeros(1024, dtype=bool)
        self.n_drawn = 0
        # Per anchor (a sorted tuple of predicates): [samples, positives], the indices of the
        # samples drawn under it, and the parent and predicate it extends; an extension
        # inherits the parent's samples that satisfy its predicate (counted, not copied).
        self.counts = {(): np.zeros(2)}
        self.own = {}
        self.parent = {}
        self.order = {(): []}  # anchor -> its predicates in the order they were added
        self._coverage = {}

    # --- sampling --------------------------------------------------------------------------

    def _satisfies(self, bins, predicates=None):
        """Boolean (n_rows, n_predicates): which predicates each row of bins satisfies."""
        if predicates is None:
            predicates = np.arange(self.n_predicates)
        values = bins[:, self.feature[predicates]]
        edge = self.edge[predicates]
        return np.where(self.upper[predicates], values <= edge, values > edge)

    def _ranges(self, anchor):
        """{feature: (lowest bin, highest bin)} allowed by the anchor's predicates."""
        ranges = {}
        for k in anchor:
            j = self.feature[k]
            low, high = ranges.get(j, (0, np.iinfo(np.int64).max))
            if self.upper[k]:
                high = min(high, self.edge[k])
            else:
                low = max(low, self.edge[k] + 1)
            ranges[j] = (low, high)
        return ranges

    def _draw(self, anchor, n):
        rows = self.rng.integers(len(self.reference), size=n)
        samples = self.reference[rows].copy()
        bins = self.reference_bins[rows].copy()
        for j, (low, high) in self._ranges(anchor).items():
            broken = (bins[:, j] < low) | (bins[:, j] > high)
            if not broken.any():
                continue
            allowed = np.flatnonzero((self.reference_bins[:, j] >= low)
                                     & (self.reference_bins[:, j] <= high))
            donors = self.rng.choice(allowed, size=int(broken.sum()))
            samples[broken, j] = self.reference[donors, j]
            bins[broken, j] = self.reference_bins[donors, j]
        return samples, bins

    def pull(self, anchors, n):
        """Draw n samples under each anchor, scoring all of them in one model call."""
        drawn = [self._draw(anchor, n) for anchor in anchors]
        if not drawn:
            return
        rows = np.vstack([samples for samples, _ in drawn])
        batch_size = self.explainer._rows_per_call
        scores = (self.score(rows) if batch_size is None
                  else batched_scores(lambda part, _: self.score(part), rows, batch_size))
        self.n_model_rows += len(scores)
        if self.x_label is not None:
            matches = scores[:, 0] == self.x_label[0]
        else:
            matches = np.argmax(scores, axis=1) == self.target
        start = self.n_drawn
        self._append(np.vstack([bins for _, bins in drawn]), matches)
        for i, anchor in enumerate(anchors):
            self.own.setdefault(anchor, []).append(np.arange(start + i * n, start + (i + 1) * n))
            self.counts[anchor] += [n, matches[i * n:(i + 1) * n].sum()]

    def rows(self, anchor):
        """Indices of the samples of an anchor: its own and those inherited from its parent."""
        own = self.own.get(anchor, [])
        own = np.concatenate(own) if own else np.zeros(0, dtype=np.int64)
        if anchor not in self.parent:
            return own
        parent, k = self.parent[anchor]
        inherited = self.rows(parent)
        inherited = inherited[self._satisfies(self._bins[inherited], [k])[:, 0]]
        return np.concatenate([inherited, own])

    def _predicate_counts(self, rows):
        """Samples and positives among rows satisfying each predicate (via bin histograms)."""
        n_bins = max(len(edges) for edges in self.explainer.bin_edges_) + 1
        n_features = self._bins.shape[1]
        histogram = np.zeros((2, n_bins, n_features), dtype=np.int64)
        for start in range(0, len(rows), 8192):
            chunk = rows[start:start + 8192]
            bins, labels = self._bins[chunk], self._labels[chunk]
            for b in range(n_bins):
                here = bins == b
                histogram[0, b] += here.sum(axis=0)
                histogram[1, b] += here[labels].sum(axis=0)
        below = np.cumsum(histogram, axis=1)[:, self.edge, self.feature]  # bin <= edge
        total = histogram.sum(axis=1)[:, self.feature]
        return np.where(self.upper, below, total - below)

    def _append(self, bins, matches):
        stop = self.n_drawn + len(bins)
        if stop > len(self._labels):
            capacity = max(stop, 2 * len(self._labels))
            self._bins = np.concatenate([self._bins[:self.n_drawn], np.zeros(
                (capacity - self.n_drawn, self._bins.shape[1]), dtype=self._bins.dtype)])
            self._labels = np.concatenate([self._labels[:self.n_drawn],
                                           np.zeros(capacity - self.n_drawn, dtype=bool)])
        self._bins[self.n_drawn:stop] = bins
        self._labels[self.n_drawn:stop] = matches
        self.n_drawn = stop

    def stats(self, anchors):
        counts = np.array([self.counts[a] for a in anchors], dtype=np.float64).reshape(-1, 2)
        return counts[:, 0].copy(), counts[:, 1].copy()

    def precision(self, anchor):
        n, positives = self.stats([anchor])
        return float(positives[0] / n[0])

    def coverage(self, anchor):
        return float(self.coverage_sat[:, list(anchor)].all(axis=1).mean())

    # --- search ----------------------------------------------------------------------------

    def run(self):
        """Return (predicates of the anchor in the order they were added, success)."""
        explainer = self.explainer
        threshold, margin = explainer.threshold, PRECISION_MARGIN
        self.pull([()], explainer.min_samples_start)
        n, positives = self.stats([()])
        beta = np.log(1.0 / explainer.delta)
        while True:
            mean = positives[0] / n[0]
            lower = kl_lower_bound(np.array([mean]), np.array([beta / n[0]]))[0]
            if not (mean > threshold and lower < threshold - explainer.tau):
                break
            self.pull([()], explainer._samples_per_pull)
            n, positives = self.stats([()])
        self.empty_precision = float(positives[0] / n[0])
        if lower > threshold:
            return [], True

        max_size = explainer.max_anchor_size or self.n_predicates
        best, best_coverage, beams = None, -1.0, [[()]]
        beta = np.log(1.0 / (explainer.delta
                             / (1 + (explainer.beam_size - 1) * self.n_predicates)))
        for _ in range(max_size):
            candidates = [a for a in self._propose(beams[-1]) if self._coverage[a] > best_coverage]
            if not candidates:
                break
            chosen = [candidates[i] for i in self._kl_lucb(
                candidates, min(explainer.beam_size, len(candidates)))]
            beams.append(chosen)
            means, lower = self._refine(chosen, beta)
            coverage = np.array([self._coverage[a] for a in chosen])
            valid = (means >= threshold) & (lower > threshold - margin) & (
                coverage > best_coverage)
            if valid.any():
                index = np.flatnonzero(valid)[np.argmax(coverage[valid])]
                best, best_coverage = chosen[index], coverage[index]
                if best_coverage == 1.0:
                    break
        if best is not None:
            return self.order[best], True
        tried = [a for beam in beams[1:] for a in beam]
        if not tried:
            return [], False
        return self.order[tried[self._kl_lucb(tried, 1)[0]]], False

    def _propose(self, parents):
        """Extensions of the parents by one predicate that narrows them, with their stats."""
        candidates = {}
        for parent in parents:
            ranges = self._ranges(parent)
            counts = self._predicate_counts(self.rows(parent))
            parent_cover = (self.coverage_sat[:, list(parent)].all(axis=1) if parent
                            else np.ones(len(self.coverage_sat), dtype=bool))
            cover_counts = (self.coverage_sat & parent_cover[:, None]).sum(axis=0)
            for k in range(self.n_predicates):
                if k in parent or self._implied(k, ranges):
                    continue
                anchor = tuple(sorted(parent + (k,)))
                if anchor in candidates or anchor in self.counts:
                    continue
                candidates[anchor] = None
                self.order[anchor] = self.order[parent] + [k]
                self.parent[anchor] = (parent, k)
                self.counts[anchor] = counts[:, k].astype(np.float64)
                self._coverage[anchor] = cover_counts[k] / len(self.coverage_sat)
        return list(candidates)

    def _implied(self, k, ranges):
        j = self.feature[k]
        if j not in ranges:
            return False
        low, high = ranges[j]
        return high <= self.edge[k] if self.upper[k] else low > self.edge[k]

    def _kl_lucb(self, anchors, top_n):
        """Indices of the top_n anchors by precision (KL-LUCB, tolerance tau)."""
        explainer = self.explainer
        unsampled = [a for a in anchors if self.counts[a][0] == 0]
        self.pull(unsampled, 1)
        n, positives = self.stats(anchors)
        coverage = np.array([self._coverage.get(a, 1.0) for a in anchors])
        if len(anchors) == top_n:
            return np.arange(len(anchors))
        t = 1
        while True:
            means = positives / n
            order = np.lexsort((coverage, means))
            top, rest = order[-top_n:], order[:-top_n]
            beta = _lucb_beta(len(anchors), t, explainer.delta)
            upper = kl_upper_bound(means[rest], beta / n[rest])
            lower = kl_lower_bound(means[top], beta / n[top])
            worst_rest, worst_top = rest[np.argmax(upper)], top[np.argmin(lower)]
            if upper.max() - lower.min() <= explainer.tau:
                return order[-top_n:][::-1]
            pair = [anchors[worst_rest], anchors[worst_top]]
            self.pull(pair, explainer._samples_per_pull)
            n[[worst_rest, worst_top]], positives[[worst_rest, worst_top]] = self.stats(pair)
            t += 1

    def _refine(self, anchors, beta):
        """Sample the anchors until their precision is placed relative to the threshold."""
        explainer = self.explainer
        threshold, margin = explainer.threshold, PRECISION_MARGIN
        while True:
            n, positives = self.stats(anchors)
            means = positives / n
            lower = kl_lower_bound(means, beta / n)
            upper = kl_upper_bound(means, beta / n)
            more = (((means >= threshold) & (lower < threshold - margin))
                    | ((means < threshold) & (upper >= threshold + margin)))
            if not more.any():
                return means, lower
            self.pull([a for a, m in zip(anchors, more, strict=True) if m],
                      explainer._samples_per_pull)

    def rule(self, order):
        """(feature, op, threshold) per feature and side, tightest bound, in order of entry."""
        edges = self.explainer.bin_edges_
        bounds = {}
        for k in order:
            j, side = int(self.feature[k]), "<=" if self.upper[k] else ">"
            value = edges[j][self.edge[k]]
            old = bounds.get((j, side))
            if old is None or (value < old if side == "<=" else value > old):
                bounds[(j, side)] = value
        return [(j, side, value) for (j, side), value in bounds.items()]


def _kl_bernoulli(p, q):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    q = np.clip(q, 1e-7, 1 - 1e-7)
    return p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))


def kl_upper_bound(p, level):
    """Largest q >= p with KL(p || q) <= level, per element (bisection)."""
    p = np.asarray(p, dtype=np.float64)
    low, high = p.copy(), np.minimum(1.0, p + np.sqrt(np.asarray(level) / 2))
    for _ in range(KL_ITERATIONS):
        middle = (low + high) / 2
        over = _kl_bernoulli(p, middle) > level
        high = np.where(over, middle, high)
        low = np.where(over, low, middle)
    return high


def kl_lower_bound(p, level):
    """Smallest q <= p with KL(p || q) <= level, per element (bisection)."""
    p = np.asarray(p, dtype=np.float64)
    low, high = np.maximum(0.0, p - np.sqrt(np.asarray(level) / 2)), p.copy()
    for _ in range(KL_ITERATIONS):
        middle = (low + high) / 2
        over = _kl_bernoulli(p, middle) > level
        low = np.where(over, middle, low)
        high = np.where(over, high, middle)
    return low


def _lucb_beta(n_arms, t, delta):
    """Exploration rate of KL-LUCB (Kaufmann & Kalyanakrishnan 2013, constants of the paper)."""
    value = np.log(405.5 * n_arms * t**1.1 / delta)
    return value + np.log(value)
