"""Every script in examples/ runs and converges (they are documentation: they must work)."""

import runpy
from pathlib import Path

import numpy as np
import pytest

import fastloss as fl

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name):
    """The example's functions, without running its __main__ block."""
    return runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name=f"example_{name}")


def needs(loss_name):
    """Skip only while the classification loss the example uses is not registered yet."""
    return pytest.mark.skipif(loss_name not in fl.available(),
                              reason=f"{loss_name!r} is not registered yet (issue 3)")


def test_every_example_has_a_test():
    tested = {"linear_regression", "huber_vs_mse", "logistic_and", "softmax_classifier",
              "linear_svm"}
    assert {p.stem for p in EXAMPLES.glob("*.py")} == tested


def test_linear_regression_recovers_the_slope():
    w, loss = load("linear_regression")["train"]()
    assert abs(w - 2.0) < 1e-3
    assert loss < 1e-6


def test_huber_is_closer_to_the_true_line_than_mse():
    example = load("huber_vs_mse")
    fits = example["train"]()
    distance = example["distance_to_true_line"]
    assert distance(fits["huber"]) < 0.3
    assert distance(fits["mse"]) > 3 * distance(fits["huber"])


@needs("binary_cross_entropy_with_logits")
def test_logistic_regression_learns_the_and_gate():
    probabilities, loss = load("logistic_and")["train"]()
    np.testing.assert_allclose(probabilities, [0.0, 0.0, 0.0, 1.0], atol=0.05)
    assert loss < 0.05


@needs("cross_entropy")
def test_softmax_classifier_separates_the_blobs():
    accuracy, loss = load("softmax_classifier")["train"]()
    assert accuracy >= 0.97
    assert loss < 0.1


@needs("hinge")
def test_linear_svm_classifies_separable_data():
    accuracy, w, b, objective = load("linear_svm")["train"]()
    assert accuracy == 1.0
    assert np.all(w > 0)      # the classes sit at (2, 2) and (-2, -2)
    assert objective < 0.1
