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
from libc.math cimport INFINITY, fabs, fma, frexp, ldexp, sqrt, pow
from libc.stdlib cimport malloc, free

from fastloss._kernels._common cimport (LANES, blocks_per_grab, pairwise_sum, combine_lanes,
                                       sign_nan)

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


cdef enum:
    # Below 2**-900 a sum of squares (or p-th powers) may have lost terms to underflow; it is
    # recomputed with the differences scaled by a power of two (exact), as for an overflow.
    RESCALE_BELOW_EXP = -900


cdef inline double _scaled_pnorm(const floating* x, const floating* y, Py_ssize_t d,
                                 double p, int kind, double eps) noexcept nogil:
    """||x - y + eps||_p without overflow or underflow: for p = 2 the differences are scaled
    by 2^-e, 2^e the magnitude of the largest (exact), then the norm is scaled back (the rare
    path of tiny or huge embeddings); for other p they are divided by the largest."""
    cdef Py_ssize_t i
    cdef double v, top = 0.0, acc = 0.0
    cdef int e
    for i in range(d):
        v = fabs((<double> x[i] - <double> y[i]) + eps)
        if v != v:
            return v
        if v > top:
            top = v
    if top == 0.0 or top == INFINITY:
        return top
    if kind != NORM_2:        # |v_j| / top in [0, 1]: exactly 1 for the largest
        for i in range(d):
            acc += pow(fabs((<double> x[i] - <double> y[i]) + eps) / top, p)
        return top * pow(acc, 1.0 / p)
    frexp(top, &e)
    for i in range(d):
        v = ldexp(fabs((<double> x[i] - <double> y[i]) + eps), -e)
        acc += v * v
    return ldexp(sqrt(acc), e)


cdef inline bint _needs_rescale(double s) noexcept nogil:
    """A sum of squares / p-th powers that overflowed or may have lost terms to underflow."""
    return s == INFINITY or s < ldexp(1.0, RESCALE_BELOW_EXP)


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
        v = combine_lanes(acc)
        if _needs_rescale(v):
            return _scaled_pnorm(x, y, d, p, kind, eps)
        return sqrt(v)
    if kind == NORM_1:
        while i < body:
            for j in range(LANES):
                acc[j] += fabs((<double> x[i + j] - <double> y[i + j]) + eps)
            i += LANES
        for i in range(body, d):
            acc[i - body] += fabs((<double> x[i] - <double> y[i]) + eps)
        return combine_lanes(acc)
    # general p: always scaled by the largest |v_j| (pow dominates the cost anyway), which
    # also makes a single nonzero coordinate exact (pow(pow(5, 3), 1/3) is not 5)
    return _scaled_pnorm(x, y, d, p, kind, eps)


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
                        double sa, double sb, double sc, double* out) noexcept nogil:
    """out = [a.a, b.b, c.c, a.b, a.c, b.c] of the scaled vectors sa a, sb b, sc c, in float64
    (fixed lane order). The scales are powers of two (exact), 1 unless a norm would over- or
    underflow."""
    cdef double acc[6][LANES]
    cdef Py_ssize_t i, j, k, body = (d // LANES) * LANES
    cdef double x, y, z
    for k in range(6):
        for j in range(LANES):
            acc[k][j] = 0.0
    i = 0
    while i < body:
        for j in range(LANES):
            x = sa * a[i + j]
            y = sb * b[i + j]
            z = sc * c[i + j]
            acc[0][j] += x * x
            acc[1][j] += y * y
            acc[2][j] += z * z
            acc[3][j] += x * y
            acc[4][j] += x * z
            acc[5][j] += y * z
        i += LANES
    for i in range(body, d):
        j = i - body
        x = sa * a[i]
        y = sb * b[i]
        z = sc * c[i]
        acc[0][j] += x * x
        acc[1][j] += y * y
        acc[2][j] += z * z
        acc[3][j] += x * y
        acc[4][j] += x * z
        acc[5][j] += y * z
    for k in range(6):
        out[k] = combine_lanes(acc[k])


cdef inline double _pow2_scale(const floating* x, Py_ssize_t d) noexcept nogil:
    """2^-e with 2^e ~ max |x_j| (e clamped to [-1000, 1000], so the scale is a normal power of
    two and scaling is exact); 1 for a zero, infinite or NaN vector."""
    cdef Py_ssize_t i
    cdef double v, top = 0.0
    cdef int e
    for i in range(d):
        v = fabs(<double> x[i])
        if v != v:
            return 1.0
        if v > top:
            top = v
    if top == 0.0 or top == INFINITY:
        return 1.0
    frexp(top, &e)
    e = -1000 if e < -1000 else (1000 if e > 1000 else e)
    return ldexp(1.0, -e)


# The cosine distance D(x, y) = 1 - x.y / (max(|x|, eps) max(|y|, eps)) of one pair, and the
# coefficients of its gradient, computed on the scaled vectors x^ = sx x, y^ = sy y (D is
# invariant under scaling; the gradients carry sx, sy). Forms:
# - direct, D = 1 - cos: when D >= 1/2 (no cancellation) or a norm is clamped at eps;
#   dD/dx = sx (cos x^ / |x^|^2 [|x| > eps] - y^ / (nx ny)), nx, ny the clamped norms.
# - close (D < 1/2, norms above eps), where 1 - cos would lose ~eps / D relative: from
#   w = u - v, D = (|u|^2 |w|^2 - (u.w)^2) / (|u||v| (|u||v| + u.v)) (Lagrange's identity) and
#   dD/du = (w - (u.w / |u|^2) u) / (|u||v|), dD/dv = -(w - (v.w / |v|^2) v) / (|u||v|).
#   With u = x^, v = y^, w is exact for near-identical vectors (Sterbenz) and the error is
#   ~eps / f, f the fraction of |w|^2 across u and v: a few ulp unless the lengths differ more
#   than the directions. Then (f^2 < 2 D) u, v are the unit vectors, and w carries the
#   rounding errors of normalising (exact by fma, _unit_diff), so it stays accurate.
ctypedef struct cos_pair_t:
    double dist
    bint close
    double ax, bx, ay, by      # direct: dD/dx = ax x^ + bx y^, dD/dy = ay y^ + by x^
    double mx, my              # close: u = mx x^, v = my y^, w = u - v,
    double kx, ky, cx, cy      #   dD/dx = kx (w - cx u), dD/dy = -ky (w - cy v)
    bint unit                  # u, v are the unit vectors (mx = 1/|x^|, my = 1/|y^|)


cdef inline double _unit_diff(double xs, double ys, double mx, double my,
                              double* u, double* v) noexcept nogil:
    """u = mx xs, v = my ys (rounded) and w = u - v with the products' rounding errors added
    back (fma gives each exactly): w is then the difference of the exact scaled vectors to
    ~1 ulp of itself, so normalising costs no accuracy at small angles."""
    u[0] = mx * xs
    v[0] = my * ys
    return (u[0] - v[0]) + (fma(xs, mx, -u[0]) - fma(ys, my, -v[0]))


cdef inline void _cos_close(const floating* x, const floating* y, Py_ssize_t d, double sx,
                            double sy, double mx, double my, bint unit,
                            cos_pair_t* P) noexcept nogil:
    """The close form on u = mx sx x, v = my sy y (D is scale-invariant)."""
    cdef double uj, vj, w, uu = 0.0, vv = 0.0, uv = 0.0, ww = 0.0, uw = 0.0, vw = 0.0
    cdef double nuv, num
    cdef Py_ssize_t j
    P.unit = unit
    for j in range(d):
        if unit:
            w = _unit_diff(sx * x[j], sy * y[j], mx, my, &uj, &vj)
        else:
            uj = sx * x[j]
            vj = sy * y[j]
            w = uj - vj
        uu += uj * uj
        vv += vj * vj
        uv += uj * vj
        ww += w * w
        uw += uj * w
        vw += vj * w
    nuv = sqrt(uu) * sqrt(vv)
    num = uu * ww - uw * uw
    P.dist = (num if num > 0.0 else 0.0) / (nuv * (nuv + uv))
    P.mx = mx
    P.my = my
    P.kx = sx * mx / nuv
    P.ky = sy * my / nuv
    P.cx = uw / uu
    P.cy = vw / vv
    # the part of w across u (and across v), as a fraction of |w|^2: the close form loses
    # ~eps / fraction; kept in P.ax for the caller's choice
    P.ax = min(1.0 - uw * uw / (uu * ww), 1.0 - vw * vw / (vv * ww)) if ww > 0.0 else 1.0


cdef inline void _cos_pair(const floating* x, const floating* y, Py_ssize_t d, double sx,
                           double sy, double xx, double yy, double xy, double eps,
                           cos_pair_t* P) noexcept nogil:
    cdef double nx = sqrt(xx), ny = sqrt(yy), nxc, nyc, cxy
    nxc = nx if nx > sx * eps else sx * eps
    nyc = ny if ny > sy * eps else sy * eps
    cxy = xy / (nxc * nyc)
    P.dist = 1.0 - cxy
    P.close = P.dist < 0.5 and nx > sx * eps and ny > sy * eps
    if P.close:
        # w = x^ - y^ (exact, Sterbenz) is best unless w runs mostly along x or y (lengths
        # differ more than directions): then, from the unit vectors, ~eps / angle.
        _cos_close(x, y, d, sx, sy, 1.0, 1.0, False, P)
        if P.ax * P.ax < 2.0 * P.dist:
            _cos_close(x, y, d, sx, sy, 1.0 / nx, 1.0 / ny, True, P)
        return
    P.ax = sx * cxy / (nx * nx) if nx > sx * eps else 0.0
    P.bx = -sx / (nxc * nyc)
    P.ay = sy * cxy / (ny * ny) if ny > sy * eps else 0.0
    P.by = -sy / (nxc * nyc)


cdef inline double _cos_dx(const cos_pair_t* P, double xj, double yj) noexcept nogil:
    """dD/dx_j of the pair at the scaled coordinates xj, yj."""
    cdef double u, v, w
    if P.close:
        if P.unit:
            w = _unit_diff(xj, yj, P.mx, P.my, &u, &v)
        else:
            u = xj
            v = yj
            w = u - v
        return P.kx * (w - P.cx * u)
    return P.ax * xj + P.bx * yj


cdef inline double _cos_dy(const cos_pair_t* P, double xj, double yj) noexcept nogil:
    cdef double u, v, w
    if P.close:
        if P.unit:
            w = _unit_diff(xj, yj, P.mx, P.my, &u, &v)
        else:
            u = xj
            v = yj
            w = u - v
        return -P.ky * (w - P.cy * v)
    return P.ay * yj + P.by * xj


# ------------------------------------------------------------------------------ triplet: one row

cdef inline double _triplet_row(
        const floating* a, const floating* p, const floating* n, Py_ssize_t d,
        floating* ga, floating* gp, floating* gn, double coef,
        double margin, double pw, int kind, bint swap, double eps, bint cosine) noexcept nogil:
    """Loss of one triplet; when ga != NULL writes coef * d(loss)/d(each input) for the row."""
    cdef double d_ap, d_an, d_pn = 0.0, z, act, c, u, t, v
    cdef double dots[6]
    cdef double sa = 1.0, sp = 1.0, sn = 1.0, xa, xp, xn, ia, ib
    cdef cos_pair_t pair_ap, pair_an, pair_pn
    cdef bint swapped = False
    cdef Py_ssize_t j
    if cosine:
        # d(x, y) = 1 - x.y / (max(|x|, eps) max(|y|, eps)); see _cos_pair
        _dots3(a, p, n, d, 1.0, 1.0, 1.0, dots)
        if _needs_rescale(dots[0]) or _needs_rescale(dots[1]) or _needs_rescale(dots[2]):
            sa = _pow2_scale(a, d)
            sp = _pow2_scale(p, d)
            sn = _pow2_scale(n, d)
            if sa != 1.0 or sp != 1.0 or sn != 1.0:
                _dots3(a, p, n, d, sa, sp, sn, dots)
        _cos_pair(a, p, d, sa, sp, dots[0], dots[1], dots[3], eps, &pair_ap)
        _cos_pair(a, n, d, sa, sn, dots[0], dots[2], dots[4], eps, &pair_an)
        d_ap = pair_ap.dist
        d_an = pair_an.dist
        if swap:
            _cos_pair(p, n, d, sp, sn, dots[1], dots[2], dots[5], eps, &pair_pn)
            d_pn = pair_pn.dist
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
        for j in range(d):
            xa = sa * a[j]
            xp = sp * p[j]
            xn = sn * n[j]
            u = _cos_dx(&pair_ap, xa, xp)     # d D(a, p) / da
            t = _cos_dy(&pair_ap, xa, xp)     # d D(a, p) / dp
            if not swapped:
                ga[j] = <floating> (c * (u - _cos_dx(&pair_an, xa, xn)))
                gp[j] = <floating> (c * t)
                gn[j] = <floating> (-c * _cos_dy(&pair_an, xa, xn))
            else:
                ga[j] = <floating> (c * u)
                gp[j] = <floating> (c * (t - _cos_dx(&pair_pn, xp, xn)))
                gn[j] = <floating> (-c * _cos_dy(&pair_pn, xp, xn))
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
        for b in prange(nb, schedule="dynamic", chunksize=blocks_per_grab(nb, n_threads),
                        num_threads=n_threads, use_threads_if=n_threads > 1):
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
    if _needs_rescale(sq):      # tiny or huge pairs: the distance without under/overflow
        dist = _scaled_pnorm(x1, x2, d, 2.0, NORM_2, 0.0)
        sq = dist * dist
    else:
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
    # a term with a zero coefficient is dropped: 0 * inf (a distance beyond the range) is 0
    return 0.5 * ((0.0 if y == 0.0 else y * sq) + (0.0 if y == 1.0 else (1.0 - y) * gap * gap))


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
        for b in prange(nb, schedule="dynamic", chunksize=blocks_per_grab(nb, n_threads),
                        num_threads=n_threads, use_threads_if=n_threads > 1):
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
