"""Property-based tests (hypothesis) of every registered (y_true, y_pred) loss.

Driven by the registry: a loss registered later is covered automatically, from what it declares
about itself (``input_names``, ``domain``, ``smooth``/``kink_distance``, ``make_inputs``,
``sample_weight_shape``). Each example draws a size (0 and 1 included), dtypes (mixed between
inputs), a layout per input (C, Fortran, negative or non-unit strides, read-only,
memory-mapped, big-endian), values from tiny to huge with +-inf and NaN, sample weights with
zeros, and parameters; then checks the kernels against ``fastloss.reference``.
Bounded: a few dozen examples per loss and property, no deadline (the machine is shared).
"""

import itertools
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

import fastloss as fl
from fastloss import reference as R
from registry_cases import (all_losses, compute_dtype, is_elementwise, is_rowwise, pair_loss,
                            pair_names, row_inputs, scaled_params)

# A budget of examples per property shared by all the losses, so the file's run time stays flat
# as losses are registered (at least 8 examples per loss and property).
EXAMPLES = max(8, 120 // max(1, len(pair_names())))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

EPS64 = np.finfo(np.float64).eps
# Per-element agreement with the reference: relative, by output dtype, plus an absolute slack of
# a few float64 eps per unit weight (the textbook reference cancels, e.g. log(cosh r) near 0).
RTOL = {np.dtype(np.float64): 1e-13, np.dtype(np.float32): 4 * 2.0 ** -24}
ATOL_PER_WEIGHT = 8 * EPS64
# Reduced values (float64 accumulation whatever the input dtype; other summation order).
RTOL_REDUCED = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-6}

TINY_TO_HUGE = [0.0, -0.0, 5e-324, 2.2250738585072014e-308, 1e-300, 1e-38, 1e-8, 0.5, 1.0, 2.0,
                20.0, 37.0, 710.0, 1e4, 1e30, 1e300, 1.7976931348623157e308, math.inf]

_MMAP_DIR = None
_mmap_count = itertools.count()


@pytest.fixture(scope="module", autouse=True)
def _mmap_dir():
    global _MMAP_DIR
    _MMAP_DIR = Path(tempfile.mkdtemp(prefix="fastloss-props-"))
    yield
    shutil.rmtree(_MMAP_DIR, ignore_errors=True)


# ------------------------------------------------------------------------------ strategies

LAYOUTS = ["C", "fortran", "negative_stride", "strided", "readonly", "memmap", "big_endian"]


def with_layout(a, layout):
    """The same values and shape as `a`, in another memory layout."""
    a = np.asarray(a)
    if layout == "fortran":
        return np.asfortranarray(a)
    if layout == "negative_stride":
        flip = (slice(None, None, -1),) * a.ndim
        return np.ascontiguousarray(a[flip])[flip]
    if layout == "strided":
        if a.ndim == 0:
            return a
        return np.repeat(a, 2, axis=-1)[..., ::2]
    if layout == "readonly":
        a = a.copy()
        a.flags.writeable = False
        return a
    if layout == "memmap":
        path = _MMAP_DIR / f"a{next(_mmap_count)}.npy"
        np.save(path, a)
        return np.load(path, mmap_mode="r")
    if layout == "big_endian":
        return a.astype(a.dtype.newbyteorder(">"))
    return a


def shape_for(n, split):
    """A shape of n elements: 1-D, or 2-D (rows, cols) when `split` divides n."""
    if split > 1 and n % split == 0:
        return (n // split, split)
    return (n,)


@st.composite
def special_values(draw, domain, width):
    """Values of `domain` from tiny to huge, +-inf, NaN (if the domain accepts it), boundaries."""
    specials = [s * v for v in TINY_TO_HUGE for s in (1.0, -1.0)]
    specials = [v for v in specials if domain.low <= v <= domain.high]
    specials += [v for v in (domain.low, domain.high) if math.isfinite(v)]
    limit = float(np.finfo(np.float32 if width == 32 else np.float64).max)
    choices = [st.sampled_from(specials),
               st.floats(max(domain.low, -limit), min(domain.high, limit), width=width,
                         allow_nan=False, allow_infinity=False)]
    if domain.nan:
        choices.append(st.just(math.nan))
    return draw(st.one_of(*choices))


@st.composite
def cases(draw, loss, extreme_values=True):
    """(y_true, y_pred, sample_weight, params, description) for one example."""
    pdtype = np.dtype(draw(st.sampled_from([np.float64, np.float32])))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    target_name, prediction_name = loss.input_names
    if is_rowwise(loss):   # rows x K, the edge sizes drawn often: 0 and 1 rows, K = 1 and 2
        rows = draw(st.one_of(st.sampled_from([0, 1, 2]), st.integers(0, 24)), label="rows")
        k = draw(st.one_of(st.sampled_from([1, 2]), st.integers(1, 12)), label="K")
        arrays = dict(zip(loss.input_names, row_inputs(loss, rows, k, pdtype, rng)))
    else:
        n = draw(st.one_of(st.sampled_from([0, 1, 2, 7, 8, 9]), st.integers(0, 64)))
        arrays = dict(zip(loss.input_names, loss.make_inputs(n, pdtype, rng)))

    for name, arr in list(arrays.items()):
        domain = loss.domain(name)
        arr = np.array(arr)
        if domain.discrete:
            arrays[name] = arr
            continue
        if name == target_name:   # targets: their own dtype (mixed dtypes)
            dtype = draw(st.sampled_from([pdtype, np.float64, np.float32, np.float16, "int"]))
            if dtype == "int":
                if not (domain.low <= 0 and domain.high >= 1):
                    dtype = pdtype
                else:
                    arr = np.clip(np.round(arr), max(domain.low, -100), min(domain.high, 100))
                    dtype = np.int64
            arr = arr.astype(dtype)
        if extreme_values and arr.size and arr.dtype.kind == "f" and draw(st.booleans()):
            width = 32 if arr.dtype == np.float32 else 64
            flat = arr.reshape(-1)
            k = draw(st.integers(1, flat.size))
            where = draw(st.lists(st.integers(0, flat.size - 1), min_size=k, max_size=k))
            with np.errstate(over="ignore"):   # 1e300 into float32 is inf, as users get
                for i in where:
                    flat[i] = draw(special_values(domain, width))
        arrays[name] = arr

    if is_elementwise(loss):   # any shape: reshape every input alike
        shape = shape_for(n, draw(st.sampled_from([1, 2, 3, 4])))
        arrays = {k: v.reshape(shape) for k, v in arrays.items()}

    y, p = arrays[target_name], arrays[prediction_name]
    w = None
    wkind = draw(st.sampled_from(["none", "uniform", "zeros", "all_zero", "int"]))
    if wkind != "none":
        wshape = loss.sample_weight_shape(y, p)
        w = rng.uniform(0.0, 10.0, wshape)
        if wkind == "zeros":
            w[rng.random(wshape) < 0.5] = 0.0
        elif wkind == "all_zero":
            w = np.zeros(wshape)
        elif wkind == "int":
            w = np.round(w).astype(np.int32)
        w = w.astype(draw(st.sampled_from([pdtype, np.float64, np.float32]))) \
            if wkind != "int" else w

    layouts = {}
    for key in ("y_true", "y_pred", "sample_weight"):
        layouts[key] = draw(st.sampled_from(LAYOUTS))
    y = with_layout(y, layouts["y_true"])
    p = with_layout(p, layouts["y_pred"])
    if w is not None:
        w = with_layout(w, layouts["sample_weight"])

    # Up to 100x the defaults: beyond, an exponent such as focal's gamma = 2000 makes the loss
    # ill-conditioned (relative error ~ gamma * eps in any implementation), not the kernel wrong.
    factors = draw(st.lists(st.sampled_from([1.0, 0.3, 0.5, 0.9, 1.7, 3.0, 1e-3, 1e2]),
                            min_size=len(loss.params), max_size=len(loss.params)))
    params = scaled_params(loss, factors)
    note(f"shape {p.shape}; dtypes y {y.dtype} p {p.dtype} w {None if w is None else w.dtype}; "
         f"weights {wkind}; layouts {layouts}; params {params}")
    return y, p, w, params


# ------------------------------------------------------------------------------ comparisons

def assert_close(got, want, dtype, weight_scale, what):
    """Elementwise: same NaNs, same infinities, otherwise within RTOL[dtype] + weight slack."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    with np.errstate(over="ignore"):
        want = want.astype(dtype).astype(np.float64)   # the reference rounded like the output
    assert got.shape == want.shape, what
    nan_got, nan_want = np.isnan(got), np.isnan(want)
    differ = (nan_got != nan_want).ravel()
    assert not differ.any(), \
        f"{what}: NaN differs at {np.flatnonzero(differ)[:5]}: got {got.ravel()[differ][:5]}, " \
        f"want {want.ravel()[differ][:5]}"
    ok = ~nan_want
    inf = ok & (np.isinf(got) | np.isinf(want))
    assert np.array_equal(got[inf], want[inf]), f"{what}: infinities {got[inf]} vs {want[inf]}"
    fin = ok & ~inf
    tol = RTOL[np.dtype(dtype)] * np.abs(want[fin]) + ATOL_PER_WEIGHT * np.broadcast_to(
        weight_scale, got.shape)[fin]
    err = np.abs(got[fin] - want[fin])
    worst = np.argmax(err - tol) if err.size else 0
    assert np.all(err <= tol), \
        f"{what}: error {err[worst]} > {tol[worst]} (got {got[fin][worst]}, want {want[fin][worst]})"


def weight_total(loss, y, p, w):
    """What "mean" divides by: the sum of the weights, or the number of weighted items."""
    if w is None:
        return float(np.prod(loss.sample_weight_shape(y, p)))
    return float(np.sum(np.asarray(w, dtype=np.float64)))


def assert_reduced_close(got, want, per_element, total, dtype, what):
    """A reduced value: within RTOL_REDUCED of the sum of |terms| (any summation order)."""
    assert isinstance(got, float), f"{what}: {type(got)}"
    if math.isnan(want) or math.isinf(want):
        assert got == want or (math.isnan(got) and math.isnan(want)), f"{what}: {got} vs {want}"
        return
    scale = float(np.sum(np.abs(per_element))) / (total if total else 1.0)
    assert abs(got - want) <= RTOL_REDUCED[np.dtype(dtype)] * scale + 1e-300, \
        f"{what}: {got} vs {want}"


def weight_slack(w, shape, reduction, total):
    """Per-element weight factor of the absolute tolerance: 1 + w (over the total for "mean")."""
    if w is None:
        slack = np.full(shape, 2.0)
    else:
        w = np.asarray(w, dtype=np.float64)
        slack = 1.0 + w.reshape(w.shape + (1,) * (len(shape) - w.ndim))   # row weights: broadcast
    if reduction == "mean" and total:
        slack = slack / total
    return np.broadcast_to(slack, shape)


def _losses():
    return [pytest.param(name, id=name) for name in all_losses()]


# ------------------------------------------------------------------------------ properties

@pytest.mark.parametrize("name", _losses())
@SETTINGS
@given(data=st.data())
def test_kernels_match_the_reference(name, data):
    loss = pair_loss(name)
    y, p, w, params = data.draw(cases(loss))
    floor = data.draw(st.sampled_from([0.0, 1e-6, 0.5]), label="hess_floor")
    rows = nan_rows(loss, y, p)
    if rows is not None and rows.any():
        # A row-wise loss: a NaN anywhere in a row makes that row's loss NaN (the textbook
        # reference may drop a NaN multiplied by a zero target); the other rows are compared.
        with np.errstate(all="ignore"):
            per = loss(y, p, sample_weight=w, reduction="none", **params)
            assert np.isnan(per[rows]).all(), f"{name}: a row with NaN has a finite loss"
            assert math.isnan(loss(y, p, sample_weight=w, reduction="sum", **params))
        keep = ~rows
        y, p = np.asarray(y)[keep], np.asarray(p)[keep]
        w = None if w is None else np.asarray(w)[keep]
    check_against_reference(loss, name, y, p, w, params, floor)


def _rowwise_losses():
    return [pytest.param(n, id=n) for n in pair_names() if is_rowwise(fl.get(n))]


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("rows", [0, 1, 5])
@pytest.mark.parametrize("name", _rowwise_losses())
def test_rowwise_losses_at_one_and_two_classes(name, rows, k):
    """Every row-wise loss at K = 1 and K = 2 with 0, 1 and a few rows, whatever hypothesis
    happens to draw (its few examples per loss draw these sizes often, not surely): kernels =
    reference in both dtypes, with and without weights, at default and scaled parameters;
    finite differences where the loss is smooth."""
    loss = fl.get(name)
    assert is_rowwise(loss) and not is_elementwise(loss)
    n_params = len(loss.params)
    param_sets = [{}, scaled_params(loss, [0.3] * n_params), scaled_params(loss, [1.7] * n_params)]
    rng = np.random.default_rng(100 * rows + k)
    for dtype in (np.float64, np.float32):
        y, p = row_inputs(loss, rows, k, dtype, rng)
        for w in (None, rng.uniform(0.0, 2.0, rows)):
            for params in param_sets:
                check_against_reference(loss, name, y, p, w, params, 1e-6)
    if rows == 0:
        return
    y, p = row_inputs(loss, rows, k, np.float64, rng)
    nan_p = p.copy()
    nan_p[0] = np.nan                  # NaN in, NaN out: also at K = 1
    with np.errstate(all="ignore"):
        assert np.isnan(loss(y, nan_p, reduction="none")[0])
        assert np.isnan(loss.grad(y, nan_p, reduction="none")[0]).all()
    w = rng.uniform(0.5, 2.0, rows)
    for params in param_sets:
        if not loss.smooth and loss.kink_distance(y, p, **params) is None:
            continue
        check_finite_differences(loss, name, y, p, w, params)


def nan_rows(loss, y, p):
    """For a row-wise loss (weights per row), the rows with a NaN input; None if elementwise."""
    if is_elementwise(loss):
        return None
    n_rows = np.shape(p)[0]
    rows = np.zeros(n_rows, dtype=bool)
    for a in (y, p):
        a = np.asarray(a)
        if a.dtype.kind == "f" and a.ndim >= 1 and a.shape[0] == n_rows:
            # (explicit width: reshape(0, -1) is ambiguous for 0 rows)
            rows |= np.isnan(a).reshape(n_rows, math.prod(a.shape[1:])).any(axis=1)
    return rows


def check_against_reference(loss, name, y, p, w, params, floor):
    out_dtype = compute_dtype(p)
    total = weight_total(loss, y, p, w)
    with np.errstate(all="ignore"):
        ref_none = R.value(name, y, p, sample_weight=w, reduction="none", **params)
        for reduction in ("mean", "sum"):
            got = loss(y, p, sample_weight=w, reduction=reduction, **params)
            want = R.value(name, y, p, sample_weight=w, reduction=reduction, **params)
            assert_reduced_close(got, want, ref_none, total if reduction == "mean" else 1.0,
                                 out_dtype, f"{name} {reduction}")
        per = loss(y, p, sample_weight=w, reduction="none", **params)
        assert per.dtype == out_dtype
        assert_close(per, ref_none, out_dtype, weight_slack(w, per.shape, "none", total),
                     f"{name} none")
        for reduction in ("mean", "sum", "none"):
            g = loss.grad(y, p, sample_weight=w, reduction=reduction, **params)
            assert g.dtype == out_dtype and g.shape == np.shape(p)
            want = R.grad(name, y, p, sample_weight=w, reduction=reduction, **params)
            assert_close(g, want, out_dtype, weight_slack(w, g.shape, reduction, total),
                         f"{name} grad {reduction}")
            value, g2 = loss.value_and_grad(y, p, sample_weight=w, reduction=reduction, **params)
            np.testing.assert_array_equal(g2, g)          # one pass: the same gradient
            if reduction != "none":
                separate = loss(y, p, sample_weight=w, reduction=reduction, **params)
                assert value == separate or (math.isnan(value) and math.isnan(separate))
        g, h = loss.grad_hess(y, p, sample_weight=w, hess_floor=floor, **params)
        want_g, want_h = R.grad_hess(name, y, p, sample_weight=w, hess_floor=floor, **params)
        assert g.dtype == h.dtype == out_dtype
        slack = weight_slack(w, g.shape, "none", total)
        assert_close(g, want_g, out_dtype, slack, f"{name} grad_hess g")
        assert_close(h, want_h, out_dtype, slack, f"{name} grad_hess h")


@pytest.mark.parametrize("name", _losses())
@SETTINGS
@given(data=st.data())
def test_gradients_match_finite_differences(name, data):
    """Central differences of each element's loss and gradient, where the loss is smooth."""
    loss = pair_loss(name)
    if is_rowwise(loss):
        rows = data.draw(st.integers(1, 3), label="rows")
        k = data.draw(st.one_of(st.sampled_from([1, 2]), st.integers(1, 6)), label="K")
        rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1), label="seed"))
        y, p = row_inputs(loss, rows, k, np.float64, rng)
    else:
        n = data.draw(st.integers(1, 12), label="n")
        rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1), label="seed"))
        y, p = (np.array(a) for a in loss.make_inputs(n, np.float64, rng))
    factors = data.draw(st.lists(st.sampled_from([1.0, 0.5, 0.9, 2.0]),
                                 min_size=len(loss.params), max_size=len(loss.params)))
    params = scaled_params(loss, factors)
    w = rng.uniform(0.5, 2.0, loss.sample_weight_shape(y, p))
    if not loss.smooth and loss.kink_distance(y, p, **params) is None:
        pytest.skip(f"{name} is not smooth and gives no kink_distance")
    assume(finite_difference_points(loss, y, p, params).any())
    check_finite_differences(loss, name, y, p, w, params)


def finite_difference_points(loss, y, p, params):
    """Where a central difference is meaningful: away from kinks and a bounded domain's edges."""
    step = 1e-6 * np.maximum(1.0, np.abs(p))
    kinks = loss.kink_distance(y, p, **params)
    usable = np.ones(p.shape, dtype=bool) if kinks is None else \
        np.broadcast_to(kinks, p.shape) > 8 * step
    dom = loss.domain(loss.input_names[1])
    # Away from a bounded domain's edges (log q, 1/q are singular there): 1000 steps.
    usable &= (p - 1000 * step >= dom.low) & (p + 1000 * step <= dom.high)
    return usable


def check_finite_differences(loss, name, y, p, w, params):
    step = 1e-6 * np.maximum(1.0, np.abs(p))
    usable = finite_difference_points(loss, y, p, params)
    g = loss.grad(y, p, sample_weight=w, reduction="none", **params)
    _, h = loss.grad_hess(y, p, sample_weight=w, **params)
    for i in zip(*np.nonzero(usable)):
        hi, lo = p.copy(), p.copy()
        hi[i] += step[i]
        lo[i] -= step[i]
        h2 = hi[i] - lo[i]
        l_hi = loss(y, hi, sample_weight=w, reduction="none", **params)
        l_lo = loss(y, lo, sample_weight=w, reduction="none", **params)
        fd = np.sum(l_hi - l_lo) / h2          # unchanged elements cancel exactly
        rounding = 8 * EPS64 * (1 + max(np.abs(l_hi).max(), np.abs(l_lo).max())) / h2
        assert abs(fd - g[i]) <= 1e-6 * abs(g[i]) + rounding + 1e-9, \
            f"{name} grad at {i}: {g[i]} vs finite difference {fd}"
        g_hi = loss.grad(y, hi, sample_weight=w, reduction="none", **params)
        g_lo = loss.grad(y, lo, sample_weight=w, reduction="none", **params)
        # grad_hess floors the second derivative at hess_floor (0 here): w * max(d2l, 0)
        fd_h = max((g_hi[i] - g_lo[i]) / h2, 0.0)
        rounding = 8 * EPS64 * (1 + max(abs(g_hi[i]), abs(g_lo[i]))) / h2
        assert abs(fd_h - h[i]) <= 1e-5 * abs(h[i]) + rounding + 1e-9, \
            f"{name} hess at {i}: {h[i]} vs finite difference {fd_h}"


@pytest.mark.parametrize("name", _losses())
@SETTINGS
@given(data=st.data())
def test_nan_in_gives_nan_out(name, data):
    loss = pair_loss(name)
    y, p, w, params = data.draw(cases(loss, extreme_values=False))
    nan_inputs = [k for k in loss.input_names
                  if loss.domain(k).nan and not loss.domain(k).discrete]
    assume(np.size(p) > 0 and nan_inputs)
    target_name, prediction_name = loss.input_names
    float_target = np.asarray(y).dtype.kind == "f" or target_name not in nan_inputs
    arrays = {target_name: np.array(y, dtype=None if float_target else np.float64),
              prediction_name: np.array(p)}
    mask = {}
    for k in nan_inputs:
        m = np.asarray(data.draw(st.lists(st.booleans(), min_size=arrays[k].size,
                                          max_size=arrays[k].size), label=f"nan in {k}"))
        mask[k] = m.reshape(arrays[k].shape)
        arrays[k] = np.where(mask[k], np.nan, arrays[k])
    any_nan = np.zeros(np.shape(p), dtype=bool)
    for m in mask.values():
        if m.shape == any_nan.shape:
            any_nan |= m
    assume(any_nan.any())
    y, p = arrays[target_name], arrays[prediction_name]
    if w is not None and np.sum(w) == 0:
        w = None
    assert math.isnan(loss(y, p, sample_weight=w, **params))
    assert math.isnan(loss(y, p, sample_weight=w, reduction="sum", **params))
    per = loss(y, p, sample_weight=w, reduction="none", **params)
    g = loss.grad(y, p, sample_weight=w, reduction="sum", **params)
    gg, hh = loss.grad_hess(y, p, sample_weight=w, **params)
    if is_elementwise(loss):   # exactly the elements that saw a NaN
        for out in (per, g, gg, hh):
            np.testing.assert_array_equal(np.isnan(out), any_nan)
    else:
        assert np.isnan(per).any() and np.isnan(g).any()


BAD_KINDS = ["shape", "non_numeric", "complex", "weight_shape", "weight_negative", "weight_nan",
             "weight_inf", "reduction", "unknown_param", "param_type", "param_nan",
             "hess_floor"]


@pytest.mark.parametrize("name", _losses())
@settings(max_examples=max(len(BAD_KINDS), 2 * EXAMPLES), deadline=None)
@given(data=st.data())
def test_bad_input_raises_naming_the_argument(name, data):
    loss = pair_loss(name)
    n = data.draw(st.integers(1, 20), label="n")
    dtype = data.draw(st.sampled_from([np.float64, np.float32]), label="dtype")
    y, p = loss.make_inputs(n, dtype, np.random.default_rng(n))
    y, p = np.asarray(y), np.asarray(p)
    w = np.ones(loss.sample_weight_shape(y, p))
    kind = data.draw(st.sampled_from(BAD_KINDS), label="kind")
    kwargs, call = {}, loss
    real_params = [q.name for q in loss.params
                   if isinstance(q.default, (int, float)) and not isinstance(q.default, bool)]
    if kind == "shape":
        args, names = (y, np.concatenate([p, p[:1]])), loss.input_names
    elif kind == "non_numeric":
        args, names = (y, np.full(p.shape, "x")), loss.input_names[1:]
    elif kind == "complex":
        args, names = (y, p.astype(np.complex128)), loss.input_names[1:]
    else:
        args = (y, p)
        names = ("sample_weight",)
        if kind == "weight_shape":
            kwargs["sample_weight"] = np.ones(w.size + 1)
        elif kind.startswith("weight_"):
            bad = {"weight_negative": -1.0, "weight_nan": np.nan, "weight_inf": np.inf}[kind]
            w.reshape(-1)[data.draw(st.integers(0, w.size - 1), label="where")] = bad
            kwargs["sample_weight"] = w
        elif kind == "reduction":
            kwargs["reduction"], names = "average", ("reduction",)
        elif kind == "unknown_param":
            kwargs["no_such_parameter"], names = 1.0, ("no_such_parameter",)
        elif kind in ("param_type", "param_nan"):
            assume(real_params)
            which = data.draw(st.sampled_from(real_params), label="param")
            kwargs[which], names = (object() if kind == "param_type" else math.nan), (which,)
        elif kind == "hess_floor":
            call = loss.grad_hess
            kwargs["hess_floor"], names = data.draw(st.sampled_from([-1.0, math.nan, "1"])), \
                ("hess_floor",)
    for fn in (loss, loss.grad) if call is loss else (call,):
        with pytest.raises((ValueError, TypeError)) as info:
            fn(*args, **kwargs)
        assert any(n in str(info.value) for n in names), \
            f"{name} {kind}: message {str(info.value)!r} names none of {names}"
