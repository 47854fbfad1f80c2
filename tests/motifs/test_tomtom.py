import sys

import numpy as np
import pandas as pd
import pytest

from skexplain.motifs import (
    filter_ppms,
    load_jaspar_database,
    match_fraction,
    tomtom_matches,
    trim_ppm,
)

pytest.importorskip("memelite")

OWN_MOTIFS = ["MA0079.3 SP1", "MA0062.2 Gabpa", "MA0151.1 Arid3a", "MA0083.3 SRF",
              "MA0095.2 YY1"]


@pytest.fixture(scope="module")
def database():
    return load_jaspar_database()


def test_database_motifs_find_themselves(database):
    queries = {key: database[key] for key in OWN_MOTIFS}
    matches = tomtom_matches(queries, database)
    best = matches.groupby("query", sort=False).first()
    assert best.index.tolist() == OWN_MOTIFS
    assert (best["target"] == best.index).all()
    assert (best["e_value"] < 1e-8).all()
    assert (best["offset"] == 0).all() and (best["orientation"] == "+").all()
    np.testing.assert_allclose(best["e_value"], best["p_value"] * len(database))


def test_noisy_and_reverse_complement_copies_find_their_source(database):
    rng = np.random.default_rng(0)
    queries = {}
    for key in OWN_MOTIFS:
        ppm = database[key]
        noise = rng.dirichlet(np.ones(4), size=ppm.shape[1]).T
        queries[f"noisy {key}"] = 0.8 * ppm + 0.2 * noise
        queries[f"rc {key}"] = ppm[::-1, ::-1][:, 1:-1]  # reverse complement, ends cut
    best = tomtom_matches(queries, database).groupby("query", sort=False).first()
    assert len(best) == len(queries)
    for query, row in best.iterrows():
        assert row["target"] == query.split(maxsplit=1)[1]
        assert row["e_value"] < 0.05
        assert row["orientation"] == ("-" if query.startswith("rc") else "+")


def test_offset_aligns_query_column_j_with_target_column_j_plus_offset(database):
    sp1 = database["MA0079.3 SP1"]
    flank = np.full((4, 2), 0.25)
    queries = {"core": sp1[:, 3:10], "flanked": np.hstack([flank, sp1])}
    best = tomtom_matches(queries, database).groupby("query", sort=False).first()
    assert best["target"].tolist() == ["MA0079.3 SP1"] * 2
    assert best["offset"].tolist() == [3, -2]
    assert best["overlap"].tolist() == [7, 11]


def test_random_ppms_rarely_match(database):
    # E < 0.1 means fewer than 0.1 false matches per query expected.
    rng = np.random.default_rng(0)
    queries = rng.dirichlet(np.ones(4), size=(100, 12)).transpose(0, 2, 1)
    matches = tomtom_matches(queries, database)
    assert len(matches) / 100 < 0.3
    assert matches["query"].nunique() / 100 < 0.25
    assert (matches["e_value"] < 0.1).all()


def test_all_pairs_and_q_values(database):
    queries = [database["MA0079.3 SP1"], np.full((4, 8), 0.25) + [[0.1], [-0.1], [0], [0]]]
    matches = tomtom_matches(queries, database, evalue_threshold=None, names=["sp1", "flat"])
    assert len(matches) == 2 * len(database)
    assert matches["query"].tolist() == ["sp1"] * len(database) + ["flat"] * len(database)
    for _, rows in matches.groupby("query"):
        assert rows["p_value"].is_monotonic_increasing
        assert rows["q_value"].is_monotonic_increasing
        assert (rows["q_value"] >= rows["p_value"]).all() and (rows["q_value"] <= 1).all()
    # Benjamini-Hochberg: the smallest q-value is the smallest p-value times the number of
    # tests, unless a later p-value gives a smaller bound.
    sp1 = matches[matches["query"] == "sp1"]
    ranks = np.arange(1, len(database) + 1)
    bound = np.minimum.accumulate((sp1["p_value"].to_numpy() * len(database) / ranks)[::-1])
    np.testing.assert_allclose(sp1["q_value"], np.minimum(bound[::-1], 1), rtol=1e-12)
    assert set(matches["target_name"]) >= {"SP1", "Gabpa"}


def test_bad_input_and_missing_memelite(database, monkeypatch):
    with pytest.raises(ValueError, match="evalue_threshold"):
        tomtom_matches([database["MA0079.3 SP1"]], database, evalue_threshold=0)
    with pytest.raises(ValueError, match="database"):
        tomtom_matches([database["MA0079.3 SP1"]], {})
    with pytest.raises(ValueError, match="sum to 1"):
        tomtom_matches([np.ones((4, 5))], database)
    monkeypatch.setitem(sys.modules, "memelite", None)
    with pytest.raises(ImportError, match=r"skexplain\[motifs\]"):
        tomtom_matches([database["MA0079.3 SP1"]], database)


def test_match_fraction_on_a_constructed_table():
    matches = pd.DataFrame({
        "query": ["f0", "f0", "f1", "f2", "f3", "f4"],
        "target": ["MA0003.3 TFAP2A", "MA0079.3 SP1", "MA0002.2 RUNX1", "MA0062.2 Gabpa",
                   "MA0059.1 MAX::MYC", "MA0060.2 NFYA"],
    })
    # f0 via its second hit, f2 by name in another case, f4 by ID; f3's heterodimer does
    # not count as MAX; f1 and two unmatched filters count in the denominator.
    truth = ["SP1", "gabpa", "MAX", "MA0060.2"]
    assert match_fraction(matches, truth, n_filters=8) == pytest.approx(3 / 8)
    assert match_fraction(matches.iloc[:0], truth, n_filters=8) == 0.0
    assert match_fraction(matches, ["MAX::MYC"], n_filters=5) == pytest.approx(1 / 5)
    with pytest.raises(ValueError, match="queries"):
        match_fraction(matches, truth, n_filters=3)
    with pytest.raises(ValueError, match="columns"):
        match_fraction(matches[["query"]], truth, n_filters=8)


def _plant(rng, ppm, X, n_copies_per_sequence=1):
    """Overwrite a random window of each sequence with a sample from ppm."""
    width = ppm.shape[1]
    for i in range(len(X)):
        for _ in range(n_copies_per_sequence):
            start = rng.integers(0, X.shape[2] - width + 1)
            letters = [rng.choice(4, p=column / column.sum()) for column in ppm.T]
            X[i, :, start:start + width] = np.eye(4)[letters].T


def _exp_scan(X, ppm, scale=0.2):
    """exp of the scaled PWM log-odds scan with 'same' alignment: position p scores the window
    starting at p - width // 2, zero-padded at the ends (an exponential-activation filter;
    the scale plays the part of the batch norm, letting a few dozen sites pass 0.5 x max)."""
    width = ppm.shape[1]
    log_odds = np.log(ppm / 0.25 + 1e-3)
    padded = np.pad(X, ((0, 0), (0, 0), (width // 2, width - 1 - width // 2)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=2)
    return np.exp(scale * np.einsum("nalw,aw->nl", windows, log_odds))


def test_filter_ppms_recover_planted_motifs_end_to_end(database):
    rng = np.random.default_rng(0)
    planted = ["MA0079.3 SP1", "MA0062.2 Gabpa", "MA0083.3 SRF"]
    X = np.eye(4)[rng.integers(0, 4, (300, 100))].transpose(0, 2, 1)
    for block, key in enumerate(planted):
        _plant(rng, database[key], X[block * 100:(block + 1) * 100])
    activations = np.stack([_exp_scan(X, database[key]) for key in planted], axis=1)

    ppms, n_sites = filter_ppms(activations, X, window=20, threshold=0.5)
    assert (n_sites >= 30).all()
    for ppm, key in zip(ppms, planted, strict=True):
        # The motif sits where the 'same' alignment puts it inside the 20-nt window.
        width = database[key].shape[1]
        start = 10 - width // 2
        assert np.abs(ppm[:, start:start + width] - database[key]).mean() < 0.06

    trimmed = trim_ppm(ppms)
    for ppm, key in zip(trimmed, planted, strict=True):
        assert ppm.shape[1] <= database[key].shape[1] + 6  # the motif and 3 columns a side
    matches = tomtom_matches(trimmed, database, names=planted)
    best = matches.groupby("query", sort=False).first()
    assert best.index.tolist() == planted
    assert (best["target"] == best.index).all()
    assert match_fraction(matches, ["SP1", "Gabpa", "SRF"], n_filters=3) == 1.0
