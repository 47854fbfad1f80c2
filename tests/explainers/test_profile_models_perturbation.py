"""Perturbation explainers and SensX on a BPNet-style profile model.

TinyBPNet's forward takes a control track besides the sequence and returns a tuple
(profile, counts): ``output=profile_sum`` reduces it to one score per sequence and
``model_args=(control,)`` gives every perturbed row the control track of its own sequence.
TinyBPNet's control track enters its heads additively, so it cancels in the score
differences of ``profile_sum``; ``profile_logsumexp`` (the log of the total of the
exponentiated profile, as a softmax normaliser) and ``expected_counts`` are nonlinear in
it, so the tests of which control each row gets use them.
"""

import joblib
import numpy as np
import pytest
import torch

from skexplain.explainers import InSilicoMutagenesis, KernelShap, Lime, Occlusion, SensX
from tests.profile_models import (
    TinyBPNet,
    counts_head,
    profile_sum,
    reference_scores,
    sequences_and_controls,
)

LENGTH = 20


def profile_logsumexp(output):
    """log sum exp of the profile logits: one score per sequence, nonlinear in the control."""
    profile, _ = output
    return torch.logsumexp(profile.flatten(1), dim=1)


def expected_counts(output):
    """exp of the log-counts head (batch,)."""
    return torch.exp(output[1][:, 0])


EXPLAINERS = {
    "occlusion": lambda **kw: Occlusion(window=3, **kw),
    "occlusion_shuffle": lambda **kw: Occlusion(window=4, baseline="shuffle", n_shuffles=2,
                                                random_state=0, **kw),
    "ism": lambda **kw: InSilicoMutagenesis(**kw),
    "lime": lambda **kw: Lime(n_samples=150, window=5, random_state=0, **kw),
    "kernel_shap": lambda **kw: KernelShap(window=5, background="sample", n_background=3,
                                           random_state=0, **kw),
    "sensx": lambda **kw: SensX(n_walks=3, n_profile_samples=20, delta_grid=[0.25, 0.5, 1.0],
                                lower=0, upper=1, tau=1e-3, random_state=0, **kw),
}


@pytest.fixture(scope="module")
def bpnet():
    model = TinyBPNet(length=LENGTH)
    X, control = sequences_and_controls(n=5, length=LENGTH)
    return model, X, control


def _explain(name, model, X, control, rows, output=profile_logsumexp, **params):
    explainer = EXPLAINERS[name](output=output, **params)
    explainer.set_params(model=model).fit(X)
    with np.errstate(all="ignore"):
        return explainer.explain(X[rows], target=0, model_args=(control[rows],))


@pytest.mark.parametrize("name", EXPLAINERS)
@pytest.mark.parametrize("output", [profile_sum, profile_logsumexp])
def test_base_values_are_the_reduced_profile_with_each_control(bpnet, name, output):
    model, X, control = bpnet
    E = _explain(name, model, X, control, slice(None), output=output)
    expected = reference_scores(model, X, control, output)[:, 0]
    np.testing.assert_allclose(E.base_values, expected, rtol=1e-6, atol=1e-6)
    assert E.info["output"] == output.__name__
    assert E.values.shape[0] == len(X) and np.all(np.isfinite(E.values))
    assert np.any(E.values != 0)


RANDOM = {"occlusion_shuffle", "lime", "kernel_shap", "sensx"}


@pytest.mark.parametrize("name", EXPLAINERS)
@pytest.mark.parametrize("batch_size", [32])
def test_batch_result_equals_each_row_alone_with_its_own_control(bpnet, name, batch_size):
    model, X, control = bpnet
    batch = _explain(name, model, X, control, slice(None), batch_size=batch_size)
    for i in range(len(X)):
        if name in RANDOM:
            # Row i's draws depend on random_state and i: keep it at position i and change
            # every other row (and control), so that only its own control can explain it.
            others = [j for j in range(len(X)) if j != i]
            rows = np.insert(np.roll(others, 1), i, i)
            alone = _explain(name, model, X, control, rows, batch_size=batch_size)
            k = i
        else:
            alone = _explain(name, model, X, control, slice(i, i + 1), batch_size=batch_size)
            k = 0
        np.testing.assert_allclose(batch.values[i], alone.values[k], rtol=1e-5, atol=1e-5)
        assert batch.base_values[i] == pytest.approx(alone.base_values[k], rel=1e-6)


@pytest.mark.parametrize("name", EXPLAINERS)
def test_the_control_track_of_each_row_is_used(bpnet, name):
    # Explaining every sequence with the first one's control track gives other values, so
    # the tests above would see a result that used another row's control.
    model, X, control = bpnet
    own = _explain(name, model, X, control, slice(None))
    shared = EXPLAINERS[name](output=profile_logsumexp).set_params(model=model).fit(X)
    with np.errstate(all="ignore"):
        shared = shared.explain(X, target=0,
                                model_args=(np.repeat(control[:1], len(X), axis=0),))
    np.testing.assert_allclose(own.values[0], shared.values[0], rtol=1e-5, atol=1e-6)
    for i in range(1, len(X)):
        difference = np.abs(own.values[i] - shared.values[i]).max()
        assert difference > 1e-2 * np.abs(own.values[i]).max() > 0


def _direct_ism(model, x, control, output):
    """Every single-base substitution of x scored with its control track, minus f(x)."""
    reference = x.argmax(axis=0)
    mutants, where = [], []
    for position in range(x.shape[1]):
        for base in range(4):
            if base != reference[position]:
                mutant = x.copy()
                mutant[:, position] = 0.0
                mutant[base, position] = 1.0
                mutants.append(mutant)
                where.append((base, position))
    rows = np.concatenate([x[None], np.stack(mutants)])
    scores = reference_scores(model, rows, np.repeat(control[None], len(rows), axis=0),
                              output)[:, 0]
    effects = np.zeros(x.shape)
    for (base, position), score in zip(where, scores[1:], strict=True):
        effects[base, position] = score - scores[0]
    return effects


@pytest.mark.parametrize("output", [profile_sum, counts_head, profile_logsumexp,
                                    expected_counts])
def test_ism_values_equal_a_direct_computation(bpnet, output):
    model, X, control = bpnet
    raw = InSilicoMutagenesis(model, output=output, reduction=None, batch_size=9).fit(X)
    raw = raw.explain(X, target=0, model_args=(control,))
    centred = InSilicoMutagenesis(model, output=output).fit(X).explain(
        X, target=0, model_args=(control,))
    for i in range(len(X)):
        effects = _direct_ism(model, X[i], control[i], output)
        np.testing.assert_allclose(raw.values[i], effects, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(centred.values[i], effects - effects.mean(axis=0),
                                   rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["occlusion_shuffle", "lime", "kernel_shap", "sensx"])
def test_n_jobs_gives_identical_results(bpnet, name):
    model, X, control = bpnet
    one = _explain(name, model, X, control, slice(None), n_jobs=1)
    with joblib.parallel_config(backend="threading"):
        two = _explain(name, model, X, control, slice(None), n_jobs=2, batch_size=50)
    ones = _explain(name, model, X, control, slice(None), n_jobs=1, batch_size=50)
    np.testing.assert_array_equal(two.values, ones.values)
    np.testing.assert_allclose(one.values, ones.values, rtol=1e-5, atol=1e-5)


def test_a_tuple_output_without_an_output_callable_is_refused(bpnet):
    model, X, control = bpnet
    with pytest.raises(ValueError, match="output=callable"):
        Occlusion(model).fit(X).explain(X[:2], model_args=(control[:2],))


def test_model_args_must_have_one_row_per_instance(bpnet):
    model, X, control = bpnet
    explainer = Occlusion(model, output=profile_sum).fit(X)
    with pytest.raises(ValueError, match="one row per explained instance"):
        explainer.explain(X[:3], target=0, model_args=(control[:2],))


def test_model_state_is_unchanged(bpnet):
    model, X, control = bpnet
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _explain("kernel_shap", model, X, control, slice(0, 2))
    assert model.training
    model.eval()
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])
