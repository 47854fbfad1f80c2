"""Matching PPMs against a motif database with TomTom (memelite), and the filter match fraction."""

import os
from numbers import Integral, Real

import numpy as np
import pandas as pd

from ._meme import _check_names, _check_ppm, load_jaspar_database, read_meme

COLUMNS = ["query", "target", "target_id", "target_name", "p_value", "e_value", "q_value",
           "offset", "overlap", "orientation"]


def tomtom_matches(ppms, database=None, evalue_threshold=0.1, names=None,
                   reverse_complement=True, n_jobs=None):
    """Significant TomTom matches of query PPMs against a motif database.

    Runs memelite's TomTom (Gupta et al. 2007, "Quantifying similarity between motifs",
    Genome Biol. 8, R24; complete-score Euclidean distance, both strands) and keeps the
    pairs whose E-value is below ``evalue_threshold``: the criterion of Koo & Ploenzke
    (2021), who ran MEME Suite ``tomtom -evalue -thresh 0.1``.

    memelite returns p-values only. As in MEME Suite 5, the p-value is that of the best
    alignment over offsets and strands (memelite combines the two strands as
    ``1 - (1 - p_min) ** 2``), and the E-value is the p-value times the number of target
    motifs in the database; that is how it is computed here. (MEME 4 multiplied by twice
    the number of targets instead, with no strand correction in the p-value.) q-values are
    Benjamini-Hochberg adjusted over each query's p-values against all targets; MEME's use
    Storey's estimate of the null fraction, so they can be smaller. memelite approximates
    MEME's null distributions (binned medians, merged target columns), so p-values agree
    with MEME's in order of magnitude, not digit for digit.

    Parameters
    ----------
    ppms : array-like of shape (n_queries, 4, width), list of (4, width_i) arrays, or dict
        Query PPMs (A, C, G, T rows), for example trimmed filter PPMs; a dict supplies
        the names.
    database : dict of str to (4, width) arrays, str or path-like, optional
        Target motifs, or a MEME file to read; default :func:`load_jaspar_database`.
        Keys "ID NAME" (JASPAR style) are split into ``target_id`` and ``target_name``.
    evalue_threshold : float or None, default=0.1
        Keep matches with E-value below this; None keeps every query-target pair.
    names : list of str, optional
        Query names; default ``filter0``, ``filter1``, ...
    reverse_complement : bool, default=True
        Also align each query to the reverse complement of each target.
    n_jobs : int, default=None
        numba threads for memelite; None means 1, -1 all.

    Returns
    -------
    matches : pandas.DataFrame
        One row per significant (query, target) pair, sorted by query (input order) then
        p-value, with columns ``query``, ``target`` (the database key), ``target_id``,
        ``target_name``, ``p_value``, ``e_value``, ``q_value``, ``offset`` (query column j
        is aligned with target column ``j + offset``, of the reverse-complemented target
        when ``orientation`` is "-"), ``overlap`` (aligned columns) and ``orientation``.

    Raises
    ------
    ImportError
        If memelite is not installed (``pip install skexplain[motifs]``).
    ValueError
        If a PPM is malformed, the database is empty, or a parameter is out of range.

    Notes
    -----
    The first call in a fresh environment compiles memelite's numba kernels (about 40 s;
    cached on disk afterwards). With fewer than 25 targets memelite warns that its
    p-values depend strongly on the target set.
    """
    tomtom = _import_tomtom()
    if isinstance(ppms, dict):
        names, ppms = list(ppms), list(ppms.values())
    queries = [_check_ppm(ppm, index) for index, ppm in enumerate(ppms)]
    if not queries:
        raise ValueError("No query PPMs given.")
    names = [f"filter{i}" for i in range(len(queries))] if names is None else list(names)
    names = _check_names(names, len(queries))
    targets = _database(database)
    if evalue_threshold is not None and (
        not isinstance(evalue_threshold, Real) or evalue_threshold <= 0
    ):
        raise ValueError(f"evalue_threshold must be a positive float or None, got "
                         f"{evalue_threshold!r}.")
    if n_jobs is not None and (not isinstance(n_jobs, Integral) or n_jobs == 0 or n_jobs < -1):
        raise ValueError(f"n_jobs must be None, -1 or a positive int, got {n_jobs!r}.")

    target_names = list(targets)
    # float64 throughout: memelite compiles its kernels once per dtype and layout.
    p_values, _, offsets, overlaps, strands = tomtom(
        queries, [targets[name] for name in target_names], n_nearest=None,
        reverse_complement=bool(reverse_complement), n_jobs=1 if n_jobs is None else n_jobs,
    )
    e_values = p_values * len(target_names)
    q_values = np.apply_along_axis(_benjamini_hochberg, 1, p_values)

    keep = np.ones(p_values.shape, dtype=bool) if evalue_threshold is None \
        else e_values < evalue_threshold
    query_index, target_index = np.nonzero(keep)
    ids, short_names = zip(*(_split_name(name) for name in target_names), strict=True)
    matches = pd.DataFrame({
        "query": np.asarray(names, dtype=object)[query_index],
        "target": np.asarray(target_names, dtype=object)[target_index],
        "target_id": np.asarray(ids, dtype=object)[target_index],
        "target_name": np.asarray(short_names, dtype=object)[target_index],
        "p_value": p_values[keep],
        "e_value": e_values[keep],
        "q_value": q_values[keep],
        "offset": offsets[keep].astype(int),
        "overlap": overlaps[keep].astype(int),
        "orientation": np.where(strands[keep] > 0, "-", "+"),
    }, columns=COLUMNS)
    matches["_order"] = query_index
    matches = matches.sort_values(["_order", "p_value"], kind="stable")
    return matches.drop(columns="_order").reset_index(drop=True)


def match_fraction(matches, true_names, n_filters):
    """Fraction of filters whose significant matches include a ground-truth motif.

    The filter-level score of Koo & Ploenzke (2021): a filter counts when any of its rows
    in ``matches`` names one of ``true_names``. A target matches a true name when its name
    part (``"SP1"`` in ``"MA0079.3 SP1"``) or its ID part (``"MA0079.3"``) equals it,
    ignoring case; so ``true_names`` may mix TF names and JASPAR IDs (the paper's lists also
    accept other versions or close paralogs of a TF by ID). Heterodimer entries such as
    ``"MAX::MYC"`` only match that exact name.

    Parameters
    ----------
    matches : pandas.DataFrame
        Significant matches with ``query`` and ``target`` columns, such as the output of
        :func:`tomtom_matches` (already thresholded on E-value).
    true_names : iterable of str
        Ground-truth TF names or motif IDs, for example the 12 TFs of task 1.
    n_filters : int
        Number of filters queried, matched or not: the denominator.

    Returns
    -------
    fraction : float
        In [0, 1].

    Raises
    ------
    ValueError
        If ``matches`` lacks the columns, ``n_filters`` is not a positive int, or
        ``matches`` names more queries than ``n_filters``.

    Examples
    --------
    >>> import pandas as pd
    >>> matches = pd.DataFrame({"query": ["filter0", "filter0", "filter1", "filter2"],
    ...                         "target": ["MA0079.3 SP1", "MA0003.3 TFAP2A",
    ...                                    "MA0002.2 RUNX1", "MA0062.2 Gabpa"]})
    >>> match_fraction(matches, ["sp1", "GABPA"], n_filters=4)
    0.5
    """
    if not {"query", "target"} <= set(getattr(matches, "columns", ())):
        raise ValueError("matches must be a DataFrame with 'query' and 'target' columns.")
    if not isinstance(n_filters, Integral) or n_filters < 1:
        raise ValueError(f"n_filters must be a positive int, got {n_filters!r}.")
    n_queries = matches["query"].nunique()
    if n_queries > n_filters:
        raise ValueError(f"matches names {n_queries} queries but n_filters is {n_filters}.")
    wanted = {str(name).casefold() for name in true_names}
    hits = [
        any(part.casefold() in wanted for part in _split_name(target))
        for target in matches["target"]
    ]
    return matches.loc[hits, "query"].nunique() / n_filters


def _split_name(name):
    """("ID", "NAME") from a database key "ID NAME"; a one-field key is both."""
    fields = str(name).split(maxsplit=1)
    return (fields[0], fields[-1])


def _benjamini_hochberg(p_values):
    order = np.argsort(p_values)
    ranked = p_values[order] * len(p_values) / np.arange(1, len(p_values) + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    q_values = np.empty_like(adjusted)
    q_values[order] = np.minimum(adjusted, 1.0)
    return q_values


def _database(database, what="database"):
    """Motifs as {name: checked PPM}: the bundled JASPAR for None, or a MEME file's."""
    if database is None:
        database = load_jaspar_database()
    elif isinstance(database, str | os.PathLike):
        database = read_meme(database)
    if not isinstance(database, dict) or not database:
        raise ValueError(f"{what} must be a non-empty dict of name -> (4, width) PPM, or a "
                         "MEME file.")
    return {str(name): _check_ppm(ppm, name) for name, ppm in database.items()}


def _import_tomtom():
    try:
        from memelite import tomtom
    except ImportError as error:
        raise ImportError(
            "TomTom matching needs memelite: pip install 'skexplain[motifs]' "
            "(or pip install memelite)."
        ) from error
    return tomtom
