"""pytest-benchmark suite: every registered loss x operation x implementation x size x dtype
(x threads where they apply), from the same cases and implementations as ``fastloss bench``
(fastloss.bench.cases: one registry, not two lists).

    pytest benchmarks --benchmark-only                 # or: make bench-pytest
    FASTLOSS_BENCH_SIZES=1e3,1e5 pytest benchmarks --benchmark-only

Each benchmark first checks, outside the timed call, that the implementation's result equals
the NumPy reference (or fastloss's, for a loss without a reference); a disagreement fails the
test. A peer that is not installed is one skipped benchmark saying so; a loss a peer does not
have is skipped with that reason.
Benchmarks of one (loss, op, n, dtype) share a group, so the table shows them side by side;
``floor`` groups hold the bandwidth probe and ``np.dot(y, p)`` (reading two arrays once).

Environment: FASTLOSS_BENCH_SIZES (default 1e3,1e5,1e7), FASTLOSS_BENCH_DTYPES (float64,float32),
FASTLOSS_BENCH_THREADS (1,all), FASTLOSS_BENCH_LOSSES (all registered),
FASTLOSS_BENCH_PEERS (the known peers that import; 'none' for none).
"""

import os

import numpy as np
import pytest

import fastloss as fl
from fastloss.bench import cases as C
from fastloss.bench import peers as P
from fastloss.bench import probe


def _env_list(name, default):
    return [s.strip() for s in os.environ.get(name, default).split(",") if s.strip()]


SIZES = C.parse_sizes(os.environ.get("FASTLOSS_BENCH_SIZES", "1e3,1e5,1e7"))
DTYPES = _env_list("FASTLOSS_BENCH_DTYPES", "float64,float32")
THREADS = sorted({fl.get_num_threads() if t == "all" else int(t)
                  for t in _env_list("FASTLOSS_BENCH_THREADS", "1,all")})
LOSSES = _env_list("FASTLOSS_BENCH_LOSSES", ",".join(fl.available()))
_peer_names = _env_list("FASTLOSS_BENCH_PEERS", ",".join(P.PEERS))
PEERS = [] if _peer_names == ["none"] else [P.get_peer(name) for name in _peer_names]


def _specs():
    """(loss, n, dtype, op, impl, threads) in an order that reuses each case's inputs.
    A peer that is not installed gets one spec, which skips saying so."""
    specs = []
    for peer in PEERS:
        if peer.load()[0] is None and LOSSES and SIZES and DTYPES:
            specs.append((LOSSES[0], SIZES[0], DTYPES[0], C.OPS[0], peer.name, None))
    for loss in LOSSES:
        for n in SIZES:
            for dtype in DTYPES:
                for op in [op for op in C.OPS if C.supports(C.lookup(loss), op)]:
                    for t in THREADS:
                        specs.append((loss, n, dtype, op, "fastloss", t))
                    specs.append((loss, n, dtype, op, "numpy", None))
                    for peer in PEERS:
                        if peer.load()[0] is None:
                            continue
                        for t in (THREADS if peer.threaded else [None]):
                            specs.append((loss, n, dtype, op, peer.name, t))
    return specs


def _id(spec):
    loss, n, dtype, op, impl, t = spec
    return f"{loss}-{op}-{impl}{'' if t is None else f'-t{t}'}-{C.format_size(n)}-{dtype}"


_cache = {}


def _case_and_expected(loss, n, dtype, op):
    """The case (one kept at a time: 10^7 inputs are large) and the expected result per op."""
    key = (loss, n, dtype)
    if _cache.get("key") != key:
        _cache.clear()
        _cache.update(key=key, case=C.make_case(loss, n, dtype), expected={})
    case = _cache["case"]
    if op not in _cache["expected"]:
        impl = C.reference_impl(case, op)
        against = "numpy"
        if isinstance(impl, C.Unavailable):
            impl, against = C.fastloss_impl(case, op, 1), "fastloss"
        with impl.threads():
            _cache["expected"][op] = (impl.finish(impl.call()), against)
    return case, _cache["expected"][op]


@pytest.mark.parametrize("spec", _specs(), ids=_id)
def test_loss(benchmark, spec):
    loss, n, dtype, op, impl_name, threads = spec
    case, (expected, against) = _case_and_expected(loss, n, dtype, op)
    if impl_name == "fastloss":
        impl = C.fastloss_impl(case, op, threads)
    elif impl_name == "numpy":
        impl = C.reference_impl(case, op)
    else:
        impl = P.get_peer(impl_name).implementation(case, op, threads or 1)
    if isinstance(impl, C.Unavailable):
        pytest.skip(f"{impl_name}: {impl.status}: {impl.reason}")
    benchmark.group = f"{loss} {op} n={C.format_size(n)} {dtype}"
    benchmark.extra_info.update(loss=loss, op=op, impl=impl_name, threads=threads, n=n,
                                dtype=dtype, input_bytes=case.input_bytes)
    with impl.threads():
        ok, why = C.agree(impl.finish(impl.call()), expected, case.dtype, op, case.loss)   # not timed
        assert ok, f"{impl_name} disagrees with {against}: {why}"
        benchmark(impl.call)


def _floor_specs():
    return [(n, dtype, kind, t) for n in SIZES for dtype in DTYPES
            for kind in ("read", "read_write", "np.dot") for t in THREADS
            if not (kind == "np.dot" and t != THREADS[0])]


@pytest.mark.parametrize("spec", _floor_specs(),
                         ids=lambda s: f"{s[2]}-t{s[3]}-{C.format_size(s[0])}-{s[1]}")
def test_floor(benchmark, spec):
    """Reading two arrays of n elements once (the probe, and np.dot for comparison), and
    reading two and writing one (the floor of a gradient)."""
    n, dtype, kind, threads = spec
    itemsize = np.dtype(dtype).itemsize
    benchmark.group = f"floor n={C.format_size(n)} {dtype}"
    benchmark.extra_info.update(kind=kind, threads=threads, n=n, dtype=dtype)
    if kind == "np.dot":
        rng = np.random.default_rng(0)
        y, p = (rng.standard_normal(n).astype(dtype) for _ in range(2))
        assert np.isclose(np.dot(y, p), np.sum(y.astype(np.float64) * p), rtol=1e-3, atol=1e-3 * n)
        benchmark(np.dot, y, p)
        return
    impl = probe.probe_impl(kind, 2 * n * itemsize, n * itemsize, dtype, threads)
    with impl.threads():
        result = impl.call()
        if kind == "read":
            words = np.concatenate([a.view(np.uint32) for a in impl.arrays])
            assert result == int(np.bitwise_xor.reduce(words))   # XOR of every word read
        else:
            assert result.shape == (n,) and np.all(result == 2.0)
        benchmark(impl.call)
