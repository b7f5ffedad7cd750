"""`fastloss bench`: every registered loss against its NumPy reference, side by side.

For each loss, size and dtype: the median time of the fastloss kernel and of the NumPy
reference for the value and for value+gradient, after checking that both agree.
"""

import math
import sys
import time

import numpy as np

import fastloss as fl
from fastloss import reference


def add_arguments(p):
    p.add_argument("--quick", action="store_true", help="small sizes and few repeats (~1 min)")
    p.add_argument("--losses", default=None, help="comma-separated loss names (default: all)")
    p.add_argument("--sizes", default=None, help="comma-separated element counts, e.g. 1e3,1e7")
    p.add_argument("--dtypes", default="float64,float32", help="comma-separated dtypes")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per measurement")
    p.add_argument("--json", action="store_true", help="print the results as JSON")


def median_time(fn, repeats, warmup=1):
    """Median and spread (min, max) of `repeats` timed calls, in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2], times[0], times[-1]


def _repeats_for(n, quick):
    budget = 0.5 if quick else 2.0          # seconds of work per measurement, roughly
    return max(3, min(50, int(budget / max(n * 5e-9, 1e-6))))


def measure(loss, n, dtype, repeats, rng):
    """One row: times of fastloss and the reference for value and value+grad."""
    args = loss.make_inputs(n, dtype, rng)
    ref_value = lambda: reference.value(loss.name, *args)
    ref_vg = lambda: (reference.value(loss.name, *args), reference.grad(loss.name, *args))
    got, want = loss(*args), ref_value()
    tol = 1e-5 if np.dtype(dtype) == np.float32 else 1e-10
    agree = math.isclose(got, want, rel_tol=tol, abs_tol=tol)
    row = {"loss": loss.name, "n": n, "dtype": np.dtype(dtype).name, "agree": agree}
    for key, fn in (("value", lambda: loss(*args)), ("ref_value", ref_value),
                    ("value_and_grad", lambda: loss.value_and_grad(*args)), ("ref_value_and_grad", ref_vg)):
        row[key] = median_time(fn, repeats)[0]
    row["speedup_value"] = row["ref_value"] / row["value"]
    row["speedup_value_and_grad"] = row["ref_value_and_grad"] / row["value_and_grad"]
    return row


def main(args):
    names = args.losses.split(",") if args.losses else fl.available() + fl.penalties.available()
    losses = [fl.penalties.get(name) if name in fl.penalties.PENALTIES else fl.get(name)
              for name in names]
    if args.sizes:
        sizes = [int(float(s)) for s in args.sizes.split(",")]
    else:
        sizes = [10**3, 10**5, 10**6] if args.quick else [10**3, 10**5, 10**7]
    dtypes = [np.dtype(d) for d in args.dtypes.split(",")]
    rng = np.random.default_rng(0)
    rows = []
    for loss in losses:
        for n in sizes:
            for dtype in dtypes:
                repeats = args.repeats or _repeats_for(n, args.quick)
                rows.append(measure(loss, n, dtype, repeats, rng))
                print(".", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    if args.json:
        import json
        print(json.dumps(rows, indent=2))
    else:
        print(f"fastloss {fl.__version__}, {fl.get_num_threads()} threads; median times, "
              "speedup = NumPy reference time / fastloss time")
        print(f"{'loss':<12}{'n':>10}{'dtype':>9}{'value ms':>10}{'ref ms':>10}{'x':>7}"
              f"{'v+g ms':>10}{'ref ms':>10}{'x':>7}  agree")
        for r in rows:
            print(f"{r['loss']:<12}{r['n']:>10}{r['dtype']:>9}{r['value']*1e3:>10.3f}"
                  f"{r['ref_value']*1e3:>10.3f}{r['speedup_value']:>7.1f}"
                  f"{r['value_and_grad']*1e3:>10.3f}{r['ref_value_and_grad']*1e3:>10.3f}"
                  f"{r['speedup_value_and_grad']:>7.1f}  {'yes' if r['agree'] else 'NO'}")
    return 0 if all(r["agree"] for r in rows) else 1
