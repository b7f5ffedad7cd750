"""A linear SVM: hinge loss plus an L2 penalty, trained by (sub)gradient descent.

The objective is mean(max(0, 1 - y * score)) + l2 * sum(w^2) / 2 with labels y in {-1, +1};
``fl.Objective`` returns its value and the gradients with respect to the scores and to w.
Run: python examples/linear_svm.py   -> separable data classified 100%
"""

import numpy as np

import fastloss as fl


def make_data(n_per_class=50, seed=0):
    rng = np.random.default_rng(seed)
    positive = rng.standard_normal((n_per_class, 2)) * 0.7 + [2.0, 2.0]
    negative = rng.standard_normal((n_per_class, 2)) * 0.7 - [2.0, 2.0]
    X = np.concatenate([positive, negative])
    y = np.concatenate([np.ones(n_per_class), -np.ones(n_per_class)])
    return X, y


def train(steps=1000, learning_rate=0.1, l2=0.01):
    objective = fl.Objective(fl.get("hinge"), l2=l2)
    X, y = make_data()
    w, b = np.zeros(2), 0.0
    for _ in range(steps):
        scores = X @ w + b
        value, g_scores, g_w = objective.value_and_grad(y, scores, w)
        w -= learning_rate * (X.T @ g_scores + g_w)   # the bias is not penalised
        b -= learning_rate * g_scores.sum()
    accuracy = float(np.mean(np.sign(X @ w + b) == y))
    return accuracy, w, b, value


if __name__ == "__main__":
    accuracy, w, b, value = train()
    print(f"training accuracy {accuracy:.0%}, w = {np.round(w, 3)}, b = {b:.3f}, "
          f"objective {value:.4f}")
