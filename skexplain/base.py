"""The explainer contract: the bases of the three kinds of explainer and their results.

``BaseExplainer`` is the local-explainer base and ``Explanation`` its result, an
:class:`Attribution`; both live in :mod:`skexplain._core`.
"""

from ._core.base import ExampleExplainer, Explainer, LocalExplainer, ModelLevelExplainer
from ._core.explanation import Attribution, ExampleExplanation, ModelExplanation, Result

BaseExplainer = LocalExplainer
Explanation = Attribution

__all__ = [
    "Attribution",
    "BaseExplainer",
    "ExampleExplainer",
    "ExampleExplanation",
    "Explainer",
    "Explanation",
    "LocalExplainer",
    "ModelExplanation",
    "ModelLevelExplainer",
    "Result",
]
