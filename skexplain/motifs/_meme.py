"""Reading and writing motifs in the MEME minimal text format, and the bundled JASPAR set."""

import gzip
import os
import re
from contextlib import nullcontext
from importlib import resources

import numpy as np

JASPAR_FILE = "JASPAR_CORE_2016_vertebrates.meme.gz"
PROBABILITY_TOLERANCE = 1e-3


def write_meme(ppms, file, names=None, nsites=None):
    """Write DNA position probability matrices to a MEME minimal-format motif file.

    The file declares MEME version 4, the ACGT alphabet, both strands and a uniform
    background, then one ``MOTIF`` block with a ``letter-probability matrix`` per PPM: the
    format TomTom, FIMO and memelite read.

    Parameters
    ----------
    ppms : array-like of shape (n_motifs, 4, width), list of (4, width_i) arrays, or dict
        The PPMs (A, C, G, T rows); a dict maps names to PPMs and supplies the names.
    file : str, path-like or text file object
        Where to write; a path ending in ``.gz`` is gzip-compressed.
    names : list of str, optional
        One per motif, unique; defaults to ``filter0``, ``filter1``, ... Runs of whitespace
        (line breaks included) become one space, and a name with a space is written as
        MEME's "identifier alternate-name" pair, so :func:`read_meme` returns it unchanged.
    nsites : array-like of int, optional
        Number of sites behind each PPM (for example ``n_sites`` from
        :func:`filter_ppms`), written in the ``nsites=`` field when given.

    Raises
    ------
    ValueError
        If a PPM is not (4, width) with columns of non-negative values summing to 1
        (within 1e-3), or a name is empty or repeated.

    See Also
    --------
    read_meme : the inverse.
    """
    if isinstance(ppms, dict):
        if names is not None:
            raise ValueError("Give names either as the keys of ppms or as names, not both.")
        names, ppms = list(ppms), list(ppms.values())
    ppms = [_check_ppm(ppm, index) for index, ppm in enumerate(ppms)]
    names = [f"filter{i}" for i in range(len(ppms))] if names is None else list(names)
    names = _check_names(names, len(ppms))
    if nsites is not None and len(nsites) != len(ppms):
        raise ValueError(f"nsites has {len(nsites)} entries for {len(ppms)} motifs.")

    lines = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: + -", "",
             "Background letter frequencies", "A 0.25 C 0.25 G 0.25 T 0.25", ""]
    for index, (name, ppm) in enumerate(zip(names, ppms, strict=True)):
        header = f"letter-probability matrix: alength= 4 w= {ppm.shape[1]}"
        if nsites is not None:
            header += f" nsites= {int(nsites[index])}"
        lines += [f"MOTIF {name}", header]
        lines += [" ".join(f"{p:.6f}" for p in column) for column in ppm.T]
        lines.append("")
    with _open(file, "w") as handle:
        handle.write("\n".join(lines))


def read_meme(file):
    """Read the motifs of a MEME minimal-format file.

    Parameters
    ----------
    file : str, path-like or text file object
        A MEME motif file (``.gz`` paths are decompressed), DNA alphabet.

    Returns
    -------
    motifs : dict of str to ndarray of shape (4, width)
        Keyed by the rest of each ``MOTIF`` line with its fields joined by one space: the
        identifier, or "identifier alternate-name" (JASPAR: ``"MA0079.3 SP1"``), the key
        memelite's reader uses too. Values are the letter-probability matrices transposed
        to (A, C, G, T) rows, in file order.

    Raises
    ------
    ValueError
        If a matrix is not 4 letters wide, has fewer rows than its ``w=``, or a motif name
        repeats.

    See Also
    --------
    write_meme : the inverse.
    """
    with _open(file, "r") as handle:
        lines = handle.read().splitlines()
    motifs = {}
    name, rows, width = None, [], None
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if fields[:1] == ["MOTIF"]:
            _store(motifs, name, rows, width)
            name, rows, width = " ".join(fields[1:]), [], None
        elif name is not None and line.startswith("letter-probability matrix"):
            match = re.search(r"\bw=\s*(\d+)", line)
            width = int(match.group(1)) if match else None
            alength = re.search(r"\balength=\s*(\d+)", line)
            if alength and int(alength.group(1)) != 4:
                raise ValueError(f"Line {number}: motif {name!r} is not DNA (alength != 4).")
            rows = []
        elif name is not None and width is not None and len(rows) < width and fields:
            if len(fields) != 4:
                raise ValueError(f"Line {number}: expected 4 probabilities, got {line!r}.")
            rows.append([float(value) for value in fields])
    _store(motifs, name, rows, width)
    return motifs


def load_jaspar_database():
    """JASPAR CORE 2016 vertebrate motifs, the TomTom database of Koo & Ploenzke (2021).

    518 matrices shipped with skexplain as MEME text. JASPAR is licensed CC BY 4.0: cite
    Mathelier et al. (2016), "JASPAR 2016: a major expansion and update of the open-access
    database of transcription factor binding profiles", Nucleic Acids Res. 44, D110-D115,
    and, for this file, Koo & Ploenzke (2021), Nat. Mach. Intell. 3, 258-266 (code MIT
    licensed (c) 2020 Peter K. Koo).

    Returns
    -------
    motifs : dict of str to ndarray of shape (4, width)
        Keys "ID NAME" such as ``"MA0079.3 SP1"``; a fresh dict on every call.

    Examples
    --------
    >>> database = load_jaspar_database()
    >>> database["MA0079.3 SP1"].shape
    (4, 11)
    """
    data = resources.files("skexplain.motifs").joinpath("data", JASPAR_FILE)
    with data.open("rb") as raw, gzip.open(raw, "rt") as handle:
        return read_meme(handle)


def _store(motifs, name, rows, width):
    if name is None:
        return
    if width is None or len(rows) < width:
        raise ValueError(f"Motif {name!r} has no complete letter-probability matrix.")
    if name in motifs:
        raise ValueError(f"Motif name {name!r} occurs twice.")
    motifs[name] = np.array(rows, dtype=np.float64).T


def _check_ppm(ppm, index):
    ppm = np.asarray(ppm, dtype=np.float64)
    if ppm.ndim != 2 or ppm.shape[0] != 4 or ppm.shape[1] == 0:
        raise ValueError(f"PPM {index} must have shape (4, width), got {ppm.shape}.")
    if not np.isfinite(ppm).all() or (ppm < 0).any():
        raise ValueError(f"PPM {index} holds negative or non-finite values.")
    if np.abs(ppm.sum(axis=0) - 1).max() > PROBABILITY_TOLERANCE:
        raise ValueError(f"The columns of PPM {index} do not sum to 1.")
    return ppm


def _check_names(names, n_motifs):
    if len(names) != n_motifs:
        raise ValueError(f"Got {len(names)} names for {n_motifs} motifs.")
    normalised = [" ".join(str(name).split()) for name in names]
    if any(not name for name in normalised):
        raise ValueError("Motif names must not be empty.")
    if len(set(normalised)) != len(normalised):
        raise ValueError("Motif names must be unique.")
    return normalised


def _open(file, mode):
    """A text handle on a path (gzip when it ends in .gz) or the file object itself."""
    if isinstance(file, str | os.PathLike):
        if os.fspath(file).endswith(".gz"):
            return gzip.open(file, mode + "t")
        return open(file, mode)
    if hasattr(file, "write" if mode == "w" else "read"):
        return nullcontext(file)  # the caller's handle stays open
    raise ValueError(f"file must be a path or a text file object, got {type(file).__name__}.")
