"""Concurrency and determinism, for every (y_true, y_pred) loss in the registry.

- 8 Python threads call different losses at once on shared read-only inputs (each thread with
  its own ``fl.threads(n)``) and get bitwise the serial results. The kernels release the GIL
  (``with nogil``), so the threads run truly at once; correctness, not speed, is asserted here
  (timings on a shared 2-core machine prove nothing).
- ``fl.threads(n)`` in one Python thread does not change another's (each thread checks its own
  setting while the others run; see also tests/test_api.py).
- A process forked after the kernels ran on several OpenMP threads still works, with the same
  results (GNU OpenMP is not fork-safe: fastloss runs serially in such a child, see
  fastloss/_threads.py).
- Every result, value, gradient and grad_hess, is bitwise identical for 1, 2, 3, 4 and 7 threads,
  on inputs above the serial threshold.
"""

import multiprocessing
import threading
import time

import numpy as np
import pytest

import fastloss as fl
from fastloss import _threads
from registry_cases import (all_losses, bitwise_equal, every_result, large_inputs, pair_loss,
                            pair_names)

DURATION = 2.0
N_THREADS = 8
BIG = 3 * _threads.SERIAL_THRESHOLD + 5      # runs on several OpenMP threads
SMALL = 101                                   # runs serially


def _readonly(arrays):
    for a in arrays:
        if a is not None:
            a.flags.writeable = False
    return arrays


def test_threads_calling_different_losses_match_serial_results():
    names = pair_names()
    jobs = []
    for i, name in enumerate(names):
        loss = fl.get(name)
        for size in (BIG, SMALL):
            dtype = np.float32 if (i + size) % 2 else np.float64
            y, p, w = _readonly(large_inputs(loss, size, dtype=dtype, seed=i))
            jobs.append((loss, y, p, w, every_result(loss, y, p, w, {})))
    stop = time.monotonic() + DURATION
    counts = [0] * N_THREADS
    failures = []
    start = threading.Barrier(N_THREADS)

    def worker(k):
        n_threads = 1 + k % 3
        try:
            with fl.threads(n_threads):
                start.wait()
                j = k
                while time.monotonic() < stop:
                    loss, y, p, w, want = jobs[j % len(jobs)]
                    assert fl.get_num_threads() == n_threads   # not changed by other threads
                    if not bitwise_equal(every_result(loss, y, p, w, {}), want):
                        failures.append(f"thread {k}: {loss.name} n={p.size} differs")
                    counts[k] += 1
                    j += N_THREADS - 1      # each thread walks the losses in its own order
        except Exception as exc:            # reported below, not lost in the thread
            failures.append(f"thread {k}: {exc!r}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(N_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not failures, failures[:5]
    assert all(c > 0 for c in counts), counts


def _child_results(args):
    name, size, dtype, seed = args
    loss = fl.get(name)
    y, p, w = large_inputs(loss, size, dtype=dtype, seed=seed)
    with fl.threads(2):
        return every_result(loss, y, p, w, {})


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                    reason="no fork start method on this platform")
def test_fork_after_parallel_use_still_works():
    tasks = [(name, size, np.float64, i) for i, name in enumerate(pair_names())
             for size in (BIG, SMALL)]
    with fl.threads(2):                         # the parent starts OpenMP thread teams first
        want = [_child_results(t) for t in tasks]
    ctx = multiprocessing.get_context("fork")
    pool = ctx.Pool(2)
    try:
        got = pool.map_async(_child_results, tasks).get(timeout=120)
        assert pool.apply_async(fl.get_num_threads).get(timeout=60) == 1   # serial, documented
    except multiprocessing.TimeoutError:
        pytest.fail("forked workers hung (OpenMP after fork)")
    finally:
        pool.terminate()
        pool.join()
    for task, g, w in zip(tasks, got, want):
        assert bitwise_equal(g, w), task
    # and the parent still runs its parallel kernels afterwards
    with fl.threads(2):
        assert bitwise_equal(_child_results(tasks[0]), want[0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", all_losses())
def test_bitwise_identical_for_any_thread_count(name, dtype):
    loss = pair_loss(name)
    y, p, w = large_inputs(loss, BIG, dtype=dtype, seed=7)
    assert p.size >= _threads.SERIAL_THRESHOLD
    results = {}
    for n in (1, 2, 3, 4, 7):
        with fl.threads(n):
            results[n] = every_result(loss, y, p, w, {})
            results[n] += (loss.partial_sums(y, p, sample_weight=w),
                           loss.value_and_grad(y, p, reduction="none"))
    for n, r in results.items():
        assert bitwise_equal(r, results[1]), f"{name}: {n} threads differ from 1"


def _other_losses():
    """Losses with their own inputs (not (y_true, y_pred)): metric losses, from make_inputs."""
    return [n for n in all_losses() if n not in pair_names()
            and hasattr(fl.get(n), "make_inputs") and len(fl.get(n).input_names) > 0]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", _other_losses())
def test_bitwise_identical_for_any_thread_count_own_inputs(name, dtype):
    """The same for losses with their own input signature (triplets, pairs): value, per-row
    values and every input's gradient, through ``make_inputs`` and ``sample_weight_shape``."""
    loss = fl.get(name)
    rng = np.random.default_rng(11)
    inputs = loss.make_inputs(BIG, dtype, rng)
    w = rng.uniform(0.0, 2.0, loss.sample_weight_shape(*inputs))
    assert np.shape(inputs[0])[0] > 1
    results = {}
    for n in (1, 2, 3, 4, 7):
        with fl.threads(n):
            results[n] = (loss(*inputs), loss(*inputs, sample_weight=w, reduction="sum"),
                          loss(*inputs, sample_weight=w, reduction="none"),
                          tuple(loss.grad(*inputs, sample_weight=w)),
                          loss.partial_sums(*inputs, sample_weight=w))
    for n, r in results.items():
        assert bitwise_equal(r, results[1]), f"{name}: {n} threads differ from 1"
