import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from skexplain.explainers import GlobalSurrogate


def _data(n=800, n_features=6, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, n_features))


def _rule_labels(X):
    return ((X[:, 0] > 0.5) & (X[:, 3] > 0.2)).astype(int)


@pytest.fixture(scope="module")
def shallow_tree():
    X = _data(seed=1)
    return DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, _rule_labels(X))


def test_tree_surrogate_of_a_shallow_tree_is_exact(shallow_tree):
    X = _data()
    explainer = GlobalSurrogate(shallow_tree, max_complexity=8, random_state=0).fit(X)
    assert explainer.fidelity_ == 1.0 and explainer.train_fidelity_ == 1.0
    assert explainer.complexity_ == shallow_tree.get_n_leaves() == 3
    table = explainer.table_
    assert (table["precision"] == 1.0).all()
    assert table["support"].sum() == pytest.approx(1.0)
    positive = table.loc[table["output"] == 1, "rule"].tolist()
    assert len(positive) == 1 and positive[0].startswith("x0 > 0.4") and " and x3 > 0.2" in \
        positive[0]
    assert "x0 <= 0.4" in explainer.text_ and "class: 1" in explainer.text_
    E = explainer.explain()
    assert E.values.shape == (6,) and np.flatnonzero(E.values).tolist() == [0, 3]
    assert E.axes == E.info["axes"] == ("feature",)
    assert list(E.labels["feature"]) == [f"x{j}" for j in range(6)]
    assert E.info["fidelity"] == 1.0 and E.info["complexity"] == 3
    assert E.info["text"] == explainer.text_ and E.info["table"].equals(explainer.table_)
    assert E.info["method"] == "global_surrogate" and E.info["output"] == "probability"


def test_fidelity_is_agreement_with_the_model_on_held_out_rows():
    X = _data(n=600)
    labels = (X[:, 0] + X[:, 1] ** 2 > 0.8).astype(int)
    model = LogisticRegression().fit(X, labels)  # misses the curvature: model != labels
    explainer = GlobalSurrogate(model, max_complexity=4, test_size=0.3, random_state=3)
    explainer.fit(X)
    _, X_test = train_test_split(X, test_size=0.3, random_state=3)
    expected = np.mean(explainer.surrogate_.predict(X_test) == model.predict(X_test))
    assert explainer.fidelity_ == pytest.approx(expected)
    X_new = _data(n=300, seed=9)
    fidelity = np.mean(explainer.surrogate_.predict(X_new) == model.predict(X_new))
    assert explainer.score(X_new) == pytest.approx(fidelity)
    assert explainer.score(X_new, scoring="fidelity") == pytest.approx(fidelity)
    with pytest.raises(ValueError, match="fidelity"):
        explainer.score(X_new, scoring="deletion_score")


def test_more_leaves_are_at_least_as_faithful():
    X = _data(n=1500)
    model = lambda X: np.sin(6 * X[:, 0]) + X[:, 1] > 0.5  # noqa: E731  (returns labels)
    fidelity = [GlobalSurrogate(model, max_complexity=k, random_state=0).fit(X).fidelity_
                for k in (2, 4, 16)]
    assert fidelity[0] < fidelity[2] and fidelity[2] > 0.9


def test_linear_surrogate_keeps_the_model_genes():
    X = _data(n=1000, n_features=20)
    w = np.zeros(20)
    w[[2, 7, 11]] = [4.0, -3.0, 2.0]
    scores = X @ w - w.sum() / 2
    model = LogisticRegression(C=100).fit(X, (scores > 0).astype(int))
    explainer = GlobalSurrogate(model, surrogate="linear", max_complexity=3,
                                   random_state=0).fit(X)
    assert explainer.complexity_ <= 3
    assert set(explainer.table_.index) == {"x2", "x7", "x11"}
    assert np.sign(explainer.table_[1].loc[["x2", "x7", "x11"]]).tolist() == [1, -1, 1]
    assert explainer.fidelity_ > 0.9
    assert "x2" in explainer.text_


def test_linear_surrogate_of_scores_recovers_a_linear_model():
    X = _data(n=500, n_features=8)
    w = np.array([0.0, 2.0, 0.0, -1.0, 0.0, 0.0, 0.5, 0.0])
    explainer = GlobalSurrogate(lambda X: X @ w, surrogate="linear", response="score",
                                   max_complexity=3, random_state=0).fit(X)
    assert explainer.fidelity_ > 0.99 and explainer.complexity_ == 3
    coef = explainer.table_[0] / X.std(axis=0)[[1, 3, 6]]  # per SD -> per unit
    np.testing.assert_allclose(coef.loc[["x1", "x3", "x6"]], [2.0, -1.0, 0.5], rtol=0.05)


def test_score_response_of_a_tree_is_r2(shallow_tree):
    X = _data()
    explainer = GlobalSurrogate(shallow_tree, response="score", random_state=0).fit(X)
    assert explainer.fidelity_ == pytest.approx(1.0)
    assert {"score_0", "score_1"} <= set(explainer.table_.columns)


def test_multiclass_labels_and_dataframe_names():
    X = pd.DataFrame(_data(n=900, n_features=4), columns=["CD14", "LYZ", "MS4A1", "GNLY"])
    label = np.select([X["CD14"] > 0.6, X["MS4A1"] > 0.5], ["monocyte", "B"], "NK")
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, label)
    explainer = GlobalSurrogate(model, max_complexity=3, random_state=0).fit(X)
    assert explainer.fidelity_ > 0.97
    assert set(explainer.classes_) == {"B", "NK", "monocyte"}
    rules = explainer.table_.set_index("output")["rule"]
    assert list(explainer.explain().labels["feature"]) == ["CD14", "LYZ", "MS4A1", "GNLY"]
    assert rules["monocyte"] == "CD14 > 0.6" or rules["monocyte"].startswith("CD14 > 0.60")


def test_custom_estimators_and_errors(shallow_tree):
    X = _data()
    explainer = GlobalSurrogate(shallow_tree, surrogate=DecisionTreeClassifier(max_depth=1),
                                   random_state=0).fit(X)
    assert explainer.complexity_ == 2 and explainer.fidelity_ < 1.0
    with pytest.raises(ValueError, match="max_complexity"):
        GlobalSurrogate(shallow_tree, surrogate=DecisionTreeClassifier(),
                           max_complexity=3).fit(X)
    with pytest.raises(ValueError, match="classifier"):
        GlobalSurrogate(shallow_tree, surrogate=LinearRegression()).fit(X)
    with pytest.raises(ValueError, match="regressor"):
        GlobalSurrogate(shallow_tree, surrogate=DecisionTreeClassifier(),
                           response="score").fit(X)
    with pytest.raises(ValueError, match="at least 2 leaves"):
        GlobalSurrogate(shallow_tree, max_complexity=1).fit(X)
    with pytest.raises(ValueError, match="single label"):
        GlobalSurrogate(lambda X: np.zeros(len(X))).fit(X)
    with pytest.raises(NotFittedError):
        GlobalSurrogate(shallow_tree).explain()
    with pytest.raises(ValueError, match="without X"):
        explainer.explain(X)
    with pytest.raises(ValueError, match="target must be None"):
        explainer.explain(target=1)
    # Without feature_importances_ or coef_, importance is the held-out fidelity lost when a
    # feature is permuted.
    neighbours = GlobalSurrogate(shallow_tree, surrogate=KNeighborsClassifier(),
                                    random_state=0).fit(X)
    assert neighbours.complexity_ is None and neighbours.fidelity_ > 0.85
    assert set(np.argsort(-neighbours.explain().values)[:2]) == {0, 3}
    regressor = GlobalSurrogate(shallow_tree, surrogate=DecisionTreeRegressor(max_depth=2),
                                   response="score", random_state=0).fit(X)
    assert regressor.fidelity_ == pytest.approx(1.0)


def test_rule_surrogate_finds_the_rule(shallow_tree):
    pytest.importorskip("imodels")
    X = _data(n=500)
    explainer = GlobalSurrogate(shallow_tree, surrogate="rules", random_state=0).fit(X)
    assert explainer.fidelity_ >= 0.95
    table = explainer.table_
    assert 1 <= explainer.complexity_ == len(table) <= 30
    top = table.iloc[0]
    assert set(top["features"]) <= {"x0", "x3"} and top["precision"] >= 0.95
    assert table["support"].between(0, 1).all()
    E = explainer.explain()
    assert set(np.argsort(-E.values)[:2]) == {0, 3}
    assert "IF " in explainer.text_
