"""fastloss losses as LightGBM (>= 4) objectives and metrics (``pip install 'fastloss[lightgbm]'``).

    >>> import lightgbm as lgb
    >>> import fastloss.lightgbm as fll
    >>> booster = lgb.train({"objective": fll.objective("focal", gamma=2.0), "verbose": -1},
    ...                     train_set, num_boost_round=50,
    ...                     valid_sets=[valid_set], feval=fll.metric("focal", gamma=2.0))
    >>> clf = lgb.LGBMClassifier(objective=fll.sklearn_objective("focal", gamma=2.0))
    >>> proba = 1 / (1 + np.exp(-clf.fit(X, y).predict(X, raw_score=True)))   # raw scores

The objective returns the UNREDUCED per-row derivatives of the loss with respect to the raw
score, from ``loss.grad_hess``, sample weights multiplied in: (n_rows,) for regression and binary
losses, (n_rows, n_classes) for multiclass losses (LightGBM 4 passes 2-D multiclass scores; set
``num_class`` in the parameters), labels 0..K-1.

Hessians are floored: hess = w * max(d2l/ds2, hess_floor), ``hess_floor`` = 1e-6 by default (see
``fastloss.xgboost`` for why, and pick ``hess_floor=1.0`` for mae/quantile/hinge-sized steps;
LightGBM's ``lambda_l2`` defaults to 0, so the leaf value is -sum(grad) / sum(hess)).

With a custom objective LightGBM starts from a raw score of 0 (no ``boost_from_average``) and
``Booster.predict`` returns raw scores; fastloss's ``mse`` is (y - p)^2, twice LightGBM's
``regression`` objective, so the same trees come out with ``min_sum_hessian_in_leaf``,
``lambda_l1``, ``lambda_l2`` and ``min_gain_to_split`` doubled.
"""

from fastloss import _integrations as _I

_lgb = _I.import_library("lightgbm", "lightgbm")

DEFAULT_HESS_FLOOR = _I.DEFAULT_HESS_FLOOR

__all__ = ["objective", "sklearn_objective", "metric", "DEFAULT_HESS_FLOOR"]


class Objective(_I.BoostingGradient):
    """``params["objective"]`` for ``lightgbm.train``: (scores, Dataset) -> (grad, hess)."""

    def __call__(self, preds, train_data):
        return self.grad_hess(train_data.get_label(), preds, train_data.get_weight())


class SklearnObjective(_I.BoostingGradient):
    """``objective=`` for LGBMClassifier/LGBMRegressor: (y_true, y_pred, weight) -> (grad, hess)."""

    def __call__(self, y_true, y_pred, sample_weight=None):
        return self.grad_hess(y_true, y_pred, sample_weight)


def objective(loss, *, hess_floor=DEFAULT_HESS_FLOOR, **params):
    """A custom objective for ``lightgbm.train({"objective": ...}, ...)``.

    Parameters
    ----------
    loss : str or fastloss.Loss
        A regression, binary (from logits or scores) or multiclass (from logits) loss; losses
        taking probabilities are rejected (boosting works on raw scores).
    hess_floor : float, default 1e-6
        Lower bound of the second derivative (before the sample weight is multiplied in).
    **params
        The loss's parameters, checked now.

    Returns
    -------
    callable
        ``obj(preds, train_data) -> (grad, hess)``, arrays of preds' shape. Picklable.
    """
    return Objective(loss, hess_floor, params, "lightgbm")


def sklearn_objective(loss, *, hess_floor=DEFAULT_HESS_FLOOR, **params):
    """The same objective for the scikit-learn API: ``LGBMClassifier(objective=...)``.

    LGBMClassifier encodes the labels as 0..K-1 for the objective. NOTE: with any custom
    objective, LightGBM's ``predict`` and ``predict_proba`` return raw scores (with a warning);
    use ``predict(X, raw_score=True)`` and apply the sigmoid / softmax yourself.
    Returns ``obj(y_true, y_pred, sample_weight=None) -> (grad, hess)``.
    """
    return SklearnObjective(loss, hess_floor, params, "lightgbm")


class Metric(_I.MetricValue):
    """``feval=`` for ``lightgbm.train`` (called with (preds, Dataset)) and ``eval_metric=`` for the
    scikit-learn API (called with (y_true, y_pred, weight)); returns (name, value, False)."""

    def __call__(self, first, second, weight=None):
        if isinstance(second, _lgb.Dataset):             # lightgbm.train: (preds, dataset)
            return self.name, self.value(second.get_label(), first, second.get_weight()), False
        return self.name, self.value(first, second, weight), False   # (y_true, y_pred, weight)


def metric(loss, *, margin=True, name=None, **params):
    """An evaluation metric: the (weighted) mean of `loss`; lower is better.

    margin=True (default) when LightGBM passes raw scores, which it does with a custom objective;
    margin=False with a built-in objective (``binary``, ``multiclass``), which passes
    probabilities. See ``fastloss.xgboost.metric``.
    """
    return Metric(loss, margin, name, params, "lightgbm")
