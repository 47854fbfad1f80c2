"""Input checks shared by every explainer, and the deprecation of old names.

Accepted inputs: dense arrays of any numeric or bool dtype, scipy.sparse matrices (any
format), pandas DataFrames (feature names kept), AnnData objects (``layer`` / ``use_raw``,
gene names kept) and one-hot sequences (n, 4, L). Everything else gets a ValueError or
TypeError that names the problem; the input is never changed in place.
"""

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_array


def is_anndata(X):
    return type(X).__name__ == "AnnData" and hasattr(X, "var_names") and hasattr(X, "obs_names")


def from_anndata(adata, layer=None, use_raw=False):
    """(matrix, gene names) of an AnnData: ``.X``, ``.layers[layer]`` or ``.raw.X``.

    Raises
    ------
    ValueError
        If ``layer`` is unknown, or ``use_raw`` is set without a ``.raw`` or with a layer.
    """
    if use_raw and layer is not None:
        raise ValueError("Pass either layer or use_raw=True, not both.")
    if use_raw:
        if adata.raw is None:
            raise ValueError("use_raw=True, but the AnnData has no .raw.")
        return adata.raw.X, np.asarray(adata.raw.var_names, dtype=object)
    if layer is not None:
        if layer not in adata.layers:
            raise ValueError(
                f"The AnnData has no layer {layer!r}; its layers are {list(adata.layers)}."
            )
        return adata.layers[layer], np.asarray(adata.var_names, dtype=object)
    return adata.X, np.asarray(adata.var_names, dtype=object)


def check_input(X, *, layer=None, use_raw=False, accept_sparse=True, name="X"):
    """Validate X; return (X flattened to 2-D float64, feature shape, feature names or None).

    Sparse input stays sparse (CSR) when ``accept_sparse``; otherwise it is densified.

    Raises
    ------
    ValueError
        For 1-D, empty, NaN or infinite input, text (DNA strings), or a DataFrame with
        non-numeric columns.
    TypeError
        For object arrays that are not numbers.
    """
    names = None
    if is_anndata(X):
        X, names = from_anndata(X, layer, use_raw)
    elif layer is not None or use_raw:
        raise ValueError("layer and use_raw apply to AnnData input only.")
    check_numeric(X, name)
    if hasattr(X, "columns") and hasattr(X, "dtypes"):
        columns = np.asarray(X.columns, dtype=object)
        if all(isinstance(c, str) for c in columns):
            names = columns
    if not sp.issparse(X):
        if np.ndim(X) == 1:
            raise ValueError(
                f"Expected {name} with 2 or more dimensions (n_samples, *feature_shape), got "
                "a 1-D array; reshape a single instance with X.reshape(1, -1)."
            )
    if sp.issparse(X) and not accept_sparse:
        X = X.toarray()
    if _plain_finite_array(X):  # check_array's result, at a fraction of its cost
        X = X.astype(np.float64, copy=False)
        return X.reshape(len(X), -1), X.shape[1:], names
    X = check_array(X, accept_sparse="csr", dtype=np.float64, allow_nd=True,
                    ensure_all_finite=True, input_name=name)
    feature_shape = tuple(X.shape[1:])
    if not sp.issparse(X):
        X = X.reshape(X.shape[0], -1)
    return X, feature_shape, names


def _plain_finite_array(X):
    """Whether X is a non-empty numeric ndarray of 2 or more dimensions without NaN or
    infinity: the input that ``check_array`` would only convert to float64."""
    return (type(X) is np.ndarray and X.dtype.kind in "fiub" and X.ndim >= 2
            and X.size > 0 and bool(np.isfinite(X).all()))


def check_numeric(X, name="X"):
    """Raise unless X holds numbers: no text (DNA strings), no non-numeric DataFrame column.

    Raises
    ------
    ValueError
        For text, or a DataFrame with non-numeric columns (named).
    TypeError
        For object arrays whose values are not numbers.
    """
    if sp.issparse(X):
        return
    if hasattr(X, "columns") and hasattr(X, "dtypes"):
        from pandas.api.types import is_bool_dtype, is_numeric_dtype

        bad = [c for c, t in zip(X.columns, X.dtypes, strict=True)
               if not (is_numeric_dtype(t) or is_bool_dtype(t))]
        if bad:
            raise ValueError(
                f"{name} has non-numeric columns {list(map(str, bad[:5]))}; encode them "
                "first (e.g. with OneHotEncoder in a pipeline)."
            )
        return
    array = np.asarray(X)
    if array.dtype.kind in "USO":
        sample = array.ravel()[:1]
        if array.dtype.kind in "US" or (len(sample) and isinstance(sample[0], (str, bytes))):
            raise ValueError(
                f"{name} holds text (e.g. {str(sample[0])[:20]!r}); explainers take numbers. "
                "Encode DNA sequences first with skexplain.preprocessing.OneHotSequenceEncoder "
                "(shape (n_samples, 4, length))."
            )
        try:
            array.astype(np.float64)
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"{name} has dtype object with values that are not numbers ({error})."
            ) from None


def check_one_hot(X, what="X"):
    """Raise ValueError unless every column of X (n, A, L) is one-hot or all zero (an N).

    Returns
    -------
    tokens : ndarray of shape (n, L), int
        The index of the set channel, or A for an all-zero column.
    """
    X = np.asarray(X)
    if X.ndim != 3:
        raise ValueError(
            f"{what} must be one-hot sequences of shape (n_samples, n_channels, length), got "
            f"shape {X.shape}."
        )
    column_sums = X.sum(axis=1)
    if not (np.isin(X, (0, 1)).all() and np.isin(column_sums, (0, 1)).all()):
        raise ValueError(
            f"{what} must be one-hot: every position needs exactly one channel set to 1 (or "
            "none, for an unknown base)."
        )
    return np.where(column_sums == 1, X.argmax(axis=1), X.shape[1])


def default_feature_names(feature_shape, alphabet=None):
    """Default names of the flattened features of inputs of shape ``feature_shape``.

    Parameters
    ----------
    feature_shape : tuple of int
        Shape of one instance.
    alphabet : str or sequence of str, optional
        Letters of the channels of one-hot sequences of shape (n_channels, length), e.g.
        "ACGT": the names are then ``"A:0", "A:1", ...`` (see :func:`sequence_feature_names`).
        By default the names depend on the shape alone: a (4, L) input is not assumed to
        be DNA.

    Returns
    -------
    names : ndarray of object of shape (prod(feature_shape),)
        ``x0, x1, ...`` for flat features, ``x0_0, x0_1, ...`` (C order) otherwise.

    Raises
    ------
    ValueError
        If ``alphabet`` is given and ``feature_shape`` is not (len(alphabet), length).
    """
    feature_shape = tuple(int(d) for d in feature_shape)
    if alphabet is not None:
        if len(feature_shape) != 2 or feature_shape[0] != len(alphabet):
            raise ValueError(
                f"An alphabet of {len(alphabet)} letters names sequences of shape "
                f"({len(alphabet)}, length), not {feature_shape}."
            )
        return sequence_feature_names(feature_shape[1], alphabet)
    if len(feature_shape) == 1:
        return np.asarray([f"x{i}" for i in range(feature_shape[0])], dtype=object)
    return np.asarray(["x" + "_".join(map(str, idx)) for idx in np.ndindex(*feature_shape)],
                      dtype=object)


def sequence_feature_names(length, alphabet="ACGT"):
    """Names ``"A:0", ..., "A:{L-1}", "C:0", ...`` of one-hot sequences (n_channels, L).

    The order is that of the flattened (channel, position) array, so ``names[c * L + p]``
    is ``f"{alphabet[c]}:{p}"``: the name of the value of letter c at position p.

    Parameters
    ----------
    length : int
        Sequence length L.
    alphabet : str or sequence of str, default="ACGT"
        One letter (or name) per channel.

    Returns
    -------
    names : ndarray of object of shape (len(alphabet) * length,)

    Raises
    ------
    ValueError
        If ``length`` is negative or ``alphabet`` is empty or repeats a letter.

    Examples
    --------
    >>> from skexplain._core.validation import sequence_feature_names
    >>> sequence_feature_names(2).tolist()
    ['A:0', 'A:1', 'C:0', 'C:1', 'G:0', 'G:1', 'T:0', 'T:1']
    """
    letters = [str(a) for a in alphabet]
    if not letters or len(set(letters)) != len(letters):
        raise ValueError(f"alphabet must name each channel once, got {alphabet!r}.")
    if int(length) < 0:
        raise ValueError(f"length must be >= 0, got {length}.")
    return np.asarray([f"{a}:{p}" for a in letters for p in range(int(length))], dtype=object)


def deprecated_names(module_name, names, module_globals):
    """A module ``__getattr__`` serving old names with a FutureWarning.

    Parameters
    ----------
    module_name : str
    names : dict of str to str
        Old name -> new name (an attribute of the module).
    module_globals : dict
        The module's ``globals()``.
    """

    def __getattr__(name):
        if name in names:
            warnings.warn(
                f"{module_name}.{name} is deprecated; use {names[name]} (same class, same "
                "results).",
                FutureWarning,
                stacklevel=2,
            )
            return module_globals[names[name]]
        raise AttributeError(f"module {module_name!r} has no attribute {name!r}")

    return __getattr__


METHOD_ALIASES = {"kernelshap": "kernel_shap"}


def canonical_method(method, known):
    """A method identifier of ``known``; old spellings warn (FutureWarning).

    Raises
    ------
    ValueError
        If ``method`` is not known.
    """
    if method in METHOD_ALIASES and METHOD_ALIASES[method] in known:
        warnings.warn(
            f"method={method!r} is deprecated; use {METHOD_ALIASES[method]!r} (same result).",
            FutureWarning,
            stacklevel=3,
        )
        return METHOD_ALIASES[method]
    if method not in known:
        raise ValueError(f"method must be one of {sorted(known)}, got {method!r}.")
    return method
