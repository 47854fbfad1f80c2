import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skexplain.explainers import SensX
from skexplain.metrics import model_randomization_test, seed_consistency


def test_sklearn_mlp_cascade_destroys_the_explanation(planted):
    X, _, model, confident = planted
    explainer = SensX(model, n_walks=20, delta=0.5, random_state=0)
    results = [model_randomization_test(explainer, confident, X_reference=X, metric="top_k",
                                        k=2, random_state=seed) for seed in range(3)]
    assert results[0]["randomized"].tolist() == [
        "coefs_[2]", "coefs_[2], coefs_[1]", "coefs_[2], coefs_[1], coefs_[0]"]
    repeated = seed_consistency(explainer.fit(X), confident, metric="top_k", k=2,
                                random_state=0)
    # The trained model's top pair (x3, x7) is stable across seeds; a fully random network
    # ranks whatever its random first layer weights most (chance level: 2 / 20 = 0.1).
    assert repeated > 0.9
    assert np.mean([result["similarity"].iloc[-1] for result in results]) < 0.3
    assert model.predict_proba(confident)[:, 1].min() > 0.95  # the trained model is untouched


def test_torch_cascade_goes_from_the_output_layer_down():
    # Layer 0 reads only features 3 and 7. Randomizing the output layer keeps that (the top
    # pair survives); randomizing layer 0 as well destroys it.
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(12, 8), torch.nn.Tanh(),
                                 torch.nn.Linear(8, 1), torch.nn.Sigmoid()).eval()
    with torch.no_grad():
        mask = torch.zeros(12)
        mask[[3, 7]] = 1.0
        module[0].weight.mul_(mask)
    original = module[0].weight.detach().clone()
    X = np.random.default_rng(0).normal(size=(100, 12))
    explainer = SensX(module, n_walks=10, delta=0.5, random_state=0)
    result = model_randomization_test(explainer, X[:6], X_reference=X, metric="top_k", k=2,
                                      random_state=0)
    assert result["randomized"].tolist() == ["2", "2, 0"]
    assert result["similarity"].iloc[0] == 1.0
    assert result["similarity"].iloc[1] < 0.5
    assert torch.equal(module[0].weight, original)


def test_label_randomization_for_other_estimators():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 20))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    explainer = SensX(model, n_walks=5, delta=0.5, random_state=0)
    with pytest.raises(ValueError, match="pass X_train and y_train"):
        model_randomization_test(explainer, X[:5])
    with pytest.raises(ValueError, match="Cascading randomization is not supported"):
        model_randomization_test(explainer, X[:5], method="cascading")
    result = model_randomization_test(explainer, X[:10], X_reference=X, X_train=X, y_train=y,
                                      metric="top_k", k=2, random_state=0)
    assert result["randomized"].tolist() == ["shuffled labels"]
    # The trained model's top pair is always (x0, x1); after refitting on shuffled labels,
    # keeping both by chance has probability 1 / 190.
    assert result["similarity"].iloc[0] < 1.0


def test_callables_cannot_be_randomized():
    X = np.ones((4, 2))
    explainer = SensX(lambda X: X.sum(axis=1), n_walks=1, delta=0.5)
    with pytest.raises(TypeError, match="Cannot randomize a function"):
        model_randomization_test(explainer, X, X_train=X, y_train=np.arange(4))
    with pytest.raises(ValueError, match="Unknown method"):
        model_randomization_test(explainer, X, method="weights")


def test_skorch_nets_are_randomized_through_their_module():
    from skorch import NeuralNetClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    module = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2),
                                 torch.nn.Softmax(dim=-1))
    net = NeuralNetClassifier(module, max_epochs=20, lr=0.5, train_split=None,
                              verbose=0).fit(X, y)
    before = [p.detach().clone() for p in net.module_.parameters()]
    explainer = SensX(net, n_walks=3, delta=0.5, random_state=0)
    result = model_randomization_test(explainer, X[:4], X_reference=X, random_state=0)
    assert result["randomized"].tolist() == ["2", "2, 0"]
    assert all(torch.equal(a, b) for a, b in zip(before, net.module_.parameters(),
                                                  strict=True))
