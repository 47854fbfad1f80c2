"""Sequence attribution logos: the attribution of each observed base as a letter's height."""

import numpy as np

from ..motifs import plot_logo
from ._common import finite_array, get_ax, instance_values


def plot_sequence_attributions(
    attributions, sequence=None, ax=None, *, index=0, start=None, end=None, title=None,
):
    """Logo of the attributions of a one-hot DNA sequence.

    With the sequence, each position shows the letter of its base, as tall as that base's
    attribution (attribution times one-hot input, the usual view of DeepLIFT / integrated
    gradients / ISM scores); negative attributions are drawn below the axis. Without it,
    all four letters of each position are drawn with their own attributions (a weight logo,
    e.g. of ISM's per-substitution effects or of a hypothetical contribution). Drawn with
    :func:`skexplain.motifs.plot_logo` (``kind="weight"``).

    Parameters
    ----------
    attributions : Explanation or array-like of shape (4, L) or (n_samples, 4, L)
        Rows A, C, G, T. From a batch (an Explanation is one), ``index`` is drawn.
    sequence : array-like of shape (4, L), optional
        One-hot sequence (an all-zero column is an unknown base, drawn empty). Default the
        Explanation's data; None with an array draws the weight logo.
    ax : matplotlib.axes.Axes, optional
    index : int, default=0
        Instance of a batch to draw.
    start, end : int, optional
        Draw positions ``[start, end)`` only; the x axis keeps the sequence's positions.
    title : str, optional

    Returns
    -------
    ax : matplotlib.axes.Axes

    Raises
    ------
    ImportError
        If matplotlib or logomaker (the ``plot`` and ``motifs`` extras) is not installed.
    ValueError
        If the attributions are not (4, L) per instance, the sequence is not a one-hot
        (4, L) array, or ``[start, end)`` is empty or outside the sequence.
    """
    values, data = instance_values(attributions, index, (2,), "attributions")
    if values.shape[0] != 4:
        raise ValueError(
            f"Sequence attributions need 4 channels (A, C, G, T), got shape {values.shape}."
        )
    if sequence is None:
        sequence = data
    if sequence is not None:
        values = values * _one_hot(sequence, values.shape)
    length = values.shape[1]
    first = 0 if start is None else start
    last = length if end is None else end
    if not 0 <= first < last <= length:
        raise ValueError(f"[start, end) = [{first}, {last}) must be a non-empty part of "
                         f"[0, {length}).")
    ax = plot_logo(values[:, first:last], ax=get_ax(ax), kind="weight", title=title)
    ax.xaxis.set_major_formatter(lambda x, _: f"{x + first:.0f}")
    ax.set_ylabel("attribution")
    return ax


def _one_hot(sequence, shape):
    sequence = finite_array(sequence, "sequence")
    if sequence.shape != shape:
        raise ValueError(f"sequence must have the attributions' shape {shape}, got shape "
                         f"{sequence.shape}.")
    if not (np.isin(sequence, (0, 1)).all() and (sequence.sum(axis=0) <= 1).all()):
        raise ValueError("sequence must be one-hot: at most one 1 per position, all else 0.")
    return sequence
