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

HERE = Path(__file__).parent.resolve()
KERNELS = HERE / "fastloss" / "_kernels"

# One entry per compiled module: (module name, source, template variables or None).
# Elementwise families share one loop template; the math of each family is in _math_<family>.pxd.
EXTENSIONS = [
    ("fastloss._kernels._parallel", "_parallel.pyx", None),
    ("fastloss._kernels._regression", "_elementwise.pyx.tp", {"family": "regression"}),
    ("fastloss._kernels._pairwise", "_pairwise.pyx", None),
    ("fastloss._kernels._penalties", "_penalties.pyx", None),
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
    flags = ["-O3"]
    if _env_flag("FASTLOSS_NATIVE"):
        flags.append("-march=native")
    return flags, []


def _write_build_info(compile_args, link_args, openmp):
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
    '''))


def extensions():
    openmp = _openmp_flags()
    compile_args, link_args = _compile_flags()
    compile_args = compile_args + openmp
    link_args = link_args + openmp
    _write_build_info(compile_args, link_args, openmp)
    modules = []
    for name, source, variables in EXTENSIONS:
        if source.endswith(".tp"):
            target = name.rsplit(".", 1)[1] + ".pyx"
            _render_template(source, target, variables)
            source = target
        modules.append(Extension(
            name, [str(Path("fastloss") / "_kernels" / source)],
            include_dirs=[np.get_include(), str(KERNELS)],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
            extra_compile_args=compile_args,
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


setup(ext_modules=extensions())
