"""fastloss.dask.score on the threaded scheduler and on a real 2-process LocalCluster."""

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("dask.distributed")

import fastloss as fl                  # noqa: E402
import fastloss.dask as fldask         # noqa: E402

LOSSES = ["mse", "mae", "huber:delta=0.5", "quantile:alpha=0.9", "log_cosh"]
IN_MEMORY = [(fl.mse, {}), (fl.mae, {}), (fl.huber, {"delta": 0.5}),
             (fl.quantile, {"alpha": 0.9}), (fl.log_cosh, {})]


def data(n, dtype=np.float64, tail=()):
    rng = np.random.default_rng(21)
    y = rng.standard_normal((n,) + tail).astype(dtype)
    p = (y + rng.standard_normal((n,) + tail)).astype(dtype)
    w = rng.random((n,) + tail).astype(dtype)
    return y, p, w


def check_against_memory(result, y, p, w):
    for label, (loss, kw) in zip(LOSSES, IN_MEMORY):
        want = loss(y, p, sample_weight=w, **kw)
        got = result[label].mean
        assert abs(got - want) <= 1e-12 * abs(want), label
        assert result[label].count == y.size


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f8", "f4"])
def test_threaded_scheduler(dtype):
    y, p, w = data(200_003, dtype)
    step = 30_000
    with dask.config.set(scheduler="threads"):
        result = fldask.score(LOSSES, da.from_array(y, chunks=step), da.from_array(p, chunks=step),
                              da.from_array(w, chunks=step), split_every=3)
    check_against_memory(result, y, p, w)
    # Same chunks as the streamed scorer: bit-for-bit the same result.
    assert result == fl.score(LOSSES, y, p, sample_weight=w, chunk_size=step)
    assert result.rows == len(y)


def test_rechunks_to_whole_rows_and_matching_row_chunks():
    y, p, w = data(20_000, tail=(4,))
    with dask.config.set(scheduler="threads"):
        result = fldask.score(LOSSES, da.from_array(y, chunks=(3_000, 2)),
                              da.from_array(p, chunks=(7_000, 4)), w)   # w: a NumPy array
    check_against_memory(result, y, p, w)
    assert result == fl.score(LOSSES, y, p, sample_weight=w, chunk_size=7_000)


def test_errors_before_compute():
    y = da.zeros(100, chunks=10)
    with pytest.raises(ValueError, match="same number of rows"):
        fldask.score("mse", y, da.zeros(99, chunks=10))
    with pytest.raises(ValueError, match="unknown loss"):
        fldask.score("nope", y, y)
    with pytest.raises(TypeError, match="not accepted by any requested loss"):
        fldask.score("huber", y, y, alpha=0.3)
    with pytest.raises(TypeError, match="unexpected parameter"):
        fldask.score("huber:alpha=0.3", y, y)
    with pytest.raises(ValueError, match="split_every"):
        fldask.score("mse", y, y, split_every=1)
    with pytest.raises(ValueError, match="must be non-negative"):    # raised by a block
        with dask.config.set(scheduler="threads"):
            fldask.score("mse", y, y, -da.ones(100, chunks=10))


def test_local_cluster_of_two_processes():
    y, p, w = data(300_000)
    step = 25_000
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        with distributed.get_task_stream(client) as stream:
            result = fldask.score(LOSSES, da.from_array(y, chunks=step),
                                  da.from_array(p, chunks=step), da.from_array(w, chunks=step))
        workers = {task["worker"] for task in stream.data}
        assert workers and workers <= set(client.scheduler_info()["workers"])
    check_against_memory(result, y, p, w)
    assert result == fl.score(LOSSES, y, p, sample_weight=w, chunk_size=step)
