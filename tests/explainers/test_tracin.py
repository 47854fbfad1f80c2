import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from torch.utils.data import TensorDataset

from skexplain.explainers import TracIn


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _data(n=30, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)


def _net(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))


def _gradients(net, state, X, y, names=None):
    """Per-example gradients by plain autograd, one example at a time (float64)."""
    net = net.double()
    net.load_state_dict(state)
    rows = []
    for x, t in zip(X, y, strict=True):
        net.zero_grad()
        out = net(torch.as_tensor(x[None]))
        torch.nn.functional.cross_entropy(out, torch.as_tensor([t])).backward()
        rows.append(torch.cat([p.grad.reshape(-1) for n, p in net.named_parameters()
                               if names is None or n in names]).numpy())
    return np.array(rows)


def test_single_checkpoint_is_learning_rate_times_gradient_dot_product():
    X, y = _data()
    net = _net(0)
    state = {k: v.double() for k, v in net.state_dict().items()}
    E = TracIn(net, checkpoints=[state], learning_rates=0.5).fit(X, y).explain(X[:4], y[:4])
    G_train, G_test = _gradients(_net(9), state, X, y), _gradients(_net(9), state, X[:4], y[:4])
    np.testing.assert_allclose(E.values, 0.5 * G_test @ G_train.T, rtol=1e-10, atol=1e-14)
    order = np.argsort(-E.values, axis=1, kind="stable")
    np.testing.assert_array_equal(E.info["helpful"], order[:, :10])


def test_checkpoints_sum_and_self_influence():
    X, y = _data()
    states = [{k: v.double() for k, v in _net(s).state_dict().items()} for s in (1, 2)]
    explainer = TracIn(_net(0), checkpoints=states, learning_rates=[0.1, 0.3]).fit(X, y)
    expected = sum(rate * _gradients(_net(9), s, X, y) @ _gradients(_net(9), s, X, y).T
                   for rate, s in zip([0.1, 0.3], states, strict=True))
    E = explainer.explain(X, y)
    np.testing.assert_allclose(E.values, expected, rtol=1e-10)
    np.testing.assert_allclose(explainer.self_influence(), np.diag(expected), rtol=1e-10)


def test_last_layer_gradients_only():
    X, y = _data()
    net = _net(3)
    state = {k: v.double() for k, v in net.state_dict().items()}
    explainer = TracIn(net, checkpoints=[state], layers="2").fit(X, y)
    G = _gradients(_net(9), state, X, y, names={"2.weight", "2.bias"})
    assert explainer.n_parameters_ == 18
    np.testing.assert_allclose(explainer.explain(X[:3], y[:3]).values, G[:3] @ G.T, rtol=1e-10)


def test_agrees_with_captum(tmp_path):
    TracInCP = pytest.importorskip("captum.influence").TracInCP
    X, y = _data()
    net = _net(4)
    path = tmp_path / "checkpoint.pt"
    torch.save(net.state_dict(), path)

    def load(model, checkpoint):
        model.load_state_dict(torch.load(checkpoint, weights_only=True))
        return 0.25

    dataset = TensorDataset(torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y))
    captum = TracInCP(net, dataset, [str(path)], checkpoints_load_func=load, batch_size=8,
                      loss_fn=torch.nn.CrossEntropyLoss(reduction="none"))
    expected = captum.influence((torch.as_tensor(X[:5], dtype=torch.float32),
                                 torch.as_tensor(y[:5]))).numpy()
    ours = TracIn(net, checkpoints=[path], learning_rates=0.25).fit(X, y).explain(X[:5], y[:5])
    np.testing.assert_allclose(ours.values, expected, rtol=1e-4, atol=1e-5)


def test_errors_and_clone():
    X, y = _data()
    net = _net(0)
    state = net.state_dict()
    with pytest.raises(NotFittedError):
        TracIn(net, checkpoints=[state]).explain(X, y)
    with pytest.raises(ValueError, match="checkpoints is empty"):
        TracIn(net, checkpoints=[]).fit(X, y)
    with pytest.raises(ValueError, match="needs checkpoints"):
        TracIn(net).fit(X, y)
    with pytest.raises(ValueError, match="no model to explain"):
        TracIn(checkpoints=[state]).fit(X, y)
    with pytest.raises(ValueError, match="one per checkpoint"):
        TracIn(net, checkpoints=[state], learning_rates=[0.1, 0.2]).fit(X, y)
    with pytest.raises(ValueError, match="has no parameter"):
        TracIn(net, checkpoints=[{"0.weight": state["0.weight"]}]).fit(X, y)
    with pytest.raises(ValueError, match="rows but y has"):
        TracIn(net, checkpoints=[state]).fit(X, y[:-1])
    with pytest.raises(TypeError, match="needs gradients"):
        TracIn(lambda x: x, checkpoints=[state]).fit(X, y)
    explainer = TracIn(net, checkpoints=[state]).fit(X, y)
    with pytest.raises(ValueError, match="input shape"):
        explainer.explain(X[:, :3], y)
    with pytest.raises(ValueError, match="input shape"):
        explainer.explain(X[:, :3])
    with pytest.raises(ValueError, match="y is required with loss='squared_error'"):
        TracIn(net, checkpoints=[state], loss="squared_error").fit(
            X, np.eye(3)[y]).explain(X[:2])
    assert clone(explainer).model is net
    # The old positional checkpoints still work, with a FutureWarning.
    with pytest.warns(FutureWarning, match="checkpoints by position"):
        old = TracIn(net, [state])
    assert old.checkpoints[0] is state
    np.testing.assert_array_equal(old.fit(X, y).explain(X[:2], y[:2]).values,
                                  explainer.explain(X[:2], y[:2]).values)


class _NaNAbove100(torch.nn.Module):
    """The wrapped network's logits, NaN for inputs whose first value exceeds 100."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        out = self.net(x)
        return torch.where(x[:, :1] > 100, torch.full_like(out, float("nan")), out)


def test_y_none_takes_the_predicted_class_and_nan_raises():
    X, y = _data()
    net = _net(5)
    state = {k: v.double() for k, v in net.state_dict().items()}
    explainer = TracIn(net.double(), checkpoints=[state]).fit(X, y)
    with torch.no_grad():
        predicted = net(torch.as_tensor(X[:4])).argmax(1).numpy()
    E = explainer.explain(X[:4])
    np.testing.assert_array_equal(E.values, explainer.explain(X[:4], predicted).values)
    np.testing.assert_array_equal(E.info["y"], predicted)
    assert E.info["y_predicted"] and E.axes == ("sample", "train_example")
    assert E.example_names[0] == "train_0" and E.data.shape == (4, 4)
    # A network whose output is NaN on some inputs: an error naming them, not NaN values.
    nan_net = _NaNAbove100(net)
    nan_state = {"net." + k: v for k, v in state.items()}
    X_bad = X.copy()
    X_bad[2, 0] = 1e3
    with pytest.raises(ValueError, match=r"NaN or infinite losses .*rows 2\)"):
        TracIn(nan_net, checkpoints=[nan_state]).fit(X_bad, y).explain(X[:2], y[:2])
    fitted = TracIn(nan_net, checkpoints=[nan_state]).fit(X, y)
    with pytest.raises(ValueError, match=r"NaN or infinite losses .*rows 2\)"):
        fitted.explain(X_bad[:4], y[:4])
    with pytest.raises(ValueError, match="NaN or infinite scores"):
        fitted.explain(X_bad[:4])


def test_pickle_round_trip():
    import pickle

    X, y = _data()
    explainer = TracIn(_net(0), checkpoints=[_net(1).state_dict()]).fit(X, y)
    restored = pickle.loads(pickle.dumps(explainer))
    np.testing.assert_array_equal(restored.explain(X[:2], y[:2]).values,
                                  explainer.explain(X[:2], y[:2]).values)


def test_bad_labels_and_text_input_raise_clear_errors():
    X, y = _data()
    net = _net(0)
    explainer = TracIn(net, checkpoints=[net.state_dict()]).fit(X, y)
    with pytest.raises(ValueError, match=r"labels \[3, 99\] out of range.*0\.\.2"):
        explainer.explain(X[:3], np.array([0, 3, 99]))
    with pytest.raises(ValueError, match="not class indices"):
        explainer.explain(X[:2], np.array(["a", "b"]))
    with pytest.raises(ValueError, match="not class indices"):
        explainer.explain(X[:2], np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="out of range"):
        TracIn(net, checkpoints=[net.state_dict()]).fit(X, y + 5)
    with pytest.raises(ValueError, match="holds text"):
        TracIn(net, checkpoints=[net.state_dict()]).fit(X.astype(str), y)
    with pytest.raises(ValueError, match="OneHotSequenceEncoder"):
        explainer.explain(np.array(["ACGT", "TTGA"]))
    binary = torch.nn.Sequential(torch.nn.Linear(4, 1))
    bce = TracIn(binary, checkpoints=[binary.state_dict()]).fit(X, (y > 0).astype(float))
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        bce.explain(X[:2], np.array([0.0, 2.0]))


def test_info_names_the_loss():
    X, y = _data()
    net = _net(0)
    E = TracIn(net, checkpoints=[net.state_dict()]).fit(X, y).explain(X[:2], y[:2])
    assert E.info["output"] == "loss"
    assert E.info["loss"] == "cross_entropy"


def test_unfitted_skorch_net_raises_a_fit_error():
    from skexplain.models import ExpActivationCNNClassifier

    net = _net(0)
    with pytest.raises(ValueError, match="not fitted"):
        TracIn(ExpActivationCNNClassifier(verbose=0),
               checkpoints=[net.state_dict()]).fit(X=_data()[0], y=_data()[1])
