import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier

from skexplain.base import BaseExplainer


class GradientOfSquares(BaseExplainer):
    """Exact gradient of f(x) = sum(x**2): 2x (a deterministic test explainer)."""

    def _explain(self, X, target):
        return 2 * X, {"method": "gradient"}


def linear(w, offset=0.0):
    def model(X):
        return X.reshape(len(X), -1) @ w + offset

    return model


@pytest.fixture(scope="session")
def planted():
    """20 features; the label depends only on features 3 and 7 (XOR-like)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 20))
    y = (X[:, 3] * X[:, 7] > 0).astype(int)
    model = MLPClassifier((32, 16), max_iter=600, random_state=0).fit(X, y)
    confident = X[model.predict_proba(X)[:, 1] > 0.95][:8]
    return X, y, model, confident
