# cython: language_level=3
"""Shared kernel machinery: block size, result structs, deterministic sums, scalar helpers.

Reductions are split into fixed blocks of BLOCK elements whatever the thread count; each block
is summed in a fixed order and the block sums are combined pairwise, so a result is bitwise
identical for any number of threads, and for any order in which the threads take the blocks.
"""
from libc.math cimport NAN, fabs, exp, log1p

cdef enum:
    BLOCK = 4096   # elements per reduction block (fixed: it defines the summation order)
    ACC_LANES = 16 # independent accumulators of a block's sum (accumulate_lanes): two vectors
                   # of AVX-512 doubles, so two chains of additions run at once (one chain of 8
                   # held the float32 value reductions at half the memory speed)
    LANES = 8      # the lanes of a row (_multiclass, _pairwise) and of the penalties' sums
                   # (combine_lanes); ACC_LANES = 2 LANES and SUB % ACC_LANES == 0 (_parallel
                   # checks both at import: combine_acc and the value / gradient sums rely on them)
    SUB = 256      # elements computed into a scratch buffer before they are accumulated

ctypedef struct loss_grad_t:
    double loss
    double grad

ctypedef struct grad_hess_t:
    double grad
    double hess

# ------------------------------------------------------------ target checks fused into the loops
# The elementwise template (_elementwise.pyx.tp) ORs these flags of every element into the
# block's result, and the Python layer raises its usual error when the OR says so. NaN is never
# flagged (it propagates). OR is order-free, so the flags do not depend on the thread count.

ctypedef unsigned long long flags_t

cdef enum:
    FLAG_TARGET = 1        # a target outside its domain
    FLAG_PREDICTION = 2    # a prediction (probability) outside [0, 1]
    FLAG_MINUS_ONE = 4     # a label -1
    FLAG_ZERO = 8          # a label 0 (either sign)


cdef inline double pairwise_sum(const double* x, Py_ssize_t n) noexcept nogil:
    """Sum of x[0:n] by recursive halving (error grows as log n, not n)."""
    cdef Py_ssize_t i, half
    cdef double s = 0.0
    if n <= 8:
        for i in range(n):
            s += x[i]
        return s
    half = n // 2
    return pairwise_sum(x, half) + pairwise_sum(x + half, n - half)


cdef inline Py_ssize_t blocks_per_grab(Py_ssize_t nb, int n_threads) noexcept nogil:
    """Blocks a thread takes at a time from a loss kernel's loop over nb blocks (prange's
    schedule="dynamic" chunk): about 16 grabs per thread, but at least 4 blocks (each grab is
    an atomic shared by the threads), or half a thread's even share where that is fewer.

    With static halves, a thread on a slower core (a vCPU whose host core another guest
    shares, a hybrid CPU's efficiency core) held the other waiting: on this project's 2-vCPU
    machine, 2-thread calls of compute-bound kernels flipped between 1.95x and 1.2x one thread.
    The kernels keep each block's sum apart, so the order of the grabs changes no bit.
    """
    cdef Py_ssize_t per = nb // (16 * n_threads), even = (nb + 2 * n_threads - 1) // (2 * n_threads)
    if per >= 4:
        return per
    if even >= 4:
        return 4
    return even if even > 0 else 1      # OpenMP wants a positive chunk, even for no blocks


cdef inline void accumulate_lanes(double* acc, const double* v, Py_ssize_t m) noexcept nogil:
    """acc[k % ACC_LANES] += v[k] for k < m: the fixed order of every blocked reduction.

    Kernels first compute SUB elementwise values into a buffer (a plain loop the compiler
    vectorizes, branches of the math included), then add it here: element k of a block always
    lands in lane k % ACC_LANES, whatever the thread count; combine_acc sums the lanes.
    """
    cdef Py_ssize_t i = 0, j, body = (m // ACC_LANES) * ACC_LANES
    while i < body:
        for j in range(ACC_LANES):
            acc[j] += v[i + j]
        i += ACC_LANES
    for i in range(body, m):
        acc[i - body] += v[i]


cdef inline double combine_lanes(const double* acc) noexcept nogil:
    """The LANES accumulators (of a row, or of a penalty's block), in a fixed tree order."""
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))


cdef inline double combine_acc(const double* acc) noexcept nogil:
    """The ACC_LANES accumulators of a block (accumulate_lanes), in a fixed tree order."""
    return combine_lanes(acc) + combine_lanes(acc + LANES)


cdef inline double sign_nan(double x) noexcept nogil:
    """-1, 0 or +1 like np.sign, but NaN stays NaN (the MAE/quantile subgradient).

    Selects, not branches, so loops calling it vectorize; x * 0.0 is 0 for 0 and NaN for NaN.
    """
    return 1.0 if x > 0.0 else (-1.0 if x < 0.0 else x * 0.0)


cdef inline double log1pexp(double x) noexcept nogil:
    """softplus(x) = log(1 + exp(x)), exact for every finite x and the right limit at +-inf."""
    if x > 0.0:
        return x + log1p(exp(-x))
    return log1p(exp(x))
