"""Evaluation datasets: the shipped sets (each with its licence and MANIFEST), user JSONL files, goal lists.

Benchmarks read :class:`BenchItem` lists (:func:`load_items`); red-team campaigns read :class:`Goal` lists
(:func:`load_goals`). ``--datasets DIR`` or ``NACRE_DATASETS`` point at another copy of the same layout.
"""

from nacre.datasets._goals import GOAL_SETS, Goal, load_goals
from nacre.datasets._items import (
    DATASETS,
    BenchItem,
    DatasetInfo,
    datasets_root,
    load_items,
    read_jsonl,
    shipped_root,
)

__all__ = [
    "DATASETS",
    "GOAL_SETS",
    "BenchItem",
    "DatasetInfo",
    "Goal",
    "datasets_root",
    "load_goals",
    "load_items",
    "read_jsonl",
    "shipped_root",
]
