"""Evaluation datasets: where they live on disk and how to read their records.

The sets themselves are not shipped (each keeps its own licence); point nacre at a folder holding them with
``--datasets`` or ``NACRE_DATASETS``. Red-team campaigns read goals from here; benchmarks read prompts.
"""

from nacre.datasets._goals import GOAL_SETS, Goal, datasets_root, load_goals

__all__ = ["GOAL_SETS", "Goal", "datasets_root", "load_goals"]
