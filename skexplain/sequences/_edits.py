"""In silico editing of one-hot sequences and marginalisation of a motif's effect.

Every function takes one-hot sequences of shape (n_samples, n_channels, length) (channels in
ACGT order for string motifs; an all-zero column is an unknown base, N) and returns new
arrays of the input's dtype; the input is never modified. Unlike tangermeme's ``ersatz``
(whose ``insert`` and ``delete`` change the length), every edit keeps the length by default,
trimming or padding a flank as each docstring states, so edited sequences can go straight
into the model that was trained on the originals.
"""

from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from .._core.compute import batched_scores, resolve_batch_size
from .._core.model import ModelAdapter
from .._core.validation import check_one_hot

ALPHABET = "ACGT"
KEEP_LENGTH = ("trim_right", "trim_left", "trim_both")
FILLS = ("right", "left")


# --- input checks ---------------------------------------------------------------------------

def check_sequences(X, name="X"):
    """X as an ndarray of one-hot sequences (n, C, L), or a ValueError naming the problem."""
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} must be a numeric one-hot array of shape (n_samples, n_channels, length), "
            f"got dtype {X.dtype}; encode strings with "
            "skexplain.preprocessing.OneHotSequenceEncoder."
        )
    check_one_hot(X, name)
    if X.shape[0] == 0 or X.shape[2] == 0:
        raise ValueError(f"{name} is empty: shape {X.shape}.")
    return X


def _check_position(value, name, low, high):
    if not isinstance(value, Integral) or isinstance(value, bool):
        raise ValueError(f"{name} must be an int, got {value!r}.")
    if not low <= value <= high:
        raise ValueError(f"{name}={value} is out of range: it must lie in [{low}, {high}].")
    return int(value)


def _check_region(start, end, length):
    start = _check_position(start, "start", 0, length)
    end = _check_position(end, "end", 0, length)
    if end <= start:
        raise ValueError(
            f"The region [start, end) = [{start}, {end}) is empty: end must be greater than "
            "start."
        )
    return start, end


def motif_matrix(motif, n_channels=4, name="motif"):
    """A motif as a one-hot matrix (n_channels, width); all-zero columns are N.

    Parameters
    ----------
    motif : str or array-like of shape (n_channels, width) or (1, n_channels, width)
        A string over ACGT (N: any base), a one-hot matrix, or a position probability
        matrix (PPM: non-negative columns summing to 1), which is replaced by its argmax
        consensus.
    n_channels : int, default=4
    name : str, default="motif"
        Named in error messages.

    Returns
    -------
    matrix : ndarray of shape (n_channels, width), float64

    Raises
    ------
    ValueError
        For characters other than ACGTN, a wrong number of channels, an empty motif, or a
        matrix that is neither one-hot nor a PPM.
    """
    if isinstance(motif, str):
        if n_channels != len(ALPHABET):
            raise ValueError(
                f"A string {name} needs sequences with {len(ALPHABET)} channels (ACGT); these "
                f"have {n_channels}."
            )
        bad = sorted(set(motif.upper()) - set(ALPHABET + "N"))
        if bad:
            raise ValueError(f"{name} {motif!r} has characters {bad} outside ACGTN.")
        if not motif:
            raise ValueError(f"{name} is an empty string.")
        matrix = np.zeros((n_channels, len(motif)))
        for i, char in enumerate(motif.upper()):
            if char != "N":
                matrix[ALPHABET.index(char), i] = 1.0
        return matrix
    matrix = np.asarray(motif, dtype=np.float64)
    if matrix.ndim == 3 and matrix.shape[0] == 1:
        matrix = matrix[0]
    if matrix.ndim != 2 or matrix.shape[0] != n_channels or matrix.shape[1] == 0:
        raise ValueError(
            f"{name} must be a string or a matrix of shape ({n_channels}, width), got shape "
            f"{matrix.shape}."
        )
    if not np.isfinite(matrix).all():
        raise ValueError(f"{name} has NaN or infinite values.")
    sums = matrix.sum(axis=0)
    if np.isin(matrix, (0, 1)).all() and np.isin(sums, (0, 1)).all():
        return matrix
    if (matrix >= 0).all() and np.allclose(sums, 1.0, atol=1e-3):
        return np.eye(n_channels)[matrix.argmax(axis=0)].T
    raise ValueError(
        f"{name} is neither one-hot nor a PPM (non-negative columns summing to 1); pass a "
        "PPM (e.g. of a JASPAR motif), its consensus string or a one-hot matrix."
    )


def _tiled(columns, n, dtype):
    return np.broadcast_to(columns.astype(dtype), (n,) + columns.shape).copy()


# --- edits ----------------------------------------------------------------------------------

def substitute(X, motif, start=None):
    """Overwrite the bases at ``[start, start + width)`` with a motif.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_channels, length)
        One-hot sequences.
    motif : str or array-like of shape (n_channels, width)
        A string over ACGTN, a one-hot matrix or a PPM (its argmax consensus is used). An N
        (an all-zero column) keeps the sequence's own base, as in tangermeme's
        ``substitute``.
    start : int, optional
        First substituted position; None centres the motif (``length // 2 - width // 2``,
        tangermeme's default).

    Returns
    -------
    X_new : ndarray of shape (n_samples, n_channels, length)
        A new array of X's dtype.

    Raises
    ------
    ValueError
        If X is not one-hot, the motif is invalid or it does not fit at ``start``.

    References
    ----------
    Schreiber, J. tangermeme: ``tangermeme.ersatz.substitute``.

    Examples
    --------
    >>> from skexplain.preprocessing import OneHotSequenceEncoder
    >>> encoder = OneHotSequenceEncoder()
    >>> X = encoder.fit_transform(["AAAAAA"])
    >>> encoder.inverse_transform(substitute(X, "GC", start=2))[0]
    'AAGCAA'
    """
    X = check_sequences(X)
    matrix = motif_matrix(motif, X.shape[1])
    length, width = X.shape[2], matrix.shape[1]
    if width > length:
        raise ValueError(f"The motif (width {width}) is longer than the sequences ({length}).")
    start = length // 2 - width // 2 if start is None else \
        _check_position(start, "start", 0, length - width)
    out = X.copy()
    known = matrix.sum(axis=0) == 1
    columns = np.arange(start, start + width)[known]
    out[:, :, columns] = matrix[:, known].astype(X.dtype)
    return out


def insert(X, motif, start=None, *, keep_length="trim_right"):
    """Insert a motif before position ``start``, keeping the length by trimming a flank.

    The sequence becomes ``X[:start] + motif + X[start:]`` (length + width), then:

    - ``"trim_right"`` (default): the last ``width`` bases are dropped; the motif is at
      ``[start, start + width)`` and the left flank is unchanged.
    - ``"trim_left"``: the first ``width`` bases are dropped; the motif is at
      ``[start - width, start)`` and the right flank is unchanged.
    - ``"trim_both"``: ``width // 2`` bases are dropped on the left and the rest on the
      right; the motif is at ``[start - width // 2, start - width // 2 + width)``.
    - ``None``: nothing is dropped (tangermeme's ``insert``): length + width.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_channels, length)
        One-hot sequences.
    motif : str or array-like of shape (n_channels, width)
        A string over ACGTN, a one-hot matrix or a PPM (its argmax consensus). N (an
        all-zero column) is inserted as an unknown base.
    start : int, optional
        Position before which the motif goes, in ``[0, length]``; None: ``length // 2``.
    keep_length : {"trim_right", "trim_left", "trim_both"} or None, default="trim_right"

    Returns
    -------
    X_new : ndarray of shape (n_samples, n_channels, length), or length + width
        A new array of X's dtype.

    Raises
    ------
    ValueError
        If X is not one-hot, the motif is invalid, ``keep_length`` is unknown, or trimming
        would cut into the inserted motif.

    Examples
    --------
    >>> from skexplain.preprocessing import OneHotSequenceEncoder
    >>> enc = OneHotSequenceEncoder()
    >>> X = enc.fit_transform(["ACGTAC"])
    >>> enc.inverse_transform(insert(X, "TT", start=2))[0]
    'ACTTGT'
    >>> enc.inverse_transform(insert(X, "TT", start=2, keep_length="trim_left"))[0]
    'TTGTAC'
    """
    X = check_sequences(X)
    if keep_length is not None and keep_length not in KEEP_LENGTH:
        raise ValueError(f"keep_length must be one of {KEEP_LENGTH} or None, got "
                         f"{keep_length!r}.")
    matrix = motif_matrix(motif, X.shape[1])
    n, length, width = X.shape[0], X.shape[2], matrix.shape[1]
    start = length // 2 if start is None else _check_position(start, "start", 0, length)
    full = np.concatenate([X[:, :, :start], _tiled(matrix, n, X.dtype), X[:, :, start:]],
                          axis=2)
    if keep_length is None:
        return full
    left = {"trim_right": 0, "trim_left": width, "trim_both": width // 2}[keep_length]
    if not (left <= start and start + width <= left + length):
        raise ValueError(
            f"keep_length={keep_length!r} would trim the inserted motif (width {width}) at "
            f"start={start} in sequences of length {length}; choose another start or "
            "keep_length."
        )
    return full[:, :, left:left + length]


def delete(X, start, end, *, fill="right", background=None):
    """Delete the bases at ``[start, end)``, keeping the length by padding a flank.

    - ``fill="right"`` (default): the right flank moves left by ``end - start`` and the
      freed positions at the right end are padded.
    - ``fill="left"``: the left flank moves right and the freed positions at the left end
      are padded.
    - ``fill=None``: no padding (tangermeme's ``delete``): length - (end - start).

    The padding is N (all-zero columns) by default, or taken from ``background``: the bases
    that follow the sequences in the genome for ``fill="right"`` (its first columns are
    used) or that precede them for ``fill="left"`` (its last columns), so that a deletion
    pulls in real flanking sequence as it does in the genome.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_channels, length)
        One-hot sequences.
    start, end : int
        The deleted region ``[start, end)``, ``0 <= start < end <= length``.
    fill : {"right", "left"} or None, default="right"
    background : str or array-like of shape (n_channels, m) or (n_samples, n_channels, m), \
optional
        One-hot flanking bases (or a string), ``m >= end - start``; None pads with N.

    Returns
    -------
    X_new : ndarray of shape (n_samples, n_channels, length), or length - (end - start)
        A new array of X's dtype.

    Raises
    ------
    ValueError
        If X is not one-hot, the region is empty or out of range, ``fill`` is unknown, or
        ``background`` is not one-hot, too short or of the wrong shape.

    Examples
    --------
    >>> from skexplain.preprocessing import OneHotSequenceEncoder
    >>> enc = OneHotSequenceEncoder()
    >>> X = enc.fit_transform(["ACGTAC"])
    >>> enc.inverse_transform(delete(X, 1, 3, background="GG"))[0]
    'ATACGG'
    """
    X = check_sequences(X)
    if fill is not None and fill not in FILLS:
        raise ValueError(f"fill must be one of {FILLS} or None, got {fill!r}.")
    n, n_channels, length = X.shape
    start, end = _check_region(start, end, length)
    kept = np.concatenate([X[:, :, :start], X[:, :, end:]], axis=2)
    if fill is None:
        return kept
    size = end - start
    pad = np.zeros((n, n_channels, size), dtype=X.dtype)
    if background is not None:
        flank = _background(background, n, n_channels, X.dtype)
        if flank.shape[2] < size:
            raise ValueError(
                f"background has {flank.shape[2]} columns; the deletion needs {size}."
            )
        pad = flank[:, :, :size] if fill == "right" else flank[:, :, flank.shape[2] - size:]
    parts = [kept, pad] if fill == "right" else [pad, kept]
    return np.concatenate(parts, axis=2)


def _background(background, n, n_channels, dtype):
    if isinstance(background, str):
        flank = motif_matrix(background, n_channels, "background")[None]
    else:
        flank = np.asarray(background)
        if flank.ndim == 2:
            flank = flank[None]
        if flank.ndim != 3 or flank.shape[1] != n_channels or flank.shape[0] not in (1, n):
            raise ValueError(
                f"background must have shape ({n_channels}, m) or ({n}, {n_channels}, m), got "
                f"{flank.shape}."
            )
        check_one_hot(flank, "background")
    return np.broadcast_to(flank.astype(dtype), (n,) + flank.shape[1:])


def randomize(X, start, end, *, probabilities=None, random_state=None):
    """Replace the bases at ``[start, end)`` with random ones.

    Bases are drawn independently at each position and in each sequence, uniformly or with
    the given ``probabilities`` (tangermeme's ``randomize``, one draw per sequence).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_channels, length)
        One-hot sequences.
    start, end : int
        The region ``[start, end)``, ``0 <= start < end <= length``.
    probabilities : array-like of shape (n_channels,), optional
        Base frequencies (e.g. the GC content of the genome); None is uniform.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X_new : ndarray of shape (n_samples, n_channels, length)
        A new array of X's dtype; positions outside the region are unchanged.

    Raises
    ------
    ValueError
        If X is not one-hot, the region is empty or out of range, or ``probabilities`` is
        not a distribution over the channels.
    """
    X = check_sequences(X)
    n, n_channels, length = X.shape
    start, end = _check_region(start, end, length)
    if probabilities is not None:
        probabilities = np.asarray(probabilities, dtype=np.float64)
        if probabilities.shape != (n_channels,) or (probabilities < 0).any() \
                or not np.isclose(probabilities.sum(), 1.0):
            raise ValueError(
                f"probabilities must be {n_channels} non-negative numbers summing to 1, got "
                f"{probabilities.tolist()}."
            )
    rng = check_random_state(random_state)
    bases = rng.choice(n_channels, size=(n, end - start), p=probabilities)
    out = X.copy()
    out[:, :, start:end] = np.eye(n_channels, dtype=X.dtype)[bases].transpose(0, 2, 1)
    return out


def shuffle_region(X, start, end, *, kind="dinucleotide", random_state=None):
    """Shuffle the bases at ``[start, end)`` of each sequence, keeping their composition.

    A dinucleotide shuffle keeps the first and last base of the region and the count of
    every pair of neighbouring bases in it (so those of the whole sequence too); a
    mononucleotide shuffle permutes the region's bases. The shuffle itself is
    :func:`skexplain.explainers.shuffle_sequences` (Altschul & Erickson 1985).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_channels, length)
        One-hot sequences.
    start, end : int
        The region ``[start, end)``, ``0 <= start < end <= length``.
    kind : {"dinucleotide", "mononucleotide"}, default="dinucleotide"
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X_new : ndarray of shape (n_samples, n_channels, length)
        A new array of X's dtype; positions outside the region are unchanged.

    Raises
    ------
    ValueError
        If X is not one-hot, the region is empty or out of range, or ``kind`` is unknown.

    References
    ----------
    Altschul, S. F. & Erickson, B. W. Mol. Biol. Evol. 2, 526-538 (1985); tangermeme's
    ``ersatz.dinucleotide_shuffle`` applied to a region, as its ``ersatz.shuffle`` does.
    """
    from ..explainers import shuffle_sequences

    X = check_sequences(X)
    start, end = _check_region(start, end, X.shape[2])
    out = X.copy()
    out[:, :, start:end] = shuffle_sequences(X[:, :, start:end], 1, kind=kind,
                                             random_state=random_state)[:, 0]
    return out


# --- marginalisation ------------------------------------------------------------------------

def model_scores(adapter, X, batch_size):
    """Scores (n, n_outputs) of one-hot sequences X (n, C, L), ``batch_size`` per call."""
    rows = X.reshape(len(X), -1)
    return batched_scores(adapter.scores, rows, batch_size)


def target_columns(adapter, target, reference_scores):
    """One output index per row: the core rule (None: each row's highest reference score)."""
    return adapter.resolve_target(target, reference_scores)


def marginalize(model, backgrounds, motif, *, start=None, output="auto", target=None,
                batch_size="auto", device=None):
    """Marginal effect of a motif: the model's output before and after substituting it.

    The motif is substituted (see :func:`substitute`) into every background sequence at
    ``start``, and the explained output (the ``output`` rule of every skexplain explainer)
    is computed before and after, in batches; its change is the effect of the motif in
    isolation from any other motif (tangermeme's ``marginalize``; the global importance
    analysis of Koo et al. 2021, whose position sweep is
    :func:`skexplain.motifs.effect_curve`).

    Parameters
    ----------
    model : estimator, skorch net, torch.nn.Module or callable
        A fitted model of one-hot sequences (n, C, L).
    backgrounds : array-like of shape (n_backgrounds, n_channels, length)
        One-hot background sequences (e.g. dinucleotide shuffles of real sequences).
    motif : str or array-like of shape (n_channels, width)
        A string over ACGTN (N keeps the background base), a one-hot matrix or a PPM (its
        argmax consensus is substituted).
    start : int, optional
        First substituted position; None centres the motif.
    output : {"auto", "probability", "logit", "log_odds"} or callable, default="auto"
        The explained quantity, as in every explainer (see ``ModelAdapter``).
    target : int, label, array-like of shape (n_backgrounds,) or None, default=None
        The output whose change is measured; None: each background's highest-scoring
        output before the substitution.
    batch_size : int or "auto", default="auto"
        Rows per model call.
    device : str, torch.device or None, default=None
        Where a torch model runs (e.g. "cuda"); None keeps its own device.

    Returns
    -------
    result : pandas.DataFrame with n_backgrounds rows
        Columns ``target`` (output index), ``before``, ``after`` and ``delta``
        (``after - before``), one row per background.

    Raises
    ------
    ValueError
        If the backgrounds are not one-hot, the motif is invalid or does not fit, the target
        is invalid, or the model returns NaN or infinite scores.

    References
    ----------
    Schreiber, J. tangermeme: ``tangermeme.marginalize.marginalize``.
    Koo, P. K., Majdandzic, A., Ploenzke, M., Anand, P. & Paul, S. B. "Global importance
    analysis: an interpretability method to quantify importance of genomic features in deep
    neural networks." PLoS Comput. Biol. 17, e1008925 (2021).

    Examples
    --------
    >>> import numpy as np
    >>> W = np.arange(4 * 8, dtype=float).reshape(4, 8)
    >>> model = lambda X: (X * W).sum(axis=(1, 2))
    >>> X = np.zeros((1, 4, 8)); X[:, 0] = 1                   # AAAAAAAA
    >>> marginalize(model, X, "G", start=3)["delta"].item()    # W[2, 3] - W[0, 3]
    16.0
    """
    backgrounds = check_sequences(backgrounds, "backgrounds")
    after = substitute(backgrounds, motif, start)
    adapter = ModelAdapter(model, backgrounds.shape[1:], output=output, device=device,
                           name="marginalize")
    batch_size = resolve_batch_size(batch_size, int(np.prod(backgrounds.shape[1:])))
    before_scores = model_scores(adapter, backgrounds, batch_size)
    after_scores = model_scores(adapter, after, batch_size)
    columns = target_columns(adapter, target, before_scores)
    rows = np.arange(len(backgrounds))
    before, after_ = before_scores[rows, columns], after_scores[rows, columns]
    return pd.DataFrame({"target": columns, "before": before, "after": after_,
                         "delta": after_ - before})
