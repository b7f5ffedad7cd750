"""``fastloss bench compare OLD.json NEW.json``: what got faster or slower, beyond the noise.

Rows are matched on (loss, op, n, dtype, impl, threads). A change counts when both
- the ratio of medians differs from 1 by more than ``threshold`` (default 10%) and by more than
  the relative interquartile range of either run (the noise each run measured itself), and
- the interquartile ranges do not overlap (the new run's q1 above the old q3, or the reverse).
Everything else is "unchanged". Rows present in only one file are listed as such.
"""

import math

from fastloss.bench.cases import format_size
from fastloss.bench.machine import busy_warning
from fastloss.bench.report import format_time, load

KEY = ("loss", "op", "n", "dtype", "impl", "threads")


def _key(row):
    return tuple(row.get(k) for k in KEY)


def _noise(time):
    return (time["q3"] - time["q1"]) / time["median"] if time["median"] else math.inf


def classify(old_time, new_time, threshold=0.10):
    """'slower', 'faster' or 'unchanged' for two row timings."""
    ratio = new_time["median"] / old_time["median"]
    margin = max(threshold, _noise(old_time), _noise(new_time))
    if ratio > 1.0 + margin and new_time["q1"] > old_time["q3"]:
        return "slower"
    if ratio < 1.0 / (1.0 + margin) and new_time["q3"] < old_time["q1"]:
        return "faster"
    return "unchanged"


def compare(old, new, threshold=0.10):
    """{"slower": [...], "faster": [...], "unchanged": [...], "only_old": [...],
    "only_new": [...]}; each change is {key fields, old, new (medians), ratio}."""
    old_rows = {_key(r): r for r in old["rows"] if r["status"] == "ok"}
    new_rows = {_key(r): r for r in new["rows"] if r["status"] == "ok"}
    out = {"slower": [], "faster": [], "unchanged": [],
           "only_old": [dict(zip(KEY, k)) for k in old_rows if k not in new_rows],
           "only_new": [dict(zip(KEY, k)) for k in new_rows if k not in old_rows]}
    for key, old_row in old_rows.items():
        new_row = new_rows.get(key)
        if new_row is None:
            continue
        verdict = classify(old_row["time"], new_row["time"], threshold)
        out[verdict].append({**dict(zip(KEY, key)), "old": old_row["time"]["median"],
                             "new": new_row["time"]["median"],
                             "ratio": new_row["time"]["median"] / old_row["time"]["median"]})
    for kind in ("slower", "faster"):
        out[kind].sort(key=lambda c: c["ratio"], reverse=kind == "slower")
    return out


def text(changes, old_path="OLD", new_path="NEW"):
    def line(c):
        return (f"  {c['loss']:<20} {c['op']:<15} n={format_size(c['n']):<6} {c['dtype']:<8} "
                f"{c['impl']:<9} thr={c['threads'] if c['threads'] is not None else '-':<3} "
                f"{format_time(c['old']):>9} -> {format_time(c['new']):>9}  "
                f"x{c['ratio']:.2f}")
    out = [f"compare {old_path} -> {new_path}: {len(changes['slower'])} slower, "
           f"{len(changes['faster'])} faster, {len(changes['unchanged'])} unchanged "
           "(beyond noise: medians differ more than the threshold and both runs' IQR, "
           "and the IQRs do not overlap)"]
    for kind in ("slower", "faster"):
        if changes[kind]:
            out.append(f"{kind.upper()}:")
            out += [line(c) for c in changes[kind]]
    for kind, label in (("only_old", "only in OLD"), ("only_new", "only in NEW")):
        if changes[kind]:
            out.append(f"{len(changes[kind])} row(s) {label}")
    return "\n".join(out)


def caveats(old, new):
    """Reasons the two runs may not be comparable (busy machine, different CPU or build)."""
    notes = []
    for label, run in (("OLD", old), ("NEW", new)):
        warning = busy_warning(run["machine"])
        if warning:
            notes.append(f"{label}: {warning}")
    for key, label in (("cpu", "CPU"), ("logical_cores", "core count")):
        if old["machine"].get(key) != new["machine"].get(key):
            notes.append(f"different {label}: {old['machine'].get(key)} -> "
                         f"{new['machine'].get(key)}")
    old_flags = old["machine"]["fastloss"].get("build", {}).get("compile_args")
    new_flags = new["machine"]["fastloss"].get("build", {}).get("compile_args")
    if old_flags != new_flags:
        notes.append(f"different build flags: {old_flags} -> {new_flags}")
    return notes


def main(args):
    import json
    old, new = load(args.old), load(args.new)
    changes = compare(old, new, args.threshold)
    changes["caveats"] = caveats(old, new)
    if args.json:
        print(json.dumps(changes, indent=1))
    else:
        print(text(changes, args.old, args.new))
        for note in changes["caveats"]:
            print(f"note: {note}")
    return 1 if (args.fail_slower and changes["slower"]) else 0
