"""sklearn's generic estimator checks that apply to explainers (they have no predict)."""

import numpy as np
import pytest
from sklearn.utils.estimator_checks import (
    check_dont_overwrite_parameters,
    check_get_params_invariance,
    check_n_features_in,
    check_no_attributes_set_in_init,
    check_set_params,
)

from skexplain.explainers import (
    Anchors,
    GlobalSurrogate,
    KernelShap,
    Lime,
    Occlusion,
    SensX,
)


def _linear_model(X):
    return X.reshape(len(X), -1).sum(axis=1)


def _explainers():
    return [
        SensX(_linear_model, n_walks=2, n_profile_samples=10),
        Occlusion(_linear_model, window=2),
        Lime(_linear_model, n_samples=20),
        KernelShap(_linear_model, n_background=3, n_samples=10),
        Anchors(_linear_model, max_anchor_size=2),
    ]


def _model_level_explainers():
    return [GlobalSurrogate(_linear_model, response="score")]


CHECKS = [
    check_no_attributes_set_in_init,
    check_get_params_invariance,
    check_set_params,
    check_dont_overwrite_parameters,
    check_n_features_in,
]


@pytest.mark.parametrize("explainer", _explainers() + _model_level_explainers(),
                         ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_sklearn_checks(explainer, check):
    check(type(explainer).__name__, explainer)


@pytest.mark.parametrize("explainer", _explainers(), ids=lambda e: type(e).__name__)
def test_input_is_not_modified(explainer):
    X = np.random.default_rng(0).normal(size=(20, 5))
    original = X.copy()
    explainer.fit(X).explain(X[:2])
    explainer.score(X[:2])
    np.testing.assert_array_equal(X, original)


@pytest.mark.parametrize("explainer", _model_level_explainers(), ids=lambda e: type(e).__name__)
def test_model_level_input_is_not_modified(explainer):
    X = np.random.default_rng(0).normal(size=(20, 5))
    original = X.copy()
    explainer.fit(X).explain()
    explainer.score(X)
    np.testing.assert_array_equal(X, original)
