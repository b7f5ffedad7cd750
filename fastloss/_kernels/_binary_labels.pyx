# cython: language_level=3
"""One pass over floating-point hinge labels for validation (private; never raises).

Deciding whether labels are {-1, +1} or {0, 1} needs exact membership, which min/max cannot
give for floats (0.5 lies between 0 and 1); NumPy would need boolean temporaries of the input's
size. This scan reads the labels once, block by block, without allocating.
"""
from fastloss._kernels._common cimport BLOCK

ctypedef fused real_t:
    float
    double


def scan_sign_labels(const real_t[::1] y):
    """(index of the first label outside {-1, 0, +1} and not NaN, or -1; any -1; any 0).

    NaN labels are not reported (NaN propagates to the loss, as everywhere in fastloss).
    """
    cdef Py_ssize_t n = y.shape[0], start = 0, stop, i, first_bad = -1
    cdef int bad, any_neg = 0, any_zero = 0
    cdef double v
    with nogil:
        while start < n and first_bad < 0:
            stop = min(start + BLOCK, n)
            bad = 0
            for i in range(start, stop):   # branch-free body: the compiler can vectorize it
                v = y[i]
                any_neg |= v == -1.0
                any_zero |= v == 0.0
                bad |= (v != 1.0) & (v != -1.0) & (v != 0.0) & (v == v)
            if bad:
                for i in range(start, stop):
                    v = y[i]
                    if v != 1.0 and v != -1.0 and v != 0.0 and v == v:
                        first_bad = i
                        break
            start = stop
    return first_bad, bool(any_neg), bool(any_zero)
