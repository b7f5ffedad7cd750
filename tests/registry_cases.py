"""Registry-driven test inputs shared by the property, memory and concurrency tests.

Everything a generic test needs to know about a loss comes from the loss itself: its inputs
(``Loss.input_names``), valid values (``Loss.domain``), smoothness (``Loss.smooth``,
``Loss.kink_distance``), sample-weight shape and random valid inputs (``Loss.make_inputs``).
A loss registered later is covered without touching these tests.
"""

import inspect
import math

import numpy as np
import pytest

import fastloss as fl

def all_losses():
    return fl.available()


def is_pair(loss):
    """A (target, prediction) loss: two positional inputs, whatever their names."""
    return len(loss.input_names) == 2


def pair_names():
    return [n for n in all_losses() if is_pair(fl.get(n))]


def pair_loss(name):
    """The loss called `name`, or a skip (with the reason) when it is not (target, prediction)."""
    loss = fl.get(name)
    if not is_pair(loss):
        pytest.skip(f"{name} takes {loss.input_names}, not (y_true, y_pred); "
                    "its own family's tests cover it")
    return loss


def is_elementwise(loss):
    return isinstance(loss, fl.ElementwiseLoss)


def is_rowwise(loss):
    """A (target, prediction) loss over rows of K classes: its make_inputs takes ``n_classes``."""
    return is_pair(loss) and "n_classes" in inspect.signature(loss.make_inputs).parameters


def row_inputs(loss, rows, k, dtype, rng):
    """(y_true, y_pred) of a row-wise loss: `rows` rows (0 allowed) of K = `k` classes."""
    y, p = loss.make_inputs(max(rows, 1) * k, dtype, rng, n_classes=k)
    y, p = np.asarray(y)[:rows], np.asarray(p)[:rows]
    assert p.shape == (rows, k), f"{loss.name}.make_inputs gave {p.shape}, not {(rows, k)}"
    return y, p


def scaled_params(loss, factors):
    """Parameters: each real-valued default times a factor, kept only when the loss accepts it
    (the Param's own check decides); other parameters keep their default."""
    params = {}
    for param, factor in zip(loss.params, factors):
        default = param.default
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            continue
        value = default * factor if default != 0 else factor - 1.0
        try:
            params[param.name] = param.check(value) if param.check else value
        except (TypeError, ValueError):
            pass
    return params


def compute_dtype(arr):
    """The dtype the API computes an input in: float32 for float32/float16, float64 otherwise."""
    return np.dtype(np.float32) if np.asarray(arr).dtype in (np.float32, np.float16) \
        else np.dtype(np.float64)


def large_inputs(loss, n, dtype=np.float64, seed=0, weights=True):
    """(y_true, y_pred, sample_weight or None) of about n elements, from the loss's make_inputs."""
    rng = np.random.default_rng(seed)
    y, p = loss.make_inputs(n, dtype, rng)
    w = None
    if weights:
        w = rng.uniform(0.0, 2.0, loss.sample_weight_shape(y, p)).astype(dtype)
    return y, p, w


def bitwise_equal(a, b):
    """Same bits (NaN payloads aside): floats, arrays, or tuples of them."""
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(map(bitwise_equal, a, b))
    if isinstance(a, float):
        return isinstance(b, float) and (a == b and math.copysign(1, a) == math.copysign(1, b)
                                         or (math.isnan(a) and math.isnan(b)))
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def every_result(loss, y, p, w, params):
    """Every public result of a (y_true, y_pred) loss on these inputs, as a tuple."""
    return (
        loss(y, p, **params),
        loss(y, p, sample_weight=w, **params),
        loss(y, p, sample_weight=w, reduction="sum", **params),
        loss(y, p, sample_weight=w, reduction="none", **params),
        loss.grad(y, p, sample_weight=w, **params),
        loss.value_and_grad(y, p, sample_weight=w, reduction="sum", **params),
        loss.grad_hess(y, p, sample_weight=w, hess_floor=1e-6, **params),
    )
