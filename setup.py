"""Build fastloss's Cython kernels.

Extensions are declared as data (EXTENSIONS); Tempita templates are rendered before cythonize.
OpenMP is probed by compiling a tiny program: without it the build warns and goes on
single-threaded, unless FASTLOSS_REQUIRE_OPENMP=1 makes that fatal.

Environment switches:
  FASTLOSS_REQUIRE_OPENMP=1   fail the build when the compiler has no OpenMP
  FASTLOSS_DISABLE_OPENMP=1   build without OpenMP (single-threaded)
  FASTLOSS_BOUNDSCHECK=1      turn Cython bounds/wraparound checks back on (debugging)
  FASTLOSS_SANITIZE=1         -O1 -g -fsanitize=address,undefined (see `make sanitize`)
  FASTLOSS_NATIVE=1           add -march=native (not portable: local experiments only)
  FASTLOSS_VARIANTS=baseline  build only the baseline kernels (faster builds while developing)
"""

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import warnings
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from Cython import Tempita
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).parent.resolve()
KERNELS = HERE / "fastloss" / "_kernels"

# One entry per compiled module: (module name, source, template variables or None).
# Elementwise families share one loop template; the math of each family is in _math_<family>.pxd.
# Modules named in DISPATCHED are also built as CPU variants (below), chosen at import time.
EXTENSIONS = [
    ("fastloss._kernels._parallel", "_parallel.pyx", None),
    ("fastloss._kernels._regression", "_elementwise.pyx.tp", {"family": "regression"}),
    ("fastloss._kernels._binary", "_elementwise.pyx.tp", {"family": "binary"}),
    ("fastloss._kernels._binary_labels", "_binary_labels.pyx", None),
    ("fastloss._kernels._multiclass", "_multiclass.pyx", None),
    ("fastloss._kernels._pairwise", "_pairwise.pyx", None),
    ("fastloss._kernels._penalties", "_penalties.pyx", None),
    ("fastloss._kernels._vmath", "_vmath.pyx", None),
    ("fastloss._kernels._buffers", "_buffers.pyx", None),
]
# NumPy API levels beyond the default that a module needs (its memory-handler API: NEP 49).
NUMPY_TARGET = {"fastloss._kernels._buffers": "NPY_1_22_API_VERSION"}
# gcc declines to inline the larger per-sample math (focal's value, gradient and limits) into
# the loops, and a call stops vectorization; these let it inline, for the modules that need it
# (they cost compile time). Compilers that do not take them skip them. The large-function limits:
# a focal block function holds eight loops of its math (labels or not, gamma = 2 or not,
# weighted or not); at gcc's defaults the last of them called _focal_from, 7x slower (focal's
# value at gamma = 1.5: 290 ms against value_and_grad's 46 ms at 1e7, measured).
INLINED = {"fastloss._kernels._binary", "fastloss._kernels._regression"}
INLINE_PARAMS = ["--param", "max-inline-insns-single=1000", "--param", "large-function-growth=2000",
                 "--param", "large-function-insns=20000", "--param", "inline-unit-growth=400"]
# C headers the kernels include: a change to one rebuilds the extensions that include it (every
# extension, or those named in MODULE_HEADERS).
HEADERS = ["_vmath.h", "_omp_shim.h"]
MODULE_HEADERS = {"fastloss._kernels._multiclass": ["_lanes.h"]}
# _parallel for the bandwidth probe (fastloss.bench.probe): its floor must use the same vector
# width as the kernels it is compared with.
DISPATCHED = {"fastloss._kernels._regression", "fastloss._kernels._binary",
              "fastloss._kernels._multiclass", "fastloss._kernels._penalties",
              "fastloss._kernels._parallel", "fastloss._kernels._vmath"}

# Runtime dispatch (NumPy's approach): the baseline build runs on any x86-64; these variants are
# compiled next to it and fastloss._kernels._dispatch imports the best one the CPU supports.
# -ffp-contract=off (all builds): the compiler fuses no multiply-add on its own, so AVX2 and AVX-512
# give the same bits; the kernels' explicit fmas (_vmath.h) round once there and twice in the baseline.
VARIANTS = [
    ("avx2", ["-mavx2", "-mfma"]),
    ("avx512", ["-mfma", "-mavx512f", "-mavx512cd", "-mavx512vl", "-mavx512dq", "-mavx512bw"]),
]


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _render_template(template, target, variables):
    text = Tempita.Template((KERNELS / template).read_text(), name=template).substitute(**variables)
    banner = f"# Generated from fastloss/_kernels/{template} by setup.py; do not edit.\n"
    out = KERNELS / target
    new = banner + text
    if not out.exists() or out.read_text() != new:
        out.write_text(new)


def _compiler_command():
    return (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()


def _probe_openmp(flag):
    """True when the C compiler builds and links a tiny OpenMP program with `flag`."""
    source = textwrap.dedent("""
        #include <omp.h>
        int main(void) {
            int n = 0;
            #pragma omp parallel reduction(+:n)
            n += 1;
            return omp_get_max_threads() > 0 && n > 0 ? 0 : 1;
        }
    """)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "probe.c"
        src.write_text(source)
        cmd = _compiler_command() + [flag, str(src), "-o", str(Path(tmp) / "probe")]
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.SubprocessError):
            return False
        return result.returncode == 0


def _compiler_accepts(flags):
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "probe.c"
        src.write_text("int main(void) { return 0; }\n")
        cmd = _compiler_command() + flags + ["-c", str(src), "-o", str(Path(tmp) / "probe.o")]
        try:
            return subprocess.run(cmd, capture_output=True, timeout=60).returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False


def _variants():
    """The CPU variants to build: x86-64 only, those the compiler accepts."""
    import platform
    if os.environ.get("FASTLOSS_VARIANTS", "").strip().lower() in {"baseline", "none", "0"}:
        return []
    if platform.machine().lower() not in {"x86_64", "amd64"}:
        return []
    return [(name, flags) for name, flags in VARIANTS if _compiler_accepts(flags)]


def _openmp_flags():
    if _env_flag("FASTLOSS_DISABLE_OPENMP"):
        return []
    for flag in ("-fopenmp",):
        if _probe_openmp(flag):
            return [flag]
    message = ("fastloss: the C compiler has no usable OpenMP; building single-threaded kernels. "
               "Install an OpenMP-capable compiler (gcc, or clang with libomp) for parallel kernels.")
    if _env_flag("FASTLOSS_REQUIRE_OPENMP"):
        raise SystemExit(message + " (FASTLOSS_REQUIRE_OPENMP is set)")
    warnings.warn(message)
    return []


def _compile_flags():
    if _env_flag("FASTLOSS_SANITIZE"):
        return ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined"], \
               ["-fsanitize=address,undefined"]
    # No -ffast-math: NaN and infinities must propagate. These two change no result: they let
    # branches on comparisons become selects (vectorizable) and libm calls skip errno.
    flags = ["-O3", "-fno-trapping-math", "-fno-math-errno", "-ffp-contract=off"]
    if _env_flag("FASTLOSS_NATIVE"):
        flags.append("-march=native")
    return flags, []


def _write_build_info(compile_args, link_args, openmp, variants):
    cc = _compiler_command()
    try:
        version = subprocess.run(cc + ["--version"], capture_output=True, text=True,
                                 timeout=30).stdout.splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        version = "unknown"
    (HERE / "fastloss" / "_build_info.py").write_text(textwrap.dedent(f'''\
        # Written by setup.py at build time; do not edit.
        COMPILER = {" ".join(cc)!r}
        COMPILER_VERSION = {version!r}
        COMPILE_ARGS = {compile_args!r}
        LINK_ARGS = {link_args!r}
        OPENMP_FLAGS = {openmp!r}
        BOUNDSCHECK = {_env_flag("FASTLOSS_BOUNDSCHECK")!r}
        VARIANTS = {variants!r}
    '''))


def _source_for(name, source, variables, module):
    """The .pyx to compile for `module` (a rendered template, or a copy for a CPU variant)."""
    target = module.rsplit(".", 1)[1] + ".pyx"
    if source.endswith(".tp"):
        _render_template(source, target, variables)
    elif target != source:
        text = f"# Copied from fastloss/_kernels/{source} by setup.py; do not edit.\n"
        text += (KERNELS / source).read_text()
        out = KERNELS / target
        if not out.exists() or out.read_text() != text:
            out.write_text(text)
    return target


def extensions():
    openmp = _openmp_flags()
    compile_args, link_args = _compile_flags()
    compile_args = compile_args + openmp
    link_args = link_args + openmp
    variants = _variants()
    inline_params = INLINE_PARAMS if _compiler_accepts(INLINE_PARAMS) else []
    _write_build_info(compile_args, link_args, openmp, {v: f for v, f in variants})
    modules = []
    for name, source, variables in EXTENSIONS:
        builds = [(name, [])]
        if name in DISPATCHED:
            builds += [(f"{name}_{variant}", flags) for variant, flags in variants]
        for module, extra in builds:
            target = _source_for(name, source, variables, module)
            modules.append(Extension(
                module, [str(Path("fastloss") / "_kernels" / target)],
                include_dirs=[np.get_include(), str(KERNELS)],
                depends=[str(Path("fastloss") / "_kernels" / header)
                         for header in HEADERS + MODULE_HEADERS.get(name, [])],
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")]
                + ([("NPY_TARGET_VERSION", NUMPY_TARGET[name])] if name in NUMPY_TARGET else []),
                extra_compile_args=compile_args + extra + (inline_params if name in INLINED else []),
                extra_link_args=link_args,
            ))
    checks = _env_flag("FASTLOSS_BOUNDSCHECK")
    directives = {
        "language_level": 3,
        "boundscheck": checks,
        "wraparound": checks,
        "initializedcheck": checks,
        "cdivision": True,
        "embedsignature": True,
    }
    return cythonize(modules, compiler_directives=directives, quiet=True,
                     nthreads=int(os.environ.get("FASTLOSS_BUILD_JOBS", "0")) or os.cpu_count() or 1)


class ParallelBuildExt(build_ext):
    """Compile the extensions in parallel (one job per core) unless -j says otherwise."""

    def finalize_options(self):
        super().finalize_options()
        if not self.parallel:
            self.parallel = os.cpu_count() or 1


setup(ext_modules=extensions(), cmdclass={"build_ext": ParallelBuildExt})
