# cython: language_level=3
"""The math of the regression losses, one sample at a time (y: target, p: prediction).

Each loss X has closs_X (value), cgrad_X (d loss / d p), closs_grad_X (both, sharing work) and
cgrad_hess_X (first and second derivative). All in double; NaN in gives NaN out. These are
`cimport`-able by other Cython code (see fastloss/__init__.pxd).
"""
from libc.math cimport fabs, exp, log1p, sinh, tanh, M_LN2
from fastloss._kernels._common cimport loss_grad_t, grad_hess_t, sign_nan

# ---------------------------------------------------------------------------- mse: (y - p)^2

cdef inline double closs_mse(double y, double p) noexcept nogil:
    cdef double r = p - y
    return r * r

cdef inline double cgrad_mse(double y, double p) noexcept nogil:
    return 2.0 * (p - y)

cdef inline loss_grad_t closs_grad_mse(double y, double p) noexcept nogil:
    cdef double r = p - y
    cdef loss_grad_t out
    out.loss = r * r
    out.grad = 2.0 * r
    return out

cdef inline grad_hess_t cgrad_hess_mse(double y, double p) noexcept nogil:
    cdef double r = p - y
    cdef grad_hess_t out
    out.grad = 2.0 * r
    out.hess = 2.0 if r == r else r   # 2 (also for infinite r), NaN for NaN
    return out

# ---------------------------------------------------------------------------- mae: |y - p|
# Subgradient sign(p - y), 0 at p == y; second derivative 0 everywhere (floored by the caller).

cdef inline double closs_mae(double y, double p) noexcept nogil:
    return fabs(p - y)

cdef inline double cgrad_mae(double y, double p) noexcept nogil:
    return sign_nan(p - y)

cdef inline loss_grad_t closs_grad_mae(double y, double p) noexcept nogil:
    cdef double r = p - y
    cdef loss_grad_t out
    out.loss = fabs(r)
    out.grad = sign_nan(r)
    return out

cdef inline grad_hess_t cgrad_hess_mae(double y, double p) noexcept nogil:
    cdef double r = p - y
    cdef grad_hess_t out
    out.grad = sign_nan(r)
    out.hess = 0.0 if r == r else r   # 0 (also for infinite r), NaN for NaN
    return out

# ---------------------------------------------------------------------------- huber(delta)
# r = p - y: r^2 / 2 for |r| <= delta, delta * (|r| - delta / 2) beyond (PyTorch, scikit-learn).
# Written without branches (selects only) so the loops vectorize: with q = min(|r|, delta),
# the loss is q * (|r| - q / 2) on both sides, and the gradient is r clipped to [-delta, delta].

cdef inline double _clip(double r, double delta) noexcept nogil:
    """r clipped to [-delta, delta]; NaN stays NaN (fmin/fmax would drop it)."""
    return -delta if r < -delta else (delta if r > delta else r)

cdef inline double closs_huber(double y, double p, double delta) noexcept nogil:
    cdef double a = fabs(p - y)
    cdef double q = a if a < delta else delta
    return q * (a - 0.5 * q)

cdef inline double cgrad_huber(double y, double p, double delta) noexcept nogil:
    return _clip(p - y, delta)

cdef inline loss_grad_t closs_grad_huber(double y, double p, double delta) noexcept nogil:
    cdef loss_grad_t out
    out.loss = closs_huber(y, p, delta)
    out.grad = _clip(p - y, delta)
    return out

cdef inline grad_hess_t cgrad_hess_huber(double y, double p, double delta) noexcept nogil:
    cdef double r = p - y
    cdef grad_hess_t out
    out.grad = _clip(r, delta)
    out.hess = 1.0 if fabs(r) <= delta else (0.0 if r == r else r)   # 0 on the linear part
    return out

# ---------------------------------------------------------------------------- quantile(alpha)
# Pinball loss on r = y - p: alpha * r when under-predicting (r >= 0), (alpha - 1) * r otherwise.
# Subgradient at r == 0: the midpoint 0.5 - alpha of the two one-sided slopes (0 for the median).

cdef inline double closs_quantile(double y, double p, double alpha) noexcept nogil:
    cdef double r = y - p
    # A select, not a branch (vectorizes); not alpha * r - min(r, 0), which is inf - inf = NaN
    # for an infinite residual.
    return (alpha - 1.0) * r if r < 0.0 else alpha * r

cdef inline double cgrad_quantile(double y, double p, double alpha) noexcept nogil:
    cdef double r = y - p
    return -alpha if r > 0.0 else (1.0 - alpha if r < 0.0 else 0.5 - alpha + r * 0.0)

cdef inline loss_grad_t closs_grad_quantile(double y, double p, double alpha) noexcept nogil:
    cdef loss_grad_t out
    out.loss = closs_quantile(y, p, alpha)
    out.grad = cgrad_quantile(y, p, alpha)
    return out

cdef inline grad_hess_t cgrad_hess_quantile(double y, double p, double alpha) noexcept nogil:
    cdef grad_hess_t out
    cdef double r = y - p
    out.grad = cgrad_quantile(y, p, alpha)
    out.hess = 0.0 if r == r else r   # 0 (also for infinite r), NaN for NaN
    return out

# ---------------------------------------------------------------------------- log_cosh
# log(cosh(r)), r = p - y. For |r| < 1: log1p(2 sinh(r/2)^2) keeps full relative precision near 0
# (the r^2/2 regime); beyond: |r| - log 2 + log1p(exp(-2|r|)) never overflows.



cdef inline double closs_log_cosh(double y, double p) noexcept nogil:
    cdef double r = p - y, a = fabs(r), s
    if a < 1.0:
        s = sinh(0.5 * r)
        return log1p(2.0 * s * s)
    return (a - M_LN2) + log1p(exp(-2.0 * a))

cdef inline double cgrad_log_cosh(double y, double p) noexcept nogil:
    return tanh(p - y)

cdef inline loss_grad_t closs_grad_log_cosh(double y, double p) noexcept nogil:
    cdef loss_grad_t out
    out.loss = closs_log_cosh(y, p)
    out.grad = cgrad_log_cosh(y, p)
    return out

cdef inline grad_hess_t cgrad_hess_log_cosh(double y, double p) noexcept nogil:
    # 1 - tanh^2 = 4t / (1 + t)^2 with t = exp(-2|r|): no cancellation for large |r|.
    cdef double r = p - y, t = exp(-2.0 * fabs(r))
    cdef grad_hess_t out
    out.grad = tanh(r)
    out.hess = 4.0 * t / ((1.0 + t) * (1.0 + t))
    return out
