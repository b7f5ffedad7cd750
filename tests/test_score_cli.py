"""`fastloss score`: results, input formats, progress, and one-line errors for user mistakes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastloss as fl
from fastloss import cli, scoring

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(11)
    y = rng.standard_normal(5000)
    p = y + rng.standard_normal(5000)
    w = rng.random(5000)
    for name, arr in (("y", y), ("p", p), ("w", w)):
        np.save(tmp_path / f"{name}.npy", arr)
    return tmp_path, y, p, w


def run(argv, capsys):
    code = cli.main(["score", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_matches_the_in_memory_losses(files, capsys):
    d, y, p, w = files
    code, out, err = run(["--loss", "mse", "--loss", "huber:delta=2", "--loss", "quantile",
                          "--y-true", d / "y.npy", "--y-pred", d / "p.npy",
                          "--weights", d / "w.npy", "--chunk-size", 700, "--json"], capsys)
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert doc["rows"] == 5000 and doc["rows_per_second"] > 0
    losses = doc["losses"]
    assert list(losses) == ["mse", "huber:delta=2", "quantile"]
    assert losses["mse"]["mean"] == pytest.approx(fl.mse(y, p, sample_weight=w), rel=1e-12)
    assert losses["huber:delta=2"]["mean"] == pytest.approx(
        fl.huber(y, p, sample_weight=w, delta=2.0), rel=1e-12)
    assert losses["huber:delta=2"]["params"] == {"delta": 2.0}
    assert losses["quantile"]["params"] == {"alpha": 0.5}
    assert losses["quantile"]["weight_total"] == pytest.approx(w.sum(), rel=1e-12)
    assert losses["quantile"]["count"] == 5000


def test_table(files, capsys):
    d, y, p, _ = files
    code, out, err = run(["--loss", "mae", "--loss", "log_cosh", "--y-true", d / "y.npy",
                          "--y-pred", d / "p.npy"], capsys)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["loss", "mean", "sum", "weight_total", "count"]
    mae_row = lines[1].split()
    assert mae_row[0] == "mae" and float(mae_row[1]) == pytest.approx(fl.mae(y, p), rel=1e-12)
    assert lines[2].split()[0] == "log_cosh"
    assert "5,000 rows in" in lines[-1] and "rows/s" in lines[-1]


def test_npz_members_and_raw_binary(tmp_path, capsys):
    rng = np.random.default_rng(2)
    y = rng.standard_normal((2000, 3)).astype(np.float32)
    p = rng.standard_normal((2000, 3)).astype(np.float32)
    np.savez(tmp_path / "a.npz", truth=y)
    np.savez_compressed(tmp_path / "b.npz", pred=p)
    p.tofile(tmp_path / "p.raw")
    want = fl.mse(y, p)
    code, out, _ = run(["--loss", "mse", "--y-true", f"{tmp_path / 'a.npz'}:truth",
                        "--y-pred", f"{tmp_path / 'b.npz'}:pred", "--json"], capsys)
    assert code == 0
    assert json.loads(out)["losses"]["mse"]["mean"] == pytest.approx(want, rel=1e-12)
    code, out, _ = run(["--loss", "mse", "--y-true", f"{tmp_path / 'a.npz'}:truth",
                        "--y-pred", tmp_path / "p.raw", "--dtype", "float32",
                        "--shape=-1,3", "--json"], capsys)
    assert code == 0
    assert json.loads(out)["losses"]["mse"]["mean"] == pytest.approx(want, rel=1e-12)
    code, out, _ = run(["--loss", "mse", "--y-true", f"{tmp_path / 'a.npz'}:truth",
                        "--y-pred", tmp_path / "p.raw", "--dtype", "float32",
                        "--shape", "auto,3", "--json"], capsys)
    assert code == 0
    assert json.loads(out)["losses"]["mse"]["mean"] == pytest.approx(want, rel=1e-12)


def test_progress_bar_on_stderr_only(files, capsys, monkeypatch):
    d, *_ = files
    monkeypatch.setattr(scoring, "PROGRESS_DELAY", 0.0)
    code, out, err = run(["--loss", "mse", "--y-true", d / "y.npy", "--y-pred", d / "p.npy",
                          "--chunk-size", 500, "--progress", "--json"], capsys)
    assert code == 0
    assert "rows/s" in err
    assert json.loads(out)["rows"] == 5000          # stdout stays clean JSON
    code, out, err = run(["--loss", "mse", "--y-true", d / "y.npy", "--y-pred", d / "p.npy",
                          "--no-progress"], capsys)
    assert code == 0 and err == ""


def _bad_inputs(d):
    np.save(d / "short.npy", np.zeros(10))
    np.save(d / "wide.npy", np.zeros((5000, 2)))
    np.save(d / "text.npy", np.array(["x"] * 5000))
    np.save(d / "neg.npy", -np.ones(5000))
    raw = (d / "y.npy").read_bytes()
    (d / "cut.npy").write_bytes(raw[:-100])
    (d / "dir.npy").mkdir()
    np.zeros(5000, np.float32).tofile(d / "p.bin")
    np.savez(d / "a.npz", y=np.zeros(5000))
    good = ["--y-true", d / "y.npy", "--y-pred", d / "p.npy"]
    return {
        "missing file": (["--loss", "mse", "--y-true", d / "nope.npy", "--y-pred", d / "p.npy"],
                         "y_true: no such file"),
        "directory": (["--loss", "mse", "--y-true", d / "y.npy", "--y-pred", d / "dir.npy"],
                      "is a directory"),
        "row mismatch": (["--loss", "mse", "--y-true", d / "y.npy", "--y-pred", d / "p.npy",
                          "--weights", d / "short.npy"], "same number of rows"),
        "shape mismatch": (["--loss", "mse", "--y-true", d / "y.npy", "--y-pred",
                            d / "wide.npy"], "same shape"),
        "dtype": (["--loss", "mse", "--y-true", d / "text.npy", "--y-pred", d / "p.npy"],
                  "expected a real numeric array"),
        "truncated": (["--loss", "mse", "--y-true", d / "cut.npy", "--y-pred", d / "p.npy"],
                      "truncated"),
        "unknown loss": (["--loss", "msee", *good], "unknown loss 'msee'"),
        "unknown parameter": (["--loss", "huber:beta=1", *good], "unexpected parameter"),
        "bad parameter": (["--loss", "quantile:alpha=2", *good], "alpha must be < 1.0"),
        "bad spec": (["--loss", "huber:delta", *good], "bad loss spec"),
        "raw without dtype": (["--loss", "mse", "--y-true", d / "y.npy", "--y-pred",
                               d / "p.bin"], "give a dtype"),
        "raw size": (["--loss", "mse", "--y-true", d / "y.npy", "--y-pred", d / "p.bin",
                      "--dtype", "float64", "--shape", "5000"], "needs"),
        "shape without dtype": (["--shape", "5000", "--loss", "mse", *good], "needs --dtype"),
        "npz member": (["--loss", "mse", "--y-true", f"{d / 'a.npz'}:z", "--y-pred",
                        d / "p.npy"], "no array named 'z'"),
        "negative weights": (["--loss", "mse", *good, "--weights", d / "neg.npy"],
                             "sample_weight must be non-negative"),
    }


def test_user_errors_are_one_line_with_exit_code_1(files, capsys):
    d, *_ = files
    for case, (argv, message) in _bad_inputs(d).items():
        code, out, err = run(argv, capsys)
        assert code == 1, case
        assert out == "", case                      # nothing reported, nothing half written
        assert err.count("\n") == 1 and err.startswith("fastloss score: error: "), (case, err)
        assert message in err, (case, err)


def test_real_process_no_traceback(files):
    d, *_ = files
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("FASTLOSS_DEBUG", None)
    for argv, message in [
            (["--loss", "mse", "--y-true", d / "missing.npy", "--y-pred", d / "p.npy"],
             "no such file"),
            (["--loss", "nope", "--y-true", d / "y.npy", "--y-pred", d / "p.npy"],
             "unknown loss")]:
        proc = subprocess.run([sys.executable, "-m", "fastloss", "score", *map(str, argv)],
                              capture_output=True, text=True, env=env, timeout=60)
        assert proc.returncode == 1
        assert proc.stdout == ""
        assert "Traceback" not in proc.stderr and message in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "fastloss", "score", "--loss", "mse",
                           "--y-true", str(d / "y.npy"), "--y-pred", str(d / "p.npy"), "--json"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0 and json.loads(proc.stdout)["rows"] == 5000


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["score", "--loss", "mse", "--y-true", "y.npy"])     # --y-pred missing
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        cli.main(["score", "--loss", "mse", "--y-true", "a", "--y-pred", "b",
                  "--chunk-size", "0"])
    assert exc.value.code == 2
    assert "positive integer" in capsys.readouterr().err


def test_json_is_strict_for_nan_means(files, capsys):
    d, *_ = files
    np.save(d / "zero.npy", np.zeros(5000))
    code, out, _ = run(["--loss", "mse", "--y-true", d / "y.npy", "--y-pred", d / "p.npy",
                        "--weights", d / "zero.npy", "--json"], capsys)
    assert code == 0
    doc = json.loads(out, parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    assert doc["losses"]["mse"]["mean"] == "NaN" and doc["losses"]["mse"]["weight_total"] == 0
