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

from fastloss import _threads
from fastloss._kernels import _buffers
from fastloss._kernels._dispatch import load

REDUCTIONS = ("mean", "sum", "none")

# The weight check's one pass (sum and minimum) runs in the CPU's best variant: widening float32
# weights to float64 costs more than reading them in the baseline build.
_parallel = load("_parallel")


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
    if not arr.flags.aligned:   # e.g. a member of an uncompressed .npz, memory-mapped
        arr = arr.copy()        # kernels read whole elements: misaligned access is UB
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


def check_sample_weight(w, n_threads=1):
    """Non-negative and finite, checked in one pass over w (a contiguous 1-D float array) that
    also sums it: returns the sum, _parallel.blocked_sum's bits (the "mean" denominator)."""
    total, low = _parallel.sum_and_min(w, n_threads)
    if not math.isfinite(total) or low < 0:
        check_weight_values(w)
    return total


def check_weight_values(w):
    """Raise for a NaN, infinite or negative weight; finite non-negative weights pass, even if
    their sum overflows. NumPy's reductions: the exact check, run when a sum is not finite (the
    elementwise reductions make a block's weight sum NaN for a negative weight)."""
    low, high = w.min(), w.max()
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError("sample_weight must be finite (found NaN or infinity)")
    if low < 0:
        raise ValueError(f"sample_weight must be non-negative (found {low})")


def _layout(arrays, out=None):
    """'C' or 'F': the order every array is flattened in (out, when given, decides)."""
    if isinstance(out, np.ndarray) and not out.flags.c_contiguous and out.flags.f_contiguous:
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


def grad_hess_out(out):
    """grad_hess's `out`: None, or a (grad, hess) pair of arrays (each checked by new_output)."""
    if out is None:
        return None, None
    if isinstance(out, tuple) and len(out) == 2:
        return out
    raise TypeError("out must be a (grad, hess) tuple of arrays for grad_hess")


def empty(shape, dtype, order="C"):
    """A new output array (np.empty's), from the cache of freed outputs when it is large (see
    fastloss._kernels._buffers: a repeated call skips the OS's page faults)."""
    return _buffers.empty(shape, dtype, order)


def new_output(shape, dtype, order, out=None, inputs=(), name="out"):
    """(array returned to the user, flat contiguous view the kernel writes)."""
    if out is None:
        out = empty(shape, dtype, order)
    else:
        check_out(out, shape, dtype, inputs, name)
    return out, out.reshape(-1, order=order)


class Elementwise:
    """Validated inputs of an elementwise loss, flattened for the kernels."""

    __slots__ = ("shape", "order", "y", "p", "w", "w_total", "pdtype", "size", "key")

    def __init__(self, y_true, y_pred, sample_weight, out=None, check_weights=True):
        """check_weights=False: the caller checks the weights by the kernel's weight sum
        (check_weight_values where it is not finite), and w_total stays None."""
        # Fast path (the per-call cost of small inputs): C-contiguous float arrays, nothing else.
        if (sample_weight is None and out is None and type(y_pred) is np.ndarray
                and type(y_true) is np.ndarray):
            pk = _CODES.get(y_pred.dtype)
            yk = _CODES.get(y_true.dtype)
            pf, yf = y_pred.flags, y_true.flags
            if (pk is not None and yk is not None and pf.c_contiguous and yf.c_contiguous
                    and pf.aligned and yf.aligned):
                if y_true.shape != y_pred.shape:
                    check_same_shape(y_true, y_pred, "y_true", "y_pred")
                self.shape = y_pred.shape
                self.size = y_pred.size
                self.order = "C"
                self.pdtype = y_pred.dtype
                self.key = (yk, pk)
                self.w = self.w_total = None
                if y_pred.ndim == 1:
                    self.y, self.p = y_true, y_pred
                else:
                    self.y, self.p = y_true.reshape(-1), y_pred.reshape(-1)
                return
        p = prediction_array(y_pred)
        y, w = target_arrays(y_true, sample_weight)
        check_same_shape(y, p, "y_true", "y_pred")
        if w is not None:
            check_same_shape(w, p, "sample_weight", "y_pred")
        arrays = [a for a in (y, p, w) if a is not None]
        self.order = _layout(arrays, out)
        self.shape = p.shape
        self.size = p.size
        self.pdtype = p.dtype
        self.y = flatten(y, self.order)
        self.p = flatten(p, self.order)
        self.w = self.w_total = None
        if w is not None:
            self.w = flatten(w, self.order)
            if check_weights:
                self.w_total = check_sample_weight(self.w, _threads.threads_for(self.size))
        self.key = (_CODES[self.y.dtype], _CODES[self.p.dtype])

    def output(self, out=None, name="out"):
        return new_output(self.shape, self.pdtype, self.order, out,
                          (self.y, self.p, self.w), name)


# The kernel table key of a native-order float dtype (big-endian dtypes compare unequal).
_CODES = {np.dtype(np.float64): "f8", np.dtype(np.float32): "f4"}


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


# ----------------------------------------------------------------------------- row-wise (N, K)

def _first_bad_label(labels, bad):
    """ValueError naming the first label (and its row) for which `bad` holds."""
    row = int(np.flatnonzero(bad)[0])
    return row, labels[row].item()


def check_labels(labels, n_classes, ignore_index=None, name="y_true", n_threads=1):
    """Integer labels of shape (N,) in [0, K) (or equal to ignore_index), as np.intp.

    Checked in one parallel pass first (native 32- and 64-bit integers; full reductions for
    other dtypes); the row of the first bad label is only searched for when there is one.
    Negative labels are allowed only when equal to ignore_index.
    """
    if labels.size:
        if labels.dtype.kind == "i" and labels.dtype.isnative and labels.itemsize in (4, 8):
            outside = _parallel.labels_outside(labels, n_classes, n_threads)
        else:
            outside = labels.min().item() < 0 or labels.max().item() >= n_classes
        if outside:
            bad = (labels < 0) | (labels >= n_classes)
            if ignore_index is not None:
                bad &= labels != ignore_index
            if bad.any():
                row, value = _first_bad_label(labels, bad)
                allowed = f"[0, {n_classes})"
                if ignore_index is not None:
                    allowed += f" or ignore_index={ignore_index}"
                raise ValueError(f"{name} has label {value} at row {row}, outside {allowed} "
                                 f"(K = {n_classes} classes)")
    return _convert(labels, np.dtype(np.intp))


def check_probabilities(arr, name):
    """Values in [0, 1] (NaN passes, to propagate); full reductions, no temporaries."""
    if arr.size:
        low, high = arr.min(), arr.max()
        if low < 0 or high > 1:
            raise ValueError(f"{name} must hold probabilities in [0, 1] "
                             f"(found values in [{low}, {high}])")


def check_class_weight(value, name="class_weight"):
    """None, or a 1-D array of finite non-negative weights (float64); the length is checked
    against K by the row-wise validation."""
    if value is None:
        return None
    arr = _as_array(value, name)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one weight per class), got shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if arr.size and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (found NaN or infinity)")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} must be non-negative (found {arr.min()})")
    arr.setflags(write=False)
    return arr


def check_alpha_weights(value, name="alpha"):
    """None, a non-negative real (the same weight for every class) or per-class weights."""
    if value is None:
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return check_real(name, value, low=0.0)
    return check_class_weight(value, name)


def check_ignore_index(value):
    """None or an integer (any value: labels equal to it are ignored)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"ignore_index must be an integer or None, got {type(value).__name__}")
    return int(value)


def check_eps(value):
    """None (the default from the prediction dtype) or a real in [0, 0.5)."""
    if value is None:
        return None
    return check_real("eps", value, low=0.0, high=0.5, high_open=True)


def check_bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")
    return bool(value)


class Rowwise:
    """Validated inputs of a row-wise loss: predictions (N, K), labels (N,) or targets (N, K).

    target_kind: "labels" (integer labels only), "probabilities" (an (N, K) array only) or
    "either" (integer labels of shape (N,), or probabilities of the predictions' shape).
    Predictions are C-contiguous float32/float64 (copied once otherwise); probability targets
    are C-contiguous float32 or float64 (other dtypes become float64); sample weights are
    float64; labels are np.intp, checked against [0, K). check_targets=False leaves the targets'
    [0, 1] check to the kernel's pass (run()'s range_flag).
    """

    __slots__ = ("p", "labels", "targets", "w", "n_rows", "n_classes", "pdtype", "size")

    def __init__(self, y_true, y_pred, sample_weight, target_kind, *, ignore_index=None,
                 y_name="y_true", p_name="y_pred", probabilities_pred=False, check_targets=True):
        p = prediction_array(y_pred, p_name)
        if p.ndim != 2:
            raise ValueError(f"{p_name} must be 2-D (N rows, K classes), got shape {p.shape}")
        n_rows, n_classes = p.shape
        if n_classes < 1:
            raise ValueError(f"{p_name} must have at least one class (column), got shape {p.shape}")
        y = _as_array(y_true, y_name)
        self.labels = self.targets = None
        if y.ndim == 1 and target_kind != "probabilities":
            if y.dtype.kind not in "iu":
                raise TypeError(f"{y_name} of shape {y.shape} must be integer class labels, "
                                f"got dtype {y.dtype}"
                                + ("; probabilities must have the shape of " + p_name
                                   if target_kind == "either" else ""))
            if y.shape[0] != n_rows:
                raise ValueError(f"{y_name} must have one label per row of {p_name}: got "
                                 f"{y_name} {y.shape} and {p_name} {p.shape}")
            self.labels = check_labels(np.ascontiguousarray(y), n_classes, ignore_index, y_name,
                                       _threads.threads_for(p.size))
        elif target_kind != "labels":
            if y.ndim == 1 and target_kind == "probabilities":
                raise ValueError(f"{y_name} must have the shape of {p_name} {p.shape} "
                                 f"(probabilities), got {y.shape}")
            check_same_shape(y, p, y_name, p_name)
            targets = np.ascontiguousarray(y, dtype=np.float32 if y.dtype == np.float32
                                           else np.float64)
            if check_targets:
                check_probabilities(targets, y_name)
            self.targets = targets
        else:
            raise ValueError(f"{y_name} must be integer class labels of shape ({n_rows},), "
                             f"got shape {y.shape}")
        if probabilities_pred:
            check_probabilities(p, p_name)
        w = None
        if sample_weight is not None:
            w = _as_array(sample_weight, "sample_weight")
            if w.shape != (n_rows,):
                raise ValueError(f"sample_weight must have one weight per row, shape "
                                 f"({n_rows},), got {w.shape}")
            w = np.ascontiguousarray(w, dtype=np.float64)
            check_sample_weight(w, _threads.threads_for(w.size))
        self.w = w
        self.p = np.ascontiguousarray(p)
        self.n_rows, self.n_classes = n_rows, n_classes
        self.pdtype = p.dtype
        self.size = p.size

    def check_class_weights(self, weights, name="class_weight"):
        """Per-class weights of length K (a scalar becomes K copies), or None."""
        if weights is None:
            return None
        if np.ndim(weights) == 0:
            return np.full(self.n_classes, float(weights))
        if weights.shape != (self.n_classes,):
            raise ValueError(f"{name} must have one weight per class, length {self.n_classes}, "
                             f"got length {weights.shape[0]}")
        return weights

    def output_rows(self, out=None, name="out"):
        """An (N,) array in the prediction dtype (per-row values)."""
        return new_output((self.n_rows,), self.pdtype, "C", out, self._inputs(), name)[0]

    def output(self, out=None, name="out"):
        """A C-contiguous (N, K) array in the prediction dtype (the gradient's shape)."""
        result = new_output(self.p.shape, self.pdtype, "C", out, self._inputs(), name)[0]
        if not result.flags.c_contiguous:
            raise ValueError(f"{name} must be C-contiguous (row-major, like the predictions)")
        return result

    def _inputs(self):
        return (self.p, self.labels, self.targets, self.w)
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
