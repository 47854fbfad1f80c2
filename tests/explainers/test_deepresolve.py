import joblib
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import (
    check_dont_overwrite_parameters,
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_set_params,
)

from skexplain.explainers import DeepResolve
from skexplain.explainers._deepresolve import class_similarity, summarize_restarts
from skexplain.models import ExpActivationCNN
from tests.planted_motifs import MOTIFS, insert_at_random, random_sequences, trained_classifier

matplotlib.use("Agg")


class LinearHead(torch.nn.Module):
    """layer "hidden" (identity) -> flatten -> linear: S_c(H) = w_c . H + b_c.

    ``bent`` adds ``|mean of channel 0|`` to every logit: its best value has either sign,
    so channel 0 is inconsistent across restarts.
    """

    def __init__(self, weight, bias, bent=False):
        super().__init__()
        self.hidden = torch.nn.Identity()
        self.linear = torch.nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.linear.weight.copy_(torch.as_tensor(weight))
            self.linear.bias.copy_(torch.as_tensor(bias))
        self.bent = bent

    def forward(self, x):
        h = self.hidden(x)
        out = self.linear(h.flatten(1))
        if self.bent:
            out = out + 10 * h[:, 0].mean(dim=1, keepdim=True).abs()
        return out


def _linear_head(n_classes=3, n_channels=6, n_positions=4, seed=0, bent=False):
    rng = np.random.default_rng(seed)
    weight = rng.normal(size=(n_classes, n_channels * n_positions))
    if bent:
        weight[:, :n_positions] = 0  # channel 0 acts only through the bend
    return LinearHead(weight, rng.normal(size=n_classes), bent=bent).eval(), weight


class NaNAwayFromZero(LinearHead):
    """Finite at H = 0 (where fit probes it), NaN at any other H."""

    def forward(self, x):
        h = self.hidden(x)
        return self.linear(h.flatten(1)) + torch.sqrt(-h.abs().flatten(1).sum(dim=1))[:, None]


def test_nan_scores_raise_instead_of_a_silent_result():
    _, weight = _linear_head()
    bias = np.array([0.0, np.nan, 0.0])
    with pytest.raises(ValueError, match="NaN or infinite"):
        _fast(LinearHead(weight, bias).eval()).fit()
    model = NaNAwayFromZero(weight, np.zeros(3)).eval()
    explainer = _fast(model, n_restarts=2, max_iter=5).fit()
    with pytest.raises(ValueError, match="NaN or infinite class scores"):
        explainer.explain()


def _fast(model, **params):
    defaults = dict(l2_penalty=0.1, learning_rate=1.0, n_restarts=6, layer="hidden",
                    input_shape=(6, 4), random_state=0)
    return DeepResolve(model, **{**defaults, **params})


def test_linear_head_reaches_the_closed_form_optimum():
    # J = w.H + b - lambda ||H||^2 is maximised at H* = w / (2 lambda) from any start.
    model, weight = _linear_head()
    E = _fast(model).fit().explain()
    optimum = weight.reshape(3, 6, 4) / 0.2
    maps = E.info["feature_importance_maps"]
    assert maps.shape == (3, 6, 6, 4)
    np.testing.assert_allclose(maps, np.broadcast_to(optimum[:, None], maps.shape), atol=1e-2)
    np.testing.assert_allclose(E.values, optimum.mean(axis=2), atol=1e-2)
    assert E.axes == E.info["axes"] == ("class", "channel")
    np.testing.assert_array_equal(E.labels["class"], [0, 1, 2])
    np.testing.assert_array_equal(E.labels["channel"], np.arange(6))
    assert E.info["output"] == "logit"
    # the best class score of J's maximiser: w.H* + b = ||w||^2 / (2 lambda) + b
    best = (weight**2).sum(axis=1) / 0.2 + model.linear.bias.detach().numpy()
    np.testing.assert_allclose(E.info["best_scores"], best, rtol=1e-3)
    frame = E.to_frame()
    assert list(frame.columns) == ["class", "channel", "value"] and len(frame) == 18
    assert np.all(E.info["inconsistency"] < 1e-4)
    negative = np.all(optimum.mean(axis=2)[:, None] < 0, axis=1)
    np.testing.assert_array_equal(E.info["negative"], negative)
    assert not E.info["non_additive"].any()
    assert np.all(E.info["n_iter"] < 200)


def test_output_probability_scores_the_softmax_of_the_head():
    # The class score is the core's output head: with output="probability", the softmax.
    model, weight = _linear_head()
    E = _fast(model, output="probability", n_restarts=3, max_iter=200).fit().explain()
    assert E.info["output"] == "probability"
    maps = torch.as_tensor(E.info["feature_importance_maps"])
    with torch.no_grad():
        proba = model.linear(maps.flatten(2).float()).softmax(dim=2).numpy()
    expected = proba[np.arange(3), :, np.arange(3)]  # (class, restart): its own probability
    np.testing.assert_allclose(E.info["scores"], expected, rtol=1e-4)
    assert np.all((E.info["best_scores"] > 0) & (E.info["best_scores"] <= 1))


def test_channel_whose_best_sign_depends_on_the_start_is_non_additive():
    model, _ = _linear_head(bent=True)
    E = _fast(model, n_restarts=10).fit().explain()
    fivs = E.info["feature_importance_vectors"][:, :, 0]
    # 10 |mean h| - 0.1 ||h||^2 peaks at h = +/-12.5 at each of the 4 positions.
    np.testing.assert_allclose(np.abs(fivs), 12.5, rtol=1e-2)
    assert np.all((fivs > 0).any(axis=1) & (fivs < 0).any(axis=1))
    np.testing.assert_array_equal(E.info["non_additive"][:, 0], True)
    assert not E.info["non_additive"][:, 1:].any()
    # A non-additive channel's overall importance averages only its positive runs.
    np.testing.assert_allclose(E.values[:, 0], 12.5, rtol=1e-2)


def test_top_channels_of_each_class_detect_its_motif():
    net = trained_classifier()
    E = DeepResolve(net, random_state=0).fit().explain()
    assert E.info["layer"] == "blocks.1"
    assert list(E.output_names) == [0, 1, 2]
    # Ground truth from data DeepResolve never sees: the channels of the last conv block
    # whose mean activation rises most when the class's motif is inserted.
    module = net.module_
    background = random_sequences(400, seed=7)
    top = E.top_channels(3).to_numpy()
    for k, motif in enumerate(MOTIFS):
        gain = (_block_output(module, insert_at_random(background, motif, seed=k))
                - _block_output(module, background)).mean(axis=(0, 2))
        detectors = set(np.argsort(-gain)[:5])
        assert set(top[k]) <= detectors, (k, top[k], detectors)


def _block_output(module, X):
    store = []
    handle = module.blocks[-1].register_forward_hook(lambda m, i, o: store.append(o))
    with torch.no_grad():
        module(torch.as_tensor(X))
    handle.remove()
    return store[0].numpy()


def test_identical_for_any_n_jobs_and_backend():
    model, _ = _linear_head(bent=True)
    explainer = _fast(model, random_state=3).fit()
    serial = explainer.explain()
    parallel = explainer.set_params(n_jobs=2).explain()
    with joblib.parallel_config(backend="threading", n_jobs=2):
        threads = explainer.set_params(n_jobs=None).explain()
    for key in ("feature_importance_maps", "scores", "n_iter", "non_additive"):
        np.testing.assert_array_equal(serial.info[key], parallel.info[key])
        np.testing.assert_array_equal(serial.info[key], threads.info[key])


def test_random_state_controls_the_result_and_targets_are_independent():
    model, _ = _linear_head(bent=True)
    a = _fast(model, random_state=1).fit().explain()
    b = _fast(model, random_state=1).fit().explain(target=[2, 0])
    c = _fast(model, random_state=2).fit().explain()
    maps = a.info["feature_importance_maps"]
    np.testing.assert_array_equal(maps[[2, 0]], b.info["feature_importance_maps"])
    assert not np.array_equal(maps, c.info["feature_importance_maps"])


def test_network_is_left_untouched():
    net = ExpActivationCNN(n_outputs=2, input_length=40, architecture=[
        {"filters": 4, "kernel_size": 5, "dropout": 0.5, "pool": 4}], dense_units=8)
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    DeepResolve(net, n_restarts=2, max_iter=20, input_shape=(4, 40)).fit().explain()
    assert net.training
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(p.dtype == torch.float32 and p.requires_grad for p in net.parameters())


def test_class_similarity_clusters_classes_with_the_same_importance():
    importance = np.array([[1.0, 2, 3, 4], [2, 4, 6, 8.5], [4, 1, 3, -2], [0, 0, 0, 0]])
    similarity, linkage = class_similarity(importance)
    assert similarity[0, 1] > 0.99 and similarity[3, 0] == 0 and similarity[3, 3] == 1
    assert sorted(linkage[0, :2]) == [0, 1]


def test_summarize_restarts_weights_by_shifted_scores():
    fivs = np.array([[1.0, -1.0], [3.0, -2.0], [5.0, -3.0]])
    scores = np.array([-1.0, 0.0, 1.0])  # shifted to weights 0, 1, 2
    summary = summarize_restarts(fivs, scores, random_state=0)
    np.testing.assert_allclose(summary["overall_importance"], [13 / 3, -8 / 3])
    np.testing.assert_allclose(summary["inconsistency"], [8 / 9, 2 / 9])
    np.testing.assert_array_equal(summary["negative"], [False, True])


def test_skorch_classifier_label_agreement_and_plots():
    net = trained_classifier()
    E = DeepResolve(net, n_restarts=3, random_state=0).fit().explain(target=[0, 1, 2])
    Y = np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1], [1, 0, 1], [0, 1, 0]])
    assert -1 <= E.label_agreement(Y) <= 1
    ax = E.plot_importance(ax=plt.figure().gca())
    np.testing.assert_array_equal(ax.images[0].get_array(), E.values)
    ax = E.plot_importance_map(1, ax=plt.figure().gca())
    assert ax.images[0].get_array().shape == E.info["feature_importance_maps"].shape[2:]
    ax = E.plot_class_similarity()
    order = [int(t.get_text()) for t in ax.get_yticklabels()]
    np.testing.assert_array_equal(ax.images[0].get_array(),
                                  E.info["class_similarity"][np.ix_(order, order)])
    plt.close("all")


@pytest.mark.parametrize("check", [
    check_no_attributes_set_in_init, check_get_params_invariance, check_set_params,
    check_dont_overwrite_parameters,
], ids=lambda c: c.__name__)
def test_sklearn_checks(check):
    # These checks fit on X of shape (n, 3): a small MLP over 3 features takes it.
    mlp = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    check("DeepResolve", DeepResolve(mlp.eval(), layer="1", n_restarts=2, max_iter=5))


def test_clone_keeps_the_network():
    model, _ = _linear_head()
    explainer = _fast(model, n_restarts=3)
    assert clone(explainer).model is model


def test_errors():
    model, _ = _linear_head()
    with pytest.raises(NotFittedError):
        _fast(model).explain()
    with pytest.raises(ValueError, match="input shape is unknown"):
        DeepResolve(model, layer="hidden").fit()
    with pytest.raises(ValueError, match="No layer named 'nope'"):
        _fast(model, layer="nope").fit()
    with pytest.raises(ValueError, match="layer=None picks the last conv block"):
        _fast(model, layer=None).fit()
    with pytest.raises(TypeError, match="torch.nn.Module"):
        DeepResolve(lambda X: X, input_shape=(6, 4)).fit()
    explainer = _fast(model).fit()
    with pytest.raises(ValueError, match="not instances"):
        explainer.explain(np.zeros((1, 6, 4)))
    with pytest.raises(ValueError, match="out of range"):
        explainer.explain(target=3)
    with pytest.raises(ValueError, match="Unknown target"):
        explainer.explain(target="a")
    assert not hasattr(explainer, "score")  # model-level values are not attributions
    with pytest.raises(ValueError, match="n_restarts"):
        _fast(model, n_restarts=0).fit()
