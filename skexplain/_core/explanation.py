"""Typed results of the three kinds of explanation, on one small base.

- :class:`Result`: values, named axes (one per dimension), units and method-specific ``info``.
- :class:`Attribution` (local explanations): the sample axis first, then the explained
  features (or channels and positions, or feature groups); can be sliced, ranked and
  turned into a tidy table.
- :class:`ModelExplanation` (model-level): named axes such as class, channel, concept, each
  with its labels.
- :class:`ExampleExplanation` (example-based): values over training examples per sample.

What a method does not apply to a kind is absent rather than wrong: ``top_features`` exists
only where the last axes are features.
"""

import numbers

import numpy as np
import pandas as pd

FEATURE_AXES = ("feature", "channel", "position", "group", "window", "token", "patch",
                "row", "column")


class Result:
    """Values with named axes, units and method-specific information.

    Parameters
    ----------
    values : ndarray
    axes : tuple of str
        One name per dimension of ``values``.
    units : str, optional
        What the values measure, e.g. "score change" or "logit x input".
    info : dict, optional
        Method-specific results; ``method``, ``axes``, ``units`` are kept in it too.

    Raises
    ------
    ValueError
        If ``axes`` does not name every dimension of ``values``.
    """

    def __init__(self, values, axes, units=None, info=None):
        self.values = np.asarray(values)
        axes = tuple(str(a) for a in axes)
        if len(axes) != self.values.ndim:
            raise ValueError(
                f"axes {axes} name {len(axes)} dimension(s), but values have shape "
                f"{self.values.shape}."
            )
        self.axes = axes
        self.units = units
        self.info = {} if info is None else dict(info)
        self.info["axes"] = axes
        if units is not None:
            self.info.setdefault("units", units)

    @property
    def method(self):
        """Identifier of the method that made this result (``info["method"]``)."""
        return self.info.get("method", "unknown")

    def __repr__(self):
        return (f"{type(self).__name__}(values shape={self.values.shape}, axes={self.axes}, "
                f"method={self.method!r})")


class Attribution(Result):
    """Attributions of a batch of instances, with what is needed to read them.

    Parameters
    ----------
    values : ndarray of shape (n_samples, *feature_shape)
        One value per instance and feature (or feature group).
    data : ndarray of shape (n_samples, *feature_shape), optional
        The explained instances.
    base_values : ndarray of shape (n_samples,), optional
        The model's score of the explained output for each instance.
    feature_names : array-like of str, optional
        One name per flattened feature (or group); defaults to ``x0, x1, ...``.
    output_names : array-like, optional
        Names of the model's outputs (class labels).
    info : dict, optional
        Method-specific results, e.g. ``target``, ``delta_star``, ``output``.
    axes : tuple of str, optional
        Names of the dimensions of ``values``, "sample" first; by default
        ``info["axes"]`` or ("sample", "feature", ...).
    units : str, optional

    Examples
    --------
    >>> import numpy as np
    >>> from skexplain import Explanation
    >>> E = Explanation(np.array([[0.1, -2.0, 0.5]]), feature_names=["a", "b", "c"])
    >>> E.top_features(2)
       1  2
    0  b  c
    >>> E[:, ["a", "c"]].values
    array([[0.1, 0.5]])
    """

    def __init__(self, values, data=None, base_values=None, feature_names=None,
                 output_names=None, info=None, axes=None, units=None):
        values = np.asarray(values)
        info = {} if info is None else dict(info)
        if axes is None:
            axes = info.get("axes") or ("sample",) + ("feature",) * (values.ndim - 1)
        if values.ndim < 1 or axes[0] != "sample":
            raise ValueError(f"An attribution's first axis is the sample axis; got {axes}.")
        super().__init__(values, axes, units, info)
        self.data = None if data is None else np.asarray(data)
        self.base_values = None if base_values is None else np.asarray(base_values)
        n_features = int(np.prod(self.values.shape[1:]))
        if feature_names is None:
            feature_names = [f"x{i}" for i in range(n_features)]
        self.feature_names = np.asarray(feature_names, dtype=object)
        if self.feature_names.shape != (n_features,):
            raise ValueError(
                f"{len(self.feature_names)} feature names given for {n_features} features."
            )
        self.output_names = None if output_names is None else np.asarray(output_names)

    def __len__(self):
        return self.values.shape[0]

    def _flat_values(self):
        return self.values.reshape(len(self), -1)

    def __getitem__(self, key):
        """``E[i]``, ``E[rows]`` or ``E[rows, features]`` (flat indices or names): a new result.

        Selecting features flattens the feature axes to one "feature" axis.
        """
        rows, features = (key if isinstance(key, tuple) else (key, slice(None)))
        if isinstance(rows, numbers.Integral):
            rows = [rows]
        rows = np.arange(len(self))[rows]
        info = _rows_of_info(self.info, rows, len(self))
        if isinstance(features, slice) and features == slice(None):
            return Attribution(
                self.values[rows], None if self.data is None else self.data[rows],
                None if self.base_values is None else self.base_values[rows],
                self.feature_names, self.output_names, info, self.axes, self.units)
        index = self._feature_index(features)
        flat_data = None
        if self.data is not None and self.data[0].size == len(self.feature_names):
            flat_data = self.data.reshape(len(self), -1)[rows][:, index]
        return Attribution(
            self._flat_values()[rows][:, index], flat_data,
            None if self.base_values is None else self.base_values[rows],
            self.feature_names[index], self.output_names, info, ("sample", "feature"),
            self.units)

    def _feature_index(self, features):
        names = list(self.feature_names)
        if isinstance(features, (str, np.str_)):
            features = [features]
        if isinstance(features, slice):
            return np.arange(len(names))[features]
        features = list(np.atleast_1d(features))
        if features and all(isinstance(f, (str, np.str_)) for f in features):
            missing = [f for f in features if f not in names]
            if missing:
                raise KeyError(f"Unknown feature names {missing[:5]}.")
            return np.array([names.index(f) for f in features], dtype=int)
        return np.arange(len(names))[np.asarray(features)]

    def to_frame(self):
        """Tidy long table: one row per instance and feature.

        Returns
        -------
        frame : pandas.DataFrame
            Columns ``sample``, ``feature``, ``value`` and, when data is stored, ``data``.
        """
        n_samples, n_features = len(self), len(self.feature_names)
        frame = pd.DataFrame(
            {
                "sample": np.repeat(np.arange(n_samples), n_features),
                "feature": np.tile(self.feature_names, n_samples),
                "value": self._flat_values().ravel(),
            }
        )
        if self.data is not None and self.data[0].size == n_features:
            frame["data"] = self.data.reshape(n_samples, -1).ravel()
        return frame

    def top_features(self, k=10):
        """Names of the ``k`` features with the largest absolute value, per instance.

        Parameters
        ----------
        k : int, default=10
            Number of features to return; at most the number of features.

        Returns
        -------
        top : pandas.DataFrame of shape (n_samples, k)
            Feature names, rank 1 first; ties keep feature order.

        Raises
        ------
        ValueError
            If k is not an integer in [1, n_features].
        """
        n_features = len(self.feature_names)
        if not isinstance(k, numbers.Integral) or not 1 <= k <= n_features:
            raise ValueError(f"k must be an integer in [1, {n_features}], got {k!r}.")
        order = np.argsort(-np.abs(self._flat_values()), axis=1, kind="stable")[:, :k]
        return pd.DataFrame(self.feature_names[order], columns=range(1, k + 1))


def _rows_of_info(info, rows, n_samples):
    """info with every per-sample array (first axis n_samples) restricted to rows."""
    out = {}
    for key, value in info.items():
        if isinstance(value, np.ndarray) and value.ndim and value.shape[0] == n_samples \
                and key != "axes":
            out[key] = value[rows]
        else:
            out[key] = value
    return out


class ModelExplanation(Result):
    """A model-level result: values over named axes (class, channel, concept, ...).

    Parameters
    ----------
    values : ndarray
    axes : tuple of str
        One name per dimension, e.g. ("class", "concept").
    labels : dict of str to array-like, optional
        Labels of an axis's entries (class names, channel indices, concept names).
    units : str, optional
    info : dict, optional
    """

    def __init__(self, values, axes, labels=None, units=None, info=None):
        super().__init__(values, axes, units, info)
        self.labels = {}
        for axis, entries in (labels or {}).items():
            if axis not in self.axes:
                raise ValueError(f"labels for unknown axis {axis!r}; the axes are {self.axes}.")
            entries = np.asarray(entries)
            size = self.values.shape[self.axes.index(axis)]
            if entries.shape != (size,):
                raise ValueError(f"{len(entries)} labels for axis {axis!r} of size {size}.")
            self.labels[axis] = entries

    def to_frame(self):
        """Tidy long table: one column per axis (its labels) and ``value``."""
        index = pd.MultiIndex.from_product(
            [self.labels.get(a, np.arange(n)) for a, n in zip(self.axes, self.values.shape,
                                                              strict=True)],
            names=list(self.axes))
        return pd.DataFrame({"value": self.values.ravel()}, index=index).reset_index()


class ExampleExplanation(Result):
    """Example-based values: per explained sample, values over training examples.

    Parameters
    ----------
    values : ndarray of shape (n_samples, n_train) or (n_samples, k)
        Influence or similarity of each training example (or of the k retrieved ones).
    indices : ndarray of int of shape (n_samples, k), optional
        Training indices of the retrieved examples (when values hold only k of them).
    axes : tuple of str, default=("sample", "train_example")
    units : str, optional
    info : dict, optional
    """

    def __init__(self, values, indices=None, axes=None, units=None, info=None):
        values = np.asarray(values)
        if axes is None:
            axes = (info or {}).get("axes") or ("sample", "train_example") + \
                ("value",) * (values.ndim - 2)
        super().__init__(values, axes, units, info)
        self.indices = None if indices is None else np.asarray(indices)

    def __len__(self):
        return self.values.shape[0]
