"""triplet_margin, contrastive, the penalties and Objective: reference, finite differences,
worked examples, bad inputs, determinism across thread counts."""

import math

import numpy as np
import pytest

import fastloss as fl
from fastloss import reference

DTYPES = [np.float64, np.float32]
TRIPLET_PARAMS = [
    {},
    {"p": 1.0},
    {"p": 3.0, "margin": 0.5},
    {"swap": True},
    {"swap": True, "p": 1.5, "eps": 0.0},
    {"distance": "cosine"},
    {"distance": "cosine", "swap": True, "margin": 0.2},
]
PARAM_IDS = ["default", "p1", "p3", "swap", "swap-p1.5-eps0", "cosine", "cosine-swap"]


def embeddings(rng, n, d, count, dtype=np.float64):
    return [rng.standard_normal((n, d)).astype(dtype) for _ in range(count)]


def tol(dtype):
    return dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-13)


def central_difference(f, arrays, index, h=1e-6):
    """d f / d arrays[index], element by element (float64)."""
    x = arrays[index]
    out = np.empty_like(x)
    for pos in np.ndindex(x.shape):
        old = x[pos]
        x[pos] = old + h
        up = f(*arrays)
        x[pos] = old - h
        down = f(*arrays)
        x[pos] = old
        out[pos] = (up - down) / (2 * h)
    return out


# ----------------------------------------------------------------------------- triplet_margin

@pytest.mark.parametrize("dtype", DTYPES, ids=["f8", "f4"])
@pytest.mark.parametrize("params", TRIPLET_PARAMS, ids=PARAM_IDS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_triplet_matches_reference(dtype, params, weighted, reduction):
    rng = np.random.default_rng(1)
    a, p, n = embeddings(rng, 37, 13, 3, dtype)
    w = rng.uniform(0, 2, 37) if weighted else None
    value, grads = fl.triplet_margin.value_and_grad(a, p, n, sample_weight=w,
                                                    reduction=reduction, **params)
    want = reference.value("triplet_margin", a, p, n, sample_weight=w, reduction=reduction,
                           **params)
    want_grads = reference.grad("triplet_margin", a, p, n, sample_weight=w,
                                reduction="sum" if reduction == "none" else reduction, **params)
    np.testing.assert_allclose(value, want, **tol(dtype))
    np.testing.assert_allclose(fl.triplet_margin(a, p, n, sample_weight=w, reduction=reduction,
                                                 **params), want, **tol(dtype))
    assert len(grads) == 3
    for got, expected, plain in zip(grads, want_grads,
                                    fl.triplet_margin.grad(a, p, n, sample_weight=w,
                                                           reduction=reduction, **params)):
        assert got.dtype == dtype and got.shape == a.shape
        np.testing.assert_allclose(got, expected, **tol(dtype))
        np.testing.assert_array_equal(got, plain)   # grad and value_and_grad agree bitwise
    if reduction == "none":
        assert value.dtype == dtype and value.shape == (37,)


@pytest.mark.parametrize("params", TRIPLET_PARAMS, ids=PARAM_IDS)
def test_triplet_gradients_match_finite_differences(params):
    rng = np.random.default_rng(2)
    arrays = embeddings(rng, 5, 4, 3)
    w = rng.uniform(0.5, 2, 5)
    f = lambda a, p, n: fl.triplet_margin(a, p, n, sample_weight=w, **params)
    grads = fl.triplet_margin.grad(*arrays, sample_weight=w, **params)
    assert any(np.abs(g).max() > 0 for g in grads)      # some triplets are active
    for k, name in enumerate(["anchor", "positive", "negative"]):
        np.testing.assert_allclose(grads[k], central_difference(f, arrays, k), rtol=1e-6,
                                   atol=1e-8, err_msg=name)


def test_triplet_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    a, p, n = embeddings(rng, 40, 6, 3)
    for kwargs in ({"p": 2.0, "swap": False}, {"p": 1.0, "swap": True}, {"p": 3.0, "swap": True}):
        tensors = [torch.tensor(x, requires_grad=True) for x in (a, p, n)]
        loss = torch.nn.functional.triplet_margin_loss(*tensors, margin=0.7, eps=1e-6, **kwargs)
        loss.backward()
        value, grads = fl.triplet_margin.value_and_grad(a, p, n, margin=0.7, **kwargs)
        assert math.isclose(value, loss.item(), rel_tol=1e-12)
        for g, t in zip(grads, tensors):
            np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-10, atol=1e-14)
    tensors = [torch.tensor(x, requires_grad=True) for x in (a, p, n)]
    cosine = lambda x, y: 1 - torch.nn.functional.cosine_similarity(x, y, eps=1e-6)
    loss = torch.nn.functional.triplet_margin_with_distance_loss(
        *tensors, distance_function=cosine, margin=0.3, swap=True)
    loss.backward()
    value, grads = fl.triplet_margin.value_and_grad(a, p, n, margin=0.3, swap=True,
                                                    distance="cosine")
    assert math.isclose(value, loss.item(), rel_tol=1e-12)
    for g, t in zip(grads, tensors):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_triplet_worked_examples():
    a, p, n = [[0.0, 0.0]], [[3.0, 4.0]], [[1.0, 0.0]]
    # d(a, p) = 5, d(a, n) = 1: max(0, 5 - 1 + 1) = 5
    assert fl.triplet_margin(a, p, n, eps=0.0) == 5.0
    value, (ga, gp, gn) = fl.triplet_margin.value_and_grad(a, p, n, eps=0.0)
    assert value == 5.0
    # dd(a,p)/da = (a - p)/5 = (-0.6, -0.8); dd(a,n)/da = (a - n)/1 = (-1, 0)
    np.testing.assert_allclose(ga, [[0.4, -0.8]], rtol=1e-15)
    np.testing.assert_allclose(gp, [[0.6, 0.8]], rtol=1e-15)
    np.testing.assert_allclose(gn, [[-1.0, 0.0]], rtol=1e-15)
    # swap: d(p, n) = |(2, 4)| = sqrt(20) > 1, no swap; with n close to p it swaps
    assert fl.triplet_margin(a, p, n, eps=0.0, swap=True) == 5.0
    assert math.isclose(fl.triplet_margin(a, p, [[3.0, 3.0]], eps=0.0, swap=True),
                        5.0 - 1.0 + 1.0)
    # an easy triplet costs nothing and has no gradient
    value, grads = fl.triplet_margin.value_and_grad([[0.0]], [[0.1]], [[5.0]])
    assert value == 0.0 and all(np.all(g == 0) for g in grads)
    # D = 1 and p = 1: |0 - 2| - |0 - 0.5| + 1 = 2.5
    assert fl.triplet_margin([[0.0]], [[2.0]], [[0.5]], p=1.0, eps=0.0) == 2.5
    # cosine: orthogonal positive (d = 1), identical negative (d = 0): 1 - 0 + 1 = 2
    assert math.isclose(fl.triplet_margin([[1.0, 0.0]], [[0.0, 2.0]], [[3.0, 0.0]],
                                          distance="cosine"), 2.0, rel_tol=1e-15)


def test_triplet_zero_distance_gradient_is_zero_not_nan():
    a = np.array([[1.0, 2.0, 3.0]])
    n = np.array([[1.0, 2.0, 3.5]])
    for params in ({"eps": 0.0}, {"eps": 0.0, "p": 3.0}, {"eps": 0.0, "p": 1.0}):
        value, (ga, gp, gn) = fl.triplet_margin.value_and_grad(a, a.copy(), n, **params)
        assert value == 0.5                              # 0 - 0.5 + 1
        np.testing.assert_array_equal(gp, 0.0)          # d(a, p) = 0: its gradient is 0
        assert np.all(np.isfinite(ga)) and np.all(np.isfinite(gn))
    # all three identical, including cosine of zero vectors (eps bounds the norms)
    z = np.zeros((2, 3))
    for params in ({"eps": 0.0}, {"distance": "cosine"}):
        value, grads = fl.triplet_margin.value_and_grad(z, z, z, **params)
        assert value == 1.0 and all(np.all(np.isfinite(g)) for g in grads)


def test_triplet_nan_propagates_to_its_row():
    rng = np.random.default_rng(4)
    a, p, n = embeddings(rng, 4, 3, 3)
    a[1, 2] = np.nan
    per_row = fl.triplet_margin(a, p, n, reduction="none")
    assert np.isnan(per_row[1]) and not np.isnan(per_row[[0, 2, 3]]).any()
    assert math.isnan(fl.triplet_margin(a, p, n))
    ga, gp, gn = fl.triplet_margin.grad(a, p, n, reduction="sum")
    assert np.isnan(ga[1]).all() and not np.isnan(ga[[0, 2, 3]]).any()


def test_triplet_float32_inputs_give_float32_outputs_and_mixed_give_float64():
    rng = np.random.default_rng(5)
    a, p, n = embeddings(rng, 10, 4, 3, np.float32)
    assert all(g.dtype == np.float32 for g in fl.triplet_margin.grad(a, p, n))
    assert fl.triplet_margin(a, p, n, reduction="none").dtype == np.float32
    grads = fl.triplet_margin.grad(a, p.astype(np.float64), n)
    assert all(g.dtype == np.float64 for g in grads)
    assert isinstance(fl.triplet_margin(a, p, n), float)


def test_triplet_out_is_honoured():
    rng = np.random.default_rng(6)
    a, p, n = embeddings(rng, 9, 5, 3)
    out = tuple(np.empty_like(a) for _ in range(3))
    value, grads = fl.triplet_margin.value_and_grad(a, p, n, out=out)
    assert all(np.shares_memory(g, o) for g, o in zip(grads, out))
    for g, want in zip(out, fl.triplet_margin.grad(a, p, n)):
        np.testing.assert_array_equal(g, want)
    grads = fl.triplet_margin.grad(a, p, n, out=out)
    assert all(g is o for g, o in zip(grads, out))


def test_triplet_empty_input():
    z = np.zeros((0, 3))
    assert math.isnan(fl.triplet_margin(z, z, z))
    assert fl.triplet_margin(z, z, z, reduction="sum") == 0.0
    value, grads = fl.triplet_margin.value_and_grad(z, z, z)
    assert math.isnan(value) and all(g.shape == (0, 3) for g in grads)
    assert fl.triplet_margin.partial_sums(z, z, z) == (0.0, 0.0, 0)


def test_partial_sums_add_up():
    rng = np.random.default_rng(7)
    a, p, n = embeddings(rng, 100, 4, 3)
    w = rng.uniform(0, 1, 100)
    s, wt, count = fl.triplet_margin.partial_sums(a, p, n, sample_weight=w)
    assert count == 100 and math.isclose(wt, w.sum())
    assert math.isclose(s / wt, fl.triplet_margin(a, p, n, sample_weight=w), rel_tol=1e-14)


# ----------------------------------------------------------------------------- contrastive

@pytest.mark.parametrize("dtype", DTYPES, ids=["f8", "f4"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_contrastive_matches_reference(dtype, weighted, reduction):
    rng = np.random.default_rng(8)
    x1, x2 = embeddings(rng, 41, 9, 2, dtype)
    x2 = x1 + 0.3 * x2                        # distances around the margin
    same = rng.integers(0, 2, 41)
    w = rng.uniform(0, 2, 41) if weighted else None
    value, grads = fl.contrastive.value_and_grad(x1, x2, same, sample_weight=w,
                                                 reduction=reduction, margin=1.5)
    want = reference.value("contrastive", x1, x2, same, sample_weight=w, reduction=reduction,
                           margin=1.5)
    np.testing.assert_allclose(value, want, **tol(dtype))
    want_grads = reference.grad("contrastive", x1, x2, same, sample_weight=w,
                                reduction="sum" if reduction == "none" else reduction, margin=1.5)
    assert len(grads) == 2
    for got, expected in zip(grads, want_grads):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, expected, **tol(dtype))


def test_contrastive_gradients_match_finite_differences():
    rng = np.random.default_rng(9)
    x1, x2 = embeddings(rng, 6, 3, 2)
    x2 = x1 + 0.4 * x2
    same = np.array([1, 0, 0, 1, 0, 0.25])
    f = lambda a, b: fl.contrastive(a, b, same, margin=1.0)
    grads = fl.contrastive.grad(x1, x2, same, margin=1.0)
    for k in range(2):
        np.testing.assert_allclose(grads[k], central_difference(f, [x1, x2], k), rtol=1e-6,
                                   atol=1e-9)


def test_contrastive_worked_example_and_zero_distance():
    x1 = [[0.0, 0.0], [0.0, 0.0]]
    x2 = [[3.0, 4.0], [0.3, 0.4]]
    # similar pair at d = 5: 25 / 2; dissimilar at d = 0.5 < margin 1: 0.5^2 / 2
    assert fl.contrastive(x1, x2, [1, 0]) == (12.5 + 0.125) / 2
    assert fl.contrastive(x1, x2, [True, False], reduction="sum") == 12.625
    assert fl.contrastive(x1, x2, [0, 1], margin=2.0, reduction="none").tolist() == [0.0, 0.125]
    g1, g2 = fl.contrastive.grad(x1, x2, [1, 0], reduction="sum")
    np.testing.assert_allclose(g1, [[-3.0, -4.0], [0.3, 0.4]], rtol=1e-15)
    np.testing.assert_array_equal(g2, -g1)
    # d = 0 on a dissimilar pair: loss margin^2 / 2, gradient 0 (not NaN)
    value, (g1, g2) = fl.contrastive.value_and_grad([[1.0, 1.0]], [[1.0, 1.0]], [0], margin=2.0)
    assert value == 2.0
    np.testing.assert_array_equal(g1, 0.0)
    np.testing.assert_array_equal(g2, 0.0)


# ----------------------------------------------------------------------------- bad inputs

def test_bad_inputs_raise_naming_the_argument():
    rng = np.random.default_rng(10)
    a, p, n = embeddings(rng, 4, 3, 3)
    with pytest.raises(ValueError, match=r"anchor and negative.*\(4, 3\).*\(4, 2\)"):
        fl.triplet_margin(a, p, n[:, :2])
    with pytest.raises(ValueError, match=r"anchor and positive.*\(3, 3\)"):
        fl.triplet_margin.grad(a, p[:3], n)
    with pytest.raises(ValueError, match="2-D"):
        fl.triplet_margin(a[0], p[0], n[0])
    with pytest.raises(ValueError, match="margin must be >= 0"):
        fl.triplet_margin(a, p, n, margin=-0.1)
    with pytest.raises(ValueError, match="margin must be >= 0"):
        fl.contrastive(a, p, [0, 1, 0, 1], margin=-1)
    with pytest.raises(ValueError, match="p must be >= 1"):
        fl.triplet_margin(a, p, n, p=0.5)
    with pytest.raises(ValueError, match="eps must be >= 0"):
        fl.triplet_margin(a, p, n, eps=-1e-6)
    with pytest.raises(ValueError, match="eps must be > 0 with distance='cosine'"):
        fl.triplet_margin(a, p, n, eps=0.0, distance="cosine")
    with pytest.raises(ValueError, match="distance must be one of"):
        fl.triplet_margin(a, p, n, distance="euclid")
    with pytest.raises(TypeError, match="swap must be True or False"):
        fl.triplet_margin(a, p, n, swap="yes")
    with pytest.raises(TypeError, match="unexpected parameter"):
        fl.triplet_margin(a, p, n, delta=1.0)
    with pytest.raises(TypeError, match="takes 3 inputs"):
        fl.triplet_margin(a, p)
    with pytest.raises(TypeError, match="cannot handle this type"):
        fl.triplet_margin(a, p, np.array([["x"] * 3] * 4))
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(4,\)"):
        fl.triplet_margin(a, p, n, sample_weight=np.ones(5))
    with pytest.raises(ValueError, match="sample_weight must be non-negative"):
        fl.triplet_margin(a, p, n, sample_weight=[1, -1, 1, 1])
    with pytest.raises(ValueError, match="reduction must be one of"):
        fl.triplet_margin(a, p, n, reduction="avg")
    with pytest.raises(ValueError, match=r"same must hold pair labels in \[0, 1\]"):
        fl.contrastive(a, p, [0, 1, 2, 1])
    with pytest.raises(ValueError, match=r"same must have shape \(4,\)"):
        fl.contrastive(a, p, [0, 1, 1])
    with pytest.raises(TypeError, match="out must be a tuple of 3"):
        fl.triplet_margin.grad(a, p, n, out=np.empty_like(a))
    with pytest.raises(ValueError, match=r"out\[1\] must have dtype"):
        fl.triplet_margin.grad(a, p, n, out=(np.empty_like(a), np.empty(a.shape, np.float32),
                                             np.empty_like(a)))
    with pytest.raises(ValueError, match=r"out\[2\] must not overlap"):
        fl.triplet_margin.grad(a, p, n, out=(np.empty_like(a), np.empty_like(a), a))
    with pytest.raises(TypeError, match="no per-element Hessian"):
        fl.triplet_margin.grad_hess(a, p, n)


def test_penalty_and_objective_bad_inputs():
    with pytest.raises(ValueError, match=r"l1_ratio must be <= 1"):
        fl.elastic_net([1.0], l1_ratio=1.5)
    with pytest.raises(ValueError, match=r"l1_ratio must be >= 0"):
        fl.elastic_net.grad([1.0], l1_ratio=-0.1)
    with pytest.raises(TypeError, match="l1_ratio must be a real number"):
        fl.elastic_net([1.0], l1_ratio="half")
    with pytest.raises(TypeError, match="unexpected parameter"):
        fl.l1_penalty([1.0], l1_ratio=0.5)
    with pytest.raises(TypeError, match="w: cannot handle this type"):
        fl.l2_penalty(["a"])
    with pytest.raises(ValueError, match="out must have shape"):
        fl.l2_penalty.grad(np.ones(3), out=np.empty(4))
    with pytest.raises(ValueError, match="l1 must be >= 0"):
        fl.Objective("mse", l1=-1.0)
    with pytest.raises(ValueError, match="delta must be > 0"):
        fl.Objective("huber", delta=0.0)
    with pytest.raises(ValueError, match="unknown loss"):
        fl.Objective("nope")
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum'"):
        fl.Objective("mse").value([1.0], [1.0], [1.0], reduction="none")
    with pytest.raises(ValueError, match="unknown penalty"):
        fl.penalties.get("l3_penalty")


# ----------------------------------------------------------------------------- determinism

@pytest.mark.parametrize("dtype", DTYPES, ids=["f8", "f4"])
def test_bitwise_identical_for_any_thread_count(dtype):
    rng = np.random.default_rng(11)
    a, p, n = embeddings(rng, 3001, 16, 3, dtype)     # 48016 elements: above the serial threshold
    same = rng.integers(0, 2, 3001)
    w = rng.uniform(0, 1, 3001)
    big = rng.standard_normal(70001).astype(dtype)
    results = []
    for threads in (1, 2, 3):
        with fl.threads(threads):
            results.append((
                fl.triplet_margin.value_and_grad(a, p, n, sample_weight=w),
                fl.triplet_margin.value_and_grad(a, p, n, swap=True, distance="cosine"),
                fl.contrastive.value_and_grad(a, p, same, sample_weight=w),
                fl.elastic_net.value_and_grad(big, l1_ratio=0.3),
                fl.l1_penalty(big),
            ))
    for other in results[1:]:
        for (v1, g1), (v2, g2) in zip(results[0][:4], other[:4]):
            assert v1 == v2
            for x, y in zip(g1 if isinstance(g1, tuple) else (g1,),
                            g2 if isinstance(g2, tuple) else (g2,)):
                np.testing.assert_array_equal(x, y)
        assert results[0][4] == other[4]


# ----------------------------------------------------------------------------- penalties

@pytest.mark.parametrize("dtype", DTYPES, ids=["f8", "f4"])
@pytest.mark.parametrize("name,params", [("l1_penalty", {}), ("l2_penalty", {}),
                                         ("elastic_net", {}), ("elastic_net", {"l1_ratio": 0.2}),
                                         ("elastic_net", {"l1_ratio": 0.0}),
                                         ("elastic_net", {"l1_ratio": 1.0})])
@pytest.mark.parametrize("shape", [(0,), (1,), (7,), (4097,), (3, 5), (2, 3, 4)])
def test_penalties_match_reference(dtype, name, params, shape):
    penalty = fl.penalties.get(name)
    w = np.random.default_rng(12).standard_normal(shape).astype(dtype)
    w.flat[:3] = 0.0                                       # subgradient 0 at w == 0
    value, g = penalty.value_and_grad(w, **params)
    want = reference.value(name, w, **params)
    np.testing.assert_allclose(value, want, **tol(dtype))
    np.testing.assert_allclose(penalty(w, **params), want, **tol(dtype))
    assert isinstance(value, float)
    assert g.shape == w.shape and g.dtype == dtype
    np.testing.assert_allclose(g, reference.grad(name, w, **params), **tol(dtype))
    np.testing.assert_array_equal(g, penalty.grad(w, **params))


def test_penalty_gradients_match_finite_differences():
    w = np.random.default_rng(13).standard_normal(9)
    for name, params in [("l1_penalty", {}), ("l2_penalty", {}), ("elastic_net", {"l1_ratio": 0.3})]:
        penalty = fl.penalties.get(name)
        fd = central_difference(lambda x: penalty(x, **params), [w], 0)
        np.testing.assert_allclose(penalty.grad(w, **params), fd, rtol=1e-7, atol=1e-9)


def test_penalty_conventions_worked_examples():
    assert fl.l1_penalty([[1.0, -2.0], [0.0, 3.0]]) == 6.0
    assert fl.l2_penalty([3.0, 4.0]) == 12.5                   # half of 9 + 16
    np.testing.assert_array_equal(fl.l2_penalty.grad([3.0, -4.0]), [3.0, -4.0])
    np.testing.assert_array_equal(fl.l1_penalty.grad([2.0, 0.0, -0.5, -0.0]), [1, 0, -1, 0])
    assert fl.elastic_net([3.0, -4.0], l1_ratio=0.5) == 0.5 * 7 + 0.5 * 12.5
    w = np.array([1.5, -2.0, 0.0])
    assert fl.elastic_net(w, l1_ratio=1.0) == fl.l1_penalty(w)
    assert fl.elastic_net(w, l1_ratio=0.0) == fl.l2_penalty(w)
    assert fl.elastic_net(w) == 0.5 * fl.l1_penalty(w) + 0.5 * fl.l2_penalty(w)
    # no 0 * inf: the L1 penalty of an infinite weight is inf, NaN propagates
    assert fl.l1_penalty([np.inf, 1.0]) == np.inf
    np.testing.assert_array_equal(fl.l1_penalty.grad([np.inf, -np.inf]), [1.0, -1.0])
    assert math.isnan(fl.l2_penalty([np.nan, 1.0]))
    assert np.isnan(fl.elastic_net.grad([np.nan])[0])
    assert fl.l1_penalty([]) == 0.0


def test_penalty_layouts_and_out():
    w = np.random.default_rng(14).standard_normal((6, 5))
    for view in (w.T, w[::2], np.asfortranarray(w), np.array(w, dtype=np.int64)):
        np.testing.assert_allclose(fl.l2_penalty(view), 0.5 * np.sum(np.asarray(view, float) ** 2),
                                   rtol=1e-14)
        g = fl.l1_penalty.grad(view)
        assert g.shape == view.shape
        np.testing.assert_array_equal(g, np.sign(view))
    out = np.empty_like(w)
    value, g = fl.elastic_net.value_and_grad(w, out=out)
    assert g is out
    f_out = np.empty_like(w, order="F")
    np.testing.assert_array_equal(fl.elastic_net.grad(w, out=f_out), g)


def test_objective_value_and_grad():
    rng = np.random.default_rng(15)
    y, pred = rng.standard_normal(20), rng.standard_normal(20)
    w = rng.standard_normal((3, 2))
    obj = fl.Objective("huber", l1=0.1, l2=0.5, delta=0.7)
    value, g_pred, g_w = obj.value_and_grad(y, pred, w)
    want = (fl.huber(y, pred, delta=0.7) + 0.1 * np.abs(w).sum() + 0.5 * 0.5 * (w ** 2).sum())
    assert math.isclose(value, want, rel_tol=1e-14)
    assert math.isclose(obj.value(y, pred, w), want, rel_tol=1e-14)
    np.testing.assert_array_equal(g_pred, fl.huber.grad(y, pred, delta=0.7))
    np.testing.assert_allclose(g_w, 0.1 * np.sign(w) + 0.5 * w, rtol=1e-15)
    assert g_w.shape == w.shape
    # the penalty is not divided by n; sample weights and "sum" go to the loss
    sw = rng.uniform(0, 1, 20)
    got = obj.value(y, pred, w, sample_weight=sw, reduction="sum")
    assert math.isclose(got, fl.huber(y, pred, sample_weight=sw, reduction="sum", delta=0.7)
                        + obj.penalty(w), rel_tol=1e-14)
    # finite differences with respect to w
    fd = central_difference(lambda x: obj.value(y, pred, x), [w.copy()], 0)
    np.testing.assert_allclose(g_w, fd, rtol=1e-7, atol=1e-9)
    # float32 parameters keep their dtype; no penalty means the plain loss
    assert obj.value_and_grad(y, pred, w.astype(np.float32))[2].dtype == np.float32
    assert fl.Objective(fl.mse).value(y, pred, w) == fl.mse(y, pred)


# ----------------------------------------------------------------------------- registries

def test_registries_drive_benchmarks_and_references():
    assert {"triplet_margin", "contrastive"} <= set(fl.available())
    assert fl.get("triplet_margin") is fl.triplet_margin
    assert fl.penalties.available() == ["elastic_net", "l1_penalty", "l2_penalty"]
    rng = np.random.default_rng(16)
    for loss in [fl.triplet_margin, fl.contrastive] + [fl.penalties.get(name)
                                                         for name in fl.penalties.available()]:
        for n in (0, 5, 1000):
            args = loss.make_inputs(n, np.float64, rng)
            want = reference.value(loss.name, *args)
            got = loss(*args)
            assert (math.isnan(got) and math.isnan(want)) or math.isclose(got, want,
                                                                          rel_tol=1e-12)


def test_read_only_memory_mapped_and_strided_inputs(tmp_path):
    rng = np.random.default_rng(17)
    a, p, n = embeddings(rng, 30, 8, 3)
    want_value, want_grads = fl.triplet_margin.value_and_grad(a, p, n)
    path = tmp_path / "anchor.npy"
    np.save(path, a)
    mapped = np.load(path, mmap_mode="r")
    frozen = p.copy()
    frozen.flags.writeable = False
    strided = np.repeat(n, 2, axis=1)[:, ::2]                  # a non-contiguous view equal to n
    np.testing.assert_array_equal(strided, n)
    value, grads = fl.triplet_margin.value_and_grad(mapped, frozen, np.asfortranarray(strided))
    assert value == want_value
    for g, w in zip(grads, want_grads):
        np.testing.assert_array_equal(g, w)
    w = np.load(path, mmap_mode="r")
    assert fl.l2_penalty(w) == fl.l2_penalty(a)


def test_objective_rejects_losses_with_other_inputs():
    with pytest.raises(TypeError, match="Objective needs a \\(y_true, y_pred\\) loss"):
        fl.Objective("triplet_margin")


def test_reference_registry_lists_the_metric_losses():
    for name in ("triplet_margin", "contrastive"):
        assert name in reference.LOSSES
        with pytest.raises(TypeError, match="no per-element Hessian"):
            reference.LOSSES[name][2]()
