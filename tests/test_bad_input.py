"""Bad input, tried systematically, on every public explainer, selector and transformer.

Each bad input is fed where the estimator takes data: to ``fit`` (a fresh estimator) and to
``explain`` / ``transform`` / ``predict`` (an estimator fitted on good data). It must raise a
ValueError, TypeError or NotFittedError whose message names the problem (a regex), and leave
the input unchanged. Valid edge inputs (one row, int and bool dtypes, every scipy.sparse
format) must give the same result as their dense float equivalent.

``outcome(subject, bad)`` computes one cell of the table that ``tests/_bad_input_table.py``
prints: the error class raised, or OK / WRONG.
"""

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.exceptions import NotFittedError

from tests._registry import CASES, RowwiseLogisticRegression, other_estimators

ACCEPTED = (ValueError, TypeError, NotFittedError)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- subjects: explainers and the other estimators, seen the same way -----------------------

@dataclass
class Subject:
    """An estimator under test: how to make it, fit it and apply it (explain/transform)."""

    name: str
    data: str  # "tabular" or "sequence"
    case: object = None  # the explainer's Case
    factory: object = None  # other estimators: () -> (estimator, X_fit, y_fit)
    one_hot: bool = False

    @property
    def is_explainer(self):
        return self.case is not None

    @property
    def takes_fit_X(self):
        return not self.is_explainer or self.case.fit_X is not None

    @property
    def takes_apply_X(self):
        return not self.is_explainer or self.case.explain_X

    @property
    def takes_target(self):
        return self.is_explainer and self.case.family in ("local", "model_level")

    @property
    def takes_labels(self):
        return self.is_explainer and self.case.family == "example" and self.case.explain_y

    def good(self):
        """(X_fit, y_fit, X_apply)."""
        if self.is_explainer:
            X_fit, y_fit, X, _ = self.case.dataset()
            return X_fit, y_fit, X
        _, X_fit, y_fit = self.factory()
        return X_fit, y_fit, X_fit[:3].copy()

    def make(self, model="default"):
        if self.is_explainer:
            return self.case.make(model)
        return self.factory()[0]

    def fit(self, estimator, X, y=None):
        if self.is_explainer:
            return self.case.fit(estimator, X, y)
        return estimator.fit(X, y)

    def apply(self, estimator, X, target=None, y=None):
        if self.is_explainer:
            return self.case.explain(estimator, X, target=target, y=y)
        if hasattr(estimator, "transform"):
            return estimator.transform(X)
        return estimator.predict(X)

    def values(self, result):
        if sp.issparse(result):
            return result.toarray()
        return result.values if hasattr(result, "values") and not isinstance(
            result, (np.ndarray, pd.DataFrame)) else np.asarray(result)


SUBJECTS = {name: Subject(name, case.data, case=case, one_hot=case.one_hot)
            for name, case in CASES.items()}
SUBJECTS.update({name: Subject(name, "tabular", factory=factory)
                 for name, factory in other_estimators().items()})


# --- bad inputs ------------------------------------------------------------------------------

def _with_value(value):
    def make(X):
        X = np.array(X, dtype=np.float64 if X.dtype == np.float64 else X.dtype)
        X.reshape(len(X), -1)[0, 0] = value
        return X
    return make


def _wrong_width(X):
    return X[..., :-1].copy()


def _object_dtype(X):
    X = X.astype(object)
    X.reshape(len(X), -1)[0, 0] = "a"
    return X


def _string_dtype(X):
    return X.astype(str)


def _dna_strings(X):
    return np.array(["".join("ACGT"[i] for i in row) for row in X.argmax(axis=1)])


def _non_numeric_column(X):
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame["f1"] = ["x"] * len(frame)
    return frame


def _one_d(X):
    return X[0].copy() if X.ndim == 2 else X.reshape(len(X), -1)[0].copy()


def _not_one_hot(X):
    return X * 0.5


def _tabular(subject):
    return subject.data == "tabular"


def _sequence(subject):
    return subject.data == "sequence"


# name: (X -> bad X, applies to subject, regex the message must match)
BAD_INPUTS = {
    "nan": (_with_value(np.nan), lambda s: True, r"(?i)nan"),
    "inf": (_with_value(np.inf), lambda s: True, r"(?i)inf"),
    "empty": (lambda X: X[:0].copy(), lambda s: True,
              r"(?i)0 sample|empty|minimum of 1|at least 1|no (rows|samples|instances)"),
    # Wrong width at fit is only detectable for a model with a fixed input width (the
    # logistic regression); the tiny CNN takes any sequence length, so for sequences the
    # wrong length is tried in explain (against the length seen in fit).
    "wrong_width": (_wrong_width, lambda s: True,
                    r"(?i)feature shape|features|length|shape|expect"),
    "object_dtype": (_object_dtype, lambda s: True, r"(?i)object|number|numeric|text|string"),
    "string_dtype": (_string_dtype, lambda s: True, r"(?i)text|string|OneHotSequenceEncoder"),
    "dna_strings": (_dna_strings, _sequence, r"OneHotSequenceEncoder"),
    "non_numeric_column": (_non_numeric_column, _tabular, r"(?i)non-numeric|numeric|column"),
    "one_d": (_one_d, lambda s: True,
              r"(?i)1-D|2 or more|reshape|dimension|got shape \(\d+,\)"),
    "not_one_hot": (_not_one_hot, lambda s: s.one_hot, r"(?i)one-hot"),
}
STAGES = ("fit", "apply")
# sklearn's selectors transform any dtype (they only pick columns): a selector's transform
# of object, string or mixed columns is sklearn's convention, not bad input.
SELECTORS = ("ExplanationSelector",)
SELECTOR_PASS_THROUGH = ("object_dtype", "string_dtype", "non_numeric_column")

# Model and target problems (no X change): name -> applies to subject
OTHER_BAD = {
    "unfitted_model": lambda s: s.is_explainer,
    "unfitted_estimator": lambda s: True,
    "target_out_of_range": lambda s: s.takes_target,
    "target_wrong_label": lambda s: s.takes_target,
    "labels_wrong": lambda s: s.takes_labels,
}
OTHER_REGEX = {
    "unfitted_model": r"(?i)fit",
    "unfitted_estimator": r"(?i)fit",
    "target_out_of_range": r"(?i)out of range|target|index",
    "target_wrong_label": r"(?i)unknown|label|target|class",
    "labels_wrong": r"(?i)label|class|target|y",
}


def applies(subject, bad):
    """Whether the bad input ``bad`` ("stage:input" or a model/target problem) applies."""
    if bad in OTHER_BAD:
        return OTHER_BAD[bad](subject)
    stage, name = bad.split(":")
    if stage == "fit" and not subject.takes_fit_X:
        return False
    if stage == "fit" and name == "wrong_width" and (subject.data != "tabular"
                                                     or not subject.is_explainer):
        return False  # a selector, scaler or CNN fits any width
    if stage == "apply" and name in SELECTOR_PASS_THROUGH and subject.name in SELECTORS:
        return False
    if stage == "apply" and not subject.takes_apply_X:
        return False
    return BAD_INPUTS[name][1](subject)


def all_bad():
    return [f"{stage}:{name}" for name in BAD_INPUTS for stage in STAGES] + list(OTHER_BAD)


def _unfitted_model(subject):
    if subject.data == "tabular":
        return RowwiseLogisticRegression()
    from skexplain.models import ExpActivationCNNClassifier

    return ExpActivationCNNClassifier(verbose=0)


def _same(a, b):
    if isinstance(a, pd.DataFrame):
        return a.equals(b)
    return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=a.dtype.kind == "f")


class _SetupFailed(Exception):
    """Fitting on good data (before the bad input is tried) failed."""


def _fit_good(subject, X_fit, y_fit):
    try:
        return subject.fit(subject.make(), X_fit, y_fit)
    except Exception as error:  # noqa: BLE001
        raise _SetupFailed(f"{type(error).__name__}: {error}") from error


def _run(subject, bad):
    """Run one bad input; return (exception or None, the input untouched?)."""
    X_fit, y_fit, X = subject.good()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if bad == "unfitted_model":
            try:
                subject.apply(subject.fit(subject.make(_unfitted_model(subject)), X_fit, y_fit),
                              X)
            except Exception as error:  # noqa: BLE001
                return error, True
            return None, True
        if bad == "unfitted_estimator":
            try:
                subject.apply(subject.make(), X)
            except Exception as error:  # noqa: BLE001
                return error, True
            return None, True
        if bad in ("target_out_of_range", "target_wrong_label", "labels_wrong"):
            fitted = _fit_good(subject, X_fit, y_fit)
            try:
                if bad == "labels_wrong":
                    labels = np.full(len(X), "zzz") if y_fit.dtype.kind in "US" else \
                        np.full(len(X), 99)
                    subject.apply(fitted, X, y=labels)
                else:
                    subject.apply(fitted, X, target=99 if bad == "target_out_of_range"
                                  else "zzz")
            except Exception as error:  # noqa: BLE001
                return error, True
            return None, True
        stage, name = bad.split(":")
        make_bad = BAD_INPUTS[name][0]
        if stage == "fit":
            bad_X = make_bad(X_fit)
            kept = bad_X.copy()
            try:
                subject.fit(subject.make(), bad_X, y_fit)
            except Exception as error:  # noqa: BLE001
                return error, _same(bad_X, kept)
            return None, _same(bad_X, kept)
        fitted = _fit_good(subject, X_fit, y_fit)
        bad_X = make_bad(X)
        kept = bad_X.copy()
        try:
            subject.apply(fitted, bad_X)
        except Exception as error:  # noqa: BLE001
            return error, _same(bad_X, kept)
        return None, _same(bad_X, kept)


def regex_of(bad):
    if bad in OTHER_REGEX:
        return OTHER_REGEX[bad]
    return BAD_INPUTS[bad.split(":")[1]][2]


def outcome(subject, bad):
    """(cell, ok, detail): the error class raised if accepted, else "WRONG ..."."""
    import re

    if not applies(subject, bad):
        return "n/a", True, ""
    try:
        error, unchanged = _run(subject, bad)
    except _SetupFailed as failed:
        return "WRONG: fit on good data failed", False, str(failed)
    if error is None:
        return "WRONG: no error", False, "no error raised"
    name = type(error).__name__
    if bad == "unfitted_estimator" and not isinstance(error, NotFittedError):
        return f"WRONG: {name}", False, f"{name}: {error}"
    if not isinstance(error, ACCEPTED):
        return f"WRONG: {name}", False, f"{name}: {error}"
    if not re.search(regex_of(bad), str(error)):
        return f"WRONG: {name} (message)", False, f"{name}: {error}"
    if not unchanged:
        return f"WRONG: {name} (input changed)", False, "the input was changed"
    return name, True, ""


def _params():
    return [pytest.param(name, bad, id=f"{name}-{bad}")
            for name, subject in SUBJECTS.items() for bad in all_bad()
            if applies(subject, bad)]


@pytest.mark.parametrize("name, bad", _params())
def test_bad_input_raises_a_clear_error(name, bad):
    cell, ok, detail = outcome(SUBJECTS[name], bad)
    assert ok, f"{name} given {bad}: {cell}; {detail[:300]}"


# --- valid edge inputs -----------------------------------------------------------------------

SPARSE_FORMATS = ["csr_matrix", "csc_matrix", "coo_matrix", "bsr_matrix", "lil_matrix",
                  "dok_matrix", "dia_matrix", "csr_array", "csc_array", "coo_array"]


def _int_version(subject, X):
    return X.astype(np.int64) if subject.data == "sequence" else np.round(2 * X).astype(np.int64)


def _bool_version(subject, X):
    return X.astype(bool) if subject.data == "sequence" else X > 0


def _sparse_as(fmt):
    def convert(subject, X):
        return getattr(sp, fmt)(X)
    return convert


EDGE_INPUTS = {
    "int64": _int_version,
    "bool": _bool_version,
    **{fmt: _sparse_as(fmt) for fmt in SPARSE_FORMATS},
}


def _edge_applies(subject, edge):
    if edge in SPARSE_FORMATS:
        return subject.data == "tabular"
    return True


def _dense_float(subject, X):
    X = X.toarray() if sp.issparse(X) else np.asarray(X)
    return X.astype(np.float32 if subject.data == "sequence" else np.float64)


def edge_outcome(subject, edge):
    """(cell, ok, detail): OK if the edge input gives the dense float result."""
    if not _edge_applies(subject, edge):
        return "n/a", True, ""
    X_fit, y_fit, X = subject.good()
    convert = EDGE_INPUTS[edge]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            edge_fit, edge_X = convert(subject, X_fit), convert(subject, X)
            reference = subject.apply(
                subject.fit(subject.make(), _dense_float(subject, edge_fit), y_fit),
                _dense_float(subject, edge_X))
            result = subject.apply(subject.fit(subject.make(), edge_fit, y_fit), edge_X)
    except Exception as error:  # noqa: BLE001
        return f"WRONG: {type(error).__name__}", False, f"{type(error).__name__}: {error}"
    a, b = subject.values(result), subject.values(reference)
    if sp.issparse(a):
        a = a.toarray()
    if sp.issparse(b):
        b = b.toarray()
    if not _close(a, b, rtol=1e-12, atol=1e-12):
        return "WRONG: differs", False, "the result differs from the dense float input's"
    return "OK", True, ""


def _close(a, b, rtol, atol):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "biuf" and b.dtype.kind in "biuf":
        return np.allclose(a.astype(float), b.astype(float), rtol=rtol, atol=atol,
                           equal_nan=True)
    return np.array_equal(a, b)


def one_row_outcome(subject):
    """One row explains (or transforms) like the same row within a batch.

    A model-level explainer that takes X (TCAV, NetworkDissection) aggregates over its rows:
    its values have no sample axis, so one row must give the batch's shape, and the same
    values as that row given twice (a mean over rows does not depend on their number).
    """
    if not subject.takes_apply_X:
        return "n/a", True, ""
    X_fit, y_fit, X = subject.good()
    aggregate = subject.is_explainer and subject.case.family == "model_level"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted = subject.fit(subject.make(), X_fit, y_fit)
            one = subject.values(subject.apply(fitted, X[:1]))
            batch = subject.values(subject.apply(fitted, X[[0, 0]] if aggregate else X))
    except Exception as error:  # noqa: BLE001
        return f"WRONG: {type(error).__name__}", False, f"{type(error).__name__}: {error}"
    one, batch = np.asarray(one), np.asarray(batch)
    if aggregate:
        if one.shape != batch.shape:
            return "WRONG: shape", False, f"one row gave shape {one.shape}, two {batch.shape}"
        if not _close(one, batch, rtol=1e-6, atol=1e-9):
            return "WRONG: differs", False, "one row differs from the same row given twice"
        return "OK", True, ""
    if one.shape[1:] != batch.shape[1:] or len(one) != 1:
        return "WRONG: shape", False, f"one row gave shape {one.shape}, a batch {batch.shape}"
    stochastic = subject.is_explainer and subject.case.stochastic
    if not stochastic and not _close(one[0], batch[0], rtol=1e-6, atol=1e-9):
        return "WRONG: differs", False, "one row differs from the same row in a batch"
    return "OK", True, ""


def _edge_params():
    return [pytest.param(name, edge, id=f"{name}-{edge}")
            for name, subject in SUBJECTS.items() for edge in EDGE_INPUTS
            if _edge_applies(subject, edge)]


@pytest.mark.parametrize("name, edge", _edge_params())
def test_valid_edge_input_gives_the_dense_float_result(name, edge):
    cell, ok, detail = edge_outcome(SUBJECTS[name], edge)
    assert ok, f"{name} given {edge}: {cell}; {detail[:300]}"


@pytest.mark.parametrize("name", list(SUBJECTS))
def test_one_row(name):
    cell, ok, detail = one_row_outcome(SUBJECTS[name])
    assert ok, f"{name} given one row: {cell}; {detail[:300]}"
