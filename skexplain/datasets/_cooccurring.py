"""A multi-label motif task whose transcription factors co-occur in modules."""

import numbers

import numpy as np
from sklearn.utils import check_random_state

from ._motif_tasks import (
    TASK1_TFS,
    _column_map,
    _draw_gaps,
    _information_content,
    _sample_nucleotides,
    load_jaspar_motifs,
)

__all__ = ["COOCCURRING_MODULES", "make_cooccurring_motif_task"]

# Default modules: consecutive pairs of the task-1 TFs. The two pairs of task-1 motifs that
# share a core (FOSL1-MAFK, Gabpa-STAT1) fall in different modules, so partners are not alike
# in sequence: whatever groups them must come from their co-occurrence.
COOCCURRING_MODULES = tuple(zip(TASK1_TFS[::2], TASK1_TFS[1::2], strict=True))
_DEFAULT_MODULE_PROBABILITIES = (0.5, 0.35, 0.15)


def make_cooccurring_motif_task(n_samples=10_000, modules=None, cooccurrence=0.8,
                                n_modules_probabilities=_DEFAULT_MODULE_PROBABILITIES,
                                length=200, shuffle=True, random_state=None):
    """Generate a multi-label motif task whose labels co-occur in modules of TFs.

    A variant of task 1 of Koo & Ploenzke (2021; :func:`make_motif_dataset`) in which the
    labels are not independent: the transcription factors (TFs) form modules (pairs by
    default) and the members of a module tend to be bound together, the setting in which
    DeepResolve (Liu, Barr & Gifford 2019) compares the similarity of classes with the
    correlation of their labels. Each sequence is built as follows:

    1. ``k`` modules are active, with ``P(k = m) = n_modules_probabilities[m - 1]``
       (default 0.5, 0.35, 0.15 for 1, 2, 3 modules), drawn uniformly without replacement;
    2. an active module plants all its TFs with probability ``cooccurrence``, and otherwise
       exactly one of them, drawn uniformly (so ``cooccurrence=0`` makes the members
       mutually exclusive);
    3. each planted TF is one instance of its JASPAR motif, forward or reverse complement
       with probability 1/2; the motifs are put in random order, separated by gaps of uniform
       background whose ``n_motifs + 1`` lengths are uniform draws scaled to fill the
       sequence (as in :func:`make_motif_dataset`), and every nucleotide is sampled from its
       column.

    Label ``y[i, j]`` is 1 when sequence ``i`` holds TF ``j``; columns follow the modules,
    member by member. With modules of size ``s`` and ``M`` modules, a TF is present with
    probability ``q = E[k] / M * (c + (1 - c) / s)`` for ``c = cooccurrence``, and two members
    of one module both are with probability ``E[k] / M * c``, so their correlation is
    ``(E[k] / M * c - q ** 2) / (q * (1 - q))`` (0.85 by default). Members of two modules
    are both present with probability ``E[k (k - 1)] / (M (M - 1)) * r ** 2``, with
    ``r = c + (1 - c) / s``: slightly negatively correlated, since the number of active
    modules is fixed per sequence (-0.10 by default).

    Parameters
    ----------
    n_samples : int, default=10_000
        Number of sequences.
    modules : sequence of sequences of str, default=None
        TF names of each module (JASPAR names as in :func:`load_jaspar_motifs`); a TF may
        appear in one module only, and a module needs at least two TFs. None means
        :data:`COOCCURRING_MODULES`, the six consecutive pairs of :data:`TASK1_TFS`
        (Arid3a-CEBPB, FOSL1-Gabpa, MAFK-MAX, MEF2A-NFYB, SP1-SRF, STAT1-YY1).
    cooccurrence : float in [0, 1], default=0.8
        Probability that an active module plants all its members rather than one.
    n_modules_probabilities : sequence of float, default=(0.5, 0.35, 0.15)
        ``P(k = 1), P(k = 2), ...``: how many modules are active per sequence; non-negative,
        summing to 1, at most as long as the number of modules.
    length : int, default=200
        Sequence length in nucleotides; must hold the widest combination of motifs.
    shuffle : bool, default=True
        Shuffle the rows (they are generated independently, so this only changes the order).
    random_state : int, RandomState instance or None, default=None
        Seed or generator that makes the output deterministic.

    Returns
    -------
    X : ndarray of shape (n_samples, 4, length), dtype float32
        One-hot sequences, rows A, C, G, T.
    y : ndarray of shape (n_samples, n_tfs), dtype int
        Multi-label indicator, one column per TF in module order.
    mask : ndarray of shape (n_samples, length), dtype bool
        Motif positions: generating PWM column with information content above 0.01 bits.

    Raises
    ------
    ValueError
        If a TF name is unknown or repeated, a module has fewer than two TFs,
        ``cooccurrence`` is outside [0, 1], ``n_modules_probabilities`` is not a probability
        vector no longer than the number of modules, ``n_samples < 1``, or ``length`` is too
        short for the widest combination of motifs.
    TypeError
        If ``n_samples`` or ``length`` is not an integer.

    See Also
    --------
    make_motif_dataset : task 1, whose 12 labels are independent.

    References
    ----------
    .. [1] G. Liu, J. Barr and D. Gifford, "Visualizing complex feature interactions and
       feature sharing in genomic deep neural networks", BMC Bioinformatics 20, 401 (2019).
    .. [2] P. K. Koo and M. Ploenzke, "Improving representation learning of genomic
       sequence motifs in convolutional networks with exponential activations", Nature
       Machine Intelligence 3, 258-266 (2021).

    Examples
    --------
    >>> import numpy as np
    >>> from skexplain.datasets import make_cooccurring_motif_task
    >>> X, y, mask = make_cooccurring_motif_task(n_samples=2000, random_state=0)
    >>> X.shape, y.shape
    ((2000, 4, 200), (2000, 12))
    >>> corr = np.corrcoef(y.T)
    >>> bool(corr[0, 1] > 0.5)  # Arid3a and CEBPB, one module
    True
    >>> bool(-0.2 < corr[0, 2] < 0)  # Arid3a and FOSL1, two modules
    True
    """
    modules, probabilities = _check_params(n_samples, modules, cooccurrence,
                                           n_modules_probabilities, length)
    rng = check_random_state(random_state)
    names = [tf for module in modules for tf in module]
    motifs = load_jaspar_motifs(names)
    ppms = [matrix for tf in names for matrix in (motifs[tf], motifs[tf][::-1, ::-1])]
    widths = np.array([ppm.shape[1] for ppm in ppms])
    tf_widths = widths[::2]
    sizes = [len(module) for module in modules]
    widest = sum(sorted((sum(tf_widths[_members(modules, m)]) for m in range(len(modules))),
                        reverse=True)[:len(probabilities)])
    if length <= widest:
        raise ValueError(f"length must be > {widest} to hold the widest combination of "
                         f"{len(probabilities)} modules' motifs, got {length}.")

    # Which TFs each sequence holds.
    y = np.zeros((n_samples, len(names)), dtype=np.int64)
    n_active = 1 + rng.choice(len(probabilities), size=n_samples, p=probabilities)
    for i in range(n_samples):
        for m in rng.permutation(len(modules))[:n_active[i]]:
            members = _members(modules, m)
            if rng.random_sample() < cooccurrence:
                y[i, members] = 1
            else:
                y[i, members[rng.randint(sizes[m])]] = 1

    # Planted motifs (index into ppms: 2 * tf + strand), in random order, -1 padded.
    max_motifs = int(y.sum(axis=1).max())
    planted = np.full((n_samples, max_motifs), -1, dtype=np.int64)
    for i in range(n_samples):
        tfs = rng.permutation(np.flatnonzero(y[i]))
        planted[i, :len(tfs)] = 2 * tfs + rng.randint(2, size=len(tfs))
    n_motifs = (planted >= 0).sum(axis=1)
    remainders = length - np.where(planted >= 0, widths[planted], 0).sum(axis=1)
    gaps = _draw_gaps(remainders, n_motifs, max_motifs, rng)
    columns, _ = _column_map(planted, gaps, widths, length)
    table = np.vstack([np.full((1, 4), 0.25), *(ppm.T for ppm in ppms)])
    tokens = _sample_nucleotides(columns, table, rng)
    mask = (_information_content(table.T) > 0.01)[columns]
    X = np.zeros((n_samples, 4, length), dtype=np.float32)
    np.put_along_axis(X, tokens[:, None, :], 1.0, axis=1)
    if shuffle:
        order = rng.permutation(n_samples)
        X, y, mask = X[order], y[order], mask[order]
    return X, y, mask


def _members(modules, m):
    start = sum(len(module) for module in modules[:m])
    return np.arange(start, start + len(modules[m]))


def _check_params(n_samples, modules, cooccurrence, probabilities, length):
    for param, value in (("n_samples", n_samples), ("length", length)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            raise TypeError(f"{param} must be an integer, got {type(value).__name__}.")
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}.")
    modules = COOCCURRING_MODULES if modules is None else modules
    if isinstance(modules, str) or not len(modules):
        raise ValueError("modules must be a non-empty sequence of sequences of TF names.")
    modules = [[m] if isinstance(m, str) else list(m) for m in modules]
    if any(len(module) < 2 for module in modules):
        raise ValueError(f"Every module needs at least two TFs, got {modules}.")
    names = [tf for module in modules for tf in module]
    if len(set(names)) != len(names):
        raise ValueError(f"A TF may belong to one module only, got {modules}.")
    load_jaspar_motifs(names)  # ValueError naming unknown TFs
    if not isinstance(cooccurrence, numbers.Real) or not 0 <= cooccurrence <= 1:
        raise ValueError(f"cooccurrence must be a probability in [0, 1], got {cooccurrence!r}.")
    probabilities = np.asarray(probabilities, dtype=float)
    if (probabilities.ndim != 1 or not 1 <= len(probabilities) <= len(modules)
            or np.any(probabilities < 0) or not np.isclose(probabilities.sum(), 1)):
        raise ValueError(
            f"n_modules_probabilities must be non-negative, sum to 1 and have between 1 and "
            f"{len(modules)} (the number of modules) entries, got {probabilities.tolist()}.")
    return [tuple(module) for module in modules], probabilities / probabilities.sum()
