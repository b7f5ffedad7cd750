"""What this build of fastloss is: version, OpenMP, threads, compiler flags, CPU SIMD level."""

import platform
import sys

import numpy as np

from fastloss._kernels import _buffers, _parallel
from fastloss._threads import SERIAL_THRESHOLD, get_num_threads

_SIMD_LEVELS = ("AVX512_SKX", "AVX512F", "AVX2", "AVX", "SSE42", "SSE2")


def _cpu_features():
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:   # older NumPy
        try:
            from numpy.core._multiarray_umath import __cpu_features__
        except ImportError:
            return {}
    return {k: v for k, v in __cpu_features__.items() if v}


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _variant_summary():
    """The variant each dispatched kernel module runs ("avx2", or per module if they differ)."""
    from fastloss._kernels._dispatch import loaded
    chosen = set(loaded.values())
    if len(chosen) == 1:
        return chosen.pop()
    return ", ".join(f"{m.lstrip('_')}: {v}" for m, v in sorted(loaded.items())) or "none loaded"


def config():
    """The build and runtime facts as a dict (also written into benchmark reports)."""
    from fastloss import __version__
    try:
        from fastloss import _build_info as b
        build = {"compiler": b.COMPILER, "compiler_version": b.COMPILER_VERSION,
                 "compile_args": b.COMPILE_ARGS, "link_args": b.LINK_ARGS,
                 "boundscheck": b.BOUNDSCHECK, "variants": getattr(b, "VARIANTS", {})}
    except ImportError:
        build = {"compiler": "unknown"}
    features = _cpu_features()
    simd = next((level for level in _SIMD_LEVELS if features.get(level)), "baseline")
    return {
        "version": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_simd": simd,
        "cpu_features": sorted(features),
        "openmp": _parallel.openmp_enabled(),
        "omp_num_procs": _parallel.omp_num_procs(),
        "default_threads": get_num_threads(),
        "serial_threshold": SERIAL_THRESHOLD,
        "kernel_variant": _variant_summary(),
        "kernel_variants_built": ["baseline"] + sorted(build.get("variants", {})),
        "output_cache": cache_info(),
        "build": build,
    }


def show_config(file=None):
    """Print the version, OpenMP on/off, default threads, compiler flags and SIMD level."""
    c = config()
    b = c["build"]
    lines = [
        f"fastloss {c['version']}  (Python {c['python']}, NumPy {c['numpy']})",
        f"platform:         {c['platform']}",
        f"cpu:              {c['cpu']}",
        f"cpu SIMD level:   {c['cpu_simd']}",
        f"OpenMP:           {'on' if c['openmp'] else 'off (single-threaded build)'}",
        f"default threads:  {c['default_threads']} (of {c['omp_num_procs']} processors; "
        f"serial below {c['serial_threshold']} elements)",
        f"compiler:         {b.get('compiler')} -- {b.get('compiler_version', '')}",
        f"compile flags:    {' '.join(b.get('compile_args', []))}",
        f"link flags:       {' '.join(b.get('link_args', []))}",
        f"kernel variant:   {c['kernel_variant']} (built: {', '.join(c['kernel_variants_built'])}; "
        "FASTLOSS_KERNEL_VARIANT forces one)",
        f"output cache:     {c['output_cache']['limit'] / 2**20:g} MiB limit, "
        f"{c['output_cache']['held'] / 2**20:g} MiB held (FASTLOSS_CACHE_MB; fl.empty_cache())",
    ]
    print("\n".join(lines), file=file or sys.stdout)


# ----------------------------------------------------------------------------- output cache
# Gradients and per-element values of at least 1 MiB come from a cache of freed outputs
# (fastloss._kernels._buffers): a loop that drops its last gradient before the next call gets
# the same memory back, with its pages already mapped, instead of paying the OS's page faults.


def cache_info():
    """The output cache: bytes ``held`` now and their ``limit``, ``hits`` (outputs served from
    the cache) and ``misses`` (new blocks), ``slots`` (blocks it can hold) and ``min_bytes``
    (smaller outputs bypass it)."""
    return _buffers.info()


def set_cache_limit(nbytes):
    """Keep at most `nbytes` of freed outputs for reuse (default FASTLOSS_CACHE_MB megabytes,
    1024 if unset; 0 turns the cache off). Cached blocks beyond the limit are released now."""
    if isinstance(nbytes, bool) or not isinstance(nbytes, (int, np.integer)):
        raise TypeError(f"nbytes must be an integer, got {type(nbytes).__name__}")
    _buffers.set_limit(int(nbytes))


def empty_cache():
    """Return every freed output the cache holds to the system (as torch.cuda.empty_cache)."""
    _buffers.release()
