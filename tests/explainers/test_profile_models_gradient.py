"""Gradient explainers on a BPNet-style profile model: a tuple output (profile, counts)
reduced by ``output=callable``, and a control track passed as ``model_args``."""

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from skexplain.explainers import (
    DeepLift,
    DeepLiftShap,
    GradCAM,
    InputXGradient,
    IntegratedGradients,
    Saliency,
    SmoothGrad,
)
from tests.profile_models import (
    TinyBPNet,
    counts_head,
    profile_sum,
    reference_scores,
    sequences_and_controls,
)

EXPLAINERS = [
    Saliency(),
    InputXGradient(),
    IntegratedGradients(n_steps=16),
    SmoothGrad(n_samples=5, random_state=0),
    DeepLift(),
    DeepLiftShap(n_baselines=3, random_state=0),
    GradCAM(layer="conv"),
]


class ModuleReLUBPNet(TinyBPNet):
    """TinyBPNet with its ReLU as a module, so that DeepLIFT's rules see it."""

    def __init__(self):
        super().__init__()
        self.relu = nn.ReLU()

    def forward(self, x, control):
        h = torch.cat([self.relu(self.conv(x)), control[:, None, :]], dim=1)
        return self.profile(h), self.counts(h.mean(dim=2))


class GatedBPNet(TinyBPNet):
    """TinyBPNet whose control track gates the conv features (the attributions of x depend
    on the control, unlike TinyBPNet's, where it is added after the ReLU)."""

    def forward(self, x, control):
        h = torch.relu(self.conv(x)) * (0.5 + control[:, None, :])
        h = torch.cat([h, control[:, None, :]], dim=1)
        return self.profile(h), self.counts(h.mean(dim=2))


class Bound(nn.Module):
    """The model with one control track fixed: forward(x) = model(x, control)."""

    def __init__(self, model, control):
        super().__init__()
        self.model = model
        self.register_buffer("control", torch.as_tensor(control))

    def forward(self, x):
        return self.model(x, self.control.expand(len(x), -1))


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data():
    return sequences_and_controls(n=6, length=20)


def _quiet_explain(explainer, X, **kwargs):
    with warnings.catch_warnings():
        # DeepLIFT warns on TinyBPNet: its torch.relu is not a module (tested below).
        warnings.filterwarnings("ignore", message=".*completeness_delta", category=UserWarning)
        return explainer.explain(X, target=0, **kwargs)


@pytest.mark.parametrize("network", [TinyBPNet, GatedBPNet], ids=lambda c: c.__name__)
@pytest.mark.parametrize("explainer", EXPLAINERS, ids=lambda e: type(e).__name__)
def test_batch_with_model_args_equals_each_sequence_with_its_own_control(explainer, network,
                                                                          data):
    X, control = data
    model = network().eval()
    explainer = explainer.set_params(model=model, output=profile_sum).fit(X)
    E = _quiet_explain(explainer, X, model_args=(control,))
    assert E.info["output"] == "profile_sum"
    np.testing.assert_allclose(E.base_values,
                               reference_scores(model, X, control, profile_sum)[:, 0],
                               rtol=1e-6)
    if isinstance(explainer, SmoothGrad):
        # Instance i's noise depends on its index: compare with the model bound to control i.
        alone = [_quiet_explain(explainer.set_params(model=Bound(model, control[i])).fit(X),
                                X).values[i] for i in range(len(X))]
    else:
        alone = [_quiet_explain(explainer, X[i:i + 1], model_args=(control[i:i + 1],))
                 .values[0] for i in range(len(X))]
    np.testing.assert_allclose(E.values, np.stack(alone), rtol=1e-5, atol=1e-6)
    assert np.abs(E.values).max() > 0
    # The control rows matter: another pairing gives other attributions.
    shuffled = _quiet_explain(explainer.set_params(model=model).fit(X), X,
                              model_args=(control[::-1].copy(),))
    if network is GatedBPNet:  # TinyBPNet's attributions do not depend on the control
        assert not np.allclose(shuffled.values, E.values)
    assert not np.allclose(shuffled.base_values, E.base_values)


def test_integrated_gradients_completeness_with_model_args(data):
    X, control = data
    model = TinyBPNet().eval()
    E = IntegratedGradients(model, output=profile_sum, n_steps=200).fit(X).explain(
        X, target=0, model_args=(control,))
    expected = reference_scores(model, X, control, profile_sum)[:, 0]
    zeros = reference_scores(model, np.zeros_like(X), control, profile_sum)[:, 0]
    np.testing.assert_allclose(E.info["scores"], expected, rtol=1e-6)
    np.testing.assert_allclose(E.info["reference_scores"], zeros, rtol=1e-5, atol=1e-6)
    gap = expected - zeros
    np.testing.assert_allclose(E.values.reshape(len(X), -1).sum(1), gap, rtol=2e-3, atol=1e-3)


@pytest.mark.parametrize("output", [profile_sum, counts_head], ids=lambda f: f.__name__)
@pytest.mark.parametrize("explainer", [DeepLift, DeepLiftShap])
def test_deeplift_summation_to_delta_through_a_callable_head_with_model_args(
        explainer, output, data):
    X, control = data
    model = ModuleReLUBPNet().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        E = explainer(model, output=output, n_baselines=3, random_state=0).fit(X).explain(
            X, target=0, model_args=(control,))
    np.testing.assert_allclose(E.info["scores"],
                               reference_scores(model, X, control, output)[:, 0], rtol=1e-6)
    np.testing.assert_allclose(E.values.reshape(len(X), -1).sum(1),
                               E.info["scores"] - E.info["reference_scores"], atol=1e-5)
    np.testing.assert_allclose(E.info["completeness_delta"], 0, atol=1e-5)
    assert E.info["inexact_modules"] == []


def test_deeplift_warns_on_a_functional_relu_in_the_profile_model(data):
    X, control = data
    with pytest.warns(UserWarning, match="torch.relu"):
        E = DeepLift(TinyBPNet().eval(), output=profile_sum).fit(X).explain(
            X, target=0, model_args=(control,))
    assert np.abs(E.info["completeness_delta"]).max() > 1e-2


def test_a_profile_model_without_a_reduction_or_model_args_is_refused(data):
    X, control = data
    model = TinyBPNet().eval()
    with pytest.raises(ValueError, match="output=callable"):
        Saliency(model).fit(X).explain(X, target=0, model_args=(control,))
    with pytest.raises(ValueError, match="model_args"):
        Saliency(model, output=profile_sum).fit(X).explain(X, model_args=(control[:2],))
    with pytest.raises(TypeError):
        Saliency(model, output=profile_sum).fit(X).explain(X)  # forward needs the control
