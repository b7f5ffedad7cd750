# cython: language_level=3
"""OpenMP facts and the reductions every family shares (weight totals)."""
from cython.parallel cimport prange
from libc.stdlib cimport malloc, free

from fastloss._kernels._common cimport BLOCK, LANES, pairwise_sum, combine_lanes

cdef extern from "_omp_shim.h":
    int FASTLOSS_OPENMP
    int fastloss_omp_max_threads() noexcept nogil
    int fastloss_omp_num_procs() noexcept nogil


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


cdef inline double _block_sum(const floating* x, Py_ssize_t start, Py_ssize_t stop) noexcept nogil:
    cdef double acc[LANES]
    cdef Py_ssize_t i, j, body = start + ((stop - start) // LANES) * LANES
    for j in range(LANES):
        acc[j] = 0.0
    i = start
    while i < body:
        for j in range(LANES):
            acc[j] += x[i + j]
        i += LANES
    for i in range(body, stop):
        acc[i - body] += x[i]
    return combine_lanes(acc)


def blocked_sum(const floating[::1] x, int n_threads):
    """Sum of x in float64 with the library's deterministic block order."""
    cdef Py_ssize_t n = x.shape[0], nb = (n + BLOCK - 1) // BLOCK, b, start
    cdef double* sums
    cdef double total
    if n == 0:
        return 0.0
    sums = <double*> malloc(nb * sizeof(double))
    if sums == NULL:
        raise MemoryError()
    cdef const floating* xp = &x[0]
    with nogil:
        for b in prange(nb, schedule="static", num_threads=n_threads, use_threads_if=n_threads > 1):
            start = b * BLOCK
            sums[b] = _block_sum(xp, start, min(start + BLOCK, n))
        total = pairwise_sum(sums, nb)
    free(sums)
    return total
