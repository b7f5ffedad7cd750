"""A training step through fastloss.torch against plain PyTorch: value + gradient of the loss.

    python benchmarks/torch_step.py                 # cross_entropy, N = 10^5, K = 100
    python benchmarks/torch_step.py --loss mse --n 1000000
    python benchmarks/torch_step.py --quick         # small sizes: a smoke test

Times forward + backward of the loss alone (the logits are a leaf tensor), float32 and float64,
median of --repeats runs, and checks outside the timed calls that both give the same value and
gradient. Timings taken while other work runs on the machine are not meaningful.
"""

import argparse
import time

import torch
import torch.nn.functional as F

import fastloss as fl
import fastloss.torch as flt

TORCH = {
    "cross_entropy": lambda labels, logits: F.cross_entropy(logits, labels),
    "binary_cross_entropy_with_logits":
        lambda target, logits: F.binary_cross_entropy_with_logits(logits, target),
    "mse": lambda target, pred: F.mse_loss(pred, target),
    "mae": lambda target, pred: F.l1_loss(pred, target),
}


def inputs(loss, n, k, dtype, generator):
    if loss == "cross_entropy":
        return (torch.randint(0, k, (n,), generator=generator),
                torch.randn(n, k, generator=generator, dtype=dtype))
    if loss == "binary_cross_entropy_with_logits":
        return ((torch.rand(n, generator=generator) > 0.5).to(dtype),
                torch.randn(n, generator=generator, dtype=dtype))
    return torch.randn(n, generator=generator, dtype=dtype), torch.randn(n, generator=generator,
                                                                           dtype=dtype)


def step(function, target, pred):
    pred.grad = None
    value = function(target, pred)
    value.backward()
    return value


def median_seconds(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loss", default="cross_entropy", choices=sorted(TORCH))
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="n = 2000, k = 10, 5 repeats")
    args = parser.parse_args()
    if args.quick:
        args.n, args.k, args.repeats = 2000, 10, 5
    if args.loss not in fl.available():
        raise SystemExit(f"{args.loss} is not registered in this fastloss build")
    ours = getattr(flt, args.loss)
    theirs = TORCH[args.loss]
    print(f"{args.loss}: N={args.n}" + (f", K={args.k}" if args.loss == "cross_entropy" else "")
          + f", torch threads {torch.get_num_threads()}, fastloss threads {fl.get_num_threads()}")
    print(f"{'dtype':>8} {'fastloss ms':>12} {'torch ms':>10} {'speed-up':>9}")
    for dtype in (torch.float32, torch.float64):
        target, pred = inputs(args.loss, args.n, args.k, dtype, torch.Generator().manual_seed(0))
        pred.requires_grad_()
        v_ours = step(ours, target, pred).item()
        g_ours = pred.grad.clone()
        v_theirs = step(theirs, target, pred).item()
        tol = 1e-4 if dtype == torch.float32 else 1e-10
        assert abs(v_ours - v_theirs) <= tol * abs(v_theirs), (v_ours, v_theirs)
        torch.testing.assert_close(g_ours, pred.grad, rtol=tol, atol=tol / args.n)
        t_ours = median_seconds(lambda: step(ours, target, pred), args.repeats)
        t_theirs = median_seconds(lambda: step(theirs, target, pred), args.repeats)
        print(f"{str(dtype).split('.')[1]:>8} {t_ours * 1e3:>12.3f} {t_theirs * 1e3:>10.3f} "
              f"{t_theirs / t_ours:>8.2f}x")


if __name__ == "__main__":
    main()
