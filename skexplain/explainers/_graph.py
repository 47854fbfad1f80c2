"""Reading a torch module's graph (``torch.fx``) for the engines that skip work: fastISM
(:mod:`._fast_ism`) and the first-Linear walks of SensX (:mod:`._first_linear`)."""

__all__ = ["UnsupportedModel", "describe_node", "fast_or_none", "flatten_user",
           "subgraph_after", "trace_one_input"]


class UnsupportedModel(ValueError):
    """The module's locality cannot be proven; the message says which part and why."""


def fast_or_none(engine, build):
    """``build()`` for ``engine="fast"`` or ``"auto"``; None for ``"full"``, and for
    ``"auto"`` where ``build`` raises :class:`UnsupportedModel`.

    Raises
    ------
    ValueError
        With ``engine="fast"``, where ``build`` raises :class:`UnsupportedModel` (its
        message says why).
    """
    if engine == "full":
        return None
    try:
        return build()
    except UnsupportedModel as error:
        if engine == "fast":
            raise ValueError(f"engine='fast' cannot run on this model: {error}") from error
        return None


def trace_one_input(module):
    """``torch.fx`` trace of a module, its nodes and its one input (placeholder) node.

    Raises
    ------
    UnsupportedModel
        If the module cannot be traced or its forward takes more than one input.
    """
    from torch import fx

    try:
        traced = fx.symbolic_trace(module)
    except Exception as error:  # noqa: BLE001 - any tracing failure means "not provable"
        raise UnsupportedModel(
            f"{type(module).__name__} cannot be traced by torch.fx ({type(error).__name__}:"
            f" {error})."
        ) from error
    nodes = list(traced.graph.nodes)
    inputs = [n for n in nodes if n.op == "placeholder"]
    if len(inputs) != 1:
        raise UnsupportedModel(
            f"{type(module).__name__}.forward takes {len(inputs)} inputs; one is needed."
        )
    return traced, nodes, inputs[0]


def flatten_user(traced, node):
    """The one user of ``node`` if it flattens all but the batch axis, else None."""
    import torch
    from torch import nn

    users = list(node.users)
    if len(users) != 1:
        return None
    user = users[0]
    if user.op == "call_module":
        m = traced.get_submodule(user.target)
        return user if isinstance(m, nn.Flatten) and m.start_dim == 1 and m.end_dim == -1 \
            else None
    args = list(user.args) + list(user.kwargs.values())
    if user.op == "call_function" and user.target is torch.flatten and args[1:] == [1]:
        return user
    if user.op == "call_method" and user.target == "flatten" and args[1:] == [1]:
        return user
    return None


def describe_node(traced, node):
    """A node of a traced module as error messages name it: its submodule's path and class."""
    if node is None:
        return "none"
    if node.op == "call_module":
        return f"{node.target} ({type(traced.get_submodule(node.target)).__name__})"
    return f"{node.op} {getattr(node.target, '__name__', node.target)}"


def subgraph_after(traced, after, start):
    """A GraphModule computing ``traced``'s output from the value of node ``start``.

    Parameters
    ----------
    traced : torch.fx.GraphModule
    after : list of torch.fx.Node
        The nodes from ``start`` (or just after it) to the output, in graph order.
    start : torch.fx.Node
        The node whose value becomes the new module's one input.

    Raises
    ------
    UnsupportedModel
        If a node after ``start`` reads an earlier value (a residual branch).
    """
    from torch import fx

    graph = fx.Graph()
    env = {start: graph.placeholder("h")}
    begin = after.index(start) + 1 if start in after else 0
    for node in after[begin:]:
        read = []
        fx.node.map_arg((node.args, node.kwargs), read.append)
        missing = [n for n in read if n not in env]
        if missing:
            raise UnsupportedModel(
                f"{describe_node(traced, node)} reads {describe_node(traced, missing[0])}, an "
                "activation before the first global layer (a residual branch?)."
            )
        env[node] = graph.node_copy(node, lambda n: env[n])
    return fx.GraphModule(traced, graph)
