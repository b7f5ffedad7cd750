"""The timer: warm-up, calibrated inner loops, repeats; the median and the spread.

Like ``timeit``: a call faster than ``sample_time`` is repeated ``loops`` times per sample so the
clock's resolution and overhead do not dominate; the garbage collector is off while timing.
Every sample (seconds per call) is kept, so reports and ``compare`` can judge the noise.
"""

import contextlib
import gc
import math
import time
from dataclasses import dataclass, field


@dataclass
class Budget:
    """How long to time one measurement."""
    seconds: float = 1.0         # total time aimed at for the samples of one measurement
    sample_time: float = 1e-3    # each sample lasts at least this long (inner loops)
    min_repeats: int = 5         # samples, at least (even if that exceeds `seconds`)
    max_repeats: int = 50        # samples, at most


QUICK = Budget(seconds=0.05, sample_time=2e-4, min_repeats=3, max_repeats=15)
FULL = Budget(seconds=1.0, sample_time=1e-3, min_repeats=5, max_repeats=50)


@dataclass
class Timing:
    """Seconds per call: every sample, and their summary."""
    samples: list = field(default_factory=list)
    loops: int = 1

    @property
    def median(self):
        return _quantile(sorted(self.samples), 0.5)

    def summary(self):
        s = sorted(self.samples)
        return {"median": _quantile(s, 0.5), "min": s[0], "max": s[-1],
                "q1": _quantile(s, 0.25), "q3": _quantile(s, 0.75),
                "repeats": len(s), "loops": self.loops, "samples": list(self.samples)}


def _quantile(sorted_values, q):
    """Linear-interpolated quantile of a sorted list (NumPy's default method)."""
    if not sorted_values:
        return math.nan
    pos = (len(sorted_values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _run(call, loops):
    start = time.perf_counter()
    for _ in range(loops):
        call()
    return time.perf_counter() - start


@contextlib.contextmanager
def _gc_off():
    """The garbage collector off for the timed samples, as timeit does."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _calibrated_loops(call, budget):
    """(inner loops per sample, seconds per sample) from one more call's cost."""
    estimate = max(_run(call, 1), 1e-9)
    loops = max(1, math.ceil(budget.sample_time / estimate))
    return loops, estimate * loops


def _repeats(budget, per_sample):
    return max(budget.min_repeats, min(budget.max_repeats, int(budget.seconds / per_sample)))


def measure(call, budget):
    """Time `call()` (already warmed up once by the caller's correctness check).

    One more untimed-for-the-result call estimates its cost; that fixes the inner loops and the
    number of samples within the budget.
    """
    with _gc_off():
        loops, per_sample = _calibrated_loops(call, budget)
        samples = [_run(call, loops) / loops for _ in range(_repeats(budget, per_sample))]
    return Timing(samples=samples, loops=loops)


def measure_side_by_side(call, other, budget, pause=None, warm_up=False):
    """Time `call()` and `other()` in alternating samples (call, other, other, call, ...).

    On a shared machine the memory speed drifts within seconds; timed apart, a kernel and the
    bandwidth floor it is compared with can see different machines. Alternated, each sample of
    one has a sample of the other next to it, so the ratio of their medians is taken side by
    side. Each goes first in every other pair, so neither always starts on caches the other
    has just filled or evicted. Inner loops are calibrated for each as in ``measure``; the
    samples are budgeted for the pair. `pause()`, if given, runs before every sample (and each
    calibration): ``settle``, when the two are libraries whose thread pools spin after a call
    and would take the other's cores. With `warm_up`, one untimed call of the function sampled
    next precedes each sample: it wakes that function's thread pool (timed right after a pause
    or the other's sample, the first call pays the wake-up, which took 0.3 to 1 ms at 10^6
    elements). Returns (call's Timing, other's Timing), with the same number of samples.
    """
    def sample(fn, loops):
        if pause is not None:
            pause()
        if warm_up:
            fn()
        return _run(fn, loops) / loops

    with _gc_off():
        if pause is not None:
            pause()
        loops_call, per_call = _calibrated_loops(call, budget)
        if pause is not None:
            pause()
        loops_other, per_other = _calibrated_loops(other, budget)
        mine, theirs = [], []
        for k in range(_repeats(budget, per_call + per_other)):
            if k % 2 == 0:
                mine.append(sample(call, loops_call))
            theirs.append(sample(other, loops_other))
            if k % 2 == 1:
                mine.append(sample(call, loops_call))
    return Timing(samples=mine, loops=loops_call), Timing(samples=theirs, loops=loops_other)


# ---------------------------------------------------------------------------- settling

SETTLE_SECONDS = 0.05      # the pause where the threads' states cannot be read (not Linux)
SETTLE_LIMIT = 0.3         # the longest wait for other threads to go idle
_POLL = 0.005


def _running_threads():
    """Ids of this process's threads in state R (running), except the caller; None when
    /proc cannot tell (not Linux)."""
    import os
    import threading
    me = threading.get_native_id()
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    running = set()
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                state = f.read().rpartition(")")[2].split()[0]
        except (OSError, IndexError):
            continue                          # the thread ended meanwhile
        if state == "R" and int(tid) != me:
            running.add(tid)
    return running


def settle():
    """Wait until no other thread of this process runs, so the next measurement has the cores.

    Thread pools spin after their last task before they sleep: OpenBLAS's worker (np.dot, and
    the NumPy reference where it uses BLAS) for about 0.1 to 0.15 s on this project's machine,
    longer than any fixed pause the run could afford before each measurement. A 2-thread
    fastloss call timed meanwhile shares one core with the spinner and waits at each barrier
    for a time slice: 150 us calls measured 4 to 12 ms. So: poll the threads' states every
    5 ms until none but the caller has been running twice in a row (at most SETTLE_LIMIT s).
    Returns the seconds waited."""
    start = time.perf_counter()
    quiet = 0
    while quiet < 2:
        running = _running_threads()
        if running is None:
            time.sleep(SETTLE_SECONDS)
            break
        quiet = quiet + 1 if not running else 0
        if time.perf_counter() - start > SETTLE_LIMIT:
            break
        time.sleep(_POLL)
    return time.perf_counter() - start
