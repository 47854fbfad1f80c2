import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from skexplain.explainers import Anchors
from skexplain.explainers._anchor import _kl_bernoulli, kl_lower_bound, kl_upper_bound


def _stratified_uniform(n, n_features, seed=0):
    """Columns that are permutations of an even grid on (0, 1): exact quantiles."""
    rng = np.random.default_rng(seed)
    grid = (np.arange(n) + 0.5) / n
    return np.column_stack([rng.permutation(grid) for _ in range(n_features)])


def _known_rule(X):
    """P(class 1) = 1[x0 > 0.5 and x3 > 0.2]."""
    positive = ((X[:, 0] > 0.5) & (X[:, 3] > 0.2)).astype(float)
    return np.column_stack([1 - positive, positive])


def _bounds(rules):
    return {(feature, op): value for feature, op, value in rules}


@pytest.fixture(scope="module")
def known_rule_explainer():
    X = _stratified_uniform(2000, 6)
    return Anchors(_known_rule, n_bins=10, random_state=0).fit(X)


def test_anchor_recovers_the_known_rule(known_rule_explainer):
    # Instances in the lowest bins that still satisfy the rule: the tightest anchor is the rule.
    x = np.array([[0.55, 0.5, 0.9, 0.25, 0.1, 0.5]])
    E = known_rule_explainer.explain(x)
    bounds = _bounds(E.info["rules"][0])
    assert set(bounds) == {("x0", ">"), ("x3", ">")}
    assert bounds[("x0", ">")] == pytest.approx(0.5, abs=1e-3)
    assert bounds[("x3", ">")] == pytest.approx(0.2, abs=1e-3)
    assert E.info["precision"][0] >= 0.95 and E.info["success"][0]
    assert E.info["coverage"][0] == pytest.approx(0.5 * 0.8, abs=0.01)
    assert set(E.info["anchor"][0].split(" and ")) == {"x0 > 0.5", "x3 > 0.2002"}
    # Only the rule's features get values, and they sum to precision - P(class 1).
    assert np.flatnonzero(E.values[0]).tolist() == [0, 3]
    assert E.values[0].sum() == pytest.approx(E.info["precision"][0] - 0.4, abs=0.1)


def test_anchor_of_negative_instances_is_the_broken_condition(known_rule_explainer):
    X = np.array([[0.45, 0.5, 0.5, 0.9, 0.5, 0.5], [0.9, 0.5, 0.5, 0.15, 0.5, 0.5]])
    E = known_rule_explainer.explain(X)
    assert E.info["target"].tolist() == [0, 0]
    assert _bounds(E.info["rules"][0]) == pytest.approx({("x0", "<="): 0.5}, abs=1e-3)
    assert _bounds(E.info["rules"][1]) == pytest.approx({("x3", "<="): 0.2}, abs=1e-3)
    assert E.info["coverage"].tolist() == pytest.approx([0.5, 0.2], abs=0.01)


def test_every_anchor_is_precise_and_implies_the_rule(known_rule_explainer):
    rng = np.random.default_rng(1)
    X = rng.uniform(0.55, 1.0, size=(8, 6))
    X[:, 3] = rng.uniform(0.25, 1.0, size=8)
    E = known_rule_explainer.explain(X)
    assert E.info["success"].all() and (E.info["precision"] >= 0.95).all()
    for rules in E.info["rules"]:
        bounds = _bounds(rules)
        assert bounds[("x0", ">")] >= 0.5 - 1e-3 and bounds[("x3", ">")] >= 0.2 - 1e-3


def test_paper_example_two_positive_halves():
    # The spec's test: f = 1[x1 > 0 and x2 > 0] on quartile bins of N(0, 1)-like data.
    from scipy.stats import norm

    X = norm.ppf(_stratified_uniform(1000, 3, seed=2))
    model = lambda X: ((X[:, 1] > 0) & (X[:, 2] > 0)).astype(int)  # noqa: E731
    E = Anchors(model, random_state=0).fit(X).explain(np.array([[1.5, 0.3, 0.2]]))
    assert _bounds(E.info["rules"][0]) == pytest.approx({("x1", ">"): 0, ("x2", ">"): 0},
                                                        abs=1e-2)
    assert E.info["coverage"][0] == pytest.approx(0.25, abs=0.02)


def test_empty_anchor_when_the_prediction_never_changes():
    X = _stratified_uniform(500, 3)
    E = Anchors(lambda X: np.zeros(len(X)), random_state=0).fit(X).explain(X[:2])
    assert E.info["anchor"] == ["(any)", "(any)"] and E.info["rules"] == [[], []]
    assert E.info["coverage"].tolist() == [1.0, 1.0] and (E.values == 0).all()


def test_n_jobs_does_not_change_the_result(known_rule_explainer):
    X = np.random.default_rng(3).uniform(size=(6, 6))
    one = known_rule_explainer.set_params(n_jobs=1).explain(X)
    two = known_rule_explainer.set_params(n_jobs=2).explain(X)
    known_rule_explainer.set_params(n_jobs=None)
    np.testing.assert_array_equal(one.values, two.values)
    assert one.info["anchor"] == two.info["anchor"]
    np.testing.assert_array_equal(one.info["n_model_rows"], two.info["n_model_rows"])


def test_names_from_dataframe_and_unfitted_error():
    X = pd.DataFrame(_stratified_uniform(800, 2), columns=["CD14", "LYZ"])
    explainer = Anchors(lambda X: (X[:, 0] > 0.5).astype(int), random_state=0)
    with pytest.raises(NotFittedError):
        explainer.explain(X)
    E = explainer.fit(X).explain(X.iloc[:1].assign(CD14=0.9))
    assert E.info["rules"][0] == [("CD14", ">", pytest.approx(0.5, abs=1e-3))]
    assert E.top_features(1).iloc[0, 0] == "CD14"


def test_kl_bounds_bracket_the_mean_at_the_requested_divergence():
    p = np.array([0.0, 0.3, 0.9, 1.0])
    level = np.full(4, 0.05)
    upper, lower = kl_upper_bound(p, level), kl_lower_bound(p, level)
    assert np.all(lower <= p) and np.all(p <= upper)
    inside = (upper < 1 - 1e-4)
    np.testing.assert_allclose(_kl_bernoulli(p, upper)[inside], 0.05, atol=1e-3)
    inside = (lower > 1e-4)
    np.testing.assert_allclose(_kl_bernoulli(p, lower)[inside], 0.05, atol=1e-3)


def test_anchor_features_restrict_the_rule(known_rule_explainer):
    X = known_rule_explainer.reference_
    x = np.array([[0.55, 0.5, 0.9, 0.25, 0.1, 0.5]])
    for selection in ([0, 1, 2], ["x0", "x1", "x2"], np.arange(6) < 3):
        explainer = Anchors(_known_rule, n_bins=10, anchor_features=selection,
                                    random_state=0).fit(X)
        E = explainer.explain(x)
        assert {feature for feature, _, _ in E.info["rules"][0]} <= {"x0", "x1", "x2"}
        assert not E.info["success"][0]  # x3 > 0.2 is needed for precision 0.95
        assert E.info["precision"][0] == pytest.approx(0.8, abs=0.1)
    with pytest.raises(ValueError, match="Unknown anchor_features"):
        Anchors(_known_rule, anchor_features=["x9"]).fit(X)
    with pytest.raises(ValueError, match="indices"):
        Anchors(_known_rule, anchor_features=[7]).fit(X)


def test_result_carries_the_rules_as_data(known_rule_explainer):
    from skexplain import Explanation
    from skexplain.explainers._anchor import AnchorExplanation

    X = np.array([[0.55, 0.5, 0.9, 0.25, 0.1, 0.5], [0.45, 0.5, 0.5, 0.9, 0.5, 0.5]])
    E = known_rule_explainer.explain(X)
    assert isinstance(E, AnchorExplanation) and isinstance(E, Explanation)
    assert E.axes == ("sample", "feature") and E.units == "precision gain"
    assert E.rules is E.info["rules"] and E.anchors == E.info["anchor"]
    np.testing.assert_array_equal(E.precision, E.info["precision"])
    np.testing.assert_array_equal(E.coverage, E.info["coverage"])
    # Selecting instances keeps their rules.
    second = E[1]
    assert isinstance(second, AnchorExplanation) and second.rules == [E.rules[1]]
    assert second.anchors == [E.anchors[1]] and second.coverage.tolist() == [E.coverage[1]]
    frame = E.rules_frame()
    assert frame["sample"].tolist() == [0, 0, 1]
    assert set(frame.loc[frame["sample"] == 0, "feature"]) == {"x0", "x3"}
    assert frame.loc[frame["sample"] == 1, ["feature", "op"]].values.tolist() == [["x0", "<="]]
    np.testing.assert_allclose(frame["coverage"], E.coverage[[0, 0, 1]])


def test_nan_scores_raise_instead_of_rules():
    X = _stratified_uniform(500, 3)
    X = X[np.argsort(X[:, 2])]  # fit scores the first row: a finite one

    def model(rows):  # NaN for the rows (10 % of X) whose last value exceeds 0.9
        positive = (rows[:, 0] > 0.5).astype(float)
        scores = np.column_stack([1 - positive, positive])
        scores[rows[:, 2] > 0.9] = np.nan
        return scores

    explainer = Anchors(model, random_state=0).fit(X)
    # The perturbations of a finite instance draw NaN rows: an error, not rules built on NaN.
    with pytest.raises(ValueError, match="NaN or infinite scores"):
        explainer.explain(X[:1])
    with pytest.raises(ValueError, match="NaN or infinite scores"):
        explainer.explain(X[-1:])  # the instance itself


def test_score_is_coverage_not_faithfulness(known_rule_explainer):
    X = np.array([[0.55, 0.5, 0.9, 0.25, 0.1, 0.5], [0.45, 0.5, 0.5, 0.9, 0.5, 0.5]])
    E = known_rule_explainer.explain(X)
    coverage = float(np.mean(E.coverage * E.success))
    assert known_rule_explainer.score(X) == pytest.approx(coverage)
    assert known_rule_explainer.score(X, scoring="coverage") == pytest.approx(coverage)
    assert known_rule_explainer.score(X, scoring="precision") == pytest.approx(
        E.precision.mean())
    assert known_rule_explainer.score(X, scoring=lambda e, X, y: len(X)) == 2.0
    with pytest.raises(ValueError, match="faithfulness metrics do not apply"):
        known_rule_explainer.score(X, scoring="deletion_score")


def test_batch_size_is_rows_per_model_call_and_keeps_the_result():
    calls = []

    def model(X):
        calls.append(len(X))
        return _known_rule(X)

    X = _stratified_uniform(500, 6)
    rows = np.random.default_rng(4).uniform(size=(2, 6))
    default = Anchors(model, n_bins=4, random_state=0).fit(X).explain(rows)
    pull_100 = Anchors(model, n_bins=4, n_samples_per_pull=100, random_state=0).fit(X)
    calls.clear()
    small = pull_100.set_params(batch_size=7).explain(rows)
    assert max(calls) <= 7
    for E in (small, pull_100.set_params(batch_size="auto").explain(rows)):
        np.testing.assert_array_equal(E.values, default.values)
        assert E.anchors == default.anchors
        np.testing.assert_array_equal(E.n_model_rows, default.n_model_rows)


def test_old_integer_batch_size_keeps_samples_per_pull_with_a_future_warning():
    X = _stratified_uniform(500, 6)
    rows = np.random.default_rng(4).uniform(size=(2, 6))
    new = Anchors(_known_rule, n_samples_per_pull=30, random_state=0).fit(X).explain(rows)
    old_explainer = Anchors(_known_rule, batch_size=30, random_state=0).fit(X)
    with pytest.warns(FutureWarning, match="n_samples_per_pull=30"):
        old = old_explainer.explain(rows)
    np.testing.assert_array_equal(old.values, new.values)
    np.testing.assert_array_equal(old.n_model_rows, new.n_model_rows)
