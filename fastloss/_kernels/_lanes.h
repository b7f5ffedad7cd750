/* The lane loops of the multiclass rows (_row_max and _row_rest in _multiclass.pyx).
 *
 * Why C: written in Cython, gcc unrolls the loop over the lanes before it vectorizes and is
 * left with a branch per lane; at K = 1000 the two loops took half of cross_entropy's time.
 * `omp simd` keeps the lane loop whole, so it vectorizes (with -fopenmp or -fopenmp-simd;
 * without them the pragma is ignored and the loops run scalar, with the same results), and
 * the lanes stay in registers (local copies) across the row.
 *
 * Determinism: lane l takes the elements i + l in increasing i, whatever the vector width, so
 * the lanes' order is the same in every CPU variant (and a maximum is exact in any order).
 */
#ifndef FASTLOSS_LANES_H
#define FASTLOSS_LANES_H

#include <stddef.h>

#if defined(__GNUC__) || defined(__clang__)
#define FL__NOINLINE __attribute__((noinline))
#else
#define FL__NOINLINE
#endif

#define FL_LANES 8   /* _common.pxd's LANES (_multiclass checks at import that they agree) */

/* top[l] = max(top[l], z[i + l]) over i < body (a multiple of FL_LANES); NaN is skipped. */
#define FL__LANES_MAX(T, NAME)                                                              \
static inline void NAME(const T* z, ptrdiff_t body, double* top) {                         \
    double t[FL_LANES];                                                                     \
    for (int l = 0; l < FL_LANES; l++) t[l] = top[l];                                       \
    for (ptrdiff_t i = 0; i < body; i += FL_LANES) {                                        \
        _Pragma("omp simd")                                                                 \
        for (int l = 0; l < FL_LANES; l++) {                                                \
            double v = z[i + l];                                                            \
            t[l] = v > t[l] ? v : t[l];                                                     \
        }                                                                                   \
    }                                                                                       \
    for (int l = 0; l < FL_LANES; l++) top[l] = t[l];                                       \
}

/* acc[l] += e[i + l] where z[i + l] != m, and ties[l] += 1 where z[i + l] == m, over i < body
 * (a multiple of FL_LANES), in increasing i. Not inlined: inlined into the row loops, gcc
 * leaves a branch in this loop body ("control flow in loop") and runs it scalar. */
#define FL__LANES_REST(T, NAME)                                                             \
static FL__NOINLINE void NAME(const T* z, const double* e, ptrdiff_t body, double m, double* acc, \
                        double* ties) {                                                     \
    double a[FL_LANES], n[FL_LANES];                                                        \
    for (int l = 0; l < FL_LANES; l++) { a[l] = acc[l]; n[l] = ties[l]; }                   \
    for (ptrdiff_t i = 0; i < body; i += FL_LANES) {                                        \
        _Pragma("omp simd")                                                                 \
        for (int l = 0; l < FL_LANES; l++) {                                                \
            double v = e[i + l];   /* read unconditionally: a select, not a branch */     \
            int top = z[i + l] == m;                                                        \
            a[l] += top ? 0.0 : v;                                                          \
            n[l] += top ? 1.0 : 0.0;                                                        \
        }                                                                                   \
    }                                                                                       \
    for (int l = 0; l < FL_LANES; l++) { acc[l] = a[l]; ties[l] = n[l]; }                   \
}

FL__LANES_MAX(double, fl_lanes_max_f8)
FL__LANES_MAX(float, fl_lanes_max_f4)
FL__LANES_REST(double, fl_lanes_rest_f8)
FL__LANES_REST(float, fl_lanes_rest_f4)

#endif
