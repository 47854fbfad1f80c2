"""The gene-selection pipeline example runs on the bundled data and its numbers hold up."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "plot_gene_selection_pipeline.py"


@pytest.mark.example
def test_gene_selection_example_selects_informative_stable_genes():
    pytest.importorskip("scanpy")
    out = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=900, check=True
    ).stdout
    match = re.search(r"with all 765 genes: ([\d.]+) \(std over folds ([\d.]+)\)", out)
    full, full_std = float(match.group(1)), float(match.group(2))
    rows = {
        int(match[0]): [float(value) for value in match[1].split()]
        for match in re.findall(r"^\s*(\d+)\s+((?:[\d.]+\s+){5}[\d.]+)\s*$", out, re.MULTILINE)
    }
    assert sorted(rows) == [5, 10, 20, 40, 80, 160, 320]
    # Columns: accuracy SensX, variance, permutation; Jaccard SensX, variance, permutation.
    sensx, variance = {n: r[0] for n, r in rows.items()}, {n: r[1] for n, r in rows.items()}
    assert 0.93 < full < 0.99  # five lineages: T-cell subtypes and myeloid cells merged
    # A tenth of the genes, chosen by explanations, reach the all-gene accuracy within one
    # fold-std, and ten genes come within two ...
    fewest = re.search(r"fewest SensX genes within one fold-std of all genes: (\d+)", out)
    assert int(fewest.group(1)) <= 80
    assert sensx[10] >= full - 2 * full_std
    # ... far more than the most variable genes.
    assert sensx[5] > variance[5] + 0.03 and sensx[10] > variance[10] + 0.03
    assert all(0 <= value <= 1 for r in rows.values() for value in r[3:])
    assert rows[10][3] > 0.4  # the SensX top 10 overlaps across folds
    stable = re.search(r"top 20 of all 5 folds \(\d+\): (.*)", out).group(1).split(", ")
    assert {"CD79A", "GNLY"} <= set(stable)  # B and NK markers
    assert "Optimal subset sizes of 10 held-out cells" in out and "saved" in out
