import os
import re
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skexplain.datasets import (
    TASK1_TFS,
    TASK3_BACKGROUND_TFS,
    TASK3_CORE_TFS,
    load_jaspar_motifs,
    make_motif_dataset,
)
from skexplain.datasets._motif_tasks import _make_task, _with_reverse_complements

# The full JASPAR file the shipped subset was cut from (absent from a fresh clone: tests skip).
SHARED_DATA = Path(os.environ.get("SKEXPLAIN_SHARED_DATA", "/work/shared/data"))
FULL_JASPAR = SHARED_DATA / "jaspar_core_vertebrates_pfm.txt"
K_PROBABILITIES = [0.50, 0.25, 0.17, 0.05, 0.03]
N_CORE_PWMS = 2 * len(TASK3_CORE_TFS)


def _parse_full_jaspar():
    """(ID, name, counts) of every matrix of the full 519-matrix file."""
    records = []
    for record in FULL_JASPAR.read_text().split(">")[1:]:
        header, *rows = record.strip().splitlines()
        counts = np.array([re.findall(r"\d+", row) for row in rows], dtype=float)
        records.append((*header.split(), counts))
    return records


@pytest.fixture(scope="module")
def task1():
    return _make_task(1, 30000, 200, np.random.RandomState(0))


@pytest.fixture(scope="module")
def task3():
    return _make_task(3, 20000, 200, np.random.RandomState(0))


# --- the shipped JASPAR subset ----------------------------------------------------------


def test_jaspar_motifs_are_ppms():
    motifs = load_jaspar_motifs()
    assert len(motifs) == 61
    assert set(TASK1_TFS) | set(TASK3_CORE_TFS) | set(TASK3_BACKGROUND_TFS) == set(motifs)
    for ppm in motifs.values():
        assert ppm.dtype == np.float64 and ppm.shape[0] == 4
        assert_allclose(ppm.sum(axis=0), 1.0)
        assert (ppm >= 0).all()


def test_jaspar_selection():
    motifs = load_jaspar_motifs(["SRF", "SP1"])
    assert list(motifs) == ["SRF", "SP1"]
    assert motifs["SP1"].shape == (4, 11)
    assert load_jaspar_motifs("MAX")["MAX"].shape == (4, 10)
    with pytest.raises(ValueError, match=r"No shipped JASPAR matrix named \['CTCF'\]"):
        load_jaspar_motifs(["SP1", "CTCF"])


def test_returned_matrices_are_copies():
    load_jaspar_motifs("SP1")["SP1"][:] = 0
    assert_allclose(load_jaspar_motifs("SP1")["SP1"].sum(axis=0), 1.0)


@pytest.mark.skipif(not FULL_JASPAR.exists(), reason="needs the full JASPAR file")
def test_shipped_matrices_equal_first_entries_of_full_file():
    records = _parse_full_jaspar()
    first = {}
    for matrix_id, name, counts in records:
        first.setdefault(name, (matrix_id, counts / counts.sum(axis=0)))
    expected_ids = "MA0151.1 MA0466.2 MA0477.1 MA0062.2 MA0496.1 MA0058.3 MA0052.3 MA0502.1 "
    expected_ids += "MA0079.3 MA0083.3 MA0137.3 MA0095.2"
    assert [first[name][0] for name in TASK1_TFS] == expected_ids.split()
    for name, ppm in load_jaspar_motifs().items():
        assert_array_equal(ppm, first[name][1])


@pytest.mark.skipif(not FULL_JASPAR.exists(), reason="needs the full JASPAR file")
def test_task3_background_follows_reference_notebook():
    records = _parse_full_jaspar()
    legacy = np.random.RandomState(22)
    chosen = legacy.permutation(len(records))[:65]
    # The notebook's set difference and set order, on CPython's int hashing.
    kept = list(set(chosen.tolist()) - {4, 5, 12, 15, 17, 18, 20, 36, 42, 60})[:50]
    assert tuple(records[i][1] for i in kept) == TASK3_BACKGROUND_TFS


# --- generation -------------------------------------------------------------------------


@pytest.mark.parametrize("task, y_shape", [(1, (50, 12)), (3, (50,))])
def test_shapes_and_dtypes(task, y_shape):
    X, y, mask = make_motif_dataset(task=task, n_samples=50, length=120, random_state=0)
    assert X.shape == (50, 4, 120) and X.dtype == np.float32
    assert X.flags["C_CONTIGUOUS"]
    assert_array_equal(X.sum(axis=1), 1.0)
    assert set(np.unique(X)) == {0.0, 1.0}
    assert y.shape == y_shape and np.issubdtype(y.dtype, np.integer)
    assert set(np.unique(y)) <= {0, 1}
    assert mask.shape == (50, 120) and mask.dtype == bool


def test_default_sizes():
    X, y, _ = make_motif_dataset(task=3, random_state=0)
    assert X.shape == (20000, 4, 200)
    assert y.sum() == 10000


def test_deterministic_under_random_state():
    first = make_motif_dataset(task=1, n_samples=300, random_state=7)
    second = make_motif_dataset(task=1, n_samples=300, random_state=np.random.RandomState(7))
    for a, b in zip(first, second, strict=True):
        assert_array_equal(a, b)
    other = make_motif_dataset(task=1, n_samples=300, random_state=8)
    assert not np.array_equal(first[0], other[0])


def test_shuffle_permutes_rows_only():
    X, y, mask = make_motif_dataset(task=3, n_samples=400, random_state=3, shuffle=False)
    assert_array_equal(y, [1] * 200 + [0] * 200)
    Xs, ys, masks = make_motif_dataset(task=3, n_samples=400, random_state=3)
    assert ys.sum() == 200 and not np.array_equal(ys, y)
    order = np.lexsort(X.reshape(400, -1).T)
    order_s = np.lexsort(Xs.reshape(400, -1).T)
    assert_array_equal(X[order], Xs[order_s])
    assert_array_equal(y[order], ys[order_s])
    assert_array_equal(mask[order], masks[order_s])


def test_number_of_motifs_follows_paper(task1, task3):
    for (_, _, _, motifs, _), first in ((task1, 1), (task3, 3)):
        counts = (motifs >= 0).sum(axis=1)
        frequencies = np.bincount(counts - first, minlength=5) / len(counts)
        # Binomial standard error <= 0.0035 at n = 20,000.
        assert_allclose(frequencies, K_PROBABILITIES, atol=0.015)


def test_motif_choice_is_uniform(task1):
    _, _, _, motifs, _ = task1
    frequencies = np.bincount(motifs[motifs >= 0], minlength=24) / (motifs >= 0).sum()
    assert_allclose(frequencies, 1 / 24, atol=0.006)


def _windows(X, motifs, starts, index, width):
    rows, slots = np.nonzero(motifs == index)
    positions = starts[rows, slots, None] + np.arange(width)
    return X[rows[:, None], :, positions]  # (n_windows, width, 4)


@pytest.mark.parametrize("tf", ["CEBPB", "SP1", "YY1"])
def test_planted_windows_follow_their_ppm(task1, tf):
    X, _, mask, motifs, starts = task1
    index = TASK1_TFS.index(tf)
    forward = load_jaspar_motifs(tf)[tf]
    # Reverse complement: A<->T, C<->G (rows A, C, G, T -> T, G, C, A), positions reversed.
    reverse = forward[[3, 2, 1, 0]][:, ::-1]
    for pwm_index, ppm in ((2 * index, forward), (2 * index + 1, reverse)):
        windows = _windows(X, motifs, starts, pwm_index, ppm.shape[1])
        assert len(windows) > 1000
        # Mean one-hot over ~1,200 windows: standard error <= 0.015.
        assert_allclose(windows.mean(axis=0).T, ppm, atol=0.06)


def test_mask_marks_informative_motif_columns(task1):
    X, _, mask, motifs, starts = task1
    widths = np.array([p.shape[1] for p in _pool(1)])
    inside = np.zeros_like(mask)
    for slot in range(motifs.shape[1]):
        rows = np.flatnonzero(motifs[:, slot] >= 0)
        for row in rows:
            start = starts[row, slot]
            inside[row, start : start + widths[motifs[row, slot]]] = True
    assert not (mask & ~inside).any()  # background is never a motif position
    ic = [2 + (p * np.log2(p + 1e-10)).sum(axis=0) for p in _pool(1)]
    n_informative = sum((c > 0.01).sum() * (motifs == i).sum() for i, c in enumerate(ic))
    assert mask.sum() == n_informative
    # Background positions are uniform.
    background = X.transpose(0, 2, 1)[~inside]
    assert_allclose(background.mean(axis=0), 0.25, atol=0.005)


def _pool(task):
    if task == 1:
        return _with_reverse_complements(load_jaspar_motifs(TASK1_TFS).values())
    return _with_reverse_complements(
        load_jaspar_motifs([*TASK3_CORE_TFS, *TASK3_BACKGROUND_TFS]).values()
    )


def test_motifs_fit_without_overlap(task3):
    _, _, _, motifs, starts = task3
    widths = np.array([p.shape[1] for p in _pool(3)])
    present = motifs >= 0
    ends = np.where(present, starts + widths[motifs], -1)
    assert (starts[present] >= 0).all() and (ends.max(axis=1) <= 200).all()
    # Slots are filled in order, each motif starting at or after the previous one's end.
    following = present[:, 1:]
    assert (starts[:, 1:][following] >= ends[:, :-1][following]).all()


def test_task1_labels_are_the_planted_tfs(task1):
    _, y, _, motifs, _ = task1
    for row in range(0, len(y), 97):
        planted = {TASK1_TFS[m // 2] for m in motifs[row] if m >= 0}
        assert {TASK1_TFS[j] for j in np.flatnonzero(y[row])} == planted
    assert (y.sum(axis=1) >= 1).all()
    # P(a given TF among k draws of 24 PWMs) averaged over the k distribution.
    expected = sum(p * (1 - (11 / 12) ** k) for k, p in enumerate(K_PROBABILITIES, start=1))
    assert_allclose(y.mean(axis=0), expected, atol=0.012)


def test_task3_composition(task3):
    _, y, _, motifs, _ = task3
    assert y.sum() == 10000 and len(y) == 20000
    positive, negative = motifs[y == 1], motifs[y == 0]
    assert positive.max() < N_CORE_PWMS  # positives: core motifs only
    counts = (motifs >= 0).sum(axis=1)
    assert counts.min() == 3 and counts.max() == 7
    planted = negative[negative >= 0]
    assert planted.max() == N_CORE_PWMS + 2 * len(TASK3_BACKGROUND_TFS) - 1
    # Negatives draw uniformly from 110 PWMs, 10 of which are core.
    assert_allclose((planted < N_CORE_PWMS).mean(), 10 / 110, atol=0.01)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"task": 2}, ValueError, "task must be 1 or 3"),
        ({"n_samples": 0}, ValueError, "n_samples must be >= 1"),
        ({"task": 3, "n_samples": 1}, ValueError, "n_samples must be >= 2"),
        ({"n_samples": 10.0}, TypeError, "n_samples must be an integer"),
        ({"n_samples": 10, "length": "200"}, TypeError, "length must be an integer"),
        ({"n_samples": 10, "length": 6}, ValueError, "length must be > 6"),
        ({"task": 3, "n_samples": 10, "length": 30}, ValueError, "length must be > 30"),
    ],
)
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        make_motif_dataset(**kwargs)


@pytest.mark.parametrize("task, length", [(1, 7), (3, 31)])
def test_shortest_allowed_length(task, length):
    X, _, mask = make_motif_dataset(task=task, n_samples=20, length=length, random_state=0)
    assert X.shape == (20, 4, length)
    assert mask.any(axis=1).all()


def test_gaps_split_the_free_length_evenly(task1):
    # By symmetry of the k + 1 uniform draws, E[first gap] = free length / (k + 1).
    _, _, _, motifs, starts = task1
    widths = np.array([p.shape[1] for p in _pool(1)])
    counts = (motifs >= 0).sum(axis=1)
    free = 200 - np.where(motifs >= 0, widths[motifs], 0).sum(axis=1)
    for k in (1, 2, 3):
        rows = counts == k
        assert_allclose((starts[rows, 0] / free[rows]).mean(), 1 / (k + 1), atol=0.01)
