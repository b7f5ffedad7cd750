"""The built kernels call no loss math out of line.

Every loop of a kernel must inline the per-sample math (_math_<family>.pxd) and the exp/log of
_vmath.h: a call stops gcc vectorizing the loop, and costs 5x to 9x (log_cosh.grad and focal's
value at gamma != 2 did, before the chunk functions stopped being inline and setup.py raised
gcc's inlining limits for _binary and _regression). An out-of-line copy of such a function is a
local symbol of the extension: none may exist. Checked on gcc's optimized builds (the sanitizer
build is -O1 and inlines less).
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import fastloss._build_info as info
import fastloss._kernels

KERNELS = Path(fastloss._kernels.__file__).parent
OUT_OF_LINE = re.compile(r" [tT] (\S*(_math_(binary|regression)|fl_exp|fl_log|fl__)\S*)$")


@pytest.mark.skipif(shutil.which("nm") is None, reason="needs nm (binutils)")
@pytest.mark.skipif(info.COMPILER != "gcc" or "-O3" not in info.COMPILE_ARGS,
                    reason="checked on gcc's -O3 builds")
@pytest.mark.parametrize("family", ["_binary", "_regression", "_multiclass", "_penalties"])
def test_no_loss_math_is_called_out_of_line(family):
    libraries = sorted(KERNELS.glob(family + "*.so"))
    assert libraries, f"no {family} extension built"
    for library in libraries:
        symbols = subprocess.run(["nm", str(library)], capture_output=True, text=True,
                                 check=True).stdout.splitlines()
        out_of_line = [m.group(1) for line in symbols if (m := OUT_OF_LINE.search(line))]
        assert not out_of_line, f"{library.name} calls, out of line: {out_of_line}"
