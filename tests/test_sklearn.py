"""fastloss.sklearn scorers on real estimators, with sklearn.metrics as the oracle.

Classification tests are skipped until the classification losses are registered.
"""

import pickle

import numpy as np
import pytest

import fastloss as fl

pytest.importorskip("sklearn")
import fastloss.sklearn as fls   # noqa: E402
from sklearn.datasets import make_classification, make_regression   # noqa: E402
from sklearn.ensemble import RandomForestClassifier   # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge   # noqa: E402
from sklearn.metrics import (hinge_loss, log_loss, mean_absolute_error,   # noqa: E402
                             mean_squared_error)
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score   # noqa: E402
from sklearn.svm import LinearSVC   # noqa: E402
from sklearn.tree import DecisionTreeRegressor   # noqa: E402


def needs(name):
    return pytest.mark.skipif(name not in fl.available(), reason=f"{name} loss not merged yet")


CV = KFold(3, shuffle=True, random_state=0)


@pytest.fixture(scope="module")
def regression():
    return make_regression(n_samples=120, n_features=5, noise=5.0, random_state=0)


@pytest.fixture(scope="module")
def binary():
    return make_classification(n_samples=150, n_features=6, random_state=0)


@pytest.fixture(scope="module")
def multiclass():
    X, y = make_classification(n_samples=180, n_features=6, n_informative=4, n_classes=3,
                               random_state=1)
    return X, np.array(["ant", "bee", "cat"])[y]     # string labels: mapped through classes_


# ------------------------------------------------------------------------------ regression

@pytest.mark.parametrize("loss,metric,builtin", [
    ("mse", mean_squared_error, "neg_mean_squared_error"),
    ("mae", mean_absolute_error, "neg_mean_absolute_error"),
])
def test_regression_scorer_matches_sklearn_metrics(regression, loss, metric, builtin):
    X, y = regression
    model = Ridge(alpha=1.0).fit(X, y)
    scorer = fls.scorer(loss)
    assert scorer(model, X, y) == pytest.approx(-metric(y, model.predict(X)), rel=1e-12)
    assert scorer.loss_value(model, X, y) == pytest.approx(metric(y, model.predict(X)),
                                                           rel=1e-12)
    ours = cross_val_score(Ridge(alpha=1.0), X, y, cv=CV, scoring=scorer)
    theirs = cross_val_score(Ridge(alpha=1.0), X, y, cv=CV, scoring=builtin)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    assert (ours < 0).all()          # greater is better: the negated loss


def test_grid_search_picks_the_same_model_as_builtin_scoring(regression):
    X, y = regression
    grid = {"max_depth": [1, 2, 4, 8]}
    ours = GridSearchCV(DecisionTreeRegressor(random_state=0), grid, cv=CV,
                        scoring=fls.scorer("mse")).fit(X, y)
    theirs = GridSearchCV(DecisionTreeRegressor(random_state=0), grid, cv=CV,
                          scoring="neg_mean_squared_error").fit(X, y)
    assert ours.best_params_ == theirs.best_params_
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"],
                               theirs.cv_results_["mean_test_score"], rtol=1e-12)
    # A loss sklearn does not have: huber with a delta.
    search = GridSearchCV(Ridge(), {"alpha": [0.1, 10.0, 1000.0]}, cv=CV,
                          scoring=fls.scorer("huber", delta=3.0)).fit(X, y)
    assert search.best_params_["alpha"] != 1000.0
    expected = -fl.huber(y, search.predict(X), delta=3.0)
    assert search.score(X, y) == pytest.approx(expected, rel=1e-12)


def test_sample_weight_and_pickle(regression):
    X, y = regression
    model = Ridge().fit(X, y)
    w = np.linspace(0.1, 3.0, len(y))
    scorer = pickle.loads(pickle.dumps(fls.scorer("mae")))
    assert scorer(model, X, y, sample_weight=w) == pytest.approx(
        -mean_absolute_error(y, model.predict(X), sample_weight=w), rel=1e-12)
    assert "mae" in repr(scorer)


def test_scorer_errors(regression, binary):
    with pytest.raises(ValueError, match="unknown loss"):
        fls.scorer("nope")
    with pytest.raises(ValueError, match="response_method"):
        fls.scorer("mse", response_method="transform")
    with pytest.raises(TypeError, match="unexpected parameter"):
        fls.scorer("mse", alpha=0.5)
    X, y = regression
    scorer = fls.scorer("mse", response_method="predict_proba")
    with pytest.raises(ValueError, match="predict_proba"):
        scorer(Ridge().fit(X, y), X, y)


# ------------------------------------------------------------------------------ classification

@needs("binary_cross_entropy_with_logits")
def test_bce_with_logits_scorer_is_log_loss(binary):
    X, y = binary
    scorer = fls.scorer("binary_cross_entropy_with_logits")
    for model in (LogisticRegression(C=0.5).fit(X, y),
                  RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)):
        # The forest predicts probabilities of exactly 0 and 1: clipped like log_loss does.
        expected = log_loss(y, model.predict_proba(X))
        assert scorer(model, X, y) == pytest.approx(-expected, rel=1e-9)
    ours = cross_val_score(LogisticRegression(), X, y, cv=CV, scoring=scorer)
    theirs = cross_val_score(LogisticRegression(), X, y, cv=CV, scoring="neg_log_loss")
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)
    search = GridSearchCV(LogisticRegression(), {"C": [0.001, 0.1, 10.0]}, cv=CV,
                          scoring=scorer).fit(X, y)
    reference = GridSearchCV(LogisticRegression(), {"C": [0.001, 0.1, 10.0]}, cv=CV,
                             scoring="neg_log_loss").fit(X, y)
    assert search.best_params_ == reference.best_params_


@needs("binary_cross_entropy")
def test_binary_cross_entropy_scorer_uses_predict_proba(binary):
    X, y = binary
    model = LogisticRegression().fit(X, y)
    assert fls.scorer("binary_cross_entropy")(model, X, y) == pytest.approx(
        -log_loss(y, model.predict_proba(X)), rel=1e-9)


@needs("hinge")
def test_hinge_scorer_is_hinge_loss(binary):
    X, y = binary
    labels = np.where(y == 1, "spam", "ham")          # classes_ = [ham, spam]: spam is +1
    model = LinearSVC(C=0.1, random_state=0).fit(X, labels)
    scorer = fls.scorer("hinge")
    expected = hinge_loss(labels, model.decision_function(X))
    assert scorer(model, X, labels) == pytest.approx(-expected, rel=1e-12)
    ours = cross_val_score(LinearSVC(C=0.1), X, labels, cv=CV, scoring=scorer)
    theirs = cross_val_score(LinearSVC(C=0.1), X, labels, cv=CV,    # sklearn has no hinge scorer
                             scoring=lambda est, X_, y_: -hinge_loss(y_, est.decision_function(X_)))
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


@needs("cross_entropy")
def test_cross_entropy_scorer_is_multiclass_log_loss(multiclass):
    X, y = multiclass
    model = LogisticRegression(C=0.3, max_iter=500).fit(X, y)
    scorer = fls.scorer("cross_entropy")
    assert scorer(model, X, y) == pytest.approx(-log_loss(y, model.predict_proba(X)), rel=1e-9)
    ours = cross_val_score(LogisticRegression(max_iter=500), X, y, cv=CV, scoring=scorer)
    theirs = cross_val_score(LogisticRegression(max_iter=500), X, y, cv=CV,
                             scoring="neg_log_loss")
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)
    # decision_function gives LogisticRegression's logits directly: the same loss.
    direct = fls.scorer("cross_entropy", response_method="decision_function")
    assert direct(model, X, y) == pytest.approx(scorer(model, X, y), rel=1e-9)
    with pytest.raises(ValueError, match="not one of the estimator's classes"):
        scorer(model, X, np.where(y == "ant", "dog", y))


@needs("binary_cross_entropy_with_logits")
def test_binary_loss_on_three_classes_is_an_error(multiclass):
    X, y = multiclass
    model = LogisticRegression(max_iter=500).fit(X, y)
    with pytest.raises(ValueError, match="binary loss"):
        fls.scorer("binary_cross_entropy_with_logits")(model, X, y)


def test_probability_logit_conversions():
    # The helpers behind the classification scorers and metrics (margin=False), on their own.
    from types import SimpleNamespace
    from fastloss import _integrations as I
    binary, multiclass = SimpleNamespace(family="binary"), SimpleNamespace(family="multiclass")
    eps = np.finfo(np.float64).eps
    p = np.array([0.0, 1e-300, 0.25, 0.5, 1.0])
    z = I.probabilities_to_logits(binary, p)
    np.testing.assert_allclose(z, [np.log(eps) - np.log1p(-eps)] * 2
                               + [np.log(1 / 3), 0.0, np.log1p(-eps) - np.log(eps)], rtol=1e-15)
    np.testing.assert_allclose(I.logits_to_probabilities(binary, z), np.clip(p, eps, 1 - eps),
                               rtol=1e-12, atol=0)
    assert I.logits_to_probabilities(binary, np.array([-800.0, 800.0])).tolist() == [0.0, 1.0]
    rows = np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
    logits = I.probabilities_to_logits(multiclass, rows)
    assert np.isfinite(logits).all()
    np.testing.assert_allclose(I.logits_to_probabilities(multiclass, logits), rows, atol=1e-15)
    assert I.logits_to_probabilities(multiclass, np.array([[1000.0, 0.0]])).tolist() == [[1.0, 0.0]]


def test_the_real_sklearn_is_imported():
    import sklearn
    from pathlib import Path
    assert fls.sklearn is sklearn and Path(sklearn.__file__).parent.name == "sklearn"
