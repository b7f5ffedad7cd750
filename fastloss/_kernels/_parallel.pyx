# cython: language_level=3
"""OpenMP facts and the reductions every family shares (weight totals)."""
from cython.parallel cimport prange
from libc.stdlib cimport malloc, free
from libc.math cimport INFINITY

from fastloss._kernels._common cimport BLOCK, ACC_LANES, LANES, SUB, pairwise_sum, combine_acc

cdef extern from "_omp_shim.h":
    int FASTLOSS_OPENMP
    int fastloss_omp_max_threads() noexcept nogil
    int fastloss_omp_num_procs() noexcept nogil


if ACC_LANES != 2 * LANES or SUB % ACC_LANES != 0:
    raise ImportError("_common.pxd: ACC_LANES must be 2 * LANES (combine_acc) and divide SUB")


def openmp_enabled():
    """True when the kernels were compiled with OpenMP."""
    return bool(FASTLOSS_OPENMP)


def omp_max_threads():
    """OpenMP's current default team size (OMP_NUM_THREADS, threadpoolctl limits)."""
    return fastloss_omp_max_threads()


def omp_num_procs():
    return fastloss_omp_num_procs()


ctypedef fused floating:
    float
    double


cdef inline double _block_sum(const floating* x, Py_ssize_t start, Py_ssize_t stop,
                              double* low) noexcept nogil:
    """Sum of x[start:stop] in ACC_LANES lanes; unless low is NULL, *low = the least element (NaN
    ignored), from a second loop over the block while it is in cache: the sample-weight check
    reads the weights from memory once for both. (One loop for both does not vectorize.)"""
    cdef double acc[ACC_LANES]
    cdef floating least[ACC_LANES]
    cdef floating v
    cdef Py_ssize_t i, j, body = start + ((stop - start) // ACC_LANES) * ACC_LANES
    for j in range(ACC_LANES):
        acc[j] = 0.0
    i = start
    while i < body:
        for j in range(ACC_LANES):
            acc[j] += x[i + j]
        i += ACC_LANES
    for i in range(body, stop):
        acc[i - body] += x[i]
    if low != NULL:
        for j in range(ACC_LANES):
            least[j] = INFINITY
        i = start
        while i < body:
            for j in range(ACC_LANES):
                v = x[i + j]
                least[j] = v if v < least[j] else least[j]
            i += ACC_LANES
        for i in range(body, stop):
            v = x[i]
            least[i - body] = v if v < least[i - body] else least[i - body]
        v = INFINITY
        for j in range(ACC_LANES):
            v = least[j] if least[j] < v else v
        low[0] = v
    return combine_acc(acc)


cdef double _blocked_sum(const floating* xp, Py_ssize_t n, int n_threads, double* low) except? -1:
    """Sum of xp[0:n] (n > 0) in blocks of BLOCK, combined pairwise; unless low is NULL, *low =
    the least element (NaN ignored), from the same pass."""
    cdef Py_ssize_t nb = (n + BLOCK - 1) // BLOCK, b, start
    cdef double total, least = INFINITY
    cdef double* sums = <double*> malloc(2 * nb * sizeof(double))
    if sums == NULL:
        raise MemoryError()
    with nogil:
        for b in prange(nb, schedule="static", num_threads=n_threads, use_threads_if=n_threads > 1):
            start = b * BLOCK
            sums[b] = _block_sum(xp, start, min(start + BLOCK, n), &sums[nb + b] if low != NULL else NULL)
        total = pairwise_sum(sums, nb)
        if low != NULL:
            for b in range(nb):
                least = sums[nb + b] if sums[nb + b] < least else least
            low[0] = least
    free(sums)
    return total


def blocked_sum(const floating[::1] x, int n_threads):
    """Sum of x in float64 with the library's deterministic block order."""
    if x.shape[0] == 0:
        return 0.0
    return _blocked_sum(&x[0], x.shape[0], n_threads, NULL)


def sum_and_min(const floating[::1] x, int n_threads):
    """(blocked_sum(x), the least x ignoring NaN) from one pass over x; (0.0, inf) when empty."""
    cdef double least = INFINITY
    if x.shape[0] == 0:
        return 0.0, least
    total = _blocked_sum(&x[0], x.shape[0], n_threads, &least)
    return total, least


cdef inline bint _block_outside_unit(const floating* x, Py_ssize_t start,
                                     Py_ssize_t stop) noexcept nogil:
    """Whether some x[start:stop] lies outside [0, 1]: x (1 - x) < 0 exactly then (infinities
    included, NaN not), compared in x's own width so the loop vectorizes (the kernels' check)."""
    cdef Py_ssize_t i
    cdef unsigned int bad4 = 0
    cdef unsigned long long bad8 = 0
    if floating is float:
        for i in range(start, stop):
            bad4 |= -<unsigned int> (x[i] * (<float> 1.0 - x[i]) < <float> 0.0)
        return bad4 != 0
    for i in range(start, stop):
        bad8 |= -<unsigned long long> (x[i] * (1.0 - x[i]) < 0.0)
    return bad8 != 0


def outside_unit_interval(const floating[::1] x, int n_threads):
    """Whether some x lies outside [0, 1] (NaN does not count), from one blocked pass; the
    validation of the calls whose kernel does not check its own inputs (binary losses' grad)."""
    cdef Py_ssize_t n = x.shape[0], nb = (n + BLOCK - 1) // BLOCK, b, start
    cdef int bad = 0
    if n == 0:
        return False
    cdef const floating* xp = &x[0]
    with nogil:
        for b in prange(nb, schedule="static", num_threads=n_threads, use_threads_if=n_threads > 1):
            start = b * BLOCK
            bad |= _block_outside_unit(xp, start, min(start + BLOCK, n))
    return bad != 0


ctypedef fused label_int:
    int
    long
    long long


cdef inline bint _block_labels_outside(const label_int* x, Py_ssize_t start, Py_ssize_t stop,
                                       unsigned long long n_classes) noexcept nogil:
    """Whether some x[start:stop] lies outside [0, n_classes): as unsigned, a negative label
    is beyond every class count, so one compare per label (a loop that vectorizes)."""
    cdef Py_ssize_t i
    cdef unsigned long long bad = 0
    for i in range(start, stop):
        bad |= -<unsigned long long> (<unsigned long long> x[i] >= n_classes)
    return bad != 0


def labels_outside(const label_int[::1] labels, Py_ssize_t n_classes, int n_threads):
    """Whether some label lies outside [0, n_classes), from one blocked pass (the row-wise
    losses' label check; the caller finds the first bad label when there is one)."""
    cdef Py_ssize_t n = labels.shape[0], nb = (n + BLOCK - 1) // BLOCK, b, start
    cdef int bad = 0
    if n == 0:
        return False
    if n_classes <= 0:
        return True
    cdef const label_int* xp = &labels[0]
    cdef unsigned long long k = <unsigned long long> n_classes
    with nogil:
        for b in prange(nb, schedule="static", num_threads=n_threads, use_threads_if=n_threads > 1):
            start = b * BLOCK
            bad |= _block_labels_outside(xp, start, min(start + BLOCK, n), k)
    return bad != 0


# ------------------------------------------------------------ bandwidth probe (fastloss bench)
# The memory-bandwidth floor of the benchmark report: the least a kernel must do is read its
# inputs once (and, for a gradient, write one output). These loops do exactly that with the
# machinery of the loss kernels (same blocks, same thread count; the static schedule of the
# memory scans, where handing blocks out gains nothing), and as little arithmetic as can keep
# the compiler from skipping the reads.


cdef inline unsigned int _block_xor(const unsigned int* a, const unsigned int* b,
                                    Py_ssize_t start, Py_ssize_t stop) noexcept nogil:
    """XOR of a[start:stop] and b[start:stop] (b NULL: a only), both streams in one loop like
    the loss kernels' y and p."""
    cdef unsigned int acc[LANES]
    cdef Py_ssize_t i, j, body
    for j in range(LANES):
        acc[j] = 0
    if stop <= start:
        return 0
    body = start + ((stop - start) // LANES) * LANES
    i = start
    if b != NULL:
        while i < body:
            for j in range(LANES):
                acc[j] ^= a[i + j] ^ b[i + j]
            i += LANES
        for i in range(body, stop):
            acc[i - body] ^= a[i] ^ b[i]
    else:
        while i < body:
            for j in range(LANES):
                acc[j] ^= a[i + j]
            i += LANES
        for i in range(body, stop):
            acc[i - body] ^= a[i]
    return ((acc[0] ^ acc[1]) ^ (acc[2] ^ acc[3])) ^ ((acc[4] ^ acc[5]) ^ (acc[6] ^ acc[7]))


def stream_read(const floating[::1] a, const floating[::1] b, int n_threads):
    """XOR of the 32-bit words of a and b, both read once in blocks: the read floor.

    Integer XOR is the least work that still reads every byte, so the floor is the memory's,
    not the probe's arithmetic (a float32 sum in float64 is conversion-bound), and the module
    is built per CPU variant, so the probe loads as wide as the kernels do.
    """
    cdef Py_ssize_t per = sizeof(floating) // sizeof(unsigned int)
    cdef Py_ssize_t n = a.shape[0] * per, m = b.shape[0] * per, both = min(n, m)
    cdef Py_ssize_t length = max(n, m), nb = (length + BLOCK - 1) // BLOCK, k, start, stop
    cdef unsigned int* parts
    cdef unsigned int total = 0
    if length == 0:
        return 0
    parts = <unsigned int*> malloc(nb * sizeof(unsigned int))
    if parts == NULL:
        raise MemoryError()
    cdef const unsigned int* ap = <const unsigned int*> &a[0] if n > 0 else NULL
    cdef const unsigned int* bp = <const unsigned int*> &b[0] if m > 0 else NULL
    with nogil:
        for k in prange(nb, schedule="static", num_threads=n_threads, use_threads_if=n_threads > 1):
            start = k * BLOCK
            stop = min(start + BLOCK, length)
            parts[k] = (_block_xor(ap, bp, start, min(stop, both))
                        ^ _block_xor(ap, NULL, max(start, both), min(stop, n))
                        ^ _block_xor(bp, NULL, max(start, both), min(stop, m)))
        for k in range(nb):
            total = total ^ parts[k]
    free(parts)
    return total


def stream_read_write(const floating[::1] a, const floating[::1] b, floating[::1] out,
                      int n_threads, floating[::1] out2=None):
    """a and b read once and out (and out2) written once, in blocks: the floor of a gradient,
    or with out2 of a grad_hess. Block k reads its share of a and of b and writes its share of
    out (each about 1 / blocks of the array), so the threads read and write alike, as the
    kernels do. Where the shares line up (a, b, out and out2 of one length)
    out[i] = a[i] + b[i] and out2[i] = a[i] - b[i], in the one loop; otherwise out's share is
    filled with the block's XOR (out2 must then be None). Returns the XOR of a's and b's 32-bit
    words (stream_read's) where the shares do not line up, else 0."""
    cdef Py_ssize_t la = a.shape[0], lb = b.shape[0], m = out.shape[0]
    cdef Py_ssize_t longest = max(max(la, lb), m)
    cdef Py_ssize_t nb = (longest + BLOCK - 1) // BLOCK, k, i, a0, a1, b0, b1, o0, o1
    cdef Py_ssize_t per = sizeof(floating) // sizeof(unsigned int)
    cdef Py_ssize_t ca, cb, co
    cdef unsigned int* parts
    cdef unsigned int total = 0
    cdef floating fill
    if longest == 0:
        return 0
    ca, cb, co = (la + nb - 1) // nb, (lb + nb - 1) // nb, (m + nb - 1) // nb
    parts = <unsigned int*> malloc(nb * sizeof(unsigned int))
    if parts == NULL:
        raise MemoryError()
    cdef const floating* ap = &a[0] if la > 0 else NULL
    cdef const floating* bp = &b[0] if lb > 0 else NULL
    cdef floating* op = &out[0] if m > 0 else NULL
    cdef bint aligned = la == lb and lb == m
    cdef floating* op2 = NULL
    if out2 is not None:
        if not aligned or out2.shape[0] != m:
            raise ValueError("stream_read_write: out2 needs a, b, out and out2 of one length")
        if m > 0:
            op2 = &out2[0]
    with nogil:
        for k in prange(nb, schedule="static", num_threads=n_threads, use_threads_if=n_threads > 1):
            a0, a1 = min(k * ca, la), min(k * ca + ca, la)
            b0, b1 = min(k * cb, lb), min(k * cb + cb, lb)
            o0, o1 = min(k * co, m), min(k * co + co, m)
            if aligned and op2 != NULL:   # one loop reads, writes both: grad_hess's floor
                parts[k] = 0
                for i in range(o0, o1):
                    op[i] = ap[i] + bp[i]
                    op2[i] = ap[i] - bp[i]
            elif aligned:                 # one loop reads and writes: the gradient's floor
                parts[k] = 0
                for i in range(o0, o1):
                    op[i] = ap[i] + bp[i]
            else:
                parts[k] = (_block_xor(<const unsigned int*> ap, NULL, a0 * per, a1 * per)
                            ^ _block_xor(<const unsigned int*> bp, NULL, b0 * per, b1 * per))
                fill = <floating> parts[k]
                for i in range(o0, o1):
                    op[i] = fill
        for k in range(nb):
            total = total ^ parts[k]
    free(parts)
    return total


# ------------------------------------------------------------ exact sums (fastloss.scoring)
# fl.score adds every kernel block sum into an exact accumulator, so the total does not depend
# on how the input was cut into chunks. Thousands of block sums per pass are too many for a
# Python loop; this is the same algorithm as scoring.ExactSum.add, in C.

from libc.math cimport isfinite, fabs

ELEMENTS_PER_BLOCK = BLOCK   # the kernels' reduction block (fl.score's block grid is built on it)


def exact_add(list partials, const double[::1] values):
    """Add `values` without rounding error to Shewchuk partials (``scoring.ExactSum``).

    ``partials`` are non-overlapping, increasing in magnitude (as math.fsum keeps them); returns
    (the new partials, the sum of the non-finite terms). A finite sum that overflows goes to the
    non-finite sum as +-inf, exactly as ``ExactSum.add`` does it.
    """
    cdef Py_ssize_t m = len(partials), n = values.shape[0], i, j, k
    cdef double x, y, hi, lo, special = 0.0
    cdef bint overflow
    # Each value adds at most one partial: m + n + 1 slots always suffice.
    cdef double* buf = <double*> malloc((m + n + 1) * sizeof(double))
    if buf == NULL:
        raise MemoryError()
    for i in range(m):
        buf[i] = partials[i]
    with nogil:
        for k in range(n):
            x = values[k]
            if not isfinite(x):
                special += x
                continue
            i = 0
            overflow = False
            for j in range(m):
                y = buf[j]
                if fabs(x) < fabs(y):
                    x, y = y, x
                hi = x + y
                if not isfinite(hi):
                    special += hi
                    overflow = True
                    break
                lo = y - (hi - x)          # hi + lo == x + y exactly (|x| >= |y|)
                if lo != 0.0:
                    buf[i] = lo
                    i += 1
                x = hi
            if overflow:
                m = i
            else:
                buf[i] = x
                m = i + 1
    result = [buf[i] for i in range(m)]
    free(buf)
    return result, special
