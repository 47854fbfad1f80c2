"""Seqlets: contiguous spans of high attribution in per-position attribution maps.

Two callers, both returning one tidy table (example, start, end, sign, attribution sum,
p-value) and both calling seqlets of either sign, and :func:`annotate_seqlets`, which names
the motif of each seqlet with TomTom:

- :func:`recursive_seqlets`, the recursive seqlet caller of tangermeme (Schreiber et al.),
  written here again in numpy so that it runs on the negated map as well: a repressor's
  site lowers the output, and tangermeme's caller finds only positive seqlets;
- :func:`window_seqlets`, the classic tfmodisco-style caller: the windows with the largest
  summed attribution, non-overlapping, kept above a Laplace null.
"""

import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd

SIGNS = ("both", "positive", "negative")
# The thresholds tried with a control map, from loosest to strictest: tangermeme's grid,
# from 0.1 to 1e-30, preceded by 7 log-spaced steps from ``max_threshold`` down to 0.1.
TANGERMEME_THRESHOLDS = np.logspace(-1, -30, 117)
COLUMNS = ["example_idx", "start", "end", "sign", "attribution", "p_value"]


def recursive_seqlets(attributions, *, sign="both", threshold=0.01, min_length=4, max_length=25,
                      additional_flanks=0, n_bins=1000, control=None, target_fdr=0.1,
                      max_threshold=0.25, return_fdr=False):
    """Call seqlets of either sign with the recursive seqlet algorithm.

    The algorithm of tangermeme's ``recursive_seqlets`` (Schreiber et al., tangermeme,
    https://github.com/jmschrei/tangermeme; derived from the TomTom/FIMO null of Gupta et
    al. 2007 and Grant et al. 2011):

    1. every attribution is placed in one of ``n_bins`` equal-width bins spanning the
       smallest to the largest value of the whole map;
    2. the null distribution of the summed bins of a span of ``k`` positions is the
       ``k``-fold convolution of the histogram of all bins (positions treated as independent
       draws), for ``k`` up to ``max_length``; a span's p-value is the probability of a sum
       at least as large;
    3. a span ``[s, s + k)`` is a candidate when every span of at least ``min_length``
       positions inside it (its "triangle") has a p-value below ``threshold``;
    4. per example, candidates are taken from the longest to the shortest and, within a
       length, by increasing p-value (the largest over the span's prefixes; ties by start),
       and a candidate is called when none of its positions is in a seqlet already called.

    A span that holds most of a strong block is significant even with a few background
    positions at its ends, so seqlets can reach up to about ``min_length - 1`` positions
    past a block of high attribution; a stricter ``threshold`` trims them.

    Positive seqlets are called on ``attributions`` and negative ones on ``-attributions``
    (each with its own null, built from the negated map). With ``sign="both"`` a position
    belongs to one seqlet at most: the negative seqlets are decoded with the positions of
    the positive seqlets (without flanks) already taken, so a candidate overlapping a
    positive seqlet is passed over for the next one, as step 4 does within a sign.
    tangermeme's documentation advises dropping such negative seqlets instead, which loses
    a repressor's site that shares a position with an adjacent activator's (tested). On
    the positive side, and on the negative side where no candidate overlaps a positive
    seqlet, the seqlets are those of
    ``tangermeme.seqlet.recursive_seqlets`` on the same map (tested), with two stated
    differences: the bins are computed in float64 whatever the input dtype (tangermeme
    computes ``x - min`` in the input's dtype, so a float32 map can place a value on the
    other side of a bin edge), and the rows are sorted stably by p-value, then example and
    start (tangermeme's order of equal p-values is unspecified).

    Parameters
    ----------
    attributions : array-like of shape (n_samples, length) or (n_samples, 4, length)
        Per-position attributions, or per-base ones that are summed over the 4 channels
        (right for input x gradient style maps, which are zero off the observed base; for
        hypothetical attributions multiply by the one-hot input first). An object with a
        ``values`` attribute (an skexplain explanation) is read through it.
    sign : {"both", "positive", "negative"}, default="both"
        Which seqlets to call.
    threshold : float, default=0.01
        p-value that every span of the triangle must be below. It ranks spans; it is not a
        false discovery rate (attributions are correlated along the sequence, and the null
        contains the signal). In (0, 1].
    min_length : int, default=4
        Shortest seqlet, and shortest span of the triangle, in positions.
    max_length : int, default=25
        Longest seqlet, in positions.
    additional_flanks : int, default=0
        Positions added on each side of a called seqlet (clipped to the sequence); they do
        not take part in the calling, so flanked seqlets may overlap.
    n_bins : int, default=1000
        Number of bins of the attribution values.
    control : array-like of shape (n_control, length_c) or (n_control, 4, length_c), optional
        Attributions of sequences without real signal, computed the same way (say of
        dinucleotide-shuffled copies of the sequences, with the same model and target).
        When given, ``threshold`` is ignored and chosen per sign from the data, as
        tangermeme's ``X_control`` does: seqlets are called on the map and on the control
        (with the map's null and bins) at each threshold from ``max_threshold`` down to
        1e-30 (tangermeme's 117 from 0.1 to 1e-30, preceded by 7 log-spaced ones from
        ``max_threshold`` when it is above 0.1); the false discovery rate at a threshold
        is estimated as (control seqlets + 1) times ``n_samples * length / (n_control *
        length_c)`` over the map's seqlets, and seqlets are called at the loosest
        threshold whose estimate is at most ``target_fdr``. If none is, a UserWarning is
        raised and no seqlet of that sign is returned.
    target_fdr : float, default=0.1
        Estimated false discovery rate to call seqlets at, with ``control``; in (0, 1).
    max_threshold : float, default=0.25
        Loosest threshold tried with ``control``, in [1e-30, 1). tangermeme stops at 0.1,
        which caps the recall even where the control says the false discovery rate is
        still below ``target_fdr`` (task 3 of Koo & Ploenzke, DeepLiftShap of a converged
        CNN-dist, ``benchmarks/check_genomics.py``: recall 0.78 with tangermeme's grid,
        0.83 with the threshold of 0.17 chosen here, precision 0.95 and 0.92; the looser
        grid costs about 3x the time). ``max_threshold=0.1`` gives tangermeme's grid and
        seqlets (tested).
    return_fdr : bool, default=False
        Also return the estimate at every threshold (needs ``control``).

    Returns
    -------
    seqlets : pandas.DataFrame
        One row per seqlet, sorted by p-value, with columns ``example_idx``, ``start`` and
        ``end`` (0-based, end exclusive, flanks included), ``sign`` ("positive" or
        "negative"), ``attribution`` (sum of the attributions over ``[start, end)``, in the
        map's units; negative for negative seqlets) and ``p_value`` (of the span without
        flanks, under the null of its sign). ``seqlets.attrs["threshold"]`` holds the
        threshold used per sign (None where none reached ``target_fdr``).
    fdr : pandas.DataFrame
        Only with ``return_fdr=True``: the estimate at every threshold, loosest first, per
        sign (columns ``sign``, ``threshold``, ``n_seqlets``, ``n_control_seqlets``,
        ``fdr``; NaN where the map has no seqlet).

    Raises
    ------
    ValueError
        If the map is not 2-D or (n, 4, L), is empty or holds NaN or infinite values, or a
        parameter is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> attributions = rng.normal(scale=0.1, size=(4, 200))
    >>> attributions[1, 50:60] += 1.0
    >>> attributions[2, 120:128] -= 1.0
    >>> seqlets = recursive_seqlets(attributions, threshold=1e-6)
    >>> seqlets[["example_idx", "start", "end", "sign"]]
       example_idx  start  end      sign
    0            1     50   60  positive
    1            2    119  128  negative
    """
    X = _check_attributions(attributions)
    _check_sign(sign)
    if not isinstance(threshold, Real) or not 0 < threshold <= 1:
        raise ValueError(f"threshold must be a p-value in (0, 1], got {threshold!r}.")
    _check_int("min_length", min_length, 1)
    _check_int("max_length", max_length, min_length)
    _check_int("additional_flanks", additional_flanks, 0)
    _check_int("n_bins", n_bins, 2)

    if return_fdr and control is None:
        raise ValueError("return_fdr=True needs control attributions to estimate the FDR.")
    control_map = None
    if control is not None:
        control_map = _check_attributions(control, "control")
        if not isinstance(target_fdr, Real) or not 0 < target_fdr < 1:
            raise ValueError(f"target_fdr must be in (0, 1), got {target_fdr!r}.")
    thresholds = [threshold]
    if control is not None:
        if not isinstance(max_threshold, Real) or not 1e-30 <= max_threshold < 1:
            raise ValueError(f"max_threshold must be in [1e-30, 1), got {max_threshold!r}.")
        thresholds = list(_fdr_thresholds(max_threshold))

    frames, tables, chosen = [], [], {}
    taken = taken_control = None
    for name, factor in (("positive", 1.0), ("negative", -1.0)):
        if sign not in ("both", name):
            continue
        signed = factor * X
        null = _null(signed, n_bins, max_length)
        found = _decode(signed, null, thresholds, min_length, max_length, taken)
        if control is None:
            rows, control_rows = found[0], []
            chosen[name] = float(threshold)
        else:
            found_control = _decode(factor * control_map, null, thresholds, min_length,
                                    max_length, taken_control)
            table = _fdr_table(thresholds, found, found_control, X.size / control_map.size)
            passing = np.flatnonzero(table["fdr"].to_numpy() <= target_fdr)
            tables.append(table.assign(sign=name))
            if passing.size:
                rows, control_rows = found[passing[0]], found_control[passing[0]]
                chosen[name] = float(thresholds[passing[0]])
            else:
                rows, control_rows, chosen[name] = [], [], None
                lowest = np.nanmin(table["fdr"], initial=np.inf)
                warnings.warn(
                    f"No threshold reaches an estimated false discovery rate of {target_fdr} "
                    f"for the {name} seqlets (lowest: {lowest:.3g}); none are returned. The "
                    f"estimate at each threshold comes with return_fdr=True.", UserWarning,
                    stacklevel=2)
        if sign == "both" and name == "positive":
            taken = _taken(rows, X.shape)
            taken_control = None if control is None else _taken(control_rows,
                                                                 control_map.shape)
        frames.append(_frame(_assemble(signed, rows, additional_flanks), name, factor))
    seqlets = _sorted(pd.concat(frames, ignore_index=True))
    seqlets.attrs["threshold"] = chosen
    if return_fdr:
        fdr = pd.concat(tables, ignore_index=True)[
            ["sign", "threshold", "n_seqlets", "n_control_seqlets", "fdr"]]
        return seqlets, fdr
    return seqlets


def window_seqlets(attributions, *, window=21, flank=10, sign="both", target_fdr=0.05,
                   max_per_example=None, control=None):
    """Call seqlets as the windows of largest summed attribution (tfmodisco-style).

    The classic caller of TF-MoDISco (Shrikumar et al. 2018, "Technical note on
    TF-MoDISco", arXiv:1811.00416): sum the attributions over every window of ``window``
    positions; keep the windows whose sum is significant; per example, repeatedly take the
    window of largest absolute sum, widen it by ``flank`` on each side, and exclude every
    window that overlaps the widened seqlet.

    The significance is simpler than tfmodisco-lite's (which fits Laplace tails and sets
    the threshold by isotonic regression against them): the window sums are modelled under
    the null as a Laplace distribution centred on their median, with scale
    ``median(|sum - median|) / ln 2`` (robust to the few windows holding signal), one-sided
    p-values are taken in the direction of each window's sign, and windows pass at
    ``target_fdr`` by Benjamini-Hochberg over all windows of the sign(s) asked for.
    Overlapping windows share positions, so their p-values are dependent, and a block of
    signal passes as many windows but yields one seqlet, so the false discovery rate of
    the seqlets is only roughly ``target_fdr``.

    With ``control`` attributions (sequences without real signal, say dinucleotide
    shuffles), the seqlets are called on both the map and the control (all windows of the
    sign(s) asked for eligible) and, per sign, kept down to the weakest absolute window sum at
    which the estimated false discovery rate of seqlets, (control seqlets at least as
    strong + 1) times ``n_samples * length / (n_control * length_c)`` over the map's
    seqlets at least as strong, is at most ``target_fdr`` (the estimate of tangermeme's
    recursive seqlets, here on seqlets rather than windows). Their ``p_value`` is then
    empirical: ``(1 + c) / (1 + m)``, with ``c`` the number of the ``m`` control windows
    whose sum is at least as large (at most as small, for a negative window).

    Parameters
    ----------
    attributions : array-like of shape (n_samples, length) or (n_samples, 4, length)
        As for :func:`recursive_seqlets`.
    window : int, default=21
        Width of the summed window, in positions; at most ``length``.
    flank : int, default=10
        Positions added on each side of a called window (clipped to the sequence); the
        widened seqlets do not overlap.
    sign : {"both", "positive", "negative"}, default="both"
        Which seqlets to call.
    target_fdr : float, default=0.05
        Benjamini-Hochberg level, or estimated false discovery rate with ``control``; in
        (0, 1).
    max_per_example : int, optional
        Keep at most this many seqlets per example (the strongest).
    control : array-like of shape (n_control, length_c) or (n_control, 4, length_c), optional
        Attributions of sequences without real signal, computed the same way;
        ``length_c >= window``.

    Returns
    -------
    seqlets : pandas.DataFrame
        Columns as for :func:`recursive_seqlets`; ``attribution`` is the sum over the
        widened seqlet ``[start, end)`` and ``p_value`` that of the central window.

    Raises
    ------
    ValueError
        If the map is malformed (see :func:`recursive_seqlets`) or a parameter is out of
        range.
    """
    X = _check_attributions(attributions)
    _check_sign(sign)
    n, length = X.shape
    _check_int("window", window, 1)
    if window > length:
        raise ValueError(f"window ({window}) is longer than the sequences ({length}).")
    _check_int("flank", flank, 0)
    if not isinstance(target_fdr, Real) or not 0 < target_fdr < 1:
        raise ValueError(f"target_fdr must be in (0, 1), got {target_fdr!r}.")
    if max_per_example is not None:
        _check_int("max_per_example", max_per_example, 1)

    if control is not None:
        control = _check_attributions(control, "control")
        if control.shape[1] < window:
            raise ValueError(f"window ({window}) is longer than the control sequences "
                             f"({control.shape[1]}).")

    csum = np.zeros((n, length + 1))
    np.cumsum(X, axis=1, out=csum[:, 1:])
    sums = csum[:, window:] - csum[:, :-window]  # (n, length - window + 1)
    if control is None:
        centre = np.median(sums)
        scale = np.median(np.abs(sums - centre)) / np.log(2)
        if scale == 0:
            return _frame(None, "positive", 1.0)
        # One-sided Laplace tail in the direction of the window's sign.
        p_values = np.minimum(0.5 * np.exp(-np.abs(sums - centre) / scale), 1.0)
        p_values = np.where((sums >= centre) == (sums >= 0), p_values, 1.0)
    else:
        control_csum = np.zeros((control.shape[0], control.shape[1] + 1))
        np.cumsum(control, axis=1, out=control_csum[:, 1:])
        control_sums = control_csum[:, window:] - control_csum[:, :-window]
        null = np.sort(control_sums.ravel())
        above = null.size - np.searchsorted(null, sums, side="left")
        below = np.searchsorted(null, sums, side="right")
        p_values = (1 + np.where(sums > 0, above, below)) / (1 + null.size)
    allowed = np.ones(sums.shape, dtype=bool)
    if sign == "positive":
        allowed = sums > 0
    elif sign == "negative":
        allowed = sums < 0
    if control is None:
        called = _greedy_windows(sums, allowed & _bh_pass(p_values, allowed, target_fdr),
                                 window, flank)
    else:
        control_allowed = np.ones(control_sums.shape, dtype=bool)
        if sign == "positive":
            control_allowed = control_sums > 0
        elif sign == "negative":
            control_allowed = control_sums < 0
        called = _greedy_windows(sums, allowed, window, flank)
        called_control = _greedy_windows(control_sums, control_allowed, window, flank)
        called = _control_fdr_filter(sums, called, control_sums, called_control,
                                     X.size / control.size, target_fdr)
    if not called:
        return _frame(None, "positive", 1.0)
    idx, k = np.asarray(called).T
    window_sums = sums[idx, k]
    if max_per_example is not None:
        order = np.lexsort((-np.abs(window_sums), idx))
        rank = np.empty(len(idx), dtype=np.int64)
        first = np.searchsorted(idx[order], idx[order], side="left")
        rank[order] = np.arange(len(idx)) - first
        keep = rank < max_per_example
        idx, k, window_sums = idx[keep], k[keep], window_sums[keep]
    start, end = np.maximum(k - flank, 0), np.minimum(k + window + flank, length)
    seqlets = pd.DataFrame({
        "example_idx": idx.astype(np.int64), "start": start.astype(np.int64),
        "end": end.astype(np.int64),
        "sign": np.where(window_sums > 0, "positive", "negative").astype(object),
        "attribution": csum[idx, end] - csum[idx, start], "p_value": p_values[idx, k],
    }, columns=COLUMNS)
    return _sorted(seqlets)


def _greedy_windows(sums, eligible, window, flank):
    """(example, window start) of the windows taken greedily by decreasing |sum| among the
    eligible ones, each excluding every window that overlaps it widened by ``flank``."""
    called = []
    length = sums.shape[1] + window - 1
    for i in range(sums.shape[0]):
        candidates = np.flatnonzero(eligible[i])
        order = candidates[np.argsort(-np.abs(sums[i, candidates]), kind="stable")]
        free = np.ones(sums.shape[1], dtype=bool)
        for k in order:
            if not free[k]:
                continue
            start, end = max(k - flank, 0), min(k + window + flank, length)
            # No later window may overlap [start, end): windows starting in
            # (start - window, end) are excluded.
            free[max(start - window + 1, 0):end] = False
            called.append((i, k))
    return called


def _control_fdr_filter(sums, called, control_sums, called_control, scale, target_fdr):
    """The called windows whose |sum| reaches, per sign, the loosest cut at which the
    estimated FDR, (control seqlets + 1) * scale / seqlets, is at most target_fdr."""
    kept = []
    for positive in (True, False):
        mine = [c for c in called if (sums[c] > 0) == positive]
        theirs = np.array([abs(control_sums[c]) for c in called_control
                           if (control_sums[c] > 0) == positive])
        if not mine:
            continue
        strength = np.array([abs(sums[c]) for c in mine])
        order = np.argsort(-strength, kind="stable")
        cuts = strength[order]
        n_seqlets = np.arange(1, len(cuts) + 1)
        n_control = (theirs[None, :] >= cuts[:, None]).sum(axis=1) if theirs.size else 0
        passing = np.flatnonzero((n_control + 1) * scale / n_seqlets <= target_fdr)
        if passing.size:
            kept.extend(mine[j] for j in order[:passing[-1] + 1])
    return kept


# --------------------------------------------------------------------------------------
# recursive seqlets, one sign


def _null(X, n_bins, max_length):
    """(xmin, bin_width, rcdfs) of the map X, or None when X is constant (every span then
    has the same sum, and nothing is significant)."""
    xmin, xmax = X.min(), X.max()
    if xmax == xmin:
        return None
    bin_width = (xmax - xmin) / (n_bins - 1)
    return xmin, bin_width, _span_null(_bins(X, xmin, bin_width, n_bins), n_bins, max_length)


def _bins(X, xmin, bin_width, n_bins):
    """Bin of every value; values outside the null's range go to the end bins."""
    return np.clip(np.floor((X - xmin) / bin_width), 0, n_bins - 1).astype(np.int64)


def _decode(X, null, thresholds, min_length, max_length, taken=None, chunk_size=256):
    """Seqlets of X at each threshold (largest first): a list with, per threshold, the
    (example_idx, core_start, core_end, p_value) rows called. Positions where ``taken``
    (n, L) is True are in no seqlet. Examples are processed ``chunk_size`` at a time, so
    that the (n, length) p-value matrices of every span length stay small."""
    found = [[] for _ in thresholds]
    if null is None:
        return found
    xmin, bin_width, rcdfs = null
    n, length = X.shape
    longest = min(max_length, length)
    loosest = max(thresholds)
    called = np.zeros(length, dtype=bool)
    for first in range(0, n, chunk_size):
        bins = _bins(X[first:first + chunk_size], xmin, bin_width, len(rcdfs[1]))
        bin_csum = np.zeros((bins.shape[0], length + 1), dtype=np.int64)
        np.cumsum(bins, axis=1, out=bin_csum[:, 1:])
        # p: largest p-value of the prefixes of [s, s + k) of at least min_length positions
        # (the decoding order); q: largest p-value of every such span inside [s, s + k).
        # Per example and length, the candidates at the loosest threshold, sorted by p
        # (stable: ties by start); a stricter threshold keeps a subsequence of them.
        candidates = {}
        min_q = np.full(bins.shape[0], np.inf)
        prev_p = prev_q = None
        for k in range(min_length, longest + 1):
            own = rcdfs[k][bin_csum[:, k:] - bin_csum[:, :-k]]
            if prev_p is None:
                p, q = own, own
            else:
                p = np.maximum(own, prev_p[:, :-1])
                q = np.maximum(p, prev_q[:, 1:])
            prev_p, prev_q = p, q
            rows, starts = np.nonzero(q < loosest)  # rows ascending
            bounds = np.searchsorted(rows, np.arange(bins.shape[0] + 1))
            for r in np.flatnonzero(np.diff(bounds)):
                s = starts[bounds[r]:bounds[r + 1]]
                s = s[np.argsort(p[r, s], kind="stable")]
                candidates[r, k] = (s, q[r, s], own[r, s])
                min_q[r] = min(min_q[r], q[r, s].min())
        for t, threshold in enumerate(thresholds):
            for r in np.flatnonzero(min_q < threshold):
                i = first + r
                called[:] = False if taken is None else taken[i]
                for k in range(longest, min_length - 1, -1):
                    if (r, k) not in candidates:
                        continue
                    starts, q, own = candidates[r, k]
                    for s, p_own in zip(starts[q < threshold], own[q < threshold],
                                        strict=True):
                        if called[s:s + k].any():
                            continue
                        called[s:s + k] = True
                        found[t].append((i, s, s + k, p_own))
    return found


def _taken(rows, shape):
    taken = np.zeros(shape, dtype=bool)
    for i, start, end, _ in rows:
        taken[i, start:end] = True
    return taken


def _fdr_thresholds(max_threshold):
    """The thresholds tried with a control, loosest first (see ``max_threshold``)."""
    looser = np.logspace(np.log10(max_threshold), -1, 8)[:-1] if max_threshold > 0.1 else []
    grid = np.concatenate([looser, TANGERMEME_THRESHOLDS])
    return grid[grid <= max_threshold]


def _fdr_table(thresholds, found, found_control, scale):
    """Estimated false discovery rate at each threshold, tangermeme's estimate: (control
    seqlets + 1), scaled to the positions of the map, over the seqlets of the map."""
    n_seqlets = np.array([len(rows) for rows in found])
    n_control = np.array([len(rows) for rows in found_control])
    with np.errstate(divide="ignore", invalid="ignore"):
        fdr = np.where(n_seqlets > 0, (n_control + 1) * scale / n_seqlets, np.nan)
    return pd.DataFrame({"threshold": thresholds, "n_seqlets": n_seqlets,
                         "n_control_seqlets": n_control, "fdr": fdr})


def _assemble(X, rows, additional_flanks):
    if not rows:
        return None
    idx, core_start, core_end, p_value = (np.asarray(c) for c in zip(*rows, strict=True))
    length = X.shape[1]
    x_csum = np.zeros((X.shape[0], length + 1))
    np.cumsum(X, axis=1, out=x_csum[:, 1:])
    start = np.maximum(core_start - additional_flanks, 0)
    end = np.minimum(core_end + additional_flanks, length)
    attribution = x_csum[idx, end] - x_csum[idx, start]
    return idx, start, end, attribution, p_value, core_start, core_end


def _span_null(bins, n_bins, max_length):
    """rcdfs[k][b]: probability that k independent draws from the histogram of ``bins``
    sum to at least b (b from 0 to k * (n_bins - 1))."""
    pmf = np.bincount(bins.ravel(), minlength=n_bins) / bins.size
    rcdfs = [None]
    pdf = np.ones(1)
    for _ in range(max_length):
        pdf = np.convolve(pdf, pmf)
        # Summed from the top: 1 - CDF would lose the small tail probabilities.
        rcdfs.append(np.cumsum(pdf[::-1])[::-1])
    return rcdfs


def _frame(fields, sign, factor):
    if fields is None:
        return pd.DataFrame({
            "example_idx": np.empty(0, np.int64), "start": np.empty(0, np.int64),
            "end": np.empty(0, np.int64), "sign": np.empty(0, object),
            "attribution": np.empty(0, np.float64), "p_value": np.empty(0, np.float64),
        }, columns=COLUMNS)
    idx, start, end, attribution, p_value = fields[:5]
    return pd.DataFrame({
        "example_idx": idx.astype(np.int64), "start": start.astype(np.int64),
        "end": end.astype(np.int64), "sign": np.full(len(idx), sign, dtype=object),
        "attribution": factor * attribution.astype(np.float64),
        "p_value": p_value.astype(np.float64),
    }, columns=COLUMNS)


def _sorted(seqlets):
    return seqlets.sort_values(["p_value", "example_idx", "start"], kind="stable",
                               ignore_index=True)


def _bh_pass(p_values, allowed, level):
    """Boolean mask of the entries of ``p_values[allowed]`` passing Benjamini-Hochberg."""
    tested = p_values[allowed]
    passing = np.zeros(p_values.shape, dtype=bool)
    if tested.size == 0:
        return passing
    order = np.sort(tested)
    below = order <= level * np.arange(1, tested.size + 1) / tested.size
    if not below.any():
        return passing
    cutoff = order[np.flatnonzero(below)[-1]]
    passing[allowed] = tested <= cutoff
    return passing


# --------------------------------------------------------------------------------------
# validation


def _check_attributions(attributions, name="attributions"):
    values = attributions
    if not isinstance(values, np.ndarray | pd.DataFrame) and hasattr(values, "values"):
        values = values.values
    if hasattr(values, "detach"):  # torch tensor
        values = values.detach().cpu().numpy()
    try:
        X = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a numeric array of shape (n_samples, length) "
                         "or (n_samples, 4, length).") from error
    if X.ndim == 3:
        if X.shape[1] != 4:
            raise ValueError(f"3-D {name} must have shape (n_samples, 4, length), got "
                             f"{X.shape}.")
        X = X.sum(axis=1)
    elif X.ndim != 2:
        raise ValueError(f"{name} must have shape (n_samples, length) or (n_samples, 4, "
                         f"length), got {X.shape}.")
    if X.size == 0:
        raise ValueError(f"{name} are empty (shape {X.shape}).")
    if not np.isfinite(X).all():
        raise ValueError(f"{name} hold NaN or infinite values.")
    return X


def _check_sign(sign):
    if sign not in SIGNS:
        raise ValueError(f"sign must be one of {SIGNS}, got {sign!r}.")


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")


# Temperature of the hypothetical-contribution queries, as a fraction of the seqlet's
# largest |contribution|: that base gets e^5 (about 150) times the weight of a base of zero.
_QUERY_TEMPERATURE = 0.2


def annotate_seqlets(seqlets, X, motifs=None, *, n_nearest=1, attributions=None,
                     hypothetical=None, reverse_complement=True, n_jobs=None, batch_size=500):
    """Name the motif each seqlet matches best, with TomTom against a motif database.

    Each seqlet's bases, cut from the one-hot sequences, form a query PPM (one-hot
    columns, as tangermeme's ``annotate_seqlets`` does; an N is a uniform column). With
    ``attributions``, column ``j`` is instead ``w_j * onehot_j + (1 - w_j) / 4`` with
    ``w_j = |a_j| / max |a|`` over the seqlet, so that positions of little attribution (its
    flanks, mostly) weigh less. With ``hypothetical`` contributions (the model's score for
    each of the 4 bases at each position), column ``j`` is their softmax,
    ``exp(h_bj / T) / sum_b exp(h_bj / T)`` with ``T = 0.2 max |h|`` over the seqlet: the
    query then shows the motif the model has learned there rather than the one sampled
    instance, which tells apart TFs whose motifs differ at a few positions (task 3 of Koo
    & Ploenzke, DeepLiftShap of a converged CNN-dist, seqlets on planted sites whose best
    hit at q < 0.05 is the planted TF: 0.20 with one-hot queries, 0.27 weighted, 0.51
    hypothetical; in its family of JASPAR paralogs: 0.64, 0.68, 0.90;
    ``benchmarks/check_genomics.py``).
    The queries are matched by :func:`tomtom_matches`
    (memelite's TomTom, Gupta et al. 2007, "Quantifying similarity between motifs",
    Genome Biol. 8, R24): p-values of the best alignment over offsets and strands,
    E-values (p times the number of motifs) and Benjamini-Hochberg q-values over each
    query's p-values against all motifs.

    Parameters
    ----------
    seqlets : pandas.DataFrame
        Seqlets with columns ``example_idx``, ``start`` and ``end`` (0-based, end
        exclusive), such as the output of :func:`recursive_seqlets`; other columns are kept.
    X : array-like of shape (n_samples, 4, length), or list of str
        The one-hot sequences the seqlets were called on (A, C, G, T rows), or equal-length
        strings.
    motifs : dict of str to (4, width) arrays, str or path-like, optional
        Motif database (PPMs by name, or a MEME file); default the bundled JASPAR database
        (:func:`load_jaspar_database`). Keys "ID NAME" are split into ``motif_id`` and
        ``motif_name``.
    n_nearest : int, default=1
        Matches reported per seqlet, best first.
    attributions : array-like of shape (n_samples, length) or (n_samples, 4, length), optional
        The attribution map the seqlets were called on, to weight the query columns.
    hypothetical : array-like of shape (n_samples, 4, length), optional
        Hypothetical contributions of ``X`` (``DeepLiftShap(..., hypothetical=True)``,
        ``InSilicoMutagenesis()``), to build the queries from; an object with a ``values``
        attribute is read through it. Not with ``attributions``.
    reverse_complement : bool, default=True
        Also align each seqlet to the reverse complement of each motif.
    n_jobs : int, default=None
        numba threads for memelite; None means 1, -1 all.
    batch_size : int, default=500
        Seqlets matched per TomTom call (bounds memory; results do not depend on it).

    Returns
    -------
    annotated : pandas.DataFrame
        ``seqlets`` with ``n_nearest`` rows per seqlet (in the input's order, index reset)
        and the added columns ``motif_rank`` (1 for the best match), ``motif`` (the database
        key), ``motif_id``, ``motif_name``, ``motif_p_value``, ``motif_e_value``,
        ``motif_q_value`` and ``motif_orientation`` ("-": the seqlet matches the motif's
        reverse complement). Filter on ``motif_q_value`` (say below 0.05) to keep the
        significant ones.

    Raises
    ------
    ImportError
        If memelite is not installed (``pip install skexplain[motifs]``).
    ValueError
        If ``seqlets`` lacks the columns or a seqlet lies outside ``X``, ``X`` is not
        one-hot, ``attributions`` or ``hypothetical`` does not match ``X`` (or both are
        given), or a parameter is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from skexplain.motifs import load_jaspar_database
    >>> spi1 = load_jaspar_database()["MA0080.4 SPI1"]  # 14 columns
    >>> rng = np.random.default_rng(0)
    >>> X = np.eye(4)[rng.integers(0, 4, size=(1, 100))].transpose(0, 2, 1)
    >>> X[0, :, 40:54] = np.eye(4)[spi1.argmax(axis=0)].T  # its consensus
    >>> seqlets = pd.DataFrame({"example_idx": [0], "start": [40], "end": [54]})
    >>> best = annotate_seqlets(seqlets, X).iloc[0]
    >>> best["motif_name"], bool(best["motif_q_value"] < 0.05)
    ('SPI1', True)
    """
    from ._fimo import _check_onehot
    from ._tomtom import _database, tomtom_matches

    if not {"example_idx", "start", "end"} <= set(getattr(seqlets, "columns", ())):
        raise ValueError("seqlets must be a DataFrame with columns example_idx, start, end.")
    X = _check_onehot(X)
    _check_int("n_nearest", n_nearest, 1)
    _check_int("batch_size", batch_size, 1)
    database = _database(motifs)
    if n_nearest > len(database):
        raise ValueError(f"n_nearest ({n_nearest}) exceeds the number of motifs "
                         f"({len(database)}).")
    if attributions is not None and hypothetical is not None:
        raise ValueError("Pass attributions or hypothetical contributions, not both.")
    if hypothetical is not None:
        hypothetical = np.asarray(getattr(hypothetical, "values", hypothetical), dtype=float)
        if hypothetical.shape != X.shape:
            raise ValueError(f"hypothetical contributions have shape {hypothetical.shape}, "
                             f"X {X.shape}.")
        if not np.isfinite(hypothetical).all():
            raise ValueError("hypothetical contributions hold NaN or infinite values.")
    weights = None
    if attributions is not None:
        weights = np.abs(_check_attributions(attributions))
        if weights.shape != (X.shape[0], X.shape[2]):
            raise ValueError(f"attributions cover {weights.shape} (samples, positions) but X "
                             f"{(X.shape[0], X.shape[2])}.")

    idx, start, end = (seqlets[c].to_numpy() for c in ("example_idx", "start", "end"))
    for name, column in [("example_idx", idx), ("start", start), ("end", end)]:
        if not np.issubdtype(column.dtype, np.integer):
            raise ValueError(f"seqlets column {name!r} must hold integers.")
    bad = (idx < 0) | (idx >= X.shape[0]) | (start < 0) | (end > X.shape[2]) | (end <= start)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise ValueError(f"Seqlet {j} (example {idx[j]}, [{start[j]}, {end[j]})) lies outside "
                         f"the sequences of shape {X.shape} or is empty.")
    if len(seqlets) == 0:
        out = seqlets.iloc[:0].copy()
        for column, dtype in [("motif_rank", np.int64), ("motif", object), ("motif_id", object),
                              ("motif_name", object), ("motif_p_value", np.float64),
                              ("motif_e_value", np.float64), ("motif_q_value", np.float64),
                              ("motif_orientation", object)]:
            out[column] = np.empty(0, dtype=dtype)
        return out.reset_index(drop=True)

    queries = []
    for i, s, e in zip(idx, start, end, strict=True):
        if hypothetical is not None:
            queries.append(_softmax_query(hypothetical[i, :, s:e]))
            continue
        onehot = X[i, :, s:e]
        ppm = onehot + (1 - onehot.sum(axis=0)) / 4  # N -> uniform
        if weights is not None:
            w = weights[i, s:e]
            w = w / w.max() if w.max() > 0 else np.ones_like(w)
            ppm = w * ppm + (1 - w) / 4
        queries.append(ppm)

    best = []
    for first in range(0, len(queries), batch_size):
        batch = queries[first:first + batch_size]
        names = [f"seqlet{first + j}" for j in range(len(batch))]
        matches = tomtom_matches(dict(zip(names, batch, strict=True)), database,
                                 evalue_threshold=None, reverse_complement=reverse_complement,
                                 n_jobs=n_jobs)
        top = matches.groupby("query", sort=False).head(n_nearest)
        best.append(top.assign(row=np.repeat(np.arange(first, first + len(batch)), n_nearest),
                               motif_rank=np.tile(np.arange(1, n_nearest + 1), len(batch))))
    best = pd.concat(best, ignore_index=True)
    annotated = seqlets.iloc[best["row"].to_numpy()].reset_index(drop=True)
    annotated["motif_rank"] = best["motif_rank"].to_numpy()
    annotated["motif"] = best["target"].to_numpy()
    annotated["motif_id"] = best["target_id"].to_numpy()
    annotated["motif_name"] = best["target_name"].to_numpy()
    annotated["motif_p_value"] = best["p_value"].to_numpy()
    annotated["motif_e_value"] = best["e_value"].to_numpy()
    annotated["motif_q_value"] = best["q_value"].to_numpy()
    annotated["motif_orientation"] = best["orientation"].to_numpy()
    return annotated


def _softmax_query(h):
    """Per-column softmax of hypothetical contributions (4, w), at _QUERY_TEMPERATURE."""
    scale = np.abs(h).max()
    if scale == 0:
        return np.full(h.shape, 0.25)
    z = h / (_QUERY_TEMPERATURE * scale)
    z = np.exp(z - z.max(axis=0))
    return z / z.sum(axis=0)


def seqlet_recall_precision(seqlets, mask):
    """Recall of ground-truth motif instances and precision of seqlets, by overlap.

    An instance is a maximal run of equal non-zero values of ``mask`` along a sequence; it
    is recalled when a seqlet of the same example overlaps it by at least one position. A
    seqlet is correct when it overlaps an instance. With a signed mask (values +1 and -1,
    say activator and repressor sites), the seqlet's ``sign`` must also match the
    instance's ("positive" for +, "negative" for -); with a boolean or 0/1 mask the sign
    is ignored.

    Parameters
    ----------
    seqlets : pandas.DataFrame
        With columns ``example_idx``, ``start``, ``end`` (and ``sign`` for a signed mask),
        such as the output of :func:`recursive_seqlets`.
    mask : array-like of shape (n_samples, length)
        Ground truth: 0 outside motif instances, non-zero inside.

    Returns
    -------
    recall : float
        Fraction of instances overlapped by a seqlet (NaN when there are none).
    precision : float
        Fraction of seqlets overlapping an instance (NaN when there are no seqlets).

    Raises
    ------
    ValueError
        If ``mask`` is not 2-D or holds NaN, or ``seqlets`` lacks the columns or lies
        outside ``mask``.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> mask = np.zeros((1, 50), dtype=int)
    >>> mask[0, 10:20], mask[0, 30:35] = 1, -1
    >>> seqlets = pd.DataFrame({"example_idx": [0, 0], "start": [12, 40], "end": [22, 45],
    ...                         "sign": ["positive", "positive"]})
    >>> seqlet_recall_precision(seqlets, mask)
    (0.5, 0.5)
    """
    mask = np.asarray(mask, dtype=np.float64)
    if mask.ndim != 2 or not np.isfinite(mask).all():
        raise ValueError(f"mask must be a finite array of shape (n_samples, length), got shape "
                         f"{mask.shape}.")
    signed = (mask < 0).any()
    needed = {"example_idx", "start", "end"} | ({"sign"} if signed else set())
    if not needed <= set(getattr(seqlets, "columns", ())):
        raise ValueError(f"seqlets must be a DataFrame with columns {sorted(needed)}.")
    idx, start, end = (seqlets[c].to_numpy().astype(np.int64)
                       for c in ("example_idx", "start", "end"))
    if ((idx < 0) | (idx >= mask.shape[0]) | (start < 0) | (end > mask.shape[1])).any():
        raise ValueError(f"seqlets lie outside the mask of shape {mask.shape}.")
    value = np.sign(mask) if signed else (mask != 0).astype(np.float64)
    wanted = (np.where(seqlets["sign"].to_numpy() == "negative", -1.0, 1.0) if signed
              else np.ones(len(idx)))

    # Instances: runs of equal non-zero values.
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2))
    padded[:, 1:-1] = value
    change = np.diff(padded, axis=1) != 0
    rows, edges = np.nonzero(change)
    instances = []
    for r in np.unique(rows):
        e = edges[rows == r]
        for a, b in zip(e[:-1], e[1:], strict=True):
            if value[r, a] != 0:
                instances.append((r, a, b, value[r, a]))
    hit = np.zeros(len(instances), dtype=bool)
    correct = np.zeros(len(idx), dtype=bool)
    order = np.argsort(idx, kind="stable")
    bounds = np.searchsorted(idx[order], np.arange(mask.shape[0] + 1))
    for j, (r, a, b, v) in enumerate(instances):
        same = order[bounds[r]:bounds[r + 1]]  # the seqlets of example r
        overlapping = same[(start[same] < b) & (end[same] > a) & (wanted[same] == v)]
        hit[j] = overlapping.size > 0
        correct[overlapping] = True
    recall = float(hit.mean()) if instances else float("nan")
    precision = float(correct.mean()) if len(idx) else float("nan")
    return recall, precision
