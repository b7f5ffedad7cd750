"""PNG plots of a results dict (matplotlib, optional: ``pip install fastloss[bench]``).

- ``throughput_<loss>.png``: GB/s against size, one panel per operation and dtype, a line per
  implementation and thread count, the bandwidth floor dashed.
- ``speedup_<other>.png``: fastloss's speedup over the NumPy reference or a peer, bars per loss
  and operation (largest size measured, most threads, first dtype).
Drawn with matplotlib's object API on the Agg canvas: no pyplot, no global backend change.
"""

from fastloss.bench.cases import format_size


class MatplotlibMissing(RuntimeError):
    pass


def _figure(width, height):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MatplotlibMissing(f"plots skipped: matplotlib is not installed ({exc}); "
                                "pip install 'fastloss[bench]'") from None
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _safe(name):
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def throughput(results, loss, path):
    ops = [op for op in results["settings"]["ops"]
           if any(r["loss"] == loss and r["op"] == op for r in results["rows"])]
    dtypes = sorted({r["dtype"] for r in results["rows"] if r["loss"] == loss})
    fig = _figure(4.2 * max(len(ops), 1), 3.4 * max(len(dtypes), 1))
    axes = fig.subplots(len(dtypes), len(ops), squeeze=False)
    for i, dtype in enumerate(dtypes):
        for j, op in enumerate(ops):
            ax = axes[i][j]
            rows = [r for r in results["rows"] if r["loss"] == loss and r["op"] == op
                    and r["dtype"] == dtype and r["status"] == "ok"]
            series = {}
            for r in rows:
                label = r["impl"] + (f" ({r['threads']} thr)" if r.get("threaded") else "")
                series.setdefault(label, []).append((r["n"], r["gbps"]))
            floors = {}
            for r in rows:
                if r["impl"] == "fastloss" and r["floor"]:
                    floors.setdefault(r["floor"]["threads"], []).append((r["n"],
                                                                          r["floor"]["gbps"]))
            for label, points in sorted(series.items()):
                xs, ys = zip(*sorted(points))
                ax.plot(xs, ys, marker="o", label=label)
            for threads, points in sorted(floors.items()):
                xs, ys = zip(*sorted(points))
                ax.plot(xs, ys, linestyle="--", color="gray", alpha=0.4 + 0.6 * (threads > 1),
                        label=f"bandwidth floor ({threads} thr)")
            ax.set_xscale("log")
            ax.set_yscale("log")
            sizes = sorted({r["n"] for r in rows})
            if sizes:
                ax.set_xlim(sizes[0] / 2, sizes[-1] * 2)
            ax.minorticks_off()               # (log minor ticks cost seconds of drawing)
            ax.set_title(f"{loss} {op} ({dtype})", fontsize=10)
            ax.set_xlabel("n")
            ax.set_ylabel("GB/s")
            ax.grid(True, alpha=0.3)
            if rows and i == 0 and j == 0:
                ax.legend(fontsize=7)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.12 / len(dtypes), top=0.94,
                        hspace=0.45, wspace=0.3)
    fig.savefig(path, format="png")


def speedup(results, other, path):
    from fastloss.bench.report import summary_rows
    rows = summary_rows(results)
    dtypes = [d for d in results["settings"]["dtypes"] if any(r["dtype"] == d for r in rows)]
    rows = [r for r in rows if dtypes and r["dtype"] == dtypes[0]]
    ops = [op for op in results["settings"]["ops"] if any(r["op"] == op for r in rows)]
    losses = sorted({r["loss"] for r in rows})
    fig = _figure(max(5.0, 1.1 * len(losses) * max(len(ops), 1) * 0.5 + 2), 3.8)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / max(len(ops), 1)
    for k, op in enumerate(ops):
        xs, ys = [], []
        for i, loss in enumerate(losses):
            match = [r for r in rows if r["loss"] == loss and r["op"] == op]
            if match and match[0]["speedup"].get(other):
                xs.append(i + (k - (len(ops) - 1) / 2) * width)
                ys.append(match[0]["speedup"][other])
        bars = ax.bar(xs, ys, width=width, label=op)
        ax.bar_label(bars, labels=[f"{y:.2g}x" for y in ys], fontsize=6)
    ax.set_yscale("log")
    ax.minorticks_off()
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(losses)))
    ax.set_xticklabels(losses, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(f"{other} time / fastloss time")
    size = max((r["n"] for r in rows), default=0)
    ax.set_title(f"fastloss speedup over {other} (n up to {format_size(size)}, "
                 f"{dtypes[0] if dtypes else ''})", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.subplots_adjust(bottom=0.25, top=0.9)
    fig.savefig(path, format="png")


def draw_all(results, out_dir):
    """Draw every plot into out_dir; returns the file names written."""
    import os
    written = []
    for loss in sorted({r["loss"] for r in results["rows"] if r["status"] == "ok"}):
        name = f"throughput_{_safe(loss)}.png"
        throughput(results, loss, os.path.join(out_dir, name))
        written.append(name)
    for other in ["numpy"] + list(results["machine"].get("peers", {})):
        if any(other in r["speedup"] for r in results["rows"] if r["impl"] == "fastloss"):
            name = f"speedup_{_safe(other)}.png"
            speedup(results, other, os.path.join(out_dir, name))
            written.append(name)
    return written
