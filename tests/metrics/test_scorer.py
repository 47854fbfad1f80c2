import pickle

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from skexplain.explainers import SensX
from skexplain.metrics import (
    deletion_auc,
    get_explanation_scorer,
    get_explanation_scorer_names,
    insertion_auc,
    make_explanation_scorer,
)

from .conftest import linear


def test_every_named_scorer_runs_and_has_the_right_sign(planted):
    X, y, model, confident = planted
    explainer = SensX(model, n_walks=5, delta=0.5, random_state=0).fit(X)
    kwargs = {
        "neg_topk_perturbation_auc": {"n_perturbations": 20, "n_steps": 4},
        "neg_max_sensitivity": {"n_perturbations": 2},
        "model_randomization": {"random_state": 0},
    }
    scores = {
        name: get_explanation_scorer(name, **kwargs.get(name, {}))(explainer, confident[:3])
        for name in get_explanation_scorer_names()
    }
    assert all(np.isfinite(list(scores.values())))
    for name, value in scores.items():
        if name.startswith("neg_"):
            assert value <= 0, name
    assert scores["model_randomization"] > 0.5


def test_score_with_scoring_equals_the_scorer_and_the_metric(planted):
    X, _, model, confident = planted
    explainer = SensX(model, n_walks=5, delta=0.5, random_state=0).fit(X)
    E = explainer.explain(confident)
    direct = insertion_auc(explainer.score_function_, confident, E.values,
                           E.info["target"], explainer.baseline_)
    assert explainer.score(confident, scoring="insertion_auc") == pytest.approx(direct)
    scorer = make_explanation_scorer(deletion_auc, greater_is_better=False, n_steps=5)
    expected = -deletion_auc(explainer.score_function_, confident, E.values, E.info["target"],
                             explainer.baseline_, n_steps=5)
    assert explainer.score(confident, scoring=scorer) == pytest.approx(expected)
    assert pickle.loads(pickle.dumps(scorer))(explainer, confident) == pytest.approx(expected)
    assert explainer.score(confident) == explainer.score(confident, scoring="deletion_score")


def test_grid_search_tunes_sensx_by_faithfulness():
    # Feature 1 acts through a steep step at 0.5, flat elsewhere: a walk box of delta=0.01
    # sees only feature 0's gradient, one of delta=0.5 crosses the step. Every faithfulness
    # scorer must prefer the large box and more walks.
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(60, 6))

    def model(X):
        step = 1 / (1 + np.exp(-40 * (X[:, 1] - 0.5)))
        return 1 / (1 + np.exp(-(2 * X[:, 0] + 10 * step - 5)))

    scoring = {
        "insertion": get_explanation_scorer("insertion_auc", n_steps=6),
        "deletion": get_explanation_scorer("neg_deletion_auc", n_steps=6),
        "topk": get_explanation_scorer("neg_topk_perturbation_auc", n_steps=6,
                                       n_perturbations=50),
        "default": get_explanation_scorer("deletion_score"),
    }
    explainer = SensX(model, random_state=0)
    search = GridSearchCV(explainer, {"n_walks": [1, 8], "delta": [0.01, 0.5]}, cv=2,
                          scoring=scoring, refit="insertion").fit(X)
    assert search.best_params_ == {"delta": 0.5, "n_walks": 8}
    for name in scoring:
        assert search.cv_results_[f"rank_test_{name}"].tolist() == [4, 3, 2, 1], name
    assert search.best_estimator_.model is model


def test_unknown_names_and_misuse_raise():
    with pytest.raises(ValueError, match="Unknown explanation scorer 'faithfulness'"):
        get_explanation_scorer("faithfulness")
    with pytest.raises(ValueError, match="Keyword arguments"):
        get_explanation_scorer(lambda e, X, y=None: 0.0, n_steps=3)
    X = np.random.default_rng(0).normal(size=(10, 3))
    explainer = SensX(linear(np.ones(3)), n_walks=1, delta=0.5).fit(X)
    with pytest.raises(ValueError, match="Unknown explanation scorer"):
        explainer.score(X, scoring="accuracy")
