"""Runtime dispatch: every CPU variant built here gives bitwise the baseline's results."""

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

# Runs in a fresh process with FASTLOSS_KERNEL_VARIANT set: a digest of every result bit.
PROBE = """
import hashlib, sys
import numpy as np
import fastloss as fl
family = sys.argv[1]
rng = np.random.default_rng(0)
out = []
for loss in [fl.get(n) for n in fl.available()] + [fl.l1_penalty, fl.l2_penalty, fl.elastic_net]:
    name = loss.name
    if loss.family != family:
        continue
    for dtype in (np.float64, np.float32):
        args = loss.make_inputs(60_000, dtype, rng)
        v, g = loss.value_and_grad(*args)
        gh = loss.grad_hess(*args) if hasattr(loss, "grad_hess") else (g, g)   # penalties: none
        digest = hashlib.sha1(g.tobytes() + gh[0].tobytes() + gh[1].tobytes()).hexdigest()
        out.append((name, float(v).hex(), digest))
print(out)
"""


@pytest.mark.parametrize("variant", ["avx2", "avx512"])
@pytest.mark.parametrize("module", DISPATCHED)
def test_variants_are_bitwise_equal_to_baseline(module, variant):
    if _dispatch.import_variant(module, variant) is None:
        pytest.skip(f"{variant} not built or not supported by this CPU")
    results = []
    for forced in ("baseline", variant):
        env = dict(os.environ, FASTLOSS_KERNEL_VARIANT=forced)
        run = subprocess.run([sys.executable, "-c", PROBE, FAMILY[module]], env=env,
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        results.append(run.stdout)
    assert "(" in results[0]          # some loss of the family was measured
    assert results[0] == results[1]


def test_forcing_an_unsupported_variant_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("FASTLOSS_KERNEL_VARIANT", "sse1")
    with pytest.raises(ImportError, match="FASTLOSS_KERNEL_VARIANT"):
        _dispatch.load("_regression")
