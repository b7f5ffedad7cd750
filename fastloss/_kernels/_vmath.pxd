# cython: language_level=3
"""Vectorizable exp, log and log1p (fdlibm's algorithms, < 1 ulp): see _vmath.h.

Kernels use these instead of libc's so that loops calling them vectorize; the results are the
same bits in the AVX2 and AVX-512 variants (fused multiply-adds), and within the same bound in
the baseline, which rounds the products apart.
"""

cdef extern from "_vmath.h" nogil:
    double fl_exp(double x)
    double fl_log(double x)
    double fl_log1p(double x)
    double fl_log_either(double x, double log1p_mode)   # log1p(x) if log1p_mode is 1.0 else log(x)
    double fl_log_either_inside(double x, double log1p_mode)   # its bits, |x| in [2^-53, 1 - 2^-53]
    double fl_log_normal(double x)   # fl_log's bits for normal positive finite x (or NaN) only
    double fl_log1p_unit(double x)   # x in [0, 1] only
    # For results rounded to float32 only: relative error below 2^-33, cheaper (see _vmath.h).
    double fl_exp_f4(double x)
    double fl_log1p_unit_f4(double x)   # x in [0, 1] only
    # fl_exp's and fl_exp_f4's bits for -708 <= x <= 709 only (2^k normal), in fewer operations.
    double fl_exp_normal(double x)
    double fl_exp_f4_normal(double x)
    const double FL_EXP_NORMAL_MIN   # -708.0, their lowest argument
