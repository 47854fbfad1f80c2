import gzip
import pickle

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_set_params,
)

from skexplain.preprocessing import OneHotSequenceEncoder, read_fasta


def random_sequences(n, length, seed=0):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), size=length)) for _ in range(n)]


def test_known_encoding():
    X = OneHotSequenceEncoder().fit_transform(["ACGTA"])
    expected = np.array(
        [[1, 0, 0, 0, 1], [0, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0]], dtype=np.float32
    )
    assert X.dtype == np.float32
    assert X.flags["C_CONTIGUOUS"]
    assert_array_equal(X, expected[None])


@pytest.mark.parametrize(
    "container", [list, tuple, np.array, pd.Series], ids=["list", "tuple", "array", "series"]
)
def test_round_trip_and_containers(container):
    sequences = random_sequences(20, 30)
    encoder = OneHotSequenceEncoder()
    X = encoder.fit_transform(container(sequences))
    assert X.shape == (20, 4, 30)
    assert encoder.length_ == 30
    assert_array_equal(X.sum(axis=1), 1.0)
    assert list(encoder.inverse_transform(X)) == sequences


def test_case_insensitive():
    encoder = OneHotSequenceEncoder().fit(["ACGTN"])
    assert_array_equal(encoder.transform(["acgtn"]), encoder.transform(["ACGTN"]))


@pytest.mark.parametrize("code", list("NRYSWKMBDHVnrysw"))
def test_ambiguity_codes_uniform(code):
    encoder = OneHotSequenceEncoder()
    X = encoder.fit_transform([f"A{code}T"])
    assert_array_equal(X[0, :, 1], 0.25)
    assert encoder.inverse_transform(X)[0] == "ANT"


def test_ambiguity_codes_error_names_sequence_and_character():
    encoder = OneHotSequenceEncoder(unknown="error")
    with pytest.raises(ValueError, match=r"Sequence 1 .*'R' at position 2"):
        encoder.fit(["ACGT", "ACRT"])


@pytest.mark.parametrize(
    "bad, shown", [("ACXT", "'X'"), ("AC-T", "'-'"), ("AC T", "' '"), ("ACÅT", "'Å'")]
)
def test_invalid_characters_raise_for_any_unknown_setting(bad, shown):
    for unknown in ("uniform", "error"):
        with pytest.raises(ValueError, match=rf"Sequence 1 .*{shown} at position 2"):
            OneHotSequenceEncoder(unknown=unknown).fit(["ACGT", bad])


def test_ragged_without_length_raises():
    with pytest.raises(ValueError, match="differ in length.*sequence 1 has 3"):
        OneHotSequenceEncoder().fit(["ACGT", "ACG"])


def test_transform_length_must_match_fit_without_length():
    encoder = OneHotSequenceEncoder().fit(["ACGT"])
    with pytest.raises(ValueError, match="fitted on sequences of length 4"):
        encoder.transform(["ACGTA"])


@pytest.mark.parametrize(
    "padding, expected",
    [("right", "AC......"), ("center", "...AC...")],
)
def test_padding(padding, expected):
    encoder = OneHotSequenceEncoder(length=8, padding=padding)
    X = encoder.fit_transform(["AC", "ACGTACGT"])
    assert X.shape == (2, 4, 8)
    is_padding = X[0].sum(axis=0) == 0
    assert_array_equal(is_padding, [c == "." for c in expected])
    assert_array_equal(X[0][:, ~is_padding], encoder.transform(["AC"])[0][:, ~is_padding])
    assert list(encoder.inverse_transform(X)) == ["AC", "ACGTACGT"]


def test_center_padding_odd_gap():
    X = OneHotSequenceEncoder(length=6, padding="center").fit_transform(["ACG"])
    # (6 - 3) // 2 == 1 zero column on the left, 2 on the right.
    assert_array_equal(X[0].sum(axis=0), [0, 1, 1, 1, 0, 0])


def test_longer_than_length_raises():
    encoder = OneHotSequenceEncoder(length=3)
    with pytest.raises(ValueError, match="Sequence 1 has 4 nucleotides.*longer than length=3"):
        encoder.fit(["ACG", "ACGT"])
    encoder.fit(["AC"])
    with pytest.raises(ValueError, match="longer than length=3"):
        encoder.transform(["ACGT"])


@pytest.mark.parametrize(
    "X, message",
    [
        ("ACGT", "single string"),
        ([], "at least one sequence"),
        (["ACGT", ""], "Sequence 1 is empty"),
        (["ACGT", 3], "Sequence 1 is of type int"),
        (np.array([["ACGT"]]), "1-D"),
    ],
)
def test_bad_input(X, message):
    with pytest.raises(ValueError, match=message):
        OneHotSequenceEncoder().fit(X)


@pytest.mark.parametrize(
    "params", [{"length": 0}, {"padding": "left"}, {"unknown": "skip"}, {"length": 2.5}]
)
def test_bad_params(params):
    with pytest.raises(ValueError):
        OneHotSequenceEncoder(**params).fit(["ACGT"])


def test_unfitted_raises():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        OneHotSequenceEncoder().transform(["ACGT"])


def test_inverse_transform_rules():
    encoder = OneHotSequenceEncoder().fit(["A"])
    X = np.zeros((1, 4, 5), dtype=np.float32)
    X[0, :, 0] = [0.1, 0.7, 0.1, 0.1]  # argmax -> C
    X[0, :, 2] = 0.25  # uniform -> N
    X[0, :, 3] = [0.0, 0.0, 0.0, 2.0]  # argmax -> T; columns 1 and 4 are padding
    assert encoder.inverse_transform(X)[0] == "CNT"
    with pytest.raises(ValueError, match=r"\(n_sequences, 4, length\)"):
        encoder.inverse_transform(np.zeros((2, 5)))


def test_input_not_modified():
    sequences = np.array(["acgt", "ACNT"])
    original = sequences.copy()
    OneHotSequenceEncoder().fit_transform(sequences)
    assert_array_equal(sequences, original)


@pytest.mark.parametrize(
    "check", [check_no_attributes_set_in_init, check_get_params_invariance, check_set_params]
)
def test_sklearn_checks(check):
    check("OneHotSequenceEncoder", OneHotSequenceEncoder(length=10))


def test_clone_and_pickle():
    encoder = OneHotSequenceEncoder(length=12, padding="center").fit(["ACGT"])
    sequences = random_sequences(5, 10)
    restored = pickle.loads(pickle.dumps(encoder))
    assert_array_equal(restored.transform(sequences), encoder.transform(sequences))
    assert clone(encoder).get_params() == encoder.get_params()


def _write_fasta(path, text, compress=False):
    opener = gzip.open if compress else open
    with opener(path, "wt") as handle:
        handle.write(text)


FASTA = """;a comment line
>chr1:100-108 first record
ACGT
acgt

>second
GGNN
T
>third
CCCCAAAAG
"""


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_read_fasta(tmp_path, compress):
    path = tmp_path / ("seqs.fa.gz" if compress else "seqs.fa")
    _write_fasta(path, FASTA, compress)
    names, sequences = read_fasta(path)
    assert names == ["chr1:100-108 first record", "second", "third"]
    assert sequences == ["ACGTacgt", "GGNNT", "CCCCAAAAG"]
    X = OneHotSequenceEncoder(length=9).fit_transform(read_fasta(str(path))[1])
    assert X.shape == (3, 4, 9)
    assert_array_equal(X[1, :, 2], 0.25)


@pytest.mark.parametrize(
    "text, message", [("", "no FASTA record"), ("ACGT\n>x\nAC\n", "line 1 .*before the first")]
)
def test_read_fasta_errors(tmp_path, text, message):
    path = tmp_path / "bad.fa"
    _write_fasta(path, text)
    with pytest.raises(ValueError, match=message):
        read_fasta(path)


def _flatten(X):
    return X.reshape(len(X), -1)


def test_pipeline_and_grid_search():
    # The label is whether position 5 holds a G: learnable from the one-hot encoding only.
    sequences = random_sequences(200, 12, seed=1)
    y = np.array([s[5] == "G" for s in sequences], dtype=int)
    pipeline = make_pipeline(
        OneHotSequenceEncoder(),
        FunctionTransformer(_flatten),
        LogisticRegression(max_iter=1000),
    )
    search = GridSearchCV(pipeline, {"logisticregression__C": [0.01, 10.0]}, cv=3)
    search.fit(sequences, y)
    assert search.best_params_ == {"logisticregression__C": 10.0}
    assert search.score(sequences, y) == 1.0
    assert search.predict(["AAAAAGAAAAAA", "AAAAACAAAAAA"]).tolist() == [1, 0]
