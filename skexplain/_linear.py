"""An L1-penalised logistic regression, shared by the sparse baseline and the surrogates."""

import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.utils.fixes import parse_version

# sklearn 1.8 deprecated penalty= in favour of l1_ratio alone.
_L1_RATIO_ONLY = parse_version(sklearn.__version__) >= parse_version("1.8")


def l1_logistic_regression(C=1.0, **params):
    """An L1-penalised (lasso) logistic regression fitted by saga, for any sklearn >= 1.6.

    Parameters
    ----------
    C : float, default=1.0
        Inverse regularisation strength.
    **params
        Other parameters of :class:`sklearn.linear_model.LogisticRegression`.

    Returns
    -------
    estimator : LogisticRegression (unfitted)
    """
    penalty = {"l1_ratio": 1.0} if _L1_RATIO_ONLY else {"penalty": "l1"}
    return LogisticRegression(C=C, solver="saga", **penalty, **params)
