"""The DeepResolve example recovers each class's channels and the planted helical spacing, and
reports the class-similarity test of the motif pairs that share a core."""

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
    # The one grouping the example claims: Gabpa and STAT1 (shared GGAA core) share channels.
    gabpa_stat1 = re.search(r"Gabpa-STAT1 [-\d.]+ \(class-similarity rank (\d+) of 66\)",
                            result.stdout)
    assert int(gabpa_stat1.group(1)) <= 3
    assert re.search(r"nearest class is their partner: \d of 4 .*p = [\d.]+\)", result.stdout)
    assert abs(float(period) - 10.5) < 0.3 and float(p_value) <= 0.01
    assert "saved figures" in result.stdout
