import numpy as np
import pytest

from skexplain.motifs import filter_ppms, information_content, trim_ppm


def _one_hot(rng, n_samples, length):
    X = np.zeros((n_samples, 4, length))
    X[np.arange(n_samples)[:, None], rng.integers(0, 4, (n_samples, length)), np.arange(length)] = 1
    return X


def _naive_filter_ppms(activations, X, window, threshold):
    """Direct loop over sites: the definition filter_ppms vectorises."""
    length = X.shape[2]
    ppms, counts = [], []
    for f in range(activations.shape[1]):
        peak = activations[:, f].max()
        windows = [
            X[i, :, p - window // 2:p - window // 2 + window]
            for i, p in zip(*np.nonzero(activations[:, f] > threshold * peak), strict=True)
            if peak > 0 and p - window // 2 >= 0 and p - window // 2 + window <= length
        ]
        counts.append(len(windows))
        ppms.append(np.mean(windows, axis=0) if windows else np.full((4, window), 0.25))
    return np.array(ppms), np.array(counts)


@pytest.mark.parametrize("window, threshold", [(20, 0.5), (7, 0.2), (1, 0.9)])
def test_matches_direct_loop(window, threshold):
    rng = np.random.default_rng(0)
    X = _one_hot(rng, 30, 40)
    activations = rng.exponential(size=(30, 5, 40)) ** 3
    ppms, n_sites = filter_ppms(activations, X, window=window, threshold=threshold)
    expected_ppms, expected_counts = _naive_filter_ppms(activations, X, window, threshold)
    np.testing.assert_array_equal(n_sites, expected_counts)
    np.testing.assert_allclose(ppms, expected_ppms, atol=1e-12)
    np.testing.assert_allclose(ppms.sum(axis=1), 1.0)


def test_window_is_centred_on_the_site_and_edges_are_skipped():
    # One sequence ACGTACGTAC; sites at position 4 (whole window) and 0 (window runs off).
    X = np.zeros((1, 4, 10))
    X[0, np.arange(10) % 4, np.arange(10)] = 1
    activations = np.zeros((1, 1, 10))
    activations[0, 0, [0, 4]] = [3.0, 2.0]
    ppms, n_sites = filter_ppms(activations, X, window=4, threshold=0.5)
    assert n_sites.tolist() == [1]
    # The window of position 4 covers positions 2..5: G T A C.
    assert ppms[0].argmax(axis=0).tolist() == [2, 3, 0, 1]


def test_threshold_is_strict_and_relative_to_each_filters_maximum():
    X = _one_hot(np.random.default_rng(1), 2, 30)
    activations = np.zeros((2, 2, 30))
    activations[0, 0, 10] = 4.0
    activations[1, 0, 15] = 2.0  # exactly 0.5 x max: not a site
    activations[1, 0, 20] = 2.1
    activations[:, 1] = 100 * activations[:, 0]  # scale does not matter
    _, n_sites = filter_ppms(activations, X, window=5, threshold=0.5)
    assert n_sites.tolist() == [2, 2]


def test_filters_without_sites_get_uniform_ppms_and_a_warning():
    X = _one_hot(np.random.default_rng(2), 3, 25)
    activations = np.zeros((3, 3, 25))
    activations[0, 0, 12] = 1.0
    activations[:, 1] = -1.0  # dead filter: its maximum is not positive
    activations[1, 2, 0] = 1.0  # only site too close to the edge
    with pytest.warns(UserWarning, match=r"Filters \[1, 2\]"):
        ppms, n_sites = filter_ppms(activations, X, window=6)
    assert n_sites.tolist() == [1, 0, 0]
    np.testing.assert_array_equal(ppms[1:], 0.25)


def test_accepts_float32_and_leaves_inputs_untouched():
    rng = np.random.default_rng(3)
    X = _one_hot(rng, 10, 30).astype(np.float32)
    activations = rng.random((10, 4, 30)).astype(np.float32)
    X_copy, activations_copy = X.copy(), activations.copy()
    ppms, _ = filter_ppms(activations, X, window=9)
    expected, _ = filter_ppms(activations.astype(np.float64), X.astype(np.float64), window=9)
    np.testing.assert_allclose(ppms, expected, atol=1e-6)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(activations, activations_copy)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"activations": np.zeros((2, 3, 10)), "X": np.zeros((2, 4, 11))}, "X must have shape"),
        ({"activations": np.zeros((2, 10)), "X": np.zeros((2, 4, 10))}, "activations must have"),
        ({"activations": np.full((2, 3, 10), np.nan), "X": np.zeros((2, 4, 10))}, "NaN"),
        ({"window": 11}, "window"),
        ({"window": 0}, "window"),
        ({"threshold": 1.0}, "threshold"),
        ({"threshold": 0}, "threshold"),
    ],
)
def test_bad_input_raises(kwargs, match):
    arguments = {"activations": np.ones((2, 3, 10)), "X": np.zeros((2, 4, 10)), "window": 5,
                 **kwargs}
    with pytest.raises(ValueError, match=match):
        filter_ppms(**arguments)


def test_information_content_closed_forms():
    ppm = np.array([[1.0, 0.25, 0.5, 0.7],
                    [0.0, 0.25, 0.5, 0.1],
                    [0.0, 0.25, 0.0, 0.1],
                    [0.0, 0.25, 0.0, 0.1]])
    expected = [2.0, 0.0, 1.0, 2 + 0.7 * np.log2(0.7) + 3 * 0.1 * np.log2(0.1)]
    np.testing.assert_allclose(information_content(ppm), expected)
    # Stacks keep their leading axes.
    assert information_content(np.stack([ppm, ppm, ppm])).shape == (3, 4)
    # Against a skewed background, a column equal to it carries no information.
    background = np.array([0.4, 0.1, 0.1, 0.4])
    np.testing.assert_allclose(information_content(background[:, None], background), [0.0])
    np.testing.assert_allclose(information_content(np.eye(4)[:, [1]], background),
                               [np.log2(1 / 0.1)])


def test_information_content_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(\.\.\., 4, width\)"):
        information_content(np.ones((3, 5)) / 3)
    with pytest.raises(ValueError, match="non-negative"):
        information_content(-np.ones((4, 2)))


def test_trim_keeps_informative_span_plus_pad():
    ppm = np.full((4, 20), 0.25)
    ppm[:, 8] = [0.0, 1.0, 0.0, 0.0]
    ppm[:, 11] = [0.7, 0.1, 0.1, 0.1]  # 0.64 bits > 0.5
    ppm[:, 15] = [0.4, 0.2, 0.2, 0.2]  # 0.08 bits, below the cut
    original = ppm.copy()
    trimmed = trim_ppm(ppm)
    np.testing.assert_array_equal(trimmed, ppm[:, 5:15])
    np.testing.assert_array_equal(ppm, original)
    np.testing.assert_array_equal(trim_ppm(ppm, min_ic=1.5, pad=0), ppm[:, 8:9])
    # The pad is clipped at the ends.
    np.testing.assert_array_equal(trim_ppm(ppm[:, 7:13], pad=3), ppm[:, 7:13])


def test_trim_uninformative_returns_whole_and_stacks_give_lists():
    flat = np.full((4, 6), 0.25)
    informative = flat.copy()
    informative[:, 0] = [1.0, 0.0, 0.0, 0.0]
    trimmed = trim_ppm(np.stack([flat, informative]), pad=2)
    assert isinstance(trimmed, list)
    np.testing.assert_array_equal(trimmed[0], flat)
    np.testing.assert_array_equal(trimmed[1], informative[:, :3])
    with pytest.raises(ValueError, match="pad"):
        trim_ppm(flat, pad=-1)
