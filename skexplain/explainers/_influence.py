"""Influence functions: which training examples a prediction's loss depends on.

Also the pieces the example-based explainers (InfluenceFunctions, TracIn, DeepKNN) share:
their result type, the names of training examples and the deprecation of positional
arguments.
"""

import functools
import inspect
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted

from .._core.base import ExampleExplainer
from .._core.compute import batched_scores, resolve_batch_size
from .._core.explanation import ExampleExplanation
from .._core.model import check_finite, model_kind
from .._core.validation import check_numeric, from_anndata, is_anndata

MAX_EXACT_PARAMETERS = 10_000  # an exact Hessian of this size takes 800 MB
BATCH_SIZE_CONSTRAINT = [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})]


def positional_deprecated(function):
    """Let keyword-only parameters still be passed by position, with a FutureWarning.

    The message names the parameters only (not their values, which may be whole arrays).
    """
    parameters = inspect.signature(function).parameters.values()
    positional = [p.name for p in parameters if p.kind == p.POSITIONAL_OR_KEYWORD]
    keyword_only = [p.name for p in parameters if p.kind == p.KEYWORD_ONLY]

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        extra = len(args) - len(positional)
        if extra > 0:
            names = keyword_only[:extra]
            if extra > len(keyword_only):
                raise TypeError(f"{function.__qualname__} takes at most "
                                f"{len(positional) + len(keyword_only)} arguments.")
            owner = function.__qualname__.replace(".__init__", "")
            warnings.warn(
                f"Passing {', '.join(names)} by position to {owner} is deprecated; pass "
                f"{', '.join(f'{n}=...' for n in names)} by keyword (same result).",
                FutureWarning, stacklevel=2,
            )
            kwargs.update(zip(names, args[len(positional):], strict=True))
            args = args[:len(positional)]
        return function(*args, **kwargs)

    return wrapper


def as_examples(X, *, dense=True):
    """Example-based input as a matrix the methods read.

    An AnnData becomes a DataFrame (``obs_names`` as index, ``var_names`` as columns, the
    matrix densified); with ``dense`` a scipy.sparse matrix becomes a dense array. Anything
    else is returned as it is (the methods validate it).
    """
    if is_anndata(X):
        import pandas as pd

        matrix, names = from_anndata(X)
        matrix = matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)
        return pd.DataFrame(matrix, index=np.asarray(X.obs_names).astype(str),
                            columns=names)
    if dense and sp.issparse(X):
        return X.toarray()
    return X


def checked_examples(X, *, dense=True, numeric=True):
    """:func:`as_examples`, checked to hold numbers by the core's ``check_numeric``.

    Text (DNA strings: the message points to ``OneHotSequenceEncoder``) and DataFrames with
    non-numeric columns (named) raise a ValueError; ``numeric=False`` skips the check (for
    a Pipeline, whose own steps may encode such columns).
    """
    X = as_examples(X, dense=dense)
    if numeric:
        check_numeric(X)
    return X


def loss_name_of(loss):
    """The name of a loss recorded in ``info["loss"]``: a built-in's, or a callable's."""
    if callable(loss):
        return getattr(loss, "__name__", type(loss).__name__)
    return loss


def example_names(X):
    """Names of training examples: the index of a DataFrame (obs_names of an AnnData), else
    ``train_<i>``."""
    if is_anndata(X):
        return np.asarray([str(i) for i in X.obs_names], dtype=object)
    index = getattr(X, "index", None)
    if index is not None and hasattr(X, "columns"):
        return np.asarray([str(i) for i in index], dtype=object)
    return np.asarray([f"train_{i}" for i in range(np.shape(X)[0])], dtype=object)


_example_names = example_names  # the old private name


def top_examples(values, n_top):
    """(helpful, harmful): indices of the n_top largest and most negative values per row."""
    k = min(n_top, values.shape[1])
    order = np.argsort(-values, axis=1, kind="stable")
    return order[:, :k], order[:, ::-1][:, :k]


class InfluenceFunctions(ExampleExplainer):
    """Influence of each training example on the loss of each explained example.

    ``explain(X, y)`` returns, for each test example z and training example z_j, the predicted
    change of the loss at z (taken at the label y, by default the model's prediction) when
    z_j is left out of training (Koh & Liang 2017)::

        value[z, j] = grad L(z)^T H^-1 grad l_j * w_j  ~  L(z; theta_-j) - L(z; theta),

    where the model minimises ``sum_j w_j l_j(theta) + penalty(theta)``, H is the Hessian of
    that objective at the fitted parameters and ``H^-1 grad l_j * w_j`` is the first-order
    change of the parameters when z_j is removed. **Sign convention (leave-one-out):** a
    positive value means removing z_j would raise the test loss, so z_j is *helpful* to the
    prediction (a proponent); a negative value marks a *harmful* example (an opponent). This is
    ``-I_up,loss / n`` of Koh & Liang, and the sign used by pyDVL.

    - scikit-learn ``LogisticRegression`` (binary or multinomial, L2 or no penalty),
      ``Ridge`` and ``LinearRegression``, alone or last in a ``Pipeline`` (the earlier steps
      are treated as fixed features): the exact Hessian of the model's own objective, e.g.
      ``C * sum_j log_loss_j + 1/2 ||W||^2`` with an unpenalised intercept, so ``w_j = C``
      (times the ``class_weight`` of its class); ``class_weight`` is held fixed.
    - torch modules and skorch nets: the objective ``1/n sum_j l_j + weight_decay / 2
      ||theta||^2`` over the parameters of ``layers`` (all by default), so ``w_j = 1/n``; H
      is formed exactly (``solver="exact"``, small models), or its inverse is applied by
      conjugate gradients (``"cg"``) or the LiSSA recursion (``"lissa"``) with Hessian-vector
      products. ``damping`` adds ``damping * I`` to H, which deep networks, whose Hessian is
      rarely positive definite at the end of training, need for CG and LiSSA.

    Influence estimates are accurate for convex models at their optimum; for deep networks
    they are often far from actual leave-one-out retraining (Basu, Pope & Feizi 2021).

    Parameters
    ----------
    model : estimator, Pipeline, skorch net, torch.nn.Module or None, default=None
        The fitted model, trained on the data passed to ``fit``; None until set with
        ``set_params(model=...)``.
    solver : {"auto", "exact", "cg", "lissa"}, default="auto"
        How H^-1 is applied: "auto" is "exact" for scikit-learn models (the only solver they
        support) and "cg" for networks. For a network, "exact" builds H from one
        Hessian-vector product per parameter, so it suits a few hundred to a few thousand
        parameters (at most 10,000); CG needs a positive definite H (the last layer of a
        classifier, or enough ``damping``); LiSSA converges slowly when H is ill-conditioned.
    loss : {"auto", "cross_entropy", "binary_cross_entropy", "squared_error"} or callable, \
default="auto"
        Per-example training loss of a network, a callable ``loss(outputs, y)`` returning one
        loss per row; "auto" takes the skorch net's criterion, else cross-entropy for several
        outputs and binary cross-entropy with logits for one. A scikit-learn model's loss is
        its own.
    layers : None, str, torch.nn.Module or list of them, default=None
        Layers of a network whose parameters the influence is taken over (e.g. the last,
        dense layer); None for all parameters.
    weight_decay : float, default=0.0
        L2 coefficient of the network's training objective (torch's ``weight_decay``).
    damping : float, default=0.0
        Added to the diagonal of H.
    max_iter : int, default=1000
        Iterations of CG or LiSSA.
    tol : float, default=1e-8
        CG and LiSSA stop when the residual norm is below ``tol`` times that of the
        right-hand side.
    lissa_scale : "auto" or float, default="auto"
        LiSSA's scale s (it iterates ``h <- v + h - H h / s`` and returns ``h / s``); it must
        exceed half the largest eigenvalue of H. "auto" is 1.1 times a power-iteration
        estimate of that eigenvalue. The recursion here uses the full training set, so it is
        deterministic.
    n_top : int, default=10
        Number of most helpful and most harmful training examples listed per explained
        example in ``info``.
    batch_size : int or "auto", default="auto"
        Examples per batch when computing gradients and Hessian-vector products of networks
        (and per model call for the predictions ``explain`` uses when y is None). "auto"
        applies the policy of every explainer (64 MiB per batch, at most 4096 rows) to a
        row of n_parameters + n_input_values float64 values (a per-example gradient and
        its input), times 8 for the backward pass' working set.

    Attributes
    ----------
    train_gradients_ : ndarray of shape (n_train, n_parameters)
        Loss gradient of each training example.
    example_weights_ : ndarray of shape (n_train,)
        w_j, the weight of each training example's loss in the objective.
    inverse_hessian_ : ndarray of shape (n_parameters, n_parameters)
        The (pseudo-)inverse of H, with solver "exact".
    solver_ : str
        The solver used.
    n_parameters_ : int
        Number of parameters the influence is taken over.
    training_names_ : ndarray of str of shape (n_train,)
        Names of the training examples: the index of a DataFrame, else ``train_<i>``.
    classes_ : ndarray or None
        Class labels of a scikit-learn classifier.
    train_losses_ : ndarray of shape (n_train,)
        Loss of each training example (networks only).
    feature_shape_ : tuple of int
        Shape of one input.
    n_features_in_ : int
        Number of input values per example.
    model_adapter_ : skexplain._core.model.ModelAdapter
        The model as scores (the predictions used when ``explain`` gets no y).

    References
    ----------
    Koh & Liang, "Understanding black-box predictions via influence functions", ICML 2017.
    Agarwal, Bullins & Hazan, "Second-order stochastic optimization for machine learning in
    linear time" (LiSSA), JMLR 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skexplain.explainers import InfluenceFunctions
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 3))
    >>> X[:3, 0] = [2.0, -2.0, 1.5]
    >>> y = (X[:, 0] > 0).astype(int)
    >>> y[:3] = 1 - y[:3]  # three mislabelled examples
    >>> model = LogisticRegression(C=0.5).fit(X, y)
    >>> E = InfluenceFunctions(model).fit(X, y).explain(X[3:], y[3:])
    >>> E.values.shape, E.axes
    ((97, 100), ('sample', 'train_example'))
    >>> np.sort(np.argsort(E.values.mean(axis=0))[:3])  # the most harmful on average
    array([0, 1, 2])
    """

    _parameter_constraints = {
        "model": "no_validation",
        "solver": [StrOptions({"auto", "exact", "cg", "lissa"})],
        "loss": [StrOptions({"auto", "cross_entropy", "binary_cross_entropy",
                             "squared_error"}), callable],
        "layers": "no_validation",
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "damping": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "lissa_scale": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "n_top": [Interval(Integral, 1, None, closed="left")],
        "batch_size": BATCH_SIZE_CONSTRAINT,
    }

    def __init__(self, model=None, *, solver="auto", loss="auto", layers=None,
                 weight_decay=0.0, damping=0.0, max_iter=1000, tol=1e-8, lissa_scale="auto",
                 n_top=10, batch_size="auto"):
        self.model = model
        self.solver = solver
        self.loss = loss
        self.layers = layers
        self.weight_decay = weight_decay
        self.damping = damping
        self.max_iter = max_iter
        self.tol = tol
        self.lissa_scale = lissa_scale
        self.n_top = n_top
        self.batch_size = batch_size

    def fit(self, X, y):
        """Compute the training gradients and, for the exact solver, the inverse Hessian.

        Parameters
        ----------
        X : array-like, sparse matrix, DataFrame or AnnData of shape (n_train, *input_shape)
            The training data the model was fitted on (an AnnData's ``obs_names`` name the
            training examples, as a DataFrame's index does).
        y : array-like of shape (n_train,) or (n_train, n_outputs)
            Its targets: class labels for a scikit-learn classifier, class indices for a
            cross-entropy network, floats otherwise.

        Returns
        -------
        self : InfluenceFunctions

        Raises
        ------
        ValueError
            If the model is missing, X is empty, not finite or not numeric (text, or a
            DataFrame with non-numeric columns), X and y differ in length, a label is
            unknown (or out of range for a cross-entropy network), the solver does not
            apply to the model, the model's penalty is not smooth, or the model's losses or
            gradients are NaN or infinite.
        TypeError
            If the model is neither a supported linear model nor a network.
        """
        self._validate_params()
        self._check_model()
        self.training_names_ = example_names(X)
        X = checked_examples(X, dense=False, numeric=not isinstance(self.model, Pipeline))
        self.feature_shape_ = tuple((X.shape if hasattr(X, "shape") else np.shape(X))[1:])
        self.n_features_in_ = int(np.prod(self.feature_shape_))
        is_network = model_kind(self.model) in ("torch", "skorch")
        self.solver_ = ("cg" if is_network else "exact") if self.solver == "auto" else self.solver
        if is_network:
            self._fit_network(X, y)
        else:
            self._fit_linear(X, y)
        self.n_parameters_ = self.train_gradients_.shape[1]
        if self.solver_ == "exact":
            self.inverse_hessian_ = _pseudo_inverse(self._hessian)
        elif hasattr(self, "inverse_hessian_"):
            del self.inverse_hessian_
        del self._hessian
        self.model_adapter_ = self._model_adapter(self.feature_shape_)
        return self

    def _fit_linear(self, X, y):
        from ._linear_influence import LinearProblem

        if self.solver_ != "exact":
            raise ValueError(
                f"solver={self.solver!r} applies to networks; scikit-learn models use the "
                "exact Hessian (solver='exact' or 'auto')."
            )
        if self.weight_decay or self.damping:
            raise ValueError(
                "weight_decay and damping apply to networks; a scikit-learn model's "
                "regularisation is read from the model itself."
            )
        if isinstance(self.model, Pipeline):
            self._transform, estimator = self.model[:-1], self.model[-1]
        else:
            self._transform, estimator = None, self.model
        self._problem = LinearProblem(estimator)
        if hasattr(self, "train_losses_"):
            del self.train_losses_
        self.classes_ = self._problem.classes
        D, y = self._linear_data(X, y)
        weights = self._problem.sample_weights(y)
        self.example_weights_ = self._problem.a * weights
        self.train_gradients_ = self._linear_gradients(D, y)[0]
        gap = self._problem.stationarity(self.train_gradients_, weights)
        if gap > 1e-2:
            warnings.warn(
                f"The model is not at the optimum of its training objective on these data "
                f"(relative gradient norm {gap:.2g}): pass the data it was fitted on, or fit "
                "it to convergence (lower tol, more max_iter); influence assumes an optimum.",
                UserWarning, stacklevel=3,
            )
        self._hessian = self._problem.hessian(D, y, weights)

    def _linear_gradients(self, D, y):
        """Per-example loss gradients and losses, checked finite (a NaN model raises)."""
        with np.errstate(invalid="ignore", over="ignore"):  # NaN is reported below
            G, losses = self._problem.gradients(D, y)
        name, model = type(self).__name__, self._problem.model
        check_finite(losses, "losses", name, model)
        return check_finite(G, "loss gradients", name, model), losses

    def _linear_data(self, X, y):
        if self._transform is not None:
            X = self._transform.transform(X)
            check_numeric(X, "X transformed by the pipeline")
        X = check_array(X, accept_sparse=True, dtype=np.float64, ensure_all_finite=True,
                        input_name="X")
        X = X.toarray() if sp.issparse(X) else X
        y = self._problem.encode(y)
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)}.")
        return self._problem.design(X), y

    def _fit_network(self, X, y):
        from ._example_gradients import ExampleGradients, network_data

        self.classes_, self._problem = None, None
        self._gradients = ExampleGradients(self.model, self.loss, self.layers,
                                           type(self).__name__)
        n_parameters = self._gradients.n_parameters
        self._batch_size = resolve_batch_size(self.batch_size,
                                              n_parameters + self.n_features_in_, factor=8)
        if self.solver_ == "exact" and n_parameters > MAX_EXACT_PARAMETERS:
            raise ValueError(
                f"solver='exact' forms the full Hessian, too large for {n_parameters} "
                f"parameters (at most {MAX_EXACT_PARAMETERS}): use solver='cg' or select "
                "layers."
            )
        X, y = network_data(as_examples(X), y, self._gradients)
        self._input_shape = tuple(X.shape[1:])
        self.example_weights_ = np.full(len(X), 1.0 / len(X))
        self.train_losses_ = self._gradients.losses(X, y, self._batch_size)  # NaN-checked
        self.train_gradients_ = self._gradients.gradients(X, y, self._batch_size).numpy()
        self._train_data = (X, y)
        self._hessian = None
        if self.solver_ == "exact":
            H = self._gradients.hessian(X, y, self._batch_size).numpy()
            self._hessian = H + (self.weight_decay + self.damping) * np.eye(len(H))

    def explain(self, X, y=None):
        """Influence of every training example on the loss of each example of X.

        Parameters
        ----------
        X : array-like, sparse matrix, DataFrame or AnnData of shape (n_samples, \
*input_shape)
            Examples to explain.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            Their labels or targets: the loss is taken at these. None takes the model's
            prediction (the highest-scoring class; for a network with binary cross-entropy,
            the outputs whose logit is positive); a regression or a callable loss needs y.

        Returns
        -------
        explanation : ExampleExplanation
            ``values`` of shape (n_samples, n_train), axes ("sample", "train_example"): the
            predicted change of each example's loss when each training example is removed
            (positive: helpful). ``base_values`` are the examples' losses, ``data`` the
            examples, ``example_names`` the training examples' names (n_train,); ``info``
            holds ``helpful`` and ``harmful`` (n_samples, n_top): indices of the training
            examples with the largest and the most negative values, most extreme first,
            ``y`` (the labels used), ``y_predicted`` (whether they are the model's
            predictions), ``output`` ("loss": the values are changes of a loss, not of the
            model's scores), ``loss`` (its name: "log_loss" or "squared_error" for a
            scikit-learn model, the network's loss of its raw outputs otherwise),
            ``solver`` and, for CG and LiSSA, ``n_iter``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the explainer is not fitted.
        ValueError
            If X does not match the training data, X and y differ in length, a label is
            unknown, y is None for a regression or a callable loss, the model returns NaN or
            infinite scores or losses, or CG meets negative curvature (raise ``damping``).
        """
        check_is_fitted(self, "train_gradients_")
        X = checked_examples(X, dense=False, numeric=self._transform_steps() is None)
        y_predicted = y is None
        if y_predicted:
            y = self._predicted(X)
        if self._problem is not None:
            D, labels = self._linear_data(X, y)
            G, losses = self._linear_gradients(D, labels)
            data = as_examples(X)
            data = np.asarray(check_array(data, dtype=None, ensure_all_finite=False))
        else:
            G, losses, data = self._network_gradients(X, y)
        directions, n_iter = self._solve(G.T)
        values = (self.train_gradients_ @ directions).T * self.example_weights_
        helpful, harmful = top_examples(values, self.n_top)
        info = {
            "method": "influence_functions",
            # the values are changes of a loss; "loss" names it (of the model's outputs:
            # its logits for a network, its probabilities for a linear model)
            "output": "loss",
            "loss": self._loss_name(),
            "solver": self.solver_,
            "y": np.asarray(y),
            "y_predicted": y_predicted,
            "helpful": helpful,
            "harmful": harmful,
        }
        if n_iter is not None:
            info["n_iter"] = n_iter
        return ExampleExplanation(values, axes=("sample", "train_example"),
                             units="change of the loss (leave-one-out)", info=info,
                             data=data, base_values=losses,
                             example_names=self.training_names_)

    def _transform_steps(self):
        return getattr(self, "_transform", None) if self._problem is not None else None

    def _loss_name(self):
        if self._problem is not None:
            return "log_loss" if self._problem.kind == "logistic" else "squared_error"
        return self._gradients.loss_kind(self._train_data[0][:1]) or loss_name_of(self.loss)

    def _predicted(self, X):
        """The model's predicted labels of X (through the model adapter)."""
        if self._problem is not None:
            if self._problem.kind == "squared":
                raise ValueError(
                    "y is required for a regression: its loss at its own prediction is 0, "
                    "so is every influence."
                )
            rows = as_examples(X)
            rows = np.asarray(check_array(rows, dtype=np.float64, input_name="X"))
            batch_size = resolve_batch_size(self.batch_size, rows.shape[1])
            scores = batched_scores(self.model_adapter_.scores, rows, batch_size)
            return self.classes_[np.argmax(scores, axis=1)]
        from ._example_gradients import predicted_targets

        return predicted_targets(self.model_adapter_, X, self._gradients,
                                 self._train_data[1], self._batch_size)

    def _network_gradients(self, X, y):
        from ._example_gradients import network_data

        X, y = network_data(as_examples(X), y, self._gradients, self._input_shape)
        G = self._gradients.gradients(X, y, self._batch_size).numpy()
        return G, self._gradients.losses(X, y, self._batch_size), X.numpy()

    def _solve(self, B):
        """H^-1 B for B of shape (n_parameters, k); also the iterations per column."""
        if self.solver_ == "exact":
            return self.inverse_hessian_ @ B, None
        import torch

        B = torch.as_tensor(B)
        loss_product = self._gradients.hessian_product(*self._train_data, self._batch_size)
        shift = self.weight_decay + self.damping

        def product(V):
            return loss_product(V) + shift * V

        if self.solver_ == "cg":
            H_inv_B, n_iter = _conjugate_gradient(product, B, self.tol, self.max_iter)
        else:
            scale = self.lissa_scale
            if scale == "auto":
                scale = 1.1 * _largest_eigenvalue(product, B.shape[0])
            H_inv_B, n_iter = _lissa(product, B, scale, self.tol, self.max_iter)
        return H_inv_B.numpy(), n_iter


def _pseudo_inverse(H):
    """Inverse of a symmetric matrix, dropping directions of (numerically) zero curvature.

    The multinomial logistic model's unpenalised intercepts leave one such direction (adding a
    constant to every intercept changes nothing); no loss gradient has a component along it.
    """
    H = (H + H.T) / 2
    eigenvalues, vectors = np.linalg.eigh(H)
    keep = np.abs(eigenvalues) > 1e-10 * np.abs(eigenvalues).max()
    return (vectors[:, keep] / eigenvalues[keep]) @ vectors[:, keep].T


def _conjugate_gradient(product, B, tol, max_iter):
    """Solve H X = B column by column with CG; return X and the iterations per column."""
    import torch

    X = torch.zeros_like(B)
    R = B.clone()
    P = R.clone()
    rs = (R * R).sum(0)
    target = tol * torch.linalg.vector_norm(B, dim=0)
    n_iter = torch.zeros(B.shape[1], dtype=torch.int64)
    active = rs.sqrt() > target
    for _ in range(max_iter):
        if not active.any():
            break
        HP = product(P[:, active])
        curvature = (P[:, active] * HP).sum(0)
        if (curvature <= 0).any():
            raise ValueError(
                "Conjugate gradients met negative curvature: the Hessian is not positive "
                "definite here; raise damping or use solver='exact'."
            )
        alpha = rs[active] / curvature
        X[:, active] += alpha * P[:, active]
        R[:, active] -= alpha * HP
        rs_new = (R[:, active] ** 2).sum(0)
        P[:, active] = R[:, active] + (rs_new / rs[active]) * P[:, active]
        rs[active] = rs_new
        n_iter[active] += 1
        active = rs.sqrt() > target
    return X, n_iter.numpy()


def _largest_eigenvalue(product, n, n_iter=50):
    """Power-iteration estimate of H's largest eigenvalue (a fixed start: deterministic)."""
    import torch

    v = torch.ones((n, 1), dtype=torch.float64) / np.sqrt(n)
    eigenvalue = 0.0
    for _ in range(n_iter):
        w = product(v)
        eigenvalue = float((v * w).sum())
        v = w / torch.linalg.vector_norm(w)
    return eigenvalue


def _lissa(product, B, scale, tol, max_iter):
    """LiSSA (full-batch): h <- B + h - H h / s until H h / s ~ B; return h / s."""
    import torch

    h = B.clone()
    target = tol * torch.linalg.vector_norm(B, dim=0)
    n_iter = torch.zeros(B.shape[1], dtype=torch.int64)
    active = torch.ones(B.shape[1], dtype=torch.bool)
    for _ in range(max_iter):
        residual = B[:, active] - product(h[:, active]) / scale
        done = torch.linalg.vector_norm(residual, dim=0) <= target[active]
        h[:, active] += residual
        n_iter[active] += 1
        active[active.clone()] = ~done
        if not active.any():
            break
    return h / scale, n_iter.numpy()
