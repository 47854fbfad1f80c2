"""One-hot encoding of DNA sequences, and a small FASTA reader."""

import gzip
import os
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

__all__ = ["OneHotSequenceEncoder", "read_fasta"]

ALPHABET = "ACGT"
AMBIGUOUS_CODES = "NRYSWKMBDHV"  # IUPAC codes for more than one nucleotide

# Byte value -> code: 0-3 for A, C, G, T; _AMBIGUOUS for IUPAC ambiguity codes;
# _INVALID for anything else. _PADDING marks positions beyond a sequence's end.
_AMBIGUOUS, _PADDING, _INVALID = 4, 5, 255


def _code_table():
    table = np.full(256, _INVALID, dtype=np.uint8)
    for code, letters in enumerate([*ALPHABET, AMBIGUOUS_CODES]):
        for letter in letters:
            table[ord(letter)] = table[ord(letter.lower())] = code
    return table


_CODES = _code_table()
# Code -> one-hot column (rows in code order; the padding column is all zeros).
_COLUMNS = np.vstack([np.eye(4), np.full(4, 0.25), np.zeros(4)]).astype(np.float32)


def _as_sequences(X):
    """Check that `X` is a 1-D collection of str and return it as a list."""
    if isinstance(X, str | bytes):
        raise ValueError(
            "Expected a list, array or pandas Series of sequences, got a single string; "
            "wrap it in a list."
        )
    values = X.to_numpy() if hasattr(X, "to_numpy") else X
    if np.ndim(values) != 1:
        raise ValueError(
            f"Expected a 1-D collection of sequences, got an input of shape {np.shape(values)}."
        )
    sequences = list(values)
    if not sequences:
        raise ValueError("Expected at least one sequence, got an empty input.")
    for index, sequence in enumerate(sequences):
        if not isinstance(sequence, str):
            raise ValueError(
                f"Sequence {index} is of type {type(sequence).__name__}, not str; "
                "sequences must be strings of nucleotide letters."
            )
        if not sequence:
            raise ValueError(f"Sequence {index} is empty.")
    return sequences


def _locate(offsets, flat_index):
    """(sequence index, position) of a character in the concatenated sequences."""
    sequence = int(np.searchsorted(offsets, flat_index, side="right") - 1)
    return sequence, int(flat_index - offsets[sequence])


def _encode_codes(sequences, on_ambiguous):
    """Concatenated codes of all sequences, and the length of each sequence.

    Raises ValueError for characters that are not nucleotide codes, and for
    ambiguity codes when `on_ambiguous` is "error".
    """
    lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    joined = "".join(sequences)
    try:
        raw = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError as error:
        sequence, position = _locate(offsets, error.start)
        raise ValueError(
            f"Sequence {sequence} has the non-ASCII character {joined[error.start]!r} at "
            f"position {position}; only nucleotide letters are allowed."
        ) from None
    codes = _CODES[raw]
    bad = codes == _INVALID
    if on_ambiguous == "error":
        bad |= codes == _AMBIGUOUS
    if bad.any():
        flat_index = int(np.flatnonzero(bad)[0])
        sequence, position = _locate(offsets, flat_index)
        kind = (
            "the ambiguous nucleotide code" if codes[flat_index] == _AMBIGUOUS else "the character"
        )
        hint = (
            "use unknown='uniform' to encode it as 0.25 for each nucleotide"
            if codes[flat_index] == _AMBIGUOUS
            else f"allowed letters are {ALPHABET} and the IUPAC codes {AMBIGUOUS_CODES}, "
            "in either case"
        )
        raise ValueError(
            f"Sequence {sequence} has {kind} {joined[flat_index]!r} at position {position}; {hint}."
        )
    return codes, lengths


class OneHotSequenceEncoder(TransformerMixin, BaseEstimator):
    """Encode DNA sequences as one-hot arrays of shape (n_sequences, 4, length).

    Rows of the output are the nucleotides A, C, G, T (in that order) and
    columns are sequence positions, the layout expected by 1-D convolutional
    networks (channels first). Letters are case-insensitive. The IUPAC
    ambiguity codes (N, R, Y, S, W, K, M, B, D, H, V) become a column of
    0.25 for each nucleotide, or raise an error, depending on `unknown`.
    Sequences shorter than the encoded length are padded with all-zero
    columns.

    The encoding is stateless: :meth:`fit` only checks the input and fixes the
    encoded length, so the encoder can be the first step of a
    :class:`~sklearn.pipeline.Pipeline`, cloned and pickled freely.

    Parameters
    ----------
    length : int or None, default=None
        Length of the encoded sequences. None requires all sequences passed to
        :meth:`fit` to have the same length and uses it; sequences passed to
        :meth:`transform` must then have that length too. An int pads shorter
        sequences with all-zero columns (see `padding`).
    padding : {"right", "center"}, default="right"
        Where shorter sequences are placed when `length` is an int: at the start
        (zeros on the right) or in the middle (``(length - len(seq)) // 2`` zero
        columns on the left, the rest on the right).
    unknown : {"uniform", "error"}, default="uniform"
        What to do with IUPAC ambiguity codes: encode each as 0.25 for every
        nucleotide, or raise a ValueError. Characters that are not nucleotide
        codes always raise.

    Attributes
    ----------
    length_ : int
        Length of the encoded sequences, the last axis of the output.

    See Also
    --------
    read_fasta : Read the names and sequences of a FASTA file.

    Notes
    -----
    :meth:`inverse_transform` recovers the sequences up to case: ambiguity
    codes all come back as "N".

    Examples
    --------
    >>> from skexplain.preprocessing import OneHotSequenceEncoder
    >>> encoder = OneHotSequenceEncoder(length=4)
    >>> X = encoder.fit_transform(["ACGT", "gn"])
    >>> X.shape
    (2, 4, 4)
    >>> X[1]
    array([[0.  , 0.25, 0.  , 0.  ],
           [0.  , 0.25, 0.  , 0.  ],
           [1.  , 0.25, 0.  , 0.  ],
           [0.  , 0.25, 0.  , 0.  ]], dtype=float32)
    >>> encoder.inverse_transform(X)
    array(['ACGT', 'GN'], dtype=object)
    """

    _parameter_constraints: dict = {
        "length": [None, Interval(Integral, 1, None, closed="left")],
        "padding": [StrOptions({"right", "center"})],
        "unknown": [StrOptions({"uniform", "error"})],
    }

    def __init__(self, length=None, padding="right", unknown="uniform"):
        self.length = length
        self.padding = padding
        self.unknown = unknown

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the sequences and fix the encoded length.

        Parameters
        ----------
        X : list, ndarray or pandas Series of str, of shape (n_sequences,)
            DNA sequences.
        y : None
            Ignored.

        Returns
        -------
        self : OneHotSequenceEncoder
            The fitted encoder.

        Raises
        ------
        ValueError
            If `X` is not a non-empty 1-D collection of non-empty strings, holds a
            character that is not a nucleotide code (or an ambiguity code with
            ``unknown="error"``), or if ``length=None`` and the sequences differ
            in length, or a sequence is longer than `length`.
        """
        sequences = _as_sequences(X)
        _, lengths = _encode_codes(sequences, self.unknown)
        if self.length is None:
            if np.any(lengths != lengths[0]):
                index = int(np.flatnonzero(lengths != lengths[0])[0])
                raise ValueError(
                    f"Sequences differ in length (sequence 0 has {lengths[0]} nucleotides, "
                    f"sequence {index} has {lengths[index]}); pass length=int to pad them."
                )
            self.length_ = int(lengths[0])
        else:
            self.length_ = int(self.length)
        self._check_lengths(lengths)
        return self

    def transform(self, X):
        """One-hot encode sequences.

        Parameters
        ----------
        X : list, ndarray or pandas Series of str, of shape (n_sequences,)
            DNA sequences, at most ``length_`` long (exactly ``length_`` when the
            encoder was built with ``length=None``).

        Returns
        -------
        X_onehot : ndarray of shape (n_sequences, 4, length_), dtype float32
            One-hot encoding, rows A, C, G, T; ambiguity codes give 0.25 in each
            row and padding gives all-zero columns.

        Raises
        ------
        ValueError
            For the same input problems as :meth:`fit`, and for sequences longer
            than ``length_`` (or of another length when ``length=None``).
        """
        check_is_fitted(self)
        sequences = _as_sequences(X)
        codes, lengths = _encode_codes(sequences, self.unknown)
        self._check_lengths(lengths)

        n_sequences = len(sequences)
        grid = np.full((n_sequences, self.length_), _PADDING, dtype=np.uint8)
        if self.padding == "center":
            starts = (self.length_ - lengths) // 2
        else:
            starts = np.zeros_like(lengths)
        rows = np.repeat(np.arange(n_sequences), lengths)
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        positions = np.arange(codes.size) - np.repeat(offsets - starts, lengths)
        grid[rows, positions] = codes
        return np.ascontiguousarray(_COLUMNS[grid].transpose(0, 2, 1))

    def inverse_transform(self, X):
        """Decode one-hot arrays back to sequences.

        Each column becomes the letter of its largest entry; all-zero columns
        are padding and are dropped, and columns with four equal non-zero
        entries become "N".

        Parameters
        ----------
        X : array-like of shape (n_sequences, 4, length)
            One-hot (or probability-like) encoding, rows A, C, G, T.

        Returns
        -------
        sequences : ndarray of shape (n_sequences,), dtype object
            Upper-case sequences, as str.

        Raises
        ------
        ValueError
            If `X` is not a 3-D array with 4 rows per sequence.
        """
        check_is_fitted(self)
        X = np.asarray(X)
        if X.ndim != 3 or X.shape[1] != 4:
            raise ValueError(
                f"Expected an array of shape (n_sequences, 4, length), got shape {X.shape}."
            )
        letters = np.frombuffer(ALPHABET.encode() + b"N", dtype=np.uint8)
        codes = np.argmax(X, axis=1)
        uniform = np.all(X == X[:, :1], axis=1)
        codes[uniform] = len(ALPHABET)
        keep = ~(uniform & (X[:, 0] == 0))
        decoded = letters[codes]
        result = np.empty(len(X), dtype=object)
        result[:] = [row[kept].tobytes().decode() for row, kept in zip(decoded, keep, strict=True)]
        return result

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.one_d_array = True
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = []
        return tags

    def _check_lengths(self, lengths):
        if self.length is None:
            wrong = lengths != self.length_
            problem = f"the encoder was fitted on sequences of length {self.length_}"
        else:
            wrong = lengths > self.length_
            problem = f"longer than length={self.length_}"
        if wrong.any():
            index = int(np.flatnonzero(wrong)[0])
            raise ValueError(f"Sequence {index} has {lengths[index]} nucleotides, but {problem}.")


def _open_text(path):
    with open(path, "rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    if gzipped:
        return gzip.open(path, "rt", encoding="ascii")
    return open(path, encoding="ascii")


def read_fasta(path):
    """Read the records of a FASTA file.

    Sequences may span several lines; blank lines and lines starting with ";"
    are ignored. Gzip-compressed files are detected and read transparently.

    Parameters
    ----------
    path : str or path-like
        The FASTA file, plain or gzip-compressed.

    Returns
    -------
    names : list of str
        The header of each record, without the leading ">" and surrounding
        whitespace.
    sequences : list of str
        The sequence of each record, its lines joined, letters as in the file.

    Raises
    ------
    ValueError
        If the file holds no record, or sequence text before the first header.

    Examples
    --------
    >>> import os, tempfile
    >>> from skexplain.preprocessing import OneHotSequenceEncoder, read_fasta
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "seqs.fa")
    ...     with open(path, "w") as handle:
    ...         _ = handle.write(">seq1 first\\nACGT\\nAC\\n>seq2\\nTTGGCA\\n")
    ...     names, sequences = read_fasta(path)
    >>> names, sequences
    (['seq1 first', 'seq2'], ['ACGTAC', 'TTGGCA'])
    >>> OneHotSequenceEncoder().fit_transform(sequences).shape
    (2, 4, 6)
    """
    names, chunks = [], []
    with _open_text(os.fspath(path)) as handle:
        for line_number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line or line.startswith(";"):
                continue
            if line.startswith(">"):
                names.append(line[1:].strip())
                chunks.append([])
            elif not names:
                raise ValueError(
                    f"{path}: line {line_number} holds sequence text before the first "
                    "'>' header; is this a FASTA file?"
                )
            else:
                chunks[-1].append(line)
    if not names:
        raise ValueError(f"{path}: no FASTA record (no line starting with '>').")
    return names, ["".join(chunk) for chunk in chunks]
