"""The performance regression gate: compare two result files, or two revisions A/B."""

from vimbench.compare.sources import Benchmark, ResultSet, SourceError, load
from vimbench.compare.stats import mann_whitney, median, quantile
from vimbench.compare.verdict import Comparison, compare_benchmarks, compare_sets

__all__ = [
    "Benchmark",
    "ResultSet",
    "SourceError",
    "load",
    "mann_whitney",
    "median",
    "quantile",
    "Comparison",
    "compare_benchmarks",
    "compare_sets",
]
