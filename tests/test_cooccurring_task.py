"""make_cooccurring_motif_task: the label correlation is the one specified, motifs are planted
where the labels say, and the output is reproducible."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skexplain.datasets import (
    COOCCURRING_MODULES,
    TASK1_TFS,
    load_jaspar_motifs,
    make_cooccurring_motif_task,
)
from skexplain.motifs import information_content


def _expected_correlations(n_modules, size, cooccurrence, probabilities):
    """Within- and between-module label correlations from the generative model."""
    k = np.arange(1, len(probabilities) + 1)
    mean_k, mean_pairs = np.dot(probabilities, k), np.dot(probabilities, k * (k - 1))
    active = mean_k / n_modules
    present = cooccurrence + (1 - cooccurrence) / size
    q = active * present
    variance = q * (1 - q)
    within = (active * cooccurrence - q**2) / variance
    between = (mean_pairs / (n_modules * (n_modules - 1)) * present**2 - q**2) / variance
    return within, between


@pytest.mark.parametrize("cooccurrence", [0.0, 0.5, 0.8, 1.0])
def test_label_correlation_matches_the_generative_model(cooccurrence):
    _, y, _ = make_cooccurring_motif_task(n_samples=6000, cooccurrence=cooccurrence,
                                          random_state=0)
    within, between = _expected_correlations(6, 2, cooccurrence, [0.5, 0.35, 0.15])
    corr = np.corrcoef(y.T)
    partner = np.arange(12) ^ 1  # columns 2m and 2m + 1 form module m
    off_module = ~np.eye(12, dtype=bool)
    off_module[np.arange(12), partner] = False
    assert_allclose(corr[np.arange(12), partner], within, atol=0.04)
    assert_allclose(corr[off_module].mean(), between, atol=0.015)
    assert np.abs(corr[off_module] - between).max() < 0.06
    # Every label's nearest label is its partner when members co-occur more than members of
    # two modules do, none when members exclude each other.
    nearest = np.where(np.eye(12, dtype=bool), -np.inf, corr).argmax(axis=1)
    if cooccurrence > 0:
        assert within > between and np.all(nearest == partner)
    else:
        assert within < between and not np.any(nearest == partner)
    if cooccurrence == 0:
        assert not np.any(y[:, ::2] & y[:, 1::2])  # members are mutually exclusive


def test_modules_of_three_and_one_active_module_per_sequence():
    modules = [("SP1", "Gabpa", "CEBPB"), ("MAX", "YY1", "SRF"), ("NFYB", "MEF2A", "STAT1")]
    _, y, _ = make_cooccurring_motif_task(n_samples=3000, modules=modules, cooccurrence=0.3,
                                          n_modules_probabilities=[1.0], random_state=1)
    per_module = y.reshape(len(y), 3, 3).sum(axis=2)
    assert_array_equal((per_module > 0).sum(axis=1), 1)  # one active module per sequence
    counts = per_module.max(axis=1)
    assert set(np.unique(counts)) == {1, 3}
    assert abs((counts == 3).mean() - 0.3) < 0.03
    # The module is uniform among the three, the lone member uniform within it.
    assert_allclose((per_module > 0).mean(axis=0), 1 / 3, atol=0.03)
    lone = y[counts == 1]
    assert_allclose(lone.mean(axis=0), 1 / 9, atol=0.025)


def test_motif_positions_are_those_of_the_labelled_tfs():
    X, y, mask = make_cooccurring_motif_task(n_samples=300, random_state=2)
    names = [tf for module in COOCCURRING_MODULES for tf in module]
    assert names == list(TASK1_TFS)
    motifs = load_jaspar_motifs(names)
    informative = np.array([(information_content(motifs[tf]) > 0.01).sum() for tf in names])
    assert_array_equal(mask.sum(axis=1), y @ informative)
    assert X.shape == (300, 4, 200) and X.dtype == np.float32
    assert_array_equal(X.sum(axis=1), 1)
    assert y.min() >= 0 and y.max() == 1 and y.sum(axis=1).min() >= 1
    # Sequences labelled SRF hold an SRF site; the others, background and other motifs only.
    log_odds = np.log2((motifs["SRF"] + 1e-3) / 0.25)

    def best_site(x):
        windows = np.lib.stride_tricks.sliding_window_view(x, log_odds.shape[1], axis=1)
        return max(np.einsum("cpw,cw->p", windows, w).max()
                   for w in (log_odds, log_odds[::-1, ::-1]))

    srf = y[:, names.index("SRF")] == 1
    with_srf = [best_site(x) for x in X[srf]]
    without = [best_site(x) for x in X[~srf]]
    assert np.median(with_srf) > np.percentile(without, 99)


def test_reproducible_with_random_state():
    first = make_cooccurring_motif_task(n_samples=200, random_state=5)
    again = make_cooccurring_motif_task(n_samples=200, random_state=np.random.RandomState(5))
    other = make_cooccurring_motif_task(n_samples=200, random_state=6)
    for a, b in zip(first, again, strict=True):
        assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])
    unshuffled = make_cooccurring_motif_task(n_samples=200, shuffle=False, random_state=5)
    assert_array_equal(np.sort(first[1].sum(axis=0)), np.sort(unshuffled[1].sum(axis=0)))


@pytest.mark.parametrize("kwargs, message", [
    ({"cooccurrence": 1.5}, "cooccurrence"),
    ({"modules": [("SP1",), ("MAX", "YY1")]}, "at least two"),
    ({"modules": [("SP1", "MAX"), ("MAX", "YY1")]}, "one module only"),
    ({"modules": [("SP1", "NOTATF")]}, "NOTATF"),
    ({"n_modules_probabilities": [0.5, 0.6]}, "n_modules_probabilities"),
    ({"n_modules_probabilities": [0.1] * 10}, "n_modules_probabilities"),
    ({"n_samples": 0}, "n_samples"),
    ({"length": 40}, "length"),
])
def test_bad_parameters_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_cooccurring_motif_task(**{"n_samples": 10, **kwargs})


def test_non_integer_sizes_raise_type_error():
    with pytest.raises(TypeError, match="n_samples"):
        make_cooccurring_motif_task(n_samples=10.5)
