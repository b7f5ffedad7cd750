# cython: language_level=3
"""Row-wise multiclass kernels over (N, K) logits, scores or probabilities (private).

Design: the math of one row is written once per loss, as a `_row_<loss>` inline function that
returns the row's loss and, when given output pointers, writes the row's gradient and diagonal
Hessian. One driver (`_block`, `run`) walks the rows for every loss and every mode (reduce,
per-row values, gradient, fused value+gradient, gradient+Hessian); the loss is picked by a
switch on `kind` per row (a predictable branch, negligible next to a row of K exponentials).
Where a row at a time cannot vectorize (rows of K = 10, or a branch per class), `_block` hands
the whole block to a kind's own `_block_<kind>`, which runs a phase at a time across its rows:
cross_entropy and softmax_focal with labels (their softmax phases are shared), categorical
cross-entropy, kl_divergence and multiclass_hinge.

Reductions: rows are cut into fixed blocks of max(1, BLOCK // K) rows, independent of the thread
count; each block is summed in a fixed order (row order, or the lanes of _lane_sum where a block
function computes its row losses first) and the block sums are combined with pairwise_sum, so
results are bitwise identical for any number of threads. Everything is computed in double;
float32 logits give float32 gradients. Kernels never validate: labels are checked against
[0, K) by fastloss._validation before any kernel indexes with them.
"""
from cython.parallel cimport prange, threadid
from libc.math cimport INFINITY, NAN, log, pow
from libc.stdlib cimport malloc, calloc, free

from fastloss._kernels._common cimport (ACC_LANES, BLOCK, LANES, accumulate_lanes, combine_acc,
                                       blocks_per_grab, combine_lanes, pairwise_sum)
from fastloss._kernels._vmath cimport fl_log, fl_log1p, fl_log_normal
cimport numpy as cnp
from fastloss._kernels._fastpath cimport (FAST_VALUE, FAST_GRAD, FAST_VALUE_AND_GRAD,
                                          FAST_GRAD_HESS, ready,
                                         float_code)

cnp.import_array()

cdef extern from "_lanes.h" nogil:
    enum: FL_LANES
    void fl_lanes_range_f8(const double* z, Py_ssize_t body, double* top, double* bottom)
    void fl_lanes_range_f4(const float* z, Py_ssize_t body, double* top, double* bottom)
    bint fl__normal_exp_row(double m, double lo)
    void fl_lanes_exp_rest_f8(const double* z, double* e, Py_ssize_t K, double m, double lo,
                              double* acc, double* ties)
    void fl_lanes_exp_rest_f4(const float* z, double* e, Py_ssize_t K, double m, double lo,
                              double* acc, double* ties)
    void fl_lanes_exp_f4_rest_f4(const float* z, double* e, Py_ssize_t K, double m, double lo,
                                 double* acc, double* ties)
    void fl_column_exp_rest_of(bint normal, bint f4, const double* zt, const double* m,
                               Py_ssize_t n, double* lane, double* ties, double* e)

if FL_LANES != LANES:
    raise ImportError("_lanes.h's FL_LANES must equal _common.pxd's LANES")

ctypedef fused floating:
    float
    double

cdef enum:
    NARROW_K = 28      # below this many classes cross_entropy's block runs column by column

cdef enum:
    RANGE_PREDICTION = 1   # range_flags bits (fastloss.losses.multiclass raises for them)
    RANGE_TARGET = 2

cdef enum:
    CROSS_ENTROPY = 0
    CATEGORICAL_CROSS_ENTROPY = 1
    MULTICLASS_HINGE = 2
    SOFTMAX_FOCAL = 3
    KL_DIVERGENCE = 4

KINDS = {"cross_entropy": CROSS_ENTROPY,
         "categorical_cross_entropy": CATEGORICAL_CROSS_ENTROPY,
         "multiclass_hinge": MULTICLASS_HINGE,
         "softmax_focal": SOFTMAX_FOCAL,
         "kl_divergence": KL_DIVERGENCE}
# run()'s range_flag bits: which input holds a probability outside [0, 1]
RANGE_FLAGS = {"y_true": RANGE_TARGET, "y_pred": RANGE_PREDICTION}


ctypedef struct rows_t:
    # inputs other than the predictions (whose dtype varies)
    int kind
    Py_ssize_t n_rows
    Py_ssize_t n_classes
    const Py_ssize_t* labels       # (N,) class indices, or NULL for probability targets
    const double* targets          # (N, K) probabilities, or NULL for labels
    const float* targets_f4        # or float32 probabilities (widened a block at a time), or NULL
    const double* sample_weight    # (N,) or NULL (unit weights)
    const double* class_weight     # (K,) or NULL: cross_entropy's weights, softmax_focal's alpha
    bint has_ignore
    Py_ssize_t ignore_index
    double smoothing               # cross_entropy's label_smoothing
    double margin                  # multiclass_hinge
    double gamma                   # softmax_focal
    double eps                     # categorical_cross_entropy's clip: [eps, 1 - eps]
    bint log_input                 # kl_divergence
    # outputs
    double scale                   # gradient factor (1 / total weight for "mean")
    double hess_floor
    bint weights_only              # only sum the row weights (the "mean" denominator)
    bint grad_only                 # the row losses are not wanted (grad, grad_hess): a kind
                                   # may skip them (kl_divergence does) and sum 0
    unsigned char* range_flags     # per block: the RANGE_* bits of a probability prediction
                                   # (_block_cce / _block_kl) or a target (_block_targets) outside
                                   # [0, 1], checked in the pass that reads them; or NULL
    Py_ssize_t block_rows          # rows per block (the index of range_flags)


# ------------------------------------------------------------------------------ block sums

cdef inline double _lane_sum(const double* v, Py_ssize_t n) noexcept nogil:
    """v[0:n] summed in ACC_LANES lanes (accumulate_lanes, then combine_acc): the additions run
    side by side, not as one chain; the lanes fix the order."""
    cdef Py_ssize_t i
    cdef double acc[ACC_LANES]
    for i in range(ACC_LANES):
        acc[i] = 0.0
    accumulate_lanes(acc, v, n)
    return combine_acc(acc)


cdef inline void _block_sums(const rows_t* R, const double* loss, Py_ssize_t start, Py_ssize_t n,
                             floating* out, double* loss_sum, double* weight_sum) noexcept nogil:
    """The sums of a block whose rows' weighted losses loss[0:n] are computed first (not read by
    a gradient-only call), its row weights being the sample weights: the losses by _lane_sum
    (also stored in out[start:start + n] if out is given), and the weights in row order, as
    _block's weights-only call sums them (n without weights: exactly that sum)."""
    cdef Py_ssize_t i
    cdef double wacc = 0.0
    if R.sample_weight == NULL:
        wacc = <double> n
    else:
        for i in range(n):
            wacc += R.sample_weight[start + i]
    weight_sum[0] = wacc
    if R.grad_only:
        loss_sum[0] = 0.0
        return
    if out != NULL:
        for i in range(n):
            out[start + i] = <floating> loss[i]
    loss_sum[0] = _lane_sum(loss, n)


# ------------------------------------------------------------------------------ softmax helpers

cdef inline double _shifted(double z, double m) noexcept nogil:
    """z - m, the logit minus the row max; with m = +inf the limit (0 for +inf, -inf otherwise)."""
    if m == INFINITY:
        if z != z:
            return z
        return 0.0 if z == INFINITY else -INFINITY
    return z - m


cdef inline double _row_range(const floating* z, Py_ssize_t K, double* lo) noexcept nogil:
    """max z over the row (NaN ignored, -inf for an all-NaN row), and its min in lo (+inf for an
    all-NaN row), by lanes so it vectorizes."""
    cdef Py_ssize_t i, l, body = K - K % LANES
    cdef double top[LANES]
    cdef double bottom[LANES]
    cdef double m, v
    for l in range(LANES):
        top[l] = -INFINITY
        bottom[l] = INFINITY
    if floating is float:
        fl_lanes_range_f4(z, body, top, bottom)
    else:
        fl_lanes_range_f8(z, body, top, bottom)
    for i in range(body, K):
        v = z[i]
        top[0] = v if v > top[0] else top[0]
        bottom[0] = v if v < bottom[0] else bottom[0]
    m = top[0]
    lo[0] = bottom[0]
    for l in range(1, LANES):
        m = top[l] if top[l] > m else m
        lo[0] = bottom[l] if bottom[l] < lo[0] else lo[0]
    return m


cdef inline double _rest_or_nan(double rest, double m) noexcept nogil:
    """NaN for a row whose max is -inf (all -inf: no softmax), so every result of the row is
    NaN, as in PyTorch; otherwise rest. (An all-NaN row is NaN already.)"""
    return NAN if m == -INFINITY else rest


cdef inline bint _exp_for_float32(const rows_t* R) noexcept nogil:
    """Whether float32 logits take fl_exp_f4 (relative error 2^-33, no division) for the row
    exponentials: cross_entropy with labels and no smoothing. Its loss log1p(rest) + (m - z_y)
    adds two terms >= 0 and its gradient is p_j = e_j / S, or p_y - 1 with p_y <= 1/2, or
    -rest / S, so a 2^-33 error in each e stays far below float32's rounding. Probability
    targets and label smoothing keep fl_exp: their gradient A p_j - a_j vanishes where p_j =
    a_j / A, where 2^-33 of p_j is many float32 ulp (as binary cross-entropy's soft targets).
    softmax_focal keeps it too: its Hessian crosses 0, as the binary focal's does
    (_elementwise.pyx.tp's FLOAT32_MATH)."""
    return R.kind == CROSS_ENTROPY and R.labels != NULL and R.smoothing == 0.0


cdef inline double _exp_row(const rows_t* R, const floating* z, Py_ssize_t K, double* e,
                            double* m_out) noexcept nogil:
    """e[j] = exp(z[j] - m), m = max z; returns rest = sum of e - 1: the e of the classes below
    the max, plus 1 for each further tie (a class is "the max" where z[j] == m), in fixed lanes
    (an order set by K; see _lanes.h).

    Leaving the max's exact 1 out of rest keeps log1p(rest) and 1 - p = rest / (1 + rest) at
    full precision when p -> 1. NaN in z makes rest NaN.
    """
    cdef Py_ssize_t l
    cdef double acc[LANES]
    cdef double ties[LANES]
    cdef double lo
    cdef double m = _row_range(z, K, &lo)
    for l in range(LANES):
        acc[l] = 0.0
        ties[l] = 0.0
    if floating is float:
        if _exp_for_float32(R):
            fl_lanes_exp_f4_rest_f4(z, e, K, m, lo, acc, ties)
        else:
            fl_lanes_exp_rest_f4(z, e, K, m, lo, acc, ties)
    else:
        fl_lanes_exp_rest_f8(z, e, K, m, lo, acc, ties)
    m_out[0] = m
    return _rest_or_nan(combine_lanes(acc) + (combine_lanes(ties) - 1.0), m)


cdef inline void _store(floating* g, floating* h, Py_ssize_t j, double gj, double hj,
                        double gscale, double hweight, double hess_floor) noexcept nogil:
    """Write one element of the gradient (times gscale) and of the Hessian (floored, weighted)."""
    if g != NULL:
        g[j] = <floating> (gscale * gj)
    if h != NULL:
        if hj < hess_floor:
            hj = hess_floor
        h[j] = <floating> (hweight * hj)


# ------------------------------------------------------------------------------ cross_entropy
# Row loss sum_k a_k (log S - (z_k - m)), with a_k = c_k ((1 - s) t_k + s / K): c the class
# weights, s the label smoothing, t the one-hot label or the probability row. With A = sum a_k
# the gradient is A p_j - a_j and the diagonal Hessian A p_j (1 - p_j). For labels and no
# smoothing only the target term is evaluated (a non-target -inf logit contributes p = 0).

cdef inline double _a_ce(const rows_t* R, Py_ssize_t label, const double* t,
                         Py_ssize_t k) noexcept nogil:
    cdef double ck = 1.0 if R.class_weight == NULL else R.class_weight[k]
    cdef double tk
    if t == NULL:
        tk = 1.0 if k == label else 0.0
    else:
        tk = t[k]
    return ck * ((1.0 - R.smoothing) * tk + R.smoothing / R.n_classes)


cdef inline double _row_cross_entropy(const rows_t* R, const floating* z, Py_ssize_t label,
                                      const double* t, double* e, floating* g, floating* h,
                                      double gscale, double hweight) noexcept nogil:
    cdef Py_ssize_t K = R.n_classes, j
    cdef double m, rest, log_s, inv_s, loss = 0.0, total_a = 0.0, a, p, q
    rest = _exp_row(R, z, K, e, &m)
    log_s = fl_log1p(rest)
    if t == NULL and R.smoothing == 0.0:
        a = 1.0 if R.class_weight == NULL else R.class_weight[label]
        total_a = a
        if a != 0.0:
            loss = a * (log_s - _shifted(z[label], m))
    else:
        for j in range(K):
            a = _a_ce(R, label, t, j)
            total_a += a
            if a != 0.0:       # 0 * inf would be NaN: a class with no target mass adds nothing
                loss += a * (log_s - _shifted(z[j], m))
    if g == NULL and h == NULL:
        return loss
    inv_s = 1.0 / (1.0 + rest)
    if h == NULL and t == NULL and R.smoothing == 0.0 and R.class_weight == NULL:
        # the common case, p - onehot(y), in a loop the compiler can vectorize
        for j in range(K):
            g[j] = <floating> (gscale * (e[j] * inv_s))
        if z[label] == m:
            g[label] = <floating> (gscale * -(rest * inv_s))
        else:
            g[label] = <floating> (gscale * (e[label] * inv_s - 1.0))
        return loss
    for j in range(K):
        p = e[j] * inv_s
        a = _a_ce(R, label, t, j)
        if z[j] == m:          # 1 - p = rest / S exactly: no cancellation when p -> 1
            q = rest * inv_s
            _store(g, h, j, (total_a - a) - total_a * q, total_a * p * q,
                   gscale, hweight, R.hess_floor)
        else:
            _store(g, h, j, total_a * p - a, total_a * p * (1.0 - p),
                   gscale, hweight, R.hess_floor)
    return loss


# ------------------------------------------------------------------------------ categorical CE
# -sum_k t_k log(clip(q_k, eps, 1 - eps)). Derivative of the clipped loss: -t_k / q_k inside
# [eps, 1 - eps], 0 where the clip is active; second derivative t_k / q_k^2 inside, 0 outside.

cdef inline double _cce_clip(double q, double lo, double hi) noexcept nogil:
    cdef double qc = lo if q < lo else q     # two plain selects: NaN stays NaN
    return hi if q > hi else qc


cdef inline void _cce_derivatives(const rows_t* R, double tj, double qj, floating* g, floating* h,
                                  Py_ssize_t j, double w) noexcept nogil:
    """Store the derivatives of -t log(clip(q)) at class j: -t / q and t / q^2 inside the clip,
    0 where it is active; 0 (NaN for NaN) where t = 0. Selects only, so the loops vectorize."""
    cdef double d1 = -tj / qj, d2 = tj / (qj * qj)
    d1 = 0.0 * qj if tj == 0.0 else d1
    d2 = 0.0 * qj if tj == 0.0 else d2
    d1 = 0.0 if (qj < R.eps) | (qj > 1.0 - R.eps) else d1
    d2 = 0.0 if (qj < R.eps) | (qj > 1.0 - R.eps) else d2
    _store(g, h, j, d1, d2, w * R.scale, w, R.hess_floor)


cdef inline bint _check_unit_range(const rows_t* R, const floating* q, Py_ssize_t m,
                                   Py_ssize_t start) noexcept nogil:
    """The probability check of the predictions q[0:m] of the block at row `start`, fused into
    the block that reads them: flags the block if one lies outside [0, 1] (NaN passes). q (1 - q)
    < 0 exactly then; the ORs take the compares' masks in q's own width, so the loop vectorizes.
    Returns whether q[0:m] holds a NaN, from the same pass."""
    cdef Py_ssize_t k
    cdef unsigned int bad4 = 0, nan4 = 0
    cdef unsigned long long bad8 = 0, nan8 = 0
    if floating is float:
        for k in range(m):
            bad4 |= -<unsigned int> (q[k] * (<float> 1.0 - q[k]) < <float> 0.0)
            nan4 |= -<unsigned int> (q[k] != q[k])
    else:
        for k in range(m):
            bad8 |= -<unsigned long long> (q[k] * (1.0 - q[k]) < 0.0)
            nan8 |= -<unsigned long long> (q[k] != q[k])
    if R.range_flags != NULL and (bad4 | bad8) != 0:
        R.range_flags[start // R.block_rows] |= RANGE_PREDICTION
    return (nan4 | nan8) != 0


cdef void _block_cce(const rows_t* R, const floating* z, const double* t, floating* out,
                     floating* g, floating* h, Py_ssize_t start, Py_ssize_t stop, double* scratch,
                     double* loss_sum, double* weight_sum) noexcept nogil:
    """_block for categorical_cross_entropy (every call: it has no row-by-row path).

    Probability targets: the terms of every element of the block in one flat branch-free loop
    (_vmath's log), then each row's terms summed in class order, rows side by side. Labels: one
    log per row (its probability gathered first, so the clips and logs vectorize); the other
    classes only carry NaN, so they are summed only if the block has one. The row losses are
    summed by _block_sums. A gradient-only call sums no loss. t: the block's targets
    (_block_targets), NULL for labels.
    scratch: 2 n K + n doubles for the block's n rows.
    """
    cdef Py_ssize_t K = R.n_classes, n = stop - start, m = n * K, i, j, k, label = -1
    cdef const floating* qin = z + start * K
    cdef const double* q
    cdef double* part = scratch
    cdef double* total = part + m
    cdef double* widened = total + n
    cdef double lo = R.eps, hi = 1.0 - R.eps
    cdef double w, tj, qj, term, nan_part
    cdef floating* gi
    cdef floating* hi_
    cdef bint has_nan = _check_unit_range(R, qin, m, start)
    if (g != NULL or h != NULL) and t == NULL:
        # Labels: every class as t = 0 (a constant, so no division is left), in one flat loop
        # when the rows are unweighted, then each row's label as t = 1: the same calls, so the
        # same bits, as a loop over the classes choosing t = (j == label), which gcc does not
        # vectorize (a Py_ssize_t compare among doubles).
        if R.sample_weight == NULL:
            gi = g + start * K if g != NULL else NULL
            hi_ = h + start * K if h != NULL else NULL
            for k in range(m):
                _cce_derivatives(R, 0.0, qin[k], gi, hi_, k, 1.0)
        for i in range(n):
            w = 1.0 if R.sample_weight == NULL else R.sample_weight[start + i]
            gi = g + (start + i) * K if g != NULL else NULL
            hi_ = h + (start + i) * K if h != NULL else NULL
            if R.sample_weight != NULL:
                for j in range(K):
                    _cce_derivatives(R, 0.0, qin[i * K + j], gi, hi_, j, w)
            label = R.labels[start + i]
            _cce_derivatives(R, 1.0, qin[i * K + label], gi, hi_, label, w)
    elif g != NULL or h != NULL:
        for i in range(n):
            w = 1.0 if R.sample_weight == NULL else R.sample_weight[start + i]
            gi = g + (start + i) * K if g != NULL else NULL
            hi_ = h + (start + i) * K if h != NULL else NULL
            for j in range(K):
                _cce_derivatives(R, t[i * K + j], qin[i * K + j], gi, hi_, j, w)
    if not R.grad_only:
        for i in range(n):
            total[i] = 0.0
        if t != NULL:
            if floating is float:   # widened first: gcc does not vectorize the mixed loop
                for k in range(m):
                    widened[k] = qin[k]
                q = widened
            else:
                q = qin
            for k in range(m):
                tj = t[k]
                qj = q[k]
                term = -(tj * fl_log(_cce_clip(qj, lo, hi)))
                nan_part = qj if qj != qj else 0.0
                part[k] = term if tj != 0.0 else nan_part
            _cce_row_sums(part, n, K, total)
        else:
            if has_nan:             # rare: the NaN of each row, summed as the targets' terms are
                for k in range(m):
                    part[k] = qin[k] if qin[k] != qin[k] else 0.0
                _cce_row_sums(part, n, K, total)
            for i in range(n):      # the label's probabilities first, so the logs vectorize
                widened[i] = qin[i * K + R.labels[start + i]]
            for i in range(n):
                total[i] += -fl_log(_cce_clip(widened[i], lo, hi))
        if R.sample_weight != NULL:
            for i in range(n):
                total[i] *= R.sample_weight[start + i]
    _block_sums(R, total, start, n, out, loss_sum, weight_sum)


cdef inline void _cce_row_sums(const double* part, Py_ssize_t n, Py_ssize_t K,
                               double* total) noexcept nogil:
    """total[i] += part[i K + j] for j = 0, 1, ..., K - 1 in order, rows side by side."""
    cdef Py_ssize_t i, j
    for j in range(K):
        for i in range(n):
            total[i] += part[i * K + j]


# ------------------------------------------------------------------------------ multiclass hinge
# Weston-Watkins: sum over j != y of max(0, margin - s_y + s_j). Subgradient: +1 for each
# violating class j (margin - s_y + s_j > 0), minus their count for the target; 0 at the kink.
# Second derivative 0 (floored by hess_floor).

cdef void _block_multiclass_hinge(const rows_t* R, const floating* z, floating* out,
                                  floating* g, floating* h, Py_ssize_t start, Py_ssize_t stop,
                                  double* scratch, double* loss_sum,
                                  double* weight_sum) noexcept nogil:
    """_block for multiclass_hinge (every call but a weights-only one), a phase at a time.

    Row by row, every class is a branch (violated or not) that the CPU mispredicts about as
    often as not; here v = margin - s_y + s_j of every class of the block is computed in one
    loop, its hinge term and subgradient by selects, the label's own term zeroed, and the rows
    summed in class order, rows side by side. Adding the zeros of the classes that are not
    violated leaves the sums' bits as a row loop skipping them would have them.
    scratch: 2 n K + 2 n doubles for the block's n rows.
    """
    cdef Py_ssize_t K = R.n_classes, n = stop - start, m = n * K, i, j, k
    cdef const floating* s = z + start * K
    cdef double* v = scratch              # (n, K) the scores, then margin - s_y + s_j
    cdef double* part = v + m             # (n, K) the hinge terms, then the subgradients
    cdef double* sy = part + m            # (n,) the label's score
    cdef double* total = sy + n           # (n,) the row losses, then the violated counts
    cdef double margin = R.margin, x, w, gscale, hj, loss, acc = 0.0, wacc = 0.0
    cdef floating* gi
    for k in range(m):                    # widened first: gcc does not vectorize mixed loops
        v[k] = s[k]
    for i in range(n):
        sy[i] = v[i * K + R.labels[start + i]]
    for i in range(n):
        x = sy[i]
        for j in range(K):
            v[i * K + j] = margin - x + v[i * K + j]
    if not R.grad_only:
        for k in range(m):                # max(0, v), NaN kept
            x = v[k]
            part[k] = 0.0 if x <= 0.0 else x
        _hinge_row_sums(R, part, start, n, K, sy, total)
        for i in range(n):
            w = 1.0 if R.sample_weight == NULL else R.sample_weight[start + i]
            loss = w * total[i]
            acc += loss
            if out != NULL:
                out[start + i] = <floating> loss
    for i in range(n):
        wacc += 1.0 if R.sample_weight == NULL else R.sample_weight[start + i]
    if g != NULL:
        for k in range(m):                # 1 where violated, NaN kept, else 0
            x = v[k]
            part[k] = 1.0 if x > 0.0 else (x if x != x else 0.0)
        _hinge_row_sums(R, part, start, n, K, sy, total)
        for i in range(n):
            w = 1.0 if R.sample_weight == NULL else R.sample_weight[start + i]
            gscale = w * R.scale
            gi = g + (start + i) * K
            for j in range(K):
                gi[j] = <floating> (gscale * part[i * K + j])
            gi[R.labels[start + i]] = <floating> (gscale * -total[i])
    if h != NULL:                         # the second derivative is 0, floored
        hj = 0.0 if 0.0 >= R.hess_floor else R.hess_floor
        for i in range(n):
            w = 1.0 if R.sample_weight == NULL else R.sample_weight[start + i]
            for j in range(K):
                h[(start + i) * K + j] = <floating> (w * hj)
    loss_sum[0] = acc
    weight_sum[0] = wacc


cdef inline void _hinge_row_sums(const rows_t* R, double* part, Py_ssize_t start, Py_ssize_t n,
                                 Py_ssize_t K, const double* sy, double* total) noexcept nogil:
    """total[i] = the sum of part over row i's classes but its label, in class order; sy[i]
    where that is NaN (K = 1 has no other class to carry a NaN score)."""
    cdef Py_ssize_t i, j
    for i in range(n):
        part[i * K + R.labels[start + i]] = 0.0
        total[i] = 0.0
    for j in range(K):
        for i in range(n):
            total[i] += part[i * K + j]
    for i in range(n):
        total[i] = sy[i] if sy[i] != sy[i] else total[i]


# ------------------------------------------------------------------------------ softmax focal
# l = -alpha_y (1 - p)^gamma log p, p = softmax(z)_y. With q = 1 - p (summed from the other
# classes, exact as p -> 1) and pr = p (-log p) / q (-> 1 as q -> 0, 0 at p = 0):
#   dl/dz_j   = alpha G (d_j),  G = -q^gamma (1 + gamma pr),  d_j = [j == y] - p_j
#   d2l/dz_j2 = alpha (gamma q^gamma (d_j^2 / q) (2p - q pr + (gamma - 1) p pr) - G p_j (1 - p_j))
# (d_j^2 / q is bounded by |d_j|: no overflow of q^(gamma - 2) for gamma < 2). gamma = 0 gives
# G = -1: the cross-entropy gradient p_j - [j == y] and Hessian p_j (1 - p_j).

cdef inline double _zero_row_focal(const rows_t* R, floating* g, floating* h,
                                   double hweight) noexcept nogil:
    """A row whose alpha is 0: no loss, zero gradient and Hessian (floored)."""
    cdef Py_ssize_t j
    for j in range(R.n_classes):
        _store(g, h, j, 0.0, 0.0, 0.0, hweight, R.hess_floor)
    return 0.0


cdef inline double _focal_power(double q, double gamma) noexcept nogil:
    """q^gamma; the default gamma = 2 as q * q (correctly rounded, and a call to pow costs more
    than the row's exponentials)."""
    return q * q if gamma == 2.0 else pow(q, gamma)


cdef inline double _focal_row(const rows_t* R, const floating* z, Py_ssize_t label,
                              const double* e, Py_ssize_t stride, double m, double rest,
                              double log_s, floating* g, floating* h, double gscale,
                              double hweight) noexcept nogil:
    """The row's loss (and its derivatives, where asked) from its softmax: e[j * stride] =
    exp(z_j - m), m = max z, rest and log_s = log1p(rest) as _exp_row and its callers give."""
    cdef Py_ssize_t K = R.n_classes, j
    cdef double inv_s, log_p, p, q, qg, pr, big_g, alpha, gamma = R.gamma
    cdef double pj, dj, one_minus_pj, d2
    inv_s = 1.0 / (1.0 + rest)
    log_p = _shifted(z[label], m) - log_s
    p = e[label * stride] * inv_s
    if z[label] == m:
        q = rest * inv_s
    else:
        q = 1.0 - p
    alpha = 1.0 if R.class_weight == NULL else R.class_weight[label]
    qg = _focal_power(q, gamma)
    if alpha == 0.0:
        return 0.0 if g == NULL and h == NULL else _zero_row_focal(R, g, h, hweight)
    if g == NULL and h == NULL:
        return alpha * qg * (-log_p)
    if q == 0.0:
        pr = 1.0
    elif p == 0.0:
        pr = 0.0
    else:
        pr = p * (-log_p) / q
    big_g = -qg * (1.0 + gamma * pr)
    for j in range(K):
        pj = e[j * stride] * inv_s
        if z[j] == m:
            one_minus_pj = rest * inv_s
        else:
            one_minus_pj = 1.0 - pj
        dj = (one_minus_pj if j == label else -pj)
        if h == NULL:
            d2 = 0.0
        elif q == 0.0:        # p = 1: every d_j is 0 (gamma = 0 included)
            d2 = 0.0 * dj
        else:
            d2 = alpha * (gamma * qg * (dj * (dj / q)) * (2.0 * p - q * pr + (gamma - 1.0) * p * pr)
                          - big_g * pj * one_minus_pj)
        _store(g, h, j, alpha * big_g * dj, d2, gscale, hweight, R.hess_floor)
    return alpha * qg * (-log_p)


# ------------------------------------------------------------------------------ kl_divergence
# sum_k p_k (log p_k - log q_k), 0 log 0 = 0. Gradient -p_k / q_k (probabilities) or -p_k
# (log-probabilities); second derivative p_k / q_k^2, or 0.
# Accuracy (probabilities). The terms p_k log(p_k / q_k) of a row nearly cancel when q is close
# to p (their first-order parts p_k - q_k sum to ~0; the divergence is second order), so:
# - where 1/2 <= p_k / q_k <= 2 the term is split as (p_k - q_k) + q_k phi(p_k / q_k), with
#   phi(r) = r log r - r + 1 >= 0: p_k - q_k is exact there (Sterbenz) and q phi is computed
#   to ~3 ulp from s = (p - q) / (p + q) (_kl_q_phi), free of cancellation;
# - elsewhere it is p_k log(r_k), r_k = p_k / q_k rounded once (log p_k - log q_k would lose
#   ulp(log p_k), 1e-13 at p_k = 1e-300), or log p_k - log q_k where r_k over/underflows;
# - all the parts of a row are summed with compensation (TwoSum, in LANES lanes), so the sum
#   adds ~1 ulp of the result whatever K and the cancellation between the exact parts p_k - q_k.
# The parts are computed branch-free into scratch (the log is _vmath's, so the loop vectorizes),
# then summed; a gradient-only call (R.grad_only) computes none of them.
# Measured: <= 2.1 ulp on the accuracy grid, 1.1 at the issue's points (21 ulp before, at
# p = [.25, .25, .5], q = [.2, .3, .5]; 31 ulp at p = [.3, .7], q = [.31, .69]).

cdef inline double _kl_q_phi(double p, double q) noexcept nogil:
    """q phi(p / q) = p log(p / q) - (p - q) >= 0 for 1/2 <= p / q <= 2, to ~3 ulp.

    With s = (p - q) / (p + q) in [-1/3, 1/3] (p - q exact), log(p / q) = 2 atanh(s) gives
    q phi = (p - q) s (1 + s (1 + s) g(s^2)), g(x) = sum_{k >= 1} x^(k-1) / (2k + 1): 17
    terms reach double precision at |s| = 1/3 (x <= 1/9).
    """
    cdef double d = p - q
    cdef double s = d / (p + q)
    cdef double x = s * s
    cdef double x2 = x * x
    cdef double x4 = x2 * x2
    cdef double x8 = x4 * x4
    # Estrin's scheme (independent partial sums: ~5 multiply-add latencies, not 16)
    cdef double c0 = (1.0 / 3.0 + 1.0 / 5.0 * x) + (1.0 / 7.0 + 1.0 / 9.0 * x) * x2
    cdef double c1 = (1.0 / 11.0 + 1.0 / 13.0 * x) + (1.0 / 15.0 + 1.0 / 17.0 * x) * x2
    cdef double c2 = (1.0 / 19.0 + 1.0 / 21.0 * x) + (1.0 / 23.0 + 1.0 / 25.0 * x) * x2
    cdef double c3 = (1.0 / 27.0 + 1.0 / 29.0 * x) + (1.0 / 31.0 + 1.0 / 33.0 * x) * x2
    cdef double g = (c0 + c1 * x4) + (c2 + (c3 + 1.0 / 35.0 * x4) * x4) * x8
    return d * s * (1.0 + s * (1.0 + s) * g)


cdef inline void _kl_add(double t, double* total, double* comp) noexcept nogil:
    """Compensated addition (Knuth's branch-free TwoSum): total + comp is the running sum with
    the rounding error of every addition kept in comp."""
    cdef double s = total[0] + t
    cdef double tt = s - total[0]
    comp[0] += (total[0] - (s - tt)) + (t - tt)
    total[0] = s


cdef inline double _kl_parts(const rows_t* R, const floating* xin, const double* t, Py_ssize_t m,
                             double* a, double* b) noexcept nogil:
    """The two parts a[k], b[k] of the divergence of each of m elements (classes of whole rows,
    flat), in a branch-free loop that vectorizes whatever K; returns the number of elements whose
    ratio p / q left the normal range (rare: their log is redone by _kl_fix)."""
    cdef Py_ssize_t k
    cdef const double* x
    if floating is float:
        # float32 predictions are widened into a first (the loop below reads each x[k] before
        # it writes a[k]): gcc does not vectorize the mixed float/double loop.
        for k in range(m):
            a[k] = xin[k]
        x = a
    else:
        x = xin
    cdef double pj, xj, r, far, near_q_phi, at_zero, split_a, split_b, bad, n_bad = 0.0
    # Every value is computed before the selects, which only choose (as in _math_binary.pxd):
    # gcc if-converts that form, so the loops vectorize.
    if R.log_input:
        for k in range(m):
            pj = t[k]
            xj = x[k]
            far = pj * (fl_log(pj) - xj)
            at_zero = 0.0 if xj == xj else xj   # 0 log 0 = 0, or the NaN of a NaN input
            a[k] = at_zero if pj == 0.0 else far
            b[k] = 0.0
        return 0.0
    for k in range(m):
        pj = t[k]
        xj = x[k]
        r = pj / xj
        far = pj * fl_log_normal(r)   # fl_log's bits; r not normal: redone by _kl_fix
        near_q_phi = _kl_q_phi(pj, xj)
        at_zero = 0.0 if xj == xj else xj
        # near = 0.5 <= r <= 2 as two selects (Cython writes `and` as branches, which stop
        # the vectorizer); zero = p == 0.
        split_a = (pj - xj) if r >= 0.5 else far
        split_b = near_q_phi if r >= 0.5 else 0.0
        split_a = split_a if r <= 2.0 else far
        split_b = split_b if r <= 2.0 else 0.0
        a[k] = at_zero if pj == 0.0 else split_a
        b[k] = 0.0 if pj == 0.0 else split_b
        # r rounded to a subnormal or 0 (precision lost), inf, or NaN: redone apart
        bad = 0.0 if r >= 2.2250738585072014e-308 else 1.0
        bad = 1.0 if r == INFINITY else bad
        n_bad += 0.0 if pj == 0.0 else bad
    return n_bad


cdef inline void _kl_fix(const floating* x, const double* t, Py_ssize_t m,
                         double* a) noexcept nogil:
    """p (log p - log q) for the elements whose ratio over/underflowed (|log r| > 700), or NaN."""
    cdef Py_ssize_t k
    cdef double pj, xj, r
    for k in range(m):
        pj = t[k]
        xj = x[k]
        r = pj / xj
        if pj != 0.0 and not (2.2250738585072014e-308 <= r < INFINITY):
            a[k] = pj * (log(pj) - log(xj))


cdef void _block_kl(const rows_t* R, const floating* z, const double* t, floating* out,
                    floating* g, floating* h, Py_ssize_t start, Py_ssize_t stop, double* scratch,
                    double* loss_sum, double* weight_sum) noexcept nogil:
    """_block for kl_divergence: the parts of every element of the block in one flat loop, then
    each row's parts summed with compensation (TwoSum) in the order a_0, b_0, a_1, b_1, ...,
    rows side by side (the loop over rows vectorizes). A gradient-only call (R.grad_only) sums
    no loss. t: the block's targets (_block_targets). scratch: 2 (n K + n) doubles for the
    block's n rows."""
    cdef Py_ssize_t K = R.n_classes, n = stop - start, m = n * K, i, j
    cdef const floating* x = z + start * K
    cdef double* a = scratch
    cdef double* b = a + m
    cdef double* total = b + m
    cdef double* comp = total + n
    cdef double w, pj, xj, d1, d2, loss, acc = 0.0, wacc = 0.0
    if not R.log_input:
        _check_unit_range(R, x, m, start)
    if g != NULL or h != NULL:
        for i in range(n):
            w = 1.0 if R.sample_weight == NULL else R.sample_weight[start + i]
            for j in range(K):
                pj = t[i * K + j]
                xj = x[i * K + j]
                d1 = -pj if R.log_input else -pj / xj
                d2 = 0.0 if R.log_input else (pj / xj) / xj   # not pj / xj^2: underflows < 1e-162
                d1 = (0.0 * xj if xj == xj else xj) if pj == 0.0 else d1
                d2 = (0.0 * xj if xj == xj else xj) if pj == 0.0 else d2
                _store(g + (start + i) * K if g != NULL else NULL,
                       h + (start + i) * K if h != NULL else NULL, j, d1, d2, w * R.scale, w,
                       R.hess_floor)
    if not R.grad_only:
        if _kl_parts(R, x, t, m, a, b) != 0.0:
            _kl_fix(x, t, m, a)
        for i in range(n):
            total[i] = 0.0
            comp[i] = 0.0
        for j in range(K):
            for i in range(n):
                _kl_add(a[i * K + j], &total[i], &comp[i])
                _kl_add(b[i * K + j], &total[i], &comp[i])
    for i in range(n):
        w = 1.0 if R.sample_weight == NULL else R.sample_weight[start + i]
        wacc += w
        if R.grad_only:
            continue
        # inf or NaN: the compensation is meaningless (inf - inf)
        loss = w * (total[i] if total[i] - total[i] != 0.0 else total[i] + comp[i])
        acc += loss
        if out != NULL:
            out[start + i] = <floating> loss
    loss_sum[0] = acc
    weight_sum[0] = wacc


# ------------------------------------------------------------------------------ the driver

cdef inline void _ce_labels_finish(const rows_t* R, const floating* z, floating* out,
                                   floating* g, floating* h, Py_ssize_t start, Py_ssize_t n,
                                   const double* e, Py_ssize_t stride_j, Py_ssize_t stride_i,
                                   const double* m, const double* rest, const double* log_s,
                                   double* loss_sum, double* weight_sum) noexcept nogil:
    """The row losses (and p - onehot(y)) of cross_entropy's rows from _block_softmax_labels'
    phases; row i's class j exponential is e[j * stride_j + i * stride_i]. With h, the gradient
    and the Hessian of _row_cross_entropy's general loop (a = onehot(y), total_a = 1): its bits."""
    cdef Py_ssize_t K = R.n_classes, i, j, label
    cdef const floating* zi
    cdef floating* gi
    cdef floating* hi
    cdef double w, loss, inv_s, gscale, p, q, a, acc = 0.0, wacc = 0.0
    cdef double g_at_max, g_below, h_at_max, h_below, gj, hj
    for i in range(n):
        zi = z + (start + i) * K
        label = R.labels[start + i]
        w = 1.0 if R.sample_weight == NULL else R.sample_weight[start + i]
        wacc += w
        loss = w * (log_s[i] - _shifted(zi[label], m[i]))
        acc += loss
        if out != NULL:
            out[start + i] = <floating> loss
        if h != NULL:
            gscale = w * R.scale
            inv_s = 1.0 / (1.0 + rest[i])
            q = rest[i] * inv_s            # 1 - p at the row max: rest / S, no cancellation
            hi = h + (start + i) * K
            gi = g + (start + i) * K if g != NULL else NULL
            for j in range(K):
                # both forms computed, then selected (a branch on the max mispredicted about
                # once a row)
                p = e[j * stride_j + i * stride_i] * inv_s
                a = 1.0 if j == label else 0.0
                g_at_max = (1.0 - a) - q
                g_below = p - a
                h_at_max = p * q
                h_below = p * (1.0 - p)
                gj = g_at_max if zi[j] == m[i] else g_below
                hj = h_at_max if zi[j] == m[i] else h_below
                hj = R.hess_floor if hj < R.hess_floor else hj
                if gi != NULL:
                    gi[j] = <floating> (gscale * gj)
                hi[j] = <floating> (w * hj)
        elif g != NULL:           # p - onehot(y), as _row_cross_entropy's common case
            gi = g + (start + i) * K
            gscale = w * R.scale
            inv_s = 1.0 / (1.0 + rest[i])
            for j in range(K):
                gi[j] = <floating> (gscale * (e[j * stride_j + i * stride_i] * inv_s))
            if zi[label] == m[i]:
                gi[label] = <floating> (gscale * -(rest[i] * inv_s))
            else:
                gi[label] = <floating> (gscale * (e[label * stride_j + i * stride_i] * inv_s - 1.0))
    loss_sum[0] = acc
    weight_sum[0] = wacc


cdef inline void _focal_labels_finish(const rows_t* R, const floating* z, floating* out,
                                      floating* g, floating* h, Py_ssize_t start, Py_ssize_t n,
                                      const double* e, Py_ssize_t stride_j, Py_ssize_t stride_i,
                                      const double* m, const double* rest, const double* log_s,
                                      double* loss_sum, double* weight_sum) noexcept nogil:
    """softmax_focal's rows from _block_softmax_labels' phases (as _ce_labels_finish)."""
    cdef Py_ssize_t K = R.n_classes, i
    cdef double w, loss, acc = 0.0, wacc = 0.0
    for i in range(n):
        w = 1.0 if R.sample_weight == NULL else R.sample_weight[start + i]
        wacc += w
        loss = w * _focal_row(R, z + (start + i) * K, R.labels[start + i], e + i * stride_i,
                              stride_j, m[i], rest[i], log_s[i],
                              g + (start + i) * K if g != NULL else NULL,
                              h + (start + i) * K if h != NULL else NULL, w * R.scale, w)
        acc += loss
        if out != NULL:
            out[start + i] = <floating> loss
    loss_sum[0] = acc
    weight_sum[0] = wacc


cdef inline void _softmax_labels_finish(const rows_t* R, const floating* z, floating* out,
                                        floating* g, floating* h, Py_ssize_t start, Py_ssize_t n,
                                        const double* e, Py_ssize_t stride_j,
                                        Py_ssize_t stride_i, const double* m, const double* rest,
                                        const double* log_s, double* loss_sum,
                                        double* weight_sum) noexcept nogil:
    if R.kind == CROSS_ENTROPY:
        _ce_labels_finish(R, z, out, g, h, start, n, e, stride_j, stride_i, m, rest, log_s,
                          loss_sum, weight_sum)
    else:
        _focal_labels_finish(R, z, out, g, h, start, n, e, stride_j, stride_i, m, rest, log_s,
                             loss_sum, weight_sum)


cdef void _block_softmax_labels_narrow(const rows_t* R, const floating* z, floating* out,
                                       floating* g, floating* h, Py_ssize_t start, Py_ssize_t stop,
                                       double* scratch, double* loss_sum,
                                       double* weight_sum) noexcept nogil:
    """_block_softmax_labels for few classes (K < NARROW_K), column by column: the same bits.

    With K = 10 a row is too short to vectorize along (its max, shift and lane sums cost more
    than its exponentials), so the block is transposed into scratch (class j of row i at
    j * n + i) and every phase runs down a column, across the rows. _exp_row's lanes are kept:
    class j goes to lane j % LANES of its row, in increasing j, then combine_lanes.
    """
    cdef Py_ssize_t K = R.n_classes, n = stop - start, i, j, l
    cdef double* zt = scratch             # (K, n) the logits, transposed
    cdef double* e = zt + n * K           # (K, n) their exponentials (stored if keep_e)
    cdef double* m = e + n * K            # (n,) row maxima
    cdef double* rest = m + n             # (n,) sum of e - 1
    cdef double* log_s = rest + n         # (n,) log1p(rest)
    cdef double* ties = log_s + n         # (n,) classes equal to the max
    cdef double* lanes = ties + n         # (LANES, n) _exp_row's accumulators
    cdef const floating* zb = z + start * K
    cdef double v
    # cross_entropy's value reads no exponential after this pass (softmax_focal's rows do)
    cdef bint keep_e = g != NULL or h != NULL or R.kind != CROSS_ENTROPY
    cdef bint f4 = floating is float and _exp_for_float32(R)
    cdef bint normal = True               # every row within fl__normal_exp_row
    cdef double* lo = rest                # row minima (rest is not computed yet)
    for j in range(K):                    # strided reads, contiguous writes
        for i in range(n):
            zt[j * n + i] = zb[i * K + j]
    for i in range(n):
        m[i] = -INFINITY
        lo[i] = INFINITY
        ties[i] = 0.0
    for l in range(LANES * n):
        lanes[l] = 0.0
    for j in range(K):                    # max and min ignore NaN, in any order: exact
        for i in range(n):
            v = zt[j * n + i]
            m[i] = v if v > m[i] else m[i]
            lo[i] = v if v < lo[i] else lo[i]
    for i in range(n):
        normal &= fl__normal_exp_row(m[i], lo[i])
    for j in range(K):                    # shift, exp and _exp_row's lanes in one pass
        fl_column_exp_rest_of(normal, f4, zt + j * n, m, n, lanes + (j % LANES) * n, ties,
                              e + j * n if keep_e else NULL)
    for i in range(n):
        rest[i] = ((((lanes[i] + lanes[n + i]) + (lanes[2 * n + i] + lanes[3 * n + i]))
                    + ((lanes[4 * n + i] + lanes[5 * n + i]) + (lanes[6 * n + i] + lanes[7 * n + i])))
                   + (ties[i] - 1.0))
        rest[i] = _rest_or_nan(rest[i], m[i])
    for i in range(n):
        log_s[i] = fl_log1p(rest[i])
    _softmax_labels_finish(R, z, out, g, h, start, n, e, n, 1, m, rest, log_s, loss_sum,
                           weight_sum)


cdef void _block_softmax_labels(const rows_t* R, const floating* z, floating* out,
                                floating* g, floating* h, Py_ssize_t start, Py_ssize_t stop,
                                double* scratch, double* loss_sum,
                                double* weight_sum) noexcept nogil:
    """_block for the softmax losses' common calls: cross_entropy with labels, no smoothing, no
    class weights, no ignore_index; softmax_focal (every call: it has no row-by-row path).

    The same math as _row_cross_entropy (the same functions, so the same bits), done a phase
    at a time over all the rows of the block: each row's exponentials and their sum (_exp_row),
    then the row log1p's in one loop, which vectorizes across rows; then the row losses.
    """
    cdef Py_ssize_t K = R.n_classes, n = stop - start, i
    cdef double* e = scratch              # (n, K) the exponentials
    cdef double* m = scratch + n * K      # (n,) row maxima
    cdef double* rest = m + n             # (n,) sum of e - 1
    cdef double* log_s = rest + n         # (n,) log1p(rest)
    if K < NARROW_K:
        _block_softmax_labels_narrow(R, z, out, g, h, start, stop, scratch, loss_sum, weight_sum)
        return
    for i in range(n):
        rest[i] = _exp_row(R, z + (start + i) * K, K, e + i * K, &m[i])
    for i in range(n):
        log_s[i] = fl_log1p(rest[i])
    _softmax_labels_finish(R, z, out, g, h, start, n, e, 1, K, m, rest, log_s, loss_sum,
                           weight_sum)


cdef inline const double* _block_targets(const rows_t* R, Py_ssize_t start, Py_ssize_t stop,
                                        double* spare) noexcept nogil:
    """The probability targets of rows [start, stop) as float64, or NULL (labels): R.targets'
    rows, or R.targets_f4's widened into spare ((stop - start) K doubles), so float32 targets
    are never copied whole. With R.range_flags, flags the block (RANGE_TARGET) if a target lies
    outside [0, 1] (NaN passes; t (1 - t) < 0 exactly then), while the block is in cache."""
    cdef Py_ssize_t K = R.n_classes, m = (stop - start) * K, k
    cdef const double* t
    cdef unsigned long long bad = 0
    if R.targets_f4 != NULL:
        for k in range(m):
            spare[k] = R.targets_f4[start * K + k]
        t = spare
    elif R.targets != NULL:
        t = R.targets + start * K
    else:
        return NULL
    if R.range_flags != NULL:
        for k in range(m):
            bad |= -<unsigned long long> (t[k] * (1.0 - t[k]) < 0.0)
        if bad != 0:
            R.range_flags[start // R.block_rows] |= RANGE_TARGET
    return t


cdef void _block(const rows_t* R, const floating* z, floating* out, floating* g, floating* h,
                 Py_ssize_t start, Py_ssize_t stop, double* e,
                 double* loss_sum, double* weight_sum) noexcept nogil:
    """Rows [start, stop): their weighted loss and weight sums, in row order (deterministic).

    e is the thread's scratch (_scratch_per_thread(K, rows) doubles, rows >= stop - start).

    The weight of a row (the "mean" denominator) is its sample weight, times its class weight
    for cross_entropy with labels (PyTorch's weighted mean); an ignored row weighs 0 and gets a
    zero loss and gradient.
    """
    cdef Py_ssize_t K = R.n_classes, i, j
    cdef Py_ssize_t label = -1
    cdef const double* t = NULL
    cdef const double* tb = NULL
    cdef floating* gi = NULL
    cdef floating* hi = NULL
    cdef double w, row_weight, loss, acc = 0.0, wacc = 0.0
    if not R.weights_only:
        tb = _block_targets(R, start, stop, e + _scratch_in_use(K, stop - start))
    if (R.kind == CROSS_ENTROPY and R.labels != NULL and R.smoothing == 0.0
            and R.class_weight == NULL and not R.has_ignore and not R.weights_only):
        _block_softmax_labels(R, z, out, g, h, start, stop, e, loss_sum, weight_sum)
        return
    if R.kind == SOFTMAX_FOCAL and not R.weights_only:   # (labels only)
        _block_softmax_labels(R, z, out, g, h, start, stop, e, loss_sum, weight_sum)
        return
    if R.kind == KL_DIVERGENCE and not R.weights_only:
        _block_kl(R, z, tb, out, g, h, start, stop, e, loss_sum, weight_sum)
        return
    if R.kind == CATEGORICAL_CROSS_ENTROPY and not R.weights_only:
        _block_cce(R, z, tb, out, g, h, start, stop, e, loss_sum, weight_sum)
        return
    if R.kind == MULTICLASS_HINGE and not R.weights_only:
        _block_multiclass_hinge(R, z, out, g, h, start, stop, e, loss_sum, weight_sum)
        return
    for i in range(start, stop):
        w = 1.0 if R.sample_weight == NULL else R.sample_weight[i]
        if R.labels != NULL:
            label = R.labels[i]
        else:
            t = tb + (i - start) * K if tb != NULL else NULL
        if g != NULL:
            gi = g + i * K
        if h != NULL:
            hi = h + i * K
        if R.has_ignore and label == R.ignore_index:
            for j in range(K):
                _store(gi, hi, j, 0.0, 0.0, 0.0, w, R.hess_floor)
            if out != NULL:
                out[i] = 0.0
            continue
        row_weight = w
        if R.kind == CROSS_ENTROPY and R.labels != NULL and R.class_weight != NULL:
            row_weight = w * R.class_weight[label]
        wacc += row_weight
        if R.weights_only:
            continue
        # (only cross_entropy's rows get here: the other kinds have their own _block_*)
        loss = w * _row_cross_entropy(R, z + i * K, label, t, e, gi, hi, w * R.scale, w)
        acc += loss
        if out != NULL:
            out[i] = <floating> loss
    loss_sum[0] = acc
    weight_sum[0] = wacc


cdef inline Py_ssize_t _scratch_in_use(Py_ssize_t K, Py_ssize_t rows) noexcept nogil:
    """Doubles of scratch the block functions use for `rows` rows: their logits transposed,
    their exponentials and 4 + LANES values per row (_block_softmax_labels_narrow; the row-wise
    phases, _block_kl and _block_cce use less)."""
    return 2 * rows * K + (4 + LANES) * rows


cdef inline Py_ssize_t _scratch_per_thread(Py_ssize_t K, Py_ssize_t rows) noexcept nogil:
    """Doubles of scratch a thread needs for blocks of `rows` rows: _scratch_in_use, then the
    block's widened float32 targets (_block_targets)."""
    return _scratch_in_use(K, rows) + rows * K


cdef inline Py_ssize_t _rows_per_block(Py_ssize_t K) noexcept nogil:
    """Rows per reduction block: about BLOCK elements, fixed by K alone (not by the threads)."""
    return BLOCK // K if BLOCK // K > 0 else 1


cdef (double, double) _drive(const rows_t* R, const floating* z, floating* out, floating* g,
                             floating* h, double* scratch, double* sums, Py_ssize_t rows,
                             int n_threads) noexcept nogil:
    cdef Py_ssize_t K = R.n_classes, N = R.n_rows
    cdef Py_ssize_t nb = (N + rows - 1) // rows, b, start
    for b in prange(nb, schedule="dynamic", chunksize=blocks_per_grab(nb, n_threads),
                    num_threads=n_threads, use_threads_if=n_threads > 1):
        start = b * rows
        _block(R, z, out, g, h, start, min(start + rows, N),
               scratch + threadid() * _scratch_per_thread(K, rows),
               &sums[b], &sums[nb + b])
    return pairwise_sum(sums, nb), pairwise_sum(sums + nb, nb)


cdef inline rows_t _rows(int kind, Py_ssize_t N, Py_ssize_t K, const Py_ssize_t* labels,
                         const double* targets, const double* sample_weight,
                         const double* class_weight, bint has_ignore, Py_ssize_t ignore_index,
                         double smoothing, double margin, double gamma, double eps,
                         bint log_input, double scale, double hess_floor,
                         bint weights_only, bint grad_only) noexcept nogil:
    """The rows_t of a call (run() and fast_rows build it here, field by field once)."""
    cdef rows_t R
    R.kind = kind
    R.n_rows = N
    R.n_classes = K
    R.labels = labels
    R.targets = targets
    R.targets_f4 = NULL
    R.sample_weight = sample_weight
    R.class_weight = class_weight
    R.has_ignore = has_ignore
    R.ignore_index = ignore_index
    R.smoothing = smoothing
    R.margin = margin
    R.gamma = gamma
    R.eps = eps
    R.log_input = log_input
    R.scale = scale
    R.hess_floor = hess_floor
    R.weights_only = weights_only
    R.grad_only = grad_only
    R.range_flags = NULL
    R.block_rows = _rows_per_block(K)
    return R


def run(int kind, const floating[:, ::1] z, const Py_ssize_t[::1] labels,
        const double[:, ::1] targets, const double[::1] sample_weight,
        const double[::1] class_weight, floating[::1] out, floating[:, ::1] g,
        floating[:, ::1] h, *, bint has_ignore=False, Py_ssize_t ignore_index=0,
        double smoothing=0.0, double margin=1.0, double gamma=0.0, double eps=0.0,
        bint log_input=False, double scale=1.0, double hess_floor=0.0,
        bint weights_only=False, bint grad_only=False, int n_threads=1, double[::1] block_sums=None,
        Py_ssize_t block_rows=0, unsigned char[::1] range_flag=None,
        const float[:, ::1] targets_f4=None):
    """(sum of w * row loss, sum of row weights) over the rows of z, writing what is asked.

    ``labels`` or ``targets`` (the other empty), ``sample_weight`` and ``class_weight`` may be
    empty (absent). ``out`` (per-row w * loss), ``g`` (scale * w * d loss / dz) and ``h``
    (w * max(d2 loss / dz2, hess_floor)) are written only when not empty. Inputs must be
    validated: labels in [0, K) or equal to ignore_index, shapes consistent.

    ``block_sums`` (fl.score): also keep the per-block sums, for blocks of ``block_rows`` rows
    (0: the default blocks): the loss sums in ``block_sums[:nb]`` and the row weight sums in
    ``block_sums[nb:2 * nb]``, nb = ceil(N / rows); it must hold 2 * nb values.

    ``targets_f4``: float32 probability targets, in place of ``targets`` (left empty); each
    block widens its own rows.

    ``range_flag`` (one value): probability targets, and the predictions of the kinds whose
    predictions are probabilities (categorical_cross_entropy, kl_divergence without log_input),
    are then checked in the pass that reads them: ``range_flag[0]`` gets RANGE_TARGET (2) if a
    target and RANGE_PREDICTION (1) if a prediction lies outside [0, 1]; the caller raises (the
    rest of the result is then meaningless). Not checked on a weights-only call.
    """
    cdef rows_t R
    cdef Py_ssize_t N = z.shape[0], K = z.shape[1], nb, rows, b
    cdef double* scratch
    cdef double* sums
    cdef unsigned char* flags = NULL
    cdef double total, weight_total
    if range_flag is not None and range_flag.shape[0] < 1:
        raise ValueError("range_flag must hold one value")
    if N == 0 or K == 0:
        return 0.0, 0.0
    R = _rows(kind, N, K, &labels[0] if labels.shape[0] > 0 else NULL,
              &targets[0, 0] if targets.shape[0] > 0 else NULL,
              &sample_weight[0] if sample_weight.shape[0] > 0 else NULL,
              &class_weight[0] if class_weight.shape[0] > 0 else NULL,
              has_ignore, ignore_index, smoothing, margin, gamma, eps, log_input, scale,
              hess_floor, weights_only, grad_only)
    if targets_f4 is not None and targets_f4.shape[0] > 0:
        R.targets_f4 = &targets_f4[0, 0]
    cdef floating* op = &out[0] if out.shape[0] > 0 else NULL
    cdef floating* gp = &g[0, 0] if g.shape[0] > 0 else NULL
    cdef floating* hp = &h[0, 0] if h.shape[0] > 0 else NULL
    rows = block_rows if block_rows > 0 else _rows_per_block(K)
    R.block_rows = rows
    nb = (N + rows - 1) // rows
    if block_sums is not None and block_sums.shape[0] < 2 * nb:
        raise ValueError("block_sums must hold 2 * ceil(N / block_rows) values")
    if n_threads < 1:
        n_threads = 1
    scratch = <double*> malloc(n_threads * _scratch_per_thread(K, rows) * sizeof(double))
    sums = &block_sums[0] if block_sums is not None else <double*> malloc(2 * nb * sizeof(double))
    if range_flag is not None:
        flags = <unsigned char*> calloc(nb, 1)
        R.range_flags = flags
    if scratch == NULL or sums == NULL or (range_flag is not None and flags == NULL):
        free(scratch)
        free(flags)
        if block_sums is None:
            free(sums)
        raise MemoryError()
    with nogil:
        total, weight_total = _drive(&R, &z[0, 0], op, gp, hp, scratch, sums, rows, n_threads)
    if range_flag is not None:
        for b in range(nb):
            range_flag[0] |= flags[b]
        free(flags)
    free(scratch)
    if block_sums is None:
        free(sums)
    return total, weight_total


# ------------------------------------------------------------------------------ per-call fast path

def fast_rows(int op, object y_true, object y_pred, Py_ssize_t max_size, tuple config):
    """The common call of a labels loss without the general path's Python layers, or None.

    op: FAST_VALUE, FAST_GRAD or FAST_VALUE_AND_GRAD of _fastpath.pxd, for reduction "mean",
    unit weights, a new gradient array, one thread; FAST_GRAD_HESS: the per-element gradient
    and Hessian (hess_floor 0), new arrays; config: (kind,), the loss run with run()'s
    default keyword arguments (no class weights, no ignore_index, no smoothing), for the kinds
    whose rows take labels and no parameter: cross_entropy (others raise). Handled: ready
    (N, K) logits (_fastpath.ready, float32 or float64) and ready np.intp labels of shape (N,),
    all in [0, K), with 0 < N * K < max_size; anything else returns None, for the general path
    (fastloss.losses.multiclass) to validate, convert or raise. The result is bitwise the
    general path's: the same driver, on one thread, as the general path runs below max_size.
    """
    if len(config) != 1 or config[0] != CROSS_ENTROPY:
        raise ValueError(f"fast_rows computes cross_entropy only, got config {config!r}")
    cdef int pc = float_code(y_pred)
    if pc < 0 or not ready(y_true, cnp.NPY_INTP):
        return None
    cdef cnp.ndarray z = <cnp.ndarray> y_pred, labels = <cnp.ndarray> y_true
    if cnp.PyArray_NDIM(z) != 2 or cnp.PyArray_NDIM(labels) != 1:
        return None
    cdef Py_ssize_t N = cnp.PyArray_DIMS(z)[0], K = cnp.PyArray_DIMS(z)[1], i
    if N == 0 or K == 0 or cnp.PyArray_DIMS(labels)[0] != N or N * K >= max_size:
        return None
    cdef const Py_ssize_t* lp = <const Py_ssize_t*> cnp.PyArray_DATA(labels)
    for i in range(N):
        if lp[i] < 0 or lp[i] >= K:
            return None
    # grad_hess: the general path's run(g, h, scale 1, hess_floor 0, grad_only)
    cdef bint both = op == FAST_GRAD_HESS
    cdef rows_t R = _rows(config[0], N, K, lp, NULL, NULL, NULL, False, 0, 0.0, 1.0, 0.0, 0.0,
                          False, 1.0 / <double> N if op != FAST_VALUE and not both else 1.0,
                          0.0, False, both)
    cdef object grad = None, hess = None
    cdef void* gp = NULL
    cdef void* hp = NULL
    if op != FAST_VALUE:
        grad = cnp.PyArray_EMPTY(2, cnp.PyArray_DIMS(z), cnp.PyArray_TYPE(z), 0)
        gp = cnp.PyArray_DATA(<cnp.ndarray> grad)
    if both:
        hess = cnp.PyArray_EMPTY(2, cnp.PyArray_DIMS(z), cnp.PyArray_TYPE(z), 0)
        hp = cnp.PyArray_DATA(<cnp.ndarray> hess)
    cdef Py_ssize_t rows = _rows_per_block(K)
    cdef Py_ssize_t nb = (N + rows - 1) // rows, b, start
    # _block's scratch for blocks of at most min(rows, N) rows
    cdef double* scratch = <double*> malloc(_scratch_per_thread(K, min(rows, N)) * sizeof(double))
    cdef double* sums = <double*> malloc(2 * nb * sizeof(double))
    cdef const void* zp = cnp.PyArray_DATA(z)
    cdef double total, weight_total
    if scratch == NULL or sums == NULL:
        free(scratch)
        free(sums)
        raise MemoryError()
    with nogil:
        # _drive's blocks in _drive's order, on this thread: no OpenMP region to start.
        for b in range(nb):
            start = b * rows
            if pc == 0:
                _block(&R, <const double*> zp, <double*> NULL, <double*> gp, <double*> hp,
                       start, min(start + rows, N), scratch, &sums[b], &sums[nb + b])
            else:
                _block(&R, <const float*> zp, <float*> NULL, <float*> gp, <float*> hp,
                       start, min(start + rows, N), scratch, &sums[b], &sums[nb + b])
        total = pairwise_sum(sums, nb)
        weight_total = pairwise_sum(sums + nb, nb)
    free(scratch)
    free(sums)
    # The mean's denominator: the kernel's weight total for the value, the row count for the
    # gradient's scale, as the general path's (MulticlassLoss._value / _scale).
    if op == FAST_VALUE:
        return total / weight_total
    if op == FAST_GRAD:
        return grad
    if both:
        return grad, hess
    return total / <double> N, grad
