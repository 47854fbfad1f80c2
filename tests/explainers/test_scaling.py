"""Scale: evaluations per instance, bounded memory, dask clusters and the torch device."""

import tracemalloc

import joblib
import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn

from skexplain.explainers import (
    DeepLiftShap,
    InSilicoMutagenesis,
    IntegratedGradients,
    KernelShap,
    Lime,
    Occlusion,
    Saliency,
    SensX,
    SmoothGrad,
)
from skexplain.explainers._sensx import DEFAULT_DELTA_GRID


class CountingModel:
    """A numpy model that records how many rows it scored and its largest call."""

    def __init__(self, weights):
        self.weights = weights
        self.rows = 0
        self.largest = 0

    def __call__(self, X):
        self.rows += len(X)
        self.largest = max(self.largest, len(X))
        score = np.tanh(X.reshape(len(X), -1) @ self.weights)
        return np.column_stack([-score, score])


def _rows_scored(explainer, X):
    """Rows the method scored for X (explain() first scores X itself once per row)."""
    model = explainer.model
    model.rows = model.largest = 0
    explainer.explain(X)
    return model.rows - len(X), model.largest


def _traced_peak(function):
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- evaluations per instance -----------------------------------------------------------


def test_evaluations_per_instance_follow_the_documented_formulas():
    rng = np.random.default_rng(0)
    n_features, batch_size = 24, 7
    X = rng.normal(size=(40, n_features))
    model = CountingModel(rng.normal(size=n_features))
    groups = np.arange(n_features) // 4  # 6 groups
    n_profile = len(DEFAULT_DELTA_GRID) * 10
    cases = [
        (SensX(model, n_walks=3, n_profile_samples=10), n_profile + 3 * 25),
        (SensX(model, n_walks=3, delta=0.5), 3 * 25),
        (SensX(model, n_walks=3, delta=0.5, feature_groups=groups), 3 * 7),
        (Occlusion(model, window=5, stride=3), 1 + 8),  # windows start 0, 3, ..., 21
        (Occlusion(model, feature_groups=groups), 1 + 6),
        (Lime(model, n_samples=50), 50),
        # 6 players: all 2**6 - 2 = 62 coalitions, each with 5 background rows.
        (KernelShap(model, n_background=5, feature_groups=groups), 1 + 5 * (1 + 62)),
    ]
    for explainer, expected in cases:
        explainer.set_params(batch_size=batch_size, random_state=0).fit(X)
        rows, largest = _rows_scored(explainer, X[:2])
        assert rows == 2 * expected, type(explainer).__name__
        assert largest <= batch_size


def test_ism_evaluations_and_batch_bound():
    rng = np.random.default_rng(0)
    X = np.eye(4)[rng.integers(0, 4, size=(3, 30))].transpose(0, 2, 1)
    model = CountingModel(rng.normal(size=120))
    explainer = InSilicoMutagenesis(model, start=5, end=25, batch_size=16).fit(X)
    rows, largest = _rows_scored(explainer, X)
    assert rows == 3 * (1 + 3 * 20)
    assert largest <= 16


# --- bounded memory ---------------------------------------------------------------------


def test_sensx_memory_is_bounded_by_batch_size_not_by_walks():
    rng = np.random.default_rng(0)
    n_features, batch_size = 3000, 16
    X = rng.normal(size=(20, n_features))
    model = CountingModel(rng.normal(size=n_features) / np.sqrt(n_features))
    row_bytes = 8 * n_features

    def peak(n_walks):
        explainer = SensX(model, n_walks=n_walks, delta=0.5, batch_size=batch_size,
                                   random_state=0).fit(X)
        return _traced_peak(lambda: explainer.explain(X[:1]))

    few, many = peak(10), peak(30)
    # 30 walks score 90,030 rows (2 GiB); memory holds the row buffer and its mask, and the
    # state of one block of ten walks (endpoints, bit flips, orders, ranks, steps: about a
    # dozen row-sized arrays per walk).
    assert many < 1.25 * few
    assert many < (2 * batch_size + 12 * 10) * row_bytes


def test_150528_feature_image_with_patches_finds_the_planted_patch_in_bounded_memory():
    rng = np.random.default_rng(0)
    shape = (3, 224, 224)
    n_features = int(np.prod(shape))
    X = rng.uniform(size=(4,) + shape)
    patch = (np.arange(224) // 16)[:, None] * 14 + (np.arange(224) // 16)[None, :]
    labels = np.broadcast_to(patch, shape)  # 196 patches of 16 x 16, channels together
    planted = labels == 100

    def model(images):  # depends on the pixels of patch 100 only
        score = np.tanh(images[:, planted].mean(axis=1) - 0.5)
        return np.column_stack([-score, score])

    explainer = SensX(model, n_walks=2, delta=0.5, feature_groups=labels,
                               batch_size=8, random_state=0).fit(X)
    explanation = None

    def run():
        nonlocal explanation
        explanation = explainer.explain(X[:1], target=1)

    peak = _traced_peak(run)
    assert explanation.values.shape == (1, 196)
    assert explanation.top_features(1).iloc[0, 0] == "100"
    assert np.count_nonzero(explanation.values) == 1
    # 394 rows of 1.2 MB were scored (0.5 GB); memory held a few batches of 8 rows.
    assert peak < 4 * 8 * 8 * n_features


# --- dask -------------------------------------------------------------------------------


def _tiny_image_cnn():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, kernel_size=4, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(4, 2),
    ).eval()


def test_dask_local_cluster_gives_bit_identical_results():
    distributed = pytest.importorskip("dask.distributed")
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(12, 3, 16, 16))
    labels = np.broadcast_to((np.arange(16) // 8)[:, None] * 2 + np.arange(16) // 8,
                             (3, 16, 16))
    module = _tiny_image_cnn()
    explainers = [
        SensX(module, n_walks=12, n_profile_samples=20, tau=1e-3, batch_size=50),
        SensX(module, n_walks=12, delta=0.3, feature_groups=labels, batch_size=7),
        Occlusion(module, feature_groups=labels, batch_size=3),
        Lime(module, n_samples=40, feature_groups=labels, batch_size=16),
        KernelShap(module, n_background=4, feature_groups=labels, batch_size=9),
    ]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for explainer in explainers:
            explainer.set_params(n_jobs=1, random_state=0).fit(X)
        local = [explainer.explain(X[:3]).values for explainer in explainers]
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                      dashboard_address=None) as cluster:
            with distributed.Client(cluster) as client, joblib.parallel_config(
                backend="dask"
            ), distributed.get_task_stream(client) as stream:
                remote = [explainer.set_params(n_jobs=2).explain(X[:3]).values
                          for explainer in explainers]
    finally:
        torch.set_num_threads(threads)
    assert len({task["worker"] for task in stream.data}) == 2  # both workers took tasks
    for explainer, a, b in zip(explainers, local, remote, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=type(explainer).__name__)
        assert np.any(a != 0)


# --- torch device -----------------------------------------------------------------------


def _tabular_module():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 2)).eval()


@pytest.mark.parametrize("explainer", [
    SensX(None, n_walks=4, n_profile_samples=20),
    Occlusion(None),
    Lime(None, n_samples=50),
    KernelShap(None, n_background=5, n_samples=30),
    Saliency(None),
    IntegratedGradients(None, n_steps=5),
    SmoothGrad(None, n_samples=4),
    DeepLiftShap(None, n_baselines=3),
], ids=lambda e: type(e).__name__)
def test_device_parameter_runs_the_model_there_with_equal_results(explainer):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 6))
    module = _tabular_module()
    weight = module[0].weight.detach().clone()
    explainer = explainer.set_params(model=module)
    if "random_state" in explainer.get_params():
        explainer.set_params(random_state=0)
    default = explainer.set_params(device=None).fit(X).explain(X[:3]).values
    same = explainer.set_params(device="cpu").fit(X)
    assert same.score_function_.model is module  # already there: no copy
    np.testing.assert_array_equal(same.explain(X[:3]).values, default)
    # "cpu:0" is another torch device than the module's "cpu": the model is copied there.
    moved = explainer.set_params(device="cpu:0").fit(X)
    assert moved.score_function_.model is not module
    np.testing.assert_array_equal(moved.explain(X[:3]).values, default)
    np.testing.assert_array_equal(module[0].weight.detach(), weight)


def test_device_of_ism_and_skorch_net():
    from skorch import NeuralNetClassifier

    rng = np.random.default_rng(0)
    X = np.eye(4)[rng.integers(0, 4, size=(40, 12))].transpose(0, 2, 1).astype(np.float32)
    y = (X[:, 0, 5] == 1).astype(np.int64)
    torch.manual_seed(0)
    net = NeuralNetClassifier(
        nn.Sequential(nn.Flatten(), nn.Linear(48, 2)), max_epochs=2, lr=0.1, verbose=0,
        train_split=None,
    ).fit(X, y)
    default = InSilicoMutagenesis(net).fit(X).explain(X[:2]).values
    moved = InSilicoMutagenesis(net, device="cpu:0").fit(X)
    assert moved.score_function_.model is not net
    assert str(net.device) == "cpu"  # the user's net is left where it was
    np.testing.assert_array_equal(moved.explain(X[:2]).values, default)


def test_device_errors():
    X = np.random.default_rng(0).normal(size=(30, 6))
    y = (X[:, 0] > 0).astype(int)
    with pytest.raises(ValueError, match="torch modules and skorch nets only"):
        Occlusion(LogisticRegression().fit(X, y), device="cpu").fit(X)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            SensX(_tabular_module(), device="cuda").fit(X)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_device_matches_cpu():
    X = np.random.default_rng(0).normal(size=(30, 6))
    module = _tabular_module()
    for explainer in (Occlusion(module), IntegratedGradients(module, n_steps=8),
                      DeepLiftShap(module, n_baselines=3, random_state=0),
                      SmoothGrad(module, n_samples=4, random_state=0)):
        cpu = explainer.set_params(device=None).fit(X).explain(X[:3]).values
        gpu = explainer.set_params(device="cuda").fit(X).explain(X[:3]).values
        np.testing.assert_allclose(gpu, cpu, rtol=1e-5, atol=1e-6,
                                   err_msg=type(explainer).__name__)
    assert next(module.parameters()).device.type == "cpu"  # the user's model stayed
