# cython: language_level=3
"""Penalty kernels on a flat parameter array (private; fastloss.penalties validates).

All penalties are combinations c1 * sum|w| + c2 * sum w^2 / 2, so one reduction returns both
sums and one loop writes the gradient g = c1 * sign(w) + c2 * w. A term whose coefficient is 0
is left out entirely (so l1 of an infinite weight is inf, not inf + 0 * inf = NaN).
Reductions use fixed blocks of BLOCK elements and ``pairwise_sum``: bitwise identical for any
thread count, accumulated in float64.
"""
from cython.parallel cimport prange
from libc.math cimport fabs
from libc.stdlib cimport malloc, free

from fastloss._kernels._common cimport (BLOCK, LANES, blocks_per_grab, pairwise_sum,
                                       combine_lanes, sign_nan)

ctypedef fused floating:
    float
    double


cdef inline double _grad_one(double x, double c1, double c2) noexcept nogil:
    if c2 == 0.0:
        return c1 * sign_nan(x)
    if c1 == 0.0:
        return c2 * x
    return c1 * sign_nan(x) + c2 * x


cdef inline void _lanes(const floating* x, Py_ssize_t start, Py_ssize_t stop, bint want_abs,
                        bint want_sq, double* acc1, double* acc2) noexcept nogil:
    """acc1[k % LANES] += |x|, acc2[k % LANES] += x^2 over [start, stop), only the sums wanted
    (each call passes constants, so the compiler makes one lean loop per case)."""
    cdef Py_ssize_t i, j, body = start + ((stop - start) // LANES) * LANES
    cdef double v
    i = start
    while i < body:
        for j in range(LANES):
            v = x[i + j]
            if want_abs:
                acc1[j] += fabs(v)
            if want_sq:
                acc2[j] += v * v
        i += LANES
    for i in range(body, stop):
        v = x[i]
        if want_abs:
            acc1[i - body] += fabs(v)
        if want_sq:
            acc2[i - body] += v * v


cdef inline void _block(const floating* x, floating* g, double c1, double c2,
                        Py_ssize_t start, Py_ssize_t stop, double* s1, double* s2) noexcept nogil:
    """Sums of |x| and x^2 over [start, stop), each only if its coefficient is not 0 (else 0:
    the value leaves that term out); writes g there when g != NULL."""
    cdef double acc1[LANES]
    cdef double acc2[LANES]
    cdef Py_ssize_t i, j
    for j in range(LANES):
        acc1[j] = 0.0
        acc2[j] = 0.0
    if c1 != 0.0 and c2 != 0.0:
        _lanes(x, start, stop, True, True, acc1, acc2)
    elif c1 != 0.0:
        _lanes(x, start, stop, True, False, acc1, acc2)
    elif c2 != 0.0:
        _lanes(x, start, stop, False, True, acc1, acc2)
    s1[0] = combine_lanes(acc1)
    s2[0] = combine_lanes(acc2)
    if g != NULL:
        for i in range(start, stop):
            g[i] = <floating> _grad_one(x[i], c1, c2)


def sums(const floating[::1] w, floating[::1] g, double c1, double c2, int n_threads):
    """(sum |w|, sum w^2) in float64, a sum whose coefficient is 0 not computed (0.0); when g
    is given, g = c1 sign(w) + c2 w in the same pass."""
    cdef Py_ssize_t n = w.shape[0], nb = (n + BLOCK - 1) // BLOCK, b, start
    cdef double* parts
    cdef double s1, s2
    cdef floating* gp = NULL
    if n == 0:
        return 0.0, 0.0
    if g is not None:
        gp = &g[0]
    cdef const floating* wp = &w[0]
    parts = <double*> malloc(2 * nb * sizeof(double))
    if parts == NULL:
        raise MemoryError()
    with nogil:
        for b in prange(nb, schedule="dynamic", chunksize=blocks_per_grab(nb, n_threads),
                        num_threads=n_threads, use_threads_if=n_threads > 1):
            start = b * BLOCK
            _block(wp, gp, c1, c2, start, min(start + BLOCK, n), &parts[b], &parts[nb + b])
        s1 = pairwise_sum(parts, nb)
        s2 = pairwise_sum(parts + nb, nb)
    free(parts)
    return s1, s2


def grad(const floating[::1] w, floating[::1] g, double c1, double c2, int n_threads):
    """g = c1 sign(w) + c2 w (sign(0) = 0, NaN stays NaN)."""
    cdef Py_ssize_t n = w.shape[0], i
    if n == 0:
        return
    cdef const floating* wp = &w[0]
    cdef floating* gp = &g[0]
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads, use_threads_if=n_threads > 1):
            gp[i] = <floating> _grad_one(wp[i], c1, c2)
