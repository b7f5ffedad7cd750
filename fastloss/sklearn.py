"""fastloss losses as scikit-learn scorers (``pip install 'fastloss[sklearn]'``).

    >>> from sklearn.model_selection import cross_val_score, GridSearchCV
    >>> import fastloss.sklearn as fls
    >>> cross_val_score(Ridge(), X, y, scoring=fls.scorer("huber", delta=2.0))
    >>> GridSearchCV(LogisticRegression(), {"C": [0.1, 1, 10]},
    ...              scoring=fls.scorer("binary_cross_entropy_with_logits")).fit(X, y)

A scorer returns the NEGATED (weighted) mean loss, so that greater is better as scikit-learn's
model selection expects (like its ``neg_log_loss``); ``scorer.loss_value(...)`` gives the loss
itself.

Which estimator output is scored (``response_method="auto"``):

- regression losses: ``predict``.
- losses from logits (``binary_cross_entropy_with_logits``, ``focal``, ``cross_entropy``...):
  ``predict_proba`` turned into logits, log(p) - log(1 - p) for binary losses and log(p) for
  multiclass ones, with p clipped to [eps, 1 - eps] (eps of the dtype) as sklearn's log_loss
  does; for a probabilistic model these are its logits up to a per-row constant, and any
  classifier with predict_proba works. Estimators without predict_proba use ``decision_function``.
- losses from probabilities (``binary_cross_entropy``...): ``predict_proba`` (the positive
  class's column for binary losses).
- hinge losses (raw scores): ``decision_function``.

``response_method="predict" | "predict_proba" | "decision_function"`` forces one (decision
values are then used as logits or scores unchanged). Class labels are mapped through the
estimator's ``classes_``: for binary losses ``classes_[1]`` is the positive class (1), for
multiclass losses a label becomes its index in ``classes_``.
"""

import numpy as np

import fastloss as fl
from fastloss import _integrations as _I

sklearn = _I.import_library("sklearn", "sklearn")

__all__ = ["scorer", "Scorer"]

_RESPONSE_METHODS = ("auto", "predict", "predict_proba", "decision_function")


class Scorer:
    """A scikit-learn scorer: ``scorer(estimator, X, y, sample_weight=None) -> -mean loss``."""

    def __init__(self, loss, response_method="auto", params=None):
        loss = _I.resolve(loss)
        if response_method not in _RESPONSE_METHODS:
            raise ValueError(f"response_method must be one of {_RESPONSE_METHODS}, "
                             f"got {response_method!r}")
        self.params = dict(params or {})
        loss.bind(self.params)
        self.loss_name = loss.name
        self.response_method = response_method
        self._sign = -1            # scikit-learn's convention: greater is better

    def __repr__(self):
        args = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"fastloss.sklearn.scorer({self.loss_name!r}{args})"

    def __call__(self, estimator, X, y_true, sample_weight=None):
        return self._sign * self.loss_value(estimator, X, y_true, sample_weight)

    def loss_value(self, estimator, X, y_true, sample_weight=None):
        """The (weighted) mean loss of the estimator's predictions on X (not negated)."""
        loss = fl.get(self.loss_name)
        target, prediction = self._target_and_prediction(loss, estimator, X, y_true)
        return float(loss(target, prediction, sample_weight=sample_weight, **self.params))

    def _method(self, loss, estimator):
        if self.response_method != "auto":
            return self.response_method
        kind = _I.prediction_kind(loss)
        if kind == "value":
            return "predict"
        if kind == "score":
            return "decision_function"
        if kind == "probability" or hasattr(estimator, "predict_proba"):
            return "predict_proba"
        return "decision_function"

    def _target_and_prediction(self, loss, estimator, X, y_true):
        method = self._method(loss, estimator)
        if not hasattr(estimator, method):
            raise ValueError(f"{self.loss_name} scores {method}, which "
                             f"{type(estimator).__name__} does not have")
        prediction = np.asarray(getattr(estimator, method)(X))
        if loss.family == "regression":
            y_true = np.asarray(y_true)
            if y_true.shape != prediction.shape and y_true.size == prediction.size:
                y_true = y_true.reshape(prediction.shape)
            return y_true, prediction
        target = self._class_target(loss, estimator, y_true)
        if method == "predict_proba":
            if loss.family == "binary":
                prediction = prediction[:, 1] if prediction.ndim == 2 else prediction
            if _I.prediction_kind(loss) == "logit":
                prediction = _I.probabilities_to_logits(loss, prediction)
        elif loss.family == "multiclass" and prediction.ndim == 1:
            raise ValueError(f"{self.loss_name} needs one column per class, but "
                             f"{type(estimator).__name__}.{method} gave one value per row "
                             "(a binary problem): use a binary loss")
        return target, prediction

    def _class_target(self, loss, estimator, y_true):
        classes = getattr(estimator, "classes_", None)
        if classes is None:
            raise ValueError(f"{self.loss_name} is a classification loss: the estimator must "
                             "be a fitted classifier (with classes_)")
        classes = np.asarray(classes)
        y_true = np.asarray(y_true)
        # classes_ is sorted (np.unique), so searchsorted finds each label's index.
        index = np.minimum(np.searchsorted(classes, y_true), len(classes) - 1)
        found = classes[index] == y_true
        if not np.all(found):
            raise ValueError(f"label {y_true[~found][0]!r} is not one of the estimator's "
                             f"classes {classes.tolist()}")
        if loss.family == "binary":
            if len(classes) != 2:
                raise ValueError(f"{self.loss_name} is a binary loss, but the estimator has "
                                 f"{len(classes)} classes")
            return index.astype(np.float64)      # classes_[1] is the positive class
        return index.astype(np.int64)


def scorer(loss, *, response_method="auto", **params):
    """A scorer for ``cross_val_score(..., scoring=)`` and ``GridSearchCV(scoring=)``.

    Parameters
    ----------
    loss : str or fastloss.Loss
        A regression, binary or multiclass loss.
    response_method : {"auto", "predict", "predict_proba", "decision_function"}
        Which estimator output is scored; "auto" picks it from the loss (module docstring).
    **params
        The loss's parameters, checked now.

    Returns
    -------
    Scorer
        ``scorer(estimator, X, y, sample_weight=None)`` = minus the mean loss (greater is
        better). Picklable, so it works with ``n_jobs``.
    """
    return Scorer(loss, response_method, params)
