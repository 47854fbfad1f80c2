"""First-layer convolutional filters to position probability matrices (PPMs)."""

import warnings
from numbers import Integral, Real

import numpy as np

CHUNK_VALUES = 2**23  # filters x sequences x centres per chunk: 32 MiB of float32 site indicators


def filter_ppms(activations, X, window=20, threshold=0.5):
    """Position probability matrices of first-layer filters by activation alignment.

    For each filter, every (sequence, position) whose activation exceeds ``threshold`` times
    the filter's maximum activation over all of ``activations`` is a site; the ``window``-nt
    one-hot windows of ``X`` around the sites are averaged into a PPM. This is how Koo &
    Ploenzke (2021, "Improving representations of genomic sequence motifs in convolutional
    networks with exponential activations", Nat. Mach. Intell. 3, 258-266) visualise and
    match first-layer filters.

    Alignment: ``activations[i, f, p]`` must be filter f's response to the input window
    centred on position p of sequence i, as a stride-1 convolution with "same" padding (odd
    kernel width) gives. The window of a site at p covers positions
    ``p - window // 2`` to ``p - window // 2 + window - 1``; sites whose window would run
    past either end of the sequence are skipped (no zero padding), so no PPM column is
    diluted by padding. (The released code also skips the windows that start at the first
    or end at the last position; they are kept here.)

    Parameters
    ----------
    activations : array-like of shape (n_samples, n_filters, length)
        First-layer outputs after the activation function, aligned to input positions.
    X : array-like of shape (n_samples, 4, length)
        One-hot sequences (A, C, G, T rows), the inputs that produced ``activations``.
    window : int, default=20
        Width of the PPMs, in nucleotides; at most ``length``.
    threshold : float in (0, 1), default=0.5
        Fraction of each filter's maximum activation a site must exceed. A filter whose
        maximum is not positive (a dead ReLU filter, for example) has no sites.

    Returns
    -------
    ppms : ndarray of shape (n_filters, 4, window)
        One PPM per filter; each column sums to 1 (for one-hot ``X``). A filter with no
        sites gets the uniform PPM (all 0.25).
    n_sites : ndarray of shape (n_filters,), int
        Number of windows averaged into each PPM; 0 marks the uniform ones.

    Raises
    ------
    ValueError
        If the shapes disagree, an array holds NaN or infinity, or ``window`` or
        ``threshold`` is out of range.

    Warns
    -----
    UserWarning
        Naming the filters that had no sites.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.zeros((1, 4, 6)); X[0, [0, 1, 2, 3, 0, 1], np.arange(6)] = 1  # ACGTAC
    >>> act = np.array([[[0.0, 0.0, 5.0, 1.0, 0.0, 0.0]]])  # one filter, peak at position 2
    >>> ppms, n_sites = filter_ppms(act, X, window=3)
    >>> ppms[0].argmax(axis=0), n_sites  # the window around position 2 reads CGT
    (array([1, 2, 3]), array([1]))
    """
    activations, X = _check_activations(activations, X)
    n_samples, n_filters, length = activations.shape
    if not isinstance(window, Integral) or not 1 <= window <= length:
        raise ValueError(f"window must be an int in [1, {length}] (the length), got {window!r}.")
    if not isinstance(threshold, Real) or not 0 < threshold < 1:
        raise ValueError(f"threshold must be a float in (0, 1), got {threshold!r}.")

    left = window // 2
    n_centres = length - window + 1  # centres left .. left + n_centres - 1 have whole windows
    peak = activations.max(axis=(0, 2))
    cutoff = np.where(peak > 0, threshold * peak, np.inf)[None, :, None]
    counts = np.zeros((n_filters, 4, window))
    n_sites = np.zeros(n_filters, dtype=np.int64)
    chunk = max(1, CHUNK_VALUES // (n_filters * n_centres))
    for begin in range(0, n_samples, chunk):
        sites = activations[begin:begin + chunk, :, left:left + n_centres] > cutoff
        n_sites += sites.sum(axis=(0, 2))
        # One row per filter over (sequence, centre); float32 sums of 0/1 are exact here.
        site_matrix = sites.transpose(1, 0, 2).reshape(n_filters, -1).astype(np.float32)
        x = X[begin:begin + chunk]
        for k in range(window):
            # Nucleotide at offset k of the window of every candidate centre.
            shifted = x[:, :, k:k + n_centres].transpose(0, 2, 1).reshape(-1, 4)
            counts[:, :, k] += site_matrix @ shifted.astype(np.float32)

    ppms = np.full((n_filters, 4, window), 0.25)
    found = n_sites > 0
    ppms[found] = counts[found] / n_sites[found, None, None]
    if not found.all():
        warnings.warn(
            f"Filters {np.flatnonzero(~found).tolist()} have no activation above {threshold} "
            "x their maximum with a whole window inside the sequence; their PPMs are uniform.",
            UserWarning,
            stacklevel=2,
        )
    return ppms, n_sites


def information_content(ppm, background=0.25):
    """Information content of each PPM column, in bits.

    The relative entropy ``sum_a p_a log2(p_a / b_a)`` of the column against the background
    (with ``0 log 0 = 0``); for the uniform background this is ``2 + sum_a p_a log2 p_a``.

    Parameters
    ----------
    ppm : array-like of shape (..., 4, width)
        One or more position probability matrices (A, C, G, T rows).
    background : float or array-like of shape (4,), default=0.25
        Background nucleotide probabilities.

    Returns
    -------
    ic : ndarray of shape (..., width)
        Bits per column, between 0 and ``log2(1 / min(background))``.

    Raises
    ------
    ValueError
        If ``ppm`` has no nucleotide axis of length 4 or holds negative values, or the
        background is not positive.

    Examples
    --------
    >>> information_content(np.array([[1.0, 0.25], [0.0, 0.25], [0.0, 0.25], [0.0, 0.25]]))
    array([2., 0.])
    """
    ppm = np.asarray(ppm, dtype=np.float64)
    if ppm.ndim < 2 or ppm.shape[-2] != 4:
        raise ValueError(f"ppm must have shape (..., 4, width), got {ppm.shape}.")
    if not np.isfinite(ppm).all() or (ppm < 0).any():
        raise ValueError("ppm must hold finite, non-negative probabilities.")
    background = np.broadcast_to(np.asarray(background, dtype=np.float64), (4,))
    if not (background > 0).all():
        raise ValueError(f"background must be positive, got {background}.")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = ppm * np.log2(ppm / background[:, None])
    return np.where(ppm > 0, terms, 0.0).sum(axis=-2)


def trim_ppm(ppm, min_ic=0.5, pad=3):
    """Trim a PPM to its informative core, keeping ``pad`` columns on each side.

    Keeps the columns from ``pad`` before the first to ``pad`` after the last column whose
    information content exceeds ``min_ic`` bits (clipped to the PPM), as Koo & Ploenzke
    (2021) do before TomTom to cut false-positive matches of flat flanks. A PPM with no
    column above ``min_ic`` is returned whole.

    Parameters
    ----------
    ppm : array-like of shape (4, width) or (n_ppms, 4, width)
        One PPM or a stack of them.
    min_ic : float, default=0.5
        Information content (bits, uniform background) a column must exceed.
    pad : int, default=3
        Columns kept on each side of the informative span.

    Returns
    -------
    trimmed : ndarray of shape (4, trimmed_width), or list of them for a stack
        Copies; the input is not modified.

    Raises
    ------
    ValueError
        If ``ppm`` has the wrong shape or ``pad`` is negative.

    Examples
    --------
    >>> ppm = np.full((4, 10), 0.25); ppm[:, 6] = [0, 0, 1, 0]
    >>> trim_ppm(ppm, pad=1).shape
    (4, 3)
    """
    ppm = np.asarray(ppm, dtype=np.float64)
    if not isinstance(pad, Integral) or pad < 0:
        raise ValueError(f"pad must be a non-negative int, got {pad!r}.")
    if ppm.ndim == 3:
        return [trim_ppm(one, min_ic=min_ic, pad=pad) for one in ppm]
    if ppm.ndim != 2:
        raise ValueError(f"ppm must have shape (4, width) or (n, 4, width), got {ppm.shape}.")
    informative = np.flatnonzero(information_content(ppm) > min_ic)
    if informative.size == 0:
        return ppm.copy()
    start = max(informative[0] - pad, 0)
    stop = min(informative[-1] + pad + 1, ppm.shape[1])
    return ppm[:, start:stop].copy()


def _check_activations(activations, X):
    activations = np.asarray(activations)
    X = np.asarray(X)
    if not np.issubdtype(activations.dtype, np.floating):
        activations = activations.astype(np.float64)
    if activations.ndim != 3:
        raise ValueError(
            f"activations must have shape (n_samples, n_filters, length), got {activations.shape}."
        )
    n_samples, _, length = activations.shape
    if X.shape != (n_samples, 4, length):
        raise ValueError(
            f"X must have shape (n_samples, 4, length) = ({n_samples}, 4, {length}) to match "
            f"activations, got {X.shape}."
        )
    for name, array in (("activations", activations), ("X", X)):
        if not np.isfinite(array).all():
            raise ValueError(f"{name} holds NaN or infinite values.")
    return activations, X
