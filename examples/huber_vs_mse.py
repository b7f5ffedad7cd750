"""Huber versus MSE on data with outliers: the Huber fit stays close to the true line.

The true line is y = 3x + 1 with a little noise; 10% of the points are corrupted by large
positive errors. Squared error lets those points pull the line up; Huber caps their influence.
Run: python examples/huber_vs_mse.py
"""

import numpy as np

import fastloss as fl

TRUE_SLOPE, TRUE_INTERCEPT = 3.0, 1.0


def make_data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, n)
    y = TRUE_SLOPE * x + TRUE_INTERCEPT + 0.1 * rng.standard_normal(n)
    outliers = rng.choice(n, n // 10, replace=False)
    y[outliers] += rng.uniform(10.0, 20.0, outliers.size)
    return x, y


def fit(loss, x, y, steps=1000, learning_rate=0.5):
    slope, intercept = 0.0, 0.0
    for _ in range(steps):
        _, g = loss.value_and_grad(y, slope * x + intercept)
        slope -= learning_rate * (g @ x)
        intercept -= learning_rate * g.sum()
    return slope, intercept


def train():
    x, y = make_data()
    return {"mse": fit(fl.mse, x, y), "huber": fit(fl.huber.with_params(delta=1.0), x, y)}


def distance_to_true_line(params):
    slope, intercept = params
    return float(np.hypot(slope - TRUE_SLOPE, intercept - TRUE_INTERCEPT))


if __name__ == "__main__":
    for name, params in train().items():
        print(f"{name:>5}: slope {params[0]:.3f}, intercept {params[1]:.3f}, "
              f"distance to the true line {distance_to_true_line(params):.3f}")
