import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import check_estimator

from skexplain.datasets import make_l2x_synthetic
from skexplain.explainers import Occlusion, SensX
from skexplain.feature_selection import ExplanationSelector
from skexplain.preprocessing import SquashedScaler


def sensx(model=None, **params):
    return SensX(model, **{"n_walks": 5, "delta": 0.5, "random_state": 0, **params})


@pytest.fixture(scope="module")
def linear_data():
    """A regression with known coefficients: SensX's importance of x_j is exactly |w_j|."""
    rng = np.random.default_rng(0)
    w = np.array([0.5, -3.0, 0.0, 2.0, -0.1, 1.0])
    X = rng.normal(size=(200, 6))
    return X, X @ w, w


@pytest.fixture(scope="module")
def counts():
    """Sparse counts of 30 named genes; the label is carried by genes 4 and 17."""
    rng = np.random.default_rng(0)
    X = rng.poisson(0.3, size=(300, 30)).astype(float)
    y = (X[:, 4] + X[:, 17] > 0.5).astype(int)
    genes = [f"GENE{i}" for i in range(30)]
    return X, y, genes


def test_importances_equal_the_known_coefficients(linear_data):
    X, y, w = linear_data
    model = LinearRegression().fit(X, y)
    selector = ExplanationSelector(sensx(model), n_features_to_select=3).fit(X)
    np.testing.assert_allclose(selector.feature_importances_, np.abs(w), atol=1e-9)
    assert selector.get_support(indices=True).tolist() == [1, 3, 5]
    assert selector.ranking_.tolist() == [4, 1, 6, 2, 5, 3]
    assert selector.transform(X).shape == (200, 3)
    np.testing.assert_array_equal(selector.transform(X), X[:, [1, 3, 5]])


def test_threshold_fraction_and_default(linear_data):
    X, y, w = linear_data
    model = LinearRegression().fit(X, y)
    mean = np.abs(w).mean()  # 1.1: features 1 and 3 are above
    assert ExplanationSelector(sensx(model), threshold="mean").fit(X).get_support(
        indices=True).tolist() == [1, 3]
    assert ExplanationSelector(sensx(model), threshold="0.5*mean").fit(X).get_support(
        indices=True).tolist() == [1, 3, 5]
    assert ExplanationSelector(sensx(model), threshold=mean, n_features_to_select=1).fit(
        X).get_support(indices=True).tolist() == [1]
    assert ExplanationSelector(sensx(model), n_features_to_select=0.5).fit(X).n_features_ == 3
    assert ExplanationSelector(sensx(model)).fit(X).n_features_ == 3  # half by default


def test_feature_scale_turns_sensitivities_into_effects_over_the_spread():
    # x1 is steep but barely varies; x0 is flat but spread widely: |w| * std ranks x0 first.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3)) * np.array([10.0, 0.01, 1.0])
    w = np.array([0.5, 20.0, 1.0])
    model = LinearRegression().fit(X, X @ w)
    selector = ExplanationSelector(sensx(model), feature_scale="std", n_features_to_select=1)
    selector.fit(X)
    np.testing.assert_allclose(selector.feature_importances_, w * X.std(axis=0), rtol=1e-9)
    assert selector.get_support(indices=True).tolist() == [0]
    ranged = clone(selector).set_params(feature_scale="range").fit(sp.csr_matrix(X))
    np.testing.assert_allclose(ranged.feature_importances_, w * np.ptp(X, axis=0), rtol=1e-9)
    unscaled = clone(selector).set_params(feature_scale=None).fit(X)
    assert unscaled.get_support(indices=True).tolist() == [1]


def test_planted_features_of_a_nonlinear_task_are_selected():
    X, y, _ = make_l2x_synthetic("orange_skin", n_samples=2000, random_state=0)
    selector = ExplanationSelector(
        sensx(n_walks=10), estimator=MLPClassifier((32,), max_iter=500, random_state=0),
        n_features_to_select=4, max_samples=60, random_state=0,
    ).fit(X, y)
    assert selector.get_support(indices=True).tolist() == [0, 1, 2, 3]
    assert selector.explained_indices_.shape == (60,)
    expected = 60 * np.bincount(y) / len(y)  # a stratified subsample
    assert np.all(np.abs(np.bincount(y[selector.explained_indices_]) - expected) <= 1)


def test_identical_for_any_n_jobs(counts):
    X, y, _ = counts
    results = [
        ExplanationSelector(sensx(n_jobs=n_jobs, n_walks=8, delta="auto",
                                  n_profile_samples=50),
                            estimator=LogisticRegression(), max_samples=40,
                            random_state=0).fit(X, y).feature_importances_
        for n_jobs in (1, 2)
    ]
    np.testing.assert_array_equal(results[0], results[1])


def test_sparse_input_stays_sparse_and_matches_dense(counts):
    X, y, _ = counts
    selector = ExplanationSelector(sensx(), estimator=LogisticRegression(),
                                   n_features_to_select=2, random_state=0)
    sparse = clone(selector).fit(sp.csr_matrix(X), y)
    dense = clone(selector).fit(X, y)
    out = sparse.transform(sp.csr_matrix(X))
    assert sp.issparse(out) and out.shape == (300, 2)
    np.testing.assert_array_equal(out.toarray(), dense.transform(X))
    np.testing.assert_allclose(sparse.feature_importances_, dense.feature_importances_)
    assert sparse.get_support(indices=True).tolist() == [4, 17]


def test_gene_names_flow_through_a_pipeline(counts):
    X, y, genes = counts
    frame = pd.DataFrame(X, columns=genes)
    pipe = Pipeline([
        ("scale", SquashedScaler()),
        ("select", ExplanationSelector(sensx(), estimator=LogisticRegression(),
                                       n_features_to_select=2, random_state=0)),
        ("classify", LogisticRegression()),
    ]).fit(frame, y)
    assert pipe[:-1].get_feature_names_out().tolist() == ["GENE4", "GENE17"]
    assert pipe.score(frame, y) > 0.95
    # On its own, fitted on a DataFrame, the selector returns names as well.
    selector = ExplanationSelector(sensx(), estimator=LogisticRegression(),
                                   n_features_to_select=2, random_state=0).fit(frame, y)
    assert selector.get_feature_names_out().tolist() == ["GENE4", "GENE17"]
    assert selector.set_output(transform="pandas").transform(frame).columns.tolist() == [
        "GENE4", "GENE17"]


def test_grid_search_over_the_number_of_features_explains_once_per_fold(counts, tmp_path):
    X, y, _ = counts
    pipe = Pipeline([
        ("select", ExplanationSelector(sensx(), estimator=LogisticRegression(),
                                       memory=str(tmp_path), random_state=0)),
        ("classify", LogisticRegression()),
    ])
    search = GridSearchCV(pipe, {"select__n_features_to_select": [1, 2, 10]}, cv=3).fit(X, y)
    assert search.best_params_["select__n_features_to_select"] in (2, 10)
    assert search.cv_results_["mean_test_score"][0] < search.cv_results_["mean_test_score"][1]
    cached = [p for p in Path(tmp_path).rglob("output.pkl")]
    assert len(cached) == 4  # three training folds and the final refit, not 3 x 3 + 1


def test_the_selector_sees_only_the_training_fold(counts):
    # Inside cross-validation, the fitted model and the explanations come from the fold.
    X, y, _ = counts
    selector = ExplanationSelector(sensx(), estimator=LogisticRegression(),
                                   n_features_to_select=2, random_state=0)
    fitted = clone(selector).fit(X[:150], y[:150])
    assert fitted.explained_indices_.max() < 150
    reference = LogisticRegression().fit(X[:150], y[:150])
    np.testing.assert_allclose(fitted.estimator_.coef_, reference.coef_)
    np.testing.assert_allclose(fitted.explainer_.upper_, X[:150].max(axis=0))


def test_per_class_importances_rank_each_class_own_feature():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 6))
    y = np.array(["a", "b", "c"])[np.argmax(3 * X[:, :3], axis=1)]
    selector = ExplanationSelector(sensx(), estimator=LogisticRegression(), per_class=True,
                                   n_features_to_select=3, max_samples=90,
                                   random_state=0).fit(X, y)
    assert selector.classes_.tolist() == ["a", "b", "c"]
    assert selector.class_importances_.argmax(axis=1).tolist() == [0, 1, 2]
    assert selector.get_support(indices=True).tolist() == [0, 1, 2]


def test_auto_keeps_the_median_optimal_subset():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(400, 8))
    y = (X[:, 2] > 0).astype(int)
    model = LogisticRegression(C=100.0).fit(X, y)
    selector = ExplanationSelector(sensx(model), n_features_to_select="auto", max_samples=20,
                                   random_state=0).fit(X)
    assert selector.subset_sizes_.shape == (20,)
    assert np.nanmedian(selector.subset_sizes_) == 1.0
    assert selector.get_support(indices=True).tolist() == [2]


def test_clone_and_pickle(counts):
    X, y, _ = counts
    selector = ExplanationSelector(sensx(), estimator=LogisticRegression(),
                                   n_features_to_select=2, random_state=0)
    assert clone(selector).get_params()["n_features_to_select"] == 2
    fitted = clone(selector).fit(X, y)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.transform(X), fitted.transform(X))
    assert selector.explainer.model is None  # the user's explainer is left alone


def test_sklearn_estimator_checks():
    selector = ExplanationSelector(sensx(n_walks=2), estimator=LogisticRegression())
    failed = [r for r in check_estimator(selector, on_fail=None) if r["status"] == "failed"]
    assert failed == []


def test_errors_name_the_problem(linear_data, counts):
    X, y, w = linear_data
    model = LinearRegression().fit(X, y)
    with pytest.raises(ValueError, match="given twice"):
        ExplanationSelector(sensx(model), estimator=LinearRegression()).fit(X, y)
    with pytest.raises(ValueError, match="Nothing to explain"):
        ExplanationSelector(sensx()).fit(X, y)
    with pytest.raises(ValueError, match="expects 6 features but X has 4"):
        ExplanationSelector(sensx(model)).fit(X[:, :4])
    with pytest.raises(ValueError, match="exceeds the number of features of X: 6 feature"):
        ExplanationSelector(sensx(model), n_features_to_select=7).fit(X)
    with pytest.raises(ValueError, match="requires y"):
        ExplanationSelector(sensx(model), per_class=True).fit(X)
    with pytest.raises(ValueError, match="Unknown threshold"):
        ExplanationSelector(sensx(model), threshold="mode").fit(X)
    grouped = SensX(model, n_walks=2, delta=0.5, feature_groups=[0, 0, 1, 1, 2, 2])
    with pytest.raises(ValueError, match="one value per feature"):
        ExplanationSelector(grouped).fit(X)
    with pytest.raises(ValueError, match="not among the model's classes"):
        Xc, yc, _ = counts
        classifier = LogisticRegression().fit(Xc, yc)
        ExplanationSelector(sensx(classifier), per_class=True).fit(Xc, yc + 5)


def test_an_explainer_without_a_model_explains_the_fitted_estimator(linear_data):
    X, y, w = linear_data
    explainer = Occlusion(baseline="zeros")  # no model: the selector gives it estimator_
    selector = ExplanationSelector(explainer, estimator=LinearRegression(),
                                   n_features_to_select=3).fit(X, y)
    assert explainer.model is None
    assert selector.explainer_.model is selector.estimator_
    # Occlusion with a zero baseline of a linear model: |w_j x_j| (the intercept is ~0).
    np.testing.assert_allclose(selector.feature_importances_, np.abs(X * w).mean(axis=0),
                               rtol=1e-6, atol=1e-9)
    assert selector.get_support(indices=True).tolist() == [1, 3, 5]
