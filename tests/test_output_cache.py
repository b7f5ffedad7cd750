"""The cache of freed outputs (fastloss._kernels._buffers): large gradients are reused, with
their memory fully rewritten; small ones bypass it; the limit, the slots and the switch hold."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import fastloss as fl
from fastloss._kernels import _buffers

N = 300_000                       # 2.4 MB of float64: above the cache's 1 MiB minimum


@pytest.fixture(autouse=True)
def fresh_cache():
    limit = fl.cache_info()["limit"]
    fl.empty_cache()
    fl.set_cache_limit(1 << 30)
    yield
    fl.set_cache_limit(limit)
    fl.empty_cache()


def _inputs(n=N, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)


def _address(a):
    return a.__array_interface__["data"][0]


def test_a_freed_gradient_is_reused_and_rewritten():
    y, p = _inputs()
    want = fl.mse.grad(y, p, out=np.empty_like(p))
    g = fl.mse.grad(y, p)
    where = _address(g)
    g[:] = np.nan                 # stale contents must not survive into the next output
    del g
    assert fl.cache_info()["held"] == N * 8
    hits = fl.cache_info()["hits"]
    g = fl.mse.grad(y, p)
    assert _address(g) == where and fl.cache_info()["hits"] == hits + 1
    np.testing.assert_array_equal(g, want)
    assert fl.cache_info()["held"] == 0     # handed out: no longer held


@pytest.mark.parametrize("call", [
    lambda y, p: fl.binary_cross_entropy_with_logits.value_and_grad((y > 0) * 1.0, p)[1],
    lambda y, p: fl.huber(y, p, reduction="none"),
    lambda y, p: fl.cross_entropy.grad(np.zeros(N // 10, dtype=np.intp), p.reshape(-1, 10)),
    lambda y, p: fl.triplet_margin.grad(y.reshape(-1, 10), p.reshape(-1, 10), p[::-1].reshape(-1, 10))[0],
    lambda y, p: fl.Objective(fl.mse, l2=0.5).value_and_grad(y, p, p)[2],
])
def test_every_family_takes_its_outputs_from_the_cache(call):
    y, p = _inputs()
    first = call(y, p)
    want = first.copy()
    first[...] = np.nan
    del first
    hits = fl.cache_info()["hits"]
    again = call(y, p)
    assert fl.cache_info()["hits"] > hits
    np.testing.assert_array_equal(again, want)


def test_small_outputs_bypass_the_cache():
    y, p = _inputs(1000)
    before = fl.cache_info()
    del before["held"]
    for _ in range(5):
        fl.mse.grad(y, p)
    after = fl.cache_info()
    assert after["held"] == 0
    del after["held"]
    assert after == before


def test_a_block_is_reused_only_for_its_own_size():
    y, p = _inputs()
    g = fl.mse.grad(y, p)
    small = _address(g)
    del g
    y2, p2 = _inputs(2 * N, seed=1)
    misses = fl.cache_info()["misses"]
    g2 = fl.mse.grad(y2, p2)                 # larger: a new block, not the cached one
    assert _address(g2) != small and fl.cache_info()["misses"] == misses + 1
    np.testing.assert_array_equal(g2, fl.mse.grad(y2, p2, out=np.empty_like(p2)))


def test_the_limit_and_the_slots_bound_what_is_held():
    fl.set_cache_limit(3 * (N + 4) * 8)
    grads = [fl.mse.grad(*_inputs(N + k, seed=k)) for k in range(5)]
    while grads:                             # 5 blocks freed in order, room for 3
        grads.pop(0)
    assert fl.cache_info()["held"] == sum((N + k) * 8 for k in (2, 3, 4))   # the newest kept
    fl.set_cache_limit(1 << 30)
    grads = [fl.mse.grad(*_inputs(N + k, seed=k)) for k in range(_buffers.SLOTS + 3)]
    while grads:
        grads.pop(0)
    sizes = sorted((N + k) * 8 for k in range(_buffers.SLOTS + 3))
    assert fl.cache_info()["held"] == sum(sizes[-_buffers.SLOTS:])
    fl.set_cache_limit(N * 8)                # lowering the limit releases blocks at once
    assert fl.cache_info()["held"] <= N * 8
    fl.empty_cache()
    assert fl.cache_info()["held"] == 0


def test_limit_zero_turns_the_cache_off():
    fl.set_cache_limit(0)
    y, p = _inputs()
    g = fl.mse.grad(y, p)
    del g
    assert fl.cache_info()["held"] == 0 and fl.cache_info()["limit"] == 0


def test_cached_outputs_are_aligned_resizable_ndarrays():
    y, p = _inputs()
    g = fl.mse.grad(y, p)
    assert type(g) is np.ndarray and g.flags.owndata and _address(g) % 64 == 0
    want = g.copy()
    g.resize(2 * N, refcheck=False)          # NumPy's realloc through the cache's handler
    np.testing.assert_array_equal(g[:N], want)
    g.resize(N // 4, refcheck=False)
    np.testing.assert_array_equal(g, want[:N // 4])
    del g


def test_bad_limits_are_rejected():
    with pytest.raises(ValueError, match="limit"):
        fl.set_cache_limit(-1)
    with pytest.raises(TypeError, match="nbytes"):
        fl.set_cache_limit(1.5)


@pytest.mark.parametrize("value, limit", [("0", 0), ("1.5", int(1.5 * 2**20)), ("", 1 << 30)])
def test_the_environment_sets_the_limit(value, limit):
    env = dict(os.environ, FASTLOSS_CACHE_MB=value)
    out = subprocess.run([sys.executable, "-c",
                          "import fastloss as fl; print(fl.cache_info()['limit'])"],
                         env=env, capture_output=True, text=True, check=True)
    assert int(out.stdout) == limit


def test_a_bad_environment_value_names_the_variable():
    env = dict(os.environ, FASTLOSS_CACHE_MB="lots")
    out = subprocess.run([sys.executable, "-c", "import fastloss"], env=env,
                         capture_output=True, text=True)
    assert out.returncode != 0 and "FASTLOSS_CACHE_MB" in out.stderr


def test_threads_sharing_the_cache_get_their_own_outputs():
    y, p = _inputs()
    want = fl.mse.grad(y, p, out=np.empty_like(p))
    errors = []

    def work():
        for _ in range(30):
            g = fl.mse.grad(y, p)
            if not np.array_equal(g, want):
                errors.append("wrong gradient")
            g[:] = np.nan         # a block handed to two threads at once would show here
            del g

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
