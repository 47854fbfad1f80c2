"""The DeepResolve example recovers each class's channels and the planted helical spacing; the
network's channels group the motif pairs that share a core, DeepResolve's class similarity does
not."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "plot_deepresolve.py"


@pytest.mark.example
def test_deepresolve_example_recovers_channels_and_spacing():
    pytest.importorskip("logomaker")
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=1800, check=True
    )
    overlap = float(re.search(r"mean top-5 overlap ([\d.]+) of 5", result.stdout).group(1))
    period, p_value = re.search(r"period ([\d.]+) nt .* p = ([\d.]+)", result.stdout).groups()
    assert overlap >= 2  # chance: 0.2
    # Motif families: the channel responses group the two shared-core pairs (Mantel test against
    # TomTom similarity over the 66 pairs); DeepResolve's class similarity does not group
    # FOSL1-MAFK (bottom half of the 66 pairs), as the example states.
    rho, rho_p = re.search(r"channel responses: .*Spearman with motif similarity ([-+\d.]+) "
                           r"\(p = ([\d.]+)\)", result.stdout).groups()
    assert float(rho) > 0 and float(rho_p) <= 0.05
    nearest, nearest_p = re.search(r"channel responses: .*nearest class is the partner (\d) of 4 "
                                   r".*?p = ([\d.]+)\)", result.stdout).groups()
    assert int(nearest) >= 2 and float(nearest_p) <= 0.05
    fosl1_mafk = re.search(r"DeepResolve class similarity: .*FOSL1-MAFK [-+\d.]+ "
                           r"\(rank (\d+) of 66", result.stdout)
    assert int(fosl1_mafk.group(1)) > 33
    assert abs(float(period) - 10.5) < 0.3 and float(p_value) <= 0.01
    assert "saved figures" in result.stdout
