"""The API around the kernels: inputs, layouts, outputs, errors, registry, threads, config."""

import subprocess
import sys
import threading

import numpy as np
import pytest

import fastloss as fl


def pair(n=1000, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)


# ------------------------------------------------------------------------------ inputs

def test_lists_and_integer_targets():
    assert fl.mse([1, 2, 3], [1.5, 2.0, 2.0]) == pytest.approx((0.25 + 0 + 1) / 3, abs=1e-16)
    y = np.array([1, 2, 3], dtype=np.int8)
    g = fl.mse.grad(y, np.array([1.5, 2.0, 2.0], dtype=np.float32))
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, [1 / 3, 0.0, -2 / 3], rtol=1e-7)
    assert fl.mse.grad([1, 2], [1, 3]).dtype == np.float64   # integer predictions -> float64


def test_any_shape_and_scalars():
    y, p = pair(24)
    assert fl.mse(y.reshape(2, 3, 4), p.reshape(2, 3, 4)) == pytest.approx(fl.mse(y, p), rel=1e-15)
    assert fl.mse.grad(y.reshape(4, 6), p.reshape(4, 6)).shape == (4, 6)
    assert fl.mse(np.float64(2.0), np.float64(3.0)) == 1.0


def test_layouts_give_the_same_results():
    y, p = pair(60_000)
    y2, p2 = y.reshape(300, 200), p.reshape(300, 200)
    want = fl.huber(y2, p2)
    want_g = fl.huber.grad(y2, p2)
    cases = {
        "fortran": (np.asfortranarray(y2), np.asfortranarray(p2)),
        "mixed": (np.asfortranarray(y2), p2),
        "transposed": (y2.T, p2.T),
        "strided": (y.reshape(600, 100)[::2], p.reshape(600, 100)[::2]),
    }
    for label, (a, b) in cases.items():
        assert fl.huber(a, b) == pytest.approx(fl.reference.value("huber", a, b), rel=1e-12), label
        g = fl.huber.grad(a, b)
        assert g.shape == b.shape
        np.testing.assert_allclose(g, fl.reference.grad("huber", a, b), rtol=1e-12, err_msg=label)
    assert fl.huber(y2.T, p2.T) == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(fl.huber.grad(y2.T, p2.T), want_g.T, rtol=1e-14)


def test_readonly_memmap_and_big_endian(tmp_path):
    y, p = pair(10_000)
    y.flags.writeable = False
    p.flags.writeable = False
    want = fl.mse(y, p)
    assert fl.mse(y, p) == want and fl.mse.grad(y, p).flags.writeable
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "p.npy", p)
    ym = np.load(tmp_path / "y.npy", mmap_mode="r")
    pm = np.load(tmp_path / "p.npy", mmap_mode="r")
    assert fl.mse(ym, pm) == want
    assert fl.mse(y.astype(">f8"), p.astype(">f8")) == want


def test_contiguous_inputs_are_not_copied():
    from fastloss._validation import Elementwise
    y, p = pair(1000)
    a = Elementwise(y, p, None)
    assert np.shares_memory(a.y, y) and np.shares_memory(a.p, p)
    f = np.asfortranarray(np.stack([y, p], axis=1))
    a = Elementwise(f, f.copy(order="F"), None)
    assert np.shares_memory(a.y, f)


def test_out_is_honoured():
    y, p = pair(5000)
    buf = np.empty_like(p)
    g = fl.mse.grad(y, p, out=buf)
    assert g is buf
    np.testing.assert_array_equal(buf, fl.mse.grad(y, p))
    value, g = fl.mse.value_and_grad(y, p, out=buf)
    assert g is buf and value == fl.mse(y, p)
    gbuf, hbuf = np.empty_like(p), np.empty_like(p)
    g, h = fl.mse.grad_hess(y, p, out=(gbuf, hbuf))
    assert np.shares_memory(g, gbuf) and np.shares_memory(h, hbuf)


@pytest.mark.parametrize("bad, match", [
    (np.empty(999), "shape"),
    (np.empty(1000, dtype=np.float32), "dtype"),
    (np.empty(2000)[::2], "contiguous"),
    ([0.0] * 1000, "ndarray"),
])
def test_bad_out_is_rejected(bad, match):
    y, p = pair(1000)
    with pytest.raises((ValueError, TypeError), match=match):
        fl.mse.grad(y, p, out=bad)


def test_out_overlapping_an_input_is_rejected():
    y, p = pair(1000)
    with pytest.raises(ValueError, match="overlap"):
        fl.mse.grad(y, p, out=p)
    ro = np.empty(1000)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        fl.mse.grad(y, p, out=ro)


# ------------------------------------------------------------------------------ errors

def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(5, 1\).*\(5,\)"):
        fl.mse(np.zeros((5, 1)), np.zeros(5))
    with pytest.raises(ValueError, match="sample_weight"):
        fl.mse(np.zeros(5), np.zeros(5), sample_weight=np.ones(4))


@pytest.mark.parametrize("bad", [["a", "b"], np.array([1 + 2j, 3j]), np.array([object(), 1]),
                                 np.array(["2020-01-01", "2020-01-02"], dtype="datetime64[D]")])
def test_non_numeric_inputs_raise_type_error(bad):
    with pytest.raises(TypeError, match="y_pred"):
        fl.mse([0.0, 1.0], bad)
    with pytest.raises(TypeError, match="y_true"):
        fl.mse(bad, [0.0, 1.0])


def test_ragged_list_raises_type_error():
    with pytest.raises(TypeError, match="y_true"):
        fl.mse([[1.0, 2.0], [3.0]], [1.0, 2.0])


@pytest.mark.parametrize("w, match", [([1.0, -1.0], "non-negative"), ([1.0, np.nan], "finite"),
                                      ([1.0, np.inf], "finite"), (["a", "b"], "sample_weight")])
def test_bad_sample_weight(w, match):
    with pytest.raises((ValueError, TypeError), match=match):
        fl.mse([0.0, 1.0], [1.0, 1.0], sample_weight=w)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad, match", [(-0.5, "non-negative"), (-np.inf, "finite"),
                                        (np.nan, "finite"), (np.inf, "finite")])
@pytest.mark.parametrize("where", [0, 4097, 3 * 4096 + 5, -1])
def test_bad_sample_weight_anywhere_in_a_large_array(dtype, bad, match, where):
    # The check is one blocked pass (sum and minimum): a bad weight in any block, its body or
    # its tail, on 1 or 2 threads, is found; the message is the small-array one.
    n = 4 * 4096 + 11
    w = np.ones(n, dtype)
    w[where] = bad
    y = np.zeros(n, dtype)
    for n_threads in (1, 2):
        with fl.threads(n_threads):
            for call in (fl.mse, fl.mse.grad, fl.mse.value_and_grad, fl.hinge):
                with pytest.raises(ValueError, match=f"sample_weight must be {match}"):
                    call(y, y, sample_weight=w)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_value_checks_its_weights_in_the_kernels_pass(dtype, monkeypatch):
    # A value (mean or sum) reads its weights once, in the kernel: a negative weight, however
    # small, makes the block's weight sum NaN, and the exact check then names it; -0.0 passes.
    from fastloss import _validation
    rng = np.random.default_rng(4)
    n = 3 * 4096 + 17
    y, p = rng.random(n).astype(dtype), rng.random(n).astype(dtype)
    w = rng.random(n).astype(dtype)
    want = {reduction: fl.mse(y, p, sample_weight=w, reduction=reduction)
            for reduction in ("mean", "sum")}

    def no_pass(*args):
        raise AssertionError("a separate pass over the weights")

    monkeypatch.setattr(_validation._parallel, "sum_and_min", no_pass)
    tiny = np.finfo(dtype).smallest_subnormal
    for n_threads in (1, 2):
        with fl.threads(n_threads):
            for reduction in ("mean", "sum"):
                assert fl.mse(y, p, sample_weight=w, reduction=reduction) == want[reduction]
            for where in (0, 4096, n - 1):
                for bad, match in ((-tiny, "non-negative"), (-2.0, "non-negative"),
                                   (np.nan, "finite"), (-np.inf, "finite")):
                    wb = w.copy()
                    wb[where] = bad
                    for loss in (fl.mse, fl.huber, fl.binary_cross_entropy_with_logits, fl.focal):
                        for reduction in ("mean", "sum"):
                            with pytest.raises(ValueError, match=f"sample_weight must be {match}"):
                                loss(y, p, sample_weight=wb, reduction=reduction)
            wz = w.copy()
            wz[5] = -0.0
            assert np.isfinite(fl.mse(y, p, sample_weight=wz))
    # The weights' error comes before the targets' (as when the weights were checked first).
    wb = w.copy()
    wb[3] = -1.0
    with pytest.raises(ValueError, match="sample_weight must be non-negative"):
        fl.binary_cross_entropy_with_logits(y + 2, p, sample_weight=wb)


def test_finite_weights_whose_sum_overflows_are_accepted():
    # The one-pass check sees an infinite sum; only a non-finite weight is an error. The results
    # are NumPy's: the sum overflows, the mean is inf / inf.
    y, p, w = np.array([0.0, 0.0, 1.0]), np.ones(3), np.array([1e308, 1e308, 0.0])
    assert fl.mse(y, p, sample_weight=w, reduction="sum") == np.sum(w * (y - p) ** 2) == np.inf
    assert np.isnan(fl.mse(y, p, sample_weight=w))
    assert np.array_equal(fl.mse.grad(y, p, sample_weight=w), w * ((1 / np.inf) * 2 * (p - y)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weight_sum_and_minimum_in_one_pass(dtype):
    from fastloss._kernels import _parallel
    from fastloss._validation import _parallel as best
    rng = np.random.default_rng(3)
    for n in (1, 7, 4096, 4096 * 5 + 3):
        x = rng.normal(size=n).astype(dtype)
        x[rng.integers(n, size=max(1, n // 100))] = np.nan if n > 1 else x[0]
        for module in (_parallel, best):
            for n_threads in (1, 2):
                total, low = module.sum_and_min(x, n_threads)
                assert total == _parallel.blocked_sum(x, 1) or (np.isnan(total) and n > 1)
                assert low == np.nanmin(x)
        clean = rng.random(n).astype(dtype)
        total, low = best.sum_and_min(clean, 2)
        assert total == _parallel.blocked_sum(clean, 1) == pytest.approx(clean.sum(dtype=np.float64), rel=1e-12)
        assert low == clean.min()
    assert _parallel.sum_and_min(np.empty(0), 1) == (0.0, np.inf)


@pytest.mark.parametrize("call, match", [
    (lambda: fl.huber([0.0], [1.0], delta=0.0), "delta"),
    (lambda: fl.huber([0.0], [1.0], delta=-1.0), "delta"),
    (lambda: fl.huber([0.0], [1.0], delta=np.inf), "delta"),
    (lambda: fl.huber([0.0], [1.0], delta="1"), "delta"),
    (lambda: fl.quantile([0.0], [1.0], alpha=0.0), "alpha"),
    (lambda: fl.quantile([0.0], [1.0], alpha=1.0), "alpha"),
    (lambda: fl.quantile.grad([0.0], [1.0], alpha=1.5), "alpha"),
    (lambda: fl.mse([0.0], [1.0], reduction="avg"), "reduction"),
    (lambda: fl.mse.grad([0.0], [1.0], reduction=None), "reduction"),
    (lambda: fl.mse([0.0], [1.0], delta=1.0), "delta"),
    (lambda: fl.mae.grad_hess([0.0], [1.0], hess_floor=-1.0), "hess_floor"),
])
def test_bad_parameters_name_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


# ------------------------------------------------------------------------------ registry

def test_registry():
    names = fl.available()
    for name in ("mse", "mae", "huber", "quantile", "log_cosh"):
        assert name in names
        loss = fl.get(name)
        assert isinstance(loss, fl.Loss) and loss.name == name
        assert loss.__doc__ and ".. math::" in loss.__doc__ and "Examples" in loss.__doc__
    assert fl.get("huber").defaults == {"delta": 1.0}
    assert fl.get("quantile").defaults == {"alpha": 0.5}
    assert fl.get(fl.mse) is fl.mse
    with pytest.raises(ValueError, match="unknown loss 'nope'"):
        fl.get("nope")


def test_every_registered_loss_has_a_reference():
    for name in fl.available():
        assert name in fl.reference.LOSSES or name in getattr(fl.reference, "ROW_LOSSES", {}), name


# ------------------------------------------------------------------------------ threads

def test_thread_settings():
    default = fl.get_num_threads()
    assert default >= 1
    try:
        fl.set_num_threads(3)
        assert fl.get_num_threads() == 3
        with fl.threads(1):
            assert fl.get_num_threads() == 1
        assert fl.get_num_threads() == 3
    finally:
        fl.set_num_threads(None)
    assert fl.get_num_threads() == default
    for bad in (0, -1):
        with pytest.raises(ValueError, match="n_threads"):
            fl.set_num_threads(bad)
    with pytest.raises(TypeError, match="n_threads"):
        with fl.threads(1.5):
            pass


def test_threads_context_is_per_python_thread():
    seen = {}
    inside = threading.Event()
    release = threading.Event()

    def other():
        inside.wait()
        seen["other"] = fl.get_num_threads()
        release.set()

    t = threading.Thread(target=other)
    t.start()
    default = fl.get_num_threads()
    with fl.threads(default + 5):
        inside.set()
        release.wait(10)
        seen["self"] = fl.get_num_threads()
    t.join()
    assert seen == {"self": default + 5, "other": default}


def test_default_threads_follow_openmp_environment():
    code = "import fastloss as fl; print(fl.get_num_threads())"
    env = {"OMP_NUM_THREADS": "3", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == ("3" if fl.config()["openmp"] else "1"), out.stderr


def test_default_threads_follow_threadpoolctl_limits():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not fl.config()["openmp"]:
        pytest.skip("built without OpenMP: always one thread")
    default = fl.get_num_threads()
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert fl.get_num_threads() == 1
    assert fl.get_num_threads() == default


# ------------------------------------------------------------------------------ config

def test_build_has_openmp_when_the_compiler_has_it():
    from fastloss import _build_info
    assert fl.config()["openmp"] == bool(_build_info.OPENMP_FLAGS)


def test_show_config_and_info_command(capsys):
    fl.show_config()
    text = capsys.readouterr().out
    for key in ("fastloss 0.1.0", "OpenMP:", "default threads:", "compile flags:", "-O3",
                "cpu SIMD level:"):
        assert key in text
    out = subprocess.run([sys.executable, "-m", "fastloss", "info"], capture_output=True, text=True)
    assert out.returncode == 0 and "OpenMP:" in out.stdout
    out = subprocess.run([sys.executable, "-m", "fastloss", "list"], capture_output=True, text=True)
    assert out.returncode == 0 and "huber" in out.stdout and "delta=1.0" in out.stdout


def test_misaligned_arrays_are_copied_before_a_kernel_reads_them():
    # A float array at an odd byte offset (as inside an uncompressed .npz) is valid NumPy but
    # must not reach a kernel as is (misaligned loads are undefined behaviour; UBSan flags them).
    from fastloss._validation import Elementwise
    raw = np.zeros(8 * 1000 + 1, dtype=np.uint8)
    x = np.frombuffer(raw[1:], dtype=np.float64)
    assert not x.flags.aligned
    a = Elementwise(x, x, x)
    assert a.y.flags.aligned and a.p.flags.aligned and a.w.flags.aligned
    assert fl.mse(x, x + 1.0) == 1.0
