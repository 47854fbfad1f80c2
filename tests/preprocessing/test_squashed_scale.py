import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.utils.estimator_checks import parametrize_with_checks

from skexplain.preprocessing import SquashedScaler


@parametrize_with_checks([SquashedScaler(), SquashedScaler(variant="shifted", clip=500.0)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def squash(X, **params):
    return SquashedScaler(**params).fit_transform(X)


# --- closed-form values -------------------------------------------------------------


def test_paper_values_below_soft_clip():
    assert_allclose(squash([[0.0], [1.0], [16.0], [81.0]]), [[0.0], [1.0], [8.0], [27.0]])


def test_paper_soft_clip():
    y = 400.0 ** (4 / 3)  # y ** 0.75 == 400 > 384
    assert_allclose(squash([[y]]), [[384.0 + 4.0]])


def test_shifted_values():
    # (1 + 15) ** 0.75 - 1 == 7
    assert_allclose(squash([[0.0], [15.0]], variant="shifted"), [[0.0], [7.0]])
    # (1 + y) ** 0.75 - 1 == 399 > 383 == clip_soft - 1: 383 + sqrt(16)
    y = 400.0 ** (4 / 3) - 1
    assert_allclose(squash([[y]], variant="shifted"), [[387.0]])


def test_scalar_and_per_feature_scale():
    X = np.array([[16.0, 16.0, 81.0]])
    assert_allclose(squash(X, scale=0.5), [[4.0, 4.0, 13.5]])
    assert_allclose(squash(X, scale=[1.0, 0.1, 2.0]), [[8.0, 0.8, 54.0]])
    assert_array_equal(SquashedScaler(scale=[1.0, 0.1, 2.0]).fit(X).scale_, [1.0, 0.1, 2.0])
    assert_array_equal(SquashedScaler(scale=3.0).fit(X).scale_, [3.0, 3.0, 3.0])


def test_hard_clip_applied_before_scale():
    y_big = 1e6  # 1e6 ** 0.75 = 31622.8 -> 384 + sqrt(31238.8) = 560.7
    Xt = squash([[16.0, y_big]], clip=500.0, scale=0.5)
    assert_allclose(Xt, [[4.0, 250.0]])


def test_power_and_soft_clip_parameters():
    assert_allclose(squash([[9.0]], power=0.5), [[3.0]])
    # clip_soft=0 with the paper variant: sqrt(y ** 0.75)
    assert_allclose(squash([[16.0]], clip_soft=0.0), [[np.sqrt(8.0)]])


def test_inverse_closed_form():
    scaler = SquashedScaler(scale=0.5).fit([[0.0]])
    assert_allclose(scaler.inverse_transform([[4.0], [194.0]]), [[16.0], [400.0 ** (4 / 3)]])


def test_inverse_is_exact_only_below_hard_clip():
    scaler = SquashedScaler(clip=500.0).fit([[0.0]])
    y_at_clip = (384.0 + (500.0 - 384.0) ** 2) ** (4 / 3)
    X = np.array([[16.0], [1e6], [1e9]])
    assert_allclose(
        scaler.inverse_transform(scaler.transform(X)), [[16.0], [y_at_clip], [y_at_clip]]
    )


# --- properties -----------------------------------------------------------------------

values = st.floats(min_value=0.0, max_value=1e7, allow_subnormal=False)
variants = st.sampled_from(["paper", "shifted"])


@settings(deadline=None)
@given(
    X=arrays(np.float64, st.tuples(st.integers(1, 5), st.just(3)), elements=values),
    variant=variants,
    scale=st.one_of(
        st.floats(1e-3, 1e3),
        st.lists(st.floats(1e-3, 1e3), min_size=3, max_size=3),
    ),
    clip_soft=st.sampled_from([1.0, 16.0, 384.0]),
)
def test_inverse_round_trip(X, variant, scale, clip_soft):
    scaler = SquashedScaler(variant=variant, scale=scale, clip_soft=clip_soft).fit(X)
    assert_allclose(scaler.inverse_transform(scaler.transform(X)), X, rtol=1e-9, atol=0)


@settings(deadline=None)
@given(
    y=arrays(np.float64, st.integers(2, 50), elements=values),
    variant=variants,
    clip=st.sampled_from([None, 100.0, 500.0]),
)
def test_monotone_non_decreasing(y, variant, clip):
    y = np.sort(y)
    out = squash(y[:, None], variant=variant, clip=clip)[:, 0]
    assert np.all(np.diff(out) >= 0)
    assert np.all(out >= 0)


@settings(deadline=None)
@given(
    variant=variants,
    clip_soft=st.floats(1.0, 1e4),
    power=st.floats(0.25, 1.0),
    side=st.floats(1e-12, 1e-9),
)
def test_continuous_at_soft_clip(variant, clip_soft, power, side):
    shift = 1.0 if variant == "shifted" else 0.0
    # the count at which the powered value reaches the soft-clip threshold
    y0 = clip_soft ** (1 / power) - shift
    y = np.array([[y0 * (1 - side)], [y0], [y0 * (1 + side)]])
    below, at, above = squash(y, variant=variant, clip_soft=clip_soft, power=power)[:, 0]
    threshold = clip_soft - shift
    assert below <= at <= above
    # (near clip_soft = 1 the shifted threshold is ~0 and float cancellation sets the scale)
    assert below == pytest.approx(threshold, rel=1e-6, abs=1e-6)
    assert above - below <= 1e-3 * max(1.0, threshold)


# --- sparse, pandas, feature names ----------------------------------------------------


def count_matrix(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.poisson(3.0, size=(20, 6)).astype(float) * rng.uniform(0, 2000, size=6)
    X[rng.uniform(size=X.shape) < 0.6] = 0.0
    return X


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("variant", ["paper", "shifted"])
def test_sparse_matches_dense(fmt, variant):
    X = count_matrix()
    Xs = sp.csr_matrix(X).asformat(fmt)
    scaler = SquashedScaler(variant=variant, scale=np.linspace(0.1, 1, 6), clip=500.0)
    dense = scaler.fit(X).transform(X)
    out = scaler.fit(Xs).transform(Xs)
    assert sp.issparse(out) and out.format == fmt
    assert_array_equal(out.indices, Xs.indices)
    assert_array_equal(out.indptr, Xs.indptr)
    assert_allclose(out.toarray(), dense)
    back = scaler.inverse_transform(out)
    assert back.format == fmt and back.nnz == Xs.nnz
    assert_allclose(back.toarray(), scaler.inverse_transform(dense))


def test_sparse_array_keeps_type():
    Xs = sp.csc_array(count_matrix())
    out = SquashedScaler().fit_transform(Xs)
    assert isinstance(out, sp.csc_array)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_output_dtype(dtype):
    X = count_matrix().astype(dtype)
    expected = np.float32 if dtype == np.float32 else np.float64
    scaler = SquashedScaler(scale=0.3).fit(X)
    assert scaler.transform(X).dtype == expected
    assert scaler.inverse_transform(scaler.transform(X)).dtype == expected
    assert scaler.transform(sp.csr_matrix(X)).dtype == expected
    assert_allclose(scaler.inverse_transform(scaler.transform(X)), X, rtol=1e-4)


def test_pandas_output_and_feature_names():
    genes = ["CD3E", "MS4A1", "NKG7"]
    df = pd.DataFrame([[0.0, 16.0, 81.0], [1.0, 0.0, 16.0]], columns=genes, index=["a", "b"])
    scaler = SquashedScaler().set_output(transform="pandas")
    out = scaler.fit_transform(df)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == genes
    assert list(out.index) == ["a", "b"]
    assert_allclose(out.to_numpy(), [[0.0, 8.0, 27.0], [1.0, 0.0, 8.0]])
    assert_array_equal(scaler.feature_names_in_, genes)
    assert_array_equal(scaler.get_feature_names_out(), genes)


def test_feature_names_out_without_names():
    scaler = SquashedScaler().fit(np.ones((2, 3)))
    assert_array_equal(scaler.get_feature_names_out(), ["x0", "x1", "x2"])


# --- errors ---------------------------------------------------------------------------


def test_negative_value_names_the_column():
    genes = [f"g{i}" for i in range(12)] + ["CD3E"]
    df = pd.DataFrame(np.ones((3, 13)), columns=genes)
    scaler = SquashedScaler().fit(df)
    df.loc[1, "CD3E"] = -2.0
    with pytest.raises(ValueError, match=r"Negative values .* column 'CD3E' \(index 12\)"):
        scaler.transform(df)
    with pytest.raises(ValueError, match=r"Negative values .* column 'CD3E' \(index 12\)"):
        SquashedScaler().fit(df)
    with pytest.raises(ValueError, match=r"Negative values .* column 'CD3E' .*squashed values"):
        scaler.inverse_transform(df)


@pytest.mark.parametrize("fmt", ["dense", "csr", "csc"])
@pytest.mark.parametrize(
    "bad, problem", [(np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "inf"), (-1.0, "Negative")]
)
def test_invalid_value_names_the_column_index(fmt, bad, problem):
    X = np.ones((4, 5))
    X[2, 3] = bad
    X[3, 4] = bad
    if fmt != "dense":
        X = sp.csr_matrix(X).asformat(fmt)
    scaler = SquashedScaler().fit(np.ones((4, 5)))
    with pytest.raises(ValueError, match=rf"{problem}.* in column 3;"):
        scaler.transform(X)
    with pytest.raises(ValueError, match=rf"{problem}.* in column 3;"):
        scaler.inverse_transform(X)


def test_wrong_number_of_features_at_transform():
    scaler = SquashedScaler().fit(np.ones((2, 3)))
    with pytest.raises(ValueError, match="3 features"):
        scaler.transform(np.ones((2, 4)))
    with pytest.raises(ValueError, match="3 features"):
        scaler.inverse_transform(np.ones((2, 2)))


@pytest.mark.parametrize("scale", [[1.0, 2.0], [1.0, 2.0, 3.0, 4.0], [[1.0, 2.0, 3.0]]])
def test_wrong_length_scale(scale):
    with pytest.raises(ValueError, match="one scale per feature"):
        SquashedScaler(scale=scale).fit(np.ones((2, 3)))


@pytest.mark.parametrize("scale", [[1.0, 0.0, 1.0], [1.0, -1.0, 1.0], [1.0, np.inf, 1.0]])
def test_non_positive_per_feature_scale(scale):
    with pytest.raises(ValueError, match="finite and > 0"):
        SquashedScaler(scale=scale).fit(np.ones((2, 3)))


@pytest.mark.parametrize(
    "params",
    [{"power": 0.0}, {"clip_soft": -1.0}, {"clip": 0.0}, {"scale": 0.0}, {"variant": "new"}],
)
def test_invalid_parameters(params):
    with pytest.raises(ValueError):
        SquashedScaler(**params).fit(np.ones((2, 3)))


def test_shifted_needs_clip_soft_at_least_one():
    with pytest.raises(ValueError, match="clip_soft must be >= 1"):
        SquashedScaler(variant="shifted", clip_soft=0.5).fit(np.ones((2, 3)))


# --- no in-place modification, pickling -----------------------------------------------


@pytest.mark.parametrize("fmt", ["dense", "csr", "csc"])
@pytest.mark.parametrize("variant", ["paper", "shifted"])
def test_input_not_modified(fmt, variant):
    X = count_matrix()
    X[0, 0] = 1e9  # above the soft clip, where the reference inverse wrote in place
    if fmt != "dense":
        X = sp.csr_matrix(X).asformat(fmt)
    scaler = SquashedScaler(variant=variant, scale=0.3).fit(X)
    X_before = X.copy()
    Xt = scaler.transform(X)
    Xt_before = Xt.copy()
    scaler.inverse_transform(Xt)
    if fmt == "dense":
        assert_array_equal(X, X_before)
        assert_array_equal(Xt, Xt_before)
    else:
        assert_array_equal(X.toarray(), X_before.toarray())
        assert_array_equal(Xt.toarray(), Xt_before.toarray())


def test_pickle_round_trip():
    X = count_matrix()
    scaler = SquashedScaler(variant="shifted", clip=500.0, scale=np.linspace(0.1, 1, 6)).fit(X)
    restored = pickle.loads(pickle.dumps(scaler))
    Xt = scaler.transform(X)
    assert_array_equal(restored.transform(X), Xt)
    assert_array_equal(restored.inverse_transform(Xt), scaler.inverse_transform(Xt))
