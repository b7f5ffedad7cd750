"""`fastloss bench`: every registered loss against the NumPy reference, the peers that are
installed (PyTorch, scikit-learn, JAX) and the machine's memory-bandwidth floor.

Modules: ``cases`` (inputs and implementations, shared with ``benchmarks/``), ``peers``,
``probe`` (bandwidth floor), ``timing``, ``runner`` (the run), ``report`` (results.json,
report.md, the summary), ``plots``, ``compare``, ``machine``, ``command`` (the CLI).

    >>> from fastloss import bench
    >>> results = bench.run(bench.Settings(losses=["mse"], sizes=[1000], peers=[]))  # doctest: +SKIP
    >>> bench.report.write(results, "bench-report")                                   # doctest: +SKIP
"""

from fastloss.bench import report
from fastloss.bench.command import add_arguments, main
from fastloss.bench.runner import Settings, run

__all__ = ["Settings", "run", "report", "add_arguments", "main"]
