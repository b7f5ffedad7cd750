"""Linear regression y = w x by gradient descent on the mean squared error.

The data follow y = 2x exactly, so the fitted slope should be (very close to) 2.0.
Run: python examples/linear_regression.py
"""

import numpy as np

import fastloss as fl


def train(steps=200, learning_rate=0.1):
    x = np.linspace(-1.0, 1.0, 50)
    y = 2.0 * x
    w = 0.0
    for _ in range(steps):
        pred = w * x
        loss, grad_pred = fl.mse.value_and_grad(y, pred)   # d(mean loss)/d(pred), 1/n included
        w -= learning_rate * (grad_pred @ x)              # chain rule: d pred / d w = x
    return w, loss


if __name__ == "__main__":
    w, loss = train()
    print(f"fitted w = {w:.6f} (true 2.0), final MSE = {loss:.2e}")
