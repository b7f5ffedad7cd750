"""The benchmark runner's logic (fastloss.bench) on tiny sizes: schema, report, plots, peers,
agreement checks, compare. Timings here are meaningless by design; only the machinery is tested."""

import copy
import io
import json
import statistics
import struct

import numpy as np
import pytest

import fastloss as fl
from fastloss import cli, reference
from fastloss._kernels import _parallel
from fastloss.bench import cases as C
from fastloss.bench import compare, command, probe, report, runner, timing
from fastloss.bench.cases import Impl
from fastloss.bench.peers import Peer

TINY = timing.Budget(seconds=0.002, sample_time=1e-5, min_repeats=3, max_repeats=5)


def tiny_settings(**overrides):
    settings = dict(losses=["mse"], sizes=[1000], dtypes=["float64"], threads=[1], peers=[],
                    budget=TINY)
    settings.update(overrides)
    return runner.Settings(**settings)


@pytest.fixture(scope="module")
def tiny_results():
    return runner.run(tiny_settings(losses=["mse", "huber"], dtypes=["float64", "float32"]))


def _rows(results, **match):
    return [r for r in results["rows"] if all(r.get(k) == v for k, v in match.items())]


# ------------------------------------------------------------------------ results.json


def test_results_json_schema(tiny_results, tmp_path):
    report.write(tiny_results, str(tmp_path), plots=False)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["schema"] == runner.SCHEMA
    assert set(results) >= {"created", "settings", "machine", "rows", "bandwidth", "skipped",
                            "failures"}
    m = results["machine"]
    for key in ("cpu", "logical_cores", "physical_cores", "simd", "caches", "memory", "os",
                "python", "numpy", "peers", "fastloss", "openmp", "default_threads",
                "load_average", "load_average_end", "other_work"):
        assert key in m, key
    if m["other_work"] is not None:            # (Linux: /proc/stat)
        assert m["other_work"]["other_cores"] >= 0 and m["other_work"]["steal_fraction"] >= 0
    assert m["numpy"] == np.__version__
    assert m["fastloss"]["version"] == fl.__version__ and "build" in m["fastloss"]
    assert results["failures"] == []
    # one row per loss x op x dtype x implementation (numpy measured once, fastloss per thread)
    assert len(results["rows"]) == 2 * len(C.OPS) * 2 * 2
    for row in results["rows"]:
        assert row["status"] == "ok", row
        t = row["time"]
        assert t["min"] <= t["q1"] <= t["median"] <= t["q3"] <= t["max"]
        assert t["repeats"] == len(t["samples"]) >= TINY.min_repeats
        assert row["bytes"] == row["input_bytes"] + row["output_bytes"]
        assert row["gbps"] == pytest.approx(row["bytes"] / t["median"] / 1e9)
        assert 0 < row["floor"]["best"] <= row["floor"]["median"]
        assert row["pct_floor"] == pytest.approx(100 * row["floor"]["median"] / t["median"])
        # fastloss's floor is timed beside it; the others' is the run-wide probe record's
        assert row["floor"]["side_by_side"] == (row["impl"] == "fastloss")
        if row["impl"] != "fastloss":
            record = [b for b in results["bandwidth"] if b["kind"] == row["floor"]["kind"]
                      and b["threads"] == row["floor"]["threads"]
                      and b["dtype"] == probe.probe_dtype(
                          C.make_case(fl.get(row["loss"]), 1000, row["dtype"]).inputs).name
                      and b["input_bytes"] == row["input_bytes"]
                      and b["output_bytes"] == (row["output_bytes"] if row["op"] != "value" else 0)]
            assert len(record) == 1 and row["floor"]["median"] == record[0]["median"]
    itemsize = {"float64": 8, "float32": 4}
    for row in _rows(results, impl="fastloss"):
        assert row["input_bytes"] == 2 * 1000 * itemsize[row["dtype"]]
        arrays_written = {"value": 0, "grad": 1, "value_and_grad": 1, "grad_hess": 2}[row["op"]]
        assert row["output_bytes"] == arrays_written * 1000 * itemsize[row["dtype"]]
        assert row["speedup"]["numpy"] == pytest.approx(
            _rows(results, impl="numpy", loss=row["loss"], op=row["op"], dtype=row["dtype"])[0]
            ["time"]["median"] / row["time"]["median"])
    kinds = {b["kind"] for b in results["bandwidth"]}
    assert kinds == {"read", "read_write"}


def test_busy_warning_counts_other_work_not_the_runs_own_threads():
    from fastloss.bench import machine
    # 20 s of wall time on 2 CPUs: 30 s busy in all, 28 of them this process's (its 2 threads)
    start, end = (100.0, 5.0, 10.0, 1000.0), (130.0, 5.0, 38.0, 1020.0)
    during = machine.other_work(start, end, 2)
    assert during == {"other_cores": 0.1, "steal_fraction": 0.0}
    info = {"logical_cores": 2, "load_average": [1.4, 1.2, 0.9], "other_work": during}
    assert machine.busy_warning(info) == ""               # the run's own load average
    info["other_work"] = machine.other_work(start, (140.0, 5.0, 38.0, 1020.0), 2)
    assert "other processes used 0.60 of 2 logical cores" in machine.busy_warning(info)
    info["other_work"] = machine.other_work(start, (130.0, 6.0, 38.0, 1020.0), 2)
    assert "gave 2.5% of the CPUs' time to other guests" in machine.busy_warning(info)
    assert machine.other_work(None, end, 2) is None
    del info["other_work"]                                # results without it: load average
    assert "load average up to 1.4" in machine.busy_warning(info)
    snapshot = machine.cpu_snapshot()
    if snapshot is not None:                             # Linux
        assert all(x >= 0 for x in snapshot)


def test_markdown_report(tiny_results):
    text = report.markdown(tiny_results)
    assert text.startswith("# fastloss benchmark report")
    for heading in ("## Machine", "## Peers", "## How to read this", "## Summary",
                    "## huber", "## mse", "## Bandwidth probe"):
        assert heading in text, heading
    assert tiny_results["machine"]["cpu"] in text
    header = "| op | n | dtype | threads | fastloss | ± | GB/s | % floor | numpy | x numpy |"
    assert header in text
    mse_section = text.split("## mse")[1].split("##")[0]
    table_lines = [l for l in mse_section.splitlines() if l.startswith("| ")][1:]
    assert len(table_lines) == len(C.OPS) * 2   # op x dtype, one thread count
    assert {l.split("|")[1].strip() for l in table_lines} == set(C.OPS)
    assert "## Failures" not in text
    summary = report.summary_text(tiny_results)
    assert "mse" in summary and "x numpy" in summary


def test_targets_section(tiny_results):
    results = copy.deepcopy(tiny_results)
    for row in results["rows"]:
        if row["loss"] == "mse":
            row["n"] = 10 ** 7                      # pretend the tiny run was the target size
    found = {(w, d): (v, met) for w, n, d, t, v, met, timed in report.targets(results)}
    assert set(found) == {(t[6], t[3]) for t in report.TARGETS if t[0] == "mse"}
    row = _rows(results, impl="fastloss", loss="mse", op="value", dtype="float64")[0]
    assert found["mse at least 5x NumPy", "float64"][0] == pytest.approx(row["speedup"]["numpy"])
    assert found["mse at most 1.5x np.dot's time", "float64"][0] == pytest.approx(
        row["time"]["median"] / row["floor"]["numpy_dot_median"])
    pct, met = found["mse value within 1.25x the bandwidth floor", "float64"]
    assert pct == pytest.approx(row["pct_floor"]) and met == (pct >= 80.0)
    narrow = _rows(results, impl="fastloss", loss="mse", op="value", dtype="float32")[0]
    ratio, met = found["mse value float32 at least 1.6x faster than float64", "float32"]
    assert ratio == narrow["vs_float64"]["speedup"]        # side by side
    assert narrow["vs_float64"]["apart"] == pytest.approx(
        row["time"]["median"] / narrow["time"]["median"], rel=1e-12)
    assert met == (ratio >= 1.6)
    text = report.markdown(results)
    assert "## Targets" in text and f"| {pct:.0f}% | {'yes' if pct >= 80 else 'NO'} |" in text
    assert "## Targets" not in report.markdown(tiny_results)


def test_time_targets_and_their_classes():
    # A time target is met at or below its bound; cross_entropy's are stated for K = 10 and
    # K = 1000, told apart by the prediction's shape.
    def row(loss, dtype, ms, shape):
        return {"loss": loss, "op": "value", "n": 10 ** 7, "dtype": dtype, "impl": "fastloss",
                "threads": 2, "status": "ok", "time": {"median": ms / 1e3}, "speedup": {},
                "pred_shape": shape, "floor": None, "pct_floor": None}
    results = {"settings": {"ops": list(C.OPS)}, "rows": [
        row("focal", "float64", 19.9, [10 ** 7]), row("cross_entropy", "float32", 10.5,
                                                     [10 ** 6, 10])]}
    found = {w: (round(v, 6), met) for w, n, d, t, v, met, timed in report.targets(results)}
    assert found == {"focal value at most 20 ms": (19.9, True),
                     "cross_entropy 10^6 x 10 value at most 10 ms": (10.5, False)}
    results["rows"][1]["pred_shape"] = [10 ** 4, 1000]
    found = {w: met for w, n, d, t, v, met, timed in report.targets(results)}
    assert found == {"focal value at most 20 ms": True,
                     "cross_entropy 10^4 x 1000 value at most 5 ms": False}


def test_time_targets_take_every_sample_of_the_row():
    # The row's own timing (3 samples at 30 ms) and its pairings (4 at 10 ms): the median of
    # all 7 is 10 ms, and the table says how it was timed.
    row = {"loss": "focal", "op": "value", "n": 10 ** 7, "dtype": "float64", "impl": "fastloss",
           "threads": 2, "status": "ok", "speedup": {}, "pred_shape": [10 ** 7], "floor": None,
           "pct_floor": None, "time": {"median": 0.03, "samples": [0.03, 0.031, 0.029],
                                       "repeats": 3}, "more_samples": [0.01] * 4}
    results = {"settings": {"ops": list(C.OPS)}, "rows": [row]}
    [(wording, _, _, _, value, met, timed)] = report.targets(results)
    assert (wording, value, met) == ("focal value at most 20 ms", pytest.approx(10.0), True)
    assert timed == "all 7 samples (own timing 30.00 ms)"
    row["more_samples"] = []
    [(_, _, _, _, value, met, timed)] = report.targets(results)
    assert (value, met, timed) == (pytest.approx(30.0), False, "own timing")


def test_float32_and_float64_are_timed_side_by_side(monkeypatch):
    # each fastloss call records its dtype and the thread count it runs on
    pairings = _record_pairings(monkeypatch,
                                lambda case: (case.dtype.name, fl.get_num_threads()))
    results = runner.run(tiny_settings(threads=[1, 2], sizes=[500, 1000], ops=("value",),
                                       dtypes=["float64", "float32"]))
    rows = {(r["n"], r["dtype"], r["threads"]): r for r in _rows(results, impl="fastloss")}
    narrow, wide = rows[1000, "float32", 2], rows[1000, "float64", 2]
    paired = narrow["vs_float64"]
    assert paired["speedup"] == paired["float64_median"] / paired["median"]
    assert paired["apart"] == pytest.approx(wide["time"]["median"] / narrow["time"]["median"],
                                            rel=1e-12)
    assert paired["repeats"] == runner.PAIR_MIN_SAMPLES
    assert [k for k, r in rows.items() if r["vs_float64"]] == [(1000, "float32", 2)]
    # the run's last pairing: float32 against float64 on the most threads, warmed up, no settle
    assert pairings[-1] == {"call": {("float32", 2)}, "other": {("float64", 2)},
                            "warm_up": True, "pause": None}
    # every pairing's samples are kept with the row: scaling's, then this one's
    assert narrow["more_samples"][-paired["repeats"]:] != []
    assert len(narrow["more_samples"]) == len(wide["more_samples"]) == 2 * paired["repeats"]
    assert statistics.median(narrow["more_samples"][-paired["repeats"]:]) == paired["median"]
    # the float32 target takes the side-by-side ratio
    for row in results["rows"]:
        row["n"] = 10 ** 7 if row["n"] == 1000 else row["n"]
    found = {(w, d): (v, timed) for w, n, d, t, v, met, timed in report.targets(results)}
    ratio, timed = found["mse value float32 at least 1.6x faster than float64", "float32"]
    assert ratio == paired["speedup"] and timed.startswith("side by side (7; apart ")


def test_float32_and_float64_are_not_paired_when_both_cases_do_not_fit():
    # A memory budget each case of mse at 1000 elements fits in, but not both.
    need = [runner.bytes_per_element(C.lookup("mse"), dtype) * 1000 * 1.25
            for dtype in ("float64", "float32")]
    results = runner.run(tiny_settings(dtypes=["float64", "float32"], ops=("value",),
                                       memory_budget=int(max(need)) + 1))
    assert {r["dtype"] for r in _rows(results, impl="fastloss")} == {"float64", "float32"}
    assert all(r["vs_float64"] is None for r in _rows(results, impl="fastloss"))
    both = runner.run(tiny_settings(dtypes=["float64", "float32"], ops=("value",),
                                    memory_budget=int(sum(need)) + 1))
    assert _rows(both, impl="fastloss", dtype="float32")[0]["vs_float64"] is not None


def test_fastest_peer_and_scaling_tables():
    def row(impl, threads, ms, speedup=None):
        return {"loss": "mse", "op": "grad", "n": 10 ** 7, "dtype": "float64", "impl": impl,
                "threads": threads, "status": "ok", "time": {"median": ms / 1e3},
                "speedup": speedup or {}}
    results = {"settings": {"ops": list(C.OPS)}, "rows": [
        row("fastloss", 1, 9.0), row("fastloss", 2, 5.0, {"numpy": 9.0, "torch": 4.0,
                                                           "jax": 2.5})]}
    [(best, name, ratio)] = report.fastest_peer_rows(results)
    assert best["threads"] == 2 and (name, ratio) == ("jax", 2.5)
    [(best, speedup, one)] = report.scaling_rows(results)
    assert best["threads"] == 2 and one["threads"] == 1 and speedup == pytest.approx(1.8)
    best["scaling"] = {"speedup": 1.5, "median": 6e-3, "one_thread_median": 9e-3,
                       "repeats": 7, "apart": 1.8}
    [(best, speedup, one)] = report.scaling_rows(results)
    assert speedup == 1.5                              # the side-by-side ratio, when taken


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_plots_are_valid_pngs(tiny_results, tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed: the plots are an "
                                             "optional extra (pip install 'fastloss[test]')")
    results = copy.deepcopy(tiny_results)
    written = report.write(results, str(tmp_path))
    assert set(results["plots"]) == {"throughput_huber.png", "throughput_mse.png",
                                     "speedup_numpy.png"}
    for name in results["plots"]:
        width, height = _png_size(tmp_path / name)
        assert width > 100 and height > 100
        assert str(tmp_path / name) in written
    assert "![throughput_mse](throughput_mse.png)" in (tmp_path / "report.md").read_text()


# ------------------------------------------------------------------------ peers and failures


def _wrong_mse(module, case, op, n_threads):
    """A planted wrong implementation: 1.5 times the right value and gradient."""
    y, p = case.inputs
    value = lambda: 1.5 * float(np.mean((y - p) ** 2))
    grad = lambda: 1.5 * 2.0 * (p - y) / p.size
    grad_hess = lambda: (1.5 * 2.0 * (p - y), np.full_like(p, 1.5 * 2.0))
    call = {"value": value, "grad": grad, "value_and_grad": lambda: (value(), grad()),
            "grad_hess": grad_hess}[op]
    return Impl("wrong", call)


def test_missing_peer_is_reported_missing(tmp_path):
    absent = Peer("absentlib", "fastloss_no_such_module_for_tests", "a peer that is not there",
                  {"mse": _wrong_mse}, threads_note="-")
    results = runner.run(tiny_settings(peers=[absent]))
    status = results["machine"]["peers"]["absentlib"]
    assert status["status"] == "missing" and "not installed" in status["reason"]
    rows = _rows(results, impl="absentlib")
    assert len(rows) == len(C.OPS) and {r["status"] for r in rows} == {"missing"}
    assert all(r["time"] is None for r in rows)          # never timed, never faked
    assert results["failures"] == [] and runner.exit_code(results) == 0
    report.write(results, str(tmp_path), plots=False)
    text = (tmp_path / "report.md").read_text()
    assert "| absentlib | missing | not installed" in text
    assert "x absentlib" in text and "| missing | - |" in text


def test_unsupported_loss_and_broken_adapter_are_reported():
    def broken(module, case, op, n_threads):
        raise RuntimeError("adapter bug")
    peer = Peer("mathpeer", "math", "installed, knows only huber", {"huber": broken},
                threads_note="-")
    results = runner.run(tiny_settings(losses=["mse", "huber"], peers=[peer]))
    assert {r["status"] for r in _rows(results, impl="mathpeer", loss="mse")} == {"unsupported"}
    broken_rows = _rows(results, impl="mathpeer", loss="huber")
    assert {r["status"] for r in broken_rows} == {"error"}
    assert all("adapter bug" in r["reason"] for r in broken_rows)
    assert len(results["failures"]) == len(C.OPS) and runner.exit_code(results) == 1
    # the run went on: fastloss and numpy were measured for both losses
    assert {r["status"] for r in _rows(results, impl="fastloss")} == {"ok"}


def test_planted_mismatch_is_a_reported_failure(tmp_path):
    wrong = Peer("wrong", "numpy", "a wrong implementation", {"mse": _wrong_mse},
                 threads_note="-")
    results = runner.run(tiny_settings(losses=["mse", "huber"], peers=[wrong]))
    rows = _rows(results, impl="wrong", loss="mse")
    assert {r["status"] for r in rows} == {"mismatch"}
    assert all(r["time"] is None and "disagrees with numpy" in r["reason"] for r in rows)
    assert {(f["impl"], f["status"]) for f in results["failures"]} == {("wrong", "mismatch")}
    assert len(results["failures"]) == len(C.OPS)
    assert runner.exit_code(results) == 1
    assert {r["status"] for r in _rows(results, impl="fastloss")} == {"ok"}   # run continued
    assert "wrong" not in _rows(results, impl="fastloss", loss="mse")[0]["speedup"]
    text = report.markdown(results)
    assert "## Failures" in text and "MISMATCH" in text


def test_a_wrong_fastloss_result_is_caught(monkeypatch):
    original = C.fastloss_impl

    def off_by_a_bit(case, op, n_threads):
        impl = original(case, op, n_threads)
        if op == "value":
            impl.finish = lambda v: v * (1 + 1e-3)
        return impl

    monkeypatch.setattr(C, "fastloss_impl", off_by_a_bit)
    results = runner.run(tiny_settings())
    assert [(f["impl"], f["op"], f["status"]) for f in results["failures"]] == \
        [("fastloss", "value", "mismatch")]


def test_loss_without_reference_is_checked_against_fastloss(monkeypatch):
    monkeypatch.delitem(reference.LOSSES, "mse")
    right = Peer("rightpeer", "numpy", "a correct implementation", {
        "mse": lambda module, case, op, n_threads: C.fastloss_impl(case, op, 1)},
        threads_note="-")
    results = runner.run(tiny_settings(peers=[right]))
    assert {r["status"] for r in _rows(results, impl="numpy")} == {"missing"}
    assert {r["status"] for r in _rows(results, impl="fastloss")} == {"ok"}
    peer_rows = _rows(results, impl="rightpeer")
    assert {r["status"] for r in peer_rows} == {"ok"}
    assert all("checked against fastloss" in r["reason"] for r in peer_rows)
    assert results["failures"] == []


def test_the_fastest_peers_are_timed_again_side_by_side(monkeypatch):
    import time
    pauses = []
    monkeypatch.setattr(timing, "settle", lambda: pauses.append(1) or 0.0)
    monkeypatch.setattr(runner, "PAIR_BELOW", float("inf"))   # sleep(1e-4) >> a tiny mse

    def adapter(delay):
        def make(module, case, op, n_threads):
            impl = C.fastloss_impl(case, op, n_threads)
            call = impl.call

            def slowed():
                time.sleep(delay)
                return call()
            impl.call = slowed
            return impl
        return make

    twin = Peer("twin", "numpy", "fastloss, a little slower", {"mse": adapter(1e-4)},
                threads_note="-")
    slower = Peer("slower", "numpy", "over 2x the twin's time", {"mse": adapter(2e-3)},
                  threads_note="-")
    results = runner.run(tiny_settings(peers=[twin, slower], ops=("value",)))
    row, = _rows(results, impl="fastloss")
    apart = {name: _rows(results, impl=name)[0]["time"]["median"] / row["time"]["median"]
             for name in ("twin", "slower")}
    assert set(row["paired"]) == {"twin"}               # the slower peer is not paired
    paired = row["paired"]["twin"]
    assert paired["apart"] == pytest.approx(apart["twin"], rel=1e-12)
    assert row["speedup"]["twin"] == paired["peer_median"] / paired["median"]
    assert row["speedup"]["slower"] == pytest.approx(apart["slower"], rel=1e-12)
    assert paired["repeats"] == runner.PAIR_MIN_SAMPLES      # TINY's budget allows fewer
    assert len(pauses) >= 2 * paired["repeats"]         # settled before each paired sample
    assert "side by side (" in report.markdown(results)


def _record_pairings(monkeypatch, describe):
    """Each side-by-side timing of the run, as {"call": ..., "other": ..., "warm_up", "pause"}:
    the sides' sets of describe(case) taken inside each fastloss call they made."""
    pairings, seen = [], []
    real_impl, real_pairing = C.fastloss_impl, timing.measure_side_by_side

    def seeing(case, op, n_threads):
        impl = real_impl(case, op, n_threads)
        call = impl.call
        impl.call = lambda: seen.append(describe(case)) or call()
        return impl

    def recorded(call, other, budget, pause=None, warm_up=False):
        sides = {"call": set(), "other": set(), "warm_up": warm_up, "pause": pause}
        pairings.append(sides)

        def on(side, fn):
            def run():
                seen.clear()
                result = fn()
                sides[side].update(seen)
                return result
            return run
        return real_pairing(on("call", call), on("other", other), budget, pause, warm_up)
    monkeypatch.setattr(C, "fastloss_impl", seeing)
    monkeypatch.setattr(timing, "measure_side_by_side", recorded)
    return pairings


def test_one_thread_and_the_most_are_timed_side_by_side(monkeypatch):
    # each fastloss call records the thread count it runs on
    pairings = _record_pairings(monkeypatch, lambda case: fl.get_num_threads())
    results = runner.run(tiny_settings(threads=[1, 2], ops=("value",)))
    one, two = sorted(_rows(results, impl="fastloss"), key=lambda r: r["threads"])
    assert one["scaling"] is None
    scaling = two["scaling"]
    assert scaling["speedup"] == scaling["one_thread_median"] / scaling["median"]
    assert scaling["apart"] == pytest.approx(one["time"]["median"] / two["time"]["median"],
                                             rel=1e-12)
    assert scaling["repeats"] == runner.PAIR_MIN_SAMPLES
    # the run's last pairing: each side on its own thread count, warmed up, not settled
    assert pairings[-1] == {"call": {2}, "other": {1}, "warm_up": True, "pause": None}
    [(row, ratio, _)] = report.scaling_rows(results)
    assert ratio == scaling["speedup"]
    text = report.markdown(results)
    assert "## Thread scaling" in text and "side by side (7)" in text


def test_scaling_is_not_paired_below_the_largest_size():
    results = runner.run(tiny_settings(threads=[1, 2], sizes=[500, 1000], ops=("value",)))
    rows = {(r["n"], r["threads"]): r for r in _rows(results, impl="fastloss")}
    assert rows[(500, 2)]["scaling"] is None and rows[(1000, 2)]["scaling"] is not None


def test_peers_far_slower_are_not_paired(monkeypatch):
    monkeypatch.setattr(runner, "PAIR_BELOW", 0.0)      # every ratio counts as "far slower"
    twin = Peer("twin", "numpy", "fastloss itself",
                {"mse": lambda module, case, op, n_threads: C.fastloss_impl(case, op, 1)},
                threads_note="-")
    results = runner.run(tiny_settings(peers=[twin], ops=("value",)))
    row, = _rows(results, impl="fastloss")
    assert row["paired"] == {} and "twin" in row["speedup"]
    assert "| apart |" in report.markdown(results)


def test_sizes_over_the_memory_budget_are_skipped():
    results = runner.run(tiny_settings(sizes=[1000, 10 ** 12], memory_budget=64 << 20))
    assert [s["n"] for s in results["skipped"]] == [10 ** 12]
    assert {r["n"] for r in results["rows"]} == {1000}
    assert "## Skipped" in report.markdown(results)


# ------------------------------------------------------------------------ compare


def test_compare_finds_a_planted_2x_slowdown(tiny_results, tmp_path):
    old = copy.deepcopy(tiny_results)
    new = copy.deepcopy(tiny_results)
    target = _rows(new, impl="fastloss", loss="mse", op="grad", dtype="float64")[0]
    for r in (_rows(old, **{k: target[k] for k in compare.KEY})[0], target):
        r["time"].update(median=1e-3, q1=0.99e-3, q3=1.01e-3, min=0.98e-3, max=1.03e-3)
    for key in ("median", "q1", "q3", "min", "max"):
        target["time"][key] *= 2.0
    changes = compare.compare(old, new)
    assert [(c["loss"], c["op"], c["impl"], c["dtype"]) for c in changes["slower"]] == \
        [("mse", "grad", "fastloss", "float64")]
    assert changes["slower"][0]["ratio"] == pytest.approx(2.0)
    assert changes["faster"] == [] and changes["only_old"] == changes["only_new"] == []
    assert len(changes["unchanged"]) == len(old["rows"]) - 1
    backwards = compare.compare(new, old)
    assert len(backwards["faster"]) == 1 and backwards["slower"] == []
    # through the command line, from files
    report.write(old, str(tmp_path / "old"), plots=False)
    report.write(new, str(tmp_path / "new"), plots=False)
    paths = [str(tmp_path / "old" / "results.json"), str(tmp_path / "new" / "results.json")]
    assert cli.main(["bench", "compare", *paths]) == 0
    assert cli.main(["bench", "compare", *paths, "--fail-slower"]) == 1


def test_compare_ignores_changes_within_the_noise():
    noisy = {"median": 1.0, "q1": 0.7, "q3": 1.4, "min": 0.5, "max": 2.0}
    shifted = {k: v * 1.3 for k, v in noisy.items()}
    assert compare.classify(noisy, shifted) == "unchanged"
    steady = {"median": 1.0, "q1": 0.99, "q3": 1.01, "min": 0.98, "max": 1.02}
    assert compare.classify(steady, {k: v * 1.05 for k, v in steady.items()}) == "unchanged"
    assert compare.classify(steady, {k: v * 1.3 for k, v in steady.items()}) == "slower"
    assert compare.classify(steady, {k: v / 1.3 for k, v in steady.items()}) == "faster"


# ------------------------------------------------------------------------ pieces


def test_agree():
    assert C.agree(1.0, 1.0 + 1e-9, np.float64) == (True, "")
    assert not C.agree(1.0, 1.001, np.float64)[0]
    assert C.agree(1.0, 1.00001, np.float32)[0]
    g = np.linspace(-1, 1, 11)
    assert C.agree((0.5, g), (0.5, g.copy()), np.float64)[0]
    bad = g.copy()
    bad[3] += 0.01
    ok, why = C.agree((0.5, bad), (0.5, g), np.float64)
    assert not ok and "element 3" in why
    assert not C.agree(g, (g, g), np.float64)[0]             # wrong structure
    assert C.agree(float("nan"), float("nan"), np.float64)[0]


def test_agree_lets_one_float32_hessian_jump_through_and_says_so():
    # huber's Hessian jumps from 1 to 0 at |r| = delta: a float32 peer may round an element
    # onto the other side. One such element per million (at least one) passes, with a note.
    g, h = np.linspace(-1, 1, 1000), np.ones(1000)
    jumped = h.copy()
    jumped[7] = 0.0
    ok, note = C.agree((g, jumped), (g, h), np.float32, "grad_hess", fl.huber)
    assert ok and note == "1 of 1000 float32 Hessian elements differ (at a jump)"
    assert not C.agree((g, jumped), (g, h), np.float32, "grad_hess", fl.mse)[0]   # smooth
    assert not C.agree((g, jumped), (g, h), np.float32, "grad_hess")[0]           # unknown
    jumped[8] = 0.0
    assert not C.agree((g, jumped), (g, h), np.float32, "grad_hess", fl.huber)[0]  # two
    jumped[8] = 1.0
    assert not C.agree((g, jumped), (g, h), np.float64, "grad_hess", fl.huber)[0]  # float64
    assert not C.agree((g, jumped), (g, h), np.float32, "grad", fl.huber)[0]   # not a Hessian
    bad_grad = g.copy()
    bad_grad[7] += 0.5
    assert not C.agree((bad_grad, h), (g, h), np.float32, "grad_hess", fl.huber)[0]


def test_parse_and_format_sizes():
    assert C.parse_sizes("1e3, 10^5,10**2,1000000") == [1000, 100000, 100, 1000000]
    assert [C.format_size(n) for n in (1000, 10 ** 8, 1500, 7)] == ["1e3", "1e8", "1500", "7"]
    with pytest.raises(ValueError):
        C.parse_size("1.5")


def test_cases_are_reproducible():
    a = C.make_case("huber", 257, np.float32)
    b = C.make_case("huber", 257, np.float32)
    assert all(np.array_equal(x, y) for x, y in zip(a.inputs, b.inputs))
    assert a.inputs[1].dtype == np.float32 and a.params == {"delta": 1.0}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_a, n_b, n_out", [(0, 0, 0), (5, 5, 5), (10000, 10000, 10000),
                                            (9000, 3000, 20000), (9000, 9000, 100),
                                            (10000, 10000, 20000), (0, 5, 3), (5, 0, 0)])
def test_stream_probe_kernels(dtype, n_a, n_b, n_out):
    rng = np.random.default_rng(1)
    a = rng.standard_normal(n_a).astype(dtype)
    b = rng.standard_normal(n_b).astype(dtype)
    words = np.concatenate([a.view(np.uint32), b.view(np.uint32)])
    xor = int(np.bitwise_xor.reduce(words)) if words.size else 0
    for threads in (1, 2):
        assert _parallel.stream_read(a, b, threads) == xor
        out = np.full(n_out, np.nan, dtype=dtype)
        aligned = n_a == n_b == n_out
        read = _parallel.stream_read_write(a, b, out, threads)
        assert read == (0 if aligned else xor)                            # every word read
        assert not np.isnan(out).any()                                    # every element written
        if aligned:
            np.testing.assert_array_equal(out, a + b)
            out, out2 = np.full(n_out, np.nan, dtype), np.full(n_out, np.nan, dtype)
            assert _parallel.stream_read_write(a, b, out, threads, out2) == 0
            np.testing.assert_array_equal(out, a + b)
            np.testing.assert_array_equal(out2, a - b)
        else:
            with pytest.raises(ValueError, match="one length"):
                _parallel.stream_read_write(a, b, out, threads, out.copy())


def test_timer_keeps_every_sample():
    calls = []
    t = timing.measure(lambda: calls.append(1), TINY)
    s = t.summary()
    assert TINY.min_repeats <= s["repeats"] <= TINY.max_repeats
    assert len(calls) == 1 + s["repeats"] * s["loops"]      # one calibration call, then samples
    assert s["min"] <= s["median"] <= s["max"]


def test_side_by_side_timing_alternates_its_samples():
    import time
    calls = []

    def quick():
        calls.append("a")

    def slow():                          # ~20x quick: fewer inner loops per sample
        calls.append("b")
        time.sleep(2e-5)

    budget = timing.Budget(seconds=0.01, sample_time=1e-4, min_repeats=3, max_repeats=6)
    mine, theirs = timing.measure_side_by_side(quick, slow, budget)
    assert len(mine.samples) == len(theirs.samples)
    assert budget.min_repeats <= len(mine.samples) <= budget.max_repeats
    assert mine.loops > theirs.loops >= 1
    assert calls[:2] == ["a", "b"]                    # one calibration call each
    a, b = "a" * mine.loops, "b" * theirs.loops       # then ab, ba, ab, ...: each goes first
    assert "".join(calls[2:]) == "".join(a + b if k % 2 == 0 else b + a
                                         for k in range(len(mine.samples)))
    assert max(mine.samples) < min(theirs.samples)


def test_side_by_side_timing_pauses_before_every_sample():
    calls = []
    budget = timing.Budget(seconds=0.001, sample_time=1e-12, min_repeats=4, max_repeats=4)
    mine, theirs = timing.measure_side_by_side(lambda: calls.append("a"),
                                               lambda: calls.append("b"), budget,
                                               pause=lambda: calls.append("|"), warm_up=True)
    assert mine.loops == theirs.loops == 1
    # calibrations, then ab, ba, ab, ba: each sample after a pause and an untimed call
    assert "".join(calls) == "|a|b" + "|aa|bb|bb|aa" * 2
    calls.clear()
    timing.measure_side_by_side(lambda: calls.append("a"), lambda: calls.append("b"), budget,
                                warm_up=True)
    assert "".join(calls) == "ab" + "aabbbbaa" * 2       # untimed calls without pauses
    calls.clear()
    timing.measure_side_by_side(lambda: calls.append("a"), lambda: calls.append("b"), budget,
                                pause=lambda: calls.append("|"))
    assert "".join(calls) == "|a|b" + "|a|b|b|a" * 2     # pauses without untimed calls


def test_plain_progress_line():
    stream = io.StringIO()
    progress = command.Progress(20, stream=stream)
    for _ in range(20):
        progress.update(1, "mse value")
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("bench: 5%") and "bench: 100%" in lines[-2]
    assert lines[-1].startswith("bench: done in")


def test_command_line_run(tmp_path, capsys):
    out = tmp_path / "report"
    code = cli.main(["bench", "--quick", "--losses", "mse", "--sizes", "1e3", "--dtypes",
                     "float32", "--threads", "1", "--peers", "none", "--seconds", "0.002",
                     "--out", str(out), "--no-plots", "--no-progress", "--json"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["settings"]["sizes"] == [1000] and printed["settings"]["quick"] is True
    assert (out / "results.json").exists() and (out / "report.md").exists()
    assert cli.main(["bench", "--losses", "no_such_loss", "--out", ""]) == 2
    for argv in (["bench", "--help"], ["bench", "compare", "--help"]):
        with pytest.raises(SystemExit) as exit_:
            cli.main(argv)
        assert exit_.value.code == 0
    assert "--memory-budget" in capsys.readouterr().out


def test_classes_sets_the_row_wise_losses_k(tmp_path, capsys):
    code = cli.main(["bench", "--quick", "--losses", "cross_entropy,mse", "--sizes", "4e3",
                     "--dtypes", "float32", "--threads", "1", "--peers", "none", "--classes",
                     "1000", "--seconds", "0.002", "--out", "", "--no-progress", "--json"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["settings"]["classes"] == 1000
    assert C.make_case("cross_entropy", 4000, "float32", classes=1000).inputs[1].shape == (4, 1000)
    assert C.make_case("mse", 4000, "float32", classes=1000).inputs[1].shape == (4000,)
    assert C.make_case("cross_entropy", 4000, "float32").inputs[1].shape == (400, 10)
    assert cli.main(["bench", "--classes", "0", "--out", ""]) == 2


# ------------------------------------------------------------------------ benchmarks/ suite


class _FakeBenchmark:
    """Stands in for pytest-benchmark's fixture: calls the function once."""

    def __init__(self):
        self.group, self.extra_info, self.calls = None, {}, 0

    def __call__(self, fn, *args):
        self.calls += 1
        return fn(*args)


def test_benchmark_suite_is_driven_by_the_same_registry(monkeypatch):
    import importlib.util
    import pathlib
    monkeypatch.setenv("FASTLOSS_BENCH_SIZES", "1e3")
    monkeypatch.setenv("FASTLOSS_BENCH_THREADS", "1")
    monkeypatch.setenv("FASTLOSS_BENCH_PEERS", "none")
    path = pathlib.Path(__file__).parent.parent / "benchmarks" / "test_losses.py"
    spec = importlib.util.spec_from_file_location("_bench_suite_under_test", path)
    suite = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(suite)
    specs = suite._specs()
    assert {(s[0], s[3]) for s in specs} == {(l, op) for l in fl.available() for op in C.OPS
                                             if C.supports(fl.get(l), op)}
    assert ("mse", "grad_hess") in {(s[0], s[3]) for s in specs}
    assert {s[4] for s in specs} == {"fastloss", "numpy"} and {s[1] for s in specs} == {1000}
    for spec_ in [s for s in specs if s[0] == "huber"]:
        fake = _FakeBenchmark()
        suite.test_loss(fake, spec_)
        assert fake.calls == 1 and fake.group.startswith("huber ")
    for spec_ in suite._floor_specs():
        fake = _FakeBenchmark()
        suite.test_floor(fake, spec_)
        assert fake.calls == 1 and fake.group.startswith("floor ")
    # a wrong result fails the benchmark before anything is timed
    original = C.fastloss_impl

    def wrong_grad(case, op, n_threads):
        impl = original(case, op, n_threads)
        impl.finish = lambda g: g * 1.01
        return impl

    monkeypatch.setattr(C, "fastloss_impl", wrong_grad)
    fake = _FakeBenchmark()
    with pytest.raises(AssertionError, match="fastloss disagrees with numpy"):
        suite.test_loss(fake, ("huber", 1000, "float64", "grad", "fastloss", 1))
    assert fake.calls == 0


@pytest.mark.parametrize("peer_name", ["torch", "sklearn", "jax"])
def test_installed_peers_measure_the_default_logistic_and_softmax_losses(peer_name):
    # Default parameters (pos_weight 1.0, no smoothing) are the peers' plain losses: each
    # installed peer must agree with fastloss on them, not report them unsupported.
    from fastloss.bench import peers
    pytest.importorskip({"sklearn": "sklearn"}.get(peer_name, peer_name),
                        reason=f"{peer_name} is an optional benchmark peer")
    peer = peers.PEERS[peer_name]
    losses = ["binary_cross_entropy_with_logits", "cross_entropy"]
    results = runner.run(tiny_settings(losses=losses, dtypes=["float64", "float32"],
                                       ops=["value", "grad"], peers=[peer]))
    rows = _rows(results, impl=peer_name)
    assert {r["loss"] for r in rows} == set(losses)
    assert {r["status"] for r in rows} == {"ok"}, [(r["loss"], r["reason"]) for r in rows]


def test_grad_hess_rows_only_for_losses_with_a_hessian():
    results = runner.run(tiny_settings(losses=["mse", "triplet_margin", "l2_penalty"],
                                       ops=["grad", "grad_hess"]))
    assert results["failures"] == []
    measured = {(r["loss"], r["op"]) for r in results["rows"]}
    assert measured == {("mse", "grad"), ("mse", "grad_hess"), ("triplet_margin", "grad"),
                        ("l2_penalty", "grad")}
    assert [C.supports(C.lookup(name), "grad_hess") for name in ("mse", "cross_entropy",
            "triplet_margin", "contrastive", "l1_penalty")] == [True, True, False, False, False]


@pytest.mark.parametrize("peer_name", ["torch", "sklearn", "jax"])
def test_installed_peers_grad_hess_adapters_agree(peer_name):
    # Each installed peer's (gradient, Hessian diagonal) must agree with the NumPy reference
    # on every loss it claims, both dtypes; the losses it cannot give a diagonal for are
    # reported unsupported, never measured wrong.
    from fastloss.bench import peers
    pytest.importorskip(peer_name, reason=f"{peer_name} is an optional benchmark peer")
    peer = peers.PEERS[peer_name]
    claimed = {"torch": ["mse", "mae", "huber", "binary_cross_entropy_with_logits", "focal",
                         "hinge", "squared_hinge", "binary_cross_entropy", "kl_divergence",
                         "categorical_cross_entropy"],
               "sklearn": ["mse", "huber", "binary_cross_entropy_with_logits",
                           "cross_entropy"],
               "jax": ["mse", "mae", "huber", "quantile", "log_cosh",
                       "binary_cross_entropy_with_logits", "focal", "hinge", "squared_hinge",
                       "binary_cross_entropy", "kl_divergence", "categorical_cross_entropy"]}
    unsupported = {"torch": ["cross_entropy"], "sklearn": ["mae", "quantile"],
                   "jax": ["cross_entropy"]}
    losses = claimed[peer_name] + unsupported[peer_name]
    results = runner.run(tiny_settings(losses=losses, dtypes=["float64", "float32"],
                                       ops=["grad_hess"], peers=[peer]))
    rows = _rows(results, impl=peer_name)
    assert {r["loss"] for r in rows if r["status"] == "ok"} == set(claimed[peer_name]), \
        [(r["loss"], r["status"], r["reason"]) for r in rows if r["status"] != "ok"]
    assert {r["loss"] for r in rows if r["status"] == "unsupported"} == \
        set(unsupported[peer_name])


@pytest.mark.parametrize("peer_name", ["torch", "jax"])
def test_installed_peers_formula_adapters_agree(peer_name):
    # The losses a peer has no single function for are written in its ops (focal as
    # torchvision's sigmoid_focal_loss, hinge with the midpoint subgradient, ...): each must
    # agree with fastloss at the default parameters, values and gradients, in both dtypes.
    from fastloss.bench import peers
    pytest.importorskip(peer_name, reason=f"{peer_name} is an optional benchmark peer")
    peer = peers.PEERS[peer_name]
    losses = ["focal", "hinge", "squared_hinge", "binary_cross_entropy", "kl_divergence",
              "categorical_cross_entropy"]
    results = runner.run(tiny_settings(losses=losses, dtypes=["float64", "float32"],
                                       ops=["value", "grad"], peers=[peer]))
    rows = _rows(results, impl=peer_name)
    assert {r["loss"] for r in rows} == set(losses)
    assert {r["status"] for r in rows} == {"ok"}, [(r["loss"], r["reason"]) for r in rows]


def test_settle_waits_for_spinning_threads_to_stop():
    # A thread pool spinning after its last task (OpenBLAS's, ~0.1 s) shares the cores with
    # the next measurement: settle() waits until no other thread of the process is running.
    import sys
    import threading
    import time
    if not sys.platform.startswith("linux"):
        pytest.skip("settle() reads the threads' states from /proc (Linux)")
    assert timing.settle() < 0.1                         # nothing else runs: no wait

    def spin(seconds):          # hashing a large buffer releases the GIL: the thread runs
        import hashlib            # (state R) while the caller polls
        block = bytes(1 << 20)
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            hashlib.sha256(block).digest()

    spinner = threading.Thread(target=spin, args=(0.15,))
    spinner.start()
    waited = timing.settle()
    assert not spinner.is_alive() and 0.1 < waited < timing.SETTLE_LIMIT
    spinner.join()
    spinner = threading.Thread(target=spin, args=(2 * timing.SETTLE_LIMIT,))
    spinner.start()
    try:
        assert timing.SETTLE_LIMIT <= timing.settle() < 2 * timing.SETTLE_LIMIT   # capped
    finally:
        spinner.join()
