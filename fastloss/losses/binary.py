"""Binary classification losses: binary_cross_entropy, binary_cross_entropy_with_logits, hinge,
squared_hinge, focal (elementwise, any shape).

Targets are checked without an input-sized temporary: targets in [0, 1] (soft targets allowed)
for the cross-entropies and focal, labels {-1, +1} or {0, 1} for the hinge losses, predictions in
[0, 1] for the probability form. Every call checks them inside the kernel's own pass (fused
flags, block by block while the block is in cache; the inputs are read once); on a flag the
error comes from the full check of _check_inputs (_parallel.outside_unit_interval, or the hinge
label scan), which finds the first bad element. NaN is not an error anywhere: it propagates.
"""

import sys

import numpy as np

from fastloss import _threads
from fastloss import _validation as V
from fastloss._kernels._dispatch import load
from fastloss._kernels._binary_labels import scan_sign_labels
from fastloss._loss import REAL, Domain, ElementwiseLoss, Param, make_loss

# The flags of the kernels' fused target checks (_common.pxd): a target or a probability out
# of its domain, a label -1, a label 0.
_FLAG_TARGET, _FLAG_PREDICTION, _FLAG_MINUS_ONE, _FLAG_ZERO = 1, 2, 4, 8

KERNELS = load("_binary").KERNELS
_parallel = load("_parallel")

# ----------------------------------------------------------------------------- checks


def _flat_index(arr, flat_position, order="C"):
    """A readable index of an element: the integer for 1-D input, a tuple otherwise."""
    if arr.ndim == 1:
        return int(flat_position)
    return tuple(int(i) for i in np.unravel_index(flat_position, arr.shape, order=order))


def _outside_unit_interval(arr):
    """Whether some value lies outside [0, 1] (NaN does not: it propagates): one parallel pass
    for a contiguous float32/float64 array, two NaN-ignoring NumPy reductions otherwise."""
    if arr.dtype in (np.float32, np.float64) and arr.dtype.isnative and (
            arr.flags.c_contiguous or arr.flags.f_contiguous):
        flat = arr.ravel("F" if not arr.flags.c_contiguous else "C")   # a view
        return _parallel.outside_unit_interval(flat, _threads.threads_for(flat.size))
    return np.fmin.reduce(arr, axis=None) < 0 or np.fmax.reduce(arr, axis=None) > 1


def _check_unit_interval(arr, name, what, loss_name):
    """Every value in [0, 1] (NaN allowed: it propagates)."""
    if arr.size == 0:
        return
    if _outside_unit_interval(arr):
        # Error path only: locate the first offender for the message.
        first = int(np.flatnonzero((arr < 0) | (arr > 1))[0])
        raise ValueError(f"{name} must be {what} in [0, 1] for {loss_name}; found "
                         f"{arr.reshape(-1)[first].item()!r} at index {_flat_index(arr, first)}")


# scan_sign_labels arguments per dtype: (words per label, index of the sign/exponent word,
# bits of 1.0 and of inf in that word).
_HIGH_WORD = 1 if sys.byteorder == "little" else 0
_LABEL_WORDS = {np.dtype(np.float32): (1, 0, 0x3F800000, 0x7F800000),
                np.dtype(np.float64): (2, _HIGH_WORD, 0x3FF00000, 0x7FF00000)}


def _check_sign_labels(y, loss_name):
    """Labels {-1, +1} or {0, 1} (NaN allowed), else ValueError; the kernels read both codings
    alike (1 -> +1, -1 and 0 -> -1), so only a mix of -1 and 0 is ambiguous."""
    if y.size == 0:
        return
    if y.dtype.kind == "f":
        labels = y
        if labels.dtype not in _LABEL_WORDS or not labels.dtype.isnative:
            labels = labels.astype(np.float64 if labels.dtype.itemsize > 4 else np.float32)
        order = "F" if labels.flags.f_contiguous and not labels.flags.c_contiguous else "C"
        flat = labels.ravel(order)   # a view for contiguous input
        first_bad, any_neg, any_zero = scan_sign_labels(flat.view(np.uint32),
                                                        *_LABEL_WORDS[flat.dtype],
                                                        _threads.threads_for(flat.size))
        if first_bad >= 0:
            raise ValueError(f"y_true must hold labels in {{-1, +1}} or {{0, 1}} for {loss_name}; "
                             f"found {flat[first_bad].item()!r} at index "
                             f"{_flat_index(y, first_bad, order)}")
    else:   # integers and booleans: min/max and a count, no temporaries
        low, high = int(y.min()), int(y.max())
        if low < -1 or high > 1:
            first = int(np.flatnonzero((y < -1) | (y > 1))[0])
            raise ValueError(f"y_true must hold labels in {{-1, +1}} or {{0, 1}} for {loss_name}; "
                             f"found {y.reshape(-1)[first].item()!r} at index {_flat_index(y, first)}")
        any_neg = low == -1
        any_zero = low == 0 or (any_neg and np.count_nonzero(y) < y.size)
    if any_neg and any_zero:
        raise ValueError(f"y_true mixes the labels -1 and 0 for {loss_name}; use {{-1, +1}} "
                         "or {0, 1}")


class BinaryLoss(ElementwiseLoss):
    """An elementwise binary loss whose inputs are checked against their domain.

    ``targets`` says what y_true must hold: "unit" (values in [0, 1]) or "signs" (labels
    {-1, +1} or {0, 1}, read by the kernels without a relabelled copy). ``probabilities``
    requires y_pred in [0, 1]. ``_kernel_params`` turns the bound parameters into the kernel's
    (defaults that depend on the dtype are resolved there).

    Every call checks the inputs inside the kernel (ElementwiseLoss's fused check: the kernel
    ORs per-element flags; the hinge losses' grad through their value-and-gradient kernel,
    ``grad_by_value_grad``) and raises after it; on that error a given ``out=`` may already
    hold the derivatives (value_and_grad with reduction="none" checks in its values' kernel,
    before the derivatives').
    """

    fused_check = True

    targets = "unit"
    probabilities = False
    # For the generic tests (see Loss.domains): targets in [0, 1], real logits/scores.
    domains = {"y_true": Domain(0.0, 1.0), "y_pred": REAL}

    def _kernel_params(self, y, p, params):
        return params

    # The per-call fast path (fastloss._loss.Loss._fast) checks the targets as _check_inputs
    # does, before its kernel, and leaves inputs that fail to the general path.
    # It calls _kernel_params once per prediction dtype, on empty arrays: a loss whose kernel
    # parameters depend on more than the prediction dtype must not use it.

    @property
    def fast_targets(self):
        if self.targets == "signs":
            return None if self.probabilities else "signs"
        return "unit_both" if self.probabilities else "unit"

    def _fast_kernel_params(self, pdtype):
        empty = np.empty(0, dtype=pdtype)
        return self._kernel_params(empty, empty, self._default_values)

    def _check_inputs(self, y, p):
        """Raise ValueError when a target (or a probability) is out of its domain."""
        if self.targets == "signs":
            _check_sign_labels(y, self.name)
        else:
            _check_unit_interval(y, "y_true", "targets", self.name)
        if self.probabilities:
            _check_unit_interval(p, "y_pred", "probabilities", self.name)

    def _check_flags(self, flags, y, p):
        """After a fused check: the same errors as _check_inputs, from the kernel's flags."""
        if flags & (_FLAG_TARGET | _FLAG_PREDICTION) or (
                flags & _FLAG_MINUS_ONE and flags & _FLAG_ZERO):
            self._check_inputs(y, p)
            raise AssertionError(f"{self.name}: the kernel flagged inputs the checks accept "
                                 f"(flags {flags})")

    def _prepare(self, y_true, y_pred, params):
        """(y_true, y_pred, kernel parameters): arrays the family code will not copy again. The
        domain check is the kernel's (see _check_flags)."""
        y = V._as_array(y_true, "y_true")
        p = V.prediction_array(y_pred)
        V.check_same_shape(y, p, "y_true", "y_pred")
        return y, p, self._kernel_params(y, p, params)


# ----------------------------------------------------------------------------- parameters


def _check_eps(value):
    if value is None:
        return None
    return V.check_real("eps", value, low=0.0, high=0.5, low_open=True, high_open=True)


def _check_pos_weight(value):
    if value is None:
        return 1.0
    return V.check_real("pos_weight", value, low=0.0)


def _check_margin(value):
    return V.check_real("margin", value, low=0.0)


def _check_gamma(value):
    return V.check_real("gamma", value, low=0.0)


def _check_alpha(value):
    if value is None:
        return -1.0
    return V.check_real("alpha", value, high=1.0)


# ----------------------------------------------------------------------------- random inputs


def _labels(n, dtype, rng):
    return rng.integers(0, 2, n).astype(dtype)


def _probability_inputs(self, n, dtype, rng):
    """Labels {0, 1} and probabilities in [0.01, 0.99]."""
    return _labels(n, dtype, rng), rng.uniform(0.01, 0.99, n).astype(dtype)


def _logit_inputs(self, n, dtype, rng):
    """Labels {0, 1} and logits ~ N(0, 3^2)."""
    return _labels(n, dtype, rng), (3.0 * rng.standard_normal(n)).astype(dtype)


def _sign_inputs(self, n, dtype, rng):
    """Labels {-1, +1} and scores ~ N(0, 1.5^2) (a fair share on each side of the margin)."""
    return (2.0 * _labels(n, dtype, rng) - 1.0).astype(dtype), \
        (1.5 * rng.standard_normal(n)).astype(dtype)


# ----------------------------------------------------------------------------- documentation

_COMMON = """
    y_true : array_like
        {targets}
    y_pred : array_like
        {predictions}, the same shape as ``y_true`` (no broadcasting). float32 stays float32.
    sample_weight : array_like, optional
        Non-negative finite weights of the same shape. "mean" is then sum(w*l) / sum(w).
    reduction : {{"mean", "sum", "none"}}
        "none" returns the per-element losses (times the weights) in the dtype of ``y_pred``.
        The mean of an empty input, or of all-zero weights, is NaN; the sum is 0.
"""

_SOFT_TARGETS = ("Targets in [0, 1]: labels {0, 1} or soft targets (probabilities); anything "
                 "else is a ValueError. NaN propagates.")
_SIGN_TARGETS = ("Labels {-1, +1}, or {0, 1} read as {-1, +1} (0 -> -1); mixing -1 and 0, or any "
                 "other value, is a ValueError. NaN propagates.")


def _doc(summary, formula, grad, hess, notes, example, params, targets, predictions):
    common = _COMMON.format(targets=targets, predictions=predictions)
    return f"""{summary}

    .. math:: {formula}

    Gradient (d l / d y_pred): {grad}. Second derivative: {hess}.
    {notes}

    Parameters
    ----------{params}{common}
    Examples
    --------
{example}
"""


# ----------------------------------------------------------------------------- the losses


class _BinaryCrossEntropy(BinaryLoss):
    probabilities = True
    domains = {"y_true": Domain(0.0, 1.0), "y_pred": Domain(0.0, 1.0)}
    smooth = False   # the clip to [eps, 1 - eps] has kinks at eps and 1 - eps

    def kink_distance(self, y_true, y_pred, eps=None):
        p = np.asarray(y_pred, dtype=np.float64)
        eps = float(np.finfo(np.asarray(y_pred).dtype).eps) if eps is None else eps
        return np.minimum(np.abs(p - eps), np.abs(p - (1.0 - eps)))

    def _kernel_params(self, y, p, params):
        (eps,) = params
        # The default: the machine epsilon of the prediction dtype (2.2e-16 for float64,
        # 1.19e-7 for float32), as scikit-learn's log_loss; the largest loss is then -log(eps).
        return (float(np.finfo(p.dtype).eps) if eps is None else eps,)


binary_cross_entropy = make_loss(_BinaryCrossEntropy, "binary_cross_entropy", _doc(
    "Binary cross-entropy (log loss) from predicted probabilities.",
    r"l(y, p) = -\left(y \log p_c + (1 - y) \log(1 - p_c)\right),"
    r"\quad p_c = \min(\max(p, \varepsilon), 1 - \varepsilon)",
    "(p_c - y) / (p_c (1 - p_c)), the derivative of the formula at the clipped probability "
    "(the clip passes the gradient through, so a prediction stuck at 0 or 1 still gets one)",
    "y / p_c^2 + (1 - y) / (1 - p_c)^2",
    "Clipping keeps every value finite: the largest loss is -log(eps) (36.04 for float64, "
    "15.94 for float32 with the default eps). Prefer ``binary_cross_entropy_with_logits`` when "
    "the model produces logits: it needs no clipping and is exact everywhere.",
    """    >>> import fastloss as fl
    >>> round(fl.binary_cross_entropy([1], [0.2]), 4)   # a spam email predicted at 0.2
    1.6094
    >>> round(fl.binary_cross_entropy([1, 0, 1, 1, 0], [0.9, 0.1, 0.8, 0.7, 0.2]), 5)
    0.20274""",
    """
    eps : float, optional
        Probabilities are clipped to [eps, 1 - eps]; 0 < eps < 0.5. The default (None) is the
        machine epsilon of the prediction dtype: ``np.finfo(dtype).eps``, 2.22e-16 for float64
        and 1.19e-7 for float32 (scikit-learn's ``log_loss`` convention).""",
    _SOFT_TARGETS, "Predicted probabilities of the positive class, in [0, 1]"),
    KERNELS["binary_cross_entropy"], params=[Param("eps", None, _check_eps)], family="binary",
    make_inputs=_probability_inputs)

binary_cross_entropy_with_logits = make_loss(
    BinaryLoss, "binary_cross_entropy_with_logits", _doc(
        "Binary cross-entropy from logits, exact for every logit (PyTorch's BCEWithLogitsLoss).",
        r"l(y, z) = w_+\, y \log(1 + e^{-z}) + (1 - y) \log(1 + e^{z})",
        "-w_+ y sigmoid(-z) + (1 - y) sigmoid(z), which is sigmoid(z) - y when pos_weight = 1",
        "(w_+ y + 1 - y) sigmoid(z) (1 - sigmoid(z))",
        "Both softplus terms are computed as max(+-z, 0) + log1p(exp(-|z|)): no overflow and no "
        "clipping (a logit of 40 with label 0 costs 40, not 16.1; -1e4 with label 1 costs 1e4). "
        "Logits of +-inf give the exact limits (0 or inf), never NaN; a term whose coefficient is "
        "0 is left out, so 0 * inf never occurs. Gradient and Hessian are those XGBoost's "
        "``binary:logistic`` uses.",
        """    >>> import fastloss as fl
    >>> fl.binary_cross_entropy_with_logits([0.0, 1.0], [40.0, -1e4], reduction="none")
    array([   40., 10000.])""",
        """
    pos_weight : float, default 1.0
        w_+ >= 0, the weight of the positive term (PyTorch's ``pos_weight``, as a scalar):
        above 1 raises recall, below 1 precision. None or 1.0 means no re-weighting.""",
        _SOFT_TARGETS, "Logits z (any real number, +-inf included)"),
    KERNELS["binary_cross_entropy_with_logits"],
    params=[Param("pos_weight", 1.0, _check_pos_weight)], family="binary",
    make_inputs=_logit_inputs)


class _SignLoss(BinaryLoss):
    targets = "signs"
    grad_by_value_grad = True
    # Labels {-1, +1} or {0, 1}: drawn by make_inputs only. Kinked where t s = margin.
    domains = {"y_true": Domain(-1.0, 1.0, True, True), "y_pred": REAL}
    smooth = False

    def kink_distance(self, y_true, y_pred, margin=1.0):
        y = np.asarray(y_true, dtype=np.float64)
        t = np.where(y > 0, 1.0, -1.0)     # the kernels' reading of both codings
        return np.abs(margin - t * np.asarray(y_pred, dtype=np.float64))


_HINGE_LABELS = ("Labels {-1, +1} are used as they are; labels {0, 1} are read as {-1, +1} "
                 "(without copying them).")

hinge = make_loss(_SignLoss, "hinge", _doc(
    "Hinge loss of a margin classifier (the linear SVM loss).",
    r"l(y, s) = \max(0, m - t s),\quad t \in \{-1, +1\}",
    "-t where t s < m, 0 where t s > m, and the midpoint -t/2 at the kink t s = m (the "
    "subgradient convention of ``mae`` and ``quantile``)",
    "0 (use ``grad_hess(..., hess_floor=...)`` for boosting, which needs hess > 0)",
    _HINGE_LABELS + " scikit-learn's ``hinge_loss`` for binary labels.",
    """    >>> import fastloss as fl
    >>> fl.hinge([1, 1, 1], [2.5, 0.8, -0.5], reduction="none")   # 0, 0.2 and 1.5
    array([0. , 0.2, 1.5])""",
    """
    margin : float, default 1.0
        m >= 0, the margin the score must clear on the right side.""",
    _SIGN_TARGETS, "Scores (decision function values), any real number"),
    KERNELS["hinge"], params=[Param("margin", 1.0, _check_margin)], family="binary",
    make_inputs=_sign_inputs)

squared_hinge = make_loss(_SignLoss, "squared_hinge", _doc(
    "Squared hinge loss: the hinge loss squared, differentiable everywhere.",
    r"l(y, s) = \max(0, m - t s)^2,\quad t \in \{-1, +1\}",
    "-2 t max(0, m - t s)",
    "2 where t s < m, 0 where t s > m, and the midpoint 1 at t s = m",
    _HINGE_LABELS + " scikit-learn's and Keras's ``squared_hinge``.",
    """    >>> import fastloss as fl
    >>> fl.squared_hinge([1, -1], [0.5, 0.5])   # (0.25 + 2.25) / 2
    1.25""",
    """
    margin : float, default 1.0
        m >= 0, the margin the score must clear on the right side.""",
    _SIGN_TARGETS, "Scores (decision function values), any real number"),
    KERNELS["squared_hinge"], params=[Param("margin", 1.0, _check_margin)], family="binary",
    make_inputs=_sign_inputs)

focal = make_loss(BinaryLoss, "focal", _doc(
    "Binary sigmoid focal loss from logits (torchvision's ``sigmoid_focal_loss``).",
    r"l(y, z) = \alpha_t\, \mathrm{BCE}(y, z)\, (1 - p_t)^\gamma,\quad"
    r"p_t = y \sigma(z) + (1 - y)(1 - \sigma(z)),\ \alpha_t = \alpha y + (1 - \alpha)(1 - y)",
    "alpha_t [(sigmoid(z) - y) q^gamma + BCE gamma (1 - 2y) q^(gamma - 1) sigmoid'(z)] with "
    "q = 1 - p_t, in closed form",
    "the closed-form second derivative (it can be negative: focal loss is not convex; floor it "
    "with ``hess_floor`` for boosting)",
    "Down-weights easy examples by (1 - p_t)^gamma. Computed in log space: log(1 - p_t) is "
    "-softplus(+-z) for labels, so the loss keeps its relative precision at large logits "
    "instead of rounding 1 - p_t to 0 beyond |z| ~ 37; z = +-inf gives the exact limits. "
    "gamma = 0 with alpha disabled is exactly ``binary_cross_entropy_with_logits``. Soft "
    "targets follow the same formula.",
    """    >>> import fastloss as fl
    >>> round(fl.focal([1], [0.0], gamma=2.0, alpha=0.25), 6)   # 0.25 * log(2) * 0.5^2
    0.043322""",
    """
    gamma : float, default 2.0
        The focusing exponent, >= 0; 0 gives the (alpha-weighted) cross-entropy.
    alpha : float or None, default 0.25
        The weight alpha <= 1 of the positive class (1 - alpha for the negative class);
        a negative value or None disables the weighting (alpha_t = 1).""",
    _SOFT_TARGETS, "Logits z (any real number, +-inf included)"),
    KERNELS["focal"], params=[Param("gamma", 2.0, _check_gamma), Param("alpha", 0.25, _check_alpha)],
    family="binary", make_inputs=_logit_inputs)
