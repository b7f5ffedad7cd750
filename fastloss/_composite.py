"""Losses built from losses: weighted sums (``0.7 * fl.mse + 0.3 * fl.mae``) and bound parameters
(``fl.huber.with_params(delta=2.0)``).

Both are ``Loss`` objects with the usual methods, reductions, ``sample_weight`` and ``out=``;
they are not registered. A composite calls each part once per method (each part is one pass
over the data) and adds the results, scaled by their coefficients:

- value, grad, value_and_grad: the weighted sums of the parts' (the mean of a sum with the same
  weights is the sum of the means, so every reduction works);
- grad_hess: the weighted sums of the parts' per-element derivatives, then the floor applied
  to the combined second derivative: hess = w * max(sum_k c_k d2l_k, hess_floor);
- loss parameters given at call time go to every part that has a parameter of that name (an
  unknown name is a TypeError), as does ``with_params``.

Parts must take the same inputs (an elementwise loss and ``triplet_margin`` cannot be added).
"""

import numbers

import numpy as np

from fastloss import _validation as V
from fastloss._loss import Loss, Param

_ELEMENTWISE_INPUTS = ("y_true", "y_pred")


def _inputs_of(loss):
    return getattr(loss, "inputs", None) or _ELEMENTWISE_INPUTS


def _scale_(x, c):
    """x * c, in place for arrays (keeping their dtype); tuples component by component."""
    if c == 1.0:
        return x
    if isinstance(x, tuple):
        return tuple(_scale_(part, c) for part in x)
    if isinstance(x, np.ndarray):
        x *= c
        return x
    return x * c


def _add_(acc, x):
    """acc + x, in place into acc for arrays; tuples component by component."""
    if isinstance(acc, tuple):
        return tuple(_add_(a, b) for a, b in zip(acc, x))
    if isinstance(acc, np.ndarray):
        acc += x
        return acc
    return acc + x


def check_coefficient(c):
    if isinstance(c, bool) or not isinstance(c, numbers.Real):
        return None
    return V.check_real("coefficient", c)


class CompositeLoss(Loss):
    """sum_k c_k * loss_k: a Loss whose value and derivatives are the weighted sums of its parts'."""

    def __init__(self, terms):
        flat = []
        for c, loss in terms:
            if isinstance(loss, CompositeLoss):
                flat.extend((c * c2, part) for c2, part in loss.terms)
            else:
                flat.append((c, loss))
        inputs = {_inputs_of(loss) for _, loss in flat}
        if len(inputs) > 1:
            raise TypeError("cannot combine losses that take different inputs: "
                            + ", ".join(f"{loss.name}{_inputs_of(loss)}" for _, loss in flat))
        self.terms = tuple(flat)
        self.name = " + ".join(f"{c:g} * {loss.name}" for c, loss in flat)
        self.params = ()
        families = {loss.family for _, loss in flat}
        self.family = families.pop() if len(families) == 1 else None
        if inputs and _inputs_of(flat[0][1]) != _ELEMENTWISE_INPUTS:
            self.inputs = _inputs_of(flat[0][1])
        super().__init__()
        self.__doc__ = f"The composite loss {self.name}; see the parts' docstrings."

    def __repr__(self):
        return f"<fastloss.Loss {self.name}>"

    def _split(self, params):
        """Per part, the call-time parameters it declares; a name no part has is a TypeError."""
        known = set()
        split = []
        for _, loss in self.terms:
            names = {p.name for p in loss.params}
            known |= names
            split.append({k: v for k, v in params.items() if k in names})
        unknown = set(params) - known
        if unknown:
            raise TypeError(f"{self.name}: unexpected parameter(s) {sorted(unknown)}; "
                            f"the parts' parameters are {sorted(known) or 'none'}")
        return split

    def with_params(self, **params):
        split = self._split(params)
        return CompositeLoss([(c, loss.with_params(**kw) if kw else loss)
                              for (c, loss), kw in zip(self.terms, split)])

    def make_inputs(self, n, dtype, rng):
        return self.terms[0][1].make_inputs(n, dtype, rng)

    def _each(self, method, inputs, kwargs, params, out):
        """Yield (coefficient, result) of every part; the first part writes into `out`."""
        for k, ((c, loss), kw) in enumerate(zip(self.terms, self._split(params))):
            extra = {"out": out} if out is not None and k == 0 else {}
            yield c, getattr(loss, method)(*inputs, **kwargs, **extra, **kw)

    def __call__(self, *inputs, sample_weight=None, reduction="mean", **params):
        V.check_reduction(reduction)
        total = None
        for c, value in self._each("__call__", inputs, {"sample_weight": sample_weight,
                                                        "reduction": reduction}, params, None):
            value = _scale_(value, c)
            total = value if total is None else _add_(total, value)
        return total

    def partial_sums(self, *inputs, sample_weight=None, **params):
        total = weight_total = count = None
        for c, (part, weight_total, count) in self._each(
                "partial_sums", inputs, {"sample_weight": sample_weight}, params, None):
            total = c * part if total is None else total + c * part
        return total, weight_total, count

    def _block_sums(self, block_rows, inputs, sample_weight, params):
        """Block by block, the same combination as partial_sums (fl.score)."""
        total = weights = count = None
        for (c, loss), kw in zip(self.terms, self._split(params)):
            part, weights, count = loss._block_sums(block_rows, inputs, sample_weight, kw)
            if total is not None and len(part) != len(total):   # parts on different grids
                total, part = total.sum(keepdims=True), part.sum(keepdims=True)
                weights = None if weights is None else weights.sum(keepdims=True)
            total = c * part if total is None else total + c * part
        return total, weights, count

    def value_and_grad(self, *inputs, sample_weight=None, reduction="mean", out=None,
                       **params):
        V.check_reduction(reduction)
        total = grad = None
        for c, (value, g) in self._each("value_and_grad", inputs,
                                        {"sample_weight": sample_weight, "reduction": reduction},
                                        params, out):
            value, g = _scale_(value, c), _scale_(g, c)
            total = value if total is None else _add_(total, value)
            grad = g if grad is None else _add_(grad, g)
        return total, grad

    def grad(self, *inputs, sample_weight=None, reduction="mean", out=None, **params):
        V.check_reduction(reduction)
        grad = None
        for c, g in self._each("grad", inputs, {"sample_weight": sample_weight,
                                                "reduction": reduction}, params, out):
            g = _scale_(g, c)
            grad = g if grad is None else _add_(grad, g)
        return grad

    def grad_hess(self, *inputs, sample_weight=None, hess_floor=0.0, out=None, **params):
        floor = V.check_real("hess_floor", hess_floor, low=0.0)
        grad = hess = None
        for c, (g, h) in self._each("grad_hess", inputs, {"sample_weight": sample_weight,
                                                          "hess_floor": 0.0}, params, out):
            g, h = _scale_(g, c), _scale_(h, c)
            grad = g if grad is None else _add_(grad, g)
            hess = h if hess is None else _add_(hess, h)
        if floor > 0.0:
            bound = floor if sample_weight is None else \
                floor * np.asarray(sample_weight, dtype=np.float64).reshape(hess.shape)
            np.maximum(hess, bound, out=hess, casting="same_kind")
        return grad, hess


class BoundLoss(Loss):
    """A loss with some parameters bound: ``fl.huber.with_params(delta=2.0)``.

    The bound values become the defaults (shown by ``defaults`` and ``repr``); a parameter
    given at call time still overrides them. Everything else is the base loss's.
    """

    def __init__(self, base, bound):
        self.base = base
        self._bound = dict(bound)
        args = ", ".join(f"{k}={v!r}" for k, v in self._bound.items())
        self.name = f"{base.name}({args})"
        self.params = tuple(Param(p.name, self._bound.get(p.name, p.default), p.check)
                            for p in base.params)
        self.family = base.family
        if hasattr(base, "inputs"):
            self.inputs = base.inputs
        super().__init__()
        self.__doc__ = base.__doc__

    def __repr__(self):
        return f"<fastloss.Loss {self.name}>"

    def with_params(self, **params):
        return self.base.with_params(**{**self._bound, **params})

    def make_inputs(self, n, dtype, rng):
        return self.base.make_inputs(n, dtype, rng)

    def _forward(self, method, inputs, kwargs):
        params = {k: kwargs.pop(k) for k in list(kwargs) if k in self._bound}
        return getattr(self.base, method)(*inputs, **kwargs, **{**self._bound, **params})

    def __call__(self, *inputs, **kwargs):
        return self._forward("__call__", inputs, kwargs)

    def partial_sums(self, *inputs, **kwargs):
        return self._forward("partial_sums", inputs, kwargs)

    def _block_sums(self, block_rows, inputs, sample_weight, params):
        return self.base._block_sums(block_rows, inputs, sample_weight,
                                     {**self._bound, **params})

    def grad(self, *inputs, **kwargs):
        return self._forward("grad", inputs, kwargs)

    def value_and_grad(self, *inputs, **kwargs):
        return self._forward("value_and_grad", inputs, kwargs)

    def grad_hess(self, *inputs, **kwargs):
        return self._forward("grad_hess", inputs, kwargs)
