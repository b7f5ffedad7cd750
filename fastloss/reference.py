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
    return np.full(np.broadcast(y, p).shape, 2.0)


def mae(y, p):
    return np.abs(y - p)


def mae_grad(y, p):
    return np.sign(p - y)


def mae_hess(y, p):
    return np.zeros(np.broadcast(y, p).shape) * (p - y)


def huber(y, p, delta=1.0):
    r = p - y
    return np.where(np.abs(r) <= delta, 0.5 * r ** 2, delta * (np.abs(r) - 0.5 * delta))


def huber_grad(y, p, delta=1.0):
    r = p - y
    return np.where(np.abs(r) <= delta, r, delta * np.sign(r))


def huber_hess(y, p, delta=1.0):
    r = p - y
    return np.where(np.abs(r) <= delta, 1.0, 0.0 * r)


def quantile(y, p, alpha=0.5):
    r = y - p
    return np.where(r >= 0, alpha * r, (alpha - 1.0) * r)


def quantile_grad(y, p, alpha=0.5):
    r = y - p
    return np.where(r > 0, -alpha, np.where(r < 0, 1.0 - alpha, 0.5 - alpha + 0.0 * r))


def quantile_hess(y, p, alpha=0.5):
    return 0.0 * (y - p)


def log_cosh(y, p):
    r = p - y
    return np.logaddexp(r, -r) - np.log(2.0)   # log((e^r + e^-r) / 2) without overflow


def log_cosh_grad(y, p):
    return np.tanh(p - y)


def log_cosh_hess(y, p):
    return 1.0 / np.cosh(p - y) ** 2


# ------------------------------------------------------------------------------- binary classification
# Textbook formulas (same conventions as fastloss.losses.binary). Targets y in [0, 1]; the hinge
# losses take labels {-1, +1} or {0, 1} (read as {-1, +1}).


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _softplus(z):
    return np.logaddexp(0.0, z)


def binary_cross_entropy(y, p, eps=None):
    eps = np.finfo(np.float64).eps if eps is None else eps
    p = np.clip(p, eps, 1.0 - eps)
    return -(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))


def binary_cross_entropy_grad(y, p, eps=None):
    eps = np.finfo(np.float64).eps if eps is None else eps
    p = np.clip(p, eps, 1.0 - eps)
    return -y / p + (1.0 - y) / (1.0 - p)


def binary_cross_entropy_hess(y, p, eps=None):
    eps = np.finfo(np.float64).eps if eps is None else eps
    p = np.clip(p, eps, 1.0 - eps)
    return y / p ** 2 + (1.0 - y) / (1.0 - p) ** 2


def binary_cross_entropy_with_logits(y, z, pos_weight=1.0):
    pos_weight = 1.0 if pos_weight is None else pos_weight
    return pos_weight * y * _softplus(-z) + (1.0 - y) * _softplus(z)


def binary_cross_entropy_with_logits_grad(y, z, pos_weight=1.0):
    pos_weight = 1.0 if pos_weight is None else pos_weight
    s = _sigmoid(z)
    return (pos_weight * y + 1.0 - y) * s - pos_weight * y


def binary_cross_entropy_with_logits_hess(y, z, pos_weight=1.0):
    pos_weight = 1.0 if pos_weight is None else pos_weight
    s = _sigmoid(z)
    return (pos_weight * y + 1.0 - y) * s * (1.0 - s)


def _signs(y):
    """Labels {0, 1} read as {-1, +1}; labels {-1, +1} unchanged."""
    return 2.0 * y - 1.0 if np.any(y == 0) else y


def hinge(y, s, margin=1.0):
    return np.maximum(0.0, margin - _signs(y) * s)


def hinge_grad(y, s, margin=1.0):
    t = _signs(y)
    r = margin - t * s
    return np.where(r > 0, -t, np.where(r < 0, 0.0, -0.5 * t))


def hinge_hess(y, s, margin=1.0):
    return np.zeros(np.broadcast(y, s).shape)


def squared_hinge(y, s, margin=1.0):
    return np.maximum(0.0, margin - _signs(y) * s) ** 2


def squared_hinge_grad(y, s, margin=1.0):
    t = _signs(y)
    return -2.0 * t * np.maximum(0.0, margin - t * s)


def squared_hinge_hess(y, s, margin=1.0):
    r = margin - _signs(y) * s
    return np.where(r > 0, 2.0, np.where(r < 0, 0.0, 1.0))


def _focal_parts(y, z, gamma, alpha):
    """torchvision's sigmoid_focal_loss pieces: alpha_t, ce, q = 1 - p_t, sigmoid."""
    p = _sigmoid(z)
    ce = binary_cross_entropy_with_logits(y, z)
    q = 1.0 - (p * y + (1.0 - p) * (1.0 - y))
    alpha_t = 1.0 if alpha is None or alpha < 0 else alpha * y + (1.0 - alpha) * (1.0 - y)
    return alpha_t, ce, q, p


def focal(y, z, gamma=2.0, alpha=0.25):
    alpha_t, ce, q, _ = _focal_parts(y, z, gamma, alpha)
    return alpha_t * ce * q ** gamma


def focal_grad(y, z, gamma=2.0, alpha=0.25):
    # d/dz [ce q^g] = (p - y) q^g + ce g q^(g-1) dq/dz, with dq/dz = (1 - 2y) p (1 - p).
    alpha_t, ce, q, p = _focal_parts(y, z, gamma, alpha)
    dq = (1.0 - 2.0 * y) * p * (1.0 - p)
    return alpha_t * ((p - y) * q ** gamma + ce * gamma * q ** (gamma - 1.0) * dq)


def focal_hess(y, z, gamma=2.0, alpha=0.25):
    alpha_t, ce, q, p = _focal_parts(y, z, gamma, alpha)
    s1 = p * (1.0 - p)
    dq = (1.0 - 2.0 * y) * s1
    d2q = (1.0 - 2.0 * y) * s1 * (1.0 - 2.0 * p)
    m = q ** gamma
    dm = gamma * q ** (gamma - 1.0) * dq
    d2m = gamma * ((gamma - 1.0) * q ** (gamma - 2.0) * dq ** 2 + q ** (gamma - 1.0) * d2q)
    return alpha_t * (s1 * m + 2.0 * (p - y) * dm + ce * d2m)


# ------------------------------------------------------------------------------- reductions

LOSSES = {}   # name -> (loss, grad, hess) per-element functions


def _register(*names):
    g = globals()
    for name in names:
        LOSSES[name] = (g[name], g[name + "_grad"], g[name + "_hess"])


_register("mse", "mae", "huber", "quantile", "log_cosh")
_register("binary_cross_entropy", "binary_cross_entropy_with_logits", "hinge", "squared_hinge",
          "focal")


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
