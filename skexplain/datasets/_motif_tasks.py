"""Synthetic motif tasks of Koo & Ploenzke (2021), from JASPAR motifs shipped with skexplain."""

import functools
import numbers
from importlib import resources

import numpy as np
from sklearn.utils import check_random_state

__all__ = [
    "TASK1_TFS",
    "TASK3_BACKGROUND_TFS",
    "TASK3_CORE_TFS",
    "load_jaspar_motifs",
    "make_motif_dataset",
]

_JASPAR_FILE = "jaspar_motifs.txt"

# Task 1: the 12 TFs, in label-column order (first JASPAR entry of each name,
# MA0151.1, MA0466.2, MA0477.1, MA0062.2, MA0496.1, MA0058.3, MA0052.3,
# MA0502.1, MA0079.3, MA0083.3, MA0137.3, MA0095.2).
TASK1_TFS = (
    "Arid3a", "CEBPB", "FOSL1", "Gabpa", "MAFK", "MAX",
    "MEF2A", "NFYB", "SP1", "SRF", "STAT1", "YY1",
)  # fmt: skip
# Task 3: the motifs of positive sequences ("billboard" grammar).
TASK3_CORE_TFS = ("SP1", "Gabpa", "CEBPB", "MAX", "YY1")
# Task 3: the 50 other motifs that negatives may also contain. The reference notebook
# (task3_generate_synthetic_code_dataset.ipynb) takes the first 65 indices of
# np.random.seed(22); np.random.permutation(519) over the 519 JASPAR CORE vertebrate
# matrices, removes the values in [4, 5, 12, 15, 17, 18, 20, 36, 42, 60] (none of them
# is among the 65, so nothing is removed) and keeps the first 50 in CPython's set order.
# (Those values look like positions in the 65 of near-copies of core motifs, e.g. CEBPG,
# MLX, ETV3, ETV5, which so stay in the pool; we follow what the code does.)
TASK3_BACKGROUND_TFS = (
    "HOXD13", "Arnt", "Ahr::Arnt", "Hoxd9", "MLX", "MLXIPL", "MYF6", "NEUROD2", "Gfi1",
    "HNF1A", "Pitx1", "IRF1", "MZF1(var.2)", "Nkx2-5", "Vdr", "ZIC3", "LHX9", "SPI1", "SRF",
    "SRY", "VENTX", "ZEB1", "Nkx3-1", "ZBED1", "ZNF410", "CUX1", "Pou5f1::Sox2", "Sox2",
    "ONECUT3", "ETV3", "ETV5", "NR4A2", "NFIC", "PLAG1", "Nr2e3", "Atoh1", "BHLHE40",
    "POU3F1", "E2F6", "Gata4", "JUN(var.2)", "JUND(var.2)", "MEIS1", "HEY1", "POU2F2",
    "TCF4", "SMAD2::SMAD3::SMAD4", "Rxra", "CEBPG", "FOXP2",
)  # fmt: skip

# P(k motifs) for k = 1..5 (task 1) or 3..7 (task 3).
_N_MOTIF_PROBABILITIES = (0.50, 0.25, 0.17, 0.05, 0.03)
_MIN_MOTIFS = {1: 1, 3: 3}
_DEFAULT_N_SAMPLES = {1: 30000, 3: 20000}
_INFORMATION_THRESHOLD = 0.01  # bits; columns above it are motif positions
_CHUNK = 4096  # sequences sampled at a time, to bound memory


@functools.cache
def _read_jaspar():
    """Name -> PPM for every shipped matrix, in file order (by JASPAR ID)."""
    text = resources.files(__package__).joinpath("data", _JASPAR_FILE).read_text("ascii")
    motifs = {}
    for record in text.split(">")[1:]:
        header, *rows = record.strip().splitlines()
        _, name = header.split()
        counts = np.array([row.split("[")[1].split("]")[0].split() for row in rows], dtype=float)
        motifs[name] = counts / counts.sum(axis=0)
    return motifs


def load_jaspar_motifs(names=None):
    """Load JASPAR position probability matrices shipped with skexplain.

    skexplain ships the 61 JASPAR CORE vertebrate matrices (JASPAR 2016
    release, as used by Koo & Ploenzke, 2021) needed by
    :func:`make_motif_dataset`: the 12 TFs of task 1 (:data:`TASK1_TFS`,
    which include the task-3 core :data:`TASK3_CORE_TFS`) and the 50 other
    motifs of task 3 (:data:`TASK3_BACKGROUND_TFS`; SRF is in both lists).
    Each is the first JASPAR entry with its name, e.g. SP1 is MA0079.3.

    Parameters
    ----------
    names : str or list of str, default=None
        TF names as written in JASPAR (case-sensitive, e.g. ``"Gabpa"``,
        ``"SP1"``). None loads all 61 matrices.

    Returns
    -------
    motifs : dict of str to ndarray of shape (4, width), dtype float64
        Position probability matrix of each TF, rows A, C, G, T; every column
        sums to 1. In the order of `names`, or of the JASPAR IDs when None.

    Raises
    ------
    ValueError
        If a name is not among the shipped matrices.

    Notes
    -----
    JASPAR data are licensed CC BY 4.0; cite Mathelier et al. (2016), Khan et
    al. (2018) and Fornes et al. (2020) when you use them.

    References
    ----------
    .. [1] A. Mathelier et al., "JASPAR 2016: a major expansion and update of
       the open-access database of transcription factor binding profiles",
       Nucleic Acids Research 44, D110-D115 (2016).
    .. [2] A. Khan et al., "JASPAR 2018: update of the open-access database of
       transcription factor binding profiles and its web framework", Nucleic
       Acids Research 46, D260-D266 (2018).
    .. [3] O. Fornes et al., "JASPAR 2020: update of the open-access database of
       transcription factor binding profiles", Nucleic Acids Research 48,
       D87-D92 (2020).

    Examples
    --------
    >>> from skexplain.datasets import load_jaspar_motifs
    >>> ppm = load_jaspar_motifs(["SP1"])["SP1"]
    >>> ppm.shape
    (4, 11)
    >>> bool(abs(ppm.sum(axis=0) - 1).max() < 1e-12)
    True
    """
    motifs = _read_jaspar()
    if names is None:
        names = list(motifs)
    elif isinstance(names, str):
        names = [names]
    missing = [name for name in names if name not in motifs]
    if missing:
        raise ValueError(
            f"No shipped JASPAR matrix named {missing}; the shipped names are "
            f"{sorted(motifs, key=str.lower)}."
        )
    return {name: motifs[name].copy() for name in names}


def _with_reverse_complements(ppms):
    """Each PPM followed by its reverse complement (rows A, C, G, T reversed)."""
    return [matrix for ppm in ppms for matrix in (ppm, ppm[::-1, ::-1])]


def _information_content(ppm):
    """Bits per column against a uniform background, as in the reference code."""
    return 2.0 + np.sum(ppm * np.log2(ppm + 1e-10), axis=0)


def _draw_motifs(widths, min_motifs, n, length, rng):
    """Motif indices (n, max_motifs), -1 where absent, with total width < `length`.

    Like the reference, the number of motifs and the motifs themselves are
    redrawn together until they fit in the sequence.
    """
    max_motifs = min_motifs + len(_N_MOTIF_PROBABILITIES) - 1
    cumulative = np.cumsum(_N_MOTIF_PROBABILITIES)[:-1]
    motifs = np.empty((n, max_motifs), dtype=np.int64)
    todo = np.arange(n)
    while todo.size:
        counts = min_motifs + np.searchsorted(cumulative, rng.random_sample(todo.size))
        drawn = rng.randint(len(widths), size=(todo.size, max_motifs))
        drawn[np.arange(max_motifs) >= counts[:, None]] = -1
        motifs[todo] = drawn
        fits = np.where(drawn >= 0, widths[drawn], 0).sum(axis=1) < length
        todo = todo[~fits]
    return motifs


def _draw_gaps(remainders, n_motifs, max_motifs, rng):
    """Gaps (n, max_motifs + 1) before, between and after the motifs, 0 for absent ones.

    As in the reference, ``n_motifs + 1`` uniform draws are scaled to the
    remaining length and rounded, and rows whose rounded gaps do not add up
    are redrawn.
    """
    n, n_gaps = len(remainders), max_motifs + 1
    gaps = np.empty((n, n_gaps), dtype=np.int64)
    todo = np.arange(n)
    while todo.size:
        draws = rng.random_sample((todo.size, n_gaps))
        draws[np.arange(n_gaps) > n_motifs[todo, None]] = 0.0
        scaled = draws / draws.sum(axis=1, keepdims=True) * remainders[todo, None]
        gaps[todo] = np.round(scaled).astype(np.int64)
        todo = todo[gaps[todo].sum(axis=1) != remainders[todo]]
    return gaps


def _column_map(motifs, gaps, widths, length):
    """Index of each position's generating column in the stacked column table.

    Column 0 of the table is the uniform background; motif ``m`` occupies
    columns ``1 + widths[:m].sum()`` onwards. Returns the map (n, length) and
    the start of every motif (n, max_motifs), -1 where absent.
    """
    first_column = 1 + np.concatenate([[0], np.cumsum(widths)[:-1]])
    present = motifs >= 0
    motif_widths = np.where(present, widths[motifs], 0)
    starts = np.cumsum(gaps[:, : motifs.shape[1]], axis=1)
    starts[:, 1:] += np.cumsum(motif_widths, axis=1)[:, :-1]
    columns = np.zeros((len(motifs), length), dtype=np.int32)
    offsets = np.arange(widths.max())
    for slot in range(motifs.shape[1]):
        rows, offset = np.nonzero(present[:, slot, None] & (offsets < motif_widths[:, slot, None]))
        positions = starts[rows, slot] + offset
        columns[rows, positions] = first_column[motifs[rows, slot]] + offset
    return columns, np.where(present, starts, -1)


def _sample_nucleotides(columns, table, rng):
    """Nucleotide index (n, length) drawn from each position's generating column."""
    uniforms = rng.random_sample(columns.shape)
    thresholds = np.cumsum(table, axis=1)[:, :3]
    tokens = np.empty(columns.shape, dtype=np.int8)
    for start in range(0, len(columns), _CHUNK):
        block = slice(start, start + _CHUNK)
        below = uniforms[block, :, None] >= thresholds[columns[block]]
        tokens[block] = below.sum(axis=2)
    return tokens


def _simulate(ppms, min_motifs, n, length, rng):
    """Sample `n` sequences whose motifs come from `ppms` (reverse complements included).

    Returns the nucleotide indices (n, length), the motif-position mask
    (n, length), the index into `ppms` of every planted motif (n, max_motifs)
    and its start (n, max_motifs), -1 where absent.
    """
    widths = np.array([ppm.shape[1] for ppm in ppms])
    motifs = _draw_motifs(widths, min_motifs, n, length, rng)
    n_motifs = (motifs >= 0).sum(axis=1)
    remainders = length - np.where(motifs >= 0, widths[motifs], 0).sum(axis=1)
    gaps = _draw_gaps(remainders, n_motifs, motifs.shape[1], rng)
    columns, starts = _column_map(motifs, gaps, widths, length)
    table = np.vstack([np.full((1, 4), 0.25), *(ppm.T for ppm in ppms)])
    tokens = _sample_nucleotides(columns, table, rng)
    informative = _information_content(table.T) > _INFORMATION_THRESHOLD
    return tokens, informative[columns], motifs, starts


def _check_params(task, n_samples, length):
    for param, value in (("n_samples", n_samples), ("length", length)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            raise TypeError(f"{param} must be an integer, got {type(value).__name__}.")
    smallest = 2 if task == 3 else 1
    if n_samples < smallest:
        raise ValueError(f"n_samples must be >= {smallest} for task {task}, got {n_samples}.")


def _check_length(length, ppms, min_motifs):
    shortest = min_motifs * min(ppm.shape[1] for ppm in ppms)
    if length <= shortest:
        raise ValueError(
            f"length must be > {shortest} to fit {min_motifs} of the shortest motifs, got {length}."
        )


def _make_task(task, n_samples, length, rng):
    """X, y, mask, planted motif indices and starts (rows in generation order).

    Task 1 motif index ``m`` is TF ``TASK1_TFS[m // 2]`` (even: forward, odd:
    reverse complement). Task 3 indices point into the pool of the negatives:
    the core motifs (indices < 10, ``TASK3_CORE_TFS[m // 2]``) then the
    background motifs (``TASK3_BACKGROUND_TFS[(m - 10) // 2]``).
    """
    min_motifs = _MIN_MOTIFS[task]
    if task == 1:
        pool = _with_reverse_complements(load_jaspar_motifs(TASK1_TFS).values())
        _check_length(length, pool, min_motifs)
        tokens, mask, motifs, starts = _simulate(pool, min_motifs, n_samples, length, rng)
        y = np.zeros((n_samples, len(TASK1_TFS)), dtype=np.int64)
        rows, slots = np.nonzero(motifs >= 0)
        y[rows, motifs[rows, slots] // 2] = 1
    else:
        core = _with_reverse_complements(load_jaspar_motifs(TASK3_CORE_TFS).values())
        others = _with_reverse_complements(load_jaspar_motifs(TASK3_BACKGROUND_TFS).values())
        _check_length(length, core, min_motifs)  # positives use only the core motifs
        n_positive = n_samples // 2
        positives = _simulate(core, min_motifs, n_positive, length, rng)
        negatives = _simulate(core + others, min_motifs, n_samples - n_positive, length, rng)
        tokens, mask, motifs, starts = (
            np.concatenate(parts) for parts in zip(positives, negatives, strict=True)
        )
        y = (np.arange(n_samples) < n_positive).astype(np.int64)
    X = np.zeros((n_samples, 4, length), dtype=np.float32)
    np.put_along_axis(X, tokens[:, None, :], 1.0, axis=1)
    return X, y, mask, motifs, starts


def make_motif_dataset(task=1, n_samples=None, length=200, shuffle=True, random_state=None):
    """Generate a synthetic motif task of Koo & Ploenzke (2021).

    Each sequence is built from a generating PWM: a few JASPAR motifs (each
    used forward or as its reverse complement, drawn uniformly with
    replacement), separated by gaps of uniform background. The number of
    motifs ``k`` is drawn with probabilities 0.50, 0.25, 0.17, 0.05, 0.03;
    ``k`` and the motifs are redrawn until they fit. The ``k + 1`` gaps are
    ``k + 1`` uniform draws scaled to the remaining length and rounded
    (redrawn until they add up). Every nucleotide is then sampled from its
    column. This follows the released notebooks [1]_:

    - ``task=1``: 1 to 5 motifs from the 12 TFs of :data:`TASK1_TFS`; the
      label is multi-label, ``y[i, j] = 1`` when sequence ``i`` holds TF
      ``TASK1_TFS[j]`` in either orientation. 30,000 sequences in the paper.
    - ``task=3`` ("billboard" regulatory code): 3 to 7 motifs. Positives
      (``y = 1``) hold only the core motifs :data:`TASK3_CORE_TFS`; negatives
      (``y = 0``) draw from the core plus the 50 motifs of
      :data:`TASK3_BACKGROUND_TFS`, so they may contain core motifs too.
      ``n_samples // 2`` positives; 20,000 sequences in the paper.

    Parameters
    ----------
    task : {1, 3}, default=1
        Which task to generate.
    n_samples : int, default=None
        Number of sequences; None means the paper's size (30,000 for task 1,
        20,000 for task 3).
    length : int, default=200
        Sequence length in nucleotides. Short lengths favour fewer and
        shorter motifs, since draws that do not fit are redrawn.
    shuffle : bool, default=True
        Shuffle the rows. Otherwise task-3 positives come first.
    random_state : int, RandomState instance or None, default=None
        Seed or generator that makes the output deterministic.

    Returns
    -------
    X : ndarray of shape (n_samples, 4, length), dtype float32
        One-hot sequences, rows A, C, G, T.
    y : ndarray of shape (n_samples, 12) for task 1 or (n_samples,) for task 3, dtype int
        Labels, 0 or 1.
    mask : ndarray of shape (n_samples, length), dtype bool
        Ground-truth motif positions: True where the generating PWM column has
        an information content above 0.01 bits (``2 + sum p log2 p``), the
        label used by the paper's localization and attribution scores.

    Raises
    ------
    ValueError
        If `task` is not 1 or 3, ``n_samples < 1`` (``< 2`` for task 3), or
        `length` cannot hold the minimal number of motifs.
    TypeError
        If `n_samples` or `length` is not an integer.

    See Also
    --------
    load_jaspar_motifs : The motif matrices used here.

    References
    ----------
    .. [1] P. K. Koo and M. Ploenzke, "Improving representation learning of
       genomic sequence motifs in convolutional networks with exponential
       activations", Nature Machine Intelligence 3, 258-266 (2021);
       code at https://github.com/p-koo/exponential_activations
       (``code/generate_data``, MIT licence).

    Examples
    --------
    >>> from skexplain.datasets import TASK1_TFS, make_motif_dataset
    >>> X, y, mask = make_motif_dataset(task=1, n_samples=100, random_state=0)
    >>> X.shape, y.shape, mask.shape
    ((100, 4, 200), (100, 12), (100, 200))
    >>> int(X.sum()) == 100 * 200
    True
    >>> len(TASK1_TFS)
    12
    """
    if task not in _MIN_MOTIFS:
        raise ValueError(f"task must be 1 or 3, got {task!r}.")
    if n_samples is None:
        n_samples = _DEFAULT_N_SAMPLES[task]
    _check_params(task, n_samples, length)
    rng = check_random_state(random_state)
    X, y, mask, _, _ = _make_task(task, n_samples, length, rng)
    if shuffle:
        order = rng.permutation(n_samples)
        X, y, mask = X[order], y[order], mask[order]
    return X, y, mask
