"""Binary classification losses: reference, derivatives, extremes, textbook values, bad input,
thread-count determinism."""

import math

import mpmath as mp
import numpy as np
import pytest

import fastloss as fl
from fastloss import reference

mp.mp.dps = 60

LOGIT_LOSSES = ["binary_cross_entropy_with_logits", "focal"]
SIGN_LOSSES = ["hinge", "squared_hinge"]

# (loss name, parameters): every parameter path of every binary loss.
CASES = [
    ("binary_cross_entropy", {}),
    ("binary_cross_entropy", {"eps": 1e-3}),
    ("binary_cross_entropy_with_logits", {}),
    ("binary_cross_entropy_with_logits", {"pos_weight": 2.5}),
    ("binary_cross_entropy_with_logits", {"pos_weight": 0.0}),
    ("hinge", {}),
    ("hinge", {"margin": 0.5}),
    ("squared_hinge", {}),
    ("squared_hinge", {"margin": 2.0}),
    ("focal", {}),
    ("focal", {"gamma": 0.5, "alpha": -1.0}),
    ("focal", {"gamma": 3.0, "alpha": 0.75}),
    ("focal", {"gamma": 1.0, "alpha": None}),
]


def case_id(case):
    name, params = case
    return name + "".join(f"-{k}={v}" for k, v in params.items())


# Every case with labels, and with soft targets where the loss allows them.
TARGET_CASES = [pytest.param(case, soft, id=case_id(case) + ("-soft" if soft else "-labels"))
                for case in CASES for soft in (False, True)
                if not (soft and case[0] in SIGN_LOSSES)]


def _inputs(name, n, dtype, rng, soft=False):
    """Valid random inputs (labels, or soft targets where the loss allows them)."""
    y, p = fl.get(name).make_inputs(n, dtype, rng)
    if soft and name not in SIGN_LOSSES:
        y = rng.uniform(0.0, 1.0, n).astype(dtype)
    return y, p


def _reference_params(name, params, dtype):
    """The parameters the kernel sees: BCE's default eps is that of the prediction dtype."""
    if name == "binary_cross_entropy" and params.get("eps") is None:
        return {**params, "eps": float(np.finfo(dtype).eps)}
    return params


def _tol(dtype):
    return dict(rtol=1e-10, atol=1e-13) if dtype == np.float64 else dict(rtol=2e-5, atol=1e-6)


# ----------------------------------------------------------------------------- reference


@pytest.mark.parametrize("case,soft", TARGET_CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f8", "f4"])
@pytest.mark.parametrize("n", [1, 7, 1001, 4099])
def test_matches_reference(case, soft, dtype, n):
    name, params = case
    rng = np.random.default_rng(n)
    y, p = _inputs(name, n, dtype, rng, soft)
    w = rng.uniform(0.0, 2.0, n).astype(dtype)
    loss = fl.get(name)
    rp = _reference_params(name, params, dtype)
    tol = _tol(dtype)

    assert math.isclose(loss(y, p, **params), reference.value(name, y, p, **rp),
                        rel_tol=tol["rtol"], abs_tol=tol["atol"])
    assert math.isclose(loss(y, p, sample_weight=w, reduction="sum", **params),
                        reference.value(name, y, p, w, "sum", **rp),
                        rel_tol=tol["rtol"], abs_tol=tol["atol"] * n)
    per = loss(y, p, sample_weight=w, reduction="none", **params)
    assert per.dtype == dtype
    np.testing.assert_allclose(per, reference.value(name, y, p, w, "none", **rp), **tol)

    g = loss.grad(y, p, sample_weight=w, **params)
    assert g.dtype == dtype and g.shape == p.shape
    np.testing.assert_allclose(g, reference.grad(name, y, p, w, **rp),
                               rtol=tol["rtol"], atol=tol["atol"] / n)
    value, g2 = loss.value_and_grad(y, p, sample_weight=w, **params)
    np.testing.assert_array_equal(g2, g)   # the fused pass writes the same gradient
    assert math.isclose(value, loss(y, p, sample_weight=w, **params), rel_tol=1e-14, abs_tol=0)

    gh, hh = loss.grad_hess(y, p, sample_weight=w, **params)
    rg, rh = reference.grad_hess(name, y, p, w, **rp)
    np.testing.assert_allclose(gh, rg, **tol)
    np.testing.assert_allclose(hh, rh, rtol=tol["rtol"], atol=tol["atol"] * max(1.0, np.abs(rh).max()))


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_make_inputs_are_valid_and_finite(case):
    name, params = case
    y, p = fl.get(name).make_inputs(257, np.float32, np.random.default_rng(0))
    assert y.dtype == p.dtype == np.float32
    value, g = fl.get(name).value_and_grad(y, p, **params)
    assert math.isfinite(value) and np.all(np.isfinite(g))


# ----------------------------------------------------------------------------- finite differences


def _away_from_kinks(name, y, p, params, gap=1e-3):
    """Hinge losses: keep the points whose margin is not within `gap` of the kink."""
    if name not in SIGN_LOSSES:
        return y, p
    t = 2.0 * y - 1.0 if np.any(y == 0) else y
    keep = np.abs(params.get("margin", 1.0) - t * p) > gap
    return y[keep], p[keep]


@pytest.mark.parametrize("case,soft", TARGET_CASES)
def test_finite_differences(case, soft):
    name, params = case
    rng = np.random.default_rng(3)
    y, p = _inputs(name, 400, np.float64, rng, soft)
    if name == "binary_cross_entropy":
        p = np.clip(p, 0.05, 0.95)          # the clip is not differentiable at eps
    y, p = _away_from_kinks(name, y, p, params)
    loss = fl.get(name)
    h = 1e-5 * np.maximum(1.0, np.abs(p))
    up = loss(y, p + h, reduction="none", **params)
    down = loss(y, p - h, reduction="none", **params)
    g, hess = loss.grad_hess(y, p, **params)
    np.testing.assert_allclose(loss.grad(y, p, reduction="none", **params), g, rtol=0, atol=0)
    np.testing.assert_allclose(g, (up - down) / (2 * h), rtol=1e-6, atol=1e-8)
    g_up = loss.grad(y, p + h, reduction="none", **params)
    g_down = loss.grad(y, p - h, reduction="none", **params)
    # grad_hess floors the second derivative at hess_floor (default 0): focal's can be negative.
    np.testing.assert_allclose(hess, np.maximum((g_up - g_down) / (2 * h), 0.0), rtol=1e-5, atol=1e-7)


def test_grad_of_mean_includes_the_weights():
    rng = np.random.default_rng(5)
    y, z = _inputs("focal", 50, np.float64, rng)
    w = rng.uniform(0.5, 1.5, 50)
    g = fl.focal.grad(y, z, sample_weight=w)
    per = fl.focal.grad(y, z, sample_weight=w, reduction="none")
    np.testing.assert_allclose(g, per / w.sum(), rtol=1e-14)


# ----------------------------------------------------------------------------- mpmath extremes


def mp_softplus(x):
    return mp.log1p(mp.exp(x))


def mp_sigmoid(x):
    return 1 / (1 + mp.exp(-x))


def mp_bce_logits(y, z, pos_weight=1.0):
    y, z = mp.mpf(y), mp.mpf(z)
    return pos_weight * y * mp_softplus(-z) + (1 - y) * mp_softplus(z)


def mp_focal(y, z, gamma=2.0, alpha=0.25):
    y, z = mp.mpf(y), mp.mpf(z)
    q = y * mp_sigmoid(-z) + (1 - y) * mp_sigmoid(z)
    alpha_t = 1 if alpha < 0 else alpha * y + (1 - alpha) * (1 - y)
    return alpha_t * mp_bce_logits(y, z) * q ** gamma


def mp_derivatives(f, z):
    """f(z), f'(z), f''(z) by mpmath numerical differentiation at 320 digits: enough to resolve
    curvatures like 1e-87 on top of values like 200 (at 60 digits the step noise swamps them)."""
    with mp.workdps(320):
        return f(z), mp.diff(f, z), mp.diff(f, z, 2)


def _close(got, want, rel=4e-15):
    """got (a double) against an mpmath value: a few ulp, or exact zero / underflow."""
    want = float(want)
    if want == 0.0 or abs(want) < 1e-300:
        assert abs(got) <= 1e-300, (got, want)
    else:
        assert abs(got - want) <= rel * abs(want), (got, want)


LOGITS = [-1e4, -700.0, -40.0, -3.0, -1e-10, 0.0, 2e-8, 0.5, 16.0, 40.0, 200.0, 1e4]


@pytest.mark.parametrize("y", [0.0, 1.0, 0.3])
@pytest.mark.parametrize("pos_weight", [1.0, 2.5])
def test_bce_logits_extremes_against_mpmath(y, pos_weight):
    z = np.array(LOGITS)
    ys = np.full_like(z, y)
    per = fl.binary_cross_entropy_with_logits(ys, z, reduction="none", pos_weight=pos_weight)
    g, h = fl.binary_cross_entropy_with_logits.grad_hess(ys, z, pos_weight=pos_weight)
    for zi, li, gi, hi in zip(LOGITS, per, g, h):
        value, d1, d2 = mp_derivatives(lambda t: mp_bce_logits(y, t, pos_weight), zi)
        _close(li, value)
        _close(gi, d1, rel=1e-14)
        _close(hi, d2, rel=1e-13)


def test_bce_logits_issue_examples():
    # Exact for any finite logit: not the 16.1 of a clipped sigmoid, and no overflow.
    assert fl.binary_cross_entropy_with_logits([0.0], [40.0]) == 40.0
    assert fl.binary_cross_entropy_with_logits([1.0], [-1e4]) == 1e4
    assert fl.binary_cross_entropy_with_logits([1.0], [40.0]) == float(mp_softplus(-40))


def test_bce_logits_infinite_logits_give_the_limits():
    inf = np.inf
    y = np.array([0.0, 1.0, 0.0, 1.0, 0.5, 0.5])
    z = np.array([inf, inf, -inf, -inf, inf, -inf])
    # Limits by hand: softplus(inf) = inf, softplus(-inf) = 0; sigmoid(+-inf) = 1, 0.
    per = fl.binary_cross_entropy_with_logits(y, z, reduction="none")
    np.testing.assert_array_equal(per, [inf, 0.0, 0.0, inf, inf, inf])
    g, h = fl.binary_cross_entropy_with_logits.grad_hess(y, z, pos_weight=2.0)
    np.testing.assert_array_equal(g, [1.0, 0.0, 0.0, -2.0, 0.5, -1.0])
    np.testing.assert_array_equal(h, np.zeros(6))
    assert fl.binary_cross_entropy_with_logits([1.0, 0.0], [inf, -inf]) == 0.0


def test_bce_probabilities_at_zero_and_one_against_mpmath():
    eps64, eps32 = np.finfo(np.float64).eps, np.finfo(np.float32).eps
    y = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.3])
    p = np.array([0.0, 1.0, 1.0, 0.0, 1e-300, 0.0])
    per = fl.binary_cross_entropy(y, p, reduction="none")
    e = mp.mpf(eps64)
    want = [-mp.log(e), -mp.log(e), -mp.log1p(-e), -mp.log1p(-e), -mp.log(e),
            -(mp.mpf(0.3) * mp.log(e) + mp.mpf(0.7) * mp.log1p(-e))]
    for got, w in zip(per, want):
        _close(got, w)
    # float32 predictions clip at the float32 epsilon.
    per32 = fl.binary_cross_entropy([1.0, 0.0], np.array([0.0, 1.0], np.float32), reduction="none")
    assert per32.dtype == np.float32
    np.testing.assert_allclose(per32, float(-mp.log(mp.mpf(float(eps32)))), rtol=1e-7)
    # Gradient at the clipped probability, by hand: (eps - 1) / (eps (1 - eps)) = -1/eps.
    g = fl.binary_cross_entropy.grad([1.0], [0.0], reduction="none")
    _close(g[0], -1 / e, rel=1e-15)
    # An explicit eps.
    _close(fl.binary_cross_entropy([1.0], [0.0], eps=1e-3), -mp.log(mp.mpf(1e-3)))


@pytest.mark.parametrize("eps", [2.0 ** -53, 1e-17, 1e-300, 1e-310])
def test_bce_probabilities_with_labels_at_any_eps(eps):
    """Labels take one log per element (fl_log_either_inside) where eps >= 2^-53; below, the
    clipped p can be 1 (1 - eps rounds to 1: log1p(-1), an infinite loss) or subnormal, and the
    general form must compute them. Each value against mpmath, in the blocked kernels (10^4
    elements) and the per-call path."""
    rng = np.random.default_rng(5)
    edges = np.array([0.0, 1.0, 5e-324, 1e-310, 1e-300, 1e-17, 1 - 1e-16, 0.5])
    p = np.concatenate([np.repeat(edges, 2), rng.random(40)])
    y = np.concatenate([np.tile([0.0, 1.0], edges.size), (rng.random(40) < 0.5) * 1.0])
    pc = [min(max(mp.mpf(v), mp.mpf(eps)), mp.mpf(1.0 - eps)) for v in p]   # 1 - eps rounded
    want = [-mp.log(c) if t == 1.0 else -mp.log1p(-c) for t, c in zip(y, pc)]
    for reps in (1, 250):
        per = fl.binary_cross_entropy(np.tile(y, reps), np.tile(p, reps), eps=eps,
                                      reduction="none")[:y.size]
        for got, w, v, t in zip(per, want, p, y):
            if mp.isinf(w):
                assert got == math.inf, (v, t, got)
            else:
                _close(got, w)


@pytest.mark.parametrize("eps", [2.0 ** -53, 1e-17, 1e-300, 1e-310])
def test_bce_probabilities_with_soft_targets_at_any_eps(eps):
    """Soft targets take both logs without their special-value selects (closs_X_inside) where
    eps >= 2^-53; below, the general form. Each value against mpmath, in the blocked kernels
    (10^4 elements: reduction="none", the sum of value_and_grad) and the per-call path."""
    rng = np.random.default_rng(6)
    edges = np.array([0.0, 1.0, 5e-324, 1e-310, 1e-300, 1e-17, 1 - 1e-16, 0.5])
    targets = np.array([0.3, 0.999, 1e-3, 0.5])
    p = np.concatenate([np.repeat(edges, targets.size), rng.random(40)])
    y = np.concatenate([np.tile(targets, edges.size), rng.random(40)])
    pc = [min(max(mp.mpf(v), mp.mpf(eps)), mp.mpf(1.0 - eps)) for v in p]   # 1 - eps rounded
    want = [-(mp.mpf(t) * mp.log(c) + (1 - mp.mpf(t)) * mp.log1p(-c)) for t, c in zip(y, pc)]
    for reps in (1, 250):
        ys, ps = np.tile(y, reps), np.tile(p, reps)
        per = fl.binary_cross_entropy(ys, ps, eps=eps, reduction="none")[:y.size]
        for got, w, v, t in zip(per, want, p, y):
            if mp.isinf(w):
                assert got == math.inf, (v, t, got)
            else:
                _close(got, w)
        total, g = fl.binary_cross_entropy.value_and_grad(ys, ps, eps=eps, reduction="sum")
        if any(mp.isinf(w) for w in want):
            assert total == math.inf
        else:
            _close(total, reps * mp.fsum(want), rel=1e-13)
        np.testing.assert_array_equal(g, fl.binary_cross_entropy.grad(ys, ps, eps=eps,
                                                                       reduction="sum"))


@pytest.mark.parametrize("y", [0.0, 1.0, 0.3, 0.999])
@pytest.mark.parametrize("gamma,alpha", [(2.0, 0.25), (0.5, -1.0), (3.0, 0.6)])
def test_focal_extremes_against_mpmath(y, gamma, alpha):
    z = np.array(LOGITS)
    ys = np.full_like(z, y)
    per = fl.focal(ys, z, reduction="none", gamma=gamma, alpha=alpha)
    g, h = fl.focal.grad_hess(ys, z, gamma=gamma, alpha=alpha)
    for zi, li, gi, hi in zip(LOGITS, per, g, h):
        value, d1, d2 = mp_derivatives(lambda t: mp_focal(y, t, gamma, alpha), zi)
        # Log space keeps full relative precision even where (1 - p_t) is far below 1e-16.
        _close(li, value, rel=1e-13)
        _close(gi, d1, rel=1e-12)
        _close(hi, max(d2, 0), rel=1e-10)   # grad_hess floors at hess_floor = 0


def test_focal_large_logit_does_not_saturate():
    # y = 1, z = 50: (1 - p_t) = sigmoid(-50) ~ 2e-22; a 1 - sigmoid(z) form gives exactly 0.
    got = fl.focal([1.0], [50.0], gamma=2.0, alpha=0.25)
    assert got > 0
    _close(got, mp_focal(1, 50, 2.0, 0.25), rel=1e-13)


def test_focal_gradient_at_a_large_logit_and_gamma_kernel_and_reference():
    """y = 0, z = 20, gamma = 200 (hypothesis's example): the gradient's focusing term holds
    p (1 - p) with 1 - p = 2e-9; the reference once formed it as 1 - p (8 digits left, 2.8e-13
    relative error in the gradient) and the property test flagged the kernel, which was right."""
    y, z, gamma, alpha = 0.0, 20.0, 200.0, 0.25
    _, want, _ = mp_derivatives(lambda t: mp_focal(y, t, gamma, alpha), z)
    _close(fl.focal.grad([y], [z], gamma=gamma, alpha=alpha)[0], want, rel=1e-13)
    _close(reference.focal_grad(np.array([y]), np.array([z]), gamma, alpha)[0], want, rel=1e-13)


def test_focal_derivatives_where_the_wrong_class_mass_is_subnormal_kernel_and_reference():
    """y = 1, z = 710, gamma = 0.6 (hypothesis's example): 1 - p_t = sigmoid(-710) is subnormal,
    and the exact derivatives (~1e-494) round to 0. The reference once formed q^(gamma - 2) dq^2
    there (inf * 0 = NaN) and the property test flagged the kernel, which was right."""
    y, z = np.array([1.0, 1.0, 0.0]), np.array([710.0, 709.0, -710.0])
    for gamma in (0.6, 2.0):
        g, h = fl.focal.grad_hess(y, z, gamma=gamma)
        for got in (g, h, reference.focal_grad(y, z, gamma, 0.25),
                    reference.focal_hess(y, z, gamma, 0.25)):
            np.testing.assert_array_equal(got, 0.0)
    # gamma = 0.06, z = 500: q^(gamma - 2) = e^970 overflowed, though the derivatives are ~1e-230
    y, z = np.array([1.0]), np.array([500.0])
    _, want_g, want_h = mp_derivatives(lambda t: mp_focal(1.0, t, 0.06, 0.25), 500.0)
    assert 1e-240 < abs(want_g) < 1e-220 and 1e-240 < abs(want_h) < 1e-220
    g, h = fl.focal.grad_hess(y, z, gamma=0.06)
    for got, want in ((g[0], want_g), (h[0], want_h),
                      (reference.focal_grad(y, z, 0.06, 0.25)[0], want_g),
                      (reference.focal_hess(y, z, 0.06, 0.25)[0], want_h)):
        _close(got, want, rel=1e-12)


def test_focal_infinite_logits_give_the_limits():
    inf = np.inf
    y = np.array([1.0, 0.0, 1.0, 0.0, 0.3, 0.3])
    z = np.array([inf, -inf, -inf, inf, inf, -inf])
    per = fl.focal(y, z, reduction="none", gamma=2.0, alpha=0.25)
    np.testing.assert_array_equal(per, [0.0, 0.0, inf, inf, inf, inf])
    g, h = fl.focal.grad_hess(y, z, gamma=2.0, alpha=0.25)
    # By hand: gradient +-alpha_t * wrong^(gamma + 1), wrong = the target mass the logit excludes.
    alpha_t = 0.25 * 0.3 + 0.75 * 0.7
    np.testing.assert_allclose(g, [0.0, 0.0, -0.25, 0.75, alpha_t * 0.7 ** 3, -alpha_t * 0.3 ** 3],
                               rtol=1e-15)
    np.testing.assert_array_equal(h, np.zeros(6))
    # alpha = 1 gives negatives weight 0: the limit is 0, not 0 * inf.
    assert fl.focal([0.0], [inf], alpha=1.0) == 0.0


def test_hinge_infinite_and_huge_scores():
    inf = np.inf
    y = np.array([1.0, 1.0, -1.0, -1.0, 1.0])
    s = np.array([inf, -inf, inf, -inf, -1e300])
    np.testing.assert_array_equal(fl.hinge(y, s, reduction="none"), [0.0, inf, inf, 0.0, 1e300])
    np.testing.assert_array_equal(fl.hinge.grad(y, s, reduction="none"), [0.0, -1.0, 1.0, 0.0, -1.0])
    np.testing.assert_array_equal(fl.squared_hinge(y, s, reduction="none"), [0.0, inf, inf, 0.0, inf])
    g, h = fl.hinge.grad_hess(y, s)
    np.testing.assert_array_equal(h, np.zeros(5))


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f8", "f4"])
@pytest.mark.parametrize("name", SIGN_LOSSES)
def test_hinge_losses_are_positive_zero_where_the_margin_is_met(name, dtype):
    # The kernels take max(0, r), r = margin - t s, as `0 if r < 0 else r`, which passes
    # r = -0.0 through: they add 0.0 to the margin so that r is never -0.0 (a margin of -0.0
    # passes the check m >= 0). Met margins must read +0.0 whatever the zeros' signs, on every
    # path.
    loss = fl.get(name)
    s = np.array([0.0, -0.0, 0.0, -0.0, 3.0], dtype)
    for labels in ([1, 1, 0, 0, 1], [1, 1, -1, -1, 1]):
        for reps in (1, 1000):
            y, p = np.tile(np.array(labels, dtype), reps), np.tile(s, reps)
            for margin in (0.0, -0.0):
                per = loss(y, p, reduction="none", margin=margin)
                assert not per.any() and not np.signbit(per).any(), (labels, reps, margin)
                assert not np.signbit(loss(y, p, reduction="sum", margin=margin))


def test_nan_propagates():
    nan = np.nan
    for name in fl.available():
        if fl.get(name).family != "binary":
            continue
        loss = fl.get(name)
        y = np.array([1.0, 1.0, 0.0])
        p = np.array([nan, 0.5, 0.5])
        per = loss(y, p, reduction="none")
        assert np.isnan(per[0]) and not np.isnan(per[1:]).any(), name
        assert np.isnan(loss(y, p))
        g, h = loss.grad_hess(y, p)
        assert np.isnan(g[0]) and np.isnan(h[0]), name
        assert np.isnan(loss(np.array([nan, 1.0]), np.array([0.5, 0.5]), reduction="none")[0]), name


# ----------------------------------------------------------------------------- worked examples


def test_textbook_spam_examples():
    # A spam email (label 1) predicted at 0.2: -log(0.2) = 1.609.
    assert round(fl.binary_cross_entropy([1], [0.2]), 3) == 1.609
    _close(fl.binary_cross_entropy([1], [0.2]), -mp.log(mp.mpf(0.2)))
    # A confident correct prediction: -log(0.95) = 0.051 (label 1 at 0.95, label 0 at 0.05).
    assert round(fl.binary_cross_entropy([1], [0.95]), 3) == 0.051
    assert round(fl.binary_cross_entropy([0], [0.05]), 3) == 0.051
    # The same predictions as logits give the same loss.
    logit = math.log(0.2 / 0.8)
    assert math.isclose(fl.binary_cross_entropy_with_logits([1], [logit]), -math.log(0.2),
                        rel_tol=1e-14)


def test_textbook_five_email_batch():
    y = [1, 0, 1, 1, 0]
    p = [0.9, 0.1, 0.8, 0.7, 0.2]
    # (-log .9 - log .9 - log .8 - log .7 - log .8) / 5 = 1.013683 / 5 = 0.202737
    assert round(fl.binary_cross_entropy(y, p), 5) == 0.20274
    want = -(2 * mp.log(mp.mpf(0.9)) + 2 * mp.log(mp.mpf(0.8)) + mp.log(mp.mpf(0.7))) / 5
    _close(fl.binary_cross_entropy(y, p), want, rel=1e-15)


def test_textbook_hinge_cases():
    # Label +1: score 2.5 clears the margin (0), 0.8 is inside it (0.2), -0.5 is wrong (1.5).
    per = fl.hinge([1, 1, 1], [2.5, 0.8, -0.5], reduction="none")
    np.testing.assert_allclose(per, [0.0, 0.2, 1.5], rtol=1e-15, atol=0)
    # The same with labels {0, 1} and with label -1 mirrored scores.
    np.testing.assert_array_equal(fl.hinge([0, 1, 1], [-2.5, 0.8, -0.5], reduction="none"), per)
    np.testing.assert_array_equal(fl.hinge([-1, -1, -1], [-2.5, -0.8, 0.5], reduction="none"), per)
    np.testing.assert_allclose(fl.squared_hinge([1, 1, 1], [2.5, 0.8, -0.5], reduction="none"),
                               [0.0, 0.04, 2.25], rtol=1e-14)
    # Subgradients: -t inside the margin, 0 outside, -t/2 on it.
    np.testing.assert_array_equal(fl.hinge.grad([1, 1, 1, -1], [2.5, 0.8, 1.0, -1.0], reduction="none"),
                                  [0.0, -1.0, -0.5, 0.5])


def test_svm_scores_batch():
    # The textbook's SVM batch states hinge 0.14 without its scores; this batch is built by hand
    # to that figure: margins y*s = 2.0, 1.5, 0.8, 0.5, 3.0 lose 0, 0, 0.2, 0.5, 0 -> 0.7 / 5.
    y = [1, -1, 1, 1, -1]
    s = [2.0, -1.5, 0.8, 0.5, -3.0]
    assert fl.hinge(y, s) == pytest.approx(0.14, rel=1e-15)
    assert fl.hinge([1, 0, 1, 1, 0], s) == fl.hinge(y, s)     # {0, 1} labels mean the same
    np.testing.assert_allclose(fl.hinge.grad(y, s), [0, 0, -0.2, -0.2, 0], rtol=1e-15)


def test_focal_examples_by_hand():
    # z = 0: p = 0.5, ce = log 2, (1 - p_t)^2 = 0.25; alpha_t = 0.25 (y = 1), 0.75 (y = 0).
    per = fl.focal([1, 0], [0.0, 0.0], reduction="none")
    np.testing.assert_allclose(per, [0.25 * math.log(2) * 0.25, 0.75 * math.log(2) * 0.25],
                               rtol=1e-15)
    # An easy example (p_t = 0.9) is down-weighted 100-fold relative to its cross-entropy.
    z = math.log(9.0)
    assert math.isclose(fl.focal([1], [z], alpha=None), -math.log(0.9) * 0.01, rel_tol=1e-14)


def test_pos_weight_scales_the_positive_term():
    rng = np.random.default_rng(2)
    z = rng.standard_normal(100)
    y = np.ones(100)
    np.testing.assert_allclose(
        fl.binary_cross_entropy_with_logits(y, z, pos_weight=3.0, reduction="none"),
        3.0 * fl.binary_cross_entropy_with_logits(y, z, reduction="none"), rtol=1e-15)
    y0 = np.zeros(100)
    np.testing.assert_array_equal(
        fl.binary_cross_entropy_with_logits(y0, z, pos_weight=3.0, reduction="none"),
        fl.binary_cross_entropy_with_logits(y0, z, reduction="none"))
    assert fl.binary_cross_entropy_with_logits(y, z, pos_weight=None) == \
        fl.binary_cross_entropy_with_logits(y, z)


@pytest.mark.parametrize("soft", [False, True], ids=["labels", "soft"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f8", "f4"])
def test_focal_gamma0_is_bce_with_logits(soft, dtype):
    rng = np.random.default_rng(11)
    y, z = _inputs("focal", 3001, dtype, rng, soft)
    z[:6] = [np.inf, -np.inf, 1e4, -1e4, 40.0, -40.0]
    a = dict(gamma=0.0, alpha=-1.0)
    # The same bits, except where BCE-with-logits takes exp and log1p for float32 results
    # (float32 logits, labels: tests/test_float32_math.py) and focal does not: within 1 ulp.
    same = soft or dtype == np.float64

    def check(got, want):
        if same:
            np.testing.assert_array_equal(got, want)
        else:
            np.testing.assert_array_max_ulp(got, want, maxulp=1)
    check(fl.focal(y, z, reduction="none", **a),
          fl.binary_cross_entropy_with_logits(y, z, reduction="none"))
    check(fl.focal.grad(y, z, **a), fl.binary_cross_entropy_with_logits.grad(y, z))
    for got, want in zip(fl.focal.grad_hess(y, z, **a),
                         fl.binary_cross_entropy_with_logits.grad_hess(y, z)):
        check(got, want)


# ----------------------------------------------------------------------------- label coding


@pytest.mark.parametrize("name", SIGN_LOSSES)
def test_zero_one_labels_equal_sign_labels(name):
    rng = np.random.default_rng(4)
    signs, s = _inputs(name, 1000, np.float64, rng)
    zero_one = (signs + 1) / 2
    loss = fl.get(name)
    want = loss(signs, s, reduction="none")
    for labels in (zero_one, zero_one.astype(np.int8), zero_one.astype(bool),
                   signs.astype(np.int64), signs.astype(np.float32)):
        np.testing.assert_array_equal(loss(labels, s, reduction="none"), want)
    np.testing.assert_array_equal(loss.grad_hess(zero_one, s)[0], loss.grad_hess(signs, s)[0])
    # All-positive input is read the same way under either coding.
    np.testing.assert_array_equal(loss(np.ones(5), s[:5], reduction="none"),
                                  loss(signs[:5] * 0 + 1, s[:5], reduction="none"))
    # All zeros means all negative ({0, 1} coding).
    np.testing.assert_array_equal(loss(np.zeros(5), s[:5], reduction="none"),
                                  loss(-np.ones(5), s[:5], reduction="none"))


def test_hinge_labels_in_any_layout():
    y = np.array([[1.0, -1.0, 1.0], [-1.0, 1.0, 1.0]])
    s = np.array([[0.3, 0.2, -1.0], [2.0, 0.5, 1.5]])
    want = fl.hinge(y, s, reduction="none")
    np.testing.assert_array_equal(fl.hinge(np.asfortranarray(y), np.asfortranarray(s),
                                           reduction="none"), want)
    big_y = np.zeros((2, 6))
    big_y[:, ::2] = y
    np.testing.assert_array_equal(fl.hinge(big_y[:, ::2], s, reduction="none"), want)
    bad = np.asfortranarray(y.copy())
    bad[1, 2] = 0.5
    with pytest.raises(ValueError, match=r"y_true.*0\.5 at index \(1, 2\)"):
        fl.hinge(bad, s)


@pytest.mark.parametrize("dtype", ["<f8", ">f8", "<f4", "<f2"])
@pytest.mark.parametrize("position", [0, 4095, 4096, 9999])
@pytest.mark.parametrize("kind", ["half", "two", "inf", "-inf", "next_after_one", "subnormal"])
def test_hinge_label_scan_finds_every_kind_of_bad_value(dtype, position, kind):
    # The scan reads bit patterns in blocks of 4096: bad values at block edges, values one ulp
    # away from a label, subnormals (zero high word in float64) and infinities must all be found.
    dt = np.dtype(dtype)
    finfo = np.finfo(dt)
    value = {"half": 0.5, "two": 2.0, "inf": np.inf, "-inf": -np.inf,
             "next_after_one": np.nextafter(dt.type(1), dt.type(2)),
             "subnormal": finfo.smallest_subnormal}[kind]
    y = np.ones(10000, dt)
    y[::3] = -1
    y[position] = value
    with pytest.raises(ValueError, match=f"y_true must hold labels.* at index {position}$"):
        fl.hinge(y, np.zeros(10000))


@pytest.mark.parametrize("dtype", ["<f8", ">f8", "<f4"])
def test_hinge_label_scan_accepts_nan_and_signed_zero(dtype):
    y = np.ones(9000, dtype)
    y[::2] = 0.0
    y[5000] = -0.0
    y[7] = np.nan
    s = np.linspace(-2, 2, 9000)
    per = fl.hinge(y, s, reduction="none")
    assert np.isnan(per[7]) and np.isnan(per).sum() == 1
    np.testing.assert_array_equal(np.delete(per, 7),
                                  np.delete(reference.hinge(np.nan_to_num(y.astype(float)), s), 7))
    # -0.0 is label 0 (read as -1), so -1 and -0.0 cannot be mixed either.
    y[1] = -1.0
    with pytest.raises(ValueError, match="mixes the labels -1 and 0"):
        fl.hinge(y, s)


# ----------------------------------------------------------------------------- fused checks
# Reduced values and value_and_grad check the targets inside the kernel's pass (per-element
# flags OR-ed per block) instead of reading them first; these run the general, threaded path
# (n above the serial threshold) and must raise exactly what the separate check raises.

FUSED_N = 3 * 4096 * 5 + 123          # many blocks, a partial last block, both threads busy
FUSED_OPS = [
    ("mean", lambda loss, y, p, w: loss(y, p, sample_weight=w)),
    ("sum", lambda loss, y, p, w: loss(y, p, sample_weight=w, reduction="sum")),
    ("value_and_grad", lambda loss, y, p, w: loss.value_and_grad(y, p, sample_weight=w)),
    ("value_and_grad sum", lambda loss, y, p, w: loss.value_and_grad(y, p, sample_weight=w,
                                                                    reduction="sum")),
]


def _fused_inputs(name, ydtype, pdtype):
    rng = np.random.default_rng(11)
    y, p = _inputs(name, FUSED_N, np.float64, rng)
    return y.astype(ydtype), p.astype(pdtype)


@pytest.mark.parametrize("op_name, op", FUSED_OPS)
@pytest.mark.parametrize("name", ["binary_cross_entropy", "binary_cross_entropy_with_logits",
                                  "focal", "hinge", "squared_hinge"])
@pytest.mark.parametrize("dtypes", [(np.float64, np.float64), (np.float32, np.float32),
                                    (np.float32, np.float64), (np.float64, np.float32)])
@pytest.mark.parametrize("position", [0, 4095, 4096, FUSED_N // 2 + 7, FUSED_N - 1])
def test_fused_target_check_raises_like_the_separate_check(op_name, op, name, dtypes, position):
    loss = fl.get(name)
    y, p = _fused_inputs(name, *dtypes)
    weighted = position % 2 == 1
    w = np.linspace(0.5, 2.0, FUSED_N).astype(dtypes[0]) if weighted else None
    bad = 0.5 if name in SIGN_LOSSES else 1.25
    y[position] = bad
    with pytest.raises(ValueError) as separate:
        loss._check_inputs(y, p)                  # the full check, apart from any kernel
    with fl.threads(2):
        with pytest.raises(ValueError) as fused:
            op(loss, y, p, w)
    assert str(fused.value) == str(separate.value)
    assert f"at index {position}" in str(fused.value)


@pytest.mark.parametrize("op_name, op", FUSED_OPS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_check_of_probabilities(op_name, op, dtype):
    y, p = _fused_inputs("binary_cross_entropy", dtype, dtype)
    p[FUSED_N - 5] = -1e-3
    with fl.threads(2), pytest.raises(ValueError, match=rf"y_pred must be probabilities.*"
                                                         rf"at index {FUSED_N - 5}"):
        op(fl.binary_cross_entropy, y, p, None)


@pytest.mark.parametrize("op_name, op", FUSED_OPS)
@pytest.mark.parametrize("name", SIGN_LOSSES)
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_fused_check_finds_labels_mixed_across_threads(op_name, op, name, threads):
    # -1 only in the first block, 0 only in the last: each thread alone sees a valid coding.
    y, p = _fused_inputs(name, np.float64, np.float64)
    y = np.where(y > 0, 1.0, 0.0)
    y[3] = -1.0
    with fl.threads(threads), pytest.raises(ValueError, match="mixes the labels -1 and 0"):
        op(fl.get(name), y, p, None)


@pytest.mark.parametrize("op_name, op", FUSED_OPS)
@pytest.mark.parametrize("name", ["binary_cross_entropy_with_logits", "hinge", "focal"])
def test_fused_check_lets_nan_through_and_matches_the_elementwise_path(op_name, op, name):
    loss = fl.get(name)
    y, p = _fused_inputs(name, np.float64, np.float64)
    for threads in (1, 2):
        with fl.threads(threads):
            clean = op(loss, y, p, None)
            value = clean[0] if isinstance(clean, tuple) else clean
            per = loss(y, p, reduction="none")
            want = per.sum() if "sum" in op_name else per.mean()
            assert value == pytest.approx(want, rel=1e-12)
    y[FUSED_N // 3] = np.nan
    with fl.threads(2):
        result = op(loss, y, p, None)
    assert np.isnan(result[0] if isinstance(result, tuple) else result)


CHECKED_OPS = [   # the calls whose inputs are checked apart from the reductions' fused check:
    # block by block after their results (grad_hess, grad, none: the checked_* kernels; the
    # hinge losses' grad runs the value-and-gradient kernel), or in the reduction kernels
    # (partial_sums; fl.score's block sums)
    ("grad", lambda loss, y, p: loss.grad(y, p)),
    ("grad_hess", lambda loss, y, p: loss.grad_hess(y, p)),
    ("none", lambda loss, y, p: loss(y, p, reduction="none")),
    ("value_and_grad_none", lambda loss, y, p: loss.value_and_grad(y, p, reduction="none")),
    ("partial_sums", lambda loss, y, p: loss.partial_sums(y, p)),
    ("score", lambda loss, y, p: fl.score(loss, y, p)),
]


@pytest.mark.parametrize("op_name, op", CHECKED_OPS)
@pytest.mark.parametrize("name", ["binary_cross_entropy", "binary_cross_entropy_with_logits",
                                  "focal", "hinge", "squared_hinge"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_checked_calls_find_the_first_bad_input_on_any_thread_count(op_name, op, name, dtype):
    """A bad target in any block, a block's tail included, is reported at its index (the first
    one when several blocks hold one); NaN blocks are not errors."""
    loss = fl.get(name)
    y, p = _fused_inputs(name, dtype, dtype)
    bad = 0.5 if name in SIGN_LOSSES else 1.25
    y[5] = np.nan
    y[4096 * 7 + 1] = np.nan
    for position in (0, 4096 * 3 + 17, FUSED_N - 1):
        yb = y.copy()
        yb[position] = bad
        yb[-1 if position != FUSED_N - 1 else 0] = np.nan
        if position != FUSED_N - 1:
            yb[FUSED_N - 2] = -3.0        # a later bad target: the first one is reported
        for threads in (1, 2):
            with fl.threads(threads), pytest.raises(ValueError,
                                                    match=rf"found {bad} at index {position}\b"):
                op(loss, yb, p)
    with fl.threads(2):
        op(loss, y, p)                    # NaN passes
    if name == "binary_cross_entropy":
        pb = p.copy()
        pb[FUSED_N - 3] = np.nextafter(dtype(1), dtype(2))
        pb[FUSED_N - 2] = -0.0            # in [0, 1]
        with fl.threads(2), pytest.raises(ValueError, match=rf"y_pred must be probabilities.*"
                                                            rf"at index {FUSED_N - 3}"):
            op(loss, y, pb)


@pytest.mark.parametrize("name", ["binary_cross_entropy", "binary_cross_entropy_with_logits",
                                  "focal", "hinge", "squared_hinge"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_checked_elementwise_kernels_write_the_unchecked_kernels_bits(name, dtype):
    """checked_per_sample and checked_block_sums (the per-element values and fl.score's block
    sums, checked block by block) give per_sample's and block_sums' results bitwise, soft and
    hard targets, weighted or not, on 1 and 2 threads; value_and_grad(reduction="none") stops
    at a bad target before it writes the derivatives into out=."""
    loss = fl.get(name)
    y, p = _fused_inputs(name, dtype, dtype)
    if name not in SIGN_LOSSES:
        y[: FUSED_N // 2] = np.round(y[: FUSED_N // 2])    # labels, then soft targets
    w = np.linspace(0.5, 2.0, FUSED_N).astype(dtype)
    code = "f4" if dtype == np.float32 else "f8"
    kernels = loss.kernels[(code, code)]
    params = loss._kernel_params(y, p, loss.bind({}))
    block = 3 * 4096 + 5
    nb = -(-FUSED_N // block)
    for weights in (None, w):
        for threads in (1, 2):
            flags = kernels.checked_reduce(y, p, weights, *params, threads)[2]   # (the labels)
            want, got = np.empty_like(p), np.empty_like(p)
            kernels.per_sample(y, p, weights, want, *params, threads)
            assert kernels.checked_per_sample(y, p, weights, got, *params, threads) == flags
            assert got.tobytes() == want.tobytes()
            want_sums, got_sums = np.zeros(2 * nb), np.zeros(2 * nb)
            kernels.block_sums(y, p, weights, want_sums, block, *params, threads)
            assert kernels.checked_block_sums(y, p, weights, got_sums, block, *params,
                                              threads) == flags
            assert got_sums.tobytes() == want_sums.tobytes()
    bad = y.copy()
    bad[4096 * 5 + 3] = 0.5 if name in SIGN_LOSSES else 1.25
    out = np.full_like(p, 7.0)
    with pytest.raises(ValueError, match=rf"at index {4096 * 5 + 3}\b"):
        loss.value_and_grad(bad, p, reduction="none", out=out)
    assert np.all(out == 7.0)


@pytest.mark.parametrize("name", sorted(SIGN_LOSSES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sign_losses_grad_is_value_and_grads_gradient_with_its_fused_check(name, dtype):
    """The hinge losses' grad runs the value-and-gradient kernel for its fused label check
    (BinaryLoss.grad_by_value_grad): the gradient value_and_grad writes, bitwise, for each
    reduction and weighting (and the per-element kernel's, reduction="none"), and labels the
    check rejects raise, with out= given too."""
    loss = fl.get(name)
    rng = np.random.default_rng(21)
    y, p = loss.make_inputs(5000, dtype, rng)
    w = rng.uniform(0.5, 2.0, 5000).astype(dtype)
    for weights in (None, w):
        for reduction in ("mean", "sum", "none"):
            g = loss.grad(y, p, sample_weight=weights, reduction=reduction, margin=0.7)
            _, want = loss.value_and_grad(y, p, sample_weight=weights, reduction=reduction,
                                          margin=0.7)
            assert g.dtype == dtype and g.tobytes() == want.tobytes(), (weights is None, reduction)
    bad = y.copy()
    bad[4321] = 0.5
    with pytest.raises(ValueError, match=r"found 0.5 at index 4321"):
        loss.grad(bad, p, out=np.empty_like(p))
    mixed = np.where(y > 0, 1.0, -1.0).astype(dtype)
    mixed[7] = 0.0
    with pytest.raises(ValueError, match="mixes the labels -1 and 0"):
        loss.grad(mixed, p)


def test_unit_interval_scan_matches_numpy():
    from fastloss._kernels import _parallel
    from fastloss.losses.binary import _parallel as best
    rng = np.random.default_rng(8)
    for dtype in (np.float32, np.float64):
        for n in (1, 9, 4096, 4096 * 3 + 7):
            for bad in (None, -0.0, -1e-45, 1.0 + 1e-7, np.inf, -np.inf, np.nan, 2.0):
                x = rng.random(n).astype(dtype)
                if bad is not None:
                    x[rng.integers(n)] = bad
                want = bool(np.nanmin(x) < 0 or np.nanmax(x) > 1) if not np.all(np.isnan(x)) else False
                for module in (_parallel, best):
                    for threads in (1, 2):
                        assert module.outside_unit_interval(x, threads) == want, (dtype, n, bad)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("name", ["binary_cross_entropy", "binary_cross_entropy_with_logits", "focal"])
@pytest.mark.parametrize("bad", [-0.1, 1.5, np.inf, 2])
def test_targets_outside_unit_interval(name, bad):
    y = np.array([0.0, 1.0, bad, 0.0])
    with pytest.raises(ValueError, match=r"y_true must be targets in \[0, 1\].*at index 2"):
        fl.get(name)(y, np.full(4, 0.5))
    with pytest.raises(ValueError, match="y_true"):
        fl.get(name).grad_hess(y, np.full(4, 0.5))


@pytest.mark.parametrize("bad", [-1e-9, 1.0000001, -np.inf])
def test_probabilities_outside_unit_interval(bad):
    p = np.array([[0.5, 0.5], [bad, 0.5]])
    with pytest.raises(ValueError, match=r"y_pred must be probabilities in \[0, 1\].*\(1, 0\)"):
        fl.binary_cross_entropy(np.ones((2, 2)), p)
    with pytest.raises(ValueError, match="y_pred"):
        fl.binary_cross_entropy.value_and_grad(np.ones((2, 2)), p)


@pytest.mark.parametrize("name", SIGN_LOSSES)
@pytest.mark.parametrize("labels,match", [
    ([1, -1, 2], r"found 2 at index 2"),
    ([1.0, 0.5, 1.0], r"found 0\.5 at index 1"),
    ([0, 1, -1], "mixes the labels -1 and 0"),
    ([0.0, -1.0, 1.0], "mixes the labels -1 and 0"),
    ([1.0, -np.inf, 1.0], r"found -inf at index 1"),
    (np.array([1, 1, 3], np.uint8), r"found 3 at index 2"),
])
def test_bad_hinge_labels(name, labels, match):
    with pytest.raises(ValueError, match="y_true.*" + match if "mixes" not in match else match):
        fl.get(name)(labels, [0.1, 0.2, 0.3])


@pytest.mark.parametrize("name,params,arg", [
    ("binary_cross_entropy", {"eps": 0.0}, "eps"),
    ("binary_cross_entropy", {"eps": 0.5}, "eps"),
    ("binary_cross_entropy", {"eps": -1e-3}, "eps"),
    ("binary_cross_entropy_with_logits", {"pos_weight": -1.0}, "pos_weight"),
    ("binary_cross_entropy_with_logits", {"pos_weight": np.nan}, "pos_weight"),
    ("hinge", {"margin": -0.5}, "margin"),
    ("squared_hinge", {"margin": np.inf}, "margin"),
    ("focal", {"gamma": -0.1}, "gamma"),
    ("focal", {"alpha": 1.5}, "alpha"),
])
def test_bad_parameters(name, params, arg):
    with pytest.raises(ValueError, match=arg):
        fl.get(name)([0.0, 1.0], [0.5, 0.5], **params)


def test_bad_parameter_types_and_names():
    with pytest.raises(TypeError, match="gamma"):
        fl.focal([1.0], [0.0], gamma="2")
    with pytest.raises(TypeError, match="unexpected parameter"):
        fl.hinge([1.0], [0.0], delta=1.0)
    with pytest.raises(ValueError, match="same shape"):
        fl.hinge([1.0, -1.0], [0.0])
    with pytest.raises(TypeError, match="y_true"):
        fl.focal(["a"], [0.0])


def test_empty_input():
    for name in ["binary_cross_entropy", "binary_cross_entropy_with_logits", "hinge",
                 "squared_hinge", "focal"]:
        assert math.isnan(fl.get(name)([], []))
        assert fl.get(name)([], [], reduction="sum") == 0.0


def test_out_is_honoured():
    y, z = _inputs("focal", 100, np.float32, np.random.default_rng(0))
    g, h = np.empty_like(z), np.empty_like(z)
    rg, rh = fl.focal.grad_hess(y, z, out=(g, h))
    assert np.shares_memory(rg, g) and np.shares_memory(rh, h)
    buf = np.empty_like(z)
    assert np.shares_memory(fl.binary_cross_entropy_with_logits.grad(y, z, out=buf), buf)


# ----------------------------------------------------------------------------- threads


@pytest.mark.parametrize("case", CASES[::2] + [CASES[-1]], ids=case_id)
def test_bitwise_equal_across_thread_counts(case):
    name, params = case
    n = 2 * 16384 + 4093          # above the serial threshold, not a multiple of the block
    rng = np.random.default_rng(8)
    y, p = _inputs(name, n, np.float64, rng)
    w = rng.uniform(0.0, 2.0, n)
    loss = fl.get(name)
    results = []
    for n_threads in (1, 2, 3):
        with fl.threads(n_threads):
            value, g = loss.value_and_grad(y, p, sample_weight=w, **params)
            gh = loss.grad_hess(y, p, **params)
            results.append((loss(y, p, **params), loss(y, p, reduction="sum", **params),
                            value, g, *gh))
    first = results[0]
    for other in results[1:]:
        for a, b in zip(first, other):
            assert np.array_equal(a, b), name   # bitwise: == on every element and value


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["binary_cross_entropy", "focal"])
def test_label_form_gives_the_general_forms_bits(name, dtype):
    """Sub-blocks whose targets are all 0 or 1 take the loss's label form (one log, no
    soft-target terms). It must give exactly the general form's bits: the same hard labels,
    once with every 256-element sub-block hard and once with a soft target (weight 0) in each
    sub-block, which sends them all through the general form, give the same sums bitwise."""
    rng = np.random.default_rng(5)
    loss = fl.get(name)
    n = 3 * 4096 + 77
    y, p = loss.make_inputs(n, dtype, rng)
    if name == "binary_cross_entropy":
        p[:50] = np.array([0.0, 1.0, 1e-30, 1 - 1e-9] * 13)[:50].astype(dtype)   # the clip too
    else:   # the limits at +-inf logits, with 1, 0 and -0 labels (before the first soft target)
        p[:12] = np.array([np.inf, -np.inf, 50.0, -50.0] * 3).astype(dtype)
        y[:12] = np.array([1.0, 1.0, 0.0, 0.0, -0.0, -0.0] * 2).astype(dtype)
    w = rng.uniform(0.5, 2.0, n).astype(dtype)
    soft_at = np.arange(17, n, 256)
    w[soft_at] = 0.0
    y_soft = y.copy()
    y_soft[soft_at] = 0.5
    hard = loss.value_and_grad(y, p, sample_weight=w, reduction="sum")
    general = loss.value_and_grad(y_soft, p, sample_weight=w, reduction="sum")
    assert hard[0] == general[0]
    bits = np.uint64 if dtype == np.float64 else np.uint32
    keep = np.ones(n, bool)
    keep[soft_at] = False      # weight 0 there: a signed zero that follows the target
    assert np.array_equal(hard[1][keep].view(bits), general[1][keep].view(bits))
    for weights in (w, None):   # grad alone takes the label form too, with value_and_grad's bits
        grad_hard = loss.grad(y, p, sample_weight=weights, reduction="sum")
        grad_general = loss.grad(y_soft, p, sample_weight=weights, reduction="sum")
        both = loss.value_and_grad(y, p, sample_weight=weights, reduction="sum")[1]
        assert np.array_equal(grad_hard[keep].view(bits), grad_general[keep].view(bits))
        assert np.array_equal(grad_hard.view(bits), both.view(bits))
    assert loss(y, p, sample_weight=w, reduction="sum") == loss(y_soft, p, sample_weight=w,
                                                                 reduction="sum")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,soft", [("binary_cross_entropy_with_logits", True),
                                       ("focal", False), ("focal", True), ("log_cosh", True)])
def test_phased_loops_give_the_elementwise_bits(name, soft, dtype):
    """The reductions and grad compute a sub-block's exps, then its logs, in loops of their own
    (closs_X_from); reduction="none" and grad_hess call the one-sample functions, exp and log
    inlined. Both must give the same bits: each element's loss alone (a one-hot weight, the
    other terms +0), and the gradient of every element, at ordinary, huge and infinite inputs."""
    rng = np.random.default_rng(11)
    loss = fl.get(name)
    n = 600
    y, p = loss.make_inputs(n, dtype, rng)
    p[:8] = np.array([np.inf, -np.inf, 40.0, -40.0, 800.0, -800.0, 1e-30, -0.0]).astype(dtype)
    if name != "log_cosh":
        y = (rng.random(n) < 0.5).astype(dtype) if not soft else y
        y[:8] = 1.0
    bits = np.uint64 if dtype == np.float64 else np.uint32
    finite = np.isfinite(loss(y, p, reduction="none"))   # 0 * inf would be NaN below
    yf, pf = y[finite], p[finite]
    per = loss(yf, pf, reduction="none")
    for i in list(range(40)) + list(range(len(pf) - 40, len(pf))):
        w = np.zeros(len(pf), dtype)
        w[i] = 1.0
        alone = np.asarray(loss(yf, pf, sample_weight=w, reduction="sum"), dtype)
        assert alone.view(bits) == per[i].view(bits), (name, i)
    g_hess, _ = loss.grad_hess(y, p)
    for g in (loss.grad(y, p, reduction="sum"), loss.value_and_grad(y, p, reduction="sum")[1]):
        assert np.array_equal(g.view(bits), g_hess.view(bits))


def test_reference_sigmoid_is_accurate_far_below_zero():
    # The NumPy reference's sigmoid once cancelled for z < -18 (0.5 (1 + tanh(z / 2))): at y = 1,
    # z = 37 and pos_weight = 100 its gradient was 35% off the kernel's (correct) one, and the
    # property test failed on it. Against mpmath at 30 digits, both tails and the middle.
    z = np.array([-745.0, -200.0, -37.0, -18.5, -1.0, 0.0, 2.0, 19.0, 37.0])
    with mp.workdps(30):
        want = [float(1 / (1 + mp.exp(-mp.mpf(v)))) for v in z]
        want_grad = -100.0 * float(mp.exp(-37) / (1 + mp.exp(-37)))
    np.testing.assert_allclose(reference._sigmoid(z), want, rtol=4e-16, atol=0.0)
    g = reference.binary_cross_entropy_with_logits_grad(np.array([1.0]), np.array([37.0]), 100.0)
    np.testing.assert_allclose(g, want_grad, rtol=4e-16)
    np.testing.assert_allclose(fl.binary_cross_entropy_with_logits.grad(
        [1.0], [37.0], pos_weight=100.0, reduction="sum"), g, rtol=4e-16)
