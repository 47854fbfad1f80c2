"""TCAV: testing with concept activation vectors (Kim et al. 2018)."""

import warnings
from numbers import Integral, Real

import numpy as np
from scipy.stats import ttest_ind
from sklearn.base import clone
from sklearn.linear_model import SGDClassifier
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._core.base import ModelLevelExplainer
from .._core.compute import (
    N_JOBS_DOC,
    parallel_map,
    resolve_batch_size,
    spawn_seeds,
    torch_batches,
)
from .._core.explanation import ModelExplanation
from .._core.model import OUTPUT_CONSTRAINT, OUTPUT_DOC
from .._core.validation import check_numeric
from ._network import (
    check_finite,
    class_labels,
    layer_name,
    layer_output,
    n_outputs_of,
    network_adapter,
    replaced_output,
    resolve_targets,
)

BACKWARD_FACTOR = 8  # working set of a forward and backward pass, in multiples of a row


class TCAV(ModelLevelExplainer):
    """Testing with concept activation vectors: how much a class's score leans on a concept.

    For each concept C and run r, a linear classifier separates the layer's (flattened)
    activations of C's examples from those of a random set R_r drawn from
    ``random_concepts``; the concept activation vector (CAV) v is the unit normal of its
    decision boundary, pointing towards the concept. The conceptual sensitivity of an input
    x to C for class k is the directional derivative ``S(x) = grad h_k(f(x)) . v``, where f
    is the layer's output and h_k maps it to the class-k score (``output``); the TCAV
    score of class k is the fraction of its inputs with ``S > 0``. To tell a concept from
    chance, each run also fits a CAV of a second random set R'_r (disjoint from R_r)
    against R_r; the concept's scores over the ``n_runs`` runs are compared with these
    random-vs-random scores by a two-sided t-test (Welch's, unequal variances), and a
    concept is significant when its p value is below ``alpha / m``, m being the number of
    (class, concept) pairs tested in one :meth:`explain` call (Bonferroni correction).

    The random sets are as large as the concept set (all of it is used), or half the random
    pool when that is smaller (the concept set is then subsampled to match), and are drawn
    anew for every run. A CAV and a gradient that are zero give no positive derivative:
    probe a layer whose activations are not mostly zero (after pooling, or before a ReLU).

    CAV fits run in parallel (the core's ``parallel_map``); the random sets and classifier
    seeds of run r are drawn from a seed spawned up front from ``random_state`` and r, so
    results are identical for any ``n_jobs``. A model-level explainer has no faithfulness
    ``score``.

    Parameters
    ----------
    model : skorch net or torch.nn.Module
        A fitted network, e.g. an :class:`~skexplain.models.ExpActivationCNNClassifier`
        (a binary one with a single logit z has two scores, -z and z, under the core's
        output rule: explain ``target=1`` for the positive class). It is not modified: a
        float64 copy in eval mode is used.
    layer : str, torch.nn.Module or None, default=None
        The layer whose output is probed: a name from ``named_modules()`` (e.g.
        ``"blocks.1"``) or the module itself; None picks the last conv block of an
        :class:`~skexplain.models.ExpActivationCNN`.
    concepts : dict of str to array-like of shape (n_examples, *input_shape)
        Examples of each concept, e.g. from :func:`~skexplain.datasets.make_motif_concept`;
        at least 2 per concept.
    random_concepts : array-like of shape (n_random, *input_shape)
        The pool that random sets are drawn from (at least 4 examples), e.g. the
        backgrounds the concept examples were built from.
    n_runs : int, default=10
        Number of CAVs per concept, each against a fresh random set, and of
        random-vs-random CAVs (the paper used up to 500).
    classifier : sklearn linear classifier or None, default=None
        Estimator with ``coef_`` after fit, cloned for each CAV; its ``random_state`` is
        set per run when it has one. None uses ``SGDClassifier(alpha=0.01, max_iter=1000,
        tol=1e-3)``, the default of the TensorFlow reference and of captum.
    alpha : float, default=0.05
        Family-wise significance level, before the Bonferroni correction.
    batch_size : int or "auto", default="auto"
        Inputs per forward and backward pass; "auto" is the core's 64 MiB policy with a
        working set of 8 rows per input row (the backward pass keeps activations).
__OUTPUT_DOC__
        The class scores h_k whose gradients are taken are the columns of this output.
__N_JOBS_DOC__
    random_state : int, RandomState instance or None, default=None
        Seeds the random sets and the classifiers; results do not depend on ``n_jobs``.

    Attributes
    ----------
    network_ : torch.nn.Module
        The float64 eval-mode copy of the network.
    layer_name_ : str
        Name of the probed layer.
    input_shape_ : tuple of int
        Shape of one input.
    concept_names_ : ndarray of shape (n_concepts,)
        The keys of ``concepts``, in order.
    cavs_ : ndarray of shape (n_concepts, n_runs, n_activations)
        Unit-norm concept activation vectors.
    random_cavs_ : ndarray of shape (n_runs, n_activations)
        Unit-norm random-vs-random CAVs.
    cav_accuracy_ : ndarray of shape (n_concepts, n_runs)
        Training accuracy of each concept's classifier.
    n_outputs_ : int
        Number of class scores.
    output_names_ : ndarray of shape (n_outputs,)
        Class labels of the scores (indices when the network has none).
    model_adapter_ : ModelAdapter
        The core's adapter of the model, running on ``network_``.

    References
    ----------
    Kim, B., Wattenberg, M., Gilmer, J., Cai, C., Wexler, J., Viegas, F. & Sayres, R.
    "Interpretability beyond feature attribution: quantitative testing with concept
    activation vectors (TCAV)." ICML 2018. Reference code: github.com/tensorflow/tcav.

    Examples
    --------
    >>> import torch
    >>> from skexplain.datasets import make_motif_concept
    >>> from skexplain.explainers import TCAV
    >>> from skexplain.models import ExpActivationCNN
    >>> _ = torch.manual_seed(0)
    >>> net = ExpActivationCNN(n_outputs=2, input_length=50, architecture=[
    ...     {"filters": 4, "kernel_size": 7, "dropout": 0.1, "pool": 5}], dense_units=8)
    >>> X_concept, X_random, _ = make_motif_concept("GATAAG", 40, 50, random_state=0)
    >>> tcav = TCAV(net.eval(), layer="blocks.0", concepts={"GATA": X_concept},
    ...             random_concepts=X_random, n_runs=3, random_state=0).fit()
    >>> E = tcav.explain(X_random[:10])
    >>> E.values.shape, E.axes, list(E.labels["concept"]), E.info["p_value"].shape
    ((2, 1), ('class', 'concept'), ['GATA'], (2, 1))
    """

    _parameter_constraints = {
        "model": "no_validation",
        "layer": "no_validation",
        "concepts": [dict, None],
        "random_concepts": ["array-like", None],
        "n_runs": [Interval(Integral, 2, None, closed="left")],
        "classifier": "no_validation",
        "alpha": [Interval(Real, 0, 1, closed="neither")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "output": OUTPUT_CONSTRAINT,
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self, model=None, *, layer=None, concepts=None, random_concepts=None, n_runs=10,
        classifier=None, alpha=0.05, batch_size="auto", output="auto", n_jobs=None,
        random_state=None, verbose=0,
    ):
        super().__init__(model)
        self.layer = layer
        self.concepts = concepts
        self.random_concepts = random_concepts
        self.n_runs = n_runs
        self.classifier = classifier
        self.alpha = alpha
        self.batch_size = batch_size
        self.output = output
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X=None, y=None):
        """Fit the concept activation vectors.

        Parameters
        ----------
        X, y : None
            Ignored: the concepts and the random pool are parameters.

        Returns
        -------
        self : TCAV

        Raises
        ------
        TypeError
            If the model is not a torch module or skorch net.
        ValueError
            If a concept set or the random pool is malformed (e.g. text) or too small, their
            input shapes differ, the layer does not exist, the network does not return scores
            of shape (batch, n_outputs) after the output head, or it gives NaN or
            infinite scores or activations.
        """
        self._validate_params()
        self._check_model()
        concepts, pool = self._check_concepts()
        self.input_shape_ = pool.shape[1:]
        adapter = network_adapter(self.model, self.input_shape_, output=self.output,
                                  name=type(self).__name__)
        self.layer_name_ = layer_name(self.model, self.layer)
        self.n_outputs_ = n_outputs_of(adapter, self.input_shape_)
        self.output_names_ = class_labels(adapter, self.n_outputs_)
        self.model_adapter_ = adapter
        self.network_ = adapter.module
        self.concept_names_ = np.asarray(list(concepts), dtype=object)
        concept_acts = [self._activations(X) for X in concepts.values()]
        pool_acts = self._activations(pool)

        size = min(min(len(a) for a in concept_acts), len(pool_acts) // 2)
        tasks = []  # (positive activations, their rows, rows of the random set, seed)
        for run_seed in spawn_seeds(self.random_state, self.n_runs)[:, 0]:
            rng = check_random_state(int(run_seed))
            order = rng.permutation(len(pool_acts))
            random_set, second_set = order[:size], order[size:2 * size]
            for acts in concept_acts:
                chosen = rng.choice(len(acts), size=size, replace=False)
                tasks.append((acts, chosen, random_set, rng.randint(2**31 - 1)))
            tasks.append((pool_acts, second_set, random_set, rng.randint(2**31 - 1)))
        # Sliced as they are dispatched, so that at most a few copies are held at a time.
        fits = parallel_map(
            _fit_cav,
            ((self._classifier(), acts[rows], pool_acts[random_rows], seed)
             for acts, rows, random_rows, seed in tasks),
            n_jobs=self.n_jobs, verbose=self.verbose, description="TCAV: CAV fits",
            total=len(tasks),
        )
        cavs, accuracy = (np.asarray(part) for part in zip(*fits, strict=True))
        n_concepts = len(concept_acts)
        cavs = cavs.reshape(self.n_runs, n_concepts + 1, -1)
        accuracy = accuracy.reshape(self.n_runs, n_concepts + 1)
        self.cavs_ = cavs[:, :n_concepts].transpose(1, 0, 2).copy()
        self.random_cavs_ = cavs[:, n_concepts].copy()
        self.cav_accuracy_ = accuracy[:, :n_concepts].T.copy()
        return self

    def explain(self, X=None, target=None):
        """TCAV scores of the target classes over the inputs X, with their significance.

        Parameters
        ----------
        X : array-like of shape (n_samples, *input_shape)
            Inputs of the explained class(es), e.g. the positive test sequences; every row
            counts for every target. Required (None is an error): the probe data of TCAV.
        target : None, int, label or list of them, default=None
            Classes to score: None for every output, an int for an output index, another
            value for a class label (as in ``output_names_``).

        Returns
        -------
        explanation : ModelExplanation
            Axes ("class", "concept"): ``values`` of shape (n_targets, n_concepts) are the
            mean TCAV scores over the runs, ``labels["class"]`` the target classes and
            ``labels["concept"]`` the concept names; ``info`` holds ``scores``
            (n_targets, n_concepts, n_runs), ``sd`` (n_targets, n_concepts; ddof=1),
            ``random_scores`` (n_targets, n_runs), ``p_value`` (n_targets, n_concepts;
            uncorrected), ``significant`` (n_targets, n_concepts; p < alpha / n_tests),
            ``n_tests``, ``target``, ``layer`` and ``output``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the explainer is not fitted.
        ValueError
            If X is missing, holds text (encode DNA strings with
            :class:`~skexplain.preprocessing.OneHotSequenceEncoder`), has another input
            shape than the concepts, contains NaN or infinity, a target is unknown, or the
            network's gradients are not finite.
        """
        check_is_fitted(self, "cavs_")
        if X is None:
            raise ValueError("TCAV needs the inputs X whose class scores are tested, e.g. "
                             "the positive test sequences: call explain(X, target).")
        X = _check_examples(X, "X", self.input_shape_, min_examples=1)
        targets = resolve_targets(target, self.output_names_)
        gradients = self._gradients(X, targets)  # (n_targets, n_samples, n_activations)
        scores = np.mean(gradients @ self.cavs_.reshape(-1, self.cavs_.shape[2]).T[None] > 0,
                         axis=1).reshape(len(targets), *self.cavs_.shape[:2])
        random_scores = np.mean(gradients @ self.random_cavs_.T > 0, axis=1)
        p_values = np.array([[_two_sided_p(s, r) for s in row]
                             for row, r in zip(scores, random_scores, strict=True)])
        n_tests = p_values.size
        info = {
            "method": "tcav",
            "target": targets,
            "output": self.model_adapter_.describe(),
            "layer": self.layer_name_,
            "scores": scores,
            "sd": scores.std(axis=2, ddof=1),
            "random_scores": random_scores,
            "p_value": p_values,
            "significant": p_values < self.alpha / n_tests,
            "n_tests": n_tests,
        }
        return ModelExplanation(
            scores.mean(axis=2), ("class", "concept"),
            labels={"class": self.output_names_[targets], "concept": self.concept_names_},
            units="fraction of inputs with a positive conceptual sensitivity", info=info,
        )

    def _check_concepts(self):
        if not self.concepts:
            raise ValueError("concepts must be a non-empty dict of name -> examples.")
        concepts = {}
        shape = None
        for name, examples in self.concepts.items():
            concepts[str(name)] = _check_examples(examples, f"concepts[{name!r}]", shape)
            shape = concepts[str(name)].shape[1:]
        if len(concepts) != len(self.concepts):
            raise ValueError("Two concepts have the same name once converted to str.")
        if self.random_concepts is None:
            raise ValueError("random_concepts must hold the pool of random examples.")
        pool = _check_examples(self.random_concepts, "random_concepts", shape)
        if len(pool) < 4:
            raise ValueError(f"random_concepts must hold at least 4 examples (two disjoint "
                             f"random sets per run), got {len(pool)}.")
        return concepts, pool

    def _classifier(self):
        if self.classifier is None:
            return SGDClassifier(alpha=0.01, max_iter=1000, tol=1e-3)
        return clone(self.classifier)

    def _batch_size(self):
        return resolve_batch_size(self.batch_size, int(np.prod(self.input_shape_)),
                                  BACKWARD_FACTOR)

    def _activations(self, X):
        """Flattened layer activations (n_samples, n_activations), float64."""
        import torch

        adapter, name = self.model_adapter_, self.layer_name_

        def activations(batch):
            return layer_output(adapter.module, name, adapter.tensor(batch)).flatten(1)

        with torch.no_grad():
            out = torch_batches(activations, (torch.as_tensor(X),), self._batch_size())
        return check_finite(out.to("cpu", torch.float64).numpy(),
                            f"activations of layer {name!r}", adapter)

    def _gradients(self, X, targets):
        """Gradients of each target score with respect to the layer's flattened output.

        Returns an array of shape (n_targets, n_samples, n_activations).
        """
        import torch

        adapter, name = self.model_adapter_, self.layer_name_

        def gradients(batch):
            batch = adapter.tensor(batch)
            with torch.no_grad():
                activation = layer_output(adapter.module, name, batch)
            activation.requires_grad_(True)
            with replaced_output(adapter.module, name, activation):
                scores = adapter.forward(batch)
            return torch.stack([
                torch.autograd.grad(scores[:, k].sum(), activation, retain_graph=True)[0]
                .flatten(1) for k in targets
            ], dim=1)

        out = torch_batches(gradients, (torch.as_tensor(X),), self._batch_size())
        out = check_finite(out.to("cpu", torch.float64).numpy(),
                           f"gradients of the class scores at layer {name!r}", adapter)
        return out.transpose(1, 0, 2)


def _fit_cav(classifier, positive, negative, seed):
    """Unit normal of a linear boundary between two activation sets (towards ``positive``)."""
    if "random_state" in classifier.get_params():
        classifier.set_params(random_state=seed)
    X = np.concatenate([positive, negative])
    y = np.r_[np.ones(len(positive), dtype=int), np.zeros(len(negative), dtype=int)]
    classifier.fit(X, y)
    coef = getattr(classifier, "coef_", None)
    if coef is None or np.size(coef) != X.shape[1]:
        raise ValueError(
            f"The classifier {type(classifier).__name__} must be linear, with coef_ of "
            f"{X.shape[1]} weights after a binary fit."
        )
    normal = np.ravel(coef).astype(np.float64)
    if list(classifier.classes_) != [0, 1]:
        raise ValueError("The classifier's classes_ must be [0, 1] after a binary fit.")
    norm = np.linalg.norm(normal)
    return (normal / norm if norm > 0 else normal), classifier.score(X, y)


def _two_sided_p(scores, random_scores):
    """p value of the two-sided Welch t-test; 0 or 1 when both samples are constant."""
    if np.ptp(scores) == 0 and np.ptp(random_scores) == 0:
        return float(scores[0] == random_scores[0])
    with warnings.catch_warnings():  # scipy warns when one sample is constant
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(ttest_ind(scores, random_scores, equal_var=False).pvalue)


def _check_examples(X, name, shape, min_examples=2):
    """X as a float64 array (n, *shape) of at least ``min_examples`` finite examples."""
    check_numeric(X, name)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim < 2 or len(X) < min_examples:
        raise ValueError(f"{name} must hold at least {min_examples} example(s), shape (n, "
                         f"*input_shape); got shape {X.shape}.")
    if shape is not None and X.shape[1:] != tuple(shape):
        raise ValueError(f"{name} has input shape {X.shape[1:]}, expected {tuple(shape)}.")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} contains NaN or infinity.")
    return X


TCAV.__doc__ = TCAV.__doc__.replace("__OUTPUT_DOC__", OUTPUT_DOC).replace(
    "__N_JOBS_DOC__", N_JOBS_DOC)
