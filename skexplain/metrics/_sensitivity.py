"""Max-sensitivity (Yeh et al. 2019): how much can an explanation change in a small ball?"""

import numpy as np
from sklearn.utils import check_random_state

from ._common import check_positive_int, explain_flat, uniform_copies


def max_sensitivity(
    explainer, X, *, radius=0.1, n_perturbations=10, target=None, normalize=False,
    random_state=None,
):
    """Largest change of an explanation under small input perturbations (lower is better).

    ``SENS_max(phi, f, x, r) = max_{||y - x||_inf <= r} ||phi(y) - phi(x)||_2``, estimated by
    Monte Carlo: ``n_perturbations`` copies of X with every feature moved uniformly within
    ``radius`` are explained for the same output as X, and the largest L2 distance to the
    explanation of X is kept. Each copy of X is explained as a whole batch, so row i is
    always explained at position i: explainers whose random numbers depend on the row
    position (SensX) then use the same random numbers for x and its perturbations, and the
    measure reflects the input, not Monte Carlo noise. From Yeh, Hsieh, Suggala, Inouye &
    Ravikumar, "On the (in)fidelity and sensitivity of explanations", NeurIPS 2019.

    Parameters
    ----------
    explainer : fitted explainer
        Any :class:`skexplain.BaseExplainer`.
    X : array-like of shape (n_samples, *feature_shape)
        Instances to explain.
    radius : float or ndarray of shape (n_features,), default=0.1
        Half-width of the perturbation of each feature, in the feature's units.
    n_perturbations : int, default=10
        Perturbed copies of X.
    target : None, int, label or array-like, default=None
        Output to explain, as in ``explainer.explain``; None explains each instance's
        highest-scoring output (resolved once, on X).
    normalize : bool, default=False
        Divide each instance's sensitivity by the norm of its explanation (as Quantus does);
        an all-zero explanation then gives 0 if it stays zero, infinity otherwise.
    random_state : int, RandomState instance or None, default=None
        Seeds the perturbations.

    Returns
    -------
    sensitivity : float
        Mean over instances, in the units of the attributions (or relative, if normalized).
    """
    n_perturbations = check_positive_int(n_perturbations, "n_perturbations")
    rng = check_random_state(random_state)
    data, values, target = explain_flat(explainer, X, target)
    largest = np.zeros(len(data))
    for _ in range(n_perturbations):
        _, moved, _ = explain_flat(explainer, uniform_copies(data, radius, rng), target)
        largest = np.maximum(largest, np.linalg.norm(moved - values, axis=1))
    if normalize:
        norm = np.linalg.norm(values, axis=1)
        largest = np.divide(largest, norm, out=np.where(largest > 0, np.inf, 0.0),
                            where=norm > 0)
    return float(largest.mean())
