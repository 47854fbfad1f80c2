"""Unit tests of the core: the model adapter, the compute engine, typed results, validation."""

import pickle
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.utils.validation import check_array
from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier
from torch import nn

from skexplain._core.base import LocalExplainer
from skexplain._core.compute import (
    batched_scores,
    parallel_map,
    resolve_batch_size,
    score_blocks,
    score_in_batches,
    spawn_seeds,
    torch_batches,
)
from skexplain._core.explanation import (
    Attribution,
    ExampleExplanation,
    ModelExplanation,
    Result,
)
from skexplain._core.model import (
    ModelAdapter,
    check_scores,
    model_kind,
    target_index,
    target_indices,
    torch_module_of,
)
from skexplain._core.validation import (
    canonical_method,
    check_input,
    check_one_hot,
    default_feature_names,
    deprecated_names,
)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def binary_skorch():
    """A skorch binary net with one logit (module output (batch, 1))."""
    torch.manual_seed(0)
    X = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.float32)
    net = NeuralNetBinaryClassifier(nn.Linear(3, 1), max_epochs=2, verbose=0,
                                    train_split=None)
    return net.fit(X, y), X


class Three(nn.Module):
    """Three logits, with BatchNorm and Dropout (whose training behaviour differs)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(4, 6)
        self.bn = nn.BatchNorm1d(6)
        self.drop = nn.Dropout(0.5)
        self.relu = nn.ReLU(inplace=True)
        self.out = nn.Linear(6, 3)
        self.fail = False

    def forward(self, x):
        h = self.relu(self.drop(self.bn(self.linear(x))))
        if self.fail:
            raise KeyError("inside forward")
        return self.out(h)


def _raw(module, X):
    module = module.eval()
    with torch.no_grad():
        return module(torch.as_tensor(X, dtype=torch.float32)).double().numpy()


# --- ModelAdapter: the "auto" rule -----------------------------------------------------------

def test_auto_rule_torch_module_gives_raw_logits():
    module = Three().eval()
    X = np.random.default_rng(0).normal(size=(5, 4))
    adapter = ModelAdapter(module, (4,))
    assert adapter.kind == "torch" and adapter.resolved_output == "logit"
    np.testing.assert_allclose(adapter.scores(X), _raw(module, X), rtol=1e-6)
    assert adapter.describe() == "logit" and adapter.head_is_linear


def test_auto_rule_skorch_binary_net_with_one_logit_gives_minus_z_z(binary_skorch):
    net, X = binary_skorch
    adapter = ModelAdapter(net, (3,))
    z = _raw(net.module_, X[:4])[:, 0]
    scores = adapter.scores(X[:4])
    assert adapter.kind == "skorch" and adapter.resolved_output == "logit"
    np.testing.assert_allclose(scores, np.stack([-z, z], axis=1), rtol=1e-6)
    assert adapter.output_names.tolist() == [0, 1]


class _Squeezed(nn.Module):
    """A binary module returning one logit per row as shape (batch,), as skorch allows."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.linear = nn.Linear(3, 1)

    def forward(self, x):
        return self.linear(x)[:, 0]


def test_skorch_binary_net_with_a_1d_output():
    X = np.random.default_rng(0).normal(size=(30, 3)).astype(np.float32)
    net = NeuralNetBinaryClassifier(_Squeezed(), max_epochs=1, verbose=0,
                                    train_split=None).fit(X, (X[:, 0] > 0).astype(np.float32))
    z = _raw(net.module_, X[:4])
    np.testing.assert_allclose(ModelAdapter(net, (3,)).scores(X[:4]), np.stack([-z, z], 1),
                               rtol=1e-6)
    np.testing.assert_allclose(ModelAdapter(net, (3,), output="probability").scores(X[:4]),
                               net.predict_proba(X[:4]), rtol=1e-5)


def test_skorch_binary_net_probability_and_log_odds(binary_skorch):
    net, X = binary_skorch
    z = _raw(net.module_, X[:4])[:, 0]
    p = ModelAdapter(net, (3,), output="probability").scores(X[:4])
    np.testing.assert_allclose(p, np.stack([1 - _sigmoid(z), _sigmoid(z)], 1), rtol=1e-5)
    np.testing.assert_allclose(p, net.predict_proba(X[:4]), rtol=1e-5)
    log_odds = ModelAdapter(net, (3,), output="log_odds").scores(X[:4])
    np.testing.assert_allclose(log_odds, np.stack([-z, z], 1), rtol=1e-5, atol=1e-6)


def test_skorch_multiclass_net_probability_is_predict_proba():
    torch.manual_seed(0)
    X = np.random.default_rng(1).normal(size=(40, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)
    net = NeuralNetClassifier(nn.Linear(3, 3), max_epochs=2, verbose=0, train_split=None,
                              criterion=nn.CrossEntropyLoss).fit(X, y)
    np.testing.assert_allclose(ModelAdapter(net, (3,), output="probability").scores(X[:5]),
                               net.predict_proba(X[:5]), rtol=1e-5)
    np.testing.assert_allclose(ModelAdapter(net, (3,)).scores(X[:5]), _raw(net.module_, X[:5]),
                               rtol=1e-6)


def test_auto_rule_sklearn_classifier_regressor_and_callable():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.array(["u", "v", "w"])[np.argmax(X, axis=1)]
    classifier = LogisticRegression().fit(X, y)
    adapter = ModelAdapter(classifier, (3,))
    assert adapter.kind == "sklearn" and adapter.resolved_output == "probability"
    np.testing.assert_array_equal(adapter.scores(X[:4]), classifier.predict_proba(X[:4]))
    assert adapter.output_names.tolist() == ["u", "v", "w"]
    regressor = LinearRegression().fit(X, X[:, 0])
    adapter = ModelAdapter(regressor, (3,))
    assert adapter.resolved_output == "prediction" and adapter.output_names is None
    np.testing.assert_array_equal(adapter.scores(X[:4])[:, 0], regressor.predict(X[:4]))
    adapter = ModelAdapter(lambda Z: Z.sum(axis=1), (3,))
    assert adapter.kind == "callable" and adapter.describe() == "callable"
    np.testing.assert_array_equal(adapter.scores(X[:4])[:, 0], X[:4].sum(axis=1))


def test_callable_receives_the_feature_shape():
    seen = []
    adapter = ModelAdapter(lambda Z: seen.append(Z.shape) or Z.sum(axis=(1, 2)), (4, 3))
    adapter.scores(np.ones((2, 12)))
    assert seen == [(2, 4, 3)]


def test_sklearn_outputs_agree_with_closed_forms():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = (X[:, 0] + 0.3 * rng.normal(size=80) > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    p = model.predict_proba(X[:5])
    s = model.decision_function(X[:5])
    # binary decision_function: the new "logit" rule gives (-s, s)
    np.testing.assert_allclose(ModelAdapter(model, (3,), output="logit").scores(X[:5]),
                               np.stack([-s, s], 1))
    np.testing.assert_allclose(ModelAdapter(model, (3,), output="probability").scores(X[:5]), p)
    np.testing.assert_allclose(ModelAdapter(model, (3,), output="log_odds").scores(X[:5]),
                               np.log(p / (1 - p)), rtol=1e-10)
    # for a logistic model, the log-odds of class 1 are its decision function
    np.testing.assert_allclose(ModelAdapter(model, (3,), output="log_odds").scores(X[:5])[:, 1],
                               s, rtol=1e-8)


def test_torch_outputs_agree_with_closed_forms():
    module = Three().eval()
    X = np.random.default_rng(2).normal(size=(6, 4))
    z = _raw(module, X)
    p = _softmax(z)
    np.testing.assert_allclose(ModelAdapter(module, (4,), output="logit").scores(X), z,
                               rtol=1e-6)
    np.testing.assert_allclose(ModelAdapter(module, (4,), output="probability").scores(X), p,
                               rtol=1e-5)
    np.testing.assert_allclose(ModelAdapter(module, (4,), output="log_odds").scores(X),
                               np.log(p / (1 - p)), rtol=1e-4)


def test_output_callable_reduces_a_tuple_output():
    class Profile(nn.Module):
        def forward(self, x):
            return x[:, None, :] * torch.ones(1, 2, 1), x.sum(1, keepdim=True)

    X = np.arange(6.0).reshape(2, 3)
    adapter = ModelAdapter(Profile(), (3,), output=lambda out: out[0].sum(dim=(1, 2)))
    np.testing.assert_allclose(adapter.scores(X)[:, 0], 2 * X.sum(1))
    assert adapter.resolved_output == "callable"
    with pytest.raises(ValueError, match="profile or tuple output"):
        ModelAdapter(Profile(), (3,)).scores(X)


def test_deprecated_output_aliases_warn_and_agree():
    module = Three().eval()
    X = np.random.default_rng(3).normal(size=(4, 4))
    with pytest.warns(FutureWarning, match="'logits' is deprecated"):
        old = ModelAdapter(module, (4,), output="logits")
    np.testing.assert_array_equal(old.scores(X),
                                  ModelAdapter(module, (4,), output="logit").scores(X))
    with pytest.warns(FutureWarning, match="'probabilities' is deprecated"):
        old = ModelAdapter(module, (4,), output="probabilities")
    np.testing.assert_array_equal(old.scores(X),
                                  ModelAdapter(module, (4,), output="probability").scores(X))
    with pytest.raises(ValueError, match="output must be one of"):
        ModelAdapter(module, (4,), output="softmax")


def test_wrong_output_for_the_model_kind():
    with pytest.raises(ValueError, match="needs a classifier"):
        ModelAdapter(lambda Z: Z[:, 0], (2,), output="probability")
    regressor = LinearRegression().fit(np.eye(3), [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="predict_proba"):
        ModelAdapter(regressor, (3,), output="probability")
    with pytest.raises(TypeError, match="Cannot explain a str"):
        ModelAdapter("not a model", (3,))
    with pytest.raises(ValueError, match="device"):
        ModelAdapter(regressor, (3,), device="cpu")


# --- ModelAdapter: torch state ---------------------------------------------------------------

def _state(module):
    return ({k: v.clone() for k, v in module.state_dict().items()},
            [m.training for m in module.modules()],
            [getattr(m, "inplace", None) for m in module.modules()],
            [p.requires_grad for p in module.parameters()])


def _assert_state(module, state):
    tensors, training, inplace, grad = _state(module)
    assert training == state[1] and inplace == state[2] and grad == state[3]
    for k, v in state[0].items():
        assert torch.equal(tensors[k], v), k


def test_train_mode_batchnorm_stats_and_mode_unchanged_after_scores():
    module = Three().train()
    before = _state(module)
    X = np.random.default_rng(0).normal(size=(8, 4))
    adapter = ModelAdapter(module, (4,))
    first = adapter.scores(X)
    second = adapter.scores(X)
    np.testing.assert_array_equal(first, second)  # eval mode: no dropout draws
    np.testing.assert_allclose(first, _raw(copy_of(module), X), rtol=1e-6)
    _assert_state(module, before)
    assert module.training and module.bn.training


def copy_of(module):
    import copy

    return copy.deepcopy(module)


def test_inplace_activations_are_off_inside_inference_and_restored():
    module = Three()
    adapter = ModelAdapter(module, (4,))
    with adapter.inference():
        assert module.relu.inplace is False and not module.training
    assert module.relu.inplace is True and module.training


def test_frozen_parameters_are_fine_for_gradients():
    module = Three().eval()
    for p in module.parameters():
        p.requires_grad_(False)
    adapter = ModelAdapter(module, (4,))
    x = torch.randn(3, 4, requires_grad=True)
    with adapter.inference(), torch.enable_grad():
        adapter.forward(x)[:, 1].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in module.parameters())


def test_exception_inside_forward_propagates_and_mode_is_restored():
    module = Three().train()
    before = _state(module)
    module.fail = True
    with pytest.raises(KeyError, match="inside forward"):
        ModelAdapter(module, (4,)).scores(np.zeros((2, 4)))
    _assert_state(module, before)


def test_nan_scores_raise_naming_rows_and_model():
    def model(Z):
        out = Z.sum(axis=1)
        out[[1, 3]] = np.nan
        return out

    with pytest.raises(ValueError, match=r"NaN or infinite scores for 2 of 4 rows.*rows 1, 3"):
        ModelAdapter(model, (2,), name="SensX").scores(np.ones((4, 2)))
    module = Three().eval()
    with torch.no_grad():
        module.out.bias[0] = float("inf")
    with pytest.raises(ValueError, match="Three explained by Occlusion"):
        ModelAdapter(module, (4,), name="Occlusion").scores(np.zeros((3, 4)))


def test_check_scores_shapes():
    assert check_scores(np.arange(3.0), 3).shape == (3, 1)
    with pytest.raises(ValueError, match="shape"):
        check_scores(np.zeros((2, 2)), 3)
    with pytest.raises(ValueError, match="shape"):
        ModelAdapter(lambda Z: np.zeros(len(Z) + 1), (2,)).scores(np.ones((3, 2)))


def test_device_and_module_of():
    module = Three().eval()
    adapter = ModelAdapter(module, (4,), device="cpu")
    assert adapter.module is module  # already there: not copied
    assert adapter.device.type == "cpu" and adapter.dtype == torch.float32
    assert torch_module_of(module) is module
    with pytest.raises(TypeError, match="needs gradients"):
        torch_module_of(LinearRegression(), "Saliency")
    with pytest.raises(ValueError, match="not fitted"):
        torch_module_of(NeuralNetClassifier(nn.Linear(2, 2)), "Saliency")
    assert model_kind(module) == "torch" and model_kind(len) == "callable"


def test_model_args_follow_their_owner_rows():
    class WithControl(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(()))

        def forward(self, x, control):
            return (self.scale * x.sum(1, keepdim=True)) + control[:, :1]

    control = np.array([[10.0], [20.0], [30.0]])
    adapter = ModelAdapter(WithControl(), (2,)).with_args((control,), 3)
    rows = np.ones((4, 2))
    scores = adapter.scores(rows, owner=np.array([2, 0, 0, 1]))
    np.testing.assert_allclose(scores[:, 0], [32.0, 12.0, 12.0, 22.0])
    with pytest.raises(ValueError, match="model_args\\[0\\] has shape"):
        ModelAdapter(WithControl(), (2,)).with_args((control[:2],), 3)
    with pytest.raises(ValueError, match="take[s]? none"):
        ModelAdapter(lambda Z: Z[:, 0], (2,)).with_args((control,), 3)


# --- targets ---------------------------------------------------------------------------------

def test_resolve_target_by_index_label_and_per_instance():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.array(["a", "b", "c"])[np.argmax(X, axis=1)]
    adapter = ModelAdapter(LogisticRegression().fit(X, y), (3,))
    scores = adapter.scores(X[:3])
    assert adapter.resolve_target(None, scores).tolist() == np.argmax(scores, 1).tolist()
    assert adapter.resolve_target(2, scores).tolist() == [2, 2, 2]
    assert adapter.resolve_target("b", scores).tolist() == [1, 1, 1]
    assert adapter.resolve_target(["c", 0, "a"], scores).tolist() == [2, 0, 0]
    with pytest.raises(ValueError, match="out of range"):
        adapter.resolve_target(3, scores)
    with pytest.raises(ValueError, match="out of range"):
        adapter.resolve_target(-1, scores)
    with pytest.raises(ValueError, match="Unknown target 'z'"):
        adapter.resolve_target("z", scores)
    with pytest.raises(ValueError, match="one target per instance"):
        adapter.resolve_target([0, 1], scores)


def test_integer_labels_are_indices_and_bool_is_not_an_index():
    assert target_index(1, 3, np.array([5, 6, 7])) == 1
    assert target_index(np.int64(2), 3) == 2
    with pytest.raises(ValueError, match="Unknown target"):
        target_index(True, 2)
    with pytest.raises(ValueError, match="Unknown target"):
        target_index(1.5, 3)
    assert target_indices(None, 3).tolist() == [0, 1, 2]
    assert target_indices(["b", 0], 3, ["a", "b", "c"]).tolist() == [1, 0]


# --- compute ---------------------------------------------------------------------------------

def test_resolve_batch_size_policy():
    assert resolve_batch_size(7, 10) == 7
    assert resolve_batch_size("auto", 10) == 4096
    assert resolve_batch_size("auto", 2**20) == 8
    assert resolve_batch_size("auto", 2**20, factor=8) == 1
    assert resolve_batch_size("auto", 2**30) == 1


def test_score_blocks_batches_exactly_and_keeps_order():
    rng = np.random.default_rng(0)
    blocks = [(rng.normal(size=(n, 3)), t, o) for n, t, o in
              [(5, 0, 0), (1, 1, 1), (9, 0, 2), (0, 1, 3), (4, 1, 4)]]
    calls = []
    weights = rng.normal(size=(3, 2))

    def score(rows, owner):
        calls.append((len(rows), np.array(owner)))
        return rows @ weights + np.asarray(owner)[:, None]

    out = score_blocks(score, iter(blocks), batch_size=4)
    expected = np.concatenate([rows @ weights[:, t] + o for rows, t, o in blocks])
    np.testing.assert_allclose(out, expected)
    assert [n for n, _ in calls] == [4, 4, 4, 4, 3]
    assert score_blocks(score, iter([]), 4).shape == (0,)


def test_score_in_batches_and_batched_scores():
    X = np.arange(20.0).reshape(10, 2)

    def score(rows, owner):
        return np.stack([rows.sum(1), np.asarray(owner, dtype=float)], 1)

    np.testing.assert_array_equal(score_in_batches(score, 0, iter([X[:3], X[3:]]), 4),
                                  X.sum(1))
    all_scores = batched_scores(score, X, 3)
    np.testing.assert_array_equal(all_scores[:, 1], np.arange(10))


def test_spawn_seeds_are_independent_of_the_number_of_tasks():
    few = spawn_seeds(0, 3, 2)
    many = spawn_seeds(0, 10, 2)
    assert few.shape == (3, 2)
    np.testing.assert_array_equal(few, many[:3])
    assert len({tuple(r) for r in many}) == 10
    assert not np.array_equal(spawn_seeds(1, 3, 2), few)
    np.testing.assert_array_equal(spawn_seeds(np.random.RandomState(5), 4),
                                  spawn_seeds(np.random.RandomState(5), 4))


def _noisy_task(i, seed):
    return i, np.random.default_rng(seed).normal(size=3)


def test_parallel_map_order_and_n_jobs_independence():
    seeds = spawn_seeds(0, 6)[:, 0]
    serial = parallel_map(_noisy_task, list(zip(range(6), seeds, strict=True)), n_jobs=1)
    with joblib.parallel_config(backend="threading"):  # loky's start-up is slow here
        parallel = parallel_map(_noisy_task, list(zip(range(6), seeds, strict=True)), n_jobs=2)
    assert [i for i, _ in serial] == list(range(6)) == [i for i, _ in parallel]
    np.testing.assert_array_equal(np.array([v for _, v in serial]),
                                  np.array([v for _, v in parallel]))
    tasks = ((i, s) for i, s in zip(range(6), seeds, strict=True))
    lazy = parallel_map(_noisy_task, tasks, n_jobs=1, lazy=True, total=6)
    assert not isinstance(lazy, list)
    assert [i for i, _ in lazy] == list(range(6))


def _scaled_task(module, i):
    import os

    return i * float(module.weight.detach().sum()), torch.get_num_threads(), os.getpid()


def test_parallel_map_shares_objects_chunks_tasks_and_uses_one_torch_thread():
    module = torch.nn.Linear(2, 1)
    with torch.no_grad():
        module.weight.fill_(1.0)
    serial = parallel_map(_scaled_task, [(i,) for i in range(9)], shared=(module,), n_jobs=1)
    parallel = parallel_map(_scaled_task, [(i,) for i in range(9)], shared=(module,), n_jobs=2)
    assert [r[0] for r in serial] == [r[0] for r in parallel] == [2.0 * i for i in range(9)]
    in_workers = [r for r in parallel if r[2] != serial[0][2]]
    assert in_workers and all(threads == 1 for _, threads, _ in in_workers)
    # 9 tasks on 2 workers: 4 chunks of consecutive tasks, each run by one process
    pids = [r[2] for r in parallel]
    assert sum(a != b for a, b in zip(pids[:-1], pids[1:], strict=True)) <= 3


def test_torch_batches_concatenates_in_order():
    x = torch.arange(10.0)
    y = torch.arange(10.0) * 2
    out = torch_batches(lambda a, b: a + b, (x, y), 3)
    assert torch.equal(out, 3 * x)
    first, second = torch_batches(lambda a: (a, -a), (x,), 4)
    assert torch.equal(first, x) and torch.equal(second, -x)
    with pytest.raises(ValueError, match="no rows"):
        torch_batches(lambda a: a, (x[:0],), 4)


# --- explanation types -----------------------------------------------------------------------

def _attribution():
    values = np.arange(12.0).reshape(3, 4) - 5
    return Attribution(values, data=np.ones((3, 4)), base_values=np.array([1.0, 2.0, 3.0]),
                       feature_names=["a", "b", "c", "d"], output_names=["x", "y"],
                       info={"method": "occlusion", "target": np.array([0, 1, 0]),
                             "delta": 0.5})


def test_attribution_slicing():
    E = _attribution()
    one = E[1]
    assert one.values.shape == (1, 4) and one.base_values.tolist() == [2.0]
    assert one.info["target"].tolist() == [1] and one.info["delta"] == 0.5
    part = E[:, ["d", "a"]]
    np.testing.assert_array_equal(part.values, E.values[:, [3, 0]])
    assert part.feature_names.tolist() == ["d", "a"] and part.data.shape == (3, 2)
    assert E[[0, 2], 1:3].values.tolist() == [[-4.0, -3.0], [4.0, 5.0]]
    assert E[:, "b"].values.shape == (3, 1)
    with pytest.raises(KeyError, match="Unknown feature names"):
        E[:, ["zz"]]
    assert E.method == "occlusion" and len(E) == 3


def test_attribution_of_sequences_slices_flat_features():
    values = np.arange(24.0).reshape(2, 4, 3)
    E = Attribution(values, info={"axes": ("sample", "channel", "position")})
    assert E.axes == ("sample", "channel", "position")
    assert E[0].values.shape == (1, 4, 3)
    flat = E[:, [0, 5]]
    assert flat.axes == ("sample", "feature") and flat.values.tolist() == [[0, 5], [12, 17]]
    assert E.to_frame().shape == (24, 3)


def test_attribution_axes_validation():
    with pytest.raises(ValueError, match="first axis is the sample axis"):
        Attribution(np.zeros((2, 3)), axes=("class", "feature"))
    with pytest.raises(ValueError, match="name 1 dimension"):
        Attribution(np.zeros((2, 3)), axes=("sample",))
    with pytest.raises(ValueError, match="2 feature names given for 3"):
        Attribution(np.zeros((1, 3)), feature_names=["a", "b"])


def test_top_features_and_to_frame():
    E = _attribution()
    assert E.top_features(2).values.tolist() == [["a", "b"], ["d", "a"], ["d", "c"]]
    frame = E.to_frame()
    assert list(frame.columns) == ["sample", "feature", "value", "data"]
    assert frame.loc[(frame["sample"] == 2) & (frame["feature"] == "c"), "value"].item() == 5.0
    with pytest.raises(ValueError, match="k must be"):
        E.top_features(5)
    restored = pickle.loads(pickle.dumps(E))
    assert restored.axes == E.axes and restored.info["target"].tolist() == [0, 1, 0]


def test_result_base_validates_axes_and_keeps_them_in_info():
    R = Result(np.zeros((2, 3)), ("class", "concept"), units="fraction", info={"method": "m"})
    assert R.info["axes"] == ("class", "concept") and R.info["units"] == "fraction"
    with pytest.raises(ValueError, match="name 1 dimension"):
        Result(np.zeros((2, 3)), ("class",))


def test_model_explanation_labels_and_frame():
    values = np.arange(6.0).reshape(2, 3)
    M = ModelExplanation(values, ("class", "concept"),
                         labels={"class": ["neg", "pos"], "concept": ["A", "B", "C"]},
                         info={"method": "tcav"})
    frame = M.to_frame()
    assert list(frame.columns) == ["class", "concept", "value"]
    assert frame.loc[(frame["class"] == "pos") & (frame["concept"] == "B"), "value"].item() == 4
    assert not hasattr(M, "top_features")
    with pytest.raises(ValueError, match="unknown axis"):
        ModelExplanation(values, ("class", "concept"), labels={"channel": [0, 1]})
    with pytest.raises(ValueError, match="2 labels for axis 'concept' of size 3"):
        ModelExplanation(values, ("class", "concept"), labels={"concept": ["A", "B"]})
    unlabeled = ModelExplanation(values, ("class", "channel")).to_frame()
    assert unlabeled["channel"].tolist() == [0, 1, 2, 0, 1, 2]


def test_example_explanation_axes_and_indices():
    E = ExampleExplanation(np.zeros((2, 5)))
    assert E.axes == ("sample", "train_example") and len(E) == 2 and E.indices is None
    K = ExampleExplanation(np.ones((2, 3)), indices=[[0, 1, 2], [3, 4, 0]],
                           axes=("sample", "neighbor"))
    assert K.indices.shape == (2, 3) and K.info["axes"] == ("sample", "neighbor")
    assert not hasattr(K, "top_features")


# --- validation ------------------------------------------------------------------------------

def test_check_input_arrays_sparse_and_frames():
    X, shape, names = check_input(np.ones((3, 4, 5), dtype=np.int8))
    assert X.shape == (3, 20) and X.dtype == np.float64 and shape == (4, 5) and names is None
    X, shape, _ = check_input(sp.coo_matrix(np.eye(3)))
    assert sp.isspmatrix_csr(X) or sp.issparse(X) and X.format == "csr"
    X, _, _ = check_input(sp.coo_matrix(np.eye(3)), accept_sparse=False)
    assert isinstance(X, np.ndarray)
    frame = pd.DataFrame({"g1": [1.0, 2.0], "g2": [True, False]})
    X, shape, names = check_input(frame)
    assert names.tolist() == ["g1", "g2"] and shape == (2,)
    with pytest.raises(ValueError, match=r"non-numeric columns \['g3'\]"):
        check_input(frame.assign(g3=["a", "b"]))


def test_check_input_rejects_bad_arrays():
    with pytest.raises(ValueError, match="1-D array"):
        check_input(np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        check_input(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="(?i)infinity"):
        check_input(np.array([[np.inf, 1.0]]))
    with pytest.raises(ValueError, match="0 sample"):
        check_input(np.ones((0, 3)))
    with pytest.raises(ValueError, match="OneHotSequenceEncoder"):
        check_input(np.array(["ACGT", "TTGA"]))
    with pytest.raises(ValueError, match="OneHotSequenceEncoder"):
        check_input(np.array([["ACGT"], ["TTGA"]], dtype=object))
    with pytest.raises(TypeError, match="not numbers"):
        check_input(np.array([[1.0, {}]], dtype=object))
    X, _, _ = check_input(np.array([[1, 2.5]], dtype=object))
    assert X.dtype == np.float64


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int64, np.uint8, bool])
def test_check_input_plain_arrays_as_check_array(dtype):
    X = np.arange(24).reshape(2, 3, 4).astype(dtype)
    out, shape, _ = check_input(X)
    expected = check_array(X, dtype=np.float64, allow_nd=True)
    assert out.dtype == np.float64 and shape == (3, 4)
    np.testing.assert_array_equal(out, expected.reshape(2, -1))


def test_check_input_without_features_names_the_problem():
    with pytest.raises(ValueError, match="0 feature"):
        check_input(np.ones((3, 0)))


def test_check_input_does_not_change_its_input():
    X = np.array([[1, 2], [3, 4]], dtype=np.int32)
    check_input(X)
    assert X.dtype == np.int32 and X.tolist() == [[1, 2], [3, 4]]
    Y = np.ones((2, 3))
    out, _, _ = check_input(Y)
    out[0, 0] = 5.0
    # a view is fine for reading, but explainers must never write into it
    assert Y[0, 0] in (1.0, 5.0)


def test_anndata_layer_and_raw():
    anndata = pytest.importorskip("anndata")
    X = np.arange(6.0).reshape(2, 3)
    adata = anndata.AnnData(X, layers={"counts": 10 * X})
    adata.var_names = ["g1", "g2", "g3"]
    adata.raw = anndata.AnnData(X + 100)
    adata.raw.var_names  # noqa: B018
    out, shape, names = check_input(adata)
    np.testing.assert_array_equal(out, X)
    assert names.tolist() == ["g1", "g2", "g3"] and shape == (3,)
    out, _, _ = check_input(adata, layer="counts")
    np.testing.assert_array_equal(out, 10 * X)
    out, _, _ = check_input(adata, use_raw=True)
    np.testing.assert_array_equal(out, X + 100)
    with pytest.raises(ValueError, match="no layer 'other'"):
        check_input(adata, layer="other")
    with pytest.raises(ValueError, match="either layer or use_raw"):
        check_input(adata, layer="counts", use_raw=True)
    with pytest.raises(ValueError, match="AnnData input only"):
        check_input(X, layer="counts")
    no_raw = anndata.AnnData(X)
    with pytest.raises(ValueError, match="no .raw"):
        check_input(no_raw, use_raw=True)


def test_check_one_hot():
    X = np.eye(4)[[[0, 1, 2], [3, 3, 0]]].transpose(0, 2, 1)
    X[1, :, 1] = 0  # an N
    assert check_one_hot(X).tolist() == [[0, 1, 2], [3, 4, 0]]
    with pytest.raises(ValueError, match="must be one-hot"):
        check_one_hot(X * 0.5)
    with pytest.raises(ValueError, match="shape"):
        check_one_hot(X[0])


def test_default_feature_names():
    assert default_feature_names((3,)).tolist() == ["x0", "x1", "x2"]
    assert default_feature_names((2, 2)).tolist() == ["x0_0", "x0_1", "x1_0", "x1_1"]


def test_one_hot_dna_reference_data_gives_genomic_feature_names():
    from skexplain.explainers import Occlusion

    def model(X):
        return X.reshape(len(X), -1).sum(axis=1, keepdims=True)

    one_hot = np.eye(4)[np.random.default_rng(0).integers(0, 4, (5, 6))].transpose(0, 2, 1)
    E = Occlusion(model).fit(one_hot).explain(one_hot[:1])
    assert E.feature_names[[0, 6, 23]].tolist() == ["A:0", "C:0", "T:5"]
    # Four real-valued channels are not DNA: shape-based names.
    E = Occlusion(model).fit(one_hot + 0.5).explain(one_hot[:1])
    assert E.feature_names[[0, 6]].tolist() == ["x0_0", "x1_0"]


def test_deprecated_names_and_canonical_method():
    namespace = {"New": int}
    getattr_ = deprecated_names("pkg", {"Old": "New"}, namespace)
    with pytest.warns(FutureWarning, match="pkg.Old is deprecated; use New"):
        assert getattr_("Old") is int
    with pytest.raises(AttributeError, match="no attribute 'Other'"):
        getattr_("Other")
    with pytest.warns(FutureWarning, match="'kernelshap' is deprecated"):
        assert canonical_method("kernelshap", {"kernel_shap", "sensx"}) == "kernel_shap"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert canonical_method("sensx", {"kernel_shap", "sensx"}) == "sensx"
    with pytest.raises(ValueError, match="method must be one of"):
        canonical_method("nope", {"sensx"})


# --- the local base --------------------------------------------------------------------------

class _Difference(LocalExplainer):
    """Score change when each feature is set to the reference mean (an occlusion)."""

    _parameter_constraints = {"model": "no_validation", "output": "no_validation"}

    def __init__(self, model=None, *, output="auto"):
        self.model = model
        self.output = output

    def _explain(self, X, target):
        rows = np.arange(len(X))
        full = self.score_function_.scores(X, owner=rows)[rows, target]
        values = np.empty_like(X)
        for j in range(X.shape[1]):
            occluded = X.copy()
            occluded[:, j] = self.baseline_[j]
            values[:, j] = full - self.score_function_.scores(occluded, owner=rows)[rows, target]
        return values, {"method": "difference"}


def test_local_base_fit_explain_and_clone():
    X = np.random.default_rng(0).normal(size=(20, 3))
    weights = np.array([1.0, -2.0, 0.5])
    explainer = _Difference(lambda Z: Z @ weights).fit(X)
    E = explainer.explain(X[:4], target=0)
    np.testing.assert_allclose(E.values, (X[:4] - X.mean(0)) * weights)
    assert E.info["output"] == "callable" and E.info["target"].tolist() == [0] * 4
    np.testing.assert_allclose(E.base_values, X[:4] @ weights)
    assert explainer.n_features_in_ == 3 and explainer.feature_shape_ == (3,)
    cloned = clone(explainer)
    assert cloned.model is explainer.model and not hasattr(cloned, "baseline_")
    with pytest.raises(ValueError, match="no model to explain"):
        _Difference().fit(X)
    with pytest.raises(ValueError, match="feature shape"):
        explainer.explain(X[:2, :2])


def test_local_base_model_args_reach_the_model():
    class Offset(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.tensor([1.0, 2.0]))

        def forward(self, x, offset):
            return (x * self.w).sum(1, keepdim=True) + offset

    X = np.ones((3, 2), dtype=np.float32)
    offsets = np.array([[0.0], [10.0], [20.0]], dtype=np.float32)
    E = _Difference(Offset()).fit(X).explain(X, model_args=(offsets,))
    np.testing.assert_allclose(E.base_values, [3.0, 13.0, 23.0])
    np.testing.assert_allclose(E.values, 0.0)  # every row equals the reference mean


def test_data_of_another_width_than_the_sklearn_model_is_an_error():
    X = np.random.default_rng(0).normal(size=(20, 3))
    model = LinearRegression().fit(X, X[:, 0])
    with pytest.raises(ValueError, match="X has 2 features per instance, but the "
                                         "LinearRegression given to SensX was fitted on 3"):
        ModelAdapter(model, (2,), name="SensX")
    assert ModelAdapter(model, (3,)).scores(X[:2]).shape == (2, 1)
