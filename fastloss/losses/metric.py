"""Metric-learning losses over (N, D) embeddings: triplet_margin and contrastive.

These losses take several embedding arrays (and, for contrastive, a pair label per row), so their
call signature is their own: the inputs are positional, the keywords are the usual ones::

    fl.triplet_margin(anchor, positive, negative, *, sample_weight=None, reduction="mean", ...)
    fl.triplet_margin.grad(anchor, positive, negative)            # (d_anchor, d_positive, d_negative)
    fl.triplet_margin.value_and_grad(anchor, positive, negative)  # (value, that tuple), one pass

The loss of a row is l_i; "mean" is sum(w_i l_i) / sum(w_i) over rows, "sum" is sum(w_i l_i) and
"none" the per-row w_i l_i. Gradients have the shape and dtype of the inputs (float32 when every
embedding is float32, float64 otherwise); ``out=`` takes a tuple of C-contiguous buffers.
There is no per-element Hessian (``grad_hess`` raises TypeError).
"""

import numpy as np

from fastloss import _threads
from fastloss import _validation as V
from fastloss._kernels import _pairwise, _parallel
from fastloss._loss import Loss, Param, _mean, make_loss


class PairwiseLoss(Loss):
    """A loss over rows of (N, D) embeddings with gradients for every embedding input.

    Subclasses set ``inputs`` (names of the positional inputs), ``n_embeddings`` (how many of
    them are (N, D) arrays; the rest are per-row vectors) and ``_run``.
    """

    inputs = ()
    n_embeddings = 0
    family = "metric"

    @property
    def input_names(self):
        """The positional inputs (the generic tests read them): ``inputs``."""
        return self.inputs

    def sample_weight_shape(self, *inputs):
        """One weight per row: shape (N,)."""
        return np.shape(inputs[0])[:1]

    # ---------------------------------------------------------------- validation

    def _validate(self, inputs, sample_weight, out=None):
        if len(inputs) != len(self.inputs):
            raise TypeError(f"{self.name}() takes {len(self.inputs)} inputs "
                            f"({', '.join(self.inputs)}), got {len(inputs)}")
        k = self.n_embeddings
        arrays = V.row_arrays(inputs[:k], self.inputs[:k])
        n_rows = arrays[0].shape[0]
        extras = [self._check_extra(name, V.row_vector(x, n_rows, name))
                  for x, name in zip(inputs[k:], self.inputs[k:])]
        w = None
        if sample_weight is not None:
            w = V.row_vector(sample_weight, n_rows, "sample_weight")
            V.check_sample_weight(w)
        if out is not None:
            out = V.check_row_out(out, k, arrays[0].shape, arrays[0].dtype, arrays + extras)
        return arrays, extras, w

    def _check_extra(self, name, values):
        return values

    def _new_grads(self, arrays, out):
        if out is not None:
            return out
        return tuple(V.empty(arrays[0].shape, arrays[0].dtype) for _ in range(self.n_embeddings))

    # ---------------------------------------------------------------- public API

    def __call__(self, *inputs, sample_weight=None, reduction="mean", **params):
        V.check_reduction(reduction)
        params = self.bind(params)
        arrays, extras, w = self._validate(inputs, sample_weight)
        row_out = V.empty(arrays[0].shape[0], arrays[0].dtype) if reduction == "none" else None
        total, weight_total = self._run(arrays, extras, w, row_out, None, 1.0, params)
        if reduction == "none":
            return row_out
        return total if reduction == "sum" else _mean(total, weight_total)

    def partial_sums(self, *inputs, sample_weight=None, **params):
        """(sum of w*loss, sum of weights, row count)."""
        params = self.bind(params)
        arrays, extras, w = self._validate(inputs, sample_weight)
        total, weight_total = self._run(arrays, extras, w, None, None, 1.0, params)
        return total, weight_total, arrays[0].shape[0]

    def grad(self, *inputs, sample_weight=None, reduction="mean", out=None, **params):
        """Gradients of the reduced loss: a tuple, one array per embedding input."""
        return self.value_and_grad(*inputs, sample_weight=sample_weight, reduction=reduction,
                                   out=out, **params)[1]

    def value_and_grad(self, *inputs, sample_weight=None, reduction="mean", out=None, **params):
        """(value, tuple of gradients) from one pass; "none" gives per-row values."""
        V.check_reduction(reduction)
        params = self.bind(params)
        arrays, extras, w = self._validate(inputs, sample_weight, out)
        grads = self._new_grads(arrays, out)
        n_rows = arrays[0].shape[0]
        scale = 1.0
        if reduction == "mean":
            weight_total = float(n_rows) if w is None else _parallel.blocked_sum(w, 1)
            scale = 1.0 / weight_total if weight_total != 0 else np.nan
        row_out = V.empty(n_rows, arrays[0].dtype) if reduction == "none" else None
        total, weight_total = self._run(arrays, extras, w, row_out, grads, scale, params)
        if reduction == "none":
            return row_out, grads
        return (total if reduction == "sum" else _mean(total, weight_total)), grads

    def grad_hess(self, *inputs, **kwargs):
        raise TypeError(f"{self.name} has no per-element Hessian (its inputs are embeddings); "
                        "use grad or value_and_grad")

    def make_inputs(self, n, dtype, rng):
        """Random inputs with about n elements per embedding array: N = n // D rows, D <= 128."""
        d = min(128, max(n, 1))
        rows = n // d
        embeddings = [rng.standard_normal((rows, d)).astype(dtype)
                      for _ in range(self.n_embeddings)]
        extras = [rng.integers(0, 2, rows).astype(np.float64)
                  for _ in range(len(self.inputs) - self.n_embeddings)]
        return tuple(embeddings + extras)


# ------------------------------------------------------------------------------ triplet_margin

def _check_margin(value):
    return V.check_real("margin", value, low=0.0)


def _check_p(value):
    return V.check_real("p", value, low=1.0)


def _check_eps(value):
    return V.check_real("eps", value, low=0.0)


def _check_swap(value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"swap must be True or False, got {value!r}")
    return bool(value)


def _check_distance(value):
    return V.check_choice("distance", value, ("pnorm", "cosine"))


class TripletMarginLoss(PairwiseLoss):
    inputs = ("anchor", "positive", "negative")
    n_embeddings = 3

    def bind(self, params):
        margin, p, swap, eps, distance = super().bind(params)
        if distance == "cosine" and eps == 0.0:
            raise ValueError("eps must be > 0 with distance='cosine' (it bounds the norms "
                             "below, so a zero embedding gives no 0/0)")
        return margin, p, swap, eps, distance

    def _run(self, arrays, extras, w, row_out, grads, scale, params):
        margin, p, swap, eps, distance = params
        a, pos, neg = arrays
        ga, gp, gn = (None, None, None) if grads is None else grads
        return _pairwise.triplet(a, pos, neg, w, row_out, ga, gp, gn, scale, margin, p, swap,
                                 eps, distance == "cosine", _threads.threads_for(a.size))


triplet_margin = make_loss(TripletMarginLoss, "triplet_margin", r"""Triplet margin loss.

    .. math:: l_i = \max(0,\ d(a_i, p_i) - d(a_i, n_i) + \text{margin})

    with, for ``distance="pnorm"``, PyTorch's ``pairwise_distance``
    :math:`d(x, y) = \lVert x - y + \epsilon \rVert_p` (eps is added to the difference, as in
    ``torch.nn.TripletMarginLoss``), and for ``distance="cosine"``
    :math:`d(x, y) = 1 - x\cdot y / (\max(\lVert x\rVert, \epsilon) \max(\lVert y\rVert, \epsilon))`
    (as ``TripletMarginWithDistanceLoss`` with ``1 - cosine_similarity``, but with this eps).
    With ``swap=True`` the negative distance is :math:`\min(d(a, n), d(p, n))` (the distance
    swap of Balntas et al., as PyTorch).

    Gradients: for the p-norm, :math:`\partial d / \partial x_j = \mathrm{sign}(v_j)
    (|v_j| / d)^{p-1}` with :math:`v = x - y + \epsilon`; at a zero distance it is 0 (a
    subgradient), never NaN. The hinge has derivative 1 where its argument is > 0 and 0 where
    it is <= 0 (so a triplet exactly at the margin gets a zero gradient; PyTorch's clamp gives 1
    there). NaN in any input propagates to the loss and gradients of its row.

    Parameters
    ----------
    anchor, positive, negative : array_like, shape (N, D)
        Embeddings, all the same shape (no broadcasting); D may be 1. float32 stays float32
        when all three are float32.
    sample_weight : array_like, shape (N,), optional
        Non-negative per-row weights: "mean" is sum(w_i l_i) / sum(w_i).
    reduction : {"mean", "sum", "none"}
        "none" returns the N per-row losses (times the weights).
    margin : float, default 1.0
        Must be >= 0.
    p : float, default 2.0
        The norm's exponent, >= 1 (ignored for the cosine distance).
    swap : bool, default False
        Use the distance swap.
    eps : float, default 1e-6
        >= 0; added to the difference (p-norm) or bounding the norms below (cosine, then > 0).
    distance : {"pnorm", "cosine"}, default "pnorm"

    Returns
    -------
    The loss; ``grad`` returns ``(d_anchor, d_positive, d_negative)`` and ``value_and_grad``
    ``(value, (d_anchor, d_positive, d_negative))`` from one pass over the data.

    Examples
    --------
    >>> import fastloss as fl
    >>> a, p, n = [[0.0, 0.0]], [[3.0, 4.0]], [[1.0, 0.0]]
    >>> round(fl.triplet_margin(a, p, n, eps=0.0), 12)     # max(0, 5 - 1 + 1)
    5.0
    >>> fl.triplet_margin(a, p, n, eps=0.0, swap=True)     # d(p, n) = sqrt(20) > d(a, n) = 1
    5.0
""", None, params=[Param("margin", 1.0, _check_margin), Param("p", 2.0, _check_p),
                   Param("swap", False, _check_swap), Param("eps", 1e-6, _check_eps),
                   Param("distance", "pnorm", _check_distance)], family="metric")


# ------------------------------------------------------------------------------ contrastive

class ContrastiveLoss(PairwiseLoss):
    inputs = ("x1", "x2", "same")
    n_embeddings = 2

    def _check_extra(self, name, values):
        if values.size and not (values.min() >= 0.0 and values.max() <= 1.0):
            raise ValueError(f"{name} must hold pair labels in [0, 1] (1 = same, 0 = different); "
                             f"found values in [{values.min()}, {values.max()}]")
        return values

    def _run(self, arrays, extras, w, row_out, grads, scale, params):
        (margin,) = params
        x1, x2 = arrays
        g1, g2 = (None, None) if grads is None else grads
        return _pairwise.contrastive(x1, x2, extras[0], w, row_out, g1, g2, scale, margin,
                                     _threads.threads_for(x1.size))


contrastive = make_loss(ContrastiveLoss, "contrastive", r"""Contrastive loss of pairs (Hadsell, Chopra and LeCun, 2006).

    .. math:: l_i = \tfrac12 \left[ y_i\, d_i^2 + (1 - y_i) \max(0,\ \text{margin} - d_i)^2 \right],
              \quad d_i = \lVert x1_i - x2_i \rVert_2

    ``same`` = y = 1 marks a similar pair (pulled together), 0 a dissimilar one (pushed beyond
    the margin); soft labels in [0, 1] interpolate. The 1/2 is the paper's convention (so the
    similar-pair gradient is simply x1 - x2). No eps is added to the distance.

    Gradient: :math:`\partial l / \partial x1 = (y - (1 - y)\max(0, m - d) / d)(x1 - x2)` and
    :math:`\partial l / \partial x2 = -\partial l / \partial x1`. At d = 0 the pushing term's
    direction is undefined; it is taken as 0 (a valid subgradient), never NaN.

    Parameters
    ----------
    x1, x2 : array_like, shape (N, D)
        The two embeddings of each pair, same shape.
    same : array_like, shape (N,)
        Pair labels in [0, 1] (bool, int or float).
    sample_weight : array_like, shape (N,), optional
        Non-negative per-row weights.
    reduction : {"mean", "sum", "none"}
    margin : float, default 1.0
        Must be >= 0.

    Returns
    -------
    The loss; ``grad`` returns ``(d_x1, d_x2)`` and ``value_and_grad`` ``(value, (d_x1, d_x2))``.

    Examples
    --------
    >>> import fastloss as fl
    >>> fl.contrastive([[0.0, 0.0], [0.0, 0.0]], [[3.0, 4.0], [0.3, 0.4]], [1, 0])
    6.3125
""", None, params=[Param("margin", 1.0, _check_margin)], family="metric")
