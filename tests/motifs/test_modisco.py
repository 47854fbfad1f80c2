"""discover_motifs: tfmodisco-lite on (n, 4, L) maps, its patterns trimmed and named by TomTom."""

import types

import numpy as np
import pandas as pd
import pytest

from skexplain._core.explanation import Attribution
from skexplain.motifs import MotifDiscovery, discover_motifs
from skexplain.motifs import _modisco as modisco_module

pytest.importorskip("memelite")

CTCF, GATA1 = "MA0139.1 CTCF", "MA0035.3 Gata1"


def _planted(n=300, length=100, seed=0):
    """Random sequences holding a CTCF site (activating) or a Gata1 site (repressing), with
    hypothetical contributions that are the sites' centred log-odds (signed) plus noise."""
    from skexplain.motifs import load_jaspar_database

    db = load_jaspar_database()
    rng = np.random.default_rng(seed)
    X = np.eye(4)[rng.integers(0, 4, size=(n, length))].transpose(0, 2, 1)
    hyp = rng.normal(0, 0.02, size=X.shape)
    sites = []
    for i in range(n):
        key, sign = (CTCF, 1.0) if i % 2 == 0 else (GATA1, -1.0)
        ppm = db[key]
        width = ppm.shape[1]
        start = int(rng.integers(10, length - width - 10))
        bases = [rng.choice(4, p=ppm[:, j] / ppm[:, j].sum()) for j in range(width)]
        X[i, :, start:start + width] = np.eye(4)[bases].T
        pwm = np.log2((ppm + 0.01) / 0.26)
        hyp[i, :, start:start + width] += sign * (pwm - pwm.mean(axis=0))
        sites.append((key, start, start + width))
    return X, hyp, sites


def _fake_pattern(rng, width=12, n_seqlets=5):
    sequence = np.eye(4)[rng.integers(0, 4, width)]  # (w, 4)
    contrib = np.zeros((width, 4))
    contrib[3:9] = sequence[3:9] * 2.0  # core at 3..8, weak flanks
    seqlets = [types.SimpleNamespace(example_idx=k, start=k, end=k + width, is_revcomp=k % 2)
               for k in range(n_seqlets)]
    return types.SimpleNamespace(sequence=sequence, contrib_scores=contrib,
                                 hypothetical_contribs=contrib - 0.5, seqlets=seqlets)


@pytest.fixture
def fake_modisco(monkeypatch):
    """Replace TFMoDISco by a stub that records its inputs and returns fixed patterns."""
    calls = {}
    rng = np.random.default_rng(1)
    patterns = [_fake_pattern(rng), _fake_pattern(rng, n_seqlets=3)], [_fake_pattern(rng)]

    def stub(one_hot, hypothetical_contribs, **params):
        calls.update(one_hot=one_hot, hypothetical=hypothetical_contribs, params=params)
        return patterns

    monkeypatch.setattr(modisco_module, "_import_modisco", lambda: stub)
    return calls, patterns


def test_layout_is_converted_and_patterns_are_trimmed_and_tidied(fake_modisco):
    calls, (pos, neg) = fake_modisco
    X, hyp, _ = _planted(n=6, length=60)
    motifs = discover_motifs(X, hyp, annotate=False, n_leiden_runs=3)
    # tfmodisco-lite got (n, L, 4): position p of sequence i is X[i, :, p]
    assert calls["one_hot"].shape == (6, 60, 4)
    np.testing.assert_array_equal(calls["one_hot"][2, 17], X[2, :, 17])
    np.testing.assert_allclose(calls["hypothetical"][4, 33], hyp[4, :, 33], rtol=1e-6)
    assert calls["params"]["n_leiden_runs"] == 3
    assert isinstance(motifs, MotifDiscovery) and len(motifs) == 3
    table = motifs.table
    assert table["pattern"].tolist() == ["pos_patterns.pattern_0", "pos_patterns.pattern_1",
                                         "neg_patterns.pattern_0"]
    assert table["sign"].tolist() == ["positive", "positive", "negative"]
    assert table["n_seqlets"].tolist() == [5, 3, 5]
    # trimmed to the core (|CWM| >= 0.3 max): positions 3..8, back to (4, width)
    assert table[["trim_start", "trim_end", "width"]].iloc[0].tolist() == [3, 9, 6]
    np.testing.assert_allclose(motifs.cwms["pos_patterns.pattern_0"], pos[0].contrib_scores[3:9].T)
    np.testing.assert_allclose(motifs.ppms["pos_patterns.pattern_0"], pos[0].sequence[3:9].T,
                               atol=1e-5)
    np.testing.assert_allclose(motifs.hypothetical_cwms["neg_patterns.pattern_0"],
                               neg[0].hypothetical_contribs[3:9].T)
    assert table["contribution"].iloc[0] == pytest.approx(12.0)
    seqlets = motifs.seqlets
    assert len(seqlets) == 13
    assert seqlets.iloc[1][["example_idx", "start", "end", "is_revcomp"]].tolist() == \
        [1, 1, 13, True]


def test_an_attribution_of_hypothetical_contributions_is_read(fake_modisco):
    calls, _ = fake_modisco
    X, hyp, _ = _planted(n=4, length=50)
    E = Attribution(hyp, X, None, None, None, {}, ("sample", "channel", "position"))
    discover_motifs(E, annotate=False)
    np.testing.assert_allclose(calls["hypothetical"], hyp.transpose(0, 2, 1), rtol=1e-6)
    discover_motifs(X, E, annotate=False)  # or as the second argument
    np.testing.assert_array_equal(calls["one_hot"], X.transpose(0, 2, 1))


def test_ordinary_contributions_are_warned_about(fake_modisco):
    X, hyp, _ = _planted(n=4, length=50)
    with pytest.warns(UserWarning, match="hypothetical"):
        discover_motifs(X, hyp * X, annotate=False)


@pytest.mark.parametrize("args, kwargs, match", [
    ((np.zeros((3, 4, 20)),), {}, "needs hypothetical"),
    ((np.eye(4)[np.zeros((3, 20), int)].transpose(0, 2, 1), np.zeros((3, 4, 19))), {}, "shape"),
    ((np.eye(4)[np.zeros((3, 20), int)].transpose(0, 2, 1), np.full((3, 4, 20), np.nan)), {},
     "NaN"),
    ((np.full((3, 4, 20), 0.5), np.zeros((3, 4, 20))), {}, "one-hot"),
    ((np.eye(4)[np.zeros((3, 20), int)].transpose(0, 2, 1), np.zeros((3, 4, 20))),
     {"trim_threshold": 0}, "trim_threshold"),
    ((np.eye(4)[np.zeros((3, 20), int)].transpose(0, 2, 1), np.zeros((3, 4, 20))),
     {"n_matches": 0}, "n_matches"),
    ((np.eye(4)[np.zeros((3, 20), int)].transpose(0, 2, 1), np.zeros((3, 4, 20))),
     {"query": "cwm"}, "query"),
])
def test_bad_input_raises(fake_modisco, args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        discover_motifs(*args, **kwargs)


def test_missing_modisco_lite_raises_an_import_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "modiscolite", None)
    monkeypatch.setitem(sys.modules, "modiscolite.tfmodisco", None)
    X, hyp, _ = _planted(n=4, length=50)
    with pytest.raises(ImportError, match="modisco-lite"):
        discover_motifs(X, hyp)


def test_hypothetical_cwm_queries_name_the_motif_the_model_learned(monkeypatch):
    """Patterns whose seqlets' bases are uninformative but whose hypothetical CWMs are the
    centred log-odds of CTCF (activating) and Gata1 (repressing): the PPM queries cannot
    name them, the hypothetical-CWM queries do."""
    from skexplain.motifs import load_jaspar_database

    db = load_jaspar_database()
    rng = np.random.default_rng(2)

    def pattern(key, sign):
        pwm = np.log2((db[key] + 0.01) / 0.26).T  # (w, 4)
        hcwm = sign * (pwm - pwm.mean(axis=1, keepdims=True))
        uninformative = rng.dirichlet(np.full(4, 50.0), size=len(pwm))  # near 0.25 each
        seqlets = [types.SimpleNamespace(example_idx=0, start=0, end=len(pwm), is_revcomp=0)]
        return types.SimpleNamespace(sequence=uninformative, contrib_scores=hcwm * 0.25,
                                     hypothetical_contribs=hcwm, seqlets=seqlets)

    patterns = [pattern(CTCF, 1.0)], [pattern(GATA1, -1.0)]
    monkeypatch.setattr(modisco_module, "_import_modisco", lambda: lambda **_: patterns)
    X = np.eye(4)[np.zeros((3, 40), int)].transpose(0, 2, 1)
    hyp = rng.normal(size=X.shape)
    by_ppm = discover_motifs(X, hyp, trim_threshold=0.01).table
    by_cwm = discover_motifs(X, hyp, trim_threshold=0.01, query="hypothetical_cwm").table
    assert (by_ppm.motif_q_value > 0.05).all()
    positive, negative = by_cwm.itertuples()
    assert positive.motif_name == "CTCF" and positive.motif_q_value < 1e-3
    assert negative.motif_name.upper().startswith("GATA") and negative.motif_q_value < 0.05


@pytest.mark.slow  # tfmodisco-lite compiles its numba kernels on a first call (about a minute)
def test_planted_activator_and_repressor_are_discovered_and_named():
    pytest.importorskip("modiscolite")
    X, hyp, sites = _planted()
    motifs = discover_motifs(X, hyp, min_metacluster_size=50, n_leiden_runs=5)
    table = motifs.table
    best = {row.sign: row for row in table.groupby("sign").head(1).itertuples()}
    # the activating CTCF sites form the top positive motif, the repressing Gata1 sites the
    # top negative one; TomTom names each (Gata1 or a GATA paralog: same WGATAR core)
    assert best["positive"].motif_name == "CTCF" and best["positive"].motif_q_value < 1e-6
    assert best["negative"].motif_name.upper().startswith("GATA")
    assert best["negative"].motif_q_value < 0.05
    assert best["positive"].contribution > 0 > best["negative"].contribution
    # its seqlets are the planted sites of that motif
    seqlets = motifs.seqlets[motifs.seqlets.pattern == best["positive"].pattern]
    assert len(seqlets) >= 50
    on_ctcf = [sites[i][0] == CTCF and s < sites[i][2] and e > sites[i][1]
               for i, s, e in zip(seqlets.example_idx, seqlets.start, seqlets.end, strict=True)]
    assert np.mean(on_ctcf) == 1.0
    assert isinstance(motifs.matches, pd.DataFrame) and (motifs.matches.e_value < 0.1).all()
    fig = motifs.plot(n_motifs=2)
    assert len(fig.axes) == 4


def test_report_figure_has_a_row_per_motif_and_a_column_per_kind(fake_modisco):
    pytest.importorskip("logomaker")
    import matplotlib

    matplotlib.use("Agg")
    X, hyp, _ = _planted(n=6, length=60)
    motifs = discover_motifs(X, hyp, annotate=False)
    assert "2 positive, 1 negative" in repr(motifs)
    fig = motifs.plot(n_motifs=2, kinds=("cwm", "hypothetical_cwm", "ppm"))
    assert len(fig.axes) == 6
    assert fig.axes[0].get_title(loc="left").startswith("pos_patterns.pattern_0 (5 seqlets)")
    with pytest.raises(ValueError, match="kinds"):
        motifs.plot(kinds=("logo",))
