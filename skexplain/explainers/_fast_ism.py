"""Exact locality-restricted in silico mutagenesis of convolutional stacks (fastISM).

A single-base substitution of a one-hot sequence, or any edit of a window of consecutive
positions (an occluded window, a multi-base substitution), changes only a bounded window of
positions of each convolution, pooling and pointwise layer (its receptive field), until the
first global layer (a dense layer over the flattened positions, global pooling, attention,
...). :class:`FastISM` computes the activations of each reference sequence once and, for a
batch of edits, recomputes only those windows (Nair, Shrikumar, Schreiber & Kundaje,
"fastISM: performant in silico saturation mutagenesis for convolutional neural networks",
Bioinformatics 38, 2397-2403, 2022), with two further savings:

- the first convolution's change is, for a substitution, a difference of two kernel columns
  (new base minus old base, at the offsets the position reaches): no convolution at all;
  for a wider edit, the sum of those differences over the window, computed as the
  convolution of the window's input change over the reached positions (cheaper past one
  position). Input columns are tokens of a vocabulary (the C bases and N by default; any
  few distinct columns, e.g. an occlusion baseline, through :func:`vocabulary`);
- a dense layer over the flattened positions (``Flatten`` then ``Linear``) is updated
  sparsely: ``W x_ref`` once per sequence, then ``W[:, window] (x_mut - x_ref)[window]``
  per substitution, window being the positions it reaches.

Everything after the first global layer (the "head") runs on the batch as the module would.

The module is traced with ``torch.fx``; only a single chain of recognised layers is treated
as local: ``Conv1d`` (zero padding, int / "same" / "valid", any stride, dilation, groups),
``MaxPool1d`` (padding, dilation, ceil mode), ``AvgPool1d`` (no padding, floor mode),
``BatchNorm1d`` in eval mode with running statistics, dropout in eval mode, elementwise
activations (modules, ``torch.exp`` and friends, their tensor methods, arithmetic with
constants). Anything else (a residual branch, a second input, a conv layer that is not first,
LSTM, attention) either becomes the head, or, where no convolution comes first, makes
:class:`FastISM` raise :class:`UnsupportedModel`: callers then fall back to full forward passes.
Values equal full forward passes up to float rounding (summation order of the windowed
convolutions), well within 1e-5 for float32 models.
"""

import operator

import numpy as np

from ._graph import (
    UnsupportedModel,
    describe_node,
    fast_or_none,
    flatten_user,
    subgraph_after,
    trace_one_input,
)

__all__ = ["FastISM", "UnsupportedModel", "activation_bytes", "fast_edit_scores",
           "fast_engine_for", "fast_engine_of", "vocabulary", "window_edit_scores"]


FAST_WORKING_SET = 2**25  # bytes of windows per engine call for batch_size="auto"
TABLE_BYTES = 2**26  # largest first-layer table of kernel columns per input column


def _pointwise_modules():
    from torch import nn

    return (nn.ReLU, nn.ELU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.GELU, nn.SiLU,
            nn.Identity, nn.Mish, nn.Hardtanh, nn.ReLU6, nn.CELU, nn.SELU, nn.Softsign,
            nn.Hardswish, nn.Hardsigmoid, nn.Tanhshrink, nn.LogSigmoid)


def _pointwise_functions():
    import torch
    import torch.nn.functional as F

    return {torch.exp, torch.relu, torch.sigmoid, torch.tanh, torch.square, torch.abs,
            F.relu, F.gelu, F.elu, F.softplus, F.silu, F.leaky_relu, F.sigmoid, F.tanh,
            F.mish, F.relu6, F.selu, F.celu, F.hardtanh, F.logsigmoid,
            operator.add, operator.sub, operator.mul, operator.truediv, operator.neg,
            torch.add, torch.sub, torch.mul, torch.div}


_POINTWISE_METHODS = {"exp", "relu", "sigmoid", "tanh", "square", "abs", "neg", "add", "sub",
                      "mul", "div", "contiguous", "float"}


def _one(value):
    return value[0] if isinstance(value, (tuple, list)) else value


class _Window:
    """A windowed op: output j reads padded input positions j*stride + dilation*t, t < kernel."""

    def __init__(self, node, kind, kernel, stride, dilation, left, fill, length_in,
                 length_out, call):
        self.node, self.kind = node, kind
        self.kernel, self.stride, self.dilation, self.left = kernel, stride, dilation, left
        self.fill, self.length_in, self.length_out, self.call = fill, length_in, length_out, call

    def reach(self, lo, hi):
        """Output interval [lo', hi') changed by a change of the input in [lo, hi)."""
        span = self.dilation * (self.kernel - 1)
        out_lo = -((-(lo + self.left - span)) // self.stride)  # ceil division
        out_hi = (hi - 1 + self.left) // self.stride + 1
        return np.clip(out_lo, 0, self.length_out), np.clip(out_hi, 0, self.length_out)

    def input_width(self, width):
        return (width - 1) * self.stride + self.dilation * (self.kernel - 1) + 1

    def padded_length(self):
        """Length of the padded reference input so that every output window can be read."""
        return max(self.left + self.length_in, self.input_width(self.length_out))


def _windows(lo, hi, length):
    """Width and start of a fixed-width window containing every [lo, hi) within [0, length)."""
    width = int(max(1, (hi - lo).max()))
    width = min(width, length)
    return width, np.clip(lo, 0, length - width).astype(np.int64)


class FastISM:
    """Locality-restricted scores of single-position edits of one-hot sequences.

    Parameters
    ----------
    module : torch.nn.Module
        In eval mode (the caller's ``ModelAdapter.inference()``), taking one tensor
        ``(batch, n_channels, length)`` and returning raw outputs.
    feature_shape : tuple of (int, int)
        ``(n_channels, length)``.

    Raises
    ------
    UnsupportedModel
        If the module cannot be traced, takes more than one input, does not start with a
        ``Conv1d`` over the input, or uses an intermediate activation outside the chain.
    """

    def __init__(self, module, feature_shape):
        import torch
        from torch import nn

        self.module = module
        self.n_channels, self.length = (int(s) for s in feature_shape)
        traced, nodes, source = trace_one_input(module)
        self.traced = traced
        param = next(module.parameters(), None)
        self.dtype = torch.float32 if param is None else param.dtype
        self.device = torch.device("cpu") if param is None else param.device

        # The local chain: recognised ops, each reading only the previous one.
        current, chain = source, []
        index = nodes.index(current) + 1
        while index < len(nodes):
            node = nodes[index]
            if not self._is_local(node, current):
                break
            chain.append(node)
            current = node
            index += 1
        if not chain or not self._is_conv(chain[0]):
            first = nodes[nodes.index(source) + 1] if len(nodes) > 1 else None
            raise UnsupportedModel(
                f"{type(module).__name__} does not start with a Conv1d over its input "
                f"(first operation: {self._describe(first)}); fast ISM needs a convolution "
                "first."
            )
        # Every chain node but the last must feed only the next one (no residual branch).
        while len(chain) > 1 and any(len(n.users) != 1 for n in chain[:-1]):
            bad = next(k for k, n in enumerate(chain[:-1]) if len(n.users) != 1)
            chain = chain[:bad + 1]
        self.chain = chain
        self.boundary = chain[-1]
        self._plan_shapes(torch)
        self._build_head(nn, nodes)

    # --- graph analysis ------------------------------------------------------------------

    def _module(self, node):
        return self.traced.get_submodule(node.target) if node.op == "call_module" else None

    def _describe(self, node):
        return describe_node(self.traced, node)

    def _is_conv(self, node):
        from torch import nn

        return isinstance(self._module(node), nn.Conv1d)

    def _is_window(self, node):
        from torch import nn

        return isinstance(self._module(node), (nn.Conv1d, nn.MaxPool1d, nn.AvgPool1d))

    def _is_local(self, node, current):
        from torch import fx, nn

        inputs = []
        fx.node.map_arg((node.args, node.kwargs), inputs.append)
        if inputs != [current]:
            return False
        if node.op == "call_module":
            m = self._module(node)
            if isinstance(m, nn.Conv1d):
                return m.padding_mode == "zeros" and node.args[0] is current
            if isinstance(m, nn.MaxPool1d):
                return not m.return_indices
            if isinstance(m, nn.AvgPool1d):
                return _one(m.padding) == 0 and not m.ceil_mode
            if isinstance(m, (nn.BatchNorm1d,)):
                return not m.training and m.running_mean is not None
            if isinstance(m, (nn.Dropout, nn.Dropout1d, nn.AlphaDropout)):
                return not m.training
            if isinstance(m, nn.PReLU):
                return True
            return isinstance(m, _pointwise_modules())
        if node.op == "call_function":
            if node.target not in _pointwise_functions():
                return False
        elif node.op == "call_method":
            if node.target not in _POINTWISE_METHODS:
                return False
        else:
            return False
        # Arithmetic only with numbers: a tensor operand could broadcast along positions.
        others = [a for a in list(node.args) + list(node.kwargs.values()) if a is not current]
        return all(isinstance(a, (int, float, bool, str)) or a is None for a in others)

    def _apply(self, node, value):
        """Run one chain node on a value standing for its input."""
        from torch import fx

        args = fx.node.map_arg(node.args, lambda _: value)
        kwargs = fx.node.map_arg(node.kwargs, lambda _: value)
        if node.op == "call_module":
            return self._module(node)(*args, **kwargs)
        if node.op == "call_function":
            return node.target(*args, **kwargs)
        return getattr(args[0], node.target)(*args[1:], **kwargs)

    def _plan_shapes(self, torch):
        """Output lengths, windowed-op geometry and edit windows of every chain node."""
        from torch import nn

        with torch.no_grad():
            value = torch.zeros((1, self.n_channels, self.length), dtype=self.dtype,
                                device=self.device)
            lengths = []
            for node in self.chain:
                value = self._apply(node, value)
                if value.ndim != 3:
                    raise UnsupportedModel(
                        f"{self._describe(node)} gives a {value.ndim}-D output; fast ISM "
                        "follows (batch, channels, positions) tensors."
                    )
                lengths.append(value.shape[2])
                self._channels = getattr(self, "_channels", []) + [value.shape[1]]
        length_in = self.length
        self._ops = []  # (node, window op or None, output length)
        for node, length_out in zip(self.chain, lengths, strict=True):
            m = self._module(node)
            op = None
            if isinstance(m, nn.Conv1d):
                k, s, d = m.kernel_size[0], m.stride[0], m.dilation[0]
                if m.padding == "same":
                    left = d * (k - 1) // 2
                elif m.padding == "valid":
                    left = 0
                else:
                    left = m.padding[0]
                op = _Window(node, "conv", k, s, d, left, 0.0, length_in, length_out,
                             lambda x, m=m: torch.nn.functional.conv1d(
                                 x, m.weight, m.bias, m.stride, 0, m.dilation, m.groups))
            elif isinstance(m, nn.MaxPool1d):
                k, s = _one(m.kernel_size), _one(m.stride) or _one(m.kernel_size)
                d, left = _one(m.dilation), _one(m.padding)
                op = _Window(node, "max", k, s, d, left, -float("inf"), length_in, length_out,
                             lambda x, k=k, s=s, d=d: torch.nn.functional.max_pool1d(
                                 x, k, s, 0, d))
            elif isinstance(m, nn.AvgPool1d):
                k, s = _one(m.kernel_size), _one(m.stride) or _one(m.kernel_size)
                op = _Window(node, "avg", k, s, 1, 0, 0.0, length_in, length_out,
                             lambda x, k=k, s=s: torch.nn.functional.avg_pool1d(x, k, s, 0))
            elif length_out != length_in:
                raise UnsupportedModel(f"{self._describe(node)} changes the length.")
            self._ops.append((node, op, length_out))
            length_in = length_out
        self.boundary_length = length_in
        self._plans = {}
        self.steps = self.plan(1)  # (node, window op or None, width, starts per edit start)
        # Which nodes' reference outputs are read: inputs of windowed ops, the first conv's
        # output and the boundary.
        self._kept = {self.chain[0], self.boundary}
        previous = None
        for node, op, _, _ in self.steps:
            if op is not None and previous is not None:
                self._kept.add(previous)
            previous = node
        conv = self._module(self.chain[0])
        k, d = conv.kernel_size[0], conv.dilation[0]
        weight = conv.weight.detach()  # (out, in / groups, k)
        if conv.groups != 1:
            raise UnsupportedModel("a grouped first convolution is not supported by fast ISM.")
        if weight.shape[1] != self.n_channels:
            raise UnsupportedModel(
                f"the first convolution takes {weight.shape[1]} channels, the input has "
                f"{self.n_channels}."
            )
        # Kernel columns (in, k + 1, out), float64: the extra offset (not reached) is zero.
        kernel = torch.zeros((self.n_channels, k + 1, weight.shape[0]), dtype=torch.float64,
                             device=self.device)
        kernel[:, :k] = weight.permute(1, 2, 0)
        self._kernel, self._scale = kernel, None
        self._first = (k, d)
        self._fold_batch_norms(torch, nn)
        # The default vocabulary: the C bases, then N (an all-zero column).
        default = np.vstack([np.eye(self.n_channels), np.zeros((1, self.n_channels))])
        self._columns = self.token_table(default)
        self._default = {"table": self._columns, "vectors": torch.as_tensor(
            default, dtype=self.dtype, device=self.device)}
        # Edits of up to this many positions gather kernel columns; wider ones convolve.
        self._gather_widest = 1

    def plan(self, width):
        """Windows of edits of ``width`` consecutive positions: per chain node
        ``(node, window op or None, window width, window start per edit start)``.

        An edit starting at s changes positions ``[s, min(s + width, length))`` (a window cut
        at the end of the sequence reaches no further than a whole one); a substitution is
        an edit of width 1.
        """
        steps = self._plans.get(width)
        if steps is None:
            lo = np.arange(self.length)
            hi = np.minimum(lo + width, self.length)
            steps = []
            for node, op, length_out in self._ops:
                if op is not None:
                    lo, hi = op.reach(lo, hi)
                window, starts = _windows(lo, hi, length_out)
                steps.append((node, op, window, starts))
            self._plans[width] = steps
        return steps

    def tokens(self, vectors):
        """A vocabulary of input columns for :meth:`reference`: the columns as a tensor and,
        where it fits in ``TABLE_BYTES``, their first-layer kernel columns
        (:meth:`token_table`) for edits of one position."""
        import torch

        vectors = np.asarray(vectors, dtype=np.float64)
        size = len(vectors) * self._kernel.shape[1] * self._kernel.shape[2] * \
            self._columns.element_size()
        return {"table": self.token_table(vectors) if size <= TABLE_BYTES else None,
                "vectors": torch.as_tensor(vectors, dtype=self.dtype, device=self.device)}

    def token_table(self, vectors):
        """First-layer kernel columns of a vocabulary of input columns.

        Parameters
        ----------
        vectors : ndarray of shape (n_tokens, C)
            The input columns an edit may put in or take out (the C one-hot bases, an
            all-zero column, a baseline's columns, ...).

        Returns
        -------
        table : tensor of shape (n_tokens, k + 1, n_filters)
            ``table[v, t]``: the first layer's output change (after a BatchNorm folded into
            it) for input column ``vectors[v]`` at kernel offset t; offset k reads nothing.
        """
        import torch

        vectors = torch.as_tensor(np.asarray(vectors, dtype=np.float64), device=self.device)
        kernel = self._kernel
        table = (vectors @ kernel.reshape(kernel.shape[0], -1)).reshape(
            (len(vectors),) + kernel.shape[1:]).to(self.dtype)
        return table if self._scale is None else table * self._scale

    def _fold_batch_norms(self, torch, nn):
        """A BatchNorm1d (eval) right after a convolution is folded into it: the windowed
        convolution then gives the normalised values, and the first layer's kernel columns
        are scaled. The reference activations stay the module's own."""
        self._skip, self._first_ref = set(), self.chain[0]
        for i in range(len(self.steps) - 1):
            node, op, width, starts = self.steps[i]
            norm = self._module(self.steps[i + 1][0])
            if op is None or op.kind != "conv" or not isinstance(norm, nn.BatchNorm1d):
                continue
            scale = torch.rsqrt(norm.running_var + norm.eps)
            if norm.weight is not None:
                scale = scale * norm.weight
            shift = -norm.running_mean * scale
            if norm.bias is not None:
                shift = shift + norm.bias
            scale, shift = scale.detach().to(self.dtype), shift.detach().to(self.dtype)
            self._skip.add(self.steps[i + 1][0])
            if i == 0:
                self._scale = scale
                self._first_ref = self.steps[1][0]
                self._kept.add(self._first_ref)
                continue
            conv = self._module(node)
            weight = (conv.weight * scale[:, None, None]).detach()
            bias = shift if conv.bias is None else (conv.bias.detach() * scale + shift)
            op.call = (lambda x, m=conv, w=weight, b=bias: torch.nn.functional.conv1d(
                x, w, b, m.stride, 0, m.dilation, m.groups))

    def _build_head(self, nn, nodes):
        """The graph after the boundary: sparse Flatten+Linear, then the rest as a module."""
        boundary = self.boundary
        after = nodes[nodes.index(boundary) + 1:]
        self.linear, self._dense_blocks, self._dense_weight = None, {}, None
        flat = flatten_user(self.traced, boundary)
        if flat is not None and len(flat.users) == 1:
            linear = next(iter(flat.users))
            m = self._module(linear)
            if isinstance(m, nn.Linear) and linear.args[0] is flat and len(linear.args) == 1:
                try:
                    self.head = subgraph_after(self.traced, after, linear)
                    self.linear = m
                except UnsupportedModel:
                    self.linear = None
        if self.linear is None:
            self.head = subgraph_after(self.traced, after, boundary)

    def bytes_per_edit(self, width=1):
        """Working set of one edit of ``width`` positions: its windows (and windowed inputs)
        at every layer, and the first layer's kernel columns it gathers."""
        itemsize = self._columns.element_size()
        steps = self.plan(width)
        if width == 1:  # as gathered kernel columns are the window itself
            total = 0
        elif width <= self._gather_widest:  # kernel columns gathered per edited position
            total = 2 * width * steps[0][2] * self._channels[0]
        else:  # the input change convolved
            total = self.n_channels * steps[0][1].input_width(steps[0][2])
        for (_, op, w, _), channels in zip(steps, self._channels, strict=True):
            total += channels * w
            if op is not None and op is not steps[0][1]:
                total += channels * op.input_width(w)
        total += self.boundary_length * self._channels[-1] if self.linear is None else 0
        return max(1, int(total * itemsize))

    # --- reference and edits -------------------------------------------------------------

    def reference(self, X, width=1, tokens=None):
        """Reference activations of sequences X (tensor (n, C, L) in the module's dtype), laid
        out for edits of ``width`` positions whose columns are tokens of ``tokens`` (a
        :meth:`tokens` vocabulary; default the C bases, then N: an all-zero column)."""
        import torch

        steps = self.plan(width)
        tokens = self._default if tokens is None else tokens
        keep, value = {}, X
        with torch.no_grad():
            for node, _, _, _ in steps:
                value = self._apply(node, value)
                if node in self._kept:
                    keep[node] = value
            state = {"kept": keep, "steps": steps, "width": width, "table": tokens["table"],
                     "vectors": tokens["vectors"]}
            padded = {}
            for k, (node, op, _, _) in enumerate(steps):
                if op is None:
                    continue
                source = X if k == 0 else keep[steps[k - 1][0]]
                right = op.padded_length() - op.left - source.shape[2]
                padded[node] = torch.nn.functional.pad(source, (op.left, max(0, right)),
                                                       value=op.fill)
            state["padded"] = padded
            # Every window an edit may read, laid out contiguously (sequence-major): a batch
            # then gathers its windows with one index_select.
            windows = {"first": _unfolded(keep[self._first_ref], steps[0][2], 1)}
            for node, op, w, _ in steps[1:]:
                if op is not None:
                    windows[node] = _unfolded(padded[node], op.input_width(w), op.stride)
            if self.linear is not None:
                windows["boundary"] = _unfolded(keep[self.boundary], steps[-1][2], 1)
            state["windows"] = windows
            if self.linear is not None:
                flat = keep[self.boundary].flatten(1)
                state["dense"] = torch.nn.functional.linear(flat, self.linear.weight,
                                                            self.linear.bias)
        return state

    def outputs(self, state, sequence, position, old, new):
        """Raw module outputs of edited sequences.

        Parameters
        ----------
        state : dict
            :meth:`reference` of the sequences.
        sequence, position : ndarray of int of shape (n_edits,)
            Index of the edited sequence in the reference batch and the first edited
            position.
        old, new : ndarray of int of shape (n_edits,) or (n_edits, width)
            Tokens of the state's table (for the default table, the base, C for an
            all-zero column) at the edited positions ``position + i`` before and after the
            edit; ``width`` at most the state's. A window cut at the end of the sequence
            gives equal tokens (any) beyond it.
        """
        import torch

        kept = state["kept"]
        old, new = np.asarray(old), np.asarray(new)
        if old.ndim == 1:
            old, new = old[:, None], new[:, None]
        if old.shape[1] > state["width"]:
            raise ValueError(f"edits of {old.shape[1]} positions, the state is laid out for "
                             f"{state['width']}.")
        seq = torch.as_tensor(sequence, device=self.device)
        rows = torch.arange(len(position), device=self.device)
        value, starts, width = None, None, None
        for k, (node, op, w, s) in enumerate(state["steps"]):
            a = torch.as_tensor(s[position], device=self.device)
            if node in self._skip:  # a BatchNorm folded into the convolution before it
                pass
            elif k == 0:
                gather = old.shape[1] <= self._gather_widest and state["table"] is not None
                first = self._first_conv if gather else self._first_conv_dense
                value = first(state, seq, position, old, new, a, w, op)
            elif op is None:
                value = self._apply(node, value)
            else:
                value = op.call(self._spliced(state["windows"][node], seq, a,
                                              op.input_width(w), op, value, starts, width))
            starts, width = a, w
        boundary = kept[self.boundary]
        if self.linear is None:
            full = boundary[seq].clone()
            index = starts[:, None] + torch.arange(width, device=self.device)
            full[rows[:, None], :, index] = value.transpose(1, 2)
            with torch.no_grad():
                return self.head(full)
        delta = value - _gather(state["windows"]["boundary"], seq, starts)
        dense = state["dense"][seq].clone()
        if self._dense_weight is None:  # (C, L, out): a window's columns are whole rows
            self._dense_weight = self.linear.weight.detach().view(
                self.linear.out_features, boundary.shape[1], boundary.shape[2]
            ).permute(1, 2, 0).contiguous()
        weight = self._dense_weight
        cache = self._dense_blocks  # weight columns of each window start, kept across sequences
        starts_np = starts.cpu().numpy()
        for start in np.unique(starts_np):
            group = torch.as_tensor(np.flatnonzero(starts_np == start), device=self.device)
            block = cache.get((int(start), width))
            if block is None:
                block = weight[:, start:start + width].reshape(-1, weight.shape[2])
                cache[(int(start), width)] = block
            dense[group] += delta[group].reshape(len(group), -1) @ block
        with torch.no_grad():
            return self.head(dense)

    def _first_conv(self, state, seq, position, old, new, a, width, op):
        """The first layer's windows: the reference plus, for every edited position, the
        difference of the kernel columns of its new and old tokens at the offset each output
        reads it (no convolution)."""
        import torch

        windows, table = state["windows"]["first"], state["table"]
        k, d = self._first
        edited = np.asarray(position)[:, None] + np.arange(old.shape[1]) + op.left  # (B, w)
        outputs = (a[:, None] + torch.arange(width, device=self.device)) * op.stride
        offsets = torch.as_tensor(edited, device=self.device)[:, None, :] - outputs[:, :, None]
        reached = (offsets >= 0) & (offsets % d == 0) & (offsets < d * k)
        tap = torch.where(reached, offsets // d, k)  # (B, width, w)
        new_t = torch.as_tensor(new, device=self.device)[:, None, :]
        old_t = torch.as_tensor(old, device=self.device)[:, None, :]
        delta = table[new_t, tap] - table[old_t, tap]  # (B, width, w, out)
        delta = delta[:, :, 0] if delta.shape[2] == 1 else delta.sum(2)
        return _gather(windows, seq, a) + delta.transpose(1, 2)

    def _first_conv_dense(self, state, seq, position, old, new, a, width, op):
        """The first layer's windows for wide edits: the reference plus the convolution of
        the edit's input change (new minus old columns, zero elsewhere) over the input window
        the outputs read, without bias; cheaper than gathering kernel columns once an edit
        spans more than a few positions."""
        import torch

        vectors = state["vectors"]
        span = op.input_width(width)
        batch, w = old.shape
        # Position of each edited column in the padded input window of its outputs.
        rel = np.asarray(position)[:, None] + np.arange(w) + op.left - a.cpu().numpy()[:, None] \
            * op.stride
        changed = (old != new) & (rel >= 0) & (rel < span)
        b, i = np.nonzero(changed)
        delta = torch.zeros((batch, span, self.n_channels), dtype=self.dtype, device=self.device)
        new_t = torch.as_tensor(new[b, i], device=self.device)
        old_t = torch.as_tensor(old[b, i], device=self.device)
        delta[torch.as_tensor(b, device=self.device), torch.as_tensor(rel[b, i],
                                                                     device=self.device)] = \
            vectors[new_t] - vectors[old_t]
        conv = self._module(self.chain[0])
        change = torch.nn.functional.conv1d(delta.transpose(1, 2), conv.weight, None,
                                            conv.stride, 0, conv.dilation)
        if self._scale is not None:
            change = change * self._scale[:, None]
        return _gather(state["windows"]["first"], seq, a) + change

    def _spliced(self, windows, seq, a, v, op, previous, prev_starts, prev_width):
        """Input windows of a windowed op: the padded reference with the edited window in.

        The edited window of the previous layer sits at a shift from the input window that
        takes few values (at most the stride, plus the sequence ends): rows are grouped by
        shift and each group's window is copied in as one slice.
        """
        import torch

        base = _gather(windows, seq, a)
        shift = (prev_starts + op.left - a * op.stride).cpu().numpy()
        values = np.unique(shift)
        for c in values:
            lo, hi = max(0, int(c)), min(v, int(c) + prev_width)
            if lo >= hi:
                continue
            if len(values) == 1:
                base[:, :, lo:hi] = previous[:, :, lo - c:hi - c]
                continue
            group = torch.as_tensor(np.flatnonzero(shift == c), device=self.device)
            base[group, :, lo:hi] = previous[group, :, lo - c:hi - c]
        return base


def _unfolded(reference, width, step):
    """All windows of ``reference`` (S, C, L), ``width`` wide, ``step`` apart: a contiguous
    tensor (S * n, C, width), window j of sequence i at row i * n + j, and n."""
    windows = reference.unfold(2, width, step)  # (S, C, n, width)
    n = windows.shape[2]
    return windows.permute(0, 2, 1, 3).reshape(-1, reference.shape[1], width), n


def _gather(windows, seq, starts):
    """Windows ``starts[i]`` of sequences ``seq[i]``: (B, C, width), a fresh tensor."""
    table, n = windows
    return table.index_select(0, seq * n + starts)


def fast_edit_scores(adapter, X, sequence, position, new, columns, batch_size,
                     sequences_per_block=8):
    """Scores of edited sequences through :class:`FastISM`, in the adapter's output rule.

    Parameters
    ----------
    adapter : ModelAdapter
        Of a torch module without model_args.
    X : ndarray of shape (n_sequences, C, L)
        Reference sequences, one-hot or all-zero columns.
    sequence, position : ndarray of int of shape (n_edits,)
        Edited sequence and (first) edited position.
    new : ndarray of int of shape (n_edits,) or (n_edits, width)
        New base (C for N) at the position, or at positions ``position + i`` (a
        multi-base substitution; -1: unchanged, for variants shorter than ``width``).
    columns : ndarray of int of shape (n_edits,)
        The output column wanted for each edit.
    batch_size : int or "auto"
        Edits per engine call; "auto" keeps a call's windows near 32 MiB.

    Returns
    -------
    scores : ndarray of shape (n_edits,)

    Raises
    ------
    UnsupportedModel
        If the module is not a supported convolutional stack.
    """
    import torch

    if adapter.module is None or adapter._model_args is not None:
        raise UnsupportedModel("fast ISM needs a torch module without model_args.")
    X = np.asarray(X)
    tokens = np.where(X.sum(axis=1) == 1, X.argmax(axis=1), X.shape[1])
    new = np.asarray(new)
    width = 1 if new.ndim == 1 else new.shape[1]
    if new.ndim == 1:
        old_all = tokens[sequence, position]
    else:
        at = position[:, None] + np.arange(width)
        inside = (at < X.shape[2]) & (new >= 0)
        old_all = tokens[sequence[:, None], np.minimum(at, X.shape[2] - 1)]
        new = np.where(inside, new, old_all)
    out = np.empty(len(position))
    with adapter.inference(), torch.no_grad():
        engine = FastISM(adapter.module, X.shape[1:])
        if batch_size == "auto":
            batch_size = max(16, min(4096, FAST_WORKING_SET // engine.bytes_per_edit(width)))
        binary = np.isin(X, (0, 1)).all() and (X.sum(axis=1) <= 1).all()
        if not binary:
            raise UnsupportedModel("the sequences are not one-hot (fast ISM edits one-hot "
                                   "columns).")
        order = np.argsort(sequence, kind="stable")
        used = np.unique(sequence)
        for b in range(0, len(used), sequences_per_block):
            block = used[b:b + sequences_per_block]
            state = engine.reference(adapter.tensor(X[block]), width)
            mine = order[(sequence[order] >= block[0]) & (sequence[order] <= block[-1])]
            local = np.searchsorted(block, sequence[mine])
            for s in range(0, len(mine), batch_size):
                pick = mine[s:s + batch_size]
                li = local[s:s + batch_size]
                raw = engine.outputs(state, li, position[pick], old_all[pick], new[pick])
                scores = adapter.head(raw).to("cpu", torch.float64).numpy()
                out[pick] = scores[np.arange(len(pick)), columns[pick]]
    return out


def fast_engine_for(adapter, feature_shape, engine):
    """The fast engine for a bound model adapter, or None where full passes run.

    Parameters
    ----------
    adapter : ModelAdapter
    feature_shape : tuple
    engine : {"auto", "fast", "full"}
        "full" gives None; "auto" gives None where the model does not qualify; "fast" raises.

    Raises
    ------
    ValueError
        With ``engine="fast"``, if the input is not (n, C, L), the model is not a torch
        module called without model_args, or its locality cannot be proven (the message of
        :class:`UnsupportedModel` names the layer).
    """
    return fast_or_none(engine, lambda: fast_engine_of(adapter, feature_shape))


def fast_engine_of(adapter, feature_shape):
    """:class:`FastISM` of a bound model adapter; :class:`UnsupportedModel` where the input
    is not (n, C, L), the model is not a torch module called without model_args, or its
    locality cannot be proven."""
    if len(feature_shape) != 2:
        raise UnsupportedModel(
            f"it needs sequences of shape (n_samples, n_channels, length), got feature "
            f"shape {tuple(feature_shape)}."
        )
    if adapter.module is None or adapter._model_args is not None:
        raise UnsupportedModel(
            "it needs a torch module (or skorch net) called without model_args, got "
            f"a {type(adapter.model).__name__}"
            f"{'' if adapter.module is None else ' with model_args'}."
        )
    with adapter.inference():
        return FastISM(adapter.module, feature_shape)


def vocabulary(grid, *extra):
    """Distinct input columns of sequences and of extra column arrays, as tokens.

    Parameters
    ----------
    grid : ndarray of shape (n, C, L)
        Sequences, float32 values: one-hot (then the vocabulary is the C bases and N),
        or any columns (each distinct column is a token).
    *extra : ndarray of shape (C, L)
        Further columns an edit may put in (a baseline).

    Returns
    -------
    vectors : ndarray of shape (n_tokens, C)
        The distinct columns (for one-hot input: the C bases, then an all-zero column).
    tokens : ndarray of int of shape (n, L)
        Token of every column of ``grid``.
    extra_tokens : list of ndarray of int of shape (L,)
    """
    n, C, L = grid.shape
    one_hot = bool(np.isin(grid, (0, 1)).all() and (grid.sum(axis=1) <= 1).all())
    if one_hot:
        vectors = np.vstack([np.eye(C), np.zeros((1, C))]).astype(np.float32)
        tokens = np.where(grid.sum(axis=1) == 1, grid.argmax(axis=1), C)
    else:
        vectors, inverse = np.unique(grid.transpose(0, 2, 1).reshape(-1, C), axis=0,
                                     return_inverse=True)
        tokens = inverse.reshape(n, L)
    extra_tokens = []
    for columns in extra:
        new, inverse = np.unique(np.asarray(columns, dtype=np.float32).T, axis=0,
                                 return_inverse=True)
        # Columns already in the vocabulary keep their token.
        match = (new[:, None, :] == vectors[None]).all(axis=2)
        known = match.any(axis=1)
        index = np.where(known, match.argmax(axis=1), len(vectors) + np.cumsum(~known) - 1)
        vectors = np.vstack([vectors, new[~known]])
        extra_tokens.append(index[inverse.ravel()])
    return vectors, tokens.astype(np.int64), extra_tokens


def window_edit_scores(adapter, grid, tokens, vectors, target, starts, stops, replacement,
                       batch_size):
    """Target scores of sequences with windows of positions replaced, through :class:`FastISM`.

    Each sequence is computed on its own (its reference, then its edits in batches of
    ``batch_size``), so its values do not depend on the other sequences given: identical for
    any split into tasks.

    Parameters
    ----------
    adapter : ModelAdapter
        Of a torch module without model_args.
    grid : ndarray of shape (n, C, L)
        The sequences (float32).
    tokens : ndarray of int of shape (n, L)
        Their tokens in ``vectors`` (:func:`vocabulary`).
    vectors : ndarray of shape (n_tokens, C)
    target : ndarray of int of shape (n,)
        Output column of each sequence.
    starts, stops : ndarray of int of shape (n_edits,)
        Edited window ``[start, stop)`` of every edit (the same edits for every sequence).
    replacement : ndarray of int of shape (L,) or (n, n_edits, width)
        What a window becomes: the tokens of a baseline at every position (the same for
        every sequence), or for each sequence and edit the positions of the sequence whose
        columns fill the window (a shuffle: a permutation of the window's positions; the
        entries beyond a cut window are ignored).
    batch_size : int
        Edits per engine call.

    Returns
    -------
    scores : ndarray of shape (n, 1 + n_edits)
        The sequence's own score (a full forward pass), then the score of every edit.
    """
    import torch

    n, C, L = grid.shape
    width = int((stops - starts).max())
    positions = starts[:, None] + np.arange(width)
    inside = positions < stops[:, None]
    positions = np.minimum(positions, L - 1)
    zero = np.zeros(len(starts), dtype=np.int64)
    scores = np.empty((n, 1 + len(starts)))
    with adapter.inference(), torch.no_grad():
        engine = FastISM(adapter.module, (C, L))
        vocab = engine.tokens(vectors)
        for i in range(n):
            x = adapter.tensor(grid[i:i + 1])
            scores[i, 0] = adapter.forward(x).to("cpu", torch.float64).numpy()[0, target[i]]
            state = engine.reference(x, width, vocab)
            # Beyond a cut window both tokens are 0: their difference is exactly zero.
            old = np.where(inside, tokens[i][positions], 0)
            if replacement.ndim == 1:
                new = replacement[positions]
            else:
                new = tokens[i][np.where(inside, replacement[i], 0)]
            new = np.where(inside, new, 0)
            for s in range(0, len(starts), batch_size):
                stop = min(s + batch_size, len(starts))
                raw = engine.outputs(state, zero[s:stop], starts[s:stop], old[s:stop],
                                     new[s:stop])
                scores[i, 1 + s:1 + stop] = adapter.head(raw).to(
                    "cpu", torch.float64).numpy()[:, target[i]]
    return scores


def activation_bytes(module, feature_shape):
    """Bytes of the distinct outputs of the leaf modules in a forward pass of one zero row
    (an output that is its input, as dropout in eval mode returns, counts once)."""
    import torch

    param = next(module.parameters(), None)
    dtype = torch.float32 if param is None else param.dtype
    device = torch.device("cpu") if param is None else param.device
    total, seen, kept = [0], set(), []

    def hook(_module, _inputs, output):
        for value in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(value, torch.Tensor) and value.data_ptr() not in seen:
                seen.add(value.data_ptr())
                kept.append(value)  # held, so that no later output reuses its memory
                total[0] += value.numel() * value.element_size()

    leaves = [m for m in module.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with torch.no_grad():
            module(torch.zeros((1,) + tuple(feature_shape), dtype=dtype, device=device))
    finally:
        for handle in handles:
            handle.remove()
    return total[0]
