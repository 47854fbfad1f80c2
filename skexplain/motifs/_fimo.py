"""Scanning one-hot sequences for motif instances with FIMO (memelite)."""

from numbers import Real

import numpy as np
import pandas as pd

from ._tomtom import _database

ALPHABET = "ACGT"
COLUMNS = ["motif_name", "example_idx", "start", "end", "strand", "score", "p_value"]


def fimo(X, motifs=None, *, threshold=1e-4, reverse_complement=True, bin_size=0.1, eps=1e-4,
         n_jobs=None):
    """Find the motif instances in one-hot sequences whose FIMO p-value is below a threshold.

    Wraps memelite's FIMO (Grant, Bailey & Noble 2011, "FIMO: scanning for occurrences of a
    given motif", Bioinformatics 27, 1017-1018): each PPM becomes a log-odds PWM against a
    uniform background, ``log2(ppm + eps) - log2(0.25)``; every window of each sequence
    (and, by default, of its reverse complement) is scored, and the score's p-value is read
    from the exact distribution of scores of uniform random sequences, computed by dynamic
    programming over scores binned to ``bin_size``. No q-values are computed.

    Parameters
    ----------
    X : array-like of shape (n_samples, 4, length), or list of str
        One-hot sequences (A, C, G, T rows; an all-zero column is an N, which scores 0), or
        equal-length strings over ``ACGTN`` (any case).
    motifs : dict of str to (4, width) arrays, str or path-like, optional
        PPMs (A, C, G, T rows; columns sum to 1) by name, or a MEME file to read; default the
        bundled JASPAR database (:func:`load_jaspar_database`).
    threshold : float, default=1e-4
        Report windows whose p-value is below this, in (0, 1].
    reverse_complement : bool, default=True
        Also scan the reverse complement of each motif (hits on the "-" strand).
    bin_size : float, default=0.1
        Width of the score bins of the p-value table, in bits.
    eps : float, default=1e-4
        Pseudocount added to the PPMs before the log.
    n_jobs : int, optional
        numba threads; None keeps numba's current setting, -1 uses all.

    Returns
    -------
    hits : pandas.DataFrame
        One row per hit, sorted by p-value (then motif, example, start), with columns
        ``motif_name`` (key of ``motifs``), ``example_idx``, ``start`` and ``end`` (0-based,
        end exclusive: ``end - start`` is the motif's width), ``strand`` ("+" or "-"),
        ``score`` (log-odds in bits) and ``p_value``.

    Raises
    ------
    ImportError
        If memelite is not installed (``pip install skexplain[motifs]``).
    ValueError
        If ``X`` is not one-hot of shape (n_samples, 4, length) (or holds NaN, values other
        than 0 and 1, or two bases at one position), a PPM is malformed, or a parameter is
        out of range.

    Examples
    --------
    >>> import numpy as np
    >>> from skexplain.motifs import load_jaspar_database
    >>> sp1 = load_jaspar_database()["MA0079.3 SP1"]
    >>> consensus = "".join("ACGT"[i] for i in sp1.argmax(axis=0))
    >>> hits = fimo(["AAAAAAAA" + consensus + "TTTTTTTT"], {"SP1": sp1})
    >>> hits[["motif_name", "example_idx", "start", "end", "strand"]]
      motif_name  example_idx  start  end strand
    0        SP1            0      8   19      +
    """
    scan = _import_fimo()
    X = _check_onehot(X)
    motifs = _database(motifs, "motifs")
    if not isinstance(threshold, Real) or not 0 < threshold <= 1:
        raise ValueError(f"threshold must be a p-value in (0, 1], got {threshold!r}.")
    for name, value in [("bin_size", bin_size), ("eps", eps)]:
        if not isinstance(value, Real) or not value > 0:
            raise ValueError(f"{name} must be a positive float, got {value!r}.")

    with _numba_threads(n_jobs):
        tables = scan(motifs, X, threshold=float(threshold),
                      reverse_complement=bool(reverse_complement), bin_size=float(bin_size),
                      eps=float(eps))
    tables = [table for table in tables if len(table)]
    if not tables:
        return pd.DataFrame({
            "motif_name": np.empty(0, object), "example_idx": np.empty(0, np.int64),
            "start": np.empty(0, np.int64), "end": np.empty(0, np.int64),
            "strand": np.empty(0, object), "score": np.empty(0, np.float64),
            "p_value": np.empty(0, np.float64),
        }, columns=COLUMNS)
    hits = pd.concat(tables, ignore_index=True).rename(
        columns={"sequence_name": "example_idx", "p-value": "p_value"})
    hits = hits.astype({"example_idx": np.int64, "start": np.int64, "end": np.int64,
                        "score": np.float64, "p_value": np.float64})
    hits["motif_name"] = hits["motif_name"].map(str).astype(object)
    hits = hits.sort_values(["p_value", "motif_idx", "example_idx", "start"], kind="stable",
                            ignore_index=True)
    return hits[COLUMNS]


def _check_onehot(X):
    if isinstance(X, str):
        X = [X]
    if isinstance(X, list | tuple) and X and all(isinstance(s, str) for s in X):
        return _encode(X)
    if hasattr(X, "detach"):  # torch tensor
        X = X.detach().cpu().numpy()
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError("X must be one-hot sequences of shape (n_samples, 4, length) or a "
                         "list of strings.") from error
    if X.ndim != 3 or X.shape[1] != 4 or X.shape[0] == 0 or X.shape[2] == 0:
        raise ValueError(f"X must be one-hot sequences of shape (n_samples, 4, length), got "
                         f"{X.shape}.")
    if not np.isfinite(X).all():
        raise ValueError("X holds NaN or infinite values.")
    if not np.isin(X, (0.0, 1.0)).all() or (X.sum(axis=1) > 1).any():
        raise ValueError("X must be one-hot: values 0 or 1, at most one base per position "
                         "(an all-zero column is an N).")
    return X


def _encode(sequences):
    lengths = {len(s) for s in sequences}
    if len(lengths) != 1 or 0 in lengths:
        raise ValueError(f"Sequences must be non-empty and of equal length, got lengths "
                         f"{sorted(lengths)}.")
    codes = np.array([list(s.upper()) for s in sequences])
    bad = ~np.isin(codes, list(ALPHABET + "N"))
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"Sequence {i} holds {sequences[i][j]!r} at position {j}; only "
                         f"A, C, G, T and N are allowed.")
    return np.stack([codes == base for base in ALPHABET], axis=1).astype(np.float64)




class _numba_threads:
    """Set numba's thread count for the duration of a block (None leaves it)."""

    def __init__(self, n_jobs):
        if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, int)
                                   or n_jobs == 0 or n_jobs < -1):
            raise ValueError(f"n_jobs must be None, -1 or a positive int, got {n_jobs!r}.")
        self.n_jobs = n_jobs

    def __enter__(self):
        if self.n_jobs is None:
            return self
        import numba
        self.previous = numba.get_num_threads()
        limit = numba.config.NUMBA_NUM_THREADS
        numba.set_num_threads(limit if self.n_jobs == -1 else min(self.n_jobs, limit))
        return self

    def __exit__(self, *exc):
        if self.n_jobs is not None:
            import numba
            numba.set_num_threads(self.previous)
        return False


def _import_fimo():
    try:
        from memelite import fimo as scan
    except ImportError as error:
        raise ImportError(
            "FIMO scanning needs memelite: pip install 'skexplain[motifs]' "
            "(or pip install memelite)."
        ) from error
    return scan
