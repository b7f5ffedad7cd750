"""`cimport fastloss` from another Cython extension, built at test time in a temporary directory.

Skipped (with the reason) only when there is no C compiler; Cython and setuptools come with the
test extras.
"""

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import numpy as np
import pytest

import fastloss as fl

PACKAGE_ROOT = Path(fl.__file__).resolve().parent.parent    # holds fastloss/__init__.pxd


def _compiler():
    command = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return shutil.which(shlex.split(command)[0])


pytestmark = pytest.mark.skipif(_compiler() is None,
                                reason="no C compiler found to build a test extension")

EXTENSION = textwrap.dedent("""
    # cython: language_level=3
    cimport fastloss
    from fastloss cimport closs_grad_mse, loss_grad_t, grad_hess_t, log1pexp

    def mse_value_grad(double y, double p):
        cdef loss_grad_t r
        with nogil:                          # the functions are nogil
            r = closs_grad_mse(y, p)
        return r.loss, r.grad

    def softplus(double x):
        return log1pexp(x)

    def huber(double y, double p, double delta):
        cdef grad_hess_t gh = fastloss.cgrad_hess_huber(y, p, delta)
        return fastloss.closs_huber(y, p, delta), gh.grad, gh.hess

    def sign(double x):
        return fastloss.sign_nan(x)
""")

SETUP = textwrap.dedent("""
    import sys
    from setuptools import Extension, setup
    from Cython.Build import cythonize
    setup(name="uses_fastloss", script_args=["build_ext", "--inplace"],
          ext_modules=cythonize([Extension("uses_fastloss", ["uses_fastloss.pyx"])],
                                include_path=[sys.argv[1]], quiet=True))
""")


@pytest.fixture(scope="module")
def extension(tmp_path_factory):
    pytest.importorskip("Cython", reason="Cython is in the test extras")
    build = tmp_path_factory.mktemp("cimport")
    (build / "uses_fastloss.pyx").write_text(EXTENSION)
    (build / "setup.py").write_text(SETUP)
    result = subprocess.run([sys.executable, "setup.py", str(PACKAGE_ROOT)], cwd=build,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (built,) = build.glob("uses_fastloss*.so") or build.glob("uses_fastloss*.pyd")
    spec = importlib.util.spec_from_file_location("uses_fastloss", built)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_pxd_files_are_package_data():
    assert (PACKAGE_ROOT / "fastloss" / "__init__.pxd").is_file()
    pyproject = PACKAGE_ROOT / "pyproject.toml"
    if pyproject.exists():      # a source tree: its package-data must ship the .pxd files
        text = pyproject.read_text()
        assert '"*.pxd"' in text and '"_kernels/*.pxd"' in text


def test_mse_value_and_grad_for_one_sample(extension):
    assert extension.mse_value_grad(1.0, 3.5) == (6.25, 5.0)
    value, grad = fl.mse.value_and_grad([-0.3], [0.9], reduction="sum")
    assert extension.mse_value_grad(-0.3, 0.9) == (value, grad[0])


def test_log1pexp_is_exact_at_the_extremes(extension):
    assert extension.softplus(40.0) == 40.0          # 40 + log1p(exp(-40)) rounds to 40
    assert extension.softplus(-800.0) == 0.0
    assert extension.softplus(0.0) == np.log(2.0)
    assert extension.softplus(800.0) == 800.0
    assert extension.softplus(np.inf) == np.inf


def test_huber_matches_the_python_loss(extension):
    for y, p in [(0.0, 0.5), (0.0, 3.0), (2.0, -1.0)]:
        value, grad, hess = extension.huber(y, p, 1.5)
        assert value == fl.huber([y], [p], delta=1.5, reduction="sum")
        g, h = fl.huber.grad_hess([y], [p], delta=1.5)
        assert (grad, hess) == (g[0], h[0])
    assert np.isnan(extension.sign(np.nan)) and extension.sign(-2.0) == -1.0
