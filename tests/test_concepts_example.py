"""The concept example: on real IRF1 ChIP-seq data, TCAV finds the IRF motif significant for
the peak class and CTCF not, and network dissection labels the IRF filters found by TomTom."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "plot_concepts_and_examples.py"


@pytest.mark.example
def test_concept_example_finds_the_irf_motif():
    pytest.importorskip("memelite")
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=1800, check=True
    )
    out = result.stdout
    assert float(re.search(r"test AUROC ([\d.]+)", out).group(1)) >= 0.9
    irf = re.search(r"TCAV IRF1: score ([\d.]+) .*, (\w+ ?\w*)$", out, flags=re.MULTILINE)
    ctcf = re.search(r"TCAV CTCF: score ([\d.]+) .*, (\w+ ?\w*)$", out, flags=re.MULTILINE)
    assert float(irf.group(1)) >= 0.9 and irf.group(2) == "significant"
    assert ctcf.group(2) == "not significant"
    agree, n_irf = map(int, re.search(r"(\d+) of (\d+) IRF filters \(TomTom\) are IRF1 "
                                      r"detectors", out).groups())
    assert n_irf >= 3 and agree >= 0.75 * n_irf
    iou_irf, iou_other = map(float, re.search(
        r"IRF1 IoU: ([\d.]+) for the IRF filters, ([\d.]+) for the others", out).groups())
    assert iou_irf >= 2 * iou_other
    assert re.search(r"TCAV: [\d.]+ s per explained sequence", out)
    assert "saved figures" in out
    # Influence functions on the PBMC classifier track actual leave-one-out refits, and the
    # most helpful training cells mostly share the called type.
    r = float(re.search(r"actual leave-one-out change .*: Pearson r = ([\d.]+)", out).group(1))
    assert r >= 0.9
    helpful, harmful = map(int, re.search(
        r"top-5 helpful cells of the called type: (\d+)%; top-5 harmful: (\d+)%", out).groups())
    assert helpful > 60 and helpful > harmful + 30
    correct, wrong = map(float, re.search(
        r"mean credibility: correct calls ([\d.]+), wrong calls ([\d.]+)", out).groups())
    assert correct > wrong
    # Most projected prototypes of the task-1 prototype network lie on a planted motif, far
    # more than random windows do.
    on_motif, random_windows = map(float, re.search(
        r"projected prototypes on a planted motif: ([\d.]+) \(random windows: ([\d.]+)\)",
        out).groups())
    assert on_motif >= 0.6 and on_motif > random_windows + 0.3
    assert re.search(r"seconds per explained instance: TCAV .* prototypes", out)
