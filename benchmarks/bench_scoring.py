"""Scoring throughput on a memory-mapped file: 3 losses in one pass vs 3 passes vs NumPy.

    python benchmarks/bench_scoring.py --rows 200_000_000 --dtype float32

writes y.npy and p.npy (rows of each) to a temporary directory (removed at the end) and
reports rows per second for
- ``one_pass``: ``fl.score(["mse", "mae", "huber"], y.npy, p.npy)`` (every chunk in cache once),
- ``three_passes``: three ``fl.score`` calls, one loss each (the file is read three times),
- ``numpy``: the NumPy reference of the three losses on the same memory-mapped arrays, chunked
  like fl.score (whole-array NumPy would allocate temporaries the size of the file).
The files were just written, so they are in the page cache: this is the warm-cache figure
(dropping the cache, as root: ``sync; echo 3 > /proc/sys/vm/drop_caches``, gives the cold one).
The three results are checked against each other outside the timed calls.

``measure(rows, dtype, ...)`` returns the figures as a dict, for ``fastloss bench`` to call.
"""

import argparse
import json
import math
import os
import sys
import tempfile
import time

import numpy as np

import fastloss as fl
from fastloss import reference, scoring

LOSSES = ("mse", "mae", "huber")


def _write(path, rows, dtype, seed):
    """A .npy of `rows` values, written in blocks (never the whole array in memory)."""
    rng = np.random.default_rng(seed)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(rows,))
    block = 1 << 22
    for start in range(0, rows, block):
        stop = min(start + block, rows)
        out[start:stop] = rng.standard_normal(stop - start)
    out.flush()
    del out


def _numpy_pass(y_path, p_path, losses, chunk):
    y = np.load(y_path, mmap_mode="r")
    p = np.load(p_path, mmap_mode="r")
    sums = {name: 0.0 for name in losses}
    for start in range(0, len(y), chunk):
        yc = np.asarray(y[start:start + chunk], dtype=np.float64)
        pc = np.asarray(p[start:start + chunk], dtype=np.float64)
        for name in losses:
            sums[name] += float(reference.LOSSES[name][0](yc, pc).sum())
    return {name: s / len(y) for name, s in sums.items()}


def _best_time(fn, repeats):
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t0)
    return best, value


def measure(rows=10_000_000, dtype="float32", losses=LOSSES, repeats=3, chunk_size=None,
            directory=None):
    """Rows per second of one pass, separate passes and NumPy over the same memory-mapped file."""
    losses = list(losses)
    with tempfile.TemporaryDirectory(prefix="fastloss-bench-scoring-", dir=directory) as tmp:
        y_path, p_path = os.path.join(tmp, "y.npy"), os.path.join(tmp, "p.npy")
        _write(y_path, rows, dtype, 1)
        _write(p_path, rows, dtype, 2)
        step = chunk_size or scoring._chunk_rows(
            [scoring.open_array(y_path), scoring.open_array(p_path)], None)

        def one_pass():
            return fl.score(losses, y_path, p_path, chunk_size=step)

        def separate_passes():
            return [fl.score(name, y_path, p_path, chunk_size=step) for name in losses]

        t_one, together = _best_time(one_pass, repeats)
        t_sep, apart = _best_time(separate_passes, repeats)
        t_np, by_numpy = _best_time(lambda: _numpy_pass(y_path, p_path, losses, step), repeats)
    for name, single in zip(losses, apart):
        a, b, c = together[name].mean, single[name].mean, by_numpy[name]
        if not (math.isclose(a, b, rel_tol=1e-12) and math.isclose(a, c, rel_tol=1e-6)):
            raise AssertionError(f"{name}: one pass {a}, separate {b}, numpy {c} disagree")
    return {"rows": rows, "dtype": np.dtype(dtype).name, "losses": losses, "chunk_rows": step,
            "threads": fl.get_num_threads(),
            "rows_per_s": {"one_pass": rows / t_one, "three_passes": rows / t_sep,
                           "numpy": rows / t_np},
            "seconds": {"one_pass": t_one, "three_passes": t_sep, "numpy": t_np}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=lambda s: int(float(s)), default=10_000_000)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--dir", default=None, help="where to write the temporary files")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    row = measure(args.rows, args.dtype, repeats=args.repeats, chunk_size=args.chunk_size,
                  directory=args.dir)
    if args.json:
        print(json.dumps(row, indent=2))
    else:
        print(f"{row['rows']:,} rows of {row['dtype']}, losses {', '.join(row['losses'])}, "
              f"chunks of {row['chunk_rows']:,} rows, {row['threads']} threads")
        one = row["rows_per_s"]["one_pass"]
        for key, rate in row["rows_per_s"].items():
            print(f"  {key:<13} {rate / 1e6:10.1f} M rows/s  ({one / rate:5.2f}x slower than "
                  f"one pass)" if key != "one_pass" else f"  {key:<13} {rate / 1e6:10.1f} M rows/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
