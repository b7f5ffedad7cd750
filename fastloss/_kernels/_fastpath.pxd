# cython: language_level=3
"""The per-call fast path's checks, shared by the kernel modules' ``fast_*`` entry points.

A call of a small input costs mostly Python: validation objects, keyword handling, typed
memoryview acquisition (~0.3 us per array). The common call (reduction "mean", no weights, no
``out``, default parameters, grad_hess's default hess_floor, inputs that are already what the
kernels read) skips all that: the
checks below decide in C whether the inputs are such, and when they are not, the entry point
returns None and the caller takes the general path (fastloss._loss), which validates and raises
as usual. These checks never raise: a failed check only means "take the general path", so every
error, message and conversion stays the general path's.

Header-only (inline functions and enums), like _common.pxd.
"""
cimport numpy as cnp

cdef enum:
    # What a fast entry point computes (the caller's method).
    FAST_VALUE = 0             # the "mean" value, a Python float
    FAST_GRAD = 1              # the gradient of the mean, a new array
    FAST_VALUE_AND_GRAD = 2    # (value, gradient)
    FAST_GRAD_HESS = 3         # (per-element gradient, Hessian), hess_floor 0: new arrays

cdef enum:
    # What elementwise targets must hold (fastloss.losses.binary's checks, in C).
    TARGETS_REAL = 0           # anything
    TARGETS_UNIT = 1           # y_true in [0, 1] (NaN passes)
    TARGETS_UNIT_BOTH = 2      # y_true and y_pred in [0, 1] (NaN passes)
    TARGETS_SIGNS = 3          # labels {-1, +1} or {0, 1} (NaN passes)


cdef inline bint ready(object x, int type_num) noexcept:
    """x is exactly an ndarray of type_num, C-contiguous, aligned, in native byte order."""
    if type(x) is not cnp.ndarray:
        return False
    cdef cnp.ndarray a = <cnp.ndarray> x
    cdef int needed = cnp.NPY_ARRAY_C_CONTIGUOUS | cnp.NPY_ARRAY_ALIGNED
    return ((cnp.PyArray_FLAGS(a) & needed) == needed and cnp.PyArray_TYPE(a) == type_num
            and cnp.PyArray_ISNOTSWAPPED(a))


cdef inline int float_code(object x) noexcept:
    """0 for a ready float64 array, 1 for a ready float32 array (see ``ready``), else -1."""
    if ready(x, cnp.NPY_DOUBLE):
        return 0
    if ready(x, cnp.NPY_FLOAT):
        return 1
    return -1


cdef inline bint same_shape(cnp.ndarray a, cnp.ndarray b) noexcept:
    cdef int k, nd = cnp.PyArray_NDIM(a)
    if cnp.PyArray_NDIM(b) != nd:
        return False
    for k in range(nd):
        if cnp.PyArray_DIMS(a)[k] != cnp.PyArray_DIMS(b)[k]:
            return False
    return True


cdef inline bint in_unit_interval(cnp.ndarray a, Py_ssize_t n, int code) noexcept:
    """Every value of a ready float array (code as float_code) in [0, 1]; NaN passes, as in the
    general path's NaN-ignoring min/max."""
    cdef Py_ssize_t i
    cdef const double* d
    cdef const float* f
    if code == 0:
        d = <const double*> cnp.PyArray_DATA(a)
        for i in range(n):
            if d[i] < 0.0 or d[i] > 1.0:
                return False
    else:
        f = <const float*> cnp.PyArray_DATA(a)
        for i in range(n):
            if f[i] < 0.0 or f[i] > 1.0:
                return False
    return True


cdef inline bint _sign_value(double v, bint* any_neg, bint* any_zero) noexcept:
    if v == 1.0:
        return True
    if v == 0.0:           # -0.0 too
        any_zero[0] = True
        return True
    if v == -1.0:
        any_neg[0] = True
        return True
    return v != v          # NaN passes (it propagates); anything else is not a label


cdef inline bint sign_labels(cnp.ndarray a, Py_ssize_t n, int code) noexcept:
    """Labels all in {-1, 0, +1} or NaN without mixing -1 and 0, as
    fastloss.losses.binary._check_sign_labels requires."""
    cdef Py_ssize_t i
    cdef bint any_neg = False, any_zero = False
    cdef const double* d
    cdef const float* f
    if code == 0:
        d = <const double*> cnp.PyArray_DATA(a)
        for i in range(n):
            if not _sign_value(d[i], &any_neg, &any_zero):
                return False
    else:
        f = <const float*> cnp.PyArray_DATA(a)
        for i in range(n):
            if not _sign_value(f[i], &any_neg, &any_zero):
                return False
    return not (any_neg and any_zero)
