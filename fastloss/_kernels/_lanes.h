/* The lane loops of the multiclass rows (_row_max and _exp_row in _multiclass.pyx), and the
 * column loop of its narrow blocks.
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

#include <math.h>
#include <stddef.h>

#include "_vmath.h"

#if defined(__GNUC__) || defined(__clang__)
#define FL__NOINLINE __attribute__((noinline))
#else
#define FL__NOINLINE
#endif

#define FL_LANES 8   /* _common.pxd's LANES (_multiclass checks at import that they agree) */

/* top[l] = max(top[l], z[i + l]) and bottom[l] = min(bottom[l], z[i + l]) over i < body (a
 * multiple of FL_LANES); NaN is skipped. The lanes are of z's own type: a maximum is exact, and
 * float32 lanes need no conversion. */
#define FL__LANES_RANGE(T, NAME)                                                            \
static inline void NAME(const T* z, ptrdiff_t body, double* top, double* bottom) {         \
    T t[FL_LANES], b[FL_LANES];                                                             \
    for (int l = 0; l < FL_LANES; l++) { t[l] = (T) top[l]; b[l] = (T) bottom[l]; }         \
    for (ptrdiff_t i = 0; i < body; i += FL_LANES) {                                        \
        _Pragma("omp simd")                                                                 \
        for (int l = 0; l < FL_LANES; l++) {                                                \
            T v = z[i + l];                                                                 \
            t[l] = v > t[l] ? v : t[l];                                                     \
            b[l] = v < b[l] ? v : b[l];                                                     \
        }                                                                                   \
    }                                                                                       \
    for (int l = 0; l < FL_LANES; l++) { top[l] = t[l]; bottom[l] = b[l]; }                \
}

/* Whether every exponential of a row with maximum m and minimum lo (NaN aside) may take the
 * "normal" exp (fl_exp_normal, fl_exp_f4_normal: the same bits, fewer operations): each
 * argument z - m then lies in [-708, 0]. False where m is +inf or lo is -inf (their limits need
 * the full functions). An all-NaN row (m = -inf, lo = +inf) passes: its arguments are NaN, and
 * NaN is what either exp returns. */
static inline int fl__normal_exp_row(double m, double lo) {
    return lo - m >= FL_EXP_NORMAL_MIN;
}

/* The shifted logit v - m for the row max m; with m = +inf the limit (0 for +inf, -inf
 * otherwise, NaN kept), as selects: _multiclass's _shifted. */
static inline double fl__shifted(double v, double m) {
    double limit = v == INFINITY ? 0.0 : -INFINITY;
    limit = v != v ? v : limit;
    return m == INFINITY ? limit : v - m;
}

/* The body and the padded remainder of FL__LANES_EXP_REST's loop, with the exp EXP. */
#define FL__EXP_REST_GROUPS(EXP)                                                            \
    {                                                                                       \
        ptrdiff_t body = K - K % FL_LANES;                                                  \
        for (ptrdiff_t i = 0; i < body; i += FL_LANES) {                                    \
            for (int l = 0; l < FL_LANES; l++) zd[l] = z[i + l];                            \
            _Pragma("omp simd")                                                             \
            for (int l = 0; l < FL_LANES; l++) {                                            \
                double v = zd[l];                                                           \
                double ex = EXP(v - m);                                                     \
                int top = v == m;                                                           \
                e[i + l] = ex;                                                              \
                a[l] += top ? 0.0 : ex;                                                     \
                n[l] += top ? 1.0 : 0.0;                                                    \
            }                                                                               \
        }                                                                                   \
        if (body < K) {                                                                     \
            for (int l = 0; l < FL_LANES; l++) zd[l] = body + l < K ? z[body + l] : m;      \
            _Pragma("omp simd")                                                             \
            for (int l = 0; l < FL_LANES; l++) {                                            \
                double v = zd[l];                                                           \
                double ex = EXP(v - m);                                                     \
                int top = v == m, pad = body + l >= K;                                      \
                x[l] = ex;                                                                  \
                a[l] += top || pad ? 0.0 : ex;                                              \
                n[l] += top && !pad ? 1.0 : 0.0;                                            \
            }                                                                               \
            for (ptrdiff_t i = body; i < K; i++) e[i] = x[i - body];                        \
        }                                                                                   \
    }

/* One row's softmax exponentials and their lane sums, in one pass: e[i] = EXP(z[i] - m) for
 * i < K, and acc[l] += e[i] where z[i] != m, ties[l] += 1 where z[i] == m (lane l = i % FL_LANES,
 * in increasing i); m and lo are the row's maximum and minimum. A group of lanes is widened to
 * double apart (a loop mixing float and double vectors runs at the float width); the last,
 * partial group is padded with m (an argument of 0, in every exp's range) and its padding
 * masked out (adding +0 leaves a lane's bits), so it vectorizes too. Rows within fl__normal_exp_row take EXP_NORMAL (EXP's bits, cheaper). A row
 * whose max is +inf has exponentials 1 (+inf), NaN or 0: exp of fl__shifted, without the exp.
 * EXP is fl_exp, or fl_exp_f4 where the results are rounded to float32 (_multiclass's
 * _exp_for_float32). */
#define FL__LANES_EXP_REST(T, EXP, EXP_NORMAL, NAME)                                        \
static FL__NOINLINE void NAME(const T* z, double* e, ptrdiff_t K, double m, double lo,      \
                              double* acc, double* ties) {                                  \
    double a[FL_LANES], n[FL_LANES], x[FL_LANES], zd[FL_LANES];                             \
    for (int l = 0; l < FL_LANES; l++) { a[l] = acc[l]; n[l] = ties[l]; }                   \
    if (m == INFINITY) {                                                                    \
        for (ptrdiff_t i = 0; i < K; i++) {                                                 \
            double v = z[i];                                                                \
            int top = v == m;                                                               \
            e[i] = top ? 1.0 : (v != v ? v : 0.0);                                          \
            a[i % FL_LANES] += top ? 0.0 : e[i];                                            \
            n[i % FL_LANES] += top ? 1.0 : 0.0;                                             \
        }                                                                                   \
    } else if (fl__normal_exp_row(m, lo)) {                                                 \
        FL__EXP_REST_GROUPS(EXP_NORMAL)                                                     \
    } else {                                                                                \
        FL__EXP_REST_GROUPS(EXP)                                                            \
    }                                                                                       \
    for (int l = 0; l < FL_LANES; l++) { acc[l] = a[l]; ties[l] = n[l]; }                   \
}

/* The same for one class of a block of n rows stored column-wise (_multiclass's narrow blocks):
 * lane[i] += EXP(zt[i] - m[i]) where zt[i] != m[i], ties[i] += 1 where zt[i] == m[i], and, with
 * STORE, e[i] = the exponential. NORMAL: every row is within fl__normal_exp_row, and EXP is a
 * normal exp (m[i] is finite: no limits to take). */
#define FL__COLUMN_EXP_REST(EXP, NORMAL, STORE, NAME)                                       \
static FL__NOINLINE void NAME(const double* restrict zt, const double* restrict m,          \
                              ptrdiff_t n, double* restrict lane, double* restrict ties,    \
                              double* restrict e) {                                         \
    _Pragma("omp simd")                                                                     \
    for (ptrdiff_t i = 0; i < n; i++) {                                                     \
        double v = zt[i];                                                                   \
        double ex = EXP(NORMAL ? v - m[i] : fl__shifted(v, m[i]));                          \
        int top = v == m[i];                                                                \
        lane[i] += top ? 0.0 : ex;                                                          \
        ties[i] += top ? 1.0 : 0.0;                                                         \
        if (STORE) e[i] = ex;                                                               \
    }                                                                                       \
}

FL__LANES_RANGE(double, fl_lanes_range_f8)
FL__LANES_RANGE(float, fl_lanes_range_f4)
FL__LANES_EXP_REST(double, fl_exp, fl_exp_normal, fl_lanes_exp_rest_f8)
FL__LANES_EXP_REST(float, fl_exp, fl_exp_normal, fl_lanes_exp_rest_f4)
FL__LANES_EXP_REST(float, fl_exp_f4, fl_exp_f4_normal, fl_lanes_exp_f4_rest_f4)
FL__COLUMN_EXP_REST(fl_exp, 0, 1, fl_column_exp_rest_store)
FL__COLUMN_EXP_REST(fl_exp, 0, 0, fl_column_exp_rest)
FL__COLUMN_EXP_REST(fl_exp_f4, 0, 1, fl_column_exp_f4_rest_store)
FL__COLUMN_EXP_REST(fl_exp_f4, 0, 0, fl_column_exp_f4_rest)
FL__COLUMN_EXP_REST(fl_exp_normal, 1, 1, fl_column_exp_normal_rest_store)
FL__COLUMN_EXP_REST(fl_exp_normal, 1, 0, fl_column_exp_normal_rest)
FL__COLUMN_EXP_REST(fl_exp_f4_normal, 1, 1, fl_column_exp_f4_normal_rest_store)
FL__COLUMN_EXP_REST(fl_exp_f4_normal, 1, 0, fl_column_exp_f4_normal_rest)

/* The column loops by [normal][EXP is fl_exp_f4][STORE], and the call that picks one. */
typedef void (*fl__column_fn)(const double*, const double*, ptrdiff_t, double*, double*, double*);
static fl__column_fn const fl__column_fns[2][2][2] = {
    {{fl_column_exp_rest, fl_column_exp_rest_store},
     {fl_column_exp_f4_rest, fl_column_exp_f4_rest_store}},
    {{fl_column_exp_normal_rest, fl_column_exp_normal_rest_store},
     {fl_column_exp_f4_normal_rest, fl_column_exp_f4_normal_rest_store}},
};

/* One class of a narrow block: with fl_exp_f4 if f4, the normal exp if normal (every row of the
 * block within fl__normal_exp_row); the exponentials are stored in e unless it is NULL. */
static inline void fl_column_exp_rest_of(int normal, int f4, const double* zt, const double* m,
                                         ptrdiff_t n, double* lane, double* ties, double* e) {
    fl__column_fns[normal != 0][f4 != 0][e != NULL](zt, m, n, lane, ties, e);
}

#endif
