"""The kernels' own exp, log and log1p (fastloss/_kernels/_vmath.h) against mpmath.

They replace the C library's functions in the logistic and softmax kernels so that those loops
vectorize; the stated bound is fdlibm's, below 1 ulp of the exact result, for every double
argument (subnormal arguments and results included), with C99's special values. Every test
runs on each CPU variant built and supported here: the FMA variants (AVX2, AVX-512) round
their polynomials' fmas once, the baseline twice, and each must meet the bound on its own.
"""

import math

import numpy as np
import pytest

import fastloss as fl
from fastloss import accuracy as A
from fastloss import reference
from fastloss._kernels import _dispatch

mpmath = pytest.importorskip("mpmath")

BOUND_ULP = 1.0
VARIANTS = [v for v in ("baseline", "avx2", "avx512") if _dispatch.import_variant("_vmath", v)]
EXACT = {"exp": mpmath.exp, "log": mpmath.log, "log1p": mpmath.log1p, "log1p_unit": mpmath.log1p}
# The functions for float32 results, their bound (relative error) and the function whose
# arguments they take.
F4 = {"exp_f4": "exp", "log1p_unit_f4": "log1p_unit"}
F4_BOUND = 2.0 ** -33


@pytest.fixture(params=VARIANTS)
def vm(request):
    """The _vmath module of one CPU variant."""
    return _dispatch.import_variant("_vmath", request.param)


def apply(vm, name, x):
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(x)
    vm.apply(name, x, out)
    return out


def log_uniform(rng, n, lo_exp, hi_exp, sign=1.0):
    """Doubles whose binary exponents are uniform in [lo_exp, hi_exp): every scale is hit."""
    return sign * rng.uniform(1.0, 2.0, n) * np.exp2(rng.integers(lo_exp, hi_exp, n).astype(float))


def arguments(name, rng):
    n = 3000
    name = F4.get(name, name)
    if name == "exp":
        x = [rng.uniform(-745.2, 709.8, n), rng.uniform(-1.0, 1.0, n), log_uniform(rng, n, -1074, 0),
             -log_uniform(rng, n, -1074, 0), [-745.13, -708.4, -708.39, 709.78, -0.5 * math.log(2),
                                                0.5 * math.log(2), 1e-300, -1e-300]]
    elif name == "log":
        x = [log_uniform(rng, n, -1074, 1024), rng.uniform(0.5, 2.0, n), 1.0 + rng.uniform(-1e-8, 1e-8, n),
             [5e-324, 2.2250738585072014e-308, 2.225073858507201e-308, 1.7976931348623157e308,
              math.sqrt(2) / 2, math.sqrt(2), 1.0 + 2 ** -52, 1.0 - 2 ** -53]]
    elif name == "log1p":
        x = [log_uniform(rng, n, -1074, 1024), -log_uniform(rng, n, -1074, 0), rng.uniform(-1.0, 1.0, n),
             [-1.0 + 2 ** -53, -0.5, math.sqrt(2) - 1, math.sqrt(2) / 2 - 1, 1e-300, 5e-324, 1e300]]
    else:   # log1p_unit: [0, 1]
        x = [rng.uniform(0.0, 1.0, n), log_uniform(rng, n, -1074, 0),
             [0.0, 5e-324, 1e-300, 2 ** -53, math.sqrt(2) - 1, np.nextafter(math.sqrt(2) - 1, 0),
              np.nextafter(math.sqrt(2) - 1, 1), 0.5, 1.0 - 2 ** -53, 1.0]]
    x = np.concatenate([np.asarray(a, dtype=np.float64) for a in x])
    return x[np.isfinite(x)]


@pytest.mark.parametrize("name", list(EXACT))
def test_within_one_ulp_of_mpmath(vm, name):
    x = arguments(name, np.random.default_rng(7))
    got = apply(vm, name, x)
    worst, where = 0.0, None
    with mpmath.workdps(40):
        for xi, gi in zip(x.tolist(), got.tolist()):
            err = A.ulp_error(gi, EXACT[name](mpmath.mpf(xi)), np.float64)
            if err > worst:
                worst, where = err, xi
    assert worst < BOUND_ULP, f"{name}({where!r}): {worst:.3g} ulp"


@pytest.mark.parametrize("name", list(F4))
def test_float32_results_functions_within_their_bound_of_mpmath(vm, name):
    """exp_f4 and log1p_unit_f4 (kernels with float32 results) are within 2^-33 relative of the
    exact result (a subnormal result, below 2^-1022, is measured against 2^-1041, which its
    rounding, at most 2^-1075, passes).
    With a float32 result's own rounding that is within 0.5 + 2^-9 ulp: the 1-ulp bound holds."""
    x = arguments(name, np.random.default_rng(7))
    got = apply(vm, name, x)
    worst, where = 0.0, None
    with mpmath.workdps(40):
        for xi, gi in zip(x.tolist(), got.tolist()):
            exact = EXACT[F4[name]](mpmath.mpf(xi))
            err = float(abs(mpmath.mpf(gi) - exact) / max(abs(exact), mpmath.mpf(2) ** -1041))
            if err > worst:
                worst, where = err, xi
    assert worst < F4_BOUND, f"{name}({where!r}): relative error 2^{math.log2(worst):.1f}"
    # They are cheaper because they are less precise: were they fl_exp / fl_log1p_unit, the
    # float32 kernels would gain nothing.
    assert not np.array_equal(got, apply(vm, F4[name], x))


def test_float32_results_functions_round_to_float32_within_one_ulp(vm):
    """What they are for: rounded to float32, within 1 ulp of float32 of the exact result."""
    rng = np.random.default_rng(8)
    for name, x in (("exp_f4", rng.uniform(-103.0, 88.0, 4000)), ("log1p_unit_f4", rng.random(4000))):
        got = apply(vm, name, x).astype(np.float32)
        with mpmath.workdps(40):
            worst = max(A.ulp_error(float(g), EXACT[F4[name]](mpmath.mpf(xi)), np.float32)
                        for xi, g in zip(x.tolist(), got.tolist()))
        assert worst <= 1.0, (name, worst)


@pytest.mark.parametrize("name", ["exp", "exp_f4"])
def test_normal_exp_gives_the_full_functions_bits_in_its_range(vm, name):
    """fl_exp_normal and fl_exp_f4_normal (one scaling, no clamp) are fl_exp's and fl_exp_f4's
    bits wherever 2^k is normal, x in [-708, 709], tiny arguments and both ends included: the
    softmax rows choose between them by the row's range, so the choice may not show."""
    rng = np.random.default_rng(9)
    x = np.concatenate([rng.uniform(-708.0, 709.0, 20000), rng.uniform(-708.0, -700.0, 5000),
                        log_uniform(rng, 3000, -1074, 9, -1.0), log_uniform(rng, 3000, -1074, 9),
                        [-708.0, 709.0, 0.0, -0.0, 5e-324, -5e-324, -0.5 * math.log(2)]])
    x = x[(x >= -708.0) & (x <= 709.0)]
    full = apply(vm, name, x)
    np.testing.assert_array_equal(apply(vm, name + "_normal", x).view(np.uint64),
                                  full.view(np.uint64))
    assert np.isnan(apply(vm, name + "_normal", [math.nan, -1.0])).tolist() == [True, False]


def test_normal_log_gives_log_bits_for_normal_positive_finite_arguments(vm):
    """fl_log_normal (no special-value selects) is fl_log's bits for every normal positive finite
    x, across all binades and at both ends, and keeps NaN: kl_divergence's ratios p / q use it
    (those out of its range are redone)."""
    rng = np.random.default_rng(13)
    tiny, huge = np.finfo(np.float64).tiny, np.finfo(np.float64).max
    x = np.concatenate([log_uniform(rng, 40000, -1022, 1023), rng.uniform(0.5, 2.0, 20000),
                        1.0 + rng.uniform(-1e-12, 1e-12, 2000),
                        [tiny, np.nextafter(tiny, 1), huge, 1.0, 0.5, 2.0, math.sqrt(0.5)]])
    x = x[(x >= tiny) & (x <= huge)]
    np.testing.assert_array_equal(apply(vm, "log_normal", x).view(np.uint64),
                                  apply(vm, "log", x).view(np.uint64))
    assert np.isnan(apply(vm, "log_normal", [math.nan]))[0]


@pytest.mark.parametrize("name, x, expected", [
    ("exp_f4", [-math.inf, math.inf, 0.0, -0.0, -746.0, 710.0, -1e4, 1e4],
     [0.0, math.inf, 1.0, 1.0, 0.0, math.inf, 0.0, math.inf]),
    ("log1p_unit_f4", [0.0, 1.0], [0.0, math.log(2.0)]),
    ("exp", [-math.inf, math.inf, 0.0, -0.0, -746.0, 710.0, -1e4, 1e4],
     [0.0, math.inf, 1.0, 1.0, 0.0, math.inf, 0.0, math.inf]),
    ("log", [0.0, -0.0, math.inf, -1.0, -math.inf, 1.0], [-math.inf, -math.inf, math.inf, math.nan, math.nan, 0.0]),
    ("log1p", [-1.0, -2.0, math.inf, -math.inf, 0.0], [-math.inf, math.nan, math.inf, math.nan, 0.0]),
    ("log1p_unit", [0.0, 1.0], [0.0, math.log(2.0)]),
])
def test_special_values_as_c99(vm, name, x, expected):
    got = apply(vm, name, x)
    np.testing.assert_array_equal(got, expected)
    if name == "log1p":
        assert math.copysign(1.0, apply(vm, "log1p", [-0.0])[0]) == -1.0   # log1p(-0) = -0


@pytest.mark.parametrize("name", list(EXACT) + list(F4))
def test_nan_propagates(vm, name):
    assert np.isnan(apply(vm, name, [math.nan, 0.5, math.nan])).tolist() == [True, False, True]


@pytest.mark.parametrize("name", list(EXACT) + list(F4))
def test_vector_lanes_equal_the_scalar_code(vm, name):
    """A vectorized loop gives each element the bits a loop of one element gives (no lane effects)."""
    x = arguments(name, np.random.default_rng(3))[:997]
    whole = apply(vm, name, x)
    one_by_one = np.array([apply(vm, name, [v])[0] for v in x.tolist()])
    np.testing.assert_array_equal(whole.view(np.int64), one_by_one.view(np.int64))


@pytest.mark.parametrize("name, lo, hi", [("exp", -745.0, 709.0), ("log", 1e-300, 1e300),
                                          ("log1p", -0.999, 1e10), ("log1p_unit", 0.0, 1.0)])
def test_agrees_with_numpy_on_a_million_points(vm, name, lo, hi):
    rng = np.random.default_rng(11)
    x = rng.uniform(lo, hi, 1_000_000) if name != "log" else np.exp(rng.uniform(np.log(lo), np.log(hi), 1_000_000))
    ref = {"exp": np.exp, "log": np.log, "log1p": np.log1p, "log1p_unit": np.log1p}[name](x)
    err = np.abs(apply(vm, name, x) - ref) / np.spacing(np.abs(ref))
    # NumPy's own result may be up to ~1 ulp off; the two within 2 ulp of each other everywhere.
    assert err.max() <= 2.0, f"{name}: {err.max()} ulp from NumPy at {x[err.argmax()]!r}"


def test_bad_arguments_are_rejected(vm):
    with pytest.raises(ValueError, match="name must be"):
        vm.apply("sin", np.zeros(1), np.zeros(1))
    with pytest.raises(ValueError, match="out has"):
        vm.apply("exp", np.zeros(2), np.zeros(1))


def test_log_either_is_bitwise_log_or_log1p(vm):
    """fl_log_either (one log where a loss needs log or log1p per element) gives exactly the
    bits of fl_log and fl_log1p, special values included, with the mode mixed element by element."""
    rng = np.random.default_rng(11)
    x = np.concatenate([arguments("log", rng), arguments("log1p", rng),
                        [0.0, -0.0, -1.0, -2.0, math.inf, -math.inf, math.nan, 5e-324]])
    mode = (rng.random(x.size) < 0.5).astype(np.uint8)
    out = np.empty_like(x)
    vm.apply_either(x, mode, out)
    want = np.where(mode == 1, apply(vm, "log1p", x), apply(vm, "log", x))
    assert np.array_equal(out.view(np.uint64), want.view(np.uint64))


def test_log_either_inside_is_bitwise_log_either_in_its_domain(vm):
    """fl_log_either_inside (the label form of binary_cross_entropy, eps >= 2^-53) gives
    fl_log_either's bits for x in [2^-53, 1 - 2^-53] (log) or [-(1 - 2^-53), -2^-53] (log1p),
    NaN included: across the binades, near the ends, and where 1 + x is inexact."""
    rng = np.random.default_rng(12)
    lo, hi = 2.0 ** -53, 1.0 - 2.0 ** -53
    a = np.concatenate([2.0 ** rng.uniform(-53, 0, 200_000), rng.random(200_000),
                        lo * (1 + rng.random(1000)), 1.0 - rng.random(1000) * 1e-12,
                        [lo, hi, 0.5, np.nextafter(0.5, 0), 2.0 ** -54 * 3, math.nan]])
    a = np.where(np.isnan(a), a, np.clip(a, lo, hi))
    mode = (rng.random(a.size) < 0.5).astype(np.uint8)
    x = np.where(mode == 1, -a, a)
    got, want = np.empty_like(x), np.empty_like(x)
    vm.apply_either(x, mode, got, inside=True)
    vm.apply_either(x, mode, want)
    assert np.array_equal(got.view(np.uint64), want.view(np.uint64))


def test_the_baseline_is_built():
    assert VARIANTS[0] == "baseline"


def test_fma_variants_give_each_other_bits_and_the_baseline_rounds_apart():
    """AVX2 and AVX-512 evaluate the same explicit fmas, so they agree bitwise; the baseline rounds
    each fma's product separately, so somewhere in a million arguments its last bit differs (were
    the fmas not compiled as fmas, the variants would all be the baseline)."""
    fma = [v for v in VARIANTS if v != "baseline"]
    if not fma:
        pytest.skip("no FMA variant built or supported here")
    assert all(_dispatch.import_variant("_vmath", v).HAS_FMA for v in fma)
    rng = np.random.default_rng(5)
    args = {"exp": rng.uniform(-700.0, 700.0, 10**6), "log": np.exp(rng.uniform(-700, 700, 10**6)),
            "log1p": rng.uniform(-0.9, 10.0, 10**6), "log1p_unit": rng.uniform(0.0, 1.0, 10**6)}
    args.update({"exp_f4": args["exp"], "log1p_unit_f4": args["log1p_unit"]})
    for name, x in args.items():
        results = {v: apply(_dispatch.import_variant("_vmath", v), name, x).view(np.uint64)
                   for v in ["baseline"] + fma}
        for v in fma[1:]:
            assert np.array_equal(results[v], results[fma[0]]), (name, v)
        baseline_fuses = _dispatch.import_variant("_vmath", "baseline").HAS_FMA   # -march=native
        assert np.array_equal(results["baseline"], results[fma[0]]) == baseline_fuses, name


# ------------------------------------------------------- the elementwise kernels' choice of exp
# A sub-block of the logit losses and log_cosh computes its exps by the normal exp when all its
# arguments (-|z|, or -2|p - y| for log_cosh) are at least -708, else by the full one
# (_elementwise.pyx.tp's phase loops). Far arguments must get the full exp's (subnormal)
# results, and the elements beside them, now on the full exp, must keep their bits.
# (loss, parameters, soft targets)
FAR_CASES = [("binary_cross_entropy_with_logits", {}, False), ("binary_cross_entropy_with_logits", {}, True),
             ("binary_cross_entropy_with_logits", {"pos_weight": 3.0}, False), ("focal", {}, False),
             ("focal", {}, True), ("focal", {"gamma": 1.5}, False), ("focal", {"gamma": 1.5}, True),
             ("log_cosh", {}, False)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f8", "f4"])
@pytest.mark.parametrize("name, params, soft", FAR_CASES,
                         ids=[f"{n}-{p}-{'soft' if s else 'labels'}" for n, p, s in FAR_CASES])
def test_sub_blocks_with_far_arguments_keep_the_other_elements_bits(name, params, soft, dtype):
    rng = np.random.default_rng(11)
    n = 3000
    loss = fl.get(name)
    y, p = loss.make_inputs(n, dtype, rng)
    if soft:
        y = rng.uniform(0.05, 0.95, n).astype(dtype)
    scale = 0.5 if name == "log_cosh" else 1.0      # log_cosh's argument is -2 |p - y|
    p = (p * 40.0).astype(dtype)
    edge = np.array([708.0, -708.0, 707.9, -707.99], dtype) * scale   # still normal
    p[100:104] = edge if name != "log_cosh" else y[100:104] + edge
    far_at = rng.choice(n, 15, replace=False)
    far_at = far_at[(far_at < 100) | (far_at >= 104)]
    offsets = rng.choice([1.0, -1.0], far_at.size) * rng.uniform(712.0, 744.0, far_at.size) * scale
    far = p.copy()
    far[far_at] = (y[far_at] if name == "log_cosh" else 0.0) + offsets.astype(dtype)
    kept = np.ones(n, bool)
    kept[far_at] = False

    def results(pred):
        g, h = loss.grad_hess(y, pred, **params)
        return [loss(y, pred, reduction="none", **params), loss.grad(y, pred, **params), g, h,
                loss.value_and_grad(y, pred, **params)[1]]

    for threads in (1, 2):
        with fl.threads(threads):
            for a, b in zip(results(far), results(p)):
                np.testing.assert_array_equal(a[kept].view(np.uint8), b[kept].view(np.uint8))
    # The far elements themselves, against the NumPy reference, rounded to the results' dtype
    # (their exps are subnormal doubles).
    y8, far8 = y[far_at].astype(np.float64), far[far_at].astype(np.float64)
    for got, want in [(loss(y, far, reduction="none", **params), getattr(reference, name)),
                      (loss.grad(y, far, reduction="sum", **params), getattr(reference, name + "_grad"))]:
        np.testing.assert_allclose(got[far_at], want(y8, far8, **params).astype(dtype), rtol=1e-6, atol=0)
