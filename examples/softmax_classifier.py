"""A softmax (multinomial logistic) classifier on three Gaussian blobs, with cross_entropy.

Run: python examples/softmax_classifier.py   -> training accuracy near 100%
"""

import numpy as np

import fastloss as fl


def make_data(n_per_class=100, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    X = np.concatenate([c + rng.standard_normal((n_per_class, 2)) for c in centers])
    labels = np.repeat(np.arange(3), n_per_class)      # integer class labels, shape (N,)
    return X, labels


def train(steps=500, learning_rate=0.5):
    loss = fl.get("cross_entropy")
    X, labels = make_data()
    W, b = np.zeros((2, 3)), np.zeros(3)
    for _ in range(steps):
        logits = X @ W + b                               # (N, K)
        value, G = loss.value_and_grad(labels, logits)   # G = (softmax(logits) - onehot) / N
        W -= learning_rate * (X.T @ G)
        b -= learning_rate * G.sum(axis=0)
    accuracy = float(np.mean(np.argmax(X @ W + b, axis=1) == labels))
    return accuracy, value


if __name__ == "__main__":
    accuracy, value = train()
    print(f"training accuracy {accuracy:.1%}, cross-entropy {value:.4f}")
