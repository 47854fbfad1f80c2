import numpy as np
import pytest

from skexplain.datasets import make_planted_patch_images


def test_planted_patch_decides_the_label():
    X, y, mask = make_planted_patch_images(20, image_size=64, patch_size=16, random_state=0)
    assert X.shape == (20, 3, 64, 64) and X.dtype == np.float32
    assert sorted(np.bincount(y)) == [10, 10]
    for x, label, m in zip(X, y, mask, strict=True):
        rows, cols = np.nonzero(m)
        top, left = rows.min(), cols.min()
        assert m.sum() == 256 and top % 16 == 0 and left % 16 == 0  # one grid-aligned patch
        patch = x[:, top:top + 16, left:left + 16]
        assert np.isin(patch, (-1.0, 1.0)).all()
        # Vertical stripes (class 1) are constant down each column, horizontal along rows.
        constant_axis = 1 if label == 1 else 2
        assert (np.ptp(patch, axis=constant_axis) == 0).all()
        outside = x[:, ~m]
        assert -1.0 <= outside.min() and outside.max() < 1.0 and outside.std() > 0.5


def test_reproducible_and_validated():
    a = make_planted_patch_images(3, image_size=32, patch_size=8, random_state=1)
    b = make_planted_patch_images(3, image_size=32, patch_size=8, random_state=1)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    with pytest.raises(ValueError, match="divide image_size"):
        make_planted_patch_images(2, image_size=30, patch_size=8)
    with pytest.raises(ValueError, match="n_samples"):
        make_planted_patch_images(0)
