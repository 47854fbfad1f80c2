"""Explained units: features moved together (feature groups, windows of sequence positions)."""

import numpy as np


def groups_from_labels(labels, feature_shape):
    """Member indices of each group from one label per feature.

    Parameters
    ----------
    labels : array-like of shape feature_shape or (n_features,)
    feature_shape : tuple of int

    Returns
    -------
    groups : list of ndarray of int
        Flat feature indices of each group, groups in sorted label order.
    names : ndarray
        The sorted labels.

    Raises
    ------
    ValueError
        If there is not one label per feature.
    """
    n_features = int(np.prod(feature_shape))
    labels = np.asarray(labels)
    if labels.shape not in (tuple(feature_shape), (n_features,)):
        raise ValueError(
            f"feature_groups has shape {labels.shape}; expected one label per feature, "
            f"shape {tuple(feature_shape)} or ({n_features},)."
        )
    names, codes = np.unique(labels.ravel(), return_inverse=True)
    order = np.argsort(codes, kind="stable")
    groups = np.split(order, np.cumsum(np.bincount(codes))[:-1])
    return groups, names


def position_windows(feature_shape, window, stride):
    """Sliding windows along the last axis, every leading index (channel) included.

    Windows start at 0, stride, 2 * stride, ... up to the first one that reaches the end;
    that last one is cut at the end, so every position is covered when ``stride <= window``
    (as in captum's ``Occlusion``).

    Returns
    -------
    windows : list of ndarray of int
        Flat feature indices of each window.
    spans : list of (int, int)
        Start and stop position of each window.
    """
    length = feature_shape[-1]
    n_channels = int(np.prod(feature_shape[:-1]))
    n_windows = 1 + max(0, -(-(length - window) // stride))
    spans = [(k * stride, min(k * stride + window, length)) for k in range(n_windows)]
    offsets = np.arange(n_channels)[:, None] * length
    windows = [(offsets + np.arange(start, stop)[None]).ravel() for start, stop in spans]
    return windows, spans


def span_names(spans):
    """``pos{i}`` for a one-position span, ``pos{start}:{stop}`` otherwise."""
    return np.asarray(
        [f"pos{start}" if stop == start + 1 else f"pos{start}:{stop}" for start, stop in spans],
        dtype=object,
    )
