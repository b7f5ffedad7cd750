"""Penalties on model parameters, and ``Objective`` = loss + penalties.

The textbook objective is cost + lambda * R(w). The penalties here are R(w) on a parameter array
``w`` of any shape (all elements count); they are not losses (no target, no reduction), so they
are not in the loss registry: they have their own small registry, ``available()`` / ``get()``
in this module (the benchmark command and the tests use it). Each penalty is an object with
``__call__(w) -> float``, ``.grad(w, out=None)`` and ``.value_and_grad(w, out=None)``.

Conventions (those of scikit-learn's ElasticNet and SGDClassifier):

- ``l1_penalty(w)   = sum |w|``; gradient sign(w), with the subgradient 0 at w == 0.
- ``l2_penalty(w)   = sum w^2 / 2`` (HALF the squared norm); gradient w.
- ``elastic_net(w, l1_ratio) = l1_ratio * sum |w| + (1 - l1_ratio) * sum w^2 / 2``, scikit-learn's
  ElasticNet penalty with alpha = 1; so ``elastic_net(w, 1) == l1_penalty(w)`` and
  ``elastic_net(w, 0) == l2_penalty(w)``.

A float32 ``w`` gives a float32 gradient; sums are accumulated in float64 with the library's
deterministic block order. NaN in w propagates; a term whose coefficient is 0 is left out, so
``l1_penalty([inf])`` is inf, not NaN.
"""

import numpy as np

from fastloss import _threads
from fastloss import _validation as V
from fastloss._kernels._dispatch import load
from fastloss._loss import Param, get as get_loss

_penalties = load("_penalties")


class Penalty:
    """A penalty R(w) = c1 * sum|w| + c2 * sum w^2 / 2, the coefficients set by its parameters."""

    family = "penalty"
    inputs = ("w",)

    def __init__(self, name, doc, coefficients, params=()):
        self.name = name
        self.__doc__ = doc
        self.params = tuple(params)
        self.defaults = {p.name: p.default for p in self.params}
        self._coefficients = coefficients

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.defaults.items())
        return f"<fastloss.Penalty {self.name}({args})>"

    def _prepare(self, w, params, out=None):
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise TypeError(f"{self.name}() got unexpected parameter(s) {sorted(unknown)}; "
                            f"its parameters are {list(self.defaults) or 'none'}")
        values = [p.check(params.get(p.name, p.default)) for p in self.params]
        c1, c2 = self._coefficients(*values)
        arr = V.prediction_array(w, "w")
        order = V._layout([arr], out)
        flat = V.flatten(arr, order)
        return arr, flat, order, c1, c2

    @staticmethod
    def _combine(c1, c2, s1, s2):
        value = 0.0
        if c1 != 0.0:
            value += c1 * s1
        if c2 != 0.0:
            value += c2 * 0.5 * s2
        return value

    def __call__(self, w, **params):
        """The penalty R(w), a Python float."""
        arr, flat, _, c1, c2 = self._prepare(w, params)
        s1, s2 = _penalties.sums(flat, None, c1, c2, _threads.threads_for(flat.size))
        return self._combine(c1, c2, s1, s2)

    def grad(self, w, *, out=None, **params):
        """dR/dw, shape and dtype of w (written into ``out`` when given)."""
        arr, flat, order, c1, c2 = self._prepare(w, params, out)
        result, gflat = V.new_output(arr.shape, arr.dtype, order, out, (flat,))
        _penalties.grad(flat, gflat, c1, c2, _threads.threads_for(flat.size))
        return result

    def value_and_grad(self, w, *, out=None, **params):
        """(R(w), dR/dw) from one pass over w."""
        arr, flat, order, c1, c2 = self._prepare(w, params, out)
        result, gflat = V.new_output(arr.shape, arr.dtype, order, out, (flat,))
        s1, s2 = _penalties.sums(flat, gflat, c1, c2, _threads.threads_for(flat.size))
        return self._combine(c1, c2, s1, s2), result

    def make_inputs(self, n, dtype, rng):
        """Random (w,) with n elements, for tests and benchmarks."""
        return (rng.standard_normal(n).astype(dtype),)


def _check_l1_ratio(value):
    return V.check_real("l1_ratio", value, low=0.0, high=1.0)


l1_penalty = Penalty("l1_penalty", """L1 penalty: R(w) = sum |w| over all elements of w.

    Gradient sign(w), with the subgradient 0 at w == 0 (NaN stays NaN).

    Examples
    --------
    >>> import fastloss as fl
    >>> fl.l1_penalty([[1.0, -2.0], [0.0, 3.0]])
    6.0
    >>> fl.l1_penalty.grad([1.0, -2.0, 0.0])
    array([ 1., -1.,  0.])
""", lambda: (1.0, 0.0))

l2_penalty = Penalty("l2_penalty", """L2 penalty: R(w) = sum w^2 / 2 (HALF the squared norm).

    Gradient w. The 1/2 is scikit-learn's SGD/ElasticNet convention and makes the gradient w
    (PyTorch's ``weight_decay=lam`` is the gradient of ``lam * l2_penalty``). For Ridge's
    alpha * ||w||^2 use ``2 * alpha * l2_penalty(w)``.

    Examples
    --------
    >>> import fastloss as fl
    >>> fl.l2_penalty([3.0, 4.0])
    12.5
""", lambda: (0.0, 1.0))

elastic_net = Penalty("elastic_net", """Elastic-net penalty, as scikit-learn's ElasticNet (alpha = 1).

    R(w) = l1_ratio * sum |w| + (1 - l1_ratio) * sum w^2 / 2; gradient
    l1_ratio * sign(w) + (1 - l1_ratio) * w (subgradient 0 at w == 0 for the L1 part).
    l1_ratio = 1 is ``l1_penalty``, l1_ratio = 0 is ``l2_penalty``.

    Parameters
    ----------
    w : array_like
        Parameters, any shape.
    l1_ratio : float, default 0.5
        In [0, 1].

    Examples
    --------
    >>> import fastloss as fl
    >>> fl.elastic_net([3.0, -4.0], l1_ratio=0.5)     # 0.5 * 7 + 0.5 * 25 / 2
    9.75
""", lambda r: (r, 1.0 - r), params=[Param("l1_ratio", 0.5, _check_l1_ratio)])

PENALTIES = {p.name: p for p in (l1_penalty, l2_penalty, elastic_net)}


def available():
    """Names of the penalties, sorted."""
    return sorted(PENALTIES)


def get(name):
    """The penalty called `name` (see ``available()``)."""
    if isinstance(name, Penalty):
        return name
    try:
        return PENALTIES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown penalty {name!r}; available: {', '.join(available())}") \
            from None


class Objective:
    """A training objective: reduced loss + l1 * sum|w| + l2 * sum w^2 / 2.

    Parameters
    ----------
    loss : Loss or str
        A (y_true, y_pred) loss, or its registered name.
    l1, l2 : float, default 0.0
        Non-negative penalty strengths. The L2 term is l2 * ``l2_penalty(w)`` = l2 * sum w^2 / 2,
        so its gradient is l2 * w.
    **loss_params
        Bound to the loss (``huber``'s delta, ...).

    ``value(y, pred, w)`` is the loss (mean by default) plus the penalties on ``w``;
    ``value_and_grad(y, pred, w)`` returns ``(value, grad_pred, grad_w)``. The gradient with
    respect to the model's parameters is then the chain rule: for a linear model
    pred = X @ w, ``X.T @ grad_pred + grad_w``. ``sample_weight`` and ``reduction`` ("mean" or
    "sum") are passed to the loss; the penalty is not divided by n.

    Examples
    --------
    >>> import numpy as np, fastloss as fl
    >>> obj = fl.Objective("mse", l2=0.1)
    >>> value, grad_pred, grad_w = obj.value_and_grad([1.0, 2.0], [1.5, 2.0], np.array([3.0]))
    >>> round(value, 12)                     # 0.125 + 0.1 * 9 / 2
    0.575
    >>> grad_w
    array([0.3])
    """

    def __init__(self, loss, l1=0.0, l2=0.0, **loss_params):
        loss = get_loss(loss)
        if getattr(loss, "inputs", ("y_true", "y_pred")) != ("y_true", "y_pred"):
            raise TypeError(f"Objective needs a (y_true, y_pred) loss; {loss.name} takes "
                            f"{getattr(loss, 'inputs')}")
        self.loss = loss.with_params(**loss_params) if loss_params else loss
        self.l1 = V.check_real("l1", l1, low=0.0)
        self.l2 = V.check_real("l2", l2, low=0.0)

    def __repr__(self):
        return f"<fastloss.Objective {self.loss.name} + l1={self.l1!r} + l2={self.l2!r}>"

    def _check_reduction(self, reduction):
        V.check_reduction(reduction)
        if reduction == "none":
            raise ValueError("Objective needs a scalar loss: reduction must be 'mean' or 'sum'")

    def penalty(self, w):
        """l1 * sum|w| + l2 * sum w^2 / 2."""
        flat = V.flatten(V.prediction_array(w, "w"), "C")
        s1, s2 = _penalties.sums(flat, None, self.l1, self.l2, _threads.threads_for(flat.size))
        return Penalty._combine(self.l1, self.l2, s1, s2)

    def value(self, y_true, y_pred, w, *, sample_weight=None, reduction="mean"):
        """Reduced loss + penalties."""
        self._check_reduction(reduction)
        return self.loss(y_true, y_pred, sample_weight=sample_weight,
                         reduction=reduction) + self.penalty(w)

    __call__ = value

    def value_and_grad(self, y_true, y_pred, w, *, sample_weight=None, reduction="mean"):
        """(value, d value / d y_pred, d value / d w), each gradient in its input's dtype."""
        self._check_reduction(reduction)
        loss_value, grad_pred = self.loss.value_and_grad(y_true, y_pred,
                                                         sample_weight=sample_weight,
                                                         reduction=reduction)
        arr = V.prediction_array(w, "w")
        flat = V.flatten(arr, "C")
        grad_w = V.empty(arr.shape, arr.dtype)
        s1, s2 = _penalties.sums(flat, grad_w.reshape(-1), self.l1, self.l2,
                                 _threads.threads_for(flat.size))
        return loss_value + Penalty._combine(self.l1, self.l2, s1, s2), grad_pred, grad_w
