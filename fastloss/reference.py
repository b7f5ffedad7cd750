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
    a = np.abs(p - y)
    # cosh a = 1 + 2 sinh(a/2)^2 keeps the r^2/2 of small residuals (logaddexp(r, -r) - log 2
    # cancels to 0 below ~1e-8); a + log1p(e^-2a) - log 2 avoids overflow for large ones.
    with np.errstate(over="ignore"):
        small = np.log1p(2.0 * np.sinh(a / 2.0) ** 2)
    return np.where(a < 1.0, small, a + np.log1p(np.exp(-2.0 * a)) - np.log(2.0))


def log_cosh_grad(y, p):
    return np.tanh(p - y)


def log_cosh_hess(y, p):
    return 1.0 / np.cosh(p - y) ** 2


# ------------------------------------------------------------------------------- multiclass
# Row-wise losses over (N, K) predictions: per-row loss (N,), gradient and diagonal Hessian
# (N, K), and the row weights that make the "mean" denominator (PyTorch's class-weighted mean
# for cross_entropy). Targets are integer labels (N,) or probabilities (N, K). Plain textbook
# NumPy: no special handling of infinities (the tests use mpmath for those).


def _is_labels(target):
    return np.asarray(target).ndim == 1


def _log_softmax(z):
    m = np.max(z, axis=1, keepdims=True)
    shifted = np.where(z == m, 0.0, z - m)   # +inf logits: the limit, no inf - inf
    e = np.exp(shifted)
    # log of the row sum as log1p of the sum without one max's exact 1, so a probability near 1
    # keeps its tiny loss at full precision (log(1 + 1e-8) would lose half the digits).
    rows = np.arange(z.shape[0])
    e[rows, np.argmax(z == m, axis=1)] = 0.0
    out = shifted - np.log1p(np.sum(e, axis=1, keepdims=True))
    return np.where(m == -np.inf, np.nan, out)   # a row of -inf only has no softmax (PyTorch: NaN)


def _xlogy_rows(a, b):
    """Row sums of a * b with 0 * anything = 0 (a class without target mass adds nothing)."""
    return np.sum(np.where(a == 0, 0.0, a * b), axis=1)


def _ce_target_weights(target, z, class_weight=None, label_smoothing=0.0, ignore_index=None):
    """(a, d): a_k = c_k t_k of every row (t smoothed), d the row weights of the mean."""
    n, k = z.shape
    c = np.ones(k) if class_weight is None else np.asarray(class_weight, dtype=np.float64)
    if _is_labels(target):
        labels = np.asarray(target)
        ignored = (labels == ignore_index) if ignore_index is not None else np.zeros(n, bool)
        safe = np.where(ignored, 0, labels)
        t = np.eye(k)[safe]
        d = np.where(ignored, 0.0, c[safe])
    else:
        t = np.asarray(target, dtype=np.float64)
        ignored = np.zeros(n, bool)
        d = np.ones(n)
    a = c * ((1.0 - label_smoothing) * t + label_smoothing / k)
    a[ignored] = 0.0
    return a, d


def cross_entropy(target, z, **params):
    a, _ = _ce_target_weights(target, z, **params)
    return _xlogy_rows(a, -_log_softmax(z))


def cross_entropy_grad(target, z, **params):
    a, _ = _ce_target_weights(target, z, **params)
    return a.sum(axis=1, keepdims=True) * np.exp(_log_softmax(z)) - a


def cross_entropy_hess(target, z, **params):
    a, _ = _ce_target_weights(target, z, **params)
    p = np.exp(_log_softmax(z))
    return a.sum(axis=1, keepdims=True) * p * (1.0 - p)


def cross_entropy_weights(target, z, **params):
    return _ce_target_weights(target, z, **params)[1]


def _one_hot_or_probabilities(target, k):
    return np.eye(k)[np.asarray(target)] if _is_labels(target) else np.asarray(target, float)


def _default_eps(eps, q=None):
    """The documented default: the machine epsilon of the predictions' compute dtype."""
    if eps is not None:
        return eps
    low_precision = q is not None and np.asarray(q).dtype in (np.float32, np.float16)
    return np.finfo(np.float32 if low_precision else np.float64).eps


def categorical_cross_entropy(target, q, eps=None):
    eps = _default_eps(eps, q)
    t = _one_hot_or_probabilities(target, q.shape[1])
    return _xlogy_rows(t, -np.log(np.clip(q, eps, 1.0 - eps)))


def categorical_cross_entropy_grad(target, q, eps=None):
    eps = _default_eps(eps, q)
    t = _one_hot_or_probabilities(target, q.shape[1])
    inside = (q >= eps) & (q <= 1.0 - eps)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(inside & (t != 0), -t / q, 0.0)


def categorical_cross_entropy_hess(target, q, eps=None):
    eps = _default_eps(eps, q)
    t = _one_hot_or_probabilities(target, q.shape[1])
    inside = (q >= eps) & (q <= 1.0 - eps)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(inside & (t != 0), t / q ** 2, 0.0)


def _hinge_violations(labels, s, margin):
    labels = np.asarray(labels)
    rows = np.arange(s.shape[0])
    v = margin - s[rows, labels][:, None] + s
    v[rows, labels] = 0.0
    return v, rows, labels


def multiclass_hinge(labels, s, margin=1.0):
    v, _, _ = _hinge_violations(labels, s, margin)
    return np.sum(np.maximum(v, 0.0), axis=1)


def multiclass_hinge_grad(labels, s, margin=1.0):
    v, rows, labels = _hinge_violations(labels, s, margin)
    g = np.where(np.isnan(v), v, (v > 0).astype(np.float64))   # NaN in, NaN out
    g[rows, labels] = -g.sum(axis=1)
    return g


def multiclass_hinge_hess(labels, s, margin=1.0):
    return np.zeros(s.shape)


def _softmax_focal_parts(labels, z, gamma, alpha):
    labels = np.asarray(labels)
    n, k = z.shape
    rows = np.arange(n)
    log_p = _log_softmax(z)
    p_all = np.exp(log_p)
    lp = log_p[rows, labels]
    p = p_all[rows, labels]
    # 1 - p_y summed from the other classes, and log p_y = -log1p(sum_j!=y exp(z_j - z_y)) when
    # z_y is the row's largest logit: both keep their digits as p_y -> 1
    others = np.ones(z.shape, dtype=bool)
    others[rows, labels] = False
    q = np.sum(np.where(others, p_all, 0.0), axis=1)
    with np.errstate(over="ignore", invalid="ignore"):
        top = z[rows, labels] >= np.max(z, axis=1)
        lp_near_one = -np.log1p(np.sum(np.where(others, np.exp(z - z[rows, labels][:, None]),
                                                0.0), axis=1))
    lp = np.where(top & np.isfinite(z[rows, labels]), lp_near_one, lp)
    if alpha is None:
        a = np.ones(n)
    else:
        a = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (k,))[labels]
    d = -p_all
    d[rows, labels] += 1.0
    return a, p, lp, p_all, d, q


def softmax_focal(labels, z, gamma=2.0, alpha=None):
    a, p, lp, _, _, q = _softmax_focal_parts(labels, z, gamma, alpha)
    return -a * q ** gamma * lp


def softmax_focal_grad(labels, z, gamma=2.0, alpha=None):
    # l = -a (1-p)^g log p; dl/dz_j = a (dl/dp) p d_j with d_j = [j = y] - p_j
    a, p, lp, _, d, q = _softmax_focal_parts(labels, z, gamma, alpha)
    with np.errstate(divide="ignore", invalid="ignore"):   # limits: p log p, q^(g-1) log p -> 0
        focusing = np.where((p == 0) | (q == 0), 0.0, gamma * q ** (gamma - 1) * lp * p)
    return (a * (focusing - q ** gamma))[:, None] * d


def softmax_focal_hess(labels, z, gamma=2.0, alpha=None):
    # with G(p) = p dl/dp: d2l/dz_j2 = a (G'(p) p d_j^2 - G(p) p_j (1 - p_j))
    a, p, lp, p_all, d, q = _softmax_focal_parts(labels, z, gamma, alpha)
    with np.errstate(divide="ignore", invalid="ignore"):   # the limits p log p -> 0, q -> 0
        plp = np.where(p == 0, 0.0, p * lp)
        big_g = np.where(q == 0, 0.0, gamma * plp * q ** (gamma - 1) - q ** gamma)
        dg_p = np.where(q == 0, 0.0, gamma * q ** (gamma - 1) * (plp + 2.0 * p)
                        - gamma * (gamma - 1) * p * plp * q ** (gamma - 2))
    return a[:, None] * (dg_p[:, None] * d ** 2 - big_g[:, None] * p_all * (1.0 - p_all))


def kl_divergence(p_true, q, log_input=False):
    p_true = np.asarray(p_true, dtype=np.float64)
    log_q = q if log_input else np.log(q)
    with np.errstate(divide="ignore"):
        return _xlogy_rows(p_true, np.log(p_true) - log_q)


def kl_divergence_grad(p_true, q, log_input=False):
    p_true = np.asarray(p_true, dtype=np.float64)
    if log_input:
        return -p_true
    return np.where(p_true == 0, 0.0, -p_true / q)


def kl_divergence_hess(p_true, q, log_input=False):
    p_true = np.asarray(p_true, dtype=np.float64)
    if log_input:
        return np.zeros(q.shape)
    return np.where(p_true == 0, 0.0, (p_true / q) / q)   # q ** 2 underflows for q < 1e-162


ROW_LOSSES = {}   # name -> (row loss, grad, hess, row weights or None: unit weights)


def _register_rows(*names):
    g = globals()
    for name in names:
        ROW_LOSSES[name] = (g[name], g[name + "_grad"], g[name + "_hess"],
                            g.get(name + "_weights"))


_register_rows("cross_entropy", "categorical_cross_entropy", "multiclass_hinge",
               "softmax_focal", "kl_divergence")


def _rows_prepare(target, p, sample_weight):
    p = np.asarray(p, dtype=np.float64)
    target = np.asarray(target)
    if target.ndim != 1:
        target = target.astype(np.float64)
    s = np.ones(p.shape[0]) if sample_weight is None else np.asarray(sample_weight, np.float64)
    return target, p, s


def _row_weights(name, target, p, **params):
    fn = ROW_LOSSES[name][3]
    return np.ones(p.shape[0]) if fn is None else fn(target, p, **params)


def row_value(name, target, p, sample_weight=None, reduction="mean", **params):
    """The reduced row-wise loss (float64): "mean" is sum(s*l) / sum(s*d), d the row weights."""
    target, p, s = _rows_prepare(target, p, sample_weight)
    per = s * ROW_LOSSES[name][0](target, p, **params)
    if reduction == "none":
        return per
    if reduction == "sum":
        return float(np.sum(per))
    denominator = np.sum(s * _row_weights(name, target, p, **params))
    return float(np.sum(per) / denominator) if denominator != 0 else float("nan")


def row_grad(name, target, p, sample_weight=None, reduction="mean", **params):
    """d(reduced loss)/dp, shape (N, K), in float64."""
    target, p, s = _rows_prepare(target, p, sample_weight)
    if reduction == "mean":   # the weight scaled first, as the kernels do: s * g alone may overflow
        with np.errstate(divide="ignore", invalid="ignore"):
            s = s / np.sum(s * _row_weights(name, target, p, **params))
    return s[:, None] * ROW_LOSSES[name][1](target, p, **params)


def row_grad_hess(name, target, p, sample_weight=None, hess_floor=0.0, **params):
    """Per-element s * dl/dp and s * max(diagonal d2l/dp2, hess_floor), shape (N, K)."""
    target, p, s = _rows_prepare(target, p, sample_weight)
    h = ROW_LOSSES[name][2](target, p, **params)
    h = np.where(h < hess_floor, hess_floor, h)
    return s[:, None] * ROW_LOSSES[name][1](target, p, **params), s[:, None] * h
# ------------------------------------------------------------------------------- binary classification
# Textbook formulas (same conventions as fastloss.losses.binary). Targets y in [0, 1]; the hinge
# losses take labels {-1, +1} or {0, 1} (read as {-1, +1}).


def _sigmoid(z):
    # exp(-|z|) in both branches: 1 / (1 + e) above 0 and e / (1 + e) below, each accurate to a
    # few ulp (0.5 (1 + tanh(z / 2)) cancels for z < -18: sigmoid(-37) came out 2^-54, 35% off)
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus(z):
    return np.logaddexp(0.0, z)


def binary_cross_entropy(y, p, eps=None):
    eps = _default_eps(eps, p)
    p = np.clip(p, eps, 1.0 - eps)
    return -(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))


def binary_cross_entropy_grad(y, p, eps=None):
    eps = _default_eps(eps, p)
    p = np.clip(p, eps, 1.0 - eps)
    return -y / p + (1.0 - y) / (1.0 - p)


def binary_cross_entropy_hess(y, p, eps=None):
    eps = _default_eps(eps, p)
    p = np.clip(p, eps, 1.0 - eps)
    return y / p ** 2 + (1.0 - y) / (1.0 - p) ** 2


def binary_cross_entropy_with_logits(y, z, pos_weight=1.0):
    pos_weight = 1.0 if pos_weight is None else pos_weight
    # A term whose coefficient is 0 is left out (0 * inf at an infinite logit), as documented.
    with np.errstate(invalid="ignore"):
        positive = np.where(pos_weight * y == 0, 0.0, pos_weight * y * _softplus(-z))
        negative = np.where(1.0 - y == 0, 0.0, (1.0 - y) * _softplus(z))
    return positive + negative


def binary_cross_entropy_with_logits_grad(y, z, pos_weight=1.0):
    pos_weight = 1.0 if pos_weight is None else pos_weight
    # the documented form (no cancellation of (w y + 1 - y) s against w y)
    return -(pos_weight * y) * _sigmoid(-z) + (1.0 - y) * _sigmoid(z)


def binary_cross_entropy_with_logits_hess(y, z, pos_weight=1.0):
    pos_weight = 1.0 if pos_weight is None else pos_weight
    return (pos_weight * y + 1.0 - y) * _sigmoid(z) * _sigmoid(-z)   # 1 - s without cancelling


def _signs(y):
    """Labels {0, 1} read as {-1, +1}; labels {-1, +1} unchanged."""
    return 2.0 * y - 1.0 if np.any(y == 0) else y


def hinge(y, s, margin=1.0):
    return np.maximum(0.0, margin - _signs(y) * s)


def hinge_grad(y, s, margin=1.0):
    t = _signs(y)
    r = margin - t * s
    return np.where(r > 0, -t, np.where(r < 0, 0.0, np.where(r == 0, -0.5 * t, r)))


def hinge_hess(y, s, margin=1.0):
    return np.where(np.isnan(margin - _signs(y) * s), np.nan, 0.0)   # NaN in, NaN out


def squared_hinge(y, s, margin=1.0):
    return np.maximum(0.0, margin - _signs(y) * s) ** 2


def squared_hinge_grad(y, s, margin=1.0):
    t = _signs(y)
    return -2.0 * t * np.maximum(0.0, margin - t * s)


def squared_hinge_hess(y, s, margin=1.0):
    r = margin - _signs(y) * s
    return np.where(r > 0, 2.0, np.where(r < 0, 0.0, np.where(r == 0, 1.0, r)))


def _focal_parts(y, z, gamma, alpha):
    """torchvision's sigmoid_focal_loss pieces: alpha_t, ce, q = 1 - p_t, sigmoid, and p - y."""
    p = _sigmoid(z)
    ce = binary_cross_entropy_with_logits(y, z)
    q = y * _sigmoid(-z) + (1.0 - y) * p     # 1 - p_t, without cancelling
    # p - y as (1 - y) p - y sigmoid(-z): sigmoid(z) - 1 cancels for large z (1e-3 relative
    # error at z = 30, 17x off at z = 100)
    p_minus_y = (1.0 - y) * p - y * _sigmoid(-z)
    alpha_t = 1.0 if alpha is None or alpha < 0 else alpha * y + (1.0 - alpha) * (1.0 - y)
    return alpha_t, ce, q, p, p_minus_y


def focal(y, z, gamma=2.0, alpha=0.25):
    alpha_t, ce, q, _, _ = _focal_parts(y, z, gamma, alpha)
    return alpha_t * ce * q ** gamma


def focal_grad(y, z, gamma=2.0, alpha=0.25):
    # d/dz [ce q^g] = (p - y) q^g + ce g q^(g-1) dq/dz, with dq/dz = (1 - 2y) p (1 - p), and
    # 1 - p as sigmoid(-z): 1 - p cancels for large z (at z = 20 it keeps 8 digits).
    # q^(g-1) dq as q^g (dq / q): q^(g-1) overflows where q is subnormal (z ~ 710) and g < 1.
    alpha_t, ce, q, p, p_minus_y = _focal_parts(y, z, gamma, alpha)
    dq = (1.0 - 2.0 * y) * p * _sigmoid(-z)
    m = q ** gamma
    with np.errstate(divide="ignore", invalid="ignore"):
        focusing = np.where(dq == 0, 0.0, ce * gamma * m * (dq / q))
    return alpha_t * (p_minus_y * m + focusing)


def focal_hess(y, z, gamma=2.0, alpha=0.25):
    alpha_t, ce, q, p, p_minus_y = _focal_parts(y, z, gamma, alpha)
    s1 = p * _sigmoid(-z)
    dq = (1.0 - 2.0 * y) * s1
    d2q = (1.0 - 2.0 * y) * s1 * (1.0 - 2.0 * p)
    m = q ** gamma
    # m's derivatives from m and dq / q, as in focal_grad: q^(g-2) dq^2 would be inf * 0 where
    # q is subnormal (z ~ 710; the exact Hessian there is ~1e-494, 0 in float64).
    with np.errstate(divide="ignore", invalid="ignore"):   # dq = 0 (saturated): limits 0
        ratio = dq / q
        dm = np.where(dq == 0, 0.0, gamma * m * ratio)
        d2m = np.where(dq == 0, 0.0, gamma * m * ((gamma - 1.0) * ratio ** 2 + d2q / q))
    h = alpha_t * (s1 * m + 2.0 * p_minus_y * dm + ce * d2m)
    return np.where(np.isinf(z) & ~np.isnan(y), 0.0, h)   # the limit at +-inf logits


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


_DTYPE_DEFAULT_EPS = ("binary_cross_entropy", "categorical_cross_entropy")


def _dtype_defaults(name, p, params):
    """Resolve eps=None (the prediction dtype's epsilon) while the dtype is still known."""
    if name in _DTYPE_DEFAULT_EPS and params.get("eps") is None:
        params = dict(params, eps=float(_default_eps(None, p)))
    return params


def value(name, y, p, sample_weight=None, reduction="mean", **params):
    """The reduced loss, in float64."""
    params = _dtype_defaults(name, p, params)
    if name in ROW_LOSSES:
        return row_value(name, y, p, sample_weight, reduction, **params)
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    per = LOSSES[name][0](y, p, **params)
    if sample_weight is None:   # the textbook form: no weights array
        if reduction == "none":
            return per
        if reduction == "sum":
            return float(np.sum(per))
        return float(np.mean(per)) if per.size else float("nan")
    w = np.asarray(sample_weight, dtype=np.float64)
    per = w * per
    if reduction == "none":
        return per
    if reduction == "sum":
        return float(np.sum(per))
    return float(np.sum(per) / np.sum(w)) if np.sum(w) != 0 else float("nan")


def grad(name, y, p, sample_weight=None, reduction="mean", **params):
    """d(reduced loss)/dp, in float64."""
    params = _dtype_defaults(name, p, params)
    if name in ROW_LOSSES:
        return row_grad(name, y, p, sample_weight, reduction, **params)
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    w = _weights(sample_weight, p.shape)
    if reduction == "mean":   # the weight scaled first, as the kernels do: w * g alone may overflow
        with np.errstate(divide="ignore", invalid="ignore"):
            w = w / np.sum(w)
    return w * LOSSES[name][1](y, p, **params)


def grad_hess(name, y, p, sample_weight=None, hess_floor=0.0, **params):
    """Per-element w * dl/dp and w * max(d2l/dp2, hess_floor)."""
    params = _dtype_defaults(name, p, params)
    if name in ROW_LOSSES:
        return row_grad_hess(name, y, p, sample_weight, hess_floor, **params)
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
