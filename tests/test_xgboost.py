"""fastloss.xgboost against XGBoost's own objectives: same data, seed and start, same trees.

Classification tests are skipped until the classification losses are registered (they run as
soon as they are). Small data, few rounds, one thread: each test takes well under a second.
"""

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastloss as fl

xgb = pytest.importorskip("xgboost")
import fastloss.xgboost as flx   # noqa: E402  (after the importorskip)

BASE = {"tree_method": "hist", "max_depth": 3, "eta": 0.3, "seed": 0, "nthread": 1}
ROUNDS = 8


def needs(name):
    return pytest.mark.skipif(name not in fl.available(), reason=f"{name} loss not merged yet")


def regression_data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    y = X[:, 0] - 2.0 * X[:, 1] ** 2 + 0.1 * rng.standard_normal(n)
    return X, y


def binary_data(n=400, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    y = (X[:, 0] + X[:, 1] ** 2 + 0.5 * rng.standard_normal(n) > 1.0).astype(np.float64)
    return X, y


def multiclass_data(n=450, seed=2):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    y = np.digitize(X[:, 0] + 0.5 * X[:, 2] + 0.3 * rng.standard_normal(n), [-0.5, 0.5])
    return X, y.astype(np.float64)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def softmax(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ------------------------------------------------------------------------------ regression

def test_mse_objective_grows_the_same_trees_as_reg_squarederror():
    X, y = regression_data()
    d = xgb.DMatrix(X, label=y)
    builtin = xgb.train({**BASE, "objective": "reg:squarederror", "base_score": 0.5}, d, ROUNDS)
    # fastloss's mse is (y - p)^2, XGBoost's 1/2 (y - p)^2: doubling lambda and
    # min_child_weight (defaults 1 and 1) compensates exactly.
    custom = xgb.train({**BASE, "base_score": 0.5, "lambda": 2.0, "min_child_weight": 2.0}, d,
                       ROUNDS, obj=flx.objective("mse"))
    expected, got = builtin.predict(d), custom.predict(d)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    assert np.abs(expected - 0.5).max() > 1.0          # the model did learn something


def test_objective_returns_unreduced_per_row_derivatives_with_weights():
    X, y = regression_data(50)
    w = np.linspace(0.5, 2.0, 50)
    d = xgb.DMatrix(X, label=y, weight=w)
    margin = np.linspace(-1, 1, 50).astype(np.float32)
    grad, hess = flx.objective("mse")(margin, d)
    np.testing.assert_allclose(grad, 2.0 * (margin - y.astype(np.float32)) * w, rtol=1e-6)
    np.testing.assert_allclose(hess, 2.0 * w, rtol=1e-6)
    assert grad.shape == hess.shape == (50,)


def test_hess_floor_applies_before_the_weight():
    X, y = regression_data(40)
    w = np.full(40, 3.0)
    d = xgb.DMatrix(X, label=y, weight=w)
    margin = np.zeros(40, dtype=np.float32)
    _, hess = flx.objective("mae", hess_floor=0.25)(margin, d)
    np.testing.assert_array_equal(hess, np.full(40, 0.75, dtype=np.float32))
    _, hess = flx.objective("mae")(margin, xgb.DMatrix(X, label=y))
    np.testing.assert_array_equal(hess, np.full(40, flx.DEFAULT_HESS_FLOOR, dtype=np.float32))


def test_mae_and_huber_objectives_train_with_a_floor():
    X, y = regression_data()
    d = xgb.DMatrix(X, label=y)
    start = fl.mae(y, np.zeros_like(y))
    for obj in (flx.objective("mae", hess_floor=1.0), flx.objective("huber", delta=1.0)):
        booster = xgb.train({**BASE, "base_score": 0.0}, d, 20, obj=obj)
        assert fl.mae(y, booster.predict(d)) < 0.6 * start


def test_metric_in_train_log_and_sklearn_api():
    X, y = regression_data()
    d = xgb.DMatrix(X, label=y)
    log = {}
    booster = xgb.train({**BASE, "base_score": 0.0}, d, 3, obj=flx.objective("huber", delta=2.0),
                        evals=[(d, "train")], evals_result=log,
                        custom_metric=flx.metric("huber", delta=2.0), verbose_eval=False)
    values = log["train"]["huber"]
    assert len(values) == 3
    assert values[-1] == pytest.approx(fl.huber(y, booster.predict(d), delta=2.0), rel=1e-6)
    assert values[-1] < values[0]

    model = xgb.XGBRegressor(n_estimators=3, max_depth=3, learning_rate=0.3, n_jobs=1,
                             objective=flx.sklearn_objective("mse"),
                             eval_metric=flx.metric("mae"), base_score=0.0)
    model.fit(X, y, eval_set=[(X, y)], verbose=False)
    logged = model.evals_result()["validation_0"]["mae"][-1]
    assert logged == pytest.approx(fl.mae(y, model.predict(X)), rel=1e-6)


def test_sklearn_objective_matches_train_objective():
    X, y = regression_data()
    model = xgb.XGBRegressor(n_estimators=ROUNDS, max_depth=3, learning_rate=0.3, n_jobs=1,
                             random_state=0, tree_method="hist", base_score=0.5,
                             reg_lambda=2.0, min_child_weight=2.0,
                             objective=flx.sklearn_objective("mse"))
    model.fit(X, y, sample_weight=np.ones_like(y))
    d = xgb.DMatrix(X, label=y)
    builtin = xgb.train({**BASE, "objective": "reg:squarederror", "base_score": 0.5}, d, ROUNDS)
    np.testing.assert_allclose(model.predict(X), builtin.predict(d), rtol=0, atol=1e-6)


def test_bad_arguments_are_rejected_early():
    with pytest.raises(ValueError, match="unknown loss"):
        flx.objective("no_such_loss")
    with pytest.raises(TypeError, match="unexpected parameter"):
        flx.objective("mse", delta=1.0)
    with pytest.raises(ValueError, match="delta"):
        flx.objective("huber", delta=-1.0)
    with pytest.raises(ValueError, match="hess_floor"):
        flx.objective("mse", hess_floor=-1.0)


def test_objective_and_metric_pickle():
    obj = pickle.loads(pickle.dumps(flx.objective("huber", delta=2.0, hess_floor=0.5)))
    X, y = regression_data(20)
    grad, hess = obj(np.zeros(20, dtype=np.float32), xgb.DMatrix(X, label=y))
    np.testing.assert_allclose(grad, np.clip(-y, -2.0, 2.0), rtol=1e-6)
    assert "huber" in repr(obj)
    m = pickle.loads(pickle.dumps(flx.metric("mse")))
    assert m(np.zeros(20, dtype=np.float32), xgb.DMatrix(X, label=y))[0] == "mse"


def test_the_real_xgboost_is_imported_not_fastloss_xgboost():
    import xgboost
    assert flx._xgb is xgboost
    assert Path(xgboost.__file__).parent.name == "xgboost"
    assert hasattr(xgboost, "DMatrix") and not hasattr(xgboost, "sklearn_objective")


def test_a_shadowed_import_gives_a_clear_error():
    # With fastloss's own directory on sys.path, `import xgboost` would find fastloss/xgboost.py.
    package_dir = str(Path(fl.__file__).parent)
    code = (f"import sys; sys.path.insert(0, {package_dir!r}); import xgboost")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=str(Path(fl.__file__).parent.parent), timeout=120)
    assert result.returncode != 0
    assert "fastloss package directory is on sys.path" in result.stderr


# ------------------------------------------------------------------------------ binary

@needs("binary_cross_entropy_with_logits")
def test_bce_with_logits_objective_matches_binary_logistic():
    X, y = binary_data()
    d = xgb.DMatrix(X, label=y)
    builtin = xgb.train({**BASE, "objective": "binary:logistic", "base_score": 0.5}, d, ROUNDS)
    # base_score 0.5 of binary:logistic is the margin logit(0.5) = 0; with a custom objective
    # base_score is the margin itself. XGBoost floors its logistic Hessian at 1e-16.
    custom = xgb.train({**BASE, "base_score": 0.0}, d, ROUNDS,
                       obj=flx.objective("binary_cross_entropy_with_logits", hess_floor=1e-16))
    expected = builtin.predict(d)
    np.testing.assert_allclose(sigmoid(custom.predict(d)), expected, rtol=0, atol=1e-6)
    assert expected.min() < 0.2 and expected.max() > 0.8


@needs("binary_cross_entropy_with_logits")
def test_bce_with_logits_in_xgbclassifier_and_metric():
    X, y = binary_data()
    loss = "binary_cross_entropy_with_logits"
    common = dict(n_estimators=ROUNDS, max_depth=3, learning_rate=0.3, n_jobs=1, random_state=0,
                  tree_method="hist", base_score=0.5)
    builtin = xgb.XGBClassifier(objective="binary:logistic", **common).fit(X, y)
    custom = xgb.XGBClassifier(objective=flx.sklearn_objective(loss, hess_floor=1e-16),
                               eval_metric=flx.metric(loss), **common)
    custom.fit(X, y, eval_set=[(X, y)], verbose=False)
    # XGBClassifier keeps binary:logistic as the link: predict_proba is the sigmoid of the margin.
    np.testing.assert_allclose(custom.predict_proba(X), builtin.predict_proba(X), atol=1e-6)
    logged = custom.evals_result()["validation_0"][loss][-1]
    margin = custom.predict(X, output_margin=True)
    assert logged == pytest.approx(fl.get(loss)(y, margin), rel=1e-5)

    # With the built-in objective the metric receives probabilities: margin=False.
    d = xgb.DMatrix(X, label=y)
    log = {}
    xgb.train({**BASE, "objective": "binary:logistic", "base_score": 0.5}, d, 3,
              evals=[(d, "train")], evals_result=log, verbose_eval=False,
              custom_metric=flx.metric(loss, margin=False, name="bce"))
    booster = xgb.train({**BASE, "objective": "binary:logistic", "base_score": 0.5}, d, 3)
    p = booster.predict(d).astype(np.float64)
    log_loss = -np.mean(y * np.log(p) + (1 - y) * np.log1p(-p))
    assert log["train"]["bce"][-1] == pytest.approx(log_loss, rel=1e-5)


@needs("cross_entropy")
def test_cross_entropy_objective_matches_multi_softprob():
    X, y = multiclass_data()
    d = xgb.DMatrix(X, label=y)
    params = {**BASE, "num_class": 3, "base_score": 0.5}
    builtin = xgb.train({**params, "objective": "multi:softprob"}, d, ROUNDS)
    obj = flx.objective("cross_entropy", hess_floor=1e-16)
    shapes = []

    def xgboost_scaled(predt, dtrain):
        # multi:softprob uses 2 p (1 - p) as the Hessian's diagonal; fastloss gives the exact
        # p (1 - p). Doubling it reproduces XGBoost's trees (the gradient is the same).
        grad, hess = obj(predt, dtrain)
        shapes.append((predt.shape, grad.shape, hess.shape))
        return grad, 2.0 * hess

    custom = xgb.train(params, d, ROUNDS, obj=xgboost_scaled)
    assert shapes[0] == ((len(y), 3),) * 3                 # 2-D margins in, 2-D derivatives out
    expected = builtin.predict(d)
    np.testing.assert_allclose(softmax(custom.predict(d, output_margin=True)), expected,
                               rtol=0, atol=1e-6)
    assert expected.max() > 0.8


@needs("cross_entropy")
def test_cross_entropy_objective_unscaled_trains_and_metric_agrees():
    X, y = multiclass_data()
    d = xgb.DMatrix(X, label=y)
    log = {}
    booster = xgb.train({**BASE, "num_class": 3, "base_score": 0.0}, d, ROUNDS,
                        obj=flx.objective("cross_entropy"),
                        custom_metric=flx.metric("cross_entropy"),
                        evals=[(d, "train")], evals_result=log, verbose_eval=False)
    curve = log["train"]["cross_entropy"]
    margins = booster.predict(d, output_margin=True)
    p = softmax(margins)
    expected = -np.mean(np.log(p[np.arange(len(y)), y.astype(int)]))
    assert curve[-1] == pytest.approx(expected, rel=1e-5)
    assert curve[-1] < 0.5 * np.log(3) and curve[-1] < curve[0]

    model = xgb.XGBClassifier(n_estimators=ROUNDS, max_depth=3, learning_rate=0.3, n_jobs=1,
                              objective=flx.sklearn_objective("cross_entropy"))
    model.fit(X, y.astype(int))
    np.testing.assert_allclose(model.predict_proba(X).sum(axis=1), 1.0, rtol=1e-5)
    assert (model.predict(X) == y).mean() > 0.8


@needs("binary_cross_entropy")
def test_probability_losses_are_not_objectives():
    with pytest.raises(ValueError, match="probabilities"):
        flx.objective("binary_cross_entropy")


def recall_at_precision(margin, y, precision):
    """The highest recall over thresholds whose precision is at least `precision`."""
    order = np.argsort(-margin)
    hits = np.cumsum(y[order])
    ok = hits / np.arange(1, len(y) + 1) >= precision
    return (hits[ok] / y.sum()).max() if ok.any() else 0.0


@needs("focal")
@needs("binary_cross_entropy_with_logits")
def test_focal_objective_on_one_percent_positives():
    """Focal loss (gamma 2, alpha 0.25) against plain cross-entropy on a 1%-positive set.

    Same trees, rounds and floor for both; on held-out data (about 40 positives) we compare
    recall at the precision cross-entropy reaches at its 0.5 threshold. Measured (with a NumPy
    stand-in of the same formula, before the kernel was merged; 40 rounds): seed 7: cross-entropy
    precision 0.74, recall 0.46; focal recall 0.40 at that precision. Seeds 8 and 9 gave focal
    0.40 vs 0.34 and 0.50 vs 0.47: on this data focal loss does NOT reliably beat cross-entropy
    (40 test positives make recall steps of 0.025, and alpha = 0.25 down-weights the positives).
    So the test asserts what holds: focal loss trains (its loss falls to a fraction of the
    start) and ranks nearly as well (recall at the same precision within 25%, average precision
    > 0.5). `pytest -s` prints the numbers.
    """
    rng = np.random.default_rng(7)
    n = 8000
    X = rng.standard_normal((n, 6))
    score = 2.2 * X[:, 0] + 1.5 * X[:, 1] * X[:, 2] + 0.8 * rng.standard_normal(n)
    y = (score > np.quantile(score, 0.99)).astype(np.float64)     # 1% positives
    train, test = slice(0, n // 2), slice(n // 2, n)
    d = xgb.DMatrix(X[train], label=y[train])
    params = {**BASE, "max_depth": 4, "base_score": 0.0}
    focal = xgb.train(params, d, 40, obj=flx.objective("focal", gamma=2.0, alpha=0.25))
    bce = xgb.train(params, d, 40, obj=flx.objective("binary_cross_entropy_with_logits"))
    y_test = y[test]
    m_focal, m_bce = (b.predict(xgb.DMatrix(X[test])) for b in (focal, bce))
    precision_bce = ((m_bce > 0) & (y_test == 1)).sum() / max((m_bce > 0).sum(), 1)
    recall_bce = recall_at_precision(m_bce, y_test, precision_bce)
    recall_focal = recall_at_precision(m_focal, y_test, precision_bce)
    order = np.argsort(-m_focal)
    precision_curve = np.cumsum(y_test[order]) / np.arange(1, len(order) + 1)
    average_precision = np.sum(precision_curve * y_test[order]) / y_test.sum()
    print(f"precision {precision_bce:.3f}: recall bce {recall_bce:.3f}, focal {recall_focal:.3f};"
          f" focal average precision {average_precision:.3f}")
    start = fl.get("focal")(y[train], np.zeros(n // 2), gamma=2.0, alpha=0.25)
    trained = fl.get("focal")(y[train], focal.predict(d), gamma=2.0, alpha=0.25)
    assert trained < 0.3 * start
    assert recall_focal >= 0.75 * recall_bce
    assert average_precision > 0.5
