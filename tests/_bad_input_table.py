"""Print the bad-input table: inputs tried x classes, each cell the error class raised.

Run from the repository root: ``python -m tests._bad_input_table [--markdown]``. A cell is the
error class raised (the message matched the problem and the input was left unchanged), OK for
a valid edge input giving the dense float result, n/a where the input does not apply, or
WRONG with what happened. Not collected by pytest (no ``test_`` prefix).
"""

import sys
import warnings

import torch

from tests.test_bad_input import (
    EDGE_INPUTS,
    SUBJECTS,
    all_bad,
    edge_outcome,
    one_row_outcome,
    outcome,
)

ABBREVIATIONS = {"ValueError": "VE", "TypeError": "TE", "NotFittedError": "NFE"}


def table():
    rows = {}
    for bad in all_bad():
        rows[bad] = {name: outcome(subject, bad)[0] for name, subject in SUBJECTS.items()}
    rows["edge:one_row"] = {name: one_row_outcome(subject)[0]
                            for name, subject in SUBJECTS.items()}
    for edge in EDGE_INPUTS:
        rows[f"edge:{edge}"] = {name: edge_outcome(subject, edge)[0]
                                for name, subject in SUBJECTS.items()}
    return rows


def _short(cell):
    for long, short in ABBREVIATIONS.items():
        cell = cell.replace(long, short)
    return cell


def render(rows, markdown=False):
    names = list(SUBJECTS)
    lines = []
    if markdown:
        lines.append("| input | " + " | ".join(names) + " |")
        lines.append("|---" * (len(names) + 1) + "|")
        for bad, cells in rows.items():
            lines.append(f"| {bad} | " + " | ".join(_short(cells[n]) for n in names) + " |")
    else:
        for name in names:  # one block per class: easier to read than a 30-column grid
            lines.append(name)
            for bad, cells in rows.items():
                lines.append(f"    {bad:28s} {cells[name]}")
    wrong = sum(cell.startswith("WRONG") for cells in rows.values() for cell in cells.values())
    lines.append(f"\n{wrong} WRONG cells; VE = ValueError, TE = TypeError, "
                 "NFE = NotFittedError.")
    return "\n".join(lines)


if __name__ == "__main__":
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        print(render(table(), markdown="--markdown" in sys.argv))
