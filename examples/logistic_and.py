"""Logistic regression learns the AND gate (binary cross-entropy from logits).

Run: python examples/logistic_and.py   -> predictions close to [0, 0, 0, 1]
"""

import numpy as np

import fastloss as fl


def train(steps=5000, learning_rate=1.0):
    loss = fl.get("binary_cross_entropy_with_logits")
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0.0, 0.0, 0.0, 1.0])
    w, b = np.zeros(2), 0.0
    for _ in range(steps):
        logits = X @ w + b
        value, g = loss.value_and_grad(y, logits)   # g = (sigmoid(logits) - y) / n
        w -= learning_rate * (X.T @ g)
        b -= learning_rate * g.sum()
    probabilities = 1.0 / (1.0 + np.exp(-(X @ w + b)))
    return probabilities, value


if __name__ == "__main__":
    probabilities, value = train()
    print("P(output = 1) for inputs 00, 01, 10, 11:", np.round(probabilities, 3),
          f"(loss {value:.4f})")
