"""Motif discovery with tfmodisco-lite on attribution maps, annotated by TomTom."""

import warnings
from numbers import Real

import numpy as np
import pandas as pd

from ._seqlets import _softmax_query

__all__ = ["MotifDiscovery", "discover_motifs"]

_SIGNS = (("pos_patterns", "positive"), ("neg_patterns", "negative"))
_MATCH_COLUMNS = ["motif_id", "motif_name", "motif_p_value", "motif_e_value", "motif_q_value",
                  "motif_orientation", "motif_matches"]


class MotifDiscovery:
    """Motifs found by tfmodisco-lite, with their TomTom matches.

    Made by :func:`discover_motifs`. Matrices are channels-first (4, width), rows A, C, G, T,
    trimmed as tfmodisco-lite's report trims them (see ``trim_threshold`` there).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per motif, positive metacluster first, each metacluster in tfmodisco-lite's
        order (by number of seqlets): ``pattern`` (tfmodisco-lite's name, e.g.
        ``pos_patterns.pattern_0``), ``sign`` ("positive" or "negative": the sign of the
        contributions of its seqlets), ``n_seqlets``, ``width`` (trimmed), ``trim_start``
        and ``trim_end`` (the trimmed window in the untrimmed pattern), ``contribution``
        (sum of the trimmed CWM: the mean contribution of a seqlet's core) and, when
        annotated, the best TomTom match: ``motif_id``, ``motif_name``, ``motif_p_value``,
        ``motif_e_value``, ``motif_q_value``, ``motif_orientation`` and ``motif_matches``
        (the names of the ``n_matches`` best targets, best first, joined by ", ").
    ppms : dict of str to ndarray of shape (4, width)
        Position probability matrices (base frequencies of the aligned seqlets).
    cwms : dict of str to ndarray of shape (4, width)
        Contribution weight matrices (mean contributions of the aligned seqlets).
    hypothetical_cwms : dict of str to ndarray of shape (4, width)
        Mean hypothetical contributions of the aligned seqlets.
    seqlets : pandas.DataFrame
        The seqlets of each motif: ``pattern``, ``example_idx``, ``start``, ``end``
        (0-based, end exclusive, in the untrimmed pattern's frame) and ``is_revcomp``.
    matches : pandas.DataFrame or None
        Every TomTom (query, target) pair with E-value below the threshold given to
        :func:`discover_motifs` (see :func:`~skexplain.motifs.tomtom_matches`); None
        without annotation.
    """

    def __init__(self, table, ppms, cwms, hypothetical_cwms, seqlets, matches=None):
        self.table = table
        self.ppms = ppms
        self.cwms = cwms
        self.hypothetical_cwms = hypothetical_cwms
        self.seqlets = seqlets
        self.matches = matches

    def __len__(self):
        return len(self.table)

    def __repr__(self):
        counts = self.table["sign"].value_counts() if len(self.table) else {}
        return (f"MotifDiscovery({len(self)} motifs: {counts.get('positive', 0)} positive, "
                f"{counts.get('negative', 0)} negative)")

    def to_frame(self):
        """The per-motif table (a copy of :attr:`table`)."""
        return self.table.copy()

    def plot(self, n_motifs=10, *, kinds=("cwm", "ppm"), figsize=None):
        """Report figure: logos of the top motifs of each sign, with their TomTom names.

        Parameters
        ----------
        n_motifs : int, default=10
            Motifs shown, in :attr:`table` order (the positive metacluster first).
        kinds : sequence of {"cwm", "hypothetical_cwm", "ppm"}, default=("cwm", "ppm")
            One column of logos per kind: the CWM and hypothetical CWM drawn as weights
            (letters below the axis for negative values), the PPM in bits.
        figsize : tuple, optional
            Default 4 inches per logo column and 1.6 per motif.

        Returns
        -------
        fig : matplotlib.figure.Figure

        Raises
        ------
        ValueError
            If there is no motif to draw, ``n_motifs`` is not a positive int or a kind is
            unknown.
        ImportError
            If matplotlib or logomaker (the ``motifs`` extra) is not installed.
        """
        import matplotlib.pyplot as plt

        from ._logos import plot_logo

        if not len(self):
            raise ValueError("No motif to plot: tfmodisco-lite found none.")
        if not isinstance(n_motifs, (int, np.integer)) or n_motifs < 1:
            raise ValueError(f"n_motifs must be a positive int, got {n_motifs!r}.")
        matrices = {"cwm": self.cwms, "hypothetical_cwm": self.hypothetical_cwms,
                    "ppm": self.ppms}
        kinds = list(kinds)
        unknown = [k for k in kinds if k not in matrices]
        if unknown or not kinds:
            raise ValueError(f"kinds must be among {list(matrices)}, got {kinds!r}.")
        rows = self.table.head(n_motifs)
        figsize = figsize or (4 * len(kinds), 1.6 * len(rows) + 0.4)
        fig, axes = plt.subplots(len(rows), len(kinds), figsize=figsize, squeeze=False)
        for r, row in enumerate(rows.itertuples(index=False)):
            label = f"{row.pattern} ({row.n_seqlets} seqlets)"
            name = getattr(row, "motif_name", None)
            if name is not None and isinstance(name, str):
                label += f"\nTomTom: {name} (q={row.motif_q_value:.1e})"
            for c, kind in enumerate(kinds):
                ax = axes[r, c]
                plot_logo(matrices[kind][row.pattern], ax=ax,
                          kind="information" if kind == "ppm" else "weight")
                ax.set_title(label if c == 0 else kind.replace("_", " ").upper(), fontsize=8,
                             loc="left")
                ax.tick_params(labelsize=6)
                ax.set_xlabel("")
                ax.set_ylabel({"cwm": "contribution", "hypothetical_cwm": "hyp.",
                               "ppm": "bits"}[kind], fontsize=7)
        fig.tight_layout()
        return fig


def discover_motifs(X, hypothetical=None, *, annotate=True, database=None, n_matches=3,
                    evalue_threshold=0.1, query="ppm", trim_threshold=0.3, sliding_window_size=21,
                    flank_size=10, target_seqlet_fdr=0.2, min_metacluster_size=100,
                    max_seqlets_per_metacluster=20000, n_leiden_runs=50,
                    final_min_cluster_size=20, n_jobs=None, verbose=False, **modisco_params):
    """Discover motifs in attribution maps with tfmodisco-lite, and name them with TomTom.

    Runs tfmodisco-lite's ``TFMoDISco`` (Shrikumar et al., "Technical note on
    transcription factor motif discovery from importance scores (TF-MoDISco)",
    arXiv:1811.00416; the ``modisco-lite`` package of J. Schreiber) unchanged: it calls
    seqlets on the contributions (``one_hot * hypothetical``), clusters them by the
    similarity of their hypothetical contributions, per sign (metacluster), and aggregates
    each cluster into a motif. Here the inputs are converted from skexplain's (n, 4, L)
    layout to its (n, L, 4) one and back, its patterns are trimmed as its own report trims
    them (from the first to the last position whose summed absolute CWM reaches
    ``trim_threshold`` times the maximum), and each trimmed PPM (or, with
    ``query="hypothetical_cwm"``, its hypothetical CWM) is matched with TomTom
    (:func:`~skexplain.motifs.tomtom_matches`, memelite) against the bundled JASPAR
    database.

    Parameters
    ----------
    X : array-like of shape (n_samples, 4, length), or Attribution
        One-hot sequences (rows A, C, G, T). An :class:`~skexplain.Attribution` of
        sequences whose ``values`` are hypothetical contributions and whose ``data`` are
        the one-hot sequences may be given alone.
    hypothetical : array-like of shape (n_samples, 4, length), or Attribution, optional
        Hypothetical contributions: for every position and every base, the contribution
        that base would have there (DeepLiftShap with ``hypothetical=True``, or the
        mean-centred per-base effects of
        :class:`~skexplain.explainers.InSilicoMutagenesis`). Ordinary contributions (zero
        off the observed base) can be given but make poor clusters (warned).
    annotate : bool, default=True
        Match the motifs with TomTom (needs memelite).
    database : dict of str to (4, width) arrays, str or path-like, optional
        Motifs to match against; default the bundled JASPAR database.
    n_matches : int, default=3
        Names listed per motif in ``motif_matches``.
    evalue_threshold : float or None, default=0.1
        E-value below which a TomTom pair is kept in :attr:`MotifDiscovery.matches`. The
        best match per motif is reported whatever its E-value: filter on
        ``motif_q_value``.
    query : {"ppm", "hypothetical_cwm"}, default="ppm"
        What TomTom matches: the pattern's PPM (the base frequencies of its seqlets, as
        tfmodisco-lite's report does), or its hypothetical CWM (the model's mean
        contribution of every base at every position, sign-flipped for negative patterns)
        turned into a query as :func:`~skexplain.motifs.annotate_seqlets` does with
        ``hypothetical``: it shows the motif the model has learned rather than the mean of
        sampled instances, which tells apart paralogs with nearly the same motif.
    trim_threshold : float, default=0.3
        Trimming of the patterns, in (0, 1].
    sliding_window_size, flank_size, target_seqlet_fdr, min_metacluster_size, \
max_seqlets_per_metacluster, n_leiden_runs, final_min_cluster_size : \
int or float
        tfmodisco-lite's parameters of the same names (its defaults, which the modisco
        command line also uses; a metacluster with fewer than ``min_metacluster_size``
        seqlets is skipped). Fewer ``n_leiden_runs`` run faster.
    n_jobs : int, default=None
        numba threads for TomTom (None means 1, -1 all); tfmodisco-lite uses numba's
        default threads.
    verbose : bool, default=False
        tfmodisco-lite's progress messages.
    **modisco_params
        Other keyword arguments of ``modiscolite.tfmodisco.TFMoDISco``.

    Returns
    -------
    motifs : MotifDiscovery
        The motifs: ``.table`` (tidy, one row per motif), ``.ppms``, ``.cwms``,
        ``.hypothetical_cwms``, ``.seqlets``, ``.matches``; ``.plot()`` draws the report
        figure.

    Raises
    ------
    ImportError
        If modisco-lite (or, with ``annotate``, memelite) is not installed: ``pip install
        'skexplain[genomics]'``.
    ValueError
        If ``X`` is not one-hot (n, 4, L), the hypothetical contributions are missing, of
        another shape or not finite, or a parameter is out of range.

    Notes
    -----
    tfmodisco-lite wants thousands of seqlets: give it hundreds to thousands of sequences
    (task 3: 2,000 sequences of 200 nt gave about 2,000 seqlets and ran in minutes). A
    first call compiles its numba kernels.

    Examples
    --------
    >>> from skexplain.explainers import InSilicoMutagenesis
    >>> ism = InSilicoMutagenesis(model).fit(X[:1])  # doctest: +SKIP
    >>> hyp = ism.explain(X, target=1).values  # doctest: +SKIP
    >>> motifs = discover_motifs(X, hyp)  # doctest: +SKIP
    >>> motifs.table[["pattern", "n_seqlets", "motif_name"]]  # doctest: +SKIP
    >>> fig = motifs.plot(n_motifs=5)  # doctest: +SKIP
    """
    from ._fimo import _check_onehot

    one_hot, hypothetical = _inputs(X, hypothetical)
    one_hot = _check_onehot(one_hot)
    hypothetical = np.asarray(getattr(hypothetical, "values", hypothetical), dtype=np.float64)
    if hypothetical.shape != one_hot.shape:
        raise ValueError(f"hypothetical contributions have shape {hypothetical.shape}, but the "
                         f"sequences {one_hot.shape}: both must be (n_samples, 4, length).")
    if not np.all(np.isfinite(hypothetical)):
        raise ValueError("hypothetical contributions hold NaN or infinite values.")
    if not isinstance(trim_threshold, Real) or not 0 < trim_threshold <= 1:
        raise ValueError(f"trim_threshold must be in (0, 1], got {trim_threshold!r}.")
    if evalue_threshold is not None and (not isinstance(evalue_threshold, Real)
                                         or evalue_threshold <= 0):
        raise ValueError(f"evalue_threshold must be a positive float or None, got "
                         f"{evalue_threshold!r}.")
    if not isinstance(n_matches, (int, np.integer)) or n_matches < 1:
        raise ValueError(f"n_matches must be a positive int, got {n_matches!r}.")
    if query not in ("ppm", "hypothetical_cwm"):
        raise ValueError(f"query must be 'ppm' or 'hypothetical_cwm', got {query!r}.")
    off_base = hypothetical * (1 - one_hot)
    if np.any(hypothetical) and not np.any(off_base):
        warnings.warn("The contributions are zero off the observed bases: they look like "
                      "ordinary, not hypothetical, contributions, which tfmodisco-lite "
                      "clusters poorly.", UserWarning, stacklevel=2)
    TFMoDISco = _import_modisco()

    # (n, 4, L) -> tfmodisco-lite's (n, L, 4)
    pos, neg = TFMoDISco(
        one_hot=np.ascontiguousarray(one_hot.transpose(0, 2, 1), dtype=np.float32),
        hypothetical_contribs=np.ascontiguousarray(hypothetical.transpose(0, 2, 1),
                                                   dtype=np.float32),
        sliding_window_size=sliding_window_size, flank_size=flank_size,
        target_seqlet_fdr=target_seqlet_fdr, min_metacluster_size=min_metacluster_size,
        max_seqlets_per_metacluster=max_seqlets_per_metacluster, n_leiden_runs=n_leiden_runs,
        final_min_cluster_size=final_min_cluster_size, verbose=verbose, **modisco_params,
    )

    rows, ppms, cwms, hcwms, seqlet_rows = [], {}, {}, {}, []
    for (group, sign), patterns in zip(_SIGNS, (pos, neg), strict=True):
        for index, pattern in enumerate(patterns or ()):
            name = f"{group}.pattern_{index}"
            cwm = np.asarray(pattern.contrib_scores, dtype=np.float64)  # (w, 4)
            score = np.abs(cwm).sum(axis=1)
            passing = np.flatnonzero(score >= score.max() * trim_threshold)
            start, end = (int(passing[0]), int(passing[-1]) + 1) if len(passing) else \
                (0, len(score))
            ppm = np.asarray(pattern.sequence, dtype=np.float64)[start:end].T
            ppm = (ppm + 1e-6) / (ppm + 1e-6).sum(axis=0, keepdims=True)  # N columns, if any
            ppms[name] = ppm
            cwms[name] = cwm[start:end].T
            hcwms[name] = np.asarray(pattern.hypothetical_contribs,
                                     dtype=np.float64)[start:end].T
            rows.append({"pattern": name, "sign": sign, "n_seqlets": len(pattern.seqlets),
                         "width": end - start, "trim_start": start, "trim_end": end,
                         "contribution": float(cwm[start:end].sum())})
            seqlet_rows.extend(
                {"pattern": name, "example_idx": int(s.example_idx), "start": int(s.start),
                 "end": int(s.end), "is_revcomp": bool(s.is_revcomp)}
                for s in pattern.seqlets)
    table = pd.DataFrame(rows, columns=["pattern", "sign", "n_seqlets", "width", "trim_start",
                                        "trim_end", "contribution"])
    seqlets = pd.DataFrame(seqlet_rows,
                           columns=["pattern", "example_idx", "start", "end", "is_revcomp"])
    if not len(table):
        warnings.warn("tfmodisco-lite found no motif (too few seqlets? give it more "
                      "sequences or lower min_metacluster_size).", UserWarning, stacklevel=2)

    matches = None
    if annotate and len(table):
        queries = ppms if query == "ppm" else {
            name: _softmax_query(sign * hcwms[name])
            for name, sign in zip(table.pattern, np.where(table.sign == "negative", -1, 1),
                                  strict=True)}
        table, matches = _annotate(table, queries, database, n_matches, evalue_threshold,
                                   n_jobs)
    return MotifDiscovery(table, ppms, cwms, hcwms, seqlets, matches)


def _inputs(X, hypothetical):
    """(one_hot, hypothetical) from the accepted forms of the two arguments."""
    if hasattr(X, "as_channels_last") and hasattr(X, "values"):
        if hypothetical is not None:
            raise ValueError("Give either an Attribution of hypothetical contributions alone, "
                             "or one-hot sequences X and hypothetical contributions.")
        X._check_sequence("discover_motifs")
        if X.data is None or np.shape(X.data) != np.shape(X.values):
            raise ValueError("The Attribution stores no one-hot data of its values' shape: "
                             "pass the sequences as X and the Attribution as hypothetical.")
        return X.data, X.values
    if hypothetical is None:
        raise ValueError("discover_motifs needs hypothetical contributions (n_samples, 4, "
                         "length), e.g. from InSilicoMutagenesis or DeepLiftShap with "
                         "hypothetical=True.")
    return X, hypothetical


def _annotate(table, ppms, database, n_matches, evalue_threshold, n_jobs):
    from ._tomtom import _database, tomtom_matches

    database = _database(database)
    every = tomtom_matches(ppms, database, evalue_threshold=None, n_jobs=n_jobs)
    best = every.groupby("query", sort=False)
    first = best.head(1).set_index("query")
    listed = best.head(n_matches).groupby("query", sort=False)["target_name"].agg(", ".join)
    annotated = table.copy()
    patterns = annotated["pattern"]
    annotated["motif_id"] = patterns.map(first["target_id"])
    annotated["motif_name"] = patterns.map(first["target_name"])
    annotated["motif_p_value"] = patterns.map(first["p_value"])
    annotated["motif_e_value"] = patterns.map(first["e_value"])
    annotated["motif_q_value"] = patterns.map(first["q_value"])
    annotated["motif_orientation"] = patterns.map(first["orientation"])
    annotated["motif_matches"] = patterns.map(listed)
    matches = every if evalue_threshold is None else \
        every[every["e_value"] < evalue_threshold].reset_index(drop=True)
    return annotated, matches


def _import_modisco():
    try:
        from modiscolite.tfmodisco import TFMoDISco
    except ImportError as exc:
        raise ImportError(
            "discover_motifs needs tfmodisco-lite: pip install modisco-lite (or "
            "'skexplain[genomics]')."
        ) from exc
    return TFMoDISco
