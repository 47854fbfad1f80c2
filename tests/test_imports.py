"""Every subpackage imports first in a fresh interpreter (no circular imports)."""

import subprocess
import sys

import pytest

SUBPACKAGES = [
    "datasets", "explainers", "feature_selection", "metrics", "models", "motifs", "nn",
    "plotting", "preprocessing", "sc", "sequences",
]


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_subpackage_imports_on_its_own(name):
    subprocess.run([sys.executable, "-c", f"import skexplain.{name}"], check=True)
