# cython: language_level=3
"""The math of the binary classification losses, one sample at a time.

y is the target (a label or a soft target in [0, 1]; for the hinge losses a label mapped to
t in {-1, +1}), p the prediction (a probability, a logit z or a score, as each loss says).
Each loss X has closs_X (value), cgrad_X (d loss / d p), closs_grad_X (both, sharing work) and
cgrad_hess_X (first and second derivative), all in double; a loss with a label form also has
closs_X_labels and closs_grad_X_labels, for y in {0, 1} only, with exactly closs_X's bits there.
The logit losses also have closs_X_from, closs_grad_X_from and cgrad_hess_X_from (and
_labels_from), which take e = logistic_exp(y, z) and l = logistic_log(e) from the caller, with
closs_X's bits: the kernels compute them a sub-block at a time, each in a loop of its own.
NaN in gives NaN out; a logit or score of +-inf gives the exact limit. The Python layer
validates; nothing here raises.
"""
from libc.math cimport fabs, INFINITY
from fastloss._kernels._vmath cimport (fl_exp, fl_log, fl_log1p, fl_log1p_unit, fl_log_either,
                                      fl_log_either_inside, fl_exp_f4, fl_log1p_unit_f4)
from fastloss._kernels._common cimport loss_grad_t, grad_hess_t

# ---------------------------------------------------------------------------- logistic helpers
# Everything logistic comes from e = exp(-|z|), which lies in [0, 1] and never overflows:
# softplus(+-z) = max(+-z, 0) + log1p(e) is exact for every finite z (no 1 - sigmoid(z)
# cancellation, no clipping at |z| ~ 16 or 37), and the sigmoids are 1 / (1 + e), e / (1 + e).

ctypedef struct logistic_t:
    double softplus_pos   # log(1 + exp(z))  = -log sigmoid(-z)
    double softplus_neg   # log(1 + exp(-z)) = -log sigmoid(z)
    double sig_pos        # sigmoid(z)
    double sig_neg        # sigmoid(-z) = 1 - sigmoid(z), without the cancellation

cdef inline double logistic_exp_arg(double y, double z) noexcept nogil:
    """-|z|, the argument of logistic_exp's exp, in the form of the kernels' phase functions,
    which all take (y, p) (y unused here): the kernels test a sub-block's arguments for the
    exp without range checks (see _elementwise.pyx.tp)."""
    return -fabs(z)

cdef inline double logistic_exp(double y, double z) noexcept nogil:
    """e = exp(-|z|), the first of _logistic_from's two inputs."""
    return fl_exp(logistic_exp_arg(y, z))

cdef inline double logistic_log(double e) noexcept nogil:
    """l = log1p(e), the second of _logistic_from's two inputs."""
    return fl_log1p_unit(e)

# For float32 results (float32 logits) the kernels take e and l from these instead: the same
# functions to 2^-33 relative, cheaper, within float32's 1-ulp bound (see _vmath.h).
cdef inline double logistic_exp_f4(double y, double z) noexcept nogil:
    return fl_exp_f4(logistic_exp_arg(y, z))

cdef inline double logistic_log_f4(double e) noexcept nogil:
    return fl_log1p_unit_f4(e)

# For a run of float32 logits mixing labels and soft targets: the _f4 form for a label (y 0 or
# 1), the float64 one otherwise, so each element gets the bits of its own kind (both computed,
# then selected: see _logistic_from).
cdef inline double logistic_exp_by_target(double y, double z) noexcept nogil:
    cdef double soft = logistic_exp(y, z), label = logistic_exp_f4(y, z)
    return label if (y == 0.0) | (y == 1.0) else soft

cdef inline double logistic_log_by_target(double y, double e) noexcept nogil:
    cdef double soft = logistic_log(e), label = logistic_log_f4(e)
    return label if (y == 0.0) | (y == 1.0) else soft

cdef inline logistic_t _logistic_from(double z, double e, double l) noexcept nogil:
    # e = logistic_exp(y, z) and l = logistic_log(e), passed in: the kernels compute a
    # sub-block's exps, then its logs, in loops of their own (see _elementwise.pyx.tp).
    cdef double r = 1.0 / (1.0 + e)
    cdef double er = e * r
    cdef double z_pos = z if z > 0.0 else 0.0
    cdef double z_neg = 0.0 if z > 0.0 else -z
    cdef logistic_t s
    # Every arithmetic result is computed before the selects, which only choose between values:
    # gcc turns such selects into conditional moves, but does not speculate a multiply out of a
    # branch (random signs would then mispredict). NaN z makes e, and so every field, NaN.
    s.softplus_pos = z_pos + l
    s.softplus_neg = z_neg + l
    s.sig_pos = r if z >= 0.0 else er
    s.sig_neg = er if z >= 0.0 else r
    return s

cdef inline logistic_t _logistic(double z) noexcept nogil:
    cdef double e = logistic_exp(0.0, z)
    return _logistic_from(z, e, logistic_log(e))

cdef inline double _bce_logits_loss(double y, double pos_weight, logistic_t s) noexcept nogil:
    # pos_weight*y*softplus(-z) + (1-y)*softplus(z): two non-negative terms, no cancellation.
    # A term whose coefficient is 0 is dropped, so z = +-inf gives the limit, not 0 * inf = NaN
    # (products first, then selects: see _logistic_from).
    cdef double c_pos = pos_weight * y, c_neg = 1.0 - y
    cdef double t_pos = c_pos * s.softplus_neg, t_neg = c_neg * s.softplus_pos
    return (0.0 if c_pos == 0.0 else t_pos) + (0.0 if c_neg == 0.0 else t_neg)

cdef inline double _bce_logits_grad(double y, double pos_weight, logistic_t s) noexcept nogil:
    # -pos_weight*y*sigmoid(-z) + (1-y)*sigmoid(z); equals sigmoid(z) - y when pos_weight == 1,
    # with full relative precision where sigmoid(z) is close to 1.
    return -(pos_weight * y) * s.sig_neg + (1.0 - y) * s.sig_pos

# ---------------------------------------------------------------------------- binary_cross_entropy(eps)
# From probabilities: -(y log pc + (1 - y) log(1 - pc)), pc = p clipped to [eps, 1 - eps] (eps > 0,
# so every value and derivative is finite). Derivatives are those of the formula at pc: the clip
# passes the gradient straight through, so a saturated prediction still gets a push.

cdef inline double _clip_prob(double p, double eps) noexcept nogil:
    cdef double pc = eps if p < eps else p   # two plain selects (NaN stays NaN)
    return (1.0 - eps) if p > 1.0 - eps else pc

cdef inline double closs_binary_cross_entropy(double y, double p, double eps) noexcept nogil:
    cdef double pc = _clip_prob(p, eps)
    # Terms with a zero coefficient are dropped: 0 * log(...) stays 0 whatever eps is.
    return -((0.0 if y == 0.0 else y * fl_log(pc)) + (0.0 if y == 1.0 else (1.0 - y) * fl_log1p(-pc)))

cdef inline double cgrad_binary_cross_entropy(double y, double p, double eps) noexcept nogil:
    # (pc - y) / (pc (1 - pc)) rather than -y/pc + (1-y)/(1-pc): no cancellation near pc == y.
    cdef double pc = _clip_prob(p, eps)
    return (pc - y) / (pc * (1.0 - pc))

cdef inline loss_grad_t closs_grad_binary_cross_entropy(double y, double p, double eps) noexcept nogil:
    cdef loss_grad_t out
    out.loss = closs_binary_cross_entropy(y, p, eps)
    out.grad = cgrad_binary_cross_entropy(y, p, eps)
    return out

cdef inline double closs_binary_cross_entropy_inside(double y, double p, double eps) noexcept nogil:
    # closs_binary_cross_entropy's bits for eps >= 2^-53 only (the kernels' INSIDE_FORM_IF): pc
    # is then in [2^-53, 1 - 2^-53], where fl_log_either_inside gives fl_log's and fl_log1p's
    # bits without their special-value selects (soft targets: both terms).
    cdef double pc = _clip_prob(p, eps)
    return -((0.0 if y == 0.0 else y * fl_log_either_inside(pc, 0.0))
             + (0.0 if y == 1.0 else (1.0 - y) * fl_log_either_inside(-pc, 1.0)))

cdef inline loss_grad_t closs_grad_binary_cross_entropy_inside(double y, double p, double eps) noexcept nogil:
    cdef loss_grad_t out
    out.loss = closs_binary_cross_entropy_inside(y, p, eps)
    out.grad = cgrad_binary_cross_entropy(y, p, eps)
    return out

cdef inline double closs_binary_cross_entropy_labels(double y, double p, double eps) noexcept nogil:
    # y in {0, 1}: -log(pc) or -log1p(-pc), the one term closs_binary_cross_entropy keeps, by one
    # log (fl_log_either's bits: fl_log's or fl_log1p's) instead of two. For eps >= 2^-53 only
    # (the kernels' LABEL_FORM_IF): pc is then in [2^-53, 1 - 2^-53], fl_log_either_inside's
    # domain; a smaller eps lets pc be subnormal or 1 (log1p(-1) = -inf).
    # The mode is arithmetic on y, not a select: gcc does not vectorize the select's form.
    cdef double pc = _clip_prob(p, eps)
    cdef double log1p_mode = 1.0 - y    # 0.0 (log) for y = 1, 1.0 (log1p) for y = 0
    return -fl_log_either_inside(-pc if log1p_mode != 0.0 else pc, log1p_mode)

cdef inline loss_grad_t closs_grad_binary_cross_entropy_labels(double y, double p, double eps) noexcept nogil:
    cdef loss_grad_t out
    out.loss = closs_binary_cross_entropy_labels(y, p, eps)
    out.grad = cgrad_binary_cross_entropy(y, p, eps)
    return out

cdef inline grad_hess_t cgrad_hess_binary_cross_entropy(double y, double p, double eps) noexcept nogil:
    cdef double pc = _clip_prob(p, eps), qc = 1.0 - pc
    cdef grad_hess_t out
    out.grad = (pc - y) / (pc * qc)
    out.hess = y / (pc * pc) + (1.0 - y) / (qc * qc)
    return out

# ---------------------------------------------------------------------------- binary_cross_entropy_with_logits(pos_weight)
# pos_weight*y*softplus(-z) + (1-y)*softplus(z) (PyTorch's BCEWithLogitsLoss with a scalar
# pos_weight). Gradient -pos_weight*y*sigmoid(-z) + (1-y)*sigmoid(z), Hessian
# (1 + (pos_weight - 1) y) sigmoid(z) sigmoid(-z); written so that pos_weight == 1 gives exactly
# sigmoid(z) - y and sigmoid(z)(1 - sigmoid(z)).

cdef inline double closs_binary_cross_entropy_with_logits(double y, double z, double pos_weight) noexcept nogil:
    return _bce_logits_loss(y, pos_weight, _logistic(z))

cdef inline double closs_binary_cross_entropy_with_logits_from(double y, double z, double e, double l,
                                                                double pos_weight) noexcept nogil:
    return _bce_logits_loss(y, pos_weight, _logistic_from(z, e, l))

cdef inline double cgrad_binary_cross_entropy_with_logits(double y, double z, double pos_weight) noexcept nogil:
    return _bce_logits_grad(y, pos_weight, _logistic(z))

cdef inline loss_grad_t closs_grad_binary_cross_entropy_with_logits_from(double y, double z, double e, double l,
                                                                         double pos_weight) noexcept nogil:
    cdef logistic_t s = _logistic_from(z, e, l)
    cdef loss_grad_t out
    out.loss = _bce_logits_loss(y, pos_weight, s)
    out.grad = _bce_logits_grad(y, pos_weight, s)
    return out

cdef inline loss_grad_t closs_grad_binary_cross_entropy_with_logits(double y, double z, double pos_weight) noexcept nogil:
    cdef double e = logistic_exp(y, z)
    return closs_grad_binary_cross_entropy_with_logits_from(y, z, e, logistic_log(e), pos_weight)

cdef inline grad_hess_t cgrad_hess_binary_cross_entropy_with_logits_from(
        double y, double z, double e, double l, double pos_weight) noexcept nogil:
    cdef logistic_t s = _logistic_from(z, e, l)   # (l, the softplus, is not read)
    cdef grad_hess_t out
    out.grad = _bce_logits_grad(y, pos_weight, s)
    out.hess = (1.0 + (pos_weight - 1.0) * y) * (s.sig_pos * s.sig_neg)
    return out

cdef inline grad_hess_t cgrad_hess_binary_cross_entropy_with_logits(double y, double z, double pos_weight) noexcept nogil:
    return cgrad_hess_binary_cross_entropy_with_logits_from(y, z, logistic_exp(y, z), 0.0, pos_weight)

# ---------------------------------------------------------------------------- hinge(margin)
# max(0, margin - t s) with t = +1 for the label 1 and t = -1 for the labels -1 and 0: labels
# {-1, +1} and {0, 1} read alike, so no relabelled copy is made and the kernel need not know the
# coding (the validation layer rejects anything else, and a mix of -1 and 0). NaN stays NaN.
# Subgradient -t where the margin is violated, 0 where it is met, and the midpoint -t/2 at the
# kink (the convention of mae and quantile). Second derivative 0 (floored by the caller).
#
# The piecewise parts are selects gcc if-converts and vectorizes, each choosing between values
# already computed, NaN passed through or selected last. Nested conditional expressions compiled
# to branches that mispredict on mixed data (measured ~10x slower on random labels); hinge's
# gradient as -t * _step(r, ...) vectorized, but with its compare masks spilled to the stack
# (float32 value_and_grad 1.5x slower than _hinge_subgradient's selects of -t).

ctypedef fused label_t:
    float
    double

ctypedef fused score_t:
    float
    double

cdef inline label_t _sign_label(label_t y) noexcept nogil:
    # t = y^2 + y - 1: +1 for the label 1, -1 for 0 and -1, NaN for NaN, all exact. Arithmetic,
    # not compares and selects: the float32 loops ran 10% to 20% faster so (same bits). Any
    # other label is rejected by the target check, so its t is never used.
    return (y * y + y) - <label_t> 1.0

cdef inline double _signed_score(label_t y, score_t s) noexcept nogil:
    # t s, widened to double (exact: |t| = 1). With float32 inputs the product is taken in
    # float (16 lanes), then widened.
    if label_t is float and score_t is float:
        return <double> (_sign_label(y) * s)
    else:
        return <double> _sign_label(y) * <double> s

cdef inline double _minus_sign_label(label_t y) noexcept nogil:
    # -t, the gradient's sign (NaN for a NaN label, which makes the gradient NaN anyway).
    return <double> -_sign_label(y)

cdef inline double _margin_residual(label_t y, score_t s, double margin) noexcept nogil:
    # margin - t s, never -0.0: margin + 0.0 turns a margin of -0.0 into +0.0, and a difference
    # of two values is -0.0 only when the first is -0.0 and the second +0.0. _positive_part
    # relies on it.
    return (margin + 0.0) - _signed_score(y, s)

cdef inline double _positive_part(double r) noexcept nogil:
    # max(0, r), NaN staying NaN (r < 0 is false for NaN): one compare and one masked move,
    # with no NaN select. r is never -0.0 (_margin_residual), so no sign of zero needs fixing.
    return 0.0 if r < 0.0 else r

cdef inline double _step(double r, double below, double at, double above) noexcept nogil:
    # below / at / above 0 as r < 0, r == 0, r > 0; NaN stays NaN.
    cdef double v = below if r < 0.0 else above   # r < 0, as _positive_part: one mask for both
    v = at if r == 0.0 else v
    return r if r != r else v

cdef inline double closs_hinge(label_t y, score_t s, double margin) noexcept nogil:
    return _positive_part(_margin_residual(y, s, margin))

cdef inline double _hinge_subgradient(double r, double mt) noexcept nogil:
    # -t step(r) as selects of -t (mt): its signed zero (mt * 0.0) where the margin is met, its
    # half on the kink, NaN for NaN r: the bits of mt * _step(r, 0.0, 0.5, 1.0).
    cdef double g = mt * 0.0 if r < 0.0 else mt
    g = 0.5 * mt if r == 0.0 else g
    return r if r != r else g

cdef inline double cgrad_hinge(label_t y, score_t s, double margin) noexcept nogil:
    return _hinge_subgradient(_margin_residual(y, s, margin), _minus_sign_label(y))

cdef inline loss_grad_t closs_grad_hinge(label_t y, score_t s, double margin) noexcept nogil:
    cdef double r = _margin_residual(y, s, margin)
    cdef loss_grad_t out
    out.loss = _positive_part(r)
    out.grad = _hinge_subgradient(r, _minus_sign_label(y))
    return out

cdef inline grad_hess_t cgrad_hess_hinge(label_t y, score_t s, double margin) noexcept nogil:
    cdef grad_hess_t out
    out.grad = cgrad_hinge(y, s, margin)
    out.hess = fabs(out.grad) * 0.0   # 0, NaN for NaN (the gradient is finite otherwise)
    return out

# ---------------------------------------------------------------------------- squared_hinge(margin)
# max(0, margin - t s)^2 (scikit-learn, Keras). Gradient -2 t max(0, margin - t s) (continuous).
# Second derivative 2 where the margin is violated, 0 where it is met, the midpoint 1 at the kink.

cdef inline double closs_squared_hinge(label_t y, score_t s, double margin) noexcept nogil:
    cdef double h = _positive_part(_margin_residual(y, s, margin))
    return h * h

cdef inline double cgrad_squared_hinge(label_t y, score_t s, double margin) noexcept nogil:
    return (2.0 * _minus_sign_label(y)) * _positive_part(_margin_residual(y, s, margin))

cdef inline loss_grad_t closs_grad_squared_hinge(label_t y, score_t s, double margin) noexcept nogil:
    cdef double h = _positive_part(_margin_residual(y, s, margin))
    cdef loss_grad_t out
    out.loss = h * h
    out.grad = (2.0 * _minus_sign_label(y)) * h
    return out

cdef inline grad_hess_t cgrad_hess_squared_hinge(label_t y, score_t s, double margin) noexcept nogil:
    cdef double r = _margin_residual(y, s, margin)
    cdef grad_hess_t out
    out.grad = (2.0 * _minus_sign_label(y)) * _positive_part(r)
    out.hess = _step(r, 0.0, 1.0, 2.0)
    return out

# ---------------------------------------------------------------------------- focal(gamma, alpha)
# torchvision's sigmoid_focal_loss: alpha_t * ce * (1 - p_t)^gamma with ce the BCE with logits,
# p_t = y sigmoid(z) + (1 - y) sigmoid(-z), alpha_t = alpha y + (1 - alpha)(1 - y) (1 when
# alpha < 0). Soft targets follow the same formula.
#
# q = 1 - p_t = y sigmoid(-z) + (1 - y) sigmoid(z) is never formed as 1 - sigmoid(.), which is
# 0 for |z| > 37. For hard labels log q = -softplus(+-z), exact for every finite z (q itself may
# underflow while q^gamma does not, for gamma < 1); for soft targets q, a sum of two
# non-negative terms, is at least min(y, 1 - y) and is accurate as computed. m = q^gamma =
# exp(gamma log q), but q * q for the default gamma = 2: correctly rounded from q, where the exp
# turns log q's rounding into gamma |log q| times as many ulp of m, and an exp (and, for soft
# targets, a log) cheaper (the kernels' loops see gamma = 2 as a constant: _elementwise.pyx.tp).
#
# Closed-form derivatives, with s = sigmoid(z), s' = s (1 - s), ratio = s' / q
# (= sigmoid(z) for y = 1, sigmoid(-z) for y = 0):
#   m'  = gamma (1 - 2y) m ratio
#   m'' = gamma (1 - 2y) m ratio [(gamma - 1)(1 - 2y) ratio + (1 - 2s)]
#   dl/dz   = alpha_t [(s - y) m + ce m']
#   d2l/dz2 = alpha_t [s' m + 2 (s - y) m' + ce m'']
# With gamma = 0 and alpha < 0 these are exactly the BCE-with-logits value and derivatives.
#
# No branches: labels and soft targets, finite and infinite logits are all computed and the
# result selected, so the loops vectorize. At z = +-inf the formulas meet 0 * inf; the limits
# are computed apart (_focal_limit) and selected.

ctypedef struct focal_t:
    double loss
    double grad
    double hess

cdef inline double _focal_alpha_t(double y, double alpha) noexcept nogil:
    cdef double a = alpha * y + (1.0 - alpha) * (1.0 - y)
    return 1.0 if alpha < 0.0 else a

cdef inline focal_t _focal_limit(double y, double z, double gamma, double alpha_t,
                                 bint labels_only) noexcept nogil:
    # As z -> +-inf the target mass on the excluded side, wrong = 1 - y (z = +inf) or y
    # (z = -inf), decides: loss inf if wrong > 0 (and alpha_t > 0) else 0; gradient
    # +-alpha_t wrong^(gamma + 1) (the (s - y) m term; ce m' decays exponentially); Hessian 0.
    # A NaN target gives NaN throughout. For labels wrong is 0 or 1, and so is its power
    # (gamma + 1 >= 1): the exp and log's exact result without them (+ 0.0: +0 for a -0 label).
    cdef double wrong = (1.0 - y) if z > 0.0 else y
    cdef double power = (wrong + 0.0) if labels_only else fl_exp((gamma + 1.0) * fl_log(wrong))
    cdef double sign = 1.0 if z > 0.0 else -1.0
    cdef focal_t out
    out.loss = INFINITY if (wrong > 0.0 and alpha_t > 0.0) else 0.0
    out.loss = wrong if wrong != wrong else out.loss
    out.grad = alpha_t * power * sign
    out.hess = wrong * 0.0
    return out

cdef inline focal_t _focal_from(double y, double z, double e, double l, double gamma, double alpha,
                                bint want_hess, bint labels_only) noexcept nogil:
    """Loss, gradient and (if want_hess) Hessian of the focal loss at one sample, given
    e = logistic_exp(y, z) and l = logistic_log(e). labels_only (a constant once inlined): y is 0
    or 1, and the soft-target terms are never computed."""
    cdef logistic_t s = _logistic_from(z, e, l)
    cdef double alpha_t = _focal_alpha_t(y, alpha)
    cdef bint label = labels_only or y == 1.0 or y == 0.0
    cdef bint at_inf = fabs(z) == INFINITY
    cdef double q_soft = y * s.sig_neg + (1.0 - y) * s.sig_pos
    cdef double log_q_label = -s.softplus_pos if y == 1.0 else -s.softplus_neg
    cdef double log_q_soft = fl_log(q_soft)
    cdef double log_q = log_q_label if label else log_q_soft
    cdef double q_label = s.sig_neg if y == 1.0 else s.sig_pos
    cdef double q = q_label if label else q_soft
    cdef double ratio_label = s.sig_pos if y == 1.0 else s.sig_neg
    cdef double ratio_soft = (s.sig_pos * s.sig_neg) / q_soft
    cdef double ratio = ratio_label if label else ratio_soft
    cdef double ce = _bce_logits_loss(y, 1.0, s)
    cdef double m = q * q if gamma == 2.0 else fl_exp(gamma * log_q)
    cdef double slope = 1.0 - 2.0 * y
    cdef double d = _bce_logits_grad(y, 1.0, s)
    cdef double dm = gamma * slope * m * ratio
    cdef double d2m = dm * ((gamma - 1.0) * slope * ratio + (s.sig_neg - s.sig_pos))
    cdef double loss = alpha_t * ce * m
    cdef double grad = alpha_t * (d * m + ce * dm)
    cdef double hess = alpha_t * ((s.sig_pos * s.sig_neg) * m + 2.0 * d * dm + ce * d2m)
    cdef focal_t lim = _focal_limit(y, z, gamma, alpha_t, labels_only)
    cdef focal_t out
    # Selects, not branches (see _logistic_from): the loops vectorize. want_hess is a constant once
    # inlined, so the Hessian's arithmetic is dropped where it is not wanted.
    out.loss = lim.loss if at_inf else loss
    out.grad = lim.grad if at_inf else grad
    out.hess = (lim.hess if at_inf else hess) if want_hess else 0.0
    return out

cdef inline focal_t _focal(double y, double z, double gamma, double alpha, bint want_hess,
                           bint labels_only) noexcept nogil:
    cdef double e = logistic_exp(y, z)
    return _focal_from(y, z, e, logistic_log(e), gamma, alpha, want_hess, labels_only)

cdef inline double closs_focal(double y, double z, double gamma, double alpha) noexcept nogil:
    return _focal(y, z, gamma, alpha, False, False).loss

cdef inline loss_grad_t _focal_loss_grad(double y, double z, double e, double l, double gamma,
                                         double alpha, bint labels_only) noexcept nogil:
    cdef focal_t f = _focal_from(y, z, e, l, gamma, alpha, False, labels_only)
    cdef loss_grad_t out
    out.loss = f.loss
    out.grad = f.grad
    return out

cdef inline loss_grad_t closs_grad_focal(double y, double z, double gamma, double alpha) noexcept nogil:
    cdef double e = logistic_exp(y, z)
    return _focal_loss_grad(y, z, e, logistic_log(e), gamma, alpha, False)

cdef inline double cgrad_focal(double y, double z, double gamma, double alpha) noexcept nogil:
    return _focal(y, z, gamma, alpha, False, False).grad

cdef inline grad_hess_t _focal_grad_hess(double y, double z, double e, double l, double gamma,
                                         double alpha, bint labels_only) noexcept nogil:
    cdef focal_t f = _focal_from(y, z, e, l, gamma, alpha, True, labels_only)
    cdef grad_hess_t out
    out.grad = f.grad
    out.hess = f.hess
    return out

cdef inline grad_hess_t cgrad_hess_focal(double y, double z, double gamma, double alpha) noexcept nogil:
    cdef double e = logistic_exp(y, z)
    return _focal_grad_hess(y, z, e, logistic_log(e), gamma, alpha, False)

cdef inline double closs_focal_labels(double y, double z, double gamma, double alpha) noexcept nogil:
    return _focal(y, z, gamma, alpha, False, True).loss

cdef inline loss_grad_t closs_grad_focal_labels(double y, double z, double gamma, double alpha) noexcept nogil:
    cdef double e = logistic_exp(y, z)
    return _focal_loss_grad(y, z, e, logistic_log(e), gamma, alpha, True)

# The forms given e = logistic_exp(y, z) and l = logistic_log(e) (the kernels' loops: see _logistic_from).
cdef inline double closs_focal_from(double y, double z, double e, double l, double gamma,
                                    double alpha) noexcept nogil:
    return _focal_from(y, z, e, l, gamma, alpha, False, False).loss

cdef inline double closs_focal_labels_from(double y, double z, double e, double l, double gamma,
                                           double alpha) noexcept nogil:
    return _focal_from(y, z, e, l, gamma, alpha, False, True).loss

cdef inline loss_grad_t closs_grad_focal_from(double y, double z, double e, double l, double gamma,
                                              double alpha) noexcept nogil:
    return _focal_loss_grad(y, z, e, l, gamma, alpha, False)

cdef inline loss_grad_t closs_grad_focal_labels_from(double y, double z, double e, double l,
                                                     double gamma, double alpha) noexcept nogil:
    return _focal_loss_grad(y, z, e, l, gamma, alpha, True)

cdef inline grad_hess_t cgrad_hess_focal_from(double y, double z, double e, double l, double gamma,
                                              double alpha) noexcept nogil:
    return _focal_grad_hess(y, z, e, l, gamma, alpha, False)

cdef inline grad_hess_t cgrad_hess_focal_labels_from(double y, double z, double e, double l,
                                                     double gamma, double alpha) noexcept nogil:
    return _focal_grad_hess(y, z, e, l, gamma, alpha, True)
