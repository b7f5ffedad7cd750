"""fl.score is bitwise identical for every chunking, split of an iterable, and thread count.

The scorer sums the kernels' per-block partial sums over a grid of blocks counted from the first
row of the whole input (``scoring.block_rows``), exactly; so no way of cutting the input into
chunks, and no thread count, may change a single bit of the sum, the weight total or the mean.
Every comparison here is ``==`` on floats (NaN matches NaN), never a tolerance.
"""

import math

import numpy as np
import pytest

import fastloss as fl
from fastloss import scoring
from fastloss.scoring import ExactSum

BLOCK = 4096
SMALL_N = 3 * BLOCK + 17
LARGE_N = 300_007


def _regression(n, dtype, rng):
    y = rng.standard_normal(n).astype(dtype)
    p = (y + rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4, n)).astype(dtype)
    return y, p, rng.random(n).astype(dtype)


def _elementwise_2d(n, dtype, rng):
    y = rng.standard_normal((n, 3)).astype(dtype)
    p = (y + rng.standard_normal((n, 3))).astype(dtype)
    return y, p, rng.random((n, 3)).astype(dtype)


def _binary(n, dtype, rng):
    y = rng.integers(0, 2, n).astype(dtype)
    return y, (3.0 * rng.standard_normal(n)).astype(dtype), rng.random(n).astype(dtype)


def _labels(n, dtype, rng, k=10):
    return (rng.integers(0, k, n), (2.0 * rng.standard_normal((n, k))).astype(dtype),
            rng.random(n))


def _probabilities(n, dtype, rng, k=5):
    return (rng.dirichlet(np.ones(k), n), rng.dirichlet(np.ones(k), n).astype(dtype),
            rng.random(n))


# case -> (losses, input maker). The families fl.score supports: elementwise (1-D and N-D),
# binary, composite, row-wise with integer labels (with class weights and label smoothing) and
# with probability targets.
CASES = {
    "regression": (["mse", "mae", "huber:delta=0.5", "quantile:alpha=0.8", "log_cosh"],
                   _regression),
    "elementwise_2d": (["mse", "huber"], _elementwise_2d),
    "binary": (["binary_cross_entropy_with_logits", "focal", "hinge"], _binary),
    "composite": ([0.7 * fl.mse + 0.3 * fl.mae, fl.huber.with_params(delta=2.0)], _regression),
    "labels": (["cross_entropy", "multiclass_hinge", "softmax_focal",
                ("cross_entropy", {"label_smoothing": 0.1,
                                   "class_weight": np.linspace(0.5, 2.0, 10)})], _labels),
    "probabilities": (["kl_divergence", "cross_entropy"], _probabilities),
}


def key(result):
    """Everything a result reports, NaN made comparable (so == means bitwise equal)."""
    def same(x):
        return "nan" if math.isnan(x) else (x, math.copysign(1.0, x))
    return {label: (same(s.sum), same(s.weight_total), same(s.mean), s.count)
            for label, s in result.items()}


def random_splits(n, rng, max_chunk):
    """Cut points of [0, n): random sizes, with empty chunks and chunks of one row mixed in."""
    cuts, i = [0], 0
    while i < n:
        r = rng.random()
        size = 0 if r < 0.1 else (1 if r < 0.2 else int(rng.integers(2, max_chunk)))
        i = min(n, i + size)
        cuts.append(i)
    return cuts


def as_chunks(arrays, cuts):
    return [tuple(a[s:e] for a in arrays) for s, e in zip(cuts[:-1], cuts[1:])]


def inputs(case, n, dtype, weighted, seed=0):
    losses, make = CASES[case]
    y, p, w = make(n, dtype, np.random.default_rng(seed))
    return losses, (y, p, w) if weighted else (y, p)


def score(losses, arrays, **kwargs):
    sw = arrays[2] if len(arrays) == 3 else None
    return fl.score(losses, arrays[0], arrays[1], sample_weight=sw, **kwargs)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f8", "f4"])
@pytest.mark.parametrize("case", list(CASES))
def test_every_chunking_gives_the_same_bits(case, dtype, weighted):
    losses, arrays = inputs(case, SMALL_N, dtype, weighted)
    want = key(score(losses, arrays))
    for chunk_size in (1, 7, 4095, 4096, 4097, 10**5):
        assert key(score(losses, arrays, chunk_size=chunk_size)) == want, chunk_size
    rng = np.random.default_rng(1)
    for max_chunk in (9000, 3000):
        cuts = random_splits(SMALL_N, rng, max_chunk)
        assert key(fl.score(losses, as_chunks(arrays, cuts))) == want, cuts
    for n_threads in (1, 2, 3):
        with fl.threads(n_threads):
            assert key(score(losses, arrays, chunk_size=4097)) == want, n_threads
            cuts = random_splits(SMALL_N, rng, 5000)
            assert key(fl.score(losses, as_chunks(arrays, cuts))) == want, (n_threads, cuts)


def test_chunks_of_one_row_and_empty_chunks():
    losses, arrays = inputs("regression", SMALL_N, np.float32, True)
    want = key(score(losses, arrays))
    one_row = [tuple(a[i:i + 1] for a in arrays) for i in range(SMALL_N)]
    assert key(fl.score(losses, one_row)) == want
    empty = tuple(a[:0] for a in arrays)
    padded = [empty] + as_chunks(arrays, [0, 5, 5, 4100, SMALL_N]) + [empty]
    assert key(fl.score(losses, padded)) == want


def test_layouts_files_and_dtypes_of_chunks_give_the_same_bits(tmp_path):
    losses, (y, p, w) = inputs("elementwise_2d", SMALL_N, np.float32, True)
    want = key(fl.score(losses, y, p, sample_weight=w))
    fortran = [np.asfortranarray(a) for a in (y, p, w)]
    for chunk_size in (10**6, 7):        # one Fortran-ordered chunk, or strided row chunks
        assert key(fl.score(losses, *fortran[:2], sample_weight=fortran[2],
                            chunk_size=chunk_size)) == want
    for name, a in zip("ypw", (y, p, w)):
        np.save(tmp_path / f"{name}.npy", a)
    assert key(fl.score(losses, tmp_path / "y.npy", tmp_path / "p.npy",
                        sample_weight=tmp_path / "w.npy", chunk_size=5000)) == want
    # float64 rows joining carried float32 rows: the same values, so the same bits
    chunks = [(y[:10], p[:10], w[:10]), tuple(a[10:].astype(np.float64) for a in (y, p, w))]
    assert key(fl.score(losses, chunks)) == want


@pytest.mark.parametrize("case", ["regression", "labels", "composite"])
def test_large_input(case):
    rng = np.random.default_rng(2)
    losses, arrays = inputs(case, LARGE_N, np.float64, True, seed=3)
    want = key(score(losses, arrays))
    for chunk_size in (4097, 65_536, 123_457):
        assert key(score(losses, arrays, chunk_size=chunk_size)) == want, chunk_size
    for max_chunk in (200_000, 50_000):
        cuts = random_splits(LARGE_N, rng, max_chunk)
        assert key(fl.score(losses, as_chunks(arrays, cuts))) == want
    with fl.threads(1):
        assert key(score(losses, arrays, chunk_size=100_000)) == want
    with fl.threads(3):
        assert key(score(losses, arrays, chunk_size=77_777)) == want


def test_nan_and_inf_are_the_same_whatever_the_chunking():
    losses, (y, p, w) = inputs("regression", SMALL_N, np.float64, True)
    p = p.copy()
    p[5000] = np.nan
    want = key(fl.score(losses, y, p, sample_weight=w))
    assert all(v[0] == "nan" for v in want.values())
    for chunk_size in (7, 4097):
        assert key(fl.score(losses, y, p, sample_weight=w, chunk_size=chunk_size)) == want
    p[5000] = np.inf
    want = key(fl.score(["mse", "mae"], y, p))
    assert want["mse"][0] == (math.inf, 1.0)
    assert key(fl.score(["mse", "mae"], as_chunks((y, p), [0, 4999, 5001, SMALL_N]))) == want


def test_exact_add_in_c_is_math_fsum():
    rng = np.random.default_rng(5)
    for _ in range(8):
        v = rng.standard_normal(1000) * 10.0 ** rng.integers(-300, 300, 1000)
        v = np.concatenate([v, -v[:400], v[:100] * (1 + 2.0 ** -52)])   # cancellations
        want = math.fsum(v)
        assert ExactSum(v).value == want                # the Python algorithm
        for _ in range(3):                              # in C, in any order and pieces
            rng.shuffle(v)
            acc = ExactSum()
            for part in np.array_split(v, [0, 1, 700, 701]):
                acc.add_array(part)
            assert acc.value == want
    for values, want in (([math.inf, 1.0], math.inf), ([1.0, -math.inf], -math.inf),
                         ([1e308, 1e308], math.inf), ([-1e308, -1e308, 5.0], -math.inf)):
        acc = ExactSum()
        acc.add_array(np.array(values))
        assert acc.value == want == ExactSum(values).value
    for values in ([math.inf, -math.inf], [1.0, math.nan, 2.0]):
        acc = ExactSum()
        acc.add_array(np.array(values))
        assert math.isnan(acc.value) and math.isnan(ExactSum(values).value)


def test_merge_is_exact_and_order_independent():
    losses, arrays = inputs("labels", SMALL_N, np.float64, True)
    want = key(score(losses, arrays))
    cuts = [0, 4096, 8192, SMALL_N]           # parts that start on the block grid
    parts = [score(losses, tuple(a[s:e] for a in arrays)) for s, e in zip(cuts, cuts[1:])]
    assert key(parts[0].merge(parts[1]).merge(parts[2])) == want
    assert key(parts[2].merge(parts[0].merge(parts[1]))) == want


def test_chunk_size_is_rounded_to_whole_blocks():
    assert scoring.block_rows(()) == BLOCK
    assert scoring.block_rows((3,)) == BLOCK // 3
    assert scoring.block_rows((10_000,)) == 1
    assert scoring.block_rows((0,)) == BLOCK
    seen = []

    class Rows:
        def update(self, rows):
            seen.append(rows)

        def close(self):
            pass

    y = np.zeros(10_000)
    fl.score("mse", y, y, chunk_size=5, progress=Rows())
    assert seen == [4096, 4096, 10_000 - 8192]


def test_bad_row_shape_in_a_later_chunk_is_named():
    good = (np.zeros((5, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="chunk 1"):
        fl.score("mse", [good, (np.zeros((5, 4)), np.zeros((5, 4)))])


def test_bad_rows_carried_to_the_next_chunk_are_named():
    # Chunk 0's 10 rows wait for a full block; its negative weight is found with chunk 1's rows.
    w = np.ones(10)
    w[3] = -1.0
    chunks = [(np.zeros(10), np.zeros(10), w), (np.zeros(10), np.zeros(10), np.ones(10))]
    with pytest.raises(ValueError, match="chunk 0: sample_weight must be non-negative"):
        fl.score("mse", chunks)
    labels = np.zeros(4100, dtype=np.intp)
    labels[4098] = 12      # blocks of 4096 // 10 = 409 rows: chunk 0's tail is rows 4090..4099
    logits = np.zeros((4100, 10))
    chunks = [(labels, logits), (np.zeros(3, dtype=np.intp), np.zeros((3, 10)))]
    where = r"chunk 0 \(rows 4090 to 4099, renumbered from 0\)"
    with pytest.raises(ValueError, match=where + ".*label 12 at row 8"):
        fl.score("cross_entropy", chunks)


@pytest.mark.parametrize("case", ["regression", "labels"])
def test_dask_partitions_give_the_same_bits(case):
    da = pytest.importorskip("dask.array")
    dask = pytest.importorskip("dask")
    import fastloss.dask as fldask
    losses, arrays = inputs(case, SMALL_N, np.float64, True)
    want = key(score(losses, arrays))
    rows = scoring.block_rows(arrays[1].shape[1:])
    with dask.config.set(scheduler="threads"):
        for step in (2 * rows, 3000, 1001, 4097):   # on the grid, and boundaries moved onto it
            parts = [da.from_array(a, chunks=(step,) + a.shape[1:]) for a in arrays]
            assert key(fldask.score(losses, *parts, split_every=3)) == want, step
