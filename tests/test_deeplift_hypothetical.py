"""DeepLiftShap(hypothetical=True): hypothetical contributions of one-hot sequences.

Checked against tangermeme's ``deep_lift_shap(hypothetical=True)`` on the same model and
references, and against our own ordinary attributions (hypothetical * X summed over the
channels is the per-position sum of the attributions).
"""

import warnings

import numpy as np
import pytest
import torch

from skexplain.explainers import DeepLift, DeepLiftShap
from skexplain.models import ExpActivationCNN, Exponential


def one_hot(n, length, seed=0):
    rng = np.random.default_rng(seed)
    return np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1).copy()


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def sequences():
    return one_hot(16, 200, seed=3)


def small_cnn(first_activation, dtype=torch.float32):
    torch.manual_seed(2)
    model = ExpActivationCNN(architecture="cnn_dist", input_length=200,
                             first_activation=first_activation, n_outputs=2)
    # Batch-norm statistics that are not the identity, so every layer matters.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    return model.eval().to(dtype)


def tangermeme_hypothetical(model, X, references, target, dtype):
    tangermeme = pytest.importorskip("tangermeme.deep_lift_shap")
    refs = torch.as_tensor(references, dtype=dtype).expand((len(X),) + references.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = tangermeme.deep_lift_shap(
            model, torch.as_tensor(X, dtype=dtype), target=target, references=refs.clone(),
            hypothetical=True, device="cpu",
            additional_nonlinear_ops={Exponential: tangermeme._nonlinear},
        )
    return values.double().numpy()


@pytest.mark.parametrize("dtype, atol", [(torch.float32, 1e-5), (torch.float64, 1e-12)],
                         ids=["float32", "float64"])
@pytest.mark.parametrize("first_activation", ["exponential", "relu"])
def test_hypothetical_contributions_equal_tangermeme(first_activation, dtype, atol, sequences):
    model = small_cnn(first_activation, dtype)
    X, refs = sequences[:5], sequences[8:14]
    ours = DeepLiftShap(model, baselines=refs, hypothetical=True).fit(sequences).explain(
        X, target=1)
    theirs = tangermeme_hypothetical(model, X, refs, 1, dtype)
    assert ours.values.shape == X.shape
    assert ours.info["quantity"] == "hypothetical_contributions"
    # The values are large against the tolerance, and every base has one (not only the
    # observed one): the comparison can fail.
    assert np.abs(theirs).max() > 100 * atol
    assert (np.abs(ours.values * (1 - X)).max(axis=1) > 0).mean() > 0.9
    np.testing.assert_allclose(ours.values, theirs, rtol=0, atol=atol)


def test_float32_hypothetical_contributions_are_close_to_float64(sequences):
    # The secants are computed in float32 from the layers' outputs, and again in float64
    # where their rounding matters: float32 results stay close to the float64 ones.
    X, refs = sequences[:5], sequences[8:14]
    values = [DeepLiftShap(small_cnn("exponential", dtype), baselines=refs, hypothetical=True)
              .fit(sequences).explain(X, target=1).values
              for dtype in (torch.float32, torch.float64)]
    assert np.abs(values[0] - values[1]).max() < 1e-4 * np.abs(values[1]).max()


@pytest.mark.parametrize("first_activation", ["exponential", "relu"])
def test_hypothetical_times_input_is_the_ordinary_attribution(first_activation, sequences):
    model = small_cnn(first_activation)
    X = sequences[:4]
    params = dict(baselines="shuffle", n_baselines=6, random_state=0)
    hyp = DeepLiftShap(model, hypothetical=True, **params).fit(sequences).explain(X, target=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = DeepLiftShap(model, **params).fit(sequences).explain(X, target=0)
    assert plain.info["quantity"] == "attributions"
    np.testing.assert_allclose((hyp.values * X).sum(1), plain.values.sum(1), atol=1e-7)
    # Completeness holds for the ordinary attributions, and is what both results report.
    np.testing.assert_allclose(plain.values.reshape(4, -1).sum(1),
                               plain.info["scores"] - plain.info["reference_scores"],
                               atol=1e-5)
    np.testing.assert_allclose(hyp.info["completeness_delta"],
                               plain.info["completeness_delta"], atol=1e-9)
    assert np.abs(plain.info["completeness_delta"]).max() < 1e-5


def test_hypothetical_on_a_linear_model_is_the_weight_minus_the_reference_weight():
    # f(x) = sum(W * x): multipliers are W, so the hypothetical contribution of base b at
    # position l is W[b, l] - sum_c r[c, l] W[c, l], averaged over the references.
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4 * 30, 1)).eval()
    W = model[1].weight.detach().double().numpy().reshape(4, 30)
    X, refs = one_hot(3, 30, seed=1), one_hot(4, 30, seed=2)
    E = DeepLiftShap(model, baselines=refs, hypothetical=True).fit(X).explain(X, target=0)
    expected = W - np.mean([(r * W).sum(0) for r in refs], axis=0)
    np.testing.assert_allclose(E.values, np.broadcast_to(expected, X.shape), atol=1e-6)


def test_hypothetical_ignores_the_gradient_correction_and_batch_size(sequences):
    model = small_cnn("exponential")
    X = sequences[:3]
    params = dict(baselines="shuffle", n_baselines=5, random_state=1, hypothetical=True)
    base = DeepLiftShap(model, **params).fit(sequences).explain(X, target=0).values
    corrected = DeepLiftShap(model, gradient_correction=True, **params).fit(sequences)
    np.testing.assert_allclose(corrected.explain(X, target=0).values, base, atol=1e-7)
    # 3 pairs per pass: an instance's 5 references span two passes.
    small = DeepLiftShap(model, batch_size=3, **params).fit(sequences)
    np.testing.assert_allclose(small.explain(X, target=0).values, base, atol=1e-7)


def test_deeplift_with_one_reference_has_hypothetical_contributions_too(sequences):
    model = small_cnn("relu")
    X = sequences[:2]
    hyp = DeepLift(model, baselines=sequences[-1], hypothetical=True).fit(sequences)
    plain = DeepLift(model, baselines=sequences[-1]).fit(sequences)
    np.testing.assert_allclose((hyp.explain(X, target=0).values * X).sum(1),
                               plain.explain(X, target=0).values.sum(1), atol=1e-7)


def test_hypothetical_needs_one_hot_sequences(sequences):
    model = small_cnn("exponential")
    explainer = DeepLiftShap(model, baselines="shuffle", n_baselines=2, hypothetical=True)
    explainer.fit(sequences)
    soft = sequences[:2] * 0.5
    with pytest.raises(ValueError, match="one-hot along the channel axis"):
        explainer.explain(soft, target=0)
    unknown = sequences[:2].copy()
    unknown[0, :, 10] = 0  # an N
    with pytest.raises(ValueError, match="exactly one channel"):
        explainer.explain(unknown, target=0)
    tabular = torch.nn.Linear(5, 1)
    with pytest.raises(ValueError, match="hypothetical=True needs one-hot sequences"):
        DeepLiftShap(tabular, hypothetical=True).fit(np.zeros((4, 5), dtype=np.float32))


def test_a_user_rule_without_a_split_variant_runs_on_two_halves_with_equal_values(sequences):
    # Built-in rules run the references in a gradient-free pass first; a rule registered by
    # a user (the two-halves protocol of skexplain.nn) makes the whole call use batches of
    # inputs then references. Both give the same values.
    from skexplain.nn import register_deeplift_rule, rescale_rule

    class Split(torch.nn.Module):
        def forward(self, x):
            return torch.exp(x)

    class Halves(Split):
        pass

    register_deeplift_rule(Split, rescale_rule)
    register_deeplift_rule(Halves, lambda m, args, out: rescale_rule(m, args, out))

    def model(activation):
        torch.manual_seed(5)
        return torch.nn.Sequential(
            torch.nn.Conv1d(4, 6, 5), activation, torch.nn.MaxPool1d(3),
            torch.nn.Conv1d(6, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
            torch.nn.LazyLinear(2)).eval()

    X = sequences[:3]
    values = []
    for activation in (Split(), Halves()):
        net = model(activation)
        net(torch.as_tensor(X))  # materialise the lazy layer
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            E = DeepLiftShap(net, baselines="shuffle", n_baselines=4, random_state=0,
                             hypothetical=True).fit(sequences).explain(X, target=1)
        assert np.abs(E.info["completeness_delta"]).max() < 1e-5
        values.append(E.values)
    assert np.abs(values[0]).max() > 1e-3
    np.testing.assert_allclose(values[0], values[1], atol=1e-7)


class _InPlace(torch.nn.Module):
    """conv -> ReLU -> (x 2) -> max pool -> (+ 1) -> linear, the updates in place or not."""

    def __init__(self, in_place):
        super().__init__()
        torch.manual_seed(0)
        self.in_place = in_place
        self.conv = torch.nn.Conv1d(4, 5, 3)
        self.act = torch.nn.ReLU()
        self.pool = torch.nn.MaxPool1d(2)
        self.linear = torch.nn.Linear(5 * 14, 1)

    def forward(self, x):
        h = self.act(self.conv(x))
        h = h.mul_(2.0) if self.in_place else h * 2.0
        h = self.pool(h)
        h = h.add_(1.0) if self.in_place else h + 1.0
        return self.linear(h.flatten(1))


def test_a_forward_that_updates_activations_in_place_gets_the_same_values():
    # The references' recorded activations are changed by the in-place updates: the call
    # notices (version counters) and runs inputs and references as one batch instead.
    X = one_hot(5, 30, seed=4)
    values = [DeepLiftShap(_InPlace(in_place).eval(), baselines="shuffle", n_baselines=3,
                           random_state=0, hypothetical=True).fit(X).explain(X, target=0)
              for in_place in (False, True)]
    assert np.abs(values[1].info["completeness_delta"]).max() < 1e-5
    np.testing.assert_allclose(values[1].values, values[0].values, atol=1e-7)
