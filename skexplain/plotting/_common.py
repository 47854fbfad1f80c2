"""What every figure needs: matplotlib imported lazily, attributions taken from either input."""

import numbers

import numpy as np

from ..base import Explanation


def pyplot():
    """matplotlib.pyplot, or an ImportError naming the ``plot`` extra."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "skexplain.plotting needs matplotlib: pip install 'skexplain[plot]'."
        ) from exc
    return plt


def get_ax(ax):
    return pyplot().gca() if ax is None else ax


def check_index(index, n_samples):
    if not isinstance(index, numbers.Integral) or not -n_samples <= index < n_samples:
        raise ValueError(f"index must be an integer in [0, {n_samples}), got {index!r}.")
    return int(index)


def finite_array(values, name):
    values = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must be finite.")
    return values


def instance_values(attributions, index, ndims, name):
    """One instance's values (and data, or None) from an Explanation or a plain array.

    ``ndims`` are the accepted numbers of dimensions of one instance. An Explanation is a
    batch; a plain array is one instance when it has one of ``ndims`` dimensions and a
    batch when it has ``max(ndims) + 1``. ``index`` picks the instance of a batch.
    """
    if isinstance(attributions, Explanation):
        values, data = attributions.values, attributions.data
        if data is not None and data.shape != values.shape:
            data = None
        batch = True
    else:
        values, data = finite_array(attributions, name), None
        batch = values.ndim == max(ndims) + 1
    if (values.ndim - batch) not in ndims:
        raise ValueError(
            f"{name} of one instance must have {' or '.join(map(str, ndims))} dimensions "
            f"(or one more for a batch), got shape {values.shape}."
        )
    if batch:
        index = check_index(index, len(values))
        values, data = values[index], None if data is None else data[index]
    return np.asarray(values, dtype=np.float64), data


def symmetric_limit(values):
    """Largest absolute value (1 for all zeros), for a colour scale centred on 0."""
    limit = float(np.max(np.abs(values))) if np.size(values) else 0.0
    return limit if limit > 0 else 1.0
