import numpy as np
import pandas as pd
import pytest

from skexplain.motifs import load_jaspar_database, write_meme
from skexplain.motifs._fimo import COLUMNS, fimo

pytest.importorskip("memelite")

NAMES = ["MA0079.3 SP1", "MA0062.2 Gabpa", "MA0083.3 SRF", "MA0095.2 YY1", "MA0050.2 IRF1",
         "MA0139.1 CTCF"]


@pytest.fixture(scope="module")
def motifs():
    database = load_jaspar_database()
    return {name: database[name] for name in NAMES}


def random_onehot(n, length, seed):
    rng = np.random.default_rng(seed)
    return np.eye(4)[rng.integers(0, 4, size=(n, length))].transpose(0, 2, 1)


def consensus(ppm):
    return np.eye(4)[ppm.argmax(axis=0)].T  # (4, width)


def test_agrees_with_memelite(motifs):
    from memelite import fimo as memelite_fimo
    X = random_onehot(20, 300, seed=0)
    hits = fimo(X, motifs, threshold=1e-3)
    direct = pd.concat(memelite_fimo(motifs, X, threshold=1e-3), ignore_index=True)
    assert len(hits) == len(direct) > 50
    key = ["motif_name", "example_idx", "start", "strand"]
    direct = direct.rename(columns={"sequence_name": "example_idx", "p-value": "p_value"})
    ours = hits.sort_values(key, ignore_index=True)
    direct = direct.sort_values(key, ignore_index=True)
    np.testing.assert_array_equal(ours[key + ["end"]].to_numpy(),
                                  direct[key + ["end"]].to_numpy())
    np.testing.assert_array_equal(ours["score"], direct["score"])
    np.testing.assert_array_equal(ours["p_value"], direct["p_value"])
    assert list(hits.columns) == COLUMNS
    assert hits["p_value"].is_monotonic_increasing and (hits["p_value"] < 1e-3).all()
    assert ((hits.end - hits.start) == hits.motif_name.map(lambda k: motifs[k].shape[1])).all()


def test_planted_consensus_is_found_on_its_strand(motifs):
    X = random_onehot(6, 120, seed=1)
    planted = []
    for i, name in enumerate(NAMES):
        ppm = motifs[name]
        width = ppm.shape[1]
        start = 20 + 10 * i
        if i % 2:  # reverse complement: found by the motif's "-" strand scan
            X[i, :, start:start + width] = consensus(ppm)[::-1, ::-1]
            planted.append((name, i, start, start + width, "-"))
        else:
            X[i, :, start:start + width] = consensus(ppm)
            planted.append((name, i, start, start + width, "+"))
    hits = fimo(X, motifs, threshold=1e-5)
    found = set(hits[["motif_name", "example_idx", "start", "end", "strand"]]
                .itertuples(index=False, name=None))
    assert set(planted) <= found
    # the planted instances are the strongest hits of their sequences
    for name, i, *_ in planted:
        best = hits[hits.example_idx == i].iloc[0]
        assert best.motif_name == name
    forward_only = fimo(X, motifs, threshold=1e-5, reverse_complement=False)
    assert (forward_only.strand == "+").all()
    assert {p for p in planted if p[-1] == "+"} <= set(
        forward_only[["motif_name", "example_idx", "start", "end", "strand"]]
        .itertuples(index=False, name=None))


def test_strings_meme_files_and_the_default_database(motifs, tmp_path):
    X = random_onehot(3, 80, seed=2)
    X[1, :, 30:41] = consensus(motifs["MA0079.3 SP1"])
    strings = ["".join("ACGT"[j] for j in x.argmax(axis=0)) for x in X]
    expected = fimo(X, motifs)
    pd.testing.assert_frame_equal(fimo([s.lower() for s in strings], motifs), expected)
    write_meme(motifs, tmp_path / "motifs.meme")
    pd.testing.assert_frame_equal(fimo(X, tmp_path / "motifs.meme"), expected)
    everything = fimo(X)  # bundled JASPAR
    assert ((everything.motif_name == "MA0079.3 SP1") & (everything.example_idx == 1)
            & (everything.start == 30)).any()


def test_ns_score_nothing_and_no_hits_give_an_empty_table(motifs):
    X = np.zeros((2, 4, 50))
    hits = fimo(X, motifs)
    assert hits.empty and list(hits.columns) == COLUMNS
    assert hits["start"].dtype == np.int64
    assert fimo(["N" * 50], motifs).empty


@pytest.mark.parametrize("X, match", [
    (np.full((1, 4, 20), np.nan), "NaN"),
    (np.zeros((1, 5, 20)), "shape"),
    (np.zeros((4, 20)), "shape"),
    (np.full((1, 4, 20), 0.25), "one-hot"),
    (np.ones((1, 4, 20)), "one-hot"),
    (["ACGTX"], "'X' at position 4"),
    (["ACGT", "ACG"], "equal length"),
])
def test_bad_sequences_raise(motifs, X, match):
    with pytest.raises(ValueError, match=match):
        fimo(X, motifs)


@pytest.mark.parametrize("kwargs, match", [
    ({"motifs": {}}, "non-empty"),
    ({"motifs": {"bad": np.ones((4, 5))}}, "sum to 1"),
    ({"threshold": 0}, "threshold"),
    ({"bin_size": -1.0}, "bin_size"),
    ({"n_jobs": 0}, "n_jobs"),
])
def test_bad_parameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fimo(random_onehot(1, 30, seed=0), **kwargs)
