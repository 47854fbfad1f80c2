"""Infidelity (Yeh et al. 2019): do attributions predict the effect of input perturbations?"""

import numpy as np

from ._common import (
    DEFAULT_BATCH_SIZE,
    check_attributions,
    check_feature_vector,
    check_positive_int,
    instance_rngs,
    score_rows,
)


def infidelity(
    score_function, X, attributions, target, *, noise_scale=0.1, n_perturbations=50,
    normalize=False, batch_size=DEFAULT_BATCH_SIZE, random_state=None,
):
    """Infidelity of attributions under Gaussian perturbations (lower is better).

    ``INFD(phi, f, x) = E_I[(I . phi(x) - (f(x) - f(x - I)))^2]`` with ``I ~ N(0,
    diag(noise_scale^2))``: the mean squared error of the attributions, read as a linear
    model of the score's response to small perturbations. It is 0 for the gradient of a
    linear model, and is minimised by a smoothed gradient, so it suits attributions in
    units of score per unit of feature (gradients, SensX's elementary effects) rather than
    attributions that multiply by the input. Estimated with ``n_perturbations`` draws per
    instance. From Yeh, Hsieh, Suggala, Inouye & Ravikumar, "On the (in)fidelity and
    sensitivity of explanations", NeurIPS 2019 (the "noisy baseline" perturbation).

    Parameters
    ----------
    score_function : callable
        Maps a batch of shape (batch, n_features) to scores of shape (batch, n_outputs).
    X : ndarray of shape (n_samples, n_features)
        The explained instances, flattened.
    attributions : ndarray of shape (n_samples, n_features)
        One value per feature (grouped attributions have no defined inner product with a
        perturbation and are rejected).
    target : int or ndarray of shape (n_samples,)
        Output index explained for each instance.
    noise_scale : float or ndarray of shape (n_features,), default=0.1
        Standard deviation of the perturbation of each feature, in the feature's units.
    n_perturbations : int, default=50
        Draws per instance.
    normalize : bool, default=False
        Rescale each instance's attributions by the least-squares factor ``beta = E[(I.phi)
        df] / E[(I.phi)^2]`` first (as captum does), so that only their direction counts.
    batch_size : int or "auto", default="auto"
        Rows per model call; "auto" is the explainers' policy (64 MiB of float64 rows, at
        most 4096).
    random_state : int, RandomState instance or None, default=None
        Seeds the perturbations; instance i's draws depend only on it and i.

    Returns
    -------
    infidelity : float
        Mean over instances, in squared units of the model's score.

    Raises
    ------
    ValueError
        If shapes disagree or noise_scale is negative.
    """
    X, attributions, target = check_attributions(X, attributions, target)
    n_samples, n_features = X.shape
    noise_scale = check_feature_vector(noise_scale, n_features, "noise_scale")
    if np.any(noise_scale < 0):
        raise ValueError("noise_scale must be non-negative.")
    n_perturbations = check_positive_int(n_perturbations, "n_perturbations")
    rngs = instance_rngs(random_state, n_samples)
    errors = np.empty(n_samples)
    for i in range(n_samples):
        noise = rngs[i].normal(size=(n_perturbations, n_features)) * noise_scale
        rows = np.vstack([X[i][None], X[i] - noise])
        scores = score_rows(score_function, rows, target[i], batch_size, owner=i)
        effect = scores[0] - scores[1:]
        predicted = noise @ attributions[i]
        if normalize:
            energy = predicted @ predicted
            predicted = predicted * (predicted @ effect / energy if energy > 0 else 0.0)
        errors[i] = np.mean((predicted - effect) ** 2)
    return float(errors.mean())
