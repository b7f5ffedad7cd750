"""A boosting round with a fastloss objective against the library's built-in objective.

    python benchmarks/boosting_round.py                     # XGBoost and LightGBM, 10^5 rows
    python benchmarks/boosting_round.py --quick             # small: a smoke test

Pairs (fastloss objective vs built-in): binary_cross_entropy_with_logits vs binary:logistic /
binary, mse vs reg:squarederror / regression, cross_entropy vs multi:softprob / multiclass
(K = 10); those whose loss is not registered are skipped. Reports the median time of one round
(`--rounds` rounds per fit, median over `--repeats` fits) and checks outside the timing that
both produce nearly the same model. Timings taken while other work runs are not meaningful.
"""

import argparse
import time

import numpy as np

import fastloss as fl


def data(task, n, k, rng):
    X = rng.standard_normal((n, 20)).astype(np.float32)
    signal = X[:, 0] + X[:, 1] * X[:, 2] + 0.5 * rng.standard_normal(n)
    if task == "binary":
        return X, (signal > 0.5).astype(np.float64)
    if task == "multiclass":
        return X, np.digitize(signal, np.quantile(signal, np.linspace(0, 1, k + 1)[1:-1])).astype(
            np.float64)
    return X, signal


PAIRS = [  # (task, fastloss loss, xgboost built-in, lightgbm built-in)
    ("regression", "mse", "reg:squarederror", "regression"),
    ("binary", "binary_cross_entropy_with_logits", "binary:logistic", "binary"),
    ("multiclass", "cross_entropy", "multi:softprob", "multiclass"),
]


def timed(fit, repeats):
    fit()                       # warm-up: thread pools, first-call costs
    times, model = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        model = fit()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2], model


def bench_xgboost(task, loss, builtin, X, y, k, rounds, repeats):
    import xgboost as xgb
    import fastloss.xgboost as flx
    d = xgb.DMatrix(X, label=y)
    params = {"tree_method": "hist", "max_depth": 6, "eta": 0.3, "seed": 0}
    if task == "multiclass":
        params["num_class"] = k
    margin0 = {"base_score": 0.5} if task != "binary" else {"base_score": 0.0}
    if loss == "mse":           # (y - p)^2 is twice XGBoost's loss: the same trees this way
        margin0.update({"lambda": 2.0, "min_child_weight": 2.0})
    t_ours, ours = timed(lambda: xgb.train({**params, **margin0}, d, rounds,
                                           obj=flx.objective(loss)), repeats)
    t_builtin, theirs = timed(lambda: xgb.train({**params, "objective": builtin,
                                                 "base_score": 0.5}, d, rounds), repeats)
    gap = np.abs(ours.predict(d, output_margin=True) - theirs.predict(d, output_margin=True))
    return t_ours / rounds, t_builtin / rounds, float(gap.max())


def bench_lightgbm(task, loss, builtin, X, y, k, rounds, repeats):
    import lightgbm as lgb
    import fastloss.lightgbm as fll
    params = {"num_leaves": 31, "learning_rate": 0.3, "seed": 0, "verbose": -1}
    if task == "multiclass":
        params["num_class"] = k
    t_ours, ours = timed(lambda: lgb.train({**params, "objective": fll.objective(loss)},
                                           lgb.Dataset(X, y), rounds), repeats)
    t_builtin, theirs = timed(lambda: lgb.train({**params, "objective": builtin,
                                                 "boost_from_average": False},
                                                lgb.Dataset(X, y), rounds), repeats)
    gap = np.abs(ours.predict(X, raw_score=True) - theirs.predict(X, raw_score=True))
    return t_ours / rounds, t_builtin / rounds, float(gap.max())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="n = 5000, 3 rounds, 1 repeat")
    args = parser.parse_args()
    if args.quick:
        args.n, args.rounds, args.repeats = 5000, 3, 1
    rng = np.random.default_rng(0)
    print(f"N={args.n}, 20 features, {args.rounds} rounds per fit (time per round; "
          "max |margin difference| is the model gap: cross_entropy's Hessian differs from the "
          "built-ins' by design, see fastloss.xgboost)")
    print(f"{'library':>9} {'loss':>34} {'fastloss ms':>12} {'built-in ms':>12} {'gap':>9}")
    for library, bench in (("xgboost", bench_xgboost), ("lightgbm", bench_lightgbm)):
        for task, loss, xgb_builtin, lgb_builtin in PAIRS:
            if loss not in fl.available():
                print(f"{library:>9} {loss:>34} {'(not registered)':>26}")
                continue
            X, y = data(task, args.n, args.k, rng)
            builtin = xgb_builtin if library == "xgboost" else lgb_builtin
            ours, theirs, gap = bench(task, loss, builtin, X, y, args.k, args.rounds,
                                      args.repeats)
            print(f"{library:>9} {loss:>34} {ours * 1e3:>12.2f} {theirs * 1e3:>12.2f} "
                  f"{gap:>9.2g}")


if __name__ == "__main__":
    main()
