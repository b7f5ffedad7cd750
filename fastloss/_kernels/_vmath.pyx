# cython: language_level=3
"""Python access to the kernels' exp, log and log1p, for the tests (built per CPU variant)."""
from cython.parallel cimport prange

from fastloss._kernels._vmath cimport (fl_exp, fl_log, fl_log1p, fl_log1p_unit, fl_log_either,
                                      fl_log_either_inside, fl_log_normal, fl_exp_f4,
                                      fl_log1p_unit_f4, fl_exp_normal, fl_exp_f4_normal)

cdef extern from *:
    """
    #ifdef __FMA__
    #define FL__HAS_FMA 1
    #else
    #define FL__HAS_FMA 0
    #endif
    """
    int FL__HAS_FMA

# Whether this build's fl__fma is a fused multiply-add (the AVX2 and AVX-512 variants, or any
# build whose flags enable FMA, e.g. FASTLOSS_NATIVE=1) or a multiply and an add.
HAS_FMA = bool(FL__HAS_FMA)


NAMES = ("exp", "log", "log1p", "log1p_unit", "exp_f4", "log1p_unit_f4", "exp_normal",
         "exp_f4_normal", "log_normal")


def apply(str name, const double[::1] x, double[::1] out):
    """out = name(x) elementwise, in a vectorized loop: exp, log, log1p, log1p_unit (x in [0, 1]),
    the float32 results' exp_f4 and log1p_unit_f4 (x in [0, 1]), and exp_normal and
    exp_f4_normal (x in [-708, 709]), log_normal (x normal, positive, finite)."""
    cdef Py_ssize_t i, n = x.shape[0]
    if name not in NAMES:
        raise ValueError(f"name must be one of {', '.join(map(repr, NAMES))}, got {name!r}")
    if out.shape[0] != n:
        raise ValueError(f"out has {out.shape[0]} elements, x has {n}")
    cdef int which = NAMES.index(name)   # (no comparison of Python strings without the GIL)
    with nogil:
        if which == 0:
            for i in range(n):
                out[i] = fl_exp(x[i])
        elif which == 1:
            for i in range(n):
                out[i] = fl_log(x[i])
        elif which == 2:
            for i in range(n):
                out[i] = fl_log1p(x[i])
        elif which == 3:
            for i in range(n):
                out[i] = fl_log1p_unit(x[i])
        elif which == 4:
            for i in range(n):
                out[i] = fl_exp_f4(x[i])
        elif which == 5:
            for i in range(n):
                out[i] = fl_log1p_unit_f4(x[i])
        elif which == 6:
            for i in range(n):
                out[i] = fl_exp_normal(x[i])
        elif which == 7:
            for i in range(n):
                out[i] = fl_exp_f4_normal(x[i])
        else:
            for i in range(n):
                out[i] = fl_log_normal(x[i])


def apply_either(const double[::1] x, const unsigned char[::1] log1p_mode, double[::1] out,
                 bint inside=False):
    """out = log1p(x) where log1p_mode else log(x), elementwise (fl_log_either), vectorized;
    inside: by fl_log_either_inside (x in its domain only)."""
    cdef Py_ssize_t i, n = x.shape[0]
    if out.shape[0] != n or log1p_mode.shape[0] != n:
        raise ValueError("x, log1p_mode and out must have the same length")
    with nogil:
        if inside:
            for i in range(n):
                out[i] = fl_log_either_inside(x[i], 1.0 if log1p_mode[i] else 0.0)
        else:
            for i in range(n):
                out[i] = fl_log_either(x[i], 1.0 if log1p_mode[i] else 0.0)
