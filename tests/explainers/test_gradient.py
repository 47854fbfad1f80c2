import pickle
import warnings
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import (
    check_dont_overwrite_parameters,
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_set_params,
)
from torch import nn

from skexplain.explainers import (
    CAM,
    DeepLift,
    DeepLiftShap,
    GradCAM,
    GradCAMPlusPlus,
    InputXGradient,
    IntegratedGradients,
    Saliency,
    SmoothGrad,
    reduce_sequence_attributions,
    shuffle_sequences,
)
from skexplain.explainers._gradient import path_quadrature
from skexplain.models import ExpActivationCNN, ExpActivationCNNClassifier
from skexplain.nn import register_deeplift_rule, register_default_layer, rescale_rule

GRADIENT_EXPLAINERS = [Saliency, InputXGradient, IntegratedGradients, SmoothGrad, DeepLift,
                       DeepLiftShap]
MAP_EXPLAINERS = [GradCAM, GradCAMPlusPlus]


def one_hot(n, length, seed=0):
    rng = np.random.default_rng(seed)
    return np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1).copy()


def linear_model(length, n_outputs=3, seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4 * length, n_outputs))
    weights = model[1].weight.detach().numpy().reshape(n_outputs, 4, length).astype(np.float64)
    return model.eval(), weights


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    # These models are tiny: on a shared 2-core machine, waking a second torch thread for
    # every small op costs more than it saves (measured 5x slower here).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    return ExpActivationCNN(architecture="cnn_dist", input_length=200).eval()


@pytest.fixture(scope="module")
def sequences():
    return one_hot(40, 200)


@pytest.fixture(scope="module")
def binary_net():
    """A skorch CNN on a tiny planted task, labels 'neg' / 'pos' (one output logit)."""
    X = one_hot(120, 40, seed=1)
    y = np.where(np.arange(120) % 2, "pos", "neg")
    X[y == "pos", :, 18:22] = np.eye(4, dtype=np.float32)[[2, 0, 3, 0]].T
    net = ExpActivationCNNClassifier(
        architecture=[{"filters": 6, "kernel_size": 5, "dropout": 0.1, "pool": 4}],
        module__dense_units=8, max_epochs=3, verbose=0, random_state=0,
    ).fit(X, y)
    return net, X


# ------------------------------------------------------------------ closed forms, linear model


@pytest.mark.parametrize("target", [0, 2])
def test_linear_model_saliency_is_the_weights_and_input_x_gradient_is_w_times_x(target):
    model, w = linear_model(10)
    X = one_hot(6, 10)
    saliency = Saliency(model).fit(X).explain(X, target=target)
    np.testing.assert_allclose(saliency.values, np.broadcast_to(w[target], X.shape), atol=1e-7)
    ixg = InputXGradient(model).fit(X).explain(X, target=target)
    np.testing.assert_allclose(ixg.values, w[target] * X, atol=1e-7)
    assert saliency.info["axes"] == ("sample", "channel", "position")


@pytest.mark.parametrize("method", ["gausslegendre", "riemann_trapezoid"])
@pytest.mark.parametrize("baselines", ["zeros", "mean", "array"])
def test_integrated_gradients_are_exact_on_a_linear_model(method, baselines):
    model, w = linear_model(10)
    X = one_hot(8, 10)
    reference = {"zeros": np.zeros((4, 10)), "mean": X.mean(0), "array": X[7]}[baselines]
    explainer = IntegratedGradients(
        model, baselines=X[7] if baselines == "array" else baselines, method=method, n_steps=7
    )
    E = explainer.fit(X).explain(X[:5], target=1)
    np.testing.assert_allclose(E.values, (X[:5] - reference) * w[1], atol=1e-6)
    np.testing.assert_allclose(E.info["completeness_delta"], 0, atol=1e-5)


def test_deeplift_on_a_linear_model_is_weight_times_difference():
    model, w = linear_model(10)
    X = one_hot(8, 10)
    E = DeepLift(model, baselines=X[7]).fit(X).explain(X[:5], target=2)
    np.testing.assert_allclose(E.values, (X[:5] - X[7]) * w[2], atol=1e-6)


def test_quadratures_integrate_polynomials():
    for method, n, degree in [("gausslegendre", 5, 9), ("riemann_trapezoid", 201, 1)]:
        alphas, weights = path_quadrature(n, method)
        assert np.isclose(np.sum(weights * alphas**degree), 1 / (degree + 1))
        assert alphas.min() >= 0 and alphas.max() <= 1


# ------------------------------------------------------------------ axioms on the CNN


def test_integrated_gradients_completeness_on_the_cnn(cnn, sequences):
    # A ReLU network is only piecewise smooth along the path: both quadratures converge, at
    # about 1 % of f(x) - f(baseline) for 50 steps (measured 1.1 % Gauss-Legendre, 1.7 %
    # trapezoid; 0.3 % / 0.2 % with 200 steps).
    X = sequences[:6]
    relative = {}
    for method in ("gausslegendre", "riemann_trapezoid"):
        for n_steps in (10, 50, 200):
            E = IntegratedGradients(cnn, n_steps=n_steps, method=method).fit(
                sequences).explain(X, target=0)
            gap = E.info["scores"] - E.info["reference_scores"]
            np.testing.assert_allclose(E.values.reshape(6, -1).sum(1) - gap,
                                       E.info["completeness_delta"], atol=1e-6)
            relative[method, n_steps] = np.max(np.abs(E.info["completeness_delta"] / gap))
    assert relative["gausslegendre", 50] < 0.02 and relative["riemann_trapezoid", 50] < 0.03
    for method in ("gausslegendre", "riemann_trapezoid"):
        assert relative[method, 200] < 0.005 and relative[method, 200] < relative[method, 10] / 5


@pytest.mark.parametrize("first_activation", ["exponential", "relu"])
def test_deeplift_summation_to_delta_on_the_cnn(first_activation, sequences):
    torch.manual_seed(1)
    model = ExpActivationCNN(architecture="cnn_dist", input_length=200,
                             first_activation=first_activation).eval()
    X = sequences[:5]
    for explainer in (DeepLift(model), DeepLift(model, baselines=sequences[-1])):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            E = explainer.fit(sequences).explain(X, target=0)
        total = E.values.reshape(5, -1).sum(1)
        np.testing.assert_allclose(total, E.info["scores"] - E.info["reference_scores"],
                                   atol=1e-5)


def test_deepliftshap_is_the_mean_of_deeplift_over_references_and_additive(cnn, sequences):
    refs = sequences[30:34]
    X = sequences[:3]
    shap = DeepLiftShap(cnn, baselines=refs).fit(sequences).explain(X, target=0)
    single = [DeepLift(cnn, baselines=r).fit(sequences).explain(X, target=0) for r in refs]
    np.testing.assert_allclose(shap.values, np.mean([e.values for e in single], axis=0),
                               atol=1e-6)
    ref_scores = cnn(torch.as_tensor(refs)).detach().numpy()[:, 0].mean()
    np.testing.assert_allclose(shap.info["reference_scores"], ref_scores, rtol=1e-5)
    np.testing.assert_allclose(shap.values.reshape(3, -1).sum(1),
                               shap.info["scores"] - ref_scores, atol=1e-5)


def test_deepliftshap_on_shuffles_and_fit_data(cnn, sequences):
    X = sequences[:3]
    for explainer in (DeepLiftShap(cnn, n_baselines=5, random_state=0),
                      DeepLiftShap(cnn, baselines="shuffle", n_baselines=5, random_state=0)):
        E = explainer.fit(sequences).explain(X, target=0)
        np.testing.assert_allclose(E.info["completeness_delta"], 0, atol=1e-5)
        assert E.info["n_baselines"] == 5
    assert explainer.baselines_ is None


def test_deeplift_matches_captum_where_captum_is_complete(sequences):
    # captum 0.9 mishandles max pooling after ReLU (captum issue #1276) and does not know our
    # Exponential module; on a ReLU CNN without pooling and a zero reference both agree.
    captum = pytest.importorskip("captum.attr")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(4, 8, 7, padding=3), nn.BatchNorm1d(8), nn.ReLU(),
                          nn.Flatten(), nn.Linear(8 * 200, 16), nn.ReLU(),
                          nn.Linear(16, 2)).eval()
    X = torch.as_tensor(sequences[:4])
    theirs = captum.DeepLift(model).attribute(X, baselines=X[:1] * 0, target=1)
    ours = DeepLift(model).fit(sequences).explain(sequences[:4], target=1).values
    np.testing.assert_allclose(ours, theirs.detach().numpy(), atol=1e-6)


def test_deeplift_warns_when_a_nonlinearity_is_not_a_module(sequences):
    class FunctionalReLU(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(4, 8, 7, padding=3)
            self.dense = nn.Linear(8 * 200, 1)

        def forward(self, x):
            return self.dense(torch.relu(self.conv(x)).flatten(1))

    torch.manual_seed(0)
    model = FunctionalReLU().eval()
    with pytest.warns(UserWarning, match="completeness_delta"):
        DeepLift(model).fit(sequences).explain(sequences[:4], target=0)


class SoftmaxGate(nn.Module):
    """Conv features gated by a softmax over positions (an attention-like pooling)."""

    def __init__(self, length=30):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv1d(4, 3, 5, padding=2)
        self.softmax = nn.Softmax(dim=-1)
        self.dense = nn.Linear(3, 2)

    def forward(self, x):
        h = self.conv(x)
        return self.dense((self.softmax(2 * h) * h).sum(-1))


class SelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Conv1d(4, 8, 3, padding=1)
        self.attention = nn.MultiheadAttention(8, 2, batch_first=True)
        self.dense = nn.Linear(8, 1)

    def forward(self, x):
        h = self.embed(x).transpose(1, 2)
        return self.dense(self.attention(h, h, h)[0].mean(1))


@pytest.mark.parametrize("model, name", [(SoftmaxGate, "'softmax' (Softmax)"),
                                         (SelfAttention, "'attention' (MultiheadAttention)")])
def test_deeplift_through_softmax_or_attention_reports_and_names_the_module(model, name):
    X = one_hot(6, 30, seed=2)
    model = model().eval()
    with pytest.warns(UserWarning, match=r"not exact through .*" + name.replace("(", r"\(")
                      .replace(")", r"\)")):
        E = DeepLiftShap(model, n_baselines=3, random_state=0).fit(X).explain(X, target=0)
    assert E.info["inexact_modules"] == [name]
    gap = E.info["scores"] - E.info["reference_scores"]
    np.testing.assert_allclose(E.values.reshape(6, -1).sum(1) - gap,
                               E.info["completeness_delta"], atol=1e-5)
    assert np.abs(E.info["completeness_delta"]).max() > 1e-3


def test_a_registered_deeplift_rule_restores_summation_to_delta():
    class Cube(nn.Module):
        def forward(self, x):
            return x ** 3

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(40, 6), Cube(), nn.Linear(6, 1)).eval()
    X = one_hot(5, 10, seed=6)
    with pytest.warns(UserWarning, match="no rule for"):
        DeepLift(model).fit(X).explain(X, target=0)
    register_deeplift_rule(Cube, rescale_rule)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        E = DeepLift(model).fit(X).explain(X, target=0)
    np.testing.assert_allclose(E.info["completeness_delta"], 0, atol=1e-5)
    with pytest.raises(TypeError, match="nn.Module subclass"):
        register_deeplift_rule(int, rescale_rule)


def test_deeplift_through_a_softmax_output_keeps_completeness(sequences):
    torch.manual_seed(0)
    model = ExpActivationCNN(n_outputs=3, architecture="cnn_local", input_length=200).eval()
    E = DeepLiftShap(model, output="probability", n_baselines=4, random_state=0).fit(
        sequences).explain(sequences[:4], target=2)
    probabilities = torch.softmax(model(torch.as_tensor(sequences[:4])), 1).detach().numpy()
    np.testing.assert_allclose(E.info["scores"], probabilities[:, 2], rtol=1e-5)
    np.testing.assert_allclose(E.info["completeness_delta"], 0, atol=1e-5)


@pytest.mark.parametrize("output", ["log_odds", lambda z: torch.log_softmax(z, 1)[:, 2] ** 2],
                         ids=["log_odds", "callable"])
def test_deeplift_through_other_nonlinear_heads_keeps_completeness(output, sequences):
    torch.manual_seed(0)
    model = ExpActivationCNN(n_outputs=3, architecture="cnn_local", input_length=200).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        E = DeepLiftShap(model, output=output, n_baselines=3, random_state=0).fit(
            sequences).explain(sequences[:4], target=0)
    np.testing.assert_allclose(E.info["completeness_delta"], 0, atol=1e-5)
    assert np.abs(E.info["scores"] - E.info["reference_scores"]).max() > 1e-3


# ------------------------------------------------------------------ gradient correction


@pytest.mark.parametrize("explainer", [Saliency, SmoothGrad])
def test_gradient_correction_makes_per_position_sums_zero(explainer, cnn, sequences):
    plain = explainer(cnn, random_state=0) if explainer is SmoothGrad else explainer(cnn)
    corrected = clone(plain).set_params(gradient_correction=True)
    a = plain.fit(sequences).explain(sequences[:3], target=0).values
    b = corrected.fit(sequences).explain(sequences[:3], target=0).values
    np.testing.assert_allclose(b.sum(axis=1), 0, atol=1e-6)
    np.testing.assert_allclose(b, a - a.mean(axis=1, keepdims=True), atol=1e-6)


def test_gradient_correction_keeps_completeness_with_one_hot_references(cnn, sequences):
    E = IntegratedGradients(cnn, baselines="shuffle", n_baselines=3, n_steps=30,
                            gradient_correction=True, random_state=0)
    E = E.fit(sequences).explain(sequences[:3], target=0)
    # Shuffles are one-hot, so x - b sums to 0 over channels at each position and the
    # correction leaves each instance's total unchanged.
    gap = E.info["scores"] - E.info["reference_scores"]
    np.testing.assert_allclose(E.values.reshape(3, -1).sum(1),
                               gap + E.info["completeness_delta"], atol=1e-5)


# ------------------------------------------------------------------ class activation maps


MOTIF = [2, 0, 3, 3, 0, 1, 0]  # GATTACA


def motif_detector(gap_head):
    """Conv matching GATTACA exactly (score 7 vs at most 6), ReLU, then a head."""
    conv = nn.Conv1d(4, 2, 7, padding=3)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, MOTIF, np.arange(7)] = 1.0
        conv.weight[1] = torch.randn(4, 7) * 0.01
        conv.bias.copy_(torch.tensor([-6.5, 0.0]))
    if gap_head:
        head = [nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(2, 1)]
    else:
        head = [nn.MaxPool1d(2), nn.Flatten(), nn.Linear(2 * 50, 1)]
    model = nn.Sequential(conv, nn.ReLU(), *head)
    with torch.no_grad():
        if gap_head:
            model[-1].weight.copy_(torch.tensor([[100.0, 0.0]]))
        else:
            model[-1].weight.fill_(1.0)
    return model.eval()


@pytest.fixture(scope="module")
def planted_motif():
    X = one_hot(20, 100, seed=3)
    starts = np.random.default_rng(3).integers(5, 88, len(X))
    for x, s in zip(X, starts, strict=True):
        x[:, s:s + 7] = np.eye(4, dtype=np.float32)[MOTIF].T
    return X, starts + 3  # motif centres


@pytest.mark.parametrize("explainer", MAP_EXPLAINERS)
def test_grad_cam_peaks_at_the_planted_motif(explainer, planted_motif):
    X, centres = planted_motif
    model = motif_detector(gap_head=False)
    E = explainer(model, layer="1").fit(X).explain(X, target=0)
    assert E.values.shape == (20, 100) and E.info["layer_map"].shape == (20, 100)
    assert np.all(np.abs(E.values.argmax(1) - centres) <= 1)
    assert E.feature_names[0] == "pos0" and E.info["axes"] == ("sample", "position")
    assert E.info["method"] == {GradCAM: "gradcam", GradCAMPlusPlus: "gradcam_plus_plus"}[
        explainer]
    pooled = explainer(model, layer=model[2]).fit(X).explain(X, target=0)  # 50 positions
    assert pooled.info["layer_map"].shape == (20, 50)
    assert np.all(np.abs(pooled.values.argmax(1) - centres) <= 2)


def test_cam_peaks_at_the_motif_and_averages_to_the_logit(planted_motif):
    X, centres = planted_motif
    model = motif_detector(gap_head=True)
    E = CAM(model, interpolation="nearest").fit(X).explain(X, target=0)
    assert np.all(np.abs(E.values.argmax(1) - centres) <= 1)
    logits = model(torch.as_tensor(X)).detach().numpy()[:, 0]
    np.testing.assert_allclose(E.info["layer_map"].mean(1), logits, rtol=1e-5)
    with pytest.raises(ValueError, match="global-average-pooled"):
        CAM(motif_detector(gap_head=False)).fit(X)


def test_cam_rejects_a_head_that_is_not_linear_in_the_pooled_maps(planted_motif):
    X, _ = planted_motif
    model = motif_detector(gap_head=True)
    model.append(nn.Tanh())
    with pytest.raises(ValueError, match="Use GradCAM"):
        CAM(model).fit(X)


def test_cam_output_auto_and_logit_agree_and_other_outputs_are_refused(planted_motif):
    X, _ = planted_motif
    model = motif_detector(gap_head=True)
    auto = CAM(model).fit(X).explain(X[:3], target=0)
    assert auto.info["output"] == "logit"
    np.testing.assert_array_equal(CAM(model, output="logit").fit(X).explain(X[:3], 0).values,
                                  auto.values)
    with pytest.warns(FutureWarning, match="'logits' is deprecated"):
        alias = CAM(model, output="logits").fit(X)
    np.testing.assert_array_equal(alias.explain(X[:3], target=0).values, auto.values)
    for output in ("probability", "log_odds", lambda z: z[:, 0]):
        with pytest.raises(ValueError, match="CAM explains logits only"):
            CAM(model, output=output).fit(X)


@pytest.mark.parametrize("explainer", MAP_EXPLAINERS)
def test_grad_cam_on_a_frozen_conv_layer_equals_the_unfrozen_result(explainer, planted_motif):
    X, centres = planted_motif
    model = motif_detector(gap_head=False)
    unfrozen = explainer(model, layer="1").fit(X).explain(X, target=0).values
    for p in model.parameters():
        p.requires_grad_(False)  # a fully frozen model, as after fine-tuning only a head
    try:
        frozen = explainer(model, layer="1").fit(X).explain(X, target=0).values
        assert not any(p.requires_grad for p in model.parameters())  # left as it was
    finally:
        for p in model.parameters():
            p.requires_grad_(True)
    np.testing.assert_array_equal(frozen, unfrozen)
    assert np.all(np.abs(frozen.argmax(1) - centres) <= 1)


def test_default_layer_comes_from_the_registry(planted_motif):
    X, _ = planted_motif

    class Detector(nn.Sequential):
        pass

    model = Detector(*motif_detector(gap_head=False)).eval()
    assert GradCAM(model).fit(X).layer_name_ == "0"  # the last convolution
    register_default_layer(Detector, lambda module: "1")
    assert GradCAM(model).fit(X).layer_name_ == "1"
    assert GradCAM(model, layer="2").fit(X).layer_name_ == "2"  # an explicit layer wins


def test_grad_cam_default_layer_is_the_last_conv_block(cnn, sequences):
    E = GradCAM(cnn).fit(sequences)
    assert E.layer_name_ == "blocks.3.activation"
    assert E.explain(sequences[:2], target=0).values.shape == (2, 200)
    assert GradCAM(motif_detector(False)).fit(sequences[:, :, :100]).layer_name_ == "0"


# ------------------------------------------------------------------ targets and outputs


def test_binary_single_logit_target_mapping(binary_net):
    net, X = binary_net
    logit = net.decision_function(X[:4])
    E1 = Saliency(net).fit(X).explain(X[:4], target=1)
    E0 = Saliency(net).fit(X).explain(X[:4], target=0)
    named = Saliency(net).fit(X).explain(X[:4], target="pos")
    np.testing.assert_allclose(E0.values, -E1.values, atol=1e-7)
    np.testing.assert_array_equal(named.values, E1.values)
    np.testing.assert_allclose(E1.base_values, logit, rtol=1e-5)
    np.testing.assert_allclose(E0.base_values, -logit, rtol=1e-5)
    assert list(E1.output_names) == ["neg", "pos"]
    proba = Saliency(net, output="probability").fit(X)
    P1, P0 = proba.explain(X[:4], target="pos"), proba.explain(X[:4], target="neg")
    np.testing.assert_allclose(P1.base_values, net.predict_proba(X[:4])[:, 1], rtol=1e-5)
    np.testing.assert_allclose(P0.values, -P1.values, atol=1e-7)
    p = P1.base_values[:, None, None]
    np.testing.assert_allclose(P1.values, p * (1 - p) * E1.values, rtol=1e-4, atol=1e-8)
    default = proba.explain(X[:4])
    np.testing.assert_array_equal(default.info["target"], net.predict_proba(X[:4]).argmax(1))


@pytest.mark.parametrize("explainer", [
    Saliency(None), IntegratedGradients(None, n_steps=5), DeepLift(None),
    SmoothGrad(None, n_samples=3, random_state=0), GradCAM(None)],
    ids=lambda e: type(e).__name__)
def test_deprecated_output_names_warn_and_give_identical_values(explainer, binary_net):
    net, X = binary_net
    for old, new in [("logits", "auto"), ("logits", "logit"),
                     ("probabilities", "probability")]:
        current = clone(explainer).set_params(model=net, output=new).fit(X)
        expected = current.explain(X[:3], target=1)
        with pytest.warns(FutureWarning, match=f"output='{old}' is deprecated"):
            aliased = clone(explainer).set_params(model=net, output=old).fit(X)
        E = aliased.explain(X[:3], target=1)
        np.testing.assert_array_equal(E.values, expected.values)
        np.testing.assert_array_equal(E.base_values, expected.base_values)
        assert E.info["output"] == expected.info["output"]


@pytest.mark.parametrize("explainer", GRADIENT_EXPLAINERS + MAP_EXPLAINERS)
def test_nan_model_output_raises_naming_the_rows(explainer):
    class NaNOnSecondRow(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(4, 2, 3)

        def forward(self, x):
            out = self.conv(x).mean(-1)
            return torch.where(x[:, 0, :1] > 0, torch.nan, out)  # rows starting with A

    X = one_hot(6, 12, seed=0)
    X[:, :, 0] = 0
    X[:, 1, 0] = 1
    X[1, :, 0] = [1, 0, 0, 0]
    with pytest.raises(ValueError, match=r"NaN or infinite scores .*rows 1\b"):
        explainer(NaNOnSecondRow().eval()).fit(X).explain(X, target=0)


def test_unknown_target_and_out_of_range_index_raise(binary_net):
    net, X = binary_net
    explainer = Saliency(net).fit(X)
    with pytest.raises(ValueError, match="Unknown target"):
        explainer.explain(X[:2], target="maybe")
    with pytest.raises(ValueError, match="out of range"):
        explainer.explain(X[:2], target=2)


def test_probabilities_of_a_plain_module_and_a_callable_output(sequences):
    torch.manual_seed(0)
    model = ExpActivationCNN(n_outputs=3, architecture="cnn_local", input_length=200).eval()
    logits = model(torch.as_tensor(sequences[:3])).detach()
    E = Saliency(model, output="probability").fit(sequences).explain(sequences[:3], target=1)
    np.testing.assert_allclose(E.base_values, torch.softmax(logits, 1)[:, 1].numpy(), rtol=1e-5)
    custom = Saliency(model, output=lambda z: z[:, 0] - z[:, 1]).fit(sequences)
    F = custom.explain(sequences[:3], target=0)
    np.testing.assert_allclose(F.base_values, (logits[:, 0] - logits[:, 1]).numpy(), rtol=1e-5)
    assert F.output_names is None


# ------------------------------------------------------------------ batching, seeds, state


@pytest.mark.parametrize("explainer", [
    IntegratedGradients(None, baselines="shuffle", n_baselines=3, n_steps=8, random_state=0),
    SmoothGrad(None, n_samples=6, random_state=0),
    DeepLiftShap(None, baselines="shuffle", n_baselines=4, random_state=0),
    GradCAMPlusPlus(None),
], ids=lambda e: type(e).__name__)
def test_batch_size_does_not_change_the_result(explainer, cnn, sequences):
    explainer = clone(explainer).set_params(model=cnn)
    X = sequences[:5]
    small = explainer.set_params(batch_size=1).fit(sequences).explain(X, target=0).values
    large = explainer.set_params(batch_size=500).fit(sequences).explain(X, target=0).values
    np.testing.assert_allclose(small, large, rtol=1e-4, atol=1e-6)
    first = explainer.explain(X[:1], target=0).values
    np.testing.assert_allclose(first, large[:1], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("explainer", [
    IntegratedGradients(None, baselines="shuffle", n_baselines=2, n_steps=4),
    SmoothGrad(None, n_samples=3),
    DeepLiftShap(None, n_baselines=3),
], ids=lambda e: type(e).__name__)
def test_random_state_controls_the_result(explainer, cnn, sequences):
    explainer = clone(explainer).set_params(model=cnn)
    runs = [explainer.set_params(random_state=seed).fit(sequences).explain(
        sequences[:2], target=0).values for seed in (1, 1, 2)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])


def test_batch_size_auto_resolves_with_the_gradient_working_set(cnn, sequences):
    from skexplain._core.compute import resolve_batch_size
    from skexplain.explainers._gradient import GRADIENT_WORKING_SET

    explainer = IntegratedGradients(cnn, n_steps=4).fit(sequences)
    assert explainer.batch_size == "auto"
    assert explainer._rows_per_pass == resolve_batch_size("auto", 800, GRADIENT_WORKING_SET)
    auto = explainer.explain(sequences[:3], target=0).values
    small = explainer.set_params(batch_size=3).explain(sequences[:3], target=0).values
    np.testing.assert_allclose(auto, small, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="batch_size"):
        Saliency(cnn, batch_size="big").fit(sequences)


def test_explainers_import_no_concrete_model():
    import inspect

    from skexplain.explainers import _attention, _cam, _deeplift, _gradient

    for module in (_attention, _cam, _deeplift, _gradient):
        assert "models" not in "".join(
            line for line in inspect.getsource(module).splitlines(True)
            if line.startswith(("import", "from"))), module.__name__


def test_module_mode_is_restored_and_inputs_untouched(sequences):
    torch.manual_seed(0)
    model = ExpActivationCNN(architecture="cnn_local", input_length=200)
    model.blocks[1].activation.inplace = True
    X = sequences.copy()
    eval_scores = model.eval()(torch.as_tensor(X[:3])).detach()
    model.train()
    E = DeepLiftShap(model, n_baselines=3, random_state=0).fit(X).explain(X[:3], target=0)
    assert model.training and model.blocks[0].dropout.training
    assert model.blocks[1].activation.inplace
    np.testing.assert_allclose(E.base_values, eval_scores[:, 0].numpy(), rtol=1e-5)
    np.testing.assert_array_equal(X, sequences)


# ------------------------------------------------------------------ tabular models


@pytest.fixture(scope="module")
def tabular_net():
    from skorch import NeuralNetClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 8)).astype(np.float32)
    y = (X[:, 3] > 0).astype(np.int64)
    torch.manual_seed(0)
    net = NeuralNetClassifier(
        nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2)),
        criterion=nn.CrossEntropyLoss, max_epochs=30, lr=0.1, verbose=0, train_split=None,
    ).fit(X, y)
    return net, X


@pytest.mark.parametrize("explainer", [
    Saliency(None), InputXGradient(None), IntegratedGradients(None), SmoothGrad(None),
    DeepLift(None), DeepLiftShap(None)], ids=lambda e: type(e).__name__)
def test_tabular_mlp_relevant_feature_ranked_first(explainer, tabular_net):
    net, X = tabular_net
    columns = [f"gene{i}" for i in range(8)]
    frame = pd.DataFrame(X, columns=columns)
    explainer = clone(explainer).set_params(model=net, output="probability")
    if "random_state" in explainer.get_params():
        explainer.set_params(random_state=0)
    E = explainer.fit(frame).explain(frame.iloc[:20][np.abs(X[:20, 3]) > 0.3], target=1)
    assert (E.top_features(1)[1] == "gene3").all()
    assert E.info["axes"] == ("sample", "feature")
    proba = net.predict_proba(X[:20][np.abs(X[:20, 3]) > 0.3])[:, 1]
    np.testing.assert_allclose(E.base_values, proba, rtol=1e-5)


def test_map_explainers_and_correction_need_a_channel_axis(tabular_net):
    net, X = tabular_net
    with pytest.raises(ValueError, match="positions"):
        GradCAM(net).fit(X)
    with pytest.raises(ValueError, match="channel axis"):
        Saliency(net, gradient_correction=True).fit(X)
    with pytest.raises(ValueError, match="one-hot sequences"):
        IntegratedGradients(net, baselines="shuffle").fit(X)


# ------------------------------------------------------------------ errors and API


@pytest.mark.parametrize("explainer", GRADIENT_EXPLAINERS + MAP_EXPLAINERS + [CAM])
def test_sklearn_model_raises_type_error_naming_the_fix(explainer):
    X = np.random.default_rng(0).normal(size=(30, 4))
    model = LogisticRegression().fit(X, X[:, 0] > 0)
    with pytest.raises(TypeError, match="torch model.*SensX"):
        explainer(model).fit(X)


def test_bad_input_raises_clear_errors(cnn, sequences):
    with pytest.raises(ValueError, match="baselines has shape"):
        IntegratedGradients(cnn, baselines=np.zeros((4, 7))).fit(sequences)
    with pytest.raises(ValueError, match="must be one-hot"):
        IntegratedGradients(cnn, baselines="shuffle").fit(sequences).explain(
            sequences[:2] * 0.5, target=0)
    with pytest.raises(ValueError, match="no layer"):
        GradCAM(cnn, layer="blocks.9").fit(sequences)
    with pytest.raises(ValueError, match="riemann_trapezoid"):
        IntegratedGradients(cnn, n_steps=1, method="riemann_trapezoid").fit(sequences)
    with pytest.raises(ValueError, match="feature shape"):
        Saliency(cnn).fit(sequences).explain(sequences[:, :, :100])


@pytest.mark.parametrize("explainer", [cls(None) for cls in GRADIENT_EXPLAINERS + MAP_EXPLAINERS]
                         + [CAM(None)], ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("check", [check_no_attributes_set_in_init, check_get_params_invariance,
                                   check_set_params], ids=lambda c: c.__name__)
def test_sklearn_checks(explainer, check):
    check(type(explainer).__name__, explainer)


@pytest.mark.parametrize("explainer", GRADIENT_EXPLAINERS)
def test_fit_does_not_overwrite_parameters(explainer):
    model = nn.Sequential(nn.Linear(3, 2)).eval()
    check_dont_overwrite_parameters(explainer.__name__, explainer(model))


@pytest.mark.parametrize("explainer", MAP_EXPLAINERS + [CAM])
def test_map_explainers_fit_does_not_overwrite_parameters(explainer, planted_motif):
    X, _ = planted_motif
    estimator = explainer(motif_detector(gap_head=explainer is CAM))
    before = estimator.get_params()
    estimator.fit(X)
    after = estimator.get_params()
    assert before.keys() == after.keys() and all(before[k] is after[k] for k in before)


def test_clone_and_pickle_keep_working(cnn, sequences):
    explainer = IntegratedGradients(cnn, n_steps=5).fit(sequences)
    restored = pickle.loads(pickle.dumps(explainer))
    np.testing.assert_allclose(restored.explain(sequences[:2], target=0).values,
                               explainer.explain(sequences[:2], target=0).values, atol=1e-7)
    assert clone(explainer).model is cnn
    assert np.isfinite(explainer.score(sequences[:3]))


# ------------------------------------------------------------------ sequence helpers


def test_dinucleotide_shuffles_keep_pair_counts_and_ends():
    X = one_hot(5, 60, seed=4)
    X[0, :, 10:13] = 0  # unknown bases
    shuffles = shuffle_sequences(X, 8, random_state=0)
    assert shuffles.shape == (5, 8, 4, 60) and shuffles.dtype == X.dtype
    tokens = np.where(X.sum(1) == 1, X.argmax(1), 4)
    for original, copies in zip(tokens, shuffles, strict=True):
        pairs = Counter(zip(original[:-1], original[1:], strict=True))
        for copy in copies:
            t = np.where(copy.sum(0) == 1, copy.argmax(0), 4)
            assert Counter(zip(t[:-1], t[1:], strict=True)) == pairs
            assert t[0] == original[0] and t[-1] == original[-1]
        assert sum(not np.array_equal(c, shuffles[0, 0]) for c in copies) >= 1
    np.testing.assert_array_equal(shuffle_sequences(X, 2, random_state=3),
                                  shuffle_sequences(X, 2, random_state=3))


def test_dinucleotide_shuffle_is_uniform_over_valid_sequences():
    x = np.eye(4)[[0, 1, 0, 2, 0, 1, 2, 0]].T[None]  # 6 sequences share its pair counts
    copies = shuffle_sequences(x, 3000, random_state=0)[0].argmax(1)
    counts = Counter(map(tuple, copies))
    assert len(counts) == 6
    assert max(counts.values()) / min(counts.values()) < 1.25


def test_mononucleotide_shuffle_keeps_composition():
    X = one_hot(3, 50, seed=5)
    shuffles = shuffle_sequences(X, 4, kind="mononucleotide", random_state=0)
    np.testing.assert_array_equal(shuffles.sum(-1), np.repeat(X.sum(-1)[:, None], 4, 1))
    with pytest.raises(ValueError, match="one-hot"):
        shuffle_sequences(X * 2)
    with pytest.raises(ValueError, match="kind"):
        shuffle_sequences(X, kind="codon")


def test_reduce_sequence_attributions():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(2, 4, 6))
    X = one_hot(2, 6)
    observed = values[np.arange(2)[:, None], X.argmax(1), np.arange(6)]
    np.testing.assert_allclose(reduce_sequence_attributions(values, X), observed)
    np.testing.assert_allclose(reduce_sequence_attributions(values, method="sum"),
                               values.sum(1))
    np.testing.assert_allclose(reduce_sequence_attributions(values, method="sum_abs"),
                               np.abs(values).sum(1))
    np.testing.assert_allclose(reduce_sequence_attributions(values, method="max_abs"),
                               np.abs(values).max(1))
    np.testing.assert_allclose(reduce_sequence_attributions(values, method="l2"),
                               np.linalg.norm(values, axis=1))
    with pytest.raises(ValueError, match="needs the sequences"):
        reduce_sequence_attributions(values)
    with pytest.raises(ValueError, match="method must be"):
        reduce_sequence_attributions(values, X, method="mean")


def test_reduce_accepts_an_explanation(cnn, sequences):
    E = Saliency(cnn).fit(sequences).explain(sequences[:2], target=0)
    np.testing.assert_allclose(reduce_sequence_attributions(E),
                               (E.values * sequences[:2]).sum(1))
