"""The report folder: ``results.json`` (everything), ``report.md`` (tables) and PNG plots,
plus the summary table printed at the end of a run.

Schema of ``results.json`` (``"schema": "fastloss-bench/2"``; /1 had no ``other_work`` and no
``pct_floor``, and its floors were not side by side):
- ``settings``: what was asked (losses, sizes, dtypes, threads, ops, peers, time budget).
- ``machine``: CPU, cores, SIMD flags, caches, memory, OS, Python, NumPy, peer status and
  versions, ``fastloss.config()`` (build flags, OpenMP), default threads, load average at the
  start and the end (``load_average``, ``load_average_end``), and ``other_work``: the CPU
  accounting of the run, ``other_cores`` (CPUs' worth of work outside the run, on average) and
  ``steal_fraction`` (CPU time the hypervisor gave to other guests), or None.
- ``rows``: one per (loss, op, n, dtype, impl, threads): ``status`` ("ok", "mismatch",
  "error", "missing", "unsupported"), ``reason``, ``input_bytes``, ``output_bytes``, ``bytes``
  (moved: inputs read once plus the gradient written), ``time`` (median, min, max, q1, q3,
  repeats, loops, samples: seconds per call), ``gbps``, ``floor`` (the probe's kind, threads,
  median, best, gbps, side_by_side: whether its samples alternated with the row's),
  ``pct_floor`` (100 x the floor's median / the row's), and on fastloss rows ``speedup``
  {impl: its median / ours} and ``paired`` {peer: median, peer_median, repeats, apart}: the
  peers timed again side by side with the row (alternating samples), whose speedup is then the
  ratio of those medians (``apart``: the ratio of the separate timings). At the run's largest
  size, also side by side: ``scaling`` on the most threads' rows {speedup, median,
  one_thread_median, repeats, apart} (against the 1-thread row) and ``vs_float64`` on float32
  rows {speedup, median, float64_median, repeats, apart} (against the float64 row), else None;
  ``more_samples``: the row's samples from those pairings (seconds per call).
- ``bandwidth``: every probe measurement; ``skipped``: sizes over the memory budget;
  ``failures``: the rows (or inputs) that raised or disagreed.
"""

import json
import math
import os
import statistics

from fastloss.bench.cases import format_size
from fastloss.bench.machine import busy_warning
from fastloss.bench.runner import PAIR_BELOW, PAIR_WITHIN

OK = "ok"


def format_time(seconds):
    if seconds is None or not math.isfinite(seconds):
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _fmt(value, spec, suffix=""):
    return "-" if value is None or not math.isfinite(value) else f"{value:{spec}}{suffix}"


def spread_pct(time):
    """Half the interquartile range as a percentage of the median (the ± in the tables)."""
    if not time or not time["median"]:
        return None
    return 50.0 * (time["q3"] - time["q1"]) / time["median"]


def _peer_names(results):
    return list(results["machine"].get("peers", {}))


def _others(results):
    """Columns compared with fastloss: the NumPy reference, then every requested peer."""
    return ["numpy"] + _peer_names(results)


def _cell(row):
    """A non-fastloss implementation's time cell, or why there is none."""
    if row is None:
        return "-"
    if row["status"] == OK:
        return format_time(row["time"]["median"])
    return {"missing": "missing", "unsupported": "n/a"}.get(row["status"], row["status"].upper())


def _find(rows, row, impl):
    """The `impl` row matching a fastloss row (same threads, or the impl's only row)."""
    matches = [r for r in rows if r["impl"] == impl and r["loss"] == row["loss"]
               and r["op"] == row["op"] and r["n"] == row["n"] and r["dtype"] == row["dtype"]]
    for r in matches:
        if r["threads"] == row["threads"]:
            return r
    unthreaded = [r for r in matches if not r.get("threaded")]
    return unthreaded[0] if unthreaded else None


def _fastloss_rows(results, loss=None):
    rows = [r for r in results["rows"] if r["impl"] == "fastloss"
            and (loss is None or r["loss"] == loss)]
    order = {op: i for i, op in enumerate(results["settings"]["ops"])}
    return sorted(rows, key=lambda r: (r["loss"], order.get(r["op"], 9), r["dtype"], r["n"],
                                       r["threads"] or 0))


def _table(header, lines):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in line) + " |" for line in lines]
    return out


def _result_line(results, row, with_loss=False):
    line = ([row["loss"]] if with_loss else []) + [row["op"], format_size(row["n"]), row["dtype"],
                                                 row["threads"]]
    if row["status"] == OK:
        line += [format_time(row["time"]["median"]), _fmt(spread_pct(row["time"]), ".0f", "%"),
                 _fmt(row["gbps"], ".2f"), _fmt(row["pct_floor"], ".0f", "%")]
    else:
        line += [row["status"].upper(), "-", "-", "-"]
    for other in _others(results):
        match = _find(results["rows"], row, other)
        speed = row["speedup"].get(other)
        line += [_cell(match), _fmt(speed, ".1f", "x")]
    return line


def _result_header(results, with_loss=False):
    header = (["loss"] if with_loss else []) + ["op", "n", "dtype", "threads", "fastloss", "±",
                                                "GB/s", "% floor"]
    for other in _others(results):
        header += [other, f"x {other}"]
    return header


def summary_rows(results):
    """Per loss, op and dtype: the fastloss row at the largest size measured, most threads."""
    best = {}
    for row in _fastloss_rows(results):
        key = (row["loss"], row["op"], row["dtype"])
        current = best.get(key)
        if current is None or (row["n"], row["threads"] or 0) >= (current["n"],
                                                                  current["threads"] or 0):
            best[key] = row
    return [best[k] for k in sorted(best, key=lambda k: (k[0], results["settings"]["ops"].index(k[1])
                                                         if k[1] in results["settings"]["ops"]
                                                         else 9, k[2]))]


# Figures the issues set as targets: (loss, op, n, dtype, measure, bound, wording, classes).
# measure, compared with bound:
# - "speedup_numpy": NumPy reference time / fastloss time, at least;
# - "vs_numpy_dot": fastloss time / np.dot(y, p) time (reading the same two arrays), at most;
# - "time_ms": fastloss's median in milliseconds, at most: the median of every sample of the row
#   in the run (its own timing and its pairings, row["more_samples"]), the machine's speed
#   drifting between them;
# - "pct_floor": fastloss's % of the bandwidth floor, at least;
# - "f32_speedup": the float64 row's time / this float32 row's time, at least (side by side,
#   row["vs_float64"], where the run took it).
# classes: for a row-wise loss, the classes K the target is stated for (None: any input).
MEMORY_BOUND = ("mse", "mae", "huber", "quantile", "hinge", "squared_hinge")
TARGETS = [
    ("mse", "value", 10 ** 7, "float64", "speedup_numpy", 5.0, "mse at least 5x NumPy", None),
    ("mse", "value", 10 ** 7, "float64", "vs_numpy_dot", 1.5, "mse at most 1.5x np.dot's time",
     None),
    ("mse", "value_and_grad", 10 ** 7, "float64", "speedup_numpy", 4.0,
     "mse.value_and_grad at least 4x NumPy", None),
    # issue 9
    ("binary_cross_entropy_with_logits", "value", 10 ** 7, "float64", "time_ms", 12.0,
     "binary_cross_entropy_with_logits value at most 12 ms", None),
    ("binary_cross_entropy_with_logits", "value", 10 ** 7, "float32", "time_ms", 6.0,
     "binary_cross_entropy_with_logits value at most 6 ms", None),
    ("binary_cross_entropy_with_logits", "value_and_grad", 10 ** 7, "float64", "time_ms", 16.0,
     "binary_cross_entropy_with_logits value_and_grad at most 16 ms", None),
    ("cross_entropy", "value", 10 ** 7, "float32", "time_ms", 10.0,
     "cross_entropy 10^6 x 10 value at most 10 ms", 10),
    ("cross_entropy", "value_and_grad", 10 ** 7, "float32", "time_ms", 14.0,
     "cross_entropy 10^6 x 10 value_and_grad at most 14 ms", 10),
    ("cross_entropy", "value", 10 ** 7, "float32", "time_ms", 5.0,
     "cross_entropy 10^4 x 1000 value at most 5 ms", 1000),
    ("focal", "value", 10 ** 7, "float64", "time_ms", 20.0, "focal value at most 20 ms", None),
    *[(loss, op, 10 ** 7, dtype, "pct_floor", 80.0,
       f"{loss} {op} within 1.25x the bandwidth floor", None)
      for loss in MEMORY_BOUND for op in ("value", "value_and_grad")
      for dtype in ("float64", "float32")],
    *[(loss, op, 10 ** 7, "float32", "f32_speedup", 1.6,
       f"{loss} {op} float32 at least 1.6x faster than float64", None)
      for loss in MEMORY_BOUND for op in ("value", "value_and_grad")],
]
_AT_MOST = ("vs_numpy_dot", "time_ms")
_UNITS = {"time_ms": "{:.2f} ms", "pct_floor": "{:.0f}%"}


def _classes(row):
    """K of a row-wise case (its prediction's last axis), or None."""
    shape = row.get("pred_shape") or []
    return shape[-1] if len(shape) == 2 else None


def _measure(results, row, measure):
    if measure == "speedup_numpy":
        return row["speedup"].get("numpy")
    if measure == "vs_numpy_dot":
        dot = (row["floor"] or {}).get("numpy_dot_median")
        return row["time"]["median"] / dot if dot else None
    if measure == "time_ms":
        return pooled_median(row) * 1e3
    if measure == "pct_floor":
        return row["pct_floor"]
    if row.get("vs_float64"):
        return row["vs_float64"]["speedup"]
    wide = [r for r in _fastloss_rows(results, row["loss"])
            if (r["op"], r["n"], r["threads"], r["dtype"], r["status"])
            == (row["op"], row["n"], row["threads"], "float64", OK)]
    return wide[0]["time"]["median"] / row["time"]["median"] if wide else None


def pooled_median(row):
    """The median of every sample of a row in the run: its own timing's and its pairings'."""
    samples = row["time"].get("samples", []) + row.get("more_samples", [])
    return statistics.median(samples) if samples else row["time"]["median"]


def _target_timing(row, measure):
    """How a target's figure was timed (the Targets table's "timed" cell)."""
    if measure == "time_ms" and row.get("more_samples"):
        count = len(row["time"].get("samples", [])) + len(row["more_samples"])
        return f"all {count} samples (own timing {row['time']['median'] * 1e3:.2f} ms)"
    if measure == "f32_speedup" and row.get("vs_float64"):
        paired = row["vs_float64"]
        return f"side by side ({paired['repeats']}; apart {paired['apart']:.2f}x)"
    if measure == "pct_floor" and (row.get("floor") or {}).get("side_by_side"):
        return f"side by side ({row['time']['repeats']})"
    return "own timing" if measure == "time_ms" else "apart"


def targets(results):
    """[(wording, n, dtype, threads, measured, met, timed)] for the targets this run measured
    (timed: how the figure was timed)."""
    out = []
    rows = _fastloss_rows(results)
    for loss, op, n, dtype, measure, bound, wording, classes in TARGETS:
        match = [r for r in rows if (r["loss"], r["op"], r["n"], r["dtype"]) == (loss, op, n, dtype)
                 and r["status"] == OK and (classes is None or _classes(r) == classes)]
        if not match:
            continue
        row = max(match, key=lambda r: r["threads"] or 0)
        value = _measure(results, row, measure)
        met = value is not None and (value <= bound if measure in _AT_MOST else value >= bound)
        out.append((wording, n, dtype, row["threads"], value, met, _target_timing(row, measure)))
    return out


def _format_target(wording, value):
    measure = next(t[4] for t in TARGETS if t[6] == wording)
    return _UNITS.get(measure, "{:.2f}x").format(value) if value is not None else "-"


PEER_TARGET = 3.0      # issue 9: every loss at least 3x faster than the fastest peer
SCALING_TARGET = 1.8   # issue 9: 2 threads at least 1.8x faster than 1 thread at 10^7


def fastest_peer_rows(results):
    """Per summary row with a peer measured: (row, fastest peer, its time / fastloss's)."""
    out = []
    for row in summary_rows(results):
        if row["status"] != OK:
            continue
        peers = {k: v for k, v in row["speedup"].items() if k != "numpy"}
        if peers:
            name = min(peers, key=peers.get)
            out.append((row, name, peers[name]))
    return out


def _pairing(row, peer):
    """The "timed" and "apart" cells of a row's ratio to `peer`."""
    paired = row.get("paired", {}).get(peer)
    if paired is None:
        return ["apart", "-"]
    return [f"side by side ({paired['repeats']})", f"{paired['apart']:.1f}x"]


def scaling_rows(results):
    """Per summary row (largest size, most threads) that has a 1-thread row of its size:
    (the row, the 1-thread time / its time, the 1-thread row). The ratio is the side-by-side
    one (row["scaling"]) where the run took it."""
    out = []
    for row in summary_rows(results):
        if row["status"] != OK or not row["threads"] or row["threads"] <= 1:
            continue
        one = [r for r in _fastloss_rows(results, row["loss"])
               if (r["op"], r["n"], r["dtype"], r["threads"], r["status"])
               == (row["op"], row["n"], row["dtype"], 1, OK)]
        if one:
            paired = row.get("scaling")
            ratio = (paired["speedup"] if paired
                     else one[0]["time"]["median"] / row["time"]["median"])
            out.append((row, ratio, one[0]))
    return out


def _scaling_cells(row, one):
    """The "timed", "apart" and "floor" cells of a row's thread scaling: how its ratio was
    timed, the ratio of the separate timings, and the bandwidth floor's own ratio (what a
    memory-bound kernel can reach)."""
    paired = row.get("scaling")
    timed = f"side by side ({paired['repeats']})" if paired else "apart"
    apart = f"{paired['apart']:.2f}x" if paired else "-"
    floors = (row.get("floor") or {}).get("median"), (one.get("floor") or {}).get("median")
    floor = f"{floors[1] / floors[0]:.2f}x" if all(floors) else "-"
    return [timed, apart, floor]


def _other_work(during):
    if during is None:
        return "unknown"
    return (f"{during['other_cores']:.2f} cores on average outside the run, "
            f"{100 * during['steal_fraction']:.1f}% of CPU time stolen")


def markdown(results):
    m = results["machine"]
    s = results["settings"]
    cfg = m["fastloss"]
    mem = m["memory"].get("total_bytes")
    warning = busy_warning(m)
    lines = [
        "# fastloss benchmark report",
        "",
        f"fastloss {cfg['version']}, {results['created']}"
        + (f", `{s['command']}`" if s.get("command") else ""),
        "",
        *([f"> **Warning**: {warning}.", ""] if warning else []),
        "## Machine",
        "",
        *_table(["", ""], [
            ["CPU", m["cpu"]],
            ["cores", f"{m['physical_cores'] or '?'} physical, {m['logical_cores']} logical"],
            ["SIMD", f"{m['simd']['numpy_dispatch_level']} "
                     f"({' '.join(m['simd']['cpu_flags']) or 'flags unknown'})"],
            ["caches", ", ".join(f"{k} {v}" for k, v in m["caches"].items()) or "unknown"],
            ["memory", f"{mem / 2**30:.1f} GiB" if mem else "unknown"],
            ["OS", m["os"]],
            ["Python / NumPy", f"{m['python']} / {m['numpy']}"],
            ["OpenMP", "on" if m["openmp"] else "off (single-threaded build)"],
            ["threads measured", ", ".join(str(t) for t in s["threads"])
             + f" (default {m['default_threads']})"],
            ["build", " ".join(cfg["build"].get("compile_args", [])) or "unknown"],
            ["kernel variant", cfg.get("kernel_variant", "unknown")],
            ["compiler", cfg["build"].get("compiler_version", "unknown")],
            ["load average", " ".join(str(x) for x in m["load_average"] or []) or "unknown"],
            ["other work during the run", _other_work(m.get("other_work"))],
        ]),
        "",
        "## Peers",
        "",
        *_table(["peer", "status", "version", "threads"], [
            [name, st["status"], st.get("version", st.get("reason", "")), st.get("threads", "-")]
            for name, st in m["peers"].items()] or [["(none requested)", "", "", ""]]),
        "",
        "## How to read this",
        "",
        "- **fastloss**, **numpy**, peers: median time of one call over the repeats, after a "
        "warm-up call whose result was checked against the NumPy reference; **±** is half the "
        "interquartile range of the repeats, as a percentage of the median.",
        "- **GB/s**: the bytes the operation must move (its inputs read once; for `grad` and "
        "`value_and_grad` also the gradient written once, for `grad_hess` the gradient and the "
        "Hessian) divided by the median time.",
        "- **% floor**: the median time of the bandwidth probe (a kernel that only reads "
        "those bytes, as an integer XOR, and writes the output, with the same threads and CPU "
        "variant) divided by the row's median time. On fastloss's rows the probe is timed "
        "side by side with the row, in alternating samples, so both see the machine in the "
        "same state (its memory speed drifts); peers' rows use the probe's run-wide "
        "measurement (the bandwidth table). 100% means the operation runs at the machine's "
        "memory speed; small sizes sit in cache, where the probe can be much faster than any "
        "loss.",
        "- **x numpy**, **x peer**: that implementation's median divided by fastloss's (above 1: "
        "fastloss is faster). NumPy is single-threaded and measured once per row; the NumPy "
        "`value_and_grad` is its value and then its gradient. `missing`: not installed; `n/a`: "
        "the peer has no such loss. On the most threads, against the fastest peers (those "
        f"within {PAIR_WITHIN:g}x of the fastest, while fastloss is less than {PAIR_BELOW:g}x "
        "faster), the ratio is taken side by side: fastloss and the peer timed again in "
        "alternating samples, as with the probe; the other ratios come from the separate "
        "timings.",
        "- **Targets**: figures the project's issues ask for, where this run measured them; "
        "the bandwidth table also gives `np.dot(y, p)`, NumPy's own way to read two arrays once. "
        "**timed**: a time is the median of every sample of the row in the run (its own timing "
        "and its side-by-side pairings, spread over the run: the machine's speed drifts "
        "between them), its own timing's median given too; float32 against float64 and "
        "% floor are side by side (alternating samples, their count given) where the run took "
        "them, with the ratio of the separate timings.",
        "",
        "## Summary (largest size measured, most threads)",
        "",
        *_table(_result_header(results, with_loss=True),
                [_result_line(results, r, with_loss=True) for r in summary_rows(results)]),
        "",
    ]
    reached = targets(results)
    if reached:
        lines += ["## Targets", ""]
        lines += _table(["target", "n", "dtype", "threads", "measured", "met", "timed"], [
            [w, format_size(n), d, t, _format_target(w, v), "yes" if met else "NO", timed]
            for w, n, d, t, v, met, timed in reached])
        lines.append("")
    peers = fastest_peer_rows(results)
    if peers:
        lines += ["## Against the fastest peer", "",
                  f"Each summary row's fastest peer (NumPy aside) and its time divided by "
                  f"fastloss's; issue 9 asks for at least {PEER_TARGET:g}x. **timed**: side by "
                  f"side (alternating samples, their count given) or apart; **apart**: the "
                  f"ratio of the separate timings.", ""]
        lines += _table(["loss", "op", "n", "dtype", "threads", "fastest peer", "x peer",
                         f">= {PEER_TARGET:g}x", "timed", "apart"], [
            [r["loss"], r["op"], format_size(r["n"]), r["dtype"], r["threads"], name,
             f"{ratio:.1f}x", "yes" if ratio >= PEER_TARGET else "NO", *_pairing(r, name)]
            for r, name, ratio in peers])
        lines.append("")
    scaling = scaling_rows(results)
    if scaling:
        lines += ["## Thread scaling", "",
                  f"The 1-thread time divided by the time on the most threads, same size; "
                  f"issue 9 asks for at least {SCALING_TARGET:g}x on 2 threads at 10^7. "
                  f"**timed**: side by side (alternating samples, their count given) or apart; "
                  f"**apart**: the ratio of the separate timings; **floor**: the same ratio for "
                  f"the bandwidth floor of the row's bytes (its two timings apart), about the "
                  f"most a memory-bound kernel can gain.", ""]
        lines += _table(["loss", "op", "n", "dtype", "threads", "speedup",
                         f">= {SCALING_TARGET:g}x", "timed", "apart", "floor"], [
            [r["loss"], r["op"], format_size(r["n"]), r["dtype"], r["threads"],
             f"{ratio:.2f}x", "yes" if ratio >= SCALING_TARGET else "NO",
             *_scaling_cells(r, one)] for r, ratio, one in scaling])
        lines.append("")
    if results["failures"]:
        lines += ["## Failures", ""]
        lines += _table(["loss", "op", "n", "dtype", "impl", "threads", "status", "reason"], [
            [f.get("loss"), f.get("op") or "-", format_size(f["n"]) if f.get("n") else "-",
             f.get("dtype"), f.get("impl"), f.get("threads") if f.get("threads") else "-",
             f.get("status", "").upper(), str(f.get("reason", "")).replace("|", "/")]
            for f in results["failures"]])
        lines.append("")
    for loss in sorted({r["loss"] for r in results["rows"]}):
        lines += [f"## {loss}", ""]
        lines += _table(_result_header(results),
                        [_result_line(results, r) for r in _fastloss_rows(results, loss)])
        lines.append("")
    if results["bandwidth"]:
        lines += ["## Bandwidth probe", ""]
        lines += _table(["kind", "MB read", "MB written", "dtype", "threads",
                         "time (fastest repeat)", "GB/s", "np.dot time"], [
            [b["kind"], f"{b['input_bytes'] / 1e6:.3g}", f"{b['output_bytes'] / 1e6:.3g}",
             b["dtype"], b["threads"], format_time(b["best"]), _fmt(b["gbps"], ".2f"),
             format_time(b.get("numpy_dot_median"))]
            for b in sorted(results["bandwidth"], key=lambda b: (b["kind"], b["dtype"],
                                                                  b["input_bytes"], b["threads"]))])
        lines.append("")
    if results["skipped"]:
        lines += ["## Skipped", ""]
        lines += [f"- {s['loss']} n={format_size(s['n'])} {s['dtype']}: {s['reason']}"
                  for s in results["skipped"]]
        lines.append("")
    absent = {name for name, st in m["peers"].items() if st["status"] == "missing"}
    not_measured = sorted({(r["loss"], r["impl"], r["status"], r["reason"])
                           for r in results["rows"] if r["status"] in ("missing", "unsupported")
                           and r["impl"] not in absent})      # absent peers: see "Peers"
    if not_measured:
        lines += ["## Not measured", ""]
        lines += [f"- {loss} / {impl}: {status} ({reason})"
                  for loss, impl, status, reason in not_measured]
        lines.append("")
    notes = [r for r in results["rows"] if r["status"] == "ok" and r["reason"]]
    if notes:
        lines += ["## Notes on the agreement check", ""]
        lines += [f"- {r['loss']} {r['op']} n={format_size(r['n'])} {r['dtype']} / {r['impl']}"
                  f"{'' if r['threads'] is None else ' ' + str(r['threads']) + ' threads'}: "
                  f"{r['reason']}" for r in notes]
        lines.append("")
    if results.get("plots"):
        lines += ["## Plots", ""]
        lines += [f"![{os.path.splitext(p)[0]}]({p})" for p in results["plots"]]
        lines.append("")
    return "\n".join(lines)


def summary_text(results):
    """The table printed on the terminal at the end of a run."""
    header = ["loss", "op", "n", "dtype", "thr", "fastloss", "GB/s", "%floor"]
    others = _others(results)
    header += [f"x {o}" for o in others]
    lines = []
    for row in summary_rows(results):
        line = [row["loss"], row["op"], format_size(row["n"]), row["dtype"], str(row["threads"])]
        if row["status"] == OK:
            line += [format_time(row["time"]["median"]), _fmt(row["gbps"], ".2f"),
                     _fmt(row["pct_floor"], ".0f", "%")]
        else:
            line += [row["status"].upper(), "-", "-"]
        for other in others:
            match = _find(results["rows"], row, other)
            if row["speedup"].get(other) is not None:
                line.append(f"{row['speedup'][other]:.1f}")
            else:
                line.append(_cell(match) if match is not None else "-")
        lines.append(line)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines)]
    text = ["  ".join(str(x).rjust(w) if i >= 2 else str(x).ljust(w)
                      for i, (x, w) in enumerate(zip(line, widths))) for line in [header] + lines]
    m = results["machine"]
    intro = (f"fastloss {m['fastloss']['version']} on {m['cpu']} "
             f"({m['logical_cores']} logical cores, OpenMP {'on' if m['openmp'] else 'off'}); "
             "largest size per loss, most threads; x = other's time / fastloss's time")
    out = [intro] + text
    warning = busy_warning(m)
    if warning:
        out.append(f"WARNING: {warning}")
    if results["failures"]:
        out.append(f"{len(results['failures'])} FAILURE(S):")
        out += [f"  {f['loss']} {f.get('op') or ''} n={f.get('n')} {f.get('dtype')} "
                f"{f['impl']}: {f['status']}: {f['reason']}" for f in results["failures"]]
    if results["skipped"]:
        out.append(f"{len(results['skipped'])} size(s) skipped over the memory budget")
    return "\n".join(out)


def write(results, out_dir, plots=True):
    """Write results.json, report.md and (when matplotlib is installed) the plots; returns the
    list of written paths. Plots that cannot be drawn are noted in the results, not fatal."""
    os.makedirs(out_dir, exist_ok=True)
    written = []
    results["plots"] = []
    if plots:
        from fastloss.bench import plots as plot_module
        try:
            results["plots"] = plot_module.draw_all(results, out_dir)
        except plot_module.MatplotlibMissing as exc:
            results["plots_note"] = str(exc)
        written += [os.path.join(out_dir, p) for p in results["plots"]]
    path = os.path.join(out_dir, "results.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=1, default=_json_default)
        f.write("\n")
    written.append(path)
    path = os.path.join(out_dir, "report.md")
    with open(path, "w") as f:
        f.write(markdown(results))
    written.append(path)
    return written


def _json_default(value):
    if hasattr(value, "item"):          # NumPy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def load(path):
    with open(path) as f:
        results = json.load(f)
    if not isinstance(results, dict) or not str(results.get("schema", "")).startswith(
            "fastloss-bench/"):
        raise ValueError(f"{path} is not a fastloss bench results.json")
    return results
