"""Borzoi's squashed scale for counts and coverage, as a scikit-learn transformer."""

from numbers import Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from sklearn_compat.utils.validation import validate_data

from .._core.validation import check_numeric

_FORWARD_HINT = "the squashed scale needs counts or coverage >= 0"
_INVERSE_HINT = "inverse_transform needs squashed values >= 0"


def _is_negative(values):
    return values < 0


# (what is wrong, test on the values), checked in this order.
_VALUE_PROBLEMS = (
    ("NaN values", np.isnan),
    ("Infinite (inf) values", np.isinf),
    ("Negative values", _is_negative),
)


def _power(values, exponent, shifted):
    """``values ** exponent``, or ``(1 + values) ** exponent - 1`` when `shifted`.

    The shifted form goes through ``log1p``/``expm1`` so that small values keep their
    relative precision.  ``_power(_power(v, a, s), 1 / a, s)`` recovers ``v``.
    """
    if shifted:
        return np.expm1(exponent * np.log1p(values))
    return np.power(values, exponent)


def _stored_columns(X):
    """Column index of each stored entry of a CSR or CSC matrix."""
    if X.format == "csr":
        return X.indices
    return np.repeat(np.arange(X.shape[1]), np.diff(X.indptr))


def _first_bad_column(X, is_bad):
    """Index of the first column holding a value for which `is_bad` is true, else None."""
    if sp.issparse(X):
        bad = is_bad(X.data)
        return int(_stored_columns(X)[bad].min()) if bad.any() else None
    columns = np.flatnonzero(is_bad(X).any(axis=0))
    return int(columns[0]) if columns.size else None


class SquashedScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Compress counts or coverage with Borzoi's squashed scale.

    Each value ``y >= 0`` (a read count, or RNA-seq coverage of a bin) is mapped
    independently:

    1. power: ``p = y ** power`` (``variant="paper"``) or
       ``p = (1 + y) ** power - 1`` (``variant="shifted"``);
    2. soft clip: above the threshold ``t`` (``t = clip_soft`` for ``"paper"``,
       ``t = clip_soft - 1`` for ``"shifted"``), ``p = t + sqrt(p - t)``;
    3. hard clip: ``p = min(p, clip)`` when `clip` is not None;
    4. scale: ``p = p * scale`` (per feature, i.e. per track or per gene).

    Every step is continuous and non-decreasing, and zero maps to zero, so sparse
    count matrices keep their sparsity pattern.  :meth:`inverse_transform` undoes
    the steps in reverse order; it is exact except where the hard clip was hit.

    Parameters
    ----------
    power : float, default=0.75
        Exponent of the power step, > 0.  Values below 1 compress large counts.
    clip_soft : float, default=384.0
        Level, on the powered scale, above which growth is slowed to a square root.
        Must be >= 0, and >= 1 with ``variant="shifted"`` (so that zero maps to zero).
    clip : float or None, default=None
        Hard upper bound on the soft-clipped value, applied before `scale`
        (Borzoi's paper pipeline used 768).  None means no hard clip.
    scale : float or array-like of shape (n_features,), default=1.0
        Finite factor(s) > 0 applied last, one per feature if array-like
        (Borzoi used e.g. 0.3 for ENCODE RNA-seq tracks and 0.01 for GTEx).
    variant : {"paper", "shifted"}, default="paper"
        ``"paper"`` is the transform described by Linder et al. (2025);
        ``"shifted"`` is the newer Borzoi/baskerville default, which powers
        ``1 + y`` and is gentler on small counts.

    Attributes
    ----------
    scale_ : ndarray of shape (n_features_in_,)
        The scale factor of each feature, as float64.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit``. Defined only when `X`
        has feature names that are all strings.

    See Also
    --------
    sklearn.preprocessing.PowerTransformer : Data-driven power transforms.

    Notes
    -----
    The transform is stateless apart from input validation: :meth:`fit` learns
    nothing from the values of `X`.  Dense input gives dense output (float32 stays
    float32, everything else becomes float64); CSR or CSC input gives a matrix of
    the same format and sparsity pattern.  Input arrays are never modified.

    With `clip` set, every value whose soft-clipped level exceeds `clip` is mapped
    to ``clip * scale``, so :meth:`inverse_transform` returns the count at the clip
    for those values; it is exact only for values below the clip.

    References
    ----------
    .. [1] J. Linder, D. Srivastava, H. Yuan, V. Agarwal and D. R. Kelley,
       "Predicting RNA-seq coverage from DNA sequence as a unifying model of gene
       regulation", Nature Genetics 57, 949-961 (2025).
       https://doi.org/10.1038/s41588-024-02053-6

    Examples
    --------
    >>> import numpy as np
    >>> from skexplain.preprocessing import SquashedScaler
    >>> X = np.array([[0.0, 16.0], [81.0, 4096.0]])
    >>> scaler = SquashedScaler().fit(X)
    >>> X_squashed = scaler.transform(X)
    >>> X_squashed
    array([[  0.       ,   8.       ],
           [ 27.       , 395.3137085]])
    >>> np.allclose(scaler.inverse_transform(X_squashed), X)
    True
    >>> SquashedScaler(scale=[1.0, 0.01]).fit_transform(X)
    array([[ 0.        ,  0.08      ],
           [27.        ,  3.95313708]])
    """

    _parameter_constraints: dict = {
        "power": [Interval(Real, 0, None, closed="neither")],
        "clip_soft": [Interval(Real, 0, None, closed="left")],
        "clip": [None, Interval(Real, 0, None, closed="neither")],
        "scale": [Interval(Real, 0, None, closed="neither"), "array-like"],
        "variant": [StrOptions({"paper", "shifted"})],
    }

    def __init__(self, power=0.75, clip_soft=384.0, clip=None, scale=1.0, variant="paper"):
        self.power = power
        self.clip_soft = clip_soft
        self.clip = clip
        self.scale = scale
        self.variant = variant

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the parameters and `X`, and build the per-feature scale.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Non-negative counts or coverage.  Only its shape, feature names and
            validity are used.
        y : None
            Ignored.

        Returns
        -------
        self : SquashedScaler
            The fitted transformer.

        Raises
        ------
        ValueError
            If `X` holds negative, NaN or infinite values (the message names the
            column), if `scale` is array-like with a length other than
            ``n_features``, or if ``variant="shifted"`` and ``clip_soft < 1``.
        """
        if self.variant == "shifted" and self.clip_soft < 1:
            raise ValueError(
                f"clip_soft must be >= 1 with variant='shifted' (got {self.clip_soft}), "
                "otherwise zero would not map to zero."
            )
        X = self._validate(X, reset=True)
        self._check_values(X, _FORWARD_HINT)
        self.scale_ = self._fitted_scale(X.shape[1])
        return self

    def transform(self, X):
        """Squash counts or coverage.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Non-negative counts or coverage.

        Returns
        -------
        X_squashed : {ndarray, sparse matrix} of shape (n_samples, n_features)
            Squashed values, >= 0; sparse (same format and pattern) if `X` is.

        Raises
        ------
        ValueError
            If `X` holds negative, NaN or infinite values (the message names the
            column), or has a number of features other than ``n_features_in_``.
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        self._check_values(X, _FORWARD_HINT)
        return self._apply(X, self._squash)

    def inverse_transform(self, X):
        """Map squashed values back to counts or coverage.

        Exact (up to floating point error) for values that were below the hard
        clip `clip`; values at the clip come back as the count at the clip.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Squashed values, >= 0, e.g. the output of :meth:`transform` or of a
            model trained on it.

        Returns
        -------
        X_original : {ndarray, sparse matrix} of shape (n_samples, n_features)
            Counts or coverage; sparse (same format and pattern) if `X` is.

        Raises
        ------
        ValueError
            If `X` holds negative, NaN or infinite values (the message names the
            column), or has a number of features other than ``n_features_in_``.
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        self._check_values(X, _INVERSE_HINT)
        return self._apply(X, self._unsquash)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.positive_only = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _validate(self, X, reset):
        check_numeric(X)
        return validate_data(
            self,
            X,
            reset=reset,
            accept_sparse=("csr", "csc"),
            dtype=(np.float64, np.float32),
            ensure_all_finite=False,
        )

    def _check_values(self, X, hint):
        for problem, is_bad in _VALUE_PROBLEMS:
            column = _first_bad_column(X, is_bad)
            if column is not None:
                raise ValueError(
                    f"{problem} in data passed to SquashedScaler, in column "
                    f"{self._column_label(column)}; {hint}."
                )

    def _column_label(self, index):
        names = getattr(self, "feature_names_in_", None)
        return str(index) if names is None else f"{str(names[index])!r} (index {index})"

    def _fitted_scale(self, n_features):
        scale = np.asarray(self.scale, dtype=np.float64)
        if scale.ndim == 0:
            scale = np.full(n_features, scale)
        if scale.shape != (n_features,):
            raise ValueError(
                f"scale has shape {scale.shape}, but X has {n_features} features; "
                "pass a single number or one scale per feature."
            )
        if not np.all(np.isfinite(scale) & (scale > 0)):
            raise ValueError("scale must be finite and > 0 for every feature.")
        return scale

    def _threshold(self):
        return self.clip_soft - 1.0 if self.variant == "shifted" else self.clip_soft

    def _apply(self, X, func):
        scale = self.scale_.astype(X.dtype)
        if not sp.issparse(X):
            return func(X, scale)
        out = X.copy()
        out.data = func(X.data, scale[_stored_columns(X)])
        return out

    def _squash(self, values, scale):
        squashed = _power(values, self.power, self.variant == "shifted")
        t = self._threshold()
        above = squashed > t
        squashed[above] = t + np.sqrt(squashed[above] - t)
        if self.clip is not None:
            squashed = np.minimum(squashed, self.clip)
        return squashed * scale

    def _unsquash(self, values, scale):
        powered = values / scale
        t = self._threshold()
        above = powered > t
        powered[above] = t + np.square(powered[above] - t)
        return _power(powered, 1.0 / self.power, self.variant == "shifted")
