"""fastloss losses as XGBoost objectives and metrics (``pip install 'fastloss[xgboost]'``).

    >>> import xgboost as xgb
    >>> import fastloss.xgboost as flx
    >>> booster = xgb.train({"base_score": 0.0}, dtrain, num_boost_round=50,
    ...                     obj=flx.objective("focal", gamma=2.0, alpha=0.25),
    ...                     custom_metric=flx.metric("focal", gamma=2.0, alpha=0.25))
    >>> clf = xgb.XGBClassifier(objective=flx.sklearn_objective("focal", gamma=2.0))

The objective returns the UNREDUCED per-row derivatives of the loss with respect to the raw
margin, from ``loss.grad_hess`` (one fused kernel pass), sample weights multiplied in:

- regression and binary losses: margins of shape (n_rows,) (or (n_rows, n_targets) for
  multi-target regression); labels as stored in the DMatrix.
- multiclass losses (``cross_entropy``...): margins of shape (n_rows, n_classes), as
  xgboost >= 2 passes them; integer labels 0..K-1; the Hessian is the diagonal of each row's.

Hessians are floored: hess = w * max(d2l/dm2, hess_floor), ``hess_floor`` = 1e-6 by default.
XGBoost's Newton leaf value is -sum(grad) / (sum(hess) + lambda), so losses whose second
derivative is zero (mae, quantile, hinge) or tiny (confidently classified rows) would otherwise
give empty or exploding leaves; for the piecewise-linear losses a floor near 1 (``hess_floor=1.0``)
gives gradient-descent-sized steps.

Conventions to know when comparing with XGBoost's built-in objectives:

- fastloss's ``mse`` is (y - p)^2, twice XGBoost's 1/2 (y - p)^2: the same trees come out with
  ``lambda``, ``alpha``, ``gamma`` and ``min_child_weight`` doubled.
- ``cross_entropy``'s exact diagonal Hessian is p(1 - p); ``multi:softprob`` uses 2 p(1 - p),
  taking half-size steps.
- With a custom objective, XGBoost's ``base_score`` is a raw margin (0 for logit losses matches
  ``binary:logistic`` with ``base_score=0.5``), and ``predict`` returns raw margins.
"""

from fastloss import _integrations as _I

_xgb = _I.import_library("xgboost", "xgboost")

DEFAULT_HESS_FLOOR = _I.DEFAULT_HESS_FLOOR

__all__ = ["objective", "sklearn_objective", "metric", "DEFAULT_HESS_FLOOR"]


class Objective(_I.BoostingGradient):
    """``obj=`` for ``xgboost.train``: (margins, DMatrix) -> (grad, hess)."""

    def __call__(self, predt, dtrain):
        return self.grad_hess(dtrain.get_label(), predt, dtrain.get_weight())


class SklearnObjective(_I.BoostingGradient):
    """``objective=`` for XGBClassifier/XGBRegressor: (y_true, y_pred, sample_weight) ->
    (grad, hess)."""

    def __call__(self, y_true, y_pred, sample_weight=None):
        return self.grad_hess(y_true, y_pred, sample_weight)


def objective(loss, *, hess_floor=DEFAULT_HESS_FLOOR, **params):
    """A custom objective for ``xgboost.train(params, dtrain, obj=...)``.

    Parameters
    ----------
    loss : str or fastloss.Loss
        A regression, binary (from logits or scores) or multiclass (from logits) loss.
        Losses taking probabilities (``binary_cross_entropy``) are rejected: boosting works on
        raw margins, use the from-logits form.
    hess_floor : float, default 1e-6
        Lower bound of the second derivative (before the sample weight is multiplied in).
    **params
        The loss's parameters (``delta=``, ``gamma=``...), checked now.

    Returns
    -------
    callable
        ``obj(predt, dtrain) -> (grad, hess)``, arrays of predt's shape. Picklable.
    """
    return Objective(loss, hess_floor, params, "xgboost")


def sklearn_objective(loss, *, hess_floor=DEFAULT_HESS_FLOOR, **params):
    """The same objective for the scikit-learn API: ``XGBClassifier(objective=...)``.

    ``XGBClassifier`` keeps ``binary:logistic`` / ``multi:softprob`` as the link, so
    ``predict_proba`` applies the sigmoid / softmax to the margins a logit loss was trained on.
    Returns ``obj(y_true, y_pred, sample_weight=None) -> (grad, hess)``.
    """
    return SklearnObjective(loss, hess_floor, params, "xgboost")


class Metric(_I.MetricValue):
    """A custom metric: ``xgboost.train(custom_metric=...)`` calls it with (predt, DMatrix) and gets
    (name, value); the scikit-learn API (``eval_metric=``) calls it with (y_true, y_score) and
    gets the value."""

    def __call__(self, first, second, sample_weight=None):
        if isinstance(second, _xgb.DMatrix):             # xgboost.train: (predt, dmatrix)
            return self.name, self.value(second.get_label(), first, second.get_weight())
        return self.value(first, second, sample_weight)  # scikit-learn API: (y_true, y_score)


def metric(loss, *, margin=True, name=None, **params):
    """An evaluation metric: the (weighted) mean of `loss`, lower is better.

    Parameters
    ----------
    loss : str or fastloss.Loss
    margin : bool, default True
        True when XGBoost passes raw margins: with a custom objective (fastloss's), which is when
        ``xgboost.train`` and the scikit-learn API do so. False with a built-in objective such as
        ``binary:logistic`` or ``multi:softprob``, which pass probabilities. Probabilities are
        turned into logits (clipped to [eps, 1 - eps]) or margins into probabilities as the loss
        needs.
    name : str, optional
        The name in the evaluation log (default: the loss's name).
    **params
        The loss's parameters.
    """
    return Metric(loss, margin, name, params, "xgboost")
