"""The benchmark run: every (loss, size, dtype, operation, implementation, threads), checked
for agreement, then timed, next to the bandwidth floor measured in the same run.

For each case (a loss's inputs at one size and dtype) and operation:
1. every implementation is called once per thread count: that is its warm-up, and its result is
   checked against the NumPy reference (against fastloss where a loss has no reference). A
   mismatch or an exception is recorded as a failure and that implementation is not timed; the
   run goes on.
2. the bandwidth floor of the same bytes and threads is looked up or measured once per run
   (``probe``: the report's bandwidth table, and the floor of the peers' rows).
3. each implementation that agreed is timed (``timing.measure``); implementations the thread
   setting does not apply to (NumPy, JAX) are timed once. fastloss is timed side by side with
   its floor (``timing.measure_side_by_side``: alternating samples), so its "% floor" compares
   the two under the same machine conditions.
4. each fastloss row is timed again against its fastest peers, in alternating samples
   (``_pair_with_peers``), so its speedup over them is a side-by-side ratio too; at the largest
   size, its 1-thread row against the most threads (``_pair_thread_counts``) and, once a loss's
   dtypes are all measured, its float32 row against its float64 row (``_pair_dtypes``).
   row["more_samples"] collects the row's samples from these pairings: with its own, they are
   every timing of the row in the run (the report's absolute-time targets take their median).
Sizes whose estimated peak memory exceeds the budget are skipped and listed as such.
"""

import datetime
import tracemalloc
from dataclasses import dataclass, field, replace

import numpy as np

import fastloss as fl
from fastloss.bench import cases as C
from fastloss.bench import machine, probe, timing
from fastloss.bench import peers as peer_module

SCHEMA = "fastloss-bench/2"
DEFAULT_SIZES = [10 ** k for k in range(3, 9)]          # 1e3 .. 1e8, capped by memory
QUICK_SIZES = [10 ** 3, 10 ** 5, 10 ** 6]
DEFAULT_DTYPES = ["float64", "float32"]
MEMORY_FRACTION = 0.6      # default budget: this share of the memory available at start


@dataclass
class Settings:
    """What to measure and how long; the defaults are the full report."""
    losses: list = None                    # names; None: every registered loss
    sizes: list = field(default_factory=lambda: list(DEFAULT_SIZES))
    dtypes: list = field(default_factory=lambda: list(DEFAULT_DTYPES))
    threads: list = None                   # None: 1 and all (fl.get_num_threads())
    ops: tuple = C.OPS
    peers: list = None                     # names or Peer objects; None: every known peer
    budget: timing.Budget = field(default_factory=lambda: timing.FULL)
    memory_budget: int = None              # bytes; None: MEMORY_FRACTION of available memory
    seed: int = 0
    quick: bool = False
    command: str = ""
    classes: int = None                    # K of the row-wise losses; None: their default (10)

    def resolved(self):
        """A copy with every None filled in (the registry, the thread counts, the peers)."""
        losses = list(self.losses) if self.losses else C.measurable()
        for name in losses:
            C.lookup(name)                 # an unknown name raises ValueError naming the choices
        threads = self.threads or sorted({1, fl.get_num_threads()})
        peers = [peer_module.get_peer(p) if isinstance(p, str) else p
                 for p in (self.peers if self.peers is not None else peer_module.PEERS)]
        memory = self.memory_budget
        if memory is None:
            available = machine.available_memory()
            memory = int(available * MEMORY_FRACTION) if available else 4 << 30
        return Settings(losses=losses, sizes=[int(n) for n in self.sizes],
                        dtypes=[np.dtype(d).name for d in self.dtypes],
                        threads=sorted({int(t) for t in threads}), ops=tuple(self.ops),
                        peers=peers, budget=self.budget, memory_budget=memory, seed=self.seed,
                        quick=self.quick, command=self.command, classes=self.classes)

    def as_dict(self):
        return {"losses": self.losses, "sizes": self.sizes, "dtypes": self.dtypes,
                "threads": self.threads, "ops": list(self.ops),
                "peers": [p if isinstance(p, str) else p.name for p in self.peers or []],
                "budget": vars(self.budget), "memory_budget_bytes": self.memory_budget,
                "seed": self.seed, "quick": self.quick, "command": self.command,
                "classes": self.classes}


class _NullProgress:
    def update(self, steps=1, label=""):
        pass

    def close(self):
        pass


# --------------------------------------------------------------------------- memory estimate

_PROBE_N = 4096


def bytes_per_element(loss, dtype):
    """Peak bytes per unit of n while measuring `loss`: inputs, fastloss's gradient and the
    NumPy reference's temporaries, traced at a small size (NumPy reports to tracemalloc)."""
    case = C.make_case(loss, _PROBE_N, dtype)
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        for op in [op for op in ("value", "grad", "grad_hess") if C.supports(loss, op)]:
            for impl in (C.fastloss_impl(case, op, 1), C.reference_impl(case, op)):
                if isinstance(impl, C.Impl):
                    try:
                        impl.call()
                    except Exception:
                        pass                # reported when the case is measured
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        if started:
            tracemalloc.stop()
    return (2 * case.input_bytes + peak) / _PROBE_N


# --------------------------------------------------------------------------- the run


def _units_per_case(settings):
    """Progress steps of one case: each (thread count, implementation) pair of each op."""
    return len(settings.ops) * len(settings.threads) * (2 + len(settings.peers))


def planned_units(settings):
    """The progress total of a run of these (resolved) settings."""
    return (len(settings.losses) * len(settings.sizes) * len(settings.dtypes)
            * _units_per_case(settings))


def run(settings=None, progress=None):
    """Measure everything `settings` asks for; returns the results dict (see report.py)."""
    settings = (settings or Settings()).resolved()
    progress = progress or _NullProgress()
    progress.update(0, "importing peers")
    peer_status = {peer.name: peer.status() for peer in settings.peers}
    results = {
        "schema": SCHEMA,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "settings": settings.as_dict(),
        "machine": machine.describe(peer_status),
        "rows": [],
        "bandwidth": [],
        "skipped": [],
        "failures": [],
    }
    bandwidth = probe.BandwidthProbe(settings.budget)
    cpu_at_start = machine.cpu_snapshot()
    per_case_units = _units_per_case(settings)
    for name in settings.losses:
        loss = C.lookup(name)
        largest = {}        # dtype -> {op: entries} at the largest size, for _pair_dtypes
        keep_largest = _dtype_pairing_fits(loss, settings)
        for dtype in settings.dtypes:
            try:
                per_n = bytes_per_element(loss, dtype)
            except Exception as exc:
                _fail(results, {"loss": name, "dtype": dtype, "op": None, "n": None,
                                "impl": "make_inputs", "threads": None, "status": "error",
                                "reason": f"{type(exc).__name__}: {exc}"})
                progress.update(per_case_units * len(settings.sizes))
                continue
            for n in settings.sizes:
                estimate = int(per_n * n * 1.25)
                if estimate > settings.memory_budget:
                    results["skipped"].append({
                        "loss": name, "n": n, "dtype": dtype, "estimated_bytes": estimate,
                        "reason": f"needs about {estimate / 2**30:.1f} GiB, over the memory "
                                  f"budget of {settings.memory_budget / 2**30:.1f} GiB"})
                    progress.update(per_case_units)
                    continue
                progress.update(0, f"{name} n={C.format_size(n)} {dtype}")
                try:
                    case = C.make_case(loss, n, dtype, settings.seed, settings.classes)
                except Exception as exc:
                    _fail(results, {"loss": name, "dtype": dtype, "op": None, "n": n,
                                    "impl": "make_inputs", "threads": None, "status": "error",
                                    "reason": f"{type(exc).__name__}: {exc}"})
                    progress.update(per_case_units)
                    continue
                for op in settings.ops:
                    if C.supports(loss, op):
                        entries = _measure_op(results, settings, case, op, bandwidth, progress)
                        if keep_largest and n == max(settings.sizes):   # not the peers' copies
                            largest.setdefault(dtype, {})[op] = [
                                e for e in entries if e[0]["impl"] == "fastloss"]
                    else:                    # e.g. grad_hess of a penalty: no row at all
                        progress.update(per_case_units // len(settings.ops))
                del case
        if largest:
            progress.update(0, f"{name}: float32 and float64 side by side")
            _pair_dtypes(largest, settings.budget, max(settings.threads))
        del largest
    results["bandwidth"] = bandwidth.records()
    results["machine"]["load_average_end"] = machine.describe_load()
    results["machine"]["other_work"] = machine.other_work(cpu_at_start, machine.cpu_snapshot(),
                                                          results["machine"]["logical_cores"])
    progress.close()
    return results


def _fail(results, row):
    results["failures"].append({k: row.get(k) for k in
                                ("loss", "op", "n", "dtype", "impl", "threads", "status",
                                 "reason")})


def _call(impl):
    with impl.threads():
        return impl.finish(impl.call())


def _base_row(case, op, impl_name, threads):
    return {"loss": case.name, "op": op, "n": case.n, "dtype": case.dtype.name,
            "impl": impl_name, "threads": threads, "threaded": False, "note": "",
            "status": None, "reason": "",
            "pred_shape": list(np.shape(case.inputs[-1])),
            "input_bytes": case.input_bytes, "output_bytes": None, "bytes": None,
            "time": None, "gbps": None, "floor": None, "pct_floor": None, "speedup": {},
            "paired": {}, "scaling": None, "vs_float64": None, "more_samples": []}


def _measure_op(results, settings, case, op, bandwidth, progress):
    """Check and time every implementation of `op` on `case`; returns [(row, impl or None)]."""
    label = f"{case.name} {op} n={C.format_size(case.n)} {case.dtype.name}"
    # 1. every implementation at every thread count it honours
    entries = []                    # (row, impl or None)
    for t in settings.threads:
        for impl in C.implementations(case, op, t, settings.peers):
            if isinstance(impl, C.Unavailable):
                if t == settings.threads[0]:
                    row = _base_row(case, op, impl.name, None)
                    row.update(status=impl.status, reason=impl.reason)
                    entries.append((row, None))
                    if impl.status == "error":
                        _fail(results, row)
                progress.update(1)
                continue
            if not impl.threaded:
                if t != settings.threads[0]:
                    progress.update(1)
                    continue
                threads = impl.fixed_threads
            else:
                threads = t
            row = _base_row(case, op, impl.name, threads)
            row.update(threaded=impl.threaded, note=impl.note)
            entries.append((row, impl))

    # 2. results, checked against the reference (or fastloss when there is none). The reference
    #    goes first, then fastloss; only the expected result is kept, so at most two results of
    #    a size are alive at once (at 10^8 elements, each gradient is most of a GiB).
    priority = {"numpy": 0, "fastloss": 1}
    checked = sorted((e for e in entries if e[1] is not None),
                     key=lambda e: priority.get(e[0]["impl"], 2))
    expected, against, output_bytes = None, None, None
    for row, impl in checked:
        try:
            value = _call(impl)
        except Exception as exc:
            row.update(status="error", reason=f"{type(exc).__name__}: {exc}")
            continue
        if row["impl"] == "fastloss" and output_bytes is None and op != "value":
            output_bytes = C.output_bytes(C.written(op, value))
        if expected is None and row["impl"] in priority:
            expected, against = value, row["impl"]
            continue
        if expected is None:
            row.update(status="error", reason="nothing to check against (the reference and "
                                              "fastloss are both unavailable or failing)")
            continue
        ok, why = C.agree(value, expected, case.dtype, op, case.loss)
        if not ok:
            row.update(status="mismatch", reason=f"disagrees with {against}: {why}")
        elif against != "numpy" and row["impl"] != "fastloss":
            row["reason"] = "checked against fastloss (no NumPy reference)"
        if ok and why:
            row["reason"] = "; ".join(filter(None, [row["reason"], why]))
        del value
    if output_bytes is None:
        output_bytes = 0
        if op != "value" and expected is not None:      # fastloss failed: the reference's size
            output_bytes = C.output_bytes(C.written(op, expected)) // 8 * case.dtype.itemsize
    del expected

    # 3. time what agreed, next to its floor
    for row, impl in entries:
        row["output_bytes"] = output_bytes
        row["bytes"] = case.input_bytes + output_bytes
        results["rows"].append(row)
        if impl is None:
            continue
        if row["status"] in ("error", "mismatch"):
            _fail(results, row)
            progress.update(1, label)
            continue
        floor_threads = row["threads"] or max(settings.threads)
        kind, dtype = probe.KINDS[op], probe.probe_dtype(case.inputs)
        record = bandwidth.floor(kind, case.input_bytes, output_bytes, dtype, floor_threads)
        floor = {"kind": kind, "threads": floor_threads, "best": record["best"],
                 "median": record["median"], "gbps": row["bytes"] / record["median"] / 1e9,
                 "numpy_dot_median": record.get("numpy_dot_median"), "side_by_side": False}
        timing.settle()     # other implementations' thread pools spin before they sleep
        with impl.threads():
            if row["impl"] == "fastloss":
                # fastloss's own floor is timed in samples alternating with the row's
                probe_call = bandwidth.impl(kind, case.input_bytes, output_bytes, dtype,
                                            floor_threads).call
                probe_call()                                 # warm-up (and page-in)
                measured, probed = timing.measure_side_by_side(impl.call, probe_call,
                                                               settings.budget)
                paired = probed.summary()
                floor.update(best=paired["min"], median=paired["median"], side_by_side=True,
                             gbps=row["bytes"] / paired["median"] / 1e9)
            else:
                measured = timing.measure(impl.call, settings.budget)
        stats = measured.summary()
        row.update(status="ok", time=stats, floor=floor,
                   gbps=row["bytes"] / stats["median"] / 1e9 if stats["median"] > 0 else None,
                   pct_floor=100.0 * floor["median"] / stats["median"]
                   if stats["median"] > 0 else None)
        progress.update(1, label)
    _speedups([row for row, _ in entries])
    progress.update(0, f"{label}: the fastest peers side by side")
    _pair_with_peers(entries, settings.budget, max(settings.threads))
    if case.n == max(settings.sizes):
        progress.update(0, f"{label}: 1 thread and {max(settings.threads)} side by side")
        _pair_thread_counts(entries, settings.budget, max(settings.threads))
    return entries


def _comparable(row, other):
    """Whether `other`'s row is one a fastloss row is compared with: measured, not fastloss,
    and on the same threads (or not set by the thread count: NumPy, JAX)."""
    return (other["impl"] != "fastloss" and other["status"] == "ok"
            and (other["threads"] == row["threads"] or not other["threaded"]))


def _speedups(mine):
    """speedup[other] = other's median / fastloss's median, on the fastloss rows of one op."""
    for row in mine:
        if row["impl"] != "fastloss" or row["status"] != "ok":
            continue
        for other in mine:
            if _comparable(row, other):
                row["speedup"][other["impl"]] = other["time"]["median"] / row["time"]["median"]


# The peers timed again side by side with a fastloss row on the most threads of the run (the
# summary's rows): those within PAIR_WITHIN of the fastest peer's time, while fastloss is less
# than PAIR_BELOW times faster (the ratios drift could carry across issue 9's 3x; pairing much
# slower peers would add minutes to a run and change no verdict).
PAIR_WITHIN = 2.0
PAIR_BELOW = 10.0
PAIR_MIN_SAMPLES = 7    # per side, whatever the budget (a median of 3 moves with one outlier)


def _pair_with_peers(entries, budget, threads):
    """Each measured fastloss row on `threads` threads against its fastest peers again, in
    alternating samples.

    Timed apart (a minute apart, in a long run), a row and a peer can see machines up to 2x
    apart: a shared machine's memory and CPU speed drift. Alternated, their ratio is taken side
    by side. ``timing.settle`` and an untimed call run before each sample: the libraries'
    thread pools spin after a call and would take the other's cores. speedup[peer] becomes
    the side-by-side ratio; row["paired"][peer] keeps both medians, the repeats and the ratio
    timed apart.
    """
    budget = replace(budget, min_repeats=max(budget.min_repeats, PAIR_MIN_SAMPLES))
    for row, impl in entries:
        if row["impl"] != "fastloss" or row["status"] != "ok" or row["threads"] != threads:
            continue
        peers = [(other, other_impl) for other, other_impl in entries
                 if other_impl is not None and other["impl"] != "numpy"
                 and _comparable(row, other)]
        if not peers:
            continue
        fastest = min(other["time"]["median"] for other, _ in peers)
        for other, other_impl in peers:
            apart = row["speedup"][other["impl"]]
            if other["time"]["median"] > PAIR_WITHIN * fastest or apart >= PAIR_BELOW:
                continue
            with impl.threads(), other_impl.threads():
                mine, theirs = timing.measure_side_by_side(impl.call, other_impl.call, budget,
                                                           pause=timing.settle, warm_up=True)
            row["speedup"][other["impl"]] = theirs.median / mine.median
            row["more_samples"].extend(mine.samples)
            row["paired"][other["impl"]] = {"median": mine.median, "peer_median": theirs.median,
                                            "repeats": len(mine.samples), "apart": apart}


def _under_its_threads(impl):
    """impl.call inside impl.threads(): two fastloss calls on different thread counts cannot
    share one ``with`` block, the inner fl.threads() would set both."""
    def call():
        with impl.threads():
            return impl.call()
    return call


def _pair_thread_counts(entries, budget, threads):
    """The fastloss row on `threads` threads against its 1-thread row, in alternating samples.

    Issue 9's scaling ratio, taken apart, moved from 1.01x to 1.89x between runs of one kernel
    (the second vCPU's share of the host drifts); side by side both timings see the same
    machine. An untimed call precedes each sample, without ``timing.settle``: both sides are
    fastloss's own OpenMP team, and waiting until its worker sleeps lets the idle vCPU be
    descheduled (the next 2-thread calls at 10^6 then took 4 to 8 ms, not 0.12). row["scaling"]
    keeps the ratio, both medians, the repeats and the ratio apart.
    """
    if threads <= 1:
        return
    rows = {row["threads"]: (row, impl) for row, impl in entries
            if row["impl"] == "fastloss" and row["status"] == "ok" and impl is not None}
    if threads not in rows or 1 not in rows:
        return
    (row, impl), (one, one_impl) = rows[threads], rows[1]
    budget = replace(budget, min_repeats=max(budget.min_repeats, PAIR_MIN_SAMPLES))
    mine, single = timing.measure_side_by_side(_under_its_threads(impl),
                                               _under_its_threads(one_impl), budget,
                                               warm_up=True)
    row["scaling"] = _pairing_record(row, one, mine, single, "one_thread_median")


def _pairing_record(row, other, mine, theirs, other_median):
    """A fastloss row timed side by side with another fastloss row (mine and theirs, their
    Timings): {speedup (other's median / row's), median, <other_median>, repeats, apart (the
    ratio of their separate timings)}; both rows keep their samples in more_samples."""
    row["more_samples"].extend(mine.samples)
    other["more_samples"].extend(theirs.samples)
    return {"speedup": theirs.median / mine.median, "median": mine.median,
            other_median: theirs.median, "repeats": len(mine.samples),
            "apart": other["time"]["median"] / row["time"]["median"]}


def _dtype_pairing_fits(loss, settings):
    """Whether the run times float32 against float64 (_pair_dtypes): both measured, and both
    largest cases within the memory budget at once (they are alive together)."""
    if not {"float32", "float64"} <= set(settings.dtypes):
        return False
    try:
        need = sum(bytes_per_element(loss, dtype) * max(settings.sizes) * 1.25
                   for dtype in ("float32", "float64"))
    except Exception:              # reported by the run's own call of bytes_per_element
        return False
    return need <= settings.memory_budget


def _fastloss_entry(entries, threads):
    found = [(row, impl) for row, impl in entries or ()
             if row["impl"] == "fastloss" and row["status"] == "ok" and impl is not None
             and row["threads"] == threads]
    return found[0] if found else None


def _pair_dtypes(largest, budget, threads):
    """Each op's float32 fastloss row on `threads` threads against its float64 row, in
    alternating samples (largest: dtype -> {op: entries}, at the run's largest size).

    Issue 9 asks float32 to be 1.6x faster than float64; timed apart, minutes apart, the two
    rows see different machines (in one run, hinge's float64 value read 3.27 ms in its own
    timing and 5.25 to 5.82 ms in its pairings with peers). As in _pair_thread_counts, an
    untimed call precedes each sample and there is no ``timing.settle``: both sides are
    fastloss's own OpenMP team.
    The float32 row's row["vs_float64"] keeps the ratio (float64's time / float32's), both
    medians, the repeats and the ratio apart.
    """
    if not {"float32", "float64"} <= set(largest):
        return
    budget = replace(budget, min_repeats=max(budget.min_repeats, PAIR_MIN_SAMPLES))
    for op, entries in largest["float32"].items():
        narrow = _fastloss_entry(entries, threads)
        wide = _fastloss_entry(largest["float64"].get(op), threads)
        if narrow is None or wide is None:
            continue
        (row, impl), (wide_row, wide_impl) = narrow, wide
        with impl.threads():
            mine, theirs = timing.measure_side_by_side(impl.call, wide_impl.call, budget,
                                                       warm_up=True)
        row["vs_float64"] = _pairing_record(row, wide_row, mine, theirs, "float64_median")


def exit_code(results):
    """0 when nothing failed; 1 when an implementation raised or disagreed."""
    return 1 if results["failures"] else 0
