"""A small multi-label planted-motif task and a CNN trained on it, shared by several tests."""

import functools

import numpy as np

MOTIFS = ("CACGTGAC", "GGGGCGGGG", "TTATCTAAT")  # class k is "sequence holds MOTIFS[k]"
LENGTH = 100
ARCHITECTURE = [
    {"filters": 16, "kernel_size": 11, "dropout": 0.1, "pool": 4},
    {"filters": 16, "kernel_size": 5, "dropout": 0.1, "pool": 5},
]


def one_hot(sequence):
    return np.eye(4)[["ACGT".index(c) for c in sequence]].T


def random_sequences(n, length=LENGTH, seed=0):
    rng = np.random.default_rng(seed)
    return np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1).copy()


def insert_at_random(X, motif, seed):
    """A copy of X with ``motif`` at one random position of every sequence."""
    rng = np.random.default_rng(seed)
    X = X.copy()
    for i, start in enumerate(rng.integers(0, X.shape[2] - len(motif) + 1, len(X))):
        X[i, :, start:start + len(motif)] = one_hot(motif)
    return X


def planted_task(n=2000, seed=0):
    """Random DNA; each motif is planted (without overlaps) with probability 0.4."""
    rng = np.random.default_rng(seed)
    X = random_sequences(n, seed=seed + 1)
    Y = (rng.random((n, len(MOTIFS))) < 0.4).astype(int)
    for i in range(n):
        free = np.ones(LENGTH, dtype=bool)
        for k in np.flatnonzero(Y[i]):
            width = len(MOTIFS[k])
            starts = [s for s in range(LENGTH - width + 1) if free[s:s + width].all()]
            start = rng.choice(starts)
            X[i, :, start:start + width] = one_hot(MOTIFS[k])
            free[start:start + width] = False
    return X, Y


@functools.cache
def trained_classifier():
    """An ExpActivationCNNClassifier fitted on the planted task (about 3 s on 2 cores)."""
    from skexplain.models import ExpActivationCNNClassifier

    X, Y = planted_task()
    net = ExpActivationCNNClassifier(
        architecture=ARCHITECTURE, module__dense_units=32, max_epochs=8, lr=3e-3,
        random_state=0, verbose=0,
    )
    return net.fit(X, Y)
