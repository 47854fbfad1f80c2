"""The common checks: sklearn's estimator checks and one contract suite on every explainer.

Every public estimator and explainer is discovered (``tests/_registry.py``, like sklearn's
``all_estimators``); every explainer must have a case there, so a new class cannot slip
through. The contract (issue 16, DESIGN.md "The explainer contract"):

- construction: ``model=None`` first, every other parameter keyword-only and stored untouched;
  clone keeps the (fitted) model; get/set_params; a pickle round trip explains the same;
- results: the family's result type (Attribution / ModelExplanation / ExampleExplanation)
  with ``info["method"]`` (snake_case), ``info["axes"]`` and ``info["output"]``;
- invariances: n_jobs=1 == n_jobs=2 exactly; batch_size=1 == the default; a batch explained
  at once == row by row (exact for float64 models, 1e-6 relative for float32 ones);
- no side effects: inputs not mutated; a torch model's parameters, buffers, modes,
  requires_grad flags and hooks unchanged after explain and after an exception in forward;
- checked model output: NaN scores -> ValueError; a bad target -> ValueError;
- inputs: AnnData == ndarray;
- old names and old ``output`` values warn (FutureWarning) and give identical results.
"""

import copy
import inspect
import pickle
import re
import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_set_params,
    parametrize_with_checks,
)

from skexplain._core.base import ExampleExplainer, LocalExplainer, ModelLevelExplainer
from skexplain._core.explanation import Attribution, ExampleExplanation, ModelExplanation
from tests._registry import CASES, all_estimators, all_explainers, torch_module

FAMILY_BASE = {"local": LocalExplainer, "model_level": ModelLevelExplainer,
               "example": ExampleExplainer}
FAMILY_RESULT = {"local": Attribution, "model_level": ModelExplanation,
                 "example": ExampleExplanation}


@pytest.fixture(autouse=True)
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _cases(predicate=lambda case: True):
    return [pytest.param(case, id=name) for name, case in CASES.items() if predicate(case)]


def _has_param(case, name):
    return name in inspect.signature(case.cls).parameters


def _quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


def _assert_same(a, b, case, exact=None):
    """Exact for float64 models, 1e-6 relative (and tiny absolute) for float32 ones.

    Example-based values of float64 models are products over the training examples (BLAS
    products of gradients, distances), whose last bits depend on the batch's shape: they get
    1e-12 relative instead of exact.
    """
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    exact = not case.float32 if exact is None else exact
    if a.dtype.kind not in "fc" or (exact and case.family != "example"):
        np.testing.assert_array_equal(a, b)
    else:
        rtol = 1e-12 if exact else 1e-6
        scale = max(np.abs(a).max(), np.abs(b).max(), 1.0) if a.size else 1.0
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale)


def _index_of(info):
    """Retrieved training indices of an example-based result, if any."""
    return info.get("indices")


# --- discovery -------------------------------------------------------------------------------

def test_every_public_explainer_has_a_case():
    missing = sorted(set(all_explainers()) - set(CASES))
    assert missing == [], f"public explainers without a case in tests/_registry.py: {missing}"
    assert set(CASES) <= set(all_explainers())


def test_discovery_finds_the_estimators():
    found = all_estimators()
    for name in ("SensX", "Occlusion", "ExplanationSelector", "SquashedScaler",
                 "OneHotSequenceEncoder", "ExpActivationCNNClassifier"):
        assert name in found
    assert not any(name.startswith("_") for name in found)
    assert "LocalExplainer" not in found and "BaseExplainer" not in found


# --- sklearn's checks on transformers, selectors and estimators ------------------------------

def _sklearn_estimators():
    from sklearn.linear_model import LogisticRegression

    from skexplain.explainers import Occlusion
    from skexplain.feature_selection import ExplainedEstimator, ExplanationSelector
    from skexplain.preprocessing import OneHotSequenceEncoder, SquashedScaler

    return [
        SquashedScaler(),
        # The string-input encoder: its input tags (1-D string array only) make sklearn skip
        # every data check ("Can't test estimator ... which requires input of type string"):
        # nothing is expected to fail; its parameter checks run below and its behaviour is
        # tested in tests/preprocessing.
        OneHotSequenceEncoder(),
        ExplanationSelector(Occlusion(None), estimator=LogisticRegression(),
                            n_features_to_select=2),
        ExplainedEstimator(LogisticRegression(), Occlusion(None)),
    ]


@parametrize_with_checks(_sklearn_estimators())
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_one_hot_encoder_parameter_checks():
    from skexplain.preprocessing import OneHotSequenceEncoder

    encoder = OneHotSequenceEncoder(length=5)
    check_no_attributes_set_in_init("OneHotSequenceEncoder", encoder)
    check_get_params_invariance("OneHotSequenceEncoder", encoder)
    check_set_params("OneHotSequenceEncoder", encoder)
    X = encoder.fit_transform(np.array(["ACGTN", "AC"]))
    assert X.shape == (2, 4, 5)
    with pytest.raises(ValueError):
        OneHotSequenceEncoder().fit(np.ones((2, 3)))


# The skorch classifiers take one-hot sequences (n, 4, L) (ConceptBottleneckClassifier also
# needs fit(X, y, concepts=C)); sklearn's checks feed 2-D numeric matrices, so every check that
# fits or predicts fails at input validation, and the checks of error wording see the one-hot
# error first. Two more come from skorch's design.
_SKORCH_DATA = "fits on sklearn's 2-D matrices; the nets take one-hot sequences (n, 4, L)"
_SKORCH_WORDING = ("expects sklearn's wording for 2-D data errors; the nets raise the one-hot "
                   "shape error first")
SKORCH_EXPECTED_FAILURES = {
    **{check: _SKORCH_DATA for check in (
        "check_classifier_data_not_an_array", "check_classifiers_classes",
        "check_classifiers_train", "check_decision_proba_consistency", "check_dict_unchanged",
        "check_dont_overwrite_parameters", "check_dtype_object", "check_estimators_dtypes",
        "check_estimators_fit_returns_self", "check_estimators_overwrite_params",
        "check_estimators_pickle", "check_f_contiguous_array_estimator", "check_fit2d_predict1d",
        "check_fit_check_is_fitted", "check_fit_idempotent", "check_fit_score_takes_y",
        "check_methods_sample_order_invariance", "check_methods_subset_invariance",
        "check_n_features_in", "check_n_features_in_after_fitting", "check_pipeline_consistency",
        "check_positive_only_tag_during_fit", "check_readonly_memmap_input",
        "check_supervised_y_2d", "check_estimator_sparse_tag")},
    **{check: _SKORCH_WORDING for check in (
        "check_classifiers_one_label", "check_classifiers_one_label_sample_weights",
        "check_classifiers_regression_target", "check_complex_data",
        "check_estimator_sparse_array", "check_estimator_sparse_matrix",
        "check_estimators_empty_data_messages", "check_estimators_nan_inf",
        "check_fit2d_1feature", "check_fit2d_1sample", "check_requires_y_none")},
    "check_no_attributes_set_in_init":
        "skorch's NeuralNet.__init__ sets history_, initialized_ and virtual_params_",
    "check_set_params": "skorch routes set_params values to its components (re-initializing)",
    "check_estimators_partial_fit_n_features":
        "skorch's partial_fit before fit raises NotFittedError (fit sets the network's size)",
}


@pytest.mark.parametrize("name", ["ExpActivationCNNClassifier", "TransformerSequenceClassifier",
                                  "ConceptBottleneckClassifier", "PrototypeCNNClassifier"])
def test_skorch_classifiers_fail_only_the_listed_sklearn_checks(name):
    """sklearn's checks on the skorch classifiers: only the listed, explained checks fail
    (their fit/predict are tested in tests/models on one-hot sequences)."""
    from sklearn.utils.estimator_checks import check_estimator

    estimator = all_estimators()[name](max_epochs=1, verbose=0)
    results = _quiet(check_estimator, estimator, on_fail=None)
    failed = {r["check_name"]: repr(r["exception"])[:200] for r in results
              if r["status"] == "failed" and r["check_name"] not in SKORCH_EXPECTED_FAILURES}
    assert failed == {}
    assert clone(estimator).get_params().keys() == estimator.get_params().keys()


# --- construction ----------------------------------------------------------------------------

@pytest.mark.parametrize("case", _cases())
def test_constructor_model_first_then_keyword_only(case):
    parameters = list(inspect.signature(case.cls).parameters.values())
    first, rest = parameters[0], parameters[1:]
    assert first.name == "model" and first.default is None, (
        f"{case.name}: the first parameter must be model=None")
    positional = [p.name for p in rest if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    assert positional == [], f"{case.name}: parameters not keyword-only: {positional}"


@pytest.mark.parametrize("case", _cases())
def test_sklearn_parameter_checks(case):
    explainer = case.make()
    check_no_attributes_set_in_init(case.name, explainer)
    check_get_params_invariance(case.name, explainer)
    check_set_params(case.name, explainer)


@pytest.mark.parametrize("case", _cases())
def test_family_and_result_type(case):
    assert issubclass(case.cls, FAMILY_BASE[case.family]), (
        f"{case.name} should derive from {FAMILY_BASE[case.family].__name__}")
    E = case.explain(case.fitted())
    assert isinstance(E, FAMILY_RESULT[case.family]), type(E).__name__
    assert E.info["axes"] == E.axes and len(E.axes) == E.values.ndim
    method = E.info.get("method")
    assert isinstance(method, str) and re.fullmatch(r"[a-z][a-z0-9_]*", method), method
    if case.family == "local":
        assert E.axes[0] == "sample" and len(E) == 3
    if case.family == "example":
        assert E.axes[0] == "sample" and E.values.shape[0] == 3


@pytest.mark.parametrize("case", _cases())
def test_output_is_recorded(case):
    E = case.explain(case.fitted())
    assert "output" in E.info, f"{case.name}: info['output'] missing"
    expected = "logit" if case.is_torch else "probability"
    if case.family == "local" and case.name != "Anchors":
        assert E.info["output"] == expected


@pytest.mark.parametrize("case", _cases(lambda c: c.family == "local" and c.name != "Anchors"))
def test_local_explainers_take_output_and_explain_the_auto_quantity(case):
    """One rule in every explainer: the same model and output give the same explained score
    (a torch net in its logits, a scikit-learn classifier in predict_proba)."""
    from skexplain._core.model import ModelAdapter

    model = case.model()
    _, _, X, _ = case.dataset()
    E = case.explain(case.fit(case.make(model)), X, target=1)
    expected = ModelAdapter(model, X.shape[1:]).scores(X.reshape(len(X), -1))[:, 1]
    np.testing.assert_allclose(E.base_values, expected, rtol=1e-6)
    assert _has_param(case, "output"), f"{case.name} has no output parameter"


@pytest.mark.parametrize("case", _cases())
def test_clone_keeps_the_model_and_drops_the_fit(case):
    fitted = case.fitted()
    cloned = clone(fitted)
    assert cloned.model is fitted.model
    assert not any(k.endswith("_") and not k.startswith("_") for k in vars(cloned))
    assert cloned.get_params(deep=False).keys() == fitted.get_params(deep=False).keys()
    # a clone of a model-less explainer gets its model later
    empty = clone(case.make(model=None))
    assert empty.model is None
    empty.set_params(model=fitted.model)
    _assert_same(case.explain(case.fit(empty)).values, case.explain(fitted).values, case)


@pytest.mark.parametrize("case", _cases())
def test_unfitted_explain_raises_not_fitted(case):
    with pytest.raises(NotFittedError):
        case.explain(case.make())


@pytest.mark.parametrize("case", _cases())
def test_pickle_round_trip_explains_the_same(case):
    fitted = case.fitted()
    before = case.explain(fitted)
    restored = pickle.loads(pickle.dumps(fitted))
    after = case.explain(restored)
    _assert_same(before.values, after.values, case, exact=True)
    restored_result = pickle.loads(pickle.dumps(before))
    np.testing.assert_array_equal(restored_result.values, before.values)
    assert restored_result.axes == before.axes


# --- invariances -----------------------------------------------------------------------------

@pytest.mark.parametrize("case", _cases(lambda c: _has_param(c, "n_jobs")))
def test_n_jobs_gives_identical_results(case):
    fitted = case.fitted(n_jobs=1)
    one = case.explain(fitted)
    two = case.explain(fitted.set_params(n_jobs=2))
    np.testing.assert_array_equal(one.values, two.values)
    with joblib.parallel_config(backend="threading"):
        threads = case.explain(fitted.set_params(n_jobs=2))
    np.testing.assert_array_equal(one.values, threads.values)


@pytest.mark.parametrize("case", _cases(lambda c: _has_param(c, "batch_size")))
def test_batch_size_one_gives_the_same_result(case):
    _, _, X, _ = case.dataset()
    batched = case.explain(case.fitted(), X[:2])
    single = case.explain(case.fitted(batch_size=1), X[:2])
    _assert_same(batched.values, single.values, case)


@pytest.mark.parametrize("case", _cases(lambda c: c.family != "model_level"
                                        and not c.stochastic))
def test_batch_result_equals_per_row_result(case):
    fitted = case.fitted()
    _, _, X, y = case.dataset()
    batch = case.explain(fitted, X, target=0) if case.family == "local" else \
        case.explain(fitted, X)
    rows = []
    for i in range(len(X)):
        if case.family == "local":
            rows.append(case.explain(fitted, X[i:i + 1], target=0).values)
        else:
            rows.append(case.explain(fitted, X[i:i + 1], y=y[i:i + 1] if case.explain_y
                                     else None).values)
    _assert_same(batch.values, np.concatenate(rows), case)


# --- no side effects -------------------------------------------------------------------------

@pytest.mark.parametrize("case", _cases())
def test_inputs_are_not_mutated(case):
    X_fit, y_fit, X, y = case.dataset()
    X_fit_copy, y_fit_copy, X_copy = X_fit.copy(), y_fit.copy(), X.copy()
    fitted = case.fit(case.make(), X_fit, y_fit)
    case.explain(fitted, X)
    np.testing.assert_array_equal(X_fit, X_fit_copy)
    np.testing.assert_array_equal(y_fit, y_fit_copy)
    np.testing.assert_array_equal(X, X_copy)


def _torch_state(module):
    hooks = {}
    for name, m in module.named_modules():
        hooks[name] = tuple(len(getattr(m, attr, {})) for attr in (
            "_forward_hooks", "_forward_pre_hooks", "_backward_hooks",
            "_backward_pre_hooks", "_state_dict_hooks", "_load_state_dict_pre_hooks"))
    global_hooks = tuple(len(getattr(torch.nn.modules.module, attr, {})) for attr in (
        "_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
        "_global_backward_pre_hooks"))
    return {
        "parameters": {k: v.detach().clone() for k, v in module.named_parameters()},
        "requires_grad": {k: v.requires_grad for k, v in module.named_parameters()},
        "grads": {k: None if v.grad is None else v.grad.clone()
                  for k, v in module.named_parameters()},
        "buffers": {k: v.detach().clone() for k, v in module.named_buffers()},
        "training": {k: m.training for k, m in module.named_modules()},
        "inplace": {k: getattr(m, "inplace", None) for k, m in module.named_modules()},
        "hooks": hooks,
        "global_hooks": global_hooks,
    }


def _assert_same_state(before, after, name):
    for key in ("requires_grad", "training", "inplace", "hooks", "global_hooks"):
        assert before[key] == after[key], f"{name}: {key} changed"
    for key in ("parameters", "buffers"):
        assert before[key].keys() == after[key].keys()
        for k in before[key]:
            assert torch.equal(before[key][k], after[key][k]), f"{name}: {key} {k} changed"
    for k, grad in before["grads"].items():
        other = after["grads"][k]
        assert (grad is None) == (other is None) and (grad is None or torch.equal(grad, other)), \
            f"{name}: the .grad of {k} changed"


def _train_mode_model(case):
    """The case's torch model in training mode with a frozen parameter (a user's state)."""
    model = case.model()
    module = torch_module(model)
    module.train()
    first = next(module.parameters())
    first.requires_grad_(False)
    return model, module


@pytest.mark.parametrize("case", _cases(lambda c: c.is_torch))
def test_torch_model_state_unchanged_after_explain(case):
    model, module = _train_mode_model(case)
    before = _torch_state(module)
    fitted = _quiet(case.fit, case.make(model))
    _quiet(case.explain, fitted)
    _assert_same_state(before, _torch_state(module), case.name)


@pytest.mark.parametrize("case", _cases(lambda c: c.is_torch))
def test_torch_model_state_unchanged_after_an_exception_in_forward(case):
    """The model raises inside forward (after some layers ran): the exception propagates
    unchanged, from fit or explain (whichever first runs the model), and nothing is left
    changed. The flag is set before fit, as explainers may run a copy made in fit."""
    model, module = _train_mode_model(case)
    before = _torch_state(module)
    module.explode = True
    with pytest.raises(RuntimeError, match="boom inside the model's forward"):
        _quiet(case.explain, _quiet(case.fit, case.make(model)))
    module.explode = False
    _assert_same_state(before, _torch_state(module), case.name)


@pytest.mark.parametrize("case", _cases(lambda c: c.is_torch))
def test_torch_model_in_train_mode_explains_as_in_eval_mode(case):
    model, module = _train_mode_model(case)
    train = _quiet(case.explain, _quiet(case.fit, case.make(model)))
    module.eval()
    evaluated = case.explain(case.fit(case.make(model)))
    _assert_same(train.values, evaluated.values, case)


# --- checked model output --------------------------------------------------------------------

def _nan_model(case):
    """The case's model with NaN weights: every score (and every torch layer) is NaN."""
    model = case.model()
    if case.is_torch:
        module = torch_module(model)
        first = next(p for p in module.parameters() if p.ndim >= 2)
        with torch.no_grad():
            first.fill_(float("nan"))
    else:
        model.coef_ = model.coef_.copy()
        model.coef_[0, 0] = np.nan
    return model


@pytest.mark.parametrize("case", _cases())
def test_nan_model_output_raises(case):
    explainer = case.make(_nan_model(case))
    with pytest.raises(ValueError, match=r"(?i)nan|non-finite|infinite"):
        _quiet(case.explain, case.fit(explainer))


@pytest.mark.parametrize("case", _cases(lambda c: c.family != "example"))
@pytest.mark.parametrize("target", [99, -1, "no such class", 1.5])
def test_bad_target_raises(case, target):
    fitted = case.fitted()
    with pytest.raises(ValueError, match=r"(?i)target|class|label|output"):
        case.explain(fitted, target=target)


@pytest.mark.parametrize("case", _cases(lambda c: c.family == "example" and c.explain_y))
def test_bad_labels_raise(case):
    fitted = case.fitted()
    _, _, X, y = case.dataset()
    bad = np.full(len(X), "no such class") if y.dtype.kind in "US" else np.full(len(X), 99)
    with pytest.raises(ValueError, match=r"(?i)label|class|target|y"):
        case.explain(fitted, X, y=bad)


# --- inputs ----------------------------------------------------------------------------------

@pytest.mark.parametrize("case", _cases(lambda c: c.data == "tabular"))
def test_anndata_equals_ndarray(case):
    anndata = pytest.importorskip("anndata")
    X_fit, y_fit, X, y = case.dataset()
    names = [f"g{i}" for i in range(X.shape[1])]
    fit_data = anndata.AnnData(X_fit, var={"gene": names})
    fit_data.var_names = names
    data = anndata.AnnData(X)
    data.var_names = names
    model = case.model()
    from_array = case.explain(case.fit(case.make(model), X_fit, y_fit), X)
    from_anndata = case.explain(case.fit(case.make(model), fit_data, y_fit), data)
    np.testing.assert_array_equal(from_array.values, from_anndata.values)
    if case.family == "local":
        assert list(from_anndata.feature_names) == names


# --- deprecations ----------------------------------------------------------------------------

@pytest.mark.parametrize("case", _cases(lambda c: c.deprecated_name is not None))
def test_old_class_names_warn_and_give_identical_results(case):
    import skexplain.explainers

    with pytest.warns(FutureWarning, match=case.deprecated_name):
        old = getattr(skexplain.explainers, case.deprecated_name)
    assert old is case.cls
    model = case.model()
    new = case.explain(case.fit(case.make(model)))
    params = {**case.params}
    params = {k: v() if callable(v) and k in ("concepts", "random_concepts") else v
              for k, v in params.items()}
    if "checkpoints" in inspect.signature(old).parameters:
        params["checkpoints"] = [{k: v.clone() for k, v in
                                  torch_module(model).state_dict().items()}]
    np.testing.assert_array_equal(case.explain(case.fit(old(model, **params))).values,
                                  new.values)


@pytest.mark.parametrize("case", _cases(lambda c: _has_param(c, "output")))
def test_old_output_values_warn_and_give_identical_results(case):
    old, new = ("logits", "logit") if case.is_torch else ("probabilities", "probability")
    model = case.model()
    expected = case.explain(case.fit(case.make(model, output=new)))
    with pytest.warns(FutureWarning, match=old):
        explainer = case.fit(case.make(model, output=old))
        result = case.explain(explainer)
    np.testing.assert_array_equal(result.values, expected.values)
    assert result.info.get("output") == new


def test_old_names_in_every_explainer_module_are_aliases():
    import skexplain.explainers as explainers

    for old, new in explainers._DEPRECATED.items():
        with pytest.warns(FutureWarning, match=re.escape(new)):
            assert getattr(explainers, old) is getattr(explainers, new)


# --- a copy, not the user's model, is moved ---------------------------------------------------

@pytest.mark.parametrize("case", _cases(lambda c: c.is_torch and _has_param(c, "device")))
def test_device_cpu_leaves_the_model_where_it_is(case):
    model = case.model()
    fitted = case.fit(case.make(model, device="cpu"))
    plain = case.fit(case.make(copy.deepcopy(model)))
    _assert_same(case.explain(fitted).values, case.explain(plain).values, case)
    assert next(torch_module(model).parameters()).device.type == "cpu"
