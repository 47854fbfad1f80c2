"""DeepResolve: input-independent feature importance of a network's intermediate channels."""

import copy
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from .._core.base import ModelLevelExplainer
from .._core.compute import N_JOBS_DOC, parallel_map, spawn_seeds
from .._core.explanation import ModelExplanation
from .._core.model import OUTPUT_CONSTRAINT, OUTPUT_DOC
from ._network import (
    check_finite,
    class_labels,
    gradient_ascent,
    layer_name,
    layer_output,
    n_outputs_of,
    network_adapter,
    network_input_shape,
    no_instances,
    replaced_output,
    resolve_targets,
    single_thread,
)

CONSISTENT = 1e-6  # variances below this fraction of the mean squared FIV are numerical noise


class DeepResolve(ModelLevelExplainer):
    """DeepResolve: which channels of a layer each class needs, and which interact.

    For each class c, gradient ascent finds activations H of an intermediate layer that
    maximise ``J(H) = S_c(H) - l2_penalty * ||H||^2``, where ``S_c`` is the class logit that
    the rest of the network (in eval mode) computes from H. Each of ``n_restarts`` runs
    starts from a standard normal H; the learning rate is ``learning_rate`` for ``warmup``
    steps and then decays as ``learning_rate * (i - warmup) ** -decay``; a run stops when J
    has not improved by more than ``tol`` for ``patience`` steps or after ``max_iter``
    steps, and keeps its best H (the feature importance map, FIM). From the T maps of a
    class:

    - feature importance vectors (FIV): each FIM averaged over positions, one value per
      channel;
    - overall feature importance vector (OFIV): the FIVs averaged with weights equal to
      their runs' class scores (shifted to be non-negative when some are negative);
    - inconsistency: the weighted variance of each channel's FIV across runs. A Gaussian
      mixture of 1 to 3 components (chosen by BIC) on these variances separates
      consistent channels from non-additive ones (the highest-variance component): a
      non-additive channel's importance depends on which other channels are active, and
      its OFIV averages only its positive FIVs, as in the reference code;
    - negative channels: additive channels whose FIV is negative in every run;
    - class similarity: the correlation of the classes' OFIVs, with an average-linkage
      clustering of the classes (distance ``1 - correlation``).

    The result does not depend on any input: ``fit`` needs only the network (and its input
    shape), ``explain`` takes no X. Restarts of a class run as one batch (rows never
    interact); classes run in parallel (the core's ``parallel_map``), each with a seed
    spawned up front from ``random_state`` and the class index, so results are identical
    for any ``n_jobs`` and any subset of targets. A model-level explainer has no
    faithfulness ``score``: its values are not attributions of instances.

    Parameters
    ----------
    model : skorch net or torch.nn.Module
        A fitted network (the module of an
        :class:`~skexplain.models.ExpActivationCNNClassifier`, or that classifier). The
        user's network is not modified: a float64 copy in eval mode is optimised.
    layer : str, torch.nn.Module or None, default=None
        The layer whose output is optimised: a name from ``named_modules()`` (e.g.
        ``"blocks.1"``) or the module itself. None picks the last conv block of an
        :class:`~skexplain.models.ExpActivationCNN` (its output after pooling). Everything
        after the layer must depend on the input only through this output.
    n_restarts : int, default=10
        Number T of random starts per class (reference: 10).
    l2_penalty : float, default=1e-2
        Weight lambda of ``||H||^2``.
    learning_rate : float, default=1.0
        Step size of the plain gradient ascent during warm-up.
    warmup : int, default=500
        Steps at the full learning rate (reference: 500).
    decay : float, default=0.2
        Exponent of the learning-rate decay after warm-up (reference: 0.2).
    patience : int, default=10
        Steps without improvement of J before a run stops (reference: 10).
    tol : float, default=1e-6
        Smallest increase of J that counts as an improvement.
    max_iter : int, default=10000
        Step cap of a run (reference: 10000).
    input_shape : tuple of int, default=None
        Shape of one network input, e.g. ``(4, 200)``; taken from X when ``fit`` gets X, or
        from a fitted :class:`~skexplain.models.ExpActivationCNNClassifier`.
__OUTPUT_DOC__
        The class score ``S_c`` that is maximised is column c of this output.
__N_JOBS_DOC__
    random_state : int, RandomState instance or None, default=None
        Seeds the random starts and the Gaussian mixtures.

    Attributes
    ----------
    network_ : torch.nn.Module
        The float64 eval-mode copy of the network that is optimised.
    layer_name_ : str
        Name of the optimised layer.
    input_shape_ : tuple of int
        Shape of one network input.
    activation_shape_ : tuple of int
        Shape of the layer's output for one input, channels first, e.g. ``(n_channels,
        n_positions)``.
    n_outputs_ : int
        Number of class scores (two for a binary net with a single logit z: -z and z).
    output_names_ : ndarray of shape (n_outputs,)
        Class labels of the scores (indices when the network has none).
    model_adapter_ : ModelAdapter
        The core's adapter of the model, running on ``network_``.
    n_features_in_ : int
        Number of input features, when ``fit`` was given X.

    References
    ----------
    Liu, G., Barr, B. & Gifford, D. K. "Visualizing complex feature interactions and
    feature sharing in genomic deep neural networks." BMC Bioinformatics 20, 401 (2019).
    Reference code: github.com/lgsaber/DeepResolve. Unlike that code, each run keeps a copy
    of its best iterate (the reference keeps a reference to the array it keeps updating,
    so it reports the last iterate).

    Examples
    --------
    >>> import torch
    >>> from skexplain.explainers import DeepResolve
    >>> from skexplain.models import ExpActivationCNN
    >>> _ = torch.manual_seed(0)
    >>> net = ExpActivationCNN(n_outputs=3, input_length=60, architecture=[
    ...     {"filters": 8, "kernel_size": 7, "dropout": 0.1, "pool": 6}], dense_units=16)
    >>> explainer = DeepResolve(net.eval(), n_restarts=4, input_shape=(4, 60), random_state=0)
    >>> E = explainer.fit().explain()
    >>> E.values.shape, E.axes, E.info["feature_importance_maps"].shape
    ((3, 8), ('class', 'channel'), (3, 4, 8, 10))
    """

    _parameter_constraints = {
        "model": "no_validation",
        "layer": "no_validation",
        "n_restarts": [Interval(Integral, 1, None, closed="left")],
        "l2_penalty": [Interval(Real, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "warmup": [Interval(Integral, 0, None, closed="left")],
        "decay": [Interval(Real, 0, None, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "input_shape": ["array-like", None],
        "output": OUTPUT_CONSTRAINT,
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self, model=None, *, layer=None, n_restarts=10, l2_penalty=1e-2, learning_rate=1.0,
        warmup=500, decay=0.2, patience=10, tol=1e-6, max_iter=10000, input_shape=None,
        output="auto", n_jobs=None, random_state=None, verbose=0,
    ):
        super().__init__(model)
        self.layer = layer
        self.n_restarts = n_restarts
        self.l2_penalty = l2_penalty
        self.learning_rate = learning_rate
        self.warmup = warmup
        self.decay = decay
        self.patience = patience
        self.tol = tol
        self.max_iter = max_iter
        self.input_shape = input_shape
        self.output = output
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X=None, y=None):
        """Prepare the network: copy it, find the layer and the shape of its output.

        Parameters
        ----------
        X : array-like of shape (n_samples, *input_shape), default=None
            Only its shape is used (DeepResolve needs no data).
        y : None
            Ignored.

        Returns
        -------
        self : DeepResolve

        Raises
        ------
        TypeError
            If the model is not a torch module or skorch net.
        ValueError
            If the input shape is unknown, the layer does not exist, or the network does
            not return logits of shape (batch, n_outputs).
        """
        import torch

        self._validate_params()
        self._check_model()
        self.input_shape_ = network_input_shape(self.model, X, self.input_shape)
        if X is not None:
            self.n_features_in_ = int(np.prod(self.input_shape_))
        elif hasattr(self, "n_features_in_"):
            del self.n_features_in_
        adapter = network_adapter(self.model, self.input_shape_, output=self.output,
                                  name=type(self).__name__)
        self.layer_name_ = layer_name(self.model, self.layer)
        dummy = torch.zeros((1,) + self.input_shape_, dtype=adapter.dtype, device=adapter.device)
        with torch.no_grad():
            activation = layer_output(adapter.module, self.layer_name_, dummy)
        if not isinstance(activation, torch.Tensor):
            raise ValueError(f"The layer {self.layer_name_!r} does not output a tensor.")
        self.activation_shape_ = tuple(activation.shape[1:])
        self.n_outputs_ = n_outputs_of(adapter, self.input_shape_)
        self.output_names_ = class_labels(adapter, self.n_outputs_)
        self.model_adapter_ = adapter
        self.network_ = adapter.module
        return self

    def explain(self, X=None, target=None):
        """Optimise the layer's activation for each target class.

        Parameters
        ----------
        X : None
            DeepResolve is input-independent; passing instances is an error.
        target : None, int, label or list of them, default=None
            Classes to explain: None for every output, an int for an output index, another
            value for a class label (as in ``output_names_``).

        Returns
        -------
        explanation : DeepResolveExplanation
            A :class:`~skexplain._core.explanation.ModelExplanation` with axes ("class",
            "channel"): ``values`` of shape (n_targets, n_channels) are the OFIVs,
            ``labels["class"]`` the explained classes (also ``output_names``) and
            ``labels["channel"]`` the channel indices; ``info`` holds ``best_scores``
            (n_targets,), each class's best score (``base_values`` before); and
            ``feature_importance_maps`` (n_targets, n_restarts, *activation_shape),
            ``feature_importance_vectors`` (n_targets, n_restarts, n_channels), ``scores``
            and ``objective`` (n_targets, n_restarts), ``n_iter`` (n_targets, n_restarts),
            ``inconsistency``, ``non_additive``, ``negative`` (n_targets, n_channels),
            ``n_components`` (n_targets,), ``class_similarity`` (n_targets, n_targets) and
            ``class_linkage`` (scipy linkage matrix, None for a single target).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the explainer is not fitted.
        ValueError
            If X is given, a target is unknown, or the network gives NaN or infinite
            scores (a run whose objective is never finite).
        """
        check_is_fitted(self, "network_")
        no_instances(X, "DeepResolve", "call explain() without X.")
        targets = resolve_targets(target, self.output_names_)
        # Seeds of every class, spawned up front: a class's result does not depend on the
        # other targets asked for, nor on n_jobs.
        seeds = spawn_seeds(self.random_state, self.n_outputs_, 2)[targets]
        params = self._ascent_params()
        tasks = [
            (self.model_adapter_, self.layer_name_, self.input_shape_, self.activation_shape_,
             int(k), self.n_restarts, int(seed[0]), params)
            for k, seed in zip(targets, seeds, strict=True)
        ]
        runs = parallel_map(_optimise_class, tasks, n_jobs=self.n_jobs, verbose=self.verbose,
                            description="DeepResolve")
        maps, scores, objective, n_iter = (np.stack(parts) for parts in zip(*runs, strict=True))
        check_finite(objective, "class scores (or no finite score in a run)",
                     self.model_adapter_)
        fivs = maps.reshape(maps.shape[:3] + (-1,)).mean(axis=3)
        summaries = [summarize_restarts(f, s, random_state=int(seed[1]))
                     for f, s, seed in zip(fivs, scores, seeds, strict=True)]
        ofiv = np.stack([s["overall_importance"] for s in summaries])
        similarity, linkage = class_similarity(ofiv)
        info = {
            "method": "deepresolve",
            "target": targets,
            "output": self.model_adapter_.describe(),
            "layer": self.layer_name_,
            "best_scores": scores.max(axis=1),
            "feature_importance_maps": maps,
            "feature_importance_vectors": fivs,
            "scores": scores,
            "objective": objective,
            "n_iter": n_iter,
            "class_similarity": similarity,
            "class_linkage": linkage,
        }
        for key in ("inconsistency", "non_additive", "negative", "n_components"):
            info[key] = np.stack([s[key] for s in summaries])
        return DeepResolveExplanation(
            ofiv, ("class", "channel"),
            labels={"class": self.output_names_[targets],
                    "channel": np.arange(ofiv.shape[1])},
            units="overall feature importance (OFIV)",
            info=info,
        )

    def _ascent_params(self):
        return {
            "l2_penalty": self.l2_penalty, "learning_rate": self.learning_rate,
            "warmup": self.warmup, "decay": self.decay, "patience": self.patience,
            "tol": self.tol, "max_iter": self.max_iter,
        }


def _optimise_class(adapter, layer, input_shape, activation_shape, target, n_restarts, seed,
                    params):
    """Run the T restarts of one class as one batch; return (maps, scores, objective, n_iter)."""
    import torch

    # A private copy of the network: the layer hook must not reach other threads' runs.
    adapter = adapter.with_module(copy.deepcopy(adapter.module))
    params = dict(params)
    l2_penalty = params.pop("l2_penalty")
    dummy = torch.zeros((1,) + tuple(input_shape), dtype=adapter.dtype, device=adapter.device)

    def objective(H):
        with replaced_output(adapter.module, layer, H):
            score = adapter.head(adapter.module(dummy))[:, target]
        return score, score - l2_penalty * H.pow(2).flatten(1).sum(dim=1)

    rng = np.random.default_rng(seed)
    start = adapter.tensor(rng.standard_normal((n_restarts,) + tuple(activation_shape)))
    with single_thread():
        best, score, value, n_iter = gradient_ascent(objective, start, **params)
    return best.cpu().numpy(), score, value, n_iter


def summarize_restarts(fivs, scores, random_state=None):
    """Aggregate the feature importance vectors of one class's restarts (DeepResolve).

    Parameters
    ----------
    fivs : ndarray of shape (n_restarts, n_channels)
        Feature importance vectors.
    scores : ndarray of shape (n_restarts,)
        Class score of each restart; shifted by their minimum when some are negative, then
        used as weights (uniform when they are all equal).
    random_state : int, RandomState instance or None, default=None
        Seeds the Gaussian mixtures.

    Returns
    -------
    summary : dict
        ``overall_importance`` (OFIV), ``inconsistency`` (weighted variance), ``non_additive``
        and ``negative`` (boolean), each of shape (n_channels,), and ``n_components`` (the
        number of mixture components chosen by BIC).
    """
    fivs = np.asarray(fivs, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    weights = scores - scores.min() if np.any(scores < 0) else scores.copy()
    if weights.sum() <= 0:
        weights = np.ones_like(weights)
    mean = np.average(fivs, axis=0, weights=weights)
    variance = np.average((fivs - mean) ** 2, axis=0, weights=weights)
    floor = CONSISTENT * np.mean(fivs**2)
    n_components, non_additive = variance_components(variance, random_state, floor=floor)
    # A non-additive channel counts only where it helped: its positive FIVs (reference code).
    kept = weights[:, None] * ((fivs > 0) | ~non_additive)
    total = kept.sum(axis=0)
    overall = np.where(total > 0, (kept * fivs).sum(axis=0) / np.where(total > 0, total, 1), 0.0)
    return {
        "overall_importance": overall,
        "inconsistency": variance,
        "non_additive": non_additive,
        "negative": np.all(fivs < 0, axis=0) & ~non_additive,
        "n_components": n_components,
    }


def variance_components(variance, random_state=None, max_components=3, floor=0.0):
    """Flag the high-variance channels with a 1-D Gaussian mixture chosen by BIC.

    Parameters
    ----------
    variance : ndarray of shape (n_channels,)
        Per-channel inconsistency.
    random_state : int, RandomState instance or None, default=None
    max_components : int, default=3
    floor : float, default=0.0
        Variances all at most ``floor`` are consistent (one component) without a fit.

    Returns
    -------
    n_components : int
        Number of components with the lowest BIC (1 when the variances are all equal or
        at most ``floor``).
    high : ndarray of shape (n_channels,), bool
        Members of the component with the largest mean; all False for one component.
    """
    from sklearn.mixture import GaussianMixture

    variance = np.asarray(variance, dtype=np.float64)
    spread = variance.std()
    n_distinct = len(np.unique(variance))
    if spread == 0 or n_distinct < 2 or variance.max() <= floor:
        return 1, np.zeros(len(variance), dtype=bool)
    x = ((variance - variance.mean()) / spread)[:, None]
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    with warnings.catch_warnings():
        # Near-duplicate variances can leave a component empty; its BIC then loses anyway.
        warnings.simplefilter("ignore", ConvergenceWarning)
        models = [
            GaussianMixture(k, covariance_type="diag", random_state=seed).fit(x)
            for k in range(1, min(max_components, n_distinct) + 1)
        ]
    best = int(np.argmin([m.bic(x) for m in models]))
    if best == 0:
        return 1, np.zeros(len(variance), dtype=bool)
    model = models[best]
    return best + 1, model.predict(x) == np.argmax(model.means_[:, 0])


def class_similarity(importance):
    """Correlation of the classes' overall importance vectors and its clustering.

    Parameters
    ----------
    importance : ndarray of shape (n_classes, n_channels)

    Returns
    -------
    similarity : ndarray of shape (n_classes, n_classes)
        Pearson correlation (0 where a class's importance is constant).
    linkage : ndarray of shape (n_classes - 1, 4) or None
        Average-linkage clustering of the distance ``1 - similarity`` (scipy format); None
        for a single class.
    """
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import squareform

    n_classes = len(importance)
    with np.errstate(invalid="ignore", divide="ignore"):
        similarity = np.corrcoef(importance) if n_classes > 1 else np.ones((1, 1))
    similarity = np.nan_to_num(np.atleast_2d(similarity), nan=0.0)
    np.fill_diagonal(similarity, 1.0)
    if n_classes < 2:
        return similarity, None
    distance = squareform(np.clip(1 - similarity, 0, 2), checks=False)
    return similarity, linkage(distance, method="average")


class DeepResolveExplanation(ModelExplanation):
    """Result of :class:`DeepResolve`: one overall importance vector per class, and plots.

    A :class:`~skexplain._core.explanation.ModelExplanation` with axes ("class", "channel"):
    ``values`` (n_classes, n_channels) are the overall feature importance vectors;
    ``labels["class"]`` the explained classes (also readable and settable as
    ``output_names``, e.g. to give a multi-label net's outputs their names);
    ``labels["channel"]`` the channel indices; ``info`` the maps, vectors, best scores,
    inconsistency, flags and class similarity (see :meth:`DeepResolve.explain`).
    """

    @property
    def output_names(self):
        """The explained classes: ``labels["class"]``."""
        return self.labels.get("class")

    @output_names.setter
    def output_names(self, names):
        names = np.asarray(names)
        if names.shape != (self.values.shape[0],):
            raise ValueError(
                f"{len(names)} names given for {self.values.shape[0]} explained classes."
            )
        self.labels["class"] = names

    def top_channels(self, k=5):
        """Channels with the largest overall importance, per class.

        Parameters
        ----------
        k : int, default=5

        Returns
        -------
        top : pandas.DataFrame of shape (n_classes, k)
            Channel indices, most important first, one row per class.
        """
        n_channels = self.values.shape[1]
        if not isinstance(k, Integral) or not 1 <= k <= n_channels:
            raise ValueError(f"k must be an integer in [1, {n_channels}], got {k!r}.")
        order = np.argsort(-self.values, axis=1, kind="stable")[:, :k]
        return pd.DataFrame(order, index=self._class_names(), columns=range(1, k + 1))

    def label_agreement(self, Y):
        """Spearman correlation between the class similarity and the labels' correlation.

        Parameters
        ----------
        Y : array-like of shape (n_samples, n_classes)
            0/1 labels of the explained classes, in the order of ``output_names``.

        Returns
        -------
        rho : float
            Rank correlation of the off-diagonal entries of the two matrices.
        """
        from scipy.stats import spearmanr

        Y = np.asarray(Y, dtype=np.float64)
        n_classes = len(self.values)
        if Y.ndim != 2 or Y.shape[1] != n_classes or n_classes < 3:
            raise ValueError(
                f"Y must have shape (n_samples, {n_classes}) with at least 3 classes; got "
                f"shape {Y.shape}."
            )
        upper = np.triu_indices(n_classes, k=1)
        labels = np.nan_to_num(np.corrcoef(Y.T))
        return float(spearmanr(self.info["class_similarity"][upper], labels[upper])[0])

    def plot_importance(self, ax=None, cmap="RdBu_r"):
        """Heat map of the overall importance of each channel (columns) for each class (rows).

        Non-additive channels are marked with a dot.

        Returns
        -------
        ax : matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        ax = plt.gca() if ax is None else ax
        limit = np.abs(self.values).max() or 1.0
        image = ax.imshow(self.values, aspect="auto", cmap=cmap, vmin=-limit, vmax=limit)
        rows, cols = np.nonzero(self.info["non_additive"])
        ax.scatter(cols, rows, s=8, c="k", marker="o", label="non-additive")
        ax.set_yticks(range(len(self.values)), self._class_names())
        ax.set_xlabel(f"channel of {self.info['layer']}")
        ax.set_ylabel("class")
        ax.figure.colorbar(image, ax=ax, label="overall importance (OFIV)")
        return ax

    def plot_importance_map(self, target=0, ax=None, cmap="RdBu_r"):
        """Heat map of one class's feature importance map (channels x positions).

        The score-weighted mean of the restarts' maps.

        Parameters
        ----------
        target : int, default=0
            Row of the explained classes (0 for the first).
        ax : matplotlib.axes.Axes, optional

        Returns
        -------
        ax : matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        ax = plt.gca() if ax is None else ax
        maps = self.info["feature_importance_maps"][target]
        scores = self.info["scores"][target]
        weights = scores - scores.min() if np.any(scores < 0) else scores
        weights = weights if weights.sum() > 0 else np.ones_like(weights)
        fim = np.average(maps.reshape(len(maps), maps.shape[1], -1), axis=0, weights=weights)
        limit = np.abs(fim).max() or 1.0
        image = ax.imshow(fim, aspect="auto", cmap=cmap, vmin=-limit, vmax=limit)
        ax.set_xlabel("position")
        ax.set_ylabel("channel")
        ax.set_title(f"{self._class_names()[target]}")
        ax.figure.colorbar(image, ax=ax, label="importance")
        return ax

    def plot_class_similarity(self, fig=None, cmap="RdBu_r"):
        """Clustered heat map of the class similarity, with its dendrogram on top.

        Parameters
        ----------
        fig : matplotlib.figure.Figure, optional
            Figure to draw in (a new one by default).

        Returns
        -------
        ax : matplotlib.axes.Axes
            The heat map; the dendrogram is the figure's other axes.
        """
        import matplotlib.pyplot as plt
        from scipy.cluster.hierarchy import dendrogram

        linkage = self.info["class_linkage"]
        if linkage is None:
            raise ValueError("A class similarity clustering needs at least two classes.")
        fig = plt.figure(figsize=(6.5, 6.5)) if fig is None else fig
        tree_ax = fig.add_axes((0.2, 0.8, 0.6, 0.15))
        ax = fig.add_axes((0.2, 0.15, 0.6, 0.64))
        color_ax = fig.add_axes((0.83, 0.15, 0.03, 0.64))
        order = dendrogram(linkage, ax=tree_ax, no_labels=True, color_threshold=0,
                           above_threshold_color="k")["leaves"]
        tree_ax.set_axis_off()
        names = self._class_names()[order]
        image = ax.imshow(self.info["class_similarity"][np.ix_(order, order)], cmap=cmap,
                          vmin=-1, vmax=1, aspect="auto")
        ax.set_xticks(range(len(order)), names, rotation=90)
        ax.set_yticks(range(len(order)), names)
        fig.colorbar(image, cax=color_ax, label="OFIV correlation")
        return ax

    def _class_names(self):
        if self.output_names is None:
            return np.asarray([str(i) for i in range(len(self.values))], dtype=object)
        return np.asarray([str(name) for name in self.output_names], dtype=object)


DeepResolve.__doc__ = DeepResolve.__doc__.replace("__OUTPUT_DOC__", OUTPUT_DOC).replace(
    "__N_JOBS_DOC__", N_JOBS_DOC)
