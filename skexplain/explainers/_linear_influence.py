"""Loss gradients and exact Hessians of fitted scikit-learn linear models.

A fitted model minimises ``a * sum_i s_i * loss_i(theta) + r / 2 * ||w||^2`` over its
parameters theta (coefficients w and, unpenalised unless liblinear, the intercept), where s_i
are the sample weights implied by ``class_weight``. Removing training example j moves the
optimum by about ``a * s_j * H^-1 grad loss_j``, H the Hessian of that objective (Koh & Liang
2017). This module gives a, s, r, the per-example gradients and H for:

- ``LogisticRegression`` (binary or multinomial; L2 or no penalty): objective
  ``C * sum_i s_i * log_loss_i + 1/2 ||W||^2`` (a = C, r = 1; a = 1, r = 0 without penalty);
- ``Ridge`` and ``LinearRegression`` (one target): ``sum_i (y_i - x_i . w - b)^2 + alpha
  ||w||^2`` (a = 1, r = 2 * alpha).
"""

import numpy as np
from scipy.special import expit, softmax
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import check_is_fitted


class LinearProblem:
    """The training objective of a fitted linear model, in its flat parameters.

    Parameters
    ----------
    model : LogisticRegression, Ridge or LinearRegression
        A fitted estimator.

    Raises
    ------
    TypeError
        For another estimator.
    ValueError
        For a non-smooth penalty (L1, elastic net) or a multi-target regression.
    """

    def __init__(self, model):
        self.model = model
        if isinstance(model, (LogisticRegression, Ridge, LinearRegression)):
            check_is_fitted(model)
        if isinstance(model, LogisticRegression):
            self.kind = "logistic"
            self.classes = np.asarray(model.classes_)
            self.a, self.r = _logistic_penalty(model)
            coef = np.asarray(model.coef_, dtype=np.float64)
            intercept = np.asarray(model.intercept_, dtype=np.float64).reshape(len(coef))
        elif isinstance(model, (Ridge, LinearRegression)):
            self.kind = "squared"
            self.classes = None
            alpha = getattr(model, "alpha", 0.0)
            coef = np.asarray(model.coef_, dtype=np.float64)
            if coef.ndim != 1 or np.ndim(alpha) != 0:
                raise ValueError("Only single-target regressions (1-D coef_) are supported.")
            self.a, self.r = 1.0, 2.0 * float(alpha)
            coef = coef[None, :]
            intercept = np.atleast_1d(np.asarray(model.intercept_, dtype=np.float64))
        else:
            raise TypeError(
                f"Exact influence supports LogisticRegression, Ridge and LinearRegression "
                f"(alone or last in a Pipeline), not {type(model).__name__}; for a network "
                "pass a torch module or skorch net."
            )
        self.fit_intercept = bool(getattr(model, "fit_intercept", True))
        # liblinear penalises the intercept as the weight of a constant feature.
        self.intercept_column, self.intercept_penalised = 1.0, False
        if self.kind == "logistic" and getattr(model, "solver", None) == "liblinear":
            self.intercept_column = float(model.intercept_scaling)
            self.intercept_penalised = True
        self.n_features = coef.shape[1]
        if self.fit_intercept:
            coef = np.hstack([coef, intercept[:, None] / self.intercept_column])
        self.theta = coef  # (n_outputs, n_design)

    def design(self, X):
        """X with the intercept column appended, shape (n, n_design)."""
        if X.shape[1] != self.n_features:
            raise ValueError(
                f"X has {X.shape[1]} features, but the model was fitted on {self.n_features}."
            )
        if not self.fit_intercept:
            return X
        return np.hstack([X, np.full((len(X), 1), self.intercept_column)])

    def encode(self, y):
        """Targets as class indices (logistic) or floats (regression)."""
        y = np.asarray(y)
        if self.kind == "squared":
            return y.astype(np.float64).reshape(-1)
        index = {label: i for i, label in enumerate(self.classes.tolist())}
        unknown = [label for label in np.unique(y).tolist() if label not in index]
        if unknown:
            raise ValueError(f"Unknown labels {unknown[:5]}; the classes are {self.classes}.")
        return np.array([index[label] for label in y.tolist()], dtype=int)

    def sample_weights(self, y):
        """s_i: the weight of each example's loss (from class_weight)."""
        class_weight = getattr(self.model, "class_weight", None)
        if self.kind == "logistic" and class_weight is not None:
            return compute_sample_weight(class_weight, self.classes[y])
        return np.ones(len(y))

    def _residuals(self, Z, y):
        """d loss / d logits (n, n_outputs) and the loss (n,) at logits Z."""
        if self.kind == "squared":
            return 2.0 * (Z[:, 0] - y)[:, None], (Z[:, 0] - y) ** 2
        if Z.shape[1] == 1:
            p = expit(Z[:, 0])
            loss = np.logaddexp(0.0, Z[:, 0]) - y * Z[:, 0]
            return (p - y)[:, None], loss
        P = softmax(Z, axis=1)
        loss = -np.log(np.clip(P[np.arange(len(y)), y], 1e-300, None))
        P[np.arange(len(y)), y] -= 1.0
        return P, loss

    def gradients(self, D, y):
        """Per-example loss gradients (n, n_parameters) and losses (n,) at design D."""
        R, loss = self._residuals(D @ self.theta.T, y)
        return (R[:, :, None] * D[:, None, :]).reshape(len(D), -1), loss

    def stationarity(self, G, weights):
        """Gradient norm of the objective relative to the norms of its terms (0 at optimum)."""
        loss_term = self.a * weights @ G
        penalty_term = self.r * self._penalised() * self.theta.ravel()
        scale = np.linalg.norm(self.a * weights[:, None] * G, axis=0).sum() + np.linalg.norm(
            penalty_term)
        return np.linalg.norm(loss_term + penalty_term) / max(scale, 1e-300)

    def _penalised(self):
        """1 for each penalised parameter, 0 for an unpenalised intercept (flat order)."""
        penalised = np.ones(self.theta.shape[1])
        if self.fit_intercept and not self.intercept_penalised:
            penalised[-1] = 0.0
        return np.tile(penalised, self.theta.shape[0])

    def hessian(self, D, y, weights):
        """Hessian (n_parameters, n_parameters) of the whole training objective."""
        Z = D @ self.theta.T
        if self.kind == "squared":
            curvature = 2.0 * np.ones((len(D), 1, 1))
        elif Z.shape[1] == 1:
            p = expit(Z[:, 0])
            curvature = (p * (1 - p))[:, None, None]
        else:
            P = softmax(Z, axis=1)
            curvature = P[:, :, None] * (np.eye(Z.shape[1])[None] - P[:, None, :])
        curvature = curvature * (self.a * weights)[:, None, None]
        n_out, n_design = self.theta.shape
        H = np.einsum("ikl,ia,ib->kalb", curvature, D, D, optimize=True)
        H = H.reshape(n_out * n_design, n_out * n_design)
        H[np.diag_indices_from(H)] += self.r * self._penalised()
        return H


def _logistic_penalty(model):
    penalty = getattr(model, "penalty", "deprecated")
    l1_ratio = getattr(model, "l1_ratio", 0.0)
    if penalty in ("l1", "elasticnet") or (penalty != "l2" and l1_ratio not in (0, 0.0, None)):
        raise ValueError(
            "Influence functions need a smooth objective: an L2 penalty (l1_ratio=0) or none, "
            f"got penalty={penalty!r}, l1_ratio={l1_ratio!r}."
        )
    if penalty is None or np.isinf(model.C):
        return 1.0, 0.0
    return float(model.C), 1.0
