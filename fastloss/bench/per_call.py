"""``fastloss bench per-call``: the cost of one call on a tiny input, where Python overhead,
validation and the kernel's entry dominate rather than arithmetic.

Inputs: n = 10 elements for elementwise losses (from the loss's ``make_inputs``), 10 rows of
K = 3 classes for row-wise losses. Every implementation of ``fastloss.bench.cases`` (fastloss,
the NumPy reference, each requested peer that is installed) is first checked against the
reference, outside the timing, then timed as ``timeit`` does: the minimum over ``repeat``
samples of the mean time of ``number`` calls (the minimum is the sample least disturbed by
other processes; it is still one measurement on a possibly shared machine). One thread.
"""

import argparse
import json
import sys
import timeit

import numpy as np

import fastloss as fl
from fastloss.bench import cases as C
from fastloss.bench import peers as peer_module

DEFAULT_LOSSES = ("mse", "huber", "binary_cross_entropy_with_logits", "cross_entropy")
N_ELEMENTS = 10
N_ROWS, N_CLASSES = 10, 3


def make_case(name, dtype, seed=0):
    """The per-call case of a loss: n = 10 elements, or 10 rows x 3 classes (row-wise)."""
    loss = C.lookup(name)
    if isinstance(loss, fl.MulticlassLoss):
        rng = np.random.default_rng(C.seed_for(loss.name, N_ROWS * N_CLASSES, dtype, seed))
        labels = rng.integers(0, N_CLASSES, N_ROWS).astype(np.intp)
        logits = (2.0 * rng.standard_normal((N_ROWS, N_CLASSES))).astype(dtype)
        return C.Case(loss=loss, n=N_ROWS * N_CLASSES, dtype=np.dtype(dtype),
                      inputs=(labels, logits), params=dict(loss.defaults))
    return C.make_case(loss, N_ELEMENTS, dtype, seed)


def time_call(call, number, repeat):
    """Seconds per call: the minimum over `repeat` samples of `number` calls each."""
    return min(timeit.repeat(call, number=number, repeat=repeat)) / number


def measure(losses=DEFAULT_LOSSES, ops=C.OPS, dtypes=("float64",), peers=(), number=2000,
            repeat=7):
    """One record per (loss, op, dtype, implementation): seconds per call, or why not timed."""
    records = []
    for name in losses:
        for dtype in dtypes:
            case = make_case(name, dtype)
            for op in ops:
                impls = C.implementations(case, op, 1, peers)
                want = None
                for impl in impls:
                    if isinstance(impl, C.Impl) and impl.name == "numpy":
                        want = impl.finish(impl.call())
                record = dict(loss=name, op=op, dtype=np.dtype(dtype).name, shape=[
                    list(np.shape(a)) for a in case.inputs])
                for impl in impls:
                    rec = dict(record, implementation=impl.name)
                    if isinstance(impl, C.Unavailable):
                        rec.update(status=impl.status, reason=impl.reason)
                        records.append(rec)
                        continue
                    try:
                        with impl.threads():
                            got = impl.finish(impl.call())
                            ok, why = (True, "") if want is None else C.agree(got, want, dtype, op, case.loss)
                            if ok:
                                rec.update(status="ok",
                                           seconds=time_call(impl.call, number, repeat))
                            else:
                                rec.update(status="mismatch", reason=why)
                    except Exception as exc:     # a failing peer is reported, not fatal
                        rec.update(status="error", reason=f"{type(exc).__name__}: {exc}")
                    records.append(rec)
    return records


def table(records):
    """A text table: one row per (loss, op, dtype), microseconds per call per implementation."""
    names = []
    for r in records:
        if r["implementation"] not in names:
            names.append(r["implementation"])
    rows = {}
    for r in records:
        key = (r["loss"], r["op"], r["dtype"])
        cell = f"{r['seconds'] * 1e6:.2f}" if r["status"] == "ok" else r["status"]
        rows.setdefault(key, {})[r["implementation"]] = cell
    header = ["loss", "op", "dtype"] + [f"{n} (us)" for n in names]
    lines = [header] + [[*key] + [cells.get(n, "") for n in names] for key, cells in rows.items()]
    widths = [max(len(line[k]) for line in lines) for k in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip()
                     for line in lines)


def add_arguments(p):
    p.add_argument("--losses", default=",".join(DEFAULT_LOSSES),
                   help="comma-separated loss names (default: %(default)s)")
    p.add_argument("--ops", default=",".join(C.OPS), help="comma-separated operations")
    p.add_argument("--dtypes", default="float64", help="comma-separated dtypes")
    p.add_argument("--peers", default=",".join(peer_module.PEERS),
                   help="comma-separated peers, or 'none' (missing ones are reported)")
    p.add_argument("--number", type=int, default=2000, help="calls per timed sample")
    p.add_argument("--repeat", type=int, default=7, help="timed samples (the minimum is kept)")
    p.add_argument("--json", action="store_true", help="print the records as JSON")


def _split(text):
    return [s.strip() for s in str(text).split(",") if s.strip()]


def main(args):
    losses, ops, dtypes = _split(args.losses), _split(args.ops), _split(args.dtypes)
    peers = [] if args.peers.strip().lower() in ("", "none") else _split(args.peers)
    try:
        for name in losses:
            C.lookup(name)
        for op in ops:
            if op not in C.OPS:
                raise ValueError(f"unknown op {op!r}; known: {', '.join(C.OPS)}")
        for name in peers:
            peer_module.get_peer(name)
    except ValueError as exc:
        print(f"fastloss bench per-call: {exc}", file=sys.stderr)
        return 2
    records = measure(losses, ops, dtypes, peers, max(1, args.number), max(1, args.repeat))
    if args.json:
        print(json.dumps(records, indent=1))
    else:
        print(f"per-call cost: n = {N_ELEMENTS} elements ({N_ROWS} x {N_CLASSES} for row-wise "
              f"losses), one thread, min of {args.repeat} x {args.number} calls")
        print(table(records))
    failed = [r for r in records if r["implementation"] == "fastloss" and r["status"] != "ok"]
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m fastloss.bench.per_call",
                                     description=__doc__.splitlines()[0])
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
