"""Composite losses (0.7 * fl.mse + 0.3 * fl.mae) and bound parameters (fl.huber.with_params)."""

import math

import numpy as np
import pytest

import fastloss as fl
from fastloss import reference

DTYPES = [np.float64, np.float32]


def data(dtype=np.float64, n=101, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.standard_normal(n)
    p = (y + rng.standard_normal(n)).astype(dtype)
    return y.astype(dtype), p, rng.uniform(0, 2, n)


def tol(dtype):
    return dict(rtol=2e-6, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-15)


MIX = [(0.7, "mse", {}), (0.3, "huber", {"delta": 0.5}), (-0.2, "mae", {})]


def mixed():
    return 0.7 * fl.mse + 0.3 * fl.huber.with_params(delta=0.5) - 0.2 * fl.mae


def ref_value(y, p, w, reduction):
    return sum(c * reference.value(name, y, p, sample_weight=w, reduction=reduction, **kw)
               for c, name, kw in MIX)


def ref_grad(y, p, w, reduction):
    return sum(c * reference.grad(name, y, p, sample_weight=w, reduction=reduction, **kw)
               for c, name, kw in MIX)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f8", "f4"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_composite_is_the_weighted_sum(dtype, weighted, reduction):
    y, p, w = data(dtype)
    w = w if weighted else None
    loss = mixed()
    assert isinstance(loss, fl.Loss) and loss.name not in fl.available()
    value = loss(y, p, sample_weight=w, reduction=reduction)
    np.testing.assert_allclose(value, ref_value(y, p, w, reduction), **tol(dtype))
    if reduction == "none":
        assert value.dtype == dtype
    else:
        assert isinstance(value, float)
    g = loss.grad(y, p, sample_weight=w, reduction=reduction)
    assert g.dtype == dtype and g.shape == p.shape
    np.testing.assert_allclose(g, ref_grad(y, p, w, reduction), **tol(dtype))
    v2, g2 = loss.value_and_grad(y, p, sample_weight=w, reduction=reduction)
    np.testing.assert_allclose(v2, value, **tol(dtype))
    np.testing.assert_allclose(g2, g, **tol(dtype))


def test_composite_gradient_matches_finite_differences():
    y, p, _ = data(n=7, seed=1)
    loss = 0.25 * fl.mse + 2.0 * fl.log_cosh
    h = 1e-6
    fd = np.array([(loss(y, p + h * e) - loss(y, p - h * e)) / (2 * h) for e in np.eye(7)])
    np.testing.assert_allclose(loss.grad(y, p), fd, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f8", "f4"])
def test_composite_grad_hess_and_floor(dtype):
    y, p, w = data(dtype)
    loss = 0.5 * fl.mse + 0.5 * fl.mae
    g, h = loss.grad_hess(y, p, sample_weight=w)
    g_mse, h_mse = reference.grad_hess("mse", y, p, sample_weight=w)
    g_mae, h_mae = reference.grad_hess("mae", y, p, sample_weight=w)
    assert g.dtype == dtype and h.dtype == dtype
    np.testing.assert_allclose(g, 0.5 * g_mse + 0.5 * g_mae, **tol(dtype))
    np.testing.assert_allclose(h, w * 1.0, **tol(dtype))        # 0.5 * 2 + 0.5 * 0
    # the floor applies to the combined second derivative: hess = w * max(sum c_k h_k, floor)
    _, h = loss.grad_hess(y, p, sample_weight=w, hess_floor=3.0)
    np.testing.assert_allclose(h, w * 3.0, **tol(dtype))
    _, h = (0.1 * fl.mae + 0.2 * fl.quantile).grad_hess(y, p, hess_floor=1e-3)
    np.testing.assert_allclose(h, 1e-3, **tol(dtype))
    with pytest.raises(ValueError, match="hess_floor"):
        loss.grad_hess(y, p, hess_floor=-1.0)


def test_composite_out_is_honoured():
    y, p, w = data()
    loss = mixed()
    out = np.empty_like(p)
    g = loss.grad(y, p, sample_weight=w, out=out)
    assert np.shares_memory(g, out)
    np.testing.assert_allclose(out, ref_grad(y, p, w, "mean"), rtol=1e-13)
    out2 = np.empty_like(p)
    value, g = loss.value_and_grad(y, p, out=out2)
    assert g is out2
    gh_out = (np.empty_like(p), np.empty_like(p))
    g, h = loss.grad_hess(y, p, out=gh_out)
    assert g is gh_out[0] and h is gh_out[1]
    with pytest.raises(ValueError, match="out must have dtype"):
        loss.grad(y, p, out=np.empty(p.shape, np.float32))


def test_composite_partial_sums():
    y, p, w = data()
    loss = mixed()
    total, weight_total, count = loss.partial_sums(y, p, sample_weight=w)
    assert count == p.size and math.isclose(weight_total, w.sum(), rel_tol=1e-14)
    assert math.isclose(total / weight_total, loss(y, p, sample_weight=w), rel_tol=1e-12)


def test_arithmetic_forms():
    y, p, _ = data(n=11)
    want = 0.5 * fl.mse(y, p) + 0.5 * fl.mae(y, p)
    assert math.isclose(sum([0.5 * fl.mse, 0.5 * fl.mae])(y, p), want, rel_tol=1e-15)
    assert math.isclose(((fl.mse + fl.mae) / 2)(y, p), want, rel_tol=1e-15)
    assert math.isclose((fl.mse * 0.5 + fl.mae * 0.5)(y, p), want, rel_tol=1e-15)
    assert math.isclose((fl.mse - fl.mae)(y, p), fl.mse(y, p) - fl.mae(y, p), rel_tol=1e-14)
    assert math.isclose((-fl.mse)(y, p), -fl.mse(y, p))
    nested = 2 * (0.5 * fl.mse + fl.mae)
    assert [(c, l.name) for c, l in nested.terms] == [(1.0, "mse"), (2.0, "mae")]
    assert repr(0.7 * fl.mse + 0.3 * fl.mae) == "<fastloss.Loss 0.7 * mse + 0.3 * mae>"
    assert isinstance(np.float64(0.7) * fl.mse, fl.Loss)          # NumPy scalars too


def test_arithmetic_errors():
    with pytest.raises(TypeError):
        fl.mse + 1.0
    with pytest.raises(TypeError):
        "mse" * fl.mse
    with pytest.raises(TypeError):
        fl.mse * True
    with pytest.raises(ValueError, match="coefficient must be finite"):
        math.inf * fl.mse
    with pytest.raises(ZeroDivisionError):
        fl.mse / 0
    with pytest.raises(TypeError, match="different inputs"):
        fl.mse + fl.triplet_margin


def test_call_time_parameters_route_to_the_parts_that_have_them():
    y, p, _ = data(n=13)
    loss = fl.mse + fl.huber
    assert math.isclose(loss(y, p, delta=0.3), fl.mse(y, p) + fl.huber(y, p, delta=0.3),
                        rel_tol=1e-14)
    with pytest.raises(TypeError, match="unexpected parameter"):
        loss(y, p, alpha=0.3)
    bound = loss.with_params(delta=0.3)
    assert math.isclose(bound(y, p), loss(y, p, delta=0.3), rel_tol=1e-15)
    with pytest.raises(ValueError, match="delta must be > 0"):
        loss(y, p, delta=-1.0)


def test_with_params_binds_and_validates():
    y, p, w = data(n=17)
    h2 = fl.huber.with_params(delta=2)
    assert isinstance(h2, fl.Loss)
    assert h2.defaults == {"delta": 2.0} and fl.huber.defaults == {"delta": 1.0}
    assert repr(h2) == "<fastloss.Loss huber(delta=2.0)>"
    assert h2(y, p, sample_weight=w) == fl.huber(y, p, sample_weight=w, delta=2.0)
    np.testing.assert_array_equal(h2.grad(y, p), fl.huber.grad(y, p, delta=2.0))
    np.testing.assert_array_equal(h2.value_and_grad(y, p)[1], fl.huber.grad(y, p, delta=2.0))
    np.testing.assert_array_equal(h2.grad_hess(y, p)[1], fl.huber.grad_hess(y, p, delta=2.0)[1])
    assert h2(y, p, delta=0.5) == fl.huber(y, p, delta=0.5)     # a call-time value overrides
    assert h2.with_params(delta=3.0).defaults == {"delta": 3.0}
    assert fl.mse.with_params() is fl.mse
    with pytest.raises(ValueError, match="delta must be > 0"):
        fl.huber.with_params(delta=0)
    with pytest.raises(TypeError, match="unexpected parameter"):
        fl.mse.with_params(delta=1.0)
    tm = fl.triplet_margin.with_params(margin=0.2, swap=True)
    a, pos, neg = np.random.default_rng(3).standard_normal((3, 8, 4))
    assert tm(a, pos, neg) == fl.triplet_margin(a, pos, neg, margin=0.2, swap=True)


def test_composite_of_metric_losses_sums_gradient_tuples():
    a, pos, neg = np.random.default_rng(4).standard_normal((3, 20, 5))
    loss = 0.5 * fl.triplet_margin + 0.5 * fl.triplet_margin.with_params(distance="cosine")
    value, grads = loss.value_and_grad(a, pos, neg)
    v1, g1 = fl.triplet_margin.value_and_grad(a, pos, neg)
    v2, g2 = fl.triplet_margin.value_and_grad(a, pos, neg, distance="cosine")
    assert math.isclose(value, 0.5 * v1 + 0.5 * v2, rel_tol=1e-15)
    assert len(grads) == 3
    for g, x, z in zip(grads, g1, g2):
        np.testing.assert_allclose(g, 0.5 * x + 0.5 * z, rtol=1e-15)
