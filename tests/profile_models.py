"""A small BPNet-style model: a profile head, a counts head and a control track input.

BPNet, ChromBPNet and Borzoi-style models return a profile (batch, tracks, length), often
with a total-count head beside it, and take a control track as an extra forward input.
Explainers reach them through ``output=callable`` (reducing the raw output) and
``model_args=`` (the control track, one row per explained sequence).
"""

import numpy as np
import torch
from torch import nn


class TinyBPNet(nn.Module):
    """forward(x, control) -> (profile logits (batch, 2, L), log counts (batch, 1))."""

    def __init__(self, length=20, n_filters=4, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv1d(4, n_filters, 5, padding=2)
        self.profile = nn.Conv1d(n_filters + 1, 2, 3, padding=1)
        self.counts = nn.Linear(n_filters + 1, 1)
        self.length = length

    def forward(self, x, control):
        h = torch.relu(self.conv(x))
        h = torch.cat([h, control[:, None, :]], dim=1)
        return self.profile(h), self.counts(h.mean(dim=2))


def profile_sum(output):
    """Sum of the profile logits of both strands: one score per sequence (batch,)."""
    profile, _ = output
    return profile.sum(dim=(1, 2))


def counts_head(output):
    """The log-counts head (batch, 1)."""
    return output[1]


def sequences_and_controls(n=6, length=20, seed=0):
    """One-hot sequences (n, 4, length) and control tracks (n, length), float32."""
    rng = np.random.default_rng(seed)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1)
    control = rng.random((n, length)).astype(np.float32)
    return np.ascontiguousarray(X), control


def reference_scores(model, X, control, output):
    """What the explained score of each sequence is, computed directly."""
    with torch.no_grad():
        scores = output(model(torch.as_tensor(X), torch.as_tensor(control)))
    return scores.reshape(len(X), -1).double().numpy()
