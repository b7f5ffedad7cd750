"""Fit the polynomials of fl_exp_f4 and fl_log1p_unit_f4 (fastloss/_kernels/_vmath.h).

These serve kernels whose results are rounded to float32, so a relative error near 2^-33 is
enough (a float32 ulp is 2^-23). Each is a least-squares fit of the exact function (mpmath at
40 digits) at Chebyshev nodes, reweighted towards where its relative error peaks (a cheap
approach to minimax), with the leading coefficients fixed to Taylor's:

    exp(r)      = 1 + r + r^2 (C2 + C3 r + ... + C7 r^5)           |r| <= ln2 / 2
    log(1 + f)  = f (1 - f/2 + f^2 (C3 + C4 f + ... + C13 f^10))    f in [sqrt(2)/2 - 1, sqrt(2) - 1]

The kernels' accuracy (fit and float64 evaluation together) is checked against mpmath by
tests/test_vmath.py.

    python3 tools/fit_vmath_f4.py        # prints the coefficients and the fit's relative error
"""
import mpmath as mp
import numpy as np


def fit(f, lo, hi, degree, fixed, nodes=4000, rounds=30):
    """Coefficients, lowest degree first, of a degree-`degree` polynomial close to f on [lo, hi]
    in relative error, the first len(fixed) given."""
    x = (lo + hi) / 2 + (hi - lo) / 2 * np.cos(np.pi * (np.arange(nodes) + 0.5) / nodes)
    y = np.array([float(f(mp.mpf(float(v)))) for v in x])
    a = np.vander(x, degree + 1, increasing=True)
    rest = y - a[:, :len(fixed)] @ np.array(fixed)
    free = a[:, len(fixed):]
    weight = 1 / np.abs(y)
    w = weight.copy()
    for _ in range(rounds):
        c, *_ = np.linalg.lstsq(free * w[:, None], rest * w, rcond=None)
        err = (free @ c - rest) * weight
        w = w * (np.abs(err) / np.abs(err).max()) ** 0.3 + 1e-30
    return np.concatenate([fixed, c])


def worst_relative_error(f, coefficients, lo, hi, times_x=False, points=2001):
    worst = 0.0
    for x in np.linspace(lo, hi, points):
        if x == 0.0:
            continue
        approx = np.polynomial.polynomial.polyval(x, coefficients) * (x if times_x else 1.0)
        exact = f(mp.mpf(float(x)))
        worst = max(worst, abs(float((mp.mpf(float(approx)) - exact) / exact)))
    return worst


def main():
    mp.mp.dps = 40
    half_ln2 = float(mp.log(2)) / 2
    exp_c = fit(mp.exp, -half_ln2, half_ln2, 7, [1.0, 1.0])
    print("exp: C2..C7 =", [float(c) for c in exp_c[2:]],
          "relative error 2^%.1f" % np.log2(worst_relative_error(mp.exp, exp_c, -half_ln2, half_ln2)))
    lo, hi = -0.2929, 0.41422   # sqrt(2)/2 - 1 and sqrt(2) - 1, rounded outwards
    log1p_over_f = lambda f: mp.log1p(f) / f if f != 0 else mp.mpf(1)
    log_c = fit(log1p_over_f, lo, hi, 12, [1.0, -0.5])
    print("log1p: C3..C13 =", [float(c) for c in log_c[2:]],
          "relative error 2^%.1f" % np.log2(worst_relative_error(mp.log1p, log_c, lo, hi, True)))


if __name__ == "__main__":
    main()
