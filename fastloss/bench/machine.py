"""The machine a benchmark ran on: CPU, cores, SIMD, caches, memory, OS, versions, build, load."""

import os
import platform
import sys
import time

import numpy as np

import fastloss as fl

# CPU flags worth reporting for vectorized kernels (x86 and Arm spellings).
_SIMD_FLAGS = ("sse2", "ssse3", "sse4_1", "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512dq",
               "avx512bw", "avx512vl", "avx512_fp16", "neon", "asimd", "sve", "sve2")


def _cpuinfo():
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


def _physical_cores(text):
    cores = {(block.get("physical id"), block.get("core id"))
             for block in (dict((k.strip(), v.strip()) for k, _, v in
                                (line.partition(":") for line in chunk.splitlines()))
                           for chunk in text.split("\n\n"))
             if block.get("core id") is not None}
    return len(cores) or None


def _cpu_flags(text):
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            present = set(line.split(":", 1)[1].split())
            return [flag for flag in _SIMD_FLAGS if flag in present]
    return []


def _caches():
    caches = {}
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        entries = sorted(os.listdir(base))
    except OSError:
        return caches
    for entry in entries:
        try:
            def read(name):
                with open(os.path.join(base, entry, name)) as f:
                    return f.read().strip()
            kind = read("type")
            label = f"L{read('level')}" + ({"Data": "d", "Instruction": "i"}.get(kind, ""))
            caches[label] = read("size")
        except OSError:
            continue
    return caches


def _memory():
    info = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("MemTotal", "MemAvailable"):
                    info[key] = int(rest.split()[0]) * 1024
    except OSError:
        pass
    total = info.get("MemTotal")
    if total is None:
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            total = None
    return {"total_bytes": total, "available_bytes": info.get("MemAvailable", total)}


def available_memory():
    """Bytes of memory available now (MemAvailable on Linux), or None if unknown."""
    return _memory()["available_bytes"]


def describe_load():
    """The 1, 5 and 15 minute load averages, or None where the OS has none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def cpu_snapshot():
    """(seconds every CPU spent busy, seconds stolen from them by the hypervisor, this process's
    CPU seconds, monotonic seconds) now, for other_work; None without /proc/stat (not Linux)."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        ticks = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, AttributeError):
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 9:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[1:9])
    own = os.times()
    return ((user + nice + system + irq + softirq) / ticks, steal / ticks,
            own.user + own.system, time.monotonic())


def other_work(start, end, cores):
    """What else ran between two cpu_snapshot()s: {"other_cores": CPUs' worth of work outside
    this process on average, "steal_fraction": share of the CPUs' time the hypervisor gave to
    other guests}, or None. The load average cannot tell that apart from the run's own threads
    (a 2-thread run alone gives it about 1 to 1.5 on 2 cores)."""
    if start is None or end is None or end[3] <= start[3]:
        return None
    wall = end[3] - start[3]
    other = (end[0] - start[0]) - (end[2] - start[2])
    return {"other_cores": round(max(other, 0.0) / wall, 3),
            "steal_fraction": round((end[1] - start[1]) / (wall * (cores or 1)), 4)}


# Above these the report warns: other work using a tenth of the CPUs on average, or the
# hypervisor taking 2% of their time.
BUSY_OTHER_SHARE = 0.1
BUSY_STEAL_FRACTION = 0.02


def busy_warning(machine_info):
    """A sentence when other work ran beside the benchmark, else ''.

    From the CPU accounting of the run (other_work) where the results have it; older results
    and systems without /proc/stat fall back to the load average (above half the cores), which
    counts the run's own threads too."""
    cores = machine_info.get("logical_cores") or 1
    during = machine_info.get("other_work")
    if during is not None:
        reasons = []
        if during["other_cores"] > BUSY_OTHER_SHARE * cores:
            reasons.append(f"other processes used {during['other_cores']:.2f} of {cores} "
                           "logical cores on average")
        if during["steal_fraction"] > BUSY_STEAL_FRACTION:
            reasons.append(f"the hypervisor gave {100 * during['steal_fraction']:.1f}% of the "
                           "CPUs' time to other guests")
        if not reasons:
            return ""
        return ("the machine was busy (" + "; ".join(reasons) + "): these timings are not "
                "reliable; rerun on a quiet machine")
    loads = [machine_info.get("load_average"), machine_info.get("load_average_end")]
    worst = max((l[0] for l in loads if l), default=0.0)
    if worst > 0.5 * cores:
        return (f"the machine was busy (load average up to {worst:.1f} on {cores} logical "
                "cores): these timings are not reliable; rerun on a quiet machine")
    return ""


def describe(peer_status=None):
    """Everything the report says about where it ran."""
    text = _cpuinfo()
    config = fl.config()
    return {
        "cpu": config["cpu"],
        "logical_cores": os.cpu_count(),
        "physical_cores": _physical_cores(text),
        "simd": {"numpy_dispatch_level": config["cpu_simd"], "cpu_flags": _cpu_flags(text),
                 "numpy_features": config["cpu_features"]},
        "caches": _caches(),
        "memory": _memory(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "numpy": np.__version__,
        "peers": peer_status or {},
        "fastloss": config,
        "openmp": config["openmp"],
        "default_threads": config["default_threads"],
        "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
        "load_average": describe_load(),
    }
