"""Feature selection from explanations: selectors, importances and SensX's optimal subset."""

from ._aggregate import explanation_importances
from ._explained_estimator import ExplainedEstimator
from ._optimal_subset import optimal_subset
from ._selector import ExplanationSelector
from ._sparsity_path import sparsity_path

__all__ = [
    "ExplainedEstimator",
    "ExplanationSelector",
    "explanation_importances",
    "optimal_subset",
    "sparsity_path",
]
