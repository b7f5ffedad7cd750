"""Measure the serial threshold: from which input size do all threads beat one?

    python benchmarks/threshold.py

Times mse (value) with 1 thread and with all threads over sizes 2^8 .. 2^20, bypassing the
threshold (it calls the kernel directly), and prints the smallest size from which the parallel
call is faster at every larger size. fastloss._threads.SERIAL_THRESHOLD is set from this.
"""

import time

import numpy as np

import fastloss as fl
from fastloss._kernels._regression import KERNELS


def median_time(fn, repeats=200):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[repeats // 2]


def main():
    reduce_ = KERNELS["mse"][("f8", "f8")].reduce
    n_threads = fl.get_num_threads()
    rng = np.random.default_rng(0)
    wins = []
    print(f"{'n':>9} {'1 thread us':>12} {f'{n_threads} threads us':>12} {'ratio':>7}")
    for k in range(8, 21):
        n = 1 << k
        y, p = rng.standard_normal(n), rng.standard_normal(n)
        serial = median_time(lambda: reduce_(y, p, None, 1))
        parallel = median_time(lambda: reduce_(y, p, None, n_threads))
        wins.append((n, parallel < serial))
        print(f"{n:>9} {serial * 1e6:>12.2f} {parallel * 1e6:>12.2f} {serial / parallel:>7.2f}")
    threshold = next((n for i, (n, _) in enumerate(wins) if all(w for _, w in wins[i:])), None)
    print(f"parallel wins from n = {threshold} on (current SERIAL_THRESHOLD = "
          f"{fl._threads.SERIAL_THRESHOLD})")


if __name__ == "__main__":
    main()
