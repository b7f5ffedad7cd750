"""What gets measured: the cases (a loss's inputs at a size and dtype) and the implementations
(fastloss, the NumPy reference, peers) of each operation, shared by ``fastloss bench`` and the
pytest-benchmark suite in ``benchmarks/``. Everything is driven by the loss registry: a new loss
is measured as soon as it is registered, with the inputs its ``make_inputs`` gives.

An implementation that cannot be measured is an :class:`Unavailable` with a status and a reason
(``missing``: not installed or not written; ``unsupported``: the peer has no such loss), never
a stand-in.
"""

import contextlib
import inspect
import math
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

import fastloss as fl
from fastloss import reference

OPS = ("value", "grad", "value_and_grad", "grad_hess")

# Relative tolerance of the agreement check by prediction dtype. Implementations legitimately
# differ in summation order and formula (float32 peers accumulate in float32), not beyond this.
RTOL = {"float32": 1e-4, "float64": 1e-7}


@dataclass
class Case:
    """One loss's inputs at one size and dtype."""
    loss: Any                  # a fastloss.Loss
    n: int                     # the size asked of make_inputs (elements in all)
    dtype: np.dtype
    inputs: tuple
    params: dict = field(default_factory=dict)   # the loss's default parameters (peers need them)

    @property
    def name(self):
        return self.loss.name

    @property
    def input_bytes(self):
        return sum(np.asarray(a).nbytes for a in self.inputs)


def seed_for(name, n, dtype, seed=0):
    """A seed that depends only on the case, so every run and the pytest suite see the same data."""
    return [seed, zlib.crc32(name.encode()), int(n), np.dtype(dtype).num]


def lookup(name):
    """A registered loss, or a penalty (``fl.penalties``): both are measured the same way."""
    if not isinstance(name, str):
        return name                     # already a Loss or a Penalty
    if name in fl.penalties.PENALTIES:
        return fl.penalties.get(name)
    return fl.get(name)


def measurable():
    """Every name the benchmark measures by default: the losses, then the penalties."""
    return fl.available() + fl.penalties.available()


def make_case(loss, n, dtype, seed=0, classes=None):
    """The inputs of `loss` at size n and dtype, from the loss's own ``make_inputs``;
    ``classes``: K of the row-wise losses (n elements are n // K rows; others ignore it)."""
    loss = lookup(loss)
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(seed_for(loss.name, n, dtype, seed))
    if classes is not None and "n_classes" in inspect.signature(loss.make_inputs).parameters:
        inputs = tuple(loss.make_inputs(int(n), dtype, rng, n_classes=int(classes)))
    else:
        inputs = tuple(loss.make_inputs(int(n), dtype, rng))
    return Case(loss=loss, n=int(n), dtype=dtype, inputs=inputs, params=dict(loss.defaults))


def _identity(result):
    return result


@dataclass
class Impl:
    """A measurable implementation of one operation on one case.

    ``call()`` is what gets timed; ``finish(result)`` (not timed) turns its result into
    fastloss's form (value: float; grad: array or tuple of arrays; value_and_grad: (value,
    grad)) for the agreement check; ``threads()`` is a context manager that applies the
    thread count around the calls.
    """
    name: str
    call: Callable[[], Any]
    finish: Callable[[Any], Any] = _identity
    threads: Callable[[], Any] = contextlib.nullcontext
    threaded: bool = True      # False: the thread setting does not apply (measured once)
    fixed_threads: Any = None  # for an unthreaded implementation: its thread count, if known
    note: str = ""


@dataclass
class Unavailable:
    """An implementation that is not measured, and why."""
    name: str
    status: str                # "missing", "unsupported" (or "error": setting it up raised)
    reason: str


# ------------------------------------------------------------------ fastloss and the reference


def supports(loss, op):
    """Whether `loss` has operation `op`: every loss and penalty has a value and a gradient;
    ``grad_hess`` (per-element gradient and Hessian) only the losses of one prediction per
    element or row, not the penalties nor the embedding losses (triplet, contrastive)."""
    if op != "grad_hess":
        return True
    return isinstance(loss, fl.Loss) and getattr(loss, "family", None) != "metric"


def fastloss_impl(case, op, n_threads):
    loss, args = case.loss, case.inputs
    method = loss.__call__ if op == "value" else getattr(loss, op)
    return Impl("fastloss", lambda: method(*args), threads=lambda: fl.threads(n_threads),
                note="fl.threads")


def has_reference(name):
    tables = ("LOSSES", "ROW_LOSSES", "METRIC_LOSSES", "PENALTIES")
    return any(name in getattr(reference, table, {}) for table in tables)


def reference_impl(case, op, n_threads=None):
    """The NumPy reference (fastloss.reference.value / grad): single-threaded, measured once.

    Its value_and_grad is the value and then the gradient: two passes, as NumPy code does it.
    """
    if not has_reference(case.name):
        return Unavailable("numpy", "missing", "no NumPy reference registered for this loss")
    name, args = case.name, case.inputs
    value = lambda: reference.value(name, *args)
    grad = lambda: reference.grad(name, *args)
    call = {"value": value, "grad": grad, "value_and_grad": lambda: (value(), grad()),
            "grad_hess": lambda: reference.grad_hess(name, *args)}[op]
    return Impl("numpy", call, threaded=False, fixed_threads=1, note="NumPy (single-threaded)")


def implementations(case, op, n_threads, peers=()):
    """fastloss, the reference and every requested peer (Impl or Unavailable), in report order."""
    from fastloss.bench import peers as peer_module
    if not supports(case.loss, op):
        why = f"{case.name} has no {op}"
        names = ["fastloss", "numpy"] + [p if isinstance(p, str) else p.name for p in peers]
        return [Unavailable(name, "unsupported", why) for name in names]
    found = [fastloss_impl(case, op, n_threads), reference_impl(case, op)]
    for peer in peers:
        peer = peer_module.get_peer(peer) if isinstance(peer, str) else peer
        try:
            found.append(peer.implementation(case, op, n_threads))
        except Exception as exc:       # a broken adapter is a reported failure, not a crash
            found.append(Unavailable(peer.name, "error", f"{type(exc).__name__}: {exc}"))
    return found


# ------------------------------------------------------------------ agreement


def _leaves(result):
    if isinstance(result, (tuple, list)):
        out = []
        for item in result:
            out.extend(_leaves(item))
        return out
    return [result]


def _structure(result):
    if isinstance(result, (tuple, list)):
        return tuple(_structure(r) for r in result)
    return "array" if np.ndim(result) else "scalar"


# A float32 implementation rounds before it compares (huber's |r| with delta), so an element
# within a float32 ulp of a jump of the Hessian may land on the jump's other side: the grad_hess
# Hessian of a loss that is not smooth (Loss.smooth False) may differ there, at most at this
# share of the elements (and at least one).
HESSIAN_JUMPS = 1e-6


def agree(got, want, dtype, op=None, loss=None):
    """(True, note) when `got` matches `want` within the dtype's tolerance, else (False, why);
    the note is "" unless some float32 Hessian elements at a jump of `loss` were let through.

    Scalars compare relatively (NaN equals NaN); arrays elementwise with an absolute slack
    scaled by the largest expected magnitude, so tiny elements are not over-judged.
    """
    rtol = RTOL.get(np.dtype(dtype).name, 1e-7)
    note = ""
    if _structure(got) != _structure(want):
        return False, f"result has structure {_structure(got)}, expected {_structure(want)}"
    for k, (g, w) in enumerate(zip(_leaves(got), _leaves(want))):
        g = np.asarray(g, dtype=np.float64)
        w = np.asarray(w, dtype=np.float64)
        if g.shape != w.shape and g.size != w.size:
            return False, f"part {k}: shape {g.shape}, expected {w.shape}"
        g, w = g.reshape(-1), w.reshape(-1)
        if w.size == 0:
            continue
        finite = np.isfinite(w)
        scale = float(np.max(np.abs(w[finite]))) if finite.any() else 0.0
        close = np.isclose(g, w, rtol=rtol, atol=rtol * scale, equal_nan=True)
        differ = int(w.size - np.count_nonzero(close))
        if differ and op == "grad_hess" and k == 1 and np.dtype(dtype) == np.float32 \
                and not getattr(loss, "smooth", True) \
                and differ <= max(1, int(HESSIAN_JUMPS * w.size)):
            note = f"{differ} of {w.size} float32 Hessian elements differ (at a jump)"
        elif differ:
            i = int(np.argmin(close))
            where = "" if w.size == 1 else f" at element {i}"
            return False, (f"part {k}{where}: got {g[i]!r}, expected {w[i]!r} "
                           f"(rtol {rtol:g}; {differ} of {w.size} differ)")
    return True, note


def output_bytes(result):
    """Bytes of the arrays an operation writes (the gradient, or the tuple of gradients)."""
    return int(sum(np.asarray(leaf).nbytes for leaf in _leaves(result) if np.ndim(leaf)))


def written(op, result):
    """The arrays op's result writes: value_and_grad's gradient(s), grad_hess's two arrays."""
    return result[1] if op == "value_and_grad" else result


# ------------------------------------------------------------------ sizes


def parse_size(text):
    """'1e6', '10^6', '10**6' or '1000000' -> 1000000."""
    text = str(text).strip().replace("_", "")
    for sep in ("^", "**"):
        if sep in text:
            base, exp = text.split(sep, 1)
            return int(base) ** int(exp)
    value = float(text)
    if value != int(value) or value < 0:
        raise ValueError(f"size must be a non-negative integer, got {text!r}")
    return int(value)


def parse_sizes(text):
    return [parse_size(s) for s in str(text).split(",") if s.strip()]


def format_size(n):
    """1000 -> '1e3'; sizes that are not a power of ten print in full."""
    if n >= 1000:
        exp = round(math.log10(n))
        if 10 ** exp == n:
            return f"1e{exp}"
    return str(n)
