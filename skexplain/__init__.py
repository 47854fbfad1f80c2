"""skexplain: explainable deep models of genomic and single-cell data, the scikit-learn way."""

from . import metrics  # noqa: F401  (registers the explanation scorers with the core)
from .base import (
    Attribution,
    BaseExplainer,
    ExampleExplanation,
    Explanation,
    ModelExplanation,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "Attribution",
    "BaseExplainer",
    "ExampleExplanation",
    "Explanation",
    "ModelExplanation",
    "__version__",
]
