"""Float32 predictions and the exp and log1p for float32 results.

fl_exp_f4 and fl_log1p_unit_f4 (fastloss/_kernels/_vmath.h) are within 2^-33 relative: cheaper
than fl_exp and fl_log1p_unit, and within float32's 1-ulp bound where a loss's formulas do not
amplify their error. For float32 predictions log_cosh takes them everywhere,
binary_cross_entropy_with_logits in the sub-blocks whose targets are all 0 or 1 (with soft
targets its gradient is a difference that vanishes at y = sigmoid(z)), and focal likewise
except in grad_hess (its second derivative crosses 0); every other loss, and those sub-blocks
with a soft target, keep the float64 functions (_elementwise.pyx.tp's FLOAT32_MATH and
FLOAT64_HESSIAN). cross_entropy with labels and no smoothing takes fl_exp_f4 for its row
exponentials (_multiclass.pyx's _exp_for_float32). Each path is checked against the float64 kernels on the same (exactly widened)
inputs, whose results are correct to about 2^-53:
- with the float32 functions, a float32 result is within 1 ulp of the float64 one rounded, and
  differs from it somewhere (where the 2^-33 error moves a rounding); a reduction (a float64 sum)
  within 2^-32 relative, and not equal;
- with the float64 functions, every result is the float64 kernel's, rounded, bitwise.
A path that took the other functions fails.
"""

import numpy as np
import pytest

import fastloss as fl

N = 100_000
OPS = ["value", "none", "grad", "value_and_grad", "grad_hess"]


def inputs(case, rng):
    if case == "log_cosh":
        return rng.standard_normal(N) * 3, rng.standard_normal(N) * 3
    if case.startswith(("cross_entropy", "softmax_focal")):
        k = 40 if "wide" in case else 10            # the row-wise blocks, or the narrow ones
        n = N // k
        logits = rng.standard_normal((n, k)) * 3
        logits[::50] = np.round(logits[::50])         # ties at the row max
        if "probabilities" in case:
            return rng.dirichlet(np.ones(k), n), logits
        return rng.integers(0, k, n), logits
    targets = rng.random(N) if case.endswith("soft") else (rng.random(N) < 0.5).astype(float)
    return targets, rng.standard_normal(N) * 6


ALL = set(OPS)
NOT_GRAD_HESS = ALL - {"grad_hess"}
CASES = {   # case -> (loss, parameters, the ops that take the float32 functions)
    "log_cosh": ("log_cosh", {}, ALL),
    "bce_with_logits labels": ("binary_cross_entropy_with_logits", {}, ALL),
    "bce_with_logits labels pos_weight": ("binary_cross_entropy_with_logits", {"pos_weight": 3.0}, ALL),
    "bce_with_logits soft": ("binary_cross_entropy_with_logits", {}, set()),
    # focal: value and gradient with labels; its second derivative crosses 0
    "focal labels": ("focal", {}, NOT_GRAD_HESS),
    "focal labels gamma alpha": ("focal", {"gamma": 0.7, "alpha": -1.0}, NOT_GRAD_HESS),
    "focal soft": ("focal", {"gamma": 1.5}, set()),
    # cross_entropy with labels, on each of its paths: narrow blocks (K < 28), row-wise blocks,
    # row by row (class weights, ignore_index); smoothing and probabilities keep fl_exp
    "cross_entropy": ("cross_entropy", {}, ALL),
    "cross_entropy wide": ("cross_entropy", {}, ALL),
    "cross_entropy class_weight": ("cross_entropy", {"class_weight": np.linspace(0.5, 2, 10)}, ALL),
    "cross_entropy wide ignore_index": ("cross_entropy", {"ignore_index": 3}, ALL),
    "cross_entropy smoothing": ("cross_entropy", {"label_smoothing": 0.1}, set()),
    "cross_entropy probabilities": ("cross_entropy", {}, set()),
    "softmax_focal": ("softmax_focal", {}, set()),
    "softmax_focal wide": ("softmax_focal", {"gamma": 1.5}, set()),
}


def call(name, op, y, p, params, weights):
    loss = fl.get(name)
    kw = dict(params, sample_weight=weights)
    if op == "value":
        return [loss(y, p, **kw)]
    if op == "none":
        return [loss(y, p, reduction="none", **kw)]
    if op == "grad":
        return [loss.grad(y, p, **kw)]
    if op == "value_and_grad":
        return list(loss.value_and_grad(y, p, **kw))
    return list(loss.grad_hess(y, p, **kw))


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("case", list(CASES))
def test_each_path_takes_the_functions_its_loss_states(case, op, n_threads, weighted):
    name, params, float32_ops = CASES[case]
    float32_functions = op in float32_ops
    rng = np.random.default_rng(4)
    y, p = inputs(case, rng)
    labels = y.dtype.kind == "i"
    y32, p32 = (y if labels else y.astype(np.float32)), p.astype(np.float32)
    w32 = rng.uniform(0.5, 2.0, len(y)).astype(np.float32) if weighted else None
    w = None if w32 is None else w32.astype(np.float64)
    with fl.threads(n_threads):
        got = call(name, op, y32, p32, params, w32)
        exact = call(name, op, y if labels else y32.astype(np.float64), p32.astype(np.float64),
                     params, w)
    differs = False
    for g, e in zip(got, exact):
        if isinstance(g, float):      # a reduction: a float64 sum of float32 elements
            if float32_functions:
                assert abs(g - e) <= 2.0 ** -32 * abs(e), (g, e)
            differs |= g != e
            continue
        assert g.dtype == np.float32
        e32 = e.astype(np.float32)
        ulps = np.abs(g.astype(np.float64) - e32) / np.spacing(np.abs(e32))
        assert ulps.max() <= 1.0, ulps.max()
        differs |= not np.array_equal(g.view(np.uint32), e32.view(np.uint32))
    # (one output may round alike throughout: log_cosh's gradient, +-1 beyond |r| ~ 9)
    if op == "none" and name == "cross_entropy":
        # A row loss log1p(rest) + (m - z_y) takes the 2^-33 error of rest only through a
        # log1p, so its rounding moves about once in 10^4 rows: too rarely to see here. These
        # rows come from the block code the "value" op runs (and checks), which stores them.
        assert differs <= float32_functions
    else:
        assert differs == float32_functions


@pytest.mark.parametrize("name, op", [("binary_cross_entropy_with_logits", op)
                                      for op in ["none", "grad", "grad_hess"]]
                         + [("focal", op) for op in ["none", "grad"]])
def test_the_choice_is_per_element(name, op):
    """A soft target among labels takes the float64 functions, and its neighbours (the same
    sub-block of 256 elements) keep the float32 ones: an element's bits never depend on the
    targets next to it, so slices, chunks and partitions give each element the same bits."""
    rng = np.random.default_rng(6)
    y = (rng.random(2 ** 14) < 0.5).astype(np.float32)
    p = (rng.standard_normal(2 ** 14) * 6).astype(np.float32)
    mixed = y.copy()
    mixed[300] = 0.25                               # in the second sub-block, [256, 512)
    mixed[2000:2256] = rng.random(256)              # a sub-block of soft targets only
    labels = call(name, op, y, p, {}, None)
    got = call(name, op, mixed, p, {}, None)
    exact = call(name, op, mixed.astype(np.float64), p.astype(np.float64), {}, None)
    soft = (mixed != 0) & (mixed != 1)
    for g, l, e in zip(got, labels, exact):
        assert np.array_equal(g[~soft], l[~soft])   # the labels' bits, whatever their neighbours
        assert np.array_equal(g[soft], e[soft].astype(np.float32))   # soft: float64 functions
        assert not np.array_equal(g[~soft], e[~soft].astype(np.float32))
