"""Validation: turn user inputs into arrays the kernels can trust, or raise a clear error.

Kernels never validate; everything that can raise happens here, before a kernel runs.

Dtype rules (``compute dtypes``):
- predictions: float32 stays float32 and float64 stays float64 (gradients come back in that
  dtype); float16 becomes float32; integers, booleans and long double become float64.
- targets and sample weights share one dtype: float32 when both are float32, float64 otherwise.
- every kernel accumulates in float64 whatever the input dtype.
Strings, objects, complex numbers, dates: TypeError.

Layout: arrays of any shape are flattened without copying when they are all C-contiguous or all
Fortran-contiguous (read-only and memory-mapped arrays included). Other layouts (strided
views, mixed orders) are copied once into contiguous buffers, as ``np.ascontiguousarray`` would.
"""

import math
import numbers

import numpy as np

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def _as_array(x, name):
    if isinstance(x, np.ndarray):
        arr = x
    else:
        try:
            arr = np.asarray(x)
        except (ValueError, TypeError) as exc:
            raise TypeError(f"{name} cannot be converted to a numeric array: {exc}") from None
    kind = arr.dtype.kind
    if kind not in "fiub":
        raise TypeError(f"{name}: cannot handle this type -> {arr.dtype} "
                        "(expected a real numeric array)")
    return arr


def _float_dtype(arr):
    if arr.dtype == np.float32 or arr.dtype == np.float16:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _convert(arr, dtype):
    if arr.dtype != dtype:          # also fixes non-native byte order
        return arr.astype(dtype)
    return arr


def prediction_array(x, name="y_pred"):
    """A float32/float64 array, native byte order (copied only when the dtype must change)."""
    arr = _as_array(x, name)
    return _convert(arr, _float_dtype(arr))


def target_arrays(y_true, sample_weight, y_name="y_true"):
    """y_true and sample_weight (or None) in their shared compute dtype."""
    y = _as_array(y_true, y_name)
    w = None if sample_weight is None else _as_array(sample_weight, "sample_weight")
    dtype = _float_dtype(y)
    if w is not None and _float_dtype(w) != dtype:
        dtype = np.dtype(np.float64)
    return _convert(y, dtype), (None if w is None else _convert(w, dtype))


def check_same_shape(a, b, a_name, b_name):
    if a.shape != b.shape:
        raise ValueError(f"{a_name} and {b_name} must have the same shape (no broadcasting): "
                         f"got {a_name} {a.shape} and {b_name} {b.shape}")


def check_sample_weight(w):
    """Non-negative and finite; checked with full reductions (no temporary of the input's size)."""
    if w.size == 0:
        return
    low, high = w.min(), w.max()
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError("sample_weight must be finite (found NaN or infinity)")
    if low < 0:
        raise ValueError(f"sample_weight must be non-negative (found {low})")


def _layout(arrays, out=None):
    """'C' or 'F': the order every array is flattened in (out, when given, decides)."""
    if out is not None and not out.flags.c_contiguous and out.flags.f_contiguous:
        return "F"
    if out is None and all(a.flags.f_contiguous and not a.flags.c_contiguous for a in arrays):
        return "F"
    return "C"


def flatten(arr, order):
    """A 1-D contiguous view in `order` (a copy only when the layout demands it)."""
    if order == "F":
        if not arr.flags.f_contiguous:
            arr = np.asfortranarray(arr)
    elif not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr)
    return arr.reshape(-1, order=order)


def check_out(out, shape, dtype, inputs, name="out"):
    """The caller's output buffer: right type, shape, dtype, writeable, contiguous, not aliasing."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {out.shape}")
    if out.dtype != dtype:
        raise ValueError(f"{name} must have dtype {dtype} (the dtype of y_pred), got {out.dtype}")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")
    if not (out.flags.c_contiguous or out.flags.f_contiguous):
        raise ValueError(f"{name} must be C- or Fortran-contiguous")
    for arr in inputs:
        if arr is not None and np.may_share_memory(out, arr):
            raise ValueError(f"{name} must not overlap an input array")
    return out


def new_output(shape, dtype, order, out=None, inputs=(), name="out"):
    """(array returned to the user, flat contiguous view the kernel writes)."""
    if out is None:
        out = np.empty(shape, dtype=dtype, order=order)
    else:
        check_out(out, shape, dtype, inputs, name)
    return out, out.reshape(-1, order=order)


class Elementwise:
    """Validated inputs of an elementwise loss, flattened for the kernels."""

    __slots__ = ("shape", "order", "y", "p", "w", "pdtype", "originals", "size")

    def __init__(self, y_true, y_pred, sample_weight, out=None):
        p = prediction_array(y_pred)
        y, w = target_arrays(y_true, sample_weight)
        check_same_shape(y, p, "y_true", "y_pred")
        if w is not None:
            check_same_shape(w, p, "sample_weight", "y_pred")
            check_sample_weight(w)
        arrays = [a for a in (y, p, w) if a is not None]
        self.order = _layout(arrays, out)
        self.shape = p.shape
        self.size = p.size
        self.pdtype = p.dtype
        self.originals = (y_true, y_pred, sample_weight)
        self.y = flatten(y, self.order)
        self.p = flatten(p, self.order)
        self.w = None if w is None else flatten(w, self.order)

    def output(self, out=None, name="out"):
        return new_output(self.shape, self.pdtype, self.order, out,
                          (self.y, self.p, self.w), name)

    @property
    def key(self):
        """The kernel table key: (targets dtype, predictions dtype) as 'f8'/'f4'."""
        return (_CODES[self.y.dtype.char], _CODES[self.p.dtype.char])


_CODES = {"d": "f8", "f": "f4"}


# ----------------------------------------------------------------------------- parameters

def check_real(name, value, *, low=None, high=None, low_open=False, high_open=False):
    """A finite real number within the given bounds, returned as float; names the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value}")
    return value


# ----------------------------------------------------------------------------- row inputs (N, D)

def row_arrays(arrays, names):
    """Embeddings of shape (N, D), all the same shape, C-contiguous, in one compute dtype.

    float32 stays float32 when every input is float32 (or float16); otherwise float64.
    """
    converted = [_as_array(x, name) for x, name in zip(arrays, names)]
    dtype = np.dtype(np.float32)
    for arr in converted:
        if _float_dtype(arr) != np.float32:
            dtype = np.dtype(np.float64)
    for arr, name in zip(converted, names):
        if arr.ndim != 2:
            raise ValueError(f"{name} must be a 2-D array (N, D) of N embeddings, "
                             f"got shape {arr.shape}")
    for arr, name in zip(converted[1:], names[1:]):
        check_same_shape(converted[0], arr, names[0], name)
    return [np.ascontiguousarray(_convert(arr, dtype)) for arr in converted]


def row_vector(x, n_rows, name):
    """A float64 (N,) array of per-row values (sample weights, pair labels)."""
    arr = _as_array(x, name)
    if arr.shape != (n_rows,):
        raise ValueError(f"{name} must have shape ({n_rows},), one value per row, got {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def check_row_out(out, count, shape, dtype, inputs):
    """A tuple of `count` C-contiguous gradient buffers of the inputs' shape and dtype."""
    if not isinstance(out, (tuple, list)) or len(out) != count:
        raise TypeError(f"out must be a tuple of {count} arrays (one gradient per input)")
    for k, buf in enumerate(out):
        check_out(buf, shape, dtype, inputs, name=f"out[{k}]")
        if not buf.flags.c_contiguous:
            raise ValueError(f"out[{k}] must be C-contiguous")
    for k in range(count):
        for j in range(k):
            if np.may_share_memory(out[k], out[j]):
                raise ValueError(f"out[{k}] must not overlap out[{j}]")
    return tuple(out)


def check_choice(name, value, choices):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value
