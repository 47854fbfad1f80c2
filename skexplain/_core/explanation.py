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

Attributions travel: :meth:`Attribution.to_shap` (shap's plots),
:meth:`Attribution.to_anndata` / :meth:`Attribution.from_anndata` (scanpy, ``.h5ad``),
:meth:`Attribution.as_channels_last` (tfmodisco-lite) and :meth:`Attribution.to_tangermeme`;
:meth:`Attribution.reduce` turns sequence maps (n, A, L) into per-position scores (n, L).
"""

import json
import numbers

import numpy as np
import pandas as pd

from .validation import check_one_hot, default_feature_names, sequence_feature_names

SEQUENCE_REDUCTIONS = ("input_times", "sum", "sum_abs", "max_abs", "l2")
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


    # --- sequences -----------------------------------------------------------------------

    @property
    def is_sequence(self):
        """Whether values are maps over sequences: axes ("sample", "channel", "position")."""
        return self.axes == ("sample", "channel", "position")

    def _check_sequence(self, what):
        if not self.is_sequence:
            raise ValueError(
                f"{what} needs a sequence result with axes ('sample', 'channel', 'position'); "
                f"this one has axes {self.axes} and values of shape {self.values.shape}."
            )

    def reduce(self, method="input_times"):
        """Per-position scores (n, L) of a sequence result (n, A, L).

        Parameters
        ----------
        method : {"input_times", "sum", "sum_abs", "max_abs", "l2"}, default="input_times"
            ``"input_times"``: sum over channels of values x data, the value of the observed
            base (gradient x input, Koo & Ploenzke 2021); ``"sum"``: sum over channels (for
            maps already multiplied by the input, e.g. integrated gradients, DeepLIFT,
            DeepLiftShap: the total, hence completeness, is kept); ``"sum_abs"``,
            ``"max_abs"``: sum or max of absolute values; ``"l2"``: L2 norm over channels
            (as for in silico mutagenesis). See :func:`reduce_sequence_values`.

        Returns
        -------
        reduced : Attribution
            values of shape (n_samples, length), float64, axes ("sample", "position");
            feature names the positions (``"12"``, or the part after ``":"`` of names such
            as ``"A:12"``); ``data`` the index of the observed letter per position (A for
            an unknown base, all-zero column) when data is one-hot, else None;
            ``base_values``, ``output_names``, ``units`` and ``info`` kept, with
            ``info["reduction"] = method``.

        Raises
        ------
        ValueError
            If the result is not a sequence result, ``method`` is unknown, or
            ``"input_times"`` is asked of a result without data of the values' shape.
        """
        self._check_sequence("reduce")
        data = self.data if self.data is not None and self.data.shape == self.values.shape \
            else None
        scores = reduce_sequence_values(self.values, data, method)
        tokens = None
        if data is not None:
            try:
                tokens = check_one_hot(data).astype(np.float64)
            except ValueError:
                tokens = None
        info = dict(self.info)
        info.pop("axes", None)
        info["reduction"] = method
        return Attribution(scores, tokens, self.base_values, self._position_names(),
                           self.output_names, info, ("sample", "position"), self.units)

    def _position_names(self):
        n_channels, length = self.values.shape[1:]
        names = self.feature_names.astype(str).reshape(n_channels, length)
        parts = np.char.partition(names, ":")
        if (parts[..., 1] == ":").all() and (parts[..., 2] == parts[:1, :, 2]).all():
            return parts[0, :, 2].astype(object)
        return np.asarray([str(p) for p in range(length)], dtype=object)

    def _export_names(self, alphabet):
        """Feature names to export: genomic ``A:12`` names where asked or obvious."""
        if alphabet is None:
            return self.feature_names
        if isinstance(alphabet, str) and alphabet == "auto":
            if not (self.is_sequence and self.values.shape[1] == 4):
                return self.feature_names
            names = list(self.feature_names)
            shape = self.values.shape[1:]
            if names != [f"x{i}" for i in range(len(names))] and \
                    names != list(default_feature_names(shape)):
                return self.feature_names
            return sequence_feature_names(self.values.shape[2], "ACGT")
        self._check_sequence(f"alphabet={alphabet!r}")
        if len(alphabet) != self.values.shape[1]:
            raise ValueError(
                f"alphabet {alphabet!r} has {len(alphabet)} letters for "
                f"{self.values.shape[1]} channels."
            )
        return sequence_feature_names(self.values.shape[2], alphabet)

    # --- export --------------------------------------------------------------------------

    def expected_values(self):
        """The value the attributions of each instance are measured from, E[f(X)] if known.

        Read from ``info``: ``"expected_value"`` (KernelShap: the background's mean score),
        else ``"reference_scores"`` (DeepLift, DeepLiftShap, IntegratedGradients: the mean
        score of the references); otherwise ``base_values - values.sum()``, which puts the
        attributions' sum exactly between the two but is E[f(X)] only for a method that is
        complete (whose attributions sum to f(x) minus a reference score).

        Returns
        -------
        expected : ndarray of shape (n_samples,), float64, or None
            None when neither ``info`` nor ``base_values`` give one.
        """
        n = len(self)
        for key in ("expected_value", "reference_scores"):
            value = self.info.get(key)
            if value is None:
                continue
            value = np.asarray(value, dtype=np.float64)
            if value.ndim == 0:
                value = np.full(n, float(value))
            if value.shape == (n,) and np.isfinite(value).all():
                return value
        if self.base_values is None or self.base_values.shape != (n,):
            return None
        return self.base_values.astype(np.float64) - self._flat_values().sum(axis=1)

    def to_shap(self, flatten=True, *, reduction="input_times", alphabet="auto"):
        """This result as a ``shap.Explanation``, for shap's plots.

        Parameters
        ----------
        flatten : True or "positions", default=True
            True: the feature axes flattened, one shap feature per value (a sequence map
            (n, A, L) gives A x L features named ``"A:12"``); ``"positions"``: a sequence
            result reduced to per-position scores first (:meth:`reduce`, with
            ``reduction``), one feature per position, the observed letter as display data
            (a result already per position, axes ("sample", "position"), as is).
        reduction : str, default="input_times"
            The reduction used when ``flatten="positions"``. Additivity survives
            ``"sum"`` (and ``"input_times"`` only where values are zero at unobserved
            letters, e.g. gradient x input).
        alphabet : "auto", str or None, default="auto"
            Letters of the channels of a sequence result, used for the names ``"A:12"``.
            "auto": "ACGT" for a 4-channel sequence result whose feature names are the
            defaults (``x0_12`` or ``x12``); None: keep the feature names.

        Returns
        -------
        explanation : shap.Explanation
            ``values`` of shape (n_samples, n_features), ``data`` of the same shape (None
            when the values are of feature groups whose data has another size),
            ``feature_names``, ``base_values`` of shape (n_samples,) from
            :meth:`expected_values` (E[f(X)] for KernelShap, the mean reference score for
            DeepLIFT-type methods, else ``f(x) - sum(values)``), ``output_names`` the
            name of the explained output when all instances explain the same one. Then
            ``base_values + values.sum(1) == f(x)`` for KernelShap and, up to
            ``info["completeness_delta"]``, for DeepLIFT-type methods.

        Raises
        ------
        ImportError
            If shap is not installed.
        ValueError
            If ``flatten`` is neither True nor "positions", or "positions" is asked of a
            result that is not a sequence result.

        Examples
        --------
        >>> import numpy as np
        >>> from skexplain import Attribution
        >>> x = np.eye(4)[[0, 2, 3]].T[None]                     # AGT, shape (1, 4, 3)
        >>> E = Attribution(x * [1.0, -2.0, 0.5], data=x, base_values=[3.0],
        ...                 axes=("sample", "channel", "position"))
        >>> S = E.to_shap()                                     # doctest: +SKIP
        >>> S.feature_names[:2], float(S.base_values[0])        # doctest: +SKIP
        (['A:0', 'A:1'], 3.5)
        >>> E.reduce().values
        array([[ 1. , -2. ,  0.5]])
        >>> E.as_channels_last()[0].shape
        (1, 3, 4)
        """
        try:
            import shap
        except ImportError as error:
            raise ImportError(
                "Attribution.to_shap needs shap: pip install shap (or the 'bench' extra, "
                "pip install 'skexplain[bench]')."
            ) from error
        expected = self.expected_values()
        display = None
        if isinstance(flatten, str) and flatten == "positions" and \
                self.axes == ("sample", "position"):
            source, names = self, self.feature_names
            data = None if self.data is None or self.data.shape != self.values.shape \
                else self.data
        elif isinstance(flatten, str) and flatten == "positions":
            source = self.reduce(reduction)
            names, data = source.feature_names, source.data
            if data is not None:
                letters = np.append(np.asarray(_alphabet_of(alphabet, self.values.shape[1]),
                                               dtype=object), "N")
                display = letters[data.astype(int)]
        elif flatten is True:
            source = self
            names = self._export_names(alphabet)
            data = None
            if self.data is not None and self.data[0].size == len(self.feature_names):
                data = self.data.reshape(len(self), -1)
        else:
            raise ValueError(f'flatten must be True or "positions", got {flatten!r}.')
        return shap.Explanation(
            values=source._flat_values(), base_values=expected, data=data,
            display_data=display, feature_names=[str(f) for f in names],
            output_names=self._output_name(),
        )

    def _output_name(self):
        """The explained output's name when every instance explains the same one, else None.

        shap reads a list of names as an output axis, so per-instance names would break
        ``explanation[i]``.
        """
        target = self.info.get("target")
        if target is None:
            return None
        target = np.unique(np.asarray(target).ravel())
        if len(target) != 1:
            return None
        target = target[0]
        if self.output_names is not None and isinstance(target, numbers.Integral) and \
                0 <= target < len(self.output_names):
            return str(self.output_names[target])
        return str(target)

    def to_anndata(self, layer=None, *, obs_names=None, alphabet="auto"):
        """This result as an AnnData: instances as observations, features as variables.

        Parameters
        ----------
        layer : str, optional
            None: the values are ``X``. A name: the data are ``X`` and the values the layer
            of that name beside them (the usual single-cell layout; needs data of the
            features' size).
        obs_names : array-like of str of shape (n_samples,), optional
            Names of the instances; default ``"0", "1", ...``.
        alphabet : "auto", str or None, default="auto"
            As for :meth:`to_shap`: variable names ``"A:12"`` for a DNA result.

        Returns
        -------
        adata : anndata.AnnData of shape (n_samples, n_features)
            Values (and data) flattened to (n_samples, n_features), float64; ``var_names``
            the feature names; ``obs["base_value"]`` the model's scores and one ``obs``
            column per per-instance entry of ``info`` (``target``, ``expected_value``,
            ``reference_scores``, ...), one ``obsm`` entry (flattened) per numeric
            per-instance array of more dimensions; ``uns["explanation"]`` a JSON-able
            dict with
            ``method``, ``axes``, ``units``, ``feature_shape``, ``output_names``,
            ``layer`` (where the values are), ``obs_info`` and ``obsm_info`` (the info
            entries kept there, with their shapes) and the
            JSON-able scalars of ``info``. :meth:`from_anndata` reads it back, and it can
            be written with ``write_h5ad``.

        Raises
        ------
        ImportError
            If anndata is not installed.
        ValueError
            If ``layer`` is given but the data are missing or of another size than the
            values, or ``obs_names`` has the wrong length.
        """
        try:
            import anndata
        except ImportError as error:
            raise ImportError(
                "Attribution.to_anndata needs anndata: pip install anndata (or the 'sc' "
                "extra, pip install 'skexplain[sc]')."
            ) from error
        n = len(self)
        values = self._flat_values().astype(np.float64)
        if obs_names is None:
            obs_names = [str(i) for i in range(n)]
        obs_names = [str(o) for o in obs_names]
        if len(obs_names) != n:
            raise ValueError(f"{len(obs_names)} obs_names given for {n} instances.")
        obs = pd.DataFrame(index=pd.Index(obs_names))
        if self.base_values is not None and self.base_values.shape == (n,):
            obs["base_value"] = self.base_values
        obs_info, obsm = [], {}
        for key, value in self.info.items():
            if key == "axes" or not isinstance(value, np.ndarray) or value.ndim == 0 or \
                    value.shape[0] != n:
                continue
            if value.ndim == 1:
                obs[key] = value if value.dtype.kind in "biuf" else value.astype(str)
                obs_info.append(key)
            elif value.dtype.kind in "biuf":
                obsm[key] = value
        meta = {
            "method": self.method, "axes": list(self.axes),
            "feature_shape": [int(d) for d in self.values.shape[1:]],
            "layer": layer, "obs_info": obs_info,
            "obsm_info": {key: [int(d) for d in v.shape[1:]] for key, v in obsm.items()},
        }
        if self.units is not None:
            meta["units"] = str(self.units)
        if self.output_names is not None:
            meta["output_names"] = [str(o) for o in self.output_names]
        for key, value in self.info.items():
            if key in meta or key in obs_info or key in obsm or key in ("axes", "units"):
                continue
            value = _jsonable(value)
            if value is not None:
                meta[key] = value
        meta = {k: v for k, v in meta.items() if v is not None}
        var = pd.DataFrame(index=pd.Index([str(f) for f in self._export_names(alphabet)]))
        if layer is None:
            adata = anndata.AnnData(values, obs=obs, var=var)
        else:
            if self.data is None or self.data[0].size != values.shape[1]:
                raise ValueError(
                    f"layer={layer!r} puts the data in X, but this result has "
                    + ("no data." if self.data is None else
                       f"data of {self.data[0].size} features for {values.shape[1]} values.")
                )
            adata = anndata.AnnData(self.data.reshape(n, -1).astype(np.float64), obs=obs,
                                    var=var)
            adata.layers[layer] = values
        for key, value in obsm.items():
            adata.obsm[key] = value.reshape(n, -1)
        adata.uns["explanation"] = meta
        return adata

    @classmethod
    def from_anndata(cls, adata, layer=None):
        """The Attribution an AnnData from :meth:`to_anndata` holds.

        Parameters
        ----------
        adata : anndata.AnnData
        layer : str, optional
            Where the values are; default ``uns["explanation"]["layer"]`` (None: ``X``).
            When the values are a layer, ``X`` is read as the data.

        Returns
        -------
        explanation : Attribution
            Values (and data) reshaped to (n_samples, *feature_shape); feature names the
            ``var_names``; ``base_values`` from ``obs["base_value"]``; ``info`` the
            scalars of ``uns["explanation"]`` and its ``obs_info`` columns (arrays).
            An AnnData not made by :meth:`to_anndata` gives a flat ("sample", "feature")
            result.

        Raises
        ------
        KeyError
            If ``layer`` is not a layer of ``adata``.
        """
        meta = dict(adata.uns.get("explanation", {}))
        if layer is None:
            layer = meta.get("layer")
        feature_shape = tuple(int(d) for d in meta.get("feature_shape", (adata.n_vars,)))
        if int(np.prod(feature_shape)) != adata.n_vars:
            feature_shape = (adata.n_vars,)
        n = adata.n_obs

        def dense(M):
            return np.asarray(M.toarray() if hasattr(M, "toarray") else M, dtype=np.float64)

        if layer is None:
            values, data = dense(adata.X), None
        else:
            if layer not in adata.layers:
                raise KeyError(f"No layer {layer!r}; the layers are {list(adata.layers)}.")
            values = dense(adata.layers[layer])
            data = dense(adata.X).reshape((n,) + feature_shape)
        axes = tuple(meta.get("axes", ()))
        if len(axes) != 1 + len(feature_shape):
            axes = ("sample",) + ("feature",) * len(feature_shape)
        base_values = None
        if "base_value" in adata.obs:
            base_values = adata.obs["base_value"].to_numpy()
        info = {k: v for k, v in meta.items()
                if k not in ("axes", "feature_shape", "layer", "obs_info", "output_names",
                             "units")}
        info.pop("obsm_info", None)
        for key in meta.get("obs_info", ()):
            if key in adata.obs:
                info[key] = adata.obs[key].to_numpy()
        for key, shape in dict(meta.get("obsm_info", {})).items():
            if key in adata.obsm:
                info[key] = np.asarray(adata.obsm[key]).reshape((n,) + tuple(shape))
        output_names = meta.get("output_names")
        return cls(values.reshape((n,) + feature_shape), data, base_values,
                   np.asarray(adata.var_names, dtype=object),
                   None if output_names is None else list(output_names), info, axes,
                   meta.get("units"))

    def as_channels_last(self):
        """Values and data of a sequence result as (n, L, A) arrays, for tfmodisco-lite.

        ``modiscolite.tfmodisco.TFMoDISco(hypothetical_contribs=values, one_hot=data)``
        takes this layout. It wants *hypothetical* contributions (a score for every
        letter at every position); the values are passed on as they are.

        Returns
        -------
        values : ndarray of shape (n_samples, length, n_channels), float32
        data : ndarray of shape (n_samples, length, n_channels), float32, or None
            None when the result stores no data of the values' shape.

        Raises
        ------
        ValueError
            If the result is not a sequence result (axes sample, channel, position).
        """
        self._check_sequence("as_channels_last")
        values = np.ascontiguousarray(self.values.transpose(0, 2, 1), dtype=np.float32)
        data = None
        if self.data is not None and self.data.shape == self.values.shape:
            data = np.ascontiguousarray(self.data.transpose(0, 2, 1), dtype=np.float32)
        return values, data

    def to_tangermeme(self):
        """Values and data of a sequence result as tangermeme's (n, A, L) float32 tensors.

        tangermeme keeps PyTorch's channels-first layout: pass ``X_attr`` to its plots
        (``plot_logo(X_attr[i])``) and, reduced over channels
        (``X_attr.sum(dim=1)``), to ``tangermeme.seqlet.recursive_seqlets``. For
        tfmodisco-lite's (n, L, A) layout use :meth:`as_channels_last`.

        Returns
        -------
        X_attr : torch.Tensor of shape (n_samples, n_channels, length), float32
        X : torch.Tensor of shape (n_samples, n_channels, length), float32, or None
            None when the result stores no data of the values' shape.

        Raises
        ------
        ImportError
            If torch is not installed.
        ValueError
            If the result is not a sequence result.
        """
        self._check_sequence("to_tangermeme")
        try:
            import torch
        except ImportError as error:
            raise ImportError(
                "Attribution.to_tangermeme needs torch: pip install torch (tangermeme "
                "itself comes with the 'bench' extra)."
            ) from error
        values = torch.as_tensor(np.ascontiguousarray(self.values, dtype=np.float32))
        data = None
        if self.data is not None and self.data.shape == self.values.shape:
            data = torch.as_tensor(np.ascontiguousarray(self.data, dtype=np.float32))
        return values, data


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


def reduce_sequence_values(values, data=None, method="input_times"):
    """Per-position scores (n, L) from maps over one-hot sequences (n, A, L).

    Parameters
    ----------
    values : ndarray of shape (n_samples, n_channels, length)
    data : ndarray of shape (n_samples, n_channels, length), optional
        The one-hot sequences; needed by ``"input_times"``.
    method : {"input_times", "sum", "sum_abs", "max_abs", "l2"}, default="input_times"
        See :meth:`Attribution.reduce`.

    Returns
    -------
    scores : ndarray of shape (n_samples, length), float64

    Raises
    ------
    ValueError
        If values is not 3-D, ``method`` is unknown, or ``"input_times"`` is asked without
        data of the values' shape.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 3:
        raise ValueError(
            f"values must have shape (n_samples, n_channels, length), got {values.shape}."
        )
    if method not in SEQUENCE_REDUCTIONS:
        raise ValueError(f"method must be one of {SEQUENCE_REDUCTIONS}, got {method!r}.")
    if method == "input_times":
        if data is None:
            raise ValueError('method="input_times" needs the sequences (data).')
        data = np.asarray(data, dtype=np.float64)
        if data.shape != values.shape:
            raise ValueError(f"data have shape {data.shape} but values have shape "
                             f"{values.shape}.")
        return (values * data).sum(axis=1)
    if method == "sum":
        return values.sum(axis=1)
    if method == "sum_abs":
        return np.abs(values).sum(axis=1)
    if method == "max_abs":
        return np.abs(values).max(axis=1)
    return np.sqrt((values**2).sum(axis=1))


def _alphabet_of(alphabet, n_channels):
    if alphabet is not None and not (isinstance(alphabet, str) and alphabet == "auto"):
        return [str(a) for a in alphabet]
    if n_channels == 4:
        return list("ACGT")
    return [str(c) for c in range(n_channels)]


def _jsonable(value):
    """value as JSON-able built-ins (lists, str, numbers, bool), or None if it is not."""
    if isinstance(value, np.ndarray):
        if value.size > 10_000:
            return None
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    elif isinstance(value, tuple):
        value = list(value)
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return None
    return value


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
    values : ndarray of shape (n_samples, n_train) or (n_samples, [n_layers,] k)
        Influence or similarity of each training example (or of the k retrieved ones).
    indices : ndarray of int, optional
        Training indices of the retrieved examples, shaped as ``values`` (when values hold
        only k of them).
    axes : tuple of str, default=("sample", "train_example")
        One name per dimension of ``values``, "sample" first (validated).
    units : str, optional
    info : dict, optional
    data : ndarray of shape (n_samples, *input_shape), optional
        The explained examples.
    base_values : ndarray of shape (n_samples,), optional
        One value per explained example: its loss (influence), credibility (deep k-NN).
    example_names : ndarray of str, optional
        Names of the training examples along the training axis: shape (n_train,) when
        values cover every training example, else shaped as ``indices``.

    Raises
    ------
    ValueError
        If ``axes`` does not name every dimension of ``values``, or does not start with
        "sample".
    """

    def __init__(self, values, indices=None, axes=None, units=None, info=None, *, data=None,
                 base_values=None, example_names=None):
        values = np.asarray(values)
        if axes is None:
            axes = (info or {}).get("axes") or ("sample", "train_example") + \
                ("value",) * (values.ndim - 2)
        super().__init__(values, axes, units, info)
        if self.axes[0] != "sample":
            raise ValueError(f"The first axis of example values is 'sample'; got {self.axes}.")
        self.indices = None if indices is None else np.asarray(indices)
        self.data = None if data is None else np.asarray(data)
        self.base_values = None if base_values is None else np.asarray(base_values)
        self.example_names = None if example_names is None else np.asarray(
            example_names, dtype=object)

    def __len__(self):
        return self.values.shape[0]

    def to_frame(self):
        """Tidy long table: one row per value.

        Returns
        -------
        frame : pandas.DataFrame
            One column per axis (the position along it), ``index`` (the training index of
            the example the value belongs to), ``name`` (its name, when known) and
            ``value``.
        """
        import pandas as pd

        grid = np.indices(self.values.shape).reshape(self.values.ndim, -1)
        frame = pd.DataFrame({axis: grid[i] for i, axis in enumerate(self.axes)})
        if self.indices is not None:
            frame["index"] = self.indices.reshape(-1)
        else:
            frame["index"] = grid[-1]
        if self.example_names is not None:
            names = self.example_names
            frame["name"] = (names[frame["index"]] if names.ndim == 1
                             else names.reshape(-1))
        frame["value"] = self.values.reshape(-1)
        return frame
