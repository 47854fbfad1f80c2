"""Class activation maps of conv layers: Grad-CAM, Grad-CAM++ and CAM."""


import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils._param_validation import StrOptions
from torch import nn

from .._core.compute import torch_batches
from .._core.model import check_finite
from ..nn import default_layer
from ._gradient import COMMON_PARAMETERS, FITTED_ATTRIBUTES, TorchExplainer
from ._network import captured_output

CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
GLOBAL_AVERAGE_POOLS = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)
INTERPOLATION = {("linear", 1): "linear", ("linear", 2): "bilinear", ("linear", 3): "trilinear"}

MAP_PARAMETERS = """    interpolation : {"linear", "nearest"}, default="linear"
        How the layer's map is stretched back to the input positions (torch's
        ``interpolate``, ``align_corners=False``); receptive-field offsets of "valid"
        convolutions are not corrected."""

MAP_NOTES = """    Values have shape (n_samples, *spatial_shape): one score per input position (the
    channel axis, axis 1 of X, is summed out); ``feature_names`` are ``pos0, pos1, ...``
    and ``info["layer_map"]`` holds the maps at the layer's own resolution. Needs input of
    shape (n_samples, n_channels, *spatial_shape)."""


class _ActivationMapExplainer(TorchExplainer):
    """Base of the class-activation-map family: one map over input positions per instance."""

    _parameter_constraints = {
        **TorchExplainer._parameter_constraints,
        "interpolation": [StrOptions({"linear", "nearest"})],
    }

    def __init__(self, model=None, *, interpolation="linear", output="auto", batch_size="auto",
                 device=None):
        super().__init__(model, output=output, batch_size=batch_size, device=device)
        self.interpolation = interpolation

    def _fit_method(self, X):
        if len(self.feature_shape_) < 2:
            raise ValueError(
                f"{type(self).__name__} maps positions, so it needs input of shape "
                "(n_samples, n_channels, *positions); the data has feature shape "
                f"{self.feature_shape_}."
            )
        self.layer_name_ = self._resolve_layer()

    def _resolve_layer(self):
        """Name of the module whose feature maps are explained."""
        raise NotImplementedError

    def _feature_groups(self):
        spatial = int(np.prod(self.feature_shape_[1:]))
        positions = np.arange(self.n_features_in_).reshape(self.feature_shape_[0], spatial)
        return list(positions.T)

    def _feature_names_out(self):
        return np.asarray(
            ["pos" + "_".join(map(str, idx)) for idx in np.ndindex(*self.feature_shape_[1:])],
            dtype=object,
        )

    def _attribute(self, X, target):
        def step(x, part_target, owner):
            layer_map = self._layer_map(x, part_target, owner)
            return layer_map, self._upsample(layer_map)

        maps, upsampled = torch_batches(
            step, [self._tensor(X), target, self._owners(np.arange(len(X)))],
            self._rows_per_pass,
        )
        info = {"method": self._method_name, "axes": ("sample", "position"),
                "layer": self.layer_name_, "layer_map": maps.to("cpu", torch.float64).numpy()}
        return upsampled.to("cpu", torch.float64).numpy(), info

    def _upsample(self, layer_map):
        spatial = self.feature_shape_[1:]
        if tuple(layer_map.shape[1:]) == spatial:
            return layer_map
        mode = INTERPOLATION.get((self.interpolation, len(spatial)), self.interpolation)
        kwargs = {} if mode == "nearest" else {"align_corners": False}
        return F.interpolate(layer_map[:, None], size=spatial, mode=mode, **kwargs)[:, 0]

    def _layer_map(self, x, target, owner):
        raise NotImplementedError

    def _activations_and_gradients(self, x, target, owner):
        """The layer's output A and the gradient of the target score with respect to A.

        The input takes part in the graph, so that A has a gradient even when the layer and
        everything before it are frozen (``requires_grad=False``).
        """
        x = x.detach().requires_grad_(True)
        with torch.enable_grad(), captured_output(self._layer()) as captured:
            scores = self._scores(x, owner)
            activations = captured[0]
            (grads,) = torch.autograd.grad(scores.gather(1, target[:, None]).sum(), activations)
        return activations.detach(), grads

    def _layer(self):
        return self.torch_module_.get_submodule(self.layer_name_)


class GradCAM(_ActivationMapExplainer):
    __doc__ = f"""Grad-CAM: a conv layer's feature maps weighted by their mean gradient.

    ``map(l) = ReLU(sum_c w_c A_c(l))`` with ``w_c`` the gradient of the explained score with
    respect to feature map ``A_c``, averaged over the layer's positions; the map is then
    stretched to the input positions.

{MAP_NOTES}

    Parameters
    ----------
{COMMON_PARAMETERS}
    layer : str, torch.nn.Module or None, default=None
        The conv layer (a module name as in ``named_modules()``, or the module); None takes
        the layer registered for the model's class (:func:`skexplain.nn.register_default_layer`;
        the last block's activation of an :class:`~skexplain.models.ExpActivationCNN`), or
        else the last convolution. Frozen layers (``requires_grad=False``) work.
{MAP_PARAMETERS}
    relu : bool, default=True
        Keep only positive evidence (the paper's ReLU); False returns the signed map.

    Attributes
    ----------
{FITTED_ATTRIBUTES}
    layer_name_ : str
        Name of the explained layer.

    References
    ----------
    Selvaraju et al., "Grad-CAM: visual explanations from deep networks via gradient-based
    localization", ICCV (2017).
    """

    _method_name = "gradcam"
    _parameter_constraints = {
        **_ActivationMapExplainer._parameter_constraints,
        "layer": [str, nn.Module, None],
        "relu": ["boolean"],
    }

    def __init__(self, model=None, *, layer=None, interpolation="linear", relu=True,
                 output="auto", batch_size="auto", device=None):
        super().__init__(model, interpolation=interpolation, output=output,
                         batch_size=batch_size, device=device)
        self.layer = layer
        self.relu = relu

    def _resolve_layer(self):
        module = self.torch_module_
        names = {m: name for name, m in module.named_modules()}
        if isinstance(self.layer, str):
            try:
                module.get_submodule(self.layer)
            except AttributeError:
                raise ValueError(
                    f"The model has no layer {self.layer!r}; layers: {sorted(names.values())}."
                ) from None
            return self.layer
        if isinstance(self.layer, nn.Module):
            if self.layer not in names:
                raise ValueError("layer is not a submodule of the explained model.")
            return names[self.layer]
        registered = default_layer(module)
        if registered is not None:
            return registered
        convs = [name for name, m in module.named_modules() if isinstance(m, CONVS)]
        if not convs:
            raise ValueError(
                f"{type(self).__name__} needs a convolutional layer, and the model has none; "
                "pass layer= the name of a module whose output is (batch, channels, *positions)."
            )
        return convs[-1]

    def _layer_map(self, x, target, owner):
        activations, grads = self._activations_and_gradients(x, target, owner)
        weights = self._channel_weights(activations, grads)
        layer_map = (weights.view(weights.shape + (1,) * (activations.ndim - 2))
                     * activations).sum(1)
        return torch.relu(layer_map) if self.relu else layer_map

    def _channel_weights(self, activations, grads):
        return grads.flatten(2).mean(2)


class GradCAMPlusPlus(GradCAM):
    __doc__ = f"""Grad-CAM++: Grad-CAM with position-wise weights of the positive gradients.

    ``w_c = sum_l a_c(l) ReLU(g_c(l))`` with ``a_c(l) = g^2 / (2 g^2 + sum_l' A_c(l') g^3)``
    at each position (g the gradient of the score with respect to ``A_c(l)``; the closed form
    of Chattopadhyay et al. for an exponential of the score), then as :class:`GradCAM`.

{MAP_NOTES}

    Parameters
    ----------
{COMMON_PARAMETERS}
    layer : str, torch.nn.Module or None, default=None
        See :class:`GradCAM`.
{MAP_PARAMETERS}
    relu : bool, default=True
        Keep only positive evidence.

    Attributes
    ----------
{FITTED_ATTRIBUTES}
    layer_name_ : str

    References
    ----------
    Chattopadhyay, Sarkar, Howlader & Balasubramanian, "Grad-CAM++: generalized gradient-based
    visual explanations for deep convolutional networks", WACV (2018).
    """

    _method_name = "gradcam_plus_plus"

    def _channel_weights(self, activations, grads):
        g2 = grads.pow(2)
        totals = activations.flatten(2).sum(2).view(grads.shape[:2] + (1,) * (grads.ndim - 2))
        denominator = 2 * g2 + totals * g2 * grads
        alpha = torch.where(denominator != 0, g2 / torch.where(denominator != 0, denominator,
                                                                1.0), 0.0)
        return (alpha * torch.relu(grads)).flatten(2).sum(2)


class CAM(_ActivationMapExplainer):
    __doc__ = f"""Class activation map of a model with a global-average-pooled linear head.

    For ``f_k(x) = sum_c W_kc mean_l A_c(l) + b_k`` (A the input of the global average pool),
    ``CAM_k(l) = sum_c W_kc A_c(l) + b_k``, whose mean over the layer's positions is the logit
    ``f_k(x)``. ``fit`` checks that the model has this form (an
    ``AdaptiveAvgPool`` to size 1 feeding the last ``nn.Linear``) and raises ValueError
    otherwise; use :class:`GradCAM` then.

{MAP_NOTES}

    Parameters
    ----------
{COMMON_PARAMETERS}
        CAM explains logits only: ``"auto"`` (a torch model's logits) or ``"logit"``;
        any other output raises ValueError in ``fit``.
{MAP_PARAMETERS}

    Attributes
    ----------
{FITTED_ATTRIBUTES}
    layer_name_ : str
        Name of the global average pooling module whose input is mapped.

    References
    ----------
    Zhou, Khosla, Lapedriza, Oliva & Torralba, "Learning deep features for discriminative
    localization", CVPR (2016).
    """

    _method_name = "cam"

    def _fit_method(self, X):
        if not self.model_adapter_.head_is_linear:
            raise ValueError(
                "CAM explains logits only (the maps average to the logit): use "
                f"output='auto' or 'logit'; got output={self.output!r}, which explains the "
                f"{self.model_adapter_.describe()}. Use GradCAM for other outputs."
            )
        super()._fit_method(X)
        sample = np.asarray(X[:8].toarray() if hasattr(X, "toarray") else X[:8])
        sample = self._tensor(sample.reshape((-1,) + self.feature_shape_))
        with self.model_adapter_.inference(), torch.no_grad():
            raw, pooled_input = self._raw_and_pooled_input(sample)
            head = self._head_layer()
            reconstructed = head(pooled_input.flatten(2).mean(2))
        check_finite(raw.cpu().numpy(), "scores", type(self).__name__, self.model)
        if raw.shape != reconstructed.shape or not torch.allclose(
            raw, reconstructed, rtol=1e-4, atol=1e-5
        ):
            raise ValueError(
                "CAM needs a model whose output is its last nn.Linear applied to the global "
                f"average of the feature maps entering {self.layer_name_!r}; this model's "
                "output is not. Use GradCAM instead."
            )

    def _resolve_layer(self):
        pools = [name for name, m in self.torch_module_.named_modules()
                 if isinstance(m, GLOBAL_AVERAGE_POOLS) and _is_global(m.output_size)]
        if not pools:
            raise ValueError(
                "CAM needs a global-average-pooled head (an nn.AdaptiveAvgPool to output size "
                "1 before the last nn.Linear); this model has none. Use GradCAM instead."
            )
        return pools[-1]

    def _head_layer(self):
        linears = [m for m in self.torch_module_.modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise ValueError("CAM needs a final nn.Linear layer; the model has none.")
        return linears[-1]

    def _raw_and_pooled_input(self, x):
        captured = []
        handle = self._layer().register_forward_hook(
            lambda _m, args, _output: captured.append(args[0])
        )
        try:
            raw = self.torch_module_(x)
        finally:
            handle.remove()
        return raw, captured[0]

    def _layer_map(self, x, target, owner):
        captured = []
        handle = self._layer().register_forward_hook(
            lambda _m, args, _output: captured.append(args[0])
        )
        try:
            with torch.no_grad():
                self._scores(x, owner)
        finally:
            handle.remove()
        with torch.no_grad():
            head = self._head_layer()
            raw_maps = torch.einsum("kc,nc...->n...k", head.weight, captured[0])
            if head.bias is not None:
                raw_maps = raw_maps + head.bias
            score_maps = self.score_function_.head(raw_maps.reshape(-1, raw_maps.shape[-1]))
            score_maps = score_maps.view(raw_maps.shape[:-1] + score_maps.shape[-1:])
            index = target.view((-1,) + (1,) * (score_maps.ndim - 1)).expand(
                score_maps.shape[:-1] + (1,))
            return score_maps.gather(-1, index)[..., 0]


def _is_global(output_size):
    sizes = output_size if isinstance(output_size, tuple) else (output_size,)
    return all(s == 1 for s in sizes)
