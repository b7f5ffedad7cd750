"""Memory: no growth over many calls of every loss, and out= buffers that are wrong are refused.

Driven by the registry. The leak test makes LEAK_CALLS calls in all on small inputs (default
5 * 10^4, spread over every (y_true, y_pred) loss and its methods, error paths included, to keep
the suite fast; FASTLOSS_LEAK_CALLS=500000 gives 10^5 per regression loss) and, after a warm-up,
bounds the growth of glibc's heap in use (mallinfo2: the kernels' own malloc) and of RSS over
all of them, and of tracemalloc's count (Python objects and NumPy buffers) over a tenth of them
(tracing is slow). A leak of even 16 bytes per call would exceed the bounds.
"""

import ctypes
import ctypes.util
import gc
import os
import tracemalloc

import numpy as np
import pytest

import fastloss as fl
from registry_cases import all_losses, large_inputs, pair_loss, pair_names

LEAK_CALLS = int(os.environ.get("FASTLOSS_LEAK_CALLS", 50_000))
TRACEMALLOC_BOUND = 16 * 1024        # bytes of Python/NumPy memory still held after the calls
HEAP_BOUND = 256 * 1024              # bytes of C heap still in use
RSS_BOUND = 4 * 1024 * 1024          # resident memory (pages, allocator slack)


def _sanitized():
    """Built with FASTLOSS_SANITIZE: ASan's allocator keeps freed memory in quarantine, so the
    heap and RSS measures say nothing there (tracemalloc still does)."""
    try:
        from fastloss import _build_info
    except ImportError:
        return False
    return any("-fsanitize" in flag for flag in _build_info.COMPILE_ARGS)


def _rss():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return None


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _heap_in_use():
    """Bytes malloc'ed and not freed (glibc >= 2.33), or None elsewhere."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        fn = libc.mallinfo2
    except (OSError, AttributeError, TypeError):
        return None
    fn.restype = _MallInfo2
    info = fn()
    return info.uordblks + info.hblkhd


def _calls(loss, y, p, w, bad_p, buf, params):
    """One round of every public method on small inputs, and one call that must raise."""
    loss(y, p, **params)
    loss(y, p, sample_weight=w, reduction="none", **params)
    loss.grad(y, p, sample_weight=w, out=buf, **params)
    loss.value_and_grad(y, p, reduction="sum", **params)
    loss.grad_hess(y, p, sample_weight=w, hess_floor=1e-3, **params)
    loss.partial_sums(y, p, **params)
    try:
        loss(y, bad_p, **params)
    except ValueError:
        pass


CALLS_PER_ROUND = 7


def test_no_memory_growth_over_many_calls():
    names = pair_names()
    assert names
    jobs = []
    for i, name in enumerate(names):
        loss = fl.get(name)
        dtype = np.float64 if i % 2 == 0 else np.float32
        y, p, w = large_inputs(loss, 8, dtype=dtype, seed=i)
        bad_p = np.concatenate([p, p[:1]])
        jobs.append((loss, y, p, w, bad_p, np.empty_like(p), {}))
    rounds = max(300, LEAK_CALLS // (CALLS_PER_ROUND * len(jobs)))

    def run(n):
        for job in jobs:
            for _ in range(n):
                _calls(*job)

    run(200)                     # warm-up: caches, lazily imported modules, allocator pools
    gc.collect()
    heap0, rss0 = _heap_in_use(), _rss()
    run(rounds)                  # the C heap and RSS over all the calls
    gc.collect()
    heap = None if heap0 is None else _heap_in_use() - heap0
    rss = None if rss0 is None else _rss() - rss0
    tracemalloc.start()          # Python objects over a tenth of them (tracing is slow)
    try:
        run(20)
        gc.collect()
        traced0 = tracemalloc.get_traced_memory()[0]
        run(rounds // 10)
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0] - traced0
    finally:
        tracemalloc.stop()
    calls = rounds * CALLS_PER_ROUND * len(jobs)
    summary = (f"{calls} calls: heap {heap} B, RSS {rss} B; "
               f"{calls // 10} traced calls: tracemalloc {traced} B")
    print(summary)
    assert traced < TRACEMALLOC_BOUND, summary
    if not _sanitized():
        assert heap is None or heap < HEAP_BOUND, summary
        assert rss is None or rss < RSS_BOUND, summary


# ------------------------------------------------------------------------------ out= buffers

def _bad_outs(y, p):
    """(label, buffer, error type, words of the message) for every way an out can be wrong."""
    other = np.float32 if p.dtype == np.float64 else np.float64
    big = np.empty(2 * p.size + 2, dtype=p.dtype)
    readonly = np.empty_like(p)
    readonly.flags.writeable = False
    cases = [
        ("shape", np.empty(p.size + 1, dtype=p.dtype), ValueError, "shape"),
        ("dtype", np.empty(p.shape, dtype=other), ValueError, "dtype"),
        ("y_pred itself", p, ValueError, "overlap"),
        ("overlapping y_pred", None, ValueError, "overlap"),
        ("read-only", readonly, ValueError, "read-only"),
        ("non-contiguous", big[: 2 * p.size: 2].reshape(p.shape), ValueError, "contiguous"),
        ("a list", p.tolist(), TypeError, "ndarray"),
    ]
    if y.dtype == p.dtype and y.shape == p.shape:
        cases.append(("y_true itself", y, ValueError, "overlap"))
    return cases


def _with_overlap(p):
    """p copied into a buffer, and an out of p's shape that shares half of that buffer."""
    buf = np.empty(p.size * 2, dtype=p.dtype)
    inside = buf[: p.size].reshape(p.shape)
    inside[...] = p
    return inside, buf[p.size // 2: p.size // 2 + p.size].reshape(p.shape)


@pytest.mark.parametrize("method", ["grad", "value_and_grad", "grad_hess[0]", "grad_hess[1]"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", all_losses())
def test_wrong_out_buffers_are_refused(name, dtype, method):
    loss = pair_loss(name)
    y, p, _ = large_inputs(loss, 20, dtype=dtype, seed=1, weights=False)
    y, p = np.ascontiguousarray(y), np.ascontiguousarray(p)
    want = loss.grad(y, p)
    for label, out, error, words in _bad_outs(y, p):
        pp = p
        if label == "overlapping y_pred":
            pp, out = _with_overlap(p)
        if method == "grad":
            call = lambda: loss.grad(y, pp, out=out)                       # noqa: E731
        elif method == "value_and_grad":
            call = lambda: loss.value_and_grad(y, pp, out=out)             # noqa: E731
        else:
            pair = (out, np.empty_like(p)) if method == "grad_hess[0]" else (np.empty_like(p), out)
            call = lambda: loss.grad_hess(y, pp, out=pair)                 # noqa: E731
        with pytest.raises(error, match=words) as info:
            call()
        assert "out" in str(info.value), f"{label}: {info.value}"
    np.testing.assert_array_equal(loss.grad(y, p), want)   # inputs untouched by refused calls
    with pytest.raises(TypeError, match="out"):
        loss.grad_hess(y, p, out=np.empty_like(p))         # not a (grad, hess) pair


@pytest.mark.parametrize("name", all_losses())
def test_good_out_buffers_are_written(name):
    loss = pair_loss(name)
    y, p, w = large_inputs(loss, 50, seed=2)
    elementwise = isinstance(loss, fl.ElementwiseLoss)   # any shape and order
    for order in ("C", "F") if elementwise else ("C",):
        yy, pp, ww = (np.asarray(a).reshape(5, 10, order=order) if elementwise else a
                      for a in (y, p, w))
        out = np.empty_like(pp, order=order)
        assert loss.grad(yy, pp, sample_weight=ww, out=out) is out
        np.testing.assert_array_equal(out, loss.grad(yy, pp, sample_weight=ww))
        value, g = loss.value_and_grad(yy, pp, sample_weight=ww, out=out)
        assert g is out and value == loss(yy, pp, sample_weight=ww)
        gbuf, hbuf = np.empty_like(pp, order=order), np.empty_like(pp, order=order)
        g, h = loss.grad_hess(yy, pp, sample_weight=ww, out=(gbuf, hbuf))
        assert np.shares_memory(g, gbuf) and np.shares_memory(h, hbuf)
        want_g, want_h = loss.grad_hess(yy, pp, sample_weight=ww)
        np.testing.assert_array_equal(gbuf, want_g)
        np.testing.assert_array_equal(hbuf, want_h)
