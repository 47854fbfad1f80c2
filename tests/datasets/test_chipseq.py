import os
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from skexplain.datasets import load_chipseq

# The original HDF5 files (absent from a fresh clone: the comparison test skips).
SHARED_DATA = Path(os.environ.get("SKEXPLAIN_SHARED_DATA", "/work/shared/data"))
SIZES = {"IRF1": (2724, 389, 779), "ZBED2": (3431, 490, 981)}
SPLITS = ("train", "valid", "test")


@pytest.mark.parametrize("name", ["IRF1", "ZBED2"])
def test_shapes_one_hot_and_balance(name):
    data = load_chipseq(name)
    for split, n in zip(SPLITS, SIZES[name], strict=True):
        X, y = data[f"X_{split}"], data[f"y_{split}"]
        assert X.shape == (n, 4, 400) and X.dtype == np.float32
        assert X.flags["C_CONTIGUOUS"]
        assert_array_equal(X.sum(axis=1), 1.0)
        assert set(np.unique(X)) == {0.0, 1.0}
        assert y.shape == (n,) and np.issubdtype(y.dtype, np.integer)
        assert set(np.unique(y)) == {0, 1}
        assert 0.45 < y.mean() < 0.55
    # All four nucleotides occur with genomic-like frequencies.
    composition = data.X_train.mean(axis=(0, 2))
    assert (composition > 0.15).all()
    assert f"{name} ChIP-seq task" in data.DESCR and "MIT" in data.DESCR


def test_unknown_name():
    with pytest.raises(ValueError, match=r"name must be one of \['IRF1', 'ZBED2'\]"):
        load_chipseq("CTCF")


@pytest.mark.parametrize("name", ["IRF1", "ZBED2"])
def test_equals_original_hdf5(name):
    h5py = pytest.importorskip("h5py")
    path = SHARED_DATA / f"{name}_400_h3k27ac.h5"
    if not path.exists():
        pytest.skip(f"{path} not available")
    data = load_chipseq(name)
    with h5py.File(path, "r") as original:
        for split in SPLITS:
            assert_array_equal(data[f"X_{split}"], original[f"X_{split}"][()])
            assert_array_equal(data[f"y_{split}"], original[f"Y_{split}"][()].ravel())
