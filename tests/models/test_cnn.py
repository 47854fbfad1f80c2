import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from skexplain.models import (
    ACTIVATIONS,
    ARCHITECTURES,
    ExpActivationCNN,
    ExpActivationCNNClassifier,
    Exponential,
)
from skexplain.preprocessing import OneHotSequenceEncoder

MOTIF = [2, 0, 3, 3, 0, 1, 0]  # GATTACA


def planted_task(n=800, length=100, seed=0):
    """Random DNA; class 1 carries GATTACA at a random position."""
    rng = np.random.default_rng(seed)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1).copy()
    y = np.arange(n) % 2
    for i in np.flatnonzero(y):
        start = rng.integers(0, length - len(MOTIF))
        X[i, :, start:start + len(MOTIF)] = np.eye(4, dtype=np.float32)[MOTIF].T
    return X, y


def small_net(**params):
    defaults = dict(architecture="cnn_local", max_epochs=8, verbose=0, random_state=0)
    return ExpActivationCNNClassifier(**{**defaults, **params})


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_named_architectures_map_200nt_to_outputs(architecture):
    net = ExpActivationCNN(n_outputs=12, input_length=200, architecture=architecture).eval()
    assert net(torch.zeros(3, 4, 200)).shape == (3, 12)
    assert isinstance(net.blocks[0].activation, Exponential)
    assert all(isinstance(b.activation, torch.nn.ReLU) for b in net.blocks[1:])
    assert net.blocks[0].conv.bias is None


def test_every_nonlinearity_is_its_own_module_used_once():
    # DeepLIFT / DeepSHAP rely on module hooks: each activation module must run exactly once.
    net = ExpActivationCNN(architecture="cnn_dist").eval()
    calls = {}
    nonlinear = tuple(a for a in ACTIVATIONS.values() if a is not torch.nn.Identity)
    for name, module in net.named_modules():
        if isinstance(module, nonlinear):
            module.register_forward_hook(lambda m, i, o, name=name: calls.update(
                {name: calls.get(name, 0) + 1}))
    net(torch.zeros(2, 4, 200))
    assert len(calls) == len(net.blocks) + 1 and set(calls.values()) == {1}


def test_models_register_their_deeplift_rule_and_default_layer():
    from skexplain.nn import deeplift_rule, default_layer, rescale_rule

    assert deeplift_rule(Exponential()) == (rescale_rule, True)
    for architecture in ("cnn2", "cnn_deep"):
        net = ExpActivationCNN(architecture=architecture)
        name = default_layer(net)
        assert name == f"blocks.{len(net.blocks) - 1}.activation"
        assert net.get_submodule(name) is net.blocks[-1].activation
    # Every nonlinearity of the CNN has an exact DeepLIFT rule.
    net = ExpActivationCNN(architecture="cnn_dist")
    nonlinear = [m for m in net.modules() if isinstance(m, (Exponential, torch.nn.ReLU,
                                                           torch.nn.MaxPool1d))]
    assert nonlinear and all(deeplift_rule(m).exact and deeplift_rule(m).hook is not None
                             for m in nonlinear)


def test_custom_blocks_and_bad_architectures():
    blocks = [{"filters": 8, "kernel_size": 5, "dropout": 0.0, "pool": 4}]
    net = ExpActivationCNN(input_length=40, architecture=blocks, dense_units=16).eval()
    assert net(torch.zeros(1, 4, 40)).shape == (1, 1)
    with pytest.raises(ValueError, match="architecture must be one of"):
        ExpActivationCNN(architecture="cnn3")
    with pytest.raises(ValueError, match="needs keys"):
        ExpActivationCNN(architecture=[{"filters": 8}])
    with pytest.raises(ValueError, match="too short"):
        ExpActivationCNN(input_length=20, architecture="cnn_deep")
    with pytest.raises(ValueError, match="first_activation"):
        ExpActivationCNN(first_activation="swish")


@pytest.fixture(scope="module")
def trained():
    X, y = planted_task(n=2000)
    return small_net(max_epochs=10).fit(X[:1600], y[:1600]), X[1600:], y[1600:]


def test_learns_a_planted_motif_reproducibly(trained):
    net, X_test, y_test = trained
    assert roc_auc_score(y_test, net.predict_proba(X_test)[:, 1]) > 0.95
    X, y = planted_task(n=2000)
    again = small_net(max_epochs=1).fit(X[:1600], y[:1600])
    same = small_net(max_epochs=1).fit(X[:1600], y[:1600])
    np.testing.assert_array_equal(again.predict_proba(X_test), same.predict_proba(X_test))
    assert net.first_layer_activations(X_test[:5]).shape == (5, 24, 100)
    assert (net.first_layer_activations(X_test[:5]) > 0).all()  # exponential output


def test_exponential_filter_peaks_on_the_planted_motif(trained):
    net, X_test, y_test = trained
    activations = net.first_layer_activations(X_test)
    best = activations.max(axis=2).mean(axis=0).argmax()  # the filter firing most strongly
    peaks = activations[y_test == 1, best].argmax(axis=1)
    positives = X_test[y_test == 1].argmax(axis=1)
    motif = "".join("ACGT"[i] for i in MOTIF)
    hits = [motif in "".join("ACGT"[i] for i in seq[max(p - 12, 0):p + 12])
            for seq, p in zip(positives, peaks, strict=True)]
    assert np.mean(hits) > 0.8


def test_targets_binary_multiclass_multilabel():
    X, y = planted_task(n=300)
    rng = np.random.default_rng(1)
    binary = small_net(max_epochs=1).fit(X, np.where(y, "bound", "unbound"))
    assert list(binary.classes_) == ["bound", "unbound"]
    assert binary.predict_proba(X[:4]).shape == (4, 2)
    assert set(binary.predict(X)) <= {"bound", "unbound"}
    assert binary.decision_function(X[:4]).shape == (4,)
    multiclass = small_net(max_epochs=1).fit(X, rng.integers(0, 3, len(X)))
    proba = multiclass.predict_proba(X[:4])
    assert proba.shape == (4, 3) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert isinstance(multiclass.criterion_, torch.nn.CrossEntropyLoss)
    Y = rng.integers(0, 2, (len(X), 5))
    multilabel = small_net(max_epochs=1, scoring="average_precision").fit(X, Y)
    assert multilabel.predict_proba(X[:4]).shape == (4, 5)
    assert multilabel.predict(X[:4]).shape == (4, 5)
    assert list(multilabel.classes_) == list(range(5))


def test_kernel_penalty_matches_its_definition():
    X, y = planted_task(n=100)
    net = small_net(max_epochs=1, l1=(0.1, 0.2), l2=0.3, smoothness=(0.0, 0.5)).fit(X, y)
    w1, w2 = (k.detach() for k in net.module_.conv_kernels())
    expected = (0.1 * w1.abs().mean() + 0.2 * w2.abs().mean()
                + 0.3 * (w1 ** 2).mean() + 0.3 * (w2 ** 2).mean()
                + 0.5 * ((w2[..., 1:] - w2[..., :-1]) ** 2).mean())
    assert net.kernel_penalty().item() == pytest.approx(expected.item(), rel=1e-5)


def test_bad_input_raises():
    X, y = planted_task(n=100)
    with pytest.raises(ValueError, match="shape"):
        small_net().fit(X.reshape(100, -1), y)
    with pytest.raises(ValueError, match="single class"):
        small_net().fit(X, np.zeros(100))
    with pytest.raises(ValueError, match="scoring"):
        small_net(scoring="accuracy").fit(X, y)
    with pytest.raises(ValueError, match="l1"):
        small_net(l1=-1.0).fit(X, y)
    net = small_net(max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="fitted on"):
        net.predict(X[:, :, :60])


def test_verbose_zero_is_silent(capsys):
    X, y = planted_task(n=100)
    small_net(max_epochs=2).fit(X, y)
    assert capsys.readouterr().out == ""


def test_clone_pickle_and_grid_search():
    X, y = planted_task(n=300)
    net = small_net(max_epochs=2)
    assert clone(net).get_params()["first_activation"] == "exponential"
    fitted = pickle.loads(pickle.dumps(net.fit(X, y)))
    np.testing.assert_allclose(fitted.predict_proba(X[:5]), net.predict_proba(X[:5]))
    search = GridSearchCV(
        net, {"first_activation": ["exponential", "relu"], "lr": [1e-3, 1e-2],
              "module__dense_units": [16]}, cv=2, scoring="roc_auc",
    ).fit(X, y)
    assert search.best_estimator_.module_.dense.out_features == 16
    assert len(search.cv_results_["params"]) == 4


def test_validation_data_replaces_the_split():
    X, y = planted_task(n=300)
    labels = np.where(y, "bound", "unbound")
    net = small_net(max_epochs=2).fit(
        X[:200], labels[:200], validation_data=(X[200:], labels[200:])
    )
    assert max(net.history[:, "valid_roc_auc"]) == pytest.approx(  # best epoch restored
        roc_auc_score(labels[200:] == "unbound", net.predict_proba(X[200:])[:, 1]), abs=1e-6
    )
    with pytest.raises(ValueError, match="not seen in fit"):
        small_net(max_epochs=1).fit(X[:200], labels[:200], validation_data=(X[200:], y[200:]))


def test_grid_search_in_a_pipeline_with_the_encoder():
    X, y = planted_task(n=400, length=60)
    strings = ["".join("ACGT"[i] for i in row) for row in X.argmax(axis=1)]
    pipeline = Pipeline([("one_hot", OneHotSequenceEncoder()), ("cnn", small_net(max_epochs=6))])
    search = GridSearchCV(
        pipeline, {"cnn__first_activation": ["exponential", "relu"], "cnn__lr": [1e-2]},
        cv=2, scoring="roc_auc",
    ).fit(strings, y)
    assert search.best_score_ > 0.75
    assert search.predict(strings[:3]).shape == (3,)


def test_training_without_validation():
    X, y = planted_task(n=200)
    net = small_net(max_epochs=2, train_split=None).fit(X, y)
    assert len(net.history) == 2 and "valid_roc_auc" not in net.history[-1]
