"""Regression losses: mse, mae, huber, quantile, log_cosh (elementwise, any shape)."""

import numpy as np

from fastloss._kernels._dispatch import load
from fastloss._loss import ElementwiseLoss, Param, make_loss
from fastloss._validation import check_real

KERNELS = load("_regression").KERNELS

_COMMON = """
    Parameters
    ----------
    y_true : array_like
        Targets, any shape; integers are accepted (converted to float64).
    y_pred : array_like
        Predictions, the same shape as ``y_true`` (no broadcasting). float32 stays float32.
    sample_weight : array_like, optional
        Non-negative finite weights of the same shape. "mean" is then sum(w*l) / sum(w).
    reduction : {"mean", "sum", "none"}
        "none" returns the per-element losses (times the weights) in the dtype of ``y_pred``.
        The mean of an empty input, or of all-zero weights, is NaN; the sum is 0.
"""


def _doc(summary, formula, grad, hess, notes, example, params=""):
    return f"""{summary}

    .. math:: {formula}

    Gradient (d l / d p): {grad}. Second derivative: {hess}.
    {notes}
{params}{_COMMON}
    Examples
    --------
{example}
"""


# Where the kinked losses are not smooth (read by the generic finite-difference tests).
def _residual(y_true, y_pred):
    return np.asarray(y_pred, dtype=np.float64) - np.asarray(y_true, dtype=np.float64)


def _kink_at_zero(self, y_true, y_pred, **params):
    """MAE and quantile bend at r = 0."""
    return np.abs(_residual(y_true, y_pred))


def _kinks_of_huber(self, y_true, y_pred, delta=1.0):
    """Huber's second derivative jumps at |r| = delta."""
    return np.abs(np.abs(_residual(y_true, y_pred)) - delta)


mse = make_loss(ElementwiseLoss, "mse", _doc(
    "Mean squared error: the mean of (y - p)^2 (not half of it).",
    r"l(y, p) = (y - p)^2",
    "2 (p - y)", "2",
    "The scikit-learn ``mean_squared_error`` convention; NaN in either input propagates.",
    """    >>> import fastloss as fl
    >>> fl.mse([300, 400, 350, 500], [290, 420, 360, 480])
    250.0"""), KERNELS["mse"], family="regression")

mae = make_loss(ElementwiseLoss, "mae", _doc(
    "Mean absolute error: the mean of |y - p|.",
    r"l(y, p) = |y - p|",
    "sign(p - y), with the subgradient 0 at p == y",
    "0 (use ``grad_hess(..., hess_floor=...)`` for boosting, which needs hess > 0)",
    "NaN in either input propagates, in the gradient too.",
    """    >>> import fastloss as fl
    >>> fl.mae([300, 400, 350, 500], [290, 420, 360, 480])
    15.0"""), KERNELS["mae"], family="regression",
    smooth=False, kink_distance=_kink_at_zero)


def _check_delta(value):
    return check_real("delta", value, low=0.0, low_open=True)


def _check_alpha(value):
    return check_real("alpha", value, low=0.0, high=1.0, low_open=True, high_open=True)


huber = make_loss(ElementwiseLoss, "huber", _doc(
    "Huber loss: quadratic for small residuals, linear beyond ``delta``.",
    r"l(y, p) = \tfrac12 r^2 \text{ if } |r| \le \delta \text{ else } \delta(|r| - \tfrac12\delta),"
    r"\quad r = p - y",
    "r for |r| <= delta, delta * sign(r) beyond",
    "1 for |r| <= delta, 0 on the linear part (floor it with ``hess_floor``)",
    "The convention of ``torch.nn.functional.huber_loss`` (a 1/2 on the quadratic part).",
    """    >>> import fastloss as fl
    >>> fl.huber([0.0, 0.0], [0.5, 3.0], delta=1.0)   # (0.125 + 2.5) / 2
    1.3125""",
    params="""
    delta : float, default 1.0
        Where the loss turns from quadratic to linear; must be > 0.
"""), KERNELS["huber"], params=[Param("delta", 1.0, _check_delta)], family="regression",
    smooth=False, kink_distance=_kinks_of_huber)

quantile = make_loss(ElementwiseLoss, "quantile", _doc(
    "Quantile (pinball) loss: the asymmetric cost of under- versus over-prediction.",
    r"l(y, p) = \alpha\, r \text{ if } r \ge 0 \text{ else } (\alpha - 1)\, r,\quad r = y - p",
    "-alpha when y > p, 1 - alpha when y < p, and the midpoint 0.5 - alpha at y == p",
    "0 (floor it with ``hess_floor``)",
    "alpha = 0.9 makes under-predicting cost 9 times over-predicting; alpha = 0.5 is half "
    "the MAE. Minimising it gives the alpha-quantile (scikit-learn's ``mean_pinball_loss``).",
    """    >>> import fastloss as fl
    >>> fl.quantile([10.0, 10.0], [8.0, 12.0], alpha=0.9)   # (0.9*2 + 0.1*2) / 2
    1.0""",
    params="""
    alpha : float, default 0.5
        The quantile, in the open interval (0, 1).
"""), KERNELS["quantile"], params=[Param("alpha", 0.5, _check_alpha)], family="regression",
    smooth=False, kink_distance=_kink_at_zero)

log_cosh = make_loss(ElementwiseLoss, "log_cosh", _doc(
    "Log-cosh loss: about r^2 / 2 for small residuals and |r| - log 2 for large ones.",
    r"l(y, p) = \log\cosh(p - y)",
    "tanh(p - y)", "1 - tanh^2(p - y) = 1 / cosh^2(p - y)",
    "Computed as log1p(2 sinh^2(r/2)) for |r| < 1 (full precision near 0) and "
    "|r| - log 2 + log1p(exp(-2|r|)) beyond (no overflow for any finite residual).",
    """    >>> import fastloss as fl
    >>> round(fl.log_cosh([0.0], [1000.0]), 6)   # 1000 - log 2, no overflow
    999.306853"""), KERNELS["log_cosh"], family="regression")
