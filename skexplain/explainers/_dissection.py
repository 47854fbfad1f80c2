"""Network dissection of sequence models: which concept each channel detects (Bau et al. 2017)."""

import warnings
from numbers import Integral, Real

import numpy as np
from scipy import sparse
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._core.base import ModelLevelExplainer
from .._core.compute import resolve_batch_size, torch_batches
from .._core.explanation import ModelExplanation
from .._core.validation import check_numeric
from ._network import check_finite, layer_name, layer_output, network_adapter, resolve_targets

ACTIVATION_FACTOR = 8  # a layer's activations of a row, in multiples of the row's size


class NetworkDissection(ModelLevelExplainer):
    """Network dissection: label each channel with the concept whose positions it covers.

    Network dissection (Bau et al. 2017) adapted to sequences. For each channel k of the
    dissected layers, the threshold T_k is the ``quantile`` of its activations over all
    positions of all sequences of the dataset (the top 0.5% by default). Where a sequence's
    activation reaches T_k, the channel fires, and its mask M_k covers the input positions
    of that activation's receptive field; a concept's mask L_c holds its positions (e.g.
    the planted or FIMO-found instances of a motif). Over the dataset,
    ``IoU_{k,c} = sum |M_k & L_c| / sum |M_k | L_c|``; each channel is labelled with the
    concept of highest IoU and is a detector of it when that IoU exceeds
    ``iou_threshold``. Positions where a channel sits at its smallest activation never
    count as firing (the zeros of a sparse ReLU channel are not detections).

    The receptive field of a layer's position i is ``[start + i * jump, start + i * jump +
    size)``, clipped to the sequence, composed from the ``Conv1d``, ``MaxPool1d`` and
    ``AvgPool1d`` modules registered up to the layer (kernel, stride, padding, dilation),
    as in :class:`~skexplain.models.ExpActivationCNN` and ``nn.Sequential`` networks;
    ``fit`` checks that this geometry gives the layer's real output length, and runs the
    whole network once on the first sequence, so that a network that cannot take X fails
    in ``fit`` (the dissection itself stops each forward pass at the last dissected layer).
    A model-level explainer has no faithfulness ``score``.

    Parameters
    ----------
    model : skorch net or torch.nn.Module
        A fitted network over sequences (n, n_channels, length). It is not modified: a
        float64 copy in eval mode is used.
    layers : str, torch.nn.Module, list of them, or None, default=None
        Layers to dissect, names from ``named_modules()`` (e.g. ``"blocks.0.activation"``
        for the first layer of an :class:`~skexplain.models.ExpActivationCNN` before
        pooling) or modules; None picks the last conv block of an ExpActivationCNN. Each
        must output (batch, n_channels, n_positions).
    quantile : float, default=0.995
        Quantile of each channel's activations over the dataset that it must reach to fire.
    iou_threshold : float, default=0.04
        IoU above which a channel counts as a detector of its best concept (Bau et al.).
    batch_size : int or "auto", default="auto"
        Sequences per forward pass; "auto" is the core's 64 MiB policy with a working set
        of 8 rows per input row (a layer's activations are wider than its input).

    Attributes
    ----------
    network_ : torch.nn.Module
        The float64 eval-mode copy of the network.
    layer_names_ : list of str
        Names of the dissected layers.
    channel_names_ : ndarray of shape (n_channels,)
        ``"<layer>:<channel>"`` for every channel of every dissected layer, in order.
    thresholds_ : ndarray of shape (n_channels,)
        Activation threshold T_k of each channel.
    receptive_fields_ : dict of str to tuple (start, jump, size)
        The input positions each layer's positions cover.
    input_shape_ : tuple of int
        Shape of one input sequence.
    n_features_in_ : int
        Number of input features.

    References
    ----------
    Bau, D., Zhou, B., Khosla, A., Oliva, A. & Torralba, A. "Network dissection:
    quantifying interpretability of deep visual representations." CVPR 2017.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skexplain.datasets import make_motif_concept
    >>> from skexplain.explainers import NetworkDissection
    >>> conv = torch.nn.Conv1d(4, 1, 6)  # a GATAAG detector: 1 on the motif, 0 elsewhere
    >>> with torch.no_grad():
    ...     _ = conv.weight.copy_(torch.eye(4)[[2, 0, 3, 0, 0, 2]].T[None])
    ...     _ = conv.bias.fill_(-5.0)
    >>> net = torch.nn.Sequential(conv, torch.nn.ReLU())
    >>> X, _, mask = make_motif_concept("GATAAG", 50, 40, reverse_complement=False,
    ...                                 random_state=0)
    >>> dissection = NetworkDissection(net, layers="1").fit(X)
    >>> E = dissection.explain(X, concepts={"GATA": mask, "none": np.zeros_like(mask)})
    >>> E.axes, E.values.round(2).tolist(), E.info["best_concept"].tolist()
    (('channel', 'concept'), [[1.0, 0.0]], ['GATA'])
    """

    _parameter_constraints = {
        "model": "no_validation",
        "layers": "no_validation",
        "quantile": [Interval(Real, 0, 1, closed="neither")],
        "iou_threshold": [Interval(Real, 0, 1, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, model=None, *, layers=None, quantile=0.995, iou_threshold=0.04,
                 batch_size="auto"):
        super().__init__(model)
        self.layers = layers
        self.quantile = quantile
        self.iou_threshold = iou_threshold
        self.batch_size = batch_size

    def fit(self, X, y=None):
        """Find each channel's activation threshold over the dataset X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_channels, length)
            The dataset, e.g. the test sequences.
        y : None
            Ignored.

        Returns
        -------
        self : NetworkDissection

        Raises
        ------
        TypeError
            If the model is not a torch module or skorch net.
        ValueError
            If X is empty, holds text (encode DNA strings with
            :class:`~skexplain.preprocessing.OneHotSequenceEncoder`), is not 3-D or not
            finite, a layer does not exist or does not output
            (batch, n_channels, n_positions), its activations are not finite, or its
            positions cannot be mapped to input positions.
        """
        self._validate_params()
        self._check_model()
        X = _check_sequences(X)
        self.input_shape_ = X.shape[1:]
        self.n_features_in_ = int(np.prod(self.input_shape_))
        self.model_adapter_ = network_adapter(self.model, self.input_shape_,
                                              name=type(self).__name__)
        self.network_ = self.model_adapter_.module
        layers = self.layers if isinstance(self.layers, list | tuple) else [self.layers]
        self.layer_names_ = [layer_name(self.model, layer) for layer in layers]
        self._run_network(X[:1])
        thresholds, floors, names = [], [], []
        self.receptive_fields_ = {}
        for name in self.layer_names_:
            activations = self._activations(X, name)
            self.receptive_fields_[name] = _receptive_field(
                self.network_, name, X.shape[2], activations.shape[2]
            )
            per_channel = activations.transpose(1, 0, 2).reshape(activations.shape[1], -1)
            thresholds.append(np.quantile(per_channel, self.quantile, axis=1))
            floors.append(per_channel.min(axis=1))
            names += [f"{name}:{c}" for c in range(activations.shape[1])]
        self.thresholds_ = np.concatenate(thresholds)
        self._floors = np.concatenate(floors)
        self.channel_names_ = np.asarray(names, dtype=object)
        return self

    def explain(self, X=None, target=None, *, concepts=None):
        """IoU of every channel's firing mask with every concept's position mask over X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_channels, length)
            The dataset (usually the one given to ``fit``); required.
        target : None, int, str or list of them, default=None
            Channels to report: None for every channel of every dissected layer, ints for
            indices into ``channel_names_``, strings for channel names (``"<layer>:<c>"``).
            A dict here is taken as ``concepts`` (the former positional call
            ``explain(X, concepts)``, deprecated).
        concepts : dict of str to array-like of shape (n_samples, length)
            Boolean position mask of each concept in X, e.g. the ``mask`` of
            :func:`~skexplain.datasets.make_motif_concept` or of motif scans.

        Returns
        -------
        explanation : ModelExplanation
            Axes ("channel", "concept"): ``values`` of shape (n_targets, n_concepts) are the
            IoUs; ``labels["channel"]`` the channel names, ``labels["concept"]`` the concept
            names; ``info`` holds, per channel, ``channel_names``, ``best_concept``,
            ``best_iou``, ``detector`` (best IoU > iou_threshold), ``thresholds`` and
            ``firing_rate`` (fraction of (sequence, position) pairs where each channel
            fires), ``target``, ``layers`` and ``output`` (``"activation"``: the values
            dissected are the layers' activations, not the model's scores).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the explainer is not fitted.
        ValueError
            If X or the concepts are missing, X is empty or holds text, X has another shape
            than in fit, a concept mask is not (n_samples, length), or a target channel is unknown.
        """
        if isinstance(target, dict):
            warnings.warn(
                "explain(X, concepts) is deprecated: pass explain(X, concepts=concepts); the "
                "second positional argument is now the target channels.",
                FutureWarning, stacklevel=2,
            )
            if concepts is not None:
                raise ValueError("concepts were given twice (as target and as concepts).")
            target, concepts = None, target
        check_is_fitted(self, "thresholds_")
        if X is None:
            raise ValueError("Network dissection needs the dataset X whose positions the "
                             "concept masks label: call explain(X, concepts=masks).")
        X = _check_sequences(X)
        if X.shape[1:] != self.input_shape_:
            raise ValueError(f"X has shape {X.shape[1:]} per sequence, but "
                             f"NetworkDissection was fitted on {self.input_shape_}.")
        names, masks = _check_concepts(concepts, (len(X), X.shape[2]))
        targets = resolve_targets(target, self.channel_names_)
        iou, firing_rate = [], []
        offset = 0
        for name in self.layer_names_:
            activations = self._activations(X, name)
            channels = slice(offset, offset + activations.shape[1])
            offset = channels.stop
            fires = (activations >= self.thresholds_[channels, None]) & (
                activations > self._floors[channels, None]
            )
            firing_rate.append(fires.mean(axis=(0, 2)))
            covered = _coverage(self.receptive_fields_[name], fires.shape[2], X.shape[2])
            iou.append(_iou(fires, covered, masks))
        iou = np.concatenate(iou)[targets]
        best = iou.argmax(axis=1)
        best_iou = iou[np.arange(len(iou)), best]
        info = {
            "method": "network_dissection",
            "target": targets,
            "output": "activation",
            "layers": list(self.layer_names_),
            "channel_names": self.channel_names_[targets],
            "best_concept": np.asarray(names, dtype=object)[best],
            "best_iou": best_iou,
            "detector": best_iou > self.iou_threshold,
            "thresholds": self.thresholds_[targets],
            "firing_rate": np.concatenate(firing_rate)[targets],
        }
        return ModelExplanation(
            iou, ("channel", "concept"),
            labels={"channel": self.channel_names_[targets],
                    "concept": np.asarray(names, dtype=object)},
            units="intersection over union", info=info,
        )

    def _run_network(self, X):
        """One whole forward pass of the network (its output is not used)."""
        import torch

        adapter = self.model_adapter_
        with torch.no_grad():
            adapter.module(adapter.tensor(X))

    def _activations(self, X, name):
        """Layer output (n_samples, n_channels, n_positions) as float64 numpy."""
        import torch

        adapter = self.model_adapter_
        batch_size = resolve_batch_size(self.batch_size, self.n_features_in_,
                                        ACTIVATION_FACTOR)

        def activations(batch):
            return layer_output(adapter.module, name, adapter.tensor(batch))

        with torch.no_grad():
            out = torch_batches(activations, (torch.as_tensor(X),), batch_size)
        activations = out.to("cpu", torch.float64).numpy()
        if activations.ndim != 3:
            raise ValueError(f"The layer {name!r} outputs shape {activations.shape[1:]} per "
                             "sequence; network dissection needs (n_channels, n_positions).")
        return check_finite(activations, f"activations of layer {name!r}", adapter)


def _receptive_field(network, name, input_length, output_length):
    """(start, jump, size): position i of the layer covers input [start + i*jump, +size)."""
    from torch import nn

    modules = list(network.named_modules())
    last = max(i for i, (n, _) in enumerate(modules) if n == name or n.startswith(name + "."))
    start, jump, size, length = 0, 1, 1, input_length
    for _, module in modules[:last + 1]:
        if not isinstance(module, nn.Conv1d | nn.MaxPool1d | nn.AvgPool1d):
            continue
        kernel, stride, padding, dilation, ceil = _window(module)
        span = dilation * (kernel - 1) + 1
        start -= padding[0] * jump
        size += (span - 1) * jump
        jump *= stride
        room = length + sum(padding) - span
        length = (-(-room // stride) if ceil else room // stride) + 1
    if length != output_length:
        raise ValueError(
            f"Cannot map the positions of layer {name!r} to input positions: its Conv1d and "
            f"pooling modules, in registration order, give {length} positions, but it "
            f"outputs {output_length}. Dissect a layer of a sequential network."
        )
    return start, jump, size


def _window(module):
    """(kernel, stride, (left, right) padding, dilation, ceil_mode) of a Conv1d or pooling."""
    from torch import nn

    def first(value):
        return int(value[0]) if isinstance(value, tuple | list) else int(value)

    kernel = first(module.kernel_size)
    stride = first(module.stride) if module.stride is not None else kernel
    dilation = first(getattr(module, "dilation", 1))
    ceil = bool(getattr(module, "ceil_mode", False))
    padding = module.padding
    if isinstance(module, nn.Conv1d) and padding == "same":
        total = dilation * (kernel - 1)
        return kernel, stride, (total // 2, total - total // 2), dilation, ceil
    if padding == "valid":
        return kernel, stride, (0, 0), dilation, ceil
    return kernel, stride, (first(padding), first(padding)), dilation, ceil


def _coverage(receptive_field, n_positions, input_length):
    """Matrix (n_positions, input_length): 1 where a layer position covers an input position."""
    start, jump, size = receptive_field
    lower = start + jump * np.arange(n_positions)[:, None]
    inputs = np.arange(input_length)
    return ((inputs >= lower) & (inputs < lower + size)).astype(np.float32)


def _iou(fires, covered, masks):
    """IoU (n_channels, n_concepts) of the firing masks in input space with the concepts."""
    n_samples, n_channels, n_positions = fires.shape
    firing = sparse.csr_matrix(fires.reshape(n_samples * n_channels, n_positions),
                               dtype=np.float32)
    under = (firing @ sparse.csr_matrix(covered)).tocoo()  # input positions under a firing
    sample, channel = np.divmod(under.row, n_channels)
    intersection = np.zeros((n_channels, masks.shape[1]))
    np.add.at(intersection, channel, masks[sample, :, under.col])
    fired = np.bincount(channel, minlength=n_channels)
    union = fired[:, None] + masks.sum(axis=(0, 2))[None, :] - intersection
    return np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)


def _check_sequences(X):
    """X as a float64 array (n_samples, n_channels, length) of finite numbers, n > 0."""
    if sparse.issparse(X):
        raise ValueError("X must hold sequences of shape (n_samples, n_channels, length); "
                         f"got a 2-D sparse matrix of shape {X.shape}.")
    check_numeric(X, "X")
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 3:
        raise ValueError(f"X must hold sequences of shape (n_samples, n_channels, length); "
                         f"got shape {X.shape}.")
    if len(X) == 0:
        raise ValueError(f"X is empty (shape {X.shape}): network dissection needs at least "
                         "one sequence.")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or infinity.")
    return X


def _check_concepts(concepts, shape):
    """Concept names and their masks stacked as a bool array (n_samples, n_concepts, length)."""
    if not isinstance(concepts, dict) or not concepts:
        raise ValueError("concepts must be a non-empty dict of name -> position mask "
                         "(n_samples, length).")
    masks = []
    for name, mask in concepts.items():
        mask = np.asarray(mask)
        if mask.shape != shape:
            raise ValueError(f"The mask of concept {name!r} has shape {mask.shape}; expected "
                             f"{shape} (n_samples, length) to match X.")
        masks.append(mask.astype(bool))
    return [str(name) for name in concepts], np.stack(masks, axis=1)
