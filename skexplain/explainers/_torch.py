"""The torch side of gradient explainers: the module, its output head and how it is run."""

import copy
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from .._model import _is_skorch_net, _is_torch_module


def resolve_torch_module(model, explainer_name):
    """The torch module of a skorch net or an ``nn.Module``.

    Raises
    ------
    TypeError
        If the model is neither (a scikit-learn estimator or plain callable).
    ValueError
        If a skorch net is not initialized.
    """
    if _is_torch_module(model):
        return model
    if _is_skorch_net(model):
        module = getattr(model, "module_", None)
        if not isinstance(module, nn.Module):
            raise ValueError(
                f"The skorch net given to {explainer_name} is not fitted (it has no module_)."
            )
        return module
    raise TypeError(
        f"{explainer_name} needs gradients, so a torch model: a fitted skorch net or a "
        f"torch.nn.Module, got a {type(model).__name__}. To explain a scikit-learn model or "
        "a plain callable, use a model-agnostic explainer such as SensXExplainer or a "
        "perturbation method (occlusion, in silico mutagenesis, KernelSHAP)."
    )


class OutputHead:
    """Map a module's raw outputs (m, K_raw) to the explained scores (m, K), in torch.

    ``"logits"`` are the raw outputs, except for a binary skorch classifier with one output
    logit z, whose two columns are ``(-z, z)``: the log-odds of class 0 and of class 1.
    ``"probabilities"`` follow the model's ``predict_proba``: ``(sigmoid(-z), sigmoid(z))``
    for that binary case, a sigmoid per output for multi-label nets (``BCEWithLogitsLoss``),
    otherwise the skorch net's predict nonlinearity (softmax for ``CrossEntropyLoss``); a plain
    ``nn.Module`` gets a sigmoid when it has one output and a softmax otherwise. A callable
    ``output`` is applied to the raw outputs as it is.
    """

    def __init__(self, output, n_raw, net=None):
        self.output = output
        classes = getattr(net, "classes_", None) if net is not None else None
        self.binary = classes is not None and len(classes) == 2 and n_raw == 1
        self.activation = None
        if output == "probabilities":
            self.activation = _probability_activation(net, n_raw, self.binary)

    @property
    def linear(self):
        """Whether the head is linear (so DeepLIFT and CAM can pass through it exactly)."""
        return self.output == "logits"

    def __call__(self, raw):
        if callable(self.output):
            scores = self.output(raw)
            return scores[:, None] if scores.ndim == 1 else scores
        if self.binary:
            raw = torch.cat([-raw, raw], dim=1)
        if self.activation is None:
            return raw
        if self.activation == "sigmoid":
            return torch.sigmoid(raw)
        if self.activation == "softmax":
            return torch.softmax(raw, dim=1)
        return self.activation(raw)


def _probability_activation(net, n_raw, binary):
    if binary:
        return "sigmoid"
    if net is None:
        return "sigmoid" if n_raw == 1 else "softmax"
    if isinstance(getattr(net, "criterion_", None), nn.BCEWithLogitsLoss):
        return "sigmoid"
    return net._get_predict_nonlinearity()


def module_device(module):
    param = next(module.parameters(), None)
    if param is None:
        return torch.device("cpu"), torch.float32
    return param.device, param.dtype


def place_module(module, device):
    """The module on ``device`` (a deep copy when it lives elsewhere), with its dtype."""
    current, dtype = module_device(module)
    if device is None or torch.device(device) == current:
        return module, current, dtype
    return copy.deepcopy(module).to(device), torch.device(device), dtype


@contextmanager
def inference_mode(module):
    """Run in eval mode with in-place activations switched off; restore both afterwards.

    Explanations of a module in training mode would depend on dropout draws and batch
    statistics; in-place activations overwrite the inputs the DeepLIFT hooks read.
    """
    training = {m: m.training for m in module.modules()}
    inplace = {m: m.inplace for m in module.modules() if getattr(m, "inplace", False) is True}
    module.eval()
    for m in inplace:
        m.inplace = False
    try:
        yield
    finally:
        for m, flag in training.items():
            m.train(flag)
        for m in inplace:
            m.inplace = True


def numpy_scores(module, head, X, batch_size, device, dtype):
    """Explained scores of numpy rows X (m, *shape): float64 ndarray (m, K)."""
    out = []
    with torch.no_grad():
        for start in range(0, len(X), batch_size):
            rows = torch.as_tensor(X[start:start + batch_size], dtype=dtype, device=device)
            out.append(head(module(rows)).to("cpu", torch.float64).numpy())
    return np.concatenate(out)
