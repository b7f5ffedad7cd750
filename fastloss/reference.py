"""NumPy reference: the textbook formula of every loss, its derivative and second derivative.

Plain NumPy with the same conventions as the kernels (argument order (target, prediction),
gradient with respect to the prediction). Tests and benchmarks compare the kernels against it.
Per-element functions take float arrays and return arrays; ``value`` and ``grad`` apply the
reductions and sample weights exactly as the Loss objects document them.
"""

import numpy as np

# ------------------------------------------------------------------------------- regression


def mse(y, p):
    return (y - p) ** 2


def mse_grad(y, p):
    return 2.0 * (p - y)


def mse_hess(y, p):
    return np.where(np.isnan(p - y), np.nan, 2.0)   # NaN in, NaN out


def mae(y, p):
    return np.abs(y - p)


def mae_grad(y, p):
    return np.sign(p - y)


def _zero_or_nan(r):
    """0 where r is a number (infinite too), NaN where it is NaN."""
    return np.where(np.isnan(r), np.nan, 0.0)


def mae_hess(y, p):
    return _zero_or_nan(p - y)


def huber(y, p, delta=1.0):
    r = p - y
    return np.where(np.abs(r) <= delta, 0.5 * r ** 2, delta * (np.abs(r) - 0.5 * delta))


def huber_grad(y, p, delta=1.0):
    r = p - y
    return np.where(np.abs(r) <= delta, r, delta * np.sign(r))


def huber_hess(y, p, delta=1.0):
    r = p - y
    return np.where(np.abs(r) <= delta, 1.0, _zero_or_nan(r))


def quantile(y, p, alpha=0.5):
    r = y - p
    return np.where(r >= 0, alpha * r, (alpha - 1.0) * r)


def quantile_grad(y, p, alpha=0.5):
    r = y - p
    return np.where(r > 0, -alpha, np.where(r < 0, 1.0 - alpha, 0.5 - alpha + 0.0 * r))


def quantile_hess(y, p, alpha=0.5):
    return _zero_or_nan(y - p)


def log_cosh(y, p):
    r = p - y
    return np.logaddexp(r, -r) - np.log(2.0)   # log((e^r + e^-r) / 2) without overflow


def log_cosh_grad(y, p):
    return np.tanh(p - y)


def log_cosh_hess(y, p):
    return 1.0 / np.cosh(p - y) ** 2


# ------------------------------------------------------------------------------- reductions

LOSSES = {}   # name -> (loss, grad, hess) per-element functions


def _register(*names):
    g = globals()
    for name in names:
        LOSSES[name] = (g[name], g[name + "_grad"], g[name + "_hess"])


_register("mse", "mae", "huber", "quantile", "log_cosh")


def _weights(w, shape):
    return np.ones(shape) if w is None else np.asarray(w, dtype=np.float64)


def value(name, y, p, sample_weight=None, reduction="mean", **params):
    """The reduced loss, in float64."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    w = _weights(sample_weight, p.shape)
    per = w * LOSSES[name][0](y, p, **params)
    if reduction == "none":
        return per
    if reduction == "sum":
        return float(np.sum(per))
    return float(np.sum(per) / np.sum(w)) if np.sum(w) != 0 else float("nan")


def grad(name, y, p, sample_weight=None, reduction="mean", **params):
    """d(reduced loss)/dp, in float64."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    w = _weights(sample_weight, p.shape)
    g = w * LOSSES[name][1](y, p, **params)
    if reduction == "mean":
        g = g / np.sum(w)
    return g


def grad_hess(name, y, p, sample_weight=None, hess_floor=0.0, **params):
    """Per-element w * dl/dp and w * max(d2l/dp2, hess_floor)."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    w = _weights(sample_weight, p.shape)
    h = LOSSES[name][2](y, p, **params)
    h = np.where(h < hess_floor, hess_floor, h)
    return w * LOSSES[name][1](y, p, **params), w * h
