"""The bandwidth probe: how fast this machine can merely stream a case's bytes, same threads.

The floor of a value is reading the inputs once; the floor of a gradient or of a fused value
and gradient is reading the inputs once and writing the gradient once (for grad_hess, the
gradient and the Hessian). The probe times exactly
that with small OpenMP kernels in ``fastloss._kernels._parallel`` (``stream_read``,
``stream_read_write``), which use the loss kernels' own blocked, statically scheduled loops, built for the same
CPU variant. Reading is an integer XOR of the bytes: the least work that still reads them.

The probe streams buffers of its own with the same byte counts as the case (the inputs split
into two streams, the output a third), in the inputs' float dtype when they share one
(float64 otherwise). It allocates the output it writes on each call as fastloss allocates its
outputs (through fastloss's output cache, which a call that drops its last result reuses), so
"% of floor" compares like with like.
"""

import numpy as np

import fastloss as fl
from fastloss import _threads, _validation
from fastloss._kernels._dispatch import load
from fastloss.bench import timing
from fastloss.bench.cases import Impl

# The probe loops in the CPU variant the kernels run in (same vector width).
_parallel = load("_parallel")

# grad_hess writes two arrays: one written stream of both arrays' bytes has the same floor.
KINDS = {"value": "read", "grad": "read_write", "value_and_grad": "read_write",
         "grad_hess": "read_write"}


def probe_dtype(inputs):
    dtypes = {np.asarray(a).dtype for a in inputs}
    if len(dtypes) == 1:
        dtype = dtypes.pop()
        if dtype in (np.float32, np.float64):
            return dtype
    return np.dtype(np.float64)


def probe_impl(kind, input_bytes, output_bytes, dtype, n_threads):
    """An Impl streaming `input_bytes` (and writing `output_bytes` for kind "read_write").

    Like the loss kernels, it runs serially below fastloss's serial threshold, where starting
    a thread team costs more than the work (``fastloss._threads.threads_for``)."""
    dtype = np.dtype(dtype)
    half = -(-input_bytes // (2 * dtype.itemsize))          # elements per input stream
    if 2 * half < _threads.SERIAL_THRESHOLD:
        n_threads = 1
    a = np.ones(half, dtype=dtype)
    b = np.ones(half, dtype=dtype)
    threads = lambda: fl.threads(n_threads)
    if kind == "read":
        impl = Impl("floor", lambda: _parallel.stream_read(a, b, n_threads), threads=threads)
        impl.arrays = (a, b)
        return impl
    m = -(-output_bytes // dtype.itemsize)
    if m == 2 * half:       # grad_hess: two outputs the inputs' length, written in one loop

        def call():
            out = _validation.empty(m, dtype)
            _parallel.stream_read_write(a, b, out[:half], n_threads, out[half:])
            return out
    else:

        def call():
            out = _validation.empty(m, dtype)
            _parallel.stream_read_write(a, b, out, n_threads)
            return out

    return Impl("floor", call, threads=threads)


class BandwidthProbe:
    """Measures each distinct (kind, bytes, dtype, threads) once per run and remembers it."""

    def __init__(self, budget):
        self.budget = budget
        self.measurements = {}     # key -> record (dict)
        self._impl = (None, None)  # the last (key, Impl): its buffers, for the rows of one size

    @staticmethod
    def _key(kind, input_bytes, output_bytes, dtype, n_threads):
        output_bytes = output_bytes if kind == "read_write" else 0
        return (kind, int(input_bytes), int(output_bytes), np.dtype(dtype).name, int(n_threads))

    def impl(self, kind, input_bytes, output_bytes, dtype, n_threads):
        """The probe's Impl for these bytes: kept while the next call asks for the same, so
        the rows of a case that share a floor do not each allocate and fill new buffers."""
        key = self._key(kind, input_bytes, output_bytes, dtype, n_threads)
        if self._impl[0] != key:
            self._impl = (None, None)                # free the last buffers first
            self._impl = (key, probe_impl(kind, input_bytes, output_bytes, dtype, n_threads))
        return self._impl[1]

    def floor(self, kind, input_bytes, output_bytes, dtype, n_threads):
        """The probe's record for this floor: measured now or earlier in the run."""
        output_bytes = output_bytes if kind == "read_write" else 0
        key = self._key(kind, input_bytes, output_bytes, dtype, n_threads)
        if key not in self.measurements:
            impl = self.impl(kind, input_bytes, output_bytes, dtype, n_threads)
            timing.settle()                  # let other implementations' worker threads idle
            with impl.threads():
                impl.call()                                  # warm-up (and page-in)
                result = timing.measure(impl.call, self.budget)
            stats = result.summary()
            moved = input_bytes + output_bytes
            # The bandwidth table's floor: the fastest repeat, what the machine could do at some
            # moment of the run. Rows compare medians: fastloss's against the probe timed beside
            # it (runner), the peers' against this record's median.
            best = stats["min"]
            record = {
                "kind": kind, "input_bytes": int(input_bytes), "output_bytes": int(output_bytes),
                "dtype": key[3], "threads": int(n_threads), **stats, "best": best,
                "gbps": moved / best / 1e9 if best > 0 else None,
            }
            if kind == "read":
                # NumPy's own way to read two arrays once, for comparison: np.dot(a, b) (BLAS,
                # its own threads). The issue-2 target for mse is stated against it.
                a, b = impl.arrays
                np.dot(a, b)
                record["numpy_dot_median"] = timing.measure(lambda: np.dot(a, b),
                                                            self.budget).median
            self.measurements[key] = record
        return self.measurements[key]

    def records(self):
        return list(self.measurements.values())
