import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skexplain.feature_selection import sparsity_path
from skexplain.feature_selection._sparsity_path import l1_logistic_regression

INFORMATIVE = ["g3", "g8", "g12", "g20"]


@pytest.fixture(scope="module")
def sparse_problem():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(300, 30)), columns=[f"g{j}" for j in range(30)])
    logit = 2 * X["g3"] - 2 * X["g8"] + 1.5 * X["g12"] + X["g20"]
    y = np.where(logit + rng.logistic(size=300) * 0.5 > 0, "a", "b")
    return X, y


@pytest.fixture(scope="module")
def path(sparse_problem):
    X, y = sparse_problem
    return sparsity_path(X, y, Cs=np.logspace(-3, 0, 8), cv=3, random_state=0)


def test_counts_the_non_zero_coefficients_of_the_refitted_model(sparse_problem, path):
    X, y = sparse_problem
    row = path.iloc[4]
    model = make_pipeline(StandardScaler(), l1_logistic_regression(
        row["C"], max_iter=2000, random_state=0)).fit(X, y)
    coef = model[-1].coef_
    assert row["n_features"] == np.count_nonzero(np.any(coef != 0, axis=0))
    assert row["n_coefficients"] == np.count_nonzero(coef)  # binary: one row of coefficients
    assert set(row["features"]) == set(X.columns[np.any(coef != 0, axis=0)])
    assert path["n_features"].tolist() == [len(f) for f in path["features"]]


def test_path_grows_from_no_features_to_the_informative_ones(path):
    assert path["C"].is_monotonic_increasing
    assert path["n_features"].iloc[0] == 0
    assert path["score"].iloc[0] == pytest.approx(0.5, abs=0.1)  # majority class only
    assert spearmanr(path["C"], path["n_features"])[0] > 0.9
    assert np.all(np.diff(path["n_features"]) >= -1)
    # Somewhere on the path the model uses exactly the informative features, and then scores
    # within 0.05 of the best score on the path.
    exact = path[[set(f) == set(INFORMATIVE) for f in path["features"]]]
    assert len(exact) and exact["score"].max() >= path["score"].max() - 0.05
    # Features enter strongest first.
    first = path.loc[path["n_features"] > 0, "features"].iloc[0]
    assert set(first) <= {"g3", "g8"}


def test_invalid_cs():
    X, y = np.random.default_rng(0).normal(size=(20, 3)), np.arange(20) % 2
    for Cs in ([], [0.1, -1.0], [np.inf]):
        with pytest.raises(ValueError, match="Cs must be positive"):
            sparsity_path(X, y, Cs)
