"""Regression losses against the NumPy reference, finite differences and worked examples."""

import mpmath
import numpy as np
import pytest

import fastloss as fl
from fastloss import reference as R

REGRESSION = ["mse", "mae", "huber", "quantile", "log_cosh"]
PARAMS = {"mse": {}, "mae": {}, "huber": {"delta": 0.7}, "quantile": {"alpha": 0.3},
          "log_cosh": {}}
# Around the block size (4096), the accumulator lanes (16) and the sub-block (256), odd sizes,
# and one large input.
SIZES = [1, 2, 7, 8, 9, 15, 16, 17, 255, 256, 257, 4095, 4096, 4097, 3 * 4096 + 5, 100_003]
TOL = {np.float64: dict(rtol=1e-12, atol=1e-13), np.float32: dict(rtol=2e-6, atol=1e-6)}
# Float32 inputs of log_cosh take exp and log1p to 2^-33 relative (fl_exp_f4, for float32
# results: see _vmath.h), so its float64 sums of them are that close to the float64 reference.
FLOAT32_EXP_LOG = {"log_cosh"}


def data(n, dtype, seed=0, weights=False):
    rng = np.random.default_rng(seed)
    y = rng.standard_normal(n).astype(dtype)
    p = (y + rng.standard_normal(n) * 2).astype(dtype)
    w = rng.uniform(0, 3, n).astype(dtype) if weights else None
    return y, p, w


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", REGRESSION)
def test_value_matches_reference(name, n, dtype, weighted):
    y, p, w = data(n, dtype, seed=n, weights=weighted)
    loss, params = fl.get(name), PARAMS[name]
    # The reference sees the same (rounded) input values, in float64.
    for reduction in ("mean", "sum"):
        got = loss(y, p, sample_weight=w, reduction=reduction, **params)
        want = R.value(name, y, p, w, reduction, **params)
        assert isinstance(got, float)
        tol = TOL[np.float64] if n < 10 else dict(rtol=1e-11)
        if dtype == np.float32 and name in FLOAT32_EXP_LOG:
            tol = dict(rtol=2.0 ** -32, atol=1e-13)
        np.testing.assert_allclose(got, want, **tol)
    per = loss(y, p, sample_weight=w, reduction="none", **params)
    assert per.dtype == dtype and per.shape == p.shape
    np.testing.assert_allclose(per, R.value(name, y, p, w, "none", **params), **TOL[dtype])


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", REGRESSION)
def test_grad_matches_reference(name, reduction, dtype, weighted):
    y, p, w = data(5003, dtype, weights=weighted)
    loss, params = fl.get(name), PARAMS[name]
    g = loss.grad(y, p, sample_weight=w, reduction=reduction, **params)
    assert g.dtype == dtype and g.shape == p.shape
    want = R.grad(name, y, p, w, reduction, **params)
    np.testing.assert_allclose(g, want, rtol=TOL[dtype]["rtol"], atol=1e-7 * np.abs(want).max())
    value, g2 = loss.value_and_grad(y, p, sample_weight=w, reduction=reduction, **params)
    np.testing.assert_array_equal(g2, g)   # one pass gives bitwise the same gradient
    if reduction == "none":
        np.testing.assert_array_equal(value, loss(y, p, sample_weight=w, reduction="none", **params))
    else:
        assert value == loss(y, p, sample_weight=w, reduction=reduction, **params)


@pytest.mark.parametrize("name", REGRESSION)
def test_grad_hess_match_reference(name):
    y, p, w = data(4099, np.float64, weights=True)
    loss, params = fl.get(name), PARAMS[name]
    g, h = loss.grad_hess(y, p, sample_weight=w, **params)
    rg, rh = R.grad_hess(name, y, p, w, **params)
    np.testing.assert_allclose(g, rg, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(h, rh, rtol=1e-12, atol=1e-15)
    g, h = loss.grad_hess(y, p, sample_weight=w, hess_floor=0.25, **params)
    rg, rh = R.grad_hess(name, y, p, w, hess_floor=0.25, **params)
    np.testing.assert_allclose(h, rh, rtol=1e-12, atol=1e-15)
    assert np.all(h[w > 0] > 0)


def away_from_kinks(name, n, seed=1):
    """Residuals at least 1e-3 away from where the loss is not twice differentiable."""
    rng = np.random.default_rng(seed)
    y = rng.standard_normal(n)
    r = rng.uniform(0.05, 2.5, n) * rng.choice([-1.0, 1.0], n)
    if name == "huber":
        r = np.where(np.abs(np.abs(r) - PARAMS["huber"]["delta"]) < 0.05, r * 1.2, r)
    return y, y + r


@pytest.mark.parametrize("name", REGRESSION)
def test_grad_and_hess_against_finite_differences(name):
    """Central differences of the reduced loss (gradient) and of the gradient (Hessian)."""
    loss, params = fl.get(name), PARAMS[name]
    y, p = away_from_kinks(name, 31)
    w = np.random.default_rng(2).uniform(0.5, 2.0, p.size)
    step = 1e-6
    for reduction in ("mean", "sum"):
        g = loss.grad(y, p, sample_weight=w, reduction=reduction, **params)
        fd = np.empty_like(p)
        for i in range(p.size):
            hi, lo = p.copy(), p.copy()
            hi[i] += step
            lo[i] -= step
            fd[i] = (loss(y, hi, sample_weight=w, reduction=reduction, **params)
                     - loss(y, lo, sample_weight=w, reduction=reduction, **params)) / (2 * step)
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)
    g, h = loss.grad_hess(y, p, **params)
    gp, _ = loss.grad_hess(y, p + step, **params)
    gm, _ = loss.grad_hess(y, p - step, **params)
    np.testing.assert_allclose(h, (gp - gm) / (2 * step), rtol=1e-5, atol=1e-7)


def test_textbook_worked_example():
    # True [300, 400, 350, 500], predicted [290, 420, 360, 480]: squared errors 100, 400, 100,
    # 400 -> MSE 250.0 (the textbook's 350.0 is an arithmetic slip); absolute errors 10, 20, 10,
    # 20 -> MAE 15.0.
    y, p = [300, 400, 350, 500], [290, 420, 360, 480]
    assert fl.mse(y, p) == 250.0
    assert fl.mae(y, p) == 15.0
    assert fl.mse(y, p, reduction="sum") == 1000.0
    np.testing.assert_array_equal(fl.mse.grad(y, p), [-5.0, 10.0, 5.0, -10.0])   # 2 r / 4


def test_hand_computed_parametrised_losses():
    # Huber, delta 1: residual 0.5 -> 0.125, residual 3 -> 1 * (3 - 0.5) = 2.5.
    assert fl.huber([0.0, 0.0], [0.5, 3.0], delta=1.0) == pytest.approx(1.3125, abs=1e-15)
    assert fl.huber([0.0, 0.0], [0.5, 3.0], delta=2.0) == pytest.approx((0.125 + 4.0) / 2, abs=1e-15)
    # Pinball, alpha 0.9: under-prediction by 2 costs 1.8, over-prediction by 2 costs 0.2.
    assert fl.quantile([10.0, 10.0], [8.0, 12.0], alpha=0.9) == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_allclose(fl.quantile.grad([10.0, 10.0, 10.0], [8.0, 12.0, 10.0], alpha=0.9,
                                                reduction="sum"), [-0.9, 0.1, -0.4])
    # alpha = 0.5 is half the MAE.
    y, p, _ = data(1001, np.float64)
    assert fl.quantile(y, p, alpha=0.5) == pytest.approx(0.5 * fl.mae(y, p), rel=1e-14)


# mpmath at 50 digits: log(cosh(r)) and tanh(r) across the formula switch at |r| = 1.
@pytest.mark.parametrize("r", [1e-300, 1e-8, 1e-3, 0.5, 0.999999, 1.0, 1.000001, 20.0, 37.0,
                               710.0, 1e4, 1e300])
def test_log_cosh_accuracy_against_mpmath(r):
    mpmath.mp.dps = 50
    for sign in (1.0, -1.0):
        x = sign * r
        want = float(mpmath.log(mpmath.cosh(mpmath.mpf(x))))
        got = fl.log_cosh([0.0], [x])
        assert got == pytest.approx(want, rel=4e-16, abs=0.0) if want != 0 else got == 0.0
        want_g = float(mpmath.tanh(mpmath.mpf(x)))
        assert fl.log_cosh.grad([0.0], [x]) == pytest.approx(want_g, rel=2e-16, abs=0.0)
        want_h = float(1 / mpmath.cosh(mpmath.mpf(x)) ** 2)
        _, h = fl.log_cosh.grad_hess([0.0], [x])
        assert h[0] == pytest.approx(want_h, rel=1e-15, abs=0.0)


def test_log_cosh_dense_sweep_against_mpmath():
    """Every residual of a dense sweep, in ulp: the polynomials near 0, their switch to the
    exp/log1p forms at |r| = 0.75 (from both sides), and far out. Bounds: value and gradient
    2 ulp, second derivative 3 ulp (kernel comment in _math_regression.pxd)."""
    rng = np.random.default_rng(7)
    r = np.concatenate([rng.uniform(-4.0, 4.0, 1500), np.geomspace(1e-12, 40.0, 600),
                        rng.uniform(0.74, 0.76, 400), [0.75, np.nextafter(0.75, 0.0)]])
    r = np.concatenate([r, -r[::7]])
    y = np.zeros_like(r)
    value = fl.log_cosh(y, r, reduction="none")
    grad, hess = fl.log_cosh.grad_hess(y, r)
    worst = {"value": 0.0, "grad": 0.0, "hess": 0.0}
    with mpmath.workdps(60):
        for i, x in enumerate(r):
            xm = mpmath.mpf(float(x))
            want = {"value": mpmath.log(mpmath.cosh(xm)), "grad": mpmath.tanh(xm),
                    "hess": 1 / mpmath.cosh(xm) ** 2}
            got = {"value": value[i], "grad": grad[i], "hess": hess[i]}
            for k in want:
                ulp = np.spacing(abs(float(want[k])))
                worst[k] = max(worst[k], float(abs(mpmath.mpf(float(got[k])) - want[k]) / ulp))
    assert worst["value"] <= 2.0 and worst["grad"] <= 2.0 and worst["hess"] <= 3.0, worst


def test_log_cosh_float32_sweep_against_mpmath():
    """Float32 residuals take their own exp, log1p and shorter polynomials near 0
    (_math_regression.pxd's _log_cosh_s_f4, _tanh_q_f4): each value before its rounding to
    float32 (a one-element sum, accumulated in float64) within 2^-32 of log cosh r, across the
    polynomials, their switch at |r| = 0.75 and the exp/log1p form; the float32 results, value
    and gradient, within 1 ulp of float32."""
    rng = np.random.default_rng(8)
    r = np.concatenate([rng.uniform(-4.0, 4.0, 600), np.geomspace(1e-6, 40.0, 400),
                        rng.uniform(0.70, 0.76, 300), rng.uniform(0.3, 0.75, 300)])
    r = np.concatenate([r, -r[::5]]).astype(np.float32)
    y = np.zeros_like(r)
    value = fl.log_cosh(y, r, reduction="none")
    grad = fl.log_cosh.grad(y, r, reduction="sum")
    worst = {"sum": 0.0, "value": 0.0, "grad": 0.0}
    with mpmath.workdps(40):
        for i, x in enumerate(r):
            xm = mpmath.mpf(float(x))
            want, want_g = mpmath.log(mpmath.cosh(xm)), mpmath.tanh(xm)
            one = fl.log_cosh(y[i:i + 1], r[i:i + 1], reduction="sum")
            worst["sum"] = max(worst["sum"], float(abs(one - want) / want))
            for k, got, w in (("value", value[i], want), ("grad", grad[i], want_g)):
                ulp = float(np.spacing(np.float32(abs(float(w)))))
                worst[k] = max(worst[k], float(abs(mpmath.mpf(float(got)) - w) / ulp))
    assert worst["sum"] <= 2.0 ** -32 and worst["value"] <= 1.0 and worst["grad"] <= 1.0, worst


@pytest.mark.parametrize("name", REGRESSION)
def test_nan_propagates(name):
    y = np.array([0.0, 1.0, np.nan, 3.0] * 3000)
    p = np.array([0.5, np.nan, 2.0, 3.0] * 3000)
    loss, params = fl.get(name), PARAMS[name]
    assert np.isnan(loss(y, p, **params))
    assert np.isnan(loss(y, p, reduction="sum", **params))
    per = loss(y, p, reduction="none", **params)
    assert np.array_equal(np.isnan(per), np.isnan(y) | np.isnan(p))
    g = loss.grad(y, p, reduction="sum", **params)
    assert np.array_equal(np.isnan(g), np.isnan(y) | np.isnan(p))


@pytest.mark.parametrize("name", REGRESSION)
def test_empty_input(name):
    loss, params = fl.get(name), PARAMS[name]
    e = np.array([])
    assert np.isnan(loss(e, e, **params))          # mean of nothing: NaN, as np.mean
    assert loss(e, e, reduction="sum", **params) == 0.0
    assert loss(e, e, reduction="none", **params).shape == (0,)
    assert loss.grad(e, e, **params).shape == (0,)
    value, g = loss.value_and_grad(e, e, **params)
    assert np.isnan(value) and g.shape == (0,)
    g, h = loss.grad_hess(e.reshape(0, 3), e.reshape(0, 3), **params)
    assert g.shape == h.shape == (0, 3)


def test_all_zero_weights_give_nan_mean():
    assert np.isnan(fl.mse([1.0, 2.0], [0.0, 0.0], sample_weight=[0.0, 0.0]))
    assert fl.mse([1.0, 2.0], [0.0, 0.0], sample_weight=[0.0, 0.0], reduction="sum") == 0.0


@pytest.mark.parametrize("name", REGRESSION)
def test_bitwise_identical_across_thread_counts(name):
    y, p, w = data(300_007, np.float32, weights=True)
    loss, params = fl.get(name), PARAMS[name]
    results = []
    for n in (1, 2, 3, 4, 7):
        with fl.threads(n):
            results.append((loss(y, p, **params), loss(y, p, sample_weight=w, **params),
                            loss.value_and_grad(y, p, sample_weight=w, **params),
                            loss.grad_hess(y, p, sample_weight=w, **params)))
    first = results[0]
    for other in results[1:]:
        assert other[0] == first[0] and other[1] == first[1]
        assert other[2][0] == first[2][0]
        np.testing.assert_array_equal(other[2][1], first[2][1])
        np.testing.assert_array_equal(other[3][0], first[3][0])
        np.testing.assert_array_equal(other[3][1], first[3][1])


def _fixed_order_sum(values):
    """The kernels' sum of per-element values, in their documented order (_common.pxd): blocks
    of BLOCK elements; in a block, element k added to lane k % ACC_LANES in increasing k; the
    lanes combined by a fixed tree; the block sums by pairwise halving."""
    BLOCK, LANES = 4096, 16

    def pairwise(x):
        if len(x) <= 8:
            total = 0.0
            for v in x:
                total += v
            return total
        return pairwise(x[:len(x) // 2]) + pairwise(x[len(x) // 2:])

    def tree(a):
        return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
    sums = []
    for start in range(0, len(values), BLOCK):
        acc = [0.0] * LANES
        for k, v in enumerate(values[start:start + BLOCK].tolist()):
            acc[k % LANES] += v
        sums.append(tree(acc[:8]) + tree(acc[8:]))
    return pairwise(sums)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", ["mse", "mae"])
def test_sums_follow_the_documented_order(name, dtype):
    # Values of magnitudes 1e-3 to 1e3, so that adding them in another order (another lane, a
    # lane of the wrong group) changes the last bits; sizes that end within a sub-block (256)
    # and within a group of lanes (16), in one block or several. NumPy's float64 (p - y)^2 and
    # |p - y| round as the kernels' closs_mse and closs_mae do: the per-element values are theirs.
    rng = np.random.default_rng(11)
    for n in (7, 23, 256 + 9, 4096 + 103, 3 * 4096 + 2663):
        scale = 10.0 ** rng.integers(-3, 4, n)
        y = (rng.standard_normal(n) * scale).astype(dtype)
        p = (rng.standard_normal(n) * scale).astype(dtype)
        w = rng.uniform(0.0, 2.0, n).astype(dtype)
        r = p.astype(np.float64) - y.astype(np.float64)
        values = r * r if name == "mse" else np.abs(r)
        weighted = w.astype(np.float64) * values
        for threads in (1, 2):
            with fl.threads(threads):
                assert fl.get(name)(y, p, reduction="sum") == _fixed_order_sum(values), n
                assert fl.get(name)(y, p, sample_weight=w, reduction="sum") == \
                    _fixed_order_sum(weighted), n


def test_float32_accumulates_in_float64():
    # 2^24 + a bit of float32 ones: a float32 accumulator would stall at 2^24.
    n = (1 << 24) + 4096
    y = np.zeros(n, dtype=np.float32)
    p = np.ones(n, dtype=np.float32)
    assert fl.mse(y, p, reduction="sum") == float(n)
    assert fl.mse(y, p) == 1.0


def test_large_input_matches_reference():
    y, p, _ = data(10**6, np.float64, seed=3)
    for name in REGRESSION:
        got = fl.get(name)(y, p, **PARAMS[name])
        assert got == pytest.approx(R.value(name, y, p, **PARAMS[name]), rel=1e-12)
