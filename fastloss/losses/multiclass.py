"""Multiclass losses: row-wise over (N, K) logits, scores or probabilities (OpenMP over rows).

cross_entropy, categorical_cross_entropy, multiclass_hinge, softmax_focal, kl_divergence.
Each row is one sample: the loss of a row is a scalar, ``reduction="none"`` gives the (N,)
per-row losses, the gradient has the (N, K) shape of the predictions, and ``sample_weight`` has
one weight per row, shape (N,).
"""

import math

import numpy as np

from fastloss import _threads
from fastloss import _validation as V
from fastloss._kernels._dispatch import load
from fastloss._loss import REAL, Domain, Loss, Param, _mean, make_loss

_kernels = load("_multiclass")
KINDS, RANGE_FLAGS, run = _kernels.KINDS, _kernels.RANGE_FLAGS, _kernels.run

_EMPTY_LABELS = np.empty(0, dtype=np.intp)
_EMPTY_2D = np.empty((0, 0))
_EMPTY_1D = np.empty(0)


class MulticlassLoss(Loss):
    """A loss of one row of K class scores (and its label or target distribution) per sample.

    The "mean" is sum_i w_i l_i / sum_i w_i over the rows, with w_i the sample weight (times
    the class weight of the row's label for ``cross_entropy``; ignored rows weigh 0).
    ``grad`` and ``grad_hess`` have the (N, K) shape and dtype of the predictions;
    ``grad_hess`` gives the diagonal of each row's Hessian. ``partial_sums`` counts rows.
    """

    kind = None              # the kernel's loss code
    target_kind = "labels"   # "labels", "probabilities" or "either" (see _validation.Rowwise)
    n_classes = 10           # K of make_inputs
    # For the generic tests (see Loss.domains): integer labels in [0, K) (K is y_pred's width,
    # so only make_inputs draws them) and real logits/scores, one row per sample.
    domains = {"y_true": Domain(0.0, math.inf, False, True), "y_pred": REAL}
    # True when a call with the default parameters on integer labels is the kernel run with
    # run()'s default keyword arguments: the per-call fast path (fast_rows) then applies.
    fast_rows = False

    def __init__(self):
        super().__init__()
        if self.fast_rows:
            self._fast, self._fast_config = _kernels.fast_rows, (self.kind,)

    def sample_weight_shape(self, y_true, y_pred):
        """One weight per row: shape (N,)."""
        return np.shape(y_pred)[:1]

    def make_inputs(self, n, dtype, rng, n_classes=None):
        """Random (labels, logits) with n elements of logits in all: max(1, n // K) rows of K =
        ``n_classes`` classes (default ``self.n_classes``, 10; the generic tests draw 1 and 2)."""
        k = self.n_classes if n_classes is None else n_classes
        rows = max(1, n // k)
        labels = rng.integers(0, k, size=rows)
        logits = (2.0 * rng.standard_normal((rows, k))).astype(dtype)
        return labels, logits

    # -- hooks per loss

    def _predictions_are_probabilities(self, params):
        return False

    def _kernel_args(self, a, params):
        """Loss-specific keyword arguments of the kernel (and "class_weight")."""
        return {}

    # -- shared machinery

    def _prepare(self, y_true, y_pred, sample_weight, params, fused_check=False):
        """Validated inputs and the kernel's keyword arguments. fused_check: a call that writes
        into no array of the caller's (no `out`) leaves the predictions' probability check to
        the kernel's own pass (kwargs["range_flag"]; _run raises as Rowwise would).
        Saves a NumPy min and max over the predictions: about a quarter of a value's time."""
        named = dict(zip(self._param_names, params))
        ignore_index = named.get("ignore_index")
        probabilities = self._predictions_are_probabilities(named)
        a = V.Rowwise(y_true, y_pred, sample_weight, self.target_kind, ignore_index=ignore_index,
                      probabilities_pred=probabilities and not fused_check,
                      check_targets=not fused_check)
        if ignore_index is not None and a.labels is None:
            raise ValueError("ignore_index applies to integer labels only, "
                             "not to probability targets")
        kwargs = self._kernel_args(a, named)
        kwargs.setdefault("class_weight", None)
        if ignore_index is not None:
            kwargs["has_ignore"] = True
            kwargs["ignore_index"] = ignore_index
        if fused_check and (probabilities or a.targets is not None):
            kwargs["range_flag"] = np.zeros(1, dtype=np.uint8)
        return a, kwargs

    def _run(self, a, kwargs, out=None, g=None, h=None, scale=1.0, hess_floor=0.0,
             weights_only=False, grad_only=False, **blocks):
        kw = dict(kwargs)
        class_weight = kw.pop("class_weight")
        empty_p1 = np.empty(0, dtype=a.pdtype)
        empty_p2 = np.empty((0, 0), dtype=a.pdtype)
        wide = a.targets is not None and a.targets.dtype == np.float64
        result = run(self.kind, a.p,
                     _EMPTY_LABELS if a.labels is None else a.labels,
                     a.targets if wide else _EMPTY_2D,
                     _EMPTY_1D if a.w is None else a.w,
                     _EMPTY_1D if class_weight is None else class_weight,
                     empty_p1 if out is None else out,
                     empty_p2 if g is None else g,
                     empty_p2 if h is None else h,
                     scale=scale, hess_floor=hess_floor, weights_only=weights_only,
                     grad_only=grad_only,
                     n_threads=_threads.threads_for(a.size),
                     targets_f4=a.targets if a.targets is not None and not wide else None,
                     **kw, **blocks)
        flag = kwargs.get("range_flag")
        if flag is not None and flag[0]:   # a probability outside [0, 1], flagged by the kernel:
            # Rowwise's own checks raise its error, targets first
            if flag[0] & RANGE_FLAGS["y_true"]:
                V.check_probabilities(a.targets, "y_true")
            if flag[0] & RANGE_FLAGS["y_pred"]:
                V.check_probabilities(a.p, "y_pred")
        return result

    def _weight_total(self, a, kwargs):
        """The "mean" denominator, summed in the same block order as the loss."""
        if a.w is None and "has_ignore" not in kwargs and \
                (kwargs["class_weight"] is None or self.kind != KINDS["cross_entropy"]
                 or a.labels is None):
            return float(a.n_rows)
        return self._run(a, kwargs, weights_only=True)[1]

    def _scale(self, a, kwargs, reduction):
        if reduction != "mean":
            return 1.0, None
        weight_total = self._weight_total(a, kwargs)
        return (1.0 / weight_total if weight_total != 0 else math.nan), weight_total

    def _value(self, y_true, y_pred, sample_weight, reduction, params):
        a, kwargs = self._prepare(y_true, y_pred, sample_weight, params, fused_check=True)
        if reduction == "none":
            out = a.output_rows()
            self._run(a, kwargs, out=out)
            return out
        total, weight_total = self._run(a, kwargs)
        return total if reduction == "sum" else _mean(total, weight_total)

    def _partial_sums(self, y_true, y_pred, sample_weight, params):
        a, kwargs = self._prepare(y_true, y_pred, sample_weight, params, fused_check=True)
        total, weight_total = self._run(a, kwargs)
        return total, weight_total, a.n_rows

    def _block_sums(self, block_rows, inputs, sample_weight, params):
        y_true, y_pred = inputs
        a, kwargs = self._prepare(y_true, y_pred, sample_weight, self.bind(params),
                                  fused_check=True)
        nb = -(-a.n_rows // block_rows)
        sums = np.zeros(2 * nb)
        self._run(a, kwargs, block_sums=sums, block_rows=block_rows)
        return sums[:nb], sums[nb:], a.n_rows

    def _grad(self, y_true, y_pred, sample_weight, reduction, out, params):
        a, kwargs = self._prepare(y_true, y_pred, sample_weight, params, fused_check=out is None)
        g = a.output(out)
        scale, _ = self._scale(a, kwargs, reduction)
        self._run(a, kwargs, g=g, scale=scale, grad_only=True)
        return g

    def _value_and_grad(self, y_true, y_pred, sample_weight, reduction, out, params):
        a, kwargs = self._prepare(y_true, y_pred, sample_weight, params, fused_check=out is None)
        g = a.output(out)
        if reduction == "none":       # per-row values and the gradient, still one pass
            values = a.output_rows()
            self._run(a, kwargs, out=values, g=g)
            return values, g
        scale, weight_total = self._scale(a, kwargs, reduction)
        total, _ = self._run(a, kwargs, g=g, scale=scale)
        return (total if reduction == "sum" else _mean(total, weight_total)), g

    def _grad_hess(self, y_true, y_pred, sample_weight, hess_floor, out, params):
        g_out, h_out = V.grad_hess_out(out)
        a, kwargs = self._prepare(y_true, y_pred, sample_weight, params,
                                  fused_check=g_out is None and h_out is None)
        g = a.output(g_out, name="out[0]")
        h = a.output(h_out, name="out[1]")
        if np.may_share_memory(g, h):
            raise ValueError("out[0] and out[1] must not overlap")
        self._run(a, kwargs, g=g, h=h, hess_floor=hess_floor, grad_only=True)
        return g, h


class _ProbabilityInputs(MulticlassLoss):
    """make_inputs for losses of probabilities: (targets, predictions) rows on the simplex."""

    def make_inputs(self, n, dtype, rng, n_classes=None):
        k = self.n_classes if n_classes is None else n_classes
        rows = max(1, n // k)
        pred = rng.dirichlet(np.ones(k), size=rows).astype(dtype)
        if self.target_kind == "probabilities":
            return rng.dirichlet(np.ones(k), size=rows), pred
        return rng.integers(0, k, size=rows), pred


_COMMON = """
    sample_weight : array_like, optional
        One non-negative finite weight per row, shape (N,). "mean" is sum(w*l) / sum(w).
    reduction : {"mean", "sum", "none"}
        "none" returns the (N,) per-row losses (times the weights) in the dtype of the
        predictions. The mean of an empty input, or of all-zero weights, is NaN; the sum is 0.

    Gradients (``grad``, ``value_and_grad``) and ``grad_hess`` have the (N, K) shape and dtype of
    the predictions; ``grad_hess`` gives the diagonal of each row's Hessian, weights multiplied
    in, floored at ``hess_floor``.
"""


def _checked(name, check):
    return lambda value: check(name, value)


# ---------------------------------------------------------------------------- cross_entropy

def _check_smoothing(value):
    return V.check_real("label_smoothing", value, low=0.0, high=1.0, high_open=True)


def _ce_args(self, a, p):
    return {"class_weight": a.check_class_weights(p["class_weight"]),
            "smoothing": p["label_smoothing"]}


cross_entropy = make_loss(MulticlassLoss, "cross_entropy", r"""Softmax cross-entropy from logits.

    With p = softmax(z) over the K classes of a row and the target distribution
    t = (1 - s) onehot(y) + s / K (label smoothing s), class weights c:

    .. math:: l(y, z) = -\sum_k c_k t_k \log p_k
              = \sum_k c_k t_k \,(\mathrm{logsumexp}(z) - z_k)

    Gradient: A p_j - a_j with a_k = c_k t_k and A = sum_k a_k (p - t without class weights).
    Diagonal Hessian: A p_j (1 - p_j).

    Conventions are PyTorch's ``torch.nn.functional.cross_entropy``: ``reduction="mean"`` with
    class weights is sum_i l_i / sum_i c_{y_i} over the rows not ignored (with sample weights
    w_i: sum_i w_i l_i / sum_i w_i c_{y_i}); the smoothing term is weighted by every c_k.
    With probability targets t the loss is -sum_k c_k ((1 - s) t_k + s / K) log p_k and the mean
    is over rows (not over class weights), as in PyTorch. Rows whose label equals
    ``ignore_index`` add nothing to the loss or the denominator and get a zero gradient.

    Numerics: the row max is subtracted before exponentiating and log-sum-exp is
    log1p(sum of the other classes' exp(z_k - max)), so any finite logits work (1e4 included)
    and p -> 1 keeps full precision. A -inf logit on a class without target mass has
    probability 0 and adds nothing; -inf on the target gives inf. +inf logits share the
    probability mass equally (the limit); a row of only -inf logits, and NaN, give NaN.

    Parameters
    ----------
    y_true : array_like
        Integer class labels of shape (N,) (any integer dtype), in [0, K) or equal to
        ``ignore_index``; or target probabilities of shape (N, K), in [0, 1].
    y_pred : array_like
        Logits of shape (N, K). float32 stays float32.
    class_weight : array_like of shape (K,), optional
        Non-negative weight of each class.
    label_smoothing : float, default 0.0
        s in [0, 1): the target becomes (1 - s) t + s / K.
    ignore_index : int, optional
        Label value whose rows are ignored (integer labels only; may be negative).
""" + _COMMON + """
    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.cross_entropy([2], [[1.2, 0.5, 3.1, 0.8]]), 5)   # -log softmax = -log 0.7552
    0.28073
""", run, params=[Param("class_weight", None, V.check_class_weight),
                  Param("label_smoothing", 0.0, _check_smoothing),
                  Param("ignore_index", None, V.check_ignore_index)],
    family="multiclass", kind=KINDS["cross_entropy"], target_kind="either",
    _kernel_args=_ce_args, fast_rows=True)


# ---------------------------------------------------------------------------- categorical CE

def _cce_args(self, a, p):
    eps = p["eps"]
    return {"eps": float(np.finfo(a.pdtype).eps) if eps is None else eps}


def _clip_kinks(self, y_true, y_pred, eps=None):
    """Distance of each probability to the clip's kinks at eps and 1 - eps."""
    q = np.asarray(y_pred, dtype=np.float64)
    eps = float(np.finfo(np.asarray(y_pred).dtype).eps) if eps is None else eps
    return np.minimum(np.abs(q - eps), np.abs(q - (1.0 - eps)))


categorical_cross_entropy = make_loss(
    _ProbabilityInputs, "categorical_cross_entropy",
    r"""Categorical cross-entropy from predicted probabilities (the textbook form).

    .. math:: l(t, q) = -\sum_k t_k \log \mathrm{clip}(q_k, \epsilon, 1 - \epsilon)

    with t the one-hot label (or a target distribution). The predictions are used as given
    (not renormalised); the clip keeps log finite at q = 0.

    Gradient (of the clipped loss): -t_k / q_k where eps <= q_k <= 1 - eps, 0 where the clip is
    active. Diagonal Hessian: t_k / q_k^2 inside the clip range, 0 outside.

    Parameters
    ----------
    y_true : array_like
        Integer class labels of shape (N,) in [0, K), or one-hot / probability targets of
        shape (N, K) in [0, 1].
    y_pred : array_like
        Predicted probabilities of shape (N, K), in [0, 1]. float32 stays float32.
    eps : float, optional
        The clip, in [0, 0.5). Default: the machine epsilon of the prediction dtype
        (2.2e-16 for float64, 1.19e-7 for float32: the smallest loss is then -log(1 - eps)).
""" + _COMMON + """
    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.categorical_cross_entropy([0, 1], [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]]), 5)
    0.28991
""", run, params=[Param("eps", None, V.check_eps)], family="multiclass",
    kind=KINDS["categorical_cross_entropy"], target_kind="either",
    _predictions_are_probabilities=lambda self, p: True, _kernel_args=_cce_args,
    domains={"y_true": Domain(0.0, math.inf, False, True), "y_pred": Domain(0.0, 1.0)},
    smooth=False, kink_distance=_clip_kinks)


# ---------------------------------------------------------------------------- multiclass hinge

def _check_margin(value):
    return V.check_real("margin", value)


def _hinge_args(self, a, p):
    return {"margin": p["margin"]}


def _hinge_kinks(self, y_true, y_pred, margin=1.0):
    """Distance of each score to the nearest kink: |margin - s_y + s_j| for a wrong class j;
    the true class's score moves every margin, so its distance is the smallest of them."""
    s = np.asarray(y_pred, dtype=np.float64)
    rows = np.arange(s.shape[0])
    labels = np.asarray(y_true, dtype=np.intp)
    margins = np.abs(margin - s[rows, labels][:, None] + s)
    margins[rows, labels] = np.inf
    margins[rows, labels] = margins.min(axis=1) if s.shape[1] > 1 else np.inf
    return margins


multiclass_hinge = make_loss(MulticlassLoss, "multiclass_hinge", r"""Multiclass hinge loss (Weston-Watkins, the multiclass SVM).

    .. math:: l(y, s) = \sum_{j \ne y} \max(0, \mathrm{margin} - s_y + s_j)

    The sum over the wrong classes, as in Weston & Watkins and the CS231n SVM loss. PyTorch's
    ``multi_margin_loss(p=1, margin)`` divides this by K: fastloss's value is K times PyTorch's
    (and so is the gradient).

    Subgradient: +1 for every class j != y with margin - s_y + s_j > 0, and minus the number of
    such classes for y; 0 at the kink (= 0). Second derivative 0 (floor it with ``hess_floor``).

    Parameters
    ----------
    y_true : array_like
        Integer class labels of shape (N,) in [0, K).
    y_pred : array_like
        Scores of shape (N, K). float32 stays float32.
    margin : float, default 1.0
        The required gap between the true class's score and the others'.
""" + _COMMON + """
    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.multiclass_hinge([0], [[3.2, 5.1, -1.7]]), 6)   # max(0, 2.9) + max(0, -3.9)
    2.9
""", run, params=[Param("margin", 1.0, _check_margin)], family="multiclass",
    kind=KINDS["multiclass_hinge"], _kernel_args=_hinge_args,
    smooth=False, kink_distance=_hinge_kinks)


# ---------------------------------------------------------------------------- softmax focal

def _check_gamma(value):
    return V.check_real("gamma", value, low=0.0)


def _focal_args(self, a, p):
    return {"class_weight": a.check_class_weights(p["alpha"], "alpha"), "gamma": p["gamma"]}


softmax_focal = make_loss(MulticlassLoss, "softmax_focal", r"""Multiclass (softmax) focal loss from logits (Lin et al. 2017).

    .. math:: l(y, z) = -\alpha_y (1 - p_y)^\gamma \log p_y, \quad p = \mathrm{softmax}(z)

    Down-weights well-classified rows; gamma = 0 and alpha None is ``cross_entropy``. The mean
    is over rows (sample weights), not over alpha.

    Gradient, with q = 1 - p_y and d_j = [j = y] - p_j:
    alpha_y G d_j where G = -q^gamma (1 + gamma p_y (-log p_y) / q).
    Diagonal Hessian: alpha_y (gamma q^gamma (d_j^2 / q) (2 p_y - q r + (gamma - 1) p_y r)
    - G p_j (1 - p_j)) with r = p_y (-log p_y) / q. q is summed from the other classes'
    probabilities (exact as p_y -> 1), log p_y comes from the stable log-sum-exp, and r -> 1 as
    q -> 0, so nothing saturates or overflows at large logits. The focal loss is not convex:
    negative diagonal entries are floored at ``hess_floor`` (0 by default) by ``grad_hess``.

    Parameters
    ----------
    y_true : array_like
        Integer class labels of shape (N,) in [0, K).
    y_pred : array_like
        Logits of shape (N, K). float32 stays float32.
    gamma : float, default 2.0
        Focusing parameter, >= 0.
    alpha : float or array_like of shape (K,), optional
        Weight of the true class (a scalar for every class, or one per class), >= 0; None is 1.
""" + _COMMON + """
    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.softmax_focal([0], [[0.0, 0.0]], gamma=2.0), 6)   # 0.5^2 * log 2
    0.173287
""", run, params=[Param("gamma", 2.0, _check_gamma),
                  Param("alpha", None, V.check_alpha_weights)],
    family="multiclass", kind=KINDS["softmax_focal"], _kernel_args=_focal_args)


# ---------------------------------------------------------------------------- kl_divergence

def _kl_args(self, a, p):
    return {"log_input": p["log_input"]}


def _kl_inputs(self, n, dtype, rng, n_classes=None):
    k = self.n_classes if n_classes is None else n_classes
    rows = max(1, n // k)
    p_true = rng.dirichlet(np.ones(k), size=rows)
    q = rng.dirichlet(np.ones(k), size=rows).astype(dtype)
    return p_true, q


kl_divergence = make_loss(_ProbabilityInputs, "kl_divergence", r"""Kullback-Leibler divergence KL(p || q) of each row, averaged over rows.

    .. math:: l(p, q) = \sum_k p_k (\log p_k - \log q_k), \quad 0 \log 0 = 0

    ``log_input=True`` takes log q instead of q (as PyTorch's ``kl_div`` takes its input);
    ``reduction="mean"`` is the mean over rows, PyTorch's ``reduction="batchmean"``.
    A class with p_k > 0 and q_k = 0 gives inf.

    Gradient with respect to q: -p_k / q_k (0 where p_k = 0); with log_input, -p_k.
    Diagonal Hessian: p_k / q_k^2; with log_input, 0.

    Parameters
    ----------
    y_true : array_like
        The true distributions p, shape (N, K), in [0, 1].
    y_pred : array_like
        The predicted distributions q, shape (N, K), in [0, 1]; or log q with log_input.
    log_input : bool, default False
        Whether ``y_pred`` holds log-probabilities.
""" + _COMMON + """
    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.kl_divergence([[0.5, 0.5]], [[0.9, 0.1]]), 6)   # 0.5 log(5/9) + 0.5 log 5
    0.510826
""", run, params=[Param("log_input", False, _checked("log_input", V.check_bool))],
    family="multiclass", kind=KINDS["kl_divergence"], target_kind="probabilities",
    domains={"y_true": Domain(0.0, 1.0), "y_pred": Domain(0.0, 1.0)},
    _predictions_are_probabilities=lambda self, p: not p["log_input"],
    _kernel_args=_kl_args, make_inputs=_kl_inputs)
