"""SensX diagnostics: the characteristic delta* of each instance and its stability profile."""

import numpy as np

from ..base import Explanation
from ._common import check_index, get_ax

QUANTILE_LABELS = ("1 % quantile", "median", "99 % quantile")


def plot_sensx_delta(explanation, ax=None, *, title=None):
    """Bar chart of how many instances got each characteristic delta*.

    delta* is the half-width (a fraction of each feature's global range) of the box that
    :class:`skexplain.explainers.SensX` walks in; it is one of the profile's
    ``delta_grid`` values, 1 when no smaller box is stable, and 0 for an insensitive
    instance (drawn as its own bar at 0).

    Parameters
    ----------
    explanation : Explanation
        A SensX explanation (``info["delta_star"]``).
    ax : matplotlib.axes.Axes, optional
    title : str, optional

    Returns
    -------
    ax : matplotlib.axes.Axes
        ``ax.patches`` are the bars, one per delta* value that occurs, in increasing order.

    Raises
    ------
    ImportError
        If matplotlib (the ``plot`` extra) is not installed.
    ValueError
        If the explanation holds no delta*.
    """
    delta_star = _info(explanation, "delta_star", "delta*")
    grid = explanation.info.get("delta_grid")
    width = 0.8 * (np.min(np.diff(grid)) if grid is not None and len(grid) > 1 else 0.05)
    values, counts = np.unique(delta_star, return_counts=True)
    ax = get_ax(ax)
    ax.bar(values, counts, width=width, color="tab:blue")
    ax.set_xlim(-width, 1 + width)
    ax.set_xlabel("delta* (fraction of the global range)")
    ax.set_ylabel("instances")
    if title is not None:
        ax.set_title(title)
    return ax


def plot_stability_profile(explanation, index=0, ax=None, *, title=None):
    """SensX's stability profile of one instance: the score's quantiles in growing boxes.

    For each delta of the grid, the 1 %, 50 % and 99 % quantiles of the model's score on
    uniform samples of the box of half-width delta around the instance, the band between
    1 % and 99 % shaded, and delta* marked by a vertical line.

    Parameters
    ----------
    explanation : Explanation
        A SensX explanation made with ``delta="auto"`` (``info["stability_profile"]``,
        ``info["delta_grid"]``, ``info["delta_star"]``).
    index : int, default=0
        The instance.
    ax : matplotlib.axes.Axes, optional
    title : str, optional
        Default "instance {index}".

    Returns
    -------
    ax : matplotlib.axes.Axes
        ``ax.lines[:3]`` are the 1 %, 50 % and 99 % curves over the grid, ``ax.lines[3]``
        the delta* line (absent for an insensitive instance, delta* = 0).

    Raises
    ------
    ImportError
        If matplotlib (the ``plot`` extra) is not installed.
    ValueError
        If the explanation has no stability profile (a fixed ``delta`` or another method)
        or index is out of range.
    """
    profile = _info(explanation, "stability_profile", "stability profile (delta='auto')")
    grid = np.asarray(explanation.info["delta_grid"])
    index = check_index(index, len(profile))
    quantiles, delta_star = profile[index], float(explanation.info["delta_star"][index])
    ax = get_ax(ax)
    for column, (label, style) in enumerate(zip(QUANTILE_LABELS, (":", "-", ":"),
                                                strict=True)):
        ax.plot(grid, quantiles[:, column], style, color="tab:blue", label=label)
    ax.fill_between(grid, quantiles[:, 0], quantiles[:, 2], color="tab:blue", alpha=0.15)
    if delta_star > 0:
        ax.axvline(delta_star, color="tab:red", label=f"delta* = {delta_star:.2f}")
    ax.set_xlabel("delta (fraction of the global range)")
    ax.set_ylabel("model score")
    ax.set_title(f"instance {index}" if title is None else title)
    ax.legend(frameon=False)
    return ax


def _info(explanation, key, what):
    if not isinstance(explanation, Explanation) or key not in explanation.info:
        raise ValueError(f"Expected a SensX Explanation with a {what} in info[{key!r}].")
    return np.asarray(explanation.info[key])
