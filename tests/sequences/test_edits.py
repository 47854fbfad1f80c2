import numpy as np
import pytest

from skexplain.sequences import delete, insert, marginalize, randomize, shuffle_region, substitute
from tests.sequences import decode, encode


def _dinucleotides(sequence):
    return sorted(sequence[i:i + 2] for i in range(len(sequence) - 1))


def test_substitute_exact_and_input_untouched():
    X = encode(["ACGTACGT", "TTTTTTTT"])
    before = X.copy()
    assert decode(substitute(X, "GG", start=1)) == ["AGGTACGT", "TGGTTTTT"]
    assert decode(substitute(X, "GNG", start=5)) == ["ACGTAGGG", "TTTTTGTG"]  # N keeps
    assert decode(substitute(X, "CC")) == ["ACGCCCGT", "TTTCCTTT"]  # centred: 8 // 2 - 1
    np.testing.assert_array_equal(X, before)
    assert substitute(X.astype(np.float32), "A", start=0).dtype == np.float32


def test_substitute_ppm_consensus_and_one_hot_motif():
    X = encode(["AAAAAA"])
    ppm = np.array([[0.1, 0.7], [0.6, 0.1], [0.2, 0.1], [0.1, 0.1]])
    assert decode(substitute(X, ppm, start=3)) == ["AAACAA"]
    assert decode(substitute(X, encode(["GT"])[0], start=4)) == ["AAAAGT"]
    assert decode(substitute(X, encode(["GT"]), start=0)) == ["GTAAAA"]  # (1, 4, w)


@pytest.mark.parametrize("motif, start, match", [
    ("GG", 5, "out of range"), ("GX", 0, "outside ACGTN"), ("", 0, "empty"),
    (np.full((4, 2), 0.5), 0, "neither one-hot nor a PPM"), (np.ones((3, 2)), 0, "shape"),
    ("GGGGGGG", None, "longer than"),
])
def test_substitute_bad_input(motif, start, match):
    with pytest.raises(ValueError, match=match):
        substitute(encode(["ACGTAC"]), motif, start=start)


def test_edits_reject_non_one_hot():
    with pytest.raises(ValueError, match="one-hot"):
        substitute(np.full((1, 4, 5), 0.25), "A", start=0)
    with pytest.raises(ValueError, match="shape"):
        delete(np.zeros((4, 5)), 0, 1)


@pytest.mark.parametrize("keep_length, expected", [
    ("trim_right", "ACTTGT"), ("trim_left", "TTGTAC"), ("trim_both", "CTTGTA"),
    (None, "ACTTGTAC"),
])
def test_insert_exact(keep_length, expected):
    X = encode(["ACGTAC"])
    assert decode(insert(X, "TT", start=2, keep_length=keep_length)) == [expected]
    np.testing.assert_array_equal(X, encode(["ACGTAC"]))


def test_insert_n_and_bad_input():
    X = encode(["ACGTAC"])
    assert decode(insert(X, "GN", start=0)) == ["GNACGT"]
    assert decode(insert(X, "G")) == ["ACGGTA"]  # start=None: before length // 2
    with pytest.raises(ValueError, match="would trim"):
        insert(X, "TTT", start=4)  # trim_right drops the motif's end
    with pytest.raises(ValueError, match="would trim"):
        insert(X, "TTT", start=2, keep_length="trim_left")
    with pytest.raises(ValueError, match="keep_length"):
        insert(X, "T", start=2, keep_length="right")


@pytest.mark.parametrize("fill, background, expected", [
    ("right", None, "ATACNN"), ("left", None, "NNATAC"), ("right", "GGCC", "ATACGG"),
    ("left", "GGCC", "CCATAC"), (None, None, "ATAC"),
])
def test_delete_exact(fill, background, expected):
    X = encode(["ACGTAC"])
    assert decode(delete(X, 1, 3, fill=fill, background=background)) == [expected]


def test_delete_per_sequence_background_and_errors():
    X = encode(["ACGTAC", "TTTTTT"])
    flank = encode(["GGGG", "CCCC"])
    assert decode(delete(X, 0, 2, background=flank)) == ["GTACGG", "TTTTCC"]
    with pytest.raises(ValueError, match="empty"):
        delete(X, 3, 3)
    with pytest.raises(ValueError, match="out of range"):
        delete(X, 2, 9)
    with pytest.raises(ValueError, match="columns"):
        delete(X, 0, 3, background="GG")
    with pytest.raises(ValueError, match="fill"):
        delete(X, 0, 1, fill="both")


def test_randomize():
    X = encode(["ACGTACGTAC"] * 50)
    Y = randomize(X, 2, 8, random_state=0)
    np.testing.assert_array_equal(Y[:, :, :2], X[:, :, :2])
    np.testing.assert_array_equal(Y[:, :, 8:], X[:, :, 8:])
    assert (Y.sum(axis=1) == 1).all()
    assert len(set(decode(Y))) > 40  # drawn per sequence
    np.testing.assert_array_equal(Y, randomize(X, 2, 8, random_state=0))
    assert decode(randomize(X[:1], 0, 4, probabilities=[0, 0, 0, 1])) == ["TTTTACGTAC"]
    with pytest.raises(ValueError, match="probabilities"):
        randomize(X, 0, 4, probabilities=[0.5, 0.5, 0.5, 0.5])


def test_shuffle_region_keeps_dinucleotides():
    rng = np.random.default_rng(0)
    strings = ["".join(rng.choice(list("ACGT"), 40)) for _ in range(5)]
    X = encode(strings)
    Y = shuffle_region(X, 10, 30, random_state=0)
    for x, y in zip(strings, decode(Y), strict=True):
        assert x[:10] == y[:10] and x[30:] == y[30:]
        assert x[10] == y[10] and x[29] == y[29]
        assert _dinucleotides(x[10:30]) == _dinucleotides(y[10:30])
        assert _dinucleotides(x) == _dinucleotides(y)
    assert decode(Y) != strings
    np.testing.assert_array_equal(Y, shuffle_region(X, 10, 30, random_state=0))
    mono = decode(shuffle_region(X, 10, 30, kind="mononucleotide", random_state=1))
    assert all(sorted(x[10:30]) == sorted(y[10:30]) for x, y in zip(strings, mono, strict=True))
    with pytest.raises(ValueError, match="kind"):
        shuffle_region(X, 0, 5, kind="codon")


def test_marginalize_linear_closed_form():
    rng = np.random.default_rng(1)
    W = rng.normal(size=(2, 4, 30))
    model = lambda X: np.einsum("kcl,ncl->nk", W, X)  # noqa: E731
    strings = ["".join(rng.choice(list("ACGT"), 30)) for _ in range(6)]
    X = encode(strings)
    motif, start = "GATA", 7
    result = marginalize(model, X, motif, start=start, target=1, batch_size=4)
    edited = encode([s[:start] + motif + s[start + 4:] for s in strings])
    np.testing.assert_allclose(result["before"], np.einsum("cl,ncl->n", W[1], X))
    delta = np.einsum("cl,ncl->n", W[1], edited - X)
    np.testing.assert_allclose(result["delta"], delta, atol=1e-12)
    np.testing.assert_allclose(result["after"] - result["before"], result["delta"])
    assert (result["target"] == 1).all() and len(result) == 6
    auto = marginalize(model, X, motif, start=start)  # target: highest output before
    np.testing.assert_array_equal(auto["target"], model(X).argmax(axis=1))


def test_marginalize_torch_matches_tangermeme():
    torch = pytest.importorskip("torch")
    pytest.importorskip("tangermeme")
    from tangermeme.marginalize import marginalize as tm_marginalize

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv1d(4, 3, 5), torch.nn.ReLU(),
                                torch.nn.Flatten(), torch.nn.Linear(3 * 16, 2))
    rng = np.random.default_rng(2)
    X = encode(["".join(rng.choice(list("ACGT"), 20)) for _ in range(4)]).astype(np.float32)
    ours = marginalize(model, X, "CACGTG", target=0)
    before, after = tm_marginalize(model, torch.tensor(X), "CACGTG", verbose=False)
    np.testing.assert_allclose(ours["before"], before[:, 0].numpy(), atol=1e-5)
    np.testing.assert_allclose(ours["after"], after[:, 0].numpy(), atol=1e-5)


def test_edits_agree_with_tangermeme_ersatz():
    torch = pytest.importorskip("torch")
    ersatz = pytest.importorskip("tangermeme.ersatz")

    rng = np.random.default_rng(3)
    X = encode(["".join(rng.choice(list("ACGT"), 16)) for _ in range(3)]).astype(np.float32)
    T = torch.tensor(X)
    np.testing.assert_array_equal(substitute(X, "GANTC", start=4),
                                  ersatz.substitute(T, "GANTC", start=4).numpy())
    np.testing.assert_array_equal(substitute(X, "CACGTG"),
                                  ersatz.substitute(T, "CACGTG").numpy())
    np.testing.assert_array_equal(insert(X, "GATA", start=5, keep_length=None),
                                  ersatz.insert(T, "GATA", start=5).numpy())
    np.testing.assert_array_equal(delete(X, 3, 7, fill=None), ersatz.delete(T, 3, 7).numpy())
