"""Sequence logos of motif matrices (PPMs, filters, maximised inputs) with logomaker."""

import numpy as np

ALPHABET = "ACGT"


def plot_logo(matrix, ax=None, kind="information", background=0.25, title=None):
    """Draw a sequence logo of a (4, width) matrix.

    Parameters
    ----------
    matrix : array-like of shape (4, width)
        Rows A, C, G, T: a position probability matrix (PPM), e.g. from a first-layer
        filter or a maximised input, or any weights when ``kind="weight"``.
    ax : matplotlib.axes.Axes, optional
    kind : {"information", "probability", "weight"}, default="information"
        Letter heights: probability times the column's information content in bits
        (``2 + sum p log2 p`` against a uniform background), the probabilities, or the
        raw values (negative ones drawn below the axis).
    background : float, default=0.25
        Background probability of each letter for the information content.
    title : str, optional

    Returns
    -------
    ax : matplotlib.axes.Axes

    Raises
    ------
    ImportError
        If logomaker (the ``motifs`` extra) is not installed.
    ValueError
        If the matrix is not (4, width), or is not a PPM for the information and
        probability kinds.
    """
    try:
        import logomaker
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "plot_logo needs logomaker: pip install 'skexplain[motifs]'."
        ) from exc
    import matplotlib.pyplot as plt
    import pandas as pd

    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != 4 or not np.all(np.isfinite(matrix)):
        raise ValueError(f"matrix must be a finite (4, width) array, got shape {matrix.shape}.")
    if kind not in ("information", "probability", "weight"):
        raise ValueError(f"kind must be information, probability or weight, got {kind!r}.")
    if kind != "weight":
        if np.any(matrix < 0) or not np.allclose(matrix.sum(axis=0), 1, atol=1e-6):
            raise ValueError(f"A {kind} logo needs a PPM: non-negative columns summing to 1.")
        if kind == "information":
            safe = np.clip(matrix, 1e-12, 1)
            bits = (matrix * np.log2(safe / background)).sum(axis=0)
            matrix = matrix * np.clip(bits, 0, None)
    ax = plt.gca() if ax is None else ax
    frame = pd.DataFrame(matrix.T, columns=list(ALPHABET))
    logomaker.Logo(frame, ax=ax, color_scheme="classic")
    ax.set_xlabel("position")
    ax.set_ylabel({"information": "bits", "probability": "probability",
                   "weight": "weight"}[kind])
    if title is not None:
        ax.set_title(title)
    return ax
