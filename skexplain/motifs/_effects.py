"""Effect curves: a model's mean response to a motif inserted at each offset (global
importance analysis)."""

from dataclasses import dataclass
from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state

from .._core.compute import batched_scores, parallel_map, resolve_batch_size
from .._core.model import ModelAdapter

ALPHABET = "ACGT"
OFFSETS_PER_TASK = 8  # fixed, so that the split of work (and the result) never depends on n_jobs


@dataclass
class EffectCurve:
    """Mean change of a model's score when a motif is inserted at each offset.

    Attributes
    ----------
    offsets : ndarray of shape (n_offsets,), int
        Start of the inserted motif relative to the start of the anchor motif (or, without
        an anchor, to ``anchor_position``), in nucleotides.
    effects : ndarray of shape (n_offsets,)
        Mean over backgrounds of the score with the motif minus the score without it.
    standard_errors : ndarray of shape (n_offsets,)
        Standard error of each mean over backgrounds.
    baseline : float
        Mean score of the backgrounds (with the anchor, when there is one).
    anchor_position : int
        Start of the anchor motif (or reference position) in the sequences.
    """

    offsets: np.ndarray
    effects: np.ndarray
    standard_errors: np.ndarray
    baseline: float
    anchor_position: int

    def plot(self, ax=None, **kwargs):
        """Line plot of the effect against the offset, with a +/- 1 standard error band.

        Returns
        -------
        ax : matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        ax = plt.gca() if ax is None else ax
        (line,) = ax.plot(self.offsets, self.effects, **kwargs)
        ax.fill_between(self.offsets, self.effects - self.standard_errors,
                        self.effects + self.standard_errors, color=line.get_color(), alpha=0.25)
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set_xlabel("offset (nt)")
        ax.set_ylabel("mean effect on score")
        return ax


def effect_curve(model, backgrounds, motif, *, anchor=None, anchor_position=None, offsets=None,
                 target=None, output="auto", batch_size="auto", n_jobs=None,
                 random_state=None):
    """Effect of a motif on a model's score as a function of its position or spacing.

    Global importance analysis (Koo et al. 2021): the motif is inserted into every
    background sequence at each offset and the model's mean score change is recorded.
    With an ``anchor`` motif (inserted at ``anchor_position`` in every sequence, with and
    without the motif), the curve is the effect of the motif's spacing from the anchor, as
    in the spacing rules of Puffin (Dudnyk et al. 2024); without one it is the effect of
    the motif's position relative to ``anchor_position``.

    A motif given as a PPM is sampled once per background (the same instance at every
    offset, so the offsets are compared on the same sequences); one-hot motifs and strings
    are inserted as they are. Sequences are scored ``batch_size`` at a time through the model
    adapter (the explainers' output rule and checks), blocks of eight offsets run in
    parallel (``parallel_map``), and all sampling happens up front, so results are identical
    for any ``n_jobs``.

    Parameters
    ----------
    model : estimator, skorch net, torch.nn.Module or callable
        The fitted model; callables get arrays of shape (batch, 4, length).
    backgrounds : array-like of shape (n_backgrounds, 4, length)
        Background sequences (one-hot), e.g. shuffled or random sequences.
    motif : str or array-like of shape (4, width)
        The inserted motif: a string over ACGT, or a PPM / one-hot matrix (rows A, C, G, T).
    anchor : str or array-like of shape (4, anchor_width), default=None
        A motif placed at ``anchor_position`` in every sequence.
    anchor_position : int, default=None
        Start of the anchor (or reference point); None centres the anchor (or, without
        one, the motif) in the sequence.
    offsets : array-like of int, default=None
        Motif starts relative to ``anchor_position``. None takes every offset where the
        motif fits in the sequence without overlapping the anchor.
    target : int or label, default=None
        Output to record; may be None only for a model with a single output.
    output : {"auto", "probability", "logit", "log_odds"} or callable, default="auto"
        The recorded quantity, as in the explainers: "auto" is a torch module's or skorch
        net's raw output (logits), a classifier's ``predict_proba``, a regressor's
        ``predict``, a callable's return value; a callable ``output`` reduces the raw
        output (e.g. a profile model's) to (batch,) or (batch, n_outputs).
    batch_size : int or "auto", default="auto"
        Sequences per model call; "auto" is the explainers' policy (64 MiB of float64 rows,
        at most 4096).
    n_jobs : int, default=None
        Number of joblib workers over blocks of offsets.
    random_state : int, RandomState instance or None, default=None
        Seeds the sampling of PPM motifs.

    Returns
    -------
    curve : EffectCurve

    Raises
    ------
    ValueError
        If the shapes disagree, a motif is not over ACGT, an offset puts the motif outside
        the sequence or over the anchor, or the target is ambiguous.

    References
    ----------
    Koo, P. K., Majdandzic, A., Ploenzke, M., Anand, P. & Paul, S. B. "Global importance
    analysis: an interpretability method to quantify importance of genomic features in deep
    neural networks." PLoS Comput. Biol. 17, e1008925 (2021).
    Dudnyk, K., Cai, D., Shi, C., Xu, J. & Zhou, J. "Sequence basis of transcription
    initiation in the human genome." Science 384, eadj0116 (2024).

    Examples
    --------
    >>> import numpy as np
    >>> from skexplain.motifs import effect_curve
    >>> def model(X):  # scores the position of the first G
    ...     return np.argmax(X[:, 2, :], axis=1) * 1.0
    >>> backgrounds = np.zeros((3, 4, 20)); backgrounds[:, 0] = 1  # poly-A
    >>> curve = effect_curve(model, backgrounds, "G", anchor_position=0, offsets=[2, 5, 9])
    >>> curve.effects
    array([2., 5., 9.])
    """
    backgrounds = _check_backgrounds(backgrounds)
    length = backgrounds.shape[2]
    rng = check_random_state(random_state)
    motif = _as_matrix(motif, "motif")
    anchor = None if anchor is None else _as_matrix(anchor, "anchor")
    width = motif.shape[1]
    anchor_width = 0 if anchor is None else anchor.shape[1]
    if anchor_position is None:
        anchor_position = (length - (anchor_width or width)) // 2
    anchor_position = _check_position(anchor_position, anchor_width, length)
    offsets = _check_offsets(offsets, anchor_position, anchor_width, width, length)

    reference = backgrounds.copy()
    if anchor is not None:
        _insert(reference, _instances(anchor, len(reference), rng), anchor_position)
    instances = _instances(motif, len(reference), rng)
    score = ModelAdapter(model, backgrounds.shape[1:], output=output, name="effect_curve")
    batch_size = resolve_batch_size(batch_size, backgrounds[0].size)
    baseline = _target_scores(score, reference, target, batch_size)
    blocks = [offsets[i:i + OFFSETS_PER_TASK] for i in range(0, len(offsets), OFFSETS_PER_TASK)]
    tasks = [(score, reference, instances, anchor_position + block, target, batch_size, baseline)
             for block in blocks]
    differences = np.concatenate(parallel_map(_block_effects, tasks, n_jobs=n_jobs))
    n_backgrounds = differences.shape[1]
    errors = differences.std(axis=1, ddof=1) / np.sqrt(n_backgrounds) if n_backgrounds > 1 else (
        np.full(len(offsets), np.nan))
    return EffectCurve(offsets, differences.mean(axis=1), errors, float(baseline.mean()),
                       anchor_position)


def _block_effects(score, reference, instances, starts, target, batch_size, baseline):
    """Score differences (len(starts), n_backgrounds) for motifs inserted at ``starts``."""
    rows = []
    for start in starts:
        inserted = reference.copy()
        _insert(inserted, instances, start)
        rows.append(_target_scores(score, inserted, target, batch_size) - baseline)
    return np.stack(rows)


def _target_scores(score, X, target, batch_size):
    scores = batched_scores(score, X.reshape(len(X), -1), batch_size)
    if target is None:
        if scores.shape[1] != 1:
            raise ValueError(
                f"The model has {scores.shape[1]} outputs: pass target (an output index or "
                "class label)."
            )
        return scores[:, 0]
    return scores[:, score.resolve_target(target, scores[:1])[0]]


def _insert(X, instances, start):
    X[:, :, start:start + instances.shape[2]] = instances


def _instances(matrix, n, rng):
    """n instances of a motif matrix: itself when one-hot, sampled columns for a PPM."""
    if np.all((matrix == 0) | (matrix == 1)):
        return np.repeat(matrix[None], n, axis=0)
    cumulative = np.cumsum(matrix, axis=0)
    draws = rng.random_sample((n, 1, matrix.shape[1]))
    letters = (draws > cumulative[None, :-1]).sum(axis=1)
    return np.eye(4)[letters].transpose(0, 2, 1)


def _as_matrix(motif, name):
    if isinstance(motif, str):
        letters = motif.upper()
        if not letters or set(letters) - set(ALPHABET):
            raise ValueError(f"{name} must be a non-empty string over ACGT, got {motif!r}.")
        return np.eye(4)[[ALPHABET.index(c) for c in letters]].T
    matrix = np.asarray(motif, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != 4 or matrix.shape[1] < 1:
        raise ValueError(f"{name} must be a string or a (4, width) matrix, got shape "
                         f"{matrix.shape}.")
    if np.any(matrix < 0) or not np.allclose(matrix.sum(axis=0), 1):
        raise ValueError(f"Each column of {name} must be a distribution over A, C, G, T.")
    return matrix / matrix.sum(axis=0)


def _check_backgrounds(backgrounds):
    backgrounds = np.asarray(backgrounds, dtype=np.float64)
    if backgrounds.ndim != 3 or backgrounds.shape[1] != 4 or len(backgrounds) == 0:
        raise ValueError(
            f"backgrounds must be one-hot sequences of shape (n_backgrounds, 4, length), got "
            f"shape {backgrounds.shape}."
        )
    if not np.all(np.isfinite(backgrounds)):
        raise ValueError("backgrounds contain NaN or infinity.")
    return backgrounds


def _check_position(position, width, length):
    if not isinstance(position, Integral) or not 0 <= position <= length - width:
        raise ValueError(
            f"anchor_position must be an integer in [0, {length - width}] so that the anchor "
            f"fits in the sequence, got {position!r}."
        )
    return int(position)


def _check_offsets(offsets, anchor_position, anchor_width, width, length):
    starts = np.arange(length - width + 1)
    if offsets is None:
        apart = (starts + width <= anchor_position) | (starts >= anchor_position + anchor_width)
        return starts[apart] - anchor_position
    offsets = np.asarray(offsets)
    if offsets.ndim != 1 or len(offsets) == 0 or not np.issubdtype(offsets.dtype, np.integer):
        raise ValueError("offsets must be a non-empty 1-D array of integers.")
    starts = anchor_position + offsets
    outside = (starts < 0) | (starts + width > length)
    overlap = ((starts + width > anchor_position) & (starts < anchor_position + anchor_width)
               & (anchor_width > 0))
    if np.any(outside | overlap):
        bad = offsets[outside | overlap][:5].tolist()
        raise ValueError(
            f"Offsets {bad} put the motif outside the sequence or over the anchor (anchor at "
            f"{anchor_position}, width {anchor_width}; motif width {width}; length {length})."
        )
    return offsets.astype(int)
