import numpy as np
import pandas as pd
import pytest

from skexplain.motifs._seqlets import (
    COLUMNS,
    recursive_seqlets,
    seqlet_recall_precision,
    window_seqlets,
)

N, LENGTH = 40, 200


def planted_map(seed=0, noise=0.2, amplitude=(0.6, 1.0)):
    """Laplace noise with one positive block in even examples and one negative block in
    examples divisible by 3 (so some have both, some neither); the ground truth is the
    list of (example, start, end, sign)."""
    rng = np.random.default_rng(seed)
    X = rng.laplace(scale=noise, size=(N, LENGTH))
    truth = []
    for i in range(N):
        starts = rng.choice(np.arange(10, LENGTH - 30, 30), size=2, replace=False)
        for start, (sign, wanted) in zip(starts, [(1, i % 2 == 0), (-1, i % 3 == 0)],
                                         strict=True):
            if wanted:
                width = int(rng.integers(8, 13))
                X[i, start:start + width] += sign * rng.uniform(*amplitude, size=width)
                truth.append((i, start, start + width, "positive" if sign > 0 else "negative"))
    return X, pd.DataFrame(truth, columns=["example_idx", "start", "end", "sign"])


def overlaps(row, table):
    same = table[(table.example_idx == row.example_idx) & (table.sign == row.sign)]
    return bool(((same.start < row.end) & (same.end > row.start)).any())


@pytest.mark.slow  # tangermeme compiles its numba kernels on first call
def test_positive_seqlets_are_tangermemes():
    seqlet = pytest.importorskip("tangermeme.seqlet")
    X, _ = planted_map(seed=1)
    # one call: tangermeme's numba kernels compile on each first call (10-20 s)
    ours = recursive_seqlets(X, sign="positive", min_length=5, max_length=20,
                             additional_flanks=2, threshold=1e-3)
    theirs = seqlet.recursive_seqlets(X, min_seqlet_len=5, max_seqlet_len=20,
                                      additional_flanks=2, threshold=1e-3)
    assert len(ours) > N // 2
    ours = ours.sort_values(["example_idx", "start"], ignore_index=True)
    theirs = theirs.sort_values(["example_idx", "start"], ignore_index=True)
    np.testing.assert_array_equal(ours[["example_idx", "start", "end"]].to_numpy(),
                                  theirs[["example_idx", "start", "end"]].to_numpy())
    np.testing.assert_allclose(ours["p_value"], theirs["p-value"], rtol=1e-10)
    np.testing.assert_allclose(ours["attribution"], theirs["attribution"], rtol=1e-12)
    assert (ours["sign"] == "positive").all()


@pytest.mark.slow  # tangermeme compiles its numba kernels on first call
def test_control_threshold_and_fdr_are_tangermemes():
    seqlet = pytest.importorskip("tangermeme.seqlet")
    X, _ = planted_map(seed=1)
    control = np.random.default_rng(9).laplace(scale=0.2, size=(80, LENGTH))
    ours, fdr = recursive_seqlets(X, sign="positive", control=control, target_fdr=0.05,
                                  max_threshold=0.1, return_fdr=True)
    theirs = seqlet.recursive_seqlets(X, X_control=control, target_fdr=0.05, return_fdr=True)
    assert (fdr.sign == "positive").all()
    np.testing.assert_allclose(fdr.threshold, theirs.fdr.threshold)
    np.testing.assert_array_equal(fdr.n_seqlets, theirs.fdr.n_seqlets)
    np.testing.assert_array_equal(fdr.n_control_seqlets, theirs.fdr.n_control_seqlets)
    np.testing.assert_allclose(fdr.fdr, theirs.fdr.fdr, equal_nan=True)
    expected = theirs.seqlets.sort_values(["example_idx", "start"], ignore_index=True)
    ours = ours.sort_values(["example_idx", "start"], ignore_index=True)
    np.testing.assert_array_equal(ours[["example_idx", "start", "end"]].to_numpy(),
                                  expected[["example_idx", "start", "end"]].to_numpy())


def test_control_picks_a_threshold_per_sign_that_recovers_the_planted_blocks():
    X, truth = planted_map(seed=3)
    control = np.random.default_rng(10).laplace(scale=0.2, size=(2 * N, LENGTH))
    seqlets, fdr = recursive_seqlets(X, control=control, target_fdr=0.1, return_fdr=True)
    thresholds = seqlets.attrs["threshold"]
    assert set(thresholds) == {"positive", "negative"}
    assert all(1e-30 <= t <= 0.25 for t in thresholds.values())
    recall = np.mean([overlaps(row, seqlets) for row in truth.itertuples()])
    precision = np.mean([overlaps(row, truth) for row in seqlets.itertuples()])
    assert recall >= 0.9 and precision >= 0.85, (recall, precision)  # precision ~ 1 - FDR
    for sign, threshold in thresholds.items():
        rows = fdr[fdr.sign == sign]
        assert rows.loc[rows.threshold == threshold, "fdr"].item() <= 0.1
        assert not (rows.loc[rows.threshold > threshold, "fdr"] <= 0.1).any()
    # a control as strong as the map: no threshold reaches the target
    with pytest.warns(UserWarning, match="No threshold reaches"):
        none = recursive_seqlets(X, sign="positive", control=X, target_fdr=0.05)
    assert none.empty and none.attrs["threshold"] == {"positive": None}
    pd.concat([seqlets, seqlets])  # the attrs do not get in the way
    assert_frame = pd.testing.assert_frame_equal
    assert_frame(recursive_seqlets(X, control=control, target_fdr=0.1), seqlets)


def test_max_threshold_extends_tangermemes_grid_upwards():
    X, _ = planted_map(seed=3)
    control = np.random.default_rng(10).laplace(scale=0.2, size=(2 * N, LENGTH))
    tangermeme_grid = np.logspace(-1, -30, 117)
    for max_threshold, n_looser in [(0.1, 0), (0.25, 7), (0.05, -1)]:
        _, fdr = recursive_seqlets(X, sign="positive", control=control,
                                   max_threshold=max_threshold, return_fdr=True)
        grid = fdr.threshold.to_numpy()
        assert grid[0] <= max_threshold and np.all(np.diff(grid) < 0)
        if n_looser >= 0:
            assert grid[0] == pytest.approx(max_threshold)
            assert len(grid) == 117 + n_looser
            np.testing.assert_allclose(grid[n_looser:], tangermeme_grid)
        else:  # a stricter cap keeps the part of tangermeme's grid below it
            np.testing.assert_allclose(grid, tangermeme_grid[tangermeme_grid <= 0.05])
        # a looser threshold calls at least as many seqlets
        assert fdr.n_seqlets.iloc[0] >= fdr.n_seqlets.iloc[-1]


@pytest.mark.slow  # tangermeme compiles its numba kernels on first call
def test_negative_seqlets_are_tangermemes_on_the_negated_map():
    seqlet = pytest.importorskip("tangermeme.seqlet")
    X, _ = planted_map(seed=2)
    both = recursive_seqlets(X)
    negative = seqlet.recursive_seqlets(-X)
    positive = seqlet.recursive_seqlets(X)
    covered = np.zeros(X.shape, dtype=bool)
    for row in positive.itertuples():
        covered[row.example_idx, row.start:row.end] = True
    # no negative seqlet of tangermeme's overlaps a positive one here, so both agree
    assert not any(covered[row.example_idx, row.start:row.end].any()
                   for row in negative.itertuples())
    expected = negative.sort_values(["example_idx", "start"], ignore_index=True)
    ours = both[both.sign == "negative"].sort_values(["example_idx", "start"],
                                                      ignore_index=True)
    np.testing.assert_array_equal(ours[["example_idx", "start", "end"]].to_numpy(),
                                  expected[["example_idx", "start", "end"]].to_numpy())
    np.testing.assert_allclose(ours["attribution"], -expected["attribution"], rtol=1e-12)
    np.testing.assert_allclose(ours["p_value"], expected["p-value"], rtol=1e-10)
    assert (ours["attribution"] < 0).all()
    negative_only = recursive_seqlets(X, sign="negative")
    pd.testing.assert_frame_equal(negative_only, both[both.sign == "negative"]
                                  .reset_index(drop=True))


def test_adjacent_opposite_sites_are_both_called_without_overlap():
    # An activator site [40, 44) next to a repressor site [45, 49): tangermeme's seqlets
    # on X and on -X share position 44; dropping the negative one (tangermeme's advice)
    # would lose the repressor. Here it is called on the positions left free.
    X = np.random.default_rng(0).laplace(scale=0.2, size=(20, 100))
    X[:, 40:44] += 1.5
    X[:, 44] -= 0.3
    X[:, 45:49] -= 1.5
    X[::2, 44] += 0.6
    seqlets = recursive_seqlets(X)
    alone = recursive_seqlets(X, sign="negative")
    assert ((alone.start <= 44) & (alone.end > 44)).sum() >= 10  # the overlap happens
    for i in range(len(X)):
        rows = seqlets[seqlets.example_idx == i].sort_values("start")
        assert rows.sign.tolist() == ["positive", "negative"], rows
        assert rows.start.iloc[1] >= rows.end.iloc[0]
        assert rows.start.iloc[0] <= 40 and rows.end.iloc[0] >= 44
        core = min(rows.end.iloc[1], 49) - max(rows.start.iloc[1], 45)
        assert core >= 3


def signed_mask(truth):
    mask = np.zeros((N, LENGTH), dtype=int)
    for row in truth.itertuples():
        mask[row.example_idx, row.start:row.end] = 1 if row.sign == "positive" else -1
    return mask


def test_recall_precision_by_overlap_with_a_mask():
    X, truth = planted_map(seed=3)
    seqlets = recursive_seqlets(X, threshold=1e-3)
    recall = np.mean([overlaps(row, seqlets) for row in truth.itertuples()])
    precision = np.mean([overlaps(row, truth) for row in seqlets.itertuples()])
    assert seqlet_recall_precision(seqlets, signed_mask(truth)) == (recall, precision)
    # a boolean mask ignores the sign; flipping every sign then changes nothing ...
    flipped = seqlets.assign(sign=seqlets.sign.map({"positive": "negative",
                                                    "negative": "positive"}))
    unsigned = signed_mask(truth) != 0
    assert seqlet_recall_precision(flipped, unsigned) == seqlet_recall_precision(seqlets,
                                                                                 unsigned)
    # ... while a signed mask finds none of them
    assert seqlet_recall_precision(flipped, signed_mask(truth)) == (0.0, 0.0)
    # adjacent instances of opposite sign are two instances
    mask = np.zeros((1, 20), dtype=int)
    mask[0, 5:8], mask[0, 8:11] = 1, -1
    one = pd.DataFrame({"example_idx": [0], "start": [4], "end": [8], "sign": ["positive"]})
    assert seqlet_recall_precision(one, mask) == (0.5, 1.0)
    assert np.isnan(seqlet_recall_precision(one.iloc[:0], mask)[1])
    with pytest.raises(ValueError, match="outside"):
        seqlet_recall_precision(one.assign(end=30), mask)
    with pytest.raises(ValueError, match="sign"):
        seqlet_recall_precision(one.drop(columns="sign"), mask)


@pytest.mark.parametrize("caller", ["recursive", "window"])
def test_planted_blocks_are_recovered_with_their_sign(caller):
    X, truth = planted_map(seed=3)
    if caller == "recursive":
        seqlets = recursive_seqlets(X, threshold=1e-3)
    else:
        seqlets = window_seqlets(X, window=10, flank=2)
    recall = np.mean([overlaps(row, seqlets) for row in truth.itertuples()])
    precision = np.mean([overlaps(row, truth) for row in seqlets.itertuples()])
    assert recall >= 0.9 and precision >= 0.9, (recall, precision)
    matched = seqlets[[overlaps(row, truth) for row in seqlets.itertuples()]]
    assert (np.sign(matched["attribution"]) == np.where(matched.sign == "positive", 1, -1)).all()
    assert list(seqlets.columns) == COLUMNS
    assert seqlets["p_value"].is_monotonic_increasing


def test_recursive_seqlets_cover_the_planted_core_tightly():
    # Background positions at a block's ends can join a seqlet (up to min_length - 2 of
    # them here, where the blocks are far above the noise); a stricter threshold trims them.
    X, truth = planted_map(seed=4, noise=0.05, amplitude=(1.0, 1.0))
    for threshold, slack in [(1e-3, 2), (1e-5, 1)]:
        seqlets = recursive_seqlets(X, threshold=threshold)
        assert len(seqlets) == len(truth)
        for row in truth.itertuples():
            hits = seqlets[(seqlets.example_idx == row.example_idx)
                           & (seqlets.sign == row.sign)
                           & (seqlets.start < row.end) & (seqlets.end > row.start)]
            assert len(hits) == 1
            hit = hits.iloc[0]
            assert 0 <= row.start - hit.start <= slack and 0 <= hit.end - row.end <= slack


def test_window_seqlets_do_not_overlap_and_noise_gives_few():
    X, _ = planted_map(seed=5)
    seqlets = window_seqlets(X, window=10, flank=3)
    for _, group in seqlets.groupby("example_idx"):
        group = group.sort_values("start")
        assert (group.start.to_numpy()[1:] >= group.end.to_numpy()[:-1]).all()
    noise = np.random.default_rng(0).laplace(scale=0.2, size=(N, LENGTH))
    assert len(window_seqlets(noise, window=10, flank=3)) <= 2
    top = window_seqlets(X, window=10, flank=3, max_per_example=1)
    assert top.example_idx.is_unique
    only_negative = window_seqlets(X, window=10, flank=3, sign="negative")
    assert len(only_negative) > 0 and (only_negative.sign == "negative").all()


def test_window_seqlets_with_a_control_null():
    X, truth = planted_map(seed=7)
    control = np.random.default_rng(11).laplace(scale=0.2, size=(2 * N, LENGTH))
    seqlets = window_seqlets(X, window=10, flank=2, control=control)
    recall = np.mean([overlaps(row, seqlets) for row in truth.itertuples()])
    precision = np.mean([overlaps(row, truth) for row in seqlets.itertuples()])
    assert recall >= 0.9 and precision >= 0.9, (recall, precision)
    # empirical p-values: (1 + windows of the control at least as extreme) / (1 + windows)
    n_windows = control.shape[0] * (LENGTH - 9)
    assert seqlets.p_value.min() == pytest.approx(1 / (1 + n_windows))
    assert len(window_seqlets(control[:N], window=10, flank=2, control=control[N:])) <= 2
    top = window_seqlets(X, window=10, flank=2, control=control, max_per_example=1)
    assert top.example_idx.is_unique
    assert set(top.example_idx) == set(seqlets.example_idx)


def test_channel_axis_is_summed_and_explanations_are_read():
    X, _ = planted_map(seed=6)
    rng = np.random.default_rng(0)
    onehot = np.eye(4)[rng.integers(0, 4, size=X.shape)].transpose(0, 2, 1)
    expected = recursive_seqlets(X)
    pd.testing.assert_frame_equal(recursive_seqlets(onehot * X[:, None, :]), expected)

    class Result:
        values = X
    pd.testing.assert_frame_equal(recursive_seqlets(Result()), expected)


def test_flanks_are_added_and_clipped():
    X = np.zeros((2, 30))
    X[0, 1:6] = 1.0
    X[1, 12:18] = -1.0
    X += np.random.default_rng(0).normal(scale=1e-3, size=X.shape)
    core = recursive_seqlets(X, threshold=1e-3).sort_values("example_idx")
    flanked = recursive_seqlets(X, additional_flanks=3, threshold=1e-3)
    flanked = flanked.sort_values("example_idx")
    assert core.sign.tolist() == ["positive", "negative"]
    np.testing.assert_array_equal(flanked.start, np.maximum(core.start - 3, 0))
    np.testing.assert_array_equal(flanked.end, np.minimum(core.end + 3, 30))
    assert flanked.start.iloc[0] == 0  # clipped
    np.testing.assert_array_equal(flanked.p_value, core.p_value)  # of the core span
    for row in flanked.itertuples():
        np.testing.assert_allclose(row.attribution, X[row.example_idx, row.start:row.end].sum())


def test_constant_map_gives_an_empty_table():
    for caller in (recursive_seqlets, window_seqlets):
        seqlets = caller(np.ones((3, 50)))
        assert seqlets.empty and list(seqlets.columns) == COLUMNS
        assert seqlets["start"].dtype == np.int64


@pytest.mark.parametrize("bad, match", [
    (np.full((2, 10), np.nan), "NaN"),
    (np.zeros((2, 5, 10)), r"\(n_samples, 4, length\)"),
    (np.zeros(10), "shape"),
    (np.zeros((0, 10)), "empty"),
])
def test_bad_maps_raise(bad, match):
    with pytest.raises(ValueError, match=match):
        recursive_seqlets(bad)
    with pytest.raises(ValueError, match=match):
        window_seqlets(bad, window=2)


@pytest.mark.parametrize("kwargs, match", [
    ({"sign": "up"}, "sign"), ({"threshold": 0}, "threshold"), ({"threshold": 2}, "threshold"),
    ({"min_length": 0}, "min_length"), ({"min_length": 5, "max_length": 4}, "max_length"),
    ({"additional_flanks": -1}, "additional_flanks"), ({"n_bins": 1}, "n_bins"),
    ({"control": np.zeros((2, 3, 50))}, "control"),
    ({"control": np.ones((2, 50)), "target_fdr": 0}, "target_fdr"),
    ({"control": np.ones((2, 50)), "max_threshold": 1.0}, "max_threshold"),
    ({"return_fdr": True}, "return_fdr"),
])
def test_bad_recursive_parameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        recursive_seqlets(np.random.default_rng(0).normal(size=(2, 50)), **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"window": 60}, "longer"), ({"window": 0}, "window"), ({"flank": -1}, "flank"),
    ({"target_fdr": 1.0}, "target_fdr"), ({"max_per_example": 0}, "max_per_example"),
    ({"control": np.zeros((2, 5))}, "control"),
])
def test_bad_window_parameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        window_seqlets(np.random.default_rng(0).normal(size=(2, 50)), **kwargs)


# --------------------------------------------------------------------------------------
# annotate_seqlets

PLANTED = ["MA0079.3 SP1", "MA0062.2 Gabpa", "MA0083.3 SRF", "MA0095.2 YY1", "MA0050.2 IRF1",
           "MA0139.1 CTCF", "MA0102.3 CEBPA", "MA0080.4 SPI1", "MA0060.2 NFYA"]
FAMILIES = {"SP1": ("SP", "KLF"), "Gabpa": ("GABPA", "ELK", "ETV", "ELF", "ERF", "ETS", "FLI",
                                            "ERG", "FEV"),
            "CEBPA": ("CEBP",), "NFYA": ("NFY",), "IRF1": ("IRF",)}


def in_family(planted, found):
    short = planted.split()[1]
    return found.upper().startswith(tuple(p.upper() for p in FAMILIES.get(short, (short,))))


@pytest.fixture(scope="module")
def planted_sequences():
    """One sequence per JASPAR motif, its consensus at 40; attributions 1 on the consensus
    (at the observed base) and small noise elsewhere."""
    from skexplain.motifs import load_jaspar_database
    pytest.importorskip("memelite")
    database = load_jaspar_database()
    rng = np.random.default_rng(0)
    X = np.eye(4)[rng.integers(0, 4, size=(len(PLANTED), 300))].transpose(0, 2, 1)
    per_position = rng.normal(scale=0.05, size=(len(PLANTED), 300))
    for i, name in enumerate(PLANTED):
        ppm = database[name]
        X[i, :, 40:40 + ppm.shape[1]] = np.eye(4)[ppm.argmax(axis=0)].T
        per_position[i, 40:40 + ppm.shape[1]] += 1.0
    return X, X * per_position[:, None, :]


def test_seqlets_of_planted_consensuses_are_annotated_with_their_motif(planted_sequences):
    from skexplain.motifs._seqlets import annotate_seqlets
    X, attributions = planted_sequences
    seqlets = recursive_seqlets(attributions, threshold=1e-4, max_length=30)
    assert sorted(seqlets.example_idx) == list(range(len(PLANTED)))  # one per sequence
    annotated = annotate_seqlets(seqlets, X)
    assert len(annotated) == len(seqlets)
    assert list(annotated.columns[:len(COLUMNS)]) == COLUMNS  # seqlet columns kept
    pd.testing.assert_frame_equal(annotated[COLUMNS], seqlets)
    for row in annotated.itertuples():
        assert in_family(PLANTED[row.example_idx], row.motif_name), row
        assert row.motif_q_value < 0.05
        assert row.motif == f"{row.motif_id} {row.motif_name}"
        assert row.motif_rank == 1


def test_attribution_weights_sharpen_flanked_seqlets(planted_sequences):
    from skexplain.motifs._seqlets import annotate_seqlets
    from skexplain.motifs._tomtom import tomtom_matches
    X, attributions = planted_sequences
    widths = attributions.sum(axis=1).__gt__(0.5).sum(axis=1)
    flanked = pd.DataFrame({"example_idx": np.arange(len(PLANTED)), "start": 35,
                            "end": 45 + widths})
    plain = annotate_seqlets(flanked, X, n_nearest=2)
    weighted = annotate_seqlets(flanked, X, n_nearest=2, attributions=attributions)
    assert (plain.groupby("example_idx").motif_p_value.is_monotonic_increasing).all()
    assert plain.motif_rank.tolist() == [1, 2] * len(PLANTED)
    best_plain, best_weighted = plain[plain.motif_rank == 1], weighted[weighted.motif_rank == 1]
    assert (best_weighted.motif_q_value.to_numpy() <= best_plain.motif_q_value.to_numpy()).all()
    for row in best_weighted.itertuples():
        assert in_family(PLANTED[row.example_idx], row.motif_name), row
    # the query of a seqlet is its one-hot bases: TomTom on them gives the same p-values
    query = {"q": X[2, :, 35:45 + widths[2]]}
    direct = tomtom_matches(query, evalue_threshold=None).iloc[:2]
    np.testing.assert_allclose(plain[plain.example_idx == 2].motif_p_value, direct.p_value)


def test_hypothetical_queries_show_the_learned_motif_not_the_sampled_instance(
        planted_sequences):
    """A model that has learned each motif scores every base by its log-probability there;
    the observed sites carry a third of their positions mutated. The one-hot queries see
    the mutated instance, the hypothetical ones the motif."""
    from skexplain.motifs import load_jaspar_database
    from skexplain.motifs._seqlets import annotate_seqlets
    from skexplain.motifs._tomtom import tomtom_matches
    database = load_jaspar_database()
    X, _ = planted_sequences
    X = X.copy()
    hypothetical = np.zeros(X.shape)
    rng = np.random.default_rng(1)
    ends = []
    for i, name in enumerate(PLANTED):
        ppm = database[name]
        width = ppm.shape[1]
        log_odds = np.log(ppm + 0.01)
        hypothetical[i, :, 40:40 + width] = log_odds - log_odds.mean(axis=0)
        mutated = 40 + rng.choice(width, size=width // 3, replace=False)
        X[i, :, mutated] = np.roll(X[i, :, mutated], 1, axis=1)  # another base
        ends.append(40 + width)
    seqlets = pd.DataFrame({"example_idx": np.arange(len(PLANTED)), "start": 40, "end": ends})
    onehot = annotate_seqlets(seqlets, X)
    learned = annotate_seqlets(seqlets, X, hypothetical=hypothetical)
    assert all(in_family(PLANTED[row.example_idx], row.motif_name) and row.motif_q_value < 0.05
               for row in learned.itertuples())
    assert (learned.motif_p_value.to_numpy() < onehot.motif_p_value.to_numpy()).mean() >= 0.8
    # the query is the per-column softmax at temperature 0.2 max |h|
    h = hypothetical[0, :, 40:ends[0]]
    query = np.exp(h / (0.2 * np.abs(h).max()))
    direct = tomtom_matches({"q": query / query.sum(axis=0)}, evalue_threshold=None).iloc[0]
    assert learned.motif.iloc[0] == direct.target
    np.testing.assert_allclose(learned.motif_p_value.iloc[0], direct.p_value)
    with pytest.raises(ValueError, match="not both"):
        annotate_seqlets(seqlets, X, attributions=hypothetical, hypothetical=hypothetical)
    with pytest.raises(ValueError, match="hypothetical contributions have shape"):
        annotate_seqlets(seqlets, X, hypothetical=hypothetical[:, :, :50])


def test_annotate_seqlets_checks_its_input(planted_sequences):
    from skexplain.motifs._seqlets import annotate_seqlets
    X, attributions = planted_sequences
    seqlets = pd.DataFrame({"example_idx": [0], "start": [40], "end": [51]})
    empty = annotate_seqlets(seqlets.iloc[:0], X)
    assert empty.empty and "motif_q_value" in empty.columns
    for bad, match in [
        (seqlets.drop(columns="end"), "columns"),
        (seqlets.assign(end=400), "outside"),
        (seqlets.assign(example_idx=99), "outside"),
        (seqlets.assign(start=51), "outside"),
        (seqlets.assign(start=40.5), "integers"),
    ]:
        with pytest.raises(ValueError, match=match):
            annotate_seqlets(bad, X)
    with pytest.raises(ValueError, match="attributions cover"):
        annotate_seqlets(seqlets, X, attributions=attributions[:, :, :50])
    with pytest.raises(ValueError, match="n_nearest"):
        annotate_seqlets(seqlets, X, motifs={"a": np.full((4, 5), 0.25)}, n_nearest=2)
    with pytest.raises(ValueError, match="one-hot"):
        annotate_seqlets(seqlets, X * 0.5)
