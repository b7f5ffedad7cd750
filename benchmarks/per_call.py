"""Per-call cost at n = 10 (10 x 3 for cross_entropy): fastloss, the NumPy reference and the
installed peers, min of timeit repeats. The same as ``fastloss bench per-call``:

    python benchmarks/per_call.py [--losses mse,huber] [--peers none] [--json]
"""

import argparse
import sys

from fastloss.bench import per_call

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    per_call.add_arguments(parser)
    sys.exit(per_call.main(parser.parse_args()))
