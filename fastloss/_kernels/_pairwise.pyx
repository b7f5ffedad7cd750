# cython: language_level=3
"""Pairwise / metric-learning kernels over (N, D) embeddings (private; fastloss.losses.metric validates).

Layout: one row = one sample; OpenMP splits the rows. Reductions over rows are deterministic:
rows are grouped in fixed blocks of ROWS rows (independent of the thread count), each block is
summed in row order in float64, and the block sums are combined with ``pairwise_sum``.
Within a row the D coordinates are summed in LANES fixed accumulators (vectorizable, fixed order).

Each kernel does everything in one pass: the (weighted) loss sum, optionally the per-row losses
(``row_out``) and optionally the gradients of ``scale * w_i * l_i`` for every input.
Arrays that are not wanted are passed as None.
"""
from cython.parallel cimport prange
from libc.math cimport fabs, sqrt, pow
from libc.stdlib cimport malloc, free

from fastloss._kernels._common cimport LANES, pairwise_sum, combine_lanes, sign_nan

ctypedef fused floating:
    float
    double

cdef enum:
    ROWS = 64      # rows per reduction block (fixed: it defines the summation order)

cdef enum:
    NORM_GENERAL = 0
    NORM_1 = 1
    NORM_2 = 2


# ------------------------------------------------------------------------------ helpers

cdef inline double _hinge_active(double z) noexcept nogil:
    """d max(0, z) / dz: 1 for z > 0, 0 for z <= 0 (the subgradient at the kink), NaN for NaN."""
    if z > 0.0:
        return 1.0
    if z <= 0.0:
        return 0.0
    return z


cdef inline double _hinge(double z) noexcept nogil:
    """max(0, z) with NaN propagated."""
    if z <= 0.0:
        return 0.0
    return z


cdef inline double _pnorm_diff(const floating* x, const floating* y, Py_ssize_t d,
                               double p, int kind, double eps) noexcept nogil:
    """||x - y + eps||_p (PyTorch's pairwise_distance: eps is added to the difference)."""
    cdef double acc[LANES]
    cdef Py_ssize_t i, j, body = (d // LANES) * LANES
    cdef double v
    for j in range(LANES):
        acc[j] = 0.0
    i = 0
    if kind == NORM_2:
        while i < body:
            for j in range(LANES):
                v = (<double> x[i + j] - <double> y[i + j]) + eps
                acc[j] += v * v
            i += LANES
        for i in range(body, d):
            v = (<double> x[i] - <double> y[i]) + eps
            acc[i - body] += v * v
        return sqrt(combine_lanes(acc))
    if kind == NORM_1:
        while i < body:
            for j in range(LANES):
                acc[j] += fabs((<double> x[i + j] - <double> y[i + j]) + eps)
            i += LANES
        for i in range(body, d):
            acc[i - body] += fabs((<double> x[i] - <double> y[i]) + eps)
        return combine_lanes(acc)
    while i < body:
        for j in range(LANES):
            acc[j] += pow(fabs((<double> x[i + j] - <double> y[i + j]) + eps), p)
        i += LANES
    for i in range(body, d):
        acc[i - body] += pow(fabs((<double> x[i] - <double> y[i]) + eps), p)
    return pow(combine_lanes(acc), 1.0 / p)


cdef inline double _pnorm_partial(double v, double dist, double p, int kind) noexcept nogil:
    """d ||v||_p / d v_j = sign(v_j) (|v_j| / ||v||)^(p-1); 0 at a zero distance (a subgradient).

    For p = 1 and general p; the p = 2 loop in _triplet_row inlines v_j / ||v||.
    """
    if kind == NORM_1:
        return sign_nan(v)
    if dist == 0.0:
        return 0.0
    return sign_nan(v) * pow(fabs(v) / dist, p - 1.0)


cdef inline void _dots3(const floating* a, const floating* b, const floating* c, Py_ssize_t d,
                        double* out) noexcept nogil:
    """out = [a.a, b.b, c.c, a.b, a.c, b.c] in float64 (fixed lane order)."""
    cdef double acc[6][LANES]
    cdef Py_ssize_t i, j, k, body = (d // LANES) * LANES
    cdef double x, y, z
    for k in range(6):
        for j in range(LANES):
            acc[k][j] = 0.0
    i = 0
    while i < body:
        for j in range(LANES):
            x = a[i + j]
            y = b[i + j]
            z = c[i + j]
            acc[0][j] += x * x
            acc[1][j] += y * y
            acc[2][j] += z * z
            acc[3][j] += x * y
            acc[4][j] += x * z
            acc[5][j] += y * z
        i += LANES
    for i in range(body, d):
        j = i - body
        x = a[i]
        y = b[i]
        z = c[i]
        acc[0][j] += x * x
        acc[1][j] += y * y
        acc[2][j] += z * z
        acc[3][j] += x * y
        acc[4][j] += x * z
        acc[5][j] += y * z
    for k in range(6):
        out[k] = combine_lanes(acc[k])


# ------------------------------------------------------------------------------ triplet: one row

cdef inline double _triplet_row(
        const floating* a, const floating* p, const floating* n, Py_ssize_t d,
        floating* ga, floating* gp, floating* gn, double coef,
        double margin, double pw, int kind, bint swap, double eps, bint cosine) noexcept nogil:
    """Loss of one triplet; when ga != NULL writes coef * d(loss)/d(each input) for the row."""
    cdef double d_ap, d_an, d_pn = 0.0, z, act, c, u, t, v
    cdef double dots[6]
    cdef double na, np_, nn, cap, can, cpn, ra, rp, rn, ia, ib
    cdef bint swapped = False
    cdef Py_ssize_t j
    if cosine:
        # d(x, y) = 1 - x.y / (max(|x|, eps) max(|y|, eps))
        _dots3(a, p, n, d, dots)
        na = sqrt(dots[0])
        np_ = sqrt(dots[1])
        nn = sqrt(dots[2])
        na = na if na > eps else eps
        np_ = np_ if np_ > eps else eps
        nn = nn if nn > eps else eps
        cap = dots[3] / (na * np_)
        can = dots[4] / (na * nn)
        cpn = dots[5] / (np_ * nn)
        d_ap = 1.0 - cap
        d_an = 1.0 - can
        if swap:
            d_pn = 1.0 - cpn
            if d_pn < d_an:
                swapped = True
                d_an = d_pn
    else:
        d_ap = _pnorm_diff(a, p, d, pw, kind, eps)
        d_an = _pnorm_diff(a, n, d, pw, kind, eps)
        if swap:
            d_pn = _pnorm_diff(p, n, d, pw, kind, eps)
            if d_pn < d_an:
                swapped = True
                d_an = d_pn
    z = d_ap - d_an + margin
    if ga == NULL:
        return _hinge(z)
    act = _hinge_active(z)
    c = coef * act
    if c == 0.0:
        # an inactive triplet (or a zero weight): no gradient, nothing to compute
        for j in range(d):
            ga[j] = 0.0
            gp[j] = 0.0
            gn[j] = 0.0
        return _hinge(z)
    if cosine:
        # d cos(x, y) / dx = y / (nx ny) - cos(x, y) x / nx^2, the second term only where
        # |x| > eps (below it the norm is the constant eps). r* hold 1 / n^2 or 0.
        ra = 1.0 / (na * na) if sqrt(dots[0]) > eps else 0.0
        rp = 1.0 / (np_ * np_) if sqrt(dots[1]) > eps else 0.0
        rn = 1.0 / (nn * nn) if sqrt(dots[2]) > eps else 0.0
        for j in range(d):
            # u, t: d D(a, p) / da and / dp, with D = 1 - cos
            u = cap * ra * a[j] - p[j] / (na * np_)
            t = cap * rp * p[j] - a[j] / (na * np_)
            if not swapped:
                ga[j] = <floating> (c * (u - (can * ra * a[j] - n[j] / (na * nn))))
                gp[j] = <floating> (c * t)
                gn[j] = <floating> (-c * (can * rn * n[j] - a[j] / (na * nn)))
            else:
                ga[j] = <floating> (c * u)
                gp[j] = <floating> (c * (t - (cpn * rp * p[j] - n[j] / (np_ * nn))))
                gn[j] = <floating> (-c * (cpn * rn * n[j] - p[j] / (np_ * nn)))
        return _hinge(z)
    if kind == NORM_2:
        # the common case: d ||v|| / dv = v / ||v||; one reciprocal per row, a vectorizable loop
        # (a zero distance gives 0, a NaN one NaN)
        ia = 0.0 if d_ap == 0.0 else c / d_ap
        ib = 0.0 if d_an == 0.0 else c / d_an
        if not swapped:
            for j in range(d):
                u = ia * ((<double> a[j] - <double> p[j]) + eps)
                v = ib * ((<double> a[j] - <double> n[j]) + eps)
                ga[j] = <floating> (u - v)
                gp[j] = <floating> (-u)
                gn[j] = <floating> v
        else:
            for j in range(d):
                u = ia * ((<double> a[j] - <double> p[j]) + eps)
                t = ib * ((<double> p[j] - <double> n[j]) + eps)
                ga[j] = <floating> u
                gp[j] = <floating> (-u - t)
                gn[j] = <floating> t
        return _hinge(z)
    for j in range(d):
        # u = d d(a,p) / da = -d d(a,p) / dp
        u = _pnorm_partial((<double> a[j] - <double> p[j]) + eps, d_ap, pw, kind)
        if not swapped:
            v = _pnorm_partial((<double> a[j] - <double> n[j]) + eps, d_an, pw, kind)
            ga[j] = <floating> (c * (u - v))
            gp[j] = <floating> (-c * u)
            gn[j] = <floating> (c * v)
        else:
            t = _pnorm_partial((<double> p[j] - <double> n[j]) + eps, d_pn, pw, kind)
            ga[j] = <floating> (c * u)
            gp[j] = <floating> (c * (-u - t))
            gn[j] = <floating> (c * t)
    return _hinge(z)


def triplet(const floating[:, ::1] anchor, const floating[:, ::1] positive,
            const floating[:, ::1] negative, const double[::1] w, floating[::1] row_out,
            floating[:, ::1] g_anchor, floating[:, ::1] g_positive, floating[:, ::1] g_negative,
            double scale, double margin, double p, bint swap, double eps, bint cosine,
            int n_threads):
    """(sum of w * loss, sum of w) over rows; optional per-row w * loss and scaled gradients.

    row_out[i] = w_i * l_i when row_out is given; the gradients (all three or none) receive
    scale * w_i * d l_i / d input.
    """
    cdef Py_ssize_t n = anchor.shape[0], d = anchor.shape[1]
    cdef Py_ssize_t nb = (n + ROWS - 1) // ROWS, b, i, start, stop
    cdef int kind = NORM_2 if p == 2.0 else (NORM_1 if p == 1.0 else NORM_GENERAL)
    cdef const double* wp = NULL
    cdef floating* rp = NULL
    cdef floating* gap = NULL
    cdef floating* gpp = NULL
    cdef floating* gnp = NULL
    cdef double* sums
    cdef double acc, wacc, wi, li, total, wtotal
    if n == 0:
        return 0.0, 0.0
    if w is not None:
        wp = &w[0]
    if row_out is not None:
        rp = &row_out[0]
    if g_anchor is not None and d > 0:
        gap = &g_anchor[0, 0]
        gpp = &g_positive[0, 0]
        gnp = &g_negative[0, 0]
    # D may be 0: rows of no coordinates (distance 0); pointers are then never dereferenced.
    cdef const floating* ap = &anchor[0, 0] if d > 0 else NULL
    cdef const floating* pp = &positive[0, 0] if d > 0 else NULL
    cdef const floating* np_ = &negative[0, 0] if d > 0 else NULL
    sums = <double*> malloc(2 * nb * sizeof(double))
    if sums == NULL:
        raise MemoryError()
    with nogil:
        for b in prange(nb, schedule="static", num_threads=n_threads, use_threads_if=n_threads > 1):
            start = b * ROWS
            stop = min(start + ROWS, n)
            acc = 0.0
            wacc = 0.0
            for i in range(start, stop):
                wi = 1.0 if wp == NULL else wp[i]
                li = _triplet_row(ap + i * d, pp + i * d, np_ + i * d, d,
                                  gap + i * d if gap != NULL else NULL,
                                  gpp + i * d if gap != NULL else NULL,
                                  gnp + i * d if gap != NULL else NULL,
                                  scale * wi, margin, p, kind, swap, eps, cosine)
                acc = acc + wi * li
                wacc = wacc + wi
                if rp != NULL:
                    rp[i] = <floating> (wi * li)
            sums[b] = acc
            sums[nb + b] = wacc
        total = pairwise_sum(sums, nb)
        wtotal = pairwise_sum(sums + nb, nb) if wp != NULL else <double> n
    free(sums)
    return total, wtotal


# ------------------------------------------------------------------------------ contrastive

cdef inline double _contrastive_row(
        const floating* x1, const floating* x2, Py_ssize_t d, double y,
        floating* g1, floating* g2, double coef, double margin) noexcept nogil:
    """l = (y d^2 + (1 - y) max(0, margin - d)^2) / 2 with d = ||x1 - x2||_2; optional gradients."""
    cdef double acc[LANES]
    cdef Py_ssize_t i, j, body = (d // LANES) * LANES
    cdef double v, sq, dist, gap, k
    for j in range(LANES):
        acc[j] = 0.0
    i = 0
    while i < body:
        for j in range(LANES):
            v = <double> x1[i + j] - <double> x2[i + j]
            acc[j] += v * v
        i += LANES
    for i in range(body, d):
        v = <double> x1[i] - <double> x2[i]
        acc[i - body] += v * v
    sq = combine_lanes(acc)
    dist = sqrt(sq)
    gap = _hinge(margin - dist)
    if g1 != NULL:
        # dl/dx1 = (y - (1 - y) gap / d) (x1 - x2); the pushing term is taken as 0 at d == 0,
        # where its direction is undefined (0 is in its Clarke subdifferential).
        k = y
        if dist > 0.0:
            k = k - (1.0 - y) * gap / dist
        elif dist != dist:
            k = dist
        k = k * coef
        for i in range(d):
            v = <double> x1[i] - <double> x2[i]
            g1[i] = <floating> (k * v)
            g2[i] = <floating> (-(k * v))
    return 0.5 * (y * sq + (1.0 - y) * gap * gap)


def contrastive(const floating[:, ::1] x1, const floating[:, ::1] x2, const double[::1] same,
                const double[::1] w, floating[::1] row_out,
                floating[:, ::1] g1, floating[:, ::1] g2,
                double scale, double margin, int n_threads):
    """(sum of w * loss, sum of w) over rows; optional per-row w * loss and scaled gradients."""
    cdef Py_ssize_t n = x1.shape[0], d = x1.shape[1]
    cdef Py_ssize_t nb = (n + ROWS - 1) // ROWS, b, i, start, stop
    cdef const double* wp = NULL
    cdef floating* rp = NULL
    cdef floating* g1p = NULL
    cdef floating* g2p = NULL
    cdef double* sums
    cdef double acc, wacc, wi, li, total, wtotal
    if n == 0:
        return 0.0, 0.0
    if w is not None:
        wp = &w[0]
    if row_out is not None:
        rp = &row_out[0]
    if g1 is not None and d > 0:
        g1p = &g1[0, 0]
        g2p = &g2[0, 0]
    cdef const floating* ap = &x1[0, 0] if d > 0 else NULL
    cdef const floating* bp = &x2[0, 0] if d > 0 else NULL
    cdef const double* yp = &same[0]
    sums = <double*> malloc(2 * nb * sizeof(double))
    if sums == NULL:
        raise MemoryError()
    with nogil:
        for b in prange(nb, schedule="static", num_threads=n_threads, use_threads_if=n_threads > 1):
            start = b * ROWS
            stop = min(start + ROWS, n)
            acc = 0.0
            wacc = 0.0
            for i in range(start, stop):
                wi = 1.0 if wp == NULL else wp[i]
                li = _contrastive_row(ap + i * d, bp + i * d, d, yp[i],
                                      g1p + i * d if g1p != NULL else NULL,
                                      g2p + i * d if g1p != NULL else NULL,
                                      scale * wi, margin)
                acc = acc + wi * li
                wacc = wacc + wi
                if rp != NULL:
                    rp[i] = <floating> (wi * li)
            sums[b] = acc
            sums[nb + b] = wacc
        total = pairwise_sum(sums, nb)
        wtotal = pairwise_sum(sums + nb, nb) if wp != NULL else <double> n
    free(sums)
    return total, wtotal
