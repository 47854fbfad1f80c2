"""Attribution heat maps: tabular (instances x features) and image (over the input image)."""

import numpy as np

from ..base import Explanation
from ._common import finite_array, get_ax, instance_values, pyplot, symmetric_limit

CHANNEL_REDUCTIONS = {
    "sum": lambda a: a.sum(axis=0),
    "mean": lambda a: a.mean(axis=0),
    "sum_abs": lambda a: np.abs(a).sum(axis=0),
    "max_abs": lambda a: np.abs(a).max(axis=0),
}


def plot_attributions_heatmap(
    attributions, ax=None, *, feature_names=None, sample_names=None, max_features=None,
    cmap="RdBu_r", colorbar=True,
):
    """Heat map of the attributions of tabular instances: one row per instance.

    The colour scale is centred on 0 and symmetric (blue negative, red positive with the
    default colour map), so that equal colours mean equal magnitudes across the map.

    Parameters
    ----------
    attributions : Explanation or array-like of shape (n_samples, n_features)
        Attributions of tabular input (one value per feature or feature group).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; the current axes when None.
    feature_names : array-like of str of shape (n_features,), optional
        Column labels; default the Explanation's feature names, else ``x0, x1, ...``.
    sample_names : array-like of shape (n_samples,), optional
        Row labels; default the row numbers.
    max_features : int, optional
        Show only this many features: those with the largest mean absolute attribution,
        largest first. None shows every feature in input order.
    cmap : str or Colormap, default="RdBu_r"
    colorbar : bool, default=True
        Add a colour bar labelled "attribution".

    Returns
    -------
    ax : matplotlib.axes.Axes
        Its image (``ax.images[0]``) holds the shown attributions.

    Raises
    ------
    ImportError
        If matplotlib (the ``plot`` extra) is not installed.
    ValueError
        If the attributions are not 2-D (use :func:`plot_image_attributions` or
        :func:`plot_sequence_attributions`), not finite, or the names have the wrong length.
    """
    if isinstance(attributions, Explanation):
        values = attributions.values
        if feature_names is None and values.ndim == 2:
            feature_names = attributions.feature_names
    else:
        values = finite_array(attributions, "attributions")
    if values.ndim != 2:
        raise ValueError(
            f"A heat map needs attributions of shape (n_samples, n_features), got shape "
            f"{values.shape}; for images or sequences use plot_image_attributions or "
            "plot_sequence_attributions."
        )
    n_samples, n_features = values.shape
    feature_names = _names(feature_names, n_features, "x", "feature_names")
    sample_names = _names(sample_names, n_samples, "", "sample_names")
    columns = np.arange(n_features)
    if max_features is not None:
        if not isinstance(max_features, int) or max_features < 1:
            raise ValueError(f"max_features must be a positive int, got {max_features!r}.")
        importance = np.abs(values).mean(axis=0)
        columns = np.argsort(-importance, kind="stable")[:max_features]
    ax = get_ax(ax)
    limit = symmetric_limit(values[:, columns])
    image = ax.imshow(values[:, columns], cmap=cmap, vmin=-limit, vmax=limit,
                      aspect="auto", interpolation="nearest")
    ax.set_xticks(np.arange(len(columns)), feature_names[columns], rotation=90)
    ax.set_yticks(np.arange(n_samples), sample_names)
    ax.set_xlabel("feature")
    ax.set_ylabel("instance")
    if colorbar:
        pyplot().colorbar(image, ax=ax, label="attribution")
    return ax


def plot_image_attributions(
    attributions, image=None, ax=None, *, index=0, reduce="sum", alpha=0.6, cmap="RdBu_r",
    colorbar=True,
):
    """Attributions of an image as a heat map laid over the image.

    Parameters
    ----------
    attributions : Explanation or array-like of shape (C, H, W), (H, W) or with a batch axis
        first, (n_samples, C, H, W) or (n_samples, H, W), of which ``index`` is drawn.
    image : array-like of shape (C, H, W) or (H, W), optional
        The explained image, drawn in grey (one channel, or the channel mean when C is not
        1 or 3) or in colour (C = 3, RGB), each scaled to [0, 1] by its minimum and maximum.
        Default the Explanation's data; None with an array draws the heat map alone.
    ax : matplotlib.axes.Axes, optional
    index : int, default=0
        Instance of a batch to draw.
    reduce : {"sum", "mean", "sum_abs", "max_abs"}, default="sum"
        How the channels' attributions of a pixel become one value. The colour scale is
        centred on 0 and symmetric for "sum" and "mean", from 0 for the absolute ones.
    alpha : float in [0, 1], default=0.6
        Opacity of the heat map over the image.
    cmap : str or Colormap, default="RdBu_r"
    colorbar : bool, default=True

    Returns
    -------
    ax : matplotlib.axes.Axes
        Its last image (``ax.images[-1]``) holds the reduced attributions, of shape (H, W).

    Raises
    ------
    ImportError
        If matplotlib (the ``plot`` extra) is not installed.
    ValueError
        If the shapes are not as above or differ between attributions and image, ``reduce``
        is unknown or ``alpha`` is outside [0, 1].
    """
    if reduce not in CHANNEL_REDUCTIONS:
        raise ValueError(f"reduce must be one of {sorted(CHANNEL_REDUCTIONS)}, got {reduce!r}.")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}.")
    values, data = instance_values(attributions, index, (2, 3), "attributions")
    if image is None:
        image = data
    values = values[None] if values.ndim == 2 else values
    heat = CHANNEL_REDUCTIONS[reduce](values)
    ax = get_ax(ax)
    if image is not None:
        ax.imshow(_displayable(finite_array(image, "image"), values.shape),
                  cmap="gray", interpolation="nearest")
    if reduce in ("sum", "mean"):
        limits = -symmetric_limit(heat), symmetric_limit(heat)
    else:
        limits = 0.0, symmetric_limit(heat)
    shown = ax.imshow(heat, cmap=cmap, vmin=limits[0], vmax=limits[1], alpha=alpha,
                      interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if colorbar:
        pyplot().colorbar(shown, ax=ax, label=f"attribution ({reduce} over channels)")
    return ax


def _displayable(image, values_shape):
    """The image as (H, W) grey or (H, W, 3) RGB values in [0, 1]."""
    image = image[None] if image.ndim == 2 else image
    if image.ndim != 3 or image.shape[1:] != values_shape[1:]:
        raise ValueError(
            f"image must have shape (C, H, W) or (H, W) with H, W = {values_shape[1:]}, "
            f"got shape {image.shape}."
        )
    image = np.moveaxis(image, 0, -1) if image.shape[0] == 3 else image.mean(axis=0)
    low, high = image.min(), image.max()
    return (image - low) / (high - low) if high > low else np.zeros_like(image)


def _names(names, n, prefix, what):
    if names is None:
        return np.array([f"{prefix}{i}" for i in range(n)], dtype=object)
    names = np.asarray(names, dtype=object)
    if names.shape != (n,):
        raise ValueError(f"{what} has {names.size} entries for {n} {what.split('_')[0]}s.")
    return names
