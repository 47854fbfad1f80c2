"""In vivo ChIP-seq tasks (IRF1, ZBED2) of Koo & Ploenzke (2021), shipped with skexplain."""

from importlib import resources

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_chipseq"]

_NAMES = ("IRF1", "ZBED2")
_SPLITS = ("train", "valid", "test")
_SEQUENCE_LENGTH = 400
_TASK_NUMBER = {"ZBED2": 5, "IRF1": 6}

_DESCR = """\
{name} ChIP-seq task (Koo & Ploenzke, 2021)
==========================================

Binary classification of {length}-nt genomic sequences: label 1 for sequences
from {name} ChIP-seq peaks, label 0 for the negatives chosen by the authors
(see the paper's Methods). Task {task} of the reference code, file
``data/{name}_400_h3k27ac.h5`` of github.com/p-koo/exponential_activations,
with its train / valid / test split kept as published.

:Samples: train {n_train}, valid {n_valid}, test {n_test}
:Positives: train {pos_train:.1%}, valid {pos_valid:.1%}, test {pos_test:.1%}
:Encoding: one-hot, shape (n, 4, {length}), rows A, C, G, T; no N positions

Licence: MIT, Copyright (c) 2020 Peter K. Koo (the notice is shipped in
skexplain/datasets/data/LICENSE-exponential_activations.txt).

Reference: P. K. Koo and M. Ploenzke, "Improving representation learning of
genomic sequence motifs in convolutional networks with exponential
activations", Nature Machine Intelligence 3, 258-266 (2021).
"""


def _unpack(packed):
    """Nucleotide indices (n, 4 * m) from 2-bit codes packed four per byte (n, m)."""
    shifts = np.array([6, 4, 2, 0], dtype=np.uint8)
    return ((packed[:, :, None] >> shifts) & 3).reshape(len(packed), -1)


def load_chipseq(name="IRF1"):
    """Load an in vivo ChIP-seq classification task of Koo & Ploenzke (2021).

    Sequences of 400 nt labelled 1 when they come from a ChIP-seq peak of the
    transcription factor and 0 otherwise, with the published train /
    validation / test split (IRF1: 2,724 / 389 / 779 sequences; ZBED2:
    3,431 / 490 / 981; about half positive). The paper used them (tasks 5
    and 6) to show that exponential first-layer activations give cleaner
    attribution maps on real data. The data ship with skexplain (about 0.4 and 0.5
    MB), so no download is needed.

    Parameters
    ----------
    name : {"IRF1", "ZBED2"}, default="IRF1"
        The transcription factor.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes:

        X_train, X_valid, X_test : ndarray of shape (n, 4, 400), dtype float32
            One-hot sequences, rows A, C, G, T.
        y_train, y_valid, y_test : ndarray of shape (n,), dtype int
            Labels, 0 or 1.
        DESCR : str
            Description of the data set, its source and licence.

    Raises
    ------
    ValueError
        If `name` is not "IRF1" or "ZBED2".

    Notes
    -----
    The data come from github.com/p-koo/exponential_activations (MIT licence,
    Copyright (c) 2020 Peter K. Koo). They are stored as 2-bit nucleotide codes
    in a compressed ``.npz`` file and decode to exactly the arrays of the
    original HDF5 files, which hold no ambiguous (N) positions.

    References
    ----------
    .. [1] P. K. Koo and M. Ploenzke, "Improving representation learning of
       genomic sequence motifs in convolutional networks with exponential
       activations", Nature Machine Intelligence 3, 258-266 (2021).

    Examples
    --------
    >>> from skexplain.datasets import load_chipseq
    >>> data = load_chipseq("IRF1")
    >>> data.X_train.shape, data.y_train.shape
    ((2724, 4, 400), (2724,))
    >>> print(data.DESCR.splitlines()[0])
    IRF1 ChIP-seq task (Koo & Ploenzke, 2021)
    """
    if name not in _NAMES:
        raise ValueError(f"name must be one of {list(_NAMES)}, got {name!r}.")
    source = resources.files(__package__).joinpath("data", f"{name}_400_h3k27ac.npz")
    with source.open("rb") as handle, np.load(handle) as stored:
        arrays = {key: stored[key] for key in stored.files}
    data = Bunch()
    for split in _SPLITS:
        tokens = _unpack(arrays[f"X_{split}"])
        X = np.zeros((len(tokens), 4, tokens.shape[1]), dtype=np.float32)
        np.put_along_axis(X, tokens[:, None, :], 1.0, axis=1)
        data[f"X_{split}"] = X
        data[f"y_{split}"] = arrays[f"y_{split}"].astype(np.int64)
    counts = {f"n_{split}": len(data[f"y_{split}"]) for split in _SPLITS}
    positives = {f"pos_{split}": data[f"y_{split}"].mean() for split in _SPLITS}
    data.DESCR = _DESCR.format(
        name=name, length=_SEQUENCE_LENGTH, task=_TASK_NUMBER[name], **counts, **positives
    )
    return data
