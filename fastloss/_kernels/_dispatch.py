"""Runtime dispatch: import the best compiled variant of a kernel module for this CPU.

setup.py builds each dispatched module for the x86-64 baseline and, where the compiler can,
for AVX2 (+FMA) and AVX-512 (+FMA) (module names with an `_avx2` / `_avx512` suffix). The two
FMA variants compute bitwise identical results (the same explicit fmas, no other contraction,
the same summation order); the baseline rounds those fmas' products separately, so its exp/log
results can differ from theirs in the last bits, within the same accuracy bounds.
FASTLOSS_KERNEL_VARIANT=baseline|avx2|avx512 forces a choice (if built and supported), e.g. to
compare them.
"""

import importlib
import os

# Best first: (variant, CPU features NumPy must report for it).
_REQUIREMENTS = [
    ("avx512", ("AVX512F", "AVX512CD", "AVX512VL", "AVX512DQ", "AVX512BW", "FMA3")),
    ("avx2", ("AVX2", "FMA3")),
]

loaded = {}   # module name -> variant actually imported (show_config and reports read it)


def _cpu_features():
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:   # NumPy < 2
        try:
            from numpy.core._multiarray_umath import __cpu_features__
        except ImportError:
            return {}
    return __cpu_features__


def supported_variants():
    """Variants this CPU can run, best first, always ending with "baseline"."""
    features = _cpu_features()
    ok = [name for name, needs in _REQUIREMENTS if all(features.get(f) for f in needs)]
    return ok + ["baseline"]


def load(module):
    """Import fastloss._kernels.<module> in the best variant built and supported here."""
    candidates = supported_variants()
    forced = os.environ.get("FASTLOSS_KERNEL_VARIANT", "").strip().lower()
    if forced:
        if forced not in candidates:
            raise ImportError(f"FASTLOSS_KERNEL_VARIANT={forced!r} is not supported by this CPU "
                              f"(supported: {', '.join(candidates)})")
        candidates = [forced]
    for variant in candidates:
        suffix = "" if variant == "baseline" else "_" + variant
        try:
            mod = importlib.import_module(f"fastloss._kernels.{module}{suffix}")
        except ImportError:
            if forced:
                raise
            continue
        loaded[module] = variant
        return mod
    raise ImportError(f"no build of fastloss._kernels.{module} could be imported")


def import_variant(module, variant):
    """A specific variant of a module (tests compare variants), or None if not built/supported."""
    if variant not in supported_variants():
        return None
    suffix = "" if variant == "baseline" else "_" + variant
    try:
        return importlib.import_module(f"fastloss._kernels.{module}{suffix}")
    except ImportError:
        return None
