# cython: language_level=3
"""The math of the regression losses, one sample at a time (y: target, p: prediction).

Each loss X has closs_X (value), cgrad_X (d loss / d p), closs_grad_X (both, sharing work) and
cgrad_hess_X (first and second derivative). All in double; NaN in gives NaN out. These are
`cimport`-able by other Cython code (see fastloss/__init__.pxd).
"""
from libc.math cimport fabs
from fastloss._kernels._vmath cimport fl_exp, fl_log1p_unit, fl_exp_f4, fl_log1p_unit_f4
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
# log(cosh(r)), r = p - y; gradient tanh(r), second derivative 1 - tanh(r)^2. Branch-free (both
# forms computed, then selected), so the loops vectorize with _vmath's exp and log1p:
#   |r| < 0.75: with t = r^2, log cosh r = t/2 + t^2 S(t) and tanh r = r + r t Q(t),
#     S and Q fitted by tools/fit_log_cosh.py (their own error is far below 2^-53 of the result);
#   beyond: with e = exp(-2|r|) <= 0.223, log cosh r = (|r| - log 2) + log1p(e) and
#     |tanh r| = 1 - 2e / (1 + e), with no cancellation left at this distance from 0.
# S and Q are evaluated by Estrin's scheme (independent pairs, then t^2, t^4, t^8): about 4
# product-and-sum latencies instead of Horner's 12, which bounded the gradient loop (0.86x the
# time of float64 grad side by side); plain products and sums, so every variant has its bits.
# The second derivative 4e / (1 + e)^2 has no cancellation anywhere; 1 + e is carried with its
# rounding error (Fast2Sum), which the quotient would otherwise double.
# Worst errors (fastloss accuracy, and a dense sweep in tests/test_regression.py): value and
# gradient 1.5 ulp, second derivative 3 ulp (the last from exp's own < 1 ulp).

cdef inline double _log_cosh_s(double t) noexcept nogil:
    # (log cosh(r) / t - 1/2) / t on t = r^2 in [0, 0.5625]
    cdef double t2 = t * t
    cdef double t4 = t2 * t2
    cdef double t8 = t4 * t4
    cdef double a = ((-0.08333333333333333 + 0.022222222222217893 * t)
                     + (-0.006746031745663464 + 0.0021869488413094962 * t) * t2)
    cdef double b = ((-0.0007386027476097365 + 0.00025657838426663623 * t)
                     + (-9.097530131359227e-05 + 3.271683462977627e-05 * t) * t2)
    cdef double c = ((-1.1772306195155206e-05 + 4.0372692852773446e-06 * t)
                     + (-1.145913138246303e-06 + 1.888776450546259e-07 * t) * t2)
    return (a + b * t4) + c * t8

cdef inline double _tanh_q(double t) noexcept nogil:
    # (tanh(r) / r - 1) / t on t = r^2 in [0, 0.5625]
    cdef double t2 = t * t
    cdef double t4 = t2 * t2
    cdef double t8 = t4 * t4
    cdef double a = ((-0.3333333333333333 + 0.13333333333332661 * t)
                     + (-0.05396825396758208 + 0.021869488509711037 * t) * t2)
    cdef double b = ((-0.008863234987439102 + 0.0035921213885060418 * t)
                     + (-0.0014557818253310693 + 0.0005897469986953327 * t) * t2)
    cdef double c = (((-0.00023809406936979282 + 9.42476297649358e-05 * t)
                      + (-3.449472469998217e-05 + 1.0048053928129499e-05 * t) * t2)
                     + -1.6408599646831444e-06 * t4)
    return (a + b * t4) + c * t8

# For float32 results (the _from_f4 forms below, with _vmath's fl_exp_f4 and fl_log1p_unit_f4):
# S and Q of degree 7, their own error below 2^-38 of the loss and 2^-35 of tanh (fitted by
# tools/fit_log_cosh.py --float32), well inside float32's 1 ulp: 9 multiply-adds fewer.
cdef inline double _log_cosh_s_f4(double t) noexcept nogil:
    cdef double t2 = t * t
    cdef double t4 = t2 * t2
    cdef double a = ((-0.08333333333163741 + 0.022222221835684338 * t)
                     + (-0.006746017196951988 + 0.0021867386191662484 * t) * t2)
    cdef double b = ((-0.0007370948760136359 + 0.0002506006219623578 * t)
                     + (-7.739504708187456e-05 + 1.5318770851688455e-05 * t) * t2)
    return a + b * t4

cdef inline double _tanh_q_f4(double t) noexcept nogil:
    cdef double t2 = t * t
    cdef double t4 = t2 * t2
    cdef double a = ((-0.33333333330183745 + 0.13333332615350418 * t)
                     + (-0.05396798348797654 + 0.021865573468906514 * t) * t2)
    cdef double b = ((-0.00883507109676353 + 0.003479914972375457 * t)
                     + (-0.001198577584792352 + 0.00025407582101150665 * t) * t2)
    return a + b * t4

ctypedef struct log_cosh_t:
    double loss
    double grad
    double hess

cdef inline double log_cosh_exp_arg(double y, double p) noexcept nogil:
    """-2 |p - y|, the argument of log_cosh_exp's exp (see logistic_exp_arg in _math_binary.pxd)."""
    return -2.0 * fabs(p - y)

cdef inline double log_cosh_exp(double y, double p) noexcept nogil:
    """e = exp(-2 |p - y|), the first of _log_cosh_from's two inputs."""
    return fl_exp(log_cosh_exp_arg(y, p))

cdef inline double log_cosh_log(double e) noexcept nogil:
    """l = log1p(e), the second of _log_cosh_from's two inputs."""
    return fl_log1p_unit(e)

# For float32 results the kernels take e and l from these instead (see logistic_exp_f4 in
# _math_binary.pxd).
cdef inline double log_cosh_exp_f4(double y, double p) noexcept nogil:
    return fl_exp_f4(log_cosh_exp_arg(y, p))

cdef inline double log_cosh_log_f4(double e) noexcept nogil:
    return fl_log1p_unit_f4(e)

cdef inline log_cosh_t _log_cosh_from(double r, double e, double l, bint f4=False) noexcept nogil:
    # e = log_cosh_exp(y, p) and l = log_cosh_log(e), r = p - y: the kernels compute a
    # sub-block's exps, then its logs, in loops of their own (see _elementwise.pyx.tp).
    # f4 (a constant once inlined): S and Q for float32 results.
    cdef double a = fabs(r), t = r * r
    cdef double one_e = 1.0 + e
    cdef double one_e_err = e - (one_e - 1.0)   # 1 + e = one_e + one_e_err exactly (e <= 1)
    cdef double s_t = _log_cosh_s_f4(t) if f4 else _log_cosh_s(t)
    cdef double q_t = _tanh_q_f4(t) if f4 else _tanh_q(t)
    cdef double small_loss = 0.5 * t + t * (t * s_t)
    cdef double small_grad = r + r * (t * q_t)
    cdef double big_loss = (a - 0.6931471805599453) + l
    cdef double big_tanh = 1.0 - 2.0 * e / one_e
    cdef bint small = a < 0.75   # the split of tools/fit_log_cosh.py
    cdef log_cosh_t out
    # NaN r fails `small` and takes the exp/log1p forms, which keep it NaN; r = +-inf gives
    # e = 0: loss inf, gradient +-1, second derivative 0.
    out.loss = small_loss if small else big_loss
    out.grad = small_grad if small else (-big_tanh if r < 0.0 else big_tanh)
    out.hess = 4.0 * e / (one_e * one_e) * (1.0 - 2.0 * one_e_err / one_e)
    return out

cdef inline log_cosh_t _log_cosh(double r) noexcept nogil:
    cdef double e = fl_exp(-2.0 * fabs(r))
    return _log_cosh_from(r, e, fl_log1p_unit(e))

cdef inline loss_grad_t _log_cosh_loss_grad(log_cosh_t f) noexcept nogil:
    cdef loss_grad_t out
    out.loss = f.loss
    out.grad = f.grad
    return out

cdef inline grad_hess_t _log_cosh_grad_hess(log_cosh_t f) noexcept nogil:
    cdef grad_hess_t out
    out.grad = f.grad
    out.hess = f.hess
    return out

cdef inline double closs_log_cosh(double y, double p) noexcept nogil:
    return _log_cosh(p - y).loss

cdef inline double cgrad_log_cosh(double y, double p) noexcept nogil:
    return _log_cosh(p - y).grad

cdef inline loss_grad_t closs_grad_log_cosh(double y, double p) noexcept nogil:
    return _log_cosh_loss_grad(_log_cosh(p - y))

cdef inline double closs_log_cosh_from(double y, double p, double e, double l) noexcept nogil:
    return _log_cosh_from(p - y, e, l).loss

cdef inline loss_grad_t closs_grad_log_cosh_from(double y, double p, double e, double l) noexcept nogil:
    return _log_cosh_loss_grad(_log_cosh_from(p - y, e, l))

cdef inline grad_hess_t cgrad_hess_log_cosh_from(double y, double p, double e,
                                                 double l) noexcept nogil:
    return _log_cosh_grad_hess(_log_cosh_from(p - y, e, l))   # (l, for the loss, is not read)

# The _from forms for float32 results: e and l from log_cosh_exp_f4 and log_cosh_log_f4, and S
# and Q of _log_cosh_s_f4 and _tanh_q_f4 (the kernels call these where FLOAT32_MATH says so).
cdef inline double closs_log_cosh_from_f4(double y, double p, double e, double l) noexcept nogil:
    return _log_cosh_from(p - y, e, l, True).loss

cdef inline loss_grad_t closs_grad_log_cosh_from_f4(double y, double p, double e,
                                                    double l) noexcept nogil:
    return _log_cosh_loss_grad(_log_cosh_from(p - y, e, l, True))

cdef inline grad_hess_t cgrad_hess_log_cosh_from_f4(double y, double p, double e,
                                                    double l) noexcept nogil:
    return _log_cosh_grad_hess(_log_cosh_from(p - y, e, l, True))

cdef inline grad_hess_t cgrad_hess_log_cosh(double y, double p) noexcept nogil:
    return cgrad_hess_log_cosh_from(y, p, log_cosh_exp(y, p), 0.0)
