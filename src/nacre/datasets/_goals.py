"""Harmful-behaviour goals for red-team campaigns: named sets and user JSONL files."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nacre.datasets._items import datasets_root, read_jsonl
from nacre.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Goal:
    """One behaviour an attack tries to elicit.

    Attributes:
        id: Unique within a campaign, ``<set>:<record id>`` (e.g. ``harmbench:bio_warfare_list_home``).
        text: The goal as written in the dataset.
        category: Harm category for per-category results, when the set has one.
        language: ``en`` or ``zh``.
        meta: Other fields of the record (level, attack method, ...).
    """

    id: str
    text: str
    category: str | None = None
    language: str = "en"
    meta: Mapping[str, Any] = field(default_factory=dict)


def _harmbench(root: Path) -> list[Goal]:
    return [
        Goal(f"harmbench:{r['id']}", r["goal"], category=r.get("semantic_category"))
        for r in read_jsonl(root / "harmbench_standard200" / "behaviors.jsonl")
    ]


def _advbench(root: Path) -> list[Goal]:
    return [Goal(f"advbench:{r['id']}", r["goal"]) for r in read_jsonl(root / "advbench" / "harmful_behaviors.jsonl")]


def _advbench50(root: Path) -> list[Goal]:
    return [
        Goal(f"advbench50:{r['id']}", r["goal"], category=(r.get("category") or "").split(",")[0] or None)
        for r in read_jsonl(root / "advbench_subset50" / "behaviors.jsonl")
    ]


def _strata_sword_l1(root: Path) -> list[Goal]:
    # Level 1 holds the plain requests; levels 2-3 are those requests already wrapped in attacks, so a campaign
    # (which applies its own method) starts from level 1 in both languages.
    goals: list[Goal] = []
    for lang, stem in (("en", "en"), ("zh", "cn")):
        for r in read_jsonl(root / "strata_sword" / f"strata_sword_{stem}_level_1.jsonl"):
            goals.append(Goal(f"strata-sword:{r['id']}", r["prompt"], language=lang, meta={"level": 1}))
    return goals


GOAL_SETS: Mapping[str, tuple[str, Callable[[Path], list[Goal]]]] = {
    "harmbench": ("HarmBench standard behaviours (200)", _harmbench),
    "advbench": ("AdvBench harmful behaviours (520)", _advbench),
    "advbench50": ("the 50-goal AdvBench subset used by PAIR, TAP and Crescendo", _advbench50),
    "strata-sword": ("Strata-Sword level-1 requests, English and Chinese (200)", _strata_sword_l1),
}


def _from_file(path: Path) -> list[Goal]:
    goals: list[Goal] = []
    seen: set[str] = set()
    for index, row in enumerate(read_jsonl(path), 1):
        text = row.get("goal", row.get("prompt"))
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"{path} record {index}: needs a non-empty string field 'goal' (or 'prompt')")
        gid = f"{path.stem}:{row.get('id', index)}"
        if gid in seen:
            raise ConfigError(f"{path} record {index}: duplicate id {row.get('id')!r}")
        seen.add(gid)
        language = row.get("language") or ("zh" if any("\u4e00" <= ch <= "\u9fff" for ch in text) else "en")
        category = row.get("category")
        extra = {k: v for k, v in row.items() if k not in {"goal", "prompt", "id", "category", "language"}}
        goals.append(Goal(gid, text, category=str(category) if category else None, language=str(language), meta=extra))
    return goals


def load_goals(spec: str, *, root: Path | None = None, limit: int | None = None) -> list[Goal]:
    """Load goals from a named set or a JSONL file.

    Args:
        spec: A set name (see :data:`GOAL_SETS`) or a path to a JSONL file whose lines have ``goal`` (or
            ``prompt``) and optionally ``id``, ``category``, ``language``.
        root: The datasets folder for named sets (default: ``$NACRE_DATASETS``, else the shipped copies).
        limit: Keep only the first ``limit`` goals.

    Raises:
        ConfigError: Unknown set, missing files, or malformed records.
    """
    if spec in GOAL_SETS:
        goals = GOAL_SETS[spec][1](datasets_root(root))
    elif spec.endswith(".jsonl") or Path(spec).is_file():
        goals = _from_file(Path(spec))
    else:
        raise ConfigError(f"unknown goal set {spec!r}; choose one of {', '.join(GOAL_SETS)} or give a .jsonl file")
    if not goals:
        raise ConfigError(f"goal set {spec!r} is empty")
    return goals[:limit] if limit is not None else goals
