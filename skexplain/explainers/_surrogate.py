"""Global surrogates: an interpretable model fitted to the black box's predictions."""

import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import clone, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.inspection import permutation_importance
from sklearn.linear_model import Lasso, lasso_path
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import l1_min_c
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor, export_text
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._core.base import DataExplainer, ModelLevelExplainer
from .._core.compute import (
    BATCH_SIZE_DOC,
    batched_scores,
    parallel_map,
    resolve_batch_size,
    spawn_seeds,
)
from .._core.explanation import ModelExplanation
from .._core.model import OUTPUT_CONSTRAINT, OUTPUT_DOC
from .._linear import l1_logistic_regression

DEFAULT_COMPLEXITY = {"tree": 16, "linear": 16, "rules": 30}
N_LINEAR_CS = 20  # regularisation strengths tried on the L1 path of the linear surrogate


class GlobalSurrogate(ModelLevelExplainer, DataExplainer):
    """A global surrogate: an interpretable model trained to mimic the black box.

    ``fit(X)`` asks the model for its predictions on X (the data the user gives, no true
    labels needed), holds out ``test_size`` of X, fits the surrogate on the rest to the
    model's outputs, and reports how faithful it is on the held-out part: the fidelity is
    the agreement ``mean(g(x) == f(x))`` of the surrogate's and the model's labels
    (``response="label"``), or the R² of the surrogate's scores against the model's
    (``response="score"``); never the accuracy against the true labels. The surrogate's
    readable form comes as text (``text_``) and as data (``table_``):

    - ``"tree"``: a CART tree with at most ``max_complexity`` leaves; complexity = leaves;
      ``table_`` holds one rule per leaf (the conditions on its path), its prediction, its
      support (fraction of the surrogate's training rows in the leaf) and, for labels, its
      precision (fraction of those rows that the model gives the leaf's label).
    - ``"linear"``: an L1-regularised logistic regression (labels) or lasso (scores) on
      standardised features, the least regularised on a path of 20 strengths that keeps at
      most ``max_complexity`` non-zero coefficients; complexity = non-zero coefficients
      (over all classes); ``table_`` is the coefficient table (per standard deviation of
      the feature, non-zero rows only).
    - ``"rules"``: RuleFit (Friedman & Popescu 2008) from ``imodels`` (optional extra
      ``skexplain[rules]``), one-vs-rest for more than two classes, each keeping at most
      ``max_complexity`` terms; complexity = rules and linear terms with a non-zero
      coefficient (over all classes); ``table_`` lists each term with its coefficient,
      support, precision (for a positive coefficient the fraction of covered rows the model
      gives the class, for a negative one the fraction it does not) and importance
      ``|coef| * sqrt(support * (1 - support))``.
    - an estimator: any scikit-learn classifier (labels) or regressor (scores), cloned and
      fitted as it is; complexity = leaves or non-zero coefficients when it has a tree or
      ``coef_``, else None.

    A model-level explainer: ``explain()`` takes no instances and returns the surrogate's
    global feature importance as a :class:`~skexplain._core.explanation.ModelExplanation`;
    ``score(X)`` is the surrogate's fidelity on X, not a faithfulness of attributions.

    Parameters
    ----------
    model : estimator, skorch net, torch.nn.Module or callable
        The fitted black box.
    surrogate : {"tree", "linear", "rules"} or estimator, default="tree"
        The interpretable model.
    max_complexity : int, default=None
        Most leaves (tree), non-zero coefficients (linear) or terms per class (rules); None
        means 16, 16 and 30 (RuleFit's default; far fewer rules can collapse RuleFit to a
        constant). Must be None for an estimator.
    response : {"label", "score"}, default="label"
        Mimic the model's labels (the output with the highest score, by its class name; a
        model with a single output is taken to return labels) or all its scores (R²
        averaged over outputs).
    test_size : float in (0, 1), default=0.25
        Fraction of X held out to measure fidelity.
__OUTPUT_DOC__
__BATCH_SIZE_DOC__
    n_jobs : int, default=None
        Workers over the one-vs-rest models of ``"rules"`` (the core's ``parallel_map``;
        each model's seed is spawned up front, so results do not depend on ``n_jobs``).
    random_state : int, RandomState instance or None, default=None
        Seeds the held-out split and the surrogate.

    Attributes
    ----------
    surrogate_ : estimator
        The fitted surrogate (for ``"rules"`` with several classes, a list of one RuleFit
        per class in ``rule_classes_``).
    fidelity_ : float
        Held-out agreement (labels) or R² (scores) with the model.
    train_fidelity_ : float
        The same on the surrogate's training part.
    complexity_ : int or None
        Leaves, non-zero coefficients or rules (see above).
    text_ : str
        Readable form: tree text, coefficient table or rule list.
    table_ : pandas.DataFrame
        The same as data.
    classes_ : ndarray
        Labels the model gave X (``response="label"``).
    model_adapter_ : ModelAdapter
        The core's adapter of the model.
    n_features_in_, feature_names_in_, feature_shape_
        As for every explainer.

    Raises
    ------
    ValueError
        From ``fit``: for ``max_complexity`` with an estimator, a classifier surrogate with
        ``response="score"`` (or a regressor with labels), fewer than two labels in the
        held-in part, or too few rows to hold any out.
    ImportError
        From ``fit`` with ``surrogate="rules"`` when ``imodels`` is not installed.

    References
    ----------
    Craven & Shavlik, "Extracting tree-structured representations of trained networks",
    NeurIPS (1996). Friedman & Popescu, "Predictive learning via rule ensembles", Ann. Appl.
    Stat. 2 (2008). Molnar, "Interpretable Machine Learning", ch. "Global surrogate".

    Examples
    --------
    >>> import numpy as np
    >>> from skexplain.explainers import GlobalSurrogate
    >>> X = np.random.default_rng(0).uniform(size=(400, 3))
    >>> model = lambda X: (X[:, 0] > 0.5).astype(int)  # returns labels
    >>> explainer = GlobalSurrogate(model, max_complexity=2, random_state=0).fit(X)
    >>> explainer.fidelity_, explainer.complexity_
    (1.0, 2)
    >>> E = explainer.explain()
    >>> E.axes, E.values.round(2).tolist()
    (('feature',), [1.0, 0.0, 0.0])
    """

    _parameter_constraints = {
        "model": "no_validation",
        "surrogate": [StrOptions({"tree", "linear", "rules"}), HasMethods(["fit", "predict"])],
        "max_complexity": [Interval(Integral, 1, None, closed="left"), None],
        "response": [StrOptions({"label", "score"})],
        "test_size": [Interval(Real, 0, 1, closed="neither")],
        "output": OUTPUT_CONSTRAINT,
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
    }

    def __init__(
        self, model=None, *, surrogate="tree", max_complexity=None, response="label",
        test_size=0.25, output="auto", batch_size="auto", n_jobs=None, random_state=None,
    ):
        super().__init__(model)
        self.surrogate = surrogate
        self.max_complexity = max_complexity
        self.response = response
        self.test_size = test_size
        self.output = output
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X, y=None, *, layer=None, use_raw=False):
        """Fit the surrogate to the model's outputs on X and measure its fidelity.

        Parameters
        ----------
        X : array-like, sparse matrix, DataFrame or AnnData of shape (n_samples, n_features)
            Data the model is asked about (no true labels needed); ``test_size`` of it is
            held out to measure fidelity.
        y : None
            Ignored: the surrogate mimics the model, not true labels.
        layer : str, optional
            For AnnData input: the layer to use instead of ``.X``.
        use_raw : bool, default=False
            For AnnData input: use ``.raw``.

        Returns
        -------
        self : GlobalSurrogate

        Raises
        ------
        ValueError
            If the model is missing, X is empty or not finite, or as listed in the class
            docstring.
        ImportError
            With ``surrogate="rules"`` when ``imodels`` is not installed.
        """
        return super().fit(X, y, layer=layer, use_raw=use_raw)

    def _fit(self, X):
        if not isinstance(self.surrogate, str) and self.max_complexity is not None:
            raise ValueError(
                "max_complexity applies to 'tree', 'linear' and 'rules'; set the complexity "
                "of a surrogate estimator through its own parameters."
            )
        X = X.toarray() if hasattr(X, "toarray") else X
        scores = self._scores(X)
        names = self.model_adapter_.names_for(scores.shape[1])
        self.output_names_ = np.arange(scores.shape[1]) if names is None else np.asarray(names)
        targets = self._targets(scores)
        if self.response == "label":
            self.classes_ = np.unique(targets)
        X_train, X_test, t_train, t_test = train_test_split(
            X, targets, test_size=self.test_size, random_state=self.random_state
        )
        if self.response == "label" and len(np.unique(t_train)) < 2:
            raise ValueError(
                "The model gives the held-in rows a single label; a surrogate needs rows of "
                "at least two labels."
            )
        kind = self.surrogate if isinstance(self.surrogate, str) else "estimator"
        fit = {"tree": self._fit_tree, "linear": self._fit_linear, "rules": self._fit_rules,
               "estimator": self._fit_estimator}[kind]
        self.surrogate_, self.complexity_, self.table_, self.text_ = fit(X_train, t_train)
        self.fidelity_ = self._fidelity(X_test, t_test)
        self.train_fidelity_ = self._fidelity(X_train, t_train)
        self._held_out = (X_test, t_test)

    # --- the model's outputs ---------------------------------------------------------------

    def _scores(self, X):
        step = resolve_batch_size(self.batch_size, self.n_features_in_)
        return batched_scores(self.model_adapter_.scores, X, step)

    def _targets(self, scores):
        """What the surrogate mimics: the scores, or the labels (argmax, by output name)."""
        if self.response == "score":
            return scores
        if scores.shape[1] == 1:
            return scores[:, 0]
        return self.output_names_[np.argmax(scores, axis=1)]

    def _predict(self, X):
        """The surrogate's labels or scores for dense rows X."""
        if isinstance(self.surrogate_, list):
            votes = np.column_stack([m._predict_continuous_output(X) for m in self.surrogate_])
            return self.rule_classes_[np.argmax(votes, axis=1)]
        prediction = self.surrogate_.predict(X)
        if self.response == "score":
            return prediction.reshape(len(X), -1)
        return prediction

    def _fidelity(self, X, targets):
        if self.response == "label":
            return float(accuracy_score(targets, self._predict(X)))
        return float(r2_score(targets, self._predict(X)))

    # --- the surrogates --------------------------------------------------------------------

    def _complexity_cap(self):
        if self.max_complexity is not None:
            return self.max_complexity
        return DEFAULT_COMPLEXITY[self.surrogate]

    def _fit_tree(self, X, targets):
        cap = self._complexity_cap()
        if cap < 2:
            raise ValueError(f"A tree has at least 2 leaves; got max_complexity={cap}.")
        tree_class = DecisionTreeClassifier if self.response == "label" else DecisionTreeRegressor
        tree = tree_class(max_leaf_nodes=cap, random_state=self.random_state).fit(X, targets)
        names = list(map(str, self._feature_names_out()))
        return tree, int(tree.get_n_leaves()), self._leaf_table(tree, X, targets), export_text(
            tree, feature_names=names, decimals=3, max_depth=64)

    def _leaf_table(self, tree, X, targets):
        names = self._feature_names_out()
        leaves = tree.apply(X)
        prediction = tree.predict(X)
        rows = []
        for leaf, conditions in _leaf_paths(tree.tree_):
            here = leaves == leaf
            row = {"rule": _format_rule(conditions, names), "support": here.mean()}
            if self.response == "label":
                label = prediction[here][0] if here.any() else tree.classes_[
                    np.argmax(tree.tree_.value[leaf][0])]
                row["output"] = label
                row["precision"] = np.mean(targets[here] == label) if here.any() else np.nan
            else:
                value = tree.tree_.value[leaf][:, 0]
                for name, v in zip(self.output_names_, value, strict=True):
                    row[f"score_{name}"] = v
            rows.append(row)
        table = pd.DataFrame(rows)
        first = ["output"] if self.response == "label" else []
        table = table[first + [c for c in table.columns if c not in first]]
        order = ["output", "support"] if self.response == "label" else ["support"]
        ascending = [True, False] if self.response == "label" else [False]
        return table.sort_values(order, ascending=ascending, ignore_index=True)

    def _fit_linear(self, X, targets):
        cap = self._complexity_cap()
        scaler = StandardScaler().fit(X)
        Z = scaler.transform(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if self.response == "score":
                model = self._lasso_with_cap(Z, targets, cap)
            else:
                model = self._logistic_with_cap(Z, targets, cap)
        coef = np.atleast_2d(model.coef_)
        if self.response == "score":
            columns = self.output_names_
        else:
            columns = model.classes_[1:] if coef.shape[0] == 1 else model.classes_
        names = self._feature_names_out()
        table = pd.DataFrame(coef.T, index=pd.Index(names, name="feature"), columns=columns)
        table = table.loc[np.any(coef != 0, axis=0)]
        table = table.loc[table.abs().max(axis=1).sort_values(ascending=False).index]
        text = "Coefficients per standard deviation of the feature (non-zero only):\n"
        text += table.to_string(float_format=lambda v: f"{v:.3g}") if len(table) else "(none)"
        return (make_pipeline(scaler, model), int(np.count_nonzero(coef)), table, text)

    def _logistic_with_cap(self, Z, labels, cap):
        c_min = l1_min_c(Z, labels, loss="log")
        model = l1_logistic_regression(warm_start=True, max_iter=2000, tol=1e-3,
                                       random_state=self.random_state)
        chosen = None
        for C in c_min * np.logspace(0, 4, N_LINEAR_CS):
            model.set_params(C=C).fit(Z, labels)
            if np.count_nonzero(model.coef_) > cap:
                break
            chosen = C
        if chosen is None:  # even the weakest penalty keeps too many: the smallest C found
            chosen = c_min
        return clone(model).set_params(C=chosen, warm_start=False).fit(Z, labels)

    def _lasso_with_cap(self, Z, scores, cap):
        centred = scores - scores.mean(axis=0)
        alpha_max = np.abs(Z.T @ centred).max() / len(Z)
        alphas, coefs, _ = lasso_path(Z, centred, alphas=alpha_max * np.logspace(0, -3, 100))
        counts = np.count_nonzero(coefs.reshape(-1, coefs.shape[-1]), axis=0)
        allowed = np.flatnonzero(counts <= cap)
        alpha = alphas[allowed[-1]] if len(allowed) else alphas[0]
        return Lasso(alpha=alpha, random_state=self.random_state).fit(Z, scores)

    def _fit_rules(self, X, targets):
        try:
            import imodels  # noqa: F401
        except ImportError as error:
            raise ImportError(
                'surrogate="rules" needs imodels: pip install "skexplain[rules]"'
            ) from error
        cap = self._complexity_cap()
        if self.response == "score":
            outputs = list(range(targets.shape[1]))
            jobs = [(targets[:, k], True) for k in outputs]
            names = self.output_names_
        else:
            classes = np.unique(targets)
            outputs = classes[1:] if len(classes) == 2 else classes
            jobs = [((targets == c).astype(int), False) for c in outputs]
            names = outputs
        seeds = spawn_seeds(self.random_state, len(jobs))[:, 0]
        models = parallel_map(
            _fit_rulefit,
            [(X, y, regression, cap, int(seed))
             for (y, regression), seed in zip(jobs, seeds, strict=True)],
            n_jobs=self.n_jobs,
        )
        tables = [self._rule_table(m, X, y, name, regression)
                  for m, (y, regression), name in zip(models, jobs, names, strict=True)]
        table = pd.concat(tables, ignore_index=True)
        complexity = int(len(table))
        text = _rule_text(table, self.response == "label")
        if self.response == "label" and len(models) > 1:
            self.rule_classes_ = np.asarray(outputs)
            return models, complexity, table, text
        if self.response == "label":
            self.rule_classes_ = np.unique(targets)
            return _BinaryRuleFit(models[0], self.rule_classes_), complexity, table, text
        return _StackedRuleFit(models), complexity, table, text

    def _rule_table(self, rulefit, X, y, output, regression):
        names = self._feature_names_out()
        n_features = X.shape[1]
        coef = np.asarray(rulefit.coef)
        rows = []
        linear = np.flatnonzero(coef[:n_features])
        for j in linear:
            scale = rulefit.friedscale.scale_multipliers[j] if rulefit.lin_standardise else 1
            rows.append({"output": output, "type": "linear", "rule": str(names[j]),
                         "features": (str(names[j]),), "coef": coef[j] * scale,
                         "support": 1.0, "precision": np.nan})
        for rule, c in zip(rulefit.rules_without_feature_names_, coef[n_features:],
                           strict=True):
            if c == 0:
                continue
            conditions = _merge([(int(f[2:]), op, float(v))
                                 for (f, op), v in rule.agg_dict.items()])
            covered = _covered(X, conditions)
            support = covered.mean()
            if regression or not covered.any():
                precision = np.nan
            else:
                precision = np.mean(y[covered] == (1 if c > 0 else 0))
            rows.append({"output": output, "type": "rule",
                         "rule": _format_rule(conditions, names),
                         "features": tuple(dict.fromkeys(str(names[f]) for f, _, _ in conditions)),
                         "coef": c, "support": support, "precision": precision})
        table = pd.DataFrame(rows, columns=["output", "type", "rule", "features", "coef",
                                            "support", "precision"])
        table["importance"] = np.abs(table["coef"]) * np.sqrt(
            table["support"] * (1 - table["support"]))
        linear_rows = table["type"] == "linear"
        table.loc[linear_rows, "importance"] = [
            abs(c) * np.std(X[:, list(names).index(r)])
            for c, r in zip(table.loc[linear_rows, "coef"], table.loc[linear_rows, "rule"],
                            strict=True)
        ]
        return table.sort_values("importance", ascending=False, ignore_index=True)

    def _fit_estimator(self, X, targets):
        estimator = clone(self.surrogate)
        if self.response == "label" and not is_classifier(estimator):
            raise ValueError('response="label" needs a classifier surrogate.')
        if self.response == "score" and is_classifier(estimator):
            raise ValueError('response="score" needs a regressor surrogate.')
        estimator.fit(X, targets)
        names = list(map(str, self._feature_names_out()))
        tree = getattr(estimator, "tree_", None)
        if tree is not None:
            return (estimator, int(estimator.get_n_leaves()),
                    self._leaf_table(estimator, X, targets),
                    export_text(estimator, feature_names=names, decimals=3, max_depth=64))
        coef = getattr(estimator, "coef_", None)
        if coef is not None:
            coef = np.atleast_2d(coef)
            table = pd.DataFrame(coef.T, index=pd.Index(names, name="feature"))
            return estimator, int(np.count_nonzero(coef)), table, table.to_string()
        return estimator, None, pd.DataFrame(), repr(estimator)

    # --- results ---------------------------------------------------------------------------

    def explain(self, X=None, target=None):
        """The surrogate's global feature importance, fidelity, complexity and readable form.

        Parameters
        ----------
        X : None
            A surrogate explains the model as a whole; passing instances is an error (the
            surrogate's own predictions are ``surrogate_.predict(X)``).
        target : None
            The surrogate mimics every output at once: None (every class) is the only value.

        Returns
        -------
        explanation : ModelExplanation
            Axes ("feature",): ``values`` of shape (n_features,), how much the surrogate uses
            each feature (impurity importance of a tree, summed ``|coef|`` of a linear model,
            summed importance of the rules and linear terms that mention the feature, else
            the permutation importance on the held-out rows); ``labels["feature"]`` the
            feature names. ``info`` holds ``fidelity``, ``train_fidelity``, ``complexity``,
            ``text`` (the readable form), ``table`` (the same as data), ``surrogate`` and
            ``output``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the explainer is not fitted.
        ValueError
            If X or a target is given.
        """
        check_is_fitted(self, "surrogate_")
        if X is not None:
            raise ValueError(
                "A surrogate explains the model as a whole: call explain() without X (the "
                "surrogate's own predictions are surrogate_.predict(X))."
            )
        if target is not None:
            raise ValueError(
                "A global surrogate mimics every output of the model at once: target must be "
                f"None, got {target!r}."
            )
        info = {
            "method": "global_surrogate", "fidelity": self.fidelity_,
            "train_fidelity": self.train_fidelity_, "complexity": self.complexity_,
            "text": self.text_, "table": self.table_.copy(),
            "surrogate": self.surrogate if isinstance(self.surrogate, str) else
            type(self.surrogate).__name__,
            "output": self.model_adapter_.describe(),
        }
        names = self._feature_names_out()
        return ModelExplanation(
            self._importance(), ("feature",), labels={"feature": np.asarray(names)},
            units="surrogate feature importance", info=info,
        )

    def _importance(self):
        names = self._feature_names_out()
        surrogate = self.surrogate_
        if hasattr(surrogate, "steps"):  # the scaled linear model
            surrogate = surrogate[-1]
        if isinstance(self.surrogate, str) and self.surrogate == "rules":
            return _rule_importance(self.table_, names)
        if hasattr(surrogate, "feature_importances_"):
            return np.asarray(surrogate.feature_importances_, dtype=np.float64)
        if hasattr(surrogate, "coef_"):
            return np.abs(np.atleast_2d(surrogate.coef_)).sum(axis=0)
        X_test, t_test = self._held_out
        result = permutation_importance(
            _Predictor(self._predict), X_test, t_test,
            scoring=lambda est, X, t: self._fidelity_of(est.predict(X), t),
            random_state=self.random_state,
        )
        return result.importances_mean

    def _fidelity_of(self, prediction, targets):
        if self.response == "label":
            return accuracy_score(targets, prediction)
        return r2_score(targets, prediction)

    def score(self, X, y=None, scoring=None):
        """Fidelity of the surrogate to the model on X (held-out data, higher is better).

        Unlike a local explainer's ``score`` (faithfulness of attributions), a surrogate is
        scored by how well it mimics the model.

        Parameters
        ----------
        X : array-like, sparse matrix or DataFrame of shape (n_samples, n_features)
        y : None
            Ignored: fidelity is measured against the model, not true labels.
        scoring : None or "fidelity", default=None
            The only metric of a surrogate is its fidelity; accepted for the common
            ``score(X, y, scoring)`` signature.

        Returns
        -------
        fidelity : float
            Agreement of the labels (``response="label"``) or R² of the scores.

        Raises
        ------
        ValueError
            If ``scoring`` is another metric, or X does not match the data of ``fit``.
        """
        if scoring not in (None, "fidelity"):
            raise ValueError(
                f"A surrogate is scored by its fidelity to the model; scoring={scoring!r} is "
                "not available (use None or 'fidelity')."
            )
        X = self._check_explain_input(X)
        return self._fidelity(X, self._targets(self._scores(X)))


class _Predictor:
    """A fitted-looking object with the surrogate's predict, for permutation_importance."""

    def __init__(self, predict):
        self.predict = predict

    def fit(self, X, y=None):
        return self


class _BinaryRuleFit:
    """One RuleFit classifier on 1[label == classes[1]], predicting the labels."""

    def __init__(self, rulefit, classes):
        self.rulefit, self.classes_ = rulefit, classes

    def predict(self, X):
        return self.classes_[(self.rulefit._predict_continuous_output(X) > 0.5).astype(int)]


class _StackedRuleFit:
    """One RuleFit regressor per output, predicting all outputs."""

    def __init__(self, models):
        self.models = models

    def predict(self, X):
        return np.column_stack([m.predict(X) for m in self.models])


def _fit_rulefit(X, y, regression, max_rules, seed):
    from imodels import RuleFitClassifier, RuleFitRegressor

    rule_class = RuleFitRegressor if regression else RuleFitClassifier
    with warnings.catch_warnings():
        # imodels still passes penalty= to LogisticRegression, deprecated in sklearn 1.8.
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", message="Inconsistent values: penalty")
        warnings.simplefilter("ignore", ConvergenceWarning)
        return rule_class(max_rules=max_rules, random_state=seed).fit(X, y)


def _leaf_paths(tree):
    """(leaf id, [(feature, "<=" or ">", threshold), ...]) for every leaf of a sklearn tree."""
    stack = [(0, [])]
    while stack:
        node, conditions = stack.pop()
        left, right = tree.children_left[node], tree.children_right[node]
        if left == right:
            yield node, _merge(conditions)
            continue
        feature, threshold = int(tree.feature[node]), float(tree.threshold[node])
        stack.append((right, conditions + [(feature, ">", threshold)]))
        stack.append((left, conditions + [(feature, "<=", threshold)]))


def _merge(conditions):
    """Keep the tightest bound per feature and direction, in first-appearance order."""
    merged = {}
    for feature, op, value in conditions:
        key = (feature, "<=" if op.startswith("<") else ">")
        if key not in merged:
            merged[key] = value
        elif key[1] == "<=":
            merged[key] = min(merged[key], value)
        else:
            merged[key] = max(merged[key], value)
    return [(feature, op, value) for (feature, op), value in merged.items()]


def _covered(X, conditions):
    mask = np.ones(len(X), dtype=bool)
    for feature, op, value in conditions:
        column = X[:, feature]
        mask &= {"<=": column <= value, "<": column < value, ">": column > value,
                 ">=": column >= value}[op]
    return mask


def _format_rule(conditions, names):
    if not conditions:
        return "(all)"
    return " and ".join(f"{names[f]} {op} {value:.4g}" for f, op, value in conditions)


def _rule_text(table, labels):
    lines = []
    for output, rows in table.groupby("output", sort=False):
        lines.append(f"{output}:")
        for _, row in rows.iterrows():
            precision = "" if np.isnan(row["precision"]) else f", precision {row['precision']:.2f}"
            lines.append(f"  {row['coef']:+.3g}  IF {row['rule']}  (support "
                         f"{row['support']:.2f}{precision})")
    return "\n".join(lines) if lines else "(no rules)"


def _rule_importance(table, names):
    index = {str(name): j for j, name in enumerate(names)}
    importance = np.zeros(len(names))
    for features, value in zip(table["features"], table["importance"], strict=True):
        for name in features:
            importance[index[name]] += value
    return importance


GlobalSurrogate.__doc__ = GlobalSurrogate.__doc__.replace("__OUTPUT_DOC__", OUTPUT_DOC).replace(
    "__BATCH_SIZE_DOC__", BATCH_SIZE_DOC)
