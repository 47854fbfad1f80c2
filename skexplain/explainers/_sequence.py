"""One-hot sequence helpers for attributions: shuffled references and per-position reductions."""

import numpy as np
from sklearn.utils import check_random_state

from .._core.explanation import reduce_sequence_values
from .._core.validation import check_one_hot

SHUFFLES = ("dinucleotide", "mononucleotide")


def shuffle_sequences(X, n_shuffles=10, *, kind="dinucleotide", random_state=None):
    """Shuffled copies of one-hot sequences, the usual references of DNA attributions.

    A dinucleotide shuffle keeps the first and last base and the count of every pair of
    neighbouring bases (so GC content and CpG frequency); it draws uniformly among the
    sequences that do, by a random Eulerian walk (Altschul & Erickson 1985, Kandel et al.
    1996). A mononucleotide shuffle permutes the positions.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_channels, length)
        One-hot sequences; an all-zero column (an unknown base) is shuffled like a base.
    n_shuffles : int, default=10
        Shuffled copies per sequence.
    kind : {"dinucleotide", "mononucleotide"}, default="dinucleotide"
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    shuffles : ndarray of shape (n_samples, n_shuffles, n_channels, length)
        Same dtype as X.

    Raises
    ------
    ValueError
        If X is not one-hot or ``kind`` is unknown.

    References
    ----------
    Altschul, S. F. & Erickson, B. W. "Significance of nucleotide sequence alignments: a method
    for random sequence permutation that preserves dinucleotide and codon usage." Mol. Biol.
    Evol. 2, 526-538 (1985).
    Kandel, D., Matias, Y., Unger, R. & Winkler, P. "Shuffling biological sequences." Discrete
    Appl. Math. 71, 171-185 (1996).

    Examples
    --------
    >>> import numpy as np
    >>> from skexplain.explainers import shuffle_sequences
    >>> x = np.eye(4)[[0, 1, 0, 2, 0, 3]].T[None]          # ACAGAT
    >>> s = shuffle_sequences(x, 3, random_state=0)
    >>> s.shape
    (1, 3, 4, 6)
    >>> bool((s[:, :, :, 0] == x[:, None, :, 0]).all())    # first base kept
    True
    """
    if kind not in SHUFFLES:
        raise ValueError(f"kind must be one of {SHUFFLES}, got {kind!r}.")
    X = np.asarray(X)
    tokens = check_one_hot(X)
    rng = np.random.default_rng(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    out = np.empty((len(X), n_shuffles) + X.shape[1:], dtype=X.dtype)
    for i, seq in enumerate(tokens):
        out[i] = _one_hot(shuffle_tokens(seq, n_shuffles, kind, rng), X.shape[1], X.dtype)
    return out


def shuffle_tokens(tokens, n_shuffles, kind, rng):
    """Shuffles of one token sequence: ndarray of shape (n_shuffles, length)."""
    if kind == "mononucleotide":
        return np.stack([tokens[rng.permutation(len(tokens))] for _ in range(n_shuffles)])
    return np.stack([_eulerian_shuffle(tokens, rng) for _ in range(n_shuffles)])


def _eulerian_shuffle(tokens, rng):
    """A uniformly random sequence with the same first token and neighbouring-pair counts."""
    if len(tokens) < 3:
        return tokens.copy()
    last = tokens[-1]
    successors = {v: tokens[1:][tokens[:-1] == v] for v in np.unique(tokens[:-1])}
    # Last exits: a random arborescence into the final token (Wilson's loop-erased walks).
    exit_to, in_tree = {}, {last}
    for start in successors:
        v = start
        while v not in in_tree:
            exit_to[v] = successors[v][rng.integers(len(successors[v]))]
            v = exit_to[v]
        v = start
        while v not in in_tree:
            in_tree.add(v)
            v = exit_to[v]
    order = {}
    for v, nxt in successors.items():
        if v in exit_to:
            rest = np.delete(nxt, np.flatnonzero(nxt == exit_to[v])[0])
            order[v] = np.append(rng.permutation(rest), exit_to[v])
        else:
            order[v] = rng.permutation(nxt)
    used = dict.fromkeys(order, 0)
    out = np.empty_like(tokens)
    out[0] = v = tokens[0]
    for j in range(1, len(tokens)):
        step = used[v]
        used[v] += 1
        out[j] = v = order[v][step]
    return out


def _one_hot(tokens, n_channels, dtype):
    # An extra row for the "unknown" token, dropped after indexing, gives all-zero columns.
    eye = np.eye(n_channels + 1, n_channels, dtype=dtype)
    return np.moveaxis(eye[tokens], -1, -2)


def reduce_sequence_attributions(values, X=None, method="input_times"):
    """Per-position scores (n, L) from attribution maps over one-hot sequences (n, A, L).

    Parameters
    ----------
    values : ndarray of shape (n_samples, n_channels, length) or Explanation
        Attribution maps; an Explanation gives its ``values`` (and its ``data`` as X).
    X : ndarray of shape (n_samples, n_channels, length), default=None
        The one-hot sequences; needed by ``"input_times"``.
    method : {"input_times", "sum", "sum_abs", "max_abs", "l2"}, default="input_times"
        ``"input_times"``: sum over channels of values x X, the value of the observed base
        (gradient x input, as in Koo & Ploenzke 2021); ``"sum"``: sum over channels (for maps
        already multiplied by the input, e.g. integrated gradients or DeepLIFT);
        ``"sum_abs"``, ``"max_abs"``: sum or max of absolute values; ``"l2"``: L2 norm over
        channels (as for in silico mutagenesis).

    Returns
    -------
    scores : ndarray of shape (n_samples, length), float64

    Raises
    ------
    ValueError
        If values is not 3-D, X is missing or of another shape, or method is unknown.
    """
    if hasattr(values, "values") and hasattr(values, "data") and not isinstance(
        values, np.ndarray
    ):
        X = values.data if X is None else X
        values = values.values
    return reduce_sequence_values(values, X, method)
