import numpy as np
import pytest
from sklearn.feature_selection import RFE, SelectFromModel
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import cross_val_score
from sklearn.neural_network import MLPClassifier
from sklearn.utils.estimator_checks import check_estimator

from skexplain.explainers import SensX
from skexplain.feature_selection import ExplainedEstimator


def sensx(**params):
    return SensX(**{"n_walks": 5, "delta": 0.5, "random_state": 0, **params})


@pytest.fixture(scope="module")
def planted():
    """12 features; the label is an XOR of features 3 and 7 (no linear importance)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1500, 12))
    y = (X[:, 3] * X[:, 7] > 0).astype(int)
    return X, y


def test_select_from_model_keeps_the_planted_pair_of_an_mlp(planted):
    X, y = planted
    mlp = MLPClassifier((32, 16), max_iter=800, random_state=0)
    model = ExplainedEstimator(mlp, sensx(), max_samples=40, random_state=0)
    selector = SelectFromModel(model, max_features=2, threshold=-np.inf).fit(X, y)
    assert selector.get_support(indices=True).tolist() == [3, 7]
    importances = selector.estimator_.feature_importances_
    assert importances[[3, 7]].min() > 3 * np.delete(importances, [3, 7]).max()


def test_rfe_refits_and_reexplains_on_each_feature_set(planted):
    X, y = planted
    mlp = MLPClassifier((32, 16), max_iter=800, random_state=0)
    model = ExplainedEstimator(mlp, sensx(), max_samples=40, random_state=0)
    rfe = RFE(model, n_features_to_select=2, step=4).fit(X, y)
    assert rfe.support_.nonzero()[0].tolist() == [3, 7]
    assert rfe.estimator_.n_features_in_ == 2
    assert rfe.estimator_.feature_importances_.shape == (2,)
    assert rfe.score(X, y) > 0.9


def test_predictions_and_tags_are_the_estimators(planted):
    X, y = planted
    model = ExplainedEstimator(LogisticRegression(), sensx(), max_samples=20,
                               random_state=0).fit(X, y)
    reference = LogisticRegression().fit(X, y)
    np.testing.assert_array_equal(model.predict(X), reference.predict(X))
    np.testing.assert_allclose(model.predict_proba(X), reference.predict_proba(X))
    assert model.classes_.tolist() == [0, 1]
    assert cross_val_score(model, X, y, cv=3).shape == (3,)  # a classifier: stratified folds
    assert not hasattr(ExplainedEstimator(Ridge(), sensx()), "predict_proba")


def test_sklearn_estimator_checks():
    model = ExplainedEstimator(LogisticRegression(), sensx(n_walks=2))
    failed = [r for r in check_estimator(model, on_fail=None) if r["status"] == "failed"]
    assert failed == []
