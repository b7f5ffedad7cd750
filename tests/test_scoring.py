"""fl.score: streamed multi-loss scoring against the in-memory losses and the NumPy reference."""

import io
import math
import os
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

import fastloss as fl
from fastloss import reference, scoring
from fastloss.scoring import ExactSum

REGRESSION = ["mse", "mae", "huber", "quantile", "log_cosh"]
ROOT = Path(__file__).resolve().parents[1]


def rel_close(got, want, rel=1e-12):
    return got == want or abs(got - want) <= rel * abs(want)


def data(n, dtype=np.float64, shape_tail=(), seed=0):
    rng = np.random.default_rng(seed)
    shape = (n,) + shape_tail
    y = rng.standard_normal(shape).astype(dtype)
    p = (y + rng.standard_normal(shape)).astype(dtype)
    w = rng.random(shape).astype(dtype)
    return y, p, w


class Recorder:
    """A progress object that remembers every update (proves no work was reported)."""

    def __init__(self):
        self.updates = []
        self.closed = False

    def update(self, rows):
        self.updates.append(rows)

    def close(self):
        self.closed = True


# ----------------------------------------------------------------------------- values

@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f8", "f4"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("chunk_size", [None, 1, 997, 50_000])
def test_equals_in_memory_losses(dtype, weighted, chunk_size):
    n = 1_000 if chunk_size == 1 else 123_457
    y, p, w = data(n, dtype)
    sw = w if weighted else None
    params = {"huber": {"delta": 0.7}, "quantile": {"alpha": 0.8}}
    losses = [(name, params.get(name, {})) for name in REGRESSION]
    result = fl.score(losses, y, p, sample_weight=sw, chunk_size=chunk_size)
    assert list(result) == ["mse", "mae", "huber:delta=0.7", "quantile:alpha=0.8", "log_cosh"]
    assert result.rows == n
    for (name, kw), label in zip(losses, result):
        s = result[label]
        loss = fl.get(name)
        assert rel_close(s.mean, loss(y, p, sample_weight=sw, **kw)), label
        assert rel_close(s.sum, loss(y, p, sample_weight=sw, reduction="sum", **kw)), label
        assert rel_close(s.weight_total, float(np.sum(w, dtype=np.float64)) if weighted else n)
        assert s.count == n
        # An independent oracle: the NumPy reference.
        want = reference.value(name, y.astype(np.float64), p.astype(np.float64),
                               None if sw is None else sw.astype(np.float64), **kw)
        assert rel_close(s.mean, want, 1e-10), label


def test_worked_example():
    # mse: (0 + 0 + 9) / 3; huber(delta=2): 0 + 0 + 2*(3 - 1) = 4; mae weighted by [1, 1, 2].
    r = fl.score(["mse", "huber:delta=2", "mae"], [0.0, 1.0, 2.0], [0.0, 1.0, 5.0])
    assert r["mse"].mean == 3.0 and r["mse"].sum == 9.0 and r["mse"].count == 3
    assert r["huber:delta=2"].sum == 4.0
    rw = fl.score("mae", [0.0, 1.0, 2.0], [0.0, 1.0, 5.0], sample_weight=[1.0, 1.0, 2.0])
    assert rw["mae"].sum == 6.0 and rw["mae"].weight_total == 4.0 and rw["mae"].mean == 1.5


def test_multidimensional_rows_and_loss_objects():
    y, p, w = data(4_001, shape_tail=(3, 2))
    r = fl.score([fl.mse, fl.huber], y, p, sample_weight=w, chunk_size=100, delta=0.5)
    assert r["mse"].count == y.size
    assert rel_close(r["mse"].mean, fl.mse(y, p, sample_weight=w))
    assert rel_close(r["huber"].mean, fl.huber(y, p, sample_weight=w, delta=0.5))


def test_shared_params_go_to_losses_that_have_them_and_spec_params_win():
    y, p, _ = data(1000)
    r = fl.score(["huber", "huber:delta=3", "quantile", "mse"], y, p, delta=0.25, alpha=0.1)
    assert rel_close(r["huber"].mean, fl.huber(y, p, delta=0.25))
    assert rel_close(r["huber:delta=3"].mean, fl.huber(y, p, delta=3.0))
    assert rel_close(r["quantile"].mean, fl.quantile(y, p, alpha=0.1))
    assert r["huber"].params == {"delta": 0.25}


def test_empty_input_and_zero_weights():
    r = fl.score(["mse", "mae"], np.empty(0), np.empty(0))
    assert math.isnan(r["mse"].mean) and r["mse"].sum == 0.0 and r["mse"].count == 0
    r = fl.score("mse", [1.0, 2.0], [0.0, 0.0], sample_weight=[0.0, 0.0])
    assert math.isnan(r["mse"].mean) and r["mse"].count == 2


def test_nan_and_inf_propagate():
    r = fl.score(["mse", "mae"], [0.0, 1.0, 2.0], [0.0, np.nan, 1.0], chunk_size=1)
    assert math.isnan(r["mse"].mean) and math.isnan(r["mae"].sum)
    r = fl.score("mae", [0.0, 1.0], [np.inf, 1.0], chunk_size=1)
    assert r["mae"].sum == math.inf


def test_result_dict_str_and_pickle():
    import pickle
    y, p, w = data(500)
    r = fl.score(["mse", "quantile:alpha=0.9"], y, p, sample_weight=w)
    d = r.to_dict()
    assert d["quantile:alpha=0.9"] == {"loss": "quantile", "params": {"alpha": 0.9},
                                       "mean": r["quantile:alpha=0.9"].mean,
                                       "sum": r["quantile:alpha=0.9"].sum,
                                       "weight_total": r["quantile:alpha=0.9"].weight_total,
                                       "count": 500}
    text = str(r)
    assert text.splitlines()[0].split() == ["loss", "mean", "sum", "weight_total", "count"]
    assert repr(r["mse"].mean) in text and "quantile:alpha=0.9" in text
    assert pickle.loads(pickle.dumps(r)) == r


# ----------------------------------------------------------------------------- merging

def test_merge_equals_scoring_the_concatenation_exactly():
    y, p, w = data(100_000)
    step = 3 * scoring.block_rows(())      # parts on the block grid of the whole input
    whole = fl.score(REGRESSION, y, p, sample_weight=w)
    parts = [fl.score(REGRESSION, y[i:i + step], p[i:i + step], sample_weight=w[i:i + step])
             for i in range(0, len(y), step)]
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.merge(part)
    assert merged == whole      # bitwise: same block sums, exact accumulation
    rng = np.random.default_rng(3)
    for _ in range(3):         # any merge order (and tree shape) gives the same bits
        pool = [parts[i] for i in rng.permutation(len(parts))]
        while len(pool) > 1:
            merged = pool.pop().merge(pool.pop())
            pool.insert(int(rng.integers(0, len(pool) + 1)), merged)
        assert pool[0] == whole
        assert pool[0].rows == len(y)


def test_merge_rejects_different_losses():
    a = fl.score("mse", [1.0], [2.0])
    with pytest.raises(ValueError, match="different losses"):
        a.merge(fl.score("mae", [1.0], [2.0]))
    with pytest.raises(TypeError):
        a.merge({"mse": 1.0})


def test_exact_sum_is_correctly_rounded_and_order_independent():
    rng = np.random.default_rng(7)
    values = list(rng.standard_normal(2000) * 10.0 ** rng.integers(-20, 20, 2000))
    values += [1e100, 1.0, -1e100, 1e-100]            # catastrophic cancellation
    want = math.fsum(values)
    assert ExactSum(values).value == want
    assert ExactSum(values[::-1]).value == want
    a, b = ExactSum(values[:1000]), ExactSum(values[1000:])
    assert b.copy().merge(a).value == a.merge(b).value == want
    assert sum(values) != want          # naive summation would not do (the test can fail)


def test_exact_sum_non_finite():
    assert ExactSum([1.0, math.inf]).value == math.inf
    assert math.isnan(ExactSum([math.inf, -math.inf]).value)
    assert math.isnan(ExactSum([1.0, math.nan, 2.0]).value)
    assert ExactSum([1e308, 1e308]).value == math.inf
    assert ExactSum([]).value == 0.0


# ----------------------------------------------------------------------------- inputs

def test_npy_paths_memmaps_and_npz(tmp_path):
    y, p, w = data(20_000, np.float32)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "w.npy", w)
    np.savez(tmp_path / "stored.npz", y=y, p=p)
    np.savez_compressed(tmp_path / "packed.npz", y=y, p=p)
    want = fl.score(["mse", "mae"], y, p, sample_weight=w, chunk_size=3000)
    got = fl.score(["mse", "mae"], str(tmp_path / "y.npy"), tmp_path / "p.npy",
                   sample_weight=tmp_path / "w.npy", chunk_size=3000)
    assert got == want
    mm = np.load(tmp_path / "p.npy", mmap_mode="r")
    assert fl.score(["mse", "mae"], y, mm, sample_weight=w, chunk_size=3000) == want
    for name in ("stored", "packed"):
        got = fl.score(["mse", "mae"], f"{tmp_path / name}.npz:y", f"{tmp_path / name}.npz:p",
                       sample_weight=w, chunk_size=3000)
        assert got == want, name


def test_raw_binary_with_dtype_and_shape(tmp_path):
    y, p, _ = data(3000, np.float32, shape_tail=(2,))
    y.tofile(tmp_path / "y.bin")
    p.tofile(tmp_path / "p.f4")
    src_y = scoring.open_array(tmp_path / "y.bin", "y_true", dtype="float32", shape=(-1, 2))
    src_p = scoring.open_array(tmp_path / "p.f4", "y_pred", dtype="float32", shape=(3000, 2))
    assert fl.score("mse", src_y, src_p, chunk_size=100) == fl.score("mse", y, p, chunk_size=100)
    with pytest.raises(ValueError, match="not a whole number of rows"):
        scoring.open_array(tmp_path / "y.bin", "y_true", dtype="float32", shape=(-1, 7))
    with pytest.raises(ValueError, match="needs"):
        scoring.open_array(tmp_path / "y.bin", "y_true", dtype="float64", shape=(3000, 2))
    with pytest.raises(ValueError, match="give a dtype"):
        scoring.open_array(tmp_path / "y.bin", "y_true")


def test_iterable_of_chunks():
    y, p, w = data(10_000)
    step = 1000
    want = fl.score(REGRESSION, y, p, sample_weight=w, chunk_size=step)
    chunks = ((y[i:i + step], p[i:i + step], w[i:i + step]) for i in range(0, len(y), step))
    assert fl.score(REGRESSION, chunks) == want
    unweighted = ((y[i:i + step], p[i:i + step]) for i in range(0, len(y), step))
    assert fl.score("mse", unweighted)["mse"].mean == \
        fl.score("mse", y, p, chunk_size=step)["mse"].mean
    as_list = [(y[:5000], p[:5000], None), (y[5000:], p[5000:])]   # a list; None: no weights
    assert fl.score("mse", as_list) == fl.score("mse", y, p, chunk_size=5000)


def test_copy_on_write_memmaps_keep_their_changes(tmp_path):
    # Pages of a private (mode 'c') mapping must never be dropped: that would lose the edits.
    y, p, _ = data(300_000)
    np.save(tmp_path / "p.npy", p)
    mm = np.load(tmp_path / "p.npy", mmap_mode="c")
    mm[:] = 0.0
    assert fl.score("mse", y, mm, chunk_size=10_000)["mse"].sum == \
        pytest.approx(float(np.sum(y * y)), rel=1e-12)
    assert not mm.any()
    ro = np.load(tmp_path / "p.npy", mmap_mode="r")   # released pages are re-read correctly
    first = fl.score("mse", y, ro, chunk_size=10_000)
    assert fl.score("mse", y, ro, chunk_size=10_000) == first
    assert rel_close(first["mse"].mean, fl.mse(y, p))


# ----------------------------------------------------------------------------- bad input

def test_mismatched_row_counts_before_any_work(tmp_path):
    np.save(tmp_path / "y.npy", np.zeros(100))
    np.save(tmp_path / "p.npy", np.zeros(99))
    bar = Recorder()
    with pytest.raises(ValueError, match="same number of rows: y_true has 100, y_pred has 99"):
        fl.score("mse", tmp_path / "y.npy", tmp_path / "p.npy", progress=bar)
    assert bar.updates == []
    with pytest.raises(ValueError, match="sample_weight has 5"):
        fl.score("mse", np.zeros(100), np.zeros(100), sample_weight=np.ones(5), progress=bar)
    assert bar.updates == []


def test_shape_mismatch_past_axis_0_is_found_before_any_work():
    bar = Recorder()
    with pytest.raises(ValueError, match="same shape"):
        fl.score("mse", np.zeros((100, 3)), np.zeros((100, 4)), chunk_size=10, progress=bar)
    assert bar.updates == []


def test_missing_file_directory_truncated_and_non_numeric(tmp_path):
    np.save(tmp_path / "p.npy", np.zeros(10))
    with pytest.raises(FileNotFoundError, match="y_true: no such file"):
        fl.score("mse", tmp_path / "nope.npy", tmp_path / "p.npy")
    (tmp_path / "dir.npy").mkdir()
    with pytest.raises(IsADirectoryError, match="is a directory"):
        fl.score("mse", tmp_path / "dir.npy", tmp_path / "p.npy")
    np.save(tmp_path / "big.npy", np.zeros(1000))
    raw = (tmp_path / "big.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[:len(raw) - 8])
    with pytest.raises(ValueError, match="truncated"):
        fl.score("mse", tmp_path / "cut.npy", tmp_path / "big.npy")
    (tmp_path / "junk.npy").write_bytes(b"not an array")
    with pytest.raises(ValueError, match="not a valid .npy"):
        fl.score("mse", tmp_path / "junk.npy", tmp_path / "p.npy")
    np.save(tmp_path / "s.npy", np.array(["a"] * 10))
    with pytest.raises(TypeError, match="expected a real numeric array"):
        fl.score("mse", tmp_path / "s.npy", tmp_path / "p.npy")
    np.savez(tmp_path / "a.npz", x=np.zeros(10))
    with pytest.raises(ValueError, match="no array named 'q'"):
        fl.score("mse", f"{tmp_path / 'a.npz'}:q", tmp_path / "p.npy")
    with pytest.raises(ValueError, match="name the array"):
        fl.score("mse", tmp_path / "a.npz", tmp_path / "p.npy")


def test_truncated_npz_members(tmp_path):
    for save, name in ((np.savez, "stored"), (np.savez_compressed, "packed")):
        path = tmp_path / f"{name}.npz"
        save(path, y=np.arange(10_000.0))
        member = tmp_path / f"{name}-cut.npz"
        with zipfile.ZipFile(path) as zf:
            payload = zf.read("y.npy")
        with zipfile.ZipFile(member, "w", zipfile.ZIP_STORED if name == "stored"
                             else zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("y.npy", payload[:len(payload) // 2])
        with pytest.raises(ValueError, match="truncated"):
            fl.score("mse", f"{member}:y", np.zeros(10_000))


def test_bad_chunks():
    good = (np.zeros(10), np.zeros(10))
    with pytest.raises(ValueError, match="chunk 1: inputs have different row counts"):
        fl.score("mse", iter([good, (np.zeros(10), np.zeros(9))]))
    with pytest.raises(ValueError, match="chunk 1 has 3 items but chunk 0 had 2"):
        fl.score("mse", iter([good, (np.zeros(10), np.zeros(10), np.ones(10))]))
    with pytest.raises(ValueError, match="chunk 0: expected a"):
        fl.score("mse", iter([np.zeros(3)]))
    with pytest.raises(ValueError, match="chunk 1: sample_weight must be non-negative"):
        fl.score("mse", iter([good + (np.ones(10),), good + (-np.ones(10),)]))
    with pytest.raises(TypeError, match="y_true is an iterator"):
        fl.score("mse", iter([good]), np.zeros(10))
    with pytest.raises(TypeError, match="give the weights in the chunks"):
        fl.score("mse", [good], sample_weight=np.ones(10))
    with pytest.raises(TypeError, match="y_pred is required"):
        fl.score("mse", np.zeros(10))


def test_bad_losses_and_parameters():
    y = np.zeros(5)
    with pytest.raises(ValueError, match="unknown loss 'nope'"):
        fl.score(["mse", "nope"], y, y)
    with pytest.raises(TypeError, match="unexpected parameter"):
        fl.score("huber:beta=2", y, y)
    with pytest.raises(ValueError, match="delta must be > 0"):
        fl.score("huber:delta=-1", y, y)
    with pytest.raises(TypeError, match="delta must be a real number"):
        fl.score("huber:delta=big", y, y)
    with pytest.raises(ValueError, match="bad loss spec"):
        fl.score("huber:delta", y, y)
    with pytest.raises(TypeError, match="not accepted by any requested loss"):
        fl.score(["mse", "mae"], y, y, delta=2.0)
    with pytest.raises(ValueError, match="requested twice"):
        fl.score(["mse", fl.mse], y, y)
    with pytest.raises(ValueError, match="no loss requested"):
        fl.score([], y, y)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="chunk_size"):
            fl.score("mse", y, y, chunk_size=bad)


# ----------------------------------------------------------------------------- progress

def test_plain_progress_bar_reports_rows_rate_and_eta():
    stream = io.StringIO()
    bar = scoring._PlainProgress(1000, delay=0.0, stream=stream)
    bar.update(400)
    bar.last = -1.0
    bar.update(600)
    bar.close()
    out = stream.getvalue()
    assert "1,000/1,000 rows" in out and "rows/s" in out and "ETA" in out and "100.0%" in out
    assert out.endswith("\n")
    quiet = io.StringIO()
    bar = scoring._PlainProgress(1000, delay=60.0, stream=quiet)   # short work: nothing shown
    bar.update(1000)
    bar.close()
    assert quiet.getvalue() == ""


def test_progress_object_sees_every_row():
    bar = Recorder()
    fl.score("mse", np.zeros(10_000), np.zeros(10_000), chunk_size=4096, progress=bar)
    assert bar.updates == [4096, 4096, 1808] and bar.closed


# ----------------------------------------------------------------------------- memory

MEMORY_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import fastloss as fl

    def peak():   # the kernel's own high-water mark of this process's resident set
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmHWM"))

    y_path, p_path = sys.argv[1:3]
    before = peak()
    result = fl.score(["mse", "mae", "huber"], y_path, p_path)
    scored = peak()
    # Control: reading the same mapping naively must show up in the measure.
    np.load(y_path, mmap_mode="r").sum(dtype=np.float64)
    control = peak()
    print(json.dumps({"score": scored - before, "control": control - scored,
                      "mse": result["mse"].mean, "rows": result.rows}))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_peak_memory_is_bounded_by_the_chunk():
    # Its own temporary directory, removed at the end (pytest keeps tmp_path dirs around).
    with tempfile.TemporaryDirectory(prefix="fastloss-score-") as tmp:
        _check_peak_memory(Path(tmp))


def _check_peak_memory(tmp_path):
    import json
    n = 100_000_000                     # two 400 MB float32 files
    rng = np.random.default_rng(5)
    block = rng.standard_normal(1 << 20).astype(np.float32)
    for name, shift in (("y", 0), ("p", 1)):
        mm = np.lib.format.open_memmap(tmp_path / f"{name}.npy", mode="w+", dtype=np.float32,
                                       shape=(n,))
        for start in range(0, n, block.size):
            stop = min(start + block.size, n)
            mm[start:stop] = np.roll(block, shift)[:stop - start]
        mm.flush()
        del mm
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(tmp_path / "y.npy"),
                          str(tmp_path / "p.npy")], capture_output=True, text=True, env=env,
                         timeout=120, check=True)
    measured = json.loads(out.stdout)
    assert measured["rows"] == n
    assert measured["score"] < 100e6, measured
    assert measured["control"] > 300e6, measured   # the measure does see mapped pages
    # The data repeat a 2^20 block (rolled by one for p): the expected mean is that block's.
    rolled = np.roll(block, 1).astype(np.float64)
    full, rest = divmod(n, block.size)
    diffs = (block.astype(np.float64) - rolled) ** 2
    want = (full * diffs.sum() + diffs[:rest].sum()) / n
    assert measured["mse"] == pytest.approx(want, rel=1e-9)


def test_scalars_are_one_element():
    r = fl.score(["mse", "mae"], 1.0, 3.0)
    assert r["mse"].mean == 4.0 and r["mae"].sum == 2.0 and r["mse"].count == 1


class _RowwiseSquares(fl.Loss):
    """A row-wise (N, K) loss written in NumPy: l_i = sum_k (p_ik - y_i)^2, one weight per row.

    Not registered (the registry drives other tests); it stands in for the Cython row-wise
    losses to show the scorer chunks rows whatever the inputs' shapes.
    """

    name = "test_rowwise_squares"
    family = "test"

    def _partial_sums(self, y_true, y_pred, sample_weight, params):
        y, p = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
        assert y.ndim == 1 and p.shape == (len(y), 3)
        per_row = ((p - y[:, None]) ** 2).sum(axis=1)
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight)
        return math.fsum(w * per_row), math.fsum(w), len(y)


def test_rowwise_inputs_are_chunked_by_rows():
    rng = np.random.default_rng(9)
    y = rng.integers(0, 3, 10_001)
    p = rng.standard_normal((10_001, 3))
    w = rng.random(10_001)
    loss = _RowwiseSquares()
    result = fl.score(loss, y, p, sample_weight=w, chunk_size=999)
    s = result["test_rowwise_squares"]
    assert s.count == 10_001
    assert rel_close(s.mean, float(np.sum(w * ((p - y[:, None]) ** 2).sum(1)) / np.sum(w)))
    assert rel_close(s.weight_total, float(np.sum(w)))


def test_fortran_ordered_memmaps_are_released_by_columns(tmp_path, monkeypatch):
    y, p, _ = data(50_000, shape_tail=(4,))
    np.save(tmp_path / "p.npy", np.asfortranarray(p))
    mm = np.load(tmp_path / "p.npy", mmap_mode="r")
    assert mm.flags.f_contiguous and not mm.flags.c_contiguous
    released = []
    source = scoring._ArraySource(mm, "y_pred")
    with monkeypatch.context() as patch:
        patch.setattr(scoring, "_release_pages", released.append)
        source.done(source.read(0, 1000))
    assert len(released) == 4 and all(piece.flags.c_contiguous for piece in released)
    assert rel_close(fl.score("mse", y, tmp_path / "p.npy", chunk_size=3000)["mse"].mean,
                     fl.mse(y, p))
