"""skexplain: explainable deep models of genomic and single-cell data, the scikit-learn way."""

from .base import BaseExplainer, Explanation

__version__ = "0.1.0.dev0"

__all__ = ["BaseExplainer", "Explanation", "__version__"]
