"""Scores of explanation quality: faithfulness, stability, sanity checks, and their scorers."""

from ._consistency import input_consistency, ranking_agreement, seed_consistency
from ._faithfulness import (
    deletion_auc,
    deletion_curve,
    deletion_score,
    insertion_auc,
    insertion_curve,
)
from ._infidelity import infidelity
from ._localization import localization_auroc, localization_scores
from ._perturbation import topk_perturbation_auc, topk_perturbation_curve
from ._randomization import model_randomization_test
from ._scorer import (
    ExplanationScorer,
    get_explanation_scorer,
    get_explanation_scorer_names,
    make_explanation_scorer,
)
from ._sensitivity import max_sensitivity

__all__ = [
    "ExplanationScorer",
    "deletion_auc",
    "deletion_curve",
    "deletion_score",
    "get_explanation_scorer",
    "get_explanation_scorer_names",
    "infidelity",
    "input_consistency",
    "insertion_auc",
    "insertion_curve",
    "localization_auroc",
    "localization_scores",
    "make_explanation_scorer",
    "max_sensitivity",
    "model_randomization_test",
    "ranking_agreement",
    "seed_consistency",
    "topk_perturbation_auc",
    "topk_perturbation_curve",
]
