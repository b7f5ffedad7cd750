"""What the integrations (fastloss.xgboost, .lightgbm, .torch, .sklearn) share.

They use the public API only (``fl.get``, ``__call__``, ``value_and_grad``, ``grad_hess``):
this module turns a loss into what a library needs (per-row gradient and Hessian, a metric value)
and knows how each loss family lays out its inputs:

- ``"regression"``: targets and predictions of the same shape (elementwise).
- ``"binary"``: targets (N,) in [0, 1] (hinge: {0, 1} or {-1, +1}), predictions (N,).
- ``"multiclass"``: integer labels (N,) and predictions (N, K), one row per sample; ``grad_hess``
  gives the diagonal of each row's Hessian, shape (N, K); sample weights are per row.

and what a loss's prediction means (``prediction_kind``): ``"value"`` (regression), ``"logit"``
(raw margins: binary_cross_entropy_with_logits, focal, cross_entropy, softmax_focal),
``"probability"`` (binary_cross_entropy, categorical_cross_entropy) or ``"score"`` (hinge losses,
raw decision values). A loss may declare its own ``prediction_kind`` attribute.
"""

import importlib
from pathlib import Path

import numpy as np

import fastloss as fl
from fastloss._validation import check_real

FAMILIES = ("regression", "binary", "multiclass")

# Hessians of losses whose second derivative vanishes (mae, quantile, hinge) or nearly does
# (saturated logits) are floored at this value by the boosting objectives (configurable).
DEFAULT_HESS_FLOOR = 1e-6

_PROBABILITY_INPUT = frozenset({"binary_cross_entropy", "categorical_cross_entropy"})
_SCORE_INPUT = frozenset({"hinge", "squared_hinge", "multiclass_hinge"})


def import_library(name, extra):
    """The real third-party module `name` (never a fastloss submodule shadowing it)."""
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise ImportError(f"fastloss.{extra} needs the {name!r} package: "
                          f"pip install 'fastloss[{extra}]'") from exc
    origin = getattr(module, "__file__", None)
    if origin and Path(origin).resolve().parent == Path(__file__).resolve().parent:
        # Only happens when fastloss's package directory itself is on sys.path (for example a
        # script run from inside it): then `import xgboost` finds fastloss/xgboost.py.
        raise ImportError(f"'import {name}' found fastloss's own {origin} instead of the {name} "
                          "package: the fastloss package directory is on sys.path; run from "
                          "elsewhere")
    return module


def resolve(loss):
    """The registered Loss for a name or Loss, checked to be of a family the integrations know."""
    loss = fl.get(loss)
    if loss.family not in FAMILIES:
        raise ValueError(f"{loss.name} is a {loss.family!r} loss; the integrations support the "
                         f"{', '.join(FAMILIES)} families")
    return loss


def prediction_kind(loss):
    """"value", "logit", "probability" or "score": what the loss's prediction argument is."""
    kind = getattr(loss, "prediction_kind", None)
    if kind is not None:
        return kind
    if loss.family == "regression":
        return "value"
    if loss.name in _PROBABILITY_INPUT:
        return "probability"
    if loss.name in _SCORE_INPUT:
        return "score"
    return "logit"


def class_indices(labels, name="labels"):
    """Integer class indices (int64) from labels stored as floats (as DMatrix/Dataset keep them)."""
    labels = np.asarray(labels)
    if labels.dtype.kind in "iu":
        return labels.astype(np.int64, copy=False)
    if labels.dtype.kind != "f":
        raise TypeError(f"{name} must be integer class indices, got dtype {labels.dtype}")
    indices = labels.astype(np.int64)
    if not np.array_equal(indices, labels):
        raise ValueError(f"{name} must be integer class indices 0..K-1 for a multiclass loss "
                         "(found a non-integer value)")
    return indices


def none_if_empty(weight):
    """None for a missing or empty weight array (DMatrix.get_weight() returns an empty one)."""
    if weight is None:
        return None
    weight = np.asarray(weight)
    return None if weight.size == 0 else weight


def _row_weights_like(weight, pred):
    """Per-row weights broadcast over extra prediction columns (multi-target regression)."""
    if weight is None or weight.shape == pred.shape:
        return weight
    if pred.ndim == 2 and weight.shape == (pred.shape[0],):
        return np.broadcast_to(weight[:, None], pred.shape)
    raise ValueError(f"sample weights of shape {weight.shape} do not fit predictions of "
                     f"shape {pred.shape}")


def prepare(loss, y_true, pred, weight):
    """(targets, predictions, weights, output shape) laid out as the loss family expects.

    `pred` is what a library hands over: (N,) for regression and binary (or (N, 1)), (N, K)
    for multiclass, (N, T) for multi-target regression; labels come as floats.
    """
    pred = np.asarray(pred)
    y_true = np.asarray(y_true)
    weight = none_if_empty(weight)
    if loss.family == "multiclass":
        if pred.ndim != 2:
            raise ValueError(f"{loss.name} needs predictions of shape (n_rows, n_classes), got "
                             f"{pred.shape}; use xgboost >= 2 / lightgbm >= 4, which pass 2-D "
                             "multiclass margins")
        return class_indices(y_true.reshape(-1)), pred, weight, pred.shape
    shape = pred.shape
    if loss.family == "binary":
        if pred.ndim == 2 and pred.shape[1] == 1:
            pred = pred.reshape(-1)
        if pred.ndim != 1:
            raise ValueError(f"{loss.name} is a binary loss: it needs one prediction per row, "
                             f"got predictions of shape {shape}")
    if y_true.shape != pred.shape and y_true.size == pred.size:
        y_true = y_true.reshape(pred.shape)
    return y_true, pred, _row_weights_like(weight, pred), shape


class BoostingGradient:
    """Per-row gradient and Hessian of a loss with respect to raw margins, for gradient boosting.

    Calling it with (y_true, margins, sample_weight=None) returns (grad, hess), each of the
    margins' shape: the UNREDUCED derivatives from ``loss.grad_hess`` (weights multiplied in,
    Hessian floored at ``hess_floor``). Picklable (it stores the loss by name).
    """

    def __init__(self, loss, hess_floor, params, library):
        loss = resolve(loss)
        if prediction_kind(loss) == "probability":
            raise ValueError(f"{loss.name} takes probabilities, not raw margins, so it cannot be "
                             "a boosting objective; use its from-logits form "
                             "(binary_cross_entropy_with_logits or cross_entropy)")
        self.loss_name = loss.name
        self.hess_floor = check_real("hess_floor", hess_floor, low=0.0)
        loss.bind(params)        # reject bad parameters now, not at the first boosting round
        self.params = dict(params)
        self.library = library

    @property
    def loss(self):
        return fl.get(self.loss_name)

    def __repr__(self):
        args = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return (f"fastloss.{self.library}.objective({self.loss_name!r}{args}, "
                f"hess_floor={self.hess_floor!r})")

    def grad_hess(self, y_true, margins, sample_weight=None):
        loss = self.loss
        y, p, w, shape = prepare(loss, y_true, margins, sample_weight)
        grad, hess = loss.grad_hess(y, p, sample_weight=w, hess_floor=self.hess_floor,
                                    **self.params)
        return grad.reshape(shape), hess.reshape(shape)


def _clip_probabilities(prob):
    eps = np.finfo(prob.dtype).eps
    return np.clip(prob, eps, 1.0 - eps)


def probabilities_to_logits(loss, prob):
    """Logits whose sigmoid/softmax gives `prob`, clipped to [eps, 1 - eps] as sklearn's log_loss.

    Probabilities of exactly 0 or 1 (a random forest, say) would otherwise give infinite logits.
    """
    prob = np.asarray(prob, dtype=np.result_type(prob, np.float32))
    clipped = _clip_probabilities(prob)
    if loss.family == "binary":
        return np.log(clipped) - np.log1p(-clipped)
    return np.log(clipped)


def logits_to_probabilities(loss, logits):
    """Sigmoid (binary) or row-wise softmax (multiclass) of raw margins, computed stably."""
    logits = np.asarray(logits, dtype=np.result_type(logits, np.float32))
    if loss.family == "binary":
        return np.exp(-np.logaddexp(0.0, -logits))
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


class MetricValue:
    """The weighted mean of a loss over predictions as a library passes them to a metric.

    margin=True: the predictions are raw margins (what XGBoost and LightGBM pass to a metric when
    the objective is a custom one, e.g. fastloss's); margin=False: they are already transformed
    (probabilities, as with a built-in objective like binary:logistic or multi:softprob).
    Converts between the two as the loss needs.
    """

    def __init__(self, loss, margin, name, params, library):
        loss = resolve(loss)
        self.loss_name = loss.name
        self.margin = bool(margin)
        kind = prediction_kind(loss)
        if kind == "score" and not self.margin:
            raise ValueError(f"{loss.name} needs raw decision scores (margin=True)")
        loss.bind(params)
        self.params = dict(params)
        self.name = name or loss.name
        self.__name__ = self.name     # libraries name a callable metric after its __name__
        self.library = library

    def __repr__(self):
        return f"fastloss.{self.library}.metric({self.loss_name!r}, margin={self.margin})"

    def value(self, y_true, pred, sample_weight=None):
        loss = fl.get(self.loss_name)
        y, p, w, _ = prepare(loss, y_true, pred, sample_weight)
        kind = prediction_kind(loss)
        if kind == "logit" and not self.margin:
            p = probabilities_to_logits(loss, p)
        elif kind == "probability" and self.margin:
            p = logits_to_probabilities(loss, p)
        return float(loss(y, p, sample_weight=w, **self.params))
