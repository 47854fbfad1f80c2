"""Motif concepts for concept-based explainers: motif instances inserted into backgrounds."""

import numbers

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["make_motif_concept"]

_ALPHABET = "ACGT"


def make_motif_concept(motif, n_samples=500, length=None, *, backgrounds=None, n_insertions=1,
                       reverse_complement=True, random_state=None):
    """Concept examples of a motif: its instances inserted into backgrounds, and the backgrounds.

    Each concept example is a background sequence with ``n_insertions`` non-overlapping
    instances of the motif at uniformly drawn positions; each instance is sampled column by
    column from the motif's position probability matrix (a consensus string gives the same
    instance every time) and, with ``reverse_complement``, reverse-complemented with
    probability 1/2. The untouched backgrounds are the counterexamples (the random concept
    of TCAV, Kim et al. 2018), so the two sets differ only by the motif; the mask gives
    the inserted positions, the concept's position mask for network dissection (Bau et
    al. 2017). TPCAV (Yang & Mahony) builds DNA concepts the same way.

    Parameters
    ----------
    motif : str or array-like of shape (4, width)
        A consensus sequence over A, C, G, T, or a position probability matrix (rows A, C,
        G, T; every column sums to 1), e.g. from
        :func:`~skexplain.datasets.load_jaspar_motifs`.
    n_samples : int, default=500
        Number of concept examples.
    length : int, default=None
        Sequence length; default 200 for random backgrounds, else the length of
        ``backgrounds``.
    backgrounds : array-like of shape (n_backgrounds, 4, length), default=None
        One-hot sequences to insert into, e.g. real negatives; ``n_samples`` of them are
        drawn (without replacement when there are enough). None draws uniform random DNA.
    n_insertions : int, default=1
        Motif instances per concept example.
    reverse_complement : bool, default=True
        Insert the reverse complement of half the instances, on average.
    random_state : int, RandomState instance or None, default=None
        Seed or generator that makes the output deterministic.

    Returns
    -------
    X_concept : ndarray of shape (n_samples, 4, length), dtype float32
        One-hot concept examples, rows A, C, G, T.
    X_random : ndarray of shape (n_samples, 4, length), dtype float32
        The same backgrounds without the motif: the counterexamples.
    mask : ndarray of shape (n_samples, length), dtype bool
        True at the inserted motif positions of ``X_concept``.

    Raises
    ------
    ValueError
        If the motif is not a consensus over ACGT or a (4, width) probability matrix, the
        backgrounds are not one-hot (n, 4, length), ``length`` differs from theirs, or
        the insertions do not fit in ``length``.
    TypeError
        If ``n_samples``, ``length`` or ``n_insertions`` is not an integer.

    Examples
    --------
    >>> from skexplain.datasets import make_motif_concept
    >>> X_concept, X_random, mask = make_motif_concept("GATAAG", n_samples=3, length=20,
    ...                                                random_state=0)
    >>> X_concept.shape, X_random.shape, mask.shape
    ((3, 4, 20), (3, 4, 20), (3, 20))
    >>> mask.sum(axis=1).tolist()
    [6, 6, 6]
    >>> bool((X_concept != X_random).any(axis=1)[~mask].any())
    False
    """
    ppm = _check_motif(motif)
    for name, value in (("n_samples", n_samples), ("n_insertions", n_insertions)):
        _check_count(value, name)
    rng = check_random_state(random_state)
    X_random = _backgrounds(backgrounds, n_samples, length, rng)
    n, _, length = X_random.shape
    width = ppm.shape[1]
    if n_insertions * width > length:
        raise ValueError(
            f"{n_insertions} instances of a motif of width {width} do not fit in sequences "
            f"of length {length}."
        )
    # Sorted draws from the free slots, shifted by the widths before them, never overlap.
    slots = np.sort(rng.randint(length - n_insertions * width + 1, size=(n, n_insertions)),
                    axis=1)
    starts = slots + width * np.arange(n_insertions)
    letters = _sample_instances(ppm, (n, n_insertions), rng)
    if reverse_complement:
        flip = rng.random_sample((n, n_insertions)) < 0.5
        letters = np.where(flip[..., None], 3 - letters[..., ::-1], letters)
    X_concept = X_random.copy()
    mask = np.zeros((n, length), dtype=bool)
    rows = np.arange(n)[:, None, None]
    positions = starts[..., None] + np.arange(width)
    X_concept[rows, :, positions] = 0.0
    X_concept[rows, letters, positions] = 1.0
    mask[rows, positions] = True
    return X_concept, X_random, mask


def _check_motif(motif):
    """The motif as a (4, width) float64 PPM."""
    if isinstance(motif, str):
        if not motif or set(motif.upper()) - set(_ALPHABET):
            raise ValueError(f"A consensus motif must be a non-empty string over ACGT, got "
                             f"{motif!r}.")
        return np.eye(4)[[_ALPHABET.index(c) for c in motif.upper()]].T
    ppm = np.asarray(motif, dtype=np.float64)
    if (ppm.ndim != 2 or ppm.shape[0] != 4 or ppm.shape[1] == 0 or not np.all(ppm >= 0)
            or not np.allclose(ppm.sum(axis=0), 1.0, atol=1e-6)):
        raise ValueError(
            "A motif matrix must be a position probability matrix of shape (4, width), rows "
            f"A, C, G, T, non-negative columns summing to 1; got shape {ppm.shape}."
        )
    return ppm


def _check_count(value, name):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}.")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}.")


def _backgrounds(backgrounds, n_samples, length, rng):
    """n_samples background sequences (a float32 copy), random DNA when none are given."""
    if backgrounds is None:
        length = 200 if length is None else length
        _check_count(length, "length")
        tokens = rng.randint(4, size=(n_samples, length))
        return np.eye(4, dtype=np.float32)[tokens].transpose(0, 2, 1).copy()
    backgrounds = np.asarray(backgrounds, dtype=np.float32)
    if (backgrounds.ndim != 3 or backgrounds.shape[1] != 4 or len(backgrounds) == 0
            or not np.all((backgrounds == 0) | (backgrounds == 1))
            or not np.all(backgrounds.sum(axis=1) == 1)):
        raise ValueError(
            "backgrounds must be one-hot sequences of shape (n_backgrounds, 4, length), got "
            f"an array of shape {backgrounds.shape} that is not one-hot."
        )
    if length is not None and length != backgrounds.shape[2]:
        raise ValueError(f"length={length} differs from the backgrounds' length "
                         f"{backgrounds.shape[2]}.")
    replace = len(backgrounds) < n_samples
    chosen = rng.choice(len(backgrounds), size=n_samples, replace=replace)
    return backgrounds[chosen].copy()


def _sample_instances(ppm, shape, rng):
    """Letter indices of shape (*shape, width), each column drawn from the PPM."""
    cumulative = np.cumsum(ppm, axis=0)[:-1]  # (3, width)
    uniforms = rng.random_sample(shape + (1, ppm.shape[1]))
    return (uniforms >= cumulative).sum(axis=-2)
