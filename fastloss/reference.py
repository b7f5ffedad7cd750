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


# ------------------------------------------------------------- metric learning and penalties
# Losses with their own inputs: triplet_margin(anchor, positive, negative), contrastive(x1, x2,
# same) over (N, D) rows, and the penalties R(w). Per-row functions return the N row losses;
# their *_grad return one per-row derivative array per embedding input. ``value`` and ``grad``
# below dispatch these names to ``multi_value`` / ``multi_grad`` and leave every other loss to
# the elementwise versions above, unchanged.


def _pdist(x, y, p, eps):
    """PyTorch's pairwise_distance: ||x - y + eps||_p per row, and v = x - y + eps."""
    v = x - y + eps
    return np.linalg.norm(v, ord=p, axis=1), v


def _pdist_grad(v, dist, p):
    """d ||v||_p / dv = sign(v) (|v| / ||v||)^(p-1), 0 where the distance is 0."""
    safe = np.where(dist == 0, 1.0, dist)[:, None]
    return np.where(dist[:, None] == 0, 0.0, np.sign(v) * (np.abs(v) / safe) ** (p - 1.0))


def _cos_parts(x, y, eps):
    """1 - cos(x, y) with norms bounded below by eps, and its gradients for x and y."""
    rx, ry = np.linalg.norm(x, axis=1), np.linalg.norm(y, axis=1)
    nx, ny = np.maximum(rx, eps)[:, None], np.maximum(ry, eps)[:, None]
    cos = np.sum(x * y, axis=1)[:, None] / (nx * ny)
    gx = -(y / (nx * ny) - np.where(rx[:, None] > eps, cos * x / nx ** 2, 0.0))
    gy = -(x / (nx * ny) - np.where(ry[:, None] > eps, cos * y / ny ** 2, 0.0))
    return 1.0 - cos[:, 0], gx, gy


def _triplet_parts(a, pos, neg, p, swap, eps, distance):
    """(d_ap, d_neg, dd_ap/da, dd_ap/dp, dd_neg/d(a, p, n))."""
    if distance == "cosine":
        d_ap, g_ap_a, g_ap_p = _cos_parts(a, pos, eps)
        d_an, g_an_a, g_an_n = _cos_parts(a, neg, eps)
        d_pn, g_pn_p, g_pn_n = _cos_parts(pos, neg, eps)
    else:
        d_ap, v = _pdist(a, pos, p, eps)
        g_ap_a = _pdist_grad(v, d_ap, p)
        g_ap_p = -g_ap_a
        d_an, v = _pdist(a, neg, p, eps)
        g_an_a = _pdist_grad(v, d_an, p)
        g_an_n = -g_an_a
        if swap:
            d_pn, v = _pdist(pos, neg, p, eps)
            g_pn_p = _pdist_grad(v, d_pn, p)
            g_pn_n = -g_pn_p
    if not swap:
        return d_ap, d_an, g_ap_a, g_ap_p, (g_an_a, 0.0, g_an_n)
    zero = np.zeros_like(a)
    swapped = (d_pn < d_an)[:, None]
    d_neg = np.where(swapped[:, 0], d_pn, d_an)
    g_neg = (np.where(swapped, zero, g_an_a), np.where(swapped, g_pn_p, zero),
             np.where(swapped, g_pn_n, g_an_n))
    return d_ap, d_neg, g_ap_a, g_ap_p, g_neg


def _distance(x, y, p, eps, distance):
    if distance == "cosine":
        nx = np.maximum(np.linalg.norm(x, axis=1), eps)
        ny = np.maximum(np.linalg.norm(y, axis=1), eps)
        return 1.0 - np.sum(x * y, axis=1) / (nx * ny)
    return _pdist(x, y, p, eps)[0]


def triplet_margin(anchor, positive, negative, margin=1.0, p=2.0, swap=False, eps=1e-6,
                   distance="pnorm"):
    d_ap = _distance(anchor, positive, p, eps, distance)
    d_neg = _distance(anchor, negative, p, eps, distance)
    if swap:
        d_neg = np.minimum(d_neg, _distance(positive, negative, p, eps, distance))
    return np.maximum(d_ap - d_neg + margin, 0.0)


def triplet_margin_grad(anchor, positive, negative, margin=1.0, p=2.0, swap=False, eps=1e-6,
                        distance="pnorm"):
    d_ap, d_neg, g_ap_a, g_ap_p, g_neg = _triplet_parts(anchor, positive, negative, p, swap,
                                                        eps, distance)
    active = (d_ap - d_neg + margin > 0)[:, None].astype(np.float64)
    return (active * (g_ap_a - g_neg[0]), active * (g_ap_p - g_neg[1]), active * -g_neg[2])


def contrastive(x1, x2, same, margin=1.0):
    d = np.linalg.norm(x1 - x2, axis=1)
    return 0.5 * (same * d ** 2 + (1.0 - same) * np.maximum(margin - d, 0.0) ** 2)


def contrastive_grad(x1, x2, same, margin=1.0):
    diff = x1 - x2
    d = np.linalg.norm(diff, axis=1)
    push = np.where(d > 0, np.maximum(margin - d, 0.0) / np.where(d > 0, d, 1.0), 0.0)
    k = (same - (1.0 - same) * push)[:, None]
    return k * diff, -k * diff


def l1_penalty(w):
    return float(np.sum(np.abs(w)))


def l1_penalty_grad(w):
    return np.sign(w)


def l2_penalty(w):
    return float(0.5 * np.sum(np.square(w)))


def l2_penalty_grad(w):
    return np.asarray(w, dtype=np.float64) * 1.0


def elastic_net(w, l1_ratio=0.5):
    return l1_ratio * l1_penalty(w) + (1.0 - l1_ratio) * l2_penalty(w)


def elastic_net_grad(w, l1_ratio=0.5):
    return l1_ratio * np.sign(w) + (1.0 - l1_ratio) * np.asarray(w, dtype=np.float64)


# name -> (number of (N, D) embedding inputs, row loss, row gradients)
METRIC_LOSSES = {
    "triplet_margin": (3, triplet_margin, triplet_margin_grad),
    "contrastive": (2, contrastive, contrastive_grad),
}


def _no_hess(*args, **kwargs):
    raise TypeError("metric losses have no per-element Hessian")


# Listed in LOSSES too (the registry of every loss's reference); value and grad below send these
# names to multi_value / multi_grad before the elementwise code would see them.
for _name, (_, _loss, _grad) in METRIC_LOSSES.items():
    LOSSES[_name] = (_loss, _grad, _no_hess)

# name -> (penalty, gradient); R(w) is a sum over all elements (no reduction, no weights)
PENALTIES = {name: (globals()[name], globals()[name + "_grad"])
             for name in ("l1_penalty", "l2_penalty", "elastic_net")}


def _row_inputs(name, inputs, sample_weight):
    k = METRIC_LOSSES[name][0]
    arrays = [np.asarray(x, dtype=np.float64) for x in inputs[:k]]
    extras = [np.asarray(x, dtype=np.float64) for x in inputs[k:]]
    w = np.ones(arrays[0].shape[0]) if sample_weight is None else \
        np.asarray(sample_weight, dtype=np.float64)
    return arrays + extras, w


def multi_value(name, *inputs, sample_weight=None, reduction="mean", **params):
    """A metric loss reduced over rows (float64), or a penalty's value."""
    if name in PENALTIES:
        return PENALTIES[name][0](np.asarray(inputs[0], dtype=np.float64), **params)
    arrays, w = _row_inputs(name, inputs, sample_weight)
    per = w * METRIC_LOSSES[name][1](*arrays, **params)
    if reduction == "none":
        return per
    if reduction == "sum":
        return float(np.sum(per))
    return float(np.sum(per) / np.sum(w)) if np.sum(w) != 0 else float("nan")


def multi_grad(name, *inputs, sample_weight=None, reduction="mean", **params):
    """Gradients of the reduced metric loss (a tuple, float64), or a penalty's gradient."""
    if name in PENALTIES:
        return PENALTIES[name][1](np.asarray(inputs[0], dtype=np.float64), **params)
    arrays, w = _row_inputs(name, inputs, sample_weight)
    scale = w / np.sum(w) if reduction == "mean" else w
    return tuple(scale[:, None] * g for g in METRIC_LOSSES[name][2](*arrays, **params))


_elementwise_value, _elementwise_grad = value, grad


def value(name, *args, **kwargs):
    """The reduced loss, in float64 (metric losses and penalties: see ``multi_value``)."""
    if name in METRIC_LOSSES or name in PENALTIES:
        return multi_value(name, *args, **kwargs)
    return _elementwise_value(name, *args, **kwargs)


def grad(name, *args, **kwargs):
    """d(reduced loss)/dp, in float64 (metric losses and penalties: see ``multi_grad``)."""
    if name in METRIC_LOSSES or name in PENALTIES:
        return multi_grad(name, *args, **kwargs)
    return _elementwise_grad(name, *args, **kwargs)
