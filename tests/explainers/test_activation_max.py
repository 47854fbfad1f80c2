import joblib
import numpy as np
import pytest
import torch

from skexplain.explainers import ActivationMaximization
from skexplain.explainers._activation_max import project_to_simplex
from skexplain.models import Exponential
from tests.planted_motifs import MOTIFS, trained_classifier


def _letters(x):
    return "".join("ACGT"[i] for i in np.argmax(x, axis=0))


def _filter_bank(seed=0):
    """conv (3 filters of width 6, valid padding) -> exp: one output position per filter.

    Weights are redrawn until each column's best letter leads by 0.1, so the optimum is
    clear-cut.
    """
    rng = np.random.default_rng(seed)
    while True:
        weight = rng.normal(scale=0.5, size=(3, 4, 6))
        top2 = np.sort(weight, axis=1)[:, -2:]
        if np.all(top2[:, 1] - top2[:, 0] > 0.1):
            break
    net = torch.nn.Sequential(torch.nn.Conv1d(4, 3, 6, bias=False), Exponential()).eval()
    with torch.no_grad():
        net[0].weight.copy_(torch.from_numpy(weight))
    return net, weight


@pytest.mark.parametrize("relaxation", ["softmax", "clamp"])
def test_class_maximising_input_contains_the_class_motif(relaxation):
    net = trained_classifier()
    E = ActivationMaximization(net, relaxation=relaxation, n_restarts=3,
                               random_state=0).fit().explain()
    assert E.values.shape == (3, 4, 100)
    assert E.axes == E.info["axes"] == ("class", "alphabet", "position")
    np.testing.assert_array_equal(E.labels["class"], [0, 1, 2])
    np.testing.assert_allclose(E.values.sum(axis=1), 1.0)
    for k, motif in enumerate(MOTIFS):
        assert motif in _letters(E.values[k]), (k, _letters(E.values[k]))
    assert np.all(E.info["best_scores"] == E.info["scores"].max(axis=1))
    assert not hasattr(ActivationMaximization(net), "score")


@pytest.mark.parametrize("relaxation", ["softmax", "clamp"])
def test_filter_maximising_input_is_the_best_letter_of_each_kernel_column(relaxation):
    # exp(w * x) over one window is largest for the letter of largest weight in each column.
    net, weight = _filter_bank()
    E = ActivationMaximization(net, layer="1", relaxation=relaxation, n_restarts=2,
                               input_shape=(4, 6), random_state=0).fit().explain()
    rtol = 1e-2 if relaxation == "softmax" else 1e-6  # softmax only approaches a vertex
    assert E.axes == ("channel", "alphabet", "position")
    for k in range(3):
        assert _letters(E.values[k]) == _letters(weight[k])
        np.testing.assert_allclose(E.info["best_scores"][k],
                                   np.exp(weight[k].max(axis=0).sum()), rtol=rtol)
    if relaxation == "clamp":
        assert np.all((E.values == 0) | (E.values == 1))  # projection reaches the vertex


def test_project_to_simplex():
    x = torch.tensor([[[0.5, 0.2], [0.5, 0.3], [2.0, 0.4], [0.0, 0.1]]], dtype=torch.float64)
    projected = project_to_simplex(x)
    np.testing.assert_allclose(projected[0, :, 0], [0, 0, 1, 0])
    np.testing.assert_allclose(projected[0, :, 1], [0.2, 0.3, 0.4, 0.1])  # already on it
    rng = np.random.default_rng(0)
    y = project_to_simplex(torch.from_numpy(rng.normal(size=(5, 4, 7)) * 3))
    assert torch.all(y >= 0)
    np.testing.assert_allclose(y.sum(dim=1), 1.0)


def test_identical_for_any_n_jobs_and_backend():
    net, _ = _filter_bank(seed=1)
    explainer = ActivationMaximization(net, layer="1", n_restarts=2, input_shape=(4, 9),
                                       max_iter=100, random_state=0).fit()
    serial = explainer.explain().info["inputs"]
    parallel = explainer.set_params(n_jobs=2).explain().info["inputs"]
    with joblib.parallel_config(backend="threading", n_jobs=2):
        threads = explainer.set_params(n_jobs=None).explain().info["inputs"]
    np.testing.assert_array_equal(serial, parallel)
    np.testing.assert_array_equal(serial, threads)
    # a target's seed depends on the target, not on which others are asked for
    np.testing.assert_array_equal(serial[[2, 0]], explainer.explain(target=[2, 0]).info["inputs"])


def test_output_rule_is_the_cores():
    # output="probability" maximises the softmax of the class scores and reports it.
    net, weight = _filter_bank(seed=2)
    head = torch.nn.Sequential(net, torch.nn.Flatten(), torch.nn.Linear(3, 2)).eval()
    with torch.no_grad():
        head[2].weight.copy_(torch.tensor([[0.1, 0, 0], [-0.1, 0, 0]]))
        head[2].bias.zero_()
    params = dict(relaxation="clamp", n_restarts=2, input_shape=(4, 6), random_state=0)
    logit = ActivationMaximization(head, **params).fit().explain(target=0)
    proba = ActivationMaximization(head, output="probability", **params).fit().explain(target=0)
    assert logit.info["output"] == "logit" and proba.info["output"] == "probability"
    assert _letters(logit.values[0]) == _letters(weight[0])
    np.testing.assert_allclose(logit.info["best_scores"][0],
                               0.1 * np.exp(weight[0].max(axis=0).sum()), rtol=1e-6)
    with torch.no_grad():
        scores = head(torch.as_tensor(proba.values, dtype=torch.float32)).softmax(dim=1)[:, 0]
    np.testing.assert_allclose(proba.info["best_scores"], scores.numpy(), rtol=1e-4)
    assert proba.info["best_scores"][0] > 0.5


def test_errors():
    net, _ = _filter_bank()
    with pytest.raises(ValueError, match=r"\(alphabet, length\)"):
        ActivationMaximization(net, input_shape=(24,)).fit()
    explainer = ActivationMaximization(net, layer="1", input_shape=(4, 6)).fit()
    with pytest.raises(ValueError, match="out of range"):
        explainer.explain(target=5)
    with pytest.raises(ValueError, match="needs no instances"):
        explainer.explain(np.zeros((1, 4, 6)))
    with torch.no_grad():
        net[0].weight[0, 0, 0] = float("nan")
    broken = ActivationMaximization(net, layer="1", input_shape=(4, 6), max_iter=5).fit()
    with pytest.raises(ValueError, match="NaN or infinite scores"):
        broken.explain(target=0)
    with pytest.raises(ValueError, match="relaxation"):
        ActivationMaximization(net, relaxation="round", input_shape=(4, 6)).fit()
