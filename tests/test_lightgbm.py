"""fastloss.lightgbm against LightGBM's own objectives: same data, seed and start, same trees.

Classification tests are skipped until the classification losses are registered.
"""

import pickle

import numpy as np
import pytest

import fastloss as fl

lgb = pytest.importorskip("lightgbm")
import fastloss.lightgbm as fll   # noqa: E402

BASE = {"num_leaves": 7, "learning_rate": 0.3, "seed": 0, "verbose": -1, "num_threads": 1,
        "min_data_in_leaf": 5, "deterministic": True}
ROUNDS = 8


def needs(name):
    return pytest.mark.skipif(name not in fl.available(), reason=f"{name} loss not merged yet")


def regression_data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    return X, X[:, 0] - 2.0 * X[:, 1] ** 2 + 0.1 * rng.standard_normal(n)


def binary_data(n=400, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    return X, (X[:, 0] + X[:, 1] ** 2 + 0.5 * rng.standard_normal(n) > 1.0).astype(np.float64)


def multiclass_data(n=450, seed=2):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    y = np.digitize(X[:, 0] + 0.5 * X[:, 2] + 0.3 * rng.standard_normal(n), [-0.5, 0.5])
    return X, y.astype(np.float64)


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ------------------------------------------------------------------------------ regression

def test_mse_objective_grows_the_same_trees_as_regression():
    X, y = regression_data()
    w = np.random.default_rng(3).uniform(0.5, 2.0, len(y))
    builtin = lgb.train({**BASE, "objective": "regression", "boost_from_average": False},
                        lgb.Dataset(X, y, weight=w), ROUNDS)
    # fastloss's mse is twice LightGBM's 1/2 (y - p)^2: double min_sum_hessian_in_leaf (1e-3).
    custom = lgb.train({**BASE, "objective": fll.objective("mse"), "min_sum_hessian_in_leaf": 2e-3},
                       lgb.Dataset(X, y, weight=w), ROUNDS)
    expected = builtin.predict(X)
    np.testing.assert_allclose(custom.predict(X), expected, rtol=0, atol=1e-6)
    assert np.abs(expected).max() > 1.0


def test_sklearn_objective_and_metric():
    X, y = regression_data()
    model = lgb.LGBMRegressor(n_estimators=ROUNDS, num_leaves=7, learning_rate=0.3,
                              random_state=0, n_jobs=1, verbose=-1, min_child_samples=5,
                              min_child_weight=2e-3, objective=fll.sklearn_objective("mse"))
    model.fit(X, y, eval_set=[(X, y)], eval_metric=fll.metric("mae"))
    builtin = lgb.train({**BASE, "objective": "regression", "boost_from_average": False},
                        lgb.Dataset(X, y), ROUNDS)
    np.testing.assert_allclose(model.predict(X), builtin.predict(X), rtol=0, atol=1e-6)
    (log,) = model.evals_result_.values()
    # LightGBM keeps labels in float32: agreement to float32 precision.
    assert log["mae"][-1] == pytest.approx(fl.mae(y, model.predict(X)), rel=1e-6)


def test_metric_in_train_log():
    X, y = regression_data()
    train = lgb.Dataset(X, y)
    log = {}
    booster = lgb.train({**BASE, "objective": fll.objective("huber", delta=2.0), "metric": "None"},
                        train, 4, valid_sets=[train], valid_names=["train"],
                        feval=fll.metric("huber", delta=2.0),
                        callbacks=[lgb.record_evaluation(log)])
    curve = log["train"]["huber"]
    assert curve[-1] == pytest.approx(fl.huber(y, booster.predict(X), delta=2.0), rel=1e-6)
    assert curve[-1] < curve[0]


def test_objective_derivatives_weights_and_floor():
    X, y = regression_data(30)
    w = np.linspace(1.0, 2.0, 30)
    data = lgb.Dataset(X, y, weight=w, free_raw_data=False).construct()
    scores = np.linspace(-1.0, 1.0, 30)
    y, w = data.get_label(), data.get_weight()      # as LightGBM stores them (float32)
    grad, hess = fll.objective("mse")(scores, data)
    np.testing.assert_allclose(grad, 2.0 * (scores - y) * w, rtol=1e-12)
    np.testing.assert_allclose(hess, 2.0 * w, rtol=1e-12)
    _, hess = fll.objective("quantile", alpha=0.9, hess_floor=0.5)(scores, data)
    np.testing.assert_allclose(hess, 0.5 * w, rtol=1e-12)


def test_quantile_objective_moves_towards_the_quantile():
    X, y = regression_data()
    booster = lgb.train({**BASE, "objective": fll.objective("quantile", alpha=0.9, hess_floor=1.0)},
                        lgb.Dataset(X, y), 40)
    covered = np.mean(y <= booster.predict(X))
    assert 0.75 < covered <= 1.0


def test_pickle_and_bad_arguments():
    obj = pickle.loads(pickle.dumps(fll.objective("huber", delta=2.0)))
    X, y = regression_data(10)
    grad, _ = obj(np.zeros(10), lgb.Dataset(X, y).construct())
    np.testing.assert_allclose(grad, np.clip(-y, -2.0, 2.0), rtol=1e-6)
    with pytest.raises(ValueError, match="alpha"):
        fll.objective("quantile", alpha=2.0)
    with pytest.raises(ValueError, match="unknown loss"):
        fll.metric("no_such_loss")


# ------------------------------------------------------------------------------ classification

@needs("binary_cross_entropy_with_logits")
def test_bce_with_logits_objective_matches_binary():
    X, y = binary_data()
    builtin = lgb.train({**BASE, "objective": "binary", "boost_from_average": False},
                        lgb.Dataset(X, y), ROUNDS)
    custom = lgb.train({**BASE, "objective": fll.objective("binary_cross_entropy_with_logits",
                                                           hess_floor=0.0)},
                       lgb.Dataset(X, y), ROUNDS)
    expected = builtin.predict(X)
    np.testing.assert_allclose(1.0 / (1.0 + np.exp(-custom.predict(X))), expected, atol=1e-6)
    assert expected.min() < 0.2 and expected.max() > 0.8


@needs("binary_cross_entropy_with_logits")
def test_bce_with_logits_in_lgbmclassifier():
    X, y = binary_data()
    loss = "binary_cross_entropy_with_logits"
    model = lgb.LGBMClassifier(n_estimators=ROUNDS, num_leaves=7, learning_rate=0.3,
                               random_state=0, n_jobs=1, verbose=-1, min_child_samples=5,
                               objective=fll.sklearn_objective(loss, hess_floor=0.0))
    model.fit(X, y.astype(int), eval_set=[(X, y.astype(int))], eval_metric=fll.metric(loss))
    builtin = lgb.train({**BASE, "objective": "binary", "boost_from_average": False},
                        lgb.Dataset(X, y), ROUNDS)
    # With a custom objective LGBMClassifier's predict/predict_proba return raw scores
    # (LightGBM's behaviour, with a warning): the sigmoid is up to the user.
    raw = model.predict(X, raw_score=True)
    np.testing.assert_allclose(1.0 / (1.0 + np.exp(-raw)), builtin.predict(X), atol=1e-6)
    (log,) = model.evals_result_.values()
    assert log[loss][-1] == pytest.approx(fl.get(loss)(y, raw), rel=1e-6)


@needs("cross_entropy")
def test_cross_entropy_objective_matches_multiclass():
    X, y = multiclass_data()
    params = {**BASE, "num_class": 3}
    builtin = lgb.train({**params, "objective": "multiclass", "boost_from_average": False},
                        lgb.Dataset(X, y), ROUNDS)
    obj = fll.objective("cross_entropy", hess_floor=0.0)

    def lightgbm_scaled(preds, data):
        # LightGBM's multiclass Hessian is K/(K-1) p (1 - p); fastloss's is the exact p (1 - p).
        grad, hess = obj(preds, data)
        assert preds.shape == grad.shape == hess.shape == (len(y), 3)
        return grad, hess * 3.0 / 2.0

    custom = lgb.train({**params, "objective": lightgbm_scaled}, lgb.Dataset(X, y), ROUNDS)
    expected = builtin.predict(X)
    np.testing.assert_allclose(softmax(custom.predict(X)), expected, atol=1e-6)
    assert expected.max() > 0.8


@needs("cross_entropy")
def test_cross_entropy_metric_and_classifier():
    X, y = multiclass_data()
    train = lgb.Dataset(X, y)
    log = {}
    booster = lgb.train({**BASE, "num_class": 3, "metric": "None",
                         "objective": fll.objective("cross_entropy")},
                        train, ROUNDS, valid_sets=[train], valid_names=["train"],
                        feval=fll.metric("cross_entropy"), callbacks=[lgb.record_evaluation(log)])
    p = softmax(booster.predict(X))
    expected = -np.mean(np.log(p[np.arange(len(y)), y.astype(int)]))
    assert log["train"]["cross_entropy"][-1] == pytest.approx(expected, rel=1e-6)

    # Built-in multiclass objective: the metric gets probabilities (margin=False).
    log = {}
    lgb.train({**BASE, "num_class": 3, "objective": "multiclass", "metric": "multi_logloss"},
              train, 3, valid_sets=[train], valid_names=["train"],
              feval=fll.metric("cross_entropy", margin=False),
              callbacks=[lgb.record_evaluation(log)])
    np.testing.assert_allclose(log["train"]["cross_entropy"], log["train"]["multi_logloss"],
                               rtol=1e-6)

    labels = np.array(["cat", "dog", "emu"])[y.astype(int)]
    model = lgb.LGBMClassifier(n_estimators=ROUNDS, num_leaves=7, learning_rate=0.3, n_jobs=1,
                               verbose=-1, objective=fll.sklearn_objective("cross_entropy"))
    model.fit(X, labels)           # LightGBM encodes the labels as 0..K-1 for the objective
    predicted = model.classes_[model.predict(X, raw_score=True).argmax(axis=1)]
    assert (predicted == labels).mean() > 0.8


def test_the_real_lightgbm_is_imported():
    from pathlib import Path
    assert fll._lgb is lgb and Path(lgb.__file__).parent.name == "lightgbm"
