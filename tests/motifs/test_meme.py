import io

import numpy as np
import pytest

from skexplain.motifs import load_jaspar_database, read_meme, write_meme

TASK1_TFS = ["Arid3a", "CEBPB", "FOSL1", "Gabpa", "MAFK", "MAX", "MEF2A", "NFYB", "SP1", "SRF",
             "STAT1", "YY1"]

JASPAR_STYLE = """MEME version 4

ALPHABET= ACGT

strands: + -

Background letter frequencies (from uniform background):
A 0.25000 C 0.25000 G 0.25000 T 0.25000

MOTIF MA0001.1  AGL3

letter-probability matrix: alength= 4 w= 2 nsites= 97 E= 0
  0.000000\t  0.969072\t  0.000000\t  0.030928\t
  0.000000\t  0.000000\t  1.000000\t  0.000000

URL http://jaspar.genereg.net?ID=MA0001.1
MOTIF solo
letter-probability matrix: w= 1
0.1 0.2 0.3 0.4
"""


def _random_ppms(rng, widths):
    return [rng.dirichlet(np.ones(4), size=width).T for width in widths]


def test_round_trip_through_a_file(tmp_path):
    ppms = _random_ppms(np.random.default_rng(0), [5, 12, 1])
    names = ["filter0", "MA0079.3 SP1", "odd   spacing\nname"]
    path = tmp_path / "motifs.meme"
    write_meme(ppms, path, names=names, nsites=[10, 20, 30])
    motifs = read_meme(path)
    assert list(motifs) == ["filter0", "MA0079.3 SP1", "odd spacing name"]
    for ppm, read in zip(ppms, motifs.values(), strict=True):
        np.testing.assert_allclose(read, ppm, atol=5e-7)
    text = path.read_text()
    assert text.startswith("MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n")
    assert "letter-probability matrix: alength= 4 w= 12 nsites= 20" in text


def test_round_trip_of_a_stack_dict_gzip_and_file_object(tmp_path):
    stack = np.stack(_random_ppms(np.random.default_rng(1), [7, 7, 7]))
    write_meme(stack, tmp_path / "stack.meme.gz")
    motifs = read_meme(tmp_path / "stack.meme.gz")
    assert list(motifs) == ["filter0", "filter1", "filter2"]
    np.testing.assert_allclose(np.stack(list(motifs.values())), stack, atol=5e-7)

    buffer = io.StringIO()
    write_meme({"a": stack[0], "b": stack[1]}, buffer)
    assert not buffer.closed
    buffer.seek(0)
    motifs = read_meme(buffer)
    assert list(motifs) == ["a", "b"]
    np.testing.assert_allclose(motifs["b"], stack[1], atol=5e-7)


def test_reads_jaspar_layout():
    motifs = read_meme(io.StringIO(JASPAR_STYLE))
    assert list(motifs) == ["MA0001.1 AGL3", "solo"]
    np.testing.assert_allclose(motifs["MA0001.1 AGL3"],
                               [[0.0, 0.0], [0.969072, 0.0], [0.0, 1.0], [0.030928, 0.0]])
    np.testing.assert_allclose(motifs["solo"], [[0.1], [0.2], [0.3], [0.4]])


def test_memelite_reads_what_we_write(tmp_path):
    memelite_io = pytest.importorskip("memelite.io")
    ppms = _random_ppms(np.random.default_rng(2), [4, 9])
    write_meme(ppms, tmp_path / "m.meme", names=["x y", "z"])
    theirs = memelite_io.read_meme(str(tmp_path / "m.meme"))
    assert list(theirs) == ["x y", "z"]
    np.testing.assert_allclose(theirs["z"], ppms[1], atol=5e-7)


@pytest.mark.parametrize(
    "ppms, kwargs, match",
    [
        ([np.full((3, 5), 1 / 3)], {}, r"shape \(4, width\)"),
        ([np.full((4, 5), 0.3)], {}, "sum to 1"),
        ([np.full((4, 5), 0.25)] * 2, {"names": ["a", "a"]}, "unique"),
        ([np.full((4, 5), 0.25)], {"names": ["  "]}, "empty"),
        ([np.full((4, 5), 0.25)], {"names": ["a", "b"]}, "names"),
        ([np.full((4, 5), 0.25)], {"nsites": [1, 2]}, "nsites"),
    ],
)
def test_write_rejects_bad_input(tmp_path, ppms, kwargs, match):
    with pytest.raises(ValueError, match=match):
        write_meme(ppms, tmp_path / "bad.meme", **kwargs)


def test_read_rejects_truncated_or_duplicated_motifs():
    truncated = "MOTIF a\nletter-probability matrix: alength= 4 w= 3\n0.25 0.25 0.25 0.25\n"
    with pytest.raises(ValueError, match="complete"):
        read_meme(io.StringIO(truncated))
    block = "MOTIF a\nletter-probability matrix: w= 1\n0.25 0.25 0.25 0.25\n"
    with pytest.raises(ValueError, match="twice"):
        read_meme(io.StringIO(block + block))
    with pytest.raises(ValueError, match="4 probabilities"):
        read_meme(io.StringIO("MOTIF a\nletter-probability matrix: w= 1\n0.5 0.5\n"))


def test_bundled_jaspar_database():
    database = load_jaspar_database()
    assert len(database) == 518
    for ppm in database.values():
        assert ppm.shape[0] == 4
        np.testing.assert_allclose(ppm.sum(axis=0), 1.0, atol=1e-3)
    assert database["MA0079.3 SP1"].shape == (4, 11)
    # The SP1 motif is GC-rich: its consensus is mostly G and C.
    assert np.isin(database["MA0079.3 SP1"].argmax(axis=0), [1, 2]).mean() > 0.8
    names = {key.split(maxsplit=1)[1].casefold() for key in database}
    assert {tf.casefold() for tf in TASK1_TFS} <= names
    database.clear()
    assert len(load_jaspar_database()) == 518  # a fresh dict every call
