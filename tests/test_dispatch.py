"""Runtime dispatch: the CPU variants built here agree with the baseline (bitwise, but for the
last bits of exp/log results, which the FMA variants round once per fma)."""

import os
import subprocess
import sys

import numpy as np
import pytest

import fastloss as fl
from fastloss._kernels import _dispatch

DISPATCHED = [m for m in ("_regression", "_binary", "_multiclass", "_penalties")
              if _dispatch.import_variant(m, "baseline") is not None]


def test_the_best_supported_variant_is_loaded():
    from fastloss import _build_info
    built = ["baseline"] + [v for v in _build_info.VARIANTS]
    best = next(v for v in _dispatch.supported_variants() if v in built)
    for module in DISPATCHED:
        assert _dispatch.loaded.get(module, best) == best
    assert best in fl.config()["kernel_variant"]


FAMILY = {"_regression": "regression", "_binary": "binary", "_multiclass": "multiclass",
          "_penalties": "penalty"}

# Runs in a fresh process with FASTLOSS_KERNEL_VARIANT set: every result of the family, saved.
PROBE = """
import sys
import numpy as np
import fastloss as fl
family, path = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(0)
out = {}
for loss in [fl.get(n) for n in fl.available()] + [fl.l1_penalty, fl.l2_penalty, fl.elastic_net]:
    if loss.family != family:
        continue
    for dtype in (np.float64, np.float32):
        # 60_007: the last block ends in a part of a sub-block and of a group of lanes
        args = loss.make_inputs(60_007, dtype, rng)
        v, g = loss.value_and_grad(*args)
        key = f"{loss.name}-{np.dtype(dtype).name}"
        out[key + "-value"], out[key + "-grad"] = np.asarray(v), g
        out[key + "-value_only"] = np.asarray(loss(*args))   # the reductions' own loops
        if family in ("regression", "binary"):
            weights = rng.uniform(0.0, 2.0, len(args[0])).astype(dtype)
            out[key + "-weighted"] = np.asarray(loss(*args, sample_weight=weights))
        if hasattr(loss, "grad_hess"):   # penalties: none
            out[key + "-grad_hess_g"], out[key + "-hess"] = loss.grad_hess(*args)
np.savez(path, **out)
"""

# The losses whose kernels call _vmath's exp or log: their FMA variants' results may differ from
# the baseline's in the last bits (see _vmath.h). Every other result must be the baseline's bits.
EXP_LOG = {"binary_cross_entropy", "binary_cross_entropy_with_logits", "focal", "log_cosh",
           "cross_entropy", "categorical_cross_entropy", "kl_divergence", "softmax_focal"}


def _results(module, variant, path):
    env = dict(os.environ, FASTLOSS_KERNEL_VARIANT=variant)
    run = subprocess.run([sys.executable, "-c", PROBE, FAMILY[module], str(path)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    with np.load(path) as saved:
        return dict(saved)


def _within_rounding(got, want):
    """got is want up to the last bits a rounding makes: 4 ulp of its own dtype, or 64 float64
    ulp of the array's largest magnitude (a cancellation's result inherits its inputs' error)."""
    ok = ~np.isnan(want)
    if not np.array_equal(np.isnan(got), ~ok):
        return False
    own_ulps = 4 * np.spacing(np.abs(want[ok])).astype(np.float64)   # in want's dtype
    got, want = got[ok].astype(np.float64), want[ok].astype(np.float64)
    scale = np.max(np.abs(want), initial=0.0)
    err = np.abs(got - want)
    return bool(np.all((err <= own_ulps) | (err <= 64 * np.finfo(np.float64).eps * scale)))


@pytest.mark.parametrize("module", DISPATCHED)
def test_variants_agree_with_the_baseline(module, tmp_path):
    """AVX2 and AVX-512 give each other's bits; the baseline's too, except for the exp/log losses,
    whose FMA results are within rounding of the baseline's and not all of the same bits."""
    fma = [v for v in ("avx2", "avx512") if _dispatch.import_variant(module, v) is not None]
    if not fma:
        pytest.skip("no FMA variant built or supported by this CPU")
    base = _results(module, "baseline", tmp_path / "baseline.npz")
    assert base                              # some loss of the family was measured
    runs = {v: _results(module, v, tmp_path / f"{v}.npz") for v in fma}
    for v in fma[1:]:
        for key in base:
            assert runs[v][key].tobytes() == runs[fma[0]][key].tobytes(), (v, key)
    got, differs = runs[fma[0]], False
    for key, want in base.items():
        if got[key].tobytes() == want.tobytes():
            continue
        assert key.split("-")[0] in EXP_LOG, f"{key}: {fma[0]} differs from the baseline"
        assert _within_rounding(got[key], want), key
        differs = True
    if module in ("_binary", "_multiclass") and not _dispatch.import_variant("_vmath", "baseline").HAS_FMA:
        assert differs, "no exp/log result differs: are the fmas compiled as fmas?"


def test_forcing_an_unsupported_variant_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("FASTLOSS_KERNEL_VARIANT", "sse1")
    with pytest.raises(ImportError, match="FASTLOSS_KERNEL_VARIANT"):
        _dispatch.load("_regression")
