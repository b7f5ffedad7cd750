"""The per-call fast path (fastloss/_kernels/_fastpath.pxd) against the general path.

The public methods try the fast path first for the commonest call (reduction "mean", no
sample_weight, no out, no loss parameters; grad_hess: the default hess_floor). For every input these tests check that:
- the fast entry point either declines (None) or gives bitwise the general path's result;
- it takes the inputs it is meant for (so the comparison is not vacuous) and declines the rest;
- the public method gives bitwise the general path's result, or raises the same error.
The general path is the family's implementation (``_value``, ``_grad``, ``_value_and_grad``,
``_grad_hess``),
which the public methods called directly before the fast path existed.
"""

import numpy as np
import pytest

import fastloss as fl
from fastloss import _loss, _threads

OPS = ("value", "grad", "value_and_grad", "grad_hess")
OP_CODES = {"value": _loss._FAST_VALUE, "grad": _loss._FAST_GRAD,
            "value_and_grad": _loss._FAST_VALUE_AND_GRAD, "grad_hess": _loss._FAST_GRAD_HESS}
ELEMENTWISE = [name for name in fl.available() if isinstance(fl.get(name), fl.ElementwiseLoss)]
FAST_ELEMENTWISE = [name for name in ELEMENTWISE if fl.get(name)._fast is not None]
DTYPES = (np.float64, np.float32)
PAIRS = [(y, p) for y in DTYPES for p in DTYPES]


def _public(loss, op):
    return loss.__call__ if op == "value" else getattr(loss, op)


def _general(loss, op, y, p):
    params = loss.bind({})
    if op == "value":
        return loss._value(y, p, None, "mean", params)
    if op == "grad":
        return loss._grad(y, p, None, "mean", None, params)
    if op == "grad_hess":
        return loss._grad_hess(y, p, None, 0.0, None, params)
    return loss._value_and_grad(y, p, None, "mean", None, params)


def _fast(loss, op, y, p):
    return loss._fast(OP_CODES[op], y, p, _threads.SERIAL_THRESHOLD, loss._fast_config)


def _outcome(call):
    try:
        return "result", call()
    except (ValueError, TypeError) as exc:
        return "error", (type(exc), str(exc))


def _bits(result):
    """Everything that must match: the structure, types, dtypes, shapes, flags and bits.

    NaN compares as NaN whatever its sign and payload: IEEE 754 leaves them unspecified for
    arithmetic results, and the compiler does not keep them from one loop to another (the
    serial and the OpenMP loop, or one call site and another, may give -NaN and +NaN).
    """
    if isinstance(result, tuple):
        return tuple(_bits(r) for r in result)
    if isinstance(result, np.ndarray):
        canonical = np.where(np.isnan(result), np.array(np.nan, result.dtype), result)
        return (type(result), result.dtype, result.shape, result.flags.c_contiguous,
                result.flags.writeable, canonical.tobytes())
    value = np.float64(np.nan if np.isnan(result) else result)
    return type(result), value.tobytes()


def check_call(loss, op, y, p, expect_fast=None):
    """The public call and the fast entry point agree with the general path (see module doc)."""
    kind, general = _outcome(lambda: _general(loss, op, y, p))
    public_kind, public = _outcome(lambda: _public(loss, op)(y, p))
    assert public_kind == kind, (public, general)
    if kind == "error":
        assert public == general
    else:
        assert _bits(public) == _bits(general)
    fast = _fast(loss, op, y, p)
    if expect_fast is not None:
        assert (fast is not None) == expect_fast
    if fast is not None:
        assert kind == "result"
        assert _bits(fast) == _bits(general)
    return fast is not None


def _inputs(loss, shape, ydtype, pdtype, seed=0):
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    y, p = loss.make_inputs(max(n, 1), np.float64, rng)
    y = np.asarray(y)[:n].astype(ydtype).reshape(shape)
    p = np.asarray(p)[:n].astype(pdtype).reshape(shape)
    return y, p


# ----------------------------------------------------------------------------- elementwise

def test_every_elementwise_loss_has_a_fast_path():
    assert FAST_ELEMENTWISE == ELEMENTWISE


def test_op_codes_match_the_kernels():
    for name in FAST_ELEMENTWISE + ["cross_entropy"]:
        module = __import__(fl.get(name)._fast.__module__, fromlist=["FAST_OPS"])
        if hasattr(module, "FAST_OPS"):
            assert module.FAST_OPS == OP_CODES


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("name", FAST_ELEMENTWISE)
def test_ready_inputs_take_the_fast_path_bitwise(name, op):
    loss = fl.get(name)
    for ydtype, pdtype in PAIRS:
        for shape in [(), (1,), (10,), (2, 5), (3, 1, 4), (1000,)]:
            y, p = _inputs(loss, shape, ydtype, pdtype)
            assert check_call(loss, op, y, p, expect_fast=True), (ydtype, pdtype, shape)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("name", FAST_ELEMENTWISE)
def test_other_layouts_and_dtypes_take_the_general_path(name, op):
    loss = fl.get(name)
    y, p = _inputs(loss, (20,), np.float64, np.float64)
    y2, p2 = _inputs(loss, (4, 5), np.float64, np.float64)
    unaligned = np.frombuffer(b"\0" + p.tobytes(), dtype=np.float64, offset=1, count=20)
    assert not unaligned.flags.aligned
    declined = [
        (y[::2], p[::2]),                                   # strided views
        (y, p[::-1]),                                       # negative stride
        (np.asfortranarray(y2.T), np.asfortranarray(p2.T)),  # Fortran order
        (y.astype(">f8"), p),                               # big-endian
        (y, p.astype(">f4")),
        (y, unaligned),                                     # misaligned
        (y.astype(np.float16), p),                          # other dtypes
        (y, p.astype(np.float16)),
        (y.astype(np.longdouble), p),
        (y, p.astype(np.int64)),
        (list(y), p),                                       # not arrays
        (y, list(p)),
        (y, np.ma.masked_array(p)),                         # subclasses
        (np.empty(0), np.empty(0)),                         # empty
    ]
    for y_true, y_pred in declined:
        check_call(loss, op, y_true, y_pred, expect_fast=False)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("name", FAST_ELEMENTWISE)
def test_read_only_inputs_and_nan(name, op):
    loss = fl.get(name)
    for ydtype, pdtype in PAIRS:
        y, p = _inputs(loss, (10,), ydtype, pdtype, seed=1)
        y.setflags(write=False)
        p.setflags(write=False)
        assert check_call(loss, op, y, p, expect_fast=True)
        for yv, pv in [(np.nan, None), (None, np.nan), (np.nan, np.nan)]:
            y2, p2 = y.copy(), p.copy()
            if yv is not None:
                y2[3] = yv
            if pv is not None:
                p2[7] = pv
            assert check_call(loss, op, y2, p2, expect_fast=True)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("name", FAST_ELEMENTWISE)
def test_bad_inputs_raise_as_before(name, op):
    loss = fl.get(name)
    y, p = _inputs(loss, (10,), np.float64, np.float64)
    bad = [(y, p[:9]), (y.reshape(2, 5), p), (y[:1], p), (y.reshape(10, 1), p),
           (np.array(["a"] * 10), p), (y, np.zeros(10, dtype=complex))]
    for y_true, y_pred in bad:
        assert _outcome(lambda: _general(loss, op, y_true, y_pred))[0] == "error"
        check_call(loss, op, y_true, y_pred, expect_fast=False)


BINARY_TARGETS = {
    "unit": [[0.0, 1.0, 2.0], [-0.5, 0.5, 1.0], [0.0, np.inf, 1.0], [-np.inf, 0.0, 0.0]],
    "signs": [[-1.0, 0.0, 1.0], [1.0, 2.0, 1.0], [0.5, 1.0, 0.0], [np.inf, 1.0, 1.0],
              [-1.0, -2.0, 1.0], [5e-324, 1.0, 0.0]],
}


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("name", [n for n in FAST_ELEMENTWISE if hasattr(fl.get(n), "targets")])
def test_binary_targets_are_checked_as_before(name, op):
    loss = fl.get(name)
    targets = loss.targets
    for dtype in DTYPES:
        p = np.array([0.25, 0.5, 0.75], dtype=dtype)
        for values in BINARY_TARGETS[targets]:
            if dtype == np.float32 and 5e-324 in values:
                continue              # 0.0 in float32: a valid label
            y = np.array(values, dtype=dtype)
            assert _outcome(lambda: _general(loss, op, y, p))[0] == "error"
            check_call(loss, op, y, p, expect_fast=False)
        if targets == "signs":   # every valid coding, with NaN and -0.0
            for values in [[1.0, 1.0, 1.0], [-1.0, 1.0, np.nan], [0.0, 1.0, -0.0],
                           [np.nan, np.nan, np.nan], [-1.0, -1.0, -1.0], [0.0, 0.0, 0.0]]:
                y = np.array(values, dtype=dtype)
                check_call(loss, op, y, p, expect_fast=True)
        else:
            y = np.array([0.0, np.nan, 1.0], dtype=dtype)
            check_call(loss, op, y, p, expect_fast=True)
        if getattr(loss, "probabilities", False):
            y = np.array([0.0, 1.0, 0.5], dtype=dtype)
            for values in [[0.0, 1.0, 1.5], [-1e-30, 0.5, 0.5], [0.5, np.inf, 0.5]]:
                check_call(loss, op, y, np.array(values, dtype=dtype), expect_fast=False)
            check_call(loss, op, y, np.array([0.0, np.nan, 1.0], dtype=dtype), expect_fast=True)
            # predictions clipped to [eps, 1 - eps], eps from the prediction dtype
            check_call(loss, op, np.array([1.0, 0.0, 0.5], dtype=dtype),
                       np.array([0.0, 1.0, 0.5], dtype=dtype), expect_fast=True)


@pytest.mark.parametrize("name", FAST_ELEMENTWISE)
def test_anything_but_the_commonest_call_takes_the_general_path(name):
    loss = fl.get(name)
    y, p = _inputs(loss, (10,), np.float64, np.float64)
    w = np.full(10, 2.0)
    value = loss(y, p)
    assert loss(y, p, reduction="sum") == pytest.approx(value * 10, rel=1e-12)
    assert loss(y, p, sample_weight=w) == pytest.approx(value, rel=1e-12)
    assert loss(y, p, reduction=np.str_("mean")) == value
    assert loss(y, p, **loss.defaults) == value
    out = np.empty_like(p)
    assert loss.grad(y, p, out=out) is out
    assert _bits(out) == _bits(loss.grad(y, p))
    g, h = loss.grad_hess(y, p)
    pair = (np.empty_like(p), np.empty_like(p))
    assert all(a is b for a, b in zip(loss.grad_hess(y, p, out=pair), pair))
    assert _bits(pair) == _bits((g, h))
    assert _bits(loss.grad_hess(y, p, sample_weight=w)) == _bits((2 * g, 2 * h))
    assert _bits(loss.grad_hess(y, p, **loss.defaults)) == _bits((g, h))
    floored = loss.grad_hess(y, p, hess_floor=0.5)[1]
    assert _bits(floored) == _bits(np.where(h < 0.5, 0.5, h).astype(h.dtype))
    with pytest.raises(ValueError, match="reduction must be one of"):
        loss(y, p, reduction="avg")
    with pytest.raises(TypeError, match="unexpected parameter"):
        loss(y, p, not_a_parameter=1.0)


def test_inputs_from_the_serial_threshold_on_take_the_general_path():
    n = _threads.SERIAL_THRESHOLD
    y, p = _inputs(fl.mse, (n,), np.float64, np.float64)
    assert fl.mse._fast(0, y[:n - 1], p[:n - 1], n, fl.mse._fast_config) is not None
    assert fl.mse._fast(0, y, p, n, fl.mse._fast_config) is None
    check_call(fl.mse, "value", y, p, expect_fast=False)


def test_composite_and_bound_losses_give_the_same_results():
    y, p = _inputs(fl.huber, (10,), np.float64, np.float64)
    assert fl.huber.with_params(delta=1.0)(y, p) == fl.huber(y, p)
    assert (0.5 * fl.mse + 0.5 * fl.mse)(y, p) == pytest.approx(fl.mse(y, p), rel=1e-15)


# ----------------------------------------------------------------------------- cross_entropy

def _rows(n_rows, n_classes, dtype, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n_rows).astype(np.intp)
    logits = (2.0 * rng.standard_normal((n_rows, n_classes))).astype(dtype)
    return labels, logits


@pytest.mark.parametrize("op", OPS)
def test_cross_entropy_ready_inputs_take_the_fast_path_bitwise(op):
    loss = fl.cross_entropy
    for dtype in DTYPES:
        for n_rows, n_classes in [(1, 1), (1, 3), (10, 3), (7, 10), (7, 40), (500, 5), (3000, 2)]:
            labels, logits = _rows(n_rows, n_classes, dtype)
            assert check_call(loss, op, labels, logits, expect_fast=True)
            logits[0, 0] = np.nan
            assert check_call(loss, op, labels, logits, expect_fast=True)
            logits[0, 0] = -np.inf
            assert check_call(loss, op, labels, logits, expect_fast=True)
            labels.setflags(write=False)
            logits.setflags(write=False)
            assert check_call(loss, op, labels, logits, expect_fast=True)


def _spy_on_fast(monkeypatch, loss):
    """The op codes of the loss's fast entry point's calls, recorded from now on."""
    calls = []
    original = loss._fast

    def spy(*args):
        calls.append(args[0])
        return original(*args)

    monkeypatch.setattr(loss, "_fast", spy)
    return calls


def test_cross_entropy_grad_hess_fast_path_only_for_the_default_floor(monkeypatch):
    labels, logits = _rows(10, 3, np.float64)
    calls = _spy_on_fast(monkeypatch, fl.cross_entropy)
    g, h = fl.cross_entropy.grad_hess(labels, logits)
    assert calls == [_loss._FAST_GRAD_HESS]
    assert fl.cross_entropy.grad_hess(labels, logits, hess_floor=0.0)[1].tobytes() == h.tobytes()
    floored = fl.cross_entropy.grad_hess(labels, logits, hess_floor=0.5)[1]
    assert floored.min() == 0.5 and np.array_equal(floored, np.maximum(h, 0.5))
    assert calls == [_loss._FAST_GRAD_HESS]
    # the per-element derivatives, not the mean's: rows of p - onehot(y) and p (1 - p)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(g, p - np.eye(3)[labels], rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(h, p * (1 - p), rtol=1e-13)


def test_grad_hess_fast_path_only_for_the_default_floor(monkeypatch):
    # A call's own floor, even 0, takes the general path, which applies it (the fast path
    # computes the default +0.0 only: -0.0 would keep its sign in a clipped Hessian).
    y, p = _inputs(fl.hinge, (10,), np.float64, np.float64)
    calls = _spy_on_fast(monkeypatch, fl.hinge)
    h = fl.hinge.grad_hess(y, p)[1]
    assert calls == [_loss._FAST_GRAD_HESS]
    assert fl.hinge.grad_hess(y, p, hess_floor=float("0"))[1].tobytes() == h.tobytes()
    assert fl.hinge.grad_hess(y, p, hess_floor=0)[1].tobytes() == h.tobytes()
    assert fl.hinge.grad_hess(y, p, hess_floor=0.25)[1].tolist() == [0.25] * 10
    assert calls == [_loss._FAST_GRAD_HESS]
    with pytest.raises(ValueError, match="hess_floor"):
        fl.hinge.grad_hess(y, p, hess_floor=-1.0)


@pytest.mark.parametrize("op", OPS)
def test_cross_entropy_other_inputs_take_the_general_path(op):
    loss = fl.cross_entropy
    labels, logits = _rows(10, 3, np.float64)
    probabilities = np.full((10, 3), 1.0 / 3.0)
    declined = [
        (labels.astype(np.int32), logits),            # other label dtypes
        (labels.astype(np.uint8), logits),
        (labels.astype(">i8"), logits),
        (labels.astype(np.float64), logits),          # float labels: TypeError
        (list(labels), logits),
        (labels, logits.astype(">f8")),
        (labels, logits.astype(np.float16)),
        (labels, np.asfortranarray(logits)),          # layouts
        (labels, logits[:, :2]),
        (labels[::-1], logits),
        (probabilities, logits),                      # probability targets
        (labels, logits.reshape(-1)),                 # wrong shapes
        (labels, logits.reshape(10, 3, 1)),
        (labels[:9], logits),
        (labels.reshape(10, 1), logits),
        (labels + 1, logits),                         # label 3 with K = 3
        (labels - 3, logits),                         # negative labels
        (np.empty(0, dtype=np.intp), np.empty((0, 3))),
        (labels, np.empty((10, 0))),
    ]
    for y_true, y_pred in declined:
        check_call(loss, op, y_true, y_pred, expect_fast=False)
    big_rows = _threads.SERIAL_THRESHOLD // 3 + 1
    check_call(loss, op, *_rows(big_rows, 3, np.float64), expect_fast=False)


def test_cross_entropy_parameters_take_the_general_path():
    labels, logits = _rows(10, 3, np.float64)
    value = fl.cross_entropy(labels, logits)
    assert fl.cross_entropy(labels, logits, label_smoothing=0.0) == value
    assert fl.cross_entropy(labels, logits, label_smoothing=0.1) != value
    assert fl.cross_entropy(labels, logits, class_weight=[1.0, 1.0, 1.0]) == \
        pytest.approx(value, rel=1e-14)
    assert fl.cross_entropy(labels, logits, ignore_index=-100) == pytest.approx(value, rel=1e-14)


def test_fast_entries_refuse_a_wrong_config():
    labels, logits = _rows(10, 3, np.float64)
    with pytest.raises(ValueError, match="cross_entropy only"):
        fl.cross_entropy._fast(0, labels, logits, 100, (fl.kl_divergence.kind,))
    y, p = _inputs(fl.huber, (10,), np.float64, np.float64)
    with pytest.raises(ValueError, match="config must be"):
        fl.huber._fast(0, y, p, 100, (0, (1.0,)))
    with pytest.raises(ValueError, match="takes 1 kernel parameters"):
        fl.huber._fast(0, y, p, 100, (0, (), ()))


def test_only_cross_entropy_has_a_row_wise_fast_path():
    from fastloss.losses.multiclass import MulticlassLoss
    for name in fl.available():
        loss = fl.get(name)
        if isinstance(loss, MulticlassLoss):
            assert (loss._fast is not None) == (name == "cross_entropy")


# ----------------------------------------------------------------------------- bench per-call

def test_bench_per_call_measures_fastloss_and_the_reference():
    from fastloss.bench import per_call
    records = per_call.measure(["mse", "cross_entropy"], ops=("value", "value_and_grad"),
                               dtypes=("float64", "float32"), peers=(), number=3, repeat=1)
    assert len(records) == 2 * 2 * 2 * 2     # losses x ops x dtypes x (fastloss, numpy)
    for r in records:
        assert r["status"] == "ok", r
        assert 0 < r["seconds"] < 1
    shapes = {r["loss"]: r["shape"] for r in records}
    assert shapes == {"mse": [[10], [10]], "cross_entropy": [[10], [10, 3]]}
    lines = per_call.table(records).splitlines()
    assert lines[0].split() == ["loss", "op", "dtype", "fastloss", "(us)", "numpy", "(us)"]
    assert len(lines) == 1 + 2 * 2 * 2


def test_bench_per_call_command(capsys):
    from fastloss import cli
    code = cli.main(["bench", "per-call", "--losses", "huber", "--ops", "grad", "--peers", "none",
                     "--number", "2", "--repeat", "1", "--json"])
    assert code == 0
    import json
    records = json.loads(capsys.readouterr().out)
    assert {(r["loss"], r["op"], r["implementation"], r["status"]) for r in records} == {
        ("huber", "grad", "fastloss", "ok"), ("huber", "grad", "numpy", "ok")}
    assert cli.main(["bench", "per-call", "--losses", "nope", "--peers", "none"]) == 2
