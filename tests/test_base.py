import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.svm import LinearSVC
from skorch import NeuralNetClassifier

from skexplain import Explanation
from skexplain._core.model import ModelAdapter as ScoreFunction
from skexplain.explainers import SensX


@pytest.fixture(scope="module")
def three_class_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = np.array(["a", "b", "c"])[np.argmax(X[:, :3], axis=1)]
    return X, y


def test_explanation_views():
    values = np.array([[0.1, -2.0, 0.5], [3.0, 0.0, -0.2]])
    E = Explanation(values, data=np.ones((2, 3)), feature_names=["a", "b", "c"])
    assert E.top_features(2).values.tolist() == [["b", "c"], ["a", "c"]]
    frame = E.to_frame()
    assert list(frame.columns) == ["sample", "feature", "value", "data"]
    assert frame.loc[(frame["sample"] == 1) & (frame["feature"] == "a"), "value"].item() == 3.0
    assert len(E) == 2
    restored = pickle.loads(pickle.dumps(E))
    np.testing.assert_array_equal(restored.values, values)
    assert restored.feature_names.tolist() == ["a", "b", "c"]


def test_explanation_rejects_bad_names_and_k():
    with pytest.raises(ValueError, match="2 feature names given for 3 features"):
        Explanation(np.zeros((1, 3)), feature_names=["a", "b"])
    with pytest.raises(ValueError, match="k must be"):
        Explanation(np.zeros((1, 3))).top_features(4)


def test_score_function_uses_predict_proba_and_class_labels(three_class_data):
    X, y = three_class_data
    model = LogisticRegression().fit(X, y)
    f = ScoreFunction(model, (4,))
    np.testing.assert_allclose(f(X[:5]), model.predict_proba(X[:5]))
    assert f.output_names.tolist() == ["a", "b", "c"]
    scores = f(X[:3])
    assert f.resolve_target("c", scores).tolist() == [2, 2, 2]
    assert f.resolve_target(1, scores).tolist() == [1, 1, 1]
    assert f.resolve_target(None, scores).tolist() == np.argmax(scores, 1).tolist()
    assert f.resolve_target(["a", "b", "c"], scores).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="out of range"):
        f.resolve_target(3, scores)
    with pytest.raises(ValueError, match="Unknown target 'd'"):
        f.resolve_target("d", scores)
    with pytest.raises(ValueError, match="one target per instance"):
        f.resolve_target([0, 1], scores)


def test_score_function_decision_function_and_predict():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(100, 3))
    y = (X[:, 0] > 0).astype(int)
    svm_model = LinearSVC().fit(X, y)
    svm = ScoreFunction(svm_model, (3,))
    # Changed with the model adapter: the old ScoreFunction gave a binary decision_function as
    # one column named 1; the one "logit" rule gives two columns (-s, s), named by the classes,
    # as for a binary net with one logit z -> (-z, z).
    s = svm_model.decision_function(X[:4])
    np.testing.assert_allclose(svm(X[:4]), np.stack([-s, s], axis=1))
    assert svm.output_names.tolist() == [0, 1] and svm.resolved_output == "logit"
    reg_model = LinearRegression().fit(X, X[:, 1])
    reg = ScoreFunction(reg_model, (3,))
    np.testing.assert_allclose(reg(X[:4])[:, 0], reg_model.predict(X[:4]))
    assert reg.output_names is None


def test_score_function_torch_skorch_and_callable():
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 2)).eval()
    X = np.random.default_rng(0).normal(size=(5, 2, 4))
    f = ScoreFunction(module, (2, 4))
    expected = module(torch.as_tensor(X, dtype=torch.float32)).detach().numpy()
    np.testing.assert_allclose(f(X.reshape(5, -1)), expected, rtol=1e-6)
    # Changed with the model adapter: a module in training mode is no longer warned about; it
    # is run in eval mode and gets its training mode back.
    np.testing.assert_allclose(ScoreFunction(module.train(), (2, 4))(X.reshape(5, -1)),
                               expected, rtol=1e-6)
    assert module.training

    net = NeuralNetClassifier(
        torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Softmax(dim=-1)), max_epochs=2,
        verbose=0,
    )
    Xt = np.random.default_rng(1).normal(size=(40, 3)).astype(np.float32)
    net.fit(Xt, (Xt[:, 0] > 0).astype(np.int64))
    np.testing.assert_allclose(ScoreFunction(net, (3,))(Xt[:3]), net.predict_proba(Xt[:3]),
                               rtol=1e-6)

    def callable_model(X):
        return X.sum(axis=1)

    assert ScoreFunction(callable_model, (3,))(np.ones((2, 3))).tolist() == [[3.0], [3.0]]
    with pytest.raises(TypeError, match="Cannot explain a str"):
        ScoreFunction("not a model", (3,))


def test_score_function_checks_output_shape():
    with pytest.raises(ValueError, match="returned scores of shape"):
        ScoreFunction(lambda X: np.zeros(len(X) + 1), (2,))(np.ones((3, 2)))


def test_explainer_input_validation(three_class_data):
    X, y = three_class_data
    explainer = SensX(LogisticRegression().fit(X, y), n_walks=2, delta=0.5)
    with pytest.raises(NotFittedError):
        explainer.explain(X[:2])
    explainer.fit(X)
    with pytest.raises(ValueError, match="feature shape"):
        explainer.explain(X[:2, :3])
    bad = X[:2].copy()
    bad[0, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        explainer.explain(bad)
    with pytest.raises(ValueError, match="1-D array"):
        explainer.explain(X[0])
    with pytest.raises(ValueError, match="n_walks"):
        SensX(explainer.model, n_walks=0).fit(X)


def test_dataframe_names_flow_through(three_class_data):
    X, y = three_class_data
    frame = pd.DataFrame(X, columns=["g1", "g2", "g3", "g4"])
    model = LogisticRegression().fit(frame, y)
    explainer = SensX(model, n_walks=5, delta=0.5, random_state=0).fit(frame)
    assert explainer.feature_names_in_.tolist() == ["g1", "g2", "g3", "g4"]
    E = explainer.explain(frame.iloc[:3], target="a")
    assert E.feature_names.tolist() == ["g1", "g2", "g3", "g4"]
    assert E.output_names.tolist() == ["a", "b", "c"]
    assert E.info["target"].tolist() == [0, 0, 0]
    np.testing.assert_allclose(E.base_values, model.predict_proba(frame.iloc[:3])[:, 0])
    with pytest.raises(ValueError, match="feature names"):
        explainer.explain(frame.iloc[:3].rename(columns={"g1": "other"}))
