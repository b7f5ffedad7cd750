"""`fastloss score`: score prediction files with one or several losses in one streamed pass.

Every user error (missing file, directory, truncated or non-numeric file, row or shape mismatch,
unknown loss or parameter) is one line on stderr and exit code 1, found before any chunk is
scored; the table or JSON goes to stdout only once the whole input has been scored.
Set FASTLOSS_DEBUG=1 to get the traceback instead.
"""

import argparse
import json
import math
import os
import sys
import time

EXIT_INPUT_ERROR = 1


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _shape(text):
    try:
        shape = tuple(-1 if part.strip() == "auto" else int(part)
                      for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a shape such as 1000000 or auto,10, "
                                         f"got {text!r}") from None
    if not shape:
        raise argparse.ArgumentTypeError("empty shape")
    return shape


def add_arguments(p):
    p.description = ("Score predictions with one or several losses in a single streamed pass "
                     "(memory stays bounded by the chunk size). Inputs: .npy files "
                     "(memory-mapped), FILE.npz:NAME, or raw binary with --dtype/--shape.")
    p.add_argument("--loss", action="append", required=True, metavar="SPEC",
                   help="a loss name, optionally with parameters: huber:delta=2 "
                        "(repeat for several losses; see `fastloss list`)")
    p.add_argument("--y-true", required=True, metavar="FILE", help="targets")
    p.add_argument("--y-pred", required=True, metavar="FILE", help="predictions")
    p.add_argument("--weights", metavar="FILE", help="sample weights (optional)")
    p.add_argument("--chunk-size", type=_positive_int, metavar="ROWS",
                   help="rows per chunk, rounded up to whole 4096-element blocks; the result "
                        "does not depend on it (default: a few MB of all inputs)")
    p.add_argument("--dtype", help="dtype of raw binary inputs (e.g. float32)")
    p.add_argument("--shape", type=_shape, metavar="N[,K...]",
                   help="shape of raw binary inputs, e.g. 1000000,10; the first entry may be auto "
                        "(rows from the file size; also --shape=-1,10)")
    p.add_argument("--threads", type=_positive_int, help="kernel threads (default: OpenMP's)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal; shown "
                        "once the work takes more than half a second)")
    p.add_argument("--json", action="store_true",
                   help="print the result as JSON (a NaN mean, e.g. of all-zero weights, is "
                        "the string \"NaN\"; infinities are \"Infinity\"/\"-Infinity\")")


def _finite_json(value):
    """Strict JSON: NaN and infinities as the strings "NaN", "Infinity", "-Infinity"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite_json(v) for k, v in value.items()}
    return value


def _fail(message):
    print(f"fastloss score: error: {message}", file=sys.stderr)
    return EXIT_INPUT_ERROR


def main(args):
    try:
        return _run(args)
    except (ValueError, TypeError, OSError) as exc:
        if os.environ.get("FASTLOSS_DEBUG"):
            raise
        return _fail(str(exc) or type(exc).__name__)


def _run(args):
    import fastloss as fl
    from fastloss import scoring

    if args.shape is not None and args.dtype is None:
        return _fail("--shape needs --dtype (they describe raw binary inputs)")
    scoring.resolve_losses(args.loss, {})      # unknown losses/parameters fail before any I/O
    inputs = [("y_true", args.y_true), ("y_pred", args.y_pred)]
    if args.weights is not None:
        inputs.append(("sample_weight", args.weights))
    sources = {}
    try:
        for name, path in inputs:
            raw = not (path.endswith(".npy") or ".npz" in path)
            sources[name] = scoring.open_array(path, name, dtype=args.dtype if raw else None,
                                               shape=args.shape if raw else None)
        progress = sys.stderr.isatty() if args.progress is None else args.progress
        start = time.perf_counter()
        with fl.threads(args.threads or fl.get_num_threads()):
            result = fl.score(args.loss, sources["y_true"], sources["y_pred"],
                              sample_weight=sources.get("sample_weight"),
                              chunk_size=args.chunk_size, progress=progress)
        seconds = time.perf_counter() - start
    finally:
        for source in sources.values():
            source.close()
    rate = result.rows / seconds if seconds > 0 else float("inf")
    if args.json:
        out = {"rows": result.rows, "seconds": seconds, "rows_per_second": rate,
               "losses": result.to_dict()}
        print(json.dumps(_finite_json(out), indent=2, allow_nan=False))
    else:
        print(result)
        print(f"{result.rows:,} rows in {seconds:.3f} s ({rate:,.0f} rows/s)")
    return 0
