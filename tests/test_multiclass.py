"""Multiclass (row-wise) losses: reference, derivatives, extremes, worked examples, bad input,
threads."""

import math
import zlib

import mpmath
import numpy as np
import pytest

import fastloss as fl
from fastloss import reference

mpmath.mp.dps = 50

NAMES = ["cross_entropy", "categorical_cross_entropy", "multiclass_hinge", "softmax_focal",
         "kl_divergence"]
DTYPES = [np.float64, np.float32]
SHAPES = [(7, 3), (33, 2), (5, 1000), (101, 13)]


def _inputs(name, target_kind, n, k, rng):
    """(target, predictions) in float64 for one loss; target_kind "labels" or "probabilities"."""
    if target_kind == "labels":
        target = rng.integers(0, k, size=n)
    else:
        target = rng.dirichlet(np.ones(k), size=n)
    if name in ("categorical_cross_entropy", "kl_divergence"):
        pred = rng.dirichlet(np.ones(k), size=n)
    else:
        pred = 3.0 * rng.standard_normal((n, k))
    return target, pred


# (loss, params, target kind): every option, and all of cross_entropy's options together
CASES = [
    ("cross_entropy", {}, "labels"),
    ("cross_entropy", {"label_smoothing": 0.2}, "labels"),
    ("cross_entropy", {"class_weight": "random", "label_smoothing": 0.1, "ignore_index": 1},
     "labels"),
    ("cross_entropy", {"class_weight": "random", "ignore_index": -100}, "labels"),
    ("cross_entropy", {}, "probabilities"),
    ("cross_entropy", {"class_weight": "random", "label_smoothing": 0.3}, "probabilities"),
    ("categorical_cross_entropy", {}, "labels"),
    ("categorical_cross_entropy", {"eps": 1e-3}, "probabilities"),
    ("multiclass_hinge", {}, "labels"),
    ("multiclass_hinge", {"margin": 2.5}, "labels"),
    ("softmax_focal", {}, "labels"),
    ("softmax_focal", {"gamma": 0.5, "alpha": "random"}, "labels"),
    ("softmax_focal", {"gamma": 3.0, "alpha": 0.25}, "labels"),
    ("kl_divergence", {}, "probabilities"),
    ("kl_divergence", {"log_input": True}, "probabilities"),
]


def _case_id(case):
    name, params, kind = case
    return f"{name}-{kind}-" + ("-".join(params) or "defaults")


def _make_case(case, n, k, rng):
    name, params, kind = case
    params = dict(params)
    for key in ("class_weight", "alpha"):
        if params.get(key) == "random":
            params[key] = rng.uniform(0.0, 2.0, size=k)
    target, pred = _inputs(name, kind, n, k, rng)
    if params.get("ignore_index") is not None and kind == "labels":
        drop = rng.random(n) < 0.2
        target = np.where(drop, params["ignore_index"], target)
        if params["ignore_index"] >= k:   # a valid class index may be ignored too
            params["ignore_index"] = 0
    if params.get("log_input"):
        pred = np.log(pred)
    return fl.get(name), target, pred, params


def _tol(dtype):
    return dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-5, atol=1e-6)


# ----------------------------------------------------------------------------- reference

@pytest.mark.parametrize("case", CASES, ids=_case_id)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f8", "f4"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_matches_reference(case, dtype, shape, weighted):
    rng = np.random.default_rng(zlib.crc32(f"{_case_id(case)}-{shape}".encode()))
    n, k = shape
    loss, target, pred, params = _make_case(case, n, k, rng)
    pred = pred.astype(dtype)
    sw = rng.uniform(0.0, 3.0, size=n) if weighted else None
    pred64 = pred.astype(np.float64)   # the reference sees exactly the kernel's inputs
    tol = _tol(dtype)
    for reduction in ("mean", "sum"):
        got = loss(target, pred, sample_weight=sw, reduction=reduction, **params)
        want = reference.value(loss.name, target, pred64, sw, reduction, **params)
        assert isinstance(got, float)
        np.testing.assert_allclose(got, want, rtol=1e-10 if dtype == np.float64 else 1e-9)
        g = loss.grad(target, pred, sample_weight=sw, reduction=reduction, **params)
        assert g.dtype == dtype and g.shape == pred.shape
        scale = np.max(np.abs(g)) if g.size else 1.0
        np.testing.assert_allclose(g, reference.grad(loss.name, target, pred64, sw, reduction,
                                                     **params), rtol=tol["rtol"],
                                   atol=tol["atol"] * scale)
    per_row = loss(target, pred, sample_weight=sw, reduction="none", **params)
    assert per_row.dtype == dtype and per_row.shape == (n,)
    np.testing.assert_allclose(per_row, reference.value(loss.name, target, pred64, sw, "none",
                                                        **params), **tol)
    g, h = loss.grad_hess(target, pred, sample_weight=sw, **params)
    want_g, want_h = reference.grad_hess(loss.name, target, pred64, sw, **params)
    np.testing.assert_allclose(g, want_g, rtol=tol["rtol"], atol=tol["atol"] * np.abs(want_g).max())
    np.testing.assert_allclose(h, want_h, rtol=tol["rtol"],
                               atol=tol["atol"] * max(np.abs(want_h).max(), 1.0))


@pytest.mark.parametrize("case", CASES, ids=_case_id)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_value_and_grad_is_value_and_grad(case, reduction):
    """One pass gives bitwise what the separate calls give; out= is written in place."""
    rng = np.random.default_rng(3)
    loss, target, pred, params = _make_case(case, 41, 7, rng)
    sw = rng.uniform(0.5, 2.0, size=41)
    out = np.empty_like(pred)
    value, g = loss.value_and_grad(target, pred, sample_weight=sw, reduction=reduction,
                                   out=out, **params)
    assert g is out
    np.testing.assert_array_equal(value, loss(target, pred, sample_weight=sw,
                                              reduction=reduction, **params))
    want = loss.grad(target, pred, sample_weight=sw,
                     reduction="sum" if reduction == "none" else reduction, **params)
    np.testing.assert_array_equal(g, want)
    total, weight_total, count = loss.partial_sums(target, pred, sample_weight=sw, **params)
    assert count == 41
    if reduction == "mean":
        assert value == total / weight_total


# ----------------------------------------------------------------------------- derivatives

def _fd_inputs(case, rng):
    loss, target, pred, params = _make_case(case, 6, 5, rng)
    if case[0] == "categorical_cross_entropy":   # keep away from the clip edges
        pred = np.clip(pred, 0.05, 0.95)
    if case[0] == "multiclass_hinge":            # keep away from the kinks
        pred = np.round(pred, 1) + 0.03 * rng.random(pred.shape)
    return loss, target, pred, params


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_gradient_and_hessian_match_finite_differences(case):
    rng = np.random.default_rng(11)
    loss, target, pred, params = _fd_inputs(case, rng)
    sw = rng.uniform(0.5, 2.0, size=pred.shape[0])
    step = 1e-6
    g = loss.grad(target, pred, sample_weight=sw, **params)
    g_rows, h = loss.grad_hess(target, pred, sample_weight=sw, **params)
    fd_g = np.zeros_like(pred)
    fd_h = np.zeros_like(pred)
    for idx in np.ndindex(pred.shape):
        up, down = pred.copy(), pred.copy()
        up[idx] += step
        down[idx] -= step
        fd_g[idx] = (loss(target, up, sample_weight=sw, **params)
                     - loss(target, down, sample_weight=sw, **params)) / (2 * step)
        fd_h[idx] = (loss.grad_hess(target, up, sample_weight=sw, **params)[0][idx]
                     - loss.grad_hess(target, down, sample_weight=sw, **params)[0][idx]) / (2 * step)
    np.testing.assert_allclose(g, fd_g, rtol=1e-5, atol=1e-7)
    # grad_hess floors the diagonal at hess_floor = 0 (the focal loss is not convex)
    np.testing.assert_allclose(h, np.maximum(fd_h, 0.0), rtol=1e-5, atol=1e-6)
    # grad_hess's gradient is the unreduced ("sum") gradient
    np.testing.assert_allclose(g_rows, loss.grad(target, pred, sample_weight=sw,
                                                 reduction="sum", **params), rtol=1e-15)


def test_hess_floor_and_out_pair():
    rng = np.random.default_rng(5)
    labels, scores = fl.multiclass_hinge.make_inputs(60, np.float64, rng)
    g_out, h_out = np.empty_like(scores), np.empty_like(scores)
    g, h = fl.multiclass_hinge.grad_hess(labels, scores, hess_floor=1e-3, out=(g_out, h_out))
    assert g is g_out and h is h_out
    np.testing.assert_array_equal(h, 1e-3)
    with pytest.raises(ValueError, match="overlap"):
        fl.multiclass_hinge.grad_hess(labels, scores, out=(g_out, g_out))


def test_softmax_focal_gamma_zero_is_cross_entropy():
    rng = np.random.default_rng(8)
    labels, logits = fl.softmax_focal.make_inputs(4000, np.float64, rng)
    sw = rng.uniform(0, 2, size=labels.size)
    assert fl.softmax_focal(labels, logits, gamma=0.0, sample_weight=sw) == pytest.approx(
        fl.cross_entropy(labels, logits, sample_weight=sw), rel=1e-14)
    np.testing.assert_allclose(fl.softmax_focal.grad_hess(labels, logits, gamma=0.0)[1],
                               fl.cross_entropy.grad_hess(labels, logits)[1], rtol=1e-12,
                               atol=1e-16)
    np.testing.assert_allclose(fl.softmax_focal.grad(labels, logits, gamma=0.0),
                               fl.cross_entropy.grad(labels, logits), rtol=1e-12, atol=1e-18)


def test_one_hot_targets_equal_labels():
    rng = np.random.default_rng(9)
    labels, logits = fl.cross_entropy.make_inputs(500, np.float64, rng)
    one_hot = np.eye(10)[labels]
    for name, pred in (("cross_entropy", logits),
                       ("categorical_cross_entropy", np.exp(reference._log_softmax(logits)))):
        loss = fl.get(name)
        assert loss(one_hot, pred) == pytest.approx(loss(labels, pred), rel=1e-14)
        np.testing.assert_allclose(loss.grad(one_hot, pred), loss.grad(labels, pred),
                                   rtol=1e-13, atol=1e-18)


# ----------------------------------------------------------------------------- extremes (mpmath)

def _mp_ce(logits, label):
    z = [mpmath.mpf(x) for x in logits]
    return mpmath.log(sum(mpmath.exp(x) for x in z)) - z[label]


def _mp_softmax(logits):
    z = [mpmath.mpf(x) for x in logits]
    s = sum(mpmath.exp(x) for x in z)
    return [mpmath.exp(x) / s for x in z]


@pytest.mark.parametrize("logits, label", [
    ([1e4, -1e4, 0.0], 0), ([1e4, -1e4, 0.0], 1), ([1e4, -1e4, 0.0], 2),
    ([-1e4, -1e4 + 1.0, -1e4 - 3.0], 0), ([40.0, 0.0], 0), ([0.0, 40.0], 0),
    ([700.0, 700.0, 690.0], 2), ([30.0, 0.0, -5.0], 0),
])
def test_cross_entropy_extremes(logits, label):
    z = np.array([logits])
    value, g = fl.cross_entropy.value_and_grad([label], z)
    assert value == pytest.approx(float(_mp_ce(logits, label)), rel=1e-14, abs=1e-300)
    p = _mp_softmax(logits)
    want_g = [float(p[j] - (1 if j == label else 0)) for j in range(len(logits))]
    np.testing.assert_allclose(g[0], want_g, rtol=1e-13, atol=1e-300)
    h = fl.cross_entropy.grad_hess([label], z)[1]
    np.testing.assert_allclose(h[0], [float(pj * (1 - pj)) for pj in p], rtol=1e-13,
                               atol=1e-300)


def test_cross_entropy_infinite_logits():
    inf = math.inf
    # -inf on a class that is not the target: probability 0, no NaN
    z = np.array([[0.0, -inf, 1.0]])
    value, g = fl.cross_entropy.value_and_grad([0], z)
    assert value == pytest.approx(float(_mp_ce([0.0, 1.0], 0)), rel=1e-15)
    assert np.all(np.isfinite(g)) and g[0, 1] == 0.0
    assert np.all(np.isfinite(fl.cross_entropy.grad_hess([0], z)[1]))
    # -inf on the target: inf (and so with label smoothing for any -inf class)
    assert fl.cross_entropy([1], z) == inf
    assert fl.cross_entropy([0], z, label_smoothing=0.1) == inf
    # +inf logits: the limit (all the mass on the +inf classes)
    assert fl.cross_entropy([0], [[inf, 0.0]]) == 0.0
    assert fl.cross_entropy([1], [[inf, 0.0]]) == inf
    assert fl.cross_entropy([0], [[inf, inf, 3.0]]) == pytest.approx(math.log(2), rel=1e-15)
    np.testing.assert_array_equal(fl.cross_entropy.grad([0], [[inf, 0.0]]), [[0.0, 0.0]])
    # NaN propagates, also through the gradient
    assert math.isnan(fl.cross_entropy([0], [[0.0, math.nan, 1.0]]))
    assert math.isnan(fl.cross_entropy([0], [[math.nan, 0.0]]))
    assert np.all(np.isnan(fl.cross_entropy.grad([0], [[0.0, math.nan, 1.0]])))


def test_cross_entropy_float32_extreme_logits():
    z = np.array([[1e4, -1e4, 0.0]], dtype=np.float32)
    assert fl.cross_entropy([1], z) == pytest.approx(2e4, rel=1e-15)
    g = fl.cross_entropy.grad([1], z)
    assert g.dtype == np.float32
    np.testing.assert_array_equal(g, np.array([[1.0, -1.0, 0.0]], dtype=np.float32))


@pytest.mark.parametrize("logits, label, gamma", [
    ([40.0, 0.0], 0, 2.0), ([40.0, 0.0], 1, 2.0), ([20.0, 0.0, -3.0], 0, 0.5),
    ([1e4, 0.0], 1, 2.0), ([2.0, 1.0, -1.0], 2, 1.5), ([5.0, 0.0], 0, 0.25),
])
def test_softmax_focal_extremes(logits, label, gamma):
    """Loss, gradient and Hessian against mpmath at large logits (no saturation)."""
    def focal(*z):
        z = list(z)
        s = sum(mpmath.exp(x - max(z)) for x in z)
        p = mpmath.exp(z[label] - max(z)) / s
        q = sum(mpmath.exp(x - max(z)) for j, x in enumerate(z) if j != label) / s
        return -q ** gamma * mpmath.log(p)

    zs = [mpmath.mpf(x) for x in logits]
    z = np.array([logits])
    value = fl.softmax_focal([label], z, gamma=gamma)
    assert value == pytest.approx(float(focal(*zs)), rel=1e-13, abs=1e-300)
    g, h = fl.softmax_focal.grad_hess([label], z, gamma=gamma)
    for j in range(len(logits)):
        order = [0] * len(logits)
        order[j] = 1
        want_g = mpmath.diff(focal, zs, tuple(order))
        order[j] = 2
        want_h = mpmath.diff(focal, zs, tuple(order))
        assert g[0, j] == pytest.approx(float(want_g), rel=1e-11, abs=1e-300)
        assert h[0, j] == pytest.approx(max(float(want_h), 0.0), rel=1e-9, abs=1e-300)
        if max(map(abs, logits)) <= 5:   # the unfloored formula, through the (naive) reference
            ref_h = reference.softmax_focal_hess(np.array([label]), z, gamma=gamma)[0, j]
            assert ref_h == pytest.approx(float(want_h), rel=1e-10)


def test_categorical_cross_entropy_probabilities_zero_and_one():
    eps64 = np.finfo(np.float64).eps
    q = np.array([[0.0, 1.0], [1.0, 0.0]])
    # target probability 0 is clipped to eps: -log(eps) = 36.04; probability 1 to 1 - eps
    per = fl.categorical_cross_entropy([0, 0], q, reduction="none")
    assert per[0] == pytest.approx(float(-mpmath.log(mpmath.mpf(eps64))), rel=1e-15)
    assert per[1] == pytest.approx(float(-mpmath.log1p(-mpmath.mpf(eps64))), rel=1e-15)
    assert fl.categorical_cross_entropy([0], [[0.0, 1.0]], eps=0.0) == math.inf
    q32 = q.astype(np.float32)
    eps32 = float(np.finfo(np.float32).eps)
    per32 = fl.categorical_cross_entropy([0, 0], q32, reduction="none")
    assert per32.dtype == np.float32
    assert per32[0] == pytest.approx(-math.log(eps32), rel=1e-6)
    # gradient of the clipped loss: 0 where the clip is active, -1/q inside
    g = fl.categorical_cross_entropy.grad([0, 1], [[0.0, 1.0], [0.5, 0.5]], reduction="sum")
    np.testing.assert_array_equal(g, [[0.0, 0.0], [0.0, -2.0]])


def test_kl_divergence_zero_log_zero_and_infinity():
    assert fl.kl_divergence([[0.0, 1.0]], [[0.0, 1.0]]) == 0.0
    assert fl.kl_divergence([[1.0, 0.0]], [[0.0, 1.0]]) == math.inf
    np.testing.assert_array_equal(fl.kl_divergence.grad([[0.0, 1.0]], [[0.0, 1.0]]),
                                  [[0.0, -1.0]])
    # with log-probabilities, log q = -inf where p = 0 is fine
    assert fl.kl_divergence([[0.0, 1.0]], [[-math.inf, 0.0]], log_input=True) == 0.0
    p, q = [0.25, 0.75], [0.5, 0.5]
    want = sum(mpmath.mpf(a) * mpmath.log(mpmath.mpf(a) / b) for a, b in zip(p, q))
    assert fl.kl_divergence([p], [q]) == pytest.approx(float(want), rel=1e-15)


def test_multiclass_hinge_infinities_and_nan():
    inf = math.inf
    assert fl.multiclass_hinge([0], [[inf, 3.0, -inf]]) == 0.0
    assert fl.multiclass_hinge([1], [[inf, 3.0, -inf]]) == inf
    assert math.isnan(fl.multiclass_hinge([0], [[0.0, math.nan]]))


def _with_specials(x, rng, fraction):
    """x with NaN, +inf and -inf each at a random `fraction` of its elements."""
    u = rng.random(x.shape)
    x = x.copy()
    x[u < fraction] = math.nan
    x[(u >= fraction) & (u < 2 * fraction)] = math.inf
    x[(u >= 2 * fraction) & (u < 3 * fraction)] = -math.inf
    return x


def _hinge_rows(labels, s, w, margin):
    """Weston-Watkins row by row, skipping the label's class, in the kernel's operation order
    (Python floats are doubles): per-row losses w * l and gradients w * dl/ds."""
    n, k = s.shape
    losses, grads = [], np.zeros((n, k))
    for i in range(n):
        sy, loss, count = float(s[i, labels[i]]), 0.0, 0.0
        for j in range(k):
            if j == labels[i]:
                continue
            v = margin - sy + float(s[i, j])
            d1 = 1.0 if v > 0.0 else (v if v != v else 0.0)
            if v > 0.0 or v != v:
                loss += v
                count += d1
            grads[i, j] = w[i] * d1
        if sy != sy:
            loss = count = sy
        grads[i, labels[i]] = w[i] * -count
        losses.append(w[i] * loss)
    return np.array(losses), grads


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [1, 2, 3, 10, 33])
def test_multiclass_hinge_blocks_match_the_row_loop(dtype, k):
    """The block kernel (phases over all the rows, selects, the label zeroed) gives the bits of
    the row-by-row loop it replaced: kinks (v = 0 exactly), +-inf, NaN scores and labels, K = 1,
    weights, and rows across several blocks."""
    rng = np.random.default_rng(k)
    n, margin = 1500, 0.5
    labels = rng.integers(0, k, size=n)
    s = rng.integers(-3, 4, size=(n, k)) * 0.25       # many exact kinks: s_j = s_y - margin
    s = _with_specials(s, rng, 0.02).astype(dtype)
    w = rng.random(n)
    want_losses, want_grads = _hinge_rows(labels, s, w, margin)
    got = fl.multiclass_hinge(labels, s, sample_weight=w, reduction="none", margin=margin)
    np.testing.assert_array_equal(got, want_losses.astype(dtype))
    g = fl.multiclass_hinge.grad(labels, s, sample_weight=w, reduction="sum", margin=margin)
    np.testing.assert_array_equal(g, want_grads.astype(dtype))
    g2, h = fl.multiclass_hinge.grad_hess(labels, s, sample_weight=w, margin=margin,
                                          hess_floor=0.125)
    np.testing.assert_array_equal(g2, g)
    np.testing.assert_array_equal(h, np.repeat(w[:, None] * 0.125, k, axis=1).astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [2, 10, 40])
@pytest.mark.parametrize("gamma", [2.0, 1.5, 0.0])
def test_softmax_focal_gradient_is_the_same_from_every_entry_point(dtype, k, gamma):
    """grad, value_and_grad and grad_hess (which also writes the Hessian) compute the gradient
    with the same function (_focal_row, after the block phases): the same bits, across blocks,
    with +-inf and NaN logits and ties at the max."""
    rng = np.random.default_rng(k)
    n = 1500
    labels = rng.integers(0, k, size=n)
    z = rng.integers(-8, 9, size=(n, k)) * 0.5          # ties at the row max
    z = _with_specials(z, rng, 0.01).astype(dtype)
    w = rng.random(n)
    g = fl.softmax_focal.grad(labels, z, sample_weight=w, reduction="sum", gamma=gamma)
    _, g_vg = fl.softmax_focal.value_and_grad(labels, z, sample_weight=w, reduction="sum",
                                              gamma=gamma)
    g_gh, _ = fl.softmax_focal.grad_hess(labels, z, sample_weight=w, gamma=gamma)
    np.testing.assert_array_equal(g, g_gh)
    np.testing.assert_array_equal(g, g_vg)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [1, 2, 10, 27, 28, 40])
def test_cross_entropy_block_grad_hess_is_the_row_grad_hess(dtype, k):
    """grad_hess with labels runs the block phases (narrow below 28 classes); unit class weights
    take the row-by-row path, whose general loop the block reproduces: the same gradient and
    Hessian, NaN aside (its sign is not kept), with ties at the max, +-inf and NaN logits,
    weights, a Hessian floor, across blocks and threads."""
    rng = np.random.default_rng(k + 100)
    n = 1500
    labels = rng.integers(0, k, size=n)
    z = rng.integers(-8, 9, size=(n, k)) * 0.5
    z = _with_specials(z, rng, 0.01).astype(dtype)
    w = rng.random(n)
    for threads in (1, 2):
        with fl.threads(threads):
            for kwargs in ({}, {"sample_weight": w, "hess_floor": 1e-3}):
                block = fl.cross_entropy.grad_hess(labels, z, **kwargs)
                rows = fl.cross_entropy.grad_hess(labels, z, class_weight=np.ones(k), **kwargs)
                for a, b in zip(block, rows):
                    np.testing.assert_array_equal(a, b)
                    same = (a == b) | (np.isnan(a) & np.isnan(b))
                    assert same.all()


# ----------------------------------------------------------------------------- worked examples

def test_digit_example():
    """Logits [1.2, 0.5, 3.1, 0.8], true class 2: softmax 0.7552, loss 0.28073."""
    z = [[1.2, 0.5, 3.1, 0.8]]
    exps = [math.exp(x) for x in z[0]]
    assert exps[2] / sum(exps) == pytest.approx(0.7552, abs=5e-5)
    assert fl.cross_entropy([2], z) == pytest.approx(0.28073, abs=5e-6)
    g = fl.cross_entropy.grad([2], z)
    assert g[0, 2] == pytest.approx(0.7552 - 1.0, abs=5e-5)       # p - 1 for the true class
    # the same row given as probabilities to the textbook form
    p = np.array([exps]) / sum(exps)
    assert fl.categorical_cross_entropy([2], p) == pytest.approx(0.28073, abs=5e-6)


def test_three_animal_batch():
    """Categorical cross-entropy of a cat/dog/bird batch: 0.59460.

    The textbook's own batch was not available; this one is built by hand to be consistent
    with its result: the true classes get 0.7, 0.6 and 0.4, and -(ln 0.7 + ln 0.6 + ln 0.4) / 3
    = -ln(0.168) / 3 = 0.594597.
    """
    y = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]])           # cat, dog, bird (one-hot)
    q = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.3, 0.3, 0.4]])
    assert fl.categorical_cross_entropy(y, q) == pytest.approx(0.59460, abs=5e-6)
    assert fl.categorical_cross_entropy([0, 1, 2], q) == pytest.approx(0.59460, abs=5e-6)


def test_binary_textbook_values_as_two_classes():
    """Spam predicted at 0.2: -log 0.2 = 1.609; at 0.95: -log 0.95 = 0.051."""
    assert fl.categorical_cross_entropy([1], [[0.8, 0.2]]) == pytest.approx(1.609, abs=5e-4)
    assert fl.categorical_cross_entropy([1], [[0.05, 0.95]]) == pytest.approx(0.051, abs=5e-4)


def test_pytorch_conventions_cross_entropy():
    """Hand-worked values in torch.nn.functional.cross_entropy's conventions."""
    l0 = math.log1p(math.exp(-1.0))        # -log softmax([1, 0])[0] = 0.313262
    l1 = 1.0 + l0                          # -log softmax([1, 0])[1] = 1.313262
    z = [[1.0, 0.0], [1.0, 0.0]]
    # class weights: sum(w_y l) / sum(w_y)
    assert fl.cross_entropy([0, 1], z, class_weight=[2.0, 1.0]) == pytest.approx(
        (2 * l0 + l1) / 3, rel=1e-15)
    assert fl.cross_entropy([0, 1], z, class_weight=[2.0, 1.0], reduction="none") == \
        pytest.approx([2 * l0, l1], rel=1e-15)
    # ignore_index: the ignored row counts neither in the numerator nor the denominator
    assert fl.cross_entropy([0, -100], z, ignore_index=-100) == pytest.approx(l0, rel=1e-15)
    np.testing.assert_array_equal(fl.cross_entropy.grad([0, -100], z, ignore_index=-100)[1],
                                  [0.0, 0.0])
    # label smoothing 0.2, K = 2: target (0.9, 0.1)
    assert fl.cross_entropy([0], [[1.0, 0.0]], label_smoothing=0.2) == pytest.approx(
        0.9 * l0 + 0.1 * l1, rel=1e-15)
    # all together: smoothing weighted by every class weight, mean over sum(w_y), ignored row
    s, c = 0.2, [2.0, 1.0]
    row0 = (1 - s) * c[0] * l0 + s / 2 * (c[0] * l0 + c[1] * l1)
    row1 = (1 - s) * c[1] * l1 + s / 2 * (c[0] * l0 + c[1] * l1)
    assert fl.cross_entropy([0, 1, 7], z + [[3.0, 3.0]], class_weight=c, label_smoothing=s,
                            ignore_index=7) == pytest.approx((row0 + row1) / 3, rel=1e-14)
    # probability targets: mean over rows, class weights inside the row sum
    assert fl.cross_entropy([[0.5, 0.5]], [[1.0, 0.0]], class_weight=c) == pytest.approx(
        0.5 * c[0] * l0 + 0.5 * c[1] * l1, rel=1e-15)


def test_pytorch_conventions_other_losses():
    # multi_margin_loss([[0.1, 0.2, 0.4, 0.8]], [3]) = 0.325 (the PyTorch docs' example);
    # fastloss sums over the wrong classes instead of averaging over K = 4: 1.3
    assert fl.multiclass_hinge([3], [[0.1, 0.2, 0.4, 0.8]]) == pytest.approx(1.3, rel=1e-15)
    # kl_div(log q, p, reduction="batchmean"): rows summed, mean over rows
    p = [[0.5, 0.5], [1.0, 0.0]]
    q = [[0.25, 0.75], [0.5, 0.5]]
    want = (0.5 * math.log(2) + 0.5 * math.log(2 / 3) + math.log(2)) / 2
    assert fl.kl_divergence(p, np.log(q), log_input=True) == pytest.approx(want, rel=1e-15)
    assert fl.kl_divergence(p, q) == pytest.approx(want, rel=1e-15)
    # focal with alpha per class: -alpha_y (1 - p)^gamma log p
    assert fl.softmax_focal([1], [[0.0, 0.0]], gamma=2.0, alpha=[0.25, 0.75]) == pytest.approx(
        0.75 * 0.25 * math.log(2), rel=1e-15)


# ----------------------------------------------------------------------------- conventions

def test_registry_and_reductions():
    for name in NAMES:
        loss = fl.get(name)
        assert loss.family == "multiclass" and name in fl.available() and name in fl.__all__
        assert isinstance(loss, fl.MulticlassLoss)
        assert loss.__doc__ and "Examples" in loss.__doc__
    empty = np.empty((0, 3))
    assert math.isnan(fl.cross_entropy(np.empty(0, dtype=int), empty))
    assert fl.cross_entropy(np.empty(0, dtype=int), empty, reduction="sum") == 0.0
    assert fl.cross_entropy.grad(np.empty(0, dtype=int), empty).shape == (0, 3)
    assert math.isnan(fl.cross_entropy([0, 1], [[0.0, 1.0]] * 2, sample_weight=[0.0, 0.0]))
    # every row ignored: zero total weight
    assert math.isnan(fl.cross_entropy([-1, -1], [[0.0, 1.0]] * 2, ignore_index=-1))


@pytest.mark.parametrize("label_dtype", [np.int8, np.uint8, np.int16, np.int32, np.uint64,
                                         np.int64])
def test_any_integer_label_dtype(label_dtype):
    z = [[1.2, 0.5, 3.1, 0.8], [0.0, 1.0, 2.0, 3.0]]
    want = fl.cross_entropy(np.array([2, 3]), z)
    assert fl.cross_entropy(np.array([2, 3], dtype=label_dtype), z) == want


def test_layouts_read_only_and_float32():
    rng = np.random.default_rng(2)
    labels, logits = fl.cross_entropy.make_inputs(2000, np.float32, rng)
    want = fl.cross_entropy.grad(labels, logits)
    fortran = np.asfortranarray(logits)
    np.testing.assert_array_equal(fl.cross_entropy.grad(labels, fortran), want)
    strided = np.repeat(logits, 2, axis=1)[:, ::2]
    np.testing.assert_array_equal(fl.cross_entropy.grad(labels, strided), want)
    ro = logits.copy()
    ro.setflags(write=False)
    assert fl.cross_entropy(labels, ro) == fl.cross_entropy(labels, logits)
    with pytest.raises(ValueError, match="C-contiguous"):
        fl.cross_entropy.grad(labels, logits, out=np.empty(logits.shape, np.float32, order="F"))
    with pytest.raises(ValueError, match="dtype"):
        fl.cross_entropy.grad(labels, logits, out=np.empty(logits.shape))


def test_make_inputs():
    rng = np.random.default_rng(0)
    for name in NAMES:
        target, pred = fl.get(name).make_inputs(1000, np.float32, rng)
        assert pred.shape == (100, 10) and pred.dtype == np.float32
        assert np.isfinite(fl.get(name)(target, pred))


# ----------------------------------------------------------------------------- bad input

def test_bad_labels_name_the_label_and_row():
    z = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"label 3 at row 2.*\[0, 3\)"):
        fl.cross_entropy([0, 1, 3, 5], z)
    with pytest.raises(ValueError, match="label -1 at row 1"):
        fl.cross_entropy([0, -1, 2, 2], z)
    with pytest.raises(ValueError, match="label -1 at row 1"):
        fl.cross_entropy([0, -1, 2, -100], z, ignore_index=-100)
    fl.cross_entropy([0, -100, 2, -100], z, ignore_index=-100)   # fine
    with pytest.raises(ValueError, match="label 3 at row 0"):
        fl.multiclass_hinge([3, 0, 0, 0], z)
    with pytest.raises(ValueError, match="label 9223372036854775808 at row 1"):
        fl.softmax_focal(np.array([0, 2**63, 0, 0], dtype=np.uint64), z)
    with pytest.raises(ValueError, match="label 4 at row 3"):
        fl.categorical_cross_entropy([0, 0, 0, 4], z + 0.1)


def test_label_scan_matches_numpy_and_finds_the_first_bad_label():
    # One parallel pass over native 32/64-bit labels (any block, any thread count); other
    # dtypes take NumPy's reductions; either way the first bad label is named.
    from fastloss._kernels import _parallel
    from fastloss._validation import _parallel as best
    rng = np.random.default_rng(11)
    n = 4096 * 3 + 7                      # several blocks and a tail
    for dtype in (np.int32, np.int64, np.longlong, np.intc):
        for k in (1, 3, 1000):
            for bad in (None, -1, k, k + 5, np.iinfo(dtype).min, np.iinfo(dtype).max):
                for where in (0, 4095, 4096, n - 1):
                    labels = rng.integers(0, k, n).astype(dtype)
                    if bad is not None:
                        labels[where] = bad
                    want = bool((labels < 0).any() or (labels >= k).any())
                    for module in (_parallel, best):
                        for threads in (1, 2):
                            assert module.labels_outside(labels, k, threads) == want, \
                                (dtype, k, bad, where)
                    if bad is not None and bad != k + 5:
                        if where < n - 1:
                            labels[n - 1] = k + 5     # a later bad label: the first is named
                        z = np.zeros((n, k), np.float32)
                        for threads in (1, 2):
                            with fl.threads(threads), pytest.raises(
                                    ValueError, match=rf"label {bad} at row {where}\b"):
                                fl.cross_entropy(labels, z)
    assert not _parallel.labels_outside(np.zeros(0, np.int64), 3, 1)
    assert _parallel.labels_outside(np.zeros(2, np.int64), 0, 1)
    big_endian = np.array([0, 1, 7, 2], dtype=">i8")
    with pytest.raises(ValueError, match="label 7 at row 2"):
        fl.cross_entropy(big_endian, np.zeros((4, 3)))


@pytest.mark.parametrize("call, error, match", [
    (lambda: fl.cross_entropy([0.0, 1.0], np.zeros((2, 3))), TypeError, "integer class labels"),
    (lambda: fl.cross_entropy([0, 1, 1], np.zeros((2, 3))), ValueError, "one label per row"),
    (lambda: fl.cross_entropy([0, 1], np.zeros(2)), ValueError, "2-D"),
    (lambda: fl.cross_entropy(np.zeros((2, 4)), np.zeros((2, 3))), ValueError, "same shape"),
    (lambda: fl.cross_entropy([[1.5, 0.0]], [[0.0, 0.0]]), ValueError, r"y_true.*\[0, 1\]"),
    (lambda: fl.cross_entropy([[-0.1, 0.0]], [[0.0, 0.0]]), ValueError, r"y_true.*\[0, 1\]"),
    (lambda: fl.cross_entropy([0], [[0.0, 0.0]], class_weight=[1.0]), ValueError,
     "class_weight.*length 2"),
    (lambda: fl.cross_entropy([0], [[0.0, 0.0]], class_weight=[1.0, -1.0]), ValueError,
     "class_weight must be non-negative"),
    (lambda: fl.cross_entropy([0], [[0.0, 0.0]], class_weight=[[1.0, 1.0]]), ValueError,
     "class_weight must be 1-D"),
    (lambda: fl.cross_entropy([0], [[0.0, 0.0]], class_weight=[1.0, np.nan]), ValueError,
     "class_weight must be finite"),
    (lambda: fl.cross_entropy([0], [[0.0, 0.0]], label_smoothing=1.0), ValueError,
     "label_smoothing"),
    (lambda: fl.cross_entropy([0], [[0.0, 0.0]], label_smoothing=-0.1), ValueError,
     "label_smoothing"),
    (lambda: fl.cross_entropy([0], [[0.0, 0.0]], ignore_index=1.5), TypeError, "ignore_index"),
    (lambda: fl.cross_entropy([[0.5, 0.5]], [[0.0, 0.0]], ignore_index=0), ValueError,
     "ignore_index applies to integer labels"),
    (lambda: fl.cross_entropy([0], [[0.0, 0.0]], sample_weight=[1.0, 1.0]), ValueError,
     "sample_weight.*one weight per row"),
    (lambda: fl.cross_entropy([0], [[0.0, 0.0]], sample_weight=[-1.0]), ValueError,
     "sample_weight must be non-negative"),
    (lambda: fl.cross_entropy([0], [[0.0, 0.0]], weight=[1.0, 1.0]), TypeError,
     "unexpected parameter"),
    (lambda: fl.cross_entropy([0], np.zeros((1, 0))), ValueError, "at least one class"),
    (lambda: fl.cross_entropy(["a"], [[0.0]]), TypeError, "y_true"),
    (lambda: fl.softmax_focal([0], [[0.0, 0.0]], gamma=-1.0), ValueError, "gamma"),
    (lambda: fl.softmax_focal([0], [[0.0, 0.0]], alpha=[1.0, 1.0, 1.0]), ValueError,
     "alpha.*length 2"),
    (lambda: fl.softmax_focal([0], [[0.0, 0.0]], alpha=-0.5), ValueError, "alpha"),
    (lambda: fl.softmax_focal([[1.0, 0.0]], [[0.0, 0.0]]), ValueError, "integer class labels"),
    (lambda: fl.multiclass_hinge([0], [[0.0, 0.0]], margin=math.inf), ValueError, "margin"),
    (lambda: fl.categorical_cross_entropy([0], [[1.2, -0.2]]), ValueError, r"y_pred.*\[0, 1\]"),
    (lambda: fl.categorical_cross_entropy([0], [[0.5, 0.5]], eps=0.5), ValueError, "eps"),
    (lambda: fl.kl_divergence([[0.5, 0.5]], [[1.5, 0.5]]), ValueError, r"y_pred.*\[0, 1\]"),
    (lambda: fl.kl_divergence([0, 1], [[0.5, 0.5]] * 2), ValueError, "shape"),
    (lambda: fl.kl_divergence([[0.5, 0.5]], [[0.5, 0.5]], log_input=1), TypeError, "log_input"),
    (lambda: fl.cross_entropy([0], [[0.0, 0.0]], reduction="avg"), ValueError, "reduction"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def _probability_calls(name, y, q):
    """Every entry point of a loss of probabilities: those that may leave the range check to
    the kernel's pass (no out) and those given an out."""
    loss = fl.get(name)
    return {
        "value": lambda: loss(y, q),
        "none": lambda: loss(y, q, reduction="none"),
        "grad": lambda: loss.grad(y, q),
        "value_and_grad": lambda: loss.value_and_grad(y, q),
        "grad_hess": lambda: loss.grad_hess(y, q),
        "partial_sums": lambda: loss.partial_sums(y, q),
        "score": lambda: fl.score(name, y, q, chunk_size=70),
        "grad_out": lambda: loss.grad(y, q, out=np.empty_like(q)),
    }


def _with_bad_probability(x, row, col, value):
    """x with one value outside [0, 1] at [row, col]: the smallest ones ("tiny_negative",
    "just_above_one" in x's dtype) or the given one."""
    bad = x.copy()
    one = np.ones((), x.dtype)
    bad[row, col] = {"tiny_negative": -np.finfo(x.dtype).smallest_subnormal,
                     "just_above_one": np.nextafter(one, 2 * one)}.get(value, value)
    return bad


def _every_entry_point_raises(name, y, q, match):
    for threads in (1, 2):
        with fl.threads(threads):
            for op, call in _probability_calls(name, y, q).items():
                with pytest.raises(ValueError, match=match):
                    call()


@pytest.mark.parametrize("name", ["categorical_cross_entropy", "kl_divergence"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("where", ["first", "last", "middle"])
@pytest.mark.parametrize("value", ["tiny_negative", "just_above_one", -np.inf, np.inf])
def test_probability_check_fused_into_the_kernel(name, dtype, where, value):
    """A prediction outside [0, 1] raises Rowwise's error from every entry point, in any block
    and with any thread count, where the kernel's own pass checks it; NaN passes (propagates)."""
    rng = np.random.default_rng(3)
    n, k = 1500, 7        # several reduction blocks (585 rows each), above the serial threshold
    q = rng.random((n, k)).astype(dtype)
    q /= q.sum(axis=1, keepdims=True)
    y = rng.integers(0, k, n) if name == "categorical_cross_entropy" else q.astype(np.float64)
    row = {"first": 0, "last": n - 1, "middle": n // 2 + 1}[where]
    bad = _with_bad_probability(q, row, 3, value)
    _every_entry_point_raises(name, y, bad, r"y_pred must hold probabilities in \[0, 1\]")
    nan = q.copy()
    nan[row, 3] = np.nan
    assert np.isnan(fl.get(name)(y, nan))
    assert np.isfinite(fl.get(name)(y, q))


@pytest.mark.parametrize("name", ["cross_entropy", "categorical_cross_entropy", "kl_divergence"])
@pytest.mark.parametrize("tdtype", DTYPES)
@pytest.mark.parametrize("where", ["first", "last", "middle"])
@pytest.mark.parametrize("value", ["tiny_negative", "just_above_one", -np.inf, np.inf])
def test_target_check_fused_into_the_kernel(name, tdtype, where, value):
    """A probability target outside [0, 1] raises Rowwise's error from every entry point, in any
    block, with any thread count and either target dtype (float32 targets are widened a block
    at a time, in the pass that checks them); NaN passes; a bad target is reported before a bad
    prediction, as Rowwise's own checks order them."""
    rng = np.random.default_rng(4)
    n, k = 1500, 7
    q = rng.random((n, k))
    q /= q.sum(axis=1, keepdims=True)
    pred = np.log(q) if name == "cross_entropy" else q
    y = rng.random((n, k))
    y = (y / y.sum(axis=1, keepdims=True)).astype(tdtype)
    row = {"first": 0, "last": n - 1, "middle": n // 2 + 1}[where]
    bad = _with_bad_probability(y, row, 2, value)
    _every_entry_point_raises(name, bad, pred, r"y_true must hold probabilities in \[0, 1\]")
    if name != "cross_entropy":
        both = pred.copy()
        both[0, 0] = 2.0
        with pytest.raises(ValueError, match="y_true must hold"):
            fl.get(name)(bad, both)
    nan = y.copy()
    nan[row, 2] = np.nan
    assert np.isnan(fl.get(name)(nan, pred))
    assert np.isfinite(fl.get(name)(y, pred))


@pytest.mark.parametrize("name", ["cross_entropy", "categorical_cross_entropy", "kl_divergence"])
def test_float32_targets_are_float64_targets_widened(name):
    """float32 targets give the bits of the same targets as float64 (widening is exact), on
    every path that reads them, and are not copied whole into float64."""
    import tracemalloc
    rng = np.random.default_rng(5)
    n, k = 20000, 10
    q = rng.random((n, k))
    q /= q.sum(axis=1, keepdims=True)
    pred = np.log(q) if name == "cross_entropy" else q
    y32 = rng.random((n, k)).astype(np.float32)
    y32 /= y32.sum(axis=1, keepdims=True)
    y64 = y32.astype(np.float64)
    loss = fl.get(name)
    for kwargs in ({}, {"reduction": "sum"}, {"sample_weight": rng.random(n)}):
        assert loss(y32, pred, **kwargs) == loss(y64, pred, **kwargs)
        v32, g32 = loss.value_and_grad(y32, pred, **kwargs)
        v64, g64 = loss.value_and_grad(y64, pred, **kwargs)
        assert v32 == v64 and np.array_equal(g32, g64)
        kwargs.pop("reduction", None)
        for a, b in zip(loss.grad_hess(y32, pred, **kwargs), loss.grad_hess(y64, pred, **kwargs)):
            assert np.array_equal(a, b)
    loss(y32, pred)
    tracemalloc.start()
    loss(y32, pred)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < y64.nbytes / 4, peak   # (a float64 copy of the targets would be y64.nbytes)


# ----------------------------------------------------------------------------- threads

@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_bitwise_identical_for_any_thread_count(case):
    rng = np.random.default_rng(21)
    loss, target, pred, params = _make_case(case, 3001, 11, rng)   # 33011 elements, above the serial threshold
    assert pred.size >= fl._threads.SERIAL_THRESHOLD
    sw = rng.uniform(0.0, 2.0, size=3001)
    results = []
    for n in (1, 2, 3):
        with fl.threads(n):
            value, g = loss.value_and_grad(target, pred, sample_weight=sw, **params)
            gh = loss.grad_hess(target, pred, sample_weight=sw, **params)
            results.append((value, loss(target, pred, reduction="sum", **params), g, *gh))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_docstring_examples():
    import doctest
    for name in NAMES:
        test = doctest.DocTestParser().get_doctest(fl.get(name).__doc__, {}, name, None, 0)
        runner = doctest.DocTestRunner()
        runner.run(test)
        assert runner.summarize(verbose=False).failed == 0, name
        assert test.examples, name


def test_single_class():
    """K = 1: the only class is certain; no loss, zero gradient (no out-of-bounds reads)."""
    z = np.array([[0.3], [-2.0], [5.0]])
    for name in ("cross_entropy", "multiclass_hinge", "softmax_focal"):
        loss = fl.get(name)
        assert loss([0, 0, 0], z) == 0.0
        np.testing.assert_array_equal(loss.grad([0, 0, 0], z), 0.0)
        np.testing.assert_array_equal(loss.grad_hess([0, 0, 0], z)[1], 0.0)


# ----------------------------------------------------------------------------- block paths

@pytest.mark.parametrize("K", [1, 2, 3, 10, 27, 28, 40])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_block_paths_give_the_row_paths_bits(K, dtype):
    # Labels without weights, smoothing or ignore_index run a block at a time (column by column
    # below 28 classes, a phase at a time over rows above); an ignore_index no label uses sends
    # the same rows through the row-by-row code. Same math, so the same bits, ties, infinities
    # and NaN included; a row of -inf only is NaN throughout (no softmax), as in PyTorch.
    rng = np.random.default_rng(K)
    N = 3000
    z = rng.standard_normal((N, K)) * 4
    z[::7] = np.round(z[::7])                    # ties with the row max
    z[5, :] = np.inf
    z[6, 0] = np.inf
    z[8, :] = -np.inf
    z[9, -1] = -np.inf
    z[11, 0] = np.nan
    z[12, :] = np.nan
    z = z.astype(dtype)
    y = rng.integers(0, K, N)
    sw = rng.uniform(0.5, 2.0, N)
    for weights in (None, sw):
        for threads in (1, 2):
            with fl.threads(threads):
                block = fl.cross_entropy.value_and_grad(y, z, sample_weight=weights,
                                                        reduction="sum")
                rows = fl.cross_entropy.value_and_grad(y, z, sample_weight=weights,
                                                       reduction="sum", ignore_index=-100)
                np.testing.assert_array_equal(block[1], rows[1])
                per_block = fl.cross_entropy(y, z, sample_weight=weights, reduction="none")
                per_rows = fl.cross_entropy(y, z, sample_weight=weights, reduction="none",
                                            ignore_index=-100)
                np.testing.assert_array_equal(per_block, per_rows)
    assert np.isnan(per_block[[8, 11, 12]]).all()
    assert np.isfinite(np.delete(per_block, [5, 6, 8, 9, 11, 12])).all()
    assert np.isnan(block[1][[8, 11, 12]]).all()


def test_kl_divergence_hessian_at_a_tiny_prediction():
    # d2/dq2 = p / q^2 with q = 2.2e-308: q^2 underflows to 0, so p / q**2 is inf; the kernel and
    # the reference both divide twice, (p / q) / q = 9.98e291 (hypothesis found the
    # reference's inf, which then made a zero-weight row's Hessian 0 * inf = NaN).
    p = np.array([[5e-324, 1.0 - 5e-324], [0.25, 0.75]])
    q = np.array([[2.2250738585072014e-308, 0.5], [0.5, 0.5]])
    for w in (None, np.array([0.0, 2.0])):
        _, h = fl.kl_divergence.grad_hess(p, q, sample_weight=w)
        _, want = reference.grad_hess("kl_divergence", p, q, sample_weight=w)
        assert np.isfinite(h).all() and np.isfinite(want).all()
        np.testing.assert_allclose(h, want, rtol=1e-15)
    assert h[0, 0] == 0.0                                   # weight 0: 0, not 0 * inf
    unweighted = fl.kl_divergence.grad_hess(p, q)[1]
    assert unweighted[0, 0] == (5e-324 / q[0, 0]) / q[0, 0]


@pytest.mark.parametrize("K", [9, 28, 40, 1000, 1003])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_row_lanes_worked_examples(K, dtype):
    # Rows whose softmax is known exactly, for the lane loops of _lanes.h (row max, and the
    # sum of exponentials with the ties to the max counted apart), at every lane position and
    # in the remainder past the last full group of lanes; block and row-by-row paths.
    N = 6
    z = np.full((N, K), -np.inf)
    z[0] = 3.0                                    # all tied: p = 1/K
    z[1, [1, K - 1]] = 2.5                        # two tied maxima, the rest -inf: p = 1/2
    z[2, :] = -1e30                               # one max far above the rest: p = 1
    z[2, K // 2] = 7.0
    z[3, :] = np.arange(K) % 5 - 4.0              # max 0 at every fifth class, others below
    z[4, :] = 1.0                                 # all tied except a NaN: the row is NaN
    z[4, K - 2] = np.nan
    z[5, :] = 0.0                                 # all tied but one -inf: p = 1/(K - 1)
    z[5, 3] = -np.inf
    z = z.astype(dtype)
    y = np.array([0, K - 1, K // 2, 4, 0, 0])
    ties3 = np.count_nonzero(np.arange(K) % 5 == 4)
    rest3 = sum(math.exp(v) for v in (np.arange(K) % 5 - 4.0) if v < 0.0)
    expected = np.array([math.log(K), math.log(2.0), 0.0,
                         math.log(ties3 + rest3), np.nan, math.log(K - 1)])
    for ignore in ({}, {"ignore_index": -100}):      # the block path, then row by row
        got = fl.cross_entropy(y, z, reduction="none", **ignore)
        rtol = 4e-16 if dtype == np.float64 else 2.0 ** -24   # float32: the rounding of the output
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=0.0)
        assert np.isnan(got[4]) and got.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name, targets", [("categorical_cross_entropy", "labels"),
                                           ("categorical_cross_entropy", "probabilities"),
                                           ("kl_divergence", "probabilities")])
def test_block_paths_nan_only_in_its_row(name, targets, dtype):
    """The vectorized block paths (_block_cce, _block_kl) keep each row apart: a NaN anywhere
    in a row, label class or not, makes that row NaN and no other, at block edges too (K = 10:
    409 rows per block), and every other row matches the NumPy reference."""
    rng = np.random.default_rng(3)
    n, k = 2000, 10
    q = rng.dirichlet(np.ones(k), size=n).astype(dtype)
    y = rng.integers(0, k, n) if targets == "labels" else rng.dirichlet(np.ones(k), size=n)
    nan_rows = [0, 408, 409, 817, 1999]
    for r in nan_rows:
        cls = (int(y[r]) + 3) % k if targets == "labels" else r % k   # not the label's class
        q[r, cls] = np.nan
    loss = fl.get(name)
    per_row = loss(y, q, reduction="none")
    assert np.flatnonzero(np.isnan(per_row)).tolist() == nan_rows
    keep = np.setdiff1d(np.arange(n), nan_rows)
    want = reference.value(name, y[keep], q[keep], None, "none")
    np.testing.assert_allclose(per_row[keep], want, rtol=1e-6 if dtype == np.float32 else 1e-13)
    g = loss.grad(y, q, reduction="sum")
    assert np.array_equal(np.isnan(g), np.isnan(q))
    assert math.isnan(loss(y, q)) and math.isnan(loss(y, q, reduction="sum"))


@pytest.mark.parametrize("K", [3, 9, 39, 999])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["cross_entropy", "softmax_focal"])
def test_rows_far_below_their_max_take_the_full_exp_with_the_same_bits(name, K, dtype):
    # A row whose logits all lie within 708 of its max takes the "normal" exp of _vmath.h (no
    # clamp, one scaling; a narrow block takes it if all its rows do). A class 10^4 below the
    # max sends the row (or its block) to the full exp; that class's exponential is 0, so every
    # other result keeps its bits: the two exps agree wherever both apply.
    rng = np.random.default_rng(K)
    n = 600
    z = (rng.standard_normal((n, K)) * 4).astype(dtype)
    y = rng.integers(0, K, n)
    far = np.hstack([z, np.full((n, 1), -1e4, dtype)])
    loss = fl.get(name)
    for threads in (1, 2):
        with fl.threads(threads):
            np.testing.assert_array_equal(loss(y, far, reduction="none"),
                                          loss(y, z, reduction="none"))
            g_far, h_far = loss.grad_hess(y, far)
            g, h = loss.grad_hess(y, z)
            np.testing.assert_array_equal(g_far[:, :K], g)
            np.testing.assert_array_equal(h_far[:, :K], h)
            assert not g_far[:, K].any()
