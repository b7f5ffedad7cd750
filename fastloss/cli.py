"""The `fastloss` command line: info, list, bench, score."""

import argparse
import json
import sys


def _cmd_info(args):
    import fastloss
    if args.json:
        print(json.dumps(fastloss.config(), indent=2))
    else:
        fastloss.show_config()
    return 0


def _cmd_list(args):
    import fastloss
    rows = [{"name": name, "family": fastloss.get(name).family,
             "params": fastloss.get(name).defaults} for name in fastloss.available()]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            params = ", ".join(f"{k}={v}" for k, v in row["params"].items())
            print(f"{row['name']:<36} {row['family'] or '':<12} {params}")
    return 0


def _cmd_bench(args):
    from fastloss.bench import command
    return command.main(args, " ".join(["fastloss"] + sys.argv[1:]))


def _cmd_score(args):
    from fastloss import _score_cli
    return _score_cli.main(args)


def build_parser():
    parser = argparse.ArgumentParser(prog="fastloss", description="Fast loss functions.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="version, OpenMP, threads, compiler flags, SIMD level")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_info)
    p = sub.add_parser("list", help="the registered losses and their parameters")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_list)
    p = sub.add_parser("bench", help="benchmark report: every loss against NumPy, peers and "
                                     "the bandwidth floor ('bench compare OLD NEW')")
    from fastloss.bench import command
    command.add_arguments(p)
    p.set_defaults(func=_cmd_bench)
    p = sub.add_parser("score", help="score prediction files with several losses in one pass")
    from fastloss import _score_cli
    _score_cli.add_arguments(p)
    p.set_defaults(func=_cmd_score)
    p = sub.add_parser("accuracy", help="worst error per loss in ulp against mpmath (50 digits)")
    from fastloss import accuracy
    accuracy.add_arguments(p)
    p.set_defaults(func=accuracy.main)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
