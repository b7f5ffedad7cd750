"""The Loss objects and the registry that drives the API, the reference map, tests and benchmarks.

A Loss is callable, ``loss(y_true, y_pred, *, sample_weight=None, reduction="mean", **params)``,
and has ``grad``, ``value_and_grad`` and ``grad_hess``. Families (elementwise, multiclass, ...)
subclass ``Loss`` and implement ``_value``, ``_grad``, ``_value_and_grad`` and ``_grad_hess`` on
validated inputs; parameter binding, reductions and the registry are written once here.
"""

import inspect
import math
import sys
from collections import namedtuple

import numpy as np

from fastloss import _threads
from fastloss import _validation as V

Param = namedtuple("Param", "name default check")
Param.__doc__ = """A loss parameter: its name, default and a check(value) -> value that raises."""

Domain = namedtuple("Domain", "low high nan discrete", defaults=(True, False))
Domain.__doc__ = """The valid values of one input of a loss, for the generic tests and tools.

low, high: the closed interval of valid values (may be -inf/+inf: infinities are then valid and
give the loss's exact limit); nan: True when NaN is accepted and propagates (False: rejected by
validation); discrete: True for labels, whose values only ``make_inputs`` knows how to draw.
"""
REAL = Domain(-math.inf, math.inf)

_REGISTRY = {}


def register(loss):
    """Add a loss to the registry (name must be new); returns the loss."""
    if loss.name in _REGISTRY:
        raise ValueError(f"a loss named {loss.name!r} is already registered")
    _REGISTRY[loss.name] = loss
    return loss


def get(name):
    """The registered loss called `name` (see ``available()``)."""
    if isinstance(name, Loss):
        return name
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {name!r}; available: {', '.join(available())}") from None


def available():
    """Names of every registered loss, sorted."""
    return sorted(_REGISTRY)


# The `op` codes of the fast entry points (FAST_* in fastloss/_kernels/_fastpath.pxd).
_FAST_VALUE, _FAST_GRAD, _FAST_VALUE_AND_GRAD, _FAST_GRAD_HESS = 0, 1, 2, 3
# grad_hess's default hess_floor: the fast path computes that floor, +0.0, only (a call's own
# floor, even -0.0, whose sign a clipped Hessian keeps, takes the general path).
_NO_FLOOR = 0.0


def _mean(total, weight_total):
    """Weighted mean total / weight_total; NaN for an empty input or all-zero weights."""
    return total / weight_total if weight_total != 0 else math.nan


class Loss:
    """Base class of every loss: parameter binding and the public call signatures."""

    name = None
    params = ()          # tuple of Param
    family = None

    # What generic tools (tests/test_properties.py, fastloss.accuracy, the concurrency and
    # determinism tests) need to know about a loss. A family or a loss overrides these; the
    # defaults fit a smooth loss of two real inputs (y_true, y_pred).
    domains = {}         # input name -> Domain; an input not listed is REAL
    smooth = True        # twice differentiable in y_pred wherever the inputs are finite

    def kink_distance(self, y_true, y_pred, **params):
        """Distance, in y_pred units, from each element to the nearest point where the loss (or
        its derivative) is not smooth, for losses with ``smooth = False``; None when unknown.
        Finite-difference checks only use elements farther than their step from a kink."""
        return None

    def sample_weight_shape(self, y_true, y_pred):
        """The shape sample_weight must have for these inputs (row-wise families: rows only)."""
        return np.shape(y_pred)

    @property
    def input_names(self):
        """The names of the positional inputs of ``__call__`` (("y_true", "y_pred") here)."""
        names = []
        for p in inspect.signature(type(self).__call__).parameters.values():
            if p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "self":
                names.append(p.name)
        return tuple(names)

    def domain(self, input_name):
        """The Domain of one input (REAL unless the loss says otherwise)."""
        return self.domains.get(input_name, REAL)

    def __init__(self):
        self._param_names = tuple(p.name for p in self.params)
        self.defaults = {p.name: p.default for p in self.params}
        self._default_values = ()
        self._default_values = self.bind(self.defaults)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.defaults.items())
        return f"<fastloss.Loss {self.name}({args})>"

    def make_inputs(self, n, dtype, rng):
        """Random (y_true, y_pred) with n elements in all, for tests and benchmarks."""
        y = rng.standard_normal(n).astype(dtype)
        p = rng.standard_normal(n).astype(dtype)
        return y, p

    def bind(self, params):
        """Validated parameter values in declaration order; unknown names raise TypeError."""
        if not params:
            return self._default_values
        unknown = set(params) - set(self._param_names)
        if unknown:
            raise TypeError(f"{self.name}() got unexpected parameter(s) {sorted(unknown)}; "
                            f"its parameters are {list(self._param_names) or 'none'}")
        values = []
        for p in self.params:
            value = params.get(p.name, p.default)
            values.append(p.check(value) if p.check is not None else value)
        return tuple(values)

    # The per-call fast path (see fastloss/_kernels/_fastpath.pxd). A family may set `_fast` to
    # a kernel entry point fast(op, y_true, y_pred, max_size, _fast_config) that computes the
    # commonest call (reduction "mean", no sample_weight, no out, no loss parameters given;
    # grad_hess: the default hess_floor) on
    # inputs that need no conversion, bitwise as the general path would, or returns None when
    # they need the general path (which then validates, converts and raises as usual).
    _fast = None
    _fast_config = None

    # Public API: validation of the common keywords, then the family's implementation.

    def _try_fast(self, op, y_true, y_pred, sample_weight, reduction, out, params):
        """The fast path's result for a plain call (mean, no weights, out or parameters;
        grad_hess passes "mean"), or None: then the general path runs."""
        if (self._fast is None or out is not None or sample_weight is not None or params
                or type(reduction) is not str or reduction != "mean"):
            return None
        return self._fast(op, y_true, y_pred, _threads.SERIAL_THRESHOLD, self._fast_config)

    def __call__(self, y_true, y_pred, *, sample_weight=None, reduction="mean", **params):
        value = self._try_fast(_FAST_VALUE, y_true, y_pred, sample_weight, reduction, None, params)
        if value is not None:
            return value
        V.check_reduction(reduction)
        return self._value(y_true, y_pred, sample_weight, reduction, self.bind(params))

    def partial_sums(self, y_true, y_pred, *, sample_weight=None, **params):
        """(sum of w*loss, sum of weights, element count): what "mean" and "sum" are made of.

        Partial results over chunks add up to those of the whole input (fl.score builds on it);
        the mean is weighted_sum / weight_total.
        """
        return self._partial_sums(y_true, y_pred, sample_weight, self.bind(params))

    def _block_sums(self, block_rows, inputs, sample_weight, params):
        """fl.score's per-block partial sums: (loss sums, weight sums or None, count).

        Block b holds rows (axis 0) [b * block_rows, (b + 1) * block_rows) of `inputs`, the
        last block possibly shorter; weight sums None mean unit weights (the weight total is
        the count). Families whose kernels expose their blocks override this; by default the
        whole input is one block, and fl.score's result then depends on the chunking.
        """
        total, weight_total, count = self.partial_sums(*inputs, sample_weight=sample_weight,
                                                       **params)
        return np.array([total], dtype=np.float64), np.array([weight_total]), count

    def grad(self, y_true, y_pred, *, sample_weight=None, reduction="mean", out=None, **params):
        """Derivative of the reduced loss with respect to y_pred (shape and dtype of y_pred)."""
        grad = self._try_fast(_FAST_GRAD, y_true, y_pred, sample_weight, reduction, out, params)
        if grad is not None:
            return grad
        V.check_reduction(reduction)
        return self._grad(y_true, y_pred, sample_weight, reduction, out, self.bind(params))

    def value_and_grad(self, y_true, y_pred, *, sample_weight=None, reduction="mean", out=None,
                       **params):
        """(value, grad) from one pass over the data."""
        both = self._try_fast(_FAST_VALUE_AND_GRAD, y_true, y_pred, sample_weight, reduction, out,
                              params)
        if both is not None:
            return both
        V.check_reduction(reduction)
        return self._value_and_grad(y_true, y_pred, sample_weight, reduction, out,
                                    self.bind(params))

    def grad_hess(self, y_true, y_pred, *, sample_weight=None, hess_floor=_NO_FLOOR, out=None,
                  **params):
        """Per-element (grad, hess) of the unreduced loss, sample weights multiplied in.

        Where the second derivative is zero or undefined, ``hess_floor`` (>= 0) sets a positive
        lower bound, as gradient boosting needs: hess = w * max(d2l/dp2, hess_floor).
        ``out`` may be a (grad, hess) pair of preallocated arrays.
        """
        if hess_floor is _NO_FLOOR:
            both = self._try_fast(_FAST_GRAD_HESS, y_true, y_pred, sample_weight, "mean", out,
                                  params)
            if both is not None:
                return both
        floor = V.check_real("hess_floor", hess_floor, low=0.0)
        return self._grad_hess(y_true, y_pred, sample_weight, floor, out, self.bind(params))

    # Arithmetic and binding (the classes are in fastloss._composite): ``0.7 * fl.mse +
    # 0.3 * fl.mae`` and ``fl.huber.with_params(delta=2.0)`` are Loss objects too.

    def with_params(self, **params):
        """This loss with the given parameters bound (validated now); see ``BoundLoss``."""
        from fastloss._composite import BoundLoss
        checked = dict(zip(self._param_names, self.bind(params)))
        return BoundLoss(self, {k: checked[k] for k in params}) if params else self

    def __mul__(self, coefficient):
        from fastloss._composite import CompositeLoss, check_coefficient
        c = check_coefficient(coefficient)
        return NotImplemented if c is None else CompositeLoss([(c, self)])

    __rmul__ = __mul__

    def __truediv__(self, divisor):
        from fastloss._composite import check_coefficient
        c = check_coefficient(divisor)
        if c is None:
            return NotImplemented
        if c == 0.0:
            raise ZeroDivisionError("cannot divide a loss by zero")
        return self * (1.0 / c)

    def __neg__(self):
        return self * -1.0

    def __add__(self, other):
        from fastloss._composite import CompositeLoss
        if not isinstance(other, Loss):
            return NotImplemented
        return CompositeLoss([(1.0, self), (1.0, other)])

    def __radd__(self, other):
        if isinstance(other, (int, float)) and not isinstance(other, bool) and other == 0:
            return self          # sum([0.5 * fl.mse, 0.5 * fl.mae]) starts from 0
        return NotImplemented

    def __sub__(self, other):
        if not isinstance(other, Loss):
            return NotImplemented
        return self + (-1.0) * other


class ElementwiseLoss(Loss):
    """A loss l(y, p) applied element by element to arrays of any (matching) shape."""

    kernels = None       # {(y dtype code, p dtype code): the kernel module's Kernels}
    # True: every call runs the kernels' fused domain check (their checked_* entries, which also
    # return the OR of per-element flags) and passes the flags to _check_flags, which raises;
    # the caller then skips its own check. (grad: checked_grad, or value_grad's check with
    # grad_by_value_grad.)
    fused_check = False
    # With fused_check, True for a loss whose value costs next to nothing beside its gradient
    # (the hinge losses): grad runs the value-and-gradient kernel (the same gradient, bitwise)
    # for its fused check, where there is no checked_grad. Measured on hinge at 10^7: a checking
    # pass before the gradient kernel made grad about 30% slower than value_and_grad.
    grad_by_value_grad = False
    fast_targets = "real"   # what the fast path checks the inputs for (a key of FAST_TARGETS
                            # of the kernel module; None: no fast path)

    def __init__(self):
        super().__init__()
        self._fast, self._fast_config = self._fast_entry()

    def _fast_kernel_params(self, pdtype):
        """The kernel parameters of a call without loss parameters, for predictions of pdtype."""
        return self._default_values

    def _fast_entry(self):
        """(fast_<name> of the kernel module, its config), or (None, None) when there is none."""
        if not self.kernels or self.fast_targets is None:
            return None, None
        module = sys.modules.get(getattr(next(iter(self.kernels.values()))[0], "__module__", ""))
        fast = getattr(module, "FAST", {}).get(self.name)
        if fast is None:
            return None, None
        config = (module.FAST_TARGETS[self.fast_targets],
                  tuple(self._fast_kernel_params(np.dtype(np.float64))),
                  tuple(self._fast_kernel_params(np.dtype(np.float32))))
        return fast, config

    def _prepare(self, y_true, y_pred, params):
        """(y_true, y_pred, kernel parameters) as the calls below pass them to the kernels: a
        subclass's hook (BinaryLoss makes arrays and resolves dtype-dependent parameters)."""
        return y_true, y_pred, params

    def _value(self, y_true, y_pred, sample_weight, reduction, params):
        y_true, y_pred, params = self._prepare(y_true, y_pred, params)
        # The reductions check the weights by their sum (NaN for a NaN or negative weight, inf
        # for an infinite one): no pass of their own before the kernel's.
        a = V.Elementwise(y_true, y_pred, sample_weight, check_weights=reduction == "none")
        n_threads = _threads.threads_for(a.size)
        if reduction == "none":
            result, flat = a.output()
            self._per_sample(a, flat, params, n_threads, y_true, y_pred)
            return result
        kernels = self.kernels[a.key]
        if self.fused_check:
            total, weight_total, flags = kernels.checked_reduce(a.y, a.p, a.w, *params, n_threads)
        else:
            total, weight_total = kernels.reduce(a.y, a.p, a.w, *params, n_threads)
        if a.w is not None and not math.isfinite(weight_total):
            V.check_weight_values(a.w)    # raises, unless finite weights overflowed their sum
        if self.fused_check:
            self._check_flags(flags, y_true, y_pred)
        return total if reduction == "sum" else _mean(total, weight_total)

    def _check_flags(self, flags, y_true, y_pred):
        """Raise the loss's error for inputs the fused check flagged (fused_check losses)."""
        raise NotImplementedError

    def _per_sample(self, a, flat, params, n_threads, y_true, y_pred):
        """flat = w * loss, element by element (checked in the kernel with fused_check)."""
        kernels = self.kernels[a.key]
        if self.fused_check:
            flags = kernels.checked_per_sample(a.y, a.p, a.w, flat, *params, n_threads)
            self._check_flags(flags, y_true, y_pred)
        else:
            kernels.per_sample(a.y, a.p, a.w, flat, *params, n_threads)

    def _partial_sums(self, y_true, y_pred, sample_weight, params):
        y_true, y_pred, params = self._prepare(y_true, y_pred, params)
        a = V.Elementwise(y_true, y_pred, sample_weight)
        kernels, n_threads = self.kernels[a.key], _threads.threads_for(a.size)
        if self.fused_check:
            total, weight_total, flags = kernels.checked_reduce(a.y, a.p, a.w, *params, n_threads)
            self._check_flags(flags, y_true, y_pred)
        else:
            total, weight_total = kernels.reduce(a.y, a.p, a.w, *params, n_threads)
        return total, weight_total, a.size

    def _block_sums(self, block_rows, inputs, sample_weight, params):
        y_true, y_pred = inputs
        return self._element_block_sums(block_rows, y_true, y_pred, sample_weight,
                                        self.bind(params))

    def _element_block_sums(self, block_rows, y_true, y_pred, sample_weight, params):
        """Block sums over blocks of `block_rows` rows: block_rows * (elements per row)."""
        y_true, y_pred, params = self._prepare(y_true, y_pred, params)
        # Blocks of whole rows need the row-major element order (a copy only for N-D inputs
        # that are not C-contiguous, e.g. a chunk holding all of a Fortran-ordered array).
        y_true, y_pred, sample_weight = (
            np.ascontiguousarray(x) if isinstance(x, np.ndarray) and x.ndim > 1
            and not x.flags.c_contiguous else x for x in (y_true, y_pred, sample_weight))
        a = V.Elementwise(y_true, y_pred, sample_weight)
        block = block_rows * math.prod(a.shape[1:])
        nb = -(-a.size // block) if block else 0
        sums = np.zeros(2 * nb)
        if nb:
            kernels, n_threads = self.kernels[a.key], _threads.threads_for(a.size)
            if self.fused_check:
                flags = kernels.checked_block_sums(a.y, a.p, a.w, sums, block, *params, n_threads)
                self._check_flags(flags, y_true, y_pred)
            else:
                kernels.block_sums(a.y, a.p, a.w, sums, block, *params, n_threads)
        return sums[:nb], (None if a.w is None else sums[nb:]), a.size

    def _scale(self, a, reduction, n_threads):
        """The factor of the gradient: 1 / sum of weights for the mean, 1 otherwise."""
        if reduction != "mean":
            return 1.0, None
        weight_total = float(a.size) if a.w is None else a.w_total   # (summed by the check)
        return (1.0 / weight_total if weight_total != 0 else math.nan), weight_total

    def _grad(self, y_true, y_pred, sample_weight, reduction, out, params):
        y_true, y_pred, params = self._prepare(y_true, y_pred, params)
        a = V.Elementwise(y_true, y_pred, sample_weight, out)
        n_threads = _threads.threads_for(a.size)
        result, flat = a.output(out)
        scale, _ = self._scale(a, reduction, n_threads)
        kernels = self.kernels[a.key]
        if not self.fused_check:
            kernels.grad(a.y, a.p, a.w, flat, scale, *params, n_threads)
            return result
        # A fused_check loss has checked_grad or grad_by_value_grad (else checked_grad is None
        # and the call fails loudly: it never skips the check)
        if self.grad_by_value_grad:
            _, flags = kernels.checked_value_grad(a.y, a.p, a.w, flat, scale, *params, n_threads)
        else:
            flags = kernels.checked_grad(a.y, a.p, a.w, flat, scale, *params, n_threads)
        self._check_flags(flags, y_true, y_pred)
        return result

    def _value_and_grad(self, y_true, y_pred, sample_weight, reduction, out, params):
        y_true, y_pred, params = self._prepare(y_true, y_pred, params)
        a = V.Elementwise(y_true, y_pred, sample_weight, out)
        n_threads = _threads.threads_for(a.size)
        result, flat = a.output(out)
        kernels = self.kernels[a.key]
        if reduction == "none":   # per-element values and derivatives: two elementwise passes
            values, vflat = a.output()
            self._per_sample(a, vflat, params, n_threads, y_true, y_pred)   # (checks first)
            kernels.grad(a.y, a.p, a.w, flat, 1.0, *params, n_threads)
            return values, result
        scale, weight_total = self._scale(a, reduction, n_threads)
        if self.fused_check:
            total, flags = kernels.checked_value_grad(a.y, a.p, a.w, flat, scale, *params,
                                                      n_threads)
            self._check_flags(flags, y_true, y_pred)
        else:
            total = kernels.value_grad(a.y, a.p, a.w, flat, scale, *params, n_threads)
        value = total if reduction == "sum" else _mean(total, weight_total)
        return value, result

    def _grad_hess(self, y_true, y_pred, sample_weight, hess_floor, out, params):
        y_true, y_pred, params = self._prepare(y_true, y_pred, params)
        g_out, h_out = V.grad_hess_out(out)
        a = V.Elementwise(y_true, y_pred, sample_weight, g_out)
        n_threads = _threads.threads_for(a.size)
        grad, gflat = a.output(g_out, name="out[0]")
        hess, hflat = V.new_output(a.shape, a.pdtype, a.order, h_out,
                                   (a.y, a.p, a.w, gflat), name="out[1]")
        kernels = self.kernels[a.key]
        if self.fused_check:
            flags = kernels.checked_grad_hess(a.y, a.p, a.w, gflat, hflat, hess_floor, *params,
                                              n_threads)
            self._check_flags(flags, y_true, y_pred)
        else:
            kernels.grad_hess(a.y, a.p, a.w, gflat, hflat, hess_floor, *params, n_threads)
        return grad, hess


def make_loss(base, name, doc, kernels, params=(), family=None, **attrs):
    """Create and register a loss: a one-off subclass of `base` so help(loss) shows `doc`."""
    class_name = "".join(part.title() for part in name.split("_")) + "Loss"
    cls = type(class_name, (base,), {"__doc__": doc, "name": name, "params": tuple(params),
                                     "family": family, "kernels": kernels, **attrs,
                                     "__module__": "fastloss"})
    return register(cls())
