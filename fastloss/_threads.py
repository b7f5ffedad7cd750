"""Thread control for the kernels.

Semantics: ``set_num_threads`` sets the process-wide default; ``threads(n)`` overrides it for the
calling Python thread only, inside the ``with`` block (other Python threads are unaffected). With
neither, the default follows OpenMP's own setting at call time (OMP_NUM_THREADS, or a
threadpoolctl limit on the OpenMP runtime). Inputs smaller than a measured threshold run
serially whatever the setting: starting a thread team costs more than the work.

Fork: GNU OpenMP (libgomp) is not fork-safe. A child forked (multiprocessing's "fork" start
method) after the parent ran a parallel kernel hangs in its first parallel region. So such a
child runs every kernel serially: same results (the reductions do not depend on the thread
count), no hang. Use the "spawn" or "forkserver" start method to get threads in the workers.
"""

import os
import threading
from contextlib import contextmanager
from operator import index

from fastloss._kernels import _parallel

# Below this many elements the kernels run on one thread. benchmarks/threshold.py measures the
# crossover. On the quiet 2-core development machine two threads first win at 2^13 for every
# elementwise loss (mse 1.13x, bce-with-logits 1.25x, focal 1.76x at 2^13; 0.6-0.95x at 2^12),
# cheap or not: a reduction block is 4096 elements, so below 2^13 one thread has all the work
# anyway. The results are bitwise the same either way.
SERIAL_THRESHOLD = 1 << 13

_default = None          # set_num_threads(); None: follow OpenMP
_local = threading.local()
_team_started = False    # this process has run a kernel on more than one thread
_serial_only = False     # forked after that: OpenMP teams would hang, stay serial


def _after_fork_in_child():
    global _serial_only
    _serial_only = _serial_only or _team_started


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _check(n):
    try:
        n = index(n)
    except TypeError:
        raise TypeError(f"n_threads must be an integer, got {type(n).__name__}") from None
    if n < 1:
        raise ValueError(f"n_threads must be >= 1, got {n}")
    return n


def get_num_threads():
    """The number of threads the kernels use for large inputs in this Python thread."""
    if _serial_only:        # a child forked after parallel kernels ran (see the module doc)
        return 1
    override = getattr(_local, "n", None)
    if override is not None:
        return override
    if _default is not None:
        return _default
    return max(1, _parallel.omp_max_threads())


def set_num_threads(n):
    """Set the process-wide default thread count (``None`` restores OpenMP's default)."""
    global _default
    _default = None if n is None else _check(n)


@contextmanager
def threads(n):
    """Use ``n`` threads for calls made by this Python thread inside the block."""
    n = _check(n)
    previous = getattr(_local, "n", None)
    _local.n = n
    try:
        yield n
    finally:
        _local.n = previous


def threads_for(n_elements):
    """Thread count for a kernel call over n_elements (serial below the threshold)."""
    global _team_started
    if n_elements < SERIAL_THRESHOLD or _serial_only:
        return 1
    n = get_num_threads()
    if n > 1:
        _team_started = True
    return n
