"""``fastloss bench`` and ``fastloss bench compare``: arguments, progress, output."""

import json
import sys
import time

from fastloss.bench import cases as C
from fastloss.bench import report, runner, timing
from fastloss.bench import peers as peer_module

DEFAULT_OUT = "bench-report"

# --quick: the timed samples of the whole run share about this many seconds (more losses:
# shorter measurements, down to QUICK_MIN_SECONDS each), so `make bench` stays under a minute.
QUICK_TOTAL_SECONDS = 22.0
QUICK_MIN_SECONDS = 0.005


def add_arguments(p):
    p.add_argument("--quick", action="store_true",
                   help=f"sizes {','.join(C.format_size(n) for n in runner.QUICK_SIZES)} and "
                        "short timings (under a minute; what `make bench` runs)")
    p.add_argument("--losses", default=None, help="comma-separated loss names (default: all)")
    p.add_argument("--sizes", default=None,
                   help="comma-separated element counts, e.g. 1e3,1e5,10^7 (default: 1e3..1e8, "
                        "capped by --memory-budget)")
    p.add_argument("--dtypes", default="float64,float32", help="comma-separated dtypes")
    p.add_argument("--threads", default=None,
                   help="comma-separated thread counts; 'all' = the default thread count "
                        "(default: 1,all; with --quick: all)")
    p.add_argument("--peers", default=",".join(peer_module.PEERS),
                   help="comma-separated peers to compare with, or 'none' "
                        f"(known: {', '.join(peer_module.PEERS)}; missing ones are reported)")
    p.add_argument("--ops", default=",".join(C.OPS), help="comma-separated operations")
    p.add_argument("--out", default=DEFAULT_OUT,
                   help="report folder: results.json, report.md, plots ('' writes none)")
    p.add_argument("--json", action="store_true", help="print the results JSON on stdout")
    p.add_argument("--repeats", type=int, default=None, help="at most this many timed samples")
    p.add_argument("--seconds", type=float, default=None,
                   help="time aimed at per measurement (default 1; --quick: an equal share of "
                        f"{QUICK_TOTAL_SECONDS:.0f} s, at most 0.05)")
    p.add_argument("--memory-budget", type=float, default=None, metavar="GB",
                   help="skip sizes whose estimated peak memory exceeds this (default: "
                        f"{100 * runner.MEMORY_FRACTION:.0f}%% of the available memory)")
    p.add_argument("--no-plots", action="store_true", help="do not draw PNG plots")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    p.add_argument("--classes", type=int, default=None, metavar="K",
                   help="classes of the row-wise losses (n elements = n / K rows; default 10)")
    sub = p.add_subparsers(dest="bench_command", metavar="{compare,per-call}")
    c = sub.add_parser("compare", help="what got faster or slower between two results.json")
    c.add_argument("old", help="the earlier results.json")
    c.add_argument("new", help="the later results.json")
    c.add_argument("--threshold", type=float, default=0.10,
                   help="smallest relative change reported (default 0.10); the runs' own noise "
                        "raises it")
    c.add_argument("--json", action="store_true", help="machine-readable output")
    c.add_argument("--fail-slower", action="store_true",
                   help="exit 1 when something got slower")
    from fastloss.bench import per_call
    per_call.add_arguments(sub.add_parser(
        "per-call", help="the cost of one call at n = 10 (fastloss, NumPy, peers)"))


def _split(text):
    return [s.strip() for s in str(text).split(",") if s.strip()]


def settings_from_args(args, argv_text=""):
    """Settings from the parsed arguments, resolved (registry, threads, peers filled in)."""
    import fastloss as fl
    budget = timing.Budget(**vars(timing.QUICK if args.quick else timing.FULL))
    if args.seconds is not None or args.repeats is not None:
        if args.seconds is not None:
            budget.seconds = args.seconds
        if args.repeats is not None:
            budget.max_repeats = max(1, args.repeats)
            budget.min_repeats = min(budget.min_repeats, budget.max_repeats)
    threads = []
    for t in _split(args.threads or ("all" if args.quick else "1,all")):
        threads.append(fl.get_num_threads() if t == "all" else int(t))
    peers = [] if args.peers.strip().lower() in ("", "none") else _split(args.peers)
    for name in peers:
        peer_module.get_peer(name)
    ops = _split(args.ops)
    for op in ops:
        if op not in C.OPS:
            raise ValueError(f"unknown op {op!r}; known: {', '.join(C.OPS)}")
    if args.classes is not None and args.classes < 1:
        raise ValueError(f"--classes must be at least 1, got {args.classes}")
    if args.sizes:
        sizes = C.parse_sizes(args.sizes)
    else:
        sizes = runner.QUICK_SIZES if args.quick else runner.DEFAULT_SIZES
    settings = runner.Settings(
        losses=_split(args.losses) if args.losses else None, sizes=sizes,
        dtypes=_split(args.dtypes), threads=threads, ops=tuple(ops), peers=peers, budget=budget,
        memory_budget=int(args.memory_budget * 2**30) if args.memory_budget else None,
        seed=args.seed, quick=args.quick, command=argv_text, classes=args.classes).resolved()
    if args.quick and args.seconds is None:
        share = QUICK_TOTAL_SECONDS / max(runner.planned_units(settings), 1)
        budget.seconds = max(QUICK_MIN_SECONDS, min(budget.seconds, share))
    return settings


class Progress:
    """tqdm when installed and stderr is a terminal; else a plain progress line on stderr
    (rewritten in place on a terminal, one line per 10% in a log)."""

    def __init__(self, total, enabled=True, stream=None):
        self.stream = stream or sys.stderr
        self.total = max(total, 1)
        self.done = 0
        self.enabled = enabled
        self.bar = None
        self.start = time.monotonic()
        self.last = 0.0
        self.last_pct = -1
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        if enabled and self.tty:       # in a log (not a terminal), plain lines read better
            try:
                from tqdm import tqdm
            except ImportError:
                pass
            else:
                self.bar = tqdm(total=total, file=self.stream, unit="step", dynamic_ncols=True)

    def update(self, steps=1, label=""):
        self.done += steps
        if not self.enabled:
            return
        if self.bar is not None:
            if label:
                self.bar.set_description(label, refresh=False)
            self.bar.update(steps)
            return
        now = time.monotonic()
        pct = int(100 * self.done / self.total)
        if self.tty and now - self.last > 0.2:
            self.stream.write(f"\r[{pct:3d}%] {self.done}/{self.total} {label[:60]:<60}")
            self.stream.flush()
            self.last = now
        elif not self.tty and pct // 10 > self.last_pct // 10:
            self.stream.write(f"bench: {pct}% ({now - self.start:.0f} s) {label}\n")
            self.stream.flush()
            self.last_pct = pct

    def close(self):
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.close()
        elif self.tty:
            self.stream.write("\r" + " " * 80 + "\r")
        self.stream.write(f"bench: done in {time.monotonic() - self.start:.1f} s\n")
        self.stream.flush()


def main(args, argv_text=""):
    if getattr(args, "bench_command", None) == "compare":
        from fastloss.bench import compare
        return compare.main(args)
    if getattr(args, "bench_command", None) == "per-call":
        from fastloss.bench import per_call
        return per_call.main(args)
    try:
        settings = settings_from_args(args, argv_text)
    except ValueError as exc:
        print(f"fastloss bench: {exc}", file=sys.stderr)
        return 2
    progress = Progress(runner.planned_units(settings), enabled=not args.no_progress)
    results = runner.run(settings, progress)
    if args.out:
        written = report.write(results, args.out, plots=not args.no_plots)
        note = results.get("plots_note")
        print(f"report: {args.out}/report.md ({len(written)} files)"
              + (f"; {note}" if note else ""), file=sys.stderr)
    if args.json:
        print(json.dumps(results, indent=1, default=report._json_default))
    else:
        print(report.summary_text(results))
    return runner.exit_code(results)
