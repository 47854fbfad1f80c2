"""Variant effects: SNVs, insertions and deletions scored as the change of a model's output,
given as a table or read from a VCF whose records are mapped to the sequences by their loci."""

import gzip
import re
from numbers import Integral

import numpy as np
import pandas as pd

from .._core.compute import batched_scores, resolve_batch_size
from .._core.model import ModelAdapter
from ._edits import ALPHABET, check_sequences, model_scores

TABLE_COLUMNS = ("sequence", "position", "ref", "alt")
VCF_COLUMNS = ("chrom", "pos", "id", "ref", "alt")
_LOCUS = re.compile(
    r"^(?P<chrom>[^:\s]+):(?P<start>[\d,]+)-(?P<end>[\d,]+)(?P<strand>\([-+.]\))?$"
)
_TOKENS = {char: i for i, char in enumerate(ALPHABET + "N")}


# --- loci and VCF records ---------------------------------------------------------------------

def parse_loci(loci):
    """Loci as a DataFrame (chrom, start, end, name), BED coordinates.

    Parameters
    ----------
    loci : DataFrame, list of str or list of (chrom, start, end)
        A BED-like DataFrame (columns ``chrom``, ``start``, ``end``, or its first three
        columns), names ``"chrom:start-end"`` (BED coordinates, as ``bedtools getfasta``
        names sequences) or tuples.

    Raises
    ------
    ValueError
        For a name that is not ``chrom:start-end``, a minus-strand locus, non-integer
        coordinates or an empty locus.
    """
    if isinstance(loci, pd.DataFrame):
        columns = ["chrom", "start", "end"] if {"chrom", "start", "end"} <= set(loci.columns) \
            else list(loci.columns[:3])
        if len(columns) < 3:
            raise ValueError("loci needs three columns: chrom, start, end (BED).")
        frame = loci[columns].copy()
        frame.columns = ["chrom", "start", "end"]
    else:
        rows = []
        for i, locus in enumerate(loci):
            if isinstance(locus, str):
                match = _LOCUS.match(locus.strip())
                if match is None:
                    raise ValueError(
                        f"loci[{i}] = {locus!r} is not a locus name 'chrom:start-end' (e.g. "
                        "'chr1:1000-1400')."
                    )
                if match["strand"] == "(-)":
                    raise ValueError(
                        f"loci[{i}] = {locus!r} is on the minus strand; variants are given on "
                        "the plus strand, so pass plus-strand sequences and loci."
                    )
                rows.append((match["chrom"], int(match["start"].replace(",", "")),
                             int(match["end"].replace(",", ""))))
            elif len(locus) == 3:
                rows.append(tuple(locus))
            else:
                raise ValueError(
                    f"loci[{i}] = {locus!r}: expected 'chrom:start-end' or (chrom, start, end)."
                )
        frame = pd.DataFrame(rows, columns=["chrom", "start", "end"])
    frame["chrom"] = frame["chrom"].astype(str)
    for column in ("start", "end"):
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().any() or (values != np.floor(values)).any():
            raise ValueError(f"loci has non-integer {column} coordinates.")
        frame[column] = values.astype(np.int64)
    bad = np.flatnonzero((frame["end"] <= frame["start"]) | (frame["start"] < 0))
    if len(bad):
        raise ValueError(f"loci {bad[:5].tolist()} are empty or start below 0.")
    frame = frame.reset_index(drop=True)
    frame["name"] = frame["chrom"] + ":" + frame["start"].astype(str) + "-" \
        + frame["end"].astype(str)
    return frame


def locate_variants(variants, loci, *, outside="raise"):
    """Map genomic variants (VCF coordinates) to sequences by the sequences' loci.

    A variant belongs to sequence i when its whole ref allele lies in locus i: with the
    VCF's 1-based ``pos`` and BED's 0-based, end-exclusive loci, ``start <= pos - 1`` and
    ``pos - 1 + len(ref) <= end``; its ``position`` in the sequence is ``pos - 1 - start``.
    A variant in several overlapping loci gives one row per locus.

    Parameters
    ----------
    variants : DataFrame
        Columns ``chrom``, ``pos`` (1-based, as in a VCF), ``ref`` and ``alt`` (as
        :func:`read_vcf` returns); other columns are kept.
    loci : DataFrame, list of str or list of (chrom, start, end)
        The locus of each sequence, in order: a BED-like DataFrame (``chrom``, ``start``,
        ``end``), names ``"chrom:start-end"`` (BED coordinates, 0-based start, as ``bedtools
        getfasta`` names sequences) or tuples.
    outside : {"raise", "drop"}, default="raise"
        What to do with variants in no locus: raise a ValueError naming them, or drop them.

    Returns
    -------
    located : DataFrame
        The variants with columns ``sequence`` (index into ``loci``), ``locus`` (its name)
        and ``position`` (0-based in the sequence) added, in the order of the variants.

    Raises
    ------
    ValueError
        If columns are missing, a locus is invalid, or (``outside="raise"``) a variant lies in
        no locus.
    """
    if outside not in ("raise", "drop"):
        raise ValueError(f"outside must be 'raise' or 'drop', got {outside!r}.")
    _check_columns(variants, ("chrom", "pos", "ref", "alt"), "variants (genomic)")
    loci = parse_loci(loci)
    table = variants.copy()
    table["chrom"] = table["chrom"].astype(str)
    table["_row"] = np.arange(len(table))
    ref_length = table["ref"].map(lambda a: len(_allele(a)))
    table["_first"] = table["pos"].astype(np.int64) - 1
    table["_last"] = table["_first"] + ref_length
    located = table.merge(
        loci.rename(columns={"start": "_start", "end": "_end", "name": "locus"})
        .rename_axis("sequence").reset_index(), on="chrom", how="inner")
    inside = (located["_start"] <= located["_first"]) & (located["_last"] <= located["_end"])
    located = located[inside]
    missing = np.setdiff1d(table["_row"], located["_row"])
    if len(missing) and outside == "raise":
        shown = [_genomic_name(table.iloc[i]) for i in missing[:5]]
        raise ValueError(
            f"{len(missing)} variant(s) lie in none of the {len(loci)} loci (a VCF's pos is "
            f"1-based, loci are BED, 0-based): {shown}{' ...' if len(missing) > 5 else ''}. "
            "Pass outside='drop' to drop them."
        )
    located = located.sort_values(["_row", "sequence"], kind="stable")
    located["position"] = located["_first"] - located["_start"]
    index = table.index[located["_row"].to_numpy()]
    located = located.drop(columns=["_row", "_first", "_last", "_start", "_end"])
    located.index = index
    return located


def read_vcf(path, *, loci=None, outside="raise", engine="auto"):
    """Read the variants of a VCF: one row per alternative allele.

    With ``engine="auto"``, cyvcf2 reads the file if it is installed, else pysam, else the
    columns CHROM, POS, ID, REF and ALT of the text (plain or gzip/bgzip-compressed) are
    parsed here, line by line, into a pandas DataFrame (a BCF needs cyvcf2 or pysam).
    Records whose ALT is ``.`` (no variant) give no row; multi-allelic records give a row
    per allele; symbolic alleles (``<DEL>``) are kept as they are and rejected by
    :func:`variant_effects`.

    Parameters
    ----------
    path : str or path-like
        A ``.vcf``, ``.vcf.gz`` (or ``.bcf`` with cyvcf2/pysam).
    loci : DataFrame, list of str or list of (chrom, start, end), optional
        The locus of each sequence: the variants are then mapped to the sequences by
        :func:`locate_variants` (columns ``sequence``, ``locus`` and ``position`` added).
    outside : {"raise", "drop"}, default="raise"
        Variants in no locus, with ``loci``: see :func:`locate_variants`.
    engine : {"auto", "cyvcf2", "pysam", "text"}, default="auto"

    Returns
    -------
    variants : DataFrame
        Columns ``chrom`` (str), ``pos`` (int, 1-based), ``id`` (str or None), ``ref``,
        ``alt`` (str), and with ``loci`` those of :func:`locate_variants`.

    Raises
    ------
    ValueError
        If a data line has fewer than five columns or a non-integer POS, or ``engine`` is
        unknown; as :func:`locate_variants` with ``loci``.
    ImportError
        If the engine asked for (or a BCF's) is not installed.

    Examples
    --------
    >>> import os, tempfile
    >>> text = ("##fileformat=VCFv4.2\\n#CHROM\\tPOS\\tID\\tREF\\tALT\\n"
    ...         "chr1\\t1003\\trs1\\tA\\tG,T\\n")
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "x.vcf")
    ...     _ = open(path, "w").write(text)
    ...     read_vcf(path, loci=["chr1:1000-1010"], engine="text")[["alt", "position"]]
      alt  position
    0   G         2
    1   T         2
    """
    engines = ("auto", "cyvcf2", "pysam", "text")
    if engine not in engines:
        raise ValueError(f"engine must be one of {engines}, got {engine!r}.")
    if engine == "auto":
        engine = next((name for name in ("cyvcf2", "pysam") if _installed(name)), "text")
    if engine == "text" and str(path).endswith(".bcf"):
        raise ImportError("Reading a BCF needs cyvcf2 or pysam (pip install cyvcf2).")
    records = {"cyvcf2": _records_cyvcf2, "pysam": _records_pysam,
               "text": _records_text}[engine](path)
    frame = pd.DataFrame(records, columns=list(VCF_COLUMNS))
    frame["chrom"] = frame["chrom"].astype(str)
    frame["pos"] = frame["pos"].astype(np.int64)
    if loci is not None:
        frame = locate_variants(frame, loci, outside=outside)
    return frame


def _installed(name):
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def _records_text(path):
    opener = gzip.open if str(path).endswith((".gz", ".bgz")) else open
    records = []
    with opener(path, "rt") as handle:
        for number, line in enumerate(handle, 1):
            if line.startswith("#") or not line.strip():
                continue
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) < 5:
                raise ValueError(
                    f"Line {number} of {path} has {len(fields)} tab-separated columns; a VCF "
                    "record has at least CHROM POS ID REF ALT."
                )
            chrom, pos, id_, ref, alts = fields[:5]
            if not pos.isdigit():
                raise ValueError(f"Line {number} of {path} has POS {pos!r}, not an integer.")
            for alt in alts.split(","):
                if alt != ".":
                    records.append((chrom, int(pos), None if id_ == "." else id_, ref, alt))
    return records


def _records_cyvcf2(path):
    import cyvcf2

    return [(v.CHROM, v.POS, v.ID, v.REF, alt) for v in cyvcf2.VCF(str(path))
            for alt in (v.ALT or [])]


def _records_pysam(path):
    import pysam

    with pysam.VariantFile(str(path)) as handle:
        return [(r.chrom, r.pos, r.id, r.ref, alt) for r in handle for alt in (r.alts or ())]


# --- variant effects --------------------------------------------------------------------------

def variant_effects(model, X, variants, *, output="auto", target=None, batch_size="auto",
                    sequence_names=None, loci=None, right_flank=None, device=None,
                    engine="auto"):
    """Effects of SNVs, insertions and deletions on a model's output.

    Each variant replaces ``ref`` by ``alt`` at ``position`` of its sequence; its effect is
    the explained output (the ``output`` rule of every skexplain explainer) of the edited
    sequence minus that of the reference sequence. The ref allele is checked against the
    sequence. Indels keep the sequence length, stated here: an insertion (alt longer)
    trims the right flank (the last ``len(alt) - len(ref)`` bases are dropped), a deletion
    (ref longer) pulls the right flank in and pads the right end with N (all-zero
    columns), or with the genome's next bases where ``right_flank`` gives them, as a
    deletion does in the genome. A substitution's effect is the raw ISM effect of that
    base (no centring), as :class:`skexplain.explainers.InSilicoMutagenesis` with
    ``reduction=None`` gives it, and single-base substitutions are scored by the same
    engine: the fast, exact locality-restricted ISM engine for convolutional torch models
    (see ``engine``), plain forward passes otherwise.
    Reference and edited sequences are scored in batches of ``batch_size``; each reference
    once.

    Parameters
    ----------
    model : estimator, skorch net, torch.nn.Module or callable
        A fitted model of one-hot sequences (n, 4, L).
    X : array-like of shape (n_sequences, 4, length)
        One-hot reference sequences (ACGT channels; an all-zero column is N).
    variants : DataFrame
        One row per variant, either a table with columns ``sequence`` (index into X, or a
        name among ``sequence_names`` or the loci's names), ``position`` (0-based in the
        sequence), ``ref`` and ``alt`` (strings over ACGTN; ``""`` or ``"-"`` is an empty
        allele, so ``ref="", alt="GATA"`` inserts GATA before ``position``), or VCF records
        (``chrom``, ``pos``, ``ref``, ``alt``, as :func:`read_vcf` returns) with ``loci``.
        Other columns are kept.
    output : {"auto", "probability", "logit", "log_odds"} or callable, default="auto"
        The explained quantity, as in every explainer (see ``ModelAdapter``).
    target : int, label, array-like of shape (n_variants,) or None, default=None
        The output whose change is the effect; None: the highest-scoring output of each
        variant's reference sequence (as for ISM).
    batch_size : int or "auto", default="auto"
        Rows per model call.
    sequence_names : array-like of str of shape (n_sequences,), optional
        Names of the sequences, for a ``sequence`` column of names.
    loci : DataFrame, list of str or list of (chrom, start, end), optional
        The locus of each sequence of X (BED coordinates, or names ``"chr1:1000-1400"``),
        each of length ``length``: VCF-style variants are mapped to the sequences by
        :func:`locate_variants`; the loci's names also name the sequences.
    right_flank : array-like of shape (n_sequences, 4, m) or list of str, optional
        The bases that follow each sequence in the genome (one-hot, or strings over ACGTN):
        a deletion of d bases pads the right end with the first d of them (N beyond m).
        None pads with N.
    device : str, torch.device or None, default=None
        Where a torch model runs (e.g. "cuda"); None keeps its own device.
    engine : {"auto", "fast", "full"}, default="auto"
        How single-base substitutions (SNVs) are scored: ``"fast"`` through the fastISM
        engine of :class:`skexplain.explainers.InSilicoMutagenesis` (only the receptive
        field of the edit is recomputed), ``"full"`` by full forward passes, ``"auto"``
        fast where the model qualifies (a torch conv stack; see InSilicoMutagenesis) and
        full otherwise. Other edits (MNVs, indels) are always full forward passes.

    Returns
    -------
    effects : DataFrame
        ``variants`` (located, with ``loci``) with columns added: ``kind`` ("SNV", "MNV",
        "insertion" or "deletion"), ``target`` (output index), ``ref_score``,
        ``alt_score`` and ``effect`` (``alt_score - ref_score``).

    Raises
    ------
    ValueError
        If X is not one-hot with 4 channels; columns are missing; a sequence index or name is
        unknown; a position is out of range; an allele has characters other than ACGTN (such
        as a symbolic ``<DEL>``); a ref allele does not match its sequence (the variant is
        named); the loci do not match X; the target is invalid; or ``engine="fast"`` and
        the model is not a supported convolutional stack.

    References
    ----------
    Schreiber, J. tangermeme (``ersatz`` edits and ``predict``); Zhou, J. & Troyanskaya,
    O. G. "Predicting effects of noncoding variants with deep learning-based sequence model"
    (DeepSEA), Nat. Methods 12, 931-934 (2015); Alipanahi et al., Nat. Biotechnol. 33
    (2015) (DeepBind's mutation maps).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> W = np.arange(4 * 6, dtype=float).reshape(4, 6)
    >>> model = lambda X: (X * W).sum(axis=(1, 2))
    >>> X = np.zeros((1, 4, 6)); X[:, 0] = 1                     # AAAAAA
    >>> v = pd.DataFrame({"sequence": [0], "position": [2], "ref": ["A"], "alt": ["C"]})
    >>> variant_effects(model, X, v)["effect"].item()           # W[1, 2] - W[0, 2]
    6.0
    """
    X = check_sequences(X)
    n, n_channels, length = X.shape
    if n_channels != len(ALPHABET):
        raise ValueError(f"X must have {len(ALPHABET)} channels (ACGT), got {n_channels}.")
    if not isinstance(variants, pd.DataFrame):
        raise ValueError(f"variants must be a pandas DataFrame, got {type(variants).__name__}.")
    names = None if sequence_names is None else [str(s) for s in sequence_names]
    if names is not None and len(names) != n:
        raise ValueError(f"sequence_names has {len(names)} names for {n} sequences.")
    if loci is not None:
        frame = parse_loci(loci)
        if len(frame) != n:
            raise ValueError(f"loci has {len(frame)} loci for {n} sequences.")
        wrong = np.flatnonzero((frame["end"] - frame["start"]).to_numpy() != length)
        if len(wrong):
            raise ValueError(
                f"loci {frame['name'].iloc[wrong[:5]].tolist()} are not {length} bases long, "
                "the length of the sequences."
            )
        names = frame["name"].tolist() if names is None else names
        if "sequence" not in variants.columns:
            variants = locate_variants(variants, frame)
    _check_columns(variants, TABLE_COLUMNS,
                   "variants (give loci to map VCF records with chrom and pos)")
    table = variants.copy()
    labels = [_variant_name(*row) for row in zip(
        table.index, table["sequence"], table["position"], table["ref"], table["alt"],
        strict=True)]
    sequence = _sequence_indices(table["sequence"], names, n, labels)
    position = _positions(table["position"], labels)
    ref = [_allele(a, label, "ref") for a, label in zip(table["ref"], labels, strict=True)]
    alt = [_allele(a, label, "alt") for a, label in zip(table["alt"], labels, strict=True)]
    tokens = np.where(X.sum(axis=1) == 1, X.argmax(axis=1), len(ALPHABET))
    _check_refs(tokens, sequence, position, ref, labels, length)
    flanks = _flank_tokens(right_flank, n)
    if len(table) == 0:
        for column in ("kind", "target", "ref_score", "alt_score", "effect"):
            table[column] = pd.Series(dtype=object if column == "kind" else float)
        return table

    adapter = ModelAdapter(model, X.shape[1:], output=output, device=device,
                           name="variant_effects")
    requested, batch_size = batch_size, resolve_batch_size(batch_size, n_channels * length)
    used = np.unique(sequence)
    used_scores = model_scores(adapter, X[used].astype(np.float32), batch_size)
    reference = np.empty((n, used_scores.shape[1]))
    reference[used] = used_scores
    ref_scores = reference[sequence]
    columns = adapter.resolve_target(target, ref_scores)
    alt_scores = np.empty(len(table))
    eye = np.vstack([np.eye(n_channels, dtype=np.float32),
                     np.zeros((1, n_channels), np.float32)])
    single = np.array([len(r) == 1 and len(a) == 1 for r, a in zip(ref, alt, strict=True)],
                      dtype=bool)
    fast = _fast_substitutions(adapter, X, sequence, position, alt, columns, single,
                               requested, engine)
    if fast is not None:
        alt_scores[single] = fast
    slow = np.flatnonzero(~single) if fast is not None else np.arange(len(table))
    for s in range(0, len(slow), batch_size):
        block = slow[s:s + batch_size]
        edited = np.stack([_edited(tokens[sequence[i]], position[i], ref[i], alt[i], length,
                                   None if flanks is None else flanks[sequence[i]])
                           for i in block])
        rows = eye[edited].transpose(0, 2, 1).reshape(len(block), -1)
        scores = batched_scores(adapter.scores, rows, batch_size)
        alt_scores[block] = scores[np.arange(len(block)), columns[block]]
    rows = np.arange(len(table))
    table["kind"] = [_kind(r, a) for r, a in zip(ref, alt, strict=True)]
    table["target"] = columns
    table["ref_score"] = ref_scores[rows, columns]
    table["alt_score"] = alt_scores
    table["effect"] = table["alt_score"] - table["ref_score"]
    return table


def _fast_substitutions(adapter, X, sequence, position, alt, columns, single, batch_size,
                        engine):
    """Scores of the single-base substitutions through the fast ISM engine, or None."""
    if engine not in ("auto", "fast", "full"):
        raise ValueError(f"engine must be 'auto', 'fast' or 'full', got {engine!r}.")
    if engine == "full" or not single.any():
        return None
    from ..explainers._fast_ism import UnsupportedModel, fast_edit_scores

    new = np.array([_TOKENS[a] for a, one in zip(alt, single, strict=True) if one])
    try:
        return fast_edit_scores(adapter, X.astype(np.float32), sequence[single],
                                position[single], new, columns[single], batch_size)
    except UnsupportedModel as error:
        if engine == "fast":
            raise ValueError(f"engine='fast' cannot run on this model: {error}") from error
        return None


def _check_columns(frame, columns, what):
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}.")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{what} lacks columns {missing}; it has {list(map(str, frame.columns))}."
        )


def _variant_name(index, sequence, position, ref, alt):
    return (f"variant {index!r} (sequence {sequence!r}, position {position!r}, ref {ref!r}, "
            f"alt {alt!r})")


def _genomic_name(row):
    return f"{row['chrom']}:{row['pos']} {row['ref']}>{row['alt']}"


def _allele(allele, label=None, which="allele"):
    if allele is None or (isinstance(allele, float) and np.isnan(allele)) or allele == "-":
        return ""
    if not isinstance(allele, str):
        raise ValueError(f"The {which} allele of {label} is not a string.")
    allele = allele.upper()
    if label is not None and set(allele) - set(_TOKENS):
        raise ValueError(
            f"The {which} allele of {label} has characters outside ACGTN (symbolic alleles "
            "such as <DEL> or * are not supported)."
        )
    return allele


def _sequence_indices(values, names, n, labels):
    lookup = None
    if names is not None:
        lookup = {}
        for i, name in enumerate(names):
            lookup.setdefault(name, i)
    out = np.empty(len(values), dtype=np.int64)
    for k, (value, label) in enumerate(zip(values, labels, strict=True)):
        if isinstance(value, (Integral, np.integer)) and not isinstance(value, bool):
            if not 0 <= value < n:
                raise ValueError(f"{label}: sequence index {value} is out of range (0..{n - 1}).")
            out[k] = value
        elif lookup is not None and str(value) in lookup:
            out[k] = lookup[str(value)]
        else:
            known = "no sequence_names or loci were given" if lookup is None else \
                f"the names are {list(lookup)[:5]}{' ...' if len(lookup) > 5 else ''}"
            raise ValueError(f"{label}: unknown sequence {value!r}; {known}.")
    return out


def _positions(values, labels):
    out = np.empty(len(values), dtype=np.int64)
    for k, (value, label) in enumerate(zip(values, labels, strict=True)):
        if not isinstance(value, (Integral, np.integer)) or isinstance(value, bool):
            raise ValueError(f"{label}: position must be an integer (0-based), got {value!r}.")
        out[k] = value
    return out


def _check_refs(tokens, sequence, position, ref, labels, length):
    letters = np.array(list(ALPHABET + "N"))
    for i, label in enumerate(labels):
        p, r = position[i], ref[i]
        if not 0 <= p < length or p + len(r) > length:
            raise ValueError(
                f"{label}: the ref allele at position {p} does not fit in a sequence of length "
                f"{length} (positions are 0-based)."
            )
        found = "".join(letters[tokens[sequence[i], p:p + len(r)]])
        if found != r:
            raise ValueError(
                f"{label}: the ref allele does not match the sequence, which has {found!r} at "
                f"positions {p}..{p + len(r) - 1} (positions are 0-based; is the ref strand "
                "or the locus right?)."
            )


def _edited(tokens, position, ref, alt, length, flank=None):
    """Token sequence with ref replaced by alt; the right flank trimmed, or padded with the
    flank's bases and then N."""
    alt_tokens = np.array([_TOKENS[c] for c in alt], dtype=tokens.dtype)
    edited = np.concatenate([tokens[:position], alt_tokens, tokens[position + len(ref):]])
    if len(edited) >= length:
        return edited[:length]
    missing = length - len(edited)
    pad = np.full(missing, len(ALPHABET))
    if flank is not None:
        pad[:min(missing, len(flank))] = flank[:missing]
    return np.concatenate([edited, pad])


def _flank_tokens(right_flank, n):
    """Tokens (0..3, 4 for N) of the right flanks: a list of n arrays, or None."""
    if right_flank is None:
        return None
    if len(right_flank) != n:
        raise ValueError(f"right_flank has {len(right_flank)} flanks for {n} sequences.")
    if all(isinstance(f, str) for f in right_flank):
        bad = sorted(set("".join(right_flank).upper()) - set(_TOKENS))
        if bad:
            raise ValueError(f"right_flank has characters {bad} outside ACGTN.")
        return [np.array([_TOKENS[c] for c in f.upper()], dtype=np.int64) for f in right_flank]
    flank = check_sequences(right_flank, "right_flank")
    if flank.shape[1] != len(ALPHABET):
        raise ValueError(f"right_flank must have {len(ALPHABET)} channels, got "
                         f"{flank.shape[1]}.")
    return list(np.where(flank.sum(axis=1) == 1, flank.argmax(axis=1), len(ALPHABET)))


def _kind(ref, alt):
    if len(alt) > len(ref):
        return "insertion"
    if len(ref) > len(alt):
        return "deletion"
    return "SNV" if len(ref) == 1 else "MNV"
