"""Images of noise with one planted patch whose pattern decides the label."""

import numbers

import numpy as np
from sklearn.utils import check_random_state


def make_planted_patch_images(n_samples=100, *, image_size=224, patch_size=16, n_channels=3,
                              random_state=None):
    """Noise images with one striped patch: vertical stripes for class 1, horizontal for 0.

    Every pixel of every channel is uniform on [-1, 1) (images centred as networks expect
    them), except in one ``patch_size`` x ``patch_size`` square, aligned to the grid of a
    vision transformer's patches and placed uniformly at random, which holds stripes of
    width ``patch_size // 4`` alternating between 1 and -1 in all channels: vertical stripes
    for class 1 and horizontal stripes for class 0. Only that square tells the classes
    apart, so it is the ground truth of a localization test (where is the evidence?) at
    the resolution of ViT patches, as in the ViT experiment of the SensX paper (3 x 224 x
    224 images).

    Parameters
    ----------
    n_samples : int, default=100
        Number of images; the classes alternate before shuffling (``n_samples // 2`` of
        class 0 rounded up).
    image_size : int, default=224
        Height and width, a multiple of ``patch_size``.
    patch_size : int, default=16
        Side of the planted square and of the patch grid; at least 4.
    n_channels : int, default=3
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : ndarray of shape (n_samples, n_channels, image_size, image_size), dtype float32
        Images (600 MB for 1,000 images of 3 x 224 x 224).
    y : ndarray of shape (n_samples,), dtype int64
        1 for vertical stripes, 0 for horizontal ones.
    mask : ndarray of shape (n_samples, image_size, image_size), dtype bool
        The planted square.

    Raises
    ------
    ValueError
        If ``n_samples < 1``, ``patch_size < 4`` or ``image_size`` is not a positive
        multiple of ``patch_size``.

    Examples
    --------
    >>> from skexplain.datasets import make_planted_patch_images
    >>> X, y, mask = make_planted_patch_images(4, image_size=32, patch_size=8, random_state=0)
    >>> X.shape, y.shape, mask.shape
    ((4, 3, 32, 32), (4,), (4, 32, 32))
    >>> mask.sum(axis=(1, 2))
    array([64, 64, 64, 64])
    """
    for name, value in (("n_samples", n_samples), ("image_size", image_size),
                        ("patch_size", patch_size), ("n_channels", n_channels)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if patch_size < 4 or image_size % patch_size:
        raise ValueError(
            f"patch_size must be at least 4 and divide image_size; got patch_size="
            f"{patch_size}, image_size={image_size}."
        )
    rng = check_random_state(random_state)
    generator = np.random.default_rng(rng.randint(np.iinfo(np.int32).max))
    X = generator.random((n_samples, n_channels, image_size, image_size), dtype=np.float32)
    X *= 2
    X -= 1
    y = rng.permutation(np.arange(n_samples) % 2).astype(np.int64)
    n_cells = image_size // patch_size
    cells = rng.randint(n_cells * n_cells, size=n_samples)
    stripes = (np.arange(patch_size) // (patch_size // 4)) % 2 == 0
    vertical = np.where(np.broadcast_to(stripes[None, :], (patch_size, patch_size)), 1.0,
                        -1.0).astype(np.float32)
    patterns = np.stack([vertical.T, vertical])  # class 0: horizontal, class 1: vertical
    mask = np.zeros((n_samples, image_size, image_size), dtype=bool)
    for i, (cell, label) in enumerate(zip(cells, y, strict=True)):
        top, left = (cell // n_cells) * patch_size, (cell % n_cells) * patch_size
        window = (slice(top, top + patch_size), slice(left, left + patch_size))
        X[i][(slice(None),) + window] = patterns[label]
        mask[i][window] = True
    return X, y, mask
