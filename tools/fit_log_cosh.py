"""Fit the polynomials of log_cosh's kernel near 0 (fastloss/_kernels/_math_regression.pxd).

For |r| < LOG_COSH_SPLIT the kernel computes, with t = r^2,
    log cosh(r) = t/2 + t^2 S(t)        tanh(r) = r + r t Q(t)
and beyond it the exp/log1p forms, which lose relative precision as |r| -> 0. S and Q are
Chebyshev interpolants (mpmath.chebyfit at 80 digits) of the exact remainders on [0, split^2];
their own error is far below 2^-53 of the result, so the rounding of the float64 (Estrin)
evaluation decides the accuracy (checked against mpmath by tests/test_regression.py and
`fastloss accuracy`).

    python3 tools/fit_log_cosh.py        # prints the coefficients, highest degree first
    python3 tools/fit_log_cosh.py --float32

--float32: the shorter S and Q of the kernels' float32 results (_log_cosh_s_f4, _tanh_q_f4),
whose own error need only stay far below float32's ulp: the bound printed is the relative
error they add to the loss (at most 2 split^2 |dS|) and to tanh (split^2 |dQ|).
"""
import sys

import mpmath as mp

SPLIT = 0.75
DEGREES = {"S": 11, "Q": 12}
DEGREES_FLOAT32 = {"S": 7, "Q": 7}


def remainder_s(t):
    return (mp.log(mp.cosh(mp.sqrt(t))) / t - mp.mpf(1) / 2) / t


def remainder_q(t):
    r = mp.sqrt(t)
    return (mp.tanh(r) / r - 1) / t


def main():
    mp.mp.dps = 80
    degrees = DEGREES_FLOAT32 if "--float32" in sys.argv[1:] else DEGREES
    t_max = mp.mpf(SPLIT) ** 2
    for name, f in (("S", remainder_s), ("Q", remainder_q)):
        poly, err = mp.chebyfit(f, [mp.mpf(0), t_max], degrees[name] + 1, error=True)
        # the loss is t/2 + t^2 S (t^2 dS against t/2), tanh r is r (1 + t Q) (t dQ against 1)
        added = err * (2 * t_max if name == "S" else t_max)
        print(f"# {name}: degree {degrees[name]}, interpolation error {mp.nstr(err, 3)}, "
              f"relative error added 2^{float(mp.log(added, 2)):.1f}")
        for c in poly:
            print(repr(float(c)))


if __name__ == "__main__":
    main()
