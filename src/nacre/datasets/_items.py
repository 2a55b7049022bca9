"""Benchmark items: the shipped evaluation sets, user JSONL files with a declared schema, and Hugging Face sets.

Every set becomes a list of :class:`BenchItem`: the user turns to send (several for multi-turn items), plus
labels (XSTest's safe/unsafe, the Constructive Benchmark's risk level) and metadata (level, attack method,
profile, ...) that metrics break results down by.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from nacre.errors import ConfigError

ENV_VAR = "NACRE_DATASETS"


@dataclass(frozen=True, slots=True)
class BenchItem:
    """One benchmark prompt (or multi-turn script).

    Attributes:
        id: Unique within its set.
        turns: The user messages, in order; a benchmark gets a real reply to each before sending the next.
        language: ``en`` or ``zh``.
        category: A taxonomy id or the set's own category, if any.
        label: The set's label (XSTest ``safe``/``unsafe``; harmful sets ``unsafe``; Constructive ``R0``-``R2``).
        meta: Everything else (``level``, ``method``, ``type``, ``profile``, ``task``, ``expected``, ...).
    """

    id: str
    turns: tuple[str, ...]
    language: str = "en"
    category: str | None = None
    label: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """What ``nacre bench list`` shows about a set.

    Attributes:
        name: Registry name.
        description: One line.
        licence: The set's licence.
        source: Where it comes from.
        folder: Its folder under the datasets root.
    """

    name: str
    description: str
    licence: str
    source: str
    folder: str


def shipped_root() -> Path:
    """The folder of the evaluation sets that ship inside the package."""
    return Path(str(resources.files("nacre.data").joinpath("datasets")))


def datasets_root(explicit: Path | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The folder holding the evaluation sets: ``explicit``, else ``$NACRE_DATASETS``, else the shipped copies.

    Raises:
        ConfigError: If a given folder does not exist.
    """
    env = os.environ if environ is None else environ
    root = explicit or (Path(env[ENV_VAR]) if env.get(ENV_VAR) else None) or shipped_root()
    if not root.is_dir():
        raise ConfigError(f"datasets folder {root} does not exist")
    return root


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a JSONL file of objects.

    Raises:
        ConfigError: Missing file, a line that is not a JSON object (named by number), or not UTF-8.
    """
    if not path.is_file():
        raise ConfigError(f"{path} is missing: is the datasets folder complete?")
    rows: list[dict[str, Any]] = []
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ConfigError(f"{path} line {number}: not JSON ({exc.msg})") from None
                if not isinstance(row, dict):
                    raise ConfigError(f"{path} line {number}: expected a JSON object")
                rows.append(row)
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None
    return rows


def _strata_sword(root: Path) -> list[BenchItem]:
    items: list[BenchItem] = []
    for lang, stem in (("en", "en"), ("zh", "cn")):
        for level in (1, 2, 3):
            for r in read_jsonl(root / "strata_sword" / f"strata_sword_{stem}_level_{level}.jsonl"):
                method = r.get("attack_method") or "direct"
                # Multi-Turn rows are stored in one cell; the conversion split them into turns, which we send as a
                # real conversation.
                turns = tuple(r.get("turns_heuristic") or ()) or (r["prompt"],)
                items.append(
                    BenchItem(r["id"], turns, language=lang, label="unsafe", meta={"level": level, "method": method})
                )
    return items


def _xstest(root: Path) -> list[BenchItem]:
    return [
        BenchItem(
            f"xstest-{r['id']}",
            (r["prompt"],),
            category=r.get("type"),
            label=r.get("label"),
            meta={"type": r.get("type"), "focus": r.get("focus"), "note": r.get("note")},
        )
        for r in read_jsonl(root / "xstest" / "prompts.jsonl")
    ]


def _harmful(folder: str, file: str, prefix: str, category_key: str | None) -> Callable[[Path], list[BenchItem]]:
    def load(root: Path) -> list[BenchItem]:
        return [
            BenchItem(
                f"{prefix}-{r['id']}",
                (r["goal"],),
                category=(str(r.get(category_key)).split(",")[0] if category_key and r.get(category_key) else None),
                label="unsafe",
            )
            for r in read_jsonl(root / folder / file)
        ]

    return load


def _constructive(root: Path) -> list[BenchItem]:
    return [
        BenchItem(
            r["id"],
            tuple(r["turns"]),
            language=r["language"],
            category=r["category"],
            label=r["risk_level"],
            meta={k: r.get(k) for k in ("profile", "task", "expected", "attack", "risk_level")},
        )
        for r in read_jsonl(root / "constructive" / "items.jsonl")
    ]


DATASETS: Mapping[str, tuple[DatasetInfo, Callable[[Path], list[BenchItem]]]] = {
    "strata-sword": (
        DatasetInfo(
            "strata-sword",
            "Strata-Sword jailbreak prompts, en + zh, levels 1-3, 15 attack methods",
            "Apache-2.0 (README)",
            "Alibaba-AAIG/Strata-Sword",
            "strata_sword",
        ),
        _strata_sword,
    ),
    "xstest": (
        DatasetInfo(
            "xstest",
            "XSTest: 250 safe look-alike prompts + 200 unsafe contrasts",
            "CC BY 4.0",
            "paul-rottger/exaggerated-safety",
            "xstest",
        ),
        _xstest,
    ),
    "harmbench": (
        DatasetInfo(
            "harmbench", "HarmBench standard behaviours", "MIT", "centerforaisafety/HarmBench", "harmbench_standard200"
        ),
        _harmful("harmbench_standard200", "behaviors.jsonl", "harmbench", "semantic_category"),
    ),
    "advbench": (
        DatasetInfo("advbench", "AdvBench harmful behaviours", "MIT", "llm-attacks/llm-attacks", "advbench"),
        _harmful("advbench", "harmful_behaviors.jsonl", "advbench", None),
    ),
    "advbench50": (
        DatasetInfo(
            "advbench50",
            "the 50-goal AdvBench subset of PAIR",
            "MIT",
            "patrickrchao/JailbreakingLLMs",
            "advbench_subset50",
        ),
        _harmful("advbench_subset50", "behaviors.jsonl", "advbench50", "category"),
    ),
    "constructive": (
        DatasetInfo(
            "constructive",
            "nacre's Constructive Benchmark: R0-R2 items with user profiles, en + zh, some multi-turn",
            "Apache-2.0",
            "written for nacre",
            "constructive",
        ),
        _constructive,
    ),
}


def _from_file(path: Path) -> list[BenchItem]:
    """A user JSONL file: ``prompt`` (string), ``turns`` (strings) or ``messages`` (OpenAI user/assistant list)."""
    items: list[BenchItem] = []
    seen: set[str] = set()
    for index, row in enumerate(read_jsonl(path), 1):
        where = f"{path} record {index}"
        if isinstance(row.get("prompt"), str) and row["prompt"].strip():
            turns: tuple[str, ...] = (row["prompt"],)
        elif isinstance(row.get("turns"), list) and row["turns"] and all(isinstance(t, str) for t in row["turns"]):
            turns = tuple(row["turns"])
        elif isinstance(row.get("messages"), list):
            turns = tuple(
                m["content"]
                for m in row["messages"]
                if isinstance(m, dict) and m.get("role") == "user" and isinstance(m.get("content"), str)
            )
            if not turns:
                raise ConfigError(f"{where}: 'messages' has no user message with text content")
        else:
            raise ConfigError(f"{where}: needs 'prompt' (a string), 'turns' (strings) or 'messages' (OpenAI messages)")
        item_id = str(row.get("id", index))
        if item_id in seen:
            raise ConfigError(f"{where}: duplicate id {item_id!r}")
        seen.add(item_id)
        language = row.get("language") or ("zh" if any("\u4e00" <= ch <= "\u9fff" for t in turns for ch in t) else "en")
        extra = {
            k: v
            for k, v in row.items()
            if k not in {"prompt", "turns", "messages", "id", "language", "category", "label"}
        }
        items.append(
            BenchItem(
                item_id, turns, language=str(language), category=row.get("category"), label=row.get("label"), meta=extra
            )
        )
    return items


def _from_hub(spec: str) -> list[BenchItem]:
    name, _, split = spec.removeprefix("hf:").partition("@")
    try:
        import datasets as hf  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise ConfigError(
            "hf: sets need the Hugging Face `datasets` package and a network: pip install datasets"
        ) from None
    try:
        rows = hf.load_dataset(name, split=split or "train")
    except Exception as exc:  # the hub raises many kinds; the user needs the message
        raise ConfigError(f"cannot load {name} from the Hugging Face hub: {exc}") from None
    items: list[BenchItem] = []
    for index, row in enumerate(rows):
        text = next((row[k] for k in ("prompt", "goal", "question", "text") if isinstance(row.get(k), str)), None)
        if text is None:
            raise ConfigError(f"{name}: no prompt/goal/question/text column")
        items.append(BenchItem(str(row.get("id", index)), (text,), category=row.get("category")))
    return items


def load_items(spec: str, *, root: Path | None = None, limit: int | None = None) -> list[BenchItem]:
    """Load a benchmark set.

    Args:
        spec: A registry name (see :data:`DATASETS`), a JSONL file (fields ``id``, ``prompt`` | ``turns`` |
            ``messages``, optional ``language``, ``category``, ``label``; other fields go to ``meta``), or
            ``hf:<owner/name>[@split]`` (needs the ``datasets`` package and a network).
        root: The datasets folder (default: ``$NACRE_DATASETS``, else the shipped copies).
        limit: Keep only the first ``limit`` items.

    Raises:
        ConfigError: Unknown set, missing files, or malformed records.
    """
    if spec in DATASETS:
        items = DATASETS[spec][1](datasets_root(root))
    elif spec.startswith("hf:"):
        items = _from_hub(spec)
    elif spec.endswith(".jsonl") or Path(spec).is_file():
        items = _from_file(Path(spec))
    else:
        raise ConfigError(f"unknown dataset {spec!r}; see `nacre bench list`, or give a .jsonl file")
    if not items:
        raise ConfigError(f"dataset {spec!r} is empty")
    return items[:limit] if limit is not None else items
