"""Runtime dispatch: every CPU variant built here gives bitwise the baseline's results."""

import os
import subprocess
import sys

import numpy as np
import pytest

import fastloss as fl
from fastloss._kernels import _dispatch

DISPATCHED = [m for m in ("_regression", "_binary", "_multiclass")
              if _dispatch.import_variant(m, "baseline") is not None]


def test_the_best_supported_variant_is_loaded():
    from fastloss import _build_info
    built = ["baseline"] + [v for v in _build_info.VARIANTS]
    best = next(v for v in _dispatch.supported_variants() if v in built)
    for module in DISPATCHED:
        assert _dispatch.loaded.get(module, best) == best
    assert best in fl.config()["kernel_variant"]


@pytest.mark.parametrize("variant", ["avx2", "avx512"])
@pytest.mark.parametrize("module", DISPATCHED)
def test_variants_are_bitwise_equal_to_baseline(module, variant):
    fast = _dispatch.import_variant(module, variant)
    if fast is None:
        pytest.skip(f"{variant} not built or not supported by this CPU")
    base = _dispatch.import_variant(module, "baseline")
    rng = np.random.default_rng(0)
    if hasattr(base, "KERNELS"):   # elementwise family: same kernel table in both
        y = rng.standard_normal(50_001)
        p = y + rng.standard_normal(50_001) * 3
        w = rng.uniform(0, 2, y.size)
        for name, table in base.KERNELS.items():
            n_params = len(fl.get(name).params)
            params = [fl.get(name).bind({})[i] for i in range(n_params)]
            for key in table:
                yk = y.astype(np.float64 if key[0] == "f8" else np.float32)
                pk = p.astype(np.float64 if key[1] == "f8" else np.float32)
                wk = w.astype(yk.dtype)
                a = table[key][0](yk, pk, wk, *params, 2)
                b = fast.KERNELS[name][key][0](yk, pk, wk, *params, 2)
                assert a == b, (name, key)
                ga, gb = np.empty_like(pk), np.empty_like(pk)
                va = table[key][3](yk, pk, wk, ga, 1e-3, *params, 2)
                vb = fast.KERNELS[name][key][3](yk, pk, wk, gb, 1e-3, *params, 2)
                assert va == vb
                np.testing.assert_array_equal(ga, gb)
    else:   # other families: compare through the public API in two processes
        code = ("import numpy as np, fastloss as fl\n"
                "rng = np.random.default_rng(0)\n"
                "out = []\n"
                "for name in fl.available():\n"
                "    loss = fl.get(name)\n"
                "    if loss.family != 'multiclass': continue\n"
                "    args = loss.make_inputs(40_000, np.float64, rng)\n"
                "    v, g = loss.value_and_grad(*args)\n"
                "    out.append((name, float(v).hex(), float(np.sum(g)).hex()))\n"
                "print(out)\n")
        results = []
        for forced in ("baseline", variant):
            env = dict(os.environ, FASTLOSS_KERNEL_VARIANT=forced)
            run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                 text=True, timeout=120)
            assert run.returncode == 0, run.stderr
            results.append(run.stdout)
        assert results[0] == results[1]


def test_forcing_an_unsupported_variant_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("FASTLOSS_KERNEL_VARIANT", "sse1")
    with pytest.raises(ImportError, match="FASTLOSS_KERNEL_VARIANT"):
        _dispatch.load("_regression")
