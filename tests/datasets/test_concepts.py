import numpy as np
import pytest

from skexplain.datasets import load_jaspar_motifs, make_motif_concept


def _letters(X):
    return np.array(list("ACGT"))[X.argmax(axis=1)]


def test_consensus_is_inserted_forward_or_reverse_complement_and_nothing_else_changes():
    X_concept, X_random, mask = make_motif_concept("GATAAG", 200, 30, random_state=0)
    np.testing.assert_array_equal(X_concept.sum(axis=1), 1)
    assert mask.sum(axis=1).tolist() == [6] * 200
    changed = (X_concept != X_random).any(axis=1)
    assert not changed[~mask].any()
    words = {"".join(row[m]) for row, m in zip(_letters(X_concept), mask, strict=True)}
    assert words == {"GATAAG", "CTTATC"}


def test_ppm_columns_are_sampled_with_their_frequencies():
    ppm = load_jaspar_motifs(["SP1"])["SP1"]
    X_concept, _, mask = make_motif_concept(ppm, 4000, 40, reverse_complement=False,
                                            random_state=1)
    instances = X_concept.transpose(0, 2, 1)[mask].reshape(4000, ppm.shape[1], 4)
    np.testing.assert_allclose(instances.mean(axis=0).T, ppm, atol=0.03)


def test_insertions_do_not_overlap_and_backgrounds_are_drawn_from_the_given_ones():
    rng = np.random.default_rng(0)
    backgrounds = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (5, 50))].transpose(0, 2, 1)
    X_concept, X_random, mask = make_motif_concept(
        "ACGTACGTAC", 20, backgrounds=backgrounds, n_insertions=3, random_state=2
    )
    assert mask.sum(axis=1).tolist() == [30] * 20
    assert all(any(np.array_equal(x, b) for b in backgrounds) for x in X_random)
    again = make_motif_concept("ACGTACGTAC", 20, backgrounds=backgrounds, n_insertions=3,
                               random_state=2)
    np.testing.assert_array_equal(again[0], X_concept)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"motif": "GAXA"}, "consensus"),
        ({"motif": np.ones((4, 3))}, "probability matrix"),
        ({"motif": "GATA", "length": 7, "n_insertions": 2}, "do not fit"),
        ({"motif": "GATA", "backgrounds": np.full((3, 4, 10), 0.25)}, "one-hot"),
        ({"motif": "GATA", "backgrounds": np.eye(4)[None].repeat(2, 0), "length": 5},
         "differs"),
        ({"motif": "GATA", "n_samples": 0}, "n_samples"),
    ],
)
def test_bad_input_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_motif_concept(**kwargs)
