"""Tests of skexplain.sequences: in silico edits, marginalisation and variant effects."""

import numpy as np

ALPHABET = "ACGT"


def encode(sequences):
    """One-hot (n, 4, L) float64 of equal-length strings; N is an all-zero column."""
    out = np.zeros((len(sequences), 4, len(sequences[0])))
    for i, sequence in enumerate(sequences):
        for j, char in enumerate(sequence):
            if char != "N":
                out[i, ALPHABET.index(char), j] = 1.0
    return out


def decode(X):
    """Strings of one-hot sequences (n, 4, L); an all-zero column is N."""
    X = np.asarray(X)
    tokens = np.where(X.sum(axis=1) == 1, X.argmax(axis=1), 4)
    return ["".join((ALPHABET + "N")[t] for t in row) for row in tokens]
