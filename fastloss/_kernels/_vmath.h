/* Vectorizable exp, log and log1p for the kernels (double precision).
 *
 * Why: the C library's exp/log/log1p are calls, so a loop using them is never vectorized, and
 * the logistic and softmax losses are bound by them. These are the fdlibm algorithms (as in
 * musl), written without branches, tables or calls: integer work on the bit pattern, a short
 * polynomial, and selects for the special values. gcc vectorizes loops that inline them, for
 * SSE2, AVX2 and AVX-512 alike.
 *
 * Accuracy (fdlibm's stated bounds, checked against mpmath in tests/test_vmath.py):
 * fl_exp < 1 ulp, fl_log < 1 ulp, fl_log1p < 1 ulp, for every double argument, subnormal
 * results and arguments included; fl_log1p_unit < 1 ulp on [0, 1]. Special values as C99: exp(-inf) = 0, exp(+inf) = inf,
 * log(0) = -inf, log(x < 0) = NaN, log1p(-1) = -inf, log1p(x < -1) = NaN, NaN -> NaN.
 *
 * Determinism: only IEEE +, -, *, /, fused multiply-adds written out as fl__fma, and exact
 * integer operations; the build sets -ffp-contract=off, so the compiler fuses nothing on its own.
 * fl__fma is a single-rounding fma where the variant has FMA (AVX2, AVX-512) and a multiply then
 * an add in the baseline build: the FMA variants give each other's bits, vectorized lanes equal
 * the scalar code, and the baseline differs from them only by rounding, within the same bounds.
 * The fmas are where the algorithms evaluate polynomials and add products (exp, log): about 15%
 * fewer operations in a softplus.
 *
 * Integer comparisons are avoided (64-bit compares need SSE4.2): exponents are turned into
 * doubles exactly (fl__small_int_to_double) and compared as doubles.
 */
#ifndef FASTLOSS_VMATH_H
#define FASTLOSS_VMATH_H

#include <stdint.h>
#include <string.h>
#include <math.h>

#ifdef __FMA__
#define fl__fma(a, b, c) __builtin_fma((a), (b), (c))
#else
#define fl__fma(a, b, c) ((a) * (b) + (c))
#endif

/* Always inlined: a loop calling one of these vectorizes only if it is inlined, and gcc's
 * heuristics declined the bigger ones in functions with many loops (a float32 log_cosh chunk:
 * 2.2x slower, measured). */
#if defined(__GNUC__)
#define FL__INLINE static inline __attribute__((always_inline))
#else
#define FL__INLINE static inline
#endif

static inline uint64_t fl__bits(double x) { uint64_t u; memcpy(&u, &x, sizeof u); return u; }
static inline double fl__double(uint64_t u) { double x; memcpy(&x, &u, sizeof x); return x; }

/* (double)(k - 2048) for 0 <= k < 2^52, exactly, without an int64 -> double conversion
 * (AVX2 has none): 2^52 + k is an integer double whose low mantissa bits are k. */
static inline double fl__small_int_to_double(uint64_t k) {
    return fl__double(UINT64_C(0x4330000000000000) | k) - (4503599627370496.0 + 2048.0);
}

/* ------------------------------------------------------------------------------------ log
 * log(1 + f) for f in [sqrt(2)/2 - 1, sqrt(2) - 1], plus dk log(2) and a correction c:
 * fdlibm's e_log.c kernel. s = f / (2 + f), log(1 + f) = 2 atanh(s) = f - hfsq + s (hfsq + R),
 * R a minimax polynomial in s^2 with |error| < 2^-58.45. */
static inline double fl__log_kernel(double f, double dk, double c) {
    const double ln2_hi = 6.93147180369123816490e-01;   /* 0x3fe62e42 fee00000 */
    const double ln2_lo = 1.90821492927058770002e-10;   /* 0x3dea39ef 35793c76 */
    const double Lg1 = 6.666666666666735130e-01, Lg2 = 3.999999999940941908e-01,
                 Lg3 = 2.857142874366239149e-01, Lg4 = 2.222219843214978396e-01,
                 Lg5 = 1.818357216161805012e-01, Lg6 = 1.531383769920937332e-01,
                 Lg7 = 1.479819860511658591e-01;
    double hfsq = 0.5 * f * f;
    double s = f / (2.0 + f);
    double z = s * s;
    double w = z * z;
    double t2 = z * fl__fma(w, fl__fma(w, fl__fma(w, Lg7, Lg5), Lg3), Lg1);
    double R = fl__fma(w, fl__fma(w, fl__fma(w, Lg6, Lg4), Lg2), t2);
    /* dk ln2_hi is exact (ln2_hi has 21 trailing zero bits, |dk| < 2^11): its fma only adds */
    return fl__fma(dk, ln2_hi, fl__fma(-0.5 * f, f, fl__fma(s, hfsq + R, fl__fma(dk, ln2_lo, c))) + f);
}

/* Split the high word of a positive double u as 2^k m with m in [sqrt(2)/2, sqrt(2)):
 * returns m's bits and stores k + 2048 (non-negative) in *kb. */
static inline uint64_t fl__reduce(uint64_t ui, uint64_t* kb) {
    uint64_t hu = (ui >> 32) + (0x3ff00000 - 0x3fe6a09e);
    *kb = (hu >> 20) - 0x3ff + 2048;
    hu = (hu & 0x000fffff) + 0x3fe6a09e;
    return (hu << 32) | (ui & UINT64_C(0xffffffff));
}

/* log(x) (log1p_mode 0.0) or log(1 + x) (log1p_mode 1.0) for every double x: one function, so
 * that fl_log_either, whose mode is chosen per element, gives exactly fl_log's and fl_log1p's
 * bits. The mode is a double and every select compares doubles: gcc does not vectorize a loop
 * that mixes 32-bit ints (a C truth value) with doubles.
 * log: subnormals are scaled into the normal range first (the kernel needs a normal m).
 * log1p (musl's s_log1p.c): u = 1 + x rounded, c = the rounding error divided by u, then
 * log(u) + c, exact to < 1 ulp where 1 + x rounds. */
static inline double fl__log_mode(double x, double log1p_mode) {
    double tiny = x < 2.2250738585072014e-308 ? 18014398509481984.0 : 1.0;   /* 2^54 */
    double k_tiny = x < 2.2250738585072014e-308 ? 54.0 : 0.0;
    tiny = log1p_mode != 0.0 ? 1.0 : tiny;
    k_tiny = log1p_mode != 0.0 ? 0.0 : k_tiny;
    double u = log1p_mode != 0.0 ? 1.0 + x : x * tiny;
    uint64_t kb;
    double m = fl__double(fl__reduce(fl__bits(u), &kb));
    double dk = fl__small_int_to_double(kb) - k_tiny;
    /* 1 + x - u, exactly: x - (u - 1) when u - 1 is exact (k < 2), 1 - (u - x) otherwise. */
    double c = (dk >= 2.0 ? 1.0 - (u - x) : x - (u - 1.0)) / u;
    double pole = log1p_mode != 0.0 ? -1.0 : 0.0;   /* log's 0, log1p's -1 */
    double r;
    c = dk < 54.0 ? c : 0.0;
    c = log1p_mode != 0.0 ? c : 0.0;
    r = fl__log_kernel(m - 1.0, dk, c);
    r = x == INFINITY ? x : r;
    r = x == pole ? -INFINITY : r;
    r = x < pole ? NAN : r;
    r = x == 0.0 ? (log1p_mode != 0.0 ? x : r) : r;   /* log1p keeps the sign of -0 */
    return x != x ? x : r;
}

/* log(x) for every double x. */
static inline double fl_log(double x) { return fl__log_mode(x, 0.0); }

/* log(1 + x) for every double x. */
static inline double fl_log1p(double x) { return fl__log_mode(x, 1.0); }

/* log1p(x) where log1p_mode is 1.0, log(x) where it is 0.0, element by element: the same bits
 * as fl_log1p / fl_log, for one log where a loss needs either (hard labels of a cross-entropy). */
static inline double fl_log_either(double x, double log1p_mode) { return fl__log_mode(x, log1p_mode); }

/* fl_log_either for x in [2^-53, 1 - 2^-53] (log) or [-(1 - 2^-53), -2^-53] (log1p), or NaN:
 * the same bits, without the selects of the special values none of those x can be (0, the pole,
 * subnormals, infinities; 1 + x is in [2^-53, 1], so k <= 0). Clipped probabilities
 * (binary_cross_entropy with eps >= 2^-53): their loop had spilled AVX-512's 8 mask registers.
 * The log (mode 0.0) holds for every normal positive finite x: fl_log_normal. */
static inline double fl_log_either_inside(double x, double log1p_mode) {
    double u = log1p_mode != 0.0 ? 1.0 + x : x;
    uint64_t kb;
    double m = fl__double(fl__reduce(fl__bits(u), &kb));
    double c = log1p_mode != 0.0 ? (x - (u - 1.0)) / u : 0.0;
    double r = fl__log_kernel(m - 1.0, fl__small_int_to_double(kb), c);
    return x != x ? x : r;
}

/* fl_log's bits for normal positive finite x, or NaN (other x: a wrong finite value). */
static inline double fl_log_normal(double x) { return fl_log_either_inside(x, 0.0); }

/* log(1 + x) for x in [0, 1] (NaN -> NaN), as fl_log1p but cheaper: softplus's log1p(exp(-|z|)).
 * 1 + x = 2^k (1 + f) with k = 0 (f = x, exact) or k = 1 (f = (x - 1) / 2, with x - 1's rounding
 * error err recovered exactly by Fast2Sum). The correction err / (1 + x) is below 2^-54, so a
 * 3%-accurate 1 / (1 + x) (the chord of 1/u on [sqrt(2), 2]) suffices and saves a division. */
static inline double fl_log1p_unit(double x) {
    double k = x >= 0.41421356237309503 ? 1.0 : 0.0;
    double d = x - 1.0;
    double err = x - (d + 1.0);
    double f = k != 0.0 ? 0.5 * d : x;
    double c = k != 0.0 ? err * fl__fma(-0.35355339059327373, 1.0 + x, 1.2071067811865475) : 0.0;
    return fl__log_kernel(f, k, c);
}

/* y 2^k, given k + 2048 (|k| <= 1083), as y 2^k1 2^k2 (both normal, k1 = floor(k / 2)): y 2^k1 is
 * exact and the second product rounds once, so subnormal results are correctly scaled too. */
FL__INLINE double fl__times_pow2(double y, uint64_t kb) {
    uint64_t k1b = kb >> 1;
    double s1 = fl__double((k1b - 1024 + 1023) << 52);
    double s2 = fl__double((kb - k1b - 1024 + 1023) << 52);
    return (y * s1) * s2;
}

/* ------------------------------------------------------------------------------------ exp
 * fdlibm's e_exp.c: x = k ln2 + r with |r| <= ln2 / 2 (k ln2 in two parts, exact), exp(r) from
 * a rational form with a degree-5 minimax polynomial (|error| < 2^-59), times 2^k.
 * fl__exp_parts returns y = exp(r) and k + 2048 in *kb, for |x| <= 750; fl_exp clamps x and
 * scales, fl_exp_normal scales once where it may. */
FL__INLINE double fl__exp_parts(double x, uint64_t* kb) {
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    const double inv_ln2 = 1.44269504088896338700e+00;
    const double shift = 6755399441055744.0;   /* 1.5 * 2^52: adding it rounds to an integer */
    const double P1 = 1.66666666666666019037e-01, P2 = -2.77777777770155933842e-03,
                 P3 = 6.61375632143793436117e-05, P4 = -1.65339022054652515390e-06,
                 P5 = 4.13813679705723846039e-08;
    double kd = fl__fma(x, inv_ln2, shift);
    *kb = fl__bits(kd) - fl__bits(shift) + 2048;   /* k + 2048, k = round(x / ln2) */
    kd -= shift;
    double hi = fl__fma(-kd, ln2_hi, x);   /* kd ln2_hi is exact */
    double r = fl__fma(-kd, ln2_lo, hi);
    double rr = r * r;
    double c = fl__fma(-rr, fl__fma(rr, fl__fma(rr, fl__fma(rr, fl__fma(rr, P5, P4), P3), P2), P1), r);
    return 1.0 + (fl__fma(-kd, ln2_lo, (r * c) / (2.0 - c)) + hi);
}

static inline double fl_exp(double x) {
    /* Beyond +-750 the result is 0 or inf anyway; the clamp keeps 2^k's exponent in range. */
    double xc = x < -750.0 ? -750.0 : x;
    xc = xc > 750.0 ? 750.0 : xc;
    uint64_t kb;
    double y = fl__exp_parts(xc, &kb);
    return x != x ? x : fl__times_pow2(y, kb);
}

/* y 2^k, given k + 2048, for 2^k normal (-1022 <= k <= 1023): one product, rounded once, as
 * fl__times_pow2's second. */
FL__INLINE double fl__times_normal_pow2(double y, uint64_t kb) {
    return y * fl__double((kb - 2048 + 1023) << 52);
}

/* exp(x) for -708 <= x <= 709 only, where 2^k is normal: fl_exp's bits (NaN gives a NaN), in
 * fewer operations (no clamp, one scaling). For loops whose caller knows the range: the softmax
 * rows of _lanes.h, whose arguments z - max z are checked against FL_EXP_NORMAL_MIN per row, and
 * the elementwise kernels' sub-blocks of arguments <= 0 (_elementwise.pyx.tp). */
#define FL_EXP_NORMAL_MIN (-708.0)

FL__INLINE double fl_exp_normal(double x) {
    uint64_t kb;
    double y = fl__exp_parts(x, &kb);
    return fl__times_normal_pow2(y, kb);
}

/* ------------------------------------------------------------- exp and log1p for float32 results
 * For the kernels whose results are rounded to float32 (float32 predictions): relative error
 * below 2^-33 (tested against mpmath in tests/test_vmath.py), so such a result stays within 1 ulp
 * of float32 (0.5 ulp from its rounding, 2^-9 from these), the bound fl_exp and fl_log1p_unit meet
 * with 2^-29 to spare. They trade that spare precision for speed: polynomials without a division,
 * about 20% fewer cycles in a softplus. Arguments, special values and subnormal results as
 * fl_exp and fl_log1p_unit; the same determinism (fl__fma, no contraction). Coefficients: fits to
 * mpmath by tools/fit_vmath_f4.py. */

/* exp(x): exp(r) for |r| <= ln2 / 2 by a degree-7 polynomial (|relative error| < 2^-34), times
 * 2^k. One fma reduces x: k ln2's rounding error, |k| 2^-54, is far below the bound. Split as
 * fl_exp: fl__exp_f4_parts, then fl_exp_f4's clamp and scaling or fl_exp_f4_normal's. */
FL__INLINE double fl__exp_f4_parts(double x, uint64_t* kb) {
    const double ln2 = 0.6931471805599453, inv_ln2 = 1.4426950408889634;
    const double shift = 6755399441055744.0;   /* 1.5 * 2^52: adding it rounds to an integer */
    const double C2 = 0.5000000067682933, C3 = 0.1666666586946283, C4 = 0.0416662949813093,
                 C5 = 0.008333496942027034, C6 = 0.0013944655394282465,
                 C7 = 0.00019790408308581188;
    double kd = fl__fma(x, inv_ln2, shift);
    *kb = fl__bits(kd) - fl__bits(shift) + 2048;   /* k + 2048, k = round(x / ln2) */
    kd -= shift;
    double r = fl__fma(-kd, ln2, x);
    double r2 = r * r;
    double p = fl__fma(r2, fl__fma(r2, fl__fma(r, C7, C6), fl__fma(r, C5, C4)), fl__fma(r, C3, C2));
    return fl__fma(r2, p, r) + 1.0;
}

FL__INLINE double fl_exp_f4(double x) {
    double xc = x < -750.0 ? -750.0 : x;
    xc = xc > 750.0 ? 750.0 : xc;
    uint64_t kb;
    double y = fl__exp_f4_parts(xc, &kb);
    return x != x ? x : fl__times_pow2(y, kb);
}

/* fl_exp_f4 for -708 <= x <= 709 only: its bits, as fl_exp_normal is fl_exp's. */
FL__INLINE double fl_exp_f4_normal(double x) {
    uint64_t kb;
    double y = fl__exp_f4_parts(x, &kb);
    return fl__times_normal_pow2(y, kb);
}

/* log(1 + x) for x in [0, 1] (NaN -> NaN): 1 + x = 2^k (1 + f) with k = 0 (f = x, exact) or
 * k = 1 (f = (x - 1) / 2, off by at most 2^-55), log(1 + f) = f - f^2/2 + f^3 Q(f) by a degree-13
 * polynomial on [sqrt(2)/2 - 1, sqrt(2) - 1] (|relative error| < 2^-35). */
FL__INLINE double fl_log1p_unit_f4(double x) {
    const double C3 = 0.3333333389285746, C4 = -0.24999997072918506, C5 = 0.1999991120960566,
                 C6 = -0.16666855298605612, C7 = 0.14290175935971586, C8 = -0.12498282335978038,
                 C9 = 0.11014768547371756, C10 = -0.09924578620570429, C11 = 0.09988634144477167,
                 C12 = -0.09862970093226514, C13 = 0.053864035065768597;
    double k = x >= 0.41421356237309503 ? 1.0 : 0.0;
    double f = k != 0.0 ? 0.5 * (x - 1.0) : x;
    double f2 = f * f, f4 = f2 * f2, f8 = f4 * f4;
    double q = fl__fma(f8, fl__fma(f2, C13, fl__fma(f, C12, C11)),
                       fl__fma(f4, fl__fma(f2, fl__fma(f, C10, C9), fl__fma(f, C8, C7)),
                               fl__fma(f2, fl__fma(f, C6, C5), fl__fma(f, C4, C3))));
    double p = fl__fma(f * f2, q, fl__fma(-0.5 * f, f, f));
    return fl__fma(k, 0.6931471805599453, p);
}

#endif
