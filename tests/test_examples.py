"""The README's main example runs on the bundled real data and finds known marker genes."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "plot_single_cell_gene_importance.py"


@pytest.mark.example
def test_single_cell_example_ranks_known_markers_high():
    """Runs the main example; its summary (rewritten) must still be the README's excerpt."""
    pytest.importorskip("scanpy")
    from tests.test_readme import SUMMARY, marker_counts, readme_excerpt

    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=900, check=True
    )
    summary = SUMMARY.read_text()
    assert summary.strip() in result.stdout
    counts = marker_counts(summary)
    assert counts["B", "SensX"] == (3, 3) and counts["NK", "SensX"][0] >= 3
    assert summary == readme_excerpt()
    assert "saved" in result.stdout


ATTRIBUTION_EXAMPLE = EXAMPLE.parent / "plot_attribution_comparison.py"


@pytest.mark.example
def test_attribution_example_exponential_beats_relu_for_every_method():
    pytest.importorskip("logomaker")
    result = subprocess.run(
        [sys.executable, str(ATTRIBUTION_EXAMPLE)], capture_output=True, text=True,
        timeout=900, check=True,
    )
    for model in ("cnn_local", "cnn_dist"):
        assert f"{model}: exponential >= ReLU for saliency, ISM, IG, DeepSHAP" in result.stdout
    assert "saved" in result.stdout


MOTIF_EXAMPLE = EXAMPLE.parent / "plot_exponential_activation_motifs.py"


@pytest.mark.example
def test_exponential_activation_example_beats_relu_on_filters_and_localization():
    pytest.importorskip("memelite")
    result = subprocess.run(
        [sys.executable, str(MOTIF_EXAMPLE)], capture_output=True, text=True, timeout=1800,
        check=True,
    )
    rows = {
        cells[1].strip(): [cell.strip() for cell in cells[2:]]
        for cells in (line.split("|") for line in result.stdout.splitlines())
        if len(cells) > 8 and cells[1].strip() in ("exponential", "relu")
    }
    match = {name: float(row[4]) for name, row in rows.items()}
    localization = {name: float(row[5].split()[0]) for name, row in rows.items()}
    assert match["exponential"] >= 0.5 and match["relu"] <= 0.2
    assert localization["exponential"] >= localization["relu"] + 0.2
    assert re.search(r"IRF1: test AUROC 0\.9\d+; [1-9]\d* of 32", result.stdout)


RANK_GENES_EXAMPLE = EXAMPLE.parent / "plot_rank_genes_explained.py"


@pytest.mark.example
def test_rank_genes_example_finds_b_cell_markers_through_scanpy():
    pytest.importorskip("scanpy")
    result = subprocess.run(
        [sys.executable, str(RANK_GENES_EXAMPLE)], capture_output=True, text=True,
        timeout=900, check=True,
    )
    accuracy = float(re.search(r"held-out accuracy: ([\d.]+)", result.stdout).group(1))
    assert accuracy > 0.75
    b_cell = re.search(r"CD19\+ B\s+SensX\s+: (.*)", result.stdout).group(1).split(", ")
    assert {"CD79A", "CD79B"} <= set(b_cell[:3])
    assert "saved" in result.stdout


SEQUENCE_TO_MOTIFS_EXAMPLE = EXAMPLE.parent / "plot_sequence_to_motifs.py"


@pytest.mark.example
def test_sequence_to_motifs_example_finds_irf_seqlets_and_scores_variants():
    pytest.importorskip("memelite")
    pytest.importorskip("logomaker")
    result = subprocess.run(
        [sys.executable, str(SEQUENCE_TO_MOTIFS_EXAMPLE)], capture_output=True, text=True,
        timeout=900, check=True,
    )
    out = result.stdout
    assert float(re.search(r"test AUROC ([\d.]+)", out).group(1)) > 0.9
    irf = int(re.search(r"(\d+)% of the 100 strongest positive seqlets are IRF", out).group(1))
    assert irf >= 50
    gap = float(re.search(r"largest \|variant effect - ISM\| .*: ([\d.e+-]+)", out).group(1))
    assert gap < 1e-5
    assert "insertion" in out and "deletion" in out
    assert "saved" in out
