"""Accuracy against mpmath at 50 digits, in ulp, at each loss's hard points.

The oracles, hard points and bounds are tables in ``fastloss.accuracy`` (a family adds its
rows there); ``fastloss accuracy`` prints the same measurements.

Stated bounds (``fastloss.accuracy.BOUNDS``): in float64, 1 ulp for mse, mae, huber and
quantile (the residual is rounded once, the loss adds at most one more rounding) and 3 ulp for
log_cosh (log1p/sinh/exp/tanh from libm); 1 ulp in float32 for every loss (the kernels compute
in double and round once to float32). A loss without its own row gets DEFAULT_BOUND: 4 ulp in
float64, 1 in float32. Classification (float64, as observed, see fastloss/accuracy.py): 2 ulp
for squared_hinge and multiclass_hinge, 4 for the cross-entropies, 6 for cross_entropy and
softmax_focal, 8 for focal, 24 for kl_divergence (cancellation of its terms when the
divergence is small); soft targets next to z = 0 are a listed known defect.
"""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

import fastloss as fl
from fastloss import accuracy as A
from registry_cases import pair_loss

mpmath = pytest.importorskip("mpmath")


@pytest.mark.parametrize("name", fl.available())
def test_every_loss_has_an_oracle_and_hard_points(name):
    pair_loss(name)
    assert name in A.ORACLES, f"add an mpmath Oracle for {name} to fastloss/accuracy.py"
    assert len(A.POINTS[name]) >= 10, f"{name}: too few hard points"


@pytest.mark.parametrize("name", fl.available())
def test_accuracy_within_the_stated_bound(name):
    pair_loss(name)
    if name not in A.ORACLES:
        pytest.fail(f"no mpmath oracle for {name} in fastloss/accuracy.py")
    measured = A.measure(name)
    bound = A.bound(name)
    for code, worst in measured.items():
        for what, (err, point) in worst.items():
            assert err <= bound[code], (
                f"{name} {what} in {code}: {err:.3g} ulp > {bound[code]} at {point}")


def test_ulp_error_measures_in_units_of_the_last_place():
    mp = mpmath
    with mp.workdps(50):
        one = mp.mpf(1)
        assert A.ulp_error(1.0, one, np.float64) == 0.0
        assert A.ulp_error(1.0 + 2 ** -52, one, np.float64) == pytest.approx(1.0)
        assert A.ulp_error(1.0 + 3 * 2 ** -23, one, np.float32) == pytest.approx(3.0)
        assert A.ulp_error(math.inf, mp.inf, np.float64) == 0.0
        assert A.ulp_error(1e308, mp.inf, np.float64) == math.inf
        assert A.ulp_error(math.nan, one, np.float64) == math.inf
        assert A.ulp_error(0.0, mp.mpf("1e-400"), np.float64) < 1e-70   # rounds to 0 in float64
        assert A.ulp_error(5e-324, mp.mpf(0), np.float64) == 1.0


def test_a_wrong_kernel_is_caught():
    """The harness can fail: an oracle off by a factor (1 + 1e-14) shows ~45 ulp."""
    saved = A.ORACLES["mse"]
    try:
        A.ORACLES["mse"] = A.Oracle(lambda y, p: (p - y) ** 2 * (1 + mpmath.mpf("1e-14")),
                                    saved.grad, saved.hess)
        worst = A.measure("mse", dtypes=("f8",))["f8"]["value"][0]
    finally:
        A.ORACLES["mse"] = saved
    assert worst > 20


def test_accuracy_command():
    out = subprocess.run([sys.executable, "-m", "fastloss", "accuracy", "--losses", "mse",
                          "log_cosh", "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["loss"] for r in rows] == ["mse", "log_cosh"]
    assert all(r["status"] == "ok" and r["f8_value_ulp"] <= 4 for r in rows)
    out = subprocess.run([sys.executable, "-m", "fastloss", "accuracy", "--losses", "mae",
                          "--dtypes", "f8"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "mae" in out.stdout and "ulp" in out.stdout, out.stderr


def test_kl_divergence_hessian_does_not_overflow_for_tiny_predictions():
    """p / q^2 at q = 1e-300 is 1e300 (finite): the kernel must not form q * q (underflows to 0)."""
    p = np.array([[1e-300, 1.0]])
    q = np.array([[1e-300, 1.0]])
    _, h = fl.kl_divergence.grad_hess(p, q)
    assert h[0, 0] == pytest.approx(1e300, rel=1e-15)
    assert h[0, 1] == pytest.approx(1.0, rel=1e-15)


def test_known_soft_target_defect_is_listed_not_hidden():
    """The soft-target points left out of the grids (see fastloss/accuracy.py) are listed, and
    measured here: this test fails once the kernels are fixed, to put them back in the grid."""
    for name, points in A.SOFT_TARGET_NEAR_ZERO.items():
        assert points and not set(map(repr, points)) & set(map(repr, A.POINTS[name]))
        saved = A.POINTS[name]
        try:
            A.POINTS[name] = points
            worst = A.measure(name, dtypes=("f8",))["f8"]["grad"][0]
        finally:
            A.POINTS[name] = saved
        assert worst > A.bound(name)["f8"], f"{name}: soft-target points now accurate"
