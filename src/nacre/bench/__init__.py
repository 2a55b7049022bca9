"""Benchmarks: Strata-Sword, XSTest over-refusal, the Constructive Benchmark and harmful-request sets.

A :class:`BenchRunner` sends every item of a set to a target (optionally behind nacre's guard), judges the last
reply, stores everything, and summarises the run with confidence intervals; :func:`write_report` turns summaries
into one self-contained HTML file.
"""

from nacre.bench._metrics import constructive_score, summarize_run
from nacre.bench._report import render_report, write_report
from nacre.bench._runner import BenchConfig, BenchRunner, load_item_results
from nacre.bench._specs import BENCHMARKS, BenchSpec
from nacre.bench._types import ItemResult

__all__ = [
    "BENCHMARKS",
    "BenchConfig",
    "BenchRunner",
    "BenchSpec",
    "ItemResult",
    "constructive_score",
    "load_item_results",
    "render_report",
    "summarize_run",
    "write_report",
]
