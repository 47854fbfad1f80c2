"""Default explained layer of a model class (for class-activation maps)."""

_DEFAULT_LAYERS = {}


def register_default_layer(module_type, layer_of):
    """Register the layer that explainers such as GradCAM read by default for a model class.

    Parameters
    ----------
    module_type : type
        A ``torch.nn.Module`` subclass; its subclasses inherit the entry.
    layer_of : callable
        ``layer_of(module) -> str``: the name (as in ``named_modules()``) of the layer whose
        feature maps are explained for that module instance.
    """
    if not isinstance(module_type, type):
        raise TypeError(f"module_type must be a class, got {module_type!r}.")
    if not callable(layer_of):
        raise TypeError("layer_of must be a callable module -> layer name.")
    _DEFAULT_LAYERS[module_type] = layer_of


def default_layer(module):
    """The registered default layer name of ``module`` (most specific class first), or None."""
    for cls in type(module).__mro__:
        layer_of = _DEFAULT_LAYERS.get(cls)
        if layer_of is not None:
            return layer_of(module)
    return None
